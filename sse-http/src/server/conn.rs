//! One connection of the [`Server`](super::Server): its request head read with
//! `httparse`; a response that is one of this crate's event streams written by
//! [`Streaming`]; every other request, or response, handed to hyper with the bytes
//! already read.

use std::{
    cell::Cell,
    future::Future,
    io,
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{ready, Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{
    header::{CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE},
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri, Version,
};
use hyper::{
    body::Incoming,
    server::conn::{http1, http2},
};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::{
    net::TcpStream,
    time::{sleep, sleep_until, Instant, Sleep},
};

use super::{
    deadline::RequestDeadline,
    gather::GatherWrites,
    rewind::Rewind,
    stream::{take_stream, Streaming},
    PeerAddr, RequestBody, ServeService,
};

/// What a connection needs of the server's settings.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Settings {
    pub(crate) header_read_timeout: Option<Duration>,
    pub(crate) request_timeout: Option<Duration>,
    pub(crate) max_head_size: usize,
    pub(crate) lean_streams: bool,
    pub(crate) http2: bool,
    /// HTTP/2 pings: sent after this long without a frame from the peer, the
    /// connection closed when one is not answered in the second duration.
    pub(crate) http2_ping: Option<(Duration, Duration)>,
}

/// What every HTTP/2 connection without TLS starts with (RFC 9113, section 3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// HTTP/2 settings for many long-lived streams: how many one connection may have
/// open (a page with many `EventSource`s, in many tabs); how much a client may send
/// ahead on one stream and on the connection (little: event-stream clients send
/// little, and unread request bodies are held in these windows); how much of a
/// stream's output hyper buffers before it stops polling the stream (the client's
/// queue and its slow-client policy take over from there). Pings are the server's
/// setting (`Server::http2_ping`).
const HTTP2_MAX_STREAMS: u32 = 1_000;
const HTTP2_STREAM_WINDOW: u32 = 64 * 1024;
const HTTP2_CONNECTION_WINDOW: u32 = 256 * 1024;
const HTTP2_SEND_BUFFER: usize = 64 * 1024;

/// Most header fields a request head may have (hyper's default).
pub(super) const MAX_HEADERS: usize = 100;

/// How much of a request head is read at a time.
const READ_CHUNK: usize = 1024;

/// One connection served by [`Server::serve_connection`](super::Server::serve_connection):
/// a future that resolves when the connection closes.
#[must_use = "a connection does nothing unless polled"]
pub struct Connection<S: ServeService> {
    state: State<S>,
    /// Close once the response in progress ends.
    closing: bool,
    /// Tell hyper to close after its first poll: told before it has read the
    /// replayed head, it would close without answering it.
    shutdown_hyper: bool,
}

// The stream is the state a connection lives in: kept inline, the others boxed.
#[allow(clippy::large_enum_variant)]
enum State<S: ServeService> {
    /// Reading the request head, then waiting for the service's response.
    Request(Box<Reading<S>>),
    /// Served by hyper, until the connection ends or hyper hands it back for an
    /// event-stream request (see `Rewind`'s gate).
    Hyper(Box<HyperConnection<S>>),
    /// An event stream, written by our own loop until it ends or the peer leaves.
    Stream(Streaming),
    /// HTTP/2 with prior knowledge: served by hyper, a task per stream.
    Http2(Pin<Box<Http2Connection<S>>>),
    /// TLS, then HTTP/2 or HTTP/1.1 as ALPN chose.
    #[cfg(feature = "tls")]
    Tls(Box<super::tls::TlsConnection<S>>),
    Done,
}

// Nothing is pinned in place: every `!Unpin` future is boxed.
impl<S: ServeService> Unpin for Connection<S> {}

type HyperConnection<S> = http1::Connection<Io, Handoff<S>>;

type Http2Connection<S> = http2::Connection<TokioIo<Rewind<TcpStream>>, Handoff<S>, TokioExecutor>;

/// A connection's socket, as hyper sees it.
type Io = TokioIo<RequestDeadline<GatherWrites<Rewind<TcpStream>>>>;

impl<S: ServeService> Connection<S> {
    pub(crate) fn new(
        tcp: TcpStream,
        peer: Option<PeerAddr>,
        service: S,
        settings: Settings,
    ) -> Self {
        let service = WithPeer {
            inner: service,
            peer,
        };
        if settings.lean_streams || settings.http2 {
            return Self::starting(State::Request(Box::new(Reading {
                tcp,
                service,
                settings,
                buf: Vec::new(),
                timer: settings.header_read_timeout.map(|t| Box::pin(sleep(t))),
                first_byte: None,
                call: None,
            })));
        }
        let read = Read {
            bytes: Vec::new(),
            first_byte: None,
            head_len: None,
        };
        Self::starting(State::Hyper(hand_off(tcp, read, service, settings, None)))
    }

    /// A connection that starts with a TLS handshake.
    #[cfg(feature = "tls")]
    pub(crate) fn tls(
        acceptor: &tokio_rustls::TlsAcceptor,
        tcp: TcpStream,
        peer: Option<PeerAddr>,
        service: S,
        settings: Settings,
    ) -> Self {
        let service = WithPeer {
            inner: service,
            peer,
        };
        let tls = super::tls::TlsConnection::new(acceptor, tcp, service, settings);
        Self::starting(State::Tls(Box::new(tls)))
    }

    fn starting(state: State<S>) -> Self {
        Connection {
            state,
            closing: false,
            shutdown_hyper: false,
        }
    }

    /// Whether the connection is an event stream written by the server (which
    /// closes the connection when it ends).
    pub(crate) fn is_streaming(&self) -> bool {
        matches!(self.state, State::Stream(_))
    }

    /// Closes the connection once the response in progress ends (at once if it is
    /// idle) instead of keeping it alive for another request.
    pub fn graceful_shutdown(mut self: Pin<&mut Self>) {
        self.closing = true;
        match &mut self.state {
            State::Request(reading) if reading.buf.is_empty() => self.state = State::Done,
            State::Hyper(connection) => Pin::new(&mut **connection).graceful_shutdown(),
            State::Http2(connection) => connection.as_mut().graceful_shutdown(),
            #[cfg(feature = "tls")]
            State::Tls(connection) if connection.is_handshaking() => self.state = State::Done,
            #[cfg(feature = "tls")]
            State::Tls(connection) => connection.graceful_shutdown(),
            // A stream ends with its connection; a request being read is answered
            // first (see `Reading::into_state`).
            _ => {}
        }
    }
}

impl<S: ServeService> Future for Connection<S> {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            match &mut this.state {
                State::Request(reading) => {
                    let next = ready!(reading.poll(cx));
                    let State::Request(reading) = std::mem::replace(&mut this.state, State::Done)
                    else {
                        continue;
                    };
                    match (*reading).into_state(next, this.closing) {
                        Ok(state) => {
                            this.shutdown_hyper =
                                this.closing && matches!(state, State::Hyper(_) | State::Http2(_));
                            this.state = state;
                        }
                        Err(result) => return Poll::Ready(result),
                    }
                }
                State::Hyper(connection) => {
                    let polled = connection.poll_without_shutdown(cx);
                    if polled.is_pending() && this.shutdown_hyper {
                        // hyper has read the replayed bytes: it answers that request,
                        // then closes.
                        this.shutdown_hyper = false;
                        Pin::new(&mut **connection).graceful_shutdown();
                        continue;
                    }
                    if let Err(error) = ready!(polled) {
                        this.state = State::Done;
                        return Poll::Ready(Err(io::Error::other(error)));
                    }
                    let State::Hyper(connection) = std::mem::replace(&mut this.state, State::Done)
                    else {
                        continue;
                    };
                    match taken_back(*connection, cx) {
                        Some(state) if !this.closing => this.state = state,
                        _ => return Poll::Ready(Ok(())),
                    }
                }
                State::Stream(stream) => {
                    let result = ready!(stream.poll(cx));
                    this.state = State::Done;
                    return Poll::Ready(result);
                }
                State::Http2(connection) => {
                    let polled = connection.as_mut().poll(cx);
                    if polled.is_pending() && this.shutdown_hyper {
                        // A GOAWAY once hyper has read the preface.
                        this.shutdown_hyper = false;
                        connection.as_mut().graceful_shutdown();
                        continue;
                    }
                    let result = ready!(polled);
                    this.state = State::Done;
                    return Poll::Ready(result.map_err(io::Error::other));
                }
                #[cfg(feature = "tls")]
                State::Tls(connection) => {
                    let result = ready!(Pin::new(&mut **connection).poll(cx));
                    this.state = State::Done;
                    return Poll::Ready(result);
                }
                State::Done => return Poll::Ready(Ok(())),
            }
        }
    }
}

