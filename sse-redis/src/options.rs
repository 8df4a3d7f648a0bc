//! Configuration of a [`RedisBackplane`](crate::RedisBackplane).

use std::{fmt, sync::Arc, time::Duration};

use crate::{BackplaneHooks, Error};

#[derive(Debug)]
struct NoHooks;

impl BackplaneHooks for NoHooks {}

/// Options of a [`RedisBackplane`](crate::RedisBackplane); every one has a default.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sse_redis::RedisOptions;
///
/// let options = RedisOptions::new()
///     .prefix("chat")
///     .max_len(50_000)
///     .publish_timeout(Duration::from_millis(500));
/// ```
#[derive(Clone)]
pub struct RedisOptions {
    pub(crate) prefix: String,
    pub(crate) max_len: usize,
    pub(crate) max_age: Duration,
    pub(crate) partitions: u16,
    pub(crate) unsubscribe_delay: Duration,
    pub(crate) publish_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) ping_interval: Duration,
    pub(crate) read_batch: usize,
    pub(crate) backoff: (Duration, Duration),
    pub(crate) local_fallback: bool,
    pub(crate) hooks: Arc<dyn BackplaneHooks>,
    pub(crate) heartbeat: Duration,
    pub(crate) once_ttl: Duration,
    pub(crate) replicas: usize,
    pub(crate) refresh: crate::shard::Refresh,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            prefix: "sse".to_owned(),
            max_len: 10_000,
            max_age: Duration::from_secs(300),
            partitions: 16,
            unsubscribe_delay: Duration::from_secs(1),
            publish_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(2),
            ping_interval: Duration::from_secs(1),
            read_batch: 512,
            backoff: (Duration::from_millis(50), Duration::from_secs(2)),
            local_fallback: true,
            hooks: Arc::new(NoHooks),
            heartbeat: Duration::from_secs(5),
            once_ttl: Duration::from_secs(300),
            replicas: 0,
            refresh: crate::shard::Refresh::default(),
        }
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("prefix", &self.prefix)
            .field("max_len", &self.max_len)
            .field("max_age", &self.max_age)
            .field("partitions", &self.partitions)
            .field("unsubscribe_delay", &self.unsubscribe_delay)
            .field("publish_timeout", &self.publish_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("ping_interval", &self.ping_interval)
            .field("read_batch", &self.read_batch)
            .field("backoff", &self.backoff)
            .field("local_fallback", &self.local_fallback)
            .field("hooks", &self.hooks)
            .field("heartbeat", &self.heartbeat)
            .field("once_ttl", &self.once_ttl)
            .field("replicas", &self.replicas)
            .finish()
    }
}

impl RedisOptions {
    /// Every default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Prefix of the Redis keys and channels (default `sse`): a partition's are
    /// `{prefix:P}:log`, `{prefix:P}:t:TOPIC`, `{prefix:P}:c:CLIENT-ID`, and
    /// `{prefix:b}:...` for broadcasts. Instances that should form one service use
    /// the same prefix.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Bound of each partition's log (default 10,000 entries). The log is trimmed
    /// back to it once it is a sixteenth over, so it may hold up to that much more.
    #[must_use]
    pub fn max_len(mut self, entries: usize) -> Self {
        self.max_len = entries;
        self
    }

    /// Oldest entry each partition's log keeps (default 5 minutes; trimmed at each
    /// publish to the partition). A client that resumes from further back gets
    /// an `sse-reset` (`too-old`) and what the log still holds.
    #[must_use]
    pub fn max_age(mut self, age: Duration) -> Self {
        self.max_age = age;
        self
    }

    /// Topic partitions (default 16, at most 16): topics and client ids hash onto them,
    /// and each has its own log. Part of the deployment's format, like the prefix:
    /// every instance must use the same number. An event id holds a position for
    /// each partition, so more partitions make longer ids; 16 keep them within the
    /// 256 bytes a `Last-Event-ID` may have.
    #[must_use]
    pub fn partitions(mut self, partitions: u16) -> Self {
        self.partitions = partitions;
        self
    }

    /// How long a channel stays subscribed after its last local reader left (default
    /// 1 s), so readers that come and go do not make Redis subscribe and unsubscribe
    /// each time.
    #[must_use]
    pub fn unsubscribe_delay(mut self, delay: Duration) -> Self {
        self.unsubscribe_delay = delay;
        self
    }

