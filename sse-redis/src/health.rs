//! Outage reporting: the hooks, the counters and the up/down state they share.

use std::{
    fmt,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Mutex,
    },
    time::{Duration, Instant},
};

/// Callbacks on the backplane's link to Redis. Both do nothing by default.
///
/// They run inline on the task that noticed the change (a subscriber, or a publish),
/// so keep them quick.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sse_redis::BackplaneHooks;
///
/// #[derive(Debug)]
/// struct Pager;
///
/// impl BackplaneHooks for Pager {
///     fn on_down(&self, reason: &str) {
///         eprintln!("redis down: {reason}");
///     }
///     fn on_up(&self, down_for: Duration) {
///         eprintln!("redis back after {down_for:?}");
///     }
/// }
/// ```
pub trait BackplaneHooks: Send + Sync + fmt::Debug + 'static {
    /// Redis became unreachable or failed a command; called once per outage.
    fn on_down(&self, reason: &str) {
        let _ = reason;
    }

    /// Every shard answers again after an outage of `down_for`.
    fn on_up(&self, down_for: Duration) {
        let _ = down_for;
    }
}

/// A snapshot of the backplane's state and counters, from
/// [`RedisBackplane::status`](crate::RedisBackplane::status).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct Status {
    /// Whether the link to Redis is up (the last command to it succeeded).
    pub up: bool,
    /// Outages seen since startup (transitions from up to down).
    pub outages: u64,
    /// Reconnections of the shards' subscribers after a failure.
    pub reconnects: u64,
    /// Messages Redis took from this instance.
    pub published: u64,
    /// Messages Redis did not take ([`Error::Unavailable`](crate::Error::Unavailable)).
    pub publish_errors: u64,
    /// Of those, messages delivered to local clients by the local fallback.
    pub local_fallbacks: u64,
    /// Events delivered to this instance's service from Redis (channels and catch-ups).
    pub received: u64,
    /// Messages and log entries skipped because they could not be decoded.
    pub malformed: u64,
    /// Bytes of channel messages received from Redis (log reads not counted).
    pub received_bytes: u64,
}

pub(crate) struct Health {
    up: AtomicBool,
    down_since: Mutex<Option<Instant>>,
    pub(crate) outages: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) publish_errors: AtomicU64,
    pub(crate) local_fallbacks: AtomicU64,
    pub(crate) received: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) received_bytes: AtomicU64,
    /// The shards that are down, a bit each.
    shards_down: Mutex<u64>,
    hooks: std::sync::Arc<dyn BackplaneHooks>,
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.snapshot(), f)
    }
}

pub(crate) fn bump(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

impl Health {
    pub(crate) fn new(hooks: std::sync::Arc<dyn BackplaneHooks>) -> Self {
        Health {
            up: AtomicBool::new(true),
            down_since: Mutex::new(None),
            outages: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            published: AtomicU64::new(0),
            publish_errors: AtomicU64::new(0),
            local_fallbacks: AtomicU64::new(0),
            received: AtomicU64::new(0),
            malformed: AtomicU64::new(0),
            received_bytes: AtomicU64::new(0),
            shards_down: Mutex::new(0),
            hooks,
        }
    }

    pub(crate) fn is_up(&self) -> bool {
        self.up.load(Ordering::Acquire)
    }

    /// Marks `shard` down; the first shard down of an outage logs it and runs the
    /// hook.
    pub(crate) fn down(&self, shard: usize, reason: &str) {
        let mut down = self.shards_down.lock().unwrap_or_else(|e| e.into_inner());
        *down |= 1 << shard;
        if self.up.swap(false, Ordering::AcqRel) {
            *self.down_since.lock().unwrap_or_else(|e| e.into_inner()) = Some(Instant::now());
            drop(down);
            bump(&self.outages);
            tracing::warn!(shard, %reason, "redis backplane down: cross-instance delivery paused");
            self.hooks.on_down(reason);
        }
    }

    /// Marks `shard` up; when it was the last one down, logs the recovery and runs the
    /// hook.
    pub(crate) fn up(&self, shard: usize) {
        if self.is_up() {
            return;
        }
        let mut down = self.shards_down.lock().unwrap_or_else(|e| e.into_inner());
        *down &= !(1 << shard);
        if *down == 0 && !self.up.swap(true, Ordering::AcqRel) {
            drop(down);
            let since = self
                .down_since
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .take();
            let down_for = since.map_or(Duration::ZERO, |t| t.elapsed());
            tracing::info!(
                ?down_for,
                "redis backplane up: cross-instance delivery resumed"
            );
            self.hooks.on_up(down_for);
        }
    }

    pub(crate) fn snapshot(&self) -> Status {
        let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
        Status {
            up: self.is_up(),
            outages: get(&self.outages),
            reconnects: get(&self.reconnects),
            published: get(&self.published),
            publish_errors: get(&self.publish_errors),
            local_fallbacks: get(&self.local_fallbacks),
            received: get(&self.received),
            malformed: get(&self.malformed),
            received_bytes: get(&self.received_bytes),
        }
    }
}

/// Publishing the backplane's state to the [`metrics`](::metrics) facade.
#[cfg(feature = "metrics")]
mod report {
    use std::{sync::Arc, time::Duration};

    use crate::{backplane::Shared, RedisBackplane, Status};

    impl RedisBackplane {
        /// Publishes [`status`](RedisBackplane::status) to the `metrics` facade now,
        /// then every `every`, until the backplane is dropped (the task holds it
        /// weakly): gauge `sse_redis_up` (1 or 0); counters `sse_redis_outages_total`,
        /// `sse_redis_reconnects_total`, `sse_redis_published_total`,
        /// `sse_redis_publish_errors_total`, `sse_redis_local_fallbacks_total`,
        /// `sse_redis_received_total`, `sse_redis_received_bytes_total`,
        /// `sse_redis_malformed_total`; and, as payloads arrive (with the feature on,
        /// whether or not this runs), histogram `sse_redis_delivery_lag_seconds`:
        /// from a publish's script run to its payload here, by the clock of the
        /// partition's server. Also starts the service's own report
        /// ([`Service::report_metrics`](sse_core::Service::report_metrics)). Install a
        /// recorder first. Needs a tokio runtime.
        pub fn report_metrics(&self, every: Duration) -> tokio::task::JoinHandle<()> {
            drop(self.service().report_metrics(every));
            let shared = Arc::downgrade(&self.shared);
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(shared) = shared.upgrade() else {
                        return;
                    };
                    record(&Shared::status(&shared));
                }
            })
        }
    }

    fn record(s: &Status) {
        metrics::gauge!("sse_redis_up").set(if s.up { 1.0 } else { 0.0 });
        metrics::counter!("sse_redis_outages_total").absolute(s.outages);
        metrics::counter!("sse_redis_reconnects_total").absolute(s.reconnects);
        metrics::counter!("sse_redis_published_total").absolute(s.published);
        metrics::counter!("sse_redis_publish_errors_total").absolute(s.publish_errors);
        metrics::counter!("sse_redis_local_fallbacks_total").absolute(s.local_fallbacks);
        metrics::counter!("sse_redis_received_total").absolute(s.received);
        metrics::counter!("sse_redis_received_bytes_total").absolute(s.received_bytes);
        metrics::counter!("sse_redis_malformed_total").absolute(s.malformed);
    }
}
