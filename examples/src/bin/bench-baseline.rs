//! The fan-out benchmark's comparison server (issue 7): the same contract as
//! `bench-server`, written the way a typical axum 0.8 user would, with axum's own
//! `axum::response::sse::Sse` over a `tokio::sync::broadcast` channel (1,024 events;
//! a lagging receiver skips what it missed) and axum's default keep-alive (15 s).
//!
//! - `GET /events`: an SSE stream of every broadcast event.
//! - `GET /stats`: the number of connected clients, as plain decimal text.
//!
//! `$RATE` (default 10) events a second, each with data `UNIX_NANOS xxx...` padded to
//! `$SIZE` bytes (default 64; `RATE=0` sends nothing); `$PORT` on 127.0.0.1 (default 0); prints
//! `listening on ADDR` first.

use std::{
    convert::Infallible,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use axum::{
    extract::State,
    response::sse::{Event, KeepAlive, Sse},
    routing::get,
    Router,
};
use examples::bench::{env_or, payload};
use futures_util::{Stream, StreamExt};
use tokio::{net::TcpListener, sync::broadcast};
use tokio_stream::wrappers::BroadcastStream;

#[derive(Clone)]
struct App {
    tx: broadcast::Sender<Arc<str>>,
    clients: Arc<AtomicUsize>,
}

/// Counts a connected client for as long as its stream lives.
struct Connected(Arc<AtomicUsize>);

impl Drop for Connected {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

async fn events(State(app): State<App>) -> Sse<impl Stream<Item = Result<Event, Infallible>>> {
    app.clients.fetch_add(1, Ordering::Relaxed);
    let guard = Connected(app.clients.clone());
    let stream = BroadcastStream::new(app.tx.subscribe()).filter_map(move |msg| {
        let _alive = &guard;
        // Lagged: skip what was missed and go on.
        std::future::ready(msg.ok().map(|data| Ok(Event::default().data(&*data))))
    });
    Sse::new(stream).keep_alive(KeepAlive::default())
}

async fn stats(State(app): State<App>) -> String {
    app.clients.load(Ordering::Relaxed).to_string()
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let port: u16 = env_or("PORT", 0);
    let rate: u32 = env_or("RATE", 10);
    let size: usize = env_or("SIZE", 64);

    let (tx, _) = broadcast::channel(1024);
    let app = App {
        tx: tx.clone(),
        clients: Arc::new(AtomicUsize::new(0)),
    };
    let listener = TcpListener::bind(("127.0.0.1", port)).await?;
    println!("listening on {}", listener.local_addr()?);
    let broadcaster = async move {
        let mut tick = tokio::time::interval(Duration::from_secs(1) / rate.max(1));
        loop {
            tick.tick().await;
            let _ = tx.send(payload(size).into());
        }
    };
    if rate > 0 {
        tokio::spawn(broadcaster);
    }
    let router = Router::new()
        .route("/events", get(events))
        .route("/stats", get(stats))
        .with_state(app);
    axum::serve(listener, router).await
}
