//! Resuming from a history kept outside the service: a backplane's, shared by many
//! services, which the service cannot read itself.

use std::{
    fmt,
    pin::Pin,
    sync::{atomic::Ordering, Arc},
};

use bytes::Bytes;
use futures_core::Stream;

use crate::Client;

/// The frames a [`ResumeSource`] gives a connecting client before its live events.
pub type ResumeStream = Pin<Box<dyn Stream<Item = Bytes> + Send>>;

/// Where clients resume from when the events are kept outside the service: a
/// backplane whose history spans every node. Set with
/// [`ServiceBuilder::resume_source`](crate::ServiceBuilder::resume_source); the
/// service's own history is then not read at connect.
///
/// For each connection the source decides whether the client takes live events at
/// once ([`admit`](Self::admit) returns `None`), or is *held*: it gets no event
/// delivered with an id (broadcasts and topics; direct events still reach it) until
/// the source releases its [`Hold`], and its stream starts with the frames of the
/// returned [`ResumeStream`]. Releasing the hold at the point the source's history
/// ends, under the same lock its deliveries take, makes the hand-off exact: every
/// event either in the history read or live, none in both.
///
/// The connect prelude (its comment and `sse-client` event) is written just before
/// the stream's first frame, so a source can hold the whole stream back until the
/// client is ready to receive (an empty first frame writes the prelude alone). A
/// source must end its stream, or yield, within a bounded time: the client gets
/// nothing, keep-alives included, before the first frame.
pub trait ResumeSource: Send + Sync + fmt::Debug + 'static {
    /// Called for every connection as it is registered, under the service's publish
    /// lock: it must be quick, must not call into the service, and must not take a
    /// lock held while delivering. Return `None` to let the client take live events
    /// now (the hold is dropped, which releases it), or a stream that owns the hold.
    fn admit(&self, admission: Admission) -> Option<ResumeStream>;
}

/// A connection being admitted: its client, the `Last-Event-ID` it sent, and its
/// [`Hold`].
#[derive(Debug)]
pub struct Admission {
    pub(crate) last_event_id: Option<String>,
    pub(crate) hold: Hold,
}

impl Admission {
    /// The client being admitted (its id and topics).
    pub fn client(&self) -> &Arc<Client> {
        &self.hold.client
    }

    /// The `Last-Event-ID` the client sent, if any.
    pub fn last_event_id(&self) -> Option<&str> {
        self.last_event_id.as_deref()
    }

    /// The hold, to release once the client's history is read up to where its live
    /// events begin.
    pub fn into_hold(self) -> Hold {
        self.hold
    }
}

/// Keeps a client from taking events with ids until released; dropping it releases
/// it too, so a client is never held for longer than its source keeps the hold.
pub struct Hold {
    client: Arc<Client>,
}

impl Hold {
    pub(crate) fn new(client: Arc<Client>) -> Self {
        client.held.store(true, Ordering::Release);
        Hold { client }
    }

    /// The held client.
    pub fn client(&self) -> &Arc<Client> {
        &self.client
    }

    /// Lets the client take events from now on.
    pub fn release(self) {}
}

impl Drop for Hold {
    fn drop(&mut self) {
        self.client.held.store(false, Ordering::Release);
    }
}

impl fmt::Debug for Hold {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Hold")
            .field("client", &self.client.id())
            .finish()
    }
}
