//! The Redis backplane against a real `redis-server` started here: cross-instance
//! latency, publish throughput end to end between two instances (with raw pipelined
//! `XADD` on the same Redis as the baseline), and an instance's CPU per delivered
//! event as traffic it has no reader for grows.
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
use sse_core::{ClientStream, ConnectRequest, Service, ServiceBuilder, Topic};
use sse_redis::{RedisBackplane, RedisOptions};

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn builder() -> ServiceBuilder {
    let mut builder = Service::builder();
    builder.keep_alive(None).queue_limits(1 << 22, 1 << 31);
    builder
}

fn options() -> RedisOptions {
    RedisOptions::new().max_len(100_000)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let full = std::env::args().any(|a| a == "--bench");
    let scale = if full { 1 } else { 100 };
    let server = RedisServer::start();
    latency(&server, 5_000 / scale).await;
    throughput(&server, 400_000 / scale).await;
    raw_xadd(&server, 400_000 / scale).await;
    uninterested(&server, 5_000 / scale.min(50)).await;
}

async fn connect(server: &RedisServer) -> RedisBackplane {
    RedisBackplane::connect(&server.url(), &builder(), options())
        .await
        .expect("an instance")
}

async fn reader(backplane: &RedisBackplane, topics: &[&str]) -> ClientStream {
    let mut stream = backplane
        .service()
        .connect(ConnectRequest::new().topics(topics.iter().copied()))
        .unwrap();
    stream.next().await; // the prelude: the client's channels are in place
    stream
}

/// One message in flight at a time, from A's publish call to the frame on B.
async fn latency(server: &RedisServer, rounds: usize) {
    let a = connect(server).await;
    let b = connect(server).await;
    let mut on_b = reader(&b, &["t"]).await;
    let topic = Topic::new("t").unwrap();
    let payload = "x".repeat(64);
    let mut samples = Vec::with_capacity(rounds);
    for _ in 0..rounds {
        let start = Instant::now();
        a.publish(&topic, Event::message(payload.clone()))
            .await
            .unwrap();
        drain(&mut on_b, 1).await;
        samples.push(start.elapsed());
    }
    samples.sort();
    println!(
        "cross-instance latency, {rounds} rounds, 64-byte data: p50 {:?}  p99 {:?}  p99.9 {:?}  max {:?}",
        percentile(&samples, 0.50),
        percentile(&samples, 0.99),
        percentile(&samples, 0.999),
        samples[samples.len() - 1],
    );
}

/// 512 publishers on A and a reader of their topic on each instance: events/s until
/// both readers have every event.
async fn throughput(server: &RedisServer, events: usize) {
    let a = Arc::new(connect(server).await);
    let b = connect(server).await;
    let mut on_a = reader(&a, &["t"]).await;
    let mut on_b = reader(&b, &["t"]).await;
    let publishers = 512;
    let each = events / publishers;
    let sent = each * publishers;
    let start = Instant::now();
    let tasks: Vec<_> = (0..publishers)
        .map(|_| {
            let a = Arc::clone(&a);
            tokio::spawn(async move {
                let topic = Topic::new("t").unwrap();
                let payload = "x".repeat(64);
                for _ in 0..each {
                    a.publish(&topic, Event::message(payload.clone()))
                        .await
                        .unwrap();
                }
            })
        })
        .collect();
    let readers = tokio::spawn(async move {
        drain(&mut on_a, sent).await;
        let a_done = start.elapsed();
        drain(&mut on_b, sent).await;
        (a_done, start.elapsed())
    });
    for task in tasks {
        task.await.unwrap();
    }
    let published = start.elapsed();
    let (on_a, on_b) = readers.await.unwrap();
    let rate = |t: Duration| sent as f64 / t.as_secs_f64();
    println!(
        "end to end, {publishers} publishers on A, 64-byte data: {sent} events published in {published:?} ({:.0}/s); \
         A's reader had all after {on_a:?} ({:.0}/s), B's after {on_b:?} ({:.0}/s)",
        rate(published),
        rate(on_a),
        rate(on_b),
    );
}

