//! What can go wrong, apart for each side: building an event's fields, and parsing a
//! stream.

use std::fmt;

/// A value that cannot be an event's field: from [`EventType::new`](crate::EventType::new)
/// or [`EventId::new`](crate::EventId::new). Encoding itself cannot fail.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FieldError {
    /// An event type contained a CR or LF, which would end the `event:` line early.
    InvalidEventType,
    /// An event id contained a CR, LF or NUL (a NUL makes spec parsers ignore the id).
    InvalidEventId,
}

impl fmt::Display for FieldError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldError::InvalidEventType => f.write_str("event type must not contain CR or LF"),
            FieldError::InvalidEventId => f.write_str("event id must not contain CR, LF or NUL"),
        }
    }
}

impl std::error::Error for FieldError {}

/// A stream that broke one of the [`Parser`](crate::Parser)'s limits. The parser
/// recovers on its own: it skips the rest of the event and goes on.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ParseError {
    /// A line was longer than the parser's configured maximum; the parser skips the
    /// rest of the event it was in.
    LineTooLong {
        /// The configured maximum line length in bytes.
        limit: usize,
    },
    /// An event's data grew past the parser's configured maximum; the parser skips the
    /// rest of that event.
    EventTooLarge {
        /// The configured maximum event size in bytes.
        limit: usize,
    },
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ParseError::LineTooLong { limit } => write!(f, "line longer than {limit} bytes"),
            ParseError::EventTooLarge { limit } => write!(f, "event larger than {limit} bytes"),
        }
    }
}

impl std::error::Error for ParseError {}

/// For byte streams whose error is [`std::io::Error`]: parser errors become
/// [`InvalidData`](std::io::ErrorKind::InvalidData).
impl From<ParseError> for std::io::Error {
    fn from(error: ParseError) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, error)
    }
}
