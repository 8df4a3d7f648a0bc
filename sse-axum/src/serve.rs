//! Serving a `Router` with [`Server`], the HTTP/1.1 server tuned for event streams.

use std::{
    future::{pending, Future},
    io,
};

use axum::Router;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;

pub use sse_http::Server;

/// Serves `router` on `listener` over HTTP/1.1 with [`Server::new`]'s settings,
/// forever: a drop-in for `axum::serve(listener, router)` when the router carries
/// event streams.
///
/// Against `axum::serve`, an idle stream holds about 12 KiB of resident memory
/// instead of 21 KiB, and each event write costs less CPU (see [`Server`] for why,
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

/// Serves `router` on `listener` with `server`'s settings until `stop` resolves; then
/// stops accepting and returns (see [`Server::serve_until`]).
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
    server
        .serve_until(listener, TowerToHyperService::new(router), stop)
        .await
}
