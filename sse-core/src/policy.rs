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
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
#[non_exhaustive]
pub enum DuplicatePolicy {
    /// Refuse the new connection with 409 Conflict.
    Reject,
    /// End the old connection's stream cleanly and keep the new one (the default).
    #[default]
    Replace,
    /// Keep both; sending to the id reaches every connection with it.
    Allow,
}
