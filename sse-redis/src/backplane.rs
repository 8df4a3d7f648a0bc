//! The backplane: publishing into the shared stream, and the reader that delivers it.

use std::{fmt, sync::Arc};

use redis::{
    aio::{ConnectionManager, ConnectionManagerConfig, MultiplexedConnection},
    streams::{StreamId, StreamRangeReply, StreamReadReply},
    AsyncConnectionConfig, Client,
};
use sse_codec::Event;
use sse_core::{ClientId, EventSeq, Service, ServiceBuilder, Target, Topic};
use tokio::{sync::watch, time::timeout};

use crate::{
    counts::{self, ClusterCounts},
    health::{bump, Health},
    wire, Error, RedisOptions, Status,
};

/// Many server instances as one [`Service`], over a Redis stream.
///
/// Every message published through any instance's backplane is appended to one Redis
/// stream, `{prefix}:events` (`XADD ... MAXLEN ~ max_len`), and the stream entry's id
/// becomes the event's id. Each instance runs a reader that follows the stream
/// (`XREAD BLOCK`) and hands each entry, in stream order, to its service with
/// [`Service::deliver`]. So every instance delivers the same events with the same ids
/// in the same order, and records them in its history: a client may resume
/// with `Last-Event-ID` on any instance, with the service's usual exactly-once,
/// no-gap hand-off. This instance's own messages also reach its clients through the
/// reader, so the order is one everywhere.
///
/// At startup the newest [`history`](RedisOptions::history) entries are loaded into
/// the service before it serves, and the service's
/// [`origin`](ServiceBuilder::origin) is set to the entry just before them (or just
/// below the stream's first entry when it holds no more), so an id from before the
/// loaded history gets an `sse-reset` instead of a silent gap. Loaded events count
/// their replay age from startup.
///
/// Send-to-one messages go through the same stream (so they keep their order with
/// the rest); every instance reads them and the ones holding that client id deliver
/// them. They get no id and are not replayed.
///
/// # Faults
///
/// - **Publishing while Redis is down** fails with [`Error::Unavailable`] after at
///   most [`publish_timeout`](RedisOptions::publish_timeout): the message is *not*
///   queued and no other instance will ever get it. With
///   [`local_fallback`](RedisOptions::local_fallback) on (the default) it is still
///   delivered at once to this instance's matching clients, **without an id** (it is
///   not in the shared history, so it is not replayed and does not move anyone's
///   `Last-Event-ID`).
/// - **A publish that gets no answer in time** is ambiguous: Redis may have taken it.
///   Sent with [`send_once`](RedisBackplane::send_once), it fails with
///   [`Error::UnknownOutcome`], is not delivered locally (every instance delivers it
///   once if Redis took it), and can be retried with the same key without a second
///   copy. Sent otherwise, it counts as not taken: [`Error::Unavailable`] and the
///   local fallback, and if Redis took it after all, local clients see it twice.
/// - **Local delivery never stops**: connected clients stay connected and get
///   keep-alives and fallback messages, new clients connect and resume from the
///   local history.
/// - **The reader reconnects** with exponential [`backoff`](RedisOptions::backoff)
///   and continues from the last entry it handled, so entries that reached Redis
///   during the outage (from instances that could still reach it) are delivered
///   after reconnection, in order, unless `MAXLEN` trimmed them meanwhile. A Redis
///   that comes back empty (no persistence) numbers new entries from its clock, so
///   they still follow the old ids and the services' histories go on (unless its
///   clock went back).
/// - [`BackplaneHooks`](crate::BackplaneHooks) and [`Status`] report outages;
///   `tracing` logs them at `warn` and the recovery at `info`. Nothing panics.
///
/// # Examples
///
/// ```no_run
/// use sse_codec::Event;
/// use sse_core::{ConnectRequest, Service, Topic};
/// use sse_redis::{RedisBackplane, RedisOptions};
///
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// let backplane =
///     RedisBackplane::connect("redis://127.0.0.1/", &Service::builder(), RedisOptions::new())
///         .await?;
/// let service = backplane.service().clone(); // hand this to an adapter
/// let _stream = service.connect(ConnectRequest::new().topics(["news"]))?;
///
/// let id = backplane.publish(&Topic::new("news")?, Event::message("extra!")).await?;
/// println!("every instance sends it with id {id}");
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisBackplane {
    shared: Arc<Shared>,
}

