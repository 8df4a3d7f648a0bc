//! Publishing in batches: the publishes to one partition that wait at the same time
//! share one script run, which appends them all to the log and publishes one payload
//! per channel. Redis then spends its time on the entries, not on the calls.

use std::sync::Arc;

use bytes::Bytes;
use redis::{aio::ConnectionManager, Script, Value};
use sse_core::EventSeq;
use tokio::sync::{mpsc, oneshot, Semaphore};

/// One publish waiting for its batch.
pub(crate) struct Entry {
    /// The message's topics, joined (empty for a broadcast).
    pub(crate) topics: String,
    pub(crate) frame: Bytes,
    pub(crate) channels: Vec<String>,
    pub(crate) reply: oneshot::Sender<Result<EventSeq, String>>,
}

/// Publishes taken into one script run, at most.
const MAX_BATCH: usize = 512;
/// Publishes waiting for a partition, at most; past it, publishing waits.
pub(crate) const QUEUE: usize = 4096;
/// Script runs in flight per partition, at most.
const IN_FLIGHT: usize = 4;

/// What a partition's batcher writes to.
pub(crate) struct Target {
    pub(crate) conn: ConnectionManager,
    pub(crate) log: String,
    pub(crate) meta: String,
    /// The log's length bound, how far past it it may grow, and its age bound (ms).
    pub(crate) bounds: (usize, usize, u64),
    /// How long a publish waits for Redis: a batch not answered by then is given up
    /// (its publishers have been told "unavailable").
    pub(crate) deadline: std::time::Duration,
}

/// Takes the waiting publishes of one partition in batches until every sender is
/// gone.
pub(crate) async fn run(mut queue: mpsc::Receiver<Entry>, target: Target) {
    let target = Arc::new(target);
    let in_flight = Arc::new(Semaphore::new(IN_FLIGHT));
    while let Some(first) = queue.recv().await {
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            match queue.try_recv() {
                Ok(entry) => batch.push(entry),
                Err(_) => break,
            }
        }
        let Ok(permit) = Arc::clone(&in_flight).acquire_owned().await else {
            return;
        };
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
    let (max_len, slack, max_age) = target.bounds;
    let mut invocation = BATCH.key(&target.log);
    invocation
        .key(&target.meta)
        .arg(max_len)
        .arg(slack)
        .arg(max_age)
        .arg(batch.len());
    for entry in &batch {
        invocation
            .arg(&entry.topics)
            .arg(entry.frame.as_ref())
            .arg(entry.channels.len());
        for channel in &entry.channels {
            invocation.arg(channel);
        }
    }
    let send = crate::backplane::unsent_retried(|| {
        let (mut conn, invocation) = (target.conn.clone(), &invocation);
        async move { invocation.invoke_async::<Vec<Value>>(&mut conn).await }
    });
    let answer = tokio::time::timeout(target.deadline, send).await;
    let answer = answer.unwrap_or_else(|_| {
        Err(redis::RedisError::from((
            redis::ErrorKind::IoError,
            "no answer in time",
        )))
    });
    match answer {
        Ok(ids) => {
            let mut ids = ids.into_iter();
            for entry in batch {
                let id = ids
                    .next()
                    .and_then(|v| redis::from_redis_value::<String>(&v).ok());
                let pos = id
                    .and_then(|id| id.parse().ok())
                    .ok_or_else(|| "unexpected reply from the publish script".to_owned());
                let _ = entry.reply.send(pos);
            }
        }
        Err(e) => {
            let reason = e.to_string();
            for entry in batch {
                let _ = entry.reply.send(Err(reason.clone()));
            }
        }
    }
}

/// Appends a batch to a partition's log and publishes it: `KEYS` the log and the
/// partition's meta hash; `ARGV` the log's length bound, how far past it the log may
/// grow before it is trimmed, its age bound in ms, the number of entries, then per
/// entry its topics, its frame, its number of channels and the channels. Returns the
/// entries' ids. Each channel gets one payload, its records in the log's order.
/// Trims as the single publish script does.
pub(crate) const BATCH_LUA: &str = r"
-- Entry ids follow the order scripts run in, across the shard's logs: the
-- time in microseconds, then the entry's place in the batch; never below the
-- log's last id.
local now = redis.call('TIME')
local ms = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000)
local sub = (tonumber(now[2]) % 1000) * 1000
local last_ms, last_seq = -1, -1
local top = redis.call('XREVRANGE', KEYS[1], '+', '-', 'COUNT', 1)
if #top > 0 then
  local dash = string.find(top[1][1], '-')
  last_ms = tonumber(string.sub(top[1][1], 1, dash - 1))
  last_seq = tonumber(string.sub(top[1][1], dash + 1))
end
local function next_id(i)
  local m, s = ms, sub + i
  if m < last_ms or (m == last_ms and s <= last_seq) then
    m, s = last_ms, last_seq + 1
  end
  last_ms, last_seq = m, s
  return string.format('%.0f-%.0f', m, s)
end
local ids, out, order = {}, {}, {}
local i = 5
for e = 1, tonumber(ARGV[4]) do
  local topics, frame, n = ARGV[i], ARGV[i + 1], tonumber(ARGV[i + 2])
  local id = redis.call('XADD', KEYS[1], next_id(e - 1), 't', topics, 'f', frame)
  ids[e] = id
  local record = id .. ' ' .. topics .. '\n' .. frame
  for c = 1, n do
    local channel = ARGV[i + 2 + c]
    local records = out[channel]
    if not records then
      records = {}
      out[channel] = records
      order[#order + 1] = channel
    end
    records[#records + 1] = record
  end
  i = i + 3 + n
end
local floor = false
local oldest = tonumber(now[1]) * 1000 + math.floor(tonumber(now[2]) / 1000) - tonumber(ARGV[3])
if oldest > 0 then
  local gone = redis.call('XREVRANGE', KEYS[1], '(' .. oldest .. '-0', '-', 'COUNT', 1)
  if #gone > 0 then
    floor = gone[1][1]
    redis.call('XTRIM', KEYS[1], 'MINID', oldest .. '-0')
  end
end
local over = redis.call('XLEN', KEYS[1]) - tonumber(ARGV[1])
if over >= tonumber(ARGV[2]) then
  local gone = redis.call('XRANGE', KEYS[1], '-', '+', 'COUNT', over + 1)
  floor = gone[over][1]
  redis.call('XTRIM', KEYS[1], 'MINID', gone[over + 1][1])
end
if floor then redis.call('HSET', KEYS[2], 'floor', floor) end
for _, channel in ipairs(order) do
  redis.call('PUBLISH', channel, table.concat(out[channel]))
end
return ids
";

static BATCH: std::sync::LazyLock<Script> = std::sync::LazyLock::new(|| Script::new(BATCH_LUA));
