//! `sse_hyper::Server` on 127.0.0.1:0 with a raw TCP client: the request-head
//! timeout and stopping. How it writes is in `writes.rs`, alone in its binary.

use std::{net::SocketAddr, time::Duration};

use sse_codec::Event;
use sse_core::Service;
use sse_hyper::{Server, Sse};
use sse_testkit::{connect_raw_h1, WAIT};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    sync::oneshot,
    time::timeout,
};

/// Reads until `count` events (`data:` lines) have arrived.
async fn read_events(tcp: &mut TcpStream, count: usize) {
    let mut seen = 0;
    let mut buf = vec![0; 64 * 1024];
    while seen < count {
        let n = timeout(WAIT, tcp.read(&mut buf))
            .await
            .expect("events within WAIT")
            .expect("read");
        assert!(n > 0, "closed after {seen} events");
        seen += buf[..n].windows(5).filter(|w| w == b"data:").count();
    }
}

async fn bind() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

#[tokio::test]
async fn a_request_head_not_sent_in_time_closes_the_connection() {
    let service = Service::new();
    let (listener, addr) = bind().await;
    let mut server = Server::new();
    server.header_read_timeout(Duration::from_millis(200));
    tokio::spawn(async move { server.serve(listener, Sse::new(service)).await });

    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(b"GET /events HTTP/1.1\r\nhost: x\r\n")
        .await
        .expect("write");
    let mut buf = [0; 1024];
    let mut answer = Vec::new();
    loop {
        let n = timeout(WAIT, tcp.read(&mut buf))
            .await
            .expect("closed within WAIT")
            .unwrap_or(0);
        if n == 0 {
            break;
        }
        answer.extend_from_slice(&buf[..n]);
    }
    // hyper may answer 408 before closing; it must not have served the stream.
    assert!(
        !String::from_utf8_lossy(&answer).contains("200 OK"),
        "{answer:?}"
    );

    // A whole head in time is served.
    let mut ok = connect_raw_h1(addr, "/events", &[]).await;
    ok.write_all(b"").await.expect("still open");
}

#[tokio::test]
async fn serve_until_stops_accepting_and_streams_go_on() {
    let service = Service::new();
    let (listener, addr) = bind().await;
    let (stop, stopped) = oneshot::channel::<()>();
    let serving = tokio::spawn({
        let sse = Sse::new(service.clone());
        async move {
            Server::new()
                .serve_until(listener, sse, async {
                    let _ = stopped.await;
                })
                .await
        }
    });
    let mut early = connect_raw_h1(addr, "/events", &[]).await;
    stop.send(()).expect("server running");
    timeout(WAIT, serving)
        .await
        .expect("serve_until returns")
        .expect("no panic")
        .expect("no error");

    // The listener is gone: a new connection is refused.
    assert!(TcpStream::connect(addr).await.is_err());
    // The stream accepted before still gets events.
    service.broadcast(Event::message("after stop"));
    read_events(&mut early, 1).await;
}