struct Shared {
    service: Service,
    publisher: ConnectionManager,
    key: String,
    /// This instance's id among the instances, for its counts.
    node: String,
    options: RedisOptions,
    health: Arc<Health>,
    // Dropped with the last handle, which stops the reader.
    _stop: watch::Sender<()>,
}

impl fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("key", &self.shared.key)
            .field("status", &self.status())
            .field("service", &self.shared.service)
            .finish_non_exhaustive()
    }
}

impl RedisBackplane {
    /// Connects to Redis at `url`, loads the shared history, builds the service from
    /// `builder` (its [`origin`](ServiceBuilder::origin) is replaced by the start of
    /// that history) and starts the reader. Must run inside a Tokio runtime.
    ///
    /// The reader stops when the last clone of the backplane is dropped; the service
    /// goes on as a local one.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if the URL or an option is invalid, [`Error::Connect`] if
    /// Redis cannot be reached or read within
    /// [`connect_timeout`](RedisOptions::connect_timeout).
    pub async fn connect(
        url: &str,
        builder: &ServiceBuilder,
        options: RedisOptions,
    ) -> Result<Self, Error> {
        options.validate()?;
        let client = Client::open(url).map_err(|e| Error::Config(e.to_string()))?;
        let manager_config = ConnectionManagerConfig::new()
            .set_connection_timeout(options.connect_timeout)
            .set_response_timeout(options.publish_timeout)
            .set_number_of_retries(2)
            .set_max_delay(options.backoff.1.as_millis() as u64);
        let connect = client.get_connection_manager_with_config(manager_config);
        let mut publisher = timeout(options.connect_timeout, connect)
            .await
            .map_err(|_| Error::Connect("timed out".into()))?
            .map_err(|e| Error::Connect(e.to_string()))?;

        let key = options.stream_key();
        // One transaction, so no entry can slip between the clock and the history.
        let mut pipe = redis::pipe();
        pipe.atomic()
            .cmd("TIME")
            .cmd("XREVRANGE")
            .arg(&key)
            .arg("+")
            .arg("-")
            .arg("COUNT")
            .arg(options.history.saturating_add(1));
        let fetch = pipe.query_async::<((u64, u64), StreamRangeReply)>(&mut publisher);
        let ((secs, micros), range) = timeout(options.connect_timeout, fetch)
            .await
            .map_err(|_| Error::Connect("reading the history timed out".into()))?
            .map_err(|e| Error::Connect(e.to_string()))?;

        let mut entries: Vec<(EventSeq, StreamId)> = range
            .ids
            .into_iter()
            .filter_map(|e| e.id.parse().ok().map(|seq| (seq, e)))
            .collect();
        entries.reverse(); // oldest first
        let newest = entries.last().map(|(seq, _)| *seq);
        // One entry more than the history was read: a client that saw it has missed
        // exactly the history, so it is the origin. Without it, the stream is shorter
        // than the history and whatever came before its first entry is unknown.
        let origin = if entries.len() > options.history {
            entries.remove(0).0
        } else if let Some((oldest, _)) = entries.first() {
            before(*oldest)
        } else {
            // Every later entry id is at or above Redis's clock now.
            let now_ms = secs.saturating_mul(1000).saturating_add(micros / 1000);
            EventSeq::new(now_ms.saturating_sub(1), 0)
        };

        let mut builder = builder.clone();
        let service = builder.origin(origin).build();
        let health = Arc::new(Health::new(
            Arc::clone(&options.hooks),
            newest.unwrap_or(origin),
        ));
        for (seq, entry) in &entries {
            match wire::decode(&entry.map) {
                Ok((Target::Client(_), _)) => {}
                Ok((target, event)) => {
                    // A new service cannot be shutting down yet.
                    let _ = service.deliver(&target, Some(*seq), event);
                }
                Err(why) => {
                    bump(&health.malformed);
                    tracing::warn!(id = %seq, why, "skipping malformed stream entry");
                }
            }
        }
        tracing::info!(
            key,
            loaded = entries.len(),
            %origin,
            "redis backplane connected"
        );

        let (stop_tx, stop_rx) = watch::channel(());
        let reader = Reader {
            client,
            publisher: publisher.clone(),
            key: key.clone(),
            service: service.clone(),
            health: Arc::clone(&health),
            options: options.clone(),
            last: newest.unwrap_or(origin),
            stop: stop_rx,
        };
        tokio::spawn(reader.run());
        let node = counts::node_id();
        tokio::spawn(counts::heartbeat(
            publisher.clone(),
            service.clone(),
            options.prefix.clone(),
            node.clone(),
            options.heartbeat,
            stop_tx.subscribe(),
        ));

        Ok(RedisBackplane {
            shared: Arc::new(Shared {
                service,
                publisher,
                key,
                node,
                options,
                health,
                _stop: stop_tx,
            }),
        })
    }

