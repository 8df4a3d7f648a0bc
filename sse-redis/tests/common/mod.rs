//! A real `redis-server` per test, and a small reader of a client's SSE frames.
#![allow(dead_code, unreachable_pub)]

use std::{
    collections::VecDeque,
    io::{Read, Write},
    net::{TcpListener, TcpStream},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use futures::StreamExt;
use sse_core::ClientStream;

/// A `redis-server` on a free loopback port, killed by its PID when dropped.
pub struct RedisServer {
    child: Option<Child>,
    port: u16,
}

impl RedisServer {
    /// Starts a server without persistence and waits until it answers `PING`.
    ///
    /// Panics (failing the test) when `redis-server` is not installed: these tests
    /// must not pass without Redis. `scripts/test.sh` installs Debian's package.
    pub fn start() -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let mut server = RedisServer { child: None, port };
        server.spawn();
        server
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}/", self.port)
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    fn spawn(&mut self) {
        let child = Command::new("redis-server")
            .args(["--port", &self.port.to_string()])
            .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--dir", &std::env::temp_dir().display().to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        let child = match child {
            Ok(c) => c,
            Err(e) => panic!(
                "cannot start redis-server ({e}): these tests need a real Redis; \
                 install Debian's `redis-server` package (scripts/test.sh does so as root)"
            ),
        };
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while !ping(self.port) {
            if let Some(Ok(Some(status))) = self.child.as_mut().map(Child::try_wait) {
                panic!("redis-server on port {} exited: {status}", self.port);
            }
            assert!(
                Instant::now() < deadline,
                "redis-server did not answer PING in 10 s"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL, by PID): clients see connections reset.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Starts it again on the same port, empty.
    pub fn restart(&mut self) {
        self.kill();
        self.spawn();
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

fn ping(port: u16) -> bool {
    let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let mut buf = [0u8; 16];
    s.write_all(b"PING\r\n").is_ok()
        && s.read(&mut buf)
            .is_ok_and(|n| buf[..n].starts_with(b"+PONG"))
}

/// One event as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// Reads a client's stream and splits it into events (comments skipped).
pub struct Sse {
    stream: ClientStream,
    text: String,
    ready: VecDeque<Frame>,
}

impl Sse {
    pub fn new(stream: ClientStream) -> Self {
        Sse {
            stream,
            text: String::new(),
            ready: VecDeque::new(),
        }
    }

    /// The next event, or `None` if none comes within `within` or the stream ends.
    pub async fn next_within(&mut self, within: Duration) -> Option<Frame> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(f) = self.ready.pop_front() {
                return Some(f);
            }
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .ok()??;
            self.text
                .push_str(std::str::from_utf8(&chunk).expect("utf-8 frames"));
            while let Some(end) = self.text.find("\n\n") {
                let block: String = self.text.drain(..end + 2).collect();
                let mut frame = Frame {
                    id: None,
                    event: None,
                    data: String::new(),
                };
                let mut has_data = false;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("id: ") {
                        frame.id = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("event: ") {
                        frame.event = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        if has_data {
                            frame.data.push('\n');
                        }
                        frame.data.push_str(v);
                        has_data = true;
                    }
                }
                if has_data {
                    self.ready.push_back(frame);
                }
            }
        }
    }

    /// The next event; fails the test if none comes within 5 s.
    pub async fn next(&mut self) -> Frame {
        self.next_within(Duration::from_secs(5))
            .await
            .expect("an event within 5 s")
    }

    /// Every event up to and including the one whose data is `marker`.
    pub async fn until(&mut self, marker: &str) -> Vec<Frame> {
        let mut got = Vec::new();
        loop {
            let f = self.next().await;
            let done = f.data == marker;
            got.push(f);
            if done {
                return got;
            }
        }
    }

    /// Fails the test if an event arrives within `within`.
    pub async fn quiet(&mut self, within: Duration) {
        if let Some(f) = self.next_within(within).await {
            panic!("unexpected event {f:?}");
        }
    }
}

/// Polls `check` every 10 ms until it holds; fails the test after `within`.
pub async fn eventually(within: Duration, what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + within;
    while !check() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}
