//! One shard's subscriber: a PUB/SUB connection subscribed to exactly the channels
//! this node has readers for, the reader of the shard's logs when the node must
//! catch up, and the reconnection after a fault.

use std::{
    collections::{HashMap, HashSet},
    sync::Arc,
    time::Duration,
};

use futures::future::join_all;
use redis::{
    streams::{StreamId, StreamRangeReply},
    Value,
};
use sse_core::{ClientId, EventSeq, Target};
use tokio::{
    sync::{mpsc, oneshot, watch},
    time::{sleep_until, timeout, Instant},
};

use crate::{
    backplane::Clock,
    conn::Conn,
    feed::{Asker, Heard, Hearer, Source},
    health::bump,
    message,
    node::Node,
    partition::{Layout, Partition},
    subscriptions::Subscriptions,
    RedisOptions,
};

/// What a shard's subscriber is asked to do, in order.
#[derive(Debug)]
pub(crate) enum Command {
    /// A channel gained its first local reader.
    Subscribe(String),
    /// A channel lost its last local reader: unsubscribe after the delay, unless it
    /// is wanted again by then.
    Unsubscribe(String),
    /// Catch these partitions up to their logs' ends (everything the commands before
    /// asked for subscribed), then answer.
    Ready(Vec<Partition>, oneshot::Sender<()>),
}

/// How often positions are checked for staleness, and how far behind Redis's clock
/// one may fall before [`Subscriber::refresh`] moves it: ids hold every position
/// relative to the oldest, in at most 4 base-36 digits each (28 minutes).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Refresh {
    pub(crate) every: Duration,
    pub(crate) stale: Duration,
}

impl Default for Refresh {
    fn default() -> Self {
        Refresh {
            every: Duration::from_secs(60),
            stale: Duration::from_secs(10 * 60),
        }
    }
}