    /// The service this backplane feeds; give it (or a clone) to an adapter. Publish
    /// through the backplane, not through the service's own publish methods: their
    /// local ids would not be global.
    pub fn service(&self) -> &Service {
        &self.shared.service
    }

    /// The key of the shared stream.
    pub fn stream_key(&self) -> &str {
        &self.shared.key
    }

    /// Connections and topic subscribers over every live instance of this service
    /// (see [`ClusterCounts`] for how fresh they are).
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] if Redis could not be read (`local` is `None`).
    pub async fn cluster_counts(&self) -> Result<ClusterCounts, Error> {
        let shared = &*self.shared;
        let mut conn = shared.publisher.clone();
        let read = counts::read(&mut conn, &shared.options.prefix, shared.options.heartbeat);
        let reason = match timeout(shared.options.publish_timeout, read).await {
            Ok(Ok(counts)) => return Ok(counts),
            Ok(Err(reason)) => reason,
            Err(_) => format!("no answer within {:?}", shared.options.publish_timeout),
        };
        Err(Error::Unavailable {
            reason,
            local: None,
        })
    }

    /// This instance's id in [`cluster_counts`](Self::cluster_counts)' keys
    /// (`{prefix}:node:{id}`): random, new at each connect.
    pub fn instance_id(&self) -> &str {
        &self.shared.node
    }

    /// The link's state and counters.
    pub fn status(&self) -> Status {
        self.shared.health.snapshot()
    }

    /// Sends `event` to every client of every instance. Any id it had is replaced by
    /// the global one, which is returned.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] if Redis did not take it (see the type's "Faults").
    pub async fn broadcast(&self, event: Event) -> Result<EventSeq, Error> {
        self.send(Target::All, event).await
    }

    /// Sends `event` to the subscribers of `topic` on every instance.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] if Redis did not take it.
    pub async fn publish(&self, topic: &Topic, event: Event) -> Result<EventSeq, Error> {
        self.send(Target::Topics(vec![topic.clone()]), event).await
    }

    /// Sends `event` to the subscribers of any of `topics` on every instance, once
    /// each.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] if Redis did not take it.
    pub async fn publish_many(&self, topics: &[Topic], event: Event) -> Result<EventSeq, Error> {
        self.send(Target::Topics(topics.to_vec()), event).await
    }

    /// Sends `event` to every connection of client `id`, on whichever instances hold
    /// it. The event keeps its own id (if any) and is not replayed, as with
    /// [`Service::send_to`].
    ///
    /// Returns the stream entry's id once Redis has the message. Redis does not know
    /// which instance holds which client, so a message for a client connected nowhere
    /// is accepted too and then dropped by every instance: `Ok` means "sent", not
    /// "received". Use [`Service::client`] to check this instance alone.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] if Redis did not take it; the local fallback then
    /// reaches the client only if it is connected here.
    pub async fn send_to(&self, id: &ClientId, event: Event) -> Result<EventSeq, Error> {
        self.send(Target::Client(id.clone()), event).await
    }

    /// Sends `event` to `target` at most once for `key`: a retry with the same key
    /// within [`once_ttl`](RedisOptions::once_ttl) (after
    /// [`Error::UnknownOutcome`], say) returns the id the first send got, and sends
    /// nothing. Choose the key where the message is made (a request id, an
    /// idempotency key your own client sent).
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] if Redis did not take it; [`Error::UnknownOutcome`] if
    /// it did not answer in time.
    pub async fn send_once(
        &self,
        target: &Target,
        event: Event,
        key: &str,
    ) -> Result<EventSeq, Error> {
        self.send_with(target.clone(), event, Some(key)).await
    }

    async fn send(&self, target: Target, event: Event) -> Result<EventSeq, Error> {
        self.send_with(target, event, None).await
    }

    async fn send_with(
        &self,
        target: Target,
        event: Event,
        key: Option<&str>,
    ) -> Result<EventSeq, Error> {
        let shared = &*self.shared;
        let fields = wire::encode(&target, &event);
        let mut cmd = match key {
            None => {
                let mut cmd = redis::cmd("XADD");
                cmd.arg(&shared.key)
                    .arg("MAXLEN")
                    .arg("~")
                    .arg(shared.options.max_len)
                    .arg("*");
                cmd
            }
            Some(key) => {
                let mut cmd = redis::cmd("EVAL");
                cmd.arg(SEND_ONCE)
                    .arg(2)
                    .arg(&shared.key)
                    .arg(format!("{}:once:{key}", shared.options.prefix))
                    .arg(shared.options.max_len)
                    .arg(shared.options.once_ttl.as_millis() as u64);
                cmd
            }
        };
        for (name, value) in fields {
            cmd.arg(name).arg(value);
        }
        let mut conn = shared.publisher.clone();
        let added = timeout(
            shared.options.publish_timeout,
            cmd.query_async::<redis::Value>(&mut conn),
        )
        .await;
        let reason = match added {
            Ok(Ok(reply)) => {
                let id = entry_id(reply);
                match id.as_deref().map(str::parse::<EventSeq>) {
                    Some(Ok(seq)) => {
                        bump(&shared.health.published);
                        return Ok(seq);
                    }
                    // Redis took it, but the reader will skip it as malformed too.
                    _ => {
                        return Err(Error::Unavailable {
                            reason: format!("unexpected stream entry id {id:?}"),
                            local: None,
                        })
                    }
                }
            }
            // A keyed send that got no answer may have been taken: no local copy,
            // which could be a second one; its sender retries with the key.
            Ok(Err(e)) if key.is_some() && e.is_timeout() => return Err(self.unknown(&e)),
            Err(_) if key.is_some() => {
                let why = format!("no answer within {:?}", shared.options.publish_timeout);
                return Err(self.unknown(&why));
            }
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {:?}", shared.options.publish_timeout),
        };
        shared.health.down(&reason);
        bump(&shared.health.publish_errors);
        let local = shared.options.local_fallback.then(|| {
            bump(&shared.health.local_fallbacks);
            deliver_locally(&shared.service, &target, &event)
        });
        Err(Error::Unavailable { reason, local })
    }
}

