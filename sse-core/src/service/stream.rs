//! The receiving end of a client's queue: the frames an adapter writes as the body.

use std::{
    fmt,
    future::Future,
    pin::Pin,
    sync::{Arc, Mutex},
    task::{Context, Poll},
    time::Duration,
};

use bytes::{BufMut, Bytes, BytesMut};
use futures_core::Stream;
use futures_sink::Sink;
use futures_util::SinkExt;
use tokio::time::{Instant, Sleep};

use super::Inner;
use crate::{
    queue::{Popped, Queue},
    replay::Cursor,
    Client, Error, ResumeStream, Topic,
};

/// A connected client's outbound frames, as a `Stream<Item = Bytes>` to use as a
/// response body.
///
/// The stream starts with the connect prelude (an initial comment, the client's id, the
/// optional retry hint and any reset notice), then the events a resuming client missed,
/// read from the service's history as it drains (or given by a
/// [`ResumeSource`](crate::ResumeSource), whose first frame the prelude waits for), then queued frames (several at once
/// when the client has fallen behind) and keep-alive comments when the connection is
/// idle. It
/// ends when the client is replaced, disconnected by its slow-client policy, or the
/// service shuts down. Dropping it removes the client, firing the remove hook once.
pub struct ClientStream {
    service: Arc<Inner>,
    client: Arc<Client>,
    /// What comes before the queue; freed once written, so that an idle stream holds
    /// only what it needs (boxed, like the write delay's state, for the same reason).
    start: Option<Box<Start>>,
    keep_alive: Option<KeepAlive>,
    batch: Option<Box<Batch>>,
}

/// The frames a stream writes before its queue's.
struct Start {
    prelude: Option<Bytes>,
    /// What a resume source gives the client first; the prelude waits for it. In a
    /// mutex, never locked (only `get_mut`), so that the stream stays `Sync` as some
    /// frameworks require of a body.
    external: Option<Mutex<ResumeStream>>,
    /// What a resuming client still has to read from the history, and its topics.
    resume: Option<(Cursor, Arc<[Topic]>)>,
}

/// What the stream has to write next.
enum Frame {
    /// Events, the prelude or history: what the send hooks report.
    Data(Bytes),
    /// A keep-alive comment.
    KeepAlive,
}

/// Holds a frame back for `delay` so that the frames arriving meanwhile share its
/// write ([`ServiceBuilder::write_delay`](crate::ServiceBuilder::write_delay)).
struct Batch {
    delay: Duration,
    /// Holding a frame: the timer, not the queue, will wake the stream.
    holding: bool,
    /// The last write did not empty the queue: write the rest without waiting.
    behind: bool,
    /// Armed for the end of the hold; kept between holds to be reset, not reallocated.
    timer: Option<Pin<Box<Sleep>>>,
}

/// A comment after `every` of silence. Silence is counted from the later of the
/// stream's own last write of something not queued (or of a held frame) and the
/// queue's last push, so that a frame written straight from the queue costs no clock
/// read.
struct KeepAlive {
    /// The interval in nanoseconds (a `Duration` would make every stream 8 bytes larger).
    every_ns: u64,
    wrote_at: Instant,
    timer: Option<Pin<Box<Sleep>>>,
    /// The timer has been polled since it was last armed, so it holds the waker the
    /// queue holds too: while that waker stays and the timer has not fired, polling it
    /// again would change nothing.
    polled: bool,
}

impl ClientStream {
    pub(crate) fn new(
        service: Arc<Inner>,
        client: Arc<Client>,
        prelude: Bytes,
        cursor: Option<Cursor>,
        external: Option<ResumeStream>,
        keep_alive: Option<Duration>,
        write_delay: Duration,
    ) -> Self {
        let resume = cursor.map(|c| (c, client.topics()));
        let start = Start {
            prelude: (!prelude.is_empty()).then_some(prelude),
            external: external.map(Mutex::new),
            resume,
        };
        ClientStream {
            service,
            client,
            start: Some(Box::new(start)),
            keep_alive: keep_alive.map(|every| KeepAlive {
                every_ns: u64::try_from(every.as_nanos()).unwrap_or(u64::MAX),
                wrote_at: Instant::now(),
                timer: None,
                polled: false,
            }),
            batch: (!write_delay.is_zero()).then(|| {
                Box::new(Batch {
                    delay: write_delay,
                    holding: false,
                    behind: false,
                    timer: None,
                })
            }),
        }
    }