impl<S: ServeService> std::fmt::Debug for Connection<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = match self.state {
            State::Request(_) => "request",
            State::Hyper(_) => "hyper",
            State::Stream(_) => "stream",
            State::Http2(_) => "http2",
            #[cfg(feature = "tls")]
            State::Tls(_) => "tls",
            State::Done => "done",
        };
        f.debug_struct("Connection")
            .field("state", &state)
            .finish_non_exhaustive()
    }
}

/// A connection until its first request is answered.
struct Reading<S: ServeService> {
    tcp: TcpStream,
    service: WithPeer<S>,
    settings: Settings,
    /// What was read: the head, and whatever followed it.
    buf: Vec<u8>,
    /// The head's deadline, then the request's.
    timer: Option<Pin<Box<Sleep>>>,
    first_byte: Option<Instant>,
    call: Option<Call<S>>,
}

/// The service answering a request whose head we read.
struct Call<S: ServeService> {
    future: Pin<Box<S::Future>>,
    /// An HTTP/1.0 request: its body ends with the connection (no chunks).
    close_delimited: bool,
    head_len: usize,
}

/// Where reading a request led.
enum Next<S: ServeService> {
    Close(io::Result<()>),
    /// Not a request we answer ourselves: hyper reads it from the start.
    Hyper,
    /// HTTP/2 with prior knowledge: hyper's, from the preface.
    Http2,
    /// The service's answer to the request whose head took `head_len` bytes.
    Answer {
        response: Response<S::Body>,
        close_delimited: bool,
        head_len: usize,
    },
}