impl RedisBackplane {
    /// Counts a send whose outcome is unknown, and makes its error.
    fn unknown(&self, why: &dyn fmt::Display) -> Error {
        let reason = why.to_string();
        self.shared.health.down(&reason);
        bump(&self.shared.health.publish_errors);
        Error::UnknownOutcome { reason }
    }
}

/// Adds an entry unless `KEYS[2]` names one added already: `KEYS[1]` the stream,
/// `KEYS[2]` the message's key; `ARGV[1]` the stream's bound, `ARGV[2]` how long the
/// key is kept (ms), then the entry's fields. Returns the entry's id (the first one,
/// for a key seen before). One script, so no retry can slip between the check and
/// the add.
const SEND_ONCE: &str = r"
local seen = redis.call('GET', KEYS[2])
if seen then return seen end
local add = {'XADD', KEYS[1], 'MAXLEN', '~', ARGV[1], '*'}
for i = 3, #ARGV do add[#add + 1] = ARGV[i] end
local id = redis.call(unpack(add))
redis.call('SET', KEYS[2], id, 'PX', ARGV[2])
return id
";

/// The entry id in an `XADD` or script reply.
fn entry_id(reply: redis::Value) -> Option<String> {
    match reply {
        redis::Value::BulkString(bytes) => String::from_utf8(bytes).ok(),
        redis::Value::SimpleString(text) => Some(text),
        _ => None,
    }
}

/// Delivers an event to this instance's matching clients without an id, through
/// the service's send-to-one path (the only one that neither numbers nor records).
/// A client id with several connections gets it on each, once.
fn deliver_locally(service: &Service, target: &Target, event: &Event) -> usize {
    let event = match target {
        Target::Client(_) => event.clone(),
        _ => wire::without_id(event),
    };
    let mut ids: Vec<ClientId> = match target {
        Target::Client(id) => vec![id.clone()],
        Target::Topics(topics) => service
            .clients()
            .iter()
            .filter(|c| topics.iter().any(|t| c.is_subscribed(t)))
            .map(|c| c.id().clone())
            .collect(),
        _ => service.clients().iter().map(|c| c.id().clone()).collect(),
    };
    ids.sort();
    ids.dedup();
    ids.iter()
        .filter_map(|id| service.send_to(id, event.clone()).ok())
        .map(|d| d.queued)
        .sum()
}