    /// The client this stream belongs to.
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// Drives this stream into any sink of encoded frames, for transports other than a
    /// response body. The send hooks see the sink's real result. Resolves when the
    /// stream ends (the client was replaced, disconnected or shut down), or with
    /// [`Error::Disconnected`] when the sink fails; either way the client is removed.
    ///
    /// # Errors
    ///
    /// [`Error::Disconnected`] if the sink returned an error.
    pub async fn forward_to<S>(mut self, mut sink: S) -> Result<(), Error>
    where
        S: Sink<Bytes> + Unpin + Send,
    {
        while let Some(frame) = std::future::poll_fn(|cx| self.poll_frame(cx)).await {
            let frame = match frame {
                Frame::Data(data) => data,
                Frame::KeepAlive => Bytes::from_static(sse_codec::KEEP_ALIVE),
            };
            let hooks = &self.service.hooks;
            hooks.before_send(&self.client);
            if sink.send(frame).await.is_err() {
                hooks.on_send(&self.client, Err(&Error::Disconnected));
                return Err(Error::Disconnected);
            }
            hooks.on_send(&self.client, Ok(()));
        }
        let _ = sink.close().await;
        Ok(())
    }

    /// `frame`, written now; `queued` frames count as traffic from when they were
    /// pushed, unless a write delay held them.
    fn delivered(&mut self, frame: Bytes, queued: bool) -> Poll<Option<Frame>> {
        if let Some(ka) = &mut self.keep_alive {
            if !queued || self.batch.is_some() {
                ka.wrote_at = Instant::now();
            }
        }
        Poll::Ready(Some(Frame::Data(frame)))
    }

    /// The next frame: the prelude, then history for a resuming client, then queued
    /// frames (held back by a write delay) or, when idle, a keep-alive.
    fn poll_frame(&mut self, cx: &mut Context<'_>) -> Poll<Option<Frame>> {
        if let Some(start) = &mut self.start {
            match start.poll_next(&self.service, cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(frame)) => return self.delivered(frame, false),
                Poll::Ready(None) => self.start = None,
            }
        }
        let held = self
            .batch
            .as_mut()
            .is_some_and(|batch| batch.poll_release(&self.client.queue, cx).is_pending());
        let popped = if held {
            // The batch's timer, not the queue, holds the current waker.
            Popped::Empty { same_waker: false }
        } else {
            // A write delay already decides when to read.
            self.client.queue.poll_pop(cx, self.batch.is_none())
        };
        match popped {
            Popped::Frame(frame) => self.delivered(frame, true),
            Popped::End => Poll::Ready(None),
            Popped::Deferred => {
                cx.waker().wake_by_ref();
                Poll::Pending
            }
            Popped::Empty { same_waker } => {
                // A held frame is traffic on its way: no keep-alive meanwhile.
                let holding = self.batch.as_ref().is_some_and(|b| b.holding);
                let queue = &self.client.queue;
                let due = !holding
                    && self
                        .keep_alive
                        .as_mut()
                        .is_some_and(|ka| ka.poll_due(queue, same_waker, cx));
                if due {
                    Poll::Ready(Some(Frame::KeepAlive))
                } else {
                    Poll::Pending
                }
            }
        }
    }
}