/// Reads the ends of the logs given as `KEYS` (each log, then its partition's meta
/// hash): Redis's time in ms, and per partition its high-water mark (raised to the
/// time now: no later id goes below it) and its log's last id (empty if none).
const ENDS_LUA: &str = r"
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local out = {}
for k = 1, #KEYS, 2 do
  local mark = tonumber(redis.call('HGET', KEYS[k + 1], 'hw') or '0')
  if mark < ms then
    mark = ms
    redis.call('HSET', KEYS[k + 1], 'hw', string.format('%.0f', ms))
  end
  local top = redis.call('XREVRANGE', KEYS[k], '+', '-', 'COUNT', 1)
  local last = ''
  if #top > 0 then last = top[1][1] end
  out[#out + 1] = {string.format('%.0f', mark), last}
end
return {string.format('%.0f', ms), out}
";

pub(crate) static ENDS: std::sync::LazyLock<redis::Script> =
    std::sync::LazyLock::new(|| redis::Script::new(ENDS_LUA));

pub(crate) const SCRIPTS: [&str; 1] = [ENDS_LUA];

/// Channels subscribed at once, at most, when (re)subscribing.
const SUBSCRIBE_BATCH: usize = 512;
/// Commands handled together, at most.
const COMMAND_BATCH: usize = 4096;

/// The subscriber task of one shard.
pub(crate) struct Subscriber {
    pub(crate) index: usize,
    pub(crate) source: Source,
    /// For reading the logs.
    pub(crate) conn: Conn,
    pub(crate) node: Arc<Node>,
    pub(crate) subscriptions: Arc<Subscriptions>,
    pub(crate) options: RedisOptions,
    pub(crate) commands: mpsc::UnboundedReceiver<Command>,
    pub(crate) stop: watch::Receiver<()>,
    /// Channels some local reader wants (or did, within the unsubscribe delay).
    pub(crate) wanted: HashSet<String>,
    /// Per partition, the clock of the server that holds it, set from each read of
    /// the logs' ends.
    pub(crate) clocks: Arc<[Arc<Clock>]>,
}

/// What the subscriber keeps per connection.
#[derive(Default)]
struct Link {
    subscribed: HashSet<String>,
    /// Channels to unsubscribe once their delay is over.
    leaving: HashMap<String, Instant>,
}

/// Why a connection ended: a fault (to reconnect after), or the backplane stopped.
type Ended = Option<String>;

impl Subscriber {
    pub(crate) async fn run(mut self) {
        let (min, max) = self.options.backoff;
        let mut delay = min;
        let mut waiting = Vec::new();
        let mut first = true;
        loop {
            let attempt = timeout(
                self.options.connect_timeout,
                self.source.open(&self.options),
            );
            let reason = match attempt.await {
                Ok(Ok((asker, hearer))) => {
                    if !first {
                        bump(&self.node.health.reconnects);
                    }
                    let mut link = Link::default();
                    let ended = self.serve(&mut link, asker, hearer, &mut waiting).await;
                    // Channels waiting out their delay are not subscribed again.
                    for channel in link.leaving.keys() {
                        if self.subscriptions.forget_if_unwanted(channel) {
                            self.wanted.remove(channel);
                        }
                    }
                    self.subscriptions.unconfirm(&link.subscribed);
                    match ended {
                        Some(reason) => {
                            delay = min;
                            reason
                        }
                        None => return,
                    }
                }
                Ok(Err(e)) => e.to_string(),
                Err(_) => "connect timed out".to_owned(),
            };
            first = false;
            self.node.health.down(self.index, &reason);
            tracing::debug!(shard = self.index, %reason, ?delay, "redis subscriber retrying");
            // Wait out the delay, keeping track of what is wanted meanwhile.
            let until = Instant::now() + delay;
            loop {
                tokio::select! {
                    () = sleep_until(until) => break,
                    command = self.commands.recv() => match command {
                        Some(command) => self.offline(command, &mut waiting),
                        None => return,
                    },
                    _ = self.stop.changed() => return,
                }
            }
            delay = (delay * 2).min(max);
        }
    }

    /// A command while there is no connection: it is remembered for the next one.
    fn offline(&mut self, command: Command, waiting: &mut Vec<oneshot::Sender<()>>) {
        match command {
            Command::Subscribe(channel) => {
                self.wanted.insert(channel);
            }
            Command::Unsubscribe(channel) => {
                if self.subscriptions.forget_if_unwanted(&channel) {
                    self.wanted.remove(&channel);
                }
            }
            Command::Ready(_, reply) => {
                // Those who stopped waiting (their deadline passed) need no answer.
                waiting.retain(|r| !r.is_closed());
                waiting.push(reply);
            }
        }
    }

    /// Subscribes to what is wanted, catches the shard's partitions up (what was
    /// published while the node was not listening), then delivers what arrives.
    async fn serve(
        &mut self,
        link: &mut Link,
        mut sink: Asker,
        mut hearer: Hearer,
        waiting: &mut Vec<oneshot::Sender<()>>,
    ) -> Ended {
        let wanted: Vec<String> = self.wanted.iter().cloned().collect();
        if let Err(e) = self.subscribe(link, &mut sink, &wanted).await {
            return Some(e);
        }
        let mine = self.node.layout.of_shard(self.index);
        if let Err(e) = self.catch_up(&mine).await {
            return Some(e);
        }
        self.subscriptions.confirm(&link.subscribed);
        self.node.health.up(self.index);
        for reply in waiting.drain(..) {
            let _ = reply.send(());
        }
        let mut ping = tokio::time::interval(self.options.ping_interval);
        ping.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let every = self.options.refresh.every;
        let mut refresh = tokio::time::interval_at(Instant::now() + every, every);
        refresh.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let next_leave = link.leaving.values().min().copied();
            tokio::select! {
                heard = hearer.next() => match heard {
                    Some(heard) => if let Err(e) = self.hear(link, heard, &mut hearer).await {
                        return Some(e);
                    },
                    None => return Some("subscriber connection closed".to_owned()),
                },
                command = self.commands.recv() => {
                    let command = command?;
                    let mut batch = vec![command];
                    while batch.len() < COMMAND_BATCH {
                        match self.commands.try_recv() {
                            Ok(command) => batch.push(command),
                            Err(_) => break,
                        }
                    }
                    if let Err(e) = self.apply(link, &mut sink, batch).await {
                        return Some(e);
                    }
                }
                () = sleep_until(next_leave.unwrap_or_else(Instant::now)), if next_leave.is_some() => {
                    if let Err(e) = self.leave_due(link, &mut sink).await {
                        return Some(e);
                    }
                }
                _ = ping.tick() => {
                    let answer = timeout(self.options.publish_timeout, sink.ping()).await;
                    if !matches!(answer, Ok(Ok(_))) {
                        return Some("subscriber connection did not answer a ping".to_owned());
                    }
                }
                _ = refresh.tick() => {
                    if let Err(e) = self.refresh().await {
                        return Some(e);
                    }
                }
                _ = self.stop.changed() => return None,
            }
        }
    }

    /// Handles a batch of commands: subscribes first, so that a catch-up asked for
    /// after a subscription covers it.
    async fn apply(
        &mut self,
        link: &mut Link,
        sink: &mut Asker,
        batch: Vec<Command>,
    ) -> Result<(), String> {
        let mut subscribe = Vec::new();
        let mut ready: Vec<(Vec<Partition>, oneshot::Sender<()>)> = Vec::new();
        for command in batch {
            match command {
                Command::Subscribe(channel) => {
                    link.leaving.remove(&channel);
                    if self.wanted.insert(channel.clone()) || !link.subscribed.contains(&channel) {
                        subscribe.push(channel);
                    }
                }
                Command::Unsubscribe(channel) => {
                    if link.subscribed.contains(&channel) {
                        let at = Instant::now() + self.options.unsubscribe_delay;
                        link.leaving.insert(channel, at);
                    } else if self.subscriptions.forget_if_unwanted(&channel) {
                        subscribe.retain(|c| *c != channel);
                        self.wanted.remove(&channel);
                    }
                }
                Command::Ready(partitions, reply) => ready.push((partitions, reply)),
            }
        }
        subscribe.sort();
        subscribe.dedup();
        self.subscribe(link, sink, &subscribe).await?;
        // A new topic channel is in place once its partition has caught up: what its
        // log held before is delivered by then, not to a client admitted after.
        let mut partitions: Vec<Partition> = ready
            .iter()
            .flat_map(|(p, _)| p.iter().copied())
            .chain(subscribe.iter().filter_map(|c| match channel_kind(c) {
                Some(Kind::Topic(p)) => Some(p),
                _ => None,
            }))
            .collect();
        partitions.sort_unstable();
        partitions.dedup();
        if !partitions.is_empty() {
            self.catch_up(&partitions).await?;
        }
        self.subscriptions.confirm(&subscribe);
        for (_, reply) in ready {
            let _ = reply.send(());
        }
        Ok(())
    }

    /// Unsubscribes the channels whose delay is over and that no reader wants again.
    async fn leave_due(&mut self, link: &mut Link, sink: &mut Asker) -> Result<(), String> {
        let now = Instant::now();
        let due: Vec<String> = link
            .leaving
            .iter()
            .filter(|(_, at)| **at <= now)
            .map(|(c, _)| c.clone())
            .collect();
        let mut leave = Vec::new();
        for channel in due {
            link.leaving.remove(&channel);
            if self.subscriptions.forget_if_unwanted(&channel) {
                self.wanted.remove(&channel);
                link.subscribed.remove(&channel);
                leave.push(channel);
            }
        }
        for batch in leave.chunks(SUBSCRIBE_BATCH) {
            // One command a channel: redis-rs matches one reply to each command.
            let sent = join_all(batch.iter().map(|c| {
                let mut sink = sink.clone();
                async move { sink.unsubscribe(c).await }
            }));
            match timeout(self.options.connect_timeout, sent).await {
                Ok(results) if results.iter().all(Result::is_ok) => {}
                _ => return Err("unsubscribing failed".to_owned()),
            }
        }
        Ok(())
    }

    async fn subscribe(
        &mut self,
        link: &mut Link,
        sink: &mut Asker,
        channels: &[String],
    ) -> Result<(), String> {
        for batch in channels.chunks(SUBSCRIBE_BATCH) {
            let sent = join_all(batch.iter().map(|c| {
                let mut sink = sink.clone();
                async move { sink.subscribe(c).await }
            }));
            match timeout(self.options.connect_timeout, sent).await {
                Ok(results) if results.iter().all(Result::is_ok) => {
                    link.subscribed.extend(batch.iter().cloned());
                }
                Ok(_) => return Err("subscribing failed".to_owned()),
                Err(_) => return Err("subscribing timed out".to_owned()),
            }
        }
        Ok(())
    }

    /// Acts on what the connection heard, and on what it heard meanwhile.
    async fn hear(&mut self, link: &Link, heard: Heard, hearer: &mut Hearer) -> Result<(), String> {
        let mut next = Some(heard);
        while let Some(heard) = next.take() {
            match heard {
                Heard::Message(message) => self.handle(message.channel(), message.payload()),
                Heard::Subscribed(channel) => {
                    // The cluster client subscribes a channel again on its own once it
                    // finds the channel's slot on another node: what was published in
                    // between is in the log, read before anything heard after.
                    let mut partitions = Vec::new();
                    partitions.extend(self.logged_partition(&channel));
                    loop {
                        match hearer.try_next() {
                            Some(Heard::Subscribed(channel)) => {
                                partitions.extend(self.logged_partition(&channel));
                            }
                            other => {
                                next = other;
                                break;
                            }
                        }
                    }
                    partitions.sort_unstable();
                    partitions.dedup();
                    self.catch_up(&partitions).await?;
                }
                Heard::Unsubscribed(channel) if link.subscribed.contains(&channel) => {
                    return Err(format!("redis stopped sending {channel}"));
                }
                Heard::Unsubscribed(_) => {}
                Heard::Disconnected => return Err("a cluster node's connection closed".to_owned()),
            }
        }
        Ok(())
    }

    /// Records how long a payload took from its script run to here, by the clock of
    /// the partition's server (the entry id's millisecond is its time then): the
    /// backplane's lag, histogram `sse_redis_delivery_lag_seconds`.
    #[cfg_attr(not(feature = "metrics"), allow(clippy::unused_self))]
    fn lag(&self, partition: Partition, records: &[message::Logged]) {
        #[cfg(feature = "metrics")]
        if let Some(first) = records.first() {
            let now = self.clocks[usize::from(partition)].now_ms();
            let lag_ms = now.saturating_sub(first.pos.epoch());
            #[allow(clippy::cast_precision_loss)]
            metrics::histogram!("sse_redis_delivery_lag_seconds").record(lag_ms as f64 / 1000.0);
        }
        #[cfg(not(feature = "metrics"))]
        let _ = (partition, records);
    }

    /// The partition whose log a channel's messages are in, if any.
    fn logged_partition(&self, channel: &str) -> Option<Partition> {
        match channel_kind(channel)? {
            Kind::Topic(p) => Some(p),
            Kind::Broadcast => Some(self.node.layout.broadcast()),
            Kind::Client(_) => None,
        }
    }

    /// Delivers a message from a channel.
    fn handle(&self, channel: &str, payload: &[u8]) {
        let health = &self.node.health;
        health
            .received_bytes
            .fetch_add(payload.len() as u64, std::sync::atomic::Ordering::Relaxed);
        let layout = &self.node.layout;
        let result = match channel_kind(channel) {
            Some(Kind::Client(id)) => message::direct(payload).map(|frame| {
                let target = Target::Client(id);
                // Refused only while shutting down, or when the client just left.
                let _ = self.node.service.deliver_frame(&target, &frame, &[]);
                bump(&health.received);
            }),
            Some(Kind::Broadcast) => message::parse_payload(payload).map(|records| {
                self.lag(layout.broadcast(), &records);
                self.node.deliver(layout.broadcast(), &records);
            }),
            Some(Kind::Topic(partition)) if partition < layout.partitions() => {
                message::parse_payload(payload).map(|records| {
                    self.lag(partition, &records);
                    self.node.deliver(partition, &records);
                })
            }
            _ => Err("unknown channel"),
        };
        if let Err(why) = result {
            bump(&health.malformed);
            tracing::warn!(channel, why, "skipping malformed message");
        }
    }

    /// Reads the ends of `partitions`' logs, then delivers every entry the node has
    /// not delivered, so that its positions reach the ends: what it missed while not
    /// subscribed, or while its connection was down.
    async fn catch_up(&mut self, partitions: &[Partition]) -> Result<(), String> {
        for (p, end, floor) in self.ends(partitions).await? {
            if let Some(end) = end {
                self.read_log(p, end).await?;
            }
            self.node.raise(p, end.unwrap_or_default().max(floor));
        }
        Ok(())
    }

    /// Keeps every position of this shard within [`Refresh::stale`] of Redis's clock,
    /// so that ids stay short: a partition without a topic read here moves up at once
    /// (nothing in it is of interest), one with a quiet topic reads its log up to the
    /// end.
    async fn refresh(&mut self) -> Result<(), String> {
        let interested: HashSet<Partition> = self
            .wanted
            .iter()
            .filter_map(|c| self.logged_partition(c))
            .collect();
        let mine = self.node.layout.of_shard(self.index);
        let stale_ms = self.options.refresh.stale.as_millis() as u64;
        for (p, end, floor) in self.ends(&mine).await? {
            let stale = self.node.position(p).epoch() + stale_ms < floor.epoch();
            if !stale {
                continue;
            }
            if let (Some(end), true) = (end, interested.contains(&p)) {
                self.read_log(p, end).await?;
            }
            self.node.raise(p, end.unwrap_or_default().max(floor));
        }
        Ok(())
    }

    /// Each partition's log end, if any, and the position every later entry is past;
    /// also sets the partitions' clocks.
    async fn ends(&mut self, partitions: &[Partition]) -> Result<Vec<End>, String> {
        let layout = &self.node.layout;
        let deadline = self.options.publish_timeout;
        read_ends(&self.conn, layout, &self.clocks, partitions, deadline).await
    }

    /// Delivers `partition`'s log entries after the node's position, up to `end`.
    async fn read_log(&mut self, partition: Partition, end: EventSeq) -> Result<(), String> {
        let mut after = self.node.position(partition);
        let key = self.node.layout.log(partition);
        while after < end {
            let entries = read_range(
                &mut self.conn,
                &key,
                after,
                end,
                self.options.read_batch,
                self.options.publish_timeout,
            )
            .await?;
            let full = entries.len() >= self.options.read_batch;
            for entry in entries {
                let Some(pos) = entry.id.parse::<EventSeq>().ok() else {
                    continue;
                };
                after = after.max(pos);
                match entry_message(pos, &entry) {
                    Ok(logged) => {
                        self.node.deliver(partition, std::slice::from_ref(&logged));
                    }
                    Err(why) => {
                        bump(&self.node.health.malformed);
                        tracing::warn!(%pos, why, "skipping malformed log entry");
                    }
                }
            }
            if !full {
                break;
            }
        }
        Ok(())
    }
}

