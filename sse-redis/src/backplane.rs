//! The backplane: connecting to the shards, publishing into the partitions' logs and
//! channels, and the handle users hold.

use std::{
    collections::{BTreeMap, HashSet},
    fmt,
    sync::{
        atomic::{AtomicI64, AtomicU64, Ordering::Relaxed},
        Arc,
    },
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use futures::future::join_all;
use redis::{
    aio::{ConnectionManager, ConnectionManagerConfig},
    Client, ConnectionInfo, IntoConnectionInfo, Script,
};
use sse_codec::Event;
use sse_core::{ClientId, EventSeq, Service, ServiceBuilder, Target, Topic};
use tokio::{
    sync::{mpsc, oneshot, watch},
    time::timeout,
};

use crate::{
    batch,
    conn::Conn,
    counts::{self, ClusterCounts},
    cut::Cut,
    feed::{self, Source},
    health::{bump, Health},
    message,
    node::Node,
    partition::{Layout, Partition},
    resume::LogSource,
    shard::{read_ends, Command, Subscriber},
    subscriptions::{Listener, Subscriptions},
    Error, RedisOptions, Status,
};

/// Many server instances as one [`Service`], over Redis: interest-routed,
/// partitioned, with the history in Redis and resume on any instance.
///
/// # How it works
///
/// - **Partitions.** Topics and client ids hash onto a fixed number of
///   [`partitions`](RedisOptions::partitions) (broadcasts have their own). Each
///   partition has a log, a Redis stream `{prefix:P}:log` capped by
///   [`max_len`](RedisOptions::max_len) and [`max_age`](RedisOptions::max_age), and
///   channels under the same hash tag. Partitions spread over the shards given to
///   [`connect_shards`](Self::connect_shards) (partition `P` on shard `P mod n`), or
///   over the nodes of a Redis Cluster with
///   [`connect_cluster`](Self::connect_cluster) (each partition in its slot).
/// - **Publishing** runs one script on the partition's shard: it appends the event
///   to the log and publishes it on each of its topics' channels (`{prefix:P}:t:T`)
///   or the broadcast channel, with the log entry's id. Concurrent publishes share
///   one pipelined connection per shard.
/// - **Interest routing.** An instance subscribes to the channel of a topic while it
///   has a local reader of it, and to the channel of a client id while that client is
///   connected here (from the service's
///   [`InterestListener`](sse_core::InterestListener)), so it receives broadcasts,
///   its topics and its clients' direct messages, nothing else. A channel stays
///   subscribed for [`unsubscribe_delay`](RedisOptions::unsubscribe_delay) after
///   its last reader leaves.
/// - **Ids.** An instance delivers the events of all its partitions in one order.
///   Each event's id is the instance's position in every partition's log (its
///   "cut", `2.BASE;P:MS-SEQ,...`, at most 256 bytes), the same for every recipient,
///   so each event is still encoded once.
/// - **Resume on any instance.** A client that sends `Last-Event-ID`, or reads a
///   channel this instance has not subscribed to yet, is held (it gets no event)
///   while the instance subscribes and catches up with the logs, then released at
///   the instance's positions; its stream starts with the events of its topics
///   between its id and those positions, read from the logs. Every event reaches it
///   once, in each partition's order, with no gap at the hand-off: also on an
///   instance that never saw its topics, and on one whose live feed is behind. A
///   position older than a log still holds gives `sse-reset` `too-old` before what
///   is held; an id of another format gives `sse-reset` `unknown`.
///
/// # Faults
///
/// - **A shard that goes away** degrades only its partitions. Publishing to them
///   fails with [`Error::Unavailable`] after at most
///   [`publish_timeout`](RedisOptions::publish_timeout); with
///   [`local_fallback`](RedisOptions::local_fallback) on (the default) the event is
///   still delivered at once to this instance's readers, **without an id** (it is in
///   no log, so it is not replayed and moves nobody's `Last-Event-ID`).
/// - **A publish that gets no answer in time** may have been taken. Sent with
///   [`send_once`](Self::send_once), it fails with [`Error::UnknownOutcome`], is not
///   delivered locally, and can be retried with the same key without a second copy.
///   Sent otherwise, it counts as not taken ([`Error::Unavailable`] and the local
///   fallback), and if Redis took it after all, local readers see it twice.
/// - **The subscriber of a shard reconnects** with exponential
///   [`backoff`](RedisOptions::backoff), subscribes again to what is wanted, and
///   reads from the logs what was published meanwhile before it delivers anything
///   newer: nothing Redis took is lost to a connected client, unless the logs'
///   bounds dropped it first. A silent link is found by a `PING` every
///   [`ping_interval`](RedisOptions::ping_interval).
/// - **Clients connecting during an outage** are held for at most
///   [`connect_timeout`](RedisOptions::connect_timeout), then get `sse-reset`
///   `unavailable` without an id, and their stream ends: they come back with the id
///   they had.
/// - [`BackplaneHooks`](crate::BackplaneHooks) and [`Status`] report outages;
///   `tracing` logs them. Nothing panics.
///
/// # Limits
///
/// Add topics to a connected client with [`subscribe`](Self::subscribe), not the
/// service's own: the service's takes effect in Redis a round trip later, so events
/// published meanwhile on other instances miss the client. `docs/redis.md` lists the
/// other limits.
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
/// backplane.publish(&Topic::new("news")?, Event::message("extra!")).await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct RedisBackplane {
    pub(crate) shared: Arc<Shared>,
}

