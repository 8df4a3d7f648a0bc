use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::replay::HistorySize;

/// A snapshot of a service's counters, from [`Service::metrics`](crate::Service::metrics).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Metrics {
    /// Connections currently registered.
    pub active: u64,
    /// Connections ever accepted.
    pub connected: u64,
    /// Connections ever removed.
    pub removed: u64,
    /// Connections refused (by a limit, a hook, or shutdown).
    pub rejected: u64,
    /// Events published (broadcast, topic or direct).
    pub published: u64,
    /// Frames put in client queues, one per recipient.
    pub queued: u64,
    /// Bytes put in client queues.
    pub queued_bytes: u64,
    /// Frames dropped by the drop-oldest policy.
    pub dropped_oldest: u64,
    /// Frames dropped by the drop-newest policy.
    pub dropped_newest: u64,
    /// Clients disconnected by the disconnect policy.
    pub disconnected_slow: u64,
    /// Reconnections resumed from the history without a reset.
    pub resumed: u64,
    /// Reconnections told `sse-reset` instead.
    pub reset: u64,
    /// Events the history holds for resuming clients.
    pub history_events: u64,
    /// Bytes the history holds: encoded events plus
    /// [`ENTRY_OVERHEAD`](crate::ENTRY_OVERHEAD) each.
    pub history_bytes: u64,
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connected: AtomicU64,
    pub(crate) removed: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) published: AtomicU64,
    pub(crate) queued: AtomicU64,
    pub(crate) queued_bytes: AtomicU64,
    pub(crate) dropped_oldest: AtomicU64,
    pub(crate) dropped_newest: AtomicU64,
    pub(crate) disconnected_slow: AtomicU64,
    pub(crate) resumed: AtomicU64,
    pub(crate) reset: AtomicU64,
}

pub(crate) fn bump(counter: &AtomicU64, by: u64) {
    if by > 0 {
        counter.fetch_add(by, Relaxed);
    }
}

impl Counters {
    pub(crate) fn snapshot(&self, active: usize, history: &HistorySize) -> Metrics {
        let (history_events, history_bytes) = history.get();
        Metrics {
            active: active as u64,
            connected: self.connected.load(Relaxed),
            removed: self.removed.load(Relaxed),
            rejected: self.rejected.load(Relaxed),
            published: self.published.load(Relaxed),
            queued: self.queued.load(Relaxed),
            queued_bytes: self.queued_bytes.load(Relaxed),
            dropped_oldest: self.dropped_oldest.load(Relaxed),
            dropped_newest: self.dropped_newest.load(Relaxed),
            disconnected_slow: self.disconnected_slow.load(Relaxed),
            resumed: self.resumed.load(Relaxed),
            reset: self.reset.load(Relaxed),
            history_events,
            history_bytes,
        }
    }
}

/// Publishing the counters to the [`metrics`](::metrics) facade.
#[cfg(feature = "metrics")]
mod report {
    use std::time::Duration;

    use super::Metrics;
    use crate::Service;

    impl Service {
        /// Publishes [`metrics`](Service::metrics) to the `metrics` facade now, then
        /// every `every`, until the service is dropped (the task holds it weakly):
        /// gauges `sse_clients`, `sse_history_events`, `sse_history_bytes`; counters
        /// `sse_connections_total`, `sse_disconnections_total`,
        /// `sse_rejections_total`, `sse_events_published_total`,
        /// `sse_deliveries_total`, `sse_delivered_bytes_total`, `sse_resumes_total`,
        /// `sse_resets_total` and `sse_drops_total` by `reason` (`drop_oldest`,
        /// `drop_newest`, `disconnect`). Install a recorder first (such as
        /// `metrics-exporter-prometheus`). Needs a tokio runtime.
        ///
        /// The figures are as fresh as `every`; reading them costs the service nothing
        /// between reports.
        pub fn report_metrics(&self, every: Duration) -> tokio::task::JoinHandle<()> {
            let service = self.downgrade();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval(every);
                tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
                loop {
                    tick.tick().await;
                    let Some(service) = Service::upgrade(&service) else {
                        return;
                    };
                    record(&service.metrics());
                }
            })
        }
    }

    #[allow(clippy::cast_precision_loss)]
    fn record(m: &Metrics) {
        metrics::gauge!("sse_clients").set(m.active as f64);
        metrics::gauge!("sse_history_events").set(m.history_events as f64);
        metrics::gauge!("sse_history_bytes").set(m.history_bytes as f64);
        metrics::counter!("sse_connections_total").absolute(m.connected);
        metrics::counter!("sse_disconnections_total").absolute(m.removed);
        metrics::counter!("sse_rejections_total").absolute(m.rejected);
        metrics::counter!("sse_events_published_total").absolute(m.published);
        metrics::counter!("sse_deliveries_total").absolute(m.queued);
        metrics::counter!("sse_delivered_bytes_total").absolute(m.queued_bytes);
        metrics::counter!("sse_resumes_total").absolute(m.resumed);
        metrics::counter!("sse_resets_total").absolute(m.reset);
        for (reason, n) in [
            ("drop_oldest", m.dropped_oldest),
            ("drop_newest", m.dropped_newest),
            ("disconnect", m.disconnected_slow),
        ] {
            metrics::counter!("sse_drops_total", "reason" => reason).absolute(n);
        }
    }
}
