//! Parse throughput (bytes/s and events/s) for 64 B, 1 KiB and 64 KiB events, with the
//! same input through `eventsource-stream` as the baseline.
//!
//! `cargo bench -p sse-codec --bench parse`

use std::convert::Infallible;
use std::hint::black_box;
use std::time::Duration;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use eventsource_stream::Eventsource;
use futures::{executor::block_on, stream, StreamExt};
use sse_codec::{Event, EventId, Item, ParseStream, Parser};

/// Bytes per network read, as a server's chunks would arrive.
const CHUNK: usize = 16 * 1024;
/// About this many bytes of stream per iteration.
const STREAM: usize = 1024 * 1024;

/// Parses the chunks, returning the number of events.
type ParseFn = fn(&[Bytes]) -> usize;

struct Input {
    name: &'static str,
    events: usize,
    chunks: Vec<Bytes>,
    len: usize,
}

/// A stream of `data_len`-byte events with ids, cut into `CHUNK`-byte chunks.
fn input(name: &'static str, data_len: usize) -> Input {
    let data: String = (0..data_len)
        .map(|i| (b'a' + (i % 26) as u8) as char)
        .collect();
    let events = (STREAM / data_len).max(4);
    let mut wire = Vec::new();
    for i in 0..events {
        let event = Event::message(data.as_str()).with_id(EventId::from(i as u64));
        wire.extend_from_slice(&event.encode());
    }
    let wire = Bytes::from(wire);
    let chunks = (0..wire.len())
        .step_by(CHUNK)
        .map(|at| wire.slice(at..(at + CHUNK).min(wire.len())))
        .collect();
    Input {
        name,
        events,
        chunks,
        len: wire.len(),
    }
}

/// Lines up to 1 MiB, so that the 64 KiB events fit (the default is 64 KiB).
fn parser() -> Parser {
    Parser::builder().max_line_len(1024 * 1024).build()
}

fn sse_codec(chunks: &[Bytes]) -> usize {
    let mut parser = parser();
    let mut events = 0;
    for chunk in chunks {
        parser.feed(chunk);
        while let Some(item) = parser.next_item() {
            if let Ok(Item::Event(event)) = item {
                black_box(&event);
                events += 1;
            }
        }
    }
    events
}

fn sse_codec_stream(chunks: &[Bytes]) -> usize {
    let chunks = stream::iter(chunks.iter().cloned().map(Ok::<_, std::io::Error>));
    block_on(
        ParseStream::with_parser(chunks, parser())
            .filter(|item| std::future::ready(item.is_ok()))
            .count(),
    )
}

fn eventsource_stream(chunks: &[Bytes]) -> usize {
    let chunks = stream::iter(chunks.iter().cloned().map(Ok::<_, Infallible>));
    block_on(
        chunks
            .eventsource()
            .filter(|item| std::future::ready(item.is_ok()))
            .count(),
    )
}

fn bench(c: &mut Criterion) {
    let inputs = [
        input("64B", 64),
        input("1KiB", 1024),
        input("64KiB", 64 * 1024),
    ];
    for input in &inputs {
        for (unit, throughput) in [
            ("bytes", Throughput::Bytes(input.len as u64)),
            ("events", Throughput::Elements(input.events as u64)),
        ] {
            let mut group = c.benchmark_group(format!("parse-{unit}/{}", input.name));
            group.throughput(throughput);
            group.warm_up_time(Duration::from_secs(1));
            group.measurement_time(Duration::from_secs(3));
            group.sample_size(20);
            let impls: [(&str, ParseFn); 3] = [
                ("sse-codec", sse_codec),
                ("sse-codec-stream", sse_codec_stream),
                ("eventsource-stream", eventsource_stream),
            ];
            for (name, parse) in impls {
                assert_eq!(parse(&input.chunks), input.events, "{name}");
                group.bench_with_input(
                    BenchmarkId::from_parameter(name),
                    &input.chunks,
                    |b, chunks| b.iter(|| parse(black_box(chunks))),
                );
            }
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
