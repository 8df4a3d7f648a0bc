//! Clients come back by themselves after a slow drain: real `EventSource`s (the npm
//! `eventsource` package under Node.js, `examples/tests/node`) on one server process
//! that gets `SIGTERM` while a client that never reads holds its drain to the
//! deadline. The server closes its listener at once, so each stream's end is followed
//! by refused reconnects, which `EventSource` keeps retrying (a 503 would make it give
//! up for good). A new process on the same port, started while the old one still
//! drains, gets every client back (the reconnect rate must be 100 %) and each receives
//! its events; none ever reaches `CLOSED`.
//!
//! Needs `node` and the package installed (`npm ci --prefix examples/tests/node`, which
//! `scripts/test.sh` runs when it is missing).

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use reliability::{Server, SseConn};
use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    process::{Child, ChildStdout, Command},
};

const BIN: &str = env!("CARGO_BIN_EXE_rel-server");
const WAIT: Duration = Duration::from_secs(30);

#[derive(Debug, Clone, Copy)]
struct Scale {
    clients: usize,
    /// The old process's drain deadline, which the stalled client holds to its end.
    drain: Duration,
}

/// What one of the Node.js process's `EventSource`s reported.
#[derive(Debug, Default, Clone)]
struct Seen {
    opens: usize,
    errors: usize,
    messages: usize,
    closed: bool,
}

/// `clients` `EventSource`s in one Node.js process, their reports tallied.
struct NodeClients {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<Seen>,
}

impl NodeClients {
    fn start(url: &str, clients: usize) -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/tests/node");
        assert!(
            dir.join("node_modules/eventsource").is_dir(),
            "the npm eventsource package is not installed: npm ci --prefix {}",
            dir.display()
        );
        let mut child = Command::new("node")
            .arg(dir.join("eventsource-client.mjs"))
            .arg(url)
            .arg(clients.to_string())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("node runs (install Node.js)");
        let lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        NodeClients {
            child,
            lines,
            seen: vec![Seen::default(); clients],
        }
    }

    /// Tallies reports until every client satisfies `done`, for at most [`WAIT`].
    async fn until(&mut self, what: &str, done: impl Fn(&Seen) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !self.seen.iter().all(&done) {
            let line = tokio::time::timeout_at(deadline.into(), self.lines.next_line())
                .await
                .unwrap_or_else(|_| {
                    let short = self.seen.iter().filter(|s| !done(s)).count();
                    panic!("timed out waiting for {what}: {short} clients short")
                })
                .expect("read")
                .unwrap_or_else(|| panic!("the client process exited waiting for {what}"));
            let report = |key: &str| {
                let at = line.find(&format!("\"{key}\":"))? + key.len() + 3;
                Some(
                    line[at..]
                        .split([',', '}'])
                        .next()?
                        .trim_matches('"')
                        .to_owned(),
                )
            };
            let i: usize = report("i").and_then(|v| v.parse().ok()).expect("a client");
            let seen = &mut self.seen[i];
            match report("kind").as_deref() {
                Some("open") => seen.opens += 1,
                Some("error") => seen.errors += 1,
                Some("message") => seen.messages += 1,
                other => panic!("unexpected report {other:?}: {line}"),
            }
            // `readyState` 2 is CLOSED: the client gave up.
            seen.closed |= report("state").as_deref() == Some("2");
        }
    }
}

impl Drop for NodeClients {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
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
    let mut clients = NodeClients::start(&format!("http://{addr}/events"), n);
    clients.until("every open", |s| s.opens == 1).await;
    old.post("/broadcast").await;
    clients.until("an event", |s| s.messages == 1).await;

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
    clients.until("refused reconnects", |s| s.errors >= 2).await;
    assert!(old.is_running(), "the drain is still held");

    let new = Server::start(BIN, &env(addr.port())).await;
    let listening = Instant::now();
    clients.until("every client back", |s| s.opens == 2).await;
    let back = listening.elapsed();
    new.post("/broadcast").await;
    clients
        .until("an event from the new process", |s| s.messages == 2)
        .await;
    let gave_up = clients.seen.iter().filter(|s| s.closed).count();
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
