//! Signed credentials for `EventSource`, which cannot send headers: [`JwtAuth`]
//! verifies a JSON Web Token (HS256, RS256 or ES256, with the `jsonwebtoken` crate)
//! from `Authorization: Bearer`, a cookie or, only when asked for by name, a query
//! parameter, and makes a [`Principal`] of its claims.
//!
//! The token's `sub` is the client id; its `subscribe` claim (the name is
//! configurable) lists the topic patterns it may subscribe to, as Mercure's
//! `mercure.subscribe` does. `exp` and `sub` are required; `exp` and `nbf` are checked
//! (with 60 s of leeway for clock skew). One algorithm is accepted per `JwtAuth`, the
//! one its key is for, so a token signed with another (`alg: none`, or HS256 with an
//! RSA public key as its secret) is refused with 401.
//!
//! # Examples
//!
//! ```
//! use jsonwebtoken::{encode, EncodingKey, Header};
//! use sse_core::{RejectionKind, Service};
//! use sse_http::{jwt::JwtAuth, RequestHead, RequestOptions};
//!
//! let auth = JwtAuth::hs256(b"a long random secret").unwrap().cookie("session");
//! let options = RequestOptions::new().jwt(auth);
//!
//! let claims = serde_json::json!({
//!     "sub": "alice",
//!     "exp": jsonwebtoken::get_current_timestamp() + 3600,
//!     "subscribe": ["room:*", "private:alice"],
//! });
//! let key = EncodingKey::from_secret(b"a long random secret").unwrap();
//! let token = encode(&Header::default(), &claims, &key).unwrap();
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("cookie", format!("session={token}").parse().unwrap());
//! let head = RequestHead::new(&headers, "/events", Some("topics=private:alice"));
//! let stream = options.connect(&Service::new(), &head).unwrap();
//! assert!(stream.is_some());
//!
//! let stranger = RequestHead::new(&headers, "/events", Some("topics=private:bob"));
//! let refused = options.connect(&Service::new(), &stranger).unwrap_err();
//! assert_eq!(refused.rejection().unwrap().kind(), RejectionKind::Forbidden);
//! ```

use std::{collections::HashMap, fmt, sync::Arc, time::Duration};

use http::header::AUTHORIZATION;
pub use jsonwebtoken;
use jsonwebtoken::{errors::ErrorKind, Algorithm, DecodingKey, Validation};
use serde_json::Value;

use sse_core::{ClientId, Principal, Rejection, TopicGrants};

use crate::{AuthResult, RequestHead};

/// The claim read as the topic patterns a token may subscribe to, by default.
pub const SUBSCRIBE_CLAIM: &str = "subscribe";

/// Verifies JSON Web Tokens and makes principals of them; cheap to clone.
///
/// Without a token a request is refused with 401, unless
/// [`anonymous_without_token`](Self::anonymous_without_token) lets it in as an
/// anonymous client. A token that is present but fails verification is always 401.
#[derive(Clone)]
pub struct JwtAuth {
    inner: Arc<Config>,
}

#[derive(Clone)]
struct Config {
    key: DecodingKey,
    validation: Validation,
    cookie: Option<String>,
    query: Option<String>,
    topics_claim: String,
    anonymous: bool,
}

impl fmt::Debug for JwtAuth {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let c = &self.inner;
        f.debug_struct("JwtAuth")
            .field("algorithms", &c.validation.algorithms)
            .field("cookie", &c.cookie)
            .field("query", &c.query)
            .field("topics_claim", &c.topics_claim)
            .field("anonymous", &c.anonymous)
            .finish_non_exhaustive()
    }
}

impl JwtAuth {
    fn new(key: DecodingKey, algorithm: Algorithm) -> Self {
        let mut validation = Validation::new(algorithm);
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        JwtAuth {
            inner: Arc::new(Config {
                key,
                validation,
                cookie: None,
                query: None,
                topics_claim: SUBSCRIBE_CLAIM.to_owned(),
                anonymous: false,
            }),
        }
    }

    fn config(&mut self) -> &mut Config {
        Arc::make_mut(&mut self.inner)
    }

