//! The Redis backplane against a real `redis-server` started here: cross-instance
//! latency, publish throughput end to end between two instances (with raw pipelined
//! `XADD` on the same Redis as the baseline), the same over 64 topics on one Redis and
//! on a 3-primary Redis Cluster, and an instance's CPU per delivered event as traffic
//! it has no reader for grows.
//!
//! `cargo bench -p sse-redis --bench cross_instance` runs it in full (with
//! `THROUGHPUT_ONLY=1`, only the one-topic throughput, three times with 1,000,000
//! events); under
//! `cargo test` (no `--bench` argument) it runs a few iterations as a smoke test.

#[path = "../tests/common/mod.rs"]
mod common;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use common::{RedisCluster, RedisServer};
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
    if std::env::var_os("THROUGHPUT_ONLY").is_some() {
        for _ in 0..3 {
            let (a, b) = (connect(&server).await, connect(&server).await);
            throughput("one Redis, 1 topic", a, b, 1, 1_000_000 / scale).await;
        }
        return;
    }
    latency(&server, 5_000 / scale).await;
    let (a, b) = (connect(&server).await, connect(&server).await);
    throughput("one Redis, 1 topic", a, b, 1, 400_000 / scale).await;
    raw_xadd(&server, 400_000 / scale).await;
    let (a, b) = (connect(&server).await, connect(&server).await);
    throughput("one Redis, 64 topics", a, b, 64, 400_000 / scale).await;
    let cluster = RedisCluster::start(3, 0);
    let (a, b) = (connect_to(&cluster).await, connect_to(&cluster).await);
    throughput("3-primary cluster, 64 topics", a, b, 64, 400_000 / scale).await;
    drop(cluster);
    uninterested(&server, if full { 5 } else { 1 }).await;
}

async fn connect(server: &RedisServer) -> RedisBackplane {
    RedisBackplane::connect(&server.url(), &builder(), options())
        .await
        .expect("an instance")
}

async fn connect_to(cluster: &RedisCluster) -> RedisBackplane {
    let urls = cluster.urls();
    let seeds: Vec<&str> = urls.iter().map(String::as_str).collect();
    RedisBackplane::connect_cluster(&seeds, &builder(), options())
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
async fn throughput(
    label: &str,
    a: RedisBackplane,
    b: RedisBackplane,
    topics: usize,
    events: usize,
) {
    let names: Vec<String> = (0..topics).map(|n| format!("t{n}")).collect();
    let names: Vec<&str> = names.iter().map(String::as_str).collect();
    let a = Arc::new(a);
    let mut on_a = reader(&a, &names).await;
    let mut on_b = reader(&b, &names).await;
    let publishers = 512;
    let each = events / publishers;
    let sent = each * publishers;
    let start = Instant::now();
    let tasks: Vec<_> = (0..publishers)
        .map(|n| {
            let a = Arc::clone(&a);
            tokio::spawn(async move {
                let topic = Topic::new(&format!("t{}", n % topics)).unwrap();
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
        "end to end, {label}, {publishers} publishers on A, 64-byte data: {sent} events published in {published:?} ({:.0}/s); \
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

/// Instance B, on a thread of its own, reads topic `mine`; A publishes to it at a
/// steady rate for a while, and `k` times as much to topics no one on B reads. B's
/// CPU time per event its reader got, and the bytes it received from Redis, for
/// k = 0, 10 and 100: flat when B receives only what its reader reads.
async fn uninterested(server: &RedisServer, seconds: u64) {
    const PER_TICK: usize = 10; // every 10 ms: 1,000 events/s to `mine`
    let a = Arc::new(connect(server).await);
    let url = server.url();
    let (to_b, mut commands) = tokio::sync::mpsc::unbounded_channel::<usize>();
    let (from_b, mut answers) = tokio::sync::mpsc::unbounded_channel::<(Duration, u64)>();
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
                let (cpu, bytes) = (thread_cpu(), b.status().received_bytes);
                drain(&mut on_b, expected).await;
                from_b
                    .send((thread_cpu() - cpu, b.status().received_bytes - bytes))
                    .unwrap();
            }
        });
    });
    ready.notified().await;
    let mine = Topic::new("mine").unwrap();
    let others: Vec<Topic> = (0..100)
        .map(|n| Topic::new(&format!("other-{n}")).unwrap())
        .collect();
    // The control: the same load as 100x, but the other topics go through another
    // Redis that B is not connected to, so whatever B's CPU does then is the machine.
    let elsewhere = RedisServer::start();
    let c = Arc::new(connect(&elsewhere).await);
    let ticks = seconds * 100;
    let events = ticks as usize * PER_TICK;
    for (k, control) in [(0, false), (10, false), (100, false), (100, true)] {
        to_b.send(events).unwrap();
        let mut tick = tokio::time::interval(Duration::from_millis(10));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let started = Instant::now();
        for _ in 0..ticks {
            tick.tick().await;
            let sends = (0..PER_TICK * (k + 1)).map(|n| {
                let topic = if n % (k + 1) == 0 {
                    mine.clone()
                } else {
                    others[n % others.len()].clone()
                };
                let via = if control && topic != mine { &c } else { &a };
                let via = Arc::clone(via);
                async move { via.publish(&topic, Event::message("x".repeat(64))).await }
            });
            for sent in futures::future::join_all(sends).await {
                sent.unwrap();
            }
        }
        let wall = started.elapsed();
        let (cpu, bytes) = answers.recv().await.unwrap();
        println!(
            "uninterested traffic {k}x{}: {events} events to B's topic at 1,000/s and {} to others over {wall:?} (planned {} s); \
             B's CPU {cpu:?} = {:.2} µs per delivered event; B received {} bytes = {:.1} per delivered event",
            if control { " through another Redis (control)" } else { "" },
            events * k,
            seconds,
            cpu.as_secs_f64() * 1e6 / events as f64,
            bytes,
            bytes as f64 / events as f64,
        );
    }
    drop(to_b);
    b.join().unwrap();
}

/// This thread's time on a CPU, in nanoseconds, from `/proc/thread-self/schedstat`.
fn thread_cpu() -> Duration {
    let stat = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap_or_default();
    let ns = stat
        .split_whitespace()
        .next()
        .and_then(|f| f.parse().ok())
        .unwrap_or(0);
    Duration::from_nanos(ns)
}

async fn drain(stream: &mut ClientStream, events: usize) {
    let mut seen = 0;
    while seen < events {
        let chunk = tokio::time::timeout(Duration::from_secs(60), stream.next())
            .await
            .unwrap_or_else(|_| panic!("frames within 60 s: {seen} of {events}"))
            .unwrap();
        // Frames end with a blank line; a chunk holds whole frames.
        seen += memchr::memmem::find_iter(&chunk, b"\n\n").count();
    }
}
