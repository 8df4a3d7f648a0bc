//! An HTTP/1.1 server tuned for many long-lived event streams.

use std::{
    error::Error as StdError,
    future::{pending, Future},
    io,
    net::SocketAddr,
    time::Duration,
};

use http::{Request, Response};
use hyper::{body::Incoming, server::conn::http1};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
};

mod deadline;
mod gather;

use self::{deadline::RequestDeadline, gather::GatherWrites};

type BoxError = Box<dyn StdError + Send + Sync>;

/// A hyper service the [`Server`] can run on its connections' tasks: one answering
/// `Request<Incoming>` with a body it can send from another thread. Implemented for
/// every such service: this crate's endpoints through the adapters, an axum `Router`
/// or a warp filter made into a hyper service.
pub trait ServeService:
    hyper::service::Service<
        Request<Incoming>,
        Response = Response<Self::Body>,
        Error: Into<BoxError>,
        Future: Send + 'static,
    > + Send
    + 'static
{
    /// The response body.
    type Body: http_body::Body<Data: Send, Error: Into<BoxError>> + Send + 'static;
}

impl<S, B> ServeService for S
where
    S: hyper::service::Service<Request<Incoming>, Response = Response<B>> + Send + 'static,
    S::Future: Send + 'static,
    S::Error: Into<BoxError>,
    B: http_body::Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Body = B;
}

/// Serves HTTP/1.1 connections with the settings an event-stream server wants, for
/// any hyper service: `sse-hyper`'s endpoint, an axum `Router` or a warp filter (their
/// adapters wrap this in a `serve` function of their own).
///
/// Against a general-purpose server (`axum::serve`, `warp::serve`, hyper-util's auto
/// builder) it differs in what costs the most at thousands of streams:
///
/// - **Memory**: HTTP/1.1 only, with hyper's `http1` connection and no protocol
///   sniffing. The auto builder reads the first bytes to tell HTTP/1 from HTTP/2 and
///   hands them back, which makes hyper grow its read buffer to 16 KiB and copy it:
///   an idle stream under `axum::serve` holds about 21 KiB of resident memory, under
///   this server about 12 KiB (`examples/bench`, `BENCHMARKS.md`).
/// - **CPU**: an event write is a chunk-size line, the frame and a CRLF, which hyper
///   hands over as three buffers. Small writes are gathered into one buffer and sent
///   with one `send` instead of a `writev`, which the kernel handles with less work
///   per call; large writes still go out vectored, without a copy.
/// - **Latency**: `TCP_NODELAY` on every connection, so an event is never held back
///   waiting for the acknowledgement of the previous one.
/// - **Slow clients**: a client must send its whole request head within
///   [`header_read_timeout`](Self::header_read_timeout) (10 s by default), and in at
///   most [`max_head_size`](Self::max_head_size) bytes (16 KiB by default; larger is
///   answered 431), so a connection not yet admitted holds little; a request must
///   arrive whole, or be answered, within
///   [`request_timeout`](Self::request_timeout) of its first byte (30 s by default),
///   so a body that trickles or never ends does not hold a connection. On Linux,
///   a connection whose peer stops acknowledging data (a zero receive window) is
///   closed by the kernel after [`tcp_user_timeout`](Self::tcp_user_timeout) (30 s by
///   default); without it, a client the slow-client policy has dropped would keep its
///   connection and the bytes queued for it as long as the peer keeps the window shut.
///
/// For HTTP/2, serve with hyper-util's auto builder instead.
///
/// ```no_run
/// use sse_http::{Endpoint, Server};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// let endpoint = Endpoint::new(sse_core::Service::new());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
/// Server::new().serve(listener, endpoint).await
/// # }
/// ```
#[derive(Debug, Clone)]
pub struct Server {
    header_read_timeout: Option<Duration>,
    request_timeout: Option<Duration>,
    tcp_user_timeout: Option<Duration>,
    max_head_size: usize,
}

impl Default for Server {
    fn default() -> Self {
        Self::new()
    }
}

impl Server {
    /// A server with the defaults: a 10 s request-head timeout, a 30 s request
    /// timeout, a 16 KiB request-head limit and a 30 s `TCP_USER_TIMEOUT`.
    pub fn new() -> Self {
        Server {
            header_read_timeout: Some(Duration::from_secs(10)),
            request_timeout: Some(Duration::from_secs(30)),
            tcp_user_timeout: Some(Duration::from_secs(30)),
            max_head_size: DEFAULT_MAX_HEAD,
        }
    }

