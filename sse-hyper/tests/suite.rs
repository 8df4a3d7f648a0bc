//! The shared behaviour suite against `sse-hyper`, twice: served by hyper-util's auto
//! builder (HTTP/1.1 and h2c) and by `sse_http::Server` (HTTP/1.1).

use std::{convert::Infallible, net::SocketAddr};

use http::{Request, Response, StatusCode};
use hyper::service::{service_fn, Service as HyperService};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use sse_core::Service;
use sse_hyper::{SseBody, SseEndpoint};
use sse_testkit::{behaviour_suite, bind_loopback, routes, LibraryServer, TestServer};

/// Every suite route, and 404 for anything else.
fn route<B: hyper::body::Body + Send + 'static>(
    service: Service,
) -> impl HyperService<
    Request<B>,
    Response = Response<SseBody>,
    Error = Infallible,
    Future = impl std::future::Future<Output = Result<Response<SseBody>, Infallible>> + Send + 'static,
> + Clone
       + Send
       + 'static {
    service_fn(move |mut request: Request<B>| {
        // The application's own authentication, before the handler.
        if let Some(principal) = routes::middleware_principal(request.headers()) {
            request.extensions_mut().insert(principal);
        }
        let response = match routes::options(request.uri().path()) {
            Some(options) => SseEndpoint::with_options(service.clone(), options).respond(&request),
            None => {
                let mut response = Response::new(SseBody::full("not found"));
                *response.status_mut() = StatusCode::NOT_FOUND;
                response
            }
        };
        async move { Ok::<_, Infallible>(response) }
    })
}

/// hyper-util's auto builder.
struct Hyper;

impl TestServer for Hyper {
    const HTTP2: bool = true;

    async fn start(service: Service) -> SocketAddr {
        let (listener, addr) = bind_loopback().await;
        let route = route(service);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let route = route.clone();
                tokio::spawn(async move {
                    let _ = auto::Builder::new(TokioExecutor::new())
                        .serve_connection(TokioIo::new(tcp), route)
                        .await;
                });
            }
        });
        addr
    }
}

/// `sse_http::Server`.
struct HyperTuned;

impl TestServer for HyperTuned {
    const HTTP2: bool = true;

    async fn start(service: Service) -> SocketAddr {
        let (listener, addr) = bind_loopback().await;
        tokio::spawn(sse_http::serve(listener, route(service)));
        addr
    }
}

impl LibraryServer for HyperTuned {
    async fn start_with(server: sse_hyper::Server, service: Service) -> SocketAddr {
        let (listener, addr) = bind_loopback().await;
        tokio::spawn(async move { server.serve(listener, route(service)).await });
        addr
    }
}

mod auto_builder {
    sse_testkit::behaviour_suite!(super::Hyper);
}

behaviour_suite!(HyperTuned);

/// The library's server again, every scenario read over HTTP/2 with prior knowledge.
mod h2c {
    sse_testkit::behaviour_suite!(sse_testkit::H2c<super::HyperTuned>);
}

/// And over HTTPS, HTTP/2 chosen by ALPN.
mod h2_tls {
    sse_testkit::behaviour_suite!(sse_testkit::H2Tls<super::HyperTuned>);
}
