//! TLS for the [`Server`](super::Server): a certificate chain and key from PEM files,
//! reloaded without a restart, and ALPN choosing HTTP/2 or HTTP/1.1.

use std::{
    fmt,
    future::Future,
    io,
    path::{Path, PathBuf},
    pin::Pin,
    sync::{Arc, RwLock},
    task::{ready, Context, Poll},
};

use hyper::server::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::{
    net::TcpStream,
    time::{sleep, Sleep},
};
use tokio_rustls::{
    rustls::{
        self,
        crypto::CryptoProvider,
        pki_types::{pem::PemObject, CertificateDer, PrivateKeyDer},
        server::{ClientHello, ResolvesServerCert},
        sign::CertifiedKey,
        ServerConfig,
    },
    server::TlsStream,
    Accept, TlsAcceptor,
};

use super::{
    conn::{http2_builder, Handoff, Settings, WithPeer},
    deadline::RequestDeadline,
    ServeService,
};

/// Why a certificate or key could not be loaded.
#[derive(Debug)]
#[non_exhaustive]
pub enum TlsError {
    /// A file could not be read, or held no PEM block of the kind wanted.
    Read {
        /// The file.
        path: PathBuf,
        /// What went wrong.
        source: io::Error,
    },
    /// The certificate file held no certificate.
    NoCertificate(PathBuf),
    /// rustls refused the key or the pair (for example a key that does not match the
    /// certificate).
    Rejected(rustls::Error),
}

impl fmt::Display for TlsError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TlsError::Read { path, source } => {
                write!(f, "cannot read {}: {source}", path.display())
            }
            TlsError::NoCertificate(path) => {
                write!(f, "no certificate in {}", path.display())
            }
            TlsError::Rejected(error) => write!(f, "certificate or key rejected: {error}"),
        }
    }
}

impl std::error::Error for TlsError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            TlsError::Read { source, .. } => Some(source),
            TlsError::Rejected(error) => Some(error),
            TlsError::NoCertificate(_) => None,
        }
    }
}

/// A certificate chain and private key read from PEM files, for
/// [`Server::tls`](super::Server::tls). [`reload`](Self::reload) reads the files again:
/// connections made after it use the new pair, those already open keep theirs. Clones
/// share the pair.
///
/// ```no_run
/// # fn main() -> Result<(), sse_http::TlsError> {
/// let tls = sse_http::TlsFiles::load("cert.pem", "key.pem")?;
/// let mut server = sse_http::Server::new();
/// server.tls(tls.clone());
/// // Later, after the files were renewed:
/// tls.reload()?;
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TlsFiles {
    inner: Arc<Files>,
}

struct Files {
    cert: PathBuf,
    key: PathBuf,
    provider: Arc<CryptoProvider>,
    current: RwLock<Arc<CertifiedKey>>,
}

impl fmt::Debug for TlsFiles {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsFiles")
            .field("cert", &self.inner.cert)
            .field("key", &self.inner.key)
            .finish_non_exhaustive()
    }
}

impl TlsFiles {
    /// Reads the certificate chain (the server's certificate first) from `cert` and
    /// its private key (PKCS #8, PKCS #1 or SEC1) from `key`, both PEM.
    ///
    /// # Errors
    ///
    /// [`TlsError`] if a file cannot be read, or the pair is not usable.
    pub fn load(cert: impl AsRef<Path>, key: impl AsRef<Path>) -> Result<TlsFiles, TlsError> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let (cert, key) = (cert.as_ref().to_owned(), key.as_ref().to_owned());
        let pair = read_pair(&cert, &key, &provider)?;
        Ok(TlsFiles {
            inner: Arc::new(Files {
                cert,
                key,
                provider,
                current: RwLock::new(Arc::new(pair)),
            }),
        })
    }

    /// Reads the files again; on an error the pair in use stays.
    ///
    /// # Errors
    ///
    /// As [`load`](Self::load).
    pub fn reload(&self) -> Result<(), TlsError> {
        let files = &self.inner;
        let pair = read_pair(&files.cert, &files.key, &files.provider)?;
        *files.current.write().unwrap_or_else(|e| e.into_inner()) = Arc::new(pair);
        Ok(())
    }

    /// The acceptor for a server: ALPN offers `h2` (when `http2`) and `http/1.1`.
    pub(crate) fn acceptor(&self, http2: bool) -> TlsAcceptor {
        let resolver = Arc::new(Resolver(self.inner.clone()));
        let mut config = ServerConfig::builder_with_provider(self.inner.provider.clone())
            .with_safe_default_protocol_versions()
            .expect("the ring provider supports the default versions")
            .with_no_client_auth()
            .with_cert_resolver(resolver);
        if http2 {
            config.alpn_protocols.push(b"h2".to_vec());
        }
        config.alpn_protocols.push(b"http/1.1".to_vec());
        TlsAcceptor::from(Arc::new(config))
    }
}

