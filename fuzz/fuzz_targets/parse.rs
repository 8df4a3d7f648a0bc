//! Arbitrary bytes with arbitrary limits and chunking: the parser must not panic, must
//! give the same items however the input is chunked, and must keep its limits.

#![no_main]

use libfuzzer_sys::fuzz_target;
use sse_codec::{Item, ParseError, Parser, ParserBuilder};

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

fuzz_target!(|input: &[u8]| {
    // The first bytes choose the limits and the chunk size; the rest is the stream.
    let [line, event, chunk, wire @ ..] = input else {
        return;
    };
    let max_event = usize::from(*event) * 16;
    let mut builder = Parser::builder();
    builder
        .max_line_len(usize::from(*line) * 4)
        .max_event_len(max_event);
    let whole = parse(&builder, std::iter::once(wire));
    let chunked = parse(&builder, wire.chunks(usize::from(*chunk).max(1)));
    let bytes = parse(&builder, wire.chunks(1));
    assert_eq!(whole, chunked);
    assert_eq!(whole, bytes);
    for item in &whole {
        if let Ok(Item::Event(event)) = item {
            // The data buffer held the data and a final LF.
            assert!(event.data().len() < max_event);
        }
    }
});
