//! Server-Sent Events for [axum] 0.8: [`SseEndpoint`], a handler to mount with
//! `Router::route`, and [`SseResponse`], the `IntoResponse` it returns, which your own
//! handlers can return too.
//!
//! Each connection gets a generated client id, told to it in its first event, unless
//! the application says who it is: a [`Principal`](sse_core::Principal) that your
//! authentication middleware put in the request's extensions,
//! [`RequestOptions::authenticate`], a signed token (feature `jwt`), or, trusting the
//! client by name, [`RequestOptions::trust_client_id`]. `Last-Event-ID` comes from the
//! header or the `last_event_id` query parameter, and topics from `?topics=a,b`. A
//! refused connection is answered with the rejection's status and a short text body
//! (429 with `Retry-After`). `HEAD` gets the stream's headers and no body, and
//! registers no client.
//!
//! ```
//! use std::time::Duration;
//! use axum::{routing::get, Router};
//! use sse_codec::Event;
//! use sse_axum::SseEndpoint;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let service = sse_core::Service::new();
//! let app = Router::new().route("/events", get(SseEndpoint::new(service.clone())));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! tokio::spawn(async move { axum::serve(listener, app).await });
//!
//! service.broadcast(Event::message("hello")).unwrap();
//! # tokio::time::sleep(Duration::from_millis(1)).await;
//! # Ok(())
//! # }
//! ```
//!
//! # A page on another origin
//!
//! For `new EventSource(url, { withCredentials: true })` from another origin, add
//! tower-http's `CorsLayer` to the router, naming the page's origin (never `Any` with
//! credentials), with `allow_credentials(true)`, `allow_methods([Method::GET])` and
//! `allow_headers([HeaderName::from_static("last-event-id")])`: a browser's reconnect
//! sends `Last-Event-ID`, which needs a preflight. `examples/tests/cors_browser.rs`
//! runs it in Chromium.
//!
//! A client's disconnect drops the response body, which removes the client: hyper
//! notices an idle HTTP/1.1 connection closing because it keeps reading the socket
//! while it writes a response, and an HTTP/2 stream ends on reset or connection close.

#![cfg_attr(docsrs, feature(doc_cfg))]

use axum::{
    body::Body,
    extract::Request,
    handler::Handler,
    response::{IntoResponse, Response},
};
use sse_core::{ClientStream, Error, Service};
use sse_http::{connect_response, Endpoint};

#[cfg(feature = "jwt")]
pub use sse_http::jwt;
pub use sse_http::{ClaimedId, RequestHead, RequestOptions, SseBody, TopicSource};
// The crates under this one, whole, for what the prelude leaves out.
pub use sse_codec;
pub use sse_core;

/// What a first app needs, in one import; the rest is under [`sse_core`] and
/// [`sse_codec`].
///
/// ```
/// use sse_axum::prelude::*;
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

#[cfg(feature = "server")]
pub use serve::{serve, serve_with, PeerAddr, Server};
#[cfg(feature = "tls")]
pub use sse_http::{TlsError, TlsFiles};

/// A handler connecting each request to a [`Service`] and answering with the client's
/// event stream. Mount it with `get(endpoint)`; it works with any router state.
///
/// Cheap to clone: clones share the service.
///
/// Path positions ([`ClaimedId::PathSegment`]) count in the URI the handler sees, which
/// inside `Router::nest` has the prefix stripped.
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

    /// Connects the client a request with this head asks for: the stream, its head
    /// only for `HEAD`, 405 for other methods, or the refusal.
    pub fn respond(&self, head: &RequestHead<'_>) -> SseResponse {
        SseResponse(self.endpoint.respond(head))
    }
}

impl<S> Handler<(), S> for SseEndpoint
where
    S: Clone + Send + Sync + 'static,
{
    type Future = std::future::Ready<Response>;

    fn call(self, request: Request, _state: S) -> Self::Future {
        let (parts, _body) = request.into_parts();
        std::future::ready(
            self.respond(&RequestHead::from_parts(&parts))
                .into_response(),
        )
    }
}

