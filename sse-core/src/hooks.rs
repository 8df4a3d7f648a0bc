use std::fmt;

use crate::{Client, ClientId, ConnectRequest, Error, Rejection, SlowClientAction};

/// Why a reconnecting client could not be resumed, as told to
/// [`Hooks::on_resume_reset`] and, in-band, in the `sse-reset` event's data.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ResetReason {
    /// Events after the id have left the history (its bounds of events, bytes and
    /// age), or left it before the client could read them.
    TooOld,
    /// The id was never issued by this service (another run, or not an id at all).
    Unknown,
    /// Where the events are kept could not be read in time (a backplane's store was
    /// unreachable): what the client missed is not replayed.
    Unavailable,
}

impl ResetReason {
    /// The reason as the word sent in the `sse-reset` event (`too-old`, `unknown`).
    pub fn as_str(self) -> &'static str {
        match self {
            ResetReason::TooOld => "too-old",
            ResetReason::Unknown => "unknown",
            ResetReason::Unavailable => "unavailable",
        }
    }
}

impl fmt::Display for ResetReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Callbacks around a client's life, after the model's hooks. Every method does nothing
/// by default; implement the ones you need.
///
/// Hooks run on the task that caused them (a connect, a broadcast, a client's stream
/// being polled or dropped) and never while the service holds a lock, so a hook may call
/// back into the service. Keep them quick: they run inline.
///
/// # Examples
///
/// ```
/// use sse_core::{ClientId, ConnectRequest, Hooks, Rejection, RejectionKind, Service};
///
/// #[derive(Debug)]
/// struct Auth;
///
/// impl Hooks for Auth {
///     fn on_connect(&self, req: &ConnectRequest) -> Result<(), Rejection> {
///         match req.requested_client_id() {
///             Some(_) => Ok(()),
///             None => Err(Rejection::unauthenticated("an sse-clientid is required")),
///         }
///     }
///     fn on_remove_client(&self, id: &ClientId, count: usize) {
///         println!("{id} left, {count} remain");
///     }
/// }
///
/// let service = Service::builder().hooks(Auth).build();
/// let err = service.connect(ConnectRequest::new()).unwrap_err();
/// assert_eq!(err.rejection().unwrap().kind(), RejectionKind::Unauthenticated);
/// ```
pub trait Hooks: Send + Sync + fmt::Debug + 'static {
    /// Decides whether a connection may be created, before anything is registered.
    ///
    /// # Errors
    ///
    /// A [`Rejection`] refuses the connection; HTTP adapters answer with its kind's
    /// status.
    fn on_connect(&self, request: &ConnectRequest) -> Result<(), Rejection> {
        let _ = request;
        Ok(())
    }

    /// A client was registered; `count` is the number of active clients after it.
    fn on_create_client(&self, client: &Client, count: usize) {
        let _ = (client, count);
    }

    /// A client was removed; `count` is the number of active clients after it. Called
    /// exactly once per connection.
    fn on_remove_client(&self, client_id: &ClientId, count: usize) {
        let _ = (client_id, count);
    }

    /// A write is about to be handed to the client's transport.
    fn before_send(&self, client: &Client) {
        let _ = client;
    }

    /// A write was handed to the client's transport, with its outcome. One write may
    /// carry several queued events, joined.
    fn on_send(&self, client: &Client, result: Result<(), &Error>) {
        let _ = (client, result);
    }

    /// The slow-client policy fired for a client whose queue was full.
    fn on_slow_client(&self, client: &Client, action: SlowClientAction) {
        let _ = (client, action);
    }

    /// A reconnecting client's `Last-Event-ID` could not be resumed; it was sent an
    /// `sse-reset` event instead of a replay.
    fn on_resume_reset(&self, client: &Client, reason: ResetReason) {
        let _ = (client, reason);
    }
}

/// The hooks used when none are given: all no-ops.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct NoHooks;

impl Hooks for NoHooks {}
