//! A browser's own `EventSource` (no reconnect logic of the page's) across a shutdown
//! with a slow drain and a restart, in a real headless Chromium. The server closes its
//! listener first, then drains while a stalled client holds the drain open: the page's
//! stream ends with a short `retry`, its reconnects meet a refused port, which
//! `EventSource` keeps retrying, and it is back as soon as a new server listens on the
//! port. The control keeps accepting during the drain, as servers did before: the
//! reconnect gets 503 and `EventSource` gives up for good (`CLOSED`).

mod browser_support;

use std::{net::SocketAddr, time::Duration};

use axum::{response::Html, routing::get, Router};
use browser_support::{eval, launch, open, wait_until};
use sse_codec::Event;
use sse_core::{Service, Shutdown};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpSocket},
    sync::oneshot,
    task::JoinHandle,
};

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>shutdown</title><script>
window.got = []; window.opens = 0; window.errors = 0; window.gaveUp = false;
const es = new EventSource("/events");
es.onopen = () => { window.opens += 1; };
es.onmessage = (e) => { window.got.push(e.data); };
es.onerror = () => {
  window.errors += 1;
  window.states = (window.states || []).concat([es.readyState]);
  if (es.readyState === 2) window.gaveUp = true;
};
</script>"#;

const STATE: &str = "JSON.stringify({got: window.got, opens: window.opens, \
                     errors: window.errors, states: window.states, gaveUp: window.gaveUp})";

/// The page and `/events` for `service` on `listener`, until `stop`.
fn serve(
    service: &Service,
    listener: TcpListener,
    stop: oneshot::Receiver<()>,
) -> JoinHandle<std::io::Result<()>> {
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route("/events", get(sse_axum::Sse::new(service.clone())));
    let stop = async {
        let _ = stop.await;
    };
    tokio::spawn(async move {
        sse_axum::serve_with(&sse_axum::Server::new(), listener, app, stop).await
    })
}

/// A client that never reads, with more queued for it than the kernel's buffers
/// take: a drain waits for it until its deadline.
async fn stalled_client(addr: SocketAddr, service: &Service) -> tokio::net::TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut tcp = socket.connect(addr).await.expect("connect");
    // Its own topic: the page does not get the filler.
    let request = format!("GET /events?topics=fill HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut head = [0; 64];
    let _ = tcp.read(&mut head).await;
    let big = "z".repeat(60_000);
    let fill = sse_core::Topic::new("fill").expect("topic");
    for _ in 0..120 {
        service.publish(&fill, Event::message(big.clone())).unwrap();
    }
    tcp
}

fn shutdown_options() -> Shutdown {
    // A short retry hint, and a drain that the stalled client holds to its end.
    Shutdown::new(Duration::from_secs(2)).retry(Duration::from_millis(300), Duration::ZERO)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn event_source_comes_back_after_a_slow_drain_and_a_restart() {
    let browser = launch("shutdown").await;

    // Closing the listener first: the browser retries until the restart.
    let (listener, addr) = sse_testkit::bind_loopback().await;
    let service = Service::new();
    let (stop, stopped) = oneshot::channel();
    let server = serve(&service, listener, stopped);
    let page = open(&browser, &format!("http://{addr}/")).await;
    wait_until(&page, "window.opens === 1", "the first stream", STATE).await;
    service.broadcast(Event::message("before")).unwrap();
    wait_until(&page, "window.got.includes('before')", "an event", STATE).await;
    let stalled = stalled_client(addr, &service).await;

    let _ = stop.send(());
    server.await.expect("server task").expect("served");
    let drain = tokio::spawn({
        let service = service.clone();
        async move { service.shutdown(shutdown_options()).await }
    });
    // The page's stream ended and it tried again (refused) during the drain.
    wait_until(&page, "window.errors >= 2", "reconnect attempts", STATE).await;
    let report = drain.await.expect("drain");
    assert_eq!(
        report.forced, 1,
        "the stalled client held the drain to its end"
    );
    drop(stalled);

    let listener = TcpListener::bind(addr).await.expect("the same port again");
    let service = Service::new();
    let (_stop, stopped) = oneshot::channel();
    let _server = serve(&service, listener, stopped);
    wait_until(&page, "window.opens === 2", "back on the new server", STATE).await;
    service.broadcast(Event::message("after")).unwrap();
    wait_until(
        &page,
        "window.got.includes('after')",
        "an event after",
        STATE,
    )
    .await;
    let closed: bool = eval(&page, "window.gaveUp").await;
    assert!(!closed, "EventSource never gave up");
    let _ = page.close().await;

    // Control: accepting during the drain. The reconnect gets 503: given up for good.
    let (listener, addr) = sse_testkit::bind_loopback().await;
    let service = Service::new();
    let (_stop, stopped) = oneshot::channel();
    let _server = serve(&service, listener, stopped);
    let page = open(&browser, &format!("http://{addr}/")).await;
    wait_until(&page, "window.opens === 1", "the control's stream", STATE).await;
    let stalled = stalled_client(addr, &service).await;
    let drain = tokio::spawn({
        let service = service.clone();
        async move { service.shutdown(shutdown_options()).await }
    });
    wait_until(&page, "window.gaveUp", "the control to give up", STATE).await;
    drain.await.expect("drain");
    drop(stalled);

    browser.close().await;
}