/// What the backplane, its resume source and its clients' streams share.
pub(crate) struct Shared {
    pub(crate) node: Arc<Node>,
    pub(crate) layout: Layout,
    pub(crate) options: RedisOptions,
    pub(crate) shards: Vec<ShardLink>,
    pub(crate) subscriptions: Arc<Subscriptions>,
    /// Per partition, the clock of the server that holds it.
    pub(crate) clocks: Arc<[Arc<Clock>]>,
    /// Per partition, its log, and the queue of its batched publishes.
    logs: Vec<(Arc<batch::Target>, mpsc::Sender<batch::Entry>)>,
    /// This instance's id among the instances, for its counts.
    instance: String,
    // Dropped with the last handle, which stops the tasks.
    _stop: watch::Sender<()>,
}

/// One shard: its connections and its subscriber's queue.
pub(crate) struct ShardLink {
    /// For publishing.
    pub(crate) conn: Conn,
    /// For reading the logs: apart, so that a publish Redis holds back (a pause, a
    /// slow script) does not hold a resuming client's reads behind it.
    pub(crate) reader: Conn,
    pub(crate) commands: mpsc::UnboundedSender<Command>,
}

/// A shard's connections, made before the backplane starts.
struct Setup {
    source: Source,
    conn: Conn,
    reader: Conn,
}

impl fmt::Debug for RedisBackplane {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisBackplane")
            .field("instance", &self.shared.instance)
            .field("shards", &self.shared.shards.len())
            .field("status", &self.status())
            .finish_non_exhaustive()
    }
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared")
            .field("instance", &self.instance)
            .finish_non_exhaustive()
    }
}

impl RedisBackplane {
    /// Connects to one Redis at `url`, which holds every partition; see
    /// [`connect_shards`](Self::connect_shards).
    ///
    /// # Errors
    ///
    /// As [`connect_shards`](Self::connect_shards).
    pub async fn connect(
        url: &str,
        builder: &ServiceBuilder,
        options: RedisOptions,
    ) -> Result<Self, Error> {
        Self::connect_shards(&[url], builder, options).await
    }

    /// Connects to independent Redis servers, one per shard (partition `P` lives on
    /// `urls[P mod n]`; every instance must list them in the same order), builds the
    /// service from `builder` and starts a subscriber per shard. Returns once every
    /// shard is subscribed and caught up. Must run inside a Tokio runtime.
    ///
    /// The tasks stop when the last clone of the backplane is dropped; the service
    /// goes on as a local one.
    ///
    /// # Errors
    ///
    /// [`Error::Config`] if a URL or an option is invalid, [`Error::Connect`] if a
    /// shard cannot be reached within
    /// [`connect_timeout`](RedisOptions::connect_timeout).
    pub async fn connect_shards(
        urls: &[&str],
        builder: &ServiceBuilder,
        options: RedisOptions,
    ) -> Result<Self, Error> {
        options.validate()?;
        if urls.is_empty() || urls.len() > 64 {
            return Err(Error::Config("between 1 and 64 shards".into()));
        }
        let mut setups = Vec::new();
        for url in urls {
            let client = Client::open(*url).map_err(|e| Error::Config(e.to_string()))?;
            let conn = Conn::Single(connect_manager(&client, &options).await?);
            let reader = Conn::Single(connect_manager(&client, &options).await?);
            setups.push(Setup {
                source: Source::Server(client),
                conn,
                reader,
            });
        }
        Self::start(setups, builder, options).await
    }

