//! Per-topic replay buffers over one service-wide, ordered sequence of event ids.

use std::{
    collections::{HashMap, VecDeque},
    fmt,
    str::FromStr,
    time::{Duration, Instant},
};

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

/// Bounds of each replay buffer (one for broadcasts, one per topic).
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sse_core::ReplayConfig;
///
/// let config = ReplayConfig::new().max_events(100).max_age(Duration::from_secs(60));
/// assert_eq!(config.max_events_value(), 100);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplayConfig {
    max_events: usize,
    max_bytes: usize,
    max_age: Duration,
}

impl Default for ReplayConfig {
    fn default() -> Self {
        ReplayConfig {
            max_events: 1024,
            max_bytes: 1024 * 1024,
            max_age: Duration::from_secs(300),
        }
    }
}

impl ReplayConfig {
    /// 1,024 events, 1 MiB and 5 minutes per buffer.
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

    /// Most events kept per buffer (default 1,024; 0 disables replay).
    #[must_use]
    pub fn max_events(mut self, n: usize) -> Self {
        self.max_events = n;
        self
    }

    /// Most encoded bytes kept per buffer (default 1 MiB).
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

    /// The configured event bound.
    pub fn max_events_value(&self) -> usize {
        self.max_events
    }

    pub(crate) fn enabled(&self) -> bool {
        self.max_events > 0
    }
}

/// Rings beyond this many are merged into one conservative floor.
const MAX_RINGS: usize = 10_000;

#[derive(Debug)]
struct Entry {
    seq: EventSeq,
    at: Instant,
    frame: Bytes,
}

#[derive(Debug)]
struct Ring {
    entries: VecDeque<Entry>,
    bytes: usize,
    /// Everything at or below this id may have been lost from this ring.
    floor: EventSeq,
}

impl Ring {
    fn new(floor: EventSeq) -> Self {
        Ring {
            entries: VecDeque::new(),
            bytes: 0,
            floor,
        }
    }

    fn evict(&mut self, config: &ReplayConfig, now: Instant) {
        while let Some(front) = self.entries.front() {
            let over = self.entries.len() > config.max_events
                || self.bytes > config.max_bytes
                || now.saturating_duration_since(front.at) > config.max_age;
            if !over {
                break;
            }
            let old = self.entries.pop_front().expect("front exists");
            self.bytes -= old.frame.len();
            self.floor = self.floor.max(old.seq);
        }
    }
}

/// The service's history: where ids start, the latest one, and the buffers.
#[derive(Debug)]
pub(crate) struct Replay {
    config: ReplayConfig,
    origin: EventSeq,
    latest: EventSeq,
    broadcast: Ring,
    topics: HashMap<Topic, Ring>,
    /// Floor of rings dropped to respect `MAX_RINGS`.
    dropped_floor: EventSeq,
}

