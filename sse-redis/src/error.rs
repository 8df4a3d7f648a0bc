//! The crate's one error type.

use std::fmt;

/// Everything that can go wrong in this crate.
///
/// After startup: [`Error::Unavailable`] (Redis did not take a message) and
/// [`Error::UnknownOutcome`] (no answer in time: it may have).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The Redis URL could not be parsed, or an option was out of range.
    Config(String),
    /// Redis could not be reached, or its history could not be read, while connecting.
    /// The backplane needs Redis once at startup, to give the service its global ids.
    Connect(String),
    /// Redis did not take the message (unreachable, timed out, or it answered with an
    /// error), so no other instance will get it and it is not queued for later.
    ///
    /// With [`RedisOptions::local_fallback`](crate::RedisOptions::local_fallback) on
    /// (the default), the message was still delivered, without an id, to this
    /// instance's matching clients: `local` is `Some(n)`, the number of connections
    /// whose queue took it. `None` when the fallback is off.
    Unavailable {
        /// What Redis or the connection said.
        reason: String,
        /// Connections of this instance that took the message anyway.
        local: Option<usize>,
    },
    /// Redis did not answer a [`send_once`](crate::RedisBackplane::send_once) within
    /// the publish timeout: it may have taken the message (and every instance, this
    /// one included, then delivers it once) or not. It is not delivered locally
    /// meanwhile, which could make a second copy. Retry with the same key to send it
    /// at most once.
    ///
    /// Also any publish that Redis took and delivered, but that fewer than
    /// [`RedisOptions::replicas`](crate::RedisOptions::replicas) replicas confirmed
    /// in time: a failover now may drop it from the log (readers have it).
    UnknownOutcome {
        /// Why the outcome is unknown.
        reason: String,
    },
    /// The service refused a live subscription: no connection with that id here, a
    /// topic not granted, or too many topics.
    Service(sse_core::Error),
}

impl Error {
    /// Whether this is [`Error::Unavailable`]: Redis is down right now.
    pub fn is_unavailable(&self) -> bool {
        matches!(self, Error::Unavailable { .. })
    }

    /// Whether this is [`Error::UnknownOutcome`]: the message may or may not have
    /// been sent.
    pub fn is_unknown_outcome(&self) -> bool {
        matches!(self, Error::UnknownOutcome { .. })
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Config(msg) => write!(f, "redis backplane configuration: {msg}"),
            Error::Connect(msg) => write!(f, "redis backplane could not start: {msg}"),
            Error::UnknownOutcome { reason } => {
                write!(f, "redis may or may not have taken the message: {reason}")
            }
            Error::Service(e) => write!(f, "the service refused: {e}"),
            Error::Unavailable { reason, local } => {
                write!(
                    f,
                    "redis unavailable, message not sent to other instances: {reason}"
                )?;
                match local {
                    Some(n) => write!(f, " (delivered to {n} local connections)"),
                    None => Ok(()),
                }
            }
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Service(e) => Some(e),
            _ => None,
        }
    }
}