    /// Connects to a Redis Cluster through some of its nodes (`seeds`, such as
    /// `redis://10.0.0.1:6379`; the client finds the others), builds the service from
    /// `builder` and starts the subscriber. Returns once it is subscribed and caught
    /// up. Must run inside a Tokio runtime.
    ///
    /// Each partition's keys and channels share a hash tag, so a partition lives in
    /// one slot: its script runs on the node that holds it, and its channels use
    /// sharded PUB/SUB (`SPUBLISH`, `SSUBSCRIBE`), so a message reaches only that
    /// node and the instances subscribed there, never the whole cluster. Requests
    /// follow `MOVED` and `ASK` redirections. When a node fails, the subscriber
    /// connects again (with [`backoff`](RedisOptions::backoff)) once the cluster has
    /// a node for every slot, and reads from the logs what was published meanwhile;
    /// with [`replicas`](RedisOptions::replicas), what a publish returned is on
    /// replicas too, so a failover does not lose it.
    ///
    /// # Errors
    ///
    /// As [`connect_shards`](Self::connect_shards).
    pub async fn connect_cluster(
        seeds: &[&str],
        builder: &ServiceBuilder,
        options: RedisOptions,
    ) -> Result<Self, Error> {
        options.validate()?;
        if seeds.is_empty() {
            return Err(Error::Config(
                "a cluster needs at least one seed node".into(),
            ));
        }
        let seeds = seeds
            .iter()
            .map(|seed| seed.into_connection_info())
            .collect::<Result<Vec<ConnectionInfo>, _>>()
            .map_err(|e| Error::Config(e.to_string()))?;
        let client = feed::cluster_builder(&seeds, &options)
            .build()
            .map_err(|e| Error::Config(e.to_string()))?;
        let conn = Conn::Cluster(connected(&options, client.get_async_connection()).await?);
        let reader = Conn::Cluster(connected(&options, client.get_async_connection()).await?);
        let setup = Setup {
            source: Source::Cluster(seeds),
            conn,
            reader,
        };
        Self::start(vec![setup], builder, options).await
    }

    /// Starts the backplane over its shards.
    async fn start(
        setups: Vec<Setup>,
        builder: &ServiceBuilder,
        options: RedisOptions,
    ) -> Result<Self, Error> {
        let layout = Layout::new(&options.prefix, options.partitions, setups.len());
        let clocks: Arc<[Arc<Clock>]> = layout.all().map(|_| Arc::default()).collect();
        let mut links = Vec::new();
        let mut sources = Vec::new();
        let mut receivers = Vec::new();
        for (index, setup) in setups.into_iter().enumerate() {
            load_scripts(&setup.conn, options.connect_timeout).await?;
            let mine = layout.of_shard(index);
            read_ends(
                &setup.conn,
                &layout,
                &clocks,
                &mine,
                options.connect_timeout,
            )
            .await
            .map_err(Error::Connect)?;
            let (commands, rx) = mpsc::unbounded_channel();
            sources.push(setup.source);
            receivers.push(rx);
            links.push(ShardLink {
                conn: setup.conn,
                reader: setup.reader,
                commands,
            });
        }
        // Every partition starts just before now, by its server's clock: what its log
        // holds is history.
        let start = Cut(layout
            .all()
            .map(|p| {
                let now = clocks[usize::from(p)].now_ms();
                EventSeq::new(now.saturating_sub(1), 0)
            })
            .collect());
        let subscriptions = Arc::new(Subscriptions::default());
        subscriptions.want(&layout.broadcast_channel(), true);
        let health = Arc::new(Health::new(Arc::clone(&options.hooks)));
        let logs = layout
            .all()
            .map(|p| {
                let target = Arc::new(batch::Target {
                    conn: links[layout.shard(p)].conn.clone(),
                    log: layout.log(p),
                    meta: layout.meta(p),
                    marks: layout.marks(p),
                    bounds: (
                        options.max_len,
                        (options.max_len / 16).max(1),
                        options.max_age.as_millis() as u64,
                    ),
                    deadline: options.publish_timeout,
                    replicas: options.replicas,
                });
                let (tx, rx) = mpsc::channel(batch::QUEUE);
                tokio::spawn(batch::run(rx, Arc::clone(&target)));
                (target, tx)
            })
            .collect();
        let (stop_tx, stop_rx) = watch::channel(());
        let listener = Listener {
            layout: layout.clone(),
            subscriptions: Arc::clone(&subscriptions),
            shards: links.iter().map(|l| l.commands.clone()).collect(),
        };
        let shared = Arc::new_cyclic(|me| {
            let mut builder = builder.clone();
            let service = builder
                .interest_listener(listener)
                .resume_source(LogSource(me.clone()))
                .build();
            Shared {
                node: Arc::new(Node::new(layout.clone(), service, health, start)),
                layout: layout.clone(),
                options: options.clone(),
                shards: links,
                subscriptions: Arc::clone(&subscriptions),
                clocks,
                logs,
                instance: counts::node_id(),
                _stop: stop_tx,
            }
        });
        for (index, (source, commands)) in sources.into_iter().zip(receivers).enumerate() {
            let mut wanted = HashSet::new();
            if layout.shard(layout.broadcast()) == index {
                wanted.insert(layout.broadcast_channel());
            }
            tokio::spawn(
                Subscriber {
                    index,
                    source,
                    conn: shared.shards[index].reader.clone(),
                    node: Arc::clone(&shared.node),
                    subscriptions: Arc::clone(&subscriptions),
                    options: options.clone(),
                    commands,
                    stop: stop_rx.clone(),
                    wanted,
                    clocks: Arc::clone(&shared.clocks),
                }
                .run(),
            );
        }
        tokio::spawn(counts::heartbeat(
            shared.shards[0].conn.clone(),
            shared.node.service.clone(),
            options.prefix.clone(),
            shared.instance.clone(),
            options.heartbeat,
            stop_rx,
        ));
        let backplane = RedisBackplane { shared };
        backplane.ready().await?;
        tracing::info!(
            shards = backplane.shared.shards.len(),
            "redis backplane connected"
        );
        Ok(backplane)
    }

