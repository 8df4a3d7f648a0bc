//! One connection of the [`Server`](super::Server): its request head read with
//! `httparse`; a response that is one of this crate's event streams written by
//! [`Streaming`]; every other request, or response, handed to hyper with the bytes
//! already read.

use std::{
    cell::Cell,
    future::Future,
    io,
    marker::PhantomData,
    pin::Pin,
    task::{ready, Context, Poll},
    time::Duration,
};

use bytes::Bytes;
use http::{
    header::{CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE},
    HeaderMap, HeaderName, HeaderValue, Method, Request, Response, Uri, Version,
};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::{TokioIo, TokioTimer};
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
}

/// Most header fields a request head may have (hyper's default).
const MAX_HEADERS: usize = 100;

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
    /// Served by hyper from here on.
    Hyper(Pin<Box<HyperConnection<S>>>),
    /// An event stream, written by our own loop until it ends or the peer leaves.
    Stream(Streaming),
    Done,
}

// Nothing is pinned in place: every `!Unpin` future is boxed.
impl<S: ServeService> Unpin for Connection<S> {}

type HyperConnection<S> = http1::Connection<Io, Handoff<S>>;

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
        let state = if settings.lean_streams {
            State::Request(Box::new(Reading {
                tcp,
                service,
                settings,
                buf: Vec::new(),
                timer: settings.header_read_timeout.map(|t| Box::pin(sleep(t))),
                first_byte: None,
                call: None,
            }))
        } else {
            State::Hyper(hand_off(tcp, (Bytes::new(), None), service, settings, None))
        };
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
            State::Hyper(connection) => connection.as_mut().graceful_shutdown(),
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
                            this.shutdown_hyper = this.closing && matches!(state, State::Hyper(_));
                            this.state = state;
                        }
                        Err(result) => return Poll::Ready(result),
                    }
                }
                State::Hyper(connection) => {
                    let polled = connection.as_mut().poll(cx);
                    if polled.is_pending() && this.shutdown_hyper {
                        // hyper has read the replayed bytes: it answers that request,
                        // then closes.
                        this.shutdown_hyper = false;
                        connection.as_mut().graceful_shutdown();
                        continue;
                    }
                    let result = ready!(polled);
                    this.state = State::Done;
                    return Poll::Ready(result.map_err(io::Error::other));
                }
                State::Stream(stream) => {
                    let result = ready!(stream.poll(cx));
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
}

/// Where reading a request led.
enum Next<S: ServeService> {
    Close(io::Result<()>),
    /// Not a request we answer ourselves: hyper reads it from the start.
    Hyper,
    Answer(Response<S::Body>, bool),
}