impl Replay {
    pub(crate) fn new(config: ReplayConfig, origin: EventSeq) -> Self {
        Replay {
            config,
            origin,
            latest: origin,
            broadcast: Ring::new(origin),
            topics: HashMap::new(),
            dropped_floor: origin,
        }
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

    /// Records a frame published to everyone (`topics` is `None`) or to topics.
    pub(crate) fn record(&mut self, seq: EventSeq, topics: Option<&[Topic]>, frame: &Bytes) {
        self.latest = self.latest.max(seq);
        let now = Instant::now();
        let entry = || Entry {
            seq,
            at: now,
            frame: frame.clone(),
        };
        match topics {
            None => {
                self.broadcast.bytes += frame.len();
                self.broadcast.entries.push_back(entry());
                self.broadcast.evict(&self.config, now);
            }
            Some(topics) => {
                for topic in topics {
                    if !self.topics.contains_key(topic) && self.topics.len() >= MAX_RINGS {
                        self.drop_a_ring();
                    }
                    let floor = self.dropped_floor;
                    let ring = self
                        .topics
                        .entry(topic.clone())
                        .or_insert_with(|| Ring::new(floor));
                    ring.bytes += frame.len();
                    ring.entries.push_back(entry());
                    ring.evict(&self.config, now);
                }
            }
        }
    }

    fn drop_a_ring(&mut self) {
        let oldest = self
            .topics
            .iter()
            .min_by_key(|(_, r)| r.entries.back().map_or(r.floor, |e| e.seq))
            .map(|(t, _)| t.clone());
        if let Some(topic) = oldest {
            if let Some(ring) = self.topics.remove(&topic) {
                let last = ring.entries.back().map_or(ring.floor, |e| e.seq);
                self.dropped_floor = self.dropped_floor.max(last);
            }
        }
    }

    /// Frames after `last` for a client of `topics`, in order and without duplicates.
    pub(crate) fn since(
        &mut self,
        last: EventSeq,
        topics: &[Topic],
    ) -> Result<Vec<Bytes>, ResetReason> {
        if last < self.origin || last > self.latest {
            return Err(ResetReason::Unknown);
        }
        let now = Instant::now();
        self.broadcast.evict(&self.config, now);
        let mut rings = vec![&self.broadcast];
        let mut floor = self.broadcast.floor;
        for topic in topics {
            match self.topics.get_mut(topic) {
                Some(ring) => ring.evict(&self.config, now),
                None => floor = floor.max(self.dropped_floor),
            }
        }
        for topic in topics {
            if let Some(ring) = self.topics.get(topic) {
                floor = floor.max(ring.floor);
                rings.push(ring);
            }
        }
        if last < floor {
            return Err(ResetReason::TooOld);
        }
        let mut missed: Vec<&Entry> = rings
            .iter()
            .flat_map(|r| {
                let start = r.entries.partition_point(|e| e.seq <= last);
                r.entries.range(start..)
            })
            .collect();
        missed.sort_by_key(|e| e.seq);
        missed.dedup_by_key(|e| e.seq);
        Ok(missed.into_iter().map(|e| e.frame.clone()).collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn t(s: &str) -> Topic {
        Topic::new(s).unwrap()
    }

    fn frame(n: u64) -> Bytes {
        Bytes::from(n.to_string())
    }

    #[test]
    fn replays_in_order_without_duplicates() {
        let mut r = Replay::new(ReplayConfig::new(), EventSeq::new(5, 0));
        r.record(EventSeq::new(5, 1), None, &frame(1));
        r.record(EventSeq::new(5, 2), Some(&[t("a"), t("b")]), &frame(2));
        r.record(EventSeq::new(5, 3), Some(&[t("c")]), &frame(3));
        r.record(EventSeq::new(5, 4), Some(&[t("b")]), &frame(4));
        let got = r.since(EventSeq::new(5, 0), &[t("a"), t("b")]).unwrap();
        assert_eq!(got, vec![frame(1), frame(2), frame(4)]);
        let got = r.since(EventSeq::new(5, 2), &[t("a"), t("b")]).unwrap();
        assert_eq!(got, vec![frame(4)]);
        assert_eq!(
            r.since(EventSeq::new(5, 4), &[]).unwrap(),
            Vec::<Bytes>::new()
        );
    }

    #[test]
    fn unknown_and_too_old() {
        let mut r = Replay::new(ReplayConfig::new().max_events(2), EventSeq::new(5, 0));
        for n in 1..=4 {
            r.record(EventSeq::new(5, n), None, &frame(n));
        }
        assert_eq!(r.since(EventSeq::new(4, 9), &[]), Err(ResetReason::Unknown));
        assert_eq!(r.since(EventSeq::new(5, 9), &[]), Err(ResetReason::Unknown));
        assert_eq!(r.since(EventSeq::new(5, 1), &[]), Err(ResetReason::TooOld));
        assert_eq!(
            r.since(EventSeq::new(5, 2), &[]).unwrap(),
            vec![frame(3), frame(4)]
        );
    }

    #[test]
    fn byte_and_age_bounds() {
        let config = ReplayConfig::new()
            .max_bytes(2)
            .max_age(Duration::from_secs(3600));
        let mut r = Replay::new(config, EventSeq::new(1, 0));
        r.record(EventSeq::new(1, 1), None, &frame(1));
        r.record(EventSeq::new(1, 2), None, &frame(2));
        r.record(EventSeq::new(1, 3), None, &frame(3));
        assert_eq!(
            r.since(EventSeq::new(1, 1), &[]),
            Ok(vec![frame(2), frame(3)])
        );
        assert_eq!(r.since(EventSeq::new(1, 0), &[]), Err(ResetReason::TooOld));
        let mut r = Replay::new(
            ReplayConfig::new().max_age(Duration::ZERO),
            EventSeq::new(1, 0),
        );
        r.record(EventSeq::new(1, 1), None, &frame(1));
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(r.since(EventSeq::new(1, 0), &[]), Err(ResetReason::TooOld));
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
