//! Encode throughput (bytes/s and events/s) for events with 64 B, 1 KiB and 64 KiB of
//! data.
//!
//! `cargo bench -p sse-codec --bench encode`

use std::hint::black_box;
use std::time::Duration;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use sse_codec::{Event, EventId};

fn bench(c: &mut Criterion) {
    for (name, data_len) in [("64B", 64), ("1KiB", 1024), ("64KiB", 64 * 1024)] {
        let data: String = (0..data_len)
            .map(|i| (b'a' + (i % 26) as u8) as char)
            .collect();
        let event = Event::message(data).with_id(EventId::from(12345));
        let len = event.encode().len() as u64;
        for (unit, throughput) in [
            ("bytes", Throughput::Bytes(len)),
            ("events", Throughput::Elements(1)),
        ] {
            let mut group = c.benchmark_group(format!("encode-{unit}"));
            group.throughput(throughput);
            group.warm_up_time(Duration::from_secs(1));
            group.measurement_time(Duration::from_secs(2));
            group.bench_function(name, |b| b.iter(|| black_box(&event).encode()));
            group.finish();
        }
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
