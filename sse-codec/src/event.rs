use std::time::Duration;

use bytes::{Bytes, BytesMut};

use crate::{encode, EventId, EventType};

/// An event to send: optional type, id, data and retry hint, and stand-alone comments.
///
/// Every value an `Event` can hold encodes to exactly one event on the wire (or to
/// comments only), so nothing given to it can forge an extra field or event. Data may
/// contain any text: each line becomes its own `data:` line. A spec parser rebuilds
/// the data with every line break (LF, CR or CRLF) turned into LF.
///
/// # Examples
///
/// ```
/// use sse_codec::Event;
///
/// let event = Event::message("hello\nworld").with_event("greeting".parse().unwrap());
/// assert_eq!(&event.encode()[..], b"event: greeting\ndata: hello\ndata: world\n\n");
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Event {
    event: Option<EventType>,
    id: Option<EventId>,
    data: Option<String>,
    retry: Option<Duration>,
    comments: Vec<String>,
}

impl Event {
    /// An empty event; encodes to nothing until something is set.
    pub fn new() -> Self {
        Self::default()
    }

    /// An event carrying `data`, of the default type (`message` for the receiver).
    pub fn message(data: impl Into<String>) -> Self {
        Self::new().with_data(data)
    }

    /// An event whose data is `value` as JSON (one line: JSON text needs no line
    /// break), for `JSON.parse(event.data)` on the page.
    ///
    /// # Errors
    ///
    /// What [`serde_json::to_string`] refuses: a map with keys that are not strings,
    /// or a `Serialize` implementation that fails.
    ///
    /// # Examples
    ///
    /// ```
    /// use sse_codec::{Event, EventType};
    ///
    /// #[derive(serde::Serialize)]
    /// struct Chat<'a> {
    ///     from: &'a str,
    ///     text: &'a str,
    /// }
    ///
    /// const CHAT: EventType = EventType::from_static("chat");
    /// let event = Event::json(&Chat { from: "ada", text: "two\nlines" })?.with_event(CHAT);
    /// assert_eq!(
    ///     &event.encode()[..],
    ///     b"event: chat\ndata: {\"from\":\"ada\",\"text\":\"two\\nlines\"}\n\n"
    /// );
    /// # Ok::<(), serde_json::Error>(())
    /// ```
    #[cfg(feature = "serde")]
    pub fn json<T: serde::Serialize + ?Sized>(value: &T) -> Result<Self, serde_json::Error> {
        serde_json::to_string(value).map(Self::message)
    }

    /// Sets the data. Empty data still dispatches an event with empty data on the
    /// receiving side; an event whose data was never set dispatches nothing there.
    #[must_use]
    pub fn with_data(mut self, data: impl Into<String>) -> Self {
        self.data = Some(data.into());
        self
    }

    /// Sets the event type (the receiver's `event.type`; `message` when unset).
    #[must_use]
    pub fn with_event(mut self, event: EventType) -> Self {
        self.event = Some(event);
        self
    }

    /// Sets the event id, which becomes the receiver's last event id.
    #[must_use]
    pub fn with_id(mut self, id: EventId) -> Self {
        self.id = Some(id);
        self
    }

    /// Sets the reconnection time hint, written as whole milliseconds.
    #[must_use]
    pub fn with_retry(mut self, retry: Duration) -> Self {
        self.retry = Some(retry);
        self
    }

    /// Adds a comment, written before the fields. Each line of `text` becomes its own
    /// comment line, so a comment can never end the event or start a field.
    #[must_use]
    pub fn with_comment(mut self, text: impl Into<String>) -> Self {
        self.comments.push(text.into());
        self
    }

    /// The event type, if set.
    pub fn event_type(&self) -> Option<&EventType> {
        self.event.as_ref()
    }

    /// The event id, if set.
    pub fn id(&self) -> Option<&EventId> {
        self.id.as_ref()
    }

    /// The data, if set.
    pub fn data(&self) -> Option<&str> {
        self.data.as_deref()
    }

    /// The retry hint, if set.
    pub fn retry(&self) -> Option<Duration> {
        self.retry
    }

    /// The comments, in order.
    pub fn comments(&self) -> &[String] {
        &self.comments
    }

    /// Encodes the event once into shared bytes; cloning the result is cheap, so one
    /// encoding can go to every recipient.
    pub fn encode(&self) -> Bytes {
        let mut buf = BytesMut::with_capacity(self.encoded_len_hint());
        self.encode_to(&mut buf);
        buf.freeze()
    }

    /// Appends the encoding to `buf`.
    pub fn encode_to(&self, buf: &mut BytesMut) {
        encode::write_event(self, buf);
    }

    /// An upper bound on the encoded length, for sizing buffers.
    pub fn encoded_len_hint(&self) -> usize {
        // Every line break in a value costs one more `prefix: ` and `\n` at most.
        fn lines(prefix: usize, text: &str) -> usize {
            let breaks = memchr::memchr2_iter(b'\r', b'\n', text.as_bytes()).count();
            text.len() + (breaks + 1) * (prefix + 1)
        }
        self.comments.iter().map(|c| lines(2, c)).sum::<usize>()
            + self.event.as_ref().map_or(0, |e| lines(7, e.as_str()))
            + self.id.as_ref().map_or(0, |i| lines(4, i.as_str()))
            + self.retry.map_or(0, |_| 7 + 20 + 1)
            + self.data.as_deref().map_or(0, |d| lines(6, d))
            + 1
    }
}

#[cfg(all(test, feature = "serde"))]
mod json_tests {
    use std::collections::BTreeMap;

    use super::Event;

    #[test]
    fn json_data_is_one_line_and_refusals_are_errors() {
        let value = serde_json::json!({ "text": "a\nb\r\nc", "n": 1 });
        let frame = Event::json(&value).unwrap().encode();
        assert_eq!(
            frame.iter().filter(|&&b| b == b'\n').count(),
            2,
            "{frame:?}"
        );
        // JSON object keys must be strings.
        let map: BTreeMap<(u8, u8), u8> = [((1, 2), 3)].into_iter().collect();
        assert!(Event::json(&map).is_err());
    }
}