    /// Waits until every shard's subscriber is connected and caught up.
    async fn ready(&self) -> Result<(), Error> {
        let all: Vec<Partition> = self.shared.layout.all().collect();
        if self.shared.caught_up(&all, &[]).await {
            Ok(())
        } else {
            Err(Error::Connect(
                "the subscribers did not start in time".into(),
            ))
        }
    }

    /// The service this backplane feeds; give it (or a clone) to an adapter. Publish
    /// through the backplane, not through the service's own publish methods, which
    /// reach this instance's clients only.
    pub fn service(&self) -> &Service {
        &self.shared.node.service
    }

    /// Connections and topic subscribers over every live instance of this service
    /// (see [`ClusterCounts`] for how fresh they are).
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] if Redis could not be read (`local` is `None`).
    pub async fn cluster_counts(&self) -> Result<ClusterCounts, Error> {
        let shared = &*self.shared;
        let mut conn = shared.shards[0].conn.clone();
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
    /// (`{prefix:n}:node:{id}`): random, new at each connect.
    pub fn instance_id(&self) -> &str {
        &self.shared.instance
    }

    /// The links' state and counters.
    pub fn status(&self) -> Status {
        self.shared.status()
    }

    /// Sends `event` to every client of every instance. Any id it had is replaced.
    /// Returns the event's position in the broadcast log.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] if Redis did not take it (see the type's "Faults").
    pub async fn broadcast(&self, event: Event) -> Result<EventSeq, Error> {
        self.logged(None, &event, None).await
    }

    /// Sends `event` to the subscribers of `topic` on every instance. Returns its
    /// position in the topic's partition's log.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] if Redis did not take it.
    pub async fn publish(&self, topic: &Topic, event: Event) -> Result<EventSeq, Error> {
        self.logged(Some(std::slice::from_ref(topic)), &event, None)
            .await
    }

    /// Sends `event` to the subscribers of any of `topics` on every instance, once
    /// each. Topics of several partitions write it to each partition's log in turn; a
    /// client reading topics of several gets it once, from the first that took it.
    /// Returns its position in the first topic's partition's log.
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] if Redis did not take it (in any of the partitions:
    /// those that did deliver it).
    pub async fn publish_many(&self, topics: &[Topic], event: Event) -> Result<EventSeq, Error> {
        self.logged(Some(topics), &event, None).await
    }

    /// Sends `event` to every connection of client `id`, on whichever instances hold
    /// it, through its channel: only those instances receive it. The event keeps its
    /// own id (if any) and is not logged, as with [`Service::send_to`]. Returns the
    /// number of instances that received it (0: the client is connected nowhere).
    ///
    /// # Errors
    ///
    /// [`Error::Unavailable`] if Redis did not take it; the local fallback then
    /// reaches the client only if it is connected here.
    pub async fn send_to(&self, id: &ClientId, event: Event) -> Result<usize, Error> {
        self.direct(id, &event, None).await
    }

    /// Subscribes every connection of client `id` on this instance to `topics`, as
    /// [`Service::subscribe`] does, once this instance's subscriptions to them are in
    /// place in Redis and caught up: every event of them published after this
    /// returns reaches those connections, wherever it was published. (The service's
    /// own `subscribe` takes effect here at once, and in Redis a round trip later.)
    /// Returns the number of connections.
    ///
    /// # Errors
    ///
    /// [`Error::Service`] with what [`Service::subscribe`] refused.
    /// [`Error::Unavailable`] if Redis could not be reached within
    /// [`connect_timeout`](RedisOptions::connect_timeout): the connections are
    /// subscribed here (`local` counts them), and get what is published elsewhere
    /// once Redis is back.
    pub async fn subscribe(&self, id: &ClientId, topics: &[Topic]) -> Result<usize, Error> {
        let shared = &*self.shared;
        let layout = &shared.layout;
        let channels: Vec<(String, Partition)> = topics
            .iter()
            .map(|t| {
                let p = layout.of_topic(t);
                (layout.topic_channel(p, t), p)
            })
            .collect();
        let command = |p: Partition, command: Command| {
            // The subscriber ends only with the backplane.
            let _ = shared.shards[layout.shard(p)].commands.send(command);
        };
        for (channel, p) in &channels {
            if shared.subscriptions.pin(channel) {
                command(*p, Command::Subscribe(channel.clone()));
            }
        }
        let partitions: Vec<Partition> = channels.iter().map(|(_, p)| *p).collect();
        let ready = shared.caught_up(&partitions, &[]).await;
        let subscribed = shared.node.service.subscribe(id, topics);
        for (channel, p) in &channels {
            if shared.subscriptions.unpin(channel) {
                command(*p, Command::Unsubscribe(channel.clone()));
            }
        }
        let connections = subscribed.map_err(Error::Service)?;
        match ready {
            true => Ok(connections),
            false => Err(Error::Unavailable {
                reason: "the subscriptions were not in place in time".into(),
                local: Some(connections),
            }),
        }
    }

    /// Unsubscribes every connection of client `id` on this instance from `topics`,
    /// as [`Service::unsubscribe`] does. Returns the number of connections.
    ///
    /// # Errors
    ///
    /// [`Error::Service`] with what [`Service::unsubscribe`] refused.
    pub fn unsubscribe(&self, id: &ClientId, topics: &[Topic]) -> Result<usize, Error> {
        (self.shared.node.service)
            .unsubscribe(id, topics)
            .map_err(Error::Service)
    }

    /// Sends `event` to `target` at most once for `key`: a retry with the same key
    /// within [`once_ttl`](RedisOptions::once_ttl) (after
    /// [`Error::UnknownOutcome`], say) sends nothing more. Returns the position the
    /// first send got in its log (`None` for a direct message, which is not logged).
    /// Choose the key where the message is made (a request id, an idempotency key your
    /// own client sent).
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
    ) -> Result<Option<EventSeq>, Error> {
        match target {
            Target::Client(id) => self.direct(id, &event, Some(key)).await.map(|_| None),
            Target::Topics(topics) => self.logged(Some(topics), &event, Some(key)).await.map(Some),
            _ => self.logged(None, &event, Some(key)).await.map(Some),
        }
    }

    /// Appends `event` to the logs of its partitions (the broadcast one for `None`)
    /// and publishes it on its channels.
    async fn logged(
        &self,
        topics: Option<&[Topic]>,
        event: &Event,
        key: Option<&str>,
    ) -> Result<EventSeq, Error> {
        let shared = &*self.shared;
        let layout = &shared.layout;
        let frame = message::logged_frame(event);
        let parts: Vec<(Partition, Vec<Topic>)> = match topics {
            None => vec![(layout.broadcast(), Vec::new())],
            Some([topic]) => vec![(layout.of_topic(topic), vec![topic.clone()])],
            Some(topics) => {
                let mut parts: BTreeMap<Partition, Vec<Topic>> = BTreeMap::new();
                for topic in topics {
                    let topics = parts.entry(layout.of_topic(topic)).or_default();
                    if !topics.contains(topic) {
                        topics.push(topic.clone());
                    }
                }
                parts.into_iter().collect()
            }
        };
        let first = topics
            .and_then(|t| t.first())
            .map_or(layout.broadcast(), |t| layout.of_topic(t));
        // Partition after partition, each entry naming the topics of those that took
        // it before: their readers get it there, and only there.
        let mut failed = Vec::new();
        let mut position = None;
        let mut error = None;
        let mut taken: Vec<Topic> = Vec::new();
        for (p, topics) in &parts {
            let p = *p;
            let channels: Vec<String> = if topics.is_empty() {
                vec![layout.broadcast_channel()]
            } else {
                topics.iter().map(|t| layout.topic_channel(p, t)).collect()
            };
            let message = batch::Message {
                record: message::record(topics, &taken, &frame),
                channels,
            };
            match self.append(p, message, key).await {
                Ok(pos) => {
                    bump(&shared.node.health.published);
                    taken.extend(topics.iter().cloned());
                    if p == first {
                        position = Some(pos);
                    }
                }
                Err(e) => {
                    failed.push((p, topics, taken.clone()));
                    error = Some(e);
                }
            }
        }
        let Some(error) = error else {
            return position.ok_or_else(|| Error::Unavailable {
                reason: "no partition answered".into(),
                local: None,
            });
        };
        if key.is_some() && matches!(error, Error::UnknownOutcome { .. }) {
            return Err(error);
        }
        let Error::Unavailable { reason, .. } = error else {
            return Err(error);
        };
        let local = shared.options.local_fallback.then(|| {
            bump(&shared.node.health.local_fallbacks);
            failed
                .iter()
                .map(|(_, topics, taken)| {
                    let target = if topics.is_empty() {
                        Target::All
                    } else {
                        Target::Topics(topics.to_vec())
                    };
                    shared.node.deliver_locally(&target, &frame, taken)
                })
                .sum()
        });
        Err(Error::Unavailable { reason, local })
    }

    /// Runs the publish script on partition `p`'s shard; the entry's id.
    async fn append(
        &self,
        p: Partition,
        message: batch::Message,
        key: Option<&str>,
    ) -> Result<EventSeq, Error> {
        let shared = &*self.shared;
        let layout = &shared.layout;
        let options = &shared.options;
        let Some(key) = key else {
            return self.append_batched(p, message).await;
        };
        let record = layout.once(p, key);
        let ttl = options.once_ttl.as_millis().max(1) as u64;
        let target = &shared.logs[usize::from(p)].0;
        let messages = [&message];
        let appended = batch::append(target, &messages, Some((&record, ttl)));
        let reply = timeout(options.publish_timeout, appended).await;
        let reason = match reply {
            Ok(Ok(positions)) => {
                shared.node.health.up(layout.shard(p));
                let Some(pos) = positions.into_iter().next().flatten() else {
                    return Err(Error::Unavailable {
                        reason: "unexpected reply from the publish script".into(),
                        local: None,
                    });
                };
                return match batch::replicated(target).await {
                    Ok(()) => Ok(pos),
                    Err(reason) => Err(Error::UnknownOutcome { reason }),
                };
            }
            Ok(Err(e)) => self.not_taken(p, true, Some(e))?,
            Err(_) => self.not_taken(p, true, None)?,
        };
        Err(Error::Unavailable {
            reason,
            local: None,
        })
    }

    /// Appends through partition `p`'s batches; the entry's id.
    async fn append_batched(
        &self,
        p: Partition,
        message: batch::Message,
    ) -> Result<EventSeq, Error> {
        let shared = &*self.shared;
        let (reply, answer) = oneshot::channel();
        let entry = batch::Entry { message, reply };
        let sent = async {
            shared.logs[usize::from(p)]
                .1
                .send(entry)
                .await
                .map_err(|_| "the backplane is stopping".to_owned())?;
            match answer.await {
                Ok(Err(batch::Failure::NotTaken(reason))) => Err(reason),
                Ok(result) => Ok(result),
                Err(_) => Err("the publish was dropped".to_owned()),
            }
        };
        let reason = match timeout(shared.options.publish_timeout, sent).await {
            Ok(Ok(result)) => {
                shared.node.health.up(shared.layout.shard(p));
                return result.map_err(|failure| match failure {
                    batch::Failure::Unreplicated(reason) | batch::Failure::NotTaken(reason) => {
                        Error::UnknownOutcome { reason }
                    }
                });
            }
            Ok(Err(reason)) => reason,
            Err(_) => format!("no answer within {:?}", shared.options.publish_timeout),
        };
        shared.node.health.down(shared.layout.shard(p), &reason);
        bump(&shared.node.health.publish_errors);
        Err(Error::Unavailable {
            reason,
            local: None,
        })
    }

    /// Publishes a direct message on the client's channel (at most once for `key`).
    async fn direct(
        &self,
        id: &ClientId,
        event: &Event,
        key: Option<&str>,
    ) -> Result<usize, Error> {
        let shared = &*self.shared;
        let layout = &shared.layout;
        let options = &shared.options;
        let p = layout.of_client(id);
        let frame = event.encode();
        let conn = &shared.shards[layout.shard(p)].conn;
        let channel = layout.client_channel(id);
        let sent = match key {
            None => {
                let mut cmd = redis::cmd(conn.publish_command());
                cmd.arg(&channel).arg(frame.as_ref());
                let send = unsent_retried(|| {
                    let (mut conn, cmd) = (conn.clone(), &cmd);
                    async move { cmd.query_async::<i64>(&mut conn).await }
                });
                timeout(options.publish_timeout, send).await
            }
            Some(k) => {
                let mut invocation = DIRECT_ONCE.key(layout.once_direct(p, k));
                invocation
                    .arg(options.once_ttl.as_millis().max(1) as u64)
                    .arg(&channel)
                    .arg(frame.as_ref())
                    .arg(conn.publish_command());
                let send = unsent_retried(|| {
                    let (mut conn, invocation) = (conn.clone(), &invocation);
                    async move { invocation.invoke_async::<i64>(&mut conn).await }
                });
                timeout(options.publish_timeout, send).await
            }
        };
        let reason = match sent {
            Ok(Ok(receivers)) => {
                shared.node.health.up(layout.shard(p));
                bump(&shared.node.health.published);
                return Ok(usize::try_from(receivers).unwrap_or(0));
            }
            Ok(Err(e)) => self.not_taken(p, key.is_some(), Some(e))?,
            Err(_) => self.not_taken(p, key.is_some(), None)?,
        };
        let local = options.local_fallback.then(|| {
            bump(&shared.node.health.local_fallbacks);
            shared
                .node
                .deliver_locally(&Target::Client(id.clone()), &frame, &[])
        });
        Err(Error::Unavailable { reason, local })
    }

    /// Counts a send to partition `p` that Redis answered with `error`, or not at all
    /// (`None`), and says why it was not taken. A keyed send that got no answer in
    /// time may have been taken: its error is [`Error::UnknownOutcome`].
    fn not_taken(
        &self,
        p: Partition,
        keyed: bool,
        error: Option<redis::RedisError>,
    ) -> Result<String, Error> {
        let late = error.as_ref().is_none_or(redis::RedisError::is_timeout);
        let reason = match error {
            Some(e) => e.to_string(),
            None => format!("no answer within {:?}", self.shared.options.publish_timeout),
        };
        let health = &self.shared.node.health;
        health.down(self.shared.layout.shard(p), &reason);
        bump(&health.publish_errors);
        if keyed && late {
            return Err(Error::UnknownOutcome { reason });
        }
        Ok(reason)
    }
}

