//! Publish latency while clients resume from a full history: one thread publishes
//! 5,000 events; another connects 100 clients at a time, each resuming from the
//! start of a 32 MiB history over 64 topics, and drains them, over and over. Prints
//! p50 / p99 / max of one publish, with and without the resuming load.
//!
//! `cargo bench -p sse-core --bench resume`

use std::{
    sync::atomic::{AtomicBool, Ordering},
    task::{Context, Poll, Waker},
    time::{Duration, Instant},
};

use futures::StreamExt;
use sse_codec::Event;
use sse_core::{ConnectRequest, Service, Topic};

const TOPICS: usize = 64;
const HISTORY: usize = 15_000;
const SIZE: usize = 2_000;
const PUBLISHES: usize = 5_000;
const RESUMERS: usize = 100;

fn service_with_history() -> (Service, String) {
    let service = Service::builder().keep_alive(None).build();
    let start = service.latest_id().to_string();
    let pad = "x".repeat(SIZE);
    for n in 0..HISTORY {
        let topic = Topic::new(&format!("t{}", n % TOPICS)).expect("topic");
        service
            .publish(&topic, Event::message(format!("{n} {pad}")))
            .unwrap();
    }
    (service, start)
}

/// Publishes at a steady pace; the time each publish took.
fn publish_latencies(service: &Service) -> Vec<Duration> {
    // A topic the resuming clients do not read: their history stays whole.
    let topic = Topic::new("live").expect("topic");
    let mut took = Vec::with_capacity(PUBLISHES);
    for n in 0..PUBLISHES {
        let event = Event::message(format!("live {n}"));
        let start = Instant::now();
        service.publish(&topic, event).unwrap();
        took.push(start.elapsed());
        std::thread::sleep(Duration::from_micros(200));
    }
    took
}

/// Connects `RESUMERS` clients resuming from `start` on every topic and drains them,
/// until `stop`; the number of clients that resumed, and the bytes they read.
fn resume_load(service: &Service, start: &str, stop: &AtomicBool) -> (usize, usize) {
    let topics: Vec<String> = (0..TOPICS).map(|t| format!("t{t}")).collect();
    let mut cx = Context::from_waker(Waker::noop());
    let (mut clients, mut frames) = (0, 0);
    while !stop.load(Ordering::Relaxed) {
        let mut streams: Vec<_> = (0..RESUMERS)
            .map(|_| {
                let request = ConnectRequest::new()
                    .topics(topics.iter().cloned())
                    .last_event_id(start);
                service.connect(request).expect("admitted")
            })
            .collect();
        clients += streams.len();
        for stream in &mut streams {
            while let Poll::Ready(Some(frame)) = stream.poll_next_unpin(&mut cx) {
                frames += frame.len();
            }
        }
    }
    (clients, frames)
}

fn percentiles(mut took: Vec<Duration>) -> String {
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize];
    format!(
        "p50 {:>8.1?}  p99 {:>8.1?}  max {:>8.1?}",
        at(0.5),
        at(0.99),
        took[took.len() - 1]
    )
}

fn main() {
    let (service, start) = service_with_history();
    let quiet = publish_latencies(&service);

    let stop = AtomicBool::new(false);
    let (loaded, (clients, frames)) = std::thread::scope(|s| {
        let load = s.spawn(|| resume_load(&service, &start, &stop));
        let loaded = publish_latencies(&service);
        stop.store(true, Ordering::Relaxed);
        (loaded, load.join().expect("load thread"))
    });
    println!("history: {HISTORY} events of {SIZE} bytes over {TOPICS} topics");
    println!("publish, no resumes:          {}", percentiles(quiet));
    println!("publish, resumes under way:   {}", percentiles(loaded));
    println!(
        "meanwhile {clients} clients resumed from the start, {} MiB read in all",
        frames >> 20
    );
}