/// The id just below `seq`: every id above it is at or above `seq`.
fn before(seq: EventSeq) -> EventSeq {
    match seq.seq() {
        0 => EventSeq::new(seq.epoch().saturating_sub(1), u64::MAX),
        n => EventSeq::new(seq.epoch(), n - 1),
    }
}

/// Follows the stream and delivers each entry to the service, in order.
struct Reader {
    client: Client,
    /// The publishers' connection, checked before the link is reported up again.
    publisher: ConnectionManager,
    key: String,
    service: Service,
    health: Arc<Health>,
    options: RedisOptions,
    last: EventSeq,
    stop: watch::Receiver<()>,
}

impl Reader {
    async fn run(mut self) {
        let (min, max) = self.options.backoff;
        let mut delay = min;
        let mut failed = false;
        let mut conn: Option<MultiplexedConnection> = None;
        let block_ms = self.options.block.as_millis().max(1) as u64;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(self.options.connect_timeout)
            .set_response_timeout(self.options.block + self.options.connect_timeout);
        loop {
            let result = match conn.as_mut() {
                Some(c) => {
                    let mut cmd = redis::cmd("XREAD");
                    cmd.arg("COUNT")
                        .arg(self.options.read_batch)
                        .arg("BLOCK")
                        .arg(block_ms)
                        .arg("STREAMS")
                        .arg(&self.key)
                        .arg(self.last.to_string());
                    tokio::select! {
                        r = cmd.query_async::<Option<StreamReadReply>>(c) => {
                            r.map(Some).map_err(|e| e.to_string())
                        }
                        _ = self.stop.changed() => return,
                    }
                }
                None => {
                    let attempt = self
                        .client
                        .get_multiplexed_async_connection_with_config(&config);
                    tokio::select! {
                        r = timeout(self.options.connect_timeout, attempt) => match r {
                            Ok(Ok(c)) => {
                                if failed {
                                    bump(&self.health.reconnects);
                                }
                                conn = Some(c);
                                Ok(None)
                            }
                            Ok(Err(e)) => Err(e.to_string()),
                            Err(_) => Err("connect timed out".to_owned()),
                        },
                        _ = self.stop.changed() => return,
                    }
                }
            };
            match result {
                Ok(None) => {}
                Ok(Some(reply)) => {
                    failed = false;
                    delay = min;
                    for entry in reply.into_iter().flat_map(|r| r.keys).flat_map(|k| k.ids) {
                        self.handle(entry);
                    }
                    if !self.health.is_up() && self.publisher_works().await {
                        self.health.up();
                    }
                }
                Err(reason) => {
                    conn = None;
                    failed = true;
                    self.health.down(&reason);
                    tracing::debug!(%reason, ?delay, "redis backplane reader retrying");
                    tokio::select! {
                        () = tokio::time::sleep(delay) => {}
                        _ = self.stop.changed() => return,
                    }
                    delay = (delay * 2).min(max);
                }
            }
        }
    }

    /// Whether the publishers' connection answers. The connection manager reconnects
    /// only when a command finds its connection broken, so this also makes it
    /// reconnect now rather than on the next publish, which would then fail.
    async fn publisher_works(&mut self) -> bool {
        let cmd = redis::cmd("PING");
        for _ in 0..3 {
            let ping = cmd.query_async::<String>(&mut self.publisher);
            if let Ok(Ok(_)) = timeout(self.options.publish_timeout, ping).await {
                return true;
            }
        }
        false
    }

    fn handle(&mut self, entry: StreamId) {
        let Ok(seq) = entry.id.parse::<EventSeq>() else {
            bump(&self.health.malformed);
            tracing::warn!(id = entry.id, "skipping stream entry with a foreign id");
            return;
        };
        match wire::decode(&entry.map) {
            // Refused only while this instance shuts down: its clients are leaving.
            Ok((target @ Target::Client(_), event)) => {
                let _ = self.service.deliver(&target, None, event);
            }
            Ok((target, event)) => {
                let _ = self.service.deliver(&target, Some(seq), event);
            }
            Err(why) => {
                bump(&self.health.malformed);
                tracing::warn!(id = %seq, why, "skipping malformed stream entry");
            }
        }
        self.last = self.last.max(seq);
        self.health.set_last_id(self.last);
        bump(&self.health.received);
    }
}
