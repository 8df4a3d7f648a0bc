//! Shared by the integration tests: run one wire sample every way it can be chunked.

#![allow(dead_code, unreachable_pub, unused_macros)]

use std::time::Duration;

use sse_codec::{Item, MessageEvent, ParseError, Parser, ParserBuilder};

pub type Out = Result<Item, ParseError>;

pub fn ev(event_type: &str, data: &str, last_event_id: &str) -> Out {
    Ok(Item::Event(MessageEvent::new(
        event_type,
        data,
        last_event_id,
    )))
}

pub fn msg(data: &str) -> Out {
    ev("message", data, "")
}

pub fn retry(millis: u64) -> Out {
    Ok(Item::Retry(Duration::from_millis(millis)))
}

/// Feeds `chunks` in order, taking every item after each, then finishes the stream.
pub fn parse_chunks<'a>(
    builder: &ParserBuilder,
    chunks: impl IntoIterator<Item = &'a [u8]>,
) -> Vec<Out> {
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

/// Parses `wire` whole, one byte at a time (with empty chunks between, which are not
/// the end of the stream), and split in two at every position; all must give `want`.
pub fn check(builder: &ParserBuilder, wire: &[u8], want: &[Out]) {
    assert_eq!(
        parse_chunks(builder, [wire]),
        want,
        "whole: {:?}",
        String::from_utf8_lossy(wire)
    );
    let bytes = wire.chunks(1).flat_map(|b| [b, &[][..]]);
    assert_eq!(parse_chunks(builder, bytes), want, "byte by byte");
    for at in 0..=wire.len() {
        let (a, b) = wire.split_at(at);
        assert_eq!(parse_chunks(builder, [a, b]), want, "split at {at}");
    }
}

/// Parses with a default parser.
pub fn parse(wire: &[u8]) -> Vec<Out> {
    parse_chunks(&Parser::builder(), [wire])
}

/// `name: wire => [items];` becomes a `#[test]` that [`check`]s the sample;
/// `with |builder| ...` configures the parser first.
macro_rules! wire_tests {
    ($(
        $(#[doc = $doc:literal])*
        $name:ident: $wire:expr => [$($want:expr),* $(,)?] $(with $config:expr)?;
    )*) => {$(
        $(#[doc = $doc])*
        #[test]
        fn $name() {
            #[allow(unused_mut)]
            let mut builder = ::sse_codec::Parser::builder();
            $({
                let config: fn(&mut ::sse_codec::ParserBuilder) = $config;
                config(&mut builder);
            })?
            let wire: &[u8] = $wire;
            $crate::common::check(&builder, wire, &[$($want),*]);
        }
    )*};
}