    /// The largest request head accepted, in bytes (default 16 KiB, at least 8 KiB:
    /// hyper's own floor); a larger one is answered with 431 and the connection
    /// closed. It also bounds what hyper buffers of a connection's input.
    pub fn max_head_size(&mut self, bytes: usize) -> &mut Self {
        self.max_head_size = bytes.max(MIN_MAX_HEAD);
        self
    }

    /// How long a client may take to send its request head before the connection is
    /// closed (default 10 s); `None` waits forever (not advised on a public port: each waiting
    /// connection holds a socket and its buffers).
    pub fn header_read_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.header_read_timeout = timeout;
        self
    }

    /// How long a request may take, from its first byte, to arrive whole or to be
    /// answered (the first byte of the response written), before the connection is
    /// closed (default 30 s); `None` waits forever. A handler that reads a slow body, or takes longer
    /// than this to start its response, needs more. An event stream is answered at
    /// once and is not limited.
    pub fn request_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.request_timeout = timeout;
        self
    }

    /// How long written data may stay unacknowledged before the kernel closes the
    /// connection (`TCP_USER_TIMEOUT`, Linux and Android only; ignored elsewhere;
    /// default 30 s).
    /// `None` leaves the system's behaviour, which probes a zero window forever.
    pub fn tcp_user_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.tcp_user_timeout = timeout;
        self
    }

    /// Accepts connections on `listener` and serves each on its own task with
    /// `service`, forever. Accept errors that concern one connection are skipped;
    /// others (such as running out of file descriptors) pause accepting for 100 ms.
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for fatal listener errors.
    pub async fn serve<S>(&self, listener: TcpListener, service: S) -> io::Result<()>
    where
        S: ServeService + Clone,
    {
        self.serve_until(listener, service, pending()).await
    }

    /// Like [`serve`](Self::serve), but stops accepting when `stop` resolves, then
    /// returns once every connection it accepted has closed, as
    /// `axum::serve(..).with_graceful_shutdown(stop)` does. The listener is closed at
    /// once, so a client that reconnects meets a refused connection (which
    /// `EventSource` retries). Connections already accepted go on until their
    /// responses end, and are then closed rather than kept alive for another request:
    /// an event stream ends when its service shuts down, so run
    /// [`sse_core::Service::shutdown`] in `stop`, or alongside once `stop` resolved
    /// (wrap the whole in a timeout for a hard deadline).
    ///
    /// ```no_run
    /// use std::time::Duration;
    /// use sse_core::{Service, Shutdown};
    /// use sse_http::{Endpoint, Server};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// let service = Service::new();
    /// let listener = tokio::net::TcpListener::bind("127.0.0.1:8080").await?;
    /// let stop = {
    ///     let service = service.clone();
    ///     async move {
    ///         let _ = tokio::signal::ctrl_c().await;
    ///         // Ends every stream (with a final retry hint), so the connections close.
    ///         service.shutdown(Shutdown::new(Duration::from_secs(5))).await;
    ///     }
    /// };
    /// Server::new().serve_until(listener, Endpoint::new(service), stop).await
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// None today; the `Result` leaves room for fatal listener errors.
    pub async fn serve_until<S>(
        &self,
        listener: TcpListener,
        service: S,
        stop: impl Future<Output = ()>,
    ) -> io::Result<()>
    where
        S: ServeService + Clone,
    {
        let mut stop = std::pin::pin!(stop);
        // Tells the connections to close once their response ends.
        let (stopping, stopped) = watch::channel(false);
        // Closed once the last connection's task, holding a sender, ends.
        let (open, mut all_closed) = mpsc::channel::<()>(1);
        loop {
            let accepted = tokio::select! {
                accepted = listener.accept() => accepted,
                () = &mut stop => break,
            };
            match accepted {
                Ok((tcp, peer)) => {
                    let connection = self.serve_peer(tcp, Some(peer), service.clone());
                    let mut stopped = stopped.clone();
                    let open = open.clone();
                    tokio::spawn(async move {
                        let _open = open;
                        let mut connection = std::pin::pin!(connection);
                        // A connection's error (reset, timeout, bad request) is its own.
                        tokio::select! {
                            _ = connection.as_mut() => {}
                            _ = stopped.changed() => {
                                connection.as_mut().graceful_shutdown();
                                let _ = connection.await;
                            }
                        }
                    });
                }
                // Aborted or reset before it was accepted: nothing to serve.
                Err(error) if is_connection_error(&error) => {}
                // Out of file descriptors or memory: retrying at once would spin.
                Err(_) => tokio::time::sleep(ACCEPT_PAUSE).await,
            }
        }
        drop(listener);
        let _ = stopping.send(true);
        drop(open);
        let _ = all_closed.recv().await;
        Ok(())
    }

    /// Serves one accepted connection with `service` until it closes, with this
    /// server's settings: for an accept loop of your own.
    ///
    /// The returned [`Connection`] resolves with hyper's error for the connection (the
    /// peer reset it, sent a malformed request, or did not send its request head in
    /// time); [`Connection::graceful_shutdown`] closes it once its response ends.
    /// Each request carries the peer's address as a [`PeerAddr`] extension.
    pub fn serve_connection<S>(&self, tcp: TcpStream, service: S) -> Connection<S>
    where
        S: ServeService,
    {
        let peer = tcp.peer_addr().ok();
        self.serve_peer(tcp, peer, service)
    }

    /// [`serve_connection`](Self::serve_connection) with the peer's address known.
    fn serve_peer<S>(&self, tcp: TcpStream, peer: Option<SocketAddr>, service: S) -> Connection<S>
    where
        S: ServeService,
    {
        let service = WithPeer {
            inner: service,
            peer,
        };
        // Neither is fatal: the stream is served either way.
        let _ = tcp.set_nodelay(true);
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(timeout) = self.tcp_user_timeout {
            let _ = socket2::SockRef::from(&tcp).set_tcp_user_timeout(Some(timeout));
        }
        let mut builder = http1::Builder::new();
        builder
            .timer(TokioTimer::new())
            .header_read_timeout(self.header_read_timeout)
            .max_buf_size(self.max_head_size);
        let io = RequestDeadline::new(GatherWrites::new(tcp), self.request_timeout);
        Connection {
            inner: builder.serve_connection(TokioIo::new(io), service),
        }
    }
}

