//! Server-Sent Events for [hyper] 1.x: [`SseEndpoint`], a `hyper::service::Service`
//! that connects each request to an [`sse_core::Service`] and answers with an
//! [`SseResponse`], whose body, [`SseBody`], streams the client's frames. It serves HTTP/1.1 and HTTP/2 alike, with
//! `hyper::server::conn::{http1, http2}` or hyper-util's auto builder.
//!
//! Each connection gets a generated client id, told to it in its first event, unless
//! the application says who it is: a [`Principal`](sse_core::Principal) in the
//! request's extensions (set by your own service or layer before calling
//! [`SseEndpoint::respond`]), [`RequestOptions::authenticate`], a signed token (feature `jwt`),
//! or, trusting the client by name, [`RequestOptions::trust_client_id`].
//! `Last-Event-ID` comes from the header or the `last_event_id` query parameter, and
//! topics from `?topics=a,b`. A refused connection is answered with the rejection's
//! status and a short text body (429 with `Retry-After`). `HEAD` gets the stream's
//! headers and no body, and registers no client.
//!
//! ```
//! use std::time::Duration;
//! use hyper_util::{rt::{TokioExecutor, TokioIo}, server::conn::auto};
//! use sse_codec::Event;
//! use sse_hyper::SseEndpoint;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let service = sse_core::Service::new();
//! let sse = SseEndpoint::new(service.clone());
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! tokio::spawn(async move {
//!     while let Ok((tcp, _)) = listener.accept().await {
//!         let sse = sse.clone();
//!         tokio::spawn(async move {
//!             // HTTP/1.1, and HTTP/2 with prior knowledge (h2c).
//!             let _ = auto::Builder::new(TokioExecutor::new())
//!                 .serve_connection(TokioIo::new(tcp), sse)
//!                 .await;
//!         });
//!     }
//! });
//!
//! service.broadcast(Event::message("hello")).unwrap();
//! # tokio::time::sleep(Duration::from_millis(1)).await;
//! # Ok(())
//! # }
//! ```
//!
//! # A page on another origin
//!
//! hyper has no CORS middleware. For `new EventSource(url, { withCredentials: true })`
//! from another origin, answer `OPTIONS` with `Access-Control-Allow-Methods: GET` and
//! `Access-Control-Allow-Headers: last-event-id` (a browser's reconnect sends it), and
//! add `Access-Control-Allow-Origin: <the origin>` (not `*`),
//! `Access-Control-Allow-Credentials: true` and `Vary: origin` to the responses of the
//! origins you allow, around [`SseEndpoint::respond`]; or use tower-http's `CorsLayer` through
//! hyper-util's tower adapter. `examples/tests/cors_browser.rs` runs the first in
//! Chromium.
//!
//! # Serving many streams
//!
//! [`Server`] (feature `server`, on by default; from `sse-http`) serves any hyper
//! service over HTTP/1.1 with what a fan-out server wants: no protocol sniffing (half
//! the memory per idle connection of hyper-util's auto builder), small chunk writes
//! sent with one `send` instead of `writev`, `TCP_NODELAY`, `TCP_USER_TIMEOUT`, and
//! request-head, request-size and request-time limits. [`serve`] is
//! `Server::new().serve`.
//!
//! # Disconnects
//!
//! The body holds the client's [`ClientStream`](sse_core::ClientStream); hyper drops the body when the
//! connection ends, which removes the client and fires its remove hook. An idle
//! HTTP/1.1 connection is still watched: while hyper writes a response it keeps
//! reading the socket, and end-of-file there ends the connection (unless
//! `http1::Builder::half_close(true)` is set, which keeps it open). An HTTP/2 stream
//! ends on `RST_STREAM` or when its connection closes. The shared behaviour suite
//! checks that an idle client is removed within a second of its TCP connection closing.
//!
//! One case hyper does not watch: a client that sends more bytes after its request
//! (a pipelined second request) stops hyper reading, so its close is only noticed
//! when a write fails. Keep-alive comments (on by default, every 15 s in `sse_core`)
//! bound that delay to about two intervals; turning them off leaves such a client
//! registered until the next event to it.

#![cfg_attr(docsrs, feature(doc_cfg))]

use std::{
    convert::Infallible,
    future::{ready, Ready},
};

use http::{Request, Response};
use sse_core::Service;
use sse_http::Endpoint;

#[cfg(feature = "jwt")]
pub use sse_http::jwt;
#[cfg(feature = "server")]
pub use sse_http::{serve, Connection, PeerAddr, RequestBody, Server};
pub use sse_http::{ClaimedId, RequestHead, RequestOptions, SseBody, TopicSource};
#[cfg(feature = "tls")]
pub use sse_http::{TlsError, TlsFiles};
// The crates under this one, whole, for what the prelude leaves out.
pub use sse_codec;
pub use sse_core;

/// What a first app needs, in one import; the rest is under [`sse_core`] and
/// [`sse_codec`].
///
/// ```
/// use sse_hyper::prelude::*;
///
/// const TICK: EventType = EventType::from_static("tick");
/// let service = Service::new();
/// let _endpoint = SseEndpoint::new(service.clone());
/// service.broadcast(Event::message("hello").with_event(TICK)).unwrap();
/// ```
pub mod prelude {
    pub use crate::{RequestOptions, SseEndpoint, SseResponse};
    pub use sse_codec::{Event, EventId, EventType};
    pub use sse_core::{ClientId, Service, Target, Topic};
}

/// The outcome of a connect: `200` with the client's event stream (no body for
/// `HEAD`), or the refusal's status and text.
pub type SseResponse = Response<SseBody>;

/// A hyper service answering every request with an event stream for its client.
///
/// Cheap to clone: clones share the [`sse_core::Service`]. It does no routing; to serve
/// it beside other routes, call [`SseEndpoint::respond`] from your own service.
#[derive(Debug, Clone)]
pub struct SseEndpoint {
    endpoint: Endpoint,
}

impl SseEndpoint {
    /// Streams `service`'s events, reading requests with [`RequestOptions::new`].
    pub fn new(service: Service) -> Self {
        Self::with_options(service, RequestOptions::new())
    }

    /// Streams `service`'s events, reading requests with `options`.
    pub fn with_options(service: Service, options: RequestOptions) -> Self {
        SseEndpoint {
            endpoint: Endpoint::with_options(service, options),
        }
    }

    /// The service events come from.
    pub fn service(&self) -> &Service {
        self.endpoint.service()
    }

    /// Connects the client `request` asks for: `200` with its event stream (no body
    /// for `HEAD`), the refusal's status and text, or 405 for a method other than
    /// `GET` and `HEAD`. The request body is not read.
    pub fn respond<B>(&self, request: &Request<B>) -> SseResponse {
        self.endpoint.respond(&RequestHead::from_request(request))
    }
}

impl<B> hyper::service::Service<Request<B>> for SseEndpoint {
    type Response = SseResponse;
    type Error = Infallible;
    type Future = Ready<Result<SseResponse, Infallible>>;

    fn call(&self, request: Request<B>) -> Self::Future {
        ready(Ok(self.respond(&request)))
    }
}
