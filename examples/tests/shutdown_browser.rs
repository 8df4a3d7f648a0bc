//! A browser's own `EventSource` (no reconnect logic of the page's) across a shutdown
//! with a slow drain and a restart, in a real headless Chromium. The server closes its
//! listener first, then drains while a stalled client holds the drain open: the page's
//! stream ends with a short `retry`, its reconnects meet a refused port, which
//! `EventSource` keeps retrying, and it is back as soon as a new server listens on the
//! port. The control keeps accepting during the drain, as servers did before: the
//! reconnect gets 503 and `EventSource` gives up for good (`CLOSED`).

mod browser_support;
mod drain_support;

use std::time::Duration;

use axum::{response::Html, routing::get, Router};
use browser_support::{eval, launch, open, wait_until};
use drain_support::{shutdown_options, stalled_client};
use sse_codec::Event;
use sse_core::Service;
use tokio::{net::TcpListener, sync::oneshot, task::JoinHandle};

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
        .route("/events", get(sse_axum::SseEndpoint::new(service.clone())));
    let stop = async {
        let _ = stop.await;
    };
    tokio::spawn(async move {
        sse_axum::serve_with(&sse_axum::Server::new(), listener, app, stop).await
    })
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
    // The listener closes first; the server returns once the drain ended the streams.
    sse_testkit::refused(addr).await;
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
    tokio::time::timeout(Duration::from_secs(5), server)
        .await
        .expect("the server returns once its connections closed")
        .expect("server task")
        .expect("served");

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
