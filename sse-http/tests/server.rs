//! `sse_http::Server` on 127.0.0.1:0 with a raw TCP client: the request-head
//! timeout and stopping. How it writes is in `writes.rs`, alone in its binary.

use std::{net::SocketAddr, time::Duration};

use sse_codec::Event;
use sse_core::Service;
use sse_http::{Endpoint, Server};
use sse_testkit::{bind_loopback, connect_raw_h1, read_until, WAIT};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    sync::oneshot,
    time::timeout,
};

#[tokio::test]
async fn a_request_head_not_sent_in_time_closes_the_connection() {
    let service = Service::new();
    let (listener, addr) = bind_loopback().await;
    let mut server = Server::new();
    server.header_read_timeout(Some(Duration::from_millis(200)));
    tokio::spawn(async move { server.serve(listener, Endpoint::new(service)).await });

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
async fn a_request_head_over_the_limit_is_431_at_once() {
    let service = Service::new();
    let (listener, addr) = bind_loopback().await;
    let mut server = Server::new();
    server.max_head_size(16 * 1024);
    tokio::spawn(async move { server.serve(listener, Endpoint::new(service.clone())).await });

    // 64 KiB of headers, never finished: refused as soon as the limit is passed, not
    // held until the head timeout.
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let mut head = b"GET /events HTTP/1.1\r\nhost: x\r\n".to_vec();
    for i in 0..1024 {
        head.extend_from_slice(format!("x-filler-{i:04}: {}\r\n", "y".repeat(40)).as_bytes());
    }
    let _ = tcp.write_all(&head).await; // the server may close before it is all sent
    let answer = read_until(&mut tcp, "\r\n").await;
    assert!(
        String::from_utf8_lossy(&answer).starts_with("HTTP/1.1 431"),
        "{:?}",
        String::from_utf8_lossy(&answer)
    );

    // A head under the limit is served.
    let under = "y".repeat(8 * 1024);
    let mut ok = connect_raw_h1(addr, "/events", &[("x-big", &under)]).await;
    ok.write_all(b"").await.expect("still open");
}

#[tokio::test]
async fn a_body_that_does_not_arrive_in_time_closes_the_connection() {
    use http_body_util::BodyExt;
    use hyper::{service::service_fn, Request, Response};
    use sse_http::RequestBody;

    let service = Service::new();
    let (listener, addr) = bind_loopback().await;
    let mut server = Server::new();
    server.request_timeout(Some(Duration::from_millis(300)));
    let sse = Endpoint::new(service.clone());
    let app = service_fn(move |request: Request<RequestBody>| {
        let sse = sse.clone();
        async move {
            if request.uri().path() == "/events" {
                return Ok::<_, hyper::Error>(
                    sse.respond(&sse_http::RequestHead::from_request(&request)),
                );
            }
            // A handler that reads the whole body before it answers.
            let body = request.into_body().collect().await?.to_bytes();
            Ok(Response::new(sse_http::SseBody::full(body)))
        }
    });
    tokio::spawn(async move { server.serve(listener, app).await });

    // A stream that is answered stays up, silent, well past the timeout.
    let mut stream = connect_raw_h1(addr, "/events", &[]).await;
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(b"POST /upload HTTP/1.1\r\nhost: x\r\ncontent-length: 65536\r\n\r\npartial")
        .await
        .expect("write");
    let started = std::time::Instant::now();
    let mut buf = [0; 1024];
    loop {
        match timeout(WAIT, tcp.read(&mut buf))
            .await
            .expect("closed within WAIT")
        {
            Ok(0) | Err(_) => break,
            Ok(_) => {}
        }
    }
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );

    tokio::time::sleep(Duration::from_millis(500)).await;
    service.broadcast(Event::message("still here")).unwrap();
    read_until(&mut stream, "still here").await;
}

#[tokio::test]
async fn serve_until_stops_accepting_then_returns_once_its_connections_closed() {
    let service = Service::new();
    let (listener, addr) = bind_loopback().await;
    let (stop, stopped) = oneshot::channel::<()>();
    let mut serving = tokio::spawn({
        let sse = Endpoint::new(service.clone());
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

    // The listener is gone: a new connection is refused.
    sse_testkit::refused(addr).await;
    // The stream accepted before still gets events, and the server waits for it.
    service.broadcast(Event::message("after stop")).unwrap();
    read_until(&mut early, "data: after stop").await;
    assert!(
        timeout(Duration::from_millis(200), &mut serving)
            .await
            .is_err(),
        "serve_until waits for the open stream"
    );
    // The service's shutdown ends the stream: its connection closes, and serve_until
    // returns.
    service
        .shutdown(sse_core::Shutdown::new(Duration::from_secs(1)))
        .await;
    timeout(WAIT, serving)
        .await
        .expect("serve_until returns")
        .expect("no panic")
        .expect("no error");
}

#[tokio::test]
async fn every_request_carries_its_peer_address() {
    let (listener, addr) = bind_loopback().await;
    let echo =
        hyper::service::service_fn(|request: http::Request<sse_http::RequestBody>| async move {
            let peer = request
                .extensions()
                .get::<sse_http::PeerAddr>()
                .map(|p| p.0);
            let body = http_body_util::Full::new(bytes::Bytes::from(format!("{peer:?}")));
            Ok::<_, std::convert::Infallible>(http::Response::new(body))
        });
    tokio::spawn(async move { Server::new().serve(listener, echo).await });
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let mine = tcp.local_addr().expect("local address");
    tcp.write_all(b"GET / HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("request");
    read_until(&mut tcp, &format!("Some({mine})")).await;
}

/// Connects with a 4 KiB receive buffer, reads the prelude, and then never reads
/// again: the peer's window shuts as soon as the server sends more.
async fn connect_and_stall(addr: SocketAddr) -> TcpStream {
    let socket = tokio::net::TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("SO_RCVBUF");
    let mut tcp = socket.connect(addr).await.expect("connect");
    tcp.write_all(b"GET /events HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("request");
    read_until(&mut tcp, ": connected").await;
    tcp
}

/// Serves one stalled client with `server` until its slow-client policy drops it;
/// returns whether the connection then ended within `wait`.
async fn connection_ends_after_drop(server: Server, wait: Duration) -> bool {
    let service = Service::builder()
        .queue_limits(16, 256 * 1024)
        .slow_client_policy(sse_core::SlowClientPolicy::Disconnect)
        .build();
    let (listener, addr) = bind_loopback().await;
    let sse = Endpoint::new(service.clone());
    let connection = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let _ = server.serve_connection(tcp, sse).await;
    });
    let _stalled = connect_and_stall(addr).await;
    let data = "x".repeat(64 * 1024);
    let filling = async {
        while service.active() > 0 {
            service.broadcast(Event::message(data.clone())).unwrap();
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    };
    timeout(Duration::from_secs(20), filling)
        .await
        .expect("the policy drops the stalled client");
    timeout(wait, connection).await.is_ok()
}

#[cfg(any(target_os = "linux", target_os = "android"))]
#[tokio::test]
async fn a_shut_window_is_closed_after_the_user_timeout() {
    // Control: without the timeout the kernel probes the zero window forever, and
    // hyper waits to write the end of the dropped stream.
    let mut without = Server::new();
    without.tcp_user_timeout(None);
    assert!(
        !connection_ends_after_drop(without, Duration::from_secs(3)).await,
        "the connection ended without a user timeout"
    );
    let mut with = Server::new();
    with.tcp_user_timeout(Some(Duration::from_secs(1)));
    assert!(
        connection_ends_after_drop(with, Duration::from_secs(10)).await,
        "the connection outlived its user timeout"
    );
}
