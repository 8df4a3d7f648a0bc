//! Arbitrary events, encoded and parsed back in arbitrary chunks, must come back as
//! the standard says: data line breaks as LF, an empty or missing type as `message`,
//! the last id carried forward, retry in whole milliseconds.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use sse_codec::{Event, EventId, EventType, Item, MessageEvent, Parser};

type Fields = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<u64>,
    Vec<String>,
);

fuzz_target!(|input: (Vec<Fields>, Vec<u16>)| {
    let (fields, cuts) = input;
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    let mut last_id = String::new();
    for (kind, id, data, retry, comments) in fields {
        let mut event = Event::new();
        // Invalid types and ids are refused at construction: the encoder never sees them.
        let kind = kind.and_then(|k| EventType::new(k).ok());
        let id = id.and_then(|i| EventId::new(i).ok());
        if let Some(kind) = &kind {
            event = event.with_event(kind.clone());
        }
        if let Some(id) = &id {
            event = event.with_id(id.clone());
            id.as_str().clone_into(&mut last_id);
        }
        if let Some(retry) = retry {
            event = event.with_retry(Duration::from_millis(retry));
            expected.push(Item::Retry(Duration::from_millis(retry)));
        }
        for comment in comments {
            event = event.with_comment(comment);
        }
        if let Some(data) = data {
            let kind = kind.as_ref().map_or("", EventType::as_str);
            let kind = if kind.is_empty() { "message" } else { kind };
            let parsed = data.replace("\r\n", "\n").replace('\r', "\n");
            expected.push(Item::Event(MessageEvent::new(
                kind,
                parsed,
                last_id.as_str(),
            )));
            event = event.with_data(data);
        }
        let encoded = event.encode();
        assert!(encoded.len() <= event.encoded_len_hint());
        wire.extend_from_slice(&encoded);
    }

    let mut parser = Parser::builder()
        .max_line_len(usize::MAX)
        .max_event_len(usize::MAX)
        .build();
    let mut items = Vec::new();
    let mut start = 0;
    let mut cuts: Vec<usize> = cuts
        .into_iter()
        .map(|c| usize::from(c) % (wire.len() + 1))
        .collect();
    cuts.sort_unstable();
    for cut in cuts.into_iter().chain([wire.len()]) {
        parser.feed(&wire[start..cut]);
        start = cut;
        items.extend(std::iter::from_fn(|| parser.next_item()).map(Result::unwrap));
    }
    parser.finish();
    items.extend(std::iter::from_fn(|| parser.next_item()).map(Result::unwrap));
    assert_eq!(items, expected);
});
