//! One behaviour suite for the HTTP adapters (`sse-axum`, `sse-warp`, `sse-hyper`), run
//! on a real server bound to 127.0.0.1:0 with a real HTTP client, so the adapters
//! cannot drift apart.
//!
//! An adapter implements [`TestServer`] (serve the [`routes`] for a
//! service) and calls [`behaviour_suite!`] in its `tests/`, which expands to one
//! `#[tokio::test]` per scenario in [`scenarios`]. Every wait is bounded by [`WAIT`].

mod client;
pub mod node;
pub mod process;
pub mod raw;
pub mod redis;
pub mod routes;
pub mod scenarios;
mod tls;

use std::{future::Future, net::SocketAddr, time::Duration};

pub use client::{
    bind_loopback, connect_raw_h1, read_body_until, read_until, refused, wait_active, Client,
    EventClient, Refused,
};
pub use routes::RecordingHooks;
pub use tls::TestCa;

use sse_core::Service;

/// The longest any single step of a scenario waits.
pub const WAIT: Duration = Duration::from_secs(5);

/// An adapter's server for the suite.
pub trait TestServer {
    /// Whether the server answers HTTP/2 on the same port (with prior knowledge, or
    /// over TLS for [`H2Tls`]).
    const HTTP2: bool;

    /// Whether the server runs middleware that can put a principal in the request's
    /// extensions ([`routes::middleware_principal`] on [`routes::MIDDLEWARE`]).
    const MIDDLEWARE: bool = true;

    /// Serves `service` on a spawned task at 127.0.0.1:0, with every route in
    /// [`routes`] and the options [`routes::options`] gives for it; resolves to the
    /// bound address once it accepts connections.
    fn start(service: Service) -> impl Future<Output = SocketAddr> + Send;

    /// Whether plain HTTP/1.1 over a raw socket reaches it (not over TLS).
    const PLAIN: bool = true;

    /// The client the scenarios read the server with: HTTP/1.1 unless overridden.
    fn client(addr: SocketAddr) -> Client {
        Client::h1(addr)
    }

    /// The client of the HTTP/2 scenarios (when [`HTTP2`](Self::HTTP2)): h2c with
    /// prior knowledge unless overridden.
    fn h2_client(addr: SocketAddr) -> Client {
        Client::h2(addr)
    }
}

/// An adapter's server that is the library's own ([`sse_http::Server`]), which the
/// suite can configure (for [`H2Tls`]).
pub trait LibraryServer: TestServer {
    /// As [`TestServer::start`], served by `server`.
    fn start_with(
        server: sse_http::Server,
        service: Service,
    ) -> impl Future<Output = SocketAddr> + Send;
}

/// Server `S` over HTTPS (a certificate for `localhost` from a test authority the
/// client trusts), read over HTTP/2 chosen by ALPN in every scenario.
#[derive(Debug)]
pub struct H2Tls<S>(std::marker::PhantomData<S>);

impl<S: LibraryServer> TestServer for H2Tls<S> {
    const HTTP2: bool = true;
    const MIDDLEWARE: bool = S::MIDDLEWARE;
    const PLAIN: bool = false;

    async fn start(service: Service) -> SocketAddr {
        let (cert, key) = &tls::TEST_CA.files;
        let mut server = sse_http::Server::new();
        server.tls(sse_http::TlsFiles::load(cert, key).expect("the test certificate"));
        S::start_with(server, service).await
    }

    fn client(addr: SocketAddr) -> Client {
        Client::h2_tls(addr, &tls::TEST_CA.der)
    }

    fn h2_client(addr: SocketAddr) -> Client {
        Self::client(addr)
    }
}

/// Server `S`, read over HTTP/2 with prior knowledge (h2c) in every scenario: the
/// suite again, on the other protocol.
#[derive(Debug)]
pub struct H2c<S>(std::marker::PhantomData<S>);

impl<S: TestServer> TestServer for H2c<S> {
    const HTTP2: bool = S::HTTP2;
    const MIDDLEWARE: bool = S::MIDDLEWARE;

    fn start(service: Service) -> impl Future<Output = SocketAddr> + Send {
        S::start(service)
    }

    fn client(addr: SocketAddr) -> Client {
        assert!(S::HTTP2, "H2c needs a server that speaks h2c");
        Client::h2(addr)
    }
}

/// Expands to one `#[tokio::test]` per scenario in [`scenarios`], run against
/// `$server`, a [`TestServer`]. The calling crate needs `tokio` (with `macros` and
/// `rt-multi-thread`) as a dev-dependency.
#[macro_export]
macro_rules! behaviour_suite {
    ($server:ty) => {
        $crate::behaviour_suite!(@tests $server;
            headers_and_prelude_arrive_at_once,
            broadcast_reaches_every_client_in_order,
            send_to_reaches_only_its_client,
            topics_from_query,
            client_id_sources,
            client_id_generated_when_absent,
            resume_with_last_event_id_header,
            resume_with_last_event_id_query,
            malformed_last_event_id_is_absent,
            keep_alive_comments_arrive,
            disconnect_removes_idle_client_within_a_second,
            rejection_401_and_403_from_hook,
            rejection_400_for_invalid_client_id,
            rejection_429_with_retry_after,
            duplicate_reject_is_409,
            duplicate_replace_ends_old_stream,
            graceful_shutdown_ends_every_stream,
            http2_prior_knowledge,
            http2_disconnect_removes_client,
            head_is_headers_only,
            claimed_ids_are_ignored_by_default,
            hijack_attempts_fail,
            several_tabs_of_one_user,
            live_subscriptions_follow_grants,
            principal_from_middleware,
        );
    };
    (@tests $server:ty; $($name:ident,)*) => {
        $(
            #[::tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $name() {
                let run = $crate::scenarios::$name::<$server>();
                ::tokio::time::timeout(::std::time::Duration::from_secs(60), run)
                    .await
                    .expect("scenario timed out");
            }
        )*
    };
}
