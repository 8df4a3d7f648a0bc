//! Resume from the logs: a connecting client is held until this node is subscribed
//! to its channels and caught up, then released at the node's positions, and reads
//! its missed events from the partitions' logs up to exactly there.

use std::{
    collections::VecDeque,
    sync::{Arc, Weak},
};

use bytes::{BufMut, Bytes, BytesMut};
use futures::Stream;
use sse_codec::{Event, EventId, EventType};
use sse_core::{Admission, Client, EventSeq, Hold, ResetReason, ResumeSource, ResumeStream, Topic};

use crate::{
    backplane::Shared,
    cut::Cut,
    message::Logged,
    partition::Partition,
    shard::{entry_message, read_page},
    subscriptions::channels_of,
};

/// Most bytes of history written at once.
const CHUNK: usize = 16 * 1024;

/// The backplane's [`ResumeSource`]: holds a client that resumes, or reads a channel
/// not yet in place here, and gives it its history from the logs.
#[derive(Debug)]
pub(crate) struct LogSource(pub(crate) Weak<Shared>);

impl ResumeSource for LogSource {
    fn admit(&self, admission: Admission) -> Option<ResumeStream> {
        // Without the backplane the service is a local one.
        let shared = self.0.upgrade()?;
        let client = admission.client();
        let topics = client.topics();
        let channels = channels_of(&shared.layout, client.id(), &topics);
        let in_place = shared
            .subscriptions
            .all_in_place(channels.iter().map(String::as_str));
        if in_place && admission.last_event_id().is_none() {
            return None;
        }
        let start = Start {
            seen: shared.node.seen(),
            last: admission.last_event_id().map(str::to_owned),
            at: shared.layout.all().map(|p| shared.clock_of(p)).collect(),
        };
        Some(Box::pin(history(
            shared,
            admission.into_hold(),
            topics,
            start,
        )))
    }
}

/// Where a client starts, as seen at its admission.
struct Start {
    /// The node's positions.
    seen: Cut,
    /// The `Last-Event-ID` it sent.
    last: Option<String>,
    /// Per partition, a position just before the admission by its shard's clock.
    at: Vec<EventSeq>,
}

impl Start {
    /// A client that resumes from nothing starts at its admission.
    fn fresh(&self) -> Cut {
        Cut(self
            .seen
            .0
            .iter()
            .zip(&self.at)
            .map(|(seen, at)| (*seen).max(*at))
            .collect())
    }
}

enum State {
    Gate(Arc<Shared>, Hold, Arc<[Topic]>, Start),
    Read(Box<Reading>),
}

fn history(
    shared: Arc<Shared>,
    hold: Hold,
    topics: Arc<[Topic]>,
    start: Start,
) -> impl Stream<Item = Bytes> + Send {
    futures::stream::unfold(
        Some(State::Gate(shared, hold, topics, start)),
        |state| async move {
            match state? {
                State::Gate(shared, hold, topics, start) => {
                    let (first, reading) = gate(shared, hold, topics, start).await;
                    Some((first, reading.map(|r| State::Read(Box::new(r)))))
                }
                State::Read(mut reading) => {
                    let chunk = reading.next_chunk().await?;
                    Some((chunk, Some(State::Read(reading))))
                }
            }
        },
    )
}

/// Waits for the client's channels and partitions to be in place, releases it, and
/// says where its history starts; the first frames (reset notices, or nothing) and
/// the reading, if any.
async fn gate(
    shared: Arc<Shared>,
    hold: Hold,
    topics: Arc<[Topic]>,
    start: Start,
) -> (Bytes, Option<Reading>) {
    let layout = &shared.layout;
    let mut partitions: Vec<Partition> = topics.iter().map(|t| layout.of_topic(t)).collect();
    partitions.push(layout.broadcast());
    partitions.sort_unstable();
    partitions.dedup();
    // The shard of the client's own channel too, so that it is subscribed by then.
    let own = layout.shard(layout.of_client(hold.client().id()));
    if !shared.caught_up(&partitions, &[own]).await {
        return (unavailable(&shared, hold.client()), None);
    }
    let client = Arc::clone(hold.client());
    let end = shared.node.release(hold);

    let mut notices = BytesMut::new();
    let resumed = start.last.as_deref().map(|id| Cut::parse(id, end.0.len()));
    let mut from = match &resumed {
        Some(Some(cut)) => cut.clone(),
        Some(None) => {
            let from = start.fresh();
            notices.put_slice(&reset(ResetReason::Unknown, Some(&from)));
            from
        }
        None => start.fresh(),
    };
    let mut ahead = false;
    for &p in &partitions {
        // Past the end: the log lost entries (a Redis without persistence restarted).
        if from.get(p) > end.get(p) {
            from.set(p, end.get(p));
            ahead = true;
        }
    }
    // A fresh client's start comes from a clock, which may be ahead: no notice then.
    if ahead && resumed.is_some() && notices.is_empty() {
        notices.put_slice(&reset(ResetReason::Unknown, Some(&from)));
    }
    let readers: Vec<Reader> = partitions
        .iter()
        .filter(|&&p| from.get(p) < end.get(p))
        .map(|&p| Reader {
            partition: p,
            after: from.get(p),
            end: end.get(p),
            buf: VecDeque::new(),
            done: false,
        })
        .collect();
    // The client's ids: its own positions in its partitions, the node's elsewhere.
    let mut ids = end.clone();
    for &p in &partitions {
        ids.set(p, from.get(p));
    }
    let reading = (!readers.is_empty()).then(|| Reading {
        shared: Arc::clone(&shared),
        client,
        topics,
        readers,
        ids,
        failed: false,
        gap: false,
    });
    (notices.freeze(), reading)
}

