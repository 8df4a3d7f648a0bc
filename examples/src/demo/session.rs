//! The demo's sign-in: a session cookie holding a JSON Web Token signed with the demo's
//! key (HS256), verified by the library's `JwtAuth` on every `GET /events` and read by
//! the demo's own routes to know who posts.
//!
//! Demo processes that share a key (`DEMO_SECRET`) accept each other's sessions.

use std::time::Duration;

use http::HeaderMap;
use jsonwebtoken::{encode, get_current_timestamp, EncodingKey, Header};
use serde_json::json;
use sse_core::{ClientId, Principal};
use sse_http::{jwt::JwtAuth, RequestHead};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "demo_session";

/// How long a session lasts.
pub const SESSION_TTL: Duration = Duration::from_secs(24 * 60 * 60);

/// The topics of a signed-in user: every room, and their own inbox.
pub fn user_topics(name: &str) -> [String; 2] {
    ["room:*".to_owned(), inbox(name)]
}

/// The topic of `name`'s private inbox.
pub fn inbox(name: &str) -> String {
    format!("private:{name}")
}

/// Whether `name` may be a user name: 1 to 32 ASCII letters, digits, `_` or `-`. A
/// generated client id (a 36-character UUID) can never be one, so the demo tells the
/// two apart by their shape.
pub fn is_user_name(name: &str) -> bool {
    (1..=32).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

/// Makes and checks session tokens with one key.
#[derive(Debug, Clone)]
pub struct Sessions {
    encoding: EncodingKey,
    auth: JwtAuth,
}

impl Sessions {
    /// Sessions signed with `secret`.
    ///
    /// # Errors
    ///
    /// An empty secret.
    pub fn new(secret: &[u8]) -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Sessions {
            encoding: EncodingKey::from_secret(secret)?,
            auth: JwtAuth::hs256(secret)?
                .cookie(SESSION_COOKIE)
                .anonymous_without_token(),
        })
    }

    /// A key of 32 random bytes, for a demo run without `DEMO_SECRET`.
    pub fn random_secret() -> Vec<u8> {
        let mut key = vec![0; 32];
        getrandom::fill(&mut key).expect("the OS gives random bytes");
        key
    }

    /// What `GET /events` authenticates with: the session cookie when there is one,
    /// else an anonymous client; a bad cookie is refused with 401.
    pub fn auth(&self) -> &JwtAuth {
        &self.auth
    }

    /// The `Set-Cookie` value of a new session for user `name`.
    pub fn sign_in(&self, name: &str) -> String {
        let claims = json!({
            "sub": name,
            "exp": get_current_timestamp() + SESSION_TTL.as_secs(),
            "subscribe": user_topics(name),
        });
        let token = encode(&Header::default(), &claims, &self.encoding)
            .expect("HS256 over JSON claims cannot fail");
        format!(
            "{SESSION_COOKIE}={token}; Path=/; HttpOnly; SameSite=Lax; Max-Age={}",
            SESSION_TTL.as_secs()
        )
    }

    /// The `Set-Cookie` value that ends a session.
    pub fn sign_out() -> String {
        format!("{SESSION_COOKIE}=; Path=/; HttpOnly; SameSite=Lax; Max-Age=0")
    }

    /// The signed-in user of a request: `Ok(None)` without a session cookie, an error
    /// (401's reason) for a bad one.
    pub fn user(&self, headers: &HeaderMap) -> Result<Option<ClientId>, String> {
        let head = RequestHead::new(headers, "/", None);
        self.auth
            .authenticate(&head)
            .map(|p| p.map(|p: Principal| p.id().clone()))
            .map_err(|r| r.reason().to_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_session_names_its_user_and_another_key_refuses_it() {
        let sessions = Sessions::new(b"one key of the demo, 32 bytes ok").unwrap();
        let cookie = sessions.sign_in("alice");
        let token = cookie.split(';').next().unwrap();
        let mut headers = HeaderMap::new();
        headers.insert("cookie", token.parse().unwrap());
        assert_eq!(sessions.user(&headers).unwrap().unwrap().as_str(), "alice");
        let other = Sessions::new(b"another key of the demo, 32 byte").unwrap();
        assert!(other.user(&headers).is_err());
        assert_eq!(sessions.user(&HeaderMap::new()), Ok(None));
    }

    #[test]
    fn user_names_never_look_like_generated_ids() {
        assert!(is_user_name("alice") && is_user_name("a_b-9"));
        assert!(!is_user_name(&ClientId::generate().to_string()));
        assert!(!is_user_name("") && !is_user_name("a b") && !is_user_name("é"));
    }
}
