//! The incremental parser.
//!
//! Two layers, each a small state machine: [`line`] turns chunks of bytes into lines
//! ("Parsing an event stream": the three line ends, the BOM), and [`interpret`] applies
//! the field rules and dispatches events ("Interpreting an event stream"). Limits are
//! enforced in both: a line longer than the maximum is never buffered whole, and an event
//! whose data would pass the maximum is dropped. After either, the rest of that event is
//! skipped up to its blank line, and parsing goes on from there.

mod interpret;
mod item;
mod line;

pub use item::{Item, MessageEvent};

use crate::ParseError;
use interpret::Interpreter;
use line::{Line, Lines};

/// An incremental `text/event-stream` parser, exact to the WHATWG HTML standard.
///
/// Feed it chunks of any size with [`feed`](Parser::feed), then take what they completed
/// with [`next_item`](Parser::next_item) until it returns `None` ("need more input").
/// Call [`finish`](Parser::finish) at the end of the stream. It does no I/O, never
/// panics, and holds at most one line and one event's data however the input looks.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sse_codec::{Item, MessageEvent, Parser};
///
/// let mut parser = Parser::new();
/// let mut items = Vec::new();
/// for chunk in [&b"retry: 500\nevent: tick\nda"[..], b"ta: 1\r", b"\n\r\ndata: partial"] {
///     parser.feed(chunk);
///     while let Some(item) = parser.next_item() {
///         items.push(item.unwrap());
///     }
/// }
/// parser.finish(); // the unfinished event is dropped
/// assert_eq!(parser.next_item(), None);
/// assert_eq!(items, [
///     Item::Retry(Duration::from_millis(500)),
///     Item::Event(MessageEvent::new("tick", "1", "")),
/// ]);
/// ```
#[derive(Debug)]
pub struct Parser {
    lines: Lines,
    interpreter: Interpreter,
    max_line_len: usize,
    /// `finish` was called; the end takes effect once the buffered lines are taken.
    ending: bool,
}

impl Parser {
    /// The default maximum line length: 64 KiB.
    pub const DEFAULT_MAX_LINE_LEN: usize = 64 * 1024;
    /// The default maximum event size: 1 MiB.
    pub const DEFAULT_MAX_EVENT_LEN: usize = 1024 * 1024;

    /// A parser with the default limits and an empty starting last event id.
    pub fn new() -> Self {
        ParserBuilder::new().build()
    }

    /// A builder for a parser with other limits or a starting last event id.
    ///
    /// # Examples
    ///
    /// ```
    /// let parser = sse_codec::Parser::builder().max_line_len(1024).last_event_id("41").build();
    /// assert_eq!(parser.last_event_id(), "41");
    /// ```
    pub fn builder() -> ParserBuilder {
        ParserBuilder::new()
    }

    /// Adds bytes to the stream. An empty chunk is not the end of the stream; that is
    /// [`finish`](Parser::finish).
    ///
    /// If [`finish`](Parser::finish) was called and [`next_item`](Parser::next_item)
    /// has not yet returned `None`, the old stream ends here (items still buffered in
    /// it are dropped) and `chunk` starts a new one.
    pub fn feed(&mut self, chunk: &[u8]) {
        if self.ending {
            self.end_of_stream();
        }
        self.lines.extend(chunk);
    }

    /// The next dispatched event or reconnection time, `None` when the input fed so far
    /// holds no more.
    ///
    /// # Errors
    ///
    /// [`ParseError::LineTooLong`] or [`ParseError::EventTooLarge`] when the stream breaks a limit;
    /// each is returned once for the event it happens in, the rest of that event is
    /// skipped, and parsing goes on after it.
    pub fn next_item(&mut self) -> Option<Result<Item, ParseError>> {
        loop {
            match self.lines.next_line() {
                Some(Line::Complete(line)) => {
                    if let Some(item) = self.interpreter.line(line) {
                        return Some(item);
                    }
                }
                Some(Line::TooLong) => {
                    if let Some(error) = self.interpreter.line_too_long(self.max_line_len) {
                        return Some(error);
                    }
                }
                None => {
                    if self.ending {
                        self.end_of_stream();
                    }
                    return None;
                }
            }
        }
    }

    /// Ends the stream: [`next_item`](Parser::next_item) still returns what complete
    /// lines already fed hold, then the unfinished line and event are dropped ("If the
    /// file ends in the middle of an event, before the final empty line, the incomplete
    /// event is not dispatched"), and `next_item` returns `None`.
    ///
    /// The parser can then be fed a new stream, as after an `EventSource` reconnects:
    /// the last event id is kept and a new leading BOM is allowed.
    pub fn finish(&mut self) {
        self.ending = true;
    }

    /// The last event id as of the last dispatch: what a reconnecting client sends as
    /// `Last-Event-ID`.
    pub fn last_event_id(&self) -> &str {
        self.interpreter.last_event_id()
    }

    fn end_of_stream(&mut self) {
        self.lines.reset();
        self.interpreter.end_of_stream();
        self.ending = false;
    }
}

impl Default for Parser {
    fn default() -> Self {
        Parser::new()
    }
}

/// Configuration for a [`Parser`].
///
/// # Examples
///
/// ```
/// use sse_codec::{ParseError, Parser};
///
/// let mut parser = Parser::builder().max_line_len(8).build();
/// parser.feed(b"data: far too long\ndata: skipped\n\ndata: ok\n\n");
/// assert_eq!(parser.next_item(), Some(Err(ParseError::LineTooLong { limit: 8 })));
/// assert!(matches!(parser.next_item(), Some(Ok(_))));
/// assert_eq!(parser.next_item(), None);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ParserBuilder {
    max_line_len: usize,
    max_event_len: usize,
    last_event_id: String,
}

impl ParserBuilder {
    /// A builder with the defaults.
    pub fn new() -> Self {
        ParserBuilder {
            max_line_len: Parser::DEFAULT_MAX_LINE_LEN,
            max_event_len: Parser::DEFAULT_MAX_EVENT_LEN,
            last_event_id: String::new(),
        }
    }

    /// The longest line accepted, in bytes, not counting the line end. Default
    /// [`Parser::DEFAULT_MAX_LINE_LEN`] (64 KiB).
    ///
    /// This bounds what the parser buffers while it waits for a line end; a longer line
    /// gives [`ParseError::LineTooLong`] and its event is skipped.
    pub fn max_line_len(&mut self, bytes: usize) -> &mut Self {
        self.max_line_len = bytes;
        self
    }

    /// The largest event accepted: the bytes of its decoded data, counting one LF per
    /// `data` line. Default [`Parser::DEFAULT_MAX_EVENT_LEN`] (1 MiB).
    ///
    /// A larger event gives [`ParseError::EventTooLarge`] and is skipped.
    pub fn max_event_len(&mut self, bytes: usize) -> &mut Self {
        self.max_event_len = bytes;
        self
    }

    /// The last event id to start from, such as the `Last-Event-ID` a reconnecting
    /// client sent. Default: empty.
    pub fn last_event_id(&mut self, id: impl Into<String>) -> &mut Self {
        self.last_event_id = id.into();
        self
    }

    /// Builds the parser.
    pub fn build(&self) -> Parser {
        Parser {
            lines: Lines::new(self.max_line_len),
            interpreter: Interpreter::new(self.max_event_len, self.last_event_id.clone()),
            max_line_len: self.max_line_len,
            ending: false,
        }
    }
}

impl Default for ParserBuilder {
    fn default() -> Self {
        ParserBuilder::new()
    }
}
