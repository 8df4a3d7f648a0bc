//! A real HTTP client (reqwest) reading event streams with `sse_codec::Parser`.

use std::{net::SocketAddr, time::Duration};

use reqwest::{header::HeaderMap, Version};
use sse_codec::{Item, MessageEvent, Parser};
use sse_core::CLIENT_EVENT;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpListener, TcpStream},
    time::timeout,
};

use crate::WAIT;

/// An HTTP client for one server, speaking HTTP/1.1 or HTTP/2 with prior knowledge.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: String,
}

/// A response other than an open stream (a refused connection, or the answer to
/// `HEAD`): its status, headers and body.
#[derive(Debug)]
pub struct Refused {
    /// The status code.
    pub status: u16,
    /// The response headers.
    pub headers: HeaderMap,
    /// The body text.
    pub body: String,
}

impl Client {
    /// An HTTP/1.1 client for the server at `addr`.
    pub fn h1(addr: SocketAddr) -> Self {
        Self::build(addr, reqwest::Client::builder().http1_only())
    }

    /// An HTTP/2 client using prior knowledge (h2c), for the server at `addr`.
    pub fn h2(addr: SocketAddr) -> Self {
        Self::build(addr, reqwest::Client::builder().http2_prior_knowledge())
    }

    /// An HTTPS client for the server at `addr` (named `localhost`), trusting the
    /// certificate authority `ca` (DER) and offering only `h2` by ALPN.
    pub fn h2_tls(addr: SocketAddr, ca: &[u8]) -> Self {
        let mut roots = rustls::RootCertStore::empty();
        roots
            .add(rustls::pki_types::CertificateDer::from(ca.to_vec()))
            .expect("the test CA");
        let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .expect("TLS versions")
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"h2".to_vec()];
        let builder = reqwest::Client::builder()
            .use_preconfigured_tls(tls)
            .resolve("localhost", addr);
        let mut client = Self::build(addr, builder);
        client.base = format!("https://localhost:{}", addr.port());
        client
    }

    fn build(addr: SocketAddr, builder: reqwest::ClientBuilder) -> Self {
        // No pooling: each stream gets its own connection, so closing one is a real
        // TCP close.
        let http = builder
            .pool_max_idle_per_host(0)
            .no_proxy()
            .build()
            .expect("reqwest client");
        Client {
            http,
            base: format!("http://{addr}"),
        }
    }

    /// Sends `method path` with `headers`; the response, once its head is in.
    async fn send(
        &self,
        method: reqwest::Method,
        path: &str,
        headers: &[(&str, &str)],
    ) -> reqwest::Response {
        let mut request = self.http.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        timeout(WAIT, request.send())
            .await
            .expect("response head within WAIT")
            .expect("request sent")
    }

    /// GETs `path` with `headers`; the open stream on 200, else the refusal.
    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Result<EventClient, Refused> {
        let response = self.send(reqwest::Method::GET, path, headers).await;
        if response.status() != 200 {
            return Err(Refused::read(response).await);
        }
        Ok(EventClient {
            headers: response.headers().clone(),
            version: response.version(),
            response,
            parser: Parser::new(),
            raw: Vec::new(),
            ended: false,
            client_id: None,
            events_seen: 0,
            stashed: None,
        })
    }

    /// `HEAD path` with `headers`: the status, headers and body (which should be
    /// empty).
    pub async fn head(&self, path: &str, headers: &[(&str, &str)]) -> Refused {
        Refused::read(self.send(reqwest::Method::HEAD, path, headers).await).await
    }

    /// GETs `path` and expects 200.
    pub async fn stream(&self, path: &str, headers: &[(&str, &str)]) -> EventClient {
        match self.get(path, headers).await {
            Ok(stream) => stream,
            Err(refused) => panic!("GET {path} refused: {refused:?}"),
        }
    }
}

impl Refused {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = timeout(WAIT, response.text())
            .await
            .expect("body within WAIT")
            .unwrap_or_default();
        Refused {
            status,
            headers,
            body,
        }
    }
}

