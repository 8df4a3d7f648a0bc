//! The shared behaviour suite against `sse-axum`, twice: served by `axum::serve`
//! (HTTP/1.1 and h2c) and by `sse_axum::serve` (HTTP/1.1).

use std::net::SocketAddr;

use axum::{routing::get, Router};
use sse_axum::Sse;
use sse_core::Service;
use sse_testkit::{behaviour_suite, bind_loopback, routes, TestServer};

fn app(service: &Service) -> Router {
    let sse = |path: &str| {
        let options = routes::options(path).expect("a suite route");
        get(Sse::with_options(service.clone(), options))
    };
    let path_route = format!("{}{{id}}/events", routes::PATH_PREFIX);
    Router::new()
        .route(routes::DEFAULT, sse(routes::DEFAULT))
        .route(routes::QUERY, sse(routes::QUERY))
        .route(routes::COOKIE, sse(routes::COOKIE))
        .route(routes::FUNCTION, sse(routes::FUNCTION))
        .route(&path_route, sse("/path/x/events"))
}

/// `axum::serve`.
struct Axum;

impl TestServer for Axum {
    const HTTP2: bool = true;

    async fn start(service: Service) -> SocketAddr {
        let (listener, addr) = bind_loopback().await;
        let app = app(&service);
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    }
}

/// `sse_axum::serve`.
struct AxumTuned;

impl TestServer for AxumTuned {
    const HTTP2: bool = false;

    async fn start(service: Service) -> SocketAddr {
        let (listener, addr) = bind_loopback().await;
        tokio::spawn(sse_axum::serve(listener, app(&service)));
        addr
    }
}

mod axum_serve {
    sse_testkit::behaviour_suite!(super::Axum);
}

behaviour_suite!(AxumTuned);
