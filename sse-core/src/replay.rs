//! The service's history: one bounded log of every event with an id, over one
//! service-wide, ordered sequence of ids, read by resuming clients through cursors.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    str::FromStr,
    sync::{
        atomic::{AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::Duration,
};

// tokio's clock, so that paused-time tests move the age bound with the timers.
use tokio::time::Instant;

use bytes::Bytes;
use sse_codec::EventId;

use crate::{hooks::ResetReason, Topic};

/// A position in a service's event sequence, written `epoch-seq` (the same shape as a
/// Redis stream id).
///
/// An in-memory service uses its start time in unix milliseconds as `epoch` and counts
/// `seq` from 1, so ids from an earlier run of the server compare lower than anything
/// this run issued and are recognised as unknown.
///
/// # Examples
///
/// ```
/// use sse_core::EventSeq;
///
/// let id: EventSeq = "1700000000000-7".parse().unwrap();
/// assert_eq!(id, EventSeq::new(1_700_000_000_000, 7));
/// assert!(id < EventSeq::new(1_700_000_000_000, 8));
/// assert_eq!(id.to_string(), "1700000000000-7");
/// assert!("7".parse::<EventSeq>().is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct EventSeq {
    epoch: u64,
    seq: u64,
}

impl EventSeq {
    /// The id `epoch-seq`.
    pub const fn new(epoch: u64, seq: u64) -> Self {
        EventSeq { epoch, seq }
    }

    /// The first part.
    pub fn epoch(self) -> u64 {
        self.epoch
    }

    /// The second part.
    pub fn seq(self) -> u64 {
        self.seq
    }

    /// The id that follows this one in the same epoch.
    #[must_use]
    pub fn next(self) -> Self {
        EventSeq::new(self.epoch, self.seq.saturating_add(1))
    }

    /// The id as an event id for the wire.
    pub fn to_event_id(self) -> EventId {
        EventId::new(self.to_string()).unwrap_or_else(|_| EventId::from(self.seq))
    }
}

impl fmt::Display for EventSeq {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.epoch, self.seq)
    }
}

/// The text was not an `epoch-seq` id.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParseEventSeqError;

impl fmt::Display for ParseEventSeqError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("event id is not of the form EPOCH-SEQ")
    }
}

impl std::error::Error for ParseEventSeqError {}

impl FromStr for EventSeq {
    type Err = ParseEventSeqError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let digits = |p: &str| {
            if p.is_empty() || p.len() > 20 || !p.bytes().all(|b| b.is_ascii_digit()) {
                return Err(ParseEventSeqError);
            }
            p.parse::<u64>().map_err(|_| ParseEventSeqError)
        };
        let (epoch, seq) = s.split_once('-').ok_or(ParseEventSeqError)?;
        Ok(EventSeq::new(digits(epoch)?, digits(seq)?))
    }
}

/// Bounds of the service's history: one log of every event with an id (broadcasts and
/// topics alike), whatever the number of topics.
///
/// An event leaves the history when it is older than the age bound, or to keep the
/// log within the event and byte bounds (each event counts its encoded size plus
/// [`ENTRY_OVERHEAD`] bytes). The default, 65,536 events, 32 MiB and 5 minutes, is the
/// most memory the history of a service can take.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sse_core::{ReplayConfig, Service};
///
/// let config = ReplayConfig::new().max_events(100).max_age(Duration::from_secs(60));
/// let service = Service::builder().replay(config).build();
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayConfig {
    max_events: usize,
    max_bytes: usize,
    max_age: Duration,
}

/// What one event costs the history beside its encoded bytes (its id, time, topics
/// and place in the log), counted against [`ReplayConfig::max_bytes`].
pub const ENTRY_OVERHEAD: usize = 64;

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            max_events: 65_536,
            max_bytes: 32 * 1024 * 1024,
            max_age: Duration::from_secs(300),
        }
    }
}

impl ReplayConfig {
    /// 65,536 events, 32 MiB and 5 minutes, for the whole service.
    pub fn new() -> Self {
        Self::default()
    }

    /// No replay: events carry no ids and `Last-Event-ID` is ignored.
    pub fn disabled() -> Self {
        ReplayConfig {
            max_events: 0,
            max_bytes: 0,
            max_age: Duration::ZERO,
        }
    }

    /// Most events kept (default 65,536; 0 disables replay).
    #[must_use]
    pub fn max_events(mut self, n: usize) -> Self {
        self.max_events = n;
        self
    }