/// An open event stream.
#[derive(Debug)]
pub struct EventClient {
    response: reqwest::Response,
    headers: HeaderMap,
    version: Version,
    parser: Parser,
    raw: Vec<u8>,
    ended: bool,
    client_id: Option<String>,
    events_seen: usize,
    /// An event parsed while looking for the client event, not yet returned.
    stashed: Option<MessageEvent>,
}

impl EventClient {
    /// The response headers.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The HTTP version of the response.
    pub fn version(&self) -> Version {
        self.version
    }

    /// Every byte received so far.
    pub fn raw(&self) -> &[u8] {
        &self.raw
    }

    /// Reads one more chunk; `false` at the end of the body. Panics after [`WAIT`].
    async fn read(&mut self) -> bool {
        if self.ended {
            return false;
        }
        match timeout(WAIT, self.response.chunk()).await {
            Err(_) => panic!(
                "no data within {WAIT:?}; so far: {:?}",
                String::from_utf8_lossy(&self.raw)
            ),
            Ok(Ok(Some(chunk))) => {
                self.raw.extend_from_slice(&chunk);
                self.parser.feed(&chunk);
                true
            }
            // A reset or closed connection ends the stream too.
            Ok(Ok(None)) | Ok(Err(_)) => {
                self.parser.finish();
                self.ended = true;
                false
            }
        }
    }

    /// The client id the service gave this connection, from the stream's first event
    /// ([`CLIENT_EVENT`]). Panics if another event comes first, or after [`WAIT`].
    pub async fn client_id(&mut self) -> String {
        loop {
            if let Some(id) = &self.client_id {
                return id.clone();
            }
            if let Some(event) = self.parsed() {
                // Parsed in the same read as the client event, after it: keep it.
                assert!(
                    self.client_id.is_some(),
                    "an event came before {CLIENT_EVENT}: {event:?}"
                );
                self.stashed = Some(event);
                continue;
            }
            if self.client_id.is_none() {
                assert!(self.read().await, "the stream ended before {CLIENT_EVENT}");
            }
        }
    }

    /// The next event parsed from what was read, but [`CLIENT_EVENT`], which is kept
    /// for [`client_id`](Self::client_id) (it must come first, and once).
    fn parsed(&mut self) -> Option<MessageEvent> {
        if let Some(event) = self.stashed.take() {
            return Some(event);
        }
        while let Some(item) = self.parser.next_item() {
            match item {
                Ok(Item::Event(event)) if event.event_type() == CLIENT_EVENT => {
                    assert!(self.client_id.is_none(), "{CLIENT_EVENT} sent twice");
                    assert!(
                        self.events_seen == 0,
                        "{CLIENT_EVENT} after {} events",
                        self.events_seen
                    );
                    // The first event on a fresh parser: an id here is its own.
                    assert_eq!(event.last_event_id(), "", "{CLIENT_EVENT} carries no id");
                    self.client_id = Some(event.data().to_owned());
                }
                Ok(Item::Event(event)) => {
                    self.events_seen += 1;
                    return Some(event);
                }
                Ok(_) => {}
                Err(error) => panic!("bad stream: {error}"),
            }
        }
        None
    }

    /// The next event other than [`CLIENT_EVENT`] within `within`; `None` if none
    /// comes by then or the stream ends first.
    pub async fn next_within(&mut self, within: Duration) -> Option<MessageEvent> {
        let deadline = tokio::time::Instant::now() + within;
        loop {
            if let Some(event) = self.parsed() {
                return Some(event);
            }
            match tokio::time::timeout_at(deadline, self.read()).await {
                Ok(true) => {}
                Ok(false) | Err(_) => return None,
            }
        }
    }

    /// The last event id the stream set, as a browser keeps it for its reconnect.
    pub fn last_event_id(&self) -> &str {
        self.parser.last_event_id()
    }

    /// The next event other than [`CLIENT_EVENT`], or `None` if the stream ends first.
    /// Panics after [`WAIT`].
    pub async fn next_event_or_end(&mut self) -> Option<MessageEvent> {
        loop {
            if let Some(event) = self.parsed() {
                return Some(event);
            }
            if !self.read().await {
                return None;
            }
        }
    }

    /// The next event. Panics if the stream ends or after [`WAIT`].
    pub async fn next_event(&mut self) -> MessageEvent {
        match self.next_event_or_end().await {
            Some(event) => event,
            None => panic!(
                "stream ended; got: {:?}",
                String::from_utf8_lossy(&self.raw)
            ),
        }
    }

