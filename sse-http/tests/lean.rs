//! How `sse_http::Server` writes event streams itself (its lean path), over raw
//! sockets on 127.0.0.1: the head and framing, HTTP/1.0, bytes after the request, a
//! half-closed peer, and what it leaves to hyper.

use std::{convert::Infallible, net::SocketAddr, time::Duration};

use http::{Request, Response};
use hyper::service::service_fn;
use sse_codec::Event;
use sse_core::{Service, Shutdown};
use sse_http::{Endpoint, RequestBody, RequestHead, Server, SseBody};
use sse_testkit::{bind_loopback, read_until, wait_active, WAIT};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::{sleep, timeout, Instant},
};

/// `/events` streams; `/page` is a page; `/encoded` is a stream a layer marked with
/// a content coding; `/never` never answers.
fn app(
    service: &Service,
) -> impl sse_http::ServeService<Body = SseBody, Error = Infallible> + Clone {
    let sse = Endpoint::new(service.clone());
    service_fn(move |request: Request<RequestBody>| {
        let sse = sse.clone();
        async move {
            let head = RequestHead::from_request(&request);
            let response = match request.uri().path() {
                "/events" => sse.respond(&head),
                "/encoded" => {
                    let mut response = sse.respond(&head);
                    response
                        .headers_mut()
                        .insert("content-encoding", "identity".parse().unwrap());
                    response
                }
                "/never" => std::future::pending().await,
                _ => Response::new(SseBody::full("page\n")),
            };
            Ok::<_, Infallible>(response)
        }
    })
}

async fn start(server: Server) -> (Service, SocketAddr) {
    let service = Service::new();
    let app = app(&service);
    let (listener, addr) = bind_loopback().await;
    tokio::spawn(async move { server.serve(listener, app).await });
    (service, addr)
}

async fn lean() -> (Service, SocketAddr) {
    start(Server::new()).await
}

async fn send(addr: SocketAddr, request: &str) -> TcpStream {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    tcp.write_all(request.as_bytes()).await.expect("write");
    tcp
}

/// Everything until the server closes (or resets) the connection, within [`WAIT`].
async fn read_to_close(tcp: &mut TcpStream) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0; 4096];
    loop {
        match timeout(WAIT, tcp.read(&mut buf)).await {
            Ok(Ok(0) | Err(_)) => return seen,
            Ok(Ok(n)) => seen.extend_from_slice(&buf[..n]),
            Err(_) => panic!(
                "not closed within WAIT: {:?}",
                String::from_utf8_lossy(&seen)
            ),
        }
    }
}

/// The head and the chunks of a chunked response, and whether it ended with the
/// last chunk.
fn dechunk(raw: &[u8]) -> (String, Vec<u8>, bool) {
    let text = String::from_utf8_lossy(raw);
    let (head, mut rest) = text.split_once("\r\n\r\n").expect("a head");
    let mut body = Vec::new();
    while let Some((size, after)) = rest.split_once("\r\n") {
        let size = usize::from_str_radix(size, 16).expect("a chunk size");
        if size == 0 {
            return (head.to_owned(), body, after == "\r\n");
        }
        body.extend_from_slice(&after.as_bytes()[..size]);
        assert_eq!(&after[size..size + 2], "\r\n", "a chunk ends with CRLF");
        rest = &after[size + 2..];
    }
    (head.to_owned(), body, false)
}

const GET_EVENTS: &str = "GET /events HTTP/1.1\r\nhost: x\r\n\r\n";

#[tokio::test]
async fn a_stream_is_chunked_and_its_end_closes_the_connection() {
    let (service, addr) = lean().await;
    let mut tcp = send(addr, GET_EVENTS).await;
    let mut raw = read_until(&mut tcp, "\r\n\r\n").await;
    service.broadcast(Event::message("hello")).unwrap();
    // Larger than a gathered write: the chunk goes out vectored.
    service
        .broadcast(Event::message("x".repeat(40_000)))
        .unwrap();
    service.shutdown(Shutdown::new(WAIT)).await;
    raw.extend(read_to_close(&mut tcp).await);
    let (head, body, ended) = dechunk(&raw);
    let head = head.to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200 ok\r\n"), "{head}");
    for field in [
        "content-type: text/event-stream",
        "cache-control: no-cache",
        "transfer-encoding: chunked",
        "connection: close",
        "date: ",
    ] {
        assert!(head.contains(field), "{field} in {head}");
    }
    let body = String::from_utf8(body).unwrap();
    assert!(body.contains("data: hello\n\n"), "{body}");
    assert!(body.contains(&format!("data: {}\n\n", "x".repeat(40_000))));
    assert!(ended, "the last chunk, then the close");
}

