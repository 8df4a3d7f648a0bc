//! Server-Sent Events over HTTP, for any framework: reading a
//! [`ConnectRequest`](sse_core::ConnectRequest) from a request (who the client is, its
//! topics and its `Last-Event-ID`), and the response: the stream's head and
//! [`SseBody`], or a refusal's status and text. [`Endpoint`] does both for a
//! [`Service`](sse_core::Service). In terms of the `http` and `http-body` crates only:
//! `sse-axum`, `sse-warp` and `sse-hyper` each turn their framework's request into a
//! [`RequestHead`] and hand the response back, so the three cannot drift apart.
//!
//! With feature `server`, `Server` serves any hyper service (an axum `Router`, a warp
//! filter, an [`Endpoint`] of your own) over HTTP/1.1 and HTTP/2 (prior knowledge)
//! with the settings a server of many long-lived streams wants; the adapters' `serve`
//! functions use it. With feature `tls`, it serves HTTPS with ALPN (`h2`,
//! `http/1.1`) through rustls, from PEM files it can reload.
//!
//! # Who the client is
//!
//! Nothing the client merely claims decides who it is. By default every connection
//! gets a generated id, told to it in its first event
//! ([`CLIENT_EVENT`](sse_core::CLIENT_EVENT)), and the service's anonymous topics. A
//! connection gets another identity only from the application, in this order:
//!
//! 1. a [`Principal`](sse_core::Principal) that the application's own
//!    authentication middleware put in the request's extensions;
//! 2. [`RequestOptions::authenticate`], a function of the request returning the
//!    principal or a rejection; with feature `jwt`, `RequestOptions::jwt` verifies
//!    a signed token (`jwt::JwtAuth`);
//! 3. [`RequestOptions::trust_client_id`]: an id read from a header, query parameter,
//!    cookie or path segment, as the client sent it. Anyone can send anyone's id, so
//!    this hands a client whatever is addressed to the id it names; use it only
//!    where that is harmless or a proxy in front has checked it.
//!
//! # Examples
//!
//! ```
//! use http::{HeaderMap, HeaderValue};
//! use sse_http::{ClaimedId, RequestHead, RequestOptions};
//!
//! let mut headers = HeaderMap::new();
//! headers.insert("last-event-id", HeaderValue::from_static("1700000000000-3"));
//! let head = RequestHead::new(&headers, "/events", Some("client=alice&topics=news,sport"));
//!
//! // By default the claimed id is ignored: the service generates one.
//! let request = RequestOptions::new().connect_request(&head).unwrap();
//! assert_eq!(request.requested_client_id(), None);
//!
//! let trusting = RequestOptions::new().trust_client_id(ClaimedId::Query("client".into()));
//! let request = trusting.connect_request(&head).unwrap();
//! assert_eq!(request.requested_client_id(), Some("alice"));
//! assert_eq!(request.requested_last_event_id(), Some("1700000000000-3"));
//! assert_eq!(request.requested_topics(), ["news", "sport"]);
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod head;
#[cfg(feature = "jwt")]
pub mod jwt;
mod options;
mod response;
#[cfg(feature = "server")]
mod server;

pub use head::{
    RequestHead, CLIENT_ID_HEADER, LAST_EVENT_ID_QUERY, MAX_LAST_EVENT_ID_LEN, TOPICS_QUERY,
};
pub use options::{AuthResult, ClaimedId, RequestOptions, TopicSource};
pub use response::{
    connect_response, error_response, rejection_response, status, stream_response, Endpoint,
    SseBody,
};
#[cfg(feature = "server")]
pub use server::{serve, Connection, PeerAddr, RequestBody, ServeService, Server};
#[cfg(feature = "tls")]
pub use server::{TlsError, TlsFiles};