impl Start {
    /// The next frame before the queue's: a resume source's (with the prelude in
    /// front of the first), the prelude, then history; `None` once all are written.
    fn poll_next(&mut self, service: &Inner, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        while let Some(external) = &mut self.external {
            let external = external.get_mut().unwrap_or_else(|e| e.into_inner());
            match external.as_mut().poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(None) => self.external = None,
                Poll::Ready(Some(frames)) => match self.prelude.take() {
                    Some(prelude) => {
                        let mut write = BytesMut::from(&prelude[..]);
                        write.put_slice(&frames);
                        return Poll::Ready(Some(write.freeze()));
                    }
                    None if frames.is_empty() => {}
                    None => return Poll::Ready(Some(frames)),
                },
            }
        }
        if let Some(prelude) = self.prelude.take() {
            return Poll::Ready(Some(prelude));
        }
        if let Some((cursor, topics)) = &mut self.resume {
            match service.read_history(cursor, topics) {
                Some(frames) => return Poll::Ready(Some(frames)),
                None => self.resume = None,
            }
        }
        Poll::Ready(None)
    }
}

impl KeepAlive {
    fn every(&self) -> Duration {
        Duration::from_nanos(self.every_ns)
    }

    /// Whether the connection has been silent for a whole interval; arms the timer
    /// for the moment it will have been. `same_waker`: the queue already held the
    /// waker of `cx`.
    fn poll_due(&mut self, queue: &Queue, same_waker: bool, cx: &mut Context<'_>) -> bool {
        loop {
            let every = self.every();
            let first = after(self.wrote_at, every);
            let timer = self
                .timer
                .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(first)));
            if self.polled && same_waker && !timer.is_elapsed() {
                return false;
            }
            // Traffic only moves the deadline later. Rather than re-arm the timer on
            // every write, let it fire at its old deadline and re-arm it then: at most
            // one timer update per interval, however busy the stream.
            if timer.as_mut().poll(cx).is_pending() {
                self.polled = true;
                return false;
            }
            let due = after(self.wrote_at.max(queue.pushed_at()), every);
            let now = Instant::now();
            self.polled = false;
            if now >= due {
                self.wrote_at = now;
                timer.as_mut().reset(after(now, every));
                return true;
            }
            timer.as_mut().reset(due);
        }
    }
}

/// `t + d`, or about thirty years after `t` where that would overflow (a keep-alive
/// of `Duration::MAX` means never, not a panic).
fn after(t: Instant, d: Duration) -> Instant {
    t.checked_add(d)
        .unwrap_or_else(|| t + Duration::from_secs(30 * 365 * 86_400))
}

impl Batch {
    /// `Ready` when the queue should be read now: the hold is over, the queue is
    /// behind, or it has ended; `Pending` while holding or while the queue is empty.
    fn poll_release(&mut self, queue: &Queue, cx: &mut Context<'_>) -> Poll<()> {
        if !self.holding {
            if queue.poll_ready(cx).is_pending() {
                self.behind = false;
                return Poll::Pending;
            }
            if self.behind {
                return Poll::Ready(());
            }
            // The first frame after a quiet spell: hold it.
            let until = after(Instant::now(), self.delay);
            match &mut self.timer {
                Some(timer) => timer.as_mut().reset(until),
                None => self.timer = Some(Box::pin(tokio::time::sleep_until(until))),
            }
            self.holding = true;
        }
        if let Some(timer) = &mut self.timer {
            if timer.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
        }
        self.holding = false;
        self.behind = true;
        Poll::Ready(())
    }
}

/// As a response body: a frame handed to the framework counts as sent for the send
/// hooks (keep-alives do not).
impl Stream for ClientStream {
    type Item = Bytes;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Bytes>> {
        match self.poll_frame(cx) {
            Poll::Ready(Some(Frame::Data(data))) => {
                self.service.hooks.before_send(&self.client);
                self.service.hooks.on_send(&self.client, Ok(()));
                Poll::Ready(Some(data))
            }
            Poll::Ready(Some(Frame::KeepAlive)) => {
                Poll::Ready(Some(Bytes::from_static(sse_codec::KEEP_ALIVE)))
            }
            Poll::Ready(None) => Poll::Ready(None),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl Drop for ClientStream {
    fn drop(&mut self) {
        self.service.remove(&self.client);
    }
}

impl fmt::Debug for ClientStream {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClientStream")
            .field("client", &self.client)
            .finish_non_exhaustive()
    }
}