/// A partition, its log's last entry (if any), and the position every later entry
/// is past: from the partition's high-water mark, which the clock going back cannot
/// undo.
pub(crate) type End = (Partition, Option<EventSeq>, EventSeq);

/// The ends of `partitions`' logs (see [`End`]), read with one script call per
/// partition (on a cluster, each partition's keys are in a slot of their own);
/// sets each partition's clock from the time its server gave.
pub(crate) async fn read_ends(
    conn: &Conn,
    layout: &Layout,
    clocks: &[Arc<Clock>],
    partitions: &[Partition],
    deadline: Duration,
) -> Result<Vec<End>, String> {
    let reads = partitions.iter().map(|&p| {
        let mut conn = conn.clone();
        async move {
            let mut invocation = ENDS.key(layout.log(p));
            invocation.key(layout.meta(p));
            let asked = std::time::Instant::now();
            let read = invocation.invoke_async::<(u64, Vec<(u64, String)>)>(&mut conn);
            let (now, ends) = read.await.map_err(|e| e.to_string())?;
            clocks[usize::from(p)].heard(now, asked);
            let (mark, last) = ends.into_iter().next().ok_or("unexpected reply")?;
            // Every entry added later has an id of this millisecond or later.
            let floor = EventSeq::new(mark.saturating_sub(1), 0);
            Ok((p, last.parse().ok(), floor))
        }
    });
    match timeout(deadline, join_all(reads)).await {
        Ok(ends) => ends.into_iter().collect(),
        Err(_) => Err("reading the logs' ends timed out".to_owned()),
    }
}

