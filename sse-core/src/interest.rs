//! What the service has local readers for: the topics at least one connection reads,
//! and the client ids connected here. A backplane subscribes to exactly these, so a
//! node receives only what some client of its own will read.

use std::{collections::HashMap, fmt, sync::Arc, sync::Mutex};

use crate::{sync, ClientId, Topic};

/// Something this service has local readers for.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
#[non_exhaustive]
pub enum Interest {
    /// A topic at least one connection here subscribes to.
    Topic(Topic),
    /// A client id with at least one connection here (direct messages to it).
    Client(ClientId),
}

/// Told when the service's [`Interest`]s change: a topic gains its first local
/// subscriber or loses its last, a client id its first or last connection here.
///
/// Called in the order the changes happen, under a lock of the service's own: it must
/// be quick and must not call back into the service (send the change to a task of
/// yours, as a backplane does).
///
/// # Examples
///
/// ```
/// use std::sync::{Arc, Mutex};
/// use sse_core::{ConnectRequest, Interest, InterestListener, Service};
///
/// #[derive(Debug, Default, Clone)]
/// struct Log(Arc<Mutex<Vec<String>>>);
///
/// impl InterestListener for Log {
///     fn on_interest(&self, interest: &Interest, interested: bool) {
///         self.0.lock().unwrap().push(format!("{interest:?} {interested}"));
///     }
/// }
///
/// let log = Log::default();
/// let service = Service::builder().interest_listener(log.clone()).build();
/// let alice = service.connect(ConnectRequest::new().client_id("alice").topics(["news"])).unwrap();
/// drop(alice);
/// assert_eq!(log.0.lock().unwrap().len(), 4); // news and alice, in and out
/// ```
pub trait InterestListener: Send + Sync + fmt::Debug + 'static {
    /// `interest` began (`interested`) or ended here.
    fn on_interest(&self, interest: &Interest, interested: bool);
}

/// Counts the local readers of each interest and tells the listener when one begins
/// or ends.
#[derive(Debug, Default)]
pub(crate) struct InterestTracker {
    listener: Option<Arc<dyn InterestListener>>,
    counts: Mutex<HashMap<Interest, usize>>,
}

impl InterestTracker {
    pub(crate) fn new(listener: Option<Arc<dyn InterestListener>>) -> Self {
        InterestTracker {
            listener,
            counts: Mutex::default(),
        }
    }

    /// One more reader of each of `interests`.
    pub(crate) fn join(&self, interests: impl IntoIterator<Item = Interest>) {
        let mut counts = sync::lock(&self.counts);
        for interest in interests {
            let count = counts.entry(interest.clone()).or_insert(0);
            *count += 1;
            if *count == 1 {
                self.tell(&interest, true);
            }
        }
    }

    /// One reader fewer of each of `interests`.
    pub(crate) fn leave(&self, interests: impl IntoIterator<Item = Interest>) {
        let mut counts = sync::lock(&self.counts);
        for interest in interests {
            let Some(count) = counts.get_mut(&interest) else {
                continue;
            };
            *count -= 1;
            if *count == 0 {
                counts.remove(&interest);
                self.tell(&interest, false);
            }
        }
        // Give memory back after a spike, as the registry does.
        if counts.capacity() > 64 && counts.len() < counts.capacity() / 4 {
            let len = counts.len();
            counts.shrink_to(len * 2);
        }
    }

    /// Every current interest, sorted.
    pub(crate) fn snapshot(&self) -> Vec<Interest> {
        self.counts()
            .into_iter()
            .map(|(interest, _)| interest)
            .collect()
    }

    /// Every current interest and its number of local readers, sorted.
    pub(crate) fn counts(&self) -> Vec<(Interest, usize)> {
        let mut all: Vec<(Interest, usize)> = sync::lock(&self.counts)
            .iter()
            .map(|(interest, n)| (interest.clone(), *n))
            .collect();
        all.sort();
        all
    }

    fn tell(&self, interest: &Interest, interested: bool) {
        if let Some(listener) = &self.listener {
            listener.on_interest(interest, interested);
        }
    }
}

/// The interests of one connection: its id and its topics.
pub(crate) fn of_client(id: &ClientId, topics: &[Topic]) -> Vec<Interest> {
    std::iter::once(Interest::Client(id.clone()))
        .chain(topics.iter().cloned().map(Interest::Topic))
        .collect()
}