    /// Tokens signed with HMAC-SHA256 and `secret` (use 32 random bytes or more).
    ///
    /// # Errors
    ///
    /// An empty secret.
    pub fn hs256(secret: &[u8]) -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Self::new(
            DecodingKey::from_secret(secret)?,
            Algorithm::HS256,
        ))
    }

    /// Tokens signed with RSA (PKCS#1 v1.5, SHA-256), verified with this PEM public
    /// key.
    ///
    /// # Errors
    ///
    /// The PEM is not an RSA public key.
    pub fn rs256_pem(public_key: &[u8]) -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Self::new(
            DecodingKey::from_rsa_pem(public_key)?,
            Algorithm::RS256,
        ))
    }

    /// Tokens signed with ECDSA on P-256 (SHA-256), verified with this PEM public key.
    ///
    /// # Errors
    ///
    /// The PEM is not an EC public key.
    pub fn es256_pem(public_key: &[u8]) -> Result<Self, jsonwebtoken::errors::Error> {
        Ok(Self::new(
            DecodingKey::from_ec_pem(public_key)?,
            Algorithm::ES256,
        ))
    }

    /// Also reads the token from cookie `name` (after `Authorization: Bearer`). Set
    /// it `HttpOnly` and `SameSite=Lax` or `Strict`, so a page's scripts cannot read
    /// it and other sites' pages do not send it. Default: the header only.
    #[must_use]
    pub fn cookie(mut self, name: impl Into<String>) -> Self {
        self.config().cookie = Some(name.into());
        self
    }

    /// Also reads the token from query parameter `name`, after the header and the
    /// cookie. URLs end up in access logs, proxies' logs and browser history, so a
    /// token there can be replayed by whoever reads them until it expires: prefer a
    /// cookie, and keep such tokens short-lived. Default: never from the query.
    #[must_use]
    pub fn query_param_despite_logs(mut self, name: impl Into<String>) -> Self {
        self.config().query = Some(name.into());
        self
    }

    /// The claim holding the topic patterns (default [`SUBSCRIBE_CLAIM`]); absent
    /// means none, only broadcasts and direct messages.
    #[must_use]
    pub fn topics_claim(mut self, name: impl Into<String>) -> Self {
        self.config().topics_claim = name.into();
        self
    }

    /// Requires the `aud` claim to be one of `audiences` (default: not checked).
    #[must_use]
    pub fn audience(mut self, audiences: &[&str]) -> Self {
        let validation = &mut self.config().validation;
        validation.set_audience(audiences);
        validation.required_spec_claims.insert("aud".to_owned());
        self
    }

    /// Requires the `iss` claim to be one of `issuers` (default: not checked).
    #[must_use]
    pub fn issuer(mut self, issuers: &[&str]) -> Self {
        let validation = &mut self.config().validation;
        validation.set_issuer(issuers);
        validation.required_spec_claims.insert("iss".to_owned());
        self
    }

    /// Clock skew allowed on `exp` and `nbf` (default 60 s).
    #[must_use]
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.config().validation.leeway = leeway.as_secs();
        self
    }

    /// A request without any token connects as an anonymous client (a generated id
    /// and the service's anonymous topics) instead of being refused with 401 (the
    /// default).
    #[must_use]
    pub fn anonymous_without_token(mut self) -> Self {
        self.config().anonymous = true;
        self
    }

    /// The principal of the request's token: the first of `Authorization: Bearer`,
    /// the cookie and the query parameter that is present.
    ///
    /// # Errors
    ///
    /// 401 when the token is missing (unless anonymous clients are let in) or fails
    /// verification.
    pub fn authenticate(&self, head: &RequestHead<'_>) -> AuthResult {
        let c = &self.inner;
        let bearer = head.header(AUTHORIZATION.as_str()).and_then(|value| {
            let (scheme, token) = value.split_once(' ')?;
            scheme
                .eq_ignore_ascii_case("bearer")
                .then(|| token.trim().to_owned())
        });
        let token = bearer
            .or_else(|| {
                c.cookie
                    .as_deref()
                    .and_then(|n| head.cookie(n))
                    .map(str::to_owned)
            })
            .or_else(|| c.query.as_deref().and_then(|n| head.query_param(n)));
        match token {
            Some(token) => self.verify(&token).map(Some),
            None if c.anonymous => Ok(None),
            None => Err(Rejection::unauthenticated("a token is required")),
        }
    }

    /// The principal of `token`.
    ///
    /// # Errors
    ///
    /// 401, with the reason, when the token fails verification or its claims are not
    /// a principal.
    pub fn verify(&self, token: &str) -> Result<Principal, Rejection> {
        let c = &self.inner;
        let data = jsonwebtoken::decode::<HashMap<String, Value>>(token, &c.key, &c.validation)
            .map_err(|e| {
                Rejection::unauthenticated(match e.kind() {
                    ErrorKind::ExpiredSignature => "token expired",
                    ErrorKind::ImmatureSignature => "token not yet valid",
                    ErrorKind::InvalidAlgorithm => "token algorithm not accepted",
                    ErrorKind::InvalidSignature => "token signature invalid",
                    ErrorKind::MissingRequiredClaim(_) => "token lacks a required claim",
                    ErrorKind::InvalidAudience => "token audience not accepted",
                    ErrorKind::InvalidIssuer => "token issuer not accepted",
                    _ => "token invalid",
                })
            })?;
        let claims = data.claims;
        let id = claims
            .get("sub")
            .and_then(Value::as_str)
            .and_then(|sub| ClientId::new(sub).ok())
            .ok_or_else(|| Rejection::unauthenticated("token subject is not a client id"))?;
        let topics = match claims.get(&c.topics_claim) {
            None => TopicGrants::none(),
            Some(Value::Array(patterns)) => patterns
                .iter()
                .map(|p| p.as_str().ok_or(()))
                .collect::<Result<Vec<_>, _>>()
                .ok()
                .and_then(|patterns| TopicGrants::patterns(patterns).ok())
                .ok_or_else(|| Rejection::unauthenticated("token topics are not topic patterns"))?,
            Some(_) => return Err(Rejection::unauthenticated("token topics are not a list")),
        };
        Ok(Principal::new(id, topics))
    }
}
