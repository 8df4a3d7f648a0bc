//! 100,000 connect/disconnect cycles leave no client and no memory behind.

use futures::{FutureExt, StreamExt};
use sse_codec::Event;
use sse_core::{ConnectRequest, ReplayConfig, Service, Topic};

#[global_allocator]
static ALLOC: stats_alloc::StatsAlloc<std::alloc::System> = stats_alloc::StatsAlloc::system();

/// The heap counter is global: tests that read it take turns.
static HEAP: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

fn live_bytes() -> isize {
    let stats = ALLOC.stats();
    stats.bytes_allocated as isize - stats.bytes_deallocated as isize
}

async fn cycles(service: &Service, n: usize) {
    for i in 0..n {
        let req = ConnectRequest::new()
            .client_id(format!("c{}", i % 1000))
            .topics(["room"]);
        let mut stream = service.connect(req).unwrap();
        stream.next().await;
        if i % 100 == 0 {
            service.broadcast(Event::message("tick")).unwrap();
            service
                .publish(&Topic::new("room").unwrap(), Event::message("room"))
                .unwrap();
        }
        drop(stream);
    }
}

#[tokio::test]
async fn churn_leaves_nothing_behind() {
    let _heap = HEAP.lock().await;
    let service = Service::builder()
        .replay(ReplayConfig::new().max_events(256))
        .build();
    // Warm up: replay buffers fill to their bound, maps reach their size.
    cycles(&service, 100_000).await;
    let before = live_bytes();
    cycles(&service, 100_000).await;
    let growth = live_bytes() - before;
    assert_eq!(service.active(), 0);
    let m = service.metrics();
    assert_eq!((m.connected, m.removed), (200_000, 200_000));
    assert!(
        growth < 64 * 1024,
        "heap grew by {growth} bytes over 100,000 cycles"
    );
}

/// The library's own share of an idle connection's memory: the HTTP stack's buffers
/// come on top (see BENCHMARKS.md, fan-out).
#[tokio::test]
async fn an_idle_client_costs_under_one_kib() {
    let _heap = HEAP.lock().await;
    const CLIENTS: usize = 10_000;
    let service = Service::new();
    let before = live_bytes();
    let mut streams: Vec<_> = (0..CLIENTS)
        .map(|_| service.connect(ConnectRequest::new()).unwrap())
        .collect();
    for s in &mut streams {
        s.next().await; // the prelude
        assert!(s.next().now_or_never().is_none()); // idle: arms the keep-alive timer
    }
    let per_client = (live_bytes() - before) / CLIENTS as isize;
    println!("{per_client} bytes of heap per idle client");
    assert!(per_client < 1024, "{per_client} bytes per idle client");
    drop(streams);
    assert_eq!(service.active(), 0);
}