/// What a connection handed to hyper had read: the bytes, when the first came (the
/// request's deadline counts from then), and the length of the head at their front
/// when it is one we read (hyper is then given one head at a time).
struct Read {
    bytes: Vec<u8>,
    first_byte: Option<Instant>,
    head_len: Option<usize>,
}

impl<S: ServeService> Reading<S> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Next<S>> {
        loop {
            if let Some(call) = &mut self.call {
                return match call.future.as_mut().poll(cx) {
                    Poll::Ready(Ok(response)) => Poll::Ready(Next::Answer {
                        response,
                        close_delimited: call.close_delimited,
                        head_len: call.head_len,
                    }),
                    Poll::Ready(Err(error)) => {
                        Poll::Ready(Next::Close(Err(io::Error::other(error.into()))))
                    }
                    Poll::Pending => self.poll_timer(cx),
                };
            }
            // No buffer until the peer has sent something.
            match self.tcp.poll_read_ready(cx) {
                Poll::Pending => return self.poll_timer(cx),
                Poll::Ready(Err(error)) => return Poll::Ready(Next::Close(Err(error))),
                Poll::Ready(Ok(())) => {}
            }
            let len = self.buf.len();
            // Never zero: a full buffer was handed to hyper below.
            let room = (self.settings.max_head_size - len).min(READ_CHUNK);
            self.buf.resize(len + room, 0);
            let read = self.tcp.try_read(&mut self.buf[len..]);
            self.buf.truncate(len + read.as_ref().map_or(0, |n| *n));
            match read {
                // Closed before a whole head: nothing to answer.
                Ok(0) => return Poll::Ready(Next::Close(Ok(()))),
                Ok(_) => {}
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => continue,
                Err(error) => return Poll::Ready(Next::Close(Err(error))),
            }
            if let Some(next) = self.start_call() {
                return Poll::Ready(next);
            }
        }
    }

    /// Calls the service once the head in `buf` is whole; `Some` when the request is
    /// not one to call it for here.
    fn start_call(&mut self) -> Option<Next<S>> {
        let first_byte = *self.first_byte.get_or_insert_with(Instant::now);
        if self.settings.http2
            && PREFACE.starts_with(&self.buf[..self.buf.len().min(PREFACE.len())])
        {
            return (self.buf.len() >= PREFACE.len()).then_some(Next::Http2);
        }
        if !self.settings.lean_streams {
            return Some(Next::Hyper);
        }
        match read_head(&self.buf) {
            Head::Partial if self.buf.len() < self.settings.max_head_size => None,
            // hyper answers what is wrong with it (400, 431), or serves it.
            Head::Partial | Head::Other => Some(Next::Hyper),
            Head::Get {
                request,
                close_delimited,
                len,
            } => {
                self.timer = self
                    .settings
                    .request_timeout
                    .map(|t| Box::pin(sleep_until(first_byte + t)));
                self.call = Some(Call {
                    future: Box::pin(self.service.call_with_peer(request)),
                    close_delimited,
                    head_len: len,
                });
                None
            }
        }
    }

    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<Next<S>> {
        let expired = self
            .timer
            .as_mut()
            .is_some_and(|timer| timer.as_mut().poll(cx).is_ready());
        if !expired {
            return Poll::Pending;
        }
        Poll::Ready(Next::Close(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the request did not arrive, or was not answered, in time",
        ))))
    }

    /// The connection's next state, or its end.
    fn into_state(self, next: Next<S>, closing: bool) -> Result<State<S>, io::Result<()>> {
        let (mut response, head_len) = match next {
            Next::Close(result) => return Err(result),
            Next::Hyper => return Ok(self.hand_off(None, None)),
            Next::Http2 => return Ok(self.serve_http2()),
            Next::Answer {
                mut response,
                close_delimited,
                head_len,
            } => {
                if let Some(body) = take_stream(&mut response) {
                    let Reading { tcp, .. } = self;
                    let stream = Streaming::new(tcp, body, &response, close_delimited);
                    return Ok(State::Stream(stream));
                }
                (response, head_len)
            }
        };
        if closing {
            // hyper is told to close only after its first poll, by which time it may
            // have written this response's head: the head says so itself.
            response
                .headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        Ok(self.hand_off(Some(response), Some(head_len)))
    }

    fn serve_http2(self) -> State<S> {
        let Reading {
            tcp,
            service,
            settings,
            buf,
            ..
        } = self;
        let io = TokioIo::new(Rewind::new(Bytes::from(buf), tcp));
        let service = Handoff::new(service, settings);
        State::Http2(Box::pin(
            http2_builder(&settings).serve_connection(io, service),
        ))
    }

    fn hand_off(self, answer: Option<Response<S::Body>>, head_len: Option<usize>) -> State<S> {
        let Reading {
            tcp,
            service,
            settings,
            buf,
            first_byte,
            ..
        } = self;
        let read = Read {
            bytes: buf,
            first_byte,
            head_len,
        };
        State::Hyper(hand_off(tcp, read, service, settings, answer))
    }
}

