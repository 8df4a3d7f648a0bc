//! The demo: a page with a live clock, chat rooms, direct messages and resume, served
//! by axum, warp or hyper over one `sse_core::Service`.
//!
//! ```text
//! cargo run -p examples --bin demo              # http://127.0.0.1:8080/
//! PORT=3000 ADAPTER=warp cargo run -p examples --bin demo
//! REDIS_URL=redis://127.0.0.1/ PORT=8081 cargo run -p examples --bin demo  # one of many
//! REDIS_CLUSTER=redis://127.0.0.1:7000,redis://127.0.0.1:7001 cargo run -p examples --bin demo
//! ```
//!
//! Environment: `PORT` (default 8080; 0 picks a free one), `ADAPTER` (`axum`, `warp` or
//! `hyper`; default `axum`), `REDIS_URL` (publish through a Redis backplane so that
//! every demo on that Redis is one service), `REDIS_CLUSTER` (the same over a Redis
//! Cluster, given by some of its nodes, comma-separated), `REDIS_PREFIX` (the
//! prefix of the Redis keys and channels, default `demo`), `DEMO_SECRET` (the key that signs sessions, at least 32 bytes;
//! demos sharing it accept each other's sessions; random per process when unset) and
//! `BODY_TIMEOUT_MS` (how long a request body may take to arrive, default 30,000;
//! then 408). With `TLS_CERT` and `TLS_KEY` (PEM files: the certificate chain and its
//! key) it serves HTTPS instead, with HTTP/2 for browsers, and reads the files again on
//! `SIGHUP`. The first line on stdout is `listening on http://ADDR` (or `https://`).
//!
//! The routes are in `examples::demo`; each adapter below only serves `GET /events`
//! with its own crate and hands every other request to [`Demo::handle`]. All three
//! listen through the library's server (`sse_axum::serve_with`,
//! `sse_warp::serve_with`, `sse_http::Server`): HTTP/1.1, and HTTP/2 with prior
//! knowledge or over TLS; it also closes connections that do not send a request head
//! within 10 s.

use std::{
    error::Error, future::Future, io::Write, net::SocketAddr, process::ExitCode, time::Duration,
};

use bytes::Bytes;
use examples::demo::{service_builder, session::Sessions, Demo, RETRY};
use http_body_util::BodyExt;
use sse_core::Shutdown;
use sse_redis::{RedisBackplane, RedisOptions};
use tokio::net::TcpListener;

#[tokio::main]
async fn main() -> ExitCode {
    match run().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("demo: {e}");
            ExitCode::FAILURE
        }
    }
}

