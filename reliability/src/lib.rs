//! The reliability suite's tools: [`Server`] runs the `rel-server` binary (the
//! library behind `sse-axum`, configured by environment variables) as a separate
//! process and reads its `/stats`; the clients are `sse_testkit::raw`'s [`SseConn`], a
//! small raw HTTP/1.1 client over one TCP connection, light enough to hold thousands of
//! streams open from one test process.
//!
//! The tests live in `tests/`. Each has a short variant that runs with
//! `cargo test --workspace` and a long variant marked `#[ignore]` that
//! `scripts/reliability.sh` runs. Every wait is bounded.

mod server;

pub use server::{Server, Stats};
pub use sse_testkit::raw::{connect, request, Opened, Response, SseConn, StreamEvent};

use sse_codec::MessageEvent;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// Unix time in nanoseconds.
pub fn now_nanos() -> u128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// The `q` quantile (0 to 1) of `values`, which it sorts; zero when empty.
pub fn quantile(values: &mut [Duration], q: f64) -> Duration {
    if values.is_empty() {
        return Duration::ZERO;
    }
    values.sort_unstable();
    let index = ((values.len() - 1) as f64 * q).round() as usize;
    values[index]
}

/// A small deterministic random number generator (xorshift64*), so that chaos runs
/// can be repeated from their seed.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator from `seed` (any value).
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1)
    }

    /// The next number.
    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A number in `lo..hi` (`lo` when the range is empty).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        if hi <= lo {
            return lo;
        }
        lo + self.next_u64() % (hi - lo)
    }
}

/// What one reader got from a `rel-server` stream.
#[derive(Debug, Clone, Default)]
pub struct Received {
    /// The sequence numbers in arrival order.
    pub seqs: Vec<u64>,
    /// The event ids in arrival order.
    pub ids: Vec<String>,
    /// Broadcast-to-parse latency of each event.
    pub latencies: Vec<Duration>,
    /// Whether the stream ended.
    pub ended: bool,
    /// Whether a read waited longer than allowed.
    pub timed_out: bool,
}

impl Received {
    /// Whether `seqs` is exactly `first..=last`.
    pub fn is_exactly(&self, first: u64, last: u64) -> bool {
        self.seqs.len() as u64 == last + 1 - first
            && self.seqs.iter().zip(first..).all(|(a, b)| *a == b)
    }
}

/// Reads events from `conn` into `into` until one with sequence number `last` or
/// beyond arrives, the stream ends, or no byte comes for `wait`.
pub async fn read_until(conn: &mut SseConn, last: u64, wait: Duration, into: &mut Received) {
    loop {
        match conn.next(wait).await {
            Ok(StreamEvent::Event(event)) => {
                let Some((seq, nanos)) = seq_and_time(&event) else {
                    continue;
                };
                let lat = now_nanos().saturating_sub(nanos);
                into.latencies
                    .push(Duration::from_nanos(lat.min(u64::MAX as u128) as u64));
                into.seqs.push(seq);
                into.ids.push(event.last_event_id().to_owned());
                if seq >= last {
                    return;
                }
            }
            Ok(StreamEvent::End) => {
                into.ended = true;
                return;
            }
            Err(_) => {
                into.timed_out = true;
                return;
            }
        }
    }
}

/// The sequence number and broadcast time (unix ns) in a `rel-server` event's data.
pub fn seq_and_time(event: &MessageEvent) -> Option<(u64, u128)> {
    let mut parts = event.data().split(' ');
    let seq = parts.next()?.parse().ok()?;
    let nanos = parts.next()?.parse().ok()?;
    Some((seq, nanos))
}
