//! Publishing when there are many topics: the time of a publish to a topic that already
//! has history, and to a topic seen for the first time, with 10,000 topics in the
//! history (each with one event), p50 / p99 over 2,000 publishes each.
//!
//! `cargo bench -p sse-core --bench topics`

use std::time::{Duration, Instant};

use sse_codec::Event;
use sse_core::{Service, Topic};

const TOPICS: usize = 10_000;
const PUBLISHES: usize = 2_000;

fn percentiles(mut took: Vec<Duration>) -> String {
    took.sort();
    let at = |q: f64| took[((took.len() - 1) as f64 * q) as usize];
    format!("p50 {:>8.1?}  p99 {:>8.1?}", at(0.5), at(0.99))
}

fn main() {
    let service = Service::builder().keep_alive(None).build();
    for t in 0..TOPICS {
        let topic = Topic::new(&format!("t{t}")).expect("topic");
        service
            .publish(&topic, Event::message("x".repeat(100)))
            .expect("published");
    }
    let mut existing = Vec::with_capacity(PUBLISHES);
    let mut new = Vec::with_capacity(PUBLISHES);
    for n in 0..PUBLISHES {
        let old = Topic::new(&format!("t{}", n % TOPICS)).expect("topic");
        let fresh = Topic::new(&format!("new{n}")).expect("topic");
        let start = Instant::now();
        service
            .publish(&old, Event::message("y"))
            .expect("published");
        existing.push(start.elapsed());
        let start = Instant::now();
        service
            .publish(&fresh, Event::message("y"))
            .expect("published");
        new.push(start.elapsed());
    }
    println!("{TOPICS} topics in the history");
    println!(
        "publish to a topic with history:  {}",
        percentiles(existing)
    );
    println!("publish to a new topic:           {}", percentiles(new));
}
