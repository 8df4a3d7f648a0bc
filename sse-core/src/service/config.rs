//! Configuration: every setting of a service and the builder that sets them.

use std::{
    sync::{
        atomic::{AtomicBool, AtomicU64},
        Arc, Mutex,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use tokio::sync::Notify;

use super::{Inner, Service};
use crate::{
    hooks::NoHooks, interest::InterestTracker, metrics::Counters, replay::Replay, ClientManager,
    DuplicatePolicy, EventSeq, Hooks, InterestListener, MemoryManager, ReplayConfig, ResumeSource,
    SlowClientPolicy, TopicGrants,
};

/// Every setting of a service, with its default.
#[derive(Debug, Clone)]
pub(super) struct Config {
    pub(super) queue_events: usize,
    pub(super) queue_bytes: usize,
    pub(super) policy: SlowClientPolicy,
    pub(super) duplicates: DuplicatePolicy,
    pub(super) keep_alive: Option<Duration>,
    pub(super) write_delay: Duration,
    pub(super) retry_hint: Option<Duration>,
    pub(super) max_clients: usize,
    pub(super) max_per_id: usize,
    pub(super) max_topics: usize,
    pub(super) anonymous_topics: TopicGrants,
    pub(super) replay: ReplayConfig,
    pub(super) origin: Option<EventSeq>,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            queue_events: 256,
            queue_bytes: 1024 * 1024,
            policy: SlowClientPolicy::default(),
            duplicates: DuplicatePolicy::default(),
            keep_alive: Some(Duration::from_secs(15)),
            write_delay: Duration::ZERO,
            retry_hint: None,
            max_clients: usize::MAX,
            max_per_id: 8,
            max_topics: 64,
            anonymous_topics: TopicGrants::all(),
            replay: ReplayConfig::default(),
            origin: None,
        }
    }
}

/// Builds a [`Service`]; every setting has a default.
#[derive(Debug, Clone, Default)]
#[must_use]
pub struct ServiceBuilder {
    config: Config,
    manager: Option<Arc<dyn ClientManager>>,
    hooks: Option<Arc<dyn Hooks>>,
    interest: Option<Arc<dyn InterestListener>>,
    resume: Option<Arc<dyn ResumeSource>>,
}

impl ServiceBuilder {
    /// The client registry (default: [`MemoryManager`]).
    pub fn manager(&mut self, manager: impl ClientManager) -> &mut Self {
        self.manager = Some(Arc::new(manager));
        self
    }

    /// Who is told when the service's [`Interest`](crate::Interest)s change: the
    /// topics and client ids it has local readers for (default: no one). A backplane
    /// sets it to subscribe to only those.
    pub fn interest_listener(&mut self, listener: impl InterestListener) -> &mut Self {
        self.interest = Some(Arc::new(listener));
        self
    }

    /// The hooks (default: none).
    pub fn hooks(&mut self, hooks: impl Hooks) -> &mut Self {
        self.hooks = Some(Arc::new(hooks));
        self
    }

    /// Bounds of each client's outbound queue (default 256 frames and 1 MiB). A frame
    /// larger than the byte bound is still taken when the queue is otherwise empty.
    pub fn queue_limits(&mut self, frames: usize, bytes: usize) -> &mut Self {
        self.config.queue_events = frames;
        self.config.queue_bytes = bytes;
        self
    }

    /// What to do when a client's queue is full (default
    /// [`SlowClientPolicy::DropOldest`]); a client may override it at connect.
    pub fn slow_client_policy(&mut self, policy: SlowClientPolicy) -> &mut Self {
        self.config.policy = policy;
        self
    }

    /// What to do when a client id connects twice (default [`DuplicatePolicy::Allow`],
    /// up to [`max_connections_per_id`](Self::max_connections_per_id): several tabs of
    /// one user are normal, and a send to the id reaches all of them).
    pub fn duplicate_policy(&mut self, policy: DuplicatePolicy) -> &mut Self {
        self.config.duplicates = policy;
        self
    }

