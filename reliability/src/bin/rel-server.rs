//! The server under test: `sse-axum` over a [`Service`] configured from the
//! environment, each connection served by the library's `sse_http::Server` (head,
//! request and TCP user timeouts, head size limit), in its own process so that its
//! memory, file descriptors and tasks can be measured from outside. Its listener closes
//! as soon as shutdown begins.
//!
//! Environment (all optional): `POLICY` (`drop-oldest`, `drop-newest`, `disconnect`),
//! `QUEUE_FRAMES`, `QUEUE_BYTES`, `MAX_CLIENTS`, `REPLAY_EVENTS`, `REPLAY_BYTES`,
//! `KEEP_ALIVE_MS` (0: off), `HEADER_TIMEOUT_MS` (0: off; default 5000),
//! `REQUEST_TIMEOUT_MS` (0: off; default 30000), `SNDBUF` (bytes, 0: the kernel's),
//! `USER_TIMEOUT_MS` (`TCP_USER_TIMEOUT`, 0: off), `SHUTDOWN_MS` (default 5000),
//! `RETRY_MS` (the final `retry` hint; none by default), `WORKERS` (default 2),
//! `MAX_BUF` (the request-head limit, which bounds hyper's read buffer; default 16 KiB
//! as in `sse_http::Server`).
//!
//! Routes:
//! - `GET /events`: the SSE stream ([`sse_axum::SseEndpoint`]), with the library's defaults (a
//!   generated client id).
//! - `GET /trusted/events`: the same, with the client id trusted from the
//!   `sse-clientid` header.
//! - `GET /stats`: `key=value` lines: `active`, `rss_kb`, `fds`, `tasks` and the
//!   service's counters.
//! - `POST /broadcast?count=N&size=S`: broadcasts `N` events now.
//! - `POST /pump?count=N&rate=R&size=S`: broadcasts `N` events, `R` a second, on a task.
//! - `POST /publish?topics=N&size=S&count=C`: publishes `C` events (default 1) of `S`
//!   bytes to each of the topics `t0` to `t{N-1}`.
//! - `POST /body`: reads the whole request body and answers its length.
//! - `POST /shutdown`: the same as `SIGTERM`.
//!
//! Every event's data is `SEQ NANOS PAD`: a sequence number counting from 1 over all
//! broadcasts, the unix time in nanoseconds when it was broadcast, and `x` padding up
//! to `S` bytes. On shutdown the server prints `shutdown began last=SEQ id=ID` (the
//! last event broadcast before it), then `shutdown done clients=N forced=N ms=N`, and
//! exits.

use std::{
    env,
    str::FromStr,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc, Mutex,
    },
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use axum::{
    extract::Request,
    http::HeaderName,
    routing::{get, post},
    Router,
};
use hyper_util::service::TowerToHyperService;
use sse_codec::Event;
use sse_core::{ReplayConfig, Service, Shutdown, SlowClientPolicy, Topic};
use sse_http::CLIENT_ID_HEADER;
use tokio::{net::TcpSocket, sync::Notify};

fn env_or<T: FromStr>(name: &str, default: T) -> T {
    env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[derive(Debug, Clone)]
struct App {
    service: Service,
    /// The last sequence number broadcast, held across the broadcast so that a reader
    /// knows every event up to it is in the service.
    seq: Arc<Mutex<u64>>,
    shutdown: Arc<Notify>,
    /// Open HTTP connections (tasks serving one).
    connections: Arc<AtomicUsize>,
}

impl App {
    /// Broadcasts one event and returns its sequence number.
    fn broadcast(&self, size: usize) -> u64 {
        let mut last = self.last_seq();
        *last += 1;
        let seq = *last;
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        let mut data = format!("{seq} {nanos} ");
        let pad = size.saturating_sub(data.len());
        data.push_str(&"x".repeat(pad));
        // Refused once shutdown began: the shutdown test reads `last` from before it.
        let _ = self.service.broadcast(Event::message(data));
        seq
    }

    fn last_seq(&self) -> std::sync::MutexGuard<'_, u64> {
        self.seq.lock().unwrap_or_else(|e| e.into_inner())
    }
}

fn query(request: &Request, name: &str, default: u64) -> u64 {
    request
        .uri()
        .query()
        .unwrap_or("")
        .split('&')
        .filter_map(|pair| pair.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(default)
}

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0)
}