    /// Most bytes kept: encoded events plus [`ENTRY_OVERHEAD`] each (default 32 MiB).
    #[must_use]
    pub fn max_bytes(mut self, n: usize) -> Self {
        self.max_bytes = n;
        self
    }

    /// Oldest event kept (default 5 minutes).
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    pub(crate) fn enabled(&self) -> bool {
        self.max_events > 0
    }

    /// How often the service drops events past the age bound when nothing else touches
    /// the history: an eighth of it, between 10 ms and 1 minute, so an event outlives
    /// the bound by at most that much. `None` when there is no history.
    pub(crate) fn expiry_period(&self) -> Option<Duration> {
        self.enabled()
            .then(|| (self.max_age / 8).clamp(Duration::from_millis(10), Duration::from_secs(60)))
    }
}

/// The in-band notice that some events a client missed are gone.
pub(crate) fn reset_notice(reason: ResetReason, id: EventSeq) -> Bytes {
    crate::notices::notice(crate::RESET_EVENT, reason.as_str())
        .with_id(id.to_event_id())
        .encode()
}

/// Topics whose own floor is remembered at most; beyond, floors are merged into one.
const MAX_FLOORS: usize = 10_000;

#[derive(Debug)]
struct Entry {
    seq: EventSeq,
    at: Instant,
    frame: Bytes,
    /// `None` for a broadcast.
    topics: Option<Arc<[Topic]>>,
}

impl Entry {
    fn cost(&self) -> usize {
        self.frame.len() + ENTRY_OVERHEAD
    }

    /// Whether a client of `topics` (sorted) gets this event.
    fn is_for(&self, topics: &[Topic]) -> bool {
        match &self.topics {
            None => true,
            Some(ours) => ours.iter().any(|t| topics.binary_search(t).is_ok()),
        }
    }
}

/// Where a resuming client is in the history: it has every event up to `after`, and
/// reads, as it drains, the events up to `until` (those after it reach its queue
/// live). Holds no frame: nothing is copied for a client until it can be written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Cursor {
    after: EventSeq,
    until: EventSeq,
    /// The client has been told that events up to here may be gone.
    announced: EventSeq,
}

impl Cursor {
    pub(crate) fn is_done(&self) -> bool {
        self.after >= self.until
    }
}

/// What a client resuming from its `Last-Event-ID` gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Resume {
    /// The events to read from the history before the live ones.
    pub(crate) cursor: Cursor,
    /// Why some of what the client missed is gone, if it is; the notice's id.
    pub(crate) reset: Option<(ResetReason, EventSeq)>,
}

/// What one read from the history gave.
#[derive(Debug, Default)]
pub(crate) struct Read {
    pub(crate) frames: Vec<Bytes>,
    /// Events the cursor was still to read left the history meanwhile; the notice's
    /// id.
    pub(crate) lost: Option<EventSeq>,
}

/// The history's size, kept up to date by the history itself, so that metrics read it
/// without taking the publish lock.
#[derive(Debug, Default)]
pub(crate) struct HistorySize {
    events: AtomicU64,
    bytes: AtomicU64,
}

impl HistorySize {
    /// Events held, and their bytes with the overhead.
    pub(crate) fn get(&self) -> (u64, u64) {
        (self.events.load(Relaxed), self.bytes.load(Relaxed))
    }
}

/// The service's history: where ids start, the latest one, and the log.
#[derive(Debug)]
pub(crate) struct Replay {
    config: ReplayConfig,
    origin: EventSeq,
    latest: EventSeq,
    /// In id order: ids are issued and delivered in increasing order.
    log: VecDeque<Entry>,
    bytes: usize,
    /// The latest broadcast evicted: a client may have lost anything at or below it.
    broadcast_floor: EventSeq,
    /// Per topic, the latest event for it evicted.
    topic_floors: HashMap<Topic, EventSeq>,
    /// The highest of the floors forgotten to keep `topic_floors` bounded: the floor of
    /// any topic without its own.
    forgotten_floor: EventSeq,
    /// `log.len()` and `bytes`, for readers without the lock; set wherever they change.
    size: Arc<HistorySize>,
}

impl Replay {
    pub(crate) fn new(config: ReplayConfig, origin: EventSeq) -> Self {
        Replay {
            config,
            origin,
            latest: origin,
            log: VecDeque::new(),
            bytes: 0,
            broadcast_floor: origin,
            topic_floors: HashMap::new(),
            forgotten_floor: origin,
            size: Arc::default(),
        }
    }

