//! The service: admission, registry, fan-out, resume and shutdown.

use std::{
    fmt,
    sync::{
        atomic::{AtomicBool, AtomicU64, Ordering},
        Arc, Mutex, MutexGuard, Weak,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use bytes::{BufMut, Bytes, BytesMut};
use sse_codec::{Event, EventType};
use tokio::sync::Notify;

use crate::{
    hooks::NoHooks,
    metrics::{bump, Counters},
    queue::{Pushed, Queue},
    replay::{Cursor, Replay},
    topics::TopicIndex,
    Client, ClientId, ClientManager, ClientStream, ConnectRequest, DuplicatePolicy, Error,
    EventSeq, Hooks, MemoryManager, Metrics, Rejection, ReplayConfig, ResetReason,
    SlowClientAction, SlowClientPolicy, Topic, TopicGrants,
};

/// The event type of the in-band notice that some events a client missed are gone, sent
/// before whatever the history still holds for it:
///
/// - `too-old`: its `Last-Event-ID` is older than the history, or events left the
///   history while it was still reading them; the notice's id is where it was.
/// - `unknown`: its `Last-Event-ID` was never issued by this service (another run's,
///   before a restart); it gets every event this run still holds, and the notice's id
///   is the start of this run, so a reconnect before the first of them resumes there.
///
/// A browser `EventSource` listens for it with `addEventListener("sse-reset", ...)`
/// and reloads what it shows.
pub const RESET_EVENT: &str = "sse-reset";

/// The event type of the in-band notice that a slow client's queue was full and some
/// events did not reach it (its [`SlowClientPolicy`] dropped them). Its data is how
/// many; it has no id, and comes before the first event after the gap. The client can
/// get what it missed by reconnecting with its `Last-Event-ID`: the history replays
/// it, exactly, while it still holds it.
pub const GAP_EVENT: &str = "sse-gap";

/// The event type of the first event on every stream: its data is the connection's
/// client id, so a page whose id the service generated learns it
/// (`addEventListener("sse-client", ...)`) and can hand it to its own back end. It has
/// no `id` field, so it does not move the client's `Last-Event-ID`.
pub const CLIENT_EVENT: &str = "sse-client";

/// The event type of the notice sent to a connection that a newer one with the same
/// client id replaced (under [`DuplicatePolicy::Replace`]), just before its stream
/// ends. Its data is `replaced`. It comes with a `retry` of [`REPLACED_RETRY`], so an
/// `EventSource` does not come back and replace the newer connection in turn.
pub const REPLACED_EVENT: &str = "sse-replaced";

/// The reconnection delay sent with [`REPLACED_EVENT`]: one day.
pub const REPLACED_RETRY: Duration = Duration::from_secs(24 * 60 * 60);

const INITIAL_COMMENT: &[u8] = b": connected\n\n";

/// Most history a resuming client reads at once (one write's worth).
const MAX_READ: usize = 16 * 1024;

/// Who a published event is for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// Every client.
    All,
    /// Every subscriber of any of these topics, once each.
    Topics(Vec<Topic>),
    /// Every connection with this client id.
    Client(ClientId),
}

/// What one publish did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Delivery {
    /// The id the event was given, when replay is on and the event was not direct.
    pub id: Option<EventSeq>,
    /// Clients whose queue took the event.
    pub queued: usize,
    /// Clients that could not take it (full queue with drop-newest, or closing).
    pub skipped: usize,
    /// Clients disconnected by the slow-client policy.
    pub disconnected: usize,
}

/// Options for [`Service::shutdown`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sse_codec::Event;
/// use sse_core::Shutdown;
///
/// let shutdown = Shutdown::new(Duration::from_secs(5))
///     .final_event(Event::message("bye"))
///     .retry(Duration::from_secs(2), Duration::from_secs(3));
/// ```
#[derive(Debug, Clone)]
pub struct Shutdown {
    deadline: Duration,
    final_event: Option<Event>,
    retry: Option<(Duration, Duration)>,
}

