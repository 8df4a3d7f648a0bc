//! HTTP/2 with prior knowledge on `sse_http::Server`'s port, next to HTTP/1.1: many
//! streams on one connection, flow control per stream, and the stop's GOAWAY; over
//! real sockets on 127.0.0.1, with hyper's HTTP/2 client.

use std::{convert::Infallible, net::SocketAddr, time::Duration};

use bytes::Bytes;
use http::{Method, Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::service::service_fn;
use hyper::{body::Incoming, client::conn::http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use sse_codec::Event;
use sse_core::{Service, Shutdown};
use sse_http::{Endpoint, RequestBody, RequestHead, Server, SseBody};
use sse_testkit::{bind_loopback, read_body_until, read_until, wait_active, WAIT};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::{timeout, Instant},
};

/// `/events` streams; anything else answers with the length of the request's body.
async fn start(server: Server) -> (Service, SocketAddr, tokio::sync::oneshot::Sender<()>) {
    let service = Service::new();
    let sse = Endpoint::new(service.clone());
    let app = service_fn(move |request: Request<RequestBody>| {
        let sse = sse.clone();
        async move {
            if request.uri().path() == "/events" {
                let head = RequestHead::from_request(&request);
                return Ok::<_, Infallible>(sse.respond(&head));
            }
            let body = request.into_body().collect().await.map(|b| b.to_bytes());
            let len = body.map_or(0, |b| b.len());
            Ok(Response::new(SseBody::full(format!("got {len}\n"))))
        }
    });
    let (listener, addr) = bind_loopback().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        server
            .serve_until(listener, app, async {
                let _ = stopped.await;
            })
            .await
    });
    (service, addr, stop)
}

/// An HTTP/2 connection with prior knowledge; the client's window per stream is
/// `stream_window` bytes.
async fn connect(addr: SocketAddr, stream_window: u32) -> http2::SendRequest<Full<Bytes>> {
    let tcp = TcpStream::connect(addr).await.expect("connect");
    let (send, connection) = http2::Builder::new(TokioExecutor::new())
        .timer(TokioTimer::new())
        .initial_stream_window_size(stream_window)
        .initial_connection_window_size(4 * 1024 * 1024)
        .handshake(TokioIo::new(tcp))
        .await
        .expect("an HTTP/2 handshake");
    tokio::spawn(connection);
    send
}

fn get(path: &str) -> Request<Full<Bytes>> {
    Request::builder()
        .uri(format!("http://127.0.0.1{path}"))
        .header("accept", "text/event-stream")
        .body(Full::new(Bytes::new()))
        .unwrap()
}

async fn open(send: &mut http2::SendRequest<Full<Bytes>>) -> Incoming {
    let response = send.send_request(get("/events")).await.expect("a response");
    assert_eq!(response.status(), 200);
    assert_eq!(response.version(), http::Version::HTTP_2);
    assert_eq!(response.headers()["content-type"], "text/event-stream");
    response.into_body()
}

#[tokio::test]
async fn many_streams_and_requests_share_one_connection() {
    let (service, addr, _stop) = start(Server::new()).await;
    let mut send = connect(addr, 1024 * 1024).await;
    let mut streams = Vec::new();
    for _ in 0..20 {
        streams.push((open(&mut send).await, String::new()));
    }
    wait_active(&service, 20).await;
    // Other requests on the same connection, with and without a body, go through
    // while the streams are open.
    let post = Request::builder()
        .method(Method::POST)
        .uri("http://127.0.0.1/broadcast")
        .body(Full::new(Bytes::from_static(b"hello")))
        .unwrap();
    let answer = send.send_request(post).await.unwrap();
    let text = answer.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(text, "got 5\n");
    service.broadcast(Event::message("to all")).unwrap();
    for (body, seen) in &mut streams {
        read_body_until(body, seen, "data: to all\n\n").await;
    }
    // HTTP/1.1 on the same port is served as ever.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"GET /events HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    read_until(&mut tcp, "\r\n\r\n").await;
    wait_active(&service, 21).await;
    // A stream the client closes leaves the service.
    drop(streams.pop());
    wait_active(&service, 20).await;
}

#[tokio::test]
async fn a_stalled_stream_does_not_hold_back_the_others_on_its_connection() {
    let (service, addr, _stop) = start(Server::new()).await;
    // 16 KiB per stream: the stream this client does not read stalls after 16 KiB.
    let mut send = connect(addr, 16 * 1024).await;
    let stalled = open(&mut send).await;
    let mut read = open(&mut send).await;
    wait_active(&service, 2).await;
    let mut seen = String::new();
    let payload = "x".repeat(4 * 1024);
    for n in 0..400 {
        service
            .broadcast(Event::message(format!("{n} {payload}")))
            .unwrap();
        if n % 20 == 19 {
            // Read as it goes, so the reading stream's own window never fills.
            read_body_until(&mut read, &mut seen, &format!("data: {n} ")).await;
            seen.clear();
        }
    }
    // 1.6 MiB went to the stalled stream's client, which took 16 KiB, while the other
    // stream got everything. The rest waited in the server, bounded by the client's
    // queue (1 MiB): read at last, the stalled stream is told what it missed.
    assert_eq!(service.active(), 2);
    let mut stalled = stalled;
    let mut missed = String::new();
    read_body_until(&mut stalled, &mut missed, "event: sse-gap\n").await;
    read_body_until(&mut stalled, &mut missed, "data: 399 ").await;
}

