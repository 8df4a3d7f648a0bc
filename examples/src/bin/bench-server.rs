//! The fan-out benchmark's server (issue 7): this library behind one of its HTTP
//! adapters, through the ordinary public API.
//!
//! - `GET /events`: an SSE stream for a new client (`sse_core::Service::connect`).
//! - `GET /stats`: the number of connected clients, as plain decimal text.
//!
//! `$RATE` times a second (default 10) it calls [`Service::broadcast`] with one event
//! whose data is the send time in unix nanoseconds, a space, and `x` padding up to
//! `$SIZE` bytes (default 64); `RATE=0` broadcasts nothing (idle-memory runs).
//! `$ADAPTER` picks the framework: `axum` (default), `warp` or `hyper`, each served by
//! the library's HTTP/1.1 server (`sse_axum::serve`, `sse_warp::serve`,
//! `sse_http::Server`); `SERVE=stock` serves axum and warp with their own
//! `axum::serve` / `warp::serve` instead, and `SERVE=hyper-writes` the library's
//! server with `lean_streams(false)` (hyper writes the streams), for comparison. `$PORT` is the port on
//! 127.0.0.1 (default 0, any); the first line printed is `listening on ADDR`.
//!
//! `$WRITE_DELAY_MS` (default 0) sets `ServiceBuilder::write_delay`, which trades
//! latency for fewer writes.
//!
//! Otherwise the service is built with the library's defaults, which are what a deployment would
//! run: per-client queues of 256 frames / 1 MiB with the drop-oldest slow-client
//! policy, a keep-alive comment after 15 s of silence, and the replay history on (every
//! event gets an id, so frames are about 30 bytes longer than the baseline's).
//!
//! ```text
//! PORT=8080 RATE=100 ADAPTER=hyper cargo run --release -p examples --bin bench-server
//! ```

use std::{convert::Infallible, time::Duration};

use axum::{http::Request, routing::get, Router};
use examples::bench::{env_or, payload};
use sse_codec::Event;
use sse_core::Service;
use tokio::net::TcpListener;
use warp::Filter;

async fn broadcaster(service: Service, rate: u32, size: usize) {
    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
    loop {
        tick.tick().await;
        if service.broadcast(Event::message(payload(size))).is_err() {
            return; // shutting down
        }
    }
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = env_or("PORT", 0);
    let rate: u32 = env_or("RATE", 10);
    let size: usize = env_or("SIZE", 64);
    let adapter = std::env::var("ADAPTER").unwrap_or_else(|_| "axum".into());
    let serve = std::env::var("SERVE").unwrap_or_default();
    let stock = serve == "stock";
    let mut server = sse_http::Server::new();
    server.lean_streams(serve != "hyper-writes");

    let write_delay = Duration::from_millis(env_or("WRITE_DELAY_MS", 0));
    let service = Service::builder().write_delay(write_delay).build();
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {}", listener.local_addr()?);
    if rate > 0 {
        tokio::spawn(broadcaster(service.clone(), rate, size));
    }
    match adapter.as_str() {
        "axum" => serve_axum(listener, service, stock, &server).await,
        "warp" => serve_warp(listener, service, stock, &server).await,
        "hyper" => serve_hyper(listener, service, &server).await,
        other => Err(std::io::Error::other(format!("unknown ADAPTER {other}"))),
    }
}

async fn serve_axum(
    listener: TcpListener,
    service: Service,
    stock: bool,
    server: &sse_http::Server,
) -> std::io::Result<()> {
    let stats = {
        let service = service.clone();
        move || std::future::ready(service.active().to_string())
    };
    let app = Router::new()
        .route("/events", get(sse_axum::SseEndpoint::new(service)))
        .route("/stats", get(stats));
    if stock {
        return axum::serve(listener, app).await;
    }
    sse_axum::serve_with(server, listener, app, std::future::pending()).await
}

async fn serve_warp(
    listener: TcpListener,
    service: Service,
    stock: bool,
    server: &sse_http::Server,
) -> std::io::Result<()> {
    let events = warp::path("events")
        .and(warp::get())
        .and(sse_warp::SseEndpoint::new(service.clone()).filter());
    let stats = warp::path("stats").map(move || service.active().to_string());
    let routes = events.or(stats);
    if stock {
        warp::serve(routes).incoming(listener).run().await;
        return Ok(());
    }
    let routes = warp::service(routes);
    sse_warp::serve_with(server, listener, routes, std::future::pending()).await
}

async fn serve_hyper(
    listener: TcpListener,
    service: Service,
    server: &sse_http::Server,
) -> std::io::Result<()> {
    let sse = sse_hyper::SseEndpoint::new(service.clone());
    let route = hyper::service::service_fn(move |req: Request<sse_http::RequestBody>| {
        let res = if req.uri().path() == "/stats" {
            axum::http::Response::new(sse_hyper::SseBody::full(service.active().to_string()))
        } else {
            sse.respond(&req)
        };
        async move { Ok::<_, Infallible>(res) }
    });
    server.serve(listener, route).await
}
