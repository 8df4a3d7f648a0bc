//! A client's bounded outbound queue: the only thing a broadcast touches.

use std::{
    collections::VecDeque,
    sync::{Mutex, MutexGuard},
    task::{Context, Poll, Waker},
};

use bytes::{Bytes, BytesMut};
use tokio::time::Instant;

use crate::policy::SlowClientPolicy;
use crate::sync;

/// Frames are joined into one write up to this many bytes, to save syscalls when a
/// client has fallen a little behind.
const COALESCE_BYTES: usize = 64 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Lifecycle {
    Open,
    /// Deliver what is queued, then end.
    Closing,
    /// End at once.
    Aborted,
}

#[derive(Debug)]
struct State {
    frames: VecDeque<Bytes>,
    bytes: usize,
    lifecycle: Lifecycle,
    /// The reader's waker, kept across wakes so that a reader polling again with the
    /// same one learns that its other registrations still hold.
    waker: Option<Waker>,
    /// The reader was woken and has not registered since: no need to wake it again.
    woken: bool,
    /// The last read joined several frames: the reader is not keeping up.
    behind: bool,
    /// Frames dropped from the front, to announce before the first one left.
    gap_before_front: usize,
    /// Frames dropped at the back, to announce before the next one queued.
    gap_at_back: usize,
    /// When the last frame was queued: the publisher reads the clock once per
    /// publish, so the reader's keep-alive need not read it once per frame.
    pushed_at: Instant,
}

/// The in-band notice of `n` frames a slow client did not get: an event of type
/// [`GAP_EVENT`](crate::GAP_EVENT) whose data is `n`, without an id.
fn gap_notice(n: usize) -> Bytes {
    crate::notices::notice(crate::GAP_EVENT, n.to_string()).encode()
}

/// What [`Queue::poll_pop`] found.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Popped {
    /// The next write.
    Frame(Bytes),
    /// Closed and drained, or aborted.
    End,
    /// Nothing yet: the reader's waker is registered. `same_waker` when it was already
    /// (the reader's other registrations, made with it, still hold).
    Empty { same_waker: bool },
    /// Frames wait, but the reader was behind at its last read: it should let other
    /// tasks run once before reading, so that the frames arriving meanwhile share its
    /// next write.
    Deferred,
}

/// What a push did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Pushed {
    Queued,
    DroppedOldest(usize),
    DroppedNewest,
    /// The queue was full and the policy is to disconnect; the queue is now aborted.
    Disconnected,
    /// The queue no longer accepts frames.
    Closed,
}

#[derive(Debug)]
pub(crate) struct Queue {
    state: Mutex<State>,
    max_frames: usize,
    max_bytes: usize,
}

impl State {
    fn append(&mut self, frame: Bytes) {
        self.bytes += frame.len();
        self.frames.push_back(frame);
    }

    /// Registers the reader's waker; whether it was registered already.
    fn register(&mut self, cx: &Context<'_>) -> bool {
        self.woken = false;
        let same = self.waker.as_ref().is_some_and(|w| w.will_wake(cx.waker()));
        if !same {
            self.waker = Some(cx.waker().clone());
        }
        same
    }

    /// Queues `frame`, after the notice of any frames dropped at the back before it.
    fn append_after_gap(&mut self, frame: Bytes) {
        if self.gap_at_back > 0 {
            let missed = std::mem::take(&mut self.gap_at_back);
            if self.frames.is_empty() {
                self.gap_before_front += missed;
            } else {
                self.append(gap_notice(missed));
            }
        }
        self.append(frame);
    }

    /// Ends the queue at once, forgetting what it holds.
    fn abort(&mut self) {
        self.lifecycle = Lifecycle::Aborted;
        self.frames.clear();
        self.bytes = 0;
    }
}