#[tokio::test]
async fn stopping_sends_a_goaway_and_ends_the_connection() {
    let (service, addr, stop) = start(Server::new()).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut send, connection) = http2::Builder::new(TokioExecutor::new())
        .handshake::<_, Empty<Bytes>>(TokioIo::new(tcp))
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let page = Request::builder()
        .uri("http://127.0.0.1/page")
        .body(Empty::new())
        .unwrap();
    assert_eq!(send.send_request(page).await.unwrap().status(), 200);
    stop.send(()).unwrap();
    // An idle connection closes cleanly once told.
    let ended = timeout(WAIT, connection).await.expect("closed within WAIT");
    assert!(ended.unwrap().is_ok(), "a GOAWAY, not an error");
    assert_eq!(service.active(), 0);
}

#[tokio::test]
async fn a_drain_ends_the_streams_with_a_retry_hint_then_the_connection() {
    // As a deployment stops: the server stops taking connections and requests (a
    // GOAWAY), the service ends every stream with a retry hint, then the connection
    // closes cleanly.
    let (service, addr, stop) = start(Server::new()).await;
    let tcp = TcpStream::connect(addr).await.unwrap();
    let (mut send, connection) = http2::Builder::new(TokioExecutor::new())
        .handshake::<_, Full<Bytes>>(TokioIo::new(tcp))
        .await
        .unwrap();
    let connection = tokio::spawn(connection);
    let mut streams = Vec::new();
    for _ in 0..3 {
        streams.push((open(&mut send).await, String::new()));
    }
    wait_active(&service, 3).await;
    stop.send(()).unwrap();
    let report = service
        .shutdown(
            Shutdown::new(Duration::from_secs(2))
                .retry(Duration::from_millis(1500), Duration::ZERO),
        )
        .await;
    assert_eq!(report.forced, 0, "every stream ended within the drain");
    for (body, seen) in &mut streams {
        read_body_until(body, seen, "retry: 1500\n").await;
        // Then the end of the stream (an empty DATA frame that carries it, maybe).
        loop {
            match timeout(WAIT, body.frame()).await.expect("the stream ends") {
                None => break,
                Some(frame) => {
                    let data = frame.expect("no error").into_data().expect("data");
                    assert!(data.is_empty(), "nothing after the retry: {data:?}");
                }
            }
        }
    }
    let ended = timeout(WAIT, connection).await.expect("closed within WAIT");
    assert!(ended.unwrap().is_ok(), "a GOAWAY, not an error");
}

#[tokio::test]
async fn a_peer_that_does_not_answer_pings_is_closed() {
    let mut server = Server::new();
    server.http2_ping(Some((
        Duration::from_millis(200),
        Duration::from_millis(300),
    )));
    let (_service, addr, _stop) = start(server).await;
    // The preface and empty settings, then silence: no settings acknowledgement, no
    // ping answered.
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let started = Instant::now();
    let mut seen = Vec::new();
    timeout(WAIT, tcp.read_to_end(&mut seen))
        .await
        .expect("closed within WAIT")
        .ok();
    // A ping frame (type 6) went out before the close.
    let frames = frame_types(&seen);
    assert!(frames.contains(&6), "frames {frames:?}");
    assert!(
        started.elapsed() >= Duration::from_millis(400),
        "{:?}",
        started.elapsed()
    );

    // With pings off, the same silent peer is left alone.
    let mut server = Server::new();
    server.http2_ping(None);
    let (_service, addr, _stop) = start(server).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut buf = [0; 1024];
    let quiet = timeout(Duration::from_secs(1), async {
        loop {
            if tcp.read(&mut buf).await.map_or(true, |n| n == 0) {
                break;
            }
        }
    })
    .await;
    assert!(quiet.is_err(), "still open after a second");
}

/// The types of the HTTP/2 frames in `bytes` (server to client: no preface).
fn frame_types(mut bytes: &[u8]) -> Vec<u8> {
    let mut types = Vec::new();
    while bytes.len() >= 9 {
        let len = usize::from(bytes[0]) << 16 | usize::from(bytes[1]) << 8 | usize::from(bytes[2]);
        types.push(bytes[3]);
        bytes = &bytes[(9 + len).min(bytes.len())..];
    }
    types
}

#[tokio::test]
async fn with_http2_off_the_preface_gets_http_1_1s_answer() {
    let mut server = Server::new();
    server.http2(false);
    let (_service, addr, _stop) = start(server).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    tcp.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        .await
        .unwrap();
    // hyper's HTTP/1.1 closes it: no HTTP/2 settings frame comes back.
    let mut answer = Vec::new();
    timeout(WAIT, tcp.read_to_end(&mut answer))
        .await
        .expect("closed within WAIT")
        .ok();
    assert!(
        answer.is_empty() || answer.starts_with(b"HTTP/1.1 4"),
        "{answer:?}"
    );
}
