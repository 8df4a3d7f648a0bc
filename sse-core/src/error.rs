use std::{fmt, time::Duration};

/// Why a connection was refused; adapters turn it into an HTTP response.
///
/// Built by the service's own limits or by [`Hooks::on_connect`](crate::Hooks::on_connect).
///
/// # Examples
///
/// ```
/// use sse_core::Rejection;
///
/// let r = Rejection::unauthorized("missing token");
/// assert_eq!(r.status(), 401);
/// assert_eq!(r.reason(), "missing token");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rejection {
    status: u16,
    reason: String,
    retry_after: Option<Duration>,
}

impl Rejection {
    /// A rejection with any HTTP status (clamped to 400..=599).
    pub fn new(status: u16, reason: impl Into<String>) -> Self {
        Rejection {
            status: status.clamp(400, 599),
            reason: reason.into(),
            retry_after: None,
        }
    }

    /// 400 Bad Request: the request's client id, topics or other values are invalid.
    pub fn bad_request(reason: impl Into<String>) -> Self {
        Self::new(400, reason)
    }

    /// 401 Unauthorized.
    pub fn unauthorized(reason: impl Into<String>) -> Self {
        Self::new(401, reason)
    }

    /// 403 Forbidden.
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(403, reason)
    }

    /// 409 Conflict: the client id is already connected and duplicates are rejected.
    pub fn conflict(reason: impl Into<String>) -> Self {
        Self::new(409, reason)
    }

    /// 429 Too Many Requests, with a `Retry-After` hint.
    pub fn too_many_requests(reason: impl Into<String>, retry_after: Duration) -> Self {
        Self::new(429, reason).with_retry_after(retry_after)
    }

    /// 503 Service Unavailable: the service is shutting down.
    pub fn unavailable(reason: impl Into<String>) -> Self {
        Self::new(503, reason)
    }

    /// Sets the `Retry-After` hint.
    #[must_use]
    pub fn with_retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = Some(retry_after);
        self
    }

    /// The HTTP status code.
    pub fn status(&self) -> u16 {
        self.status
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
        write!(f, "{} {}", self.status, self.reason)
    }
}

/// Everything that can go wrong in this crate.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// A connection was refused; the rejection carries the HTTP status to answer with.
    Rejected(Rejection),
    /// No client with that id is connected.
    NotConnected,
    /// A client id was empty, too long or held characters other than visible ASCII.
    InvalidClientId,
    /// A topic name was empty, too long or held characters other than visible ASCII
    /// (commas excluded).
    InvalidTopic,
    /// A client's transport (sink) failed or closed.
    Disconnected,
    /// A backplane could not publish; the message was not sent anywhere.
    Backplane(String),
    /// The service is shutting down: the event was not published.
    ShuttingDown,
}

impl Error {
    /// The rejection, when this error is one; adapters answer with its status.
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
            Error::Rejected(r) => write!(f, "connection rejected: {r}"),
            Error::NotConnected => f.write_str("client not connected"),
            Error::InvalidClientId => {
                f.write_str("client id must be 1 to 128 visible ASCII characters")
            }
            Error::InvalidTopic => {
                f.write_str("topic must be 1 to 128 visible ASCII characters, without commas")
            }
            Error::Disconnected => f.write_str("client transport disconnected"),
            Error::Backplane(msg) => write!(f, "backplane: {msg}"),
            Error::ShuttingDown => f.write_str("the service is shutting down"),
        }
    }
}

impl std::error::Error for Error {}

impl From<Rejection> for Error {
    fn from(r: Rejection) -> Self {
        Error::Rejected(r)
    }
}