    /// Interval of keep-alive comments on an idle stream (default 15 s; `None` or zero
    /// turns them off). Any frame sent restarts the interval.
    pub fn keep_alive(&mut self, every: Option<Duration>) -> &mut Self {
        // A zero interval would send keep-alives back to back.
        self.config.keep_alive = every.filter(|d| !d.is_zero());
        self
    }

    /// How long a client's stream holds a frame before writing it, so that frames
    /// arriving meanwhile go out in the same write (default zero: write at once).
    ///
    /// A trade of latency for CPU: with one small write per event per client, most of
    /// a fan-out server's time is the kernel's per-write work, so at `r` events a
    /// second per client a delay of `d` cuts writes to about one per `1 + r * d`
    /// events, and adds up to `d` to every event's latency. Only the first frame
    /// after a quiet spell is held; a client that is behind is written to at once.
    /// The queue limits ([`queue_limits`](Self::queue_limits)) must hold a delay's
    /// worth of frames, and a stream's end is noticed up to `delay` late.
    pub fn write_delay(&mut self, delay: Duration) -> &mut Self {
        self.config.write_delay = delay;
        self
    }

    /// A `retry` hint sent to each client on connect (default none).
    pub fn retry_hint(&mut self, retry: Option<Duration>) -> &mut Self {
        self.config.retry_hint = retry;
        self
    }

    /// Most connections at once (default unlimited); over it, refused (`TooMany`).
    pub fn max_clients(&mut self, n: usize) -> &mut Self {
        self.config.max_clients = n;
        self
    }

    /// Most connections per client id when duplicates are allowed (default 8); over
    /// it, refused (`TooMany`).
    pub fn max_connections_per_id(&mut self, n: usize) -> &mut Self {
        self.config.max_per_id = n;
        self
    }

    /// Most topics one client may subscribe to (default 64); over it, refused
    /// (`Invalid`).
    pub fn max_topics_per_client(&mut self, n: usize) -> &mut Self {
        self.config.max_topics = n;
        self
    }

    /// The topics a connection without a [`Principal`](crate::Principal) may subscribe
    /// to (default: every topic). Narrow it when some topics are private:
    /// `TopicGrants::patterns(["room:*"])` leaves `private:*` to principals whose
    /// grants name them.
    pub fn anonymous_topics(&mut self, grants: TopicGrants) -> &mut Self {
        self.config.anonymous_topics = grants;
        self
    }

    /// Bounds of the history that resuming clients read (default
    /// [`ReplayConfig::new`]: 65,536 events, 32 MiB and 5 minutes for the whole
    /// service).
    pub fn replay(&mut self, config: ReplayConfig) -> &mut Self {
        self.config.replay = config;
        self
    }

    /// Where this service's ids start (default: `now_ms-0`). Ids at or below it are
    /// unknown to this service. Backplanes set it to the start of their shared history.
    pub fn origin(&mut self, origin: EventSeq) -> &mut Self {
        self.config.origin = Some(origin);
        self
    }

    /// Where connecting clients resume from, when a backplane keeps the history
    /// (default none: the service's own history). See [`ResumeSource`].
    pub fn resume_source(&mut self, source: impl ResumeSource) -> &mut Self {
        self.resume = Some(Arc::new(source));
        self
    }

    /// Builds the service.
    pub fn build(&self) -> Service {
        let origin = self.config.origin.unwrap_or_else(|| {
            let ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            EventSeq::new(ms, 0)
        });
        let history = Replay::new(self.config.replay, origin);
        let service = Service {
            inner: Arc::new_cyclic(|me| Inner {
                me: me.clone(),
                expiring: AtomicBool::new(false),
                manager: self
                    .manager
                    .clone()
                    .unwrap_or_else(|| Arc::new(MemoryManager::new())),
                hooks: self.hooks.clone().unwrap_or_else(|| Arc::new(NoHooks)),
                interest: InterestTracker::new(self.interest.clone()),
                resume: self.resume.clone(),
                history_size: history.size(),
                publish: Mutex::new(history),
                config: self.config.clone(),
                next_connection: AtomicU64::new(1),
                accepting: AtomicBool::new(true),
                counters: Counters::default(),
                removed: Notify::new(),
            }),
        };
        service.inner.start_expiry();
        service
    }
}
