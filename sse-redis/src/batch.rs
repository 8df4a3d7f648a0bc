//! Publishing in batches: the publishes to one partition that wait at the same time
//! share one script run, which appends them all to the log and publishes one payload
//! per run of entries with the same channels. Redis then spends its time on the
//! entries, not on the calls.

use std::sync::Arc;

use bytes::Bytes;
use redis::{Script, Value};
use sse_core::EventSeq;
use tokio::sync::{mpsc, oneshot, Semaphore};

use crate::conn::Conn;

/// What one publish appends to a partition's log and publishes.
pub(crate) struct Message {
    /// Its record, `TOPICS EXCEPT\nFRAME` (see [`crate::message`]).
    pub(crate) record: Bytes,
    pub(crate) channels: Vec<String>,
}

/// One publish waiting for its batch.
pub(crate) struct Entry {
    pub(crate) message: Message,
    pub(crate) reply: oneshot::Sender<Result<EventSeq, Failure>>,
}

/// Why a publish has no position to return.
#[derive(Debug, Clone)]
pub(crate) enum Failure {
    /// Redis did not take it.
    NotTaken(String),
    /// The primary took it and sent it to the readers, but too few replicas said
    /// they hold it in time: a failover may lose it from the log.
    Unreplicated(String),
}

/// Publishes taken into one script run, at most.
const MAX_BATCH: usize = 512;
/// Publishes waiting for a partition, at most; past it, publishing waits.
pub(crate) const QUEUE: usize = 4096;
/// Script runs in flight per partition, at most.
const IN_FLIGHT: usize = 4;

/// A partition's log and how it is written: by its batcher, and by keyed sends.
pub(crate) struct Target {
    pub(crate) conn: Conn,
    pub(crate) log: String,
    pub(crate) meta: String,
    pub(crate) marks: String,
    /// The log's length bound, how far past it it may grow, and its age bound (ms).
    pub(crate) bounds: (usize, usize, u64),
    /// How long a publish waits for Redis: a batch not answered by then is given up
    /// (its publishers have been told "unavailable").
    pub(crate) deadline: std::time::Duration,
    /// Replicas that must hold a batch before its publishes succeed.
    pub(crate) replicas: usize,
}

/// Takes the waiting publishes of one partition in batches until every sender is
/// gone.
pub(crate) async fn run(mut queue: mpsc::Receiver<Entry>, target: Arc<Target>) {
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    loop {
        // The run's turn first, then everything waiting by then: while runs are in
        // flight, publishes gather into the next batch.
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
            return;
        };
        let Some(first) = queue.recv().await else {
            return;
        };
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        let target = Arc::clone(&target);
        tokio::spawn(async move {
            let _permit = permit;
            write(&target, batch).await;
        });
    }
}

/// Runs the script for `batch` and answers each publish.
async fn write(target: &Target, mut batch: Vec<Entry>) {
    // A publisher that stopped waiting was told its publish was not taken.
    batch.retain(|entry| !entry.reply.is_closed());
    if batch.is_empty() {
        return;
    }
    // Publishes waiting together have no order among them: grouped by channels, they
    // go out in few payloads (the script sends one per run of the same channels).
    batch.sort_by(|a, b| a.message.channels.cmp(&b.message.channels));
    let messages: Vec<&Message> = batch.iter().map(|entry| &entry.message).collect();
    let answer = tokio::time::timeout(target.deadline, append(target, &messages, None)).await;
    let answer = answer.unwrap_or_else(|_| {
        Err(redis::RedisError::from((
            redis::ErrorKind::IoError,
            "no answer in time",
        )))
    });
    match answer {
        Ok(positions) => {
            let replicated = replicated(target).await;
            let mut positions = positions.into_iter();
            for entry in batch {
                let pos = positions.next().flatten().ok_or_else(|| {
                    Failure::NotTaken("unexpected reply from the publish script".to_owned())
                });
                let _ = entry.reply.send(pos.and_then(|pos| {
                    replicated
                        .clone()
                        .map(|()| pos)
                        .map_err(Failure::Unreplicated)
                }));
            }
        }
        Err(e) => {
            let reason = e.to_string();
            for entry in batch {
                let _ = entry.reply.send(Err(Failure::NotTaken(reason.clone())));
            }
        }
    }
}