/// Up to `count` entries of the log `key` after `after`, up to `end`.
pub(crate) async fn read_range(
    conn: &mut Conn,
    key: &str,
    after: EventSeq,
    end: EventSeq,
    count: usize,
    deadline: Duration,
) -> Result<Vec<StreamId>, String> {
    let cmd = range(key, after, end, count);
    match timeout(deadline, cmd.query_async::<StreamRangeReply>(conn)).await {
        Ok(Ok(reply)) => Ok(reply.ids),
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("reading a log timed out".to_owned()),
    }
}

/// `XRANGE` of up to `count` entries of the log `key` after `after`, up to `end`.
fn range(key: &str, after: EventSeq, end: EventSeq, count: usize) -> redis::Cmd {
    let mut cmd = redis::cmd("XRANGE");
    cmd.arg(key)
        .arg(format!("({after}"))
        .arg(end.to_string())
        .arg("COUNT")
        .arg(count);
    cmd
}

/// Up to `count` entries of partition `p`'s log after `after`, up to `end`, and
/// whether the log had by then dropped entries after `after` (its floor is past it),
/// which the page then lacks.
pub(crate) async fn read_page(
    conn: &mut Conn,
    layout: &Layout,
    p: Partition,
    (after, end): (EventSeq, EventSeq),
    count: usize,
    deadline: Duration,
) -> Result<(Vec<StreamId>, bool), String> {
    // One transaction of reads (a script would be held by `CLIENT PAUSE WRITE`): the
    // floor as of the page.
    let mut pipe = redis::pipe();
    pipe.atomic()
        .hget(layout.meta(p), "floor")
        .add_command(range(&layout.log(p), after, end, count));
    let read = pipe.query_async::<(Option<String>, StreamRangeReply)>(conn);
    match timeout(deadline, read).await {
        Ok(Ok((floor, page))) => {
            let floor = floor.and_then(|f| f.parse::<EventSeq>().ok());
            Ok((page.ids, floor.is_some_and(|floor| after < floor)))
        }
        Ok(Err(e)) => Err(e.to_string()),
        Err(_) => Err("reading a log timed out".to_owned()),
    }
}

