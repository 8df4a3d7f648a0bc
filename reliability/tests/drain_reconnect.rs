//! Clients come back by themselves after a slow drain: real `EventSource`s (the npm
//! `eventsource` package under Node.js, `sse_testkit::node`) on one server process
//! that gets `SIGTERM` while a client that never reads holds its drain to the
//! deadline. The server closes its listener at once, so each stream's end is followed
//! by refused reconnects, which `EventSource` keeps retrying (a 503 would make it give
//! up for good). A new process on the same port, started while the old one still
//! drains, gets every client back (the reconnect rate must be 100 %) and each receives
//! its events; none ever reaches `CLOSED`.
//!
//! Needs `node` and the package installed (`npm ci --prefix sse-testkit/node`, which
//! `scripts/test.sh` runs when it is missing).

use std::time::{Duration, Instant};

use reliability::{Server, SseConn};
use sse_testkit::node::EventSources;

const BIN: &str = env!("CARGO_BIN_EXE_rel-server");
const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
struct Scale {
    clients: usize,
    /// The old process's drain deadline, which the stalled client holds to its end.
    drain: Duration,
}

async fn run(scale: Scale) {
    let env = |port: u16| {
        vec![
            ("PORT", port.to_string()),
            ("SHUTDOWN_MS", scale.drain.as_millis().to_string()),
            ("RETRY_MS", "300".into()),
            ("QUEUE_FRAMES", "1024".into()),
            ("QUEUE_BYTES", (16 << 20).to_string()),
            ("MAX_BUF", "16384".into()),
        ]
    };
    let mut old = Server::start(BIN, &env(0)).await;
    let addr = old.addr;
    let n = scale.clients;
    let mut clients = EventSources::start(&format!("http://{addr}/events"), n);
    clients
        .until("every open", WAIT, |s| s.iter().all(|c| c.opens == 1))
        .await;
    old.post("/broadcast").await;
    clients
        .until("an event", WAIT, |s| {
            s.iter().all(|c| c.messages.len() == 1)
        })
        .await;

    // A client that never reads, with more queued for it than the kernel takes.
    let stalled = SseConn::open(addr, "/events?topics=t0", &[], Some(4096), WAIT)
        .await
        .expect("open")
        .expect_stream("stalled");
    old.post("/publish?topics=1&size=60000&count=120").await;

    old.terminate().expect("SIGTERM");
    let began = old.line(WAIT).await.unwrap_or_default();
    assert!(began.starts_with("shutdown began"), "{began:?}");
    let signalled = Instant::now();
    // Each stream ended, and each client tried again and was refused.
    clients
        .until("refused reconnects", WAIT, |s| {
            s.iter().all(|c| c.errors >= 2)
        })
        .await;
    assert!(old.is_running(), "the drain is still held");

    let new = Server::start(BIN, &env(addr.port())).await;
    let listening = Instant::now();
    clients
        .until("every client back", WAIT, |s| {
            s.iter().all(|c| c.opens == 2)
        })
        .await;
    let back = listening.elapsed();
    new.post("/broadcast").await;
    clients
        .until("an event from the new process", WAIT, |s| {
            s.iter().all(|c| c.messages.len() == 2)
        })
        .await;
    let gave_up = clients.seen().iter().filter(|c| c.closed).count();
    assert_eq!(gave_up, 0, "no client gave up");

    let done = old.line(scale.drain + WAIT).await.unwrap_or_default();
    assert!(
        done.contains("forced=1"),
        "the stalled client held the drain: {done:?}"
    );
    assert!(
        old.wait_exit(WAIT).await.is_some(),
        "the old process exits after its drain"
    );
    drop(stalled);
    println!(
        "reconnect rate after a slow drain: {n} of {n} clients back on the new process \
         {back:?} after it listened ({:?} after SIGTERM; the old one drained {:?}), none \
         CLOSED",
        signalled.elapsed().saturating_sub(listening.elapsed()) + back,
        scale.drain
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eventsources_come_back_after_a_slow_drain() {
    run(Scale {
        clients: 100,
        drain: Duration::from_secs(4),
    })
    .await;
}

/// `scripts/reliability.sh`: 2,000 `EventSource`s and a 20 s drain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by scripts/reliability.sh"]
async fn eventsources_come_back_after_a_slow_drain_long() {
    run(Scale {
        clients: 2_000,
        drain: Duration::from_secs(20),
    })
    .await;
}