#[tokio::test]
async fn with_lean_streams_off_hyper_writes_the_stream() {
    let mut server = Server::new();
    server.lean_streams(false);
    let (service, addr) = start(server).await;
    let mut tcp = send(addr, GET_EVENTS).await;
    let head = read_until(&mut tcp, "\r\n\r\n").await;
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.contains("transfer-encoding: chunked"), "{head}");
    assert!(
        !head.contains("connection: close"),
        "hyper keeps it alive: {head}"
    );
    service.broadcast(Event::message("hello")).unwrap();
    read_until(&mut tcp, "data: hello\n\n").await;
}

#[tokio::test]
async fn http_1_0_gets_a_body_that_ends_with_the_connection() {
    let (service, addr) = lean().await;
    let mut tcp = send(addr, "GET /events HTTP/1.0\r\n\r\n").await;
    let head = read_until(&mut tcp, "\r\n\r\n").await;
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(!head.contains("transfer-encoding"), "{head}");
    assert!(head.contains("connection: close"), "{head}");
    service.broadcast(Event::message("hello")).unwrap();
    // No chunk framing: the frame as it is.
    let raw = read_until(&mut tcp, "data: hello\n\n").await;
    assert!(!String::from_utf8_lossy(&raw).contains("\r\n"), "{raw:?}");
    service.shutdown(Shutdown::new(WAIT)).await;
    let rest = String::from_utf8(read_to_close(&mut tcp).await).unwrap();
    assert!(!rest.contains("0\r\n\r\n"), "{rest:?}");
}

#[tokio::test]
async fn bytes_after_the_request_are_dropped_and_a_flood_ends_the_stream() {
    let (service, addr) = lean().await;
    // A pipelined request behind the stream's: never answered.
    let mut tcp = send(
        addr,
        &format!("{GET_EVENTS}GET /page HTTP/1.1\r\nhost: x\r\n\r\n"),
    )
    .await;
    wait_active(&service, 1).await;
    service.broadcast(Event::message("hello")).unwrap();
    let raw = read_until(&mut tcp, "data: hello\n\n").await;
    assert!(!String::from_utf8_lossy(&raw).contains("page"));
    assert_eq!(service.active(), 1);

    // More than an event stream's reader would ever send: the stream is closed.
    let flood = vec![b'x'; 100 * 1024];
    let _ = tcp.write_all(&flood).await;
    read_to_close(&mut tcp).await;
    wait_active(&service, 0).await;
}

#[tokio::test]
async fn a_half_closed_peer_ends_its_stream() {
    let (service, addr) = lean().await;
    let mut tcp = send(addr, GET_EVENTS).await;
    read_until(&mut tcp, "\r\n\r\n").await;
    wait_active(&service, 1).await;
    tcp.shutdown().await.expect("half-close");
    read_to_close(&mut tcp).await;
    wait_active(&service, 0).await;
}

