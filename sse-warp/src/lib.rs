//! Server-Sent Events for [warp] 0.4: [`SseEndpoint::filter`], a `Filter` that
//! connects each request to an [`sse_core::Service`] and extracts an [`SseResponse`],
//! the client's event stream as a `Reply`.
//!
//! Each connection gets a generated client id, told to it in its first event, unless
//! the application says who it is: a [`Principal`] in the request's extensions (set
//! by a layer around the warp service), [`RequestOptions::authenticate`], a signed
//! token (feature `jwt`), or, trusting the client by name,
//! [`RequestOptions::trust_client_id`]. warp gives a filter no access to the whole
//! extension map, so [`RequestHead::extension`] finds the `Principal` only.
//! `Last-Event-ID` comes from the header or the `last_event_id` query parameter, and
//! topics from `?topics=a,b`. A refused connection is answered with the rejection's
//! status and a short text body (429 with `Retry-After`). The filter answers `GET` and
//! `HEAD` (the stream's headers, no body, no client registered); put path filters
//! before it, not `warp::get()`, or `HEAD` gets 405.
//!
//! ```
//! use std::time::Duration;
//! use sse_codec::Event;
//! use warp::Filter;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let service = sse_core::Service::new();
//! let events = warp::path("events").and(sse_warp::SseEndpoint::new(service.clone()).filter());
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! tokio::spawn(warp::serve(events).incoming(listener).run());
//!
//! service.broadcast(Event::message("hello")).unwrap();
//! # tokio::time::sleep(Duration::from_millis(1)).await;
//! # Ok(())
//! # }
//! ```
//!
//! # A page on another origin
//!
//! For `new EventSource(url, { withCredentials: true })` from another origin, wrap the
//! route: `.with(warp::cors().allow_origin("https://app.example").allow_credentials(true)
//! .allow_methods(["GET"]).allow_headers(["last-event-id"]))`; a browser's reconnect
//! sends `Last-Event-ID`, which needs a preflight. `examples/tests/cors_browser.rs`
//! runs it in Chromium.
//!
//! A client's disconnect drops the reply's body, which removes the client: hyper (under
//! `warp::serve`) notices an idle HTTP/1.1 connection closing because it keeps reading
//! the socket while it writes a response, and an HTTP/2 stream ends on reset or
//! connection close.

#![cfg_attr(docsrs, feature(doc_cfg))]

use std::convert::Infallible;

use sse_core::{ClientStream, Error, Principal, Service};
use sse_http::{connect_response, Endpoint};
use warp::{
    http::{Extensions, HeaderMap, Method},
    path::FullPath,
    reply::Response,
    Filter, Reply,
};

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
/// use sse_warp::prelude::*;
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
pub use serve::{serve, serve_with, PeerAddr, RequestBody, Server};
#[cfg(feature = "tls")]
pub use sse_http::{TlsError, TlsFiles};

/// Connects each request to a [`Service`] and answers with the client's event stream,
/// as a warp filter: [`filter`](Self::filter).
///
/// Cheap to clone: clones share the service.
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

    /// A filter that matches any request (it never rejects), connects it and extracts
    /// the reply: the stream for `GET`, its headers only for `HEAD`, 405 for other
    /// methods. Put path filters before it. Path positions
    /// ([`ClaimedId::PathSegment`]) count in the full request path.
    pub fn filter(
        self,
    ) -> impl Filter<Extract = (SseResponse,), Error = Infallible> + Clone + Send + Sync + 'static
    {
        // `query::raw` rejects a request without a query string; that is just no query.
        let query = warp::query::raw().or(warp::any().map(String::new)).unify();
        warp::method()
            .and(warp::header::headers_cloned())
            .and(warp::path::full())
            .and(query)
            .and(warp::ext::optional::<Principal>())
            .map(
                move |method: Method,
                      headers: HeaderMap,
                      path: FullPath,
                      query: String,
                      principal: Option<Principal>| {
                    let query = (!query.is_empty()).then_some(query.as_str());
                    // warp's filters cannot see the whole extension map: only the
                    // principal is passed on.
                    let mut extensions = Extensions::new();
                    if let Some(principal) = principal {
                        extensions.insert(principal);
                    }
                    let head = RequestHead::new(&headers, path.as_str(), query)
                        .with_method(&method)
                        .with_extensions(&extensions);
                    self.respond(&head)
                },
            )
    }
}

/// The outcome of a connect as a reply: `200` with the client's event stream (no body
/// for `HEAD`), or the refusal's status and text.
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

impl Reply for SseResponse {
    fn into_response(self) -> Response {
        let (parts, mut body) = self.0.into_parts();
        let body = match body.take_full() {
            Some(bytes) => bytes.into(),
            None => warp::reply::stream(body).into_response().into_body(),
        };
        Response::from_parts(parts, body)
    }
}

/// Serving a filter with [`Server`], the HTTP/1.1 server tuned for event streams.
#[cfg(feature = "server")]
mod serve {
    use std::{
        convert::Infallible,
        future::{pending, Future},
        io,
    };

    use hyper_util::service::TowerToHyperService;
    use tokio::net::TcpListener;
    use tower_service::Service;
    use warp::{http::Request, reply::Response};

    pub use sse_http::{PeerAddr, RequestBody, Server};

    /// Serves `service` (a filter made into one with [`warp::service`]) on `listener`
    /// over HTTP/1.1 with [`Server::new`]'s settings, forever: in place of
    /// `warp::serve(filter).incoming(listener).run()` when the filter carries event
    /// streams.
    ///
    /// Against `warp::serve`, an idle stream holds about 1.5 KiB of resident memory
    /// instead of 19 KiB (the server writes event streams itself), and each event
    /// write costs less CPU (see [`Server`] for why,
    /// `BENCHMARKS.md` for the numbers); it does not speak HTTP/2.
    ///
    /// The peer's address: `warp::ext::get::<sse_warp::PeerAddr>()`. (warp's own
    /// `warp::addr::remote()` gives `None` here: warp fills it only under
    /// `warp::serve`, with a type of its own that it keeps private.)
    ///
    /// ```no_run
    /// use warp::Filter;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let service = sse_core::Service::new();
    /// let events = warp::path("events").and(sse_warp::SseEndpoint::new(service).filter());
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    /// sse_warp::serve(listener, warp::service(events)).await
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// See [`Server::serve`].
    pub async fn serve<S>(listener: TcpListener, service: S) -> io::Result<()>
    where
        S: Service<Request<RequestBody>, Response = Response, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        serve_with(&Server::new(), listener, service, pending()).await
    }

    /// Serves `service` on `listener` with `server`'s settings until `stop` resolves;
    /// then stops accepting and returns once every connection has closed: requests in
    /// flight are answered, and event streams end when their service shuts down,
    /// which `stop` may do (see [`Server::serve_until`]).
    ///
    /// # Errors
    ///
    /// See [`Server::serve`].
    pub async fn serve_with<S>(
        server: &Server,
        listener: TcpListener,
        service: S,
        stop: impl Future<Output = ()>,
    ) -> io::Result<()>
    where
        S: Service<Request<RequestBody>, Response = Response, Error = Infallible>
            + Clone
            + Send
            + 'static,
        S::Future: Send + 'static,
    {
        server
            .serve_until(listener, TowerToHyperService::new(service), stop)
            .await
    }
}
