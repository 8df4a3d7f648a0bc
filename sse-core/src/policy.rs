/// What to do when a client's outbound queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum SlowClientPolicy {
    /// Drop the oldest queued frames to make room for the new one (the default): a slow
    /// client sees the latest events and misses some in the middle.
    #[default]
    DropOldest,
    /// Drop the new frame: a slow client keeps what it had and misses the newest.
    DropNewest,
    /// End the client's stream; it reconnects and resumes with `Last-Event-ID`.
    Disconnect,
}

/// What the slow-client policy did, as told to [`Hooks::on_slow_client`](crate::Hooks::on_slow_client).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SlowClientAction {
    /// This many queued frames were dropped to make room.
    DroppedOldest(usize),
    /// The new frame was dropped.
    DroppedNewest,
    /// The client was disconnected.
    Disconnected,
}

/// What to do when a client connects with an id that is already connected.
///
/// What two live clients with one id see under each policy:
///
/// | policy | the first | the second |
/// |---|---|---|
/// | `Allow` (default) | stays up; gets everything sent to the id | the same |
/// | `Reject` | stays up | refused (`Duplicate`) |
/// | `Replace` | gets an `sse-replaced` event with a one-day `retry`, then its stream ends; an `EventSource` waits that long before it reconnects | takes its place |
///
/// Under `Replace`, a client that ignores the `retry` hint and reconnects at once
/// replaces the second in turn; the two then take turns. Use it only where one
/// connection per id is the rule and the page honours the notice (for example by
/// closing its `EventSource` on `sse-replaced`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DuplicatePolicy {
    /// Refuse the new connection (`Duplicate`; 409 over HTTP).
    Reject,
    /// Tell the old connection it was replaced, end its stream and keep the new one.
    Replace,
    /// Keep both, up to a limit per id (the default); sending to the id reaches every
    /// connection with it.
    #[default]
    Allow,
}