/// The connection hyper has finished with: a request to read here when hyper handed
/// it back (what it had read comes back too), or `None` when hyper ended it, which
/// is then shut down as hyper would have.
fn taken_back<S: ServeService>(
    connection: HyperConnection<S>,
    cx: &mut Context<'_>,
) -> Option<State<S>> {
    let parts = connection.into_parts();
    let settings = parts.service.settings;
    let service = parts.service.inner;
    let (mut tcp, unread, handed_back) =
        parts.io.into_inner().into_inner().into_inner().into_parts();
    if !handed_back {
        // Shutting a TCP socket's write side down does not wait.
        let _ = tokio::io::AsyncWrite::poll_shutdown(Pin::new(&mut tcp), cx);
        return None;
    }
    let mut buf = parts.read_buf.to_vec();
    buf.extend_from_slice(&unread);
    let mut reading = Reading {
        tcp,
        service,
        settings,
        buf,
        timer: None,
        first_byte: None,
        call: None,
    };
    Some(match reading.start_call() {
        None => State::Request(Box::new(reading)),
        Some(_) => reading.hand_off(None, None),
    })
}

/// hyper's HTTP/2 with the settings for many long-lived streams.
pub(super) fn http2_builder(settings: &Settings) -> http2::Builder<TokioExecutor> {
    let mut builder = http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .max_concurrent_streams(HTTP2_MAX_STREAMS)
        .initial_stream_window_size(HTTP2_STREAM_WINDOW)
        .initial_connection_window_size(HTTP2_CONNECTION_WINDOW)
        .max_send_buf_size(HTTP2_SEND_BUFFER)
        .max_header_list_size(u32::try_from(settings.max_head_size).unwrap_or(u32::MAX));
    if let Some((every, timeout)) = settings.http2_ping {
        builder
            .keep_alive_interval(every)
            .keep_alive_timeout(timeout);
    }
    builder
}

