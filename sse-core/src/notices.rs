//! The service's own events (`sse-*`) and the comment every stream starts with.

use std::time::Duration;

use sse_codec::{Event, EventType};

/// The event type of the in-band notice that some events a client missed are gone, sent
/// before whatever the history still holds for it:
///
/// - `too-old`: its `Last-Event-ID` is older than the history, or events left the
///   history while it was still reading them; the notice's id is where it was.
/// - `unknown`: its `Last-Event-ID` was never issued by this service (another run's,
///   before a restart); it gets every event this run still holds, and the notice's id
///   is the start of this run, so a reconnect before the first of them resumes there.
///
/// A browser `EventSource` listens for it with `addEventListener("sse-reset", ...)`
/// and reloads what it shows.
pub const RESET_EVENT: &str = "sse-reset";

/// The event type of the in-band notice that a slow client's queue was full and some
/// events did not reach it (its [`SlowClientPolicy`](crate::SlowClientPolicy) dropped them). Its data is how
/// many; it has no id, and comes before the first event after the gap. The client can
/// get what it missed by reconnecting with its `Last-Event-ID`: the history replays
/// it, exactly, while it still holds it.
pub const GAP_EVENT: &str = "sse-gap";

/// The event type of the first event on every stream: its data is the connection's
/// client id, so a page whose id the service generated learns it
/// (`addEventListener("sse-client", ...)`) and can hand it to its own back end. It has
/// no `id` field, so it does not move the client's `Last-Event-ID`.
pub const CLIENT_EVENT: &str = "sse-client";

/// The event type of the notice sent to a connection that a newer one with the same
/// client id replaced (under [`DuplicatePolicy::Replace`](crate::DuplicatePolicy::Replace)), just before its stream
/// ends. Its data is `replaced`. It comes with a `retry` of [`REPLACED_RETRY`], so an
/// `EventSource` does not come back and replace the newer connection in turn.
pub const REPLACED_EVENT: &str = "sse-replaced";

/// The reconnection delay sent with [`REPLACED_EVENT`]: one day.
pub const REPLACED_RETRY: Duration = Duration::from_secs(24 * 60 * 60);

/// The comment every stream starts with.
pub(crate) const INITIAL_COMMENT: &[u8] = b": connected\n\n";

/// An event of one of the service's own types (`sse-*`), with `data`.
pub(crate) fn notice(kind: &'static str, data: impl Into<String>) -> Event {
    let kind = EventType::new(kind).expect("the service's own event types are valid");
    Event::message(data).with_event(kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_notice_type_is_a_valid_event_type() {
        for kind in [RESET_EVENT, GAP_EVENT, CLIENT_EVENT, REPLACED_EVENT] {
            assert!(notice(kind, "x")
                .encode()
                .starts_with(format!("event: {kind}\n").as_bytes()));
        }
    }
}
