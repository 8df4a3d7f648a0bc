//! The shared behaviour suite against `sse-warp`, twice: served by `warp::serve`
//! (HTTP/1.1 and h2c) and by `sse_warp::serve` (HTTP/1.1).

use std::{
    net::SocketAddr,
    task::{Context, Poll},
};

use sse_core::Service;
use sse_testkit::{behaviour_suite, bind_loopback, routes, LibraryServer, TestServer};
use warp::{http::Request, Filter, Reply};

fn app(
    service: &Service,
) -> impl Filter<Extract = (impl Reply,), Error = warp::Rejection> + Clone + Send + Sync + 'static {
    let sse = |path: &str| {
        let options = routes::options(path).expect("a suite route");
        sse_warp::SseEndpoint::with_options(service.clone(), options).filter()
    };
    let default = warp::path!("events").and(sse(routes::DEFAULT));
    let header = warp::path!("header" / "events").and(sse(routes::HEADER));
    let query = warp::path!("query" / "events").and(sse(routes::QUERY));
    let cookie = warp::path!("cookie" / "events").and(sse(routes::COOKIE));
    let function = warp::path!("function" / "events").and(sse(routes::FUNCTION));
    let jwt = warp::path!("jwt" / "events").and(sse(routes::JWT));
    let middleware = warp::path!("middleware" / "events").and(sse(routes::MIDDLEWARE));
    let path = warp::path!("path" / String / "events")
        .map(|_id| ())
        .untuple_one()
        .and(sse("/path/x/events"));
    // No `warp::get()`: the sse filter answers GET and HEAD, 405 otherwise.
    default
        .or(header)
        .or(query)
        .or(cookie)
        .or(function)
        .or(jwt)
        .or(middleware)
        .or(path)
}

/// The application's own authentication, as a layer around the warp service: what a
/// tower middleware does.
#[derive(Clone)]
struct Authenticating<S>(S);

impl<S, B> tower_service::Service<Request<B>> for Authenticating<S>
where
    S: tower_service::Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.0.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> S::Future {
        if let Some(principal) = routes::middleware_principal(request.headers()) {
            request.extensions_mut().insert(principal);
        }
        self.0.call(request)
    }
}

/// `warp::serve`.
struct Warp;

impl TestServer for Warp {
    const HTTP2: bool = true;
    // `warp::serve` takes a filter: no layer runs before it to set extensions.
    const MIDDLEWARE: bool = false;

    async fn start(service: Service) -> SocketAddr {
        let (listener, addr) = bind_loopback().await;
        tokio::spawn(warp::serve(app(&service)).incoming(listener).run());
        addr
    }
}

/// `sse_warp::serve`.
struct WarpTuned;

impl TestServer for WarpTuned {
    const HTTP2: bool = true;

    async fn start(service: Service) -> SocketAddr {
        let (listener, addr) = bind_loopback().await;
        let service = Authenticating(warp::service(app(&service)));
        tokio::spawn(sse_warp::serve(listener, service));
        addr
    }
}

impl LibraryServer for WarpTuned {
    async fn start_with(server: sse_warp::Server, service: Service) -> SocketAddr {
        let (listener, addr) = bind_loopback().await;
        let service = Authenticating(warp::service(app(&service)));
        tokio::spawn(async move {
            sse_warp::serve_with(&server, listener, service, std::future::pending()).await
        });
        addr
    }
}

mod warp_serve {
    sse_testkit::behaviour_suite!(super::Warp);
}

behaviour_suite!(WarpTuned);

/// The library's server again, every scenario read over HTTP/2 with prior knowledge.
mod h2c {
    sse_testkit::behaviour_suite!(sse_testkit::H2c<super::WarpTuned>);
}

/// And over HTTPS, HTTP/2 chosen by ALPN.
mod h2_tls {
    sse_testkit::behaviour_suite!(sse_testkit::H2Tls<super::WarpTuned>);
}
