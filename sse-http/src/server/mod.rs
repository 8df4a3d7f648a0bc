//! An HTTP/1.1 server tuned for many long-lived event streams.

use std::{
    error::Error as StdError,
    future::{pending, Future},
    io,
    net::SocketAddr,
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use http::{Request, Response};
use tokio::{
    net::{TcpListener, TcpStream},
    sync::{mpsc, watch},
};

mod body;
mod conn;
mod deadline;
mod gather;
mod rewind;
mod stream;
#[cfg(feature = "tls")]
mod tls;

use self::conn::Settings;

#[cfg(feature = "tls")]
type Acceptor = tokio_rustls::TlsAcceptor;
#[cfg(not(feature = "tls"))]
type Acceptor = std::convert::Infallible;
#[cfg(feature = "tls")]
pub use self::tls::{TlsError, TlsFiles};
pub use self::{body::RequestBody, conn::Connection};

type BoxError = Box<dyn StdError + Send + Sync>;

/// A hyper service the [`Server`] can run on its connections' tasks: one answering
/// `Request<RequestBody>` with a body it can send from another thread. Implemented for
/// every such service: this crate's endpoints through the adapters, an axum `Router`
/// or a warp filter made into a hyper service.
pub trait ServeService:
    hyper::service::Service<
        Request<RequestBody>,
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
    S: hyper::service::Service<Request<RequestBody>, Response = Response<B>> + Send + 'static,
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
/// - **Memory**: HTTP/1.1 only, with no protocol sniffing. A request head is read
///   with `httparse` into a buffer that lives until the request is answered. When
///   the answer is one of this crate's event streams ([`connect_response`](crate::connect_response), through
///   any framework and its layers), the server writes the stream itself: no buffer
///   is held while the stream is idle (the peer's close is seen by readiness, and
///   bytes it sends are dropped through a small stack buffer), and each frame goes
///   out with its chunk framing in one `send` (a large one as a `writev`, without a
///   copy). Every other request (a body, an upgrade, another method) and every other
///   answer is served by hyper's `http1` connection, from the request's first byte.
///   While the requests on a connection have no body, hyper is given one request
///   head at a time, and a `GET` accepting `text/event-stream` that follows them (a
///   browser's `EventSource` on the connection that loaded its page) is taken back
///   from hyper between two requests and written here too; after a request with a
///   body, hyper keeps the connection for its life. An idle stream holds about 1.5 KiB of
///   resident memory, against 20 KiB under `axum::serve` and 12 KiB when hyper
///   writes it (`examples/bench`, `BENCHMARKS.md`).
/// - **CPU**: each event is one `send` of the chunk-size line, the frame and a CRLF
///   gathered into one buffer, where hyper would hand the three to a `writev` (which
///   the kernel handles with more work per call) after its own dispatch; under hyper
///   the same gathering applies.
///
/// A layer that wraps a stream's body without changing its head (its status,
/// `Content-Type` or `Content-Encoding`) does not see the frames the server writes;
/// [`lean_streams(false)`](Self::lean_streams) makes hyper write them.
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
/// **HTTP/2** without TLS, with prior knowledge, is served on the same port
/// ([`http2`](Self::http2)): a browser uses HTTP/2 only over TLS, but proxies and
/// other clients that speak it to a backend open as many streams as they like on one
/// connection, where HTTP/1.1 takes a connection per stream. Over HTTP/2, hyper
/// writes the streams.
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
    settings: Settings,
    tcp_user_timeout: Option<Duration>,
    #[cfg(feature = "tls")]
    tls: Option<TlsFiles>,
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
            settings: Settings {
                header_read_timeout: Some(Duration::from_secs(10)),
                request_timeout: Some(Duration::from_secs(30)),
                max_head_size: DEFAULT_MAX_HEAD,
                lean_streams: true,
                http2: true,
                http2_ping: Some((Duration::from_secs(30), Duration::from_secs(20))),
            },
            tcp_user_timeout: Some(Duration::from_secs(30)),
            #[cfg(feature = "tls")]
            tls: None,
        }
    }

    /// Serves HTTPS only (feature `tls`): every connection starts with a TLS
    /// handshake (within [`header_read_timeout`](Self::header_read_timeout)) with the
    /// pair in `files`, whose ALPN offers `h2` (unless [`http2`](Self::http2) is off)
    /// and `http/1.1`. Browsers use HTTP/2 only this way, and then open any number of
    /// `EventSource`s over one connection, where HTTP/1.1 allows six per origin. Over
    /// TLS, hyper writes the streams.
    #[cfg(feature = "tls")]
    pub fn tls(&mut self, files: TlsFiles) -> &mut Self {
        self.tls = Some(files);
        self
    }

    /// The largest request head accepted, in bytes (default 16 KiB, at least 8 KiB:
    /// hyper's own floor); a larger one is answered with 431 and the connection
    /// closed. It also bounds what hyper buffers of a connection's input.
    pub fn max_head_size(&mut self, bytes: usize) -> &mut Self {
        self.settings.max_head_size = bytes.max(MIN_MAX_HEAD);
        self
    }

    /// How long a client may take to send its request head before the connection is
    /// closed (default 10 s); `None` waits forever (not advised on a public port: each waiting
    /// connection holds a socket and its buffers).
    pub fn header_read_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.settings.header_read_timeout = timeout;
        self
    }

    /// How long a request may take, from its first byte, to arrive whole or to be
    /// answered (the first byte of the response written), before the connection is
    /// closed (default 30 s); `None` waits forever. A handler that reads a slow body, or takes longer
    /// than this to start its response, needs more. An event stream is answered at
    /// once and is not limited.
    pub fn request_timeout(&mut self, timeout: Option<Duration>) -> &mut Self {
        self.settings.request_timeout = timeout;
        self
    }

    /// Whether event streams are written by the server's own loop (default `true`)
    /// rather than by hyper; see [`Server`]. `false` serves every request with
    /// hyper, as before this existed: for a layer that must see a stream's body
    /// (one that wraps bodies without changing their head), or to compare.
    pub fn lean_streams(&mut self, enabled: bool) -> &mut Self {
        self.settings.lean_streams = enabled;
        self
    }

    /// Whether a connection that opens with HTTP/2's preface (prior knowledge, as
    /// `curl --http2-prior-knowledge` and h2c clients do) is served over HTTP/2
    /// (default `true`): many streams on one connection, each with its own flow
    /// control. HTTP/1.1 on the same port is unaffected: the preface is recognised in
    /// the bytes read for the request head anyway.
    pub fn http2(&mut self, enabled: bool) -> &mut Self {
        self.settings.http2 = enabled;
        self
    }

    /// HTTP/2 pings (default every 30 s with a 20 s timeout): after `every` without a
    /// frame from the peer the server pings it, and closes the connection if the
    /// answer does not come within `timeout`, so a peer that is gone does not hold
    /// its streams. `None` sends none.
    pub fn http2_ping(&mut self, ping: Option<(Duration, Duration)>) -> &mut Self {
        self.settings.http2_ping = ping;
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
        let acceptor = self.acceptor();
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
                    tokio::spawn(Served {
                        connection: self.serve_peer(tcp, Some(peer), service.clone(), &acceptor),
                        stop: Some(Box::pin(changed(stopped.clone()))),
                        _open: open.clone(),
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
    /// The returned [`Connection`] resolves with the connection's error, if any (the
    /// peer reset it, sent a malformed request, or did not send its request head in
    /// time; hyper's errors come wrapped in an [`io::Error`]);
    /// [`Connection::graceful_shutdown`] closes it once its response ends.
    /// Each request carries the peer's address as a [`PeerAddr`] extension.
    pub fn serve_connection<S>(&self, tcp: TcpStream, service: S) -> Connection<S>
    where
        S: ServeService,
    {
        let peer = tcp.peer_addr().ok();
        self.serve_peer(tcp, peer, service, &self.acceptor())
    }

    #[cfg(feature = "tls")]
    fn acceptor(&self) -> Option<Acceptor> {
        self.tls
            .as_ref()
            .map(|files| files.acceptor(self.settings.http2))
    }

    #[cfg(not(feature = "tls"))]
    fn acceptor(&self) -> Option<Acceptor> {
        None
    }

    /// [`serve_connection`](Self::serve_connection) with the peer's address known.
    fn serve_peer<S>(
        &self,
        tcp: TcpStream,
        peer: Option<SocketAddr>,
        service: S,
        acceptor: &Option<Acceptor>,
    ) -> Connection<S>
    where
        S: ServeService,
    {
        // Neither is fatal: the stream is served either way.
        let _ = tcp.set_nodelay(true);
        #[cfg(any(target_os = "linux", target_os = "android"))]
        if let Some(timeout) = self.tcp_user_timeout {
            let _ = socket2::SockRef::from(&tcp).set_tcp_user_timeout(Some(timeout));
        }
        #[cfg(feature = "tls")]
        if let Some(acceptor) = acceptor {
            return Connection::tls(acceptor, tcp, peer.map(PeerAddr), service, self.settings);
        }
        #[cfg(not(feature = "tls"))]
        let _ = acceptor;
        Connection::new(tcp, peer.map(PeerAddr), service, self.settings)
    }
}

/// One accepted connection of [`Server::serve_until`], on its own task: told to
/// close once its response ends when the server stops. A named future rather than an
/// async block, so that a task holding an idle stream is as small as it can be.
struct Served<S: ServeService, F> {
    connection: Connection<S>,
    /// Dropped once the connection is a stream, which closes when it ends anyway.
    stop: Option<Pin<Box<F>>>,
    /// Held until the connection closes: `serve_until` waits for every sender.
    _open: mpsc::Sender<()>,
}

impl<S: ServeService, F: Future<Output = ()>> Future for Served<S, F> {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        let this = &mut *self;
        loop {
            // A connection's error (reset, timeout, bad request) is its own.
            if Pin::new(&mut this.connection).poll(cx).is_ready() {
                return Poll::Ready(());
            }
            let Some(stop) = &mut this.stop else {
                return Poll::Pending;
            };
            if this.connection.is_streaming() {
                this.stop = None;
                return Poll::Pending;
            }
            if stop.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.stop = None;
            Pin::new(&mut this.connection).graceful_shutdown();
        }
    }
}

/// Resolves when the server starts stopping.
async fn changed(mut stopped: watch::Receiver<bool>) {
    let _ = stopped.changed().await;
}

/// The address of the peer a request came from: an extension of every request the
/// [`Server`] serves (in axum, `sse_axum::serve` also gives it as
/// `ConnectInfo<SocketAddr>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PeerAddr(pub SocketAddr);

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