/// A connection's socket, as hyper sees it.
type Io = TokioIo<RequestDeadline<GatherWrites<TcpStream>>>;

/// The address of the peer a request came from: an extension of every request the
/// [`Server`] serves (in axum, `sse_axum::serve` also gives it as
/// `ConnectInfo<SocketAddr>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

/// A service that adds the peer's address to each request.
struct WithPeer<S> {
    inner: S,
    peer: Option<SocketAddr>,
}

impl<S: ServeService> hyper::service::Service<Request<Incoming>> for WithPeer<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn call(&self, mut request: Request<Incoming>) -> Self::Future {
        if let Some(peer) = self.peer {
            request.extensions_mut().insert(PeerAddr(peer));
        }
        self.inner.call(request)
    }
}

pin_project_lite::pin_project! {
    /// One connection served by [`Server::serve_connection`]: a future that resolves
    /// when the connection closes.
    #[must_use = "a connection does nothing unless polled"]
    pub struct Connection<S>
    where
        S: ServeService,
    {
        #[pin]
        inner: http1::Connection<Io, WithPeer<S>>,
    }
}

impl<S: ServeService> Connection<S> {
    /// Closes the connection once the response in progress ends (at once if it is
    /// idle) instead of keeping it alive for another request.
    pub fn graceful_shutdown(self: std::pin::Pin<&mut Self>) {
        self.project().inner.graceful_shutdown();
    }
}

impl<S: ServeService> Future for Connection<S> {
    type Output = Result<(), hyper::Error>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<S> std::fmt::Debug for Connection<S>
where
    S: ServeService,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection").finish_non_exhaustive()
    }
}

/// The request-head limit by default.
const DEFAULT_MAX_HEAD: usize = 16 * 1024;

/// hyper's smallest read buffer limit (`max_buf_size` panics below it).
const MIN_MAX_HEAD: usize = 8 * 1024;

/// How long accepting pauses after an error that is not one connection's.
const ACCEPT_PAUSE: Duration = Duration::from_millis(100);

fn is_connection_error(error: &io::Error) -> bool {
    matches!(
        error.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// Serves `service` over HTTP/1.1 on `listener` with [`Server::new`]'s settings,
/// forever.
///
/// # Errors
///
/// See [`Server::serve`].
pub async fn serve<S>(listener: TcpListener, service: S) -> io::Result<()>
where
    S: ServeService + Clone,
{
    Server::new().serve(listener, service).await
}
