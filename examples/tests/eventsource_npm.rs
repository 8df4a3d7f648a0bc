//! The npm `eventsource` package (a real Node.js client, `sse_testkit::node`) across
//! a shutdown with a slow drain and a restart: the server closes its listener first and
//! each connection once its response ends, so the client's reconnects meet a refused
//! port, which it keeps retrying, and it is back as soon as a new server listens. The
//! control keeps accepting during the drain: the client gets 503 and gives up for good
//! (`CLOSED`), as the standard says.
//!
//! Needs `node` and the package installed (`npm ci --prefix sse-testkit/node`, which
//! `scripts/test.sh` runs when it is missing).

mod drain_support;

use std::time::Duration;

use axum::{routing::get, Router};
use drain_support::{shutdown_options, stalled_client};
use sse_codec::Event;
use sse_core::Service;
use sse_testkit::node::EventSources;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

const WAIT: Duration = Duration::from_secs(15);

fn serve(service: &Service, listener: TcpListener, stop: oneshot::Receiver<()>) -> JoinHandle<()> {
    let app = Router::new().route("/events", get(sse_axum::SseEndpoint::new(service.clone())));
    tokio::spawn(async move {
        let stop = async {
            let _ = stop.await;
        };
        let _ = sse_axum::serve_with(&sse_axum::Server::new(), listener, app, stop).await;
    })
}

/// Clients in the main run: the reconnect rate is over these.
const CLIENTS: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn npm_eventsource_comes_back_after_a_slow_drain_and_a_restart() {
    let (listener, addr) = sse_testkit::bind_loopback().await;
    let service = Service::new();
    let (stop, stopped) = oneshot::channel();
    let server = serve(&service, listener, stopped);
    let mut clients = EventSources::start(&format!("http://{addr}/events"), CLIENTS);
    let n = CLIENTS;
    clients
        .until("every open", WAIT, |s| s.iter().all(|c| c.opens >= 1))
        .await;
    service.broadcast(Event::message("before")).unwrap();
    clients
        .until("before", WAIT, |s| s.iter().all(|c| c.got("before")))
        .await;
    let stalled = stalled_client(addr, &service).await;

    let _ = stop.send(());
    // The listener closes first; the server returns once the drain ended the streams.
    sse_testkit::refused(addr).await;
    let drain = tokio::spawn({
        let service = service.clone();
        async move { service.shutdown(shutdown_options()).await }
    });
    // Each stream ended, and each tried again (refused) during the drain.
    clients
        .until("reconnect attempts", WAIT, |s| {
            s.iter().all(|c| c.errors >= 2)
        })
        .await;
    assert_eq!(drain.await.expect("drain").forced, 1, "the drain was held");
    drop(stalled);
    tokio::time::timeout(WAIT, server)
        .await
        .expect("the server returns once its connections closed")
        .expect("server task");

    let listener = TcpListener::bind(addr).await.expect("the same port again");
    let service = Service::new();
    let (_stop, stopped) = oneshot::channel();
    let _server = serve(&service, listener, stopped);
    clients
        .until("every client back", WAIT, |s| {
            s.iter().all(|c| c.opens >= 2)
        })
        .await;
    service.broadcast(Event::message("after")).unwrap();
    clients
        .until("after", WAIT, |s| s.iter().all(|c| c.got("after")))
        .await;
    let closed = clients.seen().iter().filter(|c| c.closed).count();
    assert_eq!(closed, 0, "none gave up: {:?}", clients.seen());
    println!("reconnect rate after a slow drain and a restart: {n} of {n}");

    // Control: accepting during the drain. The reconnect gets 503: given up for good.
    let (listener, addr) = sse_testkit::bind_loopback().await;
    let service = Service::new();
    let (_stop, stopped) = oneshot::channel();
    let _server = serve(&service, listener, stopped);
    let mut control = EventSources::start(&format!("http://{addr}/events"), 1);
    control.until("open", WAIT, |s| s[0].opens >= 1).await;
    let stalled = stalled_client(addr, &service).await;
    let drain = tokio::spawn({
        let service = service.clone();
        async move { service.shutdown(shutdown_options()).await }
    });
    control.until("CLOSED", WAIT, |s| s[0].closed).await;
    drain.await.expect("drain");
    drop(stalled);
}
