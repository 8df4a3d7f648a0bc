use std::time::Duration;

/// What the [`Parser`](crate::Parser) yields: a dispatched event or a new reconnection
/// time, in stream order.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Item {
    /// An event was dispatched (a blank line ended an event whose data buffer was not
    /// empty).
    Event(MessageEvent),
    /// A `retry` field set the reconnection time.
    Retry(Duration),
}

/// A dispatched event: what an `EventSource` hands to its listeners.
///
/// # Examples
///
/// ```
/// use sse_codec::{Item, MessageEvent, Parser};
///
/// let mut parser = Parser::new();
/// parser.feed(b"id: 7\ndata: hi\n\n");
/// let Some(Ok(Item::Event(event))) = parser.next_item() else { panic!() };
/// assert_eq!(event, MessageEvent::new("message", "hi", "7"));
/// assert_eq!((event.event_type(), event.data(), event.last_event_id()), ("message", "hi", "7"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MessageEvent {
    event_type: String,
    data: String,
    last_event_id: String,
}

impl MessageEvent {
    /// An event with the given type, data and last event id.
    pub fn new(
        event_type: impl Into<String>,
        data: impl Into<String>,
        last_event_id: impl Into<String>,
    ) -> Self {
        MessageEvent {
            event_type: event_type.into(),
            data: data.into(),
            last_event_id: last_event_id.into(),
        }
    }

    /// The event type: the last `event` field's value, or `message` when that was
    /// absent or empty.
    pub fn event_type(&self) -> &str {
        &self.event_type
    }

    /// The data: the `data` fields' values joined with LF.
    pub fn data(&self) -> &str {
        &self.data
    }

    /// The last event id when the event was dispatched: the last `id` field seen on the
    /// stream (in this event or an earlier one), or the parser's starting id.
    pub fn last_event_id(&self) -> &str {
        &self.last_event_id
    }

    /// The type, data and last event id, without copying.
    pub fn into_parts(self) -> (String, String, String) {
        (self.event_type, self.data, self.last_event_id)
    }
}
