//! Serving a filter with [`Server`], the HTTP/1.1 server tuned for event streams.

use std::{
    convert::Infallible,
    future::{pending, Future},
    io,
};

use hyper::body::Incoming;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tower_service::Service;
use warp::{http::Request, reply::Response};

pub use sse_http::Server;

/// Serves `service` (a filter made into one with [`warp::service`]) on `listener`
/// over HTTP/1.1 with [`Server::new`]'s settings, forever: in place of
/// `warp::serve(filter).incoming(listener).run()` when the filter carries event
/// streams.
///
/// Against `warp::serve`, an idle stream holds about 12 KiB of resident memory
/// instead of 19 KiB, and each event write costs less CPU (see [`Server`] for why,
/// `BENCHMARKS.md` for the numbers); it does not speak HTTP/2.
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
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    serve_with(&Server::new(), listener, service, pending()).await
}

/// Serves `service` on `listener` with `server`'s settings until `stop` resolves;
/// then stops accepting and returns (see [`Server::serve_until`]).
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
    S: Service<Request<Incoming>, Response = Response, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    server
        .serve_until(listener, TowerToHyperService::new(service), stop)
        .await
}
