//! The shared behaviour suite against `sse-warp`, twice: served by `warp::serve`
//! (HTTP/1.1 and h2c) and by `sse_warp::serve` (HTTP/1.1).

use std::net::SocketAddr;

use sse_core::Service;
use sse_testkit::{behaviour_suite, bind_loopback, routes, TestServer};
use warp::{Filter, Reply};

fn app(
    service: &Service,
) -> impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    let sse = |path: &str| {
        let options = routes::options(path).expect("a suite route");
        sse_warp::sse_with_options(service.clone(), options)
    };
    let default = warp::path!("events").and(sse(routes::DEFAULT));
    let query = warp::path!("query" / "events").and(sse(routes::QUERY));
    let cookie = warp::path!("cookie" / "events").and(sse(routes::COOKIE));
    let function = warp::path!("function" / "events").and(sse(routes::FUNCTION));
    let path = warp::path!("path" / String / "events")
        .map(|_id| ())
        .untuple_one()
        .and(sse("/path/x/events"));
    warp::get().and(default.or(query).or(cookie).or(function).or(path))
}

/// `warp::serve`.
struct Warp;

impl TestServer for Warp {
    const HTTP2: bool = true;

    async fn start(service: Service) -> SocketAddr {
        let (listener, addr) = bind_loopback().await;
        tokio::spawn(warp::serve(app(&service)).incoming(listener).run());
        addr
    }
}

/// `sse_warp::serve`.
struct WarpTuned;

impl TestServer for WarpTuned {
    const HTTP2: bool = false;

    async fn start(service: Service) -> SocketAddr {
        let (listener, addr) = bind_loopback().await;
        tokio::spawn(sse_warp::serve(listener, warp::service(app(&service))));
        addr
    }
}

mod warp_serve {
    sse_testkit::behaviour_suite!(super::Warp);
}

behaviour_suite!(WarpTuned);
