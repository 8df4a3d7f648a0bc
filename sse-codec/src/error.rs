use std::fmt;

/// Everything that can go wrong in this crate.
///
/// Validation errors come from building an [`EventType`](crate::EventType) or
/// [`EventId`](crate::EventId); limit errors come from the [`Parser`](crate::Parser),
/// which recovers from them on its own.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// An event type contained a CR or LF, which would end the `event:` line early.
    InvalidEventType,
    /// An event id contained a CR, LF or NUL (a NUL makes spec parsers ignore the id).
    InvalidEventId,
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

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::InvalidEventType => f.write_str("event type must not contain CR or LF"),
            Error::InvalidEventId => f.write_str("event id must not contain CR, LF or NUL"),
            Error::LineTooLong { limit } => write!(f, "line longer than {limit} bytes"),
            Error::EventTooLarge { limit } => write!(f, "event larger than {limit} bytes"),
        }
    }
}

impl std::error::Error for Error {}

/// For byte streams whose error is [`std::io::Error`]: parser errors become
/// [`InvalidData`](std::io::ErrorKind::InvalidData).
impl From<Error> for std::io::Error {
    fn from(error: Error) -> Self {
        std::io::Error::new(std::io::ErrorKind::InvalidData, error)
    }
}