/// The baseline: the same number of 64-byte `XADD`s, pipelined 16 at a time over 8
/// connections, on the same Redis.
async fn raw_xadd(server: &RedisServer, events: usize) {
    let client = redis::Client::open(server.url()).unwrap();
    let connections = 8;
    let each = events / connections / 16;
    let start = Instant::now();
    let tasks: Vec<_> = (0..connections)
        .map(|n| {
            let client = client.clone();
            tokio::spawn(async move {
                let mut conn = client.get_multiplexed_async_connection().await.unwrap();
                let payload = "x".repeat(64);
                for _ in 0..each {
                    let mut pipe = redis::pipe();
                    for _ in 0..16 {
                        pipe.cmd("XADD")
                            .arg(format!("raw:{n}"))
                            .arg("MAXLEN")
                            .arg("~")
                            .arg(100_000)
                            .arg("*")
                            .arg("f")
                            .arg(&payload)
                            .ignore();
                    }
                    pipe.query_async::<()>(&mut conn).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    let took = start.elapsed();
    let sent = each * connections * 16;
    println!(
        "baseline, raw XADD pipelined 16 deep over {connections} connections: {sent} in {took:?} ({:.0}/s)",
        sent as f64 / took.as_secs_f64()
    );
}

/// Instance B, on a thread of its own, reads topic `mine`; A publishes `events` to
/// it and `k` times as many to topics no one on B reads. B's CPU time per event
/// its reader got, for k = 0, 10 and 100.
async fn uninterested(server: &RedisServer, events: usize) {
    let a = Arc::new(connect(server).await);
    let url = server.url();
    let (to_b, mut commands) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let (from_b, mut answers) = tokio::sync::mpsc::unbounded_channel::<Duration>();
    let ready = Arc::new(tokio::sync::Notify::new());
    let b_ready = Arc::clone(&ready);
    let b = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async move {
            let b = RedisBackplane::connect(&url, &builder(), options())
                .await
                .unwrap();
            let mut on_b = reader(&b, &["mine"]).await;
            b_ready.notify_one();
            while let Some(expected) = commands.recv().await {
                let before = thread_cpu();
                drain(&mut on_b, expected).await;
                from_b.send(thread_cpu() - before).unwrap();
            }
        });
    });
    ready.notified().await;
    let mine = Topic::new("mine").unwrap();
    let others: Vec<Topic> = (0..100)
        .map(|n| Topic::new(&format!("other-{n}")).unwrap())
        .collect();
    for k in [0, 10, 100] {
        to_b.send(events).unwrap();
        let payload = "x".repeat(64);
        let tasks: Vec<_> = (0..64)
            .map(|n| {
                let (a, mine, others, payload) = (
                    Arc::clone(&a),
                    mine.clone(),
                    others.clone(),
                    payload.clone(),
                );
                tokio::spawn(async move {
                    for i in 0..events / 64 + usize::from(n < events % 64) {
                        for j in 0..k {
                            let other = &others[(i * k + j) % others.len()];
                            a.publish(other, Event::message(payload.clone()))
                                .await
                                .unwrap();
                        }
                        a.publish(&mine, Event::message(payload.clone()))
                            .await
                            .unwrap();
                    }
                })
            })
            .collect();
        for task in tasks {
            task.await.unwrap();
        }
        let cpu = answers.recv().await.unwrap();
        println!(
            "uninterested traffic {k}x ({} events B has no reader for): B's CPU {cpu:?} for {events} delivered = {:.2} µs per event",
            events * k,
            cpu.as_secs_f64() * 1e6 / events as f64
        );
    }
    drop(to_b);
    b.join().unwrap();
}

/// This thread's CPU time (user and system), from `/proc/thread-self/stat`.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command name (which may hold spaces) and its closing paren.
    let rest = stat.rsplit_once(')').map_or("", |(_, r)| r);
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // utime and stime, fields 14 and 15 of the line (the rest starts at field 3), in
    // ticks of 10 ms.
    let field = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<u64>().ok())
            .unwrap_or(0)
    };
    let ticks = field(11) + field(12);
    Duration::from_millis(ticks * 10)
}

async fn drain(stream: &mut ClientStream, events: usize) {
    let mut seen = 0;
    while seen < events {
        let chunk = tokio::time::timeout(Duration::from_secs(60), stream.next())
            .await
            .expect("frames within 60 s")
            .unwrap();
        seen += chunk.windows(2).filter(|w| w == b"\n\n").count();
    }
}
