//! How `sse_http::Server` writes events: small chunk writes go out as one `send`
//! each, not as `writev`. Alone in its test binary, because it counts the whole
//! process's write calls.
#![cfg(target_os = "linux")]

use hyper::server::conn::http1;
use hyper_util::rt::TokioIo;
use sse_codec::Event;
use sse_core::Service;
use sse_http::{Endpoint, Server};
use sse_testkit::{bind_loopback, connect_raw_h1, read_until};
use tokio::net::TcpListener;

/// The process's `write`/`writev` calls so far (`syscw` in `/proc/self/io`); `send`
/// is not among them.
fn write_calls() -> u64 {
    let io = std::fs::read_to_string("/proc/self/io").expect("/proc/self/io");
    let line = io.lines().find(|l| l.starts_with("syscw:")).expect("syscw");
    line[6..].trim().parse().expect("a count")
}

/// Broadcasts `count` events to one client of a server that `serve` starts, and
/// returns how many `write`/`writev` calls the process made meanwhile.
async fn write_calls_for_events<F>(
    count: usize,
    serve: impl FnOnce(TcpListener, Endpoint) -> F,
) -> u64
where
    F: std::future::Future<Output = ()> + Send + 'static,
{
    let service = Service::new();
    let (listener, addr) = bind_loopback().await;
    let server = tokio::spawn(serve(listener, Endpoint::new(service.clone())));
    let mut tcp = connect_raw_h1(addr, "/events", &[]).await;
    let before = write_calls();
    for i in 0..count {
        service.broadcast(Event::message(i.to_string())).unwrap();
        // One event per write: let the stream drain before the next.
        read_until(&mut tcp, &format!("data: {i}\n\n")).await;
    }
    let calls = write_calls() - before;
    server.abort();
    calls
}

// One test function, so that no other test of this binary writes meanwhile.
#[tokio::test(flavor = "current_thread")]
async fn small_event_writes_are_sends_not_writevs() {
    const EVENTS: usize = 50;
    // Control: hyper on its own writes each chunk with `writev`, which the counter sees.
    let plain = write_calls_for_events(EVENTS, |listener, sse| async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let _ = http1::Builder::new()
            .serve_connection(TokioIo::new(tcp), sse)
            .await;
    })
    .await;
    assert!(
        plain >= EVENTS as u64,
        "plain hyper made {plain} writev calls for {EVENTS} events"
    );
    let tuned = write_calls_for_events(EVENTS, |listener, sse| async move {
        let _ = Server::new().serve(listener, sse).await;
    })
    .await;
    assert_eq!(tuned, 0, "Server made {tuned} writev calls");
}
