//! Sinks for testing code built on this crate (feature `test-util`): one that records
//! every frame, one that is slow, one that never accepts, and one that fails.
//!
//! ```
//! use sse_codec::Event;
//! use sse_core::{test_util::MemorySink, ConnectRequest, Service};
//!
//! # tokio_test_block_on(async {
//! let service = Service::new();
//! let sink = MemorySink::new();
//! let stream = service.connect(ConnectRequest::new()).unwrap();
//! tokio::spawn(stream.forward_to(sink.clone()));
//! service.broadcast(Event::message("hi")).unwrap();
//! sink.wait_for(|text| text.contains("data: hi")).await;
//! # });
//! # fn tokio_test_block_on(f: impl std::future::Future<Output = ()>) {
//! #     tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap().block_on(f)
//! # }
//! ```

use std::{
    future::Future as _,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use futures_sink::Sink;
use tokio::sync::Notify;

use crate::sync;

/// The error of the failing sinks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SinkFailed;

impl std::fmt::Display for SinkFailed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("sink failed")
    }
}

impl std::error::Error for SinkFailed {}

/// Records every frame it is given; clones share the record.
#[derive(Debug, Clone, Default)]
pub struct MemorySink {
    frames: Arc<Mutex<Vec<Bytes>>>,
    changed: Arc<Notify>,
}

impl MemorySink {
    /// An empty sink.
    pub fn new() -> Self {
        Self::default()
    }

    /// Every frame received so far.
    pub fn frames(&self) -> Vec<Bytes> {
        sync::lock(&self.frames).clone()
    }

    /// Everything received so far, as text.
    pub fn text(&self) -> String {
        let frames = self.frames();
        frames.iter().map(|f| String::from_utf8_lossy(f)).collect()
    }

    /// Waits until the received text satisfies `done`.
    pub async fn wait_for(&self, done: impl Fn(&str) -> bool) {
        loop {
            let changed = self.changed.notified();
            if done(&self.text()) {
                return;
            }
            changed.await;
        }
    }

    fn record(&self, frame: Bytes) {
        sync::lock(&self.frames).push(frame);
        self.changed.notify_waiters();
    }
}

impl Sink<Bytes> for MemorySink {
    type Error = SinkFailed;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), SinkFailed>> {
        Poll::Ready(Ok(()))
    }

    fn start_send(self: Pin<&mut Self>, frame: Bytes) -> Result<(), SinkFailed> {
        self.record(frame);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), SinkFailed>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), SinkFailed>> {
        Poll::Ready(Ok(()))
    }
}

/// A [`MemorySink`] that takes `delay` to accept each frame.
#[derive(Debug)]
pub struct SlowSink {
    inner: MemorySink,
    delay: Duration,
    sleep: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl SlowSink {
    /// Records into `inner`, waiting `delay` before each frame.
    pub fn new(inner: MemorySink, delay: Duration) -> Self {
        SlowSink {
            inner,
            delay,
            sleep: None,
        }
    }
}

impl Sink<Bytes> for SlowSink {
    type Error = SinkFailed;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), SinkFailed>> {
        let delay = self.delay;
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(delay)));
        match sleep.as_mut().poll(cx) {
            Poll::Ready(()) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn start_send(mut self: Pin<&mut Self>, frame: Bytes) -> Result<(), SinkFailed> {
        self.sleep = None;
        self.inner.record(frame);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), SinkFailed>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), SinkFailed>> {
        Poll::Ready(Ok(()))
    }
}

/// Never accepts a frame, like a peer that stopped reading.
#[derive(Debug, Clone, Copy, Default)]
pub struct StalledSink;

impl Sink<Bytes> for StalledSink {
    type Error = SinkFailed;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), SinkFailed>> {
        Poll::Pending
    }

    fn start_send(self: Pin<&mut Self>, _: Bytes) -> Result<(), SinkFailed> {
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), SinkFailed>> {
        Poll::Pending
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), SinkFailed>> {
        Poll::Ready(Ok(()))
    }
}

/// Records into a [`MemorySink`], then fails once it has taken `after` frames, like a
/// peer that went away.
#[derive(Debug)]
pub struct FailingSink {
    inner: MemorySink,
    left: usize,
}

impl FailingSink {
    /// Accepts `after` frames, then fails.
    pub fn new(inner: MemorySink, after: usize) -> Self {
        FailingSink { inner, left: after }
    }
}

impl Sink<Bytes> for FailingSink {
    type Error = SinkFailed;

    fn poll_ready(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), SinkFailed>> {
        Poll::Ready(if self.left == 0 {
            Err(SinkFailed)
        } else {
            Ok(())
        })
    }

    fn start_send(mut self: Pin<&mut Self>, frame: Bytes) -> Result<(), SinkFailed> {
        if self.left == 0 {
            return Err(SinkFailed);
        }
        self.left -= 1;
        self.inner.record(frame);
        Ok(())
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), SinkFailed>> {
        Poll::Ready(Ok(()))
    }

    fn poll_close(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), SinkFailed>> {
        Poll::Ready(Ok(()))
    }
}
