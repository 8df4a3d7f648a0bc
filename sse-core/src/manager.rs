//! The client registry, behind a trait users can replace.

use std::{
    collections::HashMap,
    fmt,
    sync::{Arc, RwLock, RwLockReadGuard, RwLockWriteGuard},
};

use crate::sync;
use crate::{dense::DenseClients, topics::TopicIndex, Client, ClientId, Topic};

/// The registry of connected clients and their subscriptions, after the model's
/// `ClientManager` (New, Range, Remove, Active, Clients, Client).
///
/// It sees every subscription: a connection is added with its topics
/// ([`Client::topics`]) and removed with them, and live changes come through
/// [`subscribe`](ClientManager::subscribe) and
/// [`unsubscribe`](ClientManager::unsubscribe); a topic publish reaches whom
/// [`for_each_subscriber`](ClientManager::for_each_subscriber) names.
///
/// What the service holds while it calls:
///
/// - `add`, `subscribe`, `unsubscribe` and the `for_each` methods of a publish run
///   under its publish lock, so they never race one another.
/// - `subscribe` and `unsubscribe` also run under the connection's own topics lock:
///   do not call [`Client::topics`] (or format the client with `{:?}`) from them.
/// - `remove` runs when a connection ends, under no lock of the service's, so it may
///   meet a `subscribe` or `unsubscribe` of the same connection: read its topics with
///   [`Client::topics`] there, which waits for a change in progress and so sees it
///   (the service makes no change to a connection once it is being removed), and do
///   not call the manager's other methods while holding a lock `subscribe` takes.
///
/// The service never calls a hook or a transport from inside the `for_each` methods:
/// the closure only pushes into in-memory queues, so an implementation may hold its own
/// lock while running it.
///
/// Several connections may share a [`ClientId`]; each is told apart by
/// [`Client::connection`].
///
/// # Examples
///
/// A registry that logs every addition, built over the default one:
///
/// ```
/// use std::sync::Arc;
/// use sse_core::{Client, ClientId, ClientManager, MemoryManager, Service, Topic};
///
/// #[derive(Debug, Default)]
/// struct Logged(MemoryManager);
///
/// impl ClientManager for Logged {
///     fn add(&self, client: Arc<Client>) -> usize {
///         println!("+ {} {:?}", client.id(), client.topics());
///         self.0.add(client)
///     }
///     fn remove(&self, client: &Client) -> Option<usize> { self.0.remove(client) }
///     fn for_each(&self, f: &mut dyn FnMut(&Arc<Client>)) { self.0.for_each(f) }
///     fn for_each_with_id(&self, id: &ClientId, f: &mut dyn FnMut(&Arc<Client>)) {
///         self.0.for_each_with_id(id, f)
///     }
///     fn active(&self) -> usize { self.0.active() }
///     fn subscribe(&self, client: &Arc<Client>, topics: &[Topic]) {
///         println!("{} + {topics:?}", client.id());
///         self.0.subscribe(client, topics)
///     }
///     fn unsubscribe(&self, client: &Client, topics: &[Topic]) {
///         self.0.unsubscribe(client, topics)
///     }
///     fn for_each_subscriber(&self, topics: &[Topic], f: &mut dyn FnMut(&Arc<Client>)) {
///         self.0.for_each_subscriber(topics, f)
///     }
/// }
///
/// let service = Service::builder().manager(Logged::default()).build();
/// assert_eq!(service.active(), 0);
/// ```
pub trait ClientManager: Send + Sync + fmt::Debug + 'static {
    /// Adds a connection, subscribed to its [`topics`](Client::topics), and returns
    /// the number of active connections after adding (the model's `New`).
    fn add(&self, client: Arc<Client>) -> usize;

    /// Removes this connection and its subscriptions, and returns the number of active
    /// connections after removing, or `None` if it was not registered (the model's
    /// `Remove`).
    fn remove(&self, client: &Client) -> Option<usize>;

    /// Subscribes a registered connection to `topics`, which it did not have (a live
    /// [`Service::subscribe`](crate::Service::subscribe)).
    fn subscribe(&self, client: &Arc<Client>, topics: &[Topic]);

    /// Unsubscribes a registered connection from `topics`, which it had.
    fn unsubscribe(&self, client: &Client, topics: &[Topic]);

    /// Calls `f` once for every connection subscribed to any of `topics` (a topic
    /// publish).
    fn for_each_subscriber(&self, topics: &[Topic], f: &mut dyn FnMut(&Arc<Client>));

    /// Calls `f` for every connection (the model's `Range`).
    fn for_each(&self, f: &mut dyn FnMut(&Arc<Client>));

    /// Calls `f` for every connection with this id.
    fn for_each_with_id(&self, id: &ClientId, f: &mut dyn FnMut(&Arc<Client>));

    /// The number of active connections (the model's `Active`).
    fn active(&self) -> usize;

    /// A snapshot of all connections (the model's `Clients`).
    fn clients(&self) -> Vec<Arc<Client>> {
        let mut all = Vec::with_capacity(self.active());
        self.for_each(&mut |c| all.push(Arc::clone(c)));
        all
    }

    /// The first connection with this id, if any (the model's `Client`).
    fn client(&self, id: &ClientId) -> Option<Arc<Client>> {
        let mut found = None;
        self.for_each_with_id(id, &mut |c| {
            if found.is_none() {
                found = Some(Arc::clone(c));
            }
        });
        found
    }
}

