//! `sse_axum::serve` as a drop-in for `axum::serve`: connect info, and a graceful stop
//! that answers the requests in flight.

use std::{net::SocketAddr, time::Duration};

use axum::{extract::ConnectInfo, routing::get, Router};
use sse_testkit::{bind_loopback, read_until, WAIT};
use tokio::{io::AsyncWriteExt, net::TcpStream, sync::oneshot, time::timeout};

async fn get_raw(addr: SocketAddr, path: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let request = format!("GET {path} HTTP/1.1\r\nhost: x\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("request");
    tcp
}

#[tokio::test]
async fn handlers_get_the_peer_address_as_connect_info() {
    let app = Router::new().route(
        "/who",
        get(|ConnectInfo(peer): ConnectInfo<SocketAddr>| async move { format!("peer {peer}") }),
    );
    let (listener, addr) = bind_loopback().await;
    tokio::spawn(sse_axum::serve(listener, app));
    let mut tcp = get_raw(addr, "/who").await;
    let mine = tcp.local_addr().expect("local address");
    let answer = read_until(&mut tcp, &format!("peer {mine}")).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}

#[tokio::test]
async fn a_stop_answers_the_requests_in_flight_before_serve_returns() {
    let app = Router::new().route(
        "/slow",
        get(|| async {
            tokio::time::sleep(Duration::from_millis(300)).await;
            "done"
        }),
    );
    let (listener, addr) = bind_loopback().await;
    let (stop, stopped) = oneshot::channel::<()>();
    let mut serving = tokio::spawn(async move {
        let stop = async {
            let _ = stopped.await;
        };
        sse_axum::serve_with(&sse_axum::Server::new(), listener, app, stop).await
    });
    let mut tcp = get_raw(addr, "/slow").await;
    tokio::time::sleep(Duration::from_millis(50)).await;
    stop.send(()).expect("serving");
    sse_testkit::refused(addr).await;
    assert!(
        timeout(Duration::from_millis(100), &mut serving)
            .await
            .is_err(),
        "serve_with waits for the request in flight"
    );
    let answer = read_until(&mut tcp, "done").await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    timeout(WAIT, serving)
        .await
        .expect("serve_with returns once the connection closed")
        .expect("no panic")
        .expect("no error");
}
