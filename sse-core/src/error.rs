//! What can go wrong: a refused connection ([`Rejection`], why, not how to answer it),
//! a name that cannot be a client id or topic ([`NameError`]), and the service's own
//! operations ([`Error`]).

use std::{error::Error as StdError, fmt, sync::Arc, time::Duration};

/// Why a connection was refused. An HTTP adapter answers each with its status
/// (`sse-http` maps them: 400, 401, 403, 409, 429, 503).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RejectionKind {
    /// The request's client id, topics or other values are invalid.
    Invalid,
    /// The application does not know who the client is (no credentials, or bad ones).
    Unauthenticated,
    /// The client may not have what it asked for: a topic outside its grants, or the
    /// application said no.
    Forbidden,
    /// Its client id is already connected, under [`DuplicatePolicy::Reject`](crate::DuplicatePolicy::Reject).
    Duplicate,
    /// A limit on connections was reached; the client may retry later.
    TooMany,
    /// The service is shutting down.
    ShuttingDown,
}

/// A refused connection: its [`RejectionKind`], a short reason for people, and how
/// long the client should wait before retrying, if known.
///
/// Built by the service's own checks and limits, by
/// [`Hooks::on_connect`](crate::Hooks::on_connect), or by an application's
/// authentication.
///
/// # Examples
///
/// ```
/// use sse_core::{Rejection, RejectionKind};
///
/// let r = Rejection::unauthenticated("missing token");
/// assert_eq!(r.kind(), RejectionKind::Unauthenticated);
/// assert_eq!(r.reason(), "missing token");
/// ```
#[derive(Debug, Clone)]
pub struct Rejection {
    kind: RejectionKind,
    reason: String,
    retry_after: Option<Duration>,
    source: Option<Arc<dyn StdError + Send + Sync>>,
}

/// Equal when the kind, the reason and the retry hint are (sources are not compared).
impl PartialEq for Rejection {
    fn eq(&self, other: &Self) -> bool {
        (self.kind, &self.reason, self.retry_after)
            == (other.kind, &other.reason, other.retry_after)
    }
}

impl Eq for Rejection {}

impl Rejection {
    /// A rejection of this kind.
    pub fn new(kind: RejectionKind, reason: impl Into<String>) -> Self {
        Rejection {
            kind,
            reason: reason.into(),
            retry_after: None,
            source: None,
        }
    }

    /// [`RejectionKind::Invalid`]: the request's client id, topics or other values.
    pub fn invalid(reason: impl Into<String>) -> Self {
        Self::new(RejectionKind::Invalid, reason)
    }

    /// [`RejectionKind::Unauthenticated`].
    pub fn unauthenticated(reason: impl Into<String>) -> Self {
        Self::new(RejectionKind::Unauthenticated, reason)
    }

    /// [`RejectionKind::Forbidden`].
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(RejectionKind::Forbidden, reason)
    }

    /// [`RejectionKind::Duplicate`].
    pub fn duplicate(reason: impl Into<String>) -> Self {
        Self::new(RejectionKind::Duplicate, reason)
    }

    /// [`RejectionKind::TooMany`], with a retry hint.
    pub fn too_many(reason: impl Into<String>, retry_after: Duration) -> Self {
        Self::new(RejectionKind::TooMany, reason).with_retry_after(retry_after)
    }

    /// [`RejectionKind::ShuttingDown`].
    pub fn shutting_down(reason: impl Into<String>) -> Self {
        Self::new(RejectionKind::ShuttingDown, reason)
    }

    /// Sets the retry hint.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// Keeps the error behind this rejection, as its
    /// [`source`](std::error::Error::source).
    #[must_use]
    pub fn with_source(mut self, source: impl StdError + Send + Sync + 'static) -> Self {
        self.source = Some(Arc::new(source));
        self
    }

    /// Why the connection was refused.
    pub fn kind(&self) -> RejectionKind {
        self.kind
    }

    /// A short, human-readable reason, suitable as a response body.
    pub fn reason(&self) -> &str {
        &self.reason
    }

    /// How long the client should wait before retrying, if known.
    pub fn retry_after(&self) -> Option<Duration> {
        self.retry_after
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.reason)
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        self.source
            .as_deref()
            .map(|e| e as &(dyn StdError + 'static))
    }
}

/// A name that cannot be a [`ClientId`](crate::ClientId) or a [`Topic`](crate::Topic).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum NameError {
    /// A client id was empty, too long or held characters other than visible ASCII.
    ClientId,
    /// A topic name was empty, too long or held characters other than visible ASCII
    /// (commas excluded).
    Topic,
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::ClientId => {
                f.write_str("client id must be 1 to 128 visible ASCII characters")
            }
            NameError::Topic => {
                f.write_str("topic must be 1 to 128 visible ASCII characters, without commas")
            }
        }
    }
}

impl std::error::Error for NameError {}

/// What can go wrong in the service's operations: connecting, publishing, sending to
/// one client, and forwarding a stream into a sink.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A connection (or a live subscription) was refused.
    Rejected(Rejection),
    /// No client with that id is connected.
    NotConnected,
    /// The service is shutting down: the event was not published.
    ShuttingDown,
    /// A client's transport (sink) failed or closed.
    Disconnected,
}

impl Error {
    /// The rejection, when this error is one; adapters answer with its kind's status.
    pub fn rejection(&self) -> Option<&Rejection> {
        match self {
            Error::Rejected(r) => Some(r),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Rejected(_) => f.write_str("connection rejected"),
            Error::NotConnected => f.write_str("client not connected"),
            Error::ShuttingDown => f.write_str("the service is shutting down"),
            Error::Disconnected => f.write_str("client transport disconnected"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        match self {
            Error::Rejected(r) => Some(r),
            _ => None,
        }
    }
}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Self {
        Error::Rejected(r)
    }
}