impl Shared {
    /// The links' state and counters.
    pub(crate) fn status(&self) -> Status {
        self.node.health.snapshot()
    }

    /// Asks the shards of `partitions` (and of `also`, for the channels they were
    /// sent before) to subscribe what they were asked to and catch those partitions
    /// up; whether every one answered within
    /// [`connect_timeout`](RedisOptions::connect_timeout).
    pub(crate) async fn caught_up(&self, partitions: &[Partition], also: &[usize]) -> bool {
        let mut by_shard: BTreeMap<usize, Vec<Partition>> =
            also.iter().map(|&shard| (shard, Vec::new())).collect();
        for &p in partitions {
            by_shard.entry(self.layout.shard(p)).or_default().push(p);
        }
        let replies = by_shard.into_iter().map(|(shard, partitions)| {
            let (tx, rx) = oneshot::channel();
            // The subscriber ends only with the backplane.
            let _ = self.shards[shard]
                .commands
                .send(Command::Ready(partitions, tx));
            rx
        });
        let answers = timeout(self.options.connect_timeout, join_all(replies)).await;
        matches!(answers, Ok(answers) if answers.iter().all(Result::is_ok))
    }

    /// Partition `p`'s position just before now, by its shard's clock, less the
    /// clock's error: a client admitted now starts there.
    pub(crate) fn clock_of(&self, p: Partition) -> EventSeq {
        let clock = &self.clocks[usize::from(p)];
        let margin = clock.error.load(Relaxed) + CLOCK_MARGIN_MS;
        EventSeq::new(clock.now_ms().saturating_sub(margin), 0)
    }
}

