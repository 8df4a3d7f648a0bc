//! The routes a [`TestServer`](crate::TestServer) serves, the request options for each,
//! the tokens the authenticated route accepts, and hooks that record what the service
//! did.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use base64::{engine::general_purpose::URL_SAFE_NO_PAD, Engine};
use http::{HeaderMap, HeaderName};
use jsonwebtoken::{encode, get_current_timestamp, Algorithm, EncodingKey, Header};
use serde_json::{json, Value};
use sse_core::{ClientId, ConnectRequest, Hooks, Principal, Rejection, TopicGrants};
use sse_http::{jwt::JwtAuth, ClaimedId, RequestOptions, TopicSource, CLIENT_ID_HEADER};
use tokio::sync::Notify;

/// The library's defaults: a generated client id, whatever the request claims.
pub const DEFAULT: &str = "/events";
/// Client id trusted from the `sse-clientid` header.
pub const HEADER: &str = "/header/events";
/// Client id trusted from the `client` query parameter.
pub const QUERY: &str = "/query/events";
/// Client id trusted from the `sid` cookie.
pub const COOKIE: &str = "/cookie/events";
/// Client id trusted from the second path segment: `/path/{id}/events`.
pub const PATH_PREFIX: &str = "/path/";
/// Principal from an authentication function of the `x-user` header (`user-{x-user}`,
/// every topic; 401 without it), topics from a function of `x-topics`.
pub const FUNCTION: &str = "/function/events";
/// Principal from a JSON Web Token ([`token`]) in `Authorization: Bearer` or the
/// `session` cookie; 401 without one.
pub const JWT: &str = "/jwt/events";
/// Principal from the request's extensions, put there by the server's own middleware
/// ([`middleware_principal`]); the library's defaults otherwise.
pub const MIDDLEWARE: &str = "/middleware/events";

/// The HS256 key of the tokens [`JWT`] accepts.
pub const JWT_SECRET: &[u8] = b"the behaviour suite's HS256 key, 32+ bytes";

/// The options for a request path, or `None` if no route matches (answer 404).
pub fn options(path: &str) -> Option<RequestOptions> {
    let options = RequestOptions::new();
    Some(match path {
        DEFAULT | MIDDLEWARE => options,
        HEADER => {
            options.trust_client_id(ClaimedId::Header(HeaderName::from_static(CLIENT_ID_HEADER)))
        }
        QUERY => options.trust_client_id(ClaimedId::Query("client".into())),
        COOKIE => options.trust_client_id(ClaimedId::Cookie("sid".into())),
        FUNCTION => options
            .authenticate(|head| {
                let user = head
                    .header("x-user")
                    .ok_or_else(|| Rejection::unauthenticated("x-user required"))?;
                let id = ClientId::new(&format!("user-{user}"))
                    .map_err(|_| Rejection::unauthenticated("bad x-user"))?;
                Ok(Some(Principal::new(id, TopicGrants::all())))
            })
            .topics(TopicSource::function(|head| {
                head.header("x-topics")
                    .map(|t| t.split(' ').map(str::to_owned).collect())
                    .unwrap_or_default()
            })),
        JWT => options.jwt(
            JwtAuth::hs256(JWT_SECRET)
                .expect("a valid key")
                .cookie("session"),
        ),
        _ => {
            let rest = path.strip_prefix(PATH_PREFIX)?;
            let (id, tail) = rest.split_once('/')?;
            if id.is_empty() || tail != "events" {
                return None;
            }
            options.trust_client_id(ClaimedId::PathSegment(1))
        }
    })
}

/// What the servers' own authentication middleware decides for [`MIDDLEWARE`]: the
/// principal `mw-{x-mw-user}` with every topic, when that header is present. Each
/// adapter's test server inserts it into the request's extensions.
pub fn middleware_principal(headers: &HeaderMap) -> Option<Principal> {
    let user = headers.get("x-mw-user")?.to_str().ok()?;
    let id = ClientId::new(&format!("mw-{user}")).ok()?;
    Some(Principal::new(id, TopicGrants::all()))
}

/// Claims for `sub`, valid for ten minutes, allowed `topics` (patterns).
pub fn claims(sub: &str, topics: &[&str]) -> Value {
    json!({
        "sub": sub,
        "exp": get_current_timestamp() + 600,
        "subscribe": topics,
    })
}

/// `claims` signed with `algorithm` (an HMAC one) and `key`.
pub fn sign(claims: &Value, algorithm: Algorithm, key: &[u8]) -> String {
    let key = EncodingKey::from_secret(key).expect("a valid key");
    encode(&Header::new(algorithm), claims, &key).expect("signed")
}

/// A token [`JWT`] accepts: `sub`, allowed `topics`, HS256 with [`JWT_SECRET`].
pub fn token(sub: &str, topics: &[&str]) -> String {
    sign(&claims(sub, topics), Algorithm::HS256, JWT_SECRET)
}

/// An unsigned token (`alg: none`) with these claims.
pub fn unsigned_token(claims: &Value) -> String {
    let part = |v: &Value| URL_SAFE_NO_PAD.encode(v.to_string());
    format!(
        "{}.{}.",
        part(&json!({"alg": "none", "typ": "JWT"})),
        part(claims)
    )
}

/// `token` with its payload replaced by `claims`, the signature kept.
pub fn tampered_token(token: &str, claims: &Value) -> String {
    let parts: Vec<&str> = token.split('.').collect();
    let payload = URL_SAFE_NO_PAD.encode(claims.to_string());
    format!("{}.{payload}.{}", parts[0], parts[2])
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

    /// How many times the remove hook fired, for any id.
    pub fn removed_total(&self) -> usize {
        let removed = self.inner.removed.lock().unwrap_or_else(|e| e.into_inner());
        removed.values().sum()
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
            Some(id) if id.starts_with("deny-401") => Err(Rejection::unauthenticated("no token")),
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
