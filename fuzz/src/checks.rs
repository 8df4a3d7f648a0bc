//! What the fuzz targets check, given their inputs. The targets (`fuzz_targets/`) feed
//! it libFuzzer's inputs; the short smoke test (`reliability/tests/fuzz_smoke.rs`)
//! includes this file and feeds it a seeded generator's, so both check the same things.

#![allow(dead_code)] // each includer uses part of it

use std::time::Duration;

use sse_codec::{Event, EventId, EventType, Item, MessageEvent, ParseError, Parser, ParserBuilder};

fn parse<'a>(
    builder: &ParserBuilder,
    chunks: impl Iterator<Item = &'a [u8]>,
) -> Vec<Result<Item, ParseError>> {
    let mut parser = builder.build();
    let mut out = Vec::new();
    for chunk in chunks {
        parser.feed(chunk);
        out.extend(std::iter::from_fn(|| parser.next_item()));
    }
    parser.finish();
    out.extend(std::iter::from_fn(|| parser.next_item()));
    out
}

/// `wire` parsed with these limits gives the same items whole, in `chunk`-byte pieces
/// and a byte at a time (without panicking), and no event past the event limit.
pub(crate) fn parse_any_chunking(max_line: usize, max_event: usize, chunk: usize, wire: &[u8]) {
    let mut builder = Parser::builder();
    builder.max_line_len(max_line).max_event_len(max_event);
    let whole = parse(&builder, std::iter::once(wire));
    let chunked = parse(&builder, wire.chunks(chunk.max(1)));
    let bytes = parse(&builder, wire.chunks(1));
    assert_eq!(whole, chunked, "{wire:?}");
    assert_eq!(whole, bytes, "{wire:?}");
    for item in whole.iter().flatten() {
        if let Item::Event(event) = item {
            // The data buffer held the data and a final LF.
            assert!(event.data().len() < max_event, "{wire:?}");
        }
    }
}

/// One event to encode: type, id, data, retry in milliseconds, comments. Invalid
/// types and ids are left out, as their constructors refuse them.
pub(crate) type Fields = (
    Option<String>,
    Option<String>,
    Option<String>,
    Option<u64>,
    Vec<String>,
);

/// `events` encoded, then parsed back fed in pieces cut at `cuts` (taken modulo the
/// wire's length plus one), come back as the standard says: data line breaks as LF,
/// an empty or missing type as `message`, the last id carried forward, retry in whole
/// milliseconds.
pub(crate) fn round_trip(events: Vec<Fields>, cuts: &[usize]) {
    let mut wire = Vec::new();
    let mut expected = Vec::new();
    let mut last_id = String::new();
    for (kind, id, data, retry, comments) in events {
        let mut event = Event::new();
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
    let mut cuts: Vec<usize> = cuts.iter().map(|c| c % (wire.len() + 1)).collect();
    cuts.sort_unstable();
    for cut in cuts.into_iter().chain([wire.len()]) {
        parser.feed(&wire[start..cut]);
        start = cut;
        items.extend(std::iter::from_fn(|| parser.next_item()).map(Result::unwrap));
    }
    parser.finish();
    items.extend(std::iter::from_fn(|| parser.next_item()).map(Result::unwrap));
    assert_eq!(items, expected, "{wire:?}");
}
