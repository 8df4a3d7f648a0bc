//! The shared behaviour suite against `sse-hyper`, served by hyper-util's auto builder
//! (HTTP/1.1 and h2c).

use std::{convert::Infallible, net::SocketAddr};

use http::{Request, Response, StatusCode};
use hyper::{body::Incoming, service::service_fn};
use hyper_util::{
    rt::{TokioExecutor, TokioIo},
    server::conn::auto,
};
use sse_core::Service;
use sse_hyper::{Sse, SseBody};
use sse_testkit::{behaviour_suite, routes, TestServer};

struct Hyper;

impl TestServer for Hyper {
    const HTTP2: bool = true;

    async fn start(service: Service) -> SocketAddr {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("local addr");
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                let service = service.clone();
                let route = service_fn(move |request: Request<Incoming>| {
                    let response = match routes::options(request.uri().path()) {
                        Some(options) => {
                            Sse::with_options(service.clone(), options).respond(&request)
                        }
                        None => {
                            let mut response = Response::new(SseBody::full("not found"));
                            *response.status_mut() = StatusCode::NOT_FOUND;
                            response
                        }
                    };
                    async move { Ok::<_, Infallible>(response) }
                });
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

behaviour_suite!(Hyper);