impl<S: ServeService> Reading<S> {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Next<S>> {
        loop {
            if let Some(call) = &mut self.call {
                return match call.future.as_mut().poll(cx) {
                    Poll::Ready(Ok(response)) => {
                        Poll::Ready(Next::Answer(response, call.close_delimited))
                    }
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
            let first_byte = *self.first_byte.get_or_insert_with(Instant::now);
            match read_head(&self.buf) {
                Head::Partial if self.buf.len() < self.settings.max_head_size => {}
                // hyper answers what is wrong with it (400, 431), or serves it.
                Head::Partial | Head::Other => return Poll::Ready(Next::Hyper),
                Head::Get(request, close_delimited) => {
                    self.timer = self
                        .settings
                        .request_timeout
                        .map(|t| Box::pin(sleep_until(first_byte + t)));
                    self.call = Some(Call {
                        future: Box::pin(self.service.call_with_peer(request)),
                        close_delimited,
                    });
                }
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
        let mut response = match next {
            Next::Close(result) => return Err(result),
            Next::Hyper => return Ok(self.hand_off(None)),
            Next::Answer(mut response, close_delimited) => {
                if let Some(body) = take_stream(&mut response) {
                    let Reading { tcp, .. } = self;
                    let stream = Streaming::new(tcp, body, &response, close_delimited);
                    return Ok(State::Stream(stream));
                }
                response
            }
        };
        if closing {
            // hyper is told to close only after its first poll, by which time it may
            // have written this response's head: the head says so itself.
            response
                .headers_mut()
                .insert(http::header::CONNECTION, HeaderValue::from_static("close"));
        }
        Ok(self.hand_off(Some(response)))
    }

    fn hand_off(self, answer: Option<Response<S::Body>>) -> State<S> {
        let Reading {
            tcp,
            service,
            settings,
            buf,
            first_byte,
            ..
        } = self;
        let read = (Bytes::from(buf), first_byte);
        State::Hyper(hand_off(tcp, read, service, settings, answer))
    }
}

/// hyper's connection on `tcp`, reading `read` first (the bytes, and when the first
/// arrived: the request's deadline counts from then); answering the first request
/// with `answer` when there is one (its response already made).
fn hand_off<S: ServeService>(
    tcp: TcpStream,
    (read, first_byte): (Bytes, Option<Instant>),
    service: WithPeer<S>,
    settings: Settings,
    answer: Option<Response<S::Body>>,
) -> Pin<Box<HyperConnection<S>>> {
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(settings.max_head_size);
    let mut io = RequestDeadline::new(
        GatherWrites::new(Rewind::new(read, tcp)),
        settings.request_timeout,
    );
    if let Some(first_byte) = first_byte {
        io.started_at(first_byte);
    }
    let service = Handoff {
        answer: Cell::new(answer),
        inner: service,
    };
    Box::pin(builder.serve_connection(TokioIo::new(io), service))
}

/// A request head, as far as it was read.
#[allow(clippy::large_enum_variant)] // short-lived, on the stack
enum Head {
    Partial,
    /// A `GET` with no body, which may be answered with an event stream; `true` for
    /// HTTP/1.0.
    Get(Request<RequestBody>, bool),
    /// Anything else: a request with a body, an upgrade, another method, a version
    /// or a field we do not take, or a malformed head.
    Other,
}

fn read_head(buf: &[u8]) -> Head {
    let mut fields = [httparse::EMPTY_HEADER; MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut fields);
    match parsed.parse(buf) {
        Ok(httparse::Status::Complete(_)) => {}
        Ok(httparse::Status::Partial) => return Head::Partial,
        Err(_) => return Head::Other,
    }
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
    Head::Get(request, version == Version::HTTP_10)
}

/// A service that adds the peer's address to each request.
struct WithPeer<S> {
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
/// made for it, if any; every other goes to the user's service.
struct Handoff<S: ServeService> {
    answer: Cell<Option<Response<S::Body>>>,
    inner: WithPeer<S>,
}

impl<S: ServeService> hyper::service::Service<Request<Incoming>> for Handoff<S> {
    type Response = Response<S::Body>;
    type Error = S::Error;
    type Future = Answer<S::Future, Response<S::Body>, S::Error>;

    fn call(&self, request: Request<Incoming>) -> Self::Future {
        match self.answer.take() {
            Some(response) => Answer::Made {
                response: Some(response),
                error: PhantomData,
            },
            None => Answer::Call {
                future: self.inner.call_with_peer(request.map(RequestBody::from)),
            },
        }
    }
}

pin_project_lite::pin_project! {
    /// The response to a request hyper read.
    #[project = AnswerProj]
    pub(crate) enum Answer<F, R, E> {
        // `fn() -> E`: the error is never held, so it need not be `Send`.
        Made { response: Option<R>, error: PhantomData<fn() -> E> },
        Call { #[pin] future: F },
    }
}

impl<F, R, E> Future for Answer<F, R, E>
where
    F: Future<Output = Result<R, E>>,
{
    type Output = Result<R, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project() {
            // Polled once: hyper drops a future once it is ready.
            AnswerProj::Made { response, .. } => match response.take() {
                Some(response) => Poll::Ready(Ok(response)),
                None => Poll::Pending,
            },
            AnswerProj::Call { future } => future.poll(cx),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn get(head: &[u8]) -> Option<Request<RequestBody>> {
        match read_head(head) {
            Head::Get(request, _) => Some(request),
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
            Head::Get(_, true)
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