    /// The data of the next `n` events.
    pub async fn next_data(&mut self, n: usize) -> Vec<String> {
        let mut data = Vec::with_capacity(n);
        for _ in 0..n {
            data.push(self.next_event().await.data().to_owned());
        }
        data
    }

    /// Reads until the raw bytes satisfy `done`. Panics if the stream ends first or
    /// after [`WAIT`].
    pub async fn read_until(&mut self, done: impl Fn(&[u8]) -> bool) {
        while !done(&self.raw) {
            assert!(
                self.read().await,
                "stream ended; got: {:?}",
                String::from_utf8_lossy(&self.raw)
            );
        }
    }

    /// Reads to the end of the stream, returning the events on the way. Panics after
    /// [`WAIT`].
    pub async fn events_until_end(&mut self) -> Vec<MessageEvent> {
        let mut events = Vec::new();
        while let Some(event) = self.next_event_or_end().await {
            events.push(event);
        }
        events
    }
}

/// A listener on 127.0.0.1 at a free port, and its address.
pub async fn bind_loopback() -> (TcpListener, SocketAddr) {
    let listener = TcpListener::bind((std::net::Ipv4Addr::LOCALHOST, 0))
        .await
        .expect("bind 127.0.0.1:0");
    let addr = listener.local_addr().expect("local addr");
    (listener, addr)
}

/// Waits until connecting to `addr` is refused: its listener is closed. Panics
/// after 5 s.
pub async fn refused(addr: SocketAddr) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(5);
    while tokio::net::TcpStream::connect(addr).await.is_ok() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{addr} still accepts after 5 s"
        );
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
}

/// Opens a raw HTTP/1.1 stream with `headers` and reads until the prelude comment; the
/// caller then drops the socket to close the TCP connection.
pub async fn connect_raw_h1(addr: SocketAddr, path: &str, headers: &[(&str, &str)]) -> TcpStream {
    let mut tcp = timeout(WAIT, TcpStream::connect(addr))
        .await
        .expect("connect within WAIT")
        .expect("connect");
    let mut request =
        format!("GET {path} HTTP/1.1\r\nhost: {addr}\r\naccept: text/event-stream\r\n");
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    tcp.write_all(request.as_bytes())
        .await
        .expect("write request");
    read_until(&mut tcp, ": connected").await;
    tcp
}

/// Reads from `tcp` until what was read contains `text`, each read within [`WAIT`];
/// returns what was read. Panics if the connection closes first.
pub async fn read_until(tcp: &mut TcpStream, text: &str) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0; 4096];
    while !String::from_utf8_lossy(&seen).contains(text) {
        let n = timeout(WAIT, tcp.read(&mut buf))
            .await
            .unwrap_or_else(|_| panic!("{text:?} within WAIT"))
            .expect("read");
        assert!(n > 0, "closed early: {:?}", String::from_utf8_lossy(&seen));
        seen.extend_from_slice(&buf[..n]);
    }
    seen
}

/// Reads `body` (an HTTP/2 stream's, say) into `seen` until it contains `text`, within
/// [`WAIT`].
pub async fn read_body_until<B>(body: &mut B, seen: &mut String, text: &str)
where
    B: http_body::Body + Unpin,
    B::Error: std::fmt::Debug,
{
    use http_body_util::BodyExt;

    let deadline = tokio::time::Instant::now() + WAIT;
    while !seen.contains(text) {
        let frame = tokio::time::timeout_at(deadline, body.frame())
            .await
            .unwrap_or_else(|_| panic!("no {text:?} within WAIT; got {seen:?}"))
            .expect("the stream is open")
            .expect("a frame");
        if let Ok(mut data) = frame.into_data() {
            let len = bytes::Buf::remaining(&data);
            let data = bytes::Buf::copy_to_bytes(&mut data, len);
            seen.push_str(&String::from_utf8_lossy(&data));
        }
    }
}

/// Waits until `service` has `count` clients, within [`WAIT`].
pub async fn wait_active(service: &sse_core::Service, count: usize) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while service.active() != count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "{} clients, not {count}",
            service.active()
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}
