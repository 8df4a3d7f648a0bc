//! Property tests, using the crate's own generators (`sse_codec::strategy`).

mod common;

use std::time::Duration;

use bytes::Bytes;
use proptest::prelude::*;
use sse_codec::strategy::{self, chunkings, encode_all, event, event_stream, expected_items};
use sse_codec::{Item, MessageEvent, ParseError, Parser, ParserBuilder};

/// No limit gets in the way: generated data can be large.
fn unlimited() -> ParserBuilder {
    let mut builder = Parser::builder();
    builder.max_line_len(usize::MAX).max_event_len(usize::MAX);
    builder
}

fn parse_chunks(builder: &ParserBuilder, chunks: &[Bytes]) -> Vec<Result<Item, ParseError>> {
    common::parse_chunks(builder, chunks.iter().map(|c| &c[..]))
}

fn parse_ok(chunks: &[Bytes]) -> Vec<Item> {
    parse_chunks(&unlimited(), chunks)
        .into_iter()
        .map(|item| item.expect("no limits, no errors"))
        .collect()
}

/// The standard's algorithm written the obvious way: decode the whole stream, split it
/// into lines char by char, process each line.
fn naive(input: &[u8]) -> Vec<Item> {
    let input = input.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(input);
    let text = String::from_utf8_lossy(input);
    let mut lines = Vec::new();
    let mut line = String::new();
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() == Some(&'\n') {
                    chars.next();
                }
                lines.push(std::mem::take(&mut line));
            }
            '\n' => lines.push(std::mem::take(&mut line)),
            c => line.push(c),
        }
    }
    // `line` has no line end: discarded at the end of the stream.
    let (mut data, mut event_type, mut id_buffer) = (String::new(), String::new(), String::new());
    let mut items = Vec::new();
    for line in lines {
        if line.is_empty() {
            if data.is_empty() {
                event_type.clear();
                continue;
            }
            if data.ends_with('\n') {
                data.pop();
            }
            let kind = if event_type.is_empty() {
                "message".to_owned()
            } else {
                event_type.clone()
            };
            items.push(Item::Event(MessageEvent::new(
                kind,
                data.clone(),
                id_buffer.clone(),
            )));
            data.clear();
            event_type.clear();
            continue;
        }
        if line.starts_with(':') {
            continue;
        }
        let (name, value) = match line.split_once(':') {
            Some((name, value)) => (name, value.strip_prefix(' ').unwrap_or(value)),
            None => (line.as_str(), ""),
        };
        match name {
            "event" => event_type = value.to_owned(),
            "data" => {
                data.push_str(value);
                data.push('\n');
            }
            "id" if !value.contains('\0') => id_buffer = value.to_owned(),
            "retry" if !value.is_empty() && value.chars().all(|c| c.is_ascii_digit()) => {
                let millis = value.parse::<u64>().unwrap_or(u64::MAX);
                items.push(Item::Retry(Duration::from_millis(millis)));
            }
            _ => {}
        }
    }
    items
}

/// Bytes that look like an event stream often enough to reach every rule.
fn sse_like_bytes() -> impl Strategy<Value = Vec<u8>> {
    let piece = prop_oneof![
        Just(&b"data"[..]),
        Just(&b"event"[..]),
        Just(&b"id"[..]),
        Just(&b"retry"[..]),
        Just(&b":"[..]),
        Just(&b" "[..]),
        Just(&b"\r"[..]),
        Just(&b"\n"[..]),
        Just(&b"\r\n"[..]),
        Just(&b"\xEF\xBB\xBF"[..]),
        Just(&b"\0"[..]),
        Just(&b"0123"[..]),
        Just(&b"x"[..]),
        Just("é€😀".as_bytes()),
        Just(&b"\xF0\x9F"[..]),
        Just(&b"\xFF"[..]),
    ]
    .prop_map(<[u8]>::to_vec);
    prop_oneof![
        proptest::collection::vec(piece, 0..64).prop_map(|pieces| pieces.concat()),
        any::<Vec<u8>>(),
    ]
}

fn bytes_and_chunkings(
    bytes: impl Strategy<Value = Vec<u8>>,
) -> impl Strategy<Value = (Bytes, Vec<Bytes>)> {
    bytes.prop_flat_map(|bytes| {
        let bytes = Bytes::from(bytes);
        (Just(bytes.clone()), chunkings(bytes))
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// parse(encode(events)) == events, with CR and CRLF in data arriving as LF.
    #[test]
    fn round_trip((events, wire) in event_stream()) {
        prop_assert_eq!(parse_ok(&[wire]), expected_items(&events, ""));
    }

    /// The default parser takes every event the strategies make, the largest text
    /// included (it once made lines one byte past the default line limit).
    #[test]
    fn the_default_parser_takes_every_generated_event(event in event()) {
        let mut parser = Parser::new();
        parser.feed(&event.encode());
        let items: Vec<_> = std::iter::from_fn(|| parser.next_item()).collect();
        prop_assert!(items.iter().all(Result::is_ok), "{:?}", items.iter().find(|i| i.is_err()));
    }

    /// However an encoded stream is chunked, the same items come out.
    #[test]
    fn any_split_of_encoded_stream(
        (events, chunks) in event_stream().prop_flat_map(|(events, wire)| (Just(events), chunkings(wire)))
    ) {
        prop_assert_eq!(parse_ok(&chunks), expected_items(&events, ""));
    }

    /// An event with data encodes to exactly one dispatched event (after a retry item
    /// if it has a retry hint).
    #[test]
    fn one_event_is_one_event(event in event(), data in strategy::text()) {
        let event = event.with_data(data);
        let items = parse_ok(&[event.encode()]);
        let events = items.iter().filter(|item| matches!(item, Item::Event(_))).count();
        prop_assert_eq!(events, 1);
        prop_assert_eq!(items.len(), 1 + usize::from(event.retry().is_some()));
    }

    /// The parser agrees with the naive reference on arbitrary bytes, however chunked.
    #[test]
    fn agrees_with_naive_reference((bytes, chunks) in bytes_and_chunkings(sse_like_bytes())) {
        prop_assert_eq!(parse_ok(&chunks), naive(&bytes));
    }

    /// Arbitrary bytes, chunkings and limits never panic, and give the same items
    /// however they are chunked.
    #[test]
    fn arbitrary_bytes_never_panic(
        (bytes, chunks) in bytes_and_chunkings(sse_like_bytes()),
        max_line in 0..48usize,
        max_event in 0..96usize,
    ) {
        let mut builder = Parser::builder();
        builder.max_line_len(max_line).max_event_len(max_event);
        let whole = parse_chunks(&builder, &[bytes]);
        prop_assert_eq!(parse_chunks(&builder, &chunks), whole);
    }

    /// Encoding several events and parsing them with a starting id uses that id until
    /// the first `id` field.
    #[test]
    fn starting_id_round_trip(events in strategy::events(), start in "[a-z0-9]{0,4}") {
        let mut builder = unlimited();
        builder.last_event_id(start.as_str());
        let items: Vec<_> = parse_chunks(&builder, &[encode_all(&events)]).into_iter().map(Result::unwrap).collect();
        prop_assert_eq!(items, expected_items(&events, &start));
    }
}
