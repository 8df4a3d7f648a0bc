//! A set of clients in one dense vector, for the registry and each topic.

use std::{collections::HashMap, sync::Arc};

use crate::Client;

/// Clients in one vector so a fan-out walks memory in order, with an index by
/// connection number so removal is O(1) (swap-remove) even with 100k members.
#[derive(Debug, Default)]
pub(crate) struct DenseClients {
    dense: Vec<Arc<Client>>,
    slot_of: HashMap<u64, usize>,
}

impl DenseClients {
    /// Adds the client; false if its connection is already here.
    pub(crate) fn insert(&mut self, client: &Arc<Client>) -> bool {
        if self.slot_of.contains_key(&client.connection()) {
            return false;
        }
        self.slot_of.insert(client.connection(), self.dense.len());
        self.dense.push(Arc::clone(client));
        true
    }

    /// Removes the connection; false if it was not here.
    pub(crate) fn remove(&mut self, connection: u64) -> bool {
        let Some(slot) = self.slot_of.remove(&connection) else {
            return false;
        };
        self.dense.swap_remove(slot);
        if let Some(moved) = self.dense.get(slot) {
            self.slot_of.insert(moved.connection(), slot);
        }
        // Give memory back after a spike of connections.
        if self.dense.capacity() > 64 && self.dense.len() < self.dense.capacity() / 4 {
            let len = self.dense.len();
            self.dense.shrink_to(len * 2);
            self.slot_of.shrink_to(len * 2);
        }
        true
    }

    pub(crate) fn len(&self) -> usize {
        self.dense.len()
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.dense.is_empty()
    }

    pub(crate) fn iter(&self) -> std::slice::Iter<'_, Arc<Client>> {
        self.dense.iter()
    }
}
