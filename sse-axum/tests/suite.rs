//! The shared behaviour suite against `sse-axum`, twice: served by `axum::serve`
//! (HTTP/1.1 and h2c) and by `sse_axum::serve` (HTTP/1.1).

use std::net::SocketAddr;

use axum::{extract::Request, middleware::map_request, routing::get, Router};
use sse_axum::SseEndpoint;
use sse_core::Service;
use sse_testkit::{behaviour_suite, bind_loopback, routes, LibraryServer, TestServer};

fn app(service: &Service) -> Router {
    let sse = |path: &str| {
        let options = routes::options(path).expect("a suite route");
        get(SseEndpoint::with_options(service.clone(), options))
    };
    let path_route = format!("{}{{id}}/events", routes::PATH_PREFIX);
    let mut router = Router::new().route(&path_route, sse("/path/x/events"));
    for path in [
        routes::DEFAULT,
        routes::HEADER,
        routes::QUERY,
        routes::COOKIE,
        routes::FUNCTION,
        routes::JWT,
        routes::MIDDLEWARE,
    ] {
        router = router.route(path, sse(path));
    }
    // The application's own authentication, as middleware.
    router.layer(map_request(|mut request: Request| async move {
        if let Some(principal) = routes::middleware_principal(request.headers()) {
            request.extensions_mut().insert(principal);
        }
        request
    }))
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
    const HTTP2: bool = true;

    async fn start(service: Service) -> SocketAddr {
        let (listener, addr) = bind_loopback().await;
        tokio::spawn(sse_axum::serve(listener, app(&service)));
        addr
    }
}

impl LibraryServer for AxumTuned {
    async fn start_with(server: sse_axum::Server, service: Service) -> SocketAddr {
        let (listener, addr) = bind_loopback().await;
        let app = app(&service);
        tokio::spawn(async move {
            sse_axum::serve_with(&server, listener, app, std::future::pending()).await
        });
        addr
    }
}

mod axum_serve {
    sse_testkit::behaviour_suite!(super::Axum);
}

behaviour_suite!(AxumTuned);

/// The library's server again, every scenario read over HTTP/2 with prior knowledge.
mod h2c {
    sse_testkit::behaviour_suite!(sse_testkit::H2c<super::AxumTuned>);
}

/// And over HTTPS, HTTP/2 chosen by ALPN.
mod h2_tls {
    sse_testkit::behaviour_suite!(sse_testkit::H2Tls<super::AxumTuned>);
}