/// Wakes the reader, once per registration, after letting go of the lock, so it
/// never wakes into a held lock.
fn wake_unlocked(mut state: MutexGuard<'_, State>) {
    let waker = if state.woken {
        None
    } else {
        state.woken = true;
        state.waker.clone()
    };
    drop(state);
    if let Some(w) = waker {
        w.wake();
    }
}

impl Queue {
    pub(crate) fn new(max_frames: usize, max_bytes: usize) -> Self {
        Queue {
            state: Mutex::new(State {
                frames: VecDeque::new(),
                bytes: 0,
                lifecycle: Lifecycle::Open,
                waker: None,
                woken: false,
                behind: false,
                gap_before_front: 0,
                gap_at_back: 0,
                pushed_at: Instant::now(),
            }),
            max_frames: max_frames.max(1),
            max_bytes: max_bytes.max(1),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic elsewhere must not wedge delivery to this client.
        sync::lock(&self.state)
    }

    pub(crate) fn len(&self) -> usize {
        self.lock().frames.len()
    }

    /// When a frame was last queued (or the queue made).
    pub(crate) fn pushed_at(&self) -> Instant {
        self.lock().pushed_at
    }

    /// Queues `frame`, published `at`, within the bounds, as `policy` says.
    pub(crate) fn push(&self, frame: Bytes, policy: SlowClientPolicy, at: Instant) -> Pushed {
        let mut state = self.lock();
        if state.lifecycle != Lifecycle::Open {
            return Pushed::Closed;
        }
        let fits = |s: &State| {
            s.frames.is_empty()
                || (s.frames.len() < self.max_frames && s.bytes + frame.len() <= self.max_bytes)
        };
        let mut outcome = Pushed::Queued;
        if !fits(&state) {
            match policy {
                SlowClientPolicy::DropNewest => {
                    state.gap_at_back += 1;
                    return Pushed::DroppedNewest;
                }
                SlowClientPolicy::Disconnect => {
                    state.abort();
                    wake_unlocked(state);
                    return Pushed::Disconnected;
                }
                SlowClientPolicy::DropOldest => {
                    let mut dropped = 0;
                    while !fits(&state) {
                        let Some(old) = state.frames.pop_front() else {
                            break;
                        };
                        state.bytes -= old.len();
                        dropped += 1;
                    }
                    // A notice of an earlier gap at the back may have gone with them:
                    // what it counted is now a gap before the front too.
                    state.gap_before_front += dropped;
                    outcome = Pushed::DroppedOldest(dropped);
                }
            }
        }
        state.append_after_gap(frame);
        state.pushed_at = at;
        wake_unlocked(state);
        outcome
    }

    /// Queues a frame past the bounds, unless closed: for the few last frames of a
    /// shutdown.
    pub(crate) fn push_unbounded(&self, frame: Bytes) {
        let mut state = self.lock();
        if state.lifecycle != Lifecycle::Open {
            return;
        }
        state.append(frame);
        state.pushed_at = Instant::now();
        wake_unlocked(state);
    }

    /// Stops accepting frames; with `abort`, also forgets what is queued.
    pub(crate) fn close(&self, abort: bool) {
        let mut state = self.lock();
        if abort {
            state.abort();
        } else if state.lifecycle == Lifecycle::Open {
            state.lifecycle = Lifecycle::Closing;
        }
        wake_unlocked(state);
    }

    /// `Ready` when a frame is queued or the queue has ended (so [`poll_pop`] would
    /// not wait); otherwise registers for the next push and is `Pending`.
    ///
    /// [`poll_pop`]: Self::poll_pop
    pub(crate) fn poll_ready(&self, cx: &mut Context<'_>) -> Poll<()> {
        let mut state = self.lock();
        if !state.frames.is_empty() || state.lifecycle != Lifecycle::Open {
            return Poll::Ready(());
        }
        state.register(cx);
        Poll::Pending
    }

    /// The next write: one frame, or several queued frames joined, after the notice of
    /// any frames dropped before them. `Ready(None)` once the queue is closed and
    /// drained.
    ///
    /// With `defer`, a reader whose last read joined several frames is told to wait
    /// once ([`Popped::Deferred`]) when more are queued and the queue is at most a
    /// quarter full: a saturated server then makes fewer, larger writes instead of
    /// chasing each frame with its own.
    pub(crate) fn poll_pop(&self, cx: &mut Context<'_>, defer: bool) -> Popped {
        let mut state = self.lock();
        if state.lifecycle == Lifecycle::Aborted {
            return Popped::End;
        }
        // Waiting lets more frames gather: only while the queue has room for them,
        // so that a reader is never cut off, or made to drop frames, by waiting.
        let room = state.frames.len() <= self.max_frames / 4 && state.bytes <= self.max_bytes / 4;
        if state.behind && defer && !state.frames.is_empty() && room {
            state.behind = false;
            return Popped::Deferred;
        }
        if state.gap_before_front > 0 && !state.frames.is_empty() {
            let notice = gap_notice(std::mem::take(&mut state.gap_before_front));
            state.bytes += notice.len();
            state.frames.push_front(notice);
        }
        // Caught up after dropping the newest: say so now, not at the next event,
        // which may never come.
        if state.gap_at_back > 0 && state.frames.is_empty() {
            let missed = std::mem::take(&mut state.gap_at_back) + state.gap_before_front;
            state.gap_before_front = 0;
            return Popped::Frame(gap_notice(missed));
        }
        match state.frames.len() {
            0 => {
                if state.lifecycle == Lifecycle::Closing {
                    return Popped::End;
                }
                Popped::Empty {
                    same_waker: state.register(cx),
                }
            }
            1 => {
                state.behind = false;
                let frame = state.frames.pop_front().unwrap_or_default();
                state.bytes -= frame.len();
                Popped::Frame(frame)
            }
            _ => {
                state.behind = true;
                let mut joined = BytesMut::with_capacity(state.bytes.min(COALESCE_BYTES));
                while let Some(frame) = state.frames.front() {
                    if !joined.is_empty() && joined.len() + frame.len() > COALESCE_BYTES {
                        break;
                    }
                    joined.extend_from_slice(frame);
                    state.bytes -= frame.len();
                    state.frames.pop_front();
                }
                Popped::Frame(joined.freeze())
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::task::Waker;

    use super::*;

    fn pop(q: &Queue) -> Poll<Option<Bytes>> {
        match q.poll_pop(&mut Context::from_waker(Waker::noop()), false) {
            Popped::Frame(frame) => Poll::Ready(Some(frame)),
            Popped::End => Poll::Ready(None),
            Popped::Empty { .. } | Popped::Deferred => Poll::Pending,
        }
    }

    fn frame(s: &'static str) -> Bytes {
        Bytes::from_static(s.as_bytes())
    }

    struct CountingWaker(std::sync::atomic::AtomicUsize);

    impl std::task::Wake for CountingWaker {
        fn wake(self: std::sync::Arc<Self>) {
            self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        }
    }

    #[test]
    fn the_reader_is_woken_once_per_registration_and_told_when_its_waker_stayed() {
        let q = Queue::new(10, 1000);
        let count = std::sync::Arc::new(CountingWaker(Default::default()));
        let waker = Waker::from(count.clone());
        let woken = || count.0.load(std::sync::atomic::Ordering::Relaxed);
        let mut cx = Context::from_waker(&waker);
        assert_eq!(
            q.poll_pop(&mut cx, false),
            Popped::Empty { same_waker: false }
        );
        q.push(frame("a"), SlowClientPolicy::DropOldest, Instant::now());
        q.push(frame("b"), SlowClientPolicy::DropOldest, Instant::now());
        assert_eq!(woken(), 1, "once until it registers again");
        assert_eq!(q.poll_pop(&mut cx, false), Popped::Frame(frame("ab")));
        assert_eq!(
            q.poll_pop(&mut cx, false),
            Popped::Empty { same_waker: true }
        );
        q.push(frame("c"), SlowClientPolicy::DropOldest, Instant::now());
        assert_eq!(woken(), 2);
        assert_eq!(q.poll_pop(&mut cx, false), Popped::Frame(frame("c")));
        let mut other = Context::from_waker(Waker::noop());
        assert_eq!(
            q.poll_pop(&mut other, false),
            Popped::Empty { same_waker: false }
        );
        q.push(frame("d"), SlowClientPolicy::DropOldest, Instant::now());
        assert_eq!(woken(), 2, "the new waker is the one woken");
    }

    #[test]
    fn a_reader_behind_is_told_to_wait_once() {
        let q = Queue::new(10, 1000);
        let cx = &mut Context::from_waker(Waker::noop());
        let push = |f| q.push(frame(f), SlowClientPolicy::DropOldest, Instant::now());
        push("a");
        assert_eq!(q.poll_pop(cx, true), Popped::Frame(frame("a")));
        push("b");
        assert_eq!(
            q.poll_pop(cx, true),
            Popped::Frame(frame("b")),
            "one frame: not behind"
        );
        push("c");
        push("d");
        assert_eq!(q.poll_pop(cx, true), Popped::Frame(frame("cd")));
        push("e");
        assert_eq!(q.poll_pop(cx, true), Popped::Deferred);
        push("f");
        assert_eq!(q.poll_pop(cx, true), Popped::Frame(frame("ef")), "once");
        // Caught up with the queue, but the next frame still waits once: the reader
        // drains its queue after every write, so behind is judged by the last read.
        assert_eq!(q.poll_pop(cx, true), Popped::Empty { same_waker: false });
        push("g");
        assert_eq!(q.poll_pop(cx, true), Popped::Deferred);
        assert_eq!(q.poll_pop(cx, true), Popped::Frame(frame("g")));
        push("g2");
        assert_eq!(
            q.poll_pop(cx, true),
            Popped::Frame(frame("g2")),
            "caught up"
        );
        push("h");
        push("i");
        assert_eq!(q.poll_pop(cx, false), Popped::Frame(frame("hi")));
        push("j");
        assert_eq!(
            q.poll_pop(cx, false),
            Popped::Frame(frame("j")),
            "not asked to"
        );
        push("k");
        push("l");
        assert_eq!(q.poll_pop(cx, true), Popped::Frame(frame("kl")));
        for f in ["m", "n", "o"] {
            push(f);
        }
        assert_eq!(
            q.poll_pop(cx, true),
            Popped::Frame(frame("mno")),
            "more than a quarter full: no waiting"
        );
    }

    #[test]
    fn a_push_records_its_publish_time() {
        let q = Queue::new(1, 1000);
        let made = q.pushed_at();
        let at = made + std::time::Duration::from_secs(5);
        q.push(frame("a"), SlowClientPolicy::DropOldest, at);
        assert_eq!(q.pushed_at(), at);
        // A frame that is not queued is no traffic.
        q.close(false);
        q.push(
            frame("b"),
            SlowClientPolicy::DropOldest,
            at + at.duration_since(made),
        );
        assert_eq!(q.pushed_at(), at);
    }

    #[test]
    fn drop_oldest_keeps_the_newest() {
        let q = Queue::new(2, 1000);
        assert_eq!(
            q.push(frame("a"), SlowClientPolicy::DropOldest, Instant::now()),
            Pushed::Queued
        );
        assert_eq!(
            q.push(frame("b"), SlowClientPolicy::DropOldest, Instant::now()),
            Pushed::Queued
        );
        assert_eq!(
            q.push(frame("c"), SlowClientPolicy::DropOldest, Instant::now()),
            Pushed::DroppedOldest(1)
        );
        // The client is told it missed one, before the first frame after the gap.
        let notice = "event: sse-gap\ndata: 1\n\n";
        assert_eq!(
            pop(&q),
            Poll::Ready(Some(Bytes::from(format!("{notice}bc"))))
        );
        q.push(frame("d"), SlowClientPolicy::DropOldest, Instant::now());
        assert_eq!(pop(&q), Poll::Ready(Some(frame("d"))), "told once");
    }

    #[test]
    fn drop_newest_keeps_the_oldest() {
        let q = Queue::new(2, 1000);
        q.push(frame("a"), SlowClientPolicy::DropNewest, Instant::now());
        q.push(frame("b"), SlowClientPolicy::DropNewest, Instant::now());
        assert_eq!(
            q.push(frame("c"), SlowClientPolicy::DropNewest, Instant::now()),
            Pushed::DroppedNewest
        );
        q.push(frame("d"), SlowClientPolicy::DropNewest, Instant::now());
        assert_eq!(pop(&q), Poll::Ready(Some(frame("ab"))));
        // The gap is announced where it is: after what was kept, before what follows.
        q.push(frame("e"), SlowClientPolicy::DropNewest, Instant::now());
        let notice = "event: sse-gap\ndata: 2\n\n";
        assert_eq!(
            pop(&q),
            Poll::Ready(Some(Bytes::from(format!("{notice}e"))))
        );
        // Or as soon as the client has caught up, if nothing follows.
        q.push(frame("f"), SlowClientPolicy::DropNewest, Instant::now());
        q.push(frame("g"), SlowClientPolicy::DropNewest, Instant::now());
        q.push(frame("h"), SlowClientPolicy::DropNewest, Instant::now());
        assert_eq!(pop(&q), Poll::Ready(Some(frame("fg"))));
        let notice = "event: sse-gap\ndata: 1\n\n";
        assert_eq!(pop(&q), Poll::Ready(Some(Bytes::from(notice))));
        assert!(pop(&q).is_pending(), "told once");
    }

    #[test]
    fn byte_bound_applies_and_disconnect_aborts() {
        let q = Queue::new(100, 3);
        q.push(frame("ab"), SlowClientPolicy::Disconnect, Instant::now());
        assert_eq!(
            q.push(frame("cd"), SlowClientPolicy::Disconnect, Instant::now()),
            Pushed::Disconnected
        );
        assert_eq!(pop(&q), Poll::Ready(None));
        assert_eq!(
            q.push(frame("e"), SlowClientPolicy::Disconnect, Instant::now()),
            Pushed::Closed
        );
    }

    #[test]
    fn oversized_frame_is_accepted_alone() {
        let q = Queue::new(10, 2);
        q.push(frame("a"), SlowClientPolicy::DropOldest, Instant::now());
        assert_eq!(
            q.push(frame("long"), SlowClientPolicy::DropOldest, Instant::now()),
            Pushed::DroppedOldest(1)
        );
        let notice = "event: sse-gap\ndata: 1\n\n";
        assert_eq!(
            pop(&q),
            Poll::Ready(Some(Bytes::from(format!("{notice}long"))))
        );
    }

    #[test]
    fn closing_drains_then_ends() {
        let q = Queue::new(10, 100);
        q.push(frame("a"), SlowClientPolicy::DropOldest, Instant::now());
        q.close(false);
        assert_eq!(
            q.push(frame("b"), SlowClientPolicy::DropOldest, Instant::now()),
            Pushed::Closed
        );
        assert_eq!(pop(&q), Poll::Ready(Some(frame("a"))));
        assert_eq!(pop(&q), Poll::Ready(None));
    }

    #[test]
    fn coalescing_is_bounded() {
        let q = Queue::new(1000, usize::MAX);
        let big = Bytes::from(vec![b'x'; COALESCE_BYTES / 2 + 1]);
        for _ in 0..3 {
            q.push(big.clone(), SlowClientPolicy::DropOldest, Instant::now());
        }
        let Poll::Ready(Some(first)) = pop(&q) else {
            panic!()
        };
        assert_eq!(first.len(), big.len());
        assert_eq!(q.len(), 2);
    }
}
