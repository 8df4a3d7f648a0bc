use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use crate::{replay::HistorySize, RejectionKind};

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
    /// Of those, by why.
    pub rejections: Rejections,
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

/// Refused connections by [`RejectionKind`], in [`Metrics::rejections`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Rejections([u64; KINDS.len()]);

/// Every kind, in the order [`Rejections`] keeps them.
const KINDS: [RejectionKind; 6] = [
    RejectionKind::Invalid,
    RejectionKind::Unauthenticated,
    RejectionKind::Forbidden,
    RejectionKind::Duplicate,
    RejectionKind::TooMany,
    RejectionKind::ShuttingDown,
];

/// `kind`'s place in [`KINDS`]; a new kind fails to compile here until it has one.
fn index(kind: RejectionKind) -> usize {
    match kind {
        RejectionKind::Invalid => 0,
        RejectionKind::Unauthenticated => 1,
        RejectionKind::Forbidden => 2,
        RejectionKind::Duplicate => 3,
        RejectionKind::TooMany => 4,
        RejectionKind::ShuttingDown => 5,
    }
}

impl Rejections {
    /// Connections refused for `kind`.
    pub fn get(&self, kind: RejectionKind) -> u64 {
        self.0[index(kind)]
    }

    /// Every kind with its count.
    pub fn iter(&self) -> impl Iterator<Item = (RejectionKind, u64)> + '_ {
        KINDS.iter().copied().zip(self.0.iter().copied())
    }
}

#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) connected: AtomicU64,
    pub(crate) removed: AtomicU64,
    pub(crate) rejected: AtomicU64,
    pub(crate) rejected_by: [AtomicU64; KINDS.len()],
    pub(crate) published: AtomicU64,
    pub(crate) queued: AtomicU64,
    pub(crate) queued_bytes: AtomicU64,
    pub(crate) dropped_oldest: AtomicU64,
    pub(crate) dropped_newest: AtomicU64,
    pub(crate) disconnected_slow: AtomicU64,
    pub(crate) resumed: AtomicU64,
    pub(crate) reset: AtomicU64,
}

impl Counters {
    /// Counts a refused connection, of `kind` if it was a rejection.
    pub(crate) fn refused(&self, kind: Option<RejectionKind>) {
        bump(&self.rejected, 1);
        if let Some(kind) = kind {
            bump(&self.rejected_by[index(kind)], 1);
        }
    }
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
            rejections: Rejections(std::array::from_fn(|k| self.rejected_by[k].load(Relaxed))),
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
#[cfg(test)]
mod tests {
    use super::{index, KINDS};

    #[test]
    fn every_kind_has_its_own_place() {
        for (place, kind) in KINDS.iter().enumerate() {
            assert_eq!(index(*kind), place, "{kind:?}");
        }
    }
}

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
        /// `sse_rejections_total` by `kind` (`invalid`, `unauthenticated`,
        /// `forbidden`, `duplicate`, `too_many`, `shutting_down`, `other`),
        /// `sse_events_published_total`,
        /// `sse_deliveries_total`, `sse_delivered_bytes_total`, `sse_resumes_total`,
        /// `sse_resets_total` and `sse_drops_total` by `reason` (`drop_oldest`,
        /// `drop_newest`, `disconnect`); and the queues' depth: gauges
        /// `sse_queued_frames` (frames waiting in every client's queue) and
        /// `sse_queue_depth_max` (the fullest queue's). Install a recorder first (such
        /// as `metrics-exporter-prometheus`). Needs a tokio runtime.
        ///
        /// The figures are as fresh as `every`. A report reads every client's queue
        /// length (a short lock each); between reports it costs the service nothing.
        #[allow(clippy::cast_precision_loss)]
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
                    let clients = service.clients();
                    let depths = clients.iter().map(|c| c.queue.len());
                    let (total, max) = depths.fold((0, 0), |(t, m), n| (t + n, m.max(n)));
                    metrics::gauge!("sse_queued_frames").set(total as f64);
                    metrics::gauge!("sse_queue_depth_max").set(max as f64);
                }
            })
        }
    }

    fn kind_label(kind: crate::RejectionKind) -> &'static str {
        use crate::RejectionKind as K;
        match kind {
            K::Invalid => "invalid",
            K::Unauthenticated => "unauthenticated",
            K::Forbidden => "forbidden",
            K::Duplicate => "duplicate",
            K::TooMany => "too_many",
            K::ShuttingDown => "shutting_down",
        }
    }

    #[allow(clippy::cast_precision_loss)]
    fn record(m: &Metrics) {
        metrics::gauge!("sse_clients").set(m.active as f64);
        metrics::gauge!("sse_history_events").set(m.history_events as f64);
        metrics::gauge!("sse_history_bytes").set(m.history_bytes as f64);
        metrics::counter!("sse_connections_total").absolute(m.connected);
        metrics::counter!("sse_disconnections_total").absolute(m.removed);
        let mut kinds = 0;
        for (kind, n) in m.rejections.iter() {
            kinds += n;
            metrics::counter!("sse_rejections_total", "kind" => kind_label(kind)).absolute(n);
        }
        let other = m.rejected.saturating_sub(kinds);
        metrics::counter!("sse_rejections_total", "kind" => "other").absolute(other);
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