async fn run() -> Result<(), Box<dyn Error>> {
    let port = match std::env::var("PORT") {
        Ok(port) => port
            .parse::<u16>()
            .map_err(|_| format!("PORT={port:?} is not a port number"))?,
        Err(_) => 8080,
    };
    let adapter = match std::env::var("ADAPTER").as_deref() {
        Ok("axum") | Err(_) => "axum",
        Ok("warp") => "warp",
        Ok("hyper") => "hyper",
        Ok(other) => return Err(format!("ADAPTER={other:?}: use axum, warp or hyper").into()),
    };
    let (secret, secret_note) = match std::env::var("DEMO_SECRET") {
        Ok(secret) if secret.len() >= 32 => (secret.into_bytes(), "from DEMO_SECRET"),
        Ok(_) => return Err("DEMO_SECRET must be at least 32 bytes".into()),
        Err(_) => (
            Sessions::random_secret(),
            "random: DEMO_SECRET is unset, so sessions are valid in this process only",
        ),
    };
    let sessions = Sessions::new(&secret)?;
    let body_timeout = match std::env::var("BODY_TIMEOUT_MS") {
        Ok(ms) => Duration::from_millis(
            ms.parse()
                .map_err(|_| format!("BODY_TIMEOUT_MS={ms:?} is not a number"))?,
        ),
        Err(_) => examples::demo::BODY_TIMEOUT,
    };
    let prefix = std::env::var("REDIS_PREFIX").unwrap_or_else(|_| "demo".into());
    let options = RedisOptions::new().prefix(prefix);
    let demo = match (std::env::var("REDIS_URL"), std::env::var("REDIS_CLUSTER")) {
        (Ok(_), Ok(_)) => return Err("set REDIS_URL or REDIS_CLUSTER, not both".into()),
        (Ok(url), _) => {
            let backplane = RedisBackplane::connect(&url, &service_builder(), options).await?;
            Demo::with_backplane(backplane, sessions, adapter)
        }
        (_, Ok(seeds)) => {
            let seeds: Vec<&str> = seeds.split(',').map(str::trim).collect();
            let backplane =
                RedisBackplane::connect_cluster(&seeds, &service_builder(), options).await?;
            Demo::with_backplane(backplane, sessions, adapter)
        }
        _ => Demo::new(service_builder().build(), sessions, adapter),
    }
    .body_timeout(body_timeout)
    .metrics(
        metrics_exporter_prometheus::PrometheusBuilder::new()
            .install_recorder()
            .map_err(|e| format!("the metrics recorder: {e}"))?,
    );

    let mut server = sse_http::Server::new();
    let tls = match (std::env::var_os("TLS_CERT"), std::env::var_os("TLS_KEY")) {
        (Some(cert), Some(key)) => {
            let files = sse_http::TlsFiles::load(&cert, &key)?;
            server.tls(files.clone());
            Some(files)
        }
        (None, None) => None,
        _ => return Err("set both TLS_CERT and TLS_KEY, or neither".into()),
    };

    let listener = TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], port))).await?;
    // Tests wait for this line to learn the port; say it before anything else.
    let addr = listener.local_addr()?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    println!("listening on {scheme}://{addr}");
    std::io::stdout().flush()?;
    eprintln!("demo: {adapter} adapter, open the address above in a browser");
    eprintln!("demo: session key {secret_note}");

    tokio::spawn(demo.clone().run_clock());
    if let Some(files) = tls {
        tokio::spawn(reload_on_hangup(files));
    }
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async {
        let _ = stopped.await;
    };
    let mut server = match adapter {
        "warp" => tokio::spawn(serve_warp(server, listener, demo.clone(), stopped)),
        "hyper" => tokio::spawn(serve_hyper(server, listener, demo.clone(), stopped)),
        _ => tokio::spawn(serve_axum(server, listener, demo.clone(), stopped)),
    };
    tokio::select! {
        ended = &mut server => return Err(format!("server stopped: {ended:?}").into()),
        () = stop_signal() => {}
    }
    // Close the listener first: a client that reconnects during the drain gets a
    // network error, which `EventSource` retries, rather than a 503, on which it gives
    // up for good. The open connections are served to the end of the drain.
    let _ = stop.send(());
    listener_closed(addr).await;
    // Streams end cleanly with a retry hint, so browsers come back when we do.
    let report = demo
        .service()
        .shutdown(Shutdown::new(Duration::from_secs(3)).retry(RETRY, Duration::from_secs(1)))
        .await;
    // It returns once every connection has closed.
    let _ = server.await;
    eprintln!(
        "demo: shut down; {} clients, {} cut off",
        report.clients, report.forced
    );
    Ok(())
}

/// Waits (up to a second) until the server has closed its listener on `addr`.
async fn listener_closed(addr: SocketAddr) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        if tokio::time::Instant::now() > deadline {
            return;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

/// Ctrl-C, or SIGTERM on Unix.
/// Reads the certificate and key again on each `SIGHUP`: renewed files take effect
/// for new connections without a restart.
async fn reload_on_hangup(files: sse_http::TlsFiles) {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        let Ok(mut hangup) = signal(SignalKind::hangup()) else {
            return;
        };
        while hangup.recv().await.is_some() {
            match files.reload() {
                Ok(()) => eprintln!("demo: certificate reloaded"),
                Err(e) => eprintln!("demo: certificate not reloaded, the old one stays: {e}"),
            }
        }
    }
    #[cfg(not(unix))]
    let _ = files;
}