/// The message of a log entry.
pub(crate) fn entry_message(
    pos: EventSeq,
    entry: &StreamId,
) -> Result<message::Logged, &'static str> {
    let field = |name: &str| match entry.map.get(name) {
        Some(Value::BulkString(b)) => Ok(b.as_slice()),
        _ => Err("missing field"),
    };
    if let Ok(record) = field("r") {
        return message::parse_record(pos, record);
    }
    // Entries written before records: a field for each part.
    let text = |name: &str| std::str::from_utf8(field(name)?).map_err(|_| "topics");
    let frame = bytes::Bytes::copy_from_slice(field("f")?);
    message::logged(pos, text("t")?, text("x")?, frame)
}

enum Kind {
    Topic(Partition),
    Broadcast,
    Client(ClientId),
}

/// What a channel carries, from its name: `{prefix:P}:t:TOPIC` and `{prefix:b}:all`
/// carry logged messages of partition P (or the broadcast one, numbered after the
/// last), `{prefix:P}:c:ID` direct messages to ID.
fn channel_kind(channel: &str) -> Option<Kind> {
    let (tag, rest) = channel.strip_prefix('{')?.split_once("}:")?;
    let (_, partition) = tag.rsplit_once(':')?;
    if let Some(id) = rest.strip_prefix("c:") {
        return ClientId::new(id).ok().map(Kind::Client);
    }
    match (partition, rest) {
        ("b", "all") => Some(Kind::Broadcast),
        (p, rest) if rest.starts_with("t:") => p.parse().ok().map(Kind::Topic),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use futures::StreamExt;
    use sse_codec::Event;
    use sse_core::{ConnectRequest, Service};
    use sse_testkit::redis::RedisServer;

    use super::Refresh;
    use crate::{cut::Cut, RedisBackplane, RedisOptions};

    /// The id in the first frame of `stream` that carries one.
    async fn next_id(stream: &mut sse_core::ClientStream) -> String {
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(5), stream.next())
                .await
                .expect("a frame within 5 s")
                .expect("an open stream");
            let text = String::from_utf8(frame.to_vec()).unwrap();
            let id = text.lines().find_map(|l| l.strip_prefix("id: "));
            if let (Some(id), true) = (id, text.contains("data: ")) {
                return id.to_owned();
            }
        }
    }

    #[tokio::test]
    async fn positions_of_quiet_partitions_move_up_so_ids_stay_short() {
        let server = RedisServer::start();
        let mut options = RedisOptions::new();
        options.refresh = Refresh {
            every: Duration::from_millis(100),
            stale: Duration::from_millis(300),
        };
        let run = |options: RedisOptions| async {
            let backplane = RedisBackplane::connect(&server.url(), &Service::builder(), options)
                .await
                .unwrap();
            let mut stream = backplane.service().connect(ConnectRequest::new()).unwrap();
            // Nothing is published to the topic partitions meanwhile.
            tokio::time::sleep(Duration::from_millis(1500)).await;
            let sent = backplane.broadcast(Event::message("x")).await.unwrap();
            let cut = Cut::parse(&next_id(&mut stream).await, 17).unwrap();
            let oldest = cut.0.iter().map(|p| p.epoch()).min().unwrap();
            sent.epoch() - oldest
        };
        let behind = run(options).await;
        assert!(
            behind < 1000,
            "refreshed: the oldest position {behind} ms behind"
        );
        // Without the refresh (the default waits a minute), they stay where they began.
        let behind = run(RedisOptions::new()).await;
        assert!(behind >= 1500, "not refreshed: {behind} ms behind");
    }
}