    /// The history's size, as it changes.
    pub(crate) fn size(&self) -> Arc<HistorySize> {
        Arc::clone(&self.size)
    }

    pub(crate) fn enabled(&self) -> bool {
        self.config.enabled()
    }

    pub(crate) fn latest(&self) -> EventSeq {
        self.latest
    }

    /// The id for the next local event.
    pub(crate) fn next_seq(&self) -> EventSeq {
        self.latest.next()
    }

    /// Bytes held, overhead included.
    #[cfg(test)]
    fn bytes(&self) -> usize {
        self.bytes
    }

    /// Drops the events past the age bound.
    pub(crate) fn expire(&mut self, now: Instant) {
        self.evict(now);
    }

    /// Records a frame published to everyone (`topics` is `None`) or to topics.
    pub(crate) fn record(&mut self, seq: EventSeq, topics: Option<&[Topic]>, frame: &Bytes) {
        self.latest = self.latest.max(seq);
        let now = Instant::now();
        let entry = Entry {
            seq,
            at: now,
            frame: frame.clone(),
            topics: topics.map(Arc::from),
        };
        self.bytes += entry.cost();
        self.log.push_back(entry);
        self.evict(now);
    }

    /// Drops the oldest events while over a bound, remembering what each took away.
    fn evict(&mut self, now: Instant) {
        while let Some(front) = self.log.front() {
            let over = self.log.len() > self.config.max_events
                || self.bytes > self.config.max_bytes
                || now.saturating_duration_since(front.at) > self.config.max_age;
            if !over {
                break;
            }
            let old = self.log.pop_front().expect("front exists");
            self.bytes -= old.cost();
            match &old.topics {
                None => self.broadcast_floor = old.seq,
                Some(topics) => {
                    for topic in topics.iter() {
                        self.topic_floors.insert(topic.clone(), old.seq);
                    }
                    if self.topic_floors.len() > MAX_FLOORS {
                        // Amortised O(1): one pass per MAX_FLOORS evicted topics.
                        let highest = self.topic_floors.drain().map(|(_, f)| f).max();
                        self.forgotten_floor =
                            self.forgotten_floor.max(highest.unwrap_or_default());
                    }
                }
            }
        }
        // Every change to the log ends here: `record` adds, then evicts.
        self.size.events.store(self.log.len() as u64, Relaxed);
        self.size.bytes.store(self.bytes as u64, Relaxed);
    }

    /// Everything at or below this id may be gone for a client of `topics`.
    fn floor(&self, topics: &[Topic]) -> EventSeq {
        topics
            .iter()
            .map(|t| *self.topic_floors.get(t).unwrap_or(&self.forgotten_floor))
            .fold(self.broadcast_floor, EventSeq::max)
    }

    /// How a client of `topics` that has every event up to `last` resumes: a cursor
    /// over what the history holds since, and a reset notice when not all of it is
    /// held. An id from before this service's origin (another run's) resumes from the
    /// origin, so every event the history still holds reaches the client. An id past
    /// the latest (another instance ahead of this one) is unknown here: the notice,
    /// and nothing replayed, since the client may have all of it.
    pub(crate) fn resume(&mut self, last: EventSeq, topics: &[Topic]) -> Resume {
        self.evict(Instant::now());
        let floor = self.floor(topics);
        let (after, reset) = if last < self.origin {
            (self.origin, Some((ResetReason::Unknown, self.origin)))
        } else if last > self.latest {
            (self.latest, Some((ResetReason::Unknown, self.latest)))
        } else if last < floor {
            (last, Some((ResetReason::TooOld, last)))
        } else {
            (last, None)
        };
        Resume {
            cursor: Cursor {
                after,
                until: self.latest,
                announced: if reset.is_some() { floor } else { after },
            },
            reset,
        }
    }

