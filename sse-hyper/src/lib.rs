//! Server-Sent Events for [hyper] 1.x: [`Sse`], a `hyper::service::Service` that
//! connects each request to an [`sse_core::Service`] and streams the client's frames as
//! the response body, [`SseBody`]. It serves HTTP/1.1 and HTTP/2 alike, with
//! `hyper::server::conn::{http1, http2}` or hyper-util's auto builder.
//!
//! Each connection gets a generated client id, told to it in its first event, unless
//! the application says who it is: a [`Principal`](sse_core::Principal) in the
//! request's extensions (set by your own service or layer before calling
//! [`Sse::respond`]), [`RequestOptions::authenticate`], a signed token (feature `jwt`),
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
//! use sse_hyper::Sse;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let service = sse_core::Service::new();
//! let sse = Sse::new(service.clone());
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
//! origins you allow, around [`Sse::respond`]; or use tower-http's `CorsLayer` through
//! hyper-util's tower adapter. `examples/tests/cors_browser.rs` runs the first in
//! Chromium.
//!
//! # Serving many streams
//!
//! [`Server`] (feature `server`, on by default) serves any hyper service over HTTP/1.1
//! with what a fan-out server wants: no protocol sniffing (half the memory per idle
//! connection of hyper-util's auto builder), small chunk writes sent with one `send`
//! instead of `writev`, `TCP_NODELAY`, `TCP_USER_TIMEOUT` and a request-head
//! timeout. `sse-axum` and `sse-warp` build their `serve` functions on it. [`serve`]
//! is `Server::new().serve`.
//!
//! # Disconnects
//!
//! The body holds the client's [`ClientStream`]; hyper drops the body when the
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

use std::{
    convert::Infallible,
    fmt,
    future::{ready, Ready},
    pin::Pin,
    task::{Context, Poll},
};

use bytes::Bytes;
use futures_core::Stream;
use http::{Request, Response};
use http_body::{Frame, SizeHint};
use sse_core::{
    http::{error_response, stream_response},
    ClientStream, Service,
};

#[cfg(feature = "jwt")]
pub use sse_core::http::jwt;
pub use sse_core::http::{ClaimedId, RequestHead, RequestOptions, TopicSource};

#[cfg(feature = "server")]
mod deadline;
#[cfg(feature = "server")]
mod io;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
pub use server::{serve, Connection, Server};

/// The response body: a client's event stream, or the short text of a refusal.
///
/// Never fails; it ends when the client's stream ends (the client was replaced,
/// disconnected by its slow-client policy, or the service shut down). Dropping it
/// removes the client.
pub struct SseBody {
    kind: Kind,
}

enum Kind {
    Stream(ClientStream),
    Full(Option<Bytes>),
}

impl SseBody {
    /// A body streaming `stream`'s frames.
    pub fn new(stream: ClientStream) -> Self {
        SseBody {
            kind: Kind::Stream(stream),
        }
    }

    /// A body of fixed bytes, such as a refusal's text.
    pub fn full(bytes: impl Into<Bytes>) -> Self {
        let bytes = bytes.into();
        SseBody {
            kind: Kind::Full((!bytes.is_empty()).then_some(bytes)),
        }
    }
}

impl From<ClientStream> for SseBody {
    fn from(stream: ClientStream) -> Self {
        Self::new(stream)
    }
}

impl http_body::Body for SseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        match &mut self.kind {
            Kind::Stream(stream) => Pin::new(stream)
                .poll_next(cx)
                .map(|frame| frame.map(|f| Ok(Frame::data(f)))),
            Kind::Full(bytes) => Poll::Ready(bytes.take().map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        matches!(self.kind, Kind::Full(None))
    }

    fn size_hint(&self) -> SizeHint {
        match &self.kind {
            Kind::Stream(_) => SizeHint::default(),
            Kind::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
        }
    }
}

impl fmt::Debug for SseBody {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.kind {
            Kind::Stream(stream) => f.debug_tuple("SseBody").field(stream).finish(),
            Kind::Full(bytes) => f.debug_tuple("SseBody").field(bytes).finish(),
        }
    }
}

/// A hyper service answering every request with an event stream for its client.
///
/// Cheap to clone: clones share the [`sse_core::Service`]. It does no routing; to serve
/// it beside other routes, call [`Sse::respond`] from your own service.
#[derive(Debug, Clone)]
pub struct Sse {
    service: Service,
    options: RequestOptions,
}

impl Sse {
    /// Streams `service`'s events, reading requests with [`RequestOptions::new`].
    pub fn new(service: Service) -> Self {
        Self::with_options(service, RequestOptions::new())
    }

    /// Streams `service`'s events, reading requests with `options`.
    pub fn with_options(service: Service, options: RequestOptions) -> Self {
        Sse { service, options }
    }

    /// The service events come from.
    pub fn service(&self) -> &Service {
        &self.service
    }

    /// Connects the client `request` asks for: `200` with its event stream (no body
    /// for `HEAD`), or the refusal's status and text. The request body is not read.
    pub fn respond<B>(&self, request: &Request<B>) -> Response<SseBody> {
        let uri = request.uri();
        let head = RequestHead::new(request.headers(), uri.path(), uri.query())
            .with_method(request.method())
            .with_extensions(request.extensions());
        match self.options.connect(&self.service, &head) {
            Ok(Some(stream)) => stream_response(SseBody::new(stream)),
            Ok(None) => stream_response(SseBody::full(Bytes::new())),
            Err(error) => error_response(&error).map(SseBody::full),
        }
    }
}

impl<B> hyper::service::Service<Request<B>> for Sse {
    type Response = Response<SseBody>;
    type Error = Infallible;
    type Future = Ready<Result<Response<SseBody>, Infallible>>;

    fn call(&self, request: Request<B>) -> Self::Future {
        ready(Ok(self.respond(&request)))
    }
}