/// Margin, beside the round trip, for a shard clock's error (drift since it was
/// read, jitter) when a fresh client's start is set by it.
const CLOCK_MARGIN_MS: u64 = 2;

/// A server's clock as seen from here: its offset from ours, and how far off that may
/// be (half the round trip it was read in, rounded up). Read again at each catch-up,
/// so that drift does not add up.
#[derive(Debug, Default)]
pub(crate) struct Clock {
    offset: AtomicI64,
    error: AtomicU64,
}

impl Clock {
    /// Redis said its time was `theirs` (unix ms) in answer to a request sent at
    /// `asked`: about half the round trip ago, give or take as much.
    pub(crate) fn heard(&self, theirs: u64, asked: std::time::Instant) {
        let half_trip = (asked.elapsed().as_millis() as u64).div_ceil(2);
        let ours = now_ms().saturating_sub(half_trip);
        self.offset.store(theirs as i64 - ours as i64, Relaxed);
        self.error.store(half_trip + 1, Relaxed);
    }

    /// Now by the server's clock, in unix ms.
    pub(crate) fn now_ms(&self) -> u64 {
        (now_ms() as i64)
            .saturating_add(self.offset.load(Relaxed))
            .max(0) as u64
    }
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

async fn connect_manager(
    client: &Client,
    options: &RedisOptions,
) -> Result<ConnectionManager, Error> {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(options.connect_timeout)
        .set_response_timeout(options.publish_timeout)
        .set_number_of_retries(2)
        .set_max_delay(options.backoff.1.as_millis() as u64);
    connected(options, client.get_connection_manager_with_config(config)).await
}

/// What `connect` makes, within the connect timeout.
async fn connected<T>(
    options: &RedisOptions,
    connect: impl std::future::Future<Output = redis::RedisResult<T>>,
) -> Result<T, Error> {
    timeout(options.connect_timeout, connect)
        .await
        .map_err(|_| Error::Connect("timed out".into()))?
        .map_err(|e| Error::Connect(e.to_string()))
}

/// Runs `send`, once more if the first try found no connection (refused: nothing
/// was sent, so the retry cannot make a second copy). Just after Redis comes back,
/// the connection manager may still hold the failure of a reconnection begun while
/// it was down.
pub(crate) async fn unsent_retried<T, F, Fut>(mut send: F) -> redis::RedisResult<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = redis::RedisResult<T>>,
{
    match send().await {
        Err(e) if e.is_connection_refusal() => send().await,
        other => other,
    }
}

/// Publishes a direct message at most once for a key: `KEYS[1]` the key's record;
/// `ARGV`: its time to live in ms, the channel, the frame, the publish command.
/// Returns the receivers, or 0 for a key seen before.
const DIRECT_ONCE_LUA: &str = r"
if redis.call('SET', KEYS[1], '1', 'NX', 'PX', ARGV[1]) then
  return redis.call(ARGV[4], ARGV[2], ARGV[3])
end
return 0
";

static DIRECT_ONCE: std::sync::LazyLock<Script> =
    std::sync::LazyLock::new(|| Script::new(DIRECT_ONCE_LUA));

/// Loads the scripts into a shard, so that their first use runs at once: a call
/// that finds its script missing is sent again in full, which a publish whose wait
/// ran out would never do.
/// (On a cluster, `SCRIPT LOAD` goes to every node.)
async fn load_scripts(conn: &Conn, within: Duration) -> Result<(), Error> {
    let scripts = [DIRECT_ONCE_LUA, batch::BATCH_LUA]
        .into_iter()
        .chain(crate::shard::SCRIPTS);
    let loads = scripts.map(|code| {
        let mut conn = conn.clone();
        async move {
            let mut cmd = redis::cmd("SCRIPT");
            cmd.arg("LOAD").arg(code);
            cmd.query_async::<redis::Value>(&mut conn).await
        }
    });
    let loaded = timeout(within, join_all(loads))
        .await
        .map_err(|_| Error::Connect("loading the scripts timed out".into()))?;
    loaded
        .into_iter()
        .try_for_each(|result| result.map(drop))
        .map_err(|e| Error::Connect(e.to_string()))
}