    /// The next events for `cursor`'s client of `topics`, up to about `max_bytes` (at
    /// least one when any is left), advancing the cursor. Looks at no more than
    /// `MAX_SCAN` events, so that the lock it runs under is held briefly: a read may
    /// give nothing while the cursor is not done.
    pub(crate) fn read(&self, cursor: &mut Cursor, topics: &[Topic], max_bytes: usize) -> Read {
        let mut read = Read::default();
        if cursor.is_done() {
            return read;
        }
        let floor = self.floor(topics);
        if cursor.announced < floor && cursor.after < floor {
            // Evicted before the client could read them: say so, go on with the rest.
            read.lost = Some(cursor.after);
            cursor.announced = floor;
        }
        let start = self.log.partition_point(|e| e.seq <= cursor.after);
        let mut bytes = 0;
        let mut scanned = 0;
        for entry in self.log.range(start..).take(MAX_SCAN) {
            if entry.seq > cursor.until {
                cursor.after = cursor.until;
                return read;
            }
            if entry.is_for(topics) {
                if bytes > 0 && bytes + entry.frame.len() > max_bytes {
                    return read;
                }
                bytes += entry.frame.len();
                read.frames.push(entry.frame.clone());
            }
            cursor.after = entry.seq;
            scanned += 1;
        }
        if start + scanned == self.log.len() {
            // The whole log is read: nothing up to `until` is left.
            cursor.after = cursor.until;
        }
        read
    }
}

