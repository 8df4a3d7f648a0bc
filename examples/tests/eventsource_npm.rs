//! The npm `eventsource` package (a real Node.js client, `examples/tests/node`) across
//! a shutdown with a slow drain and a restart: the server closes its listener first and
//! each connection once its response ends, so the client's reconnects meet a refused
//! port, which it keeps retrying, and it is back as soon as a new server listens. The
//! control keeps accepting during the drain: the client gets 503 and gives up for good
//! (`CLOSED`), as the standard says.
//!
//! Needs `node` and the package installed (`npm ci --prefix examples/tests/node`, which
//! `scripts/test.sh` runs when it is missing).

mod drain_support;

use std::{
    path::PathBuf,
    process::Stdio,
    time::{Duration, Instant},
};

use axum::{routing::get, Router};
use drain_support::{shutdown_options, stalled_client};
use serde::Deserialize;
use sse_codec::Event;
use sse_core::Service;
use tokio::{
    io::{AsyncBufReadExt, BufReader, Lines},
    net::TcpListener,
    process::{Child, ChildStdout, Command},
    sync::oneshot,
    task::JoinHandle,
};

const WAIT: Duration = Duration::from_secs(15);

#[derive(Debug, Deserialize)]
struct Seen {
    /// Which of the process's clients.
    i: usize,
    kind: String,
    state: u8,
    data: Option<String>,
}

/// How many of the clients have seen at least `n` of `kind`.
fn clients_with(seen: &[Seen], kind: &str, n: usize, clients: usize) -> usize {
    (0..clients)
        .filter(|i| seen.iter().filter(|s| s.i == *i && s.kind == kind).count() >= n)
        .count()
}

/// How many of the clients got `data`.
fn clients_got(seen: &[Seen], data: &str, clients: usize) -> usize {
    (0..clients)
        .filter(|i| {
            seen.iter()
                .any(|s| s.i == *i && s.data.as_deref() == Some(data))
        })
        .count()
}

/// The Node.js client, its output read line by line.
struct NodeClient {
    child: Child,
    lines: Lines<BufReader<ChildStdout>>,
    seen: Vec<Seen>,
}

impl NodeClient {
    /// `clients` `EventSource`s on `url`, in one Node.js process.
    fn start(url: &str, clients: usize) -> Self {
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/node");
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
        NodeClient {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// Reads what the client reports until `done` holds for what it has seen.
    async fn until(&mut self, what: &str, done: impl Fn(&[Seen]) -> bool) {
        let deadline = Instant::now() + WAIT;
        while !done(&self.seen) {
            let line = tokio::time::timeout_at(deadline.into(), self.lines.next_line())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}: {:?}", self.seen))
                .expect("read")
                .unwrap_or_else(|| panic!("the client exited waiting for {what}"));
            self.seen
                .push(serde_json::from_str(&line).expect("a JSON line"));
        }
    }
}

impl Drop for NodeClient {
    fn drop(&mut self) {
        let _ = self.child.start_kill();
    }
}

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
    let mut clients = NodeClient::start(&format!("http://{addr}/events"), CLIENTS);
    let n = CLIENTS;
    clients
        .until("every open", |s| clients_with(s, "open", 1, n) == n)
        .await;
    service.broadcast(Event::message("before")).unwrap();
    clients
        .until("before", |s| clients_got(s, "before", n) == n)
        .await;
    let stalled = stalled_client(addr, &service).await;

    let _ = stop.send(());
    server.await.expect("server task");
    let drain = tokio::spawn({
        let service = service.clone();
        async move { service.shutdown(shutdown_options()).await }
    });
    // Each stream ended, and each tried again (refused) during the drain.
    clients
        .until("reconnect attempts", |s| {
            clients_with(s, "error", 2, n) == n
        })
        .await;
    assert_eq!(drain.await.expect("drain").forced, 1, "the drain was held");
    drop(stalled);

    let listener = TcpListener::bind(addr).await.expect("the same port again");
    let service = Service::new();
    let (_stop, stopped) = oneshot::channel();
    let _server = serve(&service, listener, stopped);
    clients
        .until("every client back", |s| clients_with(s, "open", 2, n) == n)
        .await;
    service.broadcast(Event::message("after")).unwrap();
    clients
        .until("after", |s| clients_got(s, "after", n) == n)
        .await;
    let closed = clients.seen.iter().filter(|s| s.state == 2).count();
    assert_eq!(closed, 0, "none gave up: {:?}", clients.seen);
    println!("reconnect rate after a slow drain and a restart: {n} of {n}");

    // Control: accepting during the drain. The reconnect gets 503: given up for good.
    let (listener, addr) = sse_testkit::bind_loopback().await;
    let service = Service::new();
    let (_stop, stopped) = oneshot::channel();
    let _server = serve(&service, listener, stopped);
    let mut control = NodeClient::start(&format!("http://{addr}/events"), 1);
    control
        .until("open", |s| clients_with(s, "open", 1, 1) == 1)
        .await;
    let stalled = stalled_client(addr, &service).await;
    let drain = tokio::spawn({
        let service = service.clone();
        async move { service.shutdown(shutdown_options()).await }
    });
    control
        .until("CLOSED", |s| s.iter().any(|s| s.state == 2))
        .await;
    drain.await.expect("drain");
    drop(stalled);
}
