//! A real `redis-server` per test, and a small reader of a client's SSE frames.
#![allow(dead_code, unreachable_pub, unused_imports)]

use std::{
    collections::VecDeque,
    time::{Duration, Instant},
};

use futures::StreamExt;
use sse_core::ClientStream;

pub use sse_testkit::redis::{RedisCluster, RedisServer};

/// One event as the client saw it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub id: Option<String>,
    pub event: Option<String>,
    pub data: String,
}

/// Reads a client's stream and splits it into events (comments and the `sse-client`
/// event skipped).
pub struct Sse {
    stream: ClientStream,
    text: String,
    ready: VecDeque<Frame>,
    connected: bool,
}

impl Sse {
    pub fn new(stream: ClientStream) -> Self {
        Sse {
            stream,
            text: String::new(),
            ready: VecDeque::new(),
            connected: false,
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
            self.split();
        }
    }

    /// Moves the whole events of the text read so far to `ready`.
    fn split(&mut self) {
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
            // The connection's id, first on every stream, is not one of the events.
            if frame.event.as_deref() == Some(sse_core::CLIENT_EVENT) {
                self.connected = true;
            } else if has_data {
                self.ready.push_back(frame);
            }
        }
    }

    /// Waits for the stream's `sse-client` event (with a backplane: the client's
    /// channels are in place); fails the test if it does not come within 5 s.
    pub async fn connected(&mut self) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        while !self.connected {
            let chunk = tokio::time::timeout_at(deadline, self.stream.next())
                .await
                .expect("connected within 5 s")
                .expect("the stream goes on");
            self.text
                .push_str(std::str::from_utf8(&chunk).expect("utf-8 frames"));
            self.split();
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
