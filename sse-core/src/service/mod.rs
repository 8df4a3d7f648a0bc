//! The service: a registry of clients, and what it does with them, a file a concern:
//! [`config`] (settings and the builder), [`admission`] (connect), [`publish`] (ids,
//! history and fan-out), [`shutdown`], and [`stream`] (a client's end: its frames).

mod admission;
mod config;
mod publish;
mod shutdown;
mod stream;

use std::{
    fmt,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, Weak,
    },
};

use tokio::sync::Notify;

use self::config::Config;
pub use self::{
    config::ServiceBuilder,
    publish::{Delivery, Target},
    shutdown::{Shutdown, ShutdownReport},
    stream::ClientStream,
};
use crate::sync;
use crate::{
    interest::{self, InterestTracker},
    metrics::{bump, Counters},
    replay::{HistorySize, Replay},
    Client, ClientId, ClientManager, EventSeq, Hooks, Interest, Metrics, ResumeSource,
};

/// The Server-Sent Events service: keeps the registry of connected clients, publishes
/// events to all of them, to topics or to one client, resumes reconnecting clients and
/// shuts down gracefully. Cheap to clone; clones share everything.
///
/// # Examples
///
/// ```
/// use futures::StreamExt;
/// use sse_codec::Event;
/// use sse_core::{ConnectRequest, Service};
///
/// # futures::executor::block_on(async {
/// let service = Service::new();
/// let mut alice = service.connect(ConnectRequest::new().client_id("alice")).unwrap();
/// assert_eq!(service.active(), 1);
///
/// service.broadcast(Event::message("hello")).unwrap();
/// let _prelude = alice.next().await.unwrap(); // ": connected"
/// let frame = alice.next().await.unwrap();
/// assert!(frame.ends_with(b"data: hello\n\n"));
///
/// drop(alice);
/// assert_eq!(service.active(), 0);
/// # });
/// ```
#[derive(Clone)]
pub struct Service {
    inner: Arc<Inner>,
}

pub(crate) struct Inner {
    /// For the history's expiry task, which must not keep the service alive.
    me: Weak<Inner>,
    /// Whether that task is running.
    pub(super) expiring: AtomicBool,
    manager: Arc<dyn ClientManager>,
    pub(crate) hooks: Arc<dyn Hooks>,
    /// What this service has local readers for, told to the interest listener.
    interest: InterestTracker,
    /// Where clients resume from instead of the history, if a backplane keeps it.
    resume: Option<Arc<dyn ResumeSource>>,
    /// Held while ids are assigned, history recorded and queues filled, and while a
    /// client is registered with its replay: so a client gets each event exactly once,
    /// either replayed or live, and all clients see one order.
    publish: Mutex<Replay>,
    /// The history's size, which it keeps current, read by metrics without the lock.
    history_size: Arc<HistorySize>,
    config: Config,
    next_connection: AtomicU64,
    accepting: AtomicBool,
    counters: Counters,
    removed: Notify,
}

impl Default for Service {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for Service {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Service")
            .field("active", &self.active())
            .field("manager", &self.inner.manager)
            .field("hooks", &self.inner.hooks)
            .finish_non_exhaustive()
    }
}

impl Service {
    /// A service with every default.
    pub fn new() -> Self {
        ServiceBuilder::default().build()
    }

    /// A handle that does not keep the service alive.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn downgrade(&self) -> Weak<Inner> {
        Arc::downgrade(&self.inner)
    }

    /// The service of a handle from [`downgrade`](Self::downgrade), while it lives.
    #[cfg_attr(not(feature = "metrics"), allow(dead_code))]
    pub(crate) fn upgrade(weak: &Weak<Inner>) -> Option<Service> {
        weak.upgrade().map(|inner| Service { inner })
    }

    /// A builder to configure a service.
    pub fn builder() -> ServiceBuilder {
        ServiceBuilder::default()
    }

    /// The latest event id this service has issued or delivered.
    pub fn latest_id(&self) -> EventSeq {
        self.inner.lock_publish().latest()
    }

    /// The first connection with this id, if connected.
    pub fn client(&self, id: &ClientId) -> Option<Arc<Client>> {
        self.inner.manager.client(id)
    }

    /// A snapshot of every connection.
    pub fn clients(&self) -> Vec<Arc<Client>> {
        self.inner.manager.clients()
    }

    /// The number of active connections.
    pub fn active(&self) -> usize {
        self.inner.manager.active()
    }

    /// The service's counters.
    pub fn metrics(&self) -> Metrics {
        self.inner
            .counters
            .snapshot(self.active(), &self.inner.history_size)
    }

    /// Removes a client now, ending its stream without delivering what is queued.
    /// Returns whether it was still connected.
    pub fn disconnect(&self, client: &Arc<Client>) -> bool {
        client.queue.close(true);
        self.inner.remove(client)
    }

    /// What this service has local readers for, sorted: every topic at least one
    /// connection here subscribes to, and every client id connected here.
    pub fn interests(&self) -> Vec<Interest> {
        self.inner.interest.snapshot()
    }

    /// [`interests`](Self::interests) with, for each, its number of local readers: the
    /// connections subscribed to a topic, the connections of a client id.
    pub fn interest_counts(&self) -> Vec<(Interest, usize)> {
        self.inner.interest.counts()
    }

    /// Whether the service still accepts connections.
    pub fn is_accepting(&self) -> bool {
        self.inner.accepting.load(Ordering::Acquire)
    }
}

impl Inner {
    pub(super) fn lock_publish(&self) -> MutexGuard<'_, Replay> {
        sync::lock(&self.publish)
    }

    /// Takes the client out of the registry; the count left, for the one call that did.
    pub(super) fn unregister(&self, client: &Arc<Client>) -> Option<usize> {
        if client.removed.swap(true, Ordering::AcqRel) {
            return None;
        }
        let count = self.manager.remove(client);
        // After the removed flag: a live subscription change either ran before (and
        // these topics include it) or skips this client.
        self.interest
            .leave(interest::of_client(client.id(), &client.topics()));
        Some(count.unwrap_or_else(|| self.manager.active()))
    }

    pub(super) fn removed_hook(&self, client: &Arc<Client>, count: usize) {
        bump(&self.counters.removed, 1);
        tracing::debug!(client = %client.id(), count, "client removed");
        self.hooks.on_remove_client(client.id(), count);
        self.removed.notify_waiters();
    }

    /// Removes the client once, whoever asks first; fires the remove hook then.
    pub(crate) fn remove(&self, client: &Arc<Client>) -> bool {
        let Some(count) = self.unregister(client) else {
            return false;
        };
        client.queue.close(false);
        self.removed_hook(client, count);
        true
    }
}
