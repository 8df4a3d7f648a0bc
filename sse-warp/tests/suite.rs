//! The shared behaviour suite against `sse-warp`, served by `warp::serve` (HTTP/1.1
//! and h2c).

use std::net::SocketAddr;

use sse_core::Service;
use sse_testkit::{behaviour_suite, routes, TestServer};
use warp::Filter;

struct Warp;

impl TestServer for Warp {
    const HTTP2: bool = true;

    async fn start(service: Service) -> SocketAddr {
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
        let app = warp::get().and(default.or(query).or(cookie).or(function).or(path));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(warp::serve(app).incoming(listener).run());
        addr
    }
}

behaviour_suite!(Warp);
