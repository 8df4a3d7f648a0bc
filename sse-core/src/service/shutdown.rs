//! Shutdown: refusing new clients and publishes, ending every stream, and waiting for
//! them within a deadline.

use std::{sync::atomic::Ordering, time::Duration};

use bytes::{BufMut, BytesMut};
use sse_codec::Event;

use super::Service;

/// Options for [`Service::shutdown`].
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use sse_codec::Event;
/// use sse_core::Shutdown;
///
/// let shutdown = Shutdown::new(Duration::from_secs(5))
///     .final_event(Event::message("bye"))
///     .retry(Duration::from_secs(2), Duration::from_secs(3));
/// ```
#[derive(Debug, Clone)]
pub struct Shutdown {
    deadline: Duration,
    final_event: Option<Event>,
    retry: Option<(Duration, Duration)>,
}

impl Shutdown {
    /// Ends every stream within `deadline`; queued frames are delivered if they can be
    /// in that time.
    pub fn new(deadline: Duration) -> Self {
        Shutdown {
            deadline,
            final_event: None,
            retry: None,
        }
    }

    /// Sends this event to every client before its stream ends (default: none).
    #[must_use]
    pub fn final_event(mut self, event: Event) -> Self {
        self.final_event = Some(event);
        self
    }

    /// Sends each client a reconnection hint of `base` plus a per-client share of
    /// `jitter`, so clients do not all come back at once (default: none, the
    /// clients' own delay).
    #[must_use]
    pub fn retry(mut self, base: Duration, jitter: Duration) -> Self {
        self.retry = Some((base, jitter));
        self
    }
}

/// What [`Service::shutdown`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub struct ShutdownReport {
    /// Clients connected when shutdown began.
    pub clients: usize,
    /// Clients whose stream had not ended by the deadline and were cut off.
    pub forced: usize,
}

impl Service {
    /// Shuts down gracefully: refuses new connections (`ShuttingDown`), sends each client the
    /// final event and retry hint if asked, lets every stream deliver what is queued
    /// and end, and resolves when all have ended or at the deadline, when the rest are
    /// cut off and removed.
    ///
    /// Stop the server accepting connections first (close its listener; the adapters'
    /// `serve_with` and `Server::serve_until` do on their stop signal): a browser
    /// whose stream ended reconnects at once, and meets a refused connection, which
    /// `EventSource` retries, where a refusal (503 over HTTP) would make it give up for
    /// good.
    pub async fn shutdown(&self, options: Shutdown) -> ShutdownReport {
        let inner = &self.inner;
        let clients = {
            let _history = inner.lock_publish();
            inner.accepting.store(false, Ordering::Release);
            inner.manager.clients()
        };
        tracing::info!(clients = clients.len(), deadline = ?options.deadline, "shutting down");
        let final_frame = options.final_event.as_ref().map(Event::encode);
        for client in &clients {
            let mut frame = BytesMut::new();
            if let Some(f) = &final_frame {
                frame.put_slice(f);
            }
            if let Some((base, jitter)) = options.retry {
                let retry = base + jitter.mul_f64(unit_jitter(client.connection()));
                frame.put_slice(&Event::new().with_retry(retry).encode());
            }
            if !frame.is_empty() {
                // Shutdown frames go past the bound: they are small and the last.
                client.queue.push_unbounded(frame.freeze());
            }
            client.queue.close(false);
        }
        let deadline = tokio::time::Instant::now() + options.deadline;
        loop {
            let removed = inner.removed.notified();
            if clients.iter().all(|c| c.is_removed()) {
                break;
            }
            if tokio::time::timeout_at(deadline, removed).await.is_err() {
                break;
            }
        }
        let mut forced = 0;
        for client in &clients {
            if !client.is_removed() {
                forced += 1;
                self.disconnect(client);
            }
        }
        tracing::info!(clients = clients.len(), forced, "shut down");
        ShutdownReport {
            clients: clients.len(),
            forced,
        }
    }
}

/// A per-connection number in `[0, 1)`, spread evenly (splitmix64).
fn unit_jitter(connection: u64) -> f64 {
    let mut z = connection.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^= z >> 31;
    (z >> 11) as f64 / (1u64 << 53) as f64
}
