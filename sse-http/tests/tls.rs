//! `sse_http::Server` over TLS (feature `tls`): ALPN choosing HTTP/2 or HTTP/1.1,
//! certificates reloaded without a restart, and a handshake that never ends; over
//! real sockets on 127.0.0.1, with a test CA the clients trust.

use std::{convert::Infallible, net::SocketAddr, path::PathBuf, sync::Arc, time::Duration};

use bytes::Bytes;
use http::{Request, Version};
use http_body_util::Empty;
use hyper::{
    client::conn::{http1, http2},
    service::service_fn,
};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyPair};
use sse_codec::Event;
use sse_core::Service;
use sse_http::{Endpoint, RequestBody, RequestHead, Server, TlsError, TlsFiles};
use sse_testkit::{bind_loopback, read_body_until, wait_active, WAIT};
use tokio::{
    io::AsyncReadExt,
    net::TcpStream,
    time::{timeout, Instant},
};
use tokio_rustls::{
    client::TlsStream,
    rustls::{self, pki_types::ServerName, RootCertStore},
    TlsConnector,
};

/// A CA, and certificates for `localhost` and 127.0.0.1 it signs.
struct Ca {
    issuer: Issuer<'static, KeyPair>,
    der: rustls::pki_types::CertificateDer<'static>,
}

impl Ca {
    fn new() -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        let key = KeyPair::generate().unwrap();
        let der = params.self_signed(&key).unwrap().der().clone();
        Ca {
            issuer: Issuer::new(params, key),
            der,
        }
    }

    /// A fresh certificate and key as PEM files in `dir`; the certificate's DER.
    fn issue(&self, dir: &std::path::Path) -> (PathBuf, PathBuf, Vec<u8>) {
        let key = KeyPair::generate().unwrap();
        let params = CertificateParams::new(vec!["localhost".into(), "127.0.0.1".into()]).unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        let (cert_path, key_path) = (dir.join("cert.pem"), dir.join("key.pem"));
        std::fs::write(&cert_path, cert.pem()).unwrap();
        std::fs::write(&key_path, key.serialize_pem()).unwrap();
        (cert_path, key_path, cert.der().to_vec())
    }

    fn connector(&self, alpn: &[u8]) -> TlsConnector {
        let mut roots = RootCertStore::empty();
        roots.add(self.der.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
        config.alpn_protocols = vec![alpn.to_vec()];
        TlsConnector::from(Arc::new(config))
    }
}

struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> TempDir {
        let dir = std::env::temp_dir().join(format!("sse-http-tls-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

async fn start(server: Server) -> (Service, SocketAddr) {
    let service = Service::new();
    let sse = Endpoint::new(service.clone());
    let app = service_fn(move |request: Request<RequestBody>| {
        let sse = sse.clone();
        async move {
            let head = RequestHead::from_request(&request);
            Ok::<_, Infallible>(sse.respond(&head))
        }
    });
    let (listener, addr) = bind_loopback().await;
    tokio::spawn(async move { server.serve(listener, app).await });
    (service, addr)
}

async fn handshake(addr: SocketAddr, connector: &TlsConnector) -> TlsStream<TcpStream> {
    let tcp = TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    connector.connect(name, tcp).await.expect("a TLS handshake")
}

fn events() -> Request<Empty<Bytes>> {
    Request::builder()
        .uri("https://localhost/events")
        .header("host", "localhost")
        .header("accept", "text/event-stream")
        .body(Empty::new())
        .unwrap()
}

#[tokio::test]
async fn alpn_chooses_http2_or_http_1_1_and_both_stream() {
    let dir = TempDir::new("alpn");
    let ca = Ca::new();
    let (cert, key, _) = ca.issue(&dir.0);
    let mut server = Server::new();
    server.tls(TlsFiles::load(&cert, &key).unwrap());
    let (service, addr) = start(server).await;

    // HTTP/2: many streams on the one connection.
    let tls = handshake(addr, &ca.connector(b"h2")).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, connection) = http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    let mut bodies = Vec::new();
    for _ in 0..20 {
        let response = send.send_request(events()).await.unwrap();
        assert_eq!(response.version(), Version::HTTP_2);
        bodies.push(response.into_body());
    }

    // HTTP/1.1 when that is what the client offers.
    let tls = handshake(addr, &ca.connector(b"http/1.1")).await;
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"http/1.1"[..]));
    let (mut send, connection) = http1::handshake(TokioIo::new(tls)).await.unwrap();
    tokio::spawn(connection);
    let response = send.send_request(events()).await.unwrap();
    assert_eq!(response.version(), Version::HTTP_11);
    bodies.push(response.into_body());

    wait_active(&service, 21).await;
    service.broadcast(Event::message("secret")).unwrap();
    for body in &mut bodies {
        read_body_until(body, &mut String::new(), "data: secret\n\n").await;
    }
}

#[tokio::test]
async fn reloaded_files_serve_new_connections_and_a_bad_reload_keeps_the_old_pair() {
    let dir = TempDir::new("reload");
    let ca = Ca::new();
    let (cert, key, first) = ca.issue(&dir.0);
    let files = TlsFiles::load(&cert, &key).unwrap();
    let mut server = Server::new();
    server.tls(files.clone());
    let (_service, addr) = start(server).await;
    let connector = ca.connector(b"http/1.1");
    let peer_cert =
        |tls: &TlsStream<TcpStream>| tls.get_ref().1.peer_certificates().unwrap()[0].to_vec();
    let old = handshake(addr, &connector).await;
    assert_eq!(peer_cert(&old), first);

    let (_, _, second) = ca.issue(&dir.0);
    files.reload().unwrap();
    assert_eq!(peer_cert(&handshake(addr, &connector).await), second);

    // A half-written renewal is refused; the pair in use stays.
    std::fs::write(&key, "-----BEGIN PRIVATE KEY-----\ntruncated").unwrap();
    assert!(
        matches!(files.reload(), Err(TlsError::Read { .. })),
        "read error"
    );
    std::fs::write(&cert, "no pem here").unwrap();
    assert!(matches!(files.reload(), Err(TlsError::NoCertificate(_))));
    assert_eq!(peer_cert(&handshake(addr, &connector).await), second);

    // A key that is not the certificate's.
    let (_, _, _) = ca.issue(&dir.0);
    std::fs::write(&key, KeyPair::generate().unwrap().serialize_pem()).unwrap();
    assert!(matches!(files.reload(), Err(TlsError::Rejected(_))));
    assert_eq!(peer_cert(&handshake(addr, &connector).await), second);

    // The connection made before the reload still works.
    let (mut send, connection) = http1::handshake::<_, Empty<Bytes>>(TokioIo::new(old))
        .await
        .unwrap();
    tokio::spawn(connection);
    assert_eq!(send.send_request(events()).await.unwrap().status(), 200);
}

#[tokio::test]
async fn a_handshake_that_never_comes_is_closed_after_the_head_timeout() {
    let dir = TempDir::new("silent");
    let ca = Ca::new();
    let (cert, key, _) = ca.issue(&dir.0);
    let mut server = Server::new();
    server
        .tls(TlsFiles::load(&cert, &key).unwrap())
        .header_read_timeout(Some(Duration::from_millis(300)));
    let (_service, addr) = start(server).await;
    let mut tcp = TcpStream::connect(addr).await.unwrap();
    let started = Instant::now();
    let mut buf = [0; 64];
    let read = timeout(WAIT, tcp.read(&mut buf))
        .await
        .expect("closed within WAIT");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    assert!(started.elapsed() >= Duration::from_millis(250));
}
