//! The routes a [`TestServer`](crate::TestServer) serves, the request options for each,
//! and hooks that record what the service did.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use sse_core::{
    http::{IdSource, RequestOptions, TopicSource},
    ClientId, ConnectRequest, Hooks, Rejection,
};
use tokio::sync::Notify;

/// Client id from the `sse-clientid` header (the default options).
pub const DEFAULT: &str = "/events";
/// Client id from the `client` query parameter.
pub const QUERY: &str = "/query/events";
/// Client id from the `sid` cookie.
pub const COOKIE: &str = "/cookie/events";
/// Client id from the second path segment: `/path/{id}/events`.
pub const PATH_PREFIX: &str = "/path/";
/// Client id and topics from functions of the `x-user` and `x-topics` headers.
pub const FUNCTION: &str = "/function/events";

/// The options for a request path, or `None` if no route matches (answer 404).
pub fn options(path: &str) -> Option<RequestOptions> {
    let options = RequestOptions::new();
    Some(match path {
        DEFAULT => options,
        QUERY => options.client_id(IdSource::Query("client".into())),
        COOKIE => options.client_id(IdSource::Cookie("sid".into())),
        FUNCTION => options
            .client_id(IdSource::function(|head| {
                head.header("x-user").map(|u| format!("user-{u}"))
            }))
            .topics(TopicSource::function(|head| {
                head.header("x-topics")
                    .map(|t| t.split(' ').map(str::to_owned).collect())
                    .unwrap_or_default()
            })),
        _ => {
            let rest = path.strip_prefix(PATH_PREFIX)?;
            let (id, tail) = rest.split_once('/')?;
            if id.is_empty() || tail != "events" {
                return None;
            }
            options.client_id(IdSource::PathSegment(1))
        }
    })
}

/// Hooks that refuse ids starting `deny-401`/`deny-403` and record every removal.
#[derive(Debug, Default, Clone)]
pub struct RecordingHooks {
    inner: Arc<Recorded>,
}

#[derive(Debug, Default)]
struct Recorded {
    removed: Mutex<HashMap<ClientId, usize>>,
    changed: Notify,
}

impl RecordingHooks {
    /// New hooks with nothing recorded.
    pub fn new() -> Self {
        Self::default()
    }

    /// How many times the remove hook fired for `id`.
    pub fn removed(&self, id: &str) -> usize {
        let removed = self.inner.removed.lock().unwrap_or_else(|e| e.into_inner());
        ClientId::new(id)
            .ok()
            .and_then(|id| removed.get(&id).copied())
            .unwrap_or(0)
    }

    /// Waits until the remove hook has fired for `id` (or `within` passes); whether it
    /// did.
    pub async fn wait_removed(&self, id: &str, within: std::time::Duration) -> bool {
        let wait = async {
            loop {
                let changed = self.inner.changed.notified();
                if self.removed(id) > 0 {
                    return;
                }
                changed.await;
            }
        };
        tokio::time::timeout(within, wait).await.is_ok()
    }
}

impl Hooks for RecordingHooks {
    fn on_connect(&self, request: &ConnectRequest) -> Result<(), Rejection> {
        match request.requested_client_id() {
            Some(id) if id.starts_with("deny-401") => Err(Rejection::unauthorized("no token")),
            Some(id) if id.starts_with("deny-403") => Err(Rejection::forbidden("not yours")),
            _ => Ok(()),
        }
    }

    fn on_remove_client(&self, client_id: &ClientId, _count: usize) {
        let mut removed = self.inner.removed.lock().unwrap_or_else(|e| e.into_inner());
        *removed.entry(client_id.clone()).or_default() += 1;
        drop(removed);
        self.inner.changed.notify_waiters();
    }
}
