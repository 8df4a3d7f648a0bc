//! Server-Sent Events for [warp] 0.4: [`sse`], a `Filter` that connects each request
//! to an [`sse_core::Service`] and extracts an [`SseReply`], the client's event stream
//! as a `Reply`.
//!
//! The client id comes from the `sse-clientid` header by default (see
//! [`RequestOptions`] for a query parameter, cookie, path segment or function),
//! `Last-Event-ID` from the header or the `last_event_id` query parameter, and topics
//! from `?topics=a,b`. A refused connection is answered with the rejection's status and
//! a short text body (429 with `Retry-After`).
//!
//! ```
//! use std::time::Duration;
//! use sse_codec::Event;
//! use warp::Filter;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let service = sse_core::Service::new();
//! let events = warp::path("events").and(warp::get()).and(sse_warp::sse(service.clone()));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! tokio::spawn(warp::serve(events).incoming(listener).run());
//!
//! service.broadcast(Event::message("hello"));
//! # tokio::time::sleep(Duration::from_millis(1)).await;
//! # Ok(())
//! # }
//! ```
//!
//! A client's disconnect drops the reply's body, which removes the client: hyper (under
//! `warp::serve`) notices an idle HTTP/1.1 connection closing because it keeps reading
//! the socket while it writes a response, and an HTTP/2 stream ends on reset or
//! connection close.

use std::convert::Infallible;

use futures_util::StreamExt;
use sse_core::{
    http::{error_response, stream_response},
    ClientStream, Error, Service,
};
use warp::{http::HeaderMap, path::FullPath, reply::Response, Filter, Reply};

pub use sse_core::http::{IdSource, RequestHead, RequestOptions, TopicSource};

#[cfg(feature = "server")]
mod serve;
#[cfg(feature = "server")]
pub use serve::{serve, serve_with, Server};

/// A filter that matches any request (it never rejects), connects it to `service` (reading it with
/// [`RequestOptions::new`]) and extracts the reply. Put path and method filters
/// before it.
pub fn sse(
    service: Service,
) -> impl Filter<Extract = (SseReply,), Error = Infallible> + Clone + Send + Sync + 'static {
    sse_with_options(service, RequestOptions::new())
}

/// Like [`sse`], reading requests with `options`. Path positions
/// ([`IdSource::PathSegment`]) count in the full request path.
pub fn sse_with_options(
    service: Service,
    options: RequestOptions,
) -> impl Filter<Extract = (SseReply,), Error = Infallible> + Clone + Send + Sync + 'static {
    // `query::raw` rejects a request without a query string; that is just no query.
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    warp::header::headers_cloned()
        .and(warp::path::full())
        .and(query)
        .map(move |headers: HeaderMap, path: FullPath, query: String| {
            let query = (!query.is_empty()).then_some(query.as_str());
            let head = RequestHead::new(&headers, path.as_str(), query);
            SseReply::connect(&service, &options, &head)
        })
}

/// The outcome of a connect as a reply: `200` with the client's event stream, or the
/// refusal's status and text.
#[derive(Debug)]
pub struct SseReply {
    outcome: Result<ClientStream, Error>,
}

impl SseReply {
    /// Connects the client `head` asks for, read with `options`.
    pub fn connect(service: &Service, options: &RequestOptions, head: &RequestHead<'_>) -> Self {
        service.connect(options.connect_request(head)).into()
    }
}

impl From<Result<ClientStream, Error>> for SseReply {
    fn from(outcome: Result<ClientStream, Error>) -> Self {
        SseReply { outcome }
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
            Ok(stream) => {
                let body = warp::reply::stream(stream.map(Ok::<_, Infallible>))
                    .into_response()
                    .into_body();
                stream_response(body)
            }
            Err(error) => error_response(&error).map(Into::into),
        }
    }
}