fn read_pair(cert: &Path, key: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, TlsError> {
    let read = |path: &Path, error: rustls::pki_types::pem::Error| TlsError::Read {
        path: path.to_owned(),
        source: match error {
            rustls::pki_types::pem::Error::Io(error) => error,
            other => io::Error::new(io::ErrorKind::InvalidData, format!("{other:?}")),
        },
    };
    let chain = CertificateDer::pem_file_iter(cert)
        .map_err(|e| read(cert, e))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| read(cert, e))?;
    if chain.is_empty() {
        return Err(TlsError::NoCertificate(cert.to_owned()));
    }
    let key_der = PrivateKeyDer::from_pem_file(key).map_err(|e| read(key, e))?;
    CertifiedKey::from_der(chain, key_der, provider).map_err(TlsError::Rejected)
}

/// Gives each handshake the pair loaded last.
struct Resolver(Arc<Files>);

impl fmt::Debug for Resolver {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Resolver")
    }
}

impl ResolvesServerCert for Resolver {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(
            self.0
                .current
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .clone(),
        )
    }
}

type Http1<S> = http1::Connection<TokioIo<RequestDeadline<TlsStream<TcpStream>>>, Handoff<S>>;
type Http2<S> = http2::Connection<TokioIo<TlsStream<TcpStream>>, Handoff<S>, TokioExecutor>;

/// A TLS connection: its handshake, within the head timeout, then hyper's HTTP/2 or
/// HTTP/1.1 as ALPN chose. Over TLS, hyper writes the streams too.
pub(crate) enum TlsConnection<S: ServeService> {
    Handshake {
        /// Boxed: freed once the handshake is done.
        accept: Box<Accept<TcpStream>>,
        timer: Option<Pin<Box<Sleep>>>,
        service: Option<WithPeer<S>>,
        settings: Settings,
    },
    Http1(Pin<Box<Http1<S>>>),
    Http2(Pin<Box<Http2<S>>>),
}

// Every `!Unpin` part is boxed.
impl<S: ServeService> Unpin for TlsConnection<S> {}

impl<S: ServeService> TlsConnection<S> {
    pub(crate) fn new(
        acceptor: &TlsAcceptor,
        tcp: TcpStream,
        service: WithPeer<S>,
        settings: Settings,
    ) -> Self {
        TlsConnection::Handshake {
            accept: Box::new(acceptor.accept(tcp)),
            timer: settings.header_read_timeout.map(|t| Box::pin(sleep(t))),
            service: Some(service),
            settings,
        }
    }

    /// Whether `graceful_shutdown` may close it at once (no request yet).
    pub(crate) fn is_handshaking(&self) -> bool {
        matches!(self, TlsConnection::Handshake { .. })
    }

    pub(crate) fn graceful_shutdown(&mut self) {
        match self {
            TlsConnection::Handshake { .. } => {}
            TlsConnection::Http1(connection) => connection.as_mut().graceful_shutdown(),
            TlsConnection::Http2(connection) => connection.as_mut().graceful_shutdown(),
        }
    }
}

impl<S: ServeService> Future for TlsConnection<S> {
    type Output = io::Result<()>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        loop {
            match &mut *self {
                TlsConnection::Handshake {
                    accept,
                    timer,
                    service,
                    settings,
                } => {
                    let tls = match Pin::new(&mut **accept).poll(cx) {
                        Poll::Ready(tls) => tls?,
                        Poll::Pending => {
                            if let Some(timer) = timer {
                                ready!(timer.as_mut().poll(cx));
                                return Poll::Ready(Err(io::Error::new(
                                    io::ErrorKind::TimedOut,
                                    "the TLS handshake did not finish in time",
                                )));
                            }
                            return Poll::Pending;
                        }
                    };
                    let settings = *settings;
                    let Some(inner) = service.take() else {
                        return Poll::Ready(Ok(()));
                    };
                    let service = Handoff::new(inner, settings);
                    let h2 = tls.get_ref().1.alpn_protocol() == Some(b"h2");
                    *self = if h2 {
                        let io = TokioIo::new(tls);
                        TlsConnection::Http2(Box::pin(
                            http2_builder(&settings).serve_connection(io, service),
                        ))
                    } else {
                        let mut builder = http1::Builder::new();
                        builder
                            .timer(TokioTimer::new())
                            .header_read_timeout(settings.header_read_timeout)
                            .max_buf_size(settings.max_head_size);
                        let io = TokioIo::new(RequestDeadline::new(tls, settings.request_timeout));
                        TlsConnection::Http1(Box::pin(builder.serve_connection(io, service)))
                    };
                }
                TlsConnection::Http1(connection) => {
                    return connection.as_mut().poll(cx).map_err(io::Error::other)
                }
                TlsConnection::Http2(connection) => {
                    return connection.as_mut().poll(cx).map_err(io::Error::other)
                }
            }
        }
    }
}
