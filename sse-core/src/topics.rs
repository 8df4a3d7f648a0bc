//! Who subscribed to what: the index a topic publish walks instead of every client.

use std::{
    collections::{HashMap, HashSet},
    sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use crate::sync;
use crate::{dense::DenseClients, Client, Topic};

/// Each topic's subscribers as a [`DenseClients`], so a topic with 100k subscribers
/// does not make every departure O(n).
#[derive(Debug, Default)]
pub(crate) struct TopicIndex {
    topics: RwLock<HashMap<Topic, DenseClients>>,
}

impl TopicIndex {
    fn read(&self) -> RwLockReadGuard<'_, HashMap<Topic, DenseClients>> {
        sync::read(&self.topics)
    }

    fn write(&self) -> RwLockWriteGuard<'_, HashMap<Topic, DenseClients>> {
        sync::write(&self.topics)
    }

    /// Subscribes `client` to `topics`.
    pub(crate) fn add(&self, client: &Arc<Client>, topics: &[Topic]) {
        if topics.is_empty() {
            return;
        }
        let mut index = self.write();
        for topic in topics {
            index.entry(topic.clone()).or_default().insert(client);
        }
    }

    /// Unsubscribes `client` from `topics`.
    pub(crate) fn remove(&self, client: &Client, topics: &[Topic]) {
        if topics.is_empty() {
            return;
        }
        let mut index = self.write();
        for topic in topics {
            let Some(subs) = index.get_mut(topic) else {
                continue;
            };
            subs.remove(client.connection());
            if subs.is_empty() {
                index.remove(topic);
            }
        }
    }

    /// Calls `f` once for every client subscribed to any of `topics`.
    pub(crate) fn for_each(&self, topics: &[Topic], f: &mut dyn FnMut(&Arc<Client>)) {
        let index = self.read();
        if let [topic] = topics {
            index
                .get(topic)
                .into_iter()
                .flat_map(DenseClients::iter)
                .for_each(f);
            return;
        }
        let mut seen = HashSet::new();
        for client in topics
            .iter()
            .filter_map(|t| index.get(t))
            .flat_map(DenseClients::iter)
        {
            if seen.insert(client.connection()) {
                f(client);
            }
        }
    }
}
