//! 100,000 connect/disconnect cycles leave no client and no memory behind.

use futures::StreamExt;
use sse_codec::Event;
use sse_core::{ConnectRequest, ReplayConfig, Service, Topic};

#[global_allocator]
static ALLOC: stats_alloc::StatsAlloc<std::alloc::System> = stats_alloc::StatsAlloc::system();

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
            service.broadcast(Event::message("tick"));
            service.publish(&Topic::new("room").unwrap(), Event::message("room"));
        }
        drop(stream);
    }
}

#[tokio::test]
async fn churn_leaves_nothing_behind() {
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