/// hyper's connection on `tcp`, reading what was `read` first; answering the first
/// request with `answer` when there is one (its response already made).
fn hand_off<S: ServeService>(
    tcp: TcpStream,
    read: Read,
    service: WithPeer<S>,
    settings: Settings,
    answer: Option<Response<S::Body>>,
) -> Box<HyperConnection<S>> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(settings.max_head_size);
    let answered = Arc::new(AtomicBool::new(false));
    let rewind = match read.head_len {
        Some(head_len) if settings.lean_streams => Rewind::gated(
            read.bytes,
            head_len,
            tcp,
            answered.clone(),
            settings.max_head_size,
        ),
        _ => Rewind::new(Bytes::from(read.bytes), tcp),
    };
    let mut io = RequestDeadline::new(GatherWrites::new(rewind), settings.request_timeout);
    if let Some(first_byte) = read.first_byte {
        io.started_at(first_byte);
    }
    let service = Handoff {
        answer: Cell::new(answer),
        inner: service,
        answered,
        settings,
    };
    Box::new(builder.serve_connection(TokioIo::new(io), service))
}

/// A request head, as far as it was read.
#[allow(clippy::large_enum_variant)] // short-lived, on the stack
enum Head {
    Partial,
    /// A `GET` with no body, which may be answered with an event stream; its head is
    /// `len` bytes long.
    Get {
        request: Request<RequestBody>,
        /// HTTP/1.0: a stream's body ends with the connection.
        close_delimited: bool,
        len: usize,
    },
    /// Anything else: a request with a body, an upgrade, another method, a version
    /// or a field we do not take, or a malformed head.
    Other,
}

fn read_head(buf: &[u8]) -> Head {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut fields);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::Other,
    };
    let version = match parsed.version {
        Some(0) => Version::HTTP_10,
        Some(1) => Version::HTTP_11,
        _ => return Head::Other,
    };
    let (Some("GET"), Some(path)) = (parsed.method, parsed.path) else {
        return Head::Other;
    };
    let Ok(uri) = Uri::try_from(path) else {
        return Head::Other;
    };
    let mut headers = HeaderMap::with_capacity(parsed.headers.len());
    for field in parsed.headers.iter() {
        let Ok(name) = HeaderName::from_bytes(field.name.as_bytes()) else {
            return Head::Other;
        };
        let body_or_upgrade = name == TRANSFER_ENCODING
            || name == UPGRADE
            || name == EXPECT
            || (name == CONTENT_LENGTH && field.value != b"0");
        if body_or_upgrade {
            return Head::Other;
        }
        let Ok(value) = HeaderValue::from_bytes(field.value) else {
            return Head::Other;
        };
        headers.append(name, value);
    }
    let mut request = Request::new(RequestBody::empty());
    *request.method_mut() = Method::GET;
    *request.uri_mut() = uri;
    *request.version_mut() = version;
    *request.headers_mut() = headers;
    Head::Get {
        request,
        close_delimited: version == Version::HTTP_10,
        len,
    }
}

/// A service that adds the peer's address to each request.
pub(super) struct WithPeer<S> {
    inner: S,
    peer: Option<PeerAddr>,
}

impl<S: ServeService> WithPeer<S> {
    fn call_with_peer(&self, mut request: Request<RequestBody>) -> S::Future {
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(peer);
        }
        self.inner.call(request)
    }
}

/// The service hyper runs: the first request is answered with the response already
/// made for it, if any; every other goes to the user's service. Each answer's body
/// says when hyper is done with it (for `Rewind`'s gate).
pub(super) struct Handoff<S: ServeService> {
    answer: Cell<Option<Response<S::Body>>>,
    inner: WithPeer<S>,
    answered: Arc<AtomicBool>,
    settings: Settings,
}

impl<S: ServeService> Handoff<S> {
    /// For a connection whose every request hyper reads.
    pub(super) fn new(inner: WithPeer<S>, settings: Settings) -> Self {
        Handoff {
            answer: Cell::new(None),
            inner,
            answered: Arc::new(AtomicBool::new(false)),
            settings,
        }
    }
}

// Never pinned in place: hyper calls it by reference, and the connection is taken
// apart (`into_parts`) only once hyper is done with it.
impl<S: ServeService> Unpin for Handoff<S> {}

