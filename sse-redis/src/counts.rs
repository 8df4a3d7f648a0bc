//! Counts across instances: each instance writes its own counts to Redis every
//! heartbeat, under a key that expires after three, and a reader sums the live ones.
//!
//! Keys: `{prefix}:node:{id}`, a hash of `active` (the instance's connections) and
//! `t:{topic}` (its subscribers of each topic), with a time to live of three
//! heartbeats; `{prefix}:nodes`, a sorted set of instance ids scored by the time of
//! their last heartbeat (unix ms, by the instance's clock).

use std::{
    collections::HashMap,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use crate::conn::Conn;
use sse_core::{Interest, Service, Topic};
use tokio::sync::watch;

/// Connections and topic subscribers across every live instance, from
/// [`RedisBackplane::cluster_counts`](crate::RedisBackplane::cluster_counts).
///
/// Each instance's share is as of its last heartbeat
/// ([`RedisOptions::heartbeat`](crate::RedisOptions::heartbeat), default 5 s): a
/// figure is at most one heartbeat old, plus the time to read it. An instance that
/// stops cleanly takes its share out at once; one that dies counts until its key
/// expires, three heartbeats after its last.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ClusterCounts {
    /// Instances whose counts are included.
    pub instances: usize,
    /// Connections, over every instance.
    pub active: u64,
    /// Subscribers of each topic that has any, over every instance.
    pub topics: HashMap<Topic, u64>,
}

// The counts' keys share a hash tag: on a cluster, one pipeline reaches them all.
pub(crate) fn node_key(prefix: &str, node: &str) -> String {
    format!("{{{prefix}:n}}:node:{node}")
}

pub(crate) fn nodes_key(prefix: &str) -> String {
    format!("{{{prefix}:n}}:nodes")
}

/// A fresh instance id: random, from the standard library's per-process hash keys
/// and the clock.
pub(crate) fn node_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut hasher = std::collections::hash_map::RandomState::new().build_hasher();
    hasher.write_u128(now_ms() as u128);
    hasher.write_u32(std::process::id());
    format!("{:016x}", hasher.finish())
}

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Writes this instance's counts every `every` until `stop` changes or is dropped;
/// then takes them out.
pub(crate) async fn heartbeat(
    mut conn: Conn,
    service: Service,
    prefix: String,
    node: String,
    every: Duration,
    mut stop: watch::Receiver<()>,
) {
    let key = node_key(&prefix, &node);
    let nodes = nodes_key(&prefix);
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = stop.changed() => break,
        }
        let mut pipe = redis::pipe();
        pipe.atomic().del(&key).ignore();
        pipe.hset(&key, "active", service.active()).ignore();
        for (interest, n) in service.interest_counts() {
            if let Interest::Topic(topic) = interest {
                pipe.hset(&key, format!("t:{topic}"), n).ignore();
            }
        }
        let ttl_ms = (every * 3).as_millis() as u64;
        pipe.pexpire(&key, ttl_ms as i64).ignore();
        pipe.zadd(&nodes, &node, now_ms()).ignore();
        // Instances gone for ten heartbeats: their keys expired long ago.
        let stale = now_ms().saturating_sub(ttl_ms * 10 / 3);
        pipe.zrembyscore(&nodes, "-inf", stale).ignore();
        // An outage is the reader's to report; the next beat tries again.
        let _ = pipe.query_async::<()>(&mut conn).await;
    }
    let mut pipe = redis::pipe();
    pipe.del(&key).ignore().zrem(&nodes, &node).ignore();
    let _ = tokio::time::timeout(every, pipe.query_async::<()>(&mut conn)).await;
}

/// Sums the counts of the instances that beat within the last three heartbeats.
pub(crate) async fn read(
    conn: &mut Conn,
    prefix: &str,
    every: Duration,
) -> Result<ClusterCounts, String> {
    let since = now_ms().saturating_sub((every * 3).as_millis() as u64);
    let ids: Vec<String> = redis::cmd("ZRANGEBYSCORE")
        .arg(nodes_key(prefix))
        .arg(since)
        .arg("+inf")
        .query_async(conn)
        .await
        .map_err(|e| e.to_string())?;
    let mut pipe = redis::pipe();
    for id in &ids {
        pipe.hgetall(node_key(prefix, id));
    }
    let shares: Vec<HashMap<String, u64>> =
        pipe.query_async(conn).await.map_err(|e| e.to_string())?;
    let mut counts = ClusterCounts::default();
    // An expired key reads as an empty hash: that instance is gone.
    for share in shares.into_iter().filter(|s| !s.is_empty()) {
        counts.instances += 1;
        for (field, n) in share {
            if field == "active" {
                counts.active += n;
            } else if let Some(topic) = field.strip_prefix("t:").and_then(|t| Topic::new(t).ok()) {
                *counts.topics.entry(topic).or_default() += n;
            }
        }
    }
    Ok(counts)
}
