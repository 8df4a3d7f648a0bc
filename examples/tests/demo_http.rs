//! The demo's HTTP interface, without a browser: the real binary on a free port, once
//! per adapter (`ADAPTER=axum|warp|hyper`), read by a real HTTP client. Then resume
//! after a dropped connection and after a restart, in memory and with Redis.

mod demo_support;

use std::{
    process::Command,
    time::{Duration, Instant},
};

use demo_support::{http, DemoProcess, Redis, SseReader};
use serde_json::Value;

async fn post(demo: &DemoProcess, path: &str, body: impl Into<reqwest::Body>) -> (u16, String) {
    let response = http()
        .post(demo.url(path))
        .body(body)
        .send()
        .await
        .unwrap_or_else(|e| panic!("POST {path}: {e}"));
    let status = response.status().as_u16();
    (status, response.text().await.unwrap_or_default())
}

async fn get_json(demo: &DemoProcess, path: &str) -> Value {
    let response = http()
        .get(demo.url(path))
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {path}: {e}"));
    assert_eq!(response.status(), 200, "GET {path}");
    let text = response.text().await.expect("a body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("GET {path}: {e}: {text}"))
}

/// Waits up to 5 s for `/stats` to report `active` connections.
async fn wait_active(demo: &DemoProcess, active: u64) {
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let stats = get_json(demo, "/stats").await;
        if stats["active"] == active {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "expected {active} active clients, /stats says {stats}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn interface(adapter: &str) {
    let demo = DemoProcess::start(adapter, &[]);

    let page = http().get(demo.url("/")).send().await.expect("GET /");
    assert_eq!(page.status(), 200);
    assert!(page.headers()["content-type"]
        .to_str()
        .unwrap()
        .starts_with("text/html"));
    assert!(page.text().await.unwrap().contains("new EventSource("));

    let stats = get_json(&demo, "/stats").await;
    assert_eq!(stats["active"], 0, "{stats}");
    assert_eq!(stats["adapter"], adapter, "{stats}");
    assert_eq!(stats["backplane"], "memory", "{stats}");

    // alice in room "rust" by query, bob by the `sse-clientid`-less default path.
    let mut alice =
        SseReader::connect(&demo.url("/events?client_id=alice&topics=rust"), None).await;
    let mut bob = SseReader::connect(&demo.url("/events?client_id=bob&topics=lobby"), None).await;
    wait_active(&demo, 2).await;

    // The clock: once a second, with the number of clients.
    let tick: Value = serde_json::from_str(alice.next_clock().await.data()).expect("clock JSON");
    assert_eq!(tick["active"], 2, "{tick}");
    assert!(tick["time"].as_str().unwrap().ends_with('Z'), "{tick}");
    assert!(
        tick["unix_ms"].as_u64().unwrap() > 1_600_000_000_000,
        "{tick}"
    );

    // A broadcast reaches both, with an id.
    let (status, body) = post(&demo, "/broadcast", "hello everyone").await;
    assert_eq!(status, 200, "{body}");
    let sent: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(sent["queued"], 2, "{body}");
    for reader in [&mut alice, &mut bob] {
        let event = reader.next().await;
        assert_eq!(
            (event.event_type(), event.data()),
            ("message", "hello everyone")
        );
        assert_eq!(event.last_event_id(), sent["id"].as_str().unwrap());
    }

    // A named broadcast, multi-line.
    let (status, body) = post(&demo, "/broadcast?event=news", "line 1\nline 2").await;
    assert_eq!(status, 200, "{body}");
    for reader in [&mut alice, &mut bob] {
        let event = reader.next().await;
        assert_eq!(
            (event.event_type(), event.data()),
            ("news", "line 1\nline 2")
        );
    }

    // A room message reaches only the room, with its sender.
    let (status, body) = post(&demo, "/topics/rust?from=Ann%20B", "borrowck <3").await;
    assert_eq!(status, 200, "{body}");
    let event = alice.next().await;
    assert_eq!(event.event_type(), "chat");
    let chat: Value = serde_json::from_str(event.data()).unwrap();
    assert_eq!(
        chat,
        serde_json::json!({"room": "rust", "from": "Ann B", "text": "borrowck <3"})
    );

    // A direct message reaches only its client, and is refused for an absent one.
    let (status, body) = post(&demo, "/clients/alice?from=bob", "psst").await;
    assert_eq!(status, 200, "{body}");
    let event = alice.next().await;
    assert_eq!(event.event_type(), "dm");
    let dm: Value = serde_json::from_str(event.data()).unwrap();
    assert_eq!(dm, serde_json::json!({"from": "bob", "text": "psst"}));
    let (status, body) = post(&demo, "/clients/nobody", "hello?").await;
    assert_eq!(status, 404, "{body}");
    assert!(body.contains("not connected"), "{body}");

    // Bad input: a clear 4xx, and nothing reaches any client.
    let too_big = "x".repeat(64 * 1024 + 1);
    let cases: Vec<(&str, reqwest::Body, u16, &str)> =
        vec![
        ("/broadcast", too_big.clone().into(), 413, "too large"),
        ("/topics/rust", too_big.into(), 413, "too large"),
        ("/broadcast", vec![0xff, 0xfe, b'a'].into(), 400, "UTF-8"),
        ("/broadcast", "".into(), 400, "empty"),
        ("/broadcast?event=a%0Ab", "forged".into(), 400, "line break"),
        ("/broadcast?event=a%0Db", "forged".into(), 400, "line break"),
        ("/broadcast?event=sse-reset", "forged".into(), 400, "reserved"),
        ("/topics/a,b", "x".into(), 400, "invalid topic"),
        ("/topics/two%20words", "x".into(), 400, "invalid topic"),
        ("/topics/", "x".into(), 400, "invalid topic"),
        ("/clients/two%20words", "x".into(), 400, "invalid client id"),
        (
            "/topics/rust?from=aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
            "x".into(),
            400,
            "sender name",
        ),
        ("/nowhere", "x".into(), 404, "not found"),
    ];
    for (path, body, status, reason) in cases {
        let (got, text) = post(&demo, path, body).await;
        assert_eq!(got, status, "POST {path}: {text}");
        assert!(
            text.contains(reason),
            "POST {path}: {text:?} lacks {reason:?}"
        );
    }
    let response = http().get(demo.url("/broadcast")).send().await.unwrap();
    assert_eq!(response.status(), 405);
    assert_eq!(response.headers()["allow"], "POST");
    // A marker: each client's next event must be it, so none of the above got through.
    // The room message above must not have reached bob either.
    post(&demo, "/broadcast", "marker").await;
    for reader in [&mut alice, &mut bob] {
        assert_eq!(reader.next().await.data(), "marker");
    }

    // Resume after a dropped connection: bob gets what he missed, once.
    let last = bob.last_event_id();
    drop(bob);
    wait_active(&demo, 1).await;
    post(&demo, "/broadcast", "while bob was away").await;
    post(&demo, "/topics/lobby?from=carol", "lobby news").await;
    post(&demo, "/topics/rust", "not for bob").await;
    let mut bob =
        SseReader::connect(&demo.url("/events?client_id=bob&topics=lobby"), Some(&last)).await;
    assert_eq!(bob.next().await.data(), "while bob was away");
    let event = bob.next().await;
    assert_eq!(event.event_type(), "chat");
    assert!(event.data().contains("lobby news"));
    post(&demo, "/broadcast", "live again").await;
    assert_eq!(bob.next().await.data(), "live again");
    // The query parameter works as the header does (EventSource cannot set headers).
    let url = demo.url(&format!("/events?client_id=dave&last_event_id={last}"));
    let mut dave = SseReader::connect(&url, None).await;
    assert_eq!(dave.next().await.data(), "while bob was away");

    // A plain restart loses the in-memory history: the client is told so.
    drop((alice, bob, dave));
    let mut demo = demo;
    demo.restart();
    let mut bob = SseReader::connect(&demo.url("/events?client_id=bob"), Some(&last)).await;
    let event = bob.next().await;
    assert_eq!((event.event_type(), event.data()), ("sse-reset", "unknown"));
}

#[tokio::test]
async fn interface_axum() {
    interface("axum").await;
}

#[tokio::test]
async fn interface_warp() {
    interface("warp").await;
}

#[tokio::test]
async fn interface_hyper() {
    interface("hyper").await;
}

#[tokio::test]
async fn bad_configuration_is_refused_clearly() {
    for (key, value, says) in [
        ("ADAPTER", "rocket", "use axum, warp or hyper"),
        ("PORT", "eighty", "not a port number"),
    ] {
        let output = Command::new(env!("CARGO_BIN_EXE_demo"))
            .env(key, value)
            .output()
            .expect("the demo runs");
        assert!(!output.status.success());
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains(says), "{key}={value}: {stderr}");
    }
}

/// With `REDIS_URL`, two demo processes are one service, and a restarted demo still
/// has the history: a client resumes with exactly what it missed.
#[tokio::test]
async fn redis_two_processes_and_resume_across_restart() {
    let redis = Redis::start();
    let url = redis.url();
    let env = [("REDIS_URL", url.as_str()), ("REDIS_PREFIX", "demo-test")];
    let mut one = DemoProcess::start("axum", &env);
    let two = DemoProcess::start("hyper", &env);
    assert_eq!(get_json(&one, "/stats").await["backplane"], "redis");

    let mut alice = SseReader::connect(&one.url("/events?client_id=alice&topics=rust"), None).await;
    let mut bob = SseReader::connect(&two.url("/events?client_id=bob"), None).await;
    wait_active(&one, 1).await;
    wait_active(&two, 1).await;

    // Published on one process, received on both.
    let (status, body) = post(&two, "/broadcast", "from two").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(alice.next().await.data(), "from two");
    assert_eq!(bob.next().await.data(), "from two");
    let (status, body) = post(&two, "/topics/rust?from=bob", "hi rust").await;
    assert_eq!(status, 200, "{body}");
    assert!(alice.next().await.data().contains("hi rust"));
    // A direct message to a client of the other process: sent, not confirmed.
    let (status, body) = post(&two, "/clients/alice", "psst").await;
    assert_eq!(status, 202, "{body}");
    assert_eq!(alice.next().await.event_type(), "dm");

    // Restart process one while alice is away; she misses two messages.
    let last = alice.last_event_id();
    drop(alice);
    one.kill();
    post(&two, "/broadcast", "missed 1").await;
    post(&two, "/topics/rust", "missed 2").await;
    one.restart();
    let mut alice =
        SseReader::connect(&one.url("/events?client_id=alice&topics=rust"), Some(&last)).await;
    assert_eq!(alice.next().await.data(), "missed 1");
    assert!(alice.next().await.data().contains("missed 2"));
    post(&one, "/broadcast", "live").await;
    assert_eq!(alice.next().await.data(), "live");
    assert_eq!(bob.next().await.data(), "missed 1");
}
