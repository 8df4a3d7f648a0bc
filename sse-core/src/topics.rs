//! Who subscribed to what: the index a topic publish walks instead of every client.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use crate::{Client, Topic};

/// One topic's subscribers, dense for the walk and indexed for O(1) removal, so a
/// topic with 100k subscribers does not make every departure O(n).
#[derive(Debug, Default)]
struct Subscribers {
    dense: Vec<Arc<Client>>,
    slot_of: HashMap<u64, usize>,
}

#[derive(Debug, Default)]
pub(crate) struct TopicIndex {
    topics: RwLock<HashMap<Topic, Subscribers>>,
}

impl TopicIndex {
    fn read(&self) -> RwLockReadGuard<'_, HashMap<Topic, Subscribers>> {
        self.topics.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<Topic, Subscribers>> {
        self.topics.write().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn add(&self, client: &Arc<Client>) {
        if client.topics().is_empty() {
            return;
        }
        let mut index = self.write();
        for topic in client.topics() {
            let subs = index.entry(topic.clone()).or_default();
            if let std::collections::hash_map::Entry::Vacant(slot) =
                subs.slot_of.entry(client.connection())
            {
                slot.insert(subs.dense.len());
                subs.dense.push(Arc::clone(client));
            }
        }
    }

    pub(crate) fn remove(&self, client: &Client) {
        if client.topics().is_empty() {
            return;
        }
        let mut index = self.write();
        for topic in client.topics() {
            let Some(subs) = index.get_mut(topic) else {
                continue;
            };
            if let Some(slot) = subs.slot_of.remove(&client.connection()) {
                subs.dense.swap_remove(slot);
                if let Some(moved) = subs.dense.get(slot) {
                    subs.slot_of.insert(moved.connection(), slot);
                }
            }
            if subs.dense.is_empty() {
                index.remove(topic);
            }
        }
    }

    /// Calls `f` once for every client subscribed to any of `topics`.
    pub(crate) fn for_each(&self, topics: &[Topic], mut f: impl FnMut(&Arc<Client>)) {
        let index = self.read();
        if let [topic] = topics {
            index
                .get(topic)
                .into_iter()
                .flat_map(|s| &s.dense)
                .for_each(f);
            return;
        }
        let mut seen = HashSet::new();
        for client in topics
            .iter()
            .filter_map(|t| index.get(t))
            .flat_map(|s| &s.dense)
        {
            if seen.insert(client.connection()) {
                f(client);
            }
        }
    }
}