/// Waits until the replicas `target` asks for hold what was written to its log
/// before, for at most a quarter of its deadline.
pub(crate) async fn replicated(target: &Target) -> Result<(), String> {
    if target.replicas == 0 {
        return Ok(());
    }
    let within = (target.deadline / 4).max(std::time::Duration::from_millis(10));
    let mut conn = target.conn.clone();
    let acknowledged = conn.wait_for_replicas(&target.log, target.replicas, within);
    match acknowledged.await {
        Ok(n) if n >= target.replicas => Ok(()),
        Ok(n) => Err(format!(
            "{n} of {} replicas confirmed it within {within:?}",
            target.replicas
        )),
        Err(e) => Err(format!("waiting for the replicas failed: {e}")),
    }
}

/// Runs [`BATCH_LUA`] for `messages` on `target`'s log, at most once for `once` (the
/// key's record, and how long it is kept in ms); the entries' positions (`None` for
/// a reply that is not one). Tried once more if it found no connection.
pub(crate) async fn append(
    target: &Target,
    messages: &[&Message],
    once: Option<(&str, u64)>,
) -> redis::RedisResult<Vec<Option<EventSeq>>> {
    let (max_len, slack, max_age) = target.bounds;
    let mut invocation = BATCH.key(&target.log);
    invocation
        .key(&target.meta)
        .key(once.map_or(target.log.as_str(), |(record, _)| record))
        .key(&target.marks)
        .arg(max_len)
        .arg(slack)
        .arg(max_age)
        .arg(once.map_or(0, |(_, ttl)| ttl))
        .arg(messages.len())
        .arg(target.conn.publish_command());
    let mut previous: Option<&Message> = None;
    for &message in messages {
        let same = previous.is_some_and(|p| p.channels == message.channels);
        if same {
            invocation.arg("=").arg(message.record.as_ref());
        } else {
            invocation
                .arg(message.channels.len())
                .arg(message.record.as_ref());
            for channel in &message.channels {
                invocation.arg(channel);
            }
        }
        previous = Some(message);
    }
    let ids = crate::backplane::unsent_retried(|| {
        let (mut conn, invocation) = (target.conn.clone(), &invocation);
        async move { invocation.invoke_async::<Vec<Value>>(&mut conn).await }
    })
    .await?;
    let id = |id: &Value| -> Option<EventSeq> {
        redis::from_redis_value::<String>(id).ok()?.parse().ok()
    };
    match &ids[..] {
        // The others follow the first.
        [first] if messages.len() > 1 => Ok((0..messages.len() as u64)
            .map(|e| id(first).map(|first| EventSeq::new(first.epoch(), first.seq() + e)))
            .collect()),
        ids => Ok(ids.iter().map(id).collect()),
    }
}

/// Appends a batch to a partition's log and publishes it, at most once for a key:
/// `KEYS` the log, the partition's meta hash, the key's record (the log itself when
/// unkeyed), and the partition's marks; `ARGV` the log's length bound, how far past it the log may grow
/// before it is trimmed, its age bound in ms, the key's time to live in ms (0:
/// unkeyed), the number of entries, the publish command (`PUBLISH`, or `SPUBLISH`
/// on a cluster), then per entry its number of channels, its record (`TOPICS
/// EXCEPT\nFRAME`: its topics in this partition, its topics in partitions written
/// before, whose readers get it there, and its frame) and its channels; or, for an
/// entry with the same channels as the one before, `=` and its record (Redis makes a
/// string of every argument). An entry's one field, `r`, is its record. Returns the entries' ids, or only the first
/// when the others follow it (the same millisecond, each sequence one more), as they
/// do unless the clock went back; for a key seen before, the id its first send got.
///
/// Entry ids follow the order scripts run in across the shard's logs: the time in
/// microseconds, then the entry's place in the batch (a log already past that, after
/// the clock went back, gives the next id). No id goes below the partition's
/// high-water mark `hw` in the meta hash, the latest time a script or a node's
/// catch-up saw: a node raises its position to just below it. Each run of entries with
/// the same channels is one payload on each of them, runs in the log's order: a node
/// reading several of a partition's channels hears its entries in the log's order
/// (one payload per channel over the whole batch would let a later entry of one
/// channel arrive before an earlier one of another, and the node would drop it as
/// already past). The script trims the log itself and records the newest entry it
/// removed as the meta hash's `floor`, exactly: a client whose position is below it
/// has lost events. Every `slack`-th entry appended (counted in the meta hash's `n`)
/// is a mark, kept in a list (the newest 64): once the log is `slack` over its
/// bound, it is cut at the oldest marks, each the newest entry removed, so the cut
/// reads no entries (a log without marks is read for its cut instead). Age trimming
/// runs once the oldest entry is a sixteenth of the bound past it, so that it costs
/// nothing on most runs.
pub(crate) const BATCH_LUA: &str = r"
local keyed = ARGV[4] ~= '0'
if keyed then
  local seen = redis.call('GET', KEYS[3])
  if seen then return {seen} end
