//! A resuming client costs its own small state, not a copy of what it missed: 100
//! clients resuming from an 8 MiB history, none of them reading, hold less than 4 KiB
//! each; and each still gets every missed event, in order, when it reads.

use futures::{FutureExt, StreamExt};
use sse_codec::Event;
use sse_core::{ConnectRequest, ReplayConfig, Service, Topic};

#[global_allocator]
static ALLOC: stats_alloc::StatsAlloc<std::alloc::System> = stats_alloc::StatsAlloc::system();

fn live_bytes() -> isize {
    let stats = ALLOC.stats();
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize
}

const EVENTS: usize = 4_000;
const SIZE: usize = 2_048;
const CLIENTS: usize = 100;

#[test]
fn resuming_clients_share_the_history() {
    let service = Service::builder()
        .replay(ReplayConfig::new().max_bytes(64 << 20))
        .build();
    let room = Topic::new("room").unwrap();
    let start = service.latest_id().to_string();
    let pad = "x".repeat(SIZE);
    for n in 0..EVENTS {
        let event = Event::message(format!("{n} {pad}"));
        if n % 2 == 0 {
            service.publish(&room, event).unwrap();
        } else {
            service.broadcast(event).unwrap();
        }
    }

    let before = live_bytes();
    let mut streams: Vec<_> = (0..CLIENTS)
        .map(|_| {
            let request = ConnectRequest::new()
                .topics(["room"])
                .last_event_id(start.clone());
            service.connect(request).unwrap()
        })
        .collect();
    let per_client = (live_bytes() - before) / CLIENTS as isize;
    let history = (EVENTS * SIZE) as isize;
    println!("{per_client} bytes per resuming client, history {history} bytes");
    assert!(
        per_client < 4096,
        "{per_client} bytes per resuming client: the history was copied"
    );

    // Each still gets all of it, exactly and in order, as it reads.
    for stream in streams.iter_mut().take(3) {
        let mut seen = 0;
        let mut text = String::new();
        while seen < EVENTS {
            let frame = stream
                .next()
                .now_or_never()
                .flatten()
                .expect("a frame at once");
            text.push_str(std::str::from_utf8(&frame).unwrap());
            while let Some(end) = text.find("\n\n") {
                let event: String = text.drain(..end + 2).collect();
                let Some(data) = event.lines().find_map(|l| l.strip_prefix("data: ")) else {
                    continue;
                };
                if event.contains("event: sse-client") {
                    continue;
                }
                let n: usize = data.split(' ').next().unwrap().parse().unwrap();
                assert_eq!(n, seen, "in order, none missing");
                seen += 1;
            }
        }
    }
}
