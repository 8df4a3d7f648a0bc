//! The shared behaviour suite against `sse-axum`, served by `axum::serve` (HTTP/1.1
//! and h2c).

use std::net::SocketAddr;

use axum::{routing::get, Router};
use sse_axum::Sse;
use sse_core::Service;
use sse_testkit::{behaviour_suite, routes, TestServer};

struct Axum;

impl TestServer for Axum {
    const HTTP2: bool = true;

    async fn start(service: Service) -> SocketAddr {
        let sse = |path: &str| {
            let options = routes::options(path).expect("a suite route");
            get(Sse::with_options(service.clone(), options))
        };
        let path_route = format!("{}{{id}}/events", routes::PATH_PREFIX);
        let app = Router::new()
            .route(routes::DEFAULT, sse(routes::DEFAULT))
            .route(routes::QUERY, sse(routes::QUERY))
            .route(routes::COOKIE, sse(routes::COOKIE))
            .route(routes::FUNCTION, sse(routes::FUNCTION))
            .route(&path_route, sse("/path/x/events"));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }
}

behaviour_suite!(Axum);
