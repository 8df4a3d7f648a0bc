//! The short variant of the fuzzing item: the checks of the cargo-fuzz targets
//! `fuzz/fuzz_targets/parse.rs` and `round_trip.rs`, run on stable over inputs from a
//! seeded generator (the long variant is `cargo fuzz run` for 10 million inputs each,
//! in `scripts/reliability.sh`).

use std::time::Duration;

use reliability::Rng;
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

/// Bytes biased towards what the parser cares about.
fn wire(rng: &mut Rng, len: usize) -> Vec<u8> {
    const PIECES: &[&[u8]] = &[
        b"data:",
        b"data: ",
        b"id:",
        b"event:",
        b"retry:",
        b":",
        b"\n",
        b"\r",
        b"\r\n",
        b" ",
        b"x",
        b"12",
        b"\0",
        b"\xff",
        b"\xef\xbb\xbf",
        b"id: a\0b",
        b"retry: 99999999999999",
    ];
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        if rng.range(0, 4) == 0 {
            out.push(rng.next_u64() as u8);
        } else {
            out.extend_from_slice(PIECES[rng.range(0, PIECES.len() as u64) as usize]);
        }
    }
    out
}

#[test]
fn parse_any_bytes_any_chunking() {
    let mut rng = Rng::new(6);
    for _ in 0..20_000 {
        let len = rng.range(0, 300) as usize;
        let input = wire(&mut rng, len);
        let (line, event, chunk) = (rng.range(0, 64), rng.range(0, 64), rng.range(1, 32));
        let max_event = event as usize * 16;
        let mut builder = Parser::builder();
        builder
            .max_line_len(line as usize * 4)
            .max_event_len(max_event);
        let whole = parse(&builder, std::iter::once(&input[..]));
        let chunked = parse(&builder, input.chunks(chunk as usize));
        let bytes = parse(&builder, input.chunks(1));
        assert_eq!(whole, chunked, "{input:?}");
        assert_eq!(whole, bytes, "{input:?}");
        for item in whole.iter().flatten() {
            if let Item::Event(event) = item {
                assert!(event.data().len() < max_event, "{input:?}");
            }
        }
    }
}

fn text(rng: &mut Rng) -> String {
    const CHARS: &[char] = &['a', ' ', ':', '\n', '\r', 'é', '\0', 'z', '1'];
    (0..rng.range(0, 12))
        .map(|_| CHARS[rng.range(0, CHARS.len() as u64) as usize])
        .collect()
}

#[test]
fn round_trip_any_events_any_cuts() {
    let mut rng = Rng::new(7);
    for _ in 0..5_000 {
        let mut wire = Vec::new();
        let mut expected = Vec::new();
        let mut last_id = String::new();
        for _ in 0..rng.range(0, 6) {
            let mut event = Event::new();
            let kind = (rng.range(0, 2) == 0)
                .then(|| text(&mut rng))
                .and_then(|k| EventType::new(k).ok());
            let id = (rng.range(0, 2) == 0)
                .then(|| text(&mut rng))
                .and_then(|i| EventId::new(i).ok());
            if let Some(kind) = &kind {
                event = event.with_event(kind.clone());
            }
            if let Some(id) = &id {
                event = event.with_id(id.clone());
                id.as_str().clone_into(&mut last_id);
            }
            if rng.range(0, 4) == 0 {
                let retry = Duration::from_millis(rng.next_u64() >> 20);
                event = event.with_retry(retry);
                expected.push(Item::Retry(retry));
            }
            for _ in 0..rng.range(0, 2) {
                event = event.with_comment(text(&mut rng));
            }
            if rng.range(0, 4) != 0 {
                let data = text(&mut rng);
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
            wire.extend_from_slice(&event.encode());
        }
        let mut parser = Parser::builder()
            .max_line_len(usize::MAX)
            .max_event_len(usize::MAX)
            .build();
        let mut items = Vec::new();
        let mut start = 0;
        let mut cuts: Vec<usize> = (0..rng.range(0, 5))
            .map(|_| rng.range(0, wire.len() as u64 + 1) as usize)
            .collect();
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
}
