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

    /// Asks the process to stop (SIGTERM), as a deployment would; returns at once.
    pub fn terminate(&self) {
        let pid = self.child.as_ref().expect("running").id();
        let status = Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .expect("kill runs");
        assert!(status.success(), "kill -TERM {pid}");
    }

    /// Waits up to `within` for the process to exit; whether it did.
    pub fn wait_exit(&mut self, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            match self.child.as_mut().map(|c| c.try_wait()) {
                Some(Ok(Some(_))) | None => return true,
                _ => std::thread::sleep(Duration::from_millis(20)),
            }
        }
        false
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

/// The demo's session cookie as a `Cookie` header value (`demo_session=TOKEN`), from
/// a `Set-Cookie` value.
pub fn cookie_of(set_cookie: &str) -> String {
    let pair = set_cookie.split(';').next().unwrap_or_default().trim();
    assert!(
        pair.starts_with("demo_session="),
        "not the session cookie: {set_cookie:?}"
    );
    pair.to_owned()
}

/// Whether `id` is a generated client id: a UUID, lowercase hex in 8-4-4-4-12.
pub fn is_uuid(id: &str) -> bool {
    let groups: Vec<&str> = id.split('-').collect();
    let lengths: Vec<usize> = groups.iter().map(|g| g.len()).collect();
    lengths == [8, 4, 4, 4, 12]
        && groups.iter().all(|g| {
            g.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
        })
}

/// An open `GET /events` stream, parsed as a browser would.
pub struct SseReader {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    parser: Parser,
    /// The client id the server gave this stream: the data of its first event,
    /// `sse-client`.
    pub id: String,
}

impl SseReader {
    /// Connects to `url`, with a `Last-Event-ID` header if given; panics unless 200.
    pub async fn connect(url: &str, last_event_id: Option<&str>) -> Self {
        let headers: Vec<(&str, &str)> = last_event_id
            .map(|id| ("last-event-id", id))
            .into_iter()
            .collect();
        Self::connect_with(url, &headers).await
    }

    /// Connects to `url` with these request headers; panics unless 200.
    pub async fn connect_with(url: &str, headers: &[(&str, &str)]) -> Self {
        match Self::open(url, headers).await {
            Ok(reader) => reader,
            Err((status, body)) => panic!("GET {url} {headers:?}: {status} {body:?}"),
        }
    }

    /// Connects to `url` with these request headers: the stream, whose first event
    /// (`sse-client`, after a `: connected` comment) is read and checked, or the
    /// refusal's status and body.
    pub async fn open(url: &str, headers: &[(&str, &str)]) -> Result<Self, (u16, String)> {
        // No overall timeout: the stream is long-lived; each read is bounded instead.
        let client = reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .expect("a reqwest client");
        let mut request = client.get(url);
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = tokio::time::timeout(Duration::from_secs(10), request.send())
            .await
            .expect("GET /events answered within 10 s")
            .expect("GET /events");
        let status = response.status().as_u16();
        if status != 200 {
            let body = tokio::time::timeout(Duration::from_secs(10), response.text())
                .await
                .expect("a refusal's body within 10 s")
                .unwrap_or_default();
            return Err((status, body));
        }
        assert_eq!(
            response.headers()["content-type"],
            "text/event-stream",
            "GET {url}"
        );
        let mut reader = SseReader {
            body: response.bytes_stream().boxed(),
            parser: Parser::new(),
            id: String::new(),
        };
        // The first bytes, raw: the comment that lets `onopen` fire at once.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        let mut head = Vec::new();
        while head.len() < b": connected\n".len() {
            match tokio::time::timeout_at(deadline, reader.body.next()).await {
                Ok(Some(Ok(chunk))) => {
                    head.extend_from_slice(&chunk);
                    reader.parser.feed(&chunk);
                }
                other => panic!("GET {url}: the stream ended or stalled at {head:?}: {other:?}"),
            }
        }
        assert!(
            head.starts_with(b": connected\n"),
            "GET {url}: the stream starts with {:?}",
            String::from_utf8_lossy(&head)
        );
        let first = reader
            .next_within(Duration::from_secs(5))
            .await
            .unwrap_or_else(|| panic!("GET {url}: no first event within 5 s"));
        assert_eq!(first.event_type(), "sse-client", "GET {url}: {first:?}");
        assert_eq!(first.last_event_id(), "", "GET {url}: sse-client has no id");
        assert!(!first.data().is_empty(), "GET {url}: {first:?}");
        reader.id = first.data().to_owned();
        Ok(reader)
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