impl Shutdown {
    /// Ends every stream within `deadline`; queued frames are delivered if they can be
    /// in that time.
    pub fn new(deadline: Duration) -> Self {
        Shutdown {
            deadline,
            final_event: None,
            retry: None,
        }
    }

    /// Sends this event to every client before its stream ends.
    #[must_use]
    pub fn final_event(mut self, event: Event) -> Self {
        self.final_event = Some(event);
        self
    }

    /// Sends each client a reconnection hint of `base` plus a per-client share of
    /// `jitter`, so clients do not all come back at once.
    #[must_use]
    pub fn retry(mut self, base: Duration, jitter: Duration) -> Self {
        self.retry = Some((base, jitter));
        self
    }
}

/// What [`Service::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Clients connected when shutdown began.
    pub clients: usize,
    /// Clients whose stream had not ended by the deadline and were cut off.
    pub forced: usize,
}

#[derive(Debug, Clone)]
struct Config {
    queue_events: usize,
    queue_bytes: usize,
    policy: SlowClientPolicy,
    duplicates: DuplicatePolicy,
    keep_alive: Option<Duration>,
    write_delay: Duration,
    retry_hint: Option<Duration>,
    max_clients: usize,
    max_per_id: usize,
    max_topics: usize,
    anonymous_topics: TopicGrants,
    replay: ReplayConfig,
    origin: Option<EventSeq>,
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
pub struct ServiceBuilder {
    config: Config,
    manager: Option<Arc<dyn ClientManager>>,
    hooks: Option<Arc<dyn Hooks>>,
}

impl ServiceBuilder {
    /// The client registry (default: [`MemoryManager`]).
    pub fn manager(&mut self, manager: impl ClientManager) -> &mut Self {
        self.manager = Some(Arc::new(manager));
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

    /// Most connections at once (default unlimited); over it, 429.
    pub fn max_clients(&mut self, n: usize) -> &mut Self {
        self.config.max_clients = n;
        self
    }

    /// Most connections per client id when duplicates are allowed (default 8); over
    /// it, 429.
    pub fn max_connections_per_id(&mut self, n: usize) -> &mut Self {
        self.config.max_per_id = n;
        self
    }

    /// Most topics one client may subscribe to (default 64); over it, 400.
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

    /// Builds the service.
    pub fn build(&self) -> Service {
        let origin = self.config.origin.unwrap_or_else(|| {
            let ms = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_millis() as u64);
            EventSeq::new(ms, 0)
        });
        let service = Service {
            inner: Arc::new_cyclic(|me| Inner {
                me: me.clone(),
                expiring: AtomicBool::new(false),
                manager: self
                    .manager
                    .clone()
                    .unwrap_or_else(|| Arc::new(MemoryManager::new())),
                hooks: self.hooks.clone().unwrap_or_else(|| Arc::new(NoHooks)),
                publish: Mutex::new(Replay::new(self.config.replay, origin)),
                topics: TopicIndex::default(),
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
    /// Whether that task was started.
    expiring: AtomicBool,
    manager: Arc<dyn ClientManager>,
    pub(crate) hooks: Arc<dyn Hooks>,
    /// Held while ids are assigned, history recorded and queues filled, and while a
    /// client is registered with its replay: so a client gets each event exactly once,
    /// either replayed or live, and all clients see one order.
    publish: Mutex<Replay>,
    topics: TopicIndex,
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

    /// A builder to configure a service.
    pub fn builder() -> ServiceBuilder {
        ServiceBuilder::default()
    }

    /// Admits a client: runs the admission hook and limits, registers it, and returns
    /// its stream of frames, which starts with any events it missed.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] with 400 (invalid client id or topics, too many topics),
    /// 403 (a topic its principal, or the anonymous topics, do not allow), 409
    /// (duplicate id under [`DuplicatePolicy::Reject`]), 429 (a client limit), 503
    /// (shutting down), or whatever [`Hooks::on_connect`] returned.
    pub fn connect(&self, request: ConnectRequest) -> Result<ClientStream, Error> {
        let result = self.admit(request);
        if result.is_err() {
            bump(&self.inner.counters.rejected, 1);
        }
        result
    }

    /// Checks `request` as [`connect`](Self::connect) would, without the admission hook
    /// or the limits on clients, and registers nothing: what an HTTP `HEAD` is
    /// answered with.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`] with 400 (invalid client id or topics, too many topics), 403
    /// (a topic not granted) or 503 (shutting down).
    pub fn check(&self, request: &ConnectRequest) -> Result<(), Error> {
        if !self.inner.accepting.load(Ordering::Acquire) {
            return Err(Rejection::unavailable("shutting down").into());
        }
        self.validate(request).map(|_| ())
    }

    /// The request's id (if it names one), its topics (sorted, once each) and grants,
    /// all checked.
    fn validate(
        &self,
        request: &ConnectRequest,
    ) -> Result<(Option<ClientId>, Vec<Topic>, TopicGrants), Error> {
        let config = &self.inner.config;
        let id = match &request.client_id {
            Some(id) => Some(ClientId::new(id).map_err(|e| Rejection::bad_request(e.to_string()))?),
            None => None,
        };
        if request.topics.len() > config.max_topics {
            return Err(too_many_topics(config.max_topics));
        }
        let mut topics = request
            .topics
            .iter()
            .map(|t| Topic::new(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| Rejection::bad_request(e.to_string()))?;
        topics.sort();
        topics.dedup();
        let grants = request
            .grants
            .clone()
            .unwrap_or_else(|| config.anonymous_topics.clone());
        grants.check(&topics)?;
        Ok((id, topics, grants))
    }

    fn admit(&self, request: ConnectRequest) -> Result<ClientStream, Error> {
        let inner = &self.inner;
        let config = &inner.config;
        if !inner.accepting.load(Ordering::Acquire) {
            return Err(Rejection::unavailable("shutting down").into());
        }
        inner.hooks.on_connect(&request)?;
        let (id, topics, grants) = self.validate(&request)?;
        let id = id.unwrap_or_else(ClientId::generate);
        let _span = tracing::debug_span!("sse_connect", client = %id).entered();

        let mut history = inner.lock_publish();
        if !inner.accepting.load(Ordering::Acquire) {
            return Err(Rejection::unavailable("shutting down").into());
        }
        let mut same_id = Vec::new();
        inner
            .manager
            .for_each_with_id(&id, &mut |c| same_id.push(Arc::clone(c)));
        let replaced = match config.duplicates {
            DuplicatePolicy::Reject if !same_id.is_empty() => {
                return Err(Rejection::conflict("client id already connected").into());
            }
            DuplicatePolicy::Replace => same_id,
            _ if same_id.len() >= config.max_per_id => {
                return Err(Rejection::too_many_requests(
                    "too many connections for this client id",
                    Duration::from_secs(5),
                )
                .into());
            }
            _ => Vec::new(),
        };
        if inner.manager.active() - replaced.len() >= config.max_clients {
            return Err(
                Rejection::too_many_requests("too many clients", Duration::from_secs(5)).into(),
            );
        }

        let connection = inner.next_connection.fetch_add(1, Ordering::Relaxed);
        let policy = request.policy.unwrap_or(config.policy);
        let queue = Queue::new(config.queue_events, config.queue_bytes);
        let client = Arc::new(Client::new(id, connection, topics, grants, policy, queue));

        let mut prelude = BytesMut::from(INITIAL_COMMENT);
        prelude.put_slice(&notice(CLIENT_EVENT, client.id().as_str()).encode());
        if let Some(retry) = config.retry_hint {
            prelude.put_slice(&Event::new().with_retry(retry).encode());
        }
        let mut reset = None;
        let mut cursor = None;
        if let (true, Some(last)) = (history.enabled(), &request.last_event_id) {
            // Not an id of ours at all: as one from another run, before our origin.
            let last = last.parse::<EventSeq>().unwrap_or_default();
            let resume = history.resume(last, &client.topics());
            if let Some((reason, id)) = resume.reset {
                prelude.put_slice(&reset_notice(reason, id));
                bump(&inner.counters.reset, 1);
                reset = Some(reason);
            } else {
                bump(&inner.counters.resumed, 1);
            }
            // Read as the client drains, never copied here.
            cursor = (!resume.cursor.is_done()).then_some(resume.cursor);
        }

        let replaced: Vec<_> = replaced
            .into_iter()
            .filter_map(|old| inner.unregister(&old).map(|count| (old, count)))
            .collect();
        let count = inner.manager.add(Arc::clone(&client));
        inner.topics.add(&client, &client.lock_topics());
        drop(history);

        for (old, count) in &replaced {
            let replaced = notice(REPLACED_EVENT, "replaced").with_retry(REPLACED_RETRY);
            // Past the bound, as shutdown's frames: small and the last.
            old.queue.push_unbounded(replaced.encode());
            old.queue.close(false);
            inner.removed_hook(old, *count);
        }
        bump(&inner.counters.connected, 1);
        inner.hooks.on_create_client(&client, count);
        if let Some(reason) = reset {
            inner.hooks.on_resume_reset(&client, reason);
        }
        tracing::debug!(count, "client connected");
        Ok(ClientStream::new(
            Arc::clone(inner),
            client,
            prelude.freeze(),
            cursor,
            config.keep_alive,
            config.write_delay,
        ))
    }

    /// Sends `event` to every client. The event is encoded once; with replay on
    /// (the default) it is given the next id, replacing any id it had.
    ///
    /// # Errors
    ///
    /// [`Error::ShuttingDown`] once [`shutdown`](Self::shutdown) has begun: no client
    /// would get the event, so it is given no id.
    pub fn broadcast(&self, event: Event) -> Result<Delivery, Error> {
        self.inner.publish(&Target::All, None, event)
    }

    /// Sends `event` to the subscribers of `topic`.
    ///
    /// # Errors
    ///
    /// As [`broadcast`](Self::broadcast).
    pub fn publish(&self, topic: &Topic, event: Event) -> Result<Delivery, Error> {
        self.inner
            .publish(&Target::Topics(vec![topic.clone()]), None, event)
    }

    /// Sends `event` to the subscribers of any of `topics`, once each.
    ///
    /// # Errors
    ///
    /// As [`broadcast`](Self::broadcast).
    pub fn publish_many(&self, topics: &[Topic], event: Event) -> Result<Delivery, Error> {
        self.inner
            .publish(&Target::Topics(topics.to_vec()), None, event)
    }

    /// Sends `event` to every connection of client `id`. Direct events get no id and
    /// are not replayed.
    ///
    /// # Errors
    ///
    /// [`Error::NotConnected`] if no connection has that id; [`Error::ShuttingDown`]
    /// once shutdown has begun.
    pub fn send_to(&self, id: &ClientId, event: Event) -> Result<Delivery, Error> {
        let delivery = self
            .inner
            .publish(&Target::Client(id.clone()), None, event)?;
        if delivery.queued + delivery.skipped + delivery.disconnected == 0 {
            return Err(Error::NotConnected);
        }
        Ok(delivery)
    }

    /// Delivers an event that a backplane has already given a global id, for
    /// [`Target::All`] and [`Target::Topics`]; `seq` must be higher than every id seen
    /// so far, or the event is taken as a duplicate and dropped (`id` is then `None`).
    /// With `seq` `None` this is the same as the local publish methods.
    ///
    /// # Errors
    ///
    /// As [`broadcast`](Self::broadcast).
    pub fn deliver(
        &self,
        target: &Target,
        seq: Option<EventSeq>,
        event: Event,
    ) -> Result<Delivery, Error> {
        self.inner.publish(target, seq, event)
    }

    /// Subscribes every connection of client `id` to `topics` (those it has already
    /// are kept), checked against each connection's grants first: nothing changes
    /// unless every connection may read every topic. Returns the number of
    /// connections.
    ///
    /// Events published after this returns reach them; nothing earlier is replayed. A
    /// reconnecting client is resumed for the topics its new request names (see the
    /// crate docs on resume).
    ///
    /// # Errors
    ///
    /// [`Error::NotConnected`] if no connection has that id; [`Error::Rejected`] with
    /// 403 if a topic is not granted, 400 if a connection would exceed
    /// [`max_topics_per_client`](ServiceBuilder::max_topics_per_client).
    pub fn subscribe(&self, id: &ClientId, topics: &[Topic]) -> Result<usize, Error> {
        self.inner.change_topics(id, topics, true)
    }

    /// Unsubscribes every connection of client `id` from `topics`; from when this
    /// returns, no event of them reaches it. Returns the number of connections.
    ///
    /// # Errors
    ///
    /// [`Error::NotConnected`] if no connection has that id.
    pub fn unsubscribe(&self, id: &ClientId, topics: &[Topic]) -> Result<usize, Error> {
        self.inner.change_topics(id, topics, false)
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
        let held = self.inner.lock_publish().held();
        self.inner.counters.snapshot(self.active(), held)
    }

    /// Removes a client now, ending its stream without delivering what is queued.
    /// Returns whether it was still connected.
    pub fn disconnect(&self, client: &Arc<Client>) -> bool {
        client.queue.close(true);
        self.inner.remove(client)
    }

    /// Whether the service still accepts connections.
    pub fn is_accepting(&self) -> bool {
        self.inner.accepting.load(Ordering::Acquire)
    }

    /// Shuts down gracefully: refuses new connections (503), sends each client the
    /// final event and retry hint if asked, lets every stream deliver what is queued
    /// and end, and resolves when all have ended or at the deadline, when the rest are
    /// cut off and removed.
    ///
    /// Stop the server accepting connections first (close its listener; the adapters'
    /// `serve_with` and `Server::serve_until` do on their stop signal): a browser
    /// whose stream ended reconnects at once, and meets a refused connection, which
    /// `EventSource` retries, where a 503 would make it give up for good.
    pub async fn shutdown(&self, options: Shutdown) -> ShutdownReport {
        let inner = &self.inner;
        let clients = {
            let _history = inner.lock_publish();
            inner.accepting.store(false, Ordering::Release);
            inner.manager.clients()
        };
        let final_frame = options.final_event.as_ref().map(Event::encode);
        for client in &clients {
            let mut frame = BytesMut::new();
            if let Some(f) = &final_frame {
                frame.put_slice(f);
            }
            if let Some((base, jitter)) = options.retry {
                let retry = base + jitter.mul_f64(unit_jitter(client.connection()));
                frame.put_slice(&Event::new().with_retry(retry).encode());
            }
            if !frame.is_empty() {
                // Shutdown frames go past the bound: they are small and the last.
                client.queue.push_unbounded(frame.freeze());
            }
            client.queue.close(false);
        }
        let deadline = tokio::time::Instant::now() + options.deadline;
        loop {
            let removed = inner.removed.notified();
            if clients.iter().all(|c| c.is_removed()) {
                break;
            }
            if tokio::time::timeout_at(deadline, removed).await.is_err() {
                break;
            }
        }
        let mut forced = 0;
        for client in &clients {
            if !client.is_removed() {
                forced += 1;
                self.disconnect(client);
            }
        }
        ShutdownReport {
            clients: clients.len(),
            forced,
        }
    }
}

/// An event of one of the service's own types (`sse-*`), with `data`.
pub(crate) fn notice(kind: &'static str, data: impl Into<String>) -> Event {
    let kind = EventType::new(kind).expect("the service's own event types are valid");
    Event::message(data).with_event(kind)
}

/// The in-band notice that some events a client missed are gone.
pub(crate) fn reset_notice(reason: ResetReason, id: EventSeq) -> Bytes {
    notice(RESET_EVENT, reason.as_str())
        .with_id(id.to_event_id())
        .encode()
}

/// The refusal of a client with more than `max` topics.
fn too_many_topics(max: usize) -> Error {
    Rejection::bad_request(format!("at most {max} topics per client")).into()
}

/// A per-connection number in `[0, 1)`, spread evenly (splitmix64).
fn unit_jitter(connection: u64) -> f64 {
    let mut z = connection.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}

#[derive(Default)]
struct Tally {
    delivery: Delivery,
    slow: Vec<(Arc<Client>, SlowClientAction)>,
    dropped_oldest: u64,
    dropped_newest: u64,
}

impl Tally {
    fn push(&mut self, client: &Arc<Client>, frame: &Bytes) {
        match client.queue.push(frame.clone(), client.policy) {
            Pushed::Queued => self.delivery.queued += 1,
            Pushed::DroppedOldest(n) => {
                self.delivery.queued += 1;
                self.dropped_oldest += n as u64;
                self.slow
                    .push((Arc::clone(client), SlowClientAction::DroppedOldest(n)));
            }
            Pushed::DroppedNewest => {
                self.delivery.skipped += 1;
                self.dropped_newest += 1;
                self.slow
                    .push((Arc::clone(client), SlowClientAction::DroppedNewest));
            }
            Pushed::Disconnected => {
                self.delivery.disconnected += 1;
                self.slow
                    .push((Arc::clone(client), SlowClientAction::Disconnected));
            }
            Pushed::Closed => self.delivery.skipped += 1,
        }
    }
}

impl Inner {
    fn lock_publish(&self) -> MutexGuard<'_, Replay> {
        self.publish.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Starts, once, the task that drops events past the history's age bound, so they
    /// go whether or not anything publishes or resumes. Needs a tokio runtime: started
    /// when the service is built inside one, else by the first publish with an id made
    /// inside one. It ends with the service.
    fn start_expiry(&self) {
        if self.expiring.load(Ordering::Relaxed) {
            return;
        }
        let (Some(period), Ok(runtime)) = (
            self.config.replay.expiry_period(),
            tokio::runtime::Handle::try_current(),
        ) else {
            return;
        };
        if self.expiring.swap(true, Ordering::Relaxed) {
            return;
        }
        let me = self.me.clone();
        runtime.spawn(async move {
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = me.upgrade() else { return };
                inner.lock_publish().expire(tokio::time::Instant::now());
            }
        });
    }

    /// The next history frames for a resuming client, as one write, with a notice
    /// first if some were evicted before it could read them; `None` once the cursor is
    /// done. Takes the publish lock once per read of at most [`MAX_READ`] bytes.
    pub(crate) fn read_history(&self, cursor: &mut Cursor, topics: &[Topic]) -> Option<Bytes> {
        while !cursor.is_done() {
            let read = self.lock_publish().read(cursor, topics, MAX_READ);
            let mut write = BytesMut::new();
            if let Some(id) = read.lost {
                write.put_slice(&reset_notice(ResetReason::TooOld, id));
                bump(&self.counters.reset, 1);
            }
            read.frames.iter().for_each(|f| write.put_slice(f));
            if !write.is_empty() {
                return Some(write.freeze());
            }
        }
        None
    }

    fn publish(
        &self,
        target: &Target,
        seq: Option<EventSeq>,
        event: Event,
    ) -> Result<Delivery, Error> {
        let mut tally = Tally::default();
        let frame_len;
        if let Target::Client(id) = target {
            if !self.accepting.load(Ordering::Acquire) {
                return Err(Error::ShuttingDown);
            }
            let frame = event.encode();
            frame_len = frame.len();
            self.manager
                .for_each_with_id(id, &mut |c| tally.push(c, &frame));
        } else {
            let mut history = self.lock_publish();
            // Under the lock that shutdown takes to stop accepting: a publish is
            // either before it, and delivered, or refused.
            if !self.accepting.load(Ordering::Acquire) {
                return Err(Error::ShuttingDown);
            }
            let seq = match seq {
                Some(seq) if seq <= history.latest() => return Ok(Delivery::default()),
                Some(seq) => Some(seq),
                None if history.enabled() => Some(history.next_seq()),
                None => None,
            };
            let event = match seq {
                Some(seq) => event.with_id(seq.to_event_id()),
                None => event,
            };
            let frame = event.encode();
            frame_len = frame.len();
            tally.delivery.id = seq;
            let _span = tracing::trace_span!("sse_publish", id = ?seq).entered();
            match target {
                Target::All => {
                    if let Some(seq) = seq {
                        history.record(seq, None, &frame);
                    }
                    self.manager.for_each(&mut |c| tally.push(c, &frame));
                }
                Target::Topics(topics) => {
                    if let Some(seq) = seq {
                        history.record(seq, Some(topics), &frame);
                    }
                    self.topics.for_each(topics, |c| tally.push(c, &frame));
                }
                Target::Client(_) => {}
            }
            drop(history);
            if seq.is_some() {
                self.start_expiry();
            }
        }
        let c = &self.counters;
        bump(&c.published, 1);
        bump(&c.queued, tally.delivery.queued as u64);
        bump(&c.queued_bytes, (tally.delivery.queued * frame_len) as u64);
        bump(&c.dropped_oldest, tally.dropped_oldest);
        bump(&c.dropped_newest, tally.dropped_newest);
        bump(&c.disconnected_slow, tally.delivery.disconnected as u64);
        for (client, action) in &tally.slow {
            self.hooks.on_slow_client(client, *action);
            if *action == SlowClientAction::Disconnected {
                self.remove(client);
            }
        }
        Ok(tally.delivery)
    }

    fn change_topics(&self, id: &ClientId, topics: &[Topic], add: bool) -> Result<usize, Error> {
        // Under the publish lock, so a publish reaches a connection either before or
        // after the change, never halfway.
        let mut topics = topics.to_vec();
        topics.sort();
        topics.dedup();
        let _history = self.lock_publish();
        let mut clients = Vec::new();
        self.manager
            .for_each_with_id(id, &mut |c| clients.push(Arc::clone(c)));
        if clients.is_empty() {
            return Err(Error::NotConnected);
        }
        if add {
            for client in &clients {
                client.grants().check(&topics)?;
                let current = client.lock_topics();
                let new = topics.iter().filter(|t| !current.contains(t)).count();
                if current.len() + new > self.config.max_topics {
                    return Err(too_many_topics(self.config.max_topics));
                }
            }
        }
        for client in &clients {
            let mut current = client.lock_topics();
            if client.is_removed() {
                continue;
            }
            let changed: Vec<Topic> = topics
                .iter()
                .filter(|t| current.binary_search(t).is_ok() != add)
                .cloned()
                .collect();
            let mut next: Vec<Topic> = if add {
                self.topics.add(client, &changed);
                current.iter().chain(&changed).cloned().collect()
            } else {
                self.topics.remove(client, &changed);
                current
                    .iter()
                    .filter(|t| !changed.contains(t))
                    .cloned()
                    .collect()
            };
            next.sort();
            next.dedup();
            *current = next.into();
        }
        Ok(clients.len())
    }

    /// Takes the client out of the registry; the count left, for the one call that did.
    fn unregister(&self, client: &Arc<Client>) -> Option<usize> {
        if client.removed.swap(true, Ordering::AcqRel) {
            return None;
        }
        let count = self.manager.remove(client);
        self.topics.remove(client, &client.lock_topics());
        Some(count.unwrap_or_else(|| self.manager.active()))
    }

    fn removed_hook(&self, client: &Arc<Client>, count: usize) {
        bump(&self.counters.removed, 1);
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
