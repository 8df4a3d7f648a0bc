//! Shared by the demo's tests: the real demo binary on a free loopback port
//! (`sse_testkit::process`), and the demo's view of an event stream over
//! `sse_testkit::EventClient`.

#![allow(dead_code, unreachable_pub)] // each test file uses a different part

use std::time::{Duration, Instant};

use sse_codec::MessageEvent;
use sse_testkit::{process::ServerProcess, Client, EventClient};

/// The demo binary, killed when dropped.
pub struct DemoProcess {
    process: Option<ServerProcess>,
    envs: Vec<(String, String)>,
    /// `127.0.0.1:PORT`.
    pub addr: String,
}

impl DemoProcess {
    /// Starts the demo with `ADAPTER=adapter`, `PORT=0` and `envs`.
    pub async fn start(adapter: &str, envs: &[(&str, &str)]) -> Self {
        let mut envs: Vec<(String, String)> = envs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        envs.push(("ADAPTER".into(), adapter.into()));
        let mut demo = DemoProcess {
            process: None,
            envs,
            addr: String::new(),
        };
        demo.spawn("0").await;
        demo
    }

    async fn spawn(&mut self, port: &str) {
        let mut command = tokio::process::Command::new(env!("CARGO_BIN_EXE_demo"));
        // A REDIS_URL of the developer's must not turn memory tests into Redis ones.
        command
            .env_remove("REDIS_URL")
            .env_remove("REDIS_CLUSTER")
            .envs(self.envs.iter().map(|(k, v)| (k, v)))
            .env("PORT", port);
        let process = ServerProcess::start(command).await;
        self.addr = process.addr.to_string();
        self.process = Some(process);
    }

    /// `http://127.0.0.1:PORT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Kills the process (as a crash would), keeping its address.
    pub async fn kill(&mut self) {
        if let Some(mut process) = self.process.take() {
            process.kill().await;
        }
    }

    /// Asks the process to stop (SIGTERM), as a deployment would; returns at once.
    pub fn terminate(&self) {
        let process = self.process.as_ref().expect("running");
        process.terminate().expect("kill -TERM");
    }

    /// Waits up to `within` for the process to exit; whether it did.
    pub async fn wait_exit(&mut self, within: Duration) -> bool {
        match &mut self.process {
            Some(process) => process.wait_exit(within).await.is_some(),
            None => true,
        }
    }

    /// Kills the process and starts a new one on the same port.
    pub async fn restart(&mut self) {
        self.kill().await;
        let port = self.addr.rsplit(':').next().expect("a port").to_owned();
        // The port was just freed; retry briefly in case the kernel is slow to let go.
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let taken = std::net::TcpListener::bind(&self.addr).is_err();
            if !taken || Instant::now() > deadline {
                break;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        self.spawn(&port).await;
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

/// An open `GET /events` stream of the demo, parsed as a browser would
/// ([`EventClient`] over reqwest), with the demo's clock ticks told apart.
pub struct SseReader {
    stream: EventClient,
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

    /// Connects to `url` (`http://ADDR/PATH`) with these request headers: the stream,
    /// which must start with the `: connected` comment and then `sse-client`, or the
    /// refusal's status and body.
    pub async fn open(url: &str, headers: &[(&str, &str)]) -> Result<Self, (u16, String)> {
        let (addr, path) = url
            .strip_prefix("http://")
            .and_then(|rest| rest.find('/').map(|at| rest.split_at(at)))
            .unwrap_or_else(|| panic!("not an http://ADDR/PATH url: {url}"));
        let addr = addr.parse().expect("a socket address");
        let mut stream = match Client::h1(addr).get(path, headers).await {
            Ok(stream) => stream,
            Err(refused) => return Err((refused.status, refused.body)),
        };
        assert_eq!(
            stream.headers()["content-type"],
            "text/event-stream",
            "GET {url}"
        );
        let id = stream.client_id().await;
        assert!(
            stream.raw().starts_with(b": connected\n"),
            "GET {url}: the stream starts with {:?}",
            String::from_utf8_lossy(stream.raw())
        );
        assert!(!id.is_empty(), "GET {url}: an empty client id");
        Ok(SseReader { stream, id })
    }

    /// The next event of any type but `sse-client`, or `None` if none comes within
    /// `within`.
    pub async fn next_within(&mut self, within: Duration) -> Option<MessageEvent> {
        self.stream.next_within(within).await
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
        self.stream.last_event_id().to_owned()
    }
}

#[allow(unused_imports)] // only the Redis tests use it
pub use sse_testkit::redis::RedisServer as Redis;