/// The outcome of a connect as a response: `200` with the client's event stream (no
/// body for `HEAD`), or the refusal's status and text.
///
/// # Examples
///
/// A handler of your own, e.g. to take the service from router state:
///
/// ```
/// use axum::{extract::State, http::{HeaderMap, Uri}, routing::get, Router};
/// use sse_axum::{RequestHead, RequestOptions, SseResponse};
/// use sse_core::Service;
///
/// async fn events(State(service): State<Service>, headers: HeaderMap, uri: Uri) -> SseResponse {
///     let head = RequestHead::new(&headers, uri.path(), uri.query());
///     SseResponse::connect(&service, &RequestOptions::new(), &head)
/// }
///
/// // With `Request` the handler also sees the method and the extensions your
/// // authentication middleware set.
/// async fn events_full(State(service): State<Service>, request: axum::extract::Request) -> SseResponse {
///     let (parts, _body) = request.into_parts();
///     SseResponse::connect(&service, &RequestOptions::new(), &RequestHead::from_parts(&parts))
/// }
///
/// let app: Router = Router::new()
///     .route("/events", get(events))
///     .route("/full", get(events_full))
///     .with_state(Service::new());
/// ```
#[derive(Debug)]
pub struct SseResponse(http::Response<SseBody>);

impl SseResponse {
    /// Connects the client `head` asks for, read with `options`.
    pub fn connect(service: &Service, options: &RequestOptions, head: &RequestHead<'_>) -> Self {
        SseResponse(connect_response(options.connect(service, head)))
    }
}

impl From<Result<ClientStream, Error>> for SseResponse {
    fn from(outcome: Result<ClientStream, Error>) -> Self {
        SseResponse(connect_response(outcome.map(Some)))
    }
}

impl From<ClientStream> for SseResponse {
    fn from(stream: ClientStream) -> Self {
        Ok(stream).into()
    }
}

impl IntoResponse for SseResponse {
    fn into_response(self) -> Response {
        self.0.map(Body::new)
    }
}

/// Serving a `Router` with [`Server`], the HTTP/1.1 server tuned for event streams.
#[cfg(feature = "server")]
mod serve {
    use std::{
        future::{pending, Future},
        io,
    };

    use axum::{
        extract::{ConnectInfo, Request},
        Router,
    };
    use hyper_util::service::TowerToHyperService;
    use tokio::net::TcpListener;

    pub use sse_http::{PeerAddr, Server};

    /// Serves `router` on `listener` over HTTP/1.1 with [`Server::new`]'s settings,
    /// forever: a drop-in for `axum::serve(listener, router)` when the router carries
    /// event streams. Handlers get the peer's address as `ConnectInfo<SocketAddr>`
    /// (as with `into_make_service_with_connect_info`) and as
    /// [`PeerAddr`](sse_http::PeerAddr).
    ///
    /// Against `axum::serve`, an idle stream holds about 1.5 KiB of resident memory
    /// instead of 21 KiB (the server writes event streams itself), and each event
    /// write costs less CPU (see [`Server`] for why,
    /// `BENCHMARKS.md` for the numbers); it does not speak HTTP/2.
    ///
    /// ```no_run
    /// use axum::{routing::get, Router};
    /// use sse_axum::SseEndpoint;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let service = sse_core::Service::new();
    /// let app = Router::new().route("/events", get(SseEndpoint::new(service)));
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    /// sse_axum::serve(listener, app).await
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// See [`Server::serve`].
    pub async fn serve(listener: TcpListener, router: Router) -> io::Result<()> {
        serve_with(&Server::new(), listener, router, pending()).await
    }

    /// Serves `router` on `listener` with `server`'s settings until `stop` resolves;
    /// then stops accepting and returns once every connection has closed, as
    /// `axum::serve(..).with_graceful_shutdown(stop)` does: requests in flight are
    /// answered, and event streams end when their service shuts down, which `stop`
    /// may do (see [`Server::serve_until`]).
    ///
    /// # Errors
    ///
    /// See [`Server::serve`].
    pub async fn serve_with(
        server: &Server,
        listener: TcpListener,
        router: Router,
        stop: impl Future<Output = ()>,
    ) -> io::Result<()> {
        let router = router.layer(axum::middleware::map_request(connect_info));
        server
            .serve_until(listener, TowerToHyperService::new(router), stop)
            .await
    }

    /// The peer's address as axum's `ConnectInfo`.
    async fn connect_info(mut request: Request) -> Request {
        if let Some(&PeerAddr(peer)) = request.extensions().get::<PeerAddr>() {
            request.extensions_mut().insert(ConnectInfo(peer));
        }
        request
    }
}
