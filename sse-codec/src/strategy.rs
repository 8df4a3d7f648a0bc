//! [proptest](mod@proptest) generators for events, event streams and their chunkings (the `proptest`
//! feature), and the model of what a spec parser makes of an encoded stream, so code
//! that produces or consumes events can be property-tested.
//!
//! # Examples
//!
//! ```
//! use proptest::prelude::*;
//! use sse_codec::{strategy, Parser};
//!
//! proptest!(|((events, wire) in strategy::event_stream())| {
//!     let mut parser = Parser::builder().max_line_len(usize::MAX).max_event_len(usize::MAX).build();
//!     parser.feed(&wire);
//!     let items: Vec<_> = std::iter::from_fn(|| parser.next_item()).map(Result::unwrap).collect();
//!     prop_assert_eq!(items, strategy::expected_items(&events, ""));
//! });
//! ```

use std::time::Duration;

use bytes::Bytes;
use proptest::collection::vec;
use proptest::option;
use proptest::prelude::*;

use crate::{Event, EventId, EventType, Item, MessageEvent, Parser};

/// Text of arbitrary Unicode with plenty of LF, CR and CRLF, empty included, and now
/// and then large: up to just under [`Parser::DEFAULT_MAX_LINE_LEN`], so that a line
/// holding it, with its field name, is within the default parser's limit.
pub fn text() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        4 => any::<char>().prop_map(String::from),
        2 => "[a-z :]{0,8}",
        1 => Just("\n".to_owned()),
        1 => Just("\r".to_owned()),
        1 => Just("\r\n".to_owned()),
    ];
    let small = vec(piece, 0..24).prop_map(|pieces| pieces.concat());
    // Room for the longest field name before it: `event: `.
    let most = Parser::DEFAULT_MAX_LINE_LEN - "event: ".len();
    let large = (any::<char>(), 0..=most).prop_map(|(c, n)| c.to_string().repeat(n / c.len_utf8()));
    prop_oneof![20 => small, 1 => large]
}

/// Text without CR, LF or (if `nul` is false) NUL.
fn one_line(nul: bool) -> impl Strategy<Value = String> {
    prop_oneof![any::<String>(), "[a-z0-9 ]{0,6}",].prop_map(move |s| {
        s.replace(['\r', '\n'], "")
            .replace('\0', if nul { "\0" } else { "" })
    })
}

/// A valid event type: any text without CR or LF, sometimes empty.
pub fn event_type() -> impl Strategy<Value = EventType> {
    one_line(true).prop_filter_map("validated", |s| EventType::new(s).ok())
}

/// A valid event id: any text without CR, LF or NUL, sometimes empty.
pub fn event_id() -> impl Strategy<Value = EventId> {
    one_line(false).prop_filter_map("validated", |s| EventId::new(s).ok())
}

/// A retry hint, sub-millisecond parts and `Duration::MAX` included.
pub fn retry() -> impl Strategy<Value = Duration> {
    prop_oneof![
        (0..100_000u64).prop_map(Duration::from_millis),
        any::<u64>().prop_map(Duration::from_millis),
        (any::<u64>(), 0..1_000_000_000u32).prop_map(|(s, n)| Duration::new(s, n)),
    ]
}

/// An arbitrary valid [`Event`]: every field optional, data of [`text`], comments.
pub fn event() -> impl Strategy<Value = Event> {
    (
        option::of(event_type()),
        option::of(event_id()),
        option::weighted(0.8, text()),
        option::weighted(0.2, retry()),
        vec(text(), 0..2),
    )
        .prop_map(|(kind, id, data, retry, comments)| {
            let mut event = Event::new();
            if let Some(kind) = kind {
                event = event.with_event(kind);
            }
            if let Some(id) = id {
                event = event.with_id(id);
            }
            if let Some(data) = data {
                event = event.with_data(data);
            }
            if let Some(retry) = retry {
                event = event.with_retry(retry);
            }
            for comment in comments {
                event = event.with_comment(comment);
            }
            event
        })
}

/// Up to 16 events.
pub fn events() -> impl Strategy<Value = Vec<Event>> {
    vec(event(), 0..16)
}

/// Events and their encoding, one after the other, as a server would send them.
pub fn event_stream() -> impl Strategy<Value = (Vec<Event>, Bytes)> {
    events().prop_map(|events| {
        let wire = encode_all(&events);
        (events, wire)
    })
}

/// Ways to cut `bytes` into chunks, empty chunks included; concatenated, the chunks
/// are `bytes` again.
pub fn chunkings(bytes: Bytes) -> impl Strategy<Value = Vec<Bytes>> {
    let len = bytes.len();
    vec(0..=len, 0..12).prop_map(move |mut cuts| {
        cuts.sort_unstable();
        let mut chunks = Vec::with_capacity(cuts.len() + 1);
        let mut start = 0;
        for cut in cuts {
            chunks.push(bytes.slice(start..cut));
            start = cut;
        }
        chunks.push(bytes.slice(start..));
        chunks
    })
}

/// The encodings of `events`, concatenated.
pub fn encode_all(events: &[Event]) -> Bytes {
    let mut buf = bytes::BytesMut::new();
    for event in events {
        event.encode_to(&mut buf);
    }
    buf.freeze()
}

/// What a spec parser starting from `last_event_id` yields for the encoding of
/// `events`: a [`Item::Retry`] for each retry hint (in whole milliseconds), then an
/// [`Item::Event`] for each event with data, whose line breaks arrive as LF, whose
/// empty or missing type arrives as `message`, and whose last event id is the latest id
/// set so far.
pub fn expected_items(events: &[Event], last_event_id: &str) -> Vec<Item> {
    let mut last_event_id = last_event_id.to_owned();
    let mut items = Vec::new();
    for event in events {
        if let Some(retry) = event.retry() {
            let millis = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
            items.push(Item::Retry(Duration::from_millis(millis)));
        }
        if let Some(id) = event.id() {
            id.as_str().clone_into(&mut last_event_id);
        }
        if let Some(data) = event.data() {
            let kind = match event.event_type().map(EventType::as_str) {
                None | Some("") => "message",
                Some(kind) => kind,
            };
            let data = data.replace("\r\n", "\n").replace('\r', "\n");
            items.push(Item::Event(MessageEvent::new(
                kind,
                data,
                last_event_id.as_str(),
            )));
        }
    }
    items
}