/// The default, in-memory [`ClientManager`].
///
/// Connections live in one dense vector, so a broadcast walks memory in order; an index
/// by connection number makes removal O(1) (swap-remove), an index by id serves
/// send-to-one, and each topic's subscribers are a dense vector of their own, behind a
/// lock of their own, so that a topic publish walks only them.
#[derive(Default)]
pub struct MemoryManager {
    inner: RwLock<Registry>,
    topics: TopicIndex,
}

#[derive(Default)]
struct Registry {
    clients: DenseClients,
    by_id: HashMap<ClientId, Vec<Arc<Client>>>,
}

impl MemoryManager {
    /// An empty registry.
    pub fn new() -> Self {
        Self::default()
    }

    fn read(&self) -> RwLockReadGuard<'_, Registry> {
        sync::read(&self.inner)
    }

    fn write(&self) -> RwLockWriteGuard<'_, Registry> {
        sync::write(&self.inner)
    }
}

impl fmt::Debug for MemoryManager {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryManager")
            .field("active", &self.active())
            .finish()
    }
}

impl ClientManager for MemoryManager {
    fn add(&self, client: Arc<Client>) -> usize {
        let mut reg = self.write();
        if reg.clients.insert(&client) {
            self.topics.add(&client, &client.topics());
            reg.by_id
                .entry(client.id().clone())
                .or_default()
                .push(client);
        }
        reg.clients.len()
    }

    fn remove(&self, client: &Client) -> Option<usize> {
        let mut reg = self.write();
        if !reg.clients.remove(client.connection()) {
            return None;
        }
        self.topics.remove(client, &client.topics());
        if let Some(same_id) = reg.by_id.get_mut(client.id()) {
            same_id.retain(|c| c.connection() != client.connection());
            if same_id.is_empty() {
                reg.by_id.remove(client.id());
            }
        }
        // Give memory back after a spike of connections, as the dense set does.
        if reg.by_id.capacity() > 64 && reg.by_id.len() < reg.by_id.capacity() / 4 {
            let len = reg.by_id.len();
            reg.by_id.shrink_to(len * 2);
        }
        Some(reg.clients.len())
    }

    fn for_each(&self, f: &mut dyn FnMut(&Arc<Client>)) {
        self.read().clients.iter().for_each(f);
    }

    fn for_each_with_id(&self, id: &ClientId, f: &mut dyn FnMut(&Arc<Client>)) {
        if let Some(same_id) = self.read().by_id.get(id) {
            same_id.iter().for_each(f);
        }
    }

    fn active(&self) -> usize {
        self.read().clients.len()
    }

    fn subscribe(&self, client: &Arc<Client>, topics: &[Topic]) {
        self.topics.add(client, topics);
    }

    fn unsubscribe(&self, client: &Client, topics: &[Topic]) {
        self.topics.remove(client, topics);
    }

    fn for_each_subscriber(&self, topics: &[Topic], f: &mut dyn FnMut(&Arc<Client>)) {
        self.topics.for_each(topics, f);
    }
}
