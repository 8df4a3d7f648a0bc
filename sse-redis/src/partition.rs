//! Where a message lives: topics and client ids hash onto a fixed number of
//! partitions, each with its own log and channels under one hash tag, so a partition
//! sits in one Redis Cluster slot; partitions spread over the shards.

use sse_core::{ClientId, Topic};

/// A partition's number. Topic and client partitions are `0..partitions`; broadcasts
/// have their own, numbered `partitions`.
pub(crate) type Partition = u16;

/// The deployment's layout: its key prefix, its number of topic partitions and of
/// shards.
#[derive(Debug, Clone)]
pub(crate) struct Layout {
    partitions: u16,
    shards: usize,
    /// Each partition's hash tag, `{prefix:P}` (`{prefix:b}` for broadcasts).
    tags: Vec<String>,
}

impl Layout {
    pub(crate) fn new(prefix: &str, partitions: u16, shards: usize) -> Self {
        let tags = (0..=partitions)
            .map(|p| {
                if p == partitions {
                    format!("{{{prefix}:b}}")
                } else {
                    format!("{{{prefix}:{p}}}")
                }
            })
            .collect();
        Layout {
            partitions,
            shards: shards.max(1),
            tags,
        }
    }

    /// Topic partitions, without the broadcast one.
    pub(crate) fn partitions(&self) -> u16 {
        self.partitions
    }

    /// Every partition, the broadcast one last.
    pub(crate) fn all(&self) -> impl Iterator<Item = Partition> {
        0..=self.partitions
    }

    pub(crate) fn broadcast(&self) -> Partition {
        self.partitions
    }

    pub(crate) fn of_topic(&self, topic: &Topic) -> Partition {
        jump(fnv1a(topic.as_str().as_bytes()), self.partitions)
    }

    pub(crate) fn of_client(&self, id: &ClientId) -> Partition {
        jump(fnv1a(id.as_str().as_bytes()), self.partitions)
    }

    /// The shard that holds `partition`.
    pub(crate) fn shard(&self, partition: Partition) -> usize {
        usize::from(partition) % self.shards
    }

    /// The hash tag of `partition`: `{prefix:P}`, or `{prefix:b}` for broadcasts.
    fn tag(&self, partition: Partition) -> &str {
        &self.tags[usize::from(partition)]
    }

    /// The partitions shard `shard` holds.
    pub(crate) fn of_shard(&self, shard: usize) -> Vec<Partition> {
        self.all().filter(|&p| self.shard(p) == shard).collect()
    }

    /// The partition's log, a stream.
    pub(crate) fn log(&self, partition: Partition) -> String {
        format!("{}:log", self.tag(partition))
    }

    /// The partition's meta hash: `floor`, the newest entry trimmed from its log.
    pub(crate) fn meta(&self, partition: Partition) -> String {
        format!("{}:meta", self.tag(partition))
    }

    /// Partition `partition`'s marks: where its log will be cut by length.
    pub(crate) fn marks(&self, partition: Partition) -> String {
        format!("{}:marks", self.tag(partition))
    }

    /// Where a keyed send's outcome is kept: `once` for logged events, `once-c` for
    /// direct messages, so one key used for both sends each once.
    pub(crate) fn once(&self, partition: Partition, key: &str) -> String {
        format!("{}:once:{key}", self.tag(partition))
    }

    pub(crate) fn once_direct(&self, partition: Partition, key: &str) -> String {
        format!("{}:once-c:{key}", self.tag(partition))
    }

    /// The channel of `topic`, of partition `partition` (its [`of_topic`](Self::of_topic)).
    pub(crate) fn topic_channel(&self, partition: Partition, topic: &Topic) -> String {
        format!("{}:t:{}", self.tag(partition), topic.as_str())
    }

    pub(crate) fn client_channel(&self, id: &ClientId) -> String {
        format!("{}:c:{}", self.tag(self.of_client(id)), id.as_str())
    }

    pub(crate) fn broadcast_channel(&self) -> String {
        format!("{}:all", self.tag(self.partitions))
    }
}

/// FNV-1a, 64 bits: a fixed hash, the same on every node and every run.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0000_0100_0000_01b3)
    })
}

/// Lamping and Veach's jump consistent hash: `key` onto `0..buckets`, moving as few
/// keys as possible when `buckets` grows.
fn jump(mut key: u64, buckets: u16) -> Partition {
    let (mut b, mut j) = (-1i64, 0i64);
    while j < i64::from(buckets) {
        b = j;
        key = key.wrapping_mul(2_862_933_555_777_941_757).wrapping_add(1);
        j = ((b + 1) as f64 * ((1u64 << 31) as f64 / ((key >> 33) + 1) as f64)) as i64;
    }
    b.max(0) as Partition
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_and_spread() {
        // The reference values of FNV-1a 64.
        assert_eq!(fnv1a(b""), 0xcbf2_9ce4_8422_2325);
        assert_eq!(fnv1a(b"a"), 0xaf63_dc4c_8601_ec8c);
        let layout = Layout::new("sse", 16, 3);
        let mut seen = [0usize; 16];
        for n in 0..16_000 {
            let p = layout.of_topic(&Topic::new(&format!("topic-{n}")).unwrap());
            seen[usize::from(p)] += 1;
        }
        assert!(seen.iter().all(|&n| (800..1200).contains(&n)), "{seen:?}");
    }

    #[test]
    fn growing_the_partitions_moves_few_topics() {
        let (small, big) = (Layout::new("sse", 16, 1), Layout::new("sse", 17, 1));
        let moved = (0..10_000)
            .map(|n| Topic::new(&format!("t{n}")).unwrap())
            .filter(|t| small.of_topic(t) != big.of_topic(t))
            .count();
        // About 1/17 of them.
        assert!((400..800).contains(&moved), "{moved}");
    }

    #[test]
    fn names_share_their_partition_tag() {
        let layout = Layout::new("chat", 16, 3);
        let news = Topic::new("news").unwrap();
        let p = layout.of_topic(&news);
        assert_eq!(
            layout.topic_channel(p, &news),
            format!("{{chat:{p}}}:t:news")
        );
        assert_eq!(layout.log(p), format!("{{chat:{p}}}:log"));
        assert_eq!(layout.broadcast_channel(), "{chat:b}:all");
        assert_eq!(layout.log(layout.broadcast()), "{chat:b}:log");
        assert_eq!(layout.all().count(), 17);
        assert_eq!(layout.shard(4), 1);
    }
}