/// What a client whose history cannot be read gets: the `sse-reset` notice
/// (`unavailable`), without an id, and the end of its stream, so that it comes back
/// with the id it had rather than take live events past what it missed.
fn unavailable(shared: &Shared, client: &Arc<Client>) -> Bytes {
    shared.node.service.disconnect(client);
    reset(ResetReason::Unavailable, None)
}

/// The in-band `sse-reset` notice, with the id the client should resume from.
fn reset(reason: ResetReason, id: Option<&Cut>) -> Bytes {
    let mut event = Event::message(reason.as_str())
        .with_event(EventType::new(sse_core::RESET_EVENT).expect("a valid event type"));
    if let Some(id) = id.and_then(|cut| EventId::new(cut.encode()).ok()) {
        event = event.with_id(id);
    }
    event.encode()
}

/// One partition's log, read page by page.
struct Reader {
    partition: Partition,
    after: EventSeq,
    end: EventSeq,
    /// The client's events read and not yet written.
    buf: VecDeque<Logged>,
    done: bool,
}

/// A client's history being read: every partition's log in turn, merged by position.
struct Reading {
    shared: Arc<Shared>,
    client: Arc<Client>,
    topics: Arc<[Topic]>,
    readers: Vec<Reader>,
    ids: Cut,
    failed: bool,
    /// A log dropped entries the client had not read yet (before its history began,
    /// or while it was read): it is told, `too-old`, before what comes next.
    gap: bool,
}

impl Reading {
    /// The next frames, up to about [`CHUNK`] bytes; `None` at the end.
    async fn next_chunk(&mut self) -> Option<Bytes> {
        if self.failed {
            return None;
        }
        let mut chunk = BytesMut::new();
        loop {
            if let Err(()) = self.refill().await {
                self.failed = true;
                chunk.put_slice(&unavailable(&self.shared, &self.client));
                return Some(chunk.freeze());
            }
            if std::mem::take(&mut self.gap) {
                chunk.put_slice(&reset(ResetReason::TooOld, Some(&self.ids)));
            }
            let next = self
                .readers
                .iter_mut()
                .filter(|r| !r.buf.is_empty())
                .min_by_key(|r| r.buf.front().map(|m| m.pos));
            let Some(reader) = next else {
                return (!chunk.is_empty()).then(|| chunk.freeze());
            };
            let message = reader.buf.pop_front().expect("not empty");
            self.ids.set(reader.partition, message.pos);
            chunk.put_slice(&crate::message::with_id(&message.frame, &self.ids.encode()));
            if chunk.len() >= CHUNK {
                return Some(chunk.freeze());
            }
        }
    }

    /// Reads a page for every reader that has nothing buffered and more to read, so
    /// that the smallest position buffered is the smallest left.
    async fn refill(&mut self) -> Result<(), ()> {
        let options = &self.shared.options;
        for reader in self.readers.iter_mut() {
            while reader.buf.is_empty() && !reader.done {
                let shard = self.shared.layout.shard(reader.partition);
                let mut conn = self.shared.shards[shard].reader.clone();
                let (page, trimmed) = read_page(
                    &mut conn,
                    &self.shared.layout,
                    reader.partition,
                    (reader.after, reader.end),
                    options.read_batch,
                    options.publish_timeout,
                )
                .await
                .map_err(|_| ())?;
                // Trimmed while the client read what came before: what it lost is
                // between those and this page.
                self.gap |= trimmed;
                reader.done = page.len() < options.read_batch;
                for entry in &page {
                    let Ok(pos) = entry.id.parse::<EventSeq>() else {
                        continue;
                    };
                    reader.after = reader.after.max(pos);
                    if let Ok(message) = entry_message(pos, entry) {
                        if message.is_for(&self.topics) {
                            reader.buf.push_back(message);
                        }
                    }
                }
                if reader.after >= reader.end {
                    reader.done = true;
                }
            }
        }
        Ok(())
    }
}
