//! A hyper 1.x server streaming Server-Sent Events at `/events`, with the time
//! broadcast every second; other paths get 404. Listens on 127.0.0.1:$PORT (default
//! 3000; 0 picks a free port) and prints `listening on ADDR`. Ctrl-C shuts the event
//! streams down gracefully and exits.
//!
//! ```text
//! cargo run -p examples --bin hyper
//! curl -N -H 'sse-clientid: me' http://127.0.0.1:3000/events
//! ```
//!
//! This serves HTTP/1.1 with `sse_http::Server` (hyper's `http1` connection, tuned
//! for many streams); hyper-util's auto builder (see the `sse-hyper` crate docs) adds
//! HTTP/2 with prior knowledge.

use std::{
    convert::Infallible,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use hyper::{service::service_fn, Request, Response, StatusCode};
use sse_codec::Event;
use sse_core::{Service, Shutdown};
use sse_hyper::{RequestBody, Server, SseBody, SseEndpoint};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |p| p.parse())?;
    let service = Service::new();
    let sse = SseEndpoint::new(service.clone());

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {}", listener.local_addr()?);
    tokio::spawn(tick(service.clone()));

    let route = service_fn(move |request: Request<RequestBody>| {
        let response = if request.uri().path() == "/events" {
            sse.respond(&request)
        } else {
            let mut response = Response::new(SseBody::full("not found\n"));
            *response.status_mut() = StatusCode::NOT_FOUND;
            response
        };
        async move { Ok::<_, Infallible>(response) }
    });
    let stop = async move {
        let _ = tokio::signal::ctrl_c().await;
        // Ends every stream with a final retry hint, then stop accepting.
        service
            .shutdown(Shutdown::new(Duration::from_secs(5)))
            .await;
    };
    Server::new().serve_until(listener, route, stop).await?;
    Ok(())
}

/// Broadcasts the Unix time every second.
async fn tick(service: Service) {
    let mut every = tokio::time::interval(Duration::from_secs(1));
    loop {
        every.tick().await;
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap_or_default();
        if service
            .broadcast(Event::message(format!("{}", now.as_secs())))
            .is_err()
        {
            return; // shutting down
        }
    }
}