fn open_fds() -> u64 {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count() as u64)
}

fn stats(app: &App) -> String {
    let m = app.service.metrics();
    let tasks = tokio::runtime::Handle::current()
        .metrics()
        .num_alive_tasks();
    format!(
        "connections={}\nactive={}\nrss_kb={}\nfds={}\ntasks={}\nconnected={}\nremoved={}\nrejected={}\n\
         published={}\ndropped_oldest={}\ndropped_newest={}\ndisconnected_slow={}\n\
         resumed={}\nreset={}\nseq={}\n",
        app.connections.load(Ordering::SeqCst),
        m.active,
        rss_kb(),
        open_fds(),
        tasks,
        m.connected,
        m.removed,
        m.rejected,
        m.published,
        m.dropped_oldest,
        m.dropped_newest,
        m.disconnected_slow,
        m.resumed,
        m.reset,
        *app.last_seq(),
    )
}

fn router(app: App) -> Router {
    let stats_app = app.clone();
    let broadcast_app = app.clone();
    let pump_app = app.clone();
    let publish_app = app.clone();
    let shutdown_app = app.clone();
    Router::new()
        .route(
            "/events",
            get(sse_axum::SseEndpoint::new(app.service.clone())),
        )
        .route(
            "/trusted/events",
            get(sse_axum::SseEndpoint::with_options(
                app.service.clone(),
                sse_axum::RequestOptions::new().trust_client_id(sse_axum::ClaimedId::Header(
                    HeaderName::from_static(CLIENT_ID_HEADER),
                )),
            )),
        )
        .route("/stats", get(move || std::future::ready(stats(&stats_app))))
        .route(
            "/broadcast",
            post(move |request: Request| {
                let count = query(&request, "count", 1);
                let size = query(&request, "size", 64) as usize;
                let mut last = 0;
                for _ in 0..count {
                    last = broadcast_app.broadcast(size);
                }
                std::future::ready(format!("seq={last}\n"))
            }),
        )
        .route(
            "/publish",
            post(move |request: Request| {
                // One event of `size` bytes to each of topics `t0`..`t{topics-1}`.
                let topics = query(&request, "topics", 1);
                let size = query(&request, "size", 64) as usize;
                let count = query(&request, "count", 1);
                let data = "x".repeat(size);
                for t in (0..count).flat_map(|_| 0..topics) {
                    let topic = Topic::new(&format!("t{t}")).expect("a valid topic");
                    let _ = publish_app
                        .service
                        .publish(&topic, Event::message(data.clone()));
                }
                std::future::ready("ok\n")
            }),
        )
        .route(
            "/body",
            post(|body: axum::body::Bytes| std::future::ready(format!("{}\n", body.len()))),
        )
        .route(
            "/pump",
            post(move |request: Request| {
                let count = query(&request, "count", 100);
                let rate = query(&request, "rate", 10).max(1);
                let size = query(&request, "size", 64) as usize;
                let app = pump_app.clone();
                tokio::spawn(async move {
                    let mut tick = tokio::time::interval(Duration::from_secs(1) / rate as u32);
                    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
                    for _ in 0..count {
                        tick.tick().await;
                        app.broadcast(size);
                    }
                });
                std::future::ready("ok\n")
            }),
        )
        .route(
            "/shutdown",
            post(move || {
                shutdown_app.shutdown.notify_one();
                std::future::ready("ok\n")
            }),
        )
}

fn main() -> std::io::Result<()> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(env_or("WORKERS", 2))
        .enable_all()
        .build()?
        .block_on(run())
}