    /// Longest wait for Redis to take a published message (default 1 s); past it the
    /// publish fails with [`Error::Unavailable`].
    #[must_use]
    pub fn publish_timeout(mut self, timeout: Duration) -> Self {
        self.publish_timeout = timeout;
        self
    }

    /// Longest wait for one connection attempt (default 2 s).
    #[must_use]
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// How often a quiet subscriber connection is checked with a `PING` (default
    /// 1 s): a link cut without a word is noticed within about twice this.
    #[must_use]
    pub fn ping_interval(mut self, every: Duration) -> Self {
        self.ping_interval = every;
        self
    }

    /// Most log entries taken by one read (default 512).
    #[must_use]
    pub fn read_batch(mut self, entries: usize) -> Self {
        self.read_batch = entries;
        self
    }

    /// The reader's reconnect delay: starts at `min`, doubles on each failure up to
    /// `max` (default 50 ms to 2 s).
    #[must_use]
    pub fn backoff(mut self, min: Duration, max: Duration) -> Self {
        self.backoff = (min, max);
        self
    }

    /// Whether a message that Redis did not take is still delivered to this
    /// instance's clients, without an id (default on). Either way the publish returns
    /// [`Error::Unavailable`].
    #[must_use]
    pub fn local_fallback(mut self, on: bool) -> Self {
        self.local_fallback = on;
        self
    }

    /// Callbacks on outage and recovery (default none).
    #[must_use]
    pub fn hooks(mut self, hooks: impl BackplaneHooks) -> Self {
        self.hooks = Arc::new(hooks);
        self
    }

    /// How often this instance writes its counts for
    /// [`cluster_counts`](crate::RedisBackplane::cluster_counts) (default 5 s); they
    /// expire three heartbeats after the last.
    #[must_use]
    pub fn heartbeat(mut self, every: Duration) -> Self {
        self.heartbeat = every;
        self
    }

    /// How long Redis remembers the key of a message sent with
    /// [`send_once`](crate::RedisBackplane::send_once) (default 5 minutes): a retry
    /// with the same key within it returns the first send's id and sends nothing.
    #[must_use]
    pub fn once_ttl(mut self, ttl: Duration) -> Self {
        self.once_ttl = ttl;
        self
    }

    /// Replicas that must hold a logged event before its publish succeeds (default
    /// 0): each batch is followed by `WAIT`, on the primary that took it, for at most
    /// a quarter of the [`publish_timeout`](Self::publish_timeout). With 1 or more,
    /// a failover (a replica promoted when its primary dies) loses no event whose
    /// publish returned `Ok`. When too few confirm in time, the publish fails with
    /// [`Error::UnknownOutcome`]: readers got it, but a failover may drop it from
    /// the log. Costs a replication round trip per batch; direct messages, which are
    /// not logged, do not wait.
    #[must_use]
    pub fn replicas(mut self, replicas: usize) -> Self {
        self.replicas = replicas;
        self
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.max_len == 0 {
            return Err(Error::Config("max_len must be at least 1".into()));
        }
        if self.read_batch == 0 {
            return Err(Error::Config("read_batch must be at least 1".into()));
        }
        if self.ping_interval.is_zero() {
            return Err(Error::Config(
                "ping_interval must be longer than zero".into(),
            ));
        }
        let most = crate::cut::MAX_PARTITIONS - 1;
        if self.partitions == 0 || usize::from(self.partitions) > most {
            return Err(Error::Config(format!(
                "partitions must be between 1 and {most}, so that an event id fits in a Last-Event-ID"
            )));
        }
        if self.prefix.contains(['{', '}']) {
            return Err(Error::Config("the prefix must not hold braces".into()));
        }
        if self.once_ttl < Duration::from_millis(1) {
            return Err(Error::Config("once_ttl must be at least 1 ms".into()));
        }
        if self.heartbeat < Duration::from_millis(10) {
            return Err(Error::Config("heartbeat must be at least 10 ms".into()));
        }
        if self.backoff.0 > self.backoff.1 {
            return Err(Error::Config("backoff min must not exceed max".into()));
        }
        Ok(())
    }
}