end
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local sub = (tonumber(now[2]) % 1000) * 1000
local mark = tonumber(redis.call('HGET', KEYS[2], 'hw') or '0')
if ms < mark then
  ms, sub = mark, 0
elseif ms > mark then
  redis.call('HSET', KEYS[2], 'hw', string.format('%.0f', ms))
end
local prefix = string.format('%.0f-', ms)
local ids, runs = {}, {}
local run, key, parts = nil, nil, nil
local contiguous = true
local i = 7
for e = 1, tonumber(ARGV[5]) do
  local record = ARGV[i + 1]
  local id = redis.pcall('XADD', KEYS[1], prefix .. (sub + e - 1), 'r', record)
  if type(id) == 'table' and id.err then
    id = redis.call('XADD', KEYS[1], '*', 'r', record)
    contiguous = false
  end
  ids[e] = id
  if ARGV[i] == '=' then
    i = i + 2
  else
    local n = tonumber(ARGV[i])
    local this = ARGV[i + 2]
    if n ~= 1 then this = table.concat(ARGV, ' ', i + 2, i + 1 + n) end
    if this ~= key then
      parts = {}
      run = {first = i + 2, n = n, parts = parts}
      runs[#runs + 1] = run
      key = this
    end
    i = i + 2 + n
  end
  local k = #parts
  parts[k + 1], parts[k + 2], parts[k + 3] = id, ' ', record
end
local floor = false
local age = tonumber(ARGV[3])
local oldest = ms - age
local first = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', 1)
if oldest > 0 and #first > 0 then
  local first_ms = tonumber(string.sub(first[1][1], 1, string.find(first[1][1], '-') - 1))
  if first_ms < oldest - age / 16 then
    local bound = string.format('%.0f-0', oldest)
    local gone = redis.call('XREVRANGE', KEYS[1], '(' .. bound, '-', 'COUNT', 1)
    if #gone > 0 then
      floor = gone[1][1]
      redis.call('XTRIM', KEYS[1], 'MINID', bound)
    end
  end
end
local count, slack = tonumber(ARGV[5]), tonumber(ARGV[2])
local before = redis.call('HINCRBY', KEYS[2], 'n', count) - count
local e = slack - before % slack
while e <= count do
  redis.call('RPUSH', KEYS[4], ids[e])
  e = e + slack
end
redis.call('LTRIM', KEYS[4], -64, -1)
local over = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[1])
while over >= slack do
  local mark = redis.call('LPOP', KEYS[4])
  if not mark then
    local gone = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', over + 1)
    floor = gone[over][1]
    redis.call('XTRIM', KEYS[1], 'MINID', gone[over + 1][1])
    break
  end
  local dash = string.find(mark, '-')
  local seq = tonumber(string.sub(mark, dash + 1)) + 1
  local bound = string.sub(mark, 1, dash) .. string.format('%.0f', seq)
  local removed = redis.call('XTRIM', KEYS[1], 'MINID', bound)
  if removed > 0 then floor = mark end
  over = over - removed
end
if floor then redis.call('HSET', KEYS[2], 'floor', floor) end
for _, run in ipairs(runs) do
  local payload = table.concat(run.parts)
  for c = run.first, run.first + run.n - 1 do
    redis.call(ARGV[6], ARGV[c], payload)
  end
end
if keyed then redis.call('SET', KEYS[3], ids[1], 'PX', ARGV[4]) end
if contiguous then return {ids[1]} end
return ids
";

static BATCH: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| Script::new(BATCH_LUA));
