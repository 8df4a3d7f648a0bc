//! Interpreting lines: the buffers and field rules of the WHATWG HTML standard, section
//! "Interpreting an event stream".

use std::borrow::Cow;
use std::time::Duration;

use super::{Item, MessageEvent};
use crate::ParseError;

#[derive(Debug)]
pub(super) struct Interpreter {
    /// "data buffer": every data value followed by LF.
    data: String,
    /// "event type buffer".
    event_type: String,
    /// "last event ID buffer".
    id_buffer: String,
    /// The event source's "last event ID string", updated at each dispatch.
    last_event_id: String,
    /// Ignoring lines up to the blank line that ends an event which broke a limit.
    skipping: bool,
    max_event_len: usize,
}

impl Interpreter {
    pub(super) fn new(max_event_len: usize, last_event_id: String) -> Self {
        Interpreter {
            data: String::new(),
            event_type: String::new(),
            id_buffer: last_event_id.clone(),
            last_event_id,
            skipping: false,
            max_event_len,
        }
    }

    pub(super) fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// "Once the end of the file is reached, any pending data must be discarded."
    /// The last event ID string survives, as it does across an `EventSource`'s
    /// reconnections.
    pub(super) fn end_of_stream(&mut self) {
        self.data.clear();
        self.event_type.clear();
        self.id_buffer.clone_from(&self.last_event_id);
        self.skipping = false;
    }

    /// A line was too long: the event it is in is dropped.
    pub(super) fn line_too_long(&mut self, limit: usize) -> Option<Result<Item, ParseError>> {
        self.start_skipping(ParseError::LineTooLong { limit })
            .map(Err)
    }

    fn start_skipping(&mut self, error: ParseError) -> Option<ParseError> {
        if self.skipping {
            // One error per dropped event.
            return None;
        }
        self.skipping = true;
        self.data.clear();
        self.event_type.clear();
        Some(error)
    }

    /// Processes one line (without its line end).
    pub(super) fn line(&mut self, line: &[u8]) -> Option<Result<Item, ParseError>> {
        // "If the line is empty (a blank line): Dispatch the event."
        if line.is_empty() {
            self.skipping = false;
            return self.dispatch().map(Ok);
        }
        if self.skipping {
            return None;
        }
        // "If the line starts with a U+003A COLON character (:): Ignore the line."
        // "If the line contains a U+003A COLON character (:): Collect the characters on
        // the line before the first U+003A COLON character (:), and let field be that
        // string. Collect the characters on the line after the first U+003A COLON
        // character (:), and let value be that string. If value starts with a U+0020
        // SPACE character, remove it from value."
        // "Otherwise, the string is not empty but does not contain a U+003A COLON
        // character (:): [...] using the whole line as the field name, and the empty
        // string as the field value."
        // Splitting bytes at ASCII ':' and ' ' before decoding gives the same strings as
        // decoding first: neither byte can be part of a multi-byte sequence, and the
        // decoder ends a broken sequence at either with one U+FFFD, as it does at a line
        // end.
        let (name, value) = match memchr::memchr(b':', line) {
            Some(0) => return None,
            Some(colon) => {
                let value = &line[colon + 1..];
                (&line[..colon], value.strip_prefix(b" ").unwrap_or(value))
            }
            None => (line, &b""[..]),
        };
        self.field(name, value)
    }

    /// "The steps to process the field given a field name and a field value depend on
    /// the field name [...]. Field names must be compared literally, with no case
    /// folding performed." A name with invalid UTF-8 decodes to text containing U+FFFD,
    /// which matches none of the names, so comparing bytes is exact.
    fn field(&mut self, name: &[u8], value: &[u8]) -> Option<Result<Item, ParseError>> {
        match name {
            // "If the field name is "event": Set the event type buffer to field value."
            b"event" => {
                self.event_type.clear();
                self.event_type.push_str(&decode(value));
                None
            }
            // "If the field name is "data": Append the field value to the data buffer,
            // then append a single U+000A LINE FEED (LF) character to the data buffer."
            b"data" => {
                let value = decode(value);
                if self.data.len() + value.len() + 1 > self.max_event_len {
                    let limit = self.max_event_len;
                    return self
                        .start_skipping(ParseError::EventTooLarge { limit })
                        .map(Err);
                }
                // Exact room for the value and its LF: a one-line event (the common
                // case) is then built with one allocation and handed out as is.
                self.data.reserve(value.len() + 1);
                self.data.push_str(&value);
                self.data.push('\n');
                None
            }
            // "If the field name is "id": If the field value does not contain U+0000 NULL,
            // then set the last event ID buffer to the field value. Otherwise, ignore the
            // field."
            b"id" => {
                if memchr::memchr(0, value).is_none() {
                    self.id_buffer.clear();
                    self.id_buffer.push_str(&decode(value));
                }
                None
            }
            // "If the field name is "retry": If the field value consists of only ASCII
            // digits, then interpret the field value as an integer in base ten, and set
            // the event stream's reconnection time to that integer. Otherwise, ignore the
            // field." An empty value is ignored too (no integer to set), and values past
            // `u64::MAX` milliseconds saturate.
            b"retry" => {
                if value.is_empty() || !value.iter().all(u8::is_ascii_digit) {
                    return None;
                }
                let millis = value.iter().fold(0u64, |n, &d| {
                    n.saturating_mul(10).saturating_add(u64::from(d - b'0'))
                });
                Some(Ok(Item::Retry(Duration::from_millis(millis))))
            }
            // "Otherwise: The field is ignored."
            _ => None,
        }
    }

    /// "When the user agent is required to dispatch the event [...]" (the steps for web
    /// browsers, which are what an `EventSource` client observes).
    fn dispatch(&mut self) -> Option<Item> {
        // 1. "Set the last event ID string of the event source to the value of the last
        // event ID buffer. The buffer does not get reset."
        if self.last_event_id != self.id_buffer {
            self.last_event_id.clone_from(&self.id_buffer);
        }
        // 2. "If the data buffer is an empty string, set the data buffer and the event
        // type buffer to the empty string and return."
        if self.data.is_empty() {
            self.event_type.clear();
            return None;
        }
        // 3. "If the data buffer's last character is a U+000A LINE FEED (LF) character,
        // then remove the last character from the data buffer." (It always is.)
        let data_len = self.data.len() - usize::from(self.data.ends_with('\n'));
        // 5./6. The type is "message" unless the event type buffer is not empty.
        let event_type = if self.event_type.is_empty() {
            String::from("message")
        } else {
            self.event_type.clone()
        };
        // The buffer itself becomes the event's data (no copy); the next event's first
        // `data` line allocates a new one of the right size.
        let mut data = std::mem::take(&mut self.data);
        data.truncate(data_len);
        let event = MessageEvent::new(event_type, data, self.last_event_id.clone());
        // 7. "Set the data buffer and the event type buffer to the empty string."
        self.event_type.clear();
        Some(Item::Event(event))
    }
}

/// "Streams must be decoded using the UTF-8 decode algorithm": invalid sequences become
/// U+FFFD. Decoding line by line is the same as decoding the stream first, because a
/// line end (ASCII) always ends a broken sequence with exactly one U+FFFD.
fn decode(bytes: &[u8]) -> Cow<'_, str> {
    // `from_utf8` has the faster all-valid path; the lossy decoder only runs on bad input.
    match std::str::from_utf8(bytes) {
        Ok(text) => Cow::Borrowed(text),
        Err(_) => String::from_utf8_lossy(bytes),
    }
}