async fn stop_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        if let Ok(mut term) = signal(SignalKind::terminate()) {
            tokio::select! {
                _ = term.recv() => return,
                _ = tokio::signal::ctrl_c() => return,
            }
        }
    }
    let _ = tokio::signal::ctrl_c().await;
}

/// Hands an axum or hyper request to the demo's own routes.
async fn handle_request<B>(demo: &Demo, request: http::Request<B>) -> http::Response<Bytes>
where
    B: axum::body::HttpBody + Send + 'static,
    B::Data: Send,
    B::Error: std::fmt::Display + Send,
{
    let (parts, body) = request.into_parts();
    let uri = &parts.uri;
    let body = body.into_data_stream();
    demo.handle(
        parts.method.as_str(),
        uri.path(),
        uri.query(),
        &parts.headers,
        body,
    )
    .await
    .into_response()
}

async fn serve_axum(
    server: sse_http::Server,
    listener: TcpListener,
    demo: Demo,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    use axum::{body::Body, extract::Request, routing::get, Router};

    let events =
        sse_axum::SseEndpoint::with_options(demo.service().clone(), demo.request_options());
    let app = Router::new()
        .route("/events", get(events))
        .fallback(move |request: Request| {
            let demo = demo.clone();
            async move { handle_request(&demo, request).await.map(Body::from) }
        });
    sse_axum::serve_with(&server, listener, app, stop).await
}

async fn serve_warp(
    server: sse_http::Server,
    listener: TcpListener,
    demo: Demo,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let service = warp::service(warp_routes(demo));
    sse_warp::serve_with(&server, listener, service, stop).await
}

// Built outside the async fn: the filter's `&'static str` path inside a future trips
// rustc's `Send` check ("implementation of `AsRef` is not general enough").
fn warp_routes(
    demo: Demo,
) -> impl warp::Filter<Extract = (impl warp::Reply,), Error = warp::Rejection>
       + Clone
       + Send
       + Sync
       + 'static {
    use warp::{
        http::{HeaderMap, Method},
        path::FullPath,
        Filter,
    };

    let events = warp::path("events").and(warp::path::end()).and(
        sse_warp::SseEndpoint::with_options(demo.service().clone(), demo.request_options())
            .filter(),
    );
    // `query::raw` rejects a request without a query string; that is just no query.
    let query = warp::query::raw().or(warp::any().map(String::new)).unify();
    let app = warp::method()
        .and(warp::path::full())
        .and(query)
        .and(warp::header::headers_cloned())
        .and(warp::body::stream())
        .then(
            move |method: Method, path: FullPath, query: String, headers: HeaderMap, body| {
                let query = (!query.is_empty()).then_some(query.as_str());
                let reply = demo.handle(method.as_str(), path.as_str(), query, &headers, body);
                async move {
                    let response: warp::reply::Response =
                        reply.await.into_response().map(Into::into);
                    response
                }
            },
        );
    events.or(app)
}

async fn serve_hyper(
    server: sse_http::Server,
    listener: TcpListener,
    demo: Demo,
    stop: impl Future<Output = ()>,
) -> std::io::Result<()> {
    use hyper::{service::service_fn, Method, Request};
    use sse_hyper::{RequestBody, SseBody, SseEndpoint};

    let sse = SseEndpoint::with_options(demo.service().clone(), demo.request_options());
    let service = service_fn(move |request: Request<RequestBody>| {
        let (sse, demo) = (sse.clone(), demo.clone());
        async move {
            let stream = [Method::GET, Method::HEAD].contains(request.method());
            if request.uri().path() == "/events" && stream {
                return Ok::<_, std::convert::Infallible>(sse.respond(&request));
            }
            Ok(handle_request(&demo, request).await.map(SseBody::full))
        }
    });
    server.serve_until(listener, service, stop).await
}
