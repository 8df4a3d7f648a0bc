//! A warp server streaming Server-Sent Events at `/events`, with the time broadcast
//! every second. Listens on 127.0.0.1:$PORT (default 3000; 0 picks a free port) and
//! prints `listening on ADDR`. Ctrl-C shuts it down gracefully.
//!
//! ```text
//! cargo run -p examples --bin warp
//! curl -N -H 'sse-clientid: me' http://127.0.0.1:3000/events
//! ```

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sse_codec::Event;
use sse_core::{Service, Shutdown};
use warp::Filter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let port: u16 = std::env::var("PORT").map_or(Ok(3000), |p| p.parse())?;
    let service = Service::new();
    let events = warp::path!("events")
        .and(warp::get())
        .and(sse_warp::SseEndpoint::new(service.clone()).filter());

    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {}", listener.local_addr()?);
    tokio::spawn(tick(service.clone()));

    // `sse_warp::serve` in place of `warp::serve`: HTTP/1.1 tuned for many streams
    // (less memory per connection, cheaper writes, a request-head timeout).
    let stop = async move {
        let _ = tokio::signal::ctrl_c().await;
        // Ends every stream with a final retry hint, then stop accepting.
        service
            .shutdown(Shutdown::new(Duration::from_secs(5)))
            .await;
    };
    sse_warp::serve_with(
        &sse_warp::Server::new(),
        listener,
        warp::service(events),
        stop,
    )
    .await?;
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
