//! Cross-instance latency (publish on A, receipt by a client on B) and one
//! instance's publish throughput, against a real `redis-server` started here.
//!
//! `cargo bench -p sse-redis --bench cross_instance` runs it in full; under
//! `cargo test` (no `--bench` argument) it runs a few iterations as a smoke test.

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use common::RedisServer;
use futures::StreamExt;
use sse_codec::Event;
use sse_core::{ConnectRequest, Service};
use sse_redis::{RedisBackplane, RedisOptions};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let (rounds, sequential, concurrent) = if full {
        (5_000, 20_000, 100_000)
    } else {
        (50, 200, 1_000)
    };
    let server = RedisServer::start();
    let mut builder = Service::builder();
    builder.keep_alive(None).queue_limits(1 << 20, 1 << 30);
    let options = RedisOptions::new().max_len(100_000);
    let a = RedisBackplane::connect(&server.url(), &builder, options.clone())
        .await
        .expect("instance a");
    let b = RedisBackplane::connect(&server.url(), &builder, options)
        .await
        .expect("instance b");
    let mut on_b = b.service().connect(ConnectRequest::new()).unwrap();
    on_b.next().await; // prelude

    // Latency: one message in flight at a time, from A's publish call to B's frame.
    let payload = "x".repeat(64);
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        a.broadcast(Event::message(payload.clone())).await.unwrap();
        let frame = tokio::time::timeout(Duration::from_secs(5), on_b.next())
            .await
            .expect("frame on b within 5 s")
            .unwrap();
        samples.push(start.elapsed());
        assert!(frame.ends_with(b"\n\n"));
    }
    samples.sort();
    println!(
        "cross-instance latency, {rounds} rounds, 64-byte data: p50 {:?}  p99 {:?}  p99.9 {:?}  max {:?}",
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        percentile(&samples, 0.999),
        samples[samples.len() - 1],
    );

    // Throughput, one publisher awaiting each publish in turn.
    let start = Instant::now();
    for _ in 0..sequential {
        a.broadcast(Event::message(payload.clone())).await.unwrap();
    }
    let took = start.elapsed();
    println!(
        "publish throughput, sequential awaits: {sequential} events in {took:?} = {:.0} events/s",
        sequential as f64 / took.as_secs_f64()
    );
    drain(&mut on_b, sequential).await;

    // Throughput, 64 concurrent publishers on one instance (one pipelined connection),
    // and until B's client has every event.
    let a = Arc::new(a);
    let start = Instant::now();
    let tasks: Vec<_> = (0..64)
        .map(|_| {
            let a = Arc::clone(&a);
            let payload = payload.clone();
            tokio::spawn(async move {
                for _ in 0..concurrent / 64 {
                    a.broadcast(Event::message(payload.clone())).await.unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let took = start.elapsed();
    let sent = concurrent / 64 * 64;
    println!(
        "publish throughput, 64 concurrent publishers: {sent} events in {took:?} = {:.0} events/s",
        sent as f64 / took.as_secs_f64()
    );
    drain(&mut on_b, sent).await;
    let took = start.elapsed();
    println!(
        "  received by a client on the other instance: all {sent} after {took:?} = {:.0} events/s",
        sent as f64 / took.as_secs_f64()
    );
}

async fn drain(stream: &mut sse_core::ClientStream, events: usize) {
    let mut seen = 0;
    while seen < events {
        let chunk = tokio::time::timeout(Duration::from_secs(30), stream.next())
            .await
            .expect("frames within 30 s")
            .unwrap();
        seen += chunk.windows(2).filter(|w| w == b"\n\n").count();
    }
}