impl<S: ServeService> hyper::service::Service<Request<Incoming>> for Handoff<S> {
    type Response = Response<Answered<S::Body>>;
    type Error = S::Error;
    type Future = Answer<S::Future, S::Body>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        let answered = Some(self.answered.clone());
        match self.answer.take() {
            Some(response) => Answer::Made(Some(response), answered),
            None => Answer::Call(
                Box::pin(self.inner.call_with_peer(request.map(RequestBody::from))),
                answered,
            ),
        }
    }
}

/// The response to a request hyper read: made already, or the service's.
pub(crate) enum Answer<F, B> {
    Made(Option<Response<B>>, Option<Arc<AtomicBool>>),
    Call(Pin<Box<F>>, Option<Arc<AtomicBool>>),
}

// The response is moved out, never pinned; the service's future is boxed.
impl<F, B> Unpin for Answer<F, B> {}

impl<F, B, E> Future for Answer<F, B>
where
    F: Future<Output = Result<Response<B>, E>>,
{
    type Output = Result<Response<Answered<B>>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let (response, answered) = match &mut *self {
            // Polled once: hyper drops a future once it is ready.
            Answer::Made(response, answered) => match response.take() {
                Some(response) => (Ok(response), answered),
                None => return Poll::Pending,
            },
            Answer::Call(future, answered) => (ready!(future.as_mut().poll(cx)), answered),
        };
        let done = Done(answered.take());
        Poll::Ready(response.map(|response| response.map(|body| Answered { body, done })))
    }
}

pin_project_lite::pin_project! {
    /// A response body hyper writes, which says when hyper drops it.
    pub(crate) struct Answered<B> {
        #[pin]
        body: B,
        done: Done,
    }
}

/// Sets its flag when dropped.
pub(crate) struct Done(Option<Arc<AtomicBool>>);

impl Drop for Done {
    fn drop(&mut self) {
        if let Some(flag) = &self.0 {
            flag.store(true, Ordering::Relaxed);
        }
    }
}

impl<B: http_body::Body> http_body::Body for Answered<B> {
    type Data = B::Data;
    type Error = B::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Self::Data>, Self::Error>>> {
        self.project().body.poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.body.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(head: &[u8]) -> Option<Request<RequestBody>> {
        match read_head(head) {
            Head::Get { request, len, .. } => {
                assert_eq!(len, head.len());
                Some(request)
            }
            _ => None,
        }
    }

    #[test]
    fn a_get_without_a_body_is_read_here() {
        let request = get(b"GET /events?topics=a HTTP/1.1\r\nHost: x\r\nLast-Event-ID: 7\r\n\r\n")
            .expect("a GET");
        assert_eq!(request.uri(), "/events?topics=a");
        assert_eq!(request.version(), Version::HTTP_11);
        assert_eq!(request.headers()["last-event-id"], "7");
        assert!(get(b"GET / HTTP/1.1\r\nContent-Length: 0\r\n\r\n").is_some());
        assert!(matches!(
            read_head(b"GET / HTTP/1.0\r\n\r\n"),
            Head::Get {
                close_delimited: true,
                ..
            }
        ));
    }

    #[test]
    fn everything_else_goes_to_hyper() {
        for head in [
            &b"POST /events HTTP/1.1\r\n\r\n"[..],
            b"HEAD /events HTTP/1.1\r\n\r\n",
            b"GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\nabc",
            b"GET / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n",
            b"GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            b"GET / HTTP/1.1\r\nBad Name: x\r\n\r\n",
            b"GET /\x01 HTTP/1.1\r\n\r\n",
        ] {
            assert!(
                matches!(read_head(head), Head::Other),
                "{}",
                String::from_utf8_lossy(head)
            );
        }
        assert!(matches!(
            read_head(b"GET /events HTTP/1.1\r\nHo"),
            Head::Partial
        ));
    }
}
#[cfg(all(test, target_pointer_width = "64"))]
mod size {
    /// What an idle stream's task holds (its future, in a 128-byte aligned cell):
    /// kept small on purpose (`BENCHMARKS.md`, idle memory).
    #[test]
    fn a_streaming_connection_stays_small() {
        use std::mem::size_of;
        assert!(size_of::<sse_core::ClientStream>() <= 72);
        assert!(size_of::<super::Connection<crate::Endpoint>>() <= 136);
    }
}