async fn run() -> std::io::Result<()> {
    let mut builder = Service::builder();
    builder
        .slow_client_policy(match env::var("POLICY").as_deref() {
            Ok("drop-newest") => SlowClientPolicy::DropNewest,
            Ok("disconnect") => SlowClientPolicy::Disconnect,
            _ => SlowClientPolicy::DropOldest,
        })
        .queue_limits(env_or("QUEUE_FRAMES", 256), env_or("QUEUE_BYTES", 1 << 20))
        .max_clients(env_or("MAX_CLIENTS", usize::MAX))
        .replay(
            ReplayConfig::new()
                .max_events(env_or("REPLAY_EVENTS", 1024))
                .max_bytes(env_or("REPLAY_BYTES", 1 << 20)),
        )
        .keep_alive(match env_or("KEEP_ALIVE_MS", 15_000) {
            0 => None,
            ms => Some(Duration::from_millis(ms)),
        });
    let app = App {
        service: builder.build(),
        seq: Arc::new(Mutex::new(0)),
        shutdown: Arc::new(Notify::new()),
        connections: Arc::new(AtomicUsize::new(0)),
    };
    let header_timeout = match env_or("HEADER_TIMEOUT_MS", 5_000) {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    };
    let sndbuf: u32 = env_or("SNDBUF", 0);
    let request_timeout = match env_or("REQUEST_TIMEOUT_MS", 30_000) {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    };
    let user_timeout = match env_or("USER_TIMEOUT_MS", 0) {
        0 => None,
        ms => Some(Duration::from_millis(ms)),
    };
    let deadline = Duration::from_millis(env_or("SHUTDOWN_MS", 5_000));
    // The request-head limit, which bounds hyper's read buffer; 16 KiB by default.
    let max_buf: usize = env_or("MAX_BUF", 16 * 1024);

    let mut server = sse_http::Server::new();
    server
        .header_read_timeout(header_timeout)
        .request_timeout(request_timeout)
        .tcp_user_timeout(user_timeout)
        .max_head_size(max_buf);

    let socket = TcpSocket::new_v4()?;
    socket.set_reuseaddr(true)?;
    socket.bind(([127, 0, 0, 1], env_or("PORT", 0u16)).into())?;
    let listener = socket.listen(4096)?;
    println!("listening on {}", listener.local_addr()?);

    let routes = router(app.clone());
    let connections = Arc::clone(&app.connections);
    let (closing, closing_rx) = tokio::sync::watch::channel(false);
    // Owns the listener: dropping it when shutdown begins closes the port, so clients
    // that reconnect meet a refused connection, which `EventSource` retries.
    let accept = {
        let connections = Arc::clone(&connections);
        async move {
            loop {
                let (tcp, _) = match listener.accept().await {
                    Ok(conn) => conn,
                    // Out of descriptors or a connection reset before accept: keep serving.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(10)).await;
                        continue;
                    }
                };
                if sndbuf > 0 {
                    let _ = socket2::SockRef::from(&tcp).set_send_buffer_size(sndbuf as usize);
                }
                // The library's connection: its head, request and TCP user timeouts, head
                // limit and gathered writes; counted here for `/stats`.
                let conn = server.serve_connection(tcp, TowerToHyperService::new(routes.clone()));
                let mut closing = closing_rx.clone();
                let live = Arc::clone(&connections);
                live.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    tokio::pin!(conn);
                    tokio::select! {
                        _ = conn.as_mut() => {}
                        _ = closing.changed() => {
                            conn.as_mut().graceful_shutdown();
                            let _ = conn.await;
                        }
                    }
                    live.fetch_sub(1, Ordering::SeqCst);
                });
            }
        }
    };

    let mut sigterm = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    tokio::select! {
        () = accept => {}
        _ = sigterm.recv() => {}
        () = app.shutdown.notified() => {}
    }
    // The accept loop and its listener are dropped here: no new connections.
    let started = Instant::now();
    let (last, id) = {
        // No broadcast is half done while this is held.
        let last = app.last_seq();
        (*last, app.service.latest_id())
    };
    println!("shutdown began last={last} id={id}");
    let mut options = Shutdown::new(deadline);
    if let Some(ms) = env::var("RETRY_MS").ok().and_then(|v| v.parse().ok()) {
        options = options.retry(Duration::from_millis(ms), Duration::ZERO);
    }
    // Each connection closes once its response ends, rather than being kept alive: a
    // client's reconnect must meet the closed port (which `EventSource` retries), not
    // this draining process on a kept-alive connection (503, which it does not).
    let _ = closing.send(true);
    let report = app.service.shutdown(options).await;
    // Every stream has ended: let each connection finish writing its response and
    // close, within what is left of the deadline.
    let end = started + deadline;
    while connections.load(Ordering::SeqCst) > 0 && Instant::now() < end {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!(
        "shutdown done clients={} forced={} open={} ms={}",
        report.clients,
        report.forced,
        connections.load(Ordering::SeqCst),
        started.elapsed().as_millis()
    );
    Ok(())
}
