//! Server-Sent Events for [warp] 0.4: [`sse`], a `Filter` that connects each request
//! to an [`sse_core::Service`] and extracts an [`SseReply`], the client's event stream
//! as a `Reply`.
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
//! let events = warp::path("events").and(sse_warp::sse(service.clone()));
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

use std::convert::Infallible;

use futures_util::StreamExt;
use sse_core::{
    http::{error_response, stream_response},
    ClientStream, Error, Rejection, Service,
};
use warp::{
    http::{Extensions, HeaderMap, Method},
    path::FullPath,
    reply::Response,
    Filter, Reply,
};

#[cfg(feature = "jwt")]
pub use sse_core::http::jwt;
pub use sse_core::http::{ClaimedId, RequestHead, RequestOptions, TopicSource};
use sse_core::Principal;

#[cfg(feature = "server")]
mod serve;
#[cfg(feature = "server")]
pub use serve::{serve, serve_with, Server};

/// A filter that matches any request (it never rejects), connects it to `service`
/// (reading it with [`RequestOptions::new`]) and extracts the reply: the stream for
/// `GET`, its headers only for `HEAD`, 405 for other methods. Put path filters before
/// it.
pub fn sse(
    service: Service,
) -> impl Filter<Extract = (SseReply,), Error = Infallible> + Clone + Send + Sync + 'static {
    sse_with_options(service, RequestOptions::new())
}

/// Like [`sse`], reading requests with `options`. Path positions
/// ([`ClaimedId::PathSegment`]) count in the full request path.
pub fn sse_with_options(
    service: Service,
    options: RequestOptions,
) -> impl Filter<Extract = (SseReply,), Error = Infallible> + Clone + Send + Sync + 'static {
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
                if method != Method::GET && method != Method::HEAD {
                    return SseReply::from(Err(Rejection::new(405, "use GET").into()));
                }
                let query = (!query.is_empty()).then_some(query.as_str());
                let mut extensions = Extensions::new();
                if let Some(principal) = principal {
                    extensions.insert(principal);
                }
                let head = RequestHead::new(&headers, path.as_str(), query)
                    .with_method(&method)
                    .with_extensions(&extensions);
                SseReply::connect(&service, &options, &head)
            },
        )
}

/// The outcome of a connect as a reply: `200` with the client's event stream (no body
/// for `HEAD`), or the refusal's status and text.
#[derive(Debug)]
pub struct SseReply {
    outcome: Result<Option<ClientStream>, Error>,
}

impl SseReply {
    /// Connects the client `head` asks for, read with `options`.
    pub fn connect(service: &Service, options: &RequestOptions, head: &RequestHead<'_>) -> Self {
        SseReply {
            outcome: options.connect(service, head),
        }
    }
}

impl From<Result<ClientStream, Error>> for SseReply {
    fn from(outcome: Result<ClientStream, Error>) -> Self {
        SseReply {
            outcome: outcome.map(Some),
        }
    }
}

impl From<ClientStream> for SseReply {
    fn from(stream: ClientStream) -> Self {
        Ok(stream).into()
    }
}

impl Reply for SseReply {
    fn into_response(self) -> Response {
        match self.outcome {
            Ok(Some(stream)) => {
                let body = warp::reply::stream(stream.map(Ok::<_, Infallible>))
                    .into_response()
                    .into_body();
                stream_response(body)
            }
            Ok(None) => stream_response(String::new().into()),
            Err(error) => error_response(&error).map(Into::into),
        }
    }
}
