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
/// assert_eq!(options.stream_key(), "chat:events");
/// ```
#[derive(Clone)]
pub struct RedisOptions {
    pub(crate) prefix: String,
    pub(crate) max_len: usize,
    pub(crate) history: usize,
    pub(crate) publish_timeout: Duration,
    pub(crate) connect_timeout: Duration,
    pub(crate) block: Duration,
    pub(crate) read_batch: usize,
    pub(crate) backoff: (Duration, Duration),
    pub(crate) local_fallback: bool,
    pub(crate) hooks: Arc<dyn BackplaneHooks>,
    pub(crate) heartbeat: Duration,
    pub(crate) once_ttl: Duration,
}

impl Default for RedisOptions {
    fn default() -> Self {
        RedisOptions {
            prefix: "sse".to_owned(),
            max_len: 10_000,
            history: 10_000,
            publish_timeout: Duration::from_secs(1),
            connect_timeout: Duration::from_secs(2),
            block: Duration::from_secs(1),
            read_batch: 512,
            backoff: (Duration::from_millis(50), Duration::from_secs(2)),
            local_fallback: true,
            hooks: Arc::new(NoHooks),
            heartbeat: Duration::from_secs(5),
            once_ttl: Duration::from_secs(300),
        }
    }
}

impl fmt::Debug for RedisOptions {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisOptions")
            .field("prefix", &self.prefix)
            .field("max_len", &self.max_len)
            .field("history", &self.history)
            .field("publish_timeout", &self.publish_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("block", &self.block)
            .field("read_batch", &self.read_batch)
            .field("backoff", &self.backoff)
            .field("local_fallback", &self.local_fallback)
            .field("hooks", &self.hooks)
            .field("heartbeat", &self.heartbeat)
            .field("once_ttl", &self.once_ttl)
            .finish()
    }
}

impl RedisOptions {
    /// Every default.
    pub fn new() -> Self {
        Self::default()
    }

    /// Prefix of the Redis keys (default `sse`): the shared stream is `{prefix}:events`.
    /// Instances that should form one service use the same prefix.
    #[must_use]
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// Approximate bound of the shared stream (default 10,000 entries; `XADD MAXLEN ~`).
    /// Redis trims whole nodes, so it may hold somewhat more.
    #[must_use]
    pub fn max_len(mut self, entries: usize) -> Self {
        self.max_len = entries;
        self
    }

    /// How many of the newest stream entries are loaded into the service's replay
    /// buffers at startup (default 10,000), so clients can resume on a fresh instance.
    /// The service's own [`ReplayConfig`](sse_core::ReplayConfig) still bounds what it
    /// keeps.
    #[must_use]
    pub fn history(mut self, entries: usize) -> Self {
        self.history = entries;
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

    /// How long one `XREAD BLOCK` waits for new entries before asking again (default
    /// 1 s). It does not add latency: entries are returned as soon as they arrive.
    #[must_use]
    pub fn block(mut self, block: Duration) -> Self {
        self.block = block;
        self
    }

    /// Most entries taken by one read (default 512).
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

    /// The key of the shared stream, `{prefix}:events`.
    pub fn stream_key(&self) -> String {
        format!("{}:events", self.prefix)
    }

    pub(crate) fn validate(&self) -> Result<(), Error> {
        if self.max_len == 0 {
            return Err(Error::Config("max_len must be at least 1".into()));
        }
        if self.read_batch == 0 {
            return Err(Error::Config("read_batch must be at least 1".into()));
        }
        if self.block.is_zero() {
            // BLOCK 0 waits forever, which would hide an outage.
            return Err(Error::Config("block must be longer than zero".into()));
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
