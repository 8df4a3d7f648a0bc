//! Shared by the demo's tests: the real demo binary on a free loopback port, and a
//! small SSE reader over reqwest and `sse_codec::Parser`.

#![allow(dead_code, unreachable_pub)] // each test file uses a different part

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use futures_util::StreamExt;
use sse_codec::{Item, MessageEvent, Parser};

/// The demo binary, killed (by its own PID) when dropped.
pub struct DemoProcess {
    child: Option<Child>,
    envs: Vec<(String, String)>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl DemoProcess {
    /// Starts the demo with `ADAPTER=adapter`, `PORT=0` and `envs`.
    pub fn start(adapter: &str, envs: &[(&str, &str)]) -> Self {
        let mut envs: Vec<(String, String)> = envs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        envs.push(("ADAPTER".into(), adapter.into()));
        let mut demo = DemoProcess {
            child: None,
            envs,
            addr: String::new(),
        };
        demo.spawn("0");
        demo
    }

    fn spawn(&mut self, port: &str) {
        let mut child = Command::new(env!("CARGO_BIN_EXE_demo"))
            // A REDIS_URL of the developer's must not turn memory tests into Redis ones.
            .env_remove("REDIS_URL")
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .env("PORT", port)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("the demo binary starts");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = tx.send(line);
        });
        let line = rx
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_else(|_| panic!("the demo did not print its address within 30 s"));
        let addr = line
            .trim()
            .strip_prefix("listening on http://")
            .unwrap_or_else(|| panic!("unexpected first line from the demo: {line:?}"));
        self.addr = addr.to_owned();
        self.child = Some(child);
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Kills the process (as a crash would), keeping its address.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Kills the process and starts a new one on the same port.
    pub fn restart(&mut self) {
        self.kill();
        let port = self.addr.rsplit(':').next().expect("a port").to_owned();
        // The port was just freed; retry briefly in case the kernel is slow to let go.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let taken = std::net::TcpListener::bind(&self.addr).is_err();
            if !taken || Instant::now() > deadline {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.spawn(&port);
    }
}

impl Drop for DemoProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A client with a bound on every request.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(10))
        .build()
        .expect("a reqwest client")
}

/// An open `GET /events` stream, parsed as a browser would.
pub struct SseReader {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    parser: Parser,
}

impl SseReader {
    /// Connects to `url`, with a `Last-Event-ID` header if given; panics unless 200.
    pub async fn connect(url: &str, last_event_id: Option<&str>) -> Self {
        // No overall timeout: the stream is long-lived; each read is bounded instead.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("a reqwest client");
        let mut request = client.get(url);
        if let Some(id) = last_event_id {
            request = request.header("last-event-id", id);
        }
        let response = tokio::time::timeout(Duration::from_secs(10), request.send())
            .await
            .expect("GET /events answered within 10 s")
            .expect("GET /events");
        assert_eq!(response.status(), 200, "GET {url}");
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "GET {url}"
        );
        SseReader {
            body: response.bytes_stream().boxed(),
            parser: Parser::new(),
        }
    }

    /// The next event of any type, or `None` if none comes within `within`.
    pub async fn next_within(&mut self, within: Duration) -> Option<MessageEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            while let Some(item) = self.parser.next_item() {
                if let Ok(Item::Event(event)) = item {
                    return Some(event);
                }
            }
            match tokio::time::timeout_at(deadline, self.body.next()).await {
                Ok(Some(Ok(chunk))) => self.parser.feed(&chunk),
                Ok(_) | Err(_) => return None,
            }
        }
    }

    /// The next event that is not a clock tick, within 5 s.
    pub async fn next(&mut self) -> MessageEvent {
        let deadline = Instant::now() + Duration::from_secs(5);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self.next_within(left).await.expect("an event within 5 s");
            if event.event_type() != "clock" {
                return event;
            }
        }
    }

    /// The next clock tick, within 3 s.
    pub async fn next_clock(&mut self) -> MessageEvent {
        let deadline = Instant::now() + Duration::from_secs(3);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let event = self
                .next_within(left)
                .await
                .expect("a clock tick within 3 s");
            if event.event_type() == "clock" {
                return event;
            }
        }
    }

    /// The last event id seen.
    pub fn last_event_id(&self) -> String {
        self.parser.last_event_id().to_owned()
    }
}

pub use sse_testkit::redis::RedisServer as Redis;
