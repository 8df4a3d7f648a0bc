//! One broadcast to 1k, 10k and 100k in-memory clients: time per client (the enqueue)
//! and heap allocations per broadcast.
//!
//! `cargo bench -p sse-core --bench broadcast`

use std::{
    hint::black_box,
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use futures::StreamExt;
use sse_codec::Event;
use sse_core::{ClientStream, ConnectRequest, Service};

#[global_allocator]
static ALLOC: stats_alloc::StatsAlloc<std::alloc::System> = stats_alloc::StatsAlloc::system();

fn setup(clients: usize) -> (Service, Vec<ClientStream>) {
    let service = Service::builder().keep_alive(None).build();
    let streams: Vec<_> = (0..clients)
        .map(|_| service.connect(ConnectRequest::new()).expect("admitted"))
        .collect();
    (service, streams)
}

/// Empties every queue, as the clients' writers would.
fn drain(streams: &mut [ClientStream]) {
    let mut cx = Context::from_waker(Waker::noop());
    for s in streams {
        while let Poll::Ready(Some(_)) = s.poll_next_unpin(&mut cx) {}
    }
}

fn broadcast(c: &mut Criterion) {
    let mut group = c.benchmark_group("broadcast");
    group
        .measurement_time(Duration::from_secs(5))
        .sample_size(30);
    for clients in [1_000, 10_000, 100_000] {
        let (service, mut streams) = setup(clients);
        drain(&mut streams);
        let event = Event::message("x".repeat(64));

        // Allocations of one broadcast in steady state, outside the timed loop.
        black_box(service.broadcast(event.clone()).unwrap());
        drain(&mut streams);
        let before = ALLOC.stats();
        black_box(service.broadcast(event.clone()).unwrap());
        let allocs = ALLOC.stats().allocations - before.allocations;
        drain(&mut streams);
        println!("broadcast/{clients}: {allocs} heap allocations per broadcast");

        group.throughput(Throughput::Elements(clients as u64));
        group.bench_with_input(BenchmarkId::from_parameter(clients), &clients, |b, _| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    black_box(service.broadcast(event.clone()).unwrap());
                    total += start.elapsed();
                    drain(&mut streams);
                }
                total
            })
        });
    }
    group.finish();
}

criterion_group!(benches, broadcast);
criterion_main!(benches);