/// Events a read looks at, at most.
const MAX_SCAN: usize = 4096;

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Topic {
        Topic::new(s).unwrap()
    }

    fn frame(n: u64) -> Bytes {
        Bytes::from(n.to_string())
    }

    /// Resumes after `last` and reads to the end: the reset, and every frame.
    fn replay(
        r: &mut Replay,
        last: EventSeq,
        topics: &[Topic],
    ) -> (Option<ResetReason>, Vec<Bytes>) {
        let resume = r.resume(last, topics);
        let mut cursor = resume.cursor;
        let mut frames = Vec::new();
        while !cursor.is_done() {
            frames.extend(r.read(&mut cursor, topics, 3).frames);
        }
        (resume.reset.map(|(reason, _)| reason), frames)
    }

    fn s(n: u64) -> EventSeq {
        EventSeq::new(5, n)
    }

    #[test]
    fn replays_in_order_without_duplicates() {
        let mut r = Replay::new(ReplayConfig::new(), s(0));
        r.record(s(1), None, &frame(1));
        r.record(s(2), Some(&[t("a"), t("b")]), &frame(2));
        r.record(s(3), Some(&[t("c")]), &frame(3));
        r.record(s(4), Some(&[t("b")]), &frame(4));
        let ab = [t("a"), t("b")];
        assert_eq!(
            replay(&mut r, s(0), &ab),
            (None, vec![frame(1), frame(2), frame(4)])
        );
        assert_eq!(replay(&mut r, s(2), &ab), (None, vec![frame(4)]));
        assert_eq!(replay(&mut r, s(4), &[]), (None, vec![]));
    }

    #[test]
    fn reads_are_bounded_and_resume_where_they_stopped() {
        let mut r = Replay::new(ReplayConfig::new(), s(0));
        for n in 1..=10_000 {
            r.record(
                s(n),
                Some(&[t(if n % 1000 == 0 { "rare" } else { "busy" })]),
                &frame(n),
            );
        }
        let rare = [t("rare")];
        let mut cursor = r.resume(s(0), &rare).cursor;
        let mut reads = 0;
        let mut got = Vec::new();
        while !cursor.is_done() {
            got.extend(r.read(&mut cursor, &rare, 1 << 20).frames);
            reads += 1;
        }
        assert_eq!(got, (1..=10).map(|k| frame(k * 1000)).collect::<Vec<_>>());
        assert_eq!(reads, 3, "at most MAX_SCAN events looked at per read");
        // Byte bound: one frame of two bytes per read at a bound of two.
        let busy = [t("busy")];
        let mut cursor = r.resume(s(9_990), &busy).cursor;
        assert_eq!(r.read(&mut cursor, &busy, 2).frames, vec![frame(9_991)]);
        assert_eq!(r.read(&mut cursor, &busy, 8).frames.len(), 2);
    }

    #[test]
    fn live_events_past_the_cursor_are_not_read() {
        let mut r = Replay::new(ReplayConfig::new(), s(0));
        r.record(s(1), None, &frame(1));
        let mut cursor = r.resume(s(0), &[]).cursor;
        r.record(s(2), None, &frame(2)); // reaches the client live, through its queue
        assert_eq!(r.read(&mut cursor, &[], 100).frames, vec![frame(1)]);
        assert!(cursor.is_done());
    }

    #[test]
    fn unknown_ids_resume_from_the_origin_and_too_old_ones_get_what_is_held() {
        let mut r = Replay::new(ReplayConfig::new().max_events(2), s(0));
        for n in 1..=4 {
            r.record(s(n), None, &frame(n));
        }
        let held = vec![frame(3), frame(4)];
        // Another run's id (older epoch): all that is held. One past the latest: told,
        // nothing replayed (it may have had all of it, from an instance ahead of us).
        assert_eq!(
            replay(&mut r, EventSeq::new(4, 9), &[]),
            (Some(ResetReason::Unknown), held.clone())
        );
        assert_eq!(
            replay(&mut r, s(9), &[]),
            (Some(ResetReason::Unknown), vec![])
        );
        assert_eq!(
            replay(&mut r, s(1), &[]),
            (Some(ResetReason::TooOld), held.clone())
        );
        assert_eq!(replay(&mut r, s(2), &[]), (None, held));
    }

    #[test]
    fn floors_are_per_topic() {
        let mut r = Replay::new(ReplayConfig::new().max_events(2), s(0));
        r.record(s(1), Some(&[t("a")]), &frame(1));
        r.record(s(2), Some(&[t("b")]), &frame(2));
        r.record(s(3), Some(&[t("b")]), &frame(3));
        // a's only event is gone; b lost nothing after 1.
        assert_eq!(replay(&mut r, s(0), &[t("a")]).0, Some(ResetReason::TooOld));
        assert_eq!(
            replay(&mut r, s(0), &[t("b")]),
            (None, vec![frame(2), frame(3)])
        );
    }

    #[test]
    fn an_event_evicted_under_a_reading_cursor_is_announced_once() {
        let mut r = Replay::new(ReplayConfig::new().max_events(3), s(0));
        for n in 1..=3 {
            r.record(s(n), None, &frame(n));
        }
        let mut cursor = r.resume(s(0), &[]).cursor;
        let first = r.read(&mut cursor, &[], 1);
        assert_eq!((first.frames, first.lost), (vec![frame(1)], None));
        r.record(s(4), None, &frame(4));
        r.record(s(5), None, &frame(5)); // 2 is gone before the client read it
        let second = r.read(&mut cursor, &[], 100);
        assert_eq!((second.frames, second.lost), (vec![frame(3)], Some(s(1))));
        assert!(cursor.is_done());
    }

    #[test]
    fn one_budget_whatever_the_number_of_topics() {
        let config = ReplayConfig::new().max_bytes(100 * (ENTRY_OVERHEAD + 4));
        let mut r = Replay::new(config, s(0));
        for n in 1..=40_000 {
            r.record(
                s(n),
                Some(&[t(&format!("topic-{n}"))]),
                &Bytes::from_static(b"four"),
            );
            assert!(r.bytes() <= 100 * (ENTRY_OVERHEAD + 4));
        }
        assert_eq!(r.log.len(), 100);
        assert!(r.topic_floors.len() <= MAX_FLOORS);
        // A topic whose floor was forgotten is taken as having lost everything so far.
        assert_eq!(
            replay(&mut r, s(0), &[t("topic-5")]).0,
            Some(ResetReason::TooOld)
        );
        assert_eq!(
            replay(&mut r, s(39_950), &[t("topic-39999")]),
            (None, vec![Bytes::from_static(b"four")])
        );
    }

    #[test]
    fn byte_and_age_bounds() {
        let config = ReplayConfig::new()
            .max_bytes(2 * (ENTRY_OVERHEAD + 1))
            .max_age(Duration::from_secs(3600));
        let mut r = Replay::new(config, EventSeq::new(1, 0));
        for n in 1..=3 {
            r.record(EventSeq::new(1, n), None, &frame(n));
        }
        assert_eq!(
            replay(&mut r, EventSeq::new(1, 1), &[]),
            (None, vec![frame(2), frame(3)])
        );
        assert_eq!(
            replay(&mut r, EventSeq::new(1, 0), &[]).0,
            Some(ResetReason::TooOld)
        );
        let mut r = Replay::new(
            ReplayConfig::new().max_age(Duration::ZERO),
            EventSeq::new(1, 0),
        );
        r.record(EventSeq::new(1, 1), None, &frame(1));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(
            replay(&mut r, EventSeq::new(1, 0), &[]),
            (Some(ResetReason::TooOld), vec![])
        );
    }

    #[test]
    fn seq_parsing_is_strict() {
        for bad in [
            "",
            "-",
            "1-",
            "-1",
            "1-2-3",
            "a-1",
            "+1-2",
            "1 -2",
            "99999999999999999999999-1",
        ] {
            assert!(bad.parse::<EventSeq>().is_err(), "{bad:?}");
        }
    }
}