#[tokio::test]
async fn what_is_not_a_stream_is_served_by_hyper_on_a_kept_connection() {
    let (service, addr) = lean().await;
    // A page, then another, then a stream, on one connection.
    let mut tcp = send(addr, "GET /page HTTP/1.1\r\nhost: x\r\n\r\n").await;
    read_until(&mut tcp, "page\n").await;
    tcp.write_all(b"GET /page HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let raw = read_until(&mut tcp, "page\n").await;
    assert!(String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 200 OK"));
    tcp.write_all(GET_EVENTS.as_bytes()).await.unwrap();
    read_until(&mut tcp, "text/event-stream").await;
    service.broadcast(Event::message("hello")).unwrap();
    read_until(&mut tcp, "data: hello\n\n").await;

    // Requests with a body, another method, a content coding: hyper, from the start.
    for (request, expect) in [
        (
            "GET /events HTTP/1.1\r\nhost: x\r\ncontent-length: 5\r\n\r\nhello",
            "text/event-stream",
        ),
        (
            "POST /events HTTP/1.1\r\nhost: x\r\ncontent-length: 0\r\n\r\n",
            "405",
        ),
        (
            "GET /encoded HTTP/1.1\r\nhost: x\r\n\r\n",
            "content-encoding: identity",
        ),
        (
            "GET /events HTTP/1.1\r\nhost: x\r\nexpect: 100-continue\r\n\r\n",
            "text/event-stream",
        ),
    ] {
        let mut tcp = send(addr, request).await;
        let head = read_until(&mut tcp, "\r\n\r\n").await;
        let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
        assert!(head.contains(expect), "{request:?}: {head}");
        assert!(!head.contains("connection: close"), "{request:?}: {head}");
    }
    // The streams hyper writes get events too.
    service.broadcast(Event::message("again")).unwrap();
    let mut tcp = send(addr, "GET /encoded HTTP/1.1\r\nhost: x\r\n\r\n").await;
    read_until(&mut tcp, "\r\n\r\n").await;
    service.broadcast(Event::message("encoded")).unwrap();
    read_until(&mut tcp, "data: encoded\n\n").await;

    // A malformed head: hyper's 400.
    let mut tcp = send(addr, "GET /events HTTP/1.1\r\nbad header\r\n\r\n").await;
    let raw = read_to_close(&mut tcp).await;
    assert!(
        String::from_utf8_lossy(&raw).starts_with("HTTP/1.1 400"),
        "{raw:?}"
    );
}

#[tokio::test]
async fn a_get_not_answered_in_time_closes_the_connection() {
    let mut server = Server::new();
    server.request_timeout(Some(Duration::from_millis(200)));
    let (_service, addr) = start(server).await;
    let started = Instant::now();
    let mut tcp = send(addr, "GET /never HTTP/1.1\r\nhost: x\r\n\r\n").await;
    let raw = read_to_close(&mut tcp).await;
    assert!(raw.is_empty(), "{raw:?}");
    assert!(started.elapsed() >= Duration::from_millis(200));
}

#[tokio::test]
async fn stopping_closes_a_connection_that_sent_nothing_and_answers_one_being_read() {
    let service = Service::new();
    let (listener, addr) = bind_loopback().await;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let app = app(&service);
    let server = tokio::spawn(async move {
        let stop = async move {
            let _ = stopped.await;
        };
        Server::new().serve_until(listener, app, stop).await
    });
    let mut silent = TcpStream::connect(addr).await.unwrap();
    // Half a head: answered, then closed.
    let mut halfway = send(addr, "GET /page HTTP/1.1\r\nhost: x\r\n").await;
    // Half a head that hyper will read (a body follows): answered too.
    let mut posting = send(addr, "POST /page HTTP/1.1\r\nhost: x\r\n").await;
    wait_active(&service, 0).await;
    sleep(Duration::from_millis(50)).await;
    stop.send(()).unwrap();
    assert!(read_to_close(&mut silent).await.is_empty());
    halfway.write_all(b"\r\n").await.unwrap();
    let raw = String::from_utf8(read_to_close(&mut halfway).await).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK"), "{raw}");
    assert!(
        raw.to_ascii_lowercase().contains("connection: close"),
        "{raw}"
    );
    posting
        .write_all(b"content-length: 3\r\n\r\nabc")
        .await
        .unwrap();
    let raw = String::from_utf8(read_to_close(&mut posting).await).unwrap();
    assert!(raw.starts_with("HTTP/1.1 200 OK"), "{raw}");
    timeout(WAIT, server)
        .await
        .expect("returns")
        .unwrap()
        .unwrap();
}

#[tokio::test]
async fn a_request_saying_connection_close_gets_its_stream_then_the_close() {
    let (service, addr) = lean().await;
    let request = "GET /events HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n";
    let mut tcp = send(addr, request).await;
    read_until(&mut tcp, "\r\n\r\n").await;
    wait_active(&service, 1).await;
    service.broadcast(Event::message("hello")).unwrap();
    read_until(&mut tcp, "data: hello\n\n").await;
    service.shutdown(Shutdown::new(WAIT)).await;
    let rest = read_to_close(&mut tcp).await;
    assert!(
        String::from_utf8_lossy(&rest).ends_with("0\r\n\r\n"),
        "{rest:?}"
    );
}

/// What an `EventSource` sends: it accepts an event stream.
const EVENT_SOURCE: &str = "GET /events HTTP/1.1\r\nhost: x\r\naccept: text/event-stream\r\n\r\n";

#[tokio::test]
async fn a_stream_asked_for_after_pages_on_a_kept_connection_is_written_here() {
    // A browser opens its `EventSource` on the connection that loaded the page.
    let (service, addr) = lean().await;
    let mut tcp = send(addr, "GET /page HTTP/1.1\r\nhost: x\r\n\r\n").await;
    read_until(&mut tcp, "page\n").await;
    tcp.write_all(b"HEAD /page HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .unwrap();
    let head = read_until(&mut tcp, "\r\n\r\n").await;
    assert!(String::from_utf8_lossy(&head).starts_with("HTTP/1.1 200"));
    tcp.write_all(EVENT_SOURCE.as_bytes()).await.unwrap();
    let head = read_until(&mut tcp, "\r\n\r\n").await;
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.contains("text/event-stream"), "{head}");
    // Only this server's own stream writer closes the connection after a stream.
    assert!(head.contains("connection: close"), "{head}");
    wait_active(&service, 1).await;
    service.broadcast(Event::message("hello")).unwrap();
    read_until(&mut tcp, "data: hello\n\n").await;

    // Pipelined after a page, in one write.
    let mut tcp = send(
        addr,
        &format!("GET /page HTTP/1.1\r\nhost: x\r\n\r\n{EVENT_SOURCE}"),
    )
    .await;
    let raw = read_until(&mut tcp, "connection: close\r\n").await;
    let raw = String::from_utf8_lossy(&raw);
    assert!(raw.starts_with("HTTP/1.1 200 OK"), "{raw}");
    assert!(raw.contains("page\n"), "the page first: {raw}");
    wait_active(&service, 2).await;
    service.broadcast(Event::message("both")).unwrap();
    read_until(&mut tcp, "data: both\n\n").await;

    // A connection closed after its page ends quietly, with no client left behind.
    let mut tcp = send(addr, "GET /page HTTP/1.1\r\nhost: x\r\n\r\n").await;
    read_until(&mut tcp, "page\n").await;
    tcp.shutdown().await.unwrap();
    assert_eq!(read_to_close(&mut tcp).await, b"");
    assert_eq!(service.active(), 2);
}

#[tokio::test]
async fn after_a_request_with_a_body_hyper_keeps_the_connection() {
    let (service, addr) = lean().await;
    let mut tcp = send(addr, "GET /page HTTP/1.1\r\nhost: x\r\n\r\n").await;
    read_until(&mut tcp, "page\n").await;
    // A body that reads as a stream request stays a body: no message boundary is
    // guessed inside it.
    let post = format!(
        "POST /page HTTP/1.1\r\nhost: x\r\ncontent-length: {}\r\n\r\n{EVENT_SOURCE}",
        EVENT_SOURCE.len()
    );
    tcp.write_all(post.as_bytes()).await.unwrap();
    let raw = read_until(&mut tcp, "page\n").await;
    let raw = String::from_utf8_lossy(&raw).to_ascii_lowercase();
    assert!(raw.starts_with("http/1.1 200"), "{raw}");
    assert!(!raw.contains("event-stream"), "{raw}");
    sleep(Duration::from_millis(100)).await;
    assert_eq!(service.active(), 0, "the body was not taken for a request");
    // What follows is hyper's to serve: a stream it writes, still a stream.
    tcp.write_all(EVENT_SOURCE.as_bytes()).await.unwrap();
    let head = read_until(&mut tcp, "\r\n\r\n").await;
    let head = String::from_utf8_lossy(&head).to_ascii_lowercase();
    assert!(head.contains("text/event-stream"), "{head}");
    assert!(!head.contains("connection: close"), "{head}");
    wait_active(&service, 1).await;
    service.broadcast(Event::message("hello")).unwrap();
    read_until(&mut tcp, "data: hello\n\n").await;
}
