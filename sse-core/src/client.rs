use std::{
    fmt,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc, Mutex, MutexGuard,
    },
    time::Instant,
};

use crate::sync;
use crate::{policy::SlowClientPolicy, queue::Queue, ClientId, Principal, Topic, TopicGrants};

/// What a new connection asks for; adapters fill it from the HTTP request.
///
/// Who the connection is comes from the application: a [`Principal`] (an id and the
/// topics it may read), or a bare client id with the service's
/// [anonymous topics](crate::ServiceBuilder::anonymous_topics); with neither, the
/// service generates an id. The topics and the resume point are what the client asks
/// for, checked against what it may read.
///
/// # Examples
///
/// ```
/// use sse_core::ConnectRequest;
///
/// let req = ConnectRequest::new()
///     .client_id("alice")
///     .topics(["news", "sport"])
///     .last_event_id("1700000000000-41");
/// assert_eq!(req.requested_client_id(), Some("alice"));
/// ```
#[derive(Debug, Clone, Default)]
pub struct ConnectRequest {
    pub(crate) client_id: Option<String>,
    pub(crate) grants: Option<TopicGrants>,
    pub(crate) last_event_id: Option<String>,
    pub(crate) topics: Vec<String>,
    pub(crate) policy: Option<SlowClientPolicy>,
}

impl ConnectRequest {
    /// A request with no id (one is generated), no topics and no resume point.
    pub fn new() -> Self {
        Self::default()
    }

    /// The connection is `principal`: its id, and the topics it may subscribe to
    /// (default: none, an anonymous client).
    #[must_use]
    pub fn principal(mut self, principal: Principal) -> Self {
        self.client_id = Some(principal.id().as_str().to_owned());
        self.grants = Some(principal.topics().clone());
        self
    }

    /// The connection's client id, with the service's anonymous topics. Use it for an
    /// id the application stands behind: a value the client sent is a claim anyone
    /// can make (see [`principal`](Self::principal)). Default: none, the service
    /// generates one.
    #[must_use]
    pub fn client_id(mut self, id: impl Into<String>) -> Self {
        self.client_id = Some(id.into());
        self
    }

    /// The `Last-Event-ID` the client reconnects with (default: none, a fresh start).
    #[must_use]
    pub fn last_event_id(mut self, id: impl Into<String>) -> Self {
        self.last_event_id = Some(id.into());
        self
    }

    /// Topics to subscribe to, besides broadcasts.
    #[must_use]
    pub fn topics<I, T>(mut self, topics: I) -> Self
    where
        I: IntoIterator<Item = T>,
        T: Into<String>,
    {
        self.topics.extend(topics.into_iter().map(Into::into));
        self
    }

    /// Overrides the service's slow-client policy for this client (default: the
    /// service's).
    #[must_use]
    pub fn slow_client_policy(mut self, policy: SlowClientPolicy) -> Self {
        self.policy = Some(policy);
        self
    }

    /// The requested client id, if any (not yet validated).
    pub fn requested_client_id(&self) -> Option<&str> {
        self.client_id.as_deref()
    }

    /// The topics the principal may subscribe to, if the request has a principal.
    pub fn granted_topics(&self) -> Option<&TopicGrants> {
        self.grants.as_ref()
    }

    /// The requested resume point, if any.
    pub fn requested_last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// The requested topics (not yet validated).
    pub fn requested_topics(&self) -> &[String] {
        &self.topics
    }
}

/// One connected client: its id, topics, what it may subscribe to, and its outbound
/// queue.
///
/// Several connections may share one [`ClientId`] (see
/// [`DuplicatePolicy`](crate::DuplicatePolicy)); each is its own `Client`, told apart by
/// [`Client::connection`].
// A broadcast reads only `policy` and `queue`, so they come first: at 100k clients the
// fan-out is bound by cache misses, and this keeps it to the fewest lines per client.
#[repr(C)]
pub struct Client {
    pub(crate) policy: SlowClientPolicy,
    pub(crate) removed: AtomicBool,
    /// Held by a [`ResumeSource`](crate::ResumeSource): no event with an id yet.
    pub(crate) held: AtomicBool,
    pub(crate) queue: Queue,
    id: ClientId,
    connection: u64,
    /// Sorted. Changed by live subscriptions, which hold this lock while they tell the
    /// registry; a removal reads it after marking the client removed, so it sees the
    /// change in progress, and no change follows it.
    topics: Mutex<Arc<[Topic]>>,
    grants: TopicGrants,
    connected_at: Instant,
}

impl Client {
    pub(crate) fn new(
        id: ClientId,
        connection: u64,
        topics: Vec<Topic>,
        grants: TopicGrants,
        policy: SlowClientPolicy,
        queue: Queue,
    ) -> Self {
        Client {
            id,
            connection,
            topics: Mutex::new(topics.into()),
            grants,
            connected_at: Instant::now(),
            policy,
            queue,
            removed: AtomicBool::new(false),
            held: AtomicBool::new(false),
        }
    }

    pub(crate) fn lock_topics(&self) -> MutexGuard<'_, Arc<[Topic]>> {
        sync::lock(&self.topics)
    }

    /// The client's id.
    pub fn id(&self) -> &ClientId {
        &self.id
    }

    /// A number unique to this connection within its service.
    pub fn connection(&self) -> u64 {
        self.connection
    }

    /// The topics this client is subscribed to now, sorted.
    pub fn topics(&self) -> Arc<[Topic]> {
        Arc::clone(&self.lock_topics())
    }

    /// Whether this client is subscribed to `topic`.
    pub fn is_subscribed(&self, topic: &Topic) -> bool {
        self.lock_topics().binary_search(topic).is_ok()
    }

    /// The topics this client may subscribe to.
    pub fn grants(&self) -> &TopicGrants {
        &self.grants
    }

    /// When the client connected.
    pub fn connected_at(&self) -> Instant {
        self.connected_at
    }

    /// The slow-client policy in force for this client.
    pub fn slow_client_policy(&self) -> SlowClientPolicy {
        self.policy
    }

    /// Frames waiting in this client's outbound queue.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether a [`ResumeSource`](crate::ResumeSource) holds this client: it takes no
    /// event with an id until its history is read.
    pub fn is_held(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }

    /// Whether the client has been removed from its service.
    pub fn is_removed(&self) -> bool {
        self.removed.load(Ordering::Acquire)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client")
            .field("id", &self.id)
            .field("connection", &self.connection)
            .field("topics", &self.topics())
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_validated() {
        assert!(ClientId::new("").is_err());
        assert!(ClientId::new(&"a".repeat(129)).is_err());
        assert!(ClientId::new(&"a".repeat(128)).is_ok());
        assert!(ClientId::new("é").is_err());
        assert!(ClientId::new("a\nb").is_err());
        assert!(Topic::new("a b").is_err());
        assert_eq!(Topic::parse_list("a,,b").unwrap().len(), 2);
        assert!(Topic::parse_list("a,b c").is_err());
        assert_ne!(ClientId::generate(), ClientId::generate());
    }
}
