//! Two live `EventSource`s with one client id under `DuplicatePolicy::Replace`, in a
//! real headless Chromium: the newer takes over, the older is told (`sse-replaced`,
//! with a one-day `retry`) and stays away, so the two do not take turns, although the
//! service's own `retry` hint is 300 ms.

mod browser_support;

use std::time::Duration;

use axum::{response::Html, routing::get, Router};
use browser_support::{eval, launch, open, wait_until};
use sse_core::{DuplicatePolicy, Service};
use sse_http::{ClaimedId, RequestOptions};
use sse_testkit::bind_loopback;

const PAGE: &str = r#"<!doctype html><meta charset="utf-8"><title>replace</title><script>
window.tabs = [];
function open(n) {
  const tab = { opens: 0, replaced: 0 };
  window.tabs[n] = tab;
  const es = new EventSource("/events?id=same");
  tab.es = es;
  es.onopen = () => { tab.opens += 1; };
  es.addEventListener("sse-replaced", () => { tab.replaced += 1; });
}
open(0);
</script>"#;

const STATE: &str = "JSON.stringify(window.tabs.map(t => \
                     ({opens: t.opens, replaced: t.replaced, state: t.es.readyState})))";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replaced_event_source_does_not_come_back() {
    let mut builder = Service::builder();
    builder
        .duplicate_policy(DuplicatePolicy::Replace)
        .retry_hint(Some(Duration::from_millis(300)));
    let service = builder.build();
    // A client-chosen id, trusted by name: what `Replace` is about.
    let options = RequestOptions::new().trust_client_id(ClaimedId::Query("id".into()));
    let app = Router::new()
        .route("/", get(|| async { Html(PAGE) }))
        .route(
            "/events",
            get(sse_axum::SseEndpoint::with_options(
                service.clone(),
                options,
            )),
        );
    let (listener, addr) = bind_loopback().await;
    tokio::spawn(sse_axum::serve(listener, app));

    let browser = launch("replace").await;
    let page = open(&browser, &format!("http://{addr}/")).await;
    wait_until(
        &page,
        "window.tabs[0].opens === 1",
        "the first stream",
        STATE,
    )
    .await;
    eval::<bool>(&page, "open(1); true").await;
    wait_until(
        &page,
        "window.tabs[1]?.opens === 1 && window.tabs[0].replaced === 1",
        "the second stream to replace the first",
        STATE,
    )
    .await;
    // Ten of the service's retry intervals: a client that came back at once would
    // have replaced the second by now, and the two would be taking turns.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let tabs: String = eval(&page, STATE).await;
    assert_eq!(
        tabs, r#"[{"opens":1,"replaced":1,"state":0},{"opens":1,"replaced":0,"state":1}]"#,
        "the first waits to reconnect (CONNECTING), the second stays open"
    );
    assert_eq!(service.active(), 1);
    assert_eq!(
        service.metrics().connected,
        2,
        "no reconnect reached the server"
    );
    browser.close().await;
}
