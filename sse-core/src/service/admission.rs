//! Admission: checking a connect request against the grants, the limits and the
//! duplicate policy, the stream's prelude and resume point, and registering the client.

use std::{
    sync::{atomic::Ordering, Arc},
    time::Duration,
};

use bytes::{BufMut, BytesMut};
use sse_codec::Event;

use super::{Inner, Service};
use crate::{
    interest,
    metrics::bump,
    notices::{notice, CLIENT_EVENT, INITIAL_COMMENT, REPLACED_EVENT, REPLACED_RETRY},
    queue::Queue,
    replay::{reset_notice, Cursor, Replay},
    resume::{Admission, Hold},
    Client, ClientId, ClientStream, ConnectRequest, DuplicatePolicy, Error, EventSeq, NameError,
    Rejection, ResetReason, Topic, TopicGrants,
};

impl Service {
    /// Admits a client: runs the admission hook and limits, registers it, and returns
    /// its stream of frames, which starts with any events it missed.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`], of kind `Invalid` (invalid client id or topics, too many
    /// topics), `Forbidden` (a topic its principal, or the anonymous topics, do not
    /// allow), `Duplicate` (under [`DuplicatePolicy::Reject`]), `TooMany` (a client
    /// limit), `ShuttingDown`
    /// (shutting down), or whatever [`Hooks::on_connect`](crate::Hooks::on_connect) returned.
    pub fn connect(&self, request: ConnectRequest) -> Result<ClientStream, Error> {
        let result = self.admit(request);
        if let Err(error) = &result {
            let kind = error.rejection().map(|r| r.kind());
            self.inner.counters.refused(kind);
            tracing::debug!(%error, "connection refused");
        }
        result
    }

    /// Checks `request` as [`connect`](Self::connect) would, without the admission hook
    /// or the limits on clients, and registers nothing: what an HTTP `HEAD` is
    /// answered with.
    ///
    /// # Errors
    ///
    /// [`Error::Rejected`], of kind `Invalid` (invalid client id or topics, too many
    /// topics), `Forbidden` (a topic not granted) or `ShuttingDown`.
    pub fn check(&self, request: &ConnectRequest) -> Result<(), Error> {
        self.inner.refuse_if_stopped()?;
        self.validate(request).map(|_| ())
    }

    /// The request's id (if it names one), its topics (sorted, once each) and grants,
    /// all checked.
    fn validate(
        &self,
        request: &ConnectRequest,
    ) -> Result<(Option<ClientId>, Vec<Topic>, TopicGrants), Error> {
        let config = &self.inner.config;
        let id = match &request.client_id {
            Some(id) => Some(ClientId::new(id).map_err(invalid_name)?),
            None => None,
        };
        if request.topics.len() > config.max_topics {
            return Err(too_many_topics(config.max_topics));
        }
        let mut topics = request
            .topics
            .iter()
            .map(|t| Topic::new(t))
            .collect::<Result<Vec<_>, _>>()
            .map_err(invalid_name)?;
        topics.sort();
        topics.dedup();
        let grants = request
            .grants
            .clone()
            .unwrap_or_else(|| config.anonymous_topics.clone());
        grants.check(&topics)?;
        Ok((id, topics, grants))
    }

    fn admit(&self, request: ConnectRequest) -> Result<ClientStream, Error> {
        let inner = &self.inner;
        inner.refuse_if_stopped()?;
        inner.hooks.on_connect(&request)?;
        let (id, topics, grants) = self.validate(&request)?;
        let id = id.unwrap_or_else(ClientId::generate);
        let _span = tracing::debug_span!("sse_connect", client = %id).entered();

        // Under the publish lock: the client's replay ends where its live events start.
        let mut history = inner.lock_publish();
        inner.refuse_if_stopped()?;
        let displaced = inner.displaced_by(&id)?;
        inner.check_capacity(displaced.len())?;
        let connection = inner.next_connection.fetch_add(1, Ordering::Relaxed);
        let policy = request.policy.unwrap_or(inner.config.policy);
        let queue = Queue::new(inner.config.queue_events, inner.config.queue_bytes);
        let client = Arc::new(Client::new(id, connection, topics, grants, policy, queue));
        let mut prelude = inner.prelude(&client);
        let external = inner.resume.as_ref().and_then(|source| {
            source.admit(Admission {
                last_event_id: request.last_event_id.clone(),
                hold: Hold::new(Arc::clone(&client)),
            })
        });
        let (cursor, reset) = match &request.last_event_id {
            Some(last) if history.enabled() && inner.resume.is_none() => {
                inner.resume(&mut history, &client, last, &mut prelude)
            }
            _ => (None, None),
        };
        // Joined before the connections it replaces leave: their id and topics go on
        // being of interest without a gap.
        inner
            .interest
            .join(interest::of_client(client.id(), &client.topics()));
        let replaced: Vec<_> = displaced
            .into_iter()
            .filter_map(|old| inner.unregister(&old).map(|count| (old, count)))
            .collect();
        let count = inner.manager.add(Arc::clone(&client));
        drop(history);

        inner.admitted(&client, count, &replaced, reset);
        Ok(ClientStream::new(
            Arc::clone(inner),
            client,
            prelude.freeze(),
            cursor,
            external,
            inner.config.keep_alive,
            inner.config.write_delay,
        ))
    }
}

impl Inner {
    /// Refused (`ShuttingDown`) once shutdown has begun.
    fn refuse_if_stopped(&self) -> Result<(), Error> {
        if self.accepting.load(Ordering::Acquire) {
            Ok(())
        } else {
            Err(Rejection::shutting_down("shutting down").into())
        }
    }

    /// The connections a new one with `id` replaces under the duplicate policy, or
    /// its refusal: `Duplicate` under [`DuplicatePolicy::Reject`], `TooMany` past the connections
    /// allowed per id.
    fn displaced_by(&self, id: &ClientId) -> Result<Vec<Arc<Client>>, Error> {
        let mut same_id = Vec::new();
        self.manager
            .for_each_with_id(id, &mut |c| same_id.push(Arc::clone(c)));
        match self.config.duplicates {
            DuplicatePolicy::Reject if !same_id.is_empty() => {
                Err(Rejection::duplicate("client id already connected").into())
            }
            DuplicatePolicy::Replace => Ok(same_id),
            _ if same_id.len() >= self.config.max_per_id => Err(Rejection::too_many(
                "too many connections for this client id",
                Duration::from_secs(5),
            )
            .into()),
            _ => Ok(Vec::new()),
        }
    }

    /// Refused (`TooMany`) when one more connection (with `leaving` about to go) is too many.
    fn check_capacity(&self, leaving: usize) -> Result<(), Error> {
        // Saturating: a displaced connection may have left since it was counted.
        if self.manager.active().saturating_sub(leaving) >= self.config.max_clients {
            return Err(Rejection::too_many("too many clients", Duration::from_secs(5)).into());
        }
        Ok(())
    }

    /// What every stream starts with: a comment, the client's id and the retry hint.
    fn prelude(&self, client: &Client) -> BytesMut {
        let mut prelude = BytesMut::from(INITIAL_COMMENT);
        prelude.put_slice(&notice(CLIENT_EVENT, client.id().as_str()).encode());
        if let Some(retry) = self.config.retry_hint {
            prelude.put_slice(&Event::new().with_retry(retry).encode());
        }
        prelude
    }

    /// Where a client that has every event up to `last` resumes: a cursor into the
    /// history (read as the client drains, never copied here), and the reset notice,
    /// put in the prelude, when not everything it missed is held.
    fn resume(
        &self,
        history: &mut Replay,
        client: &Client,
        last: &str,
        prelude: &mut BytesMut,
    ) -> (Option<Cursor>, Option<ResetReason>) {
        // Not an id of ours at all: as one from another run, before our origin.
        let last = last.parse::<EventSeq>().unwrap_or_default();
        let resume = history.resume(last, &client.topics());
        let reset = resume.reset.map(|(reason, id)| {
            prelude.put_slice(&reset_notice(reason, id));
            reason
        });
        bump(
            if reset.is_some() {
                &self.counters.reset
            } else {
                &self.counters.resumed
            },
            1,
        );
        match reset {
            Some(reason) => tracing::debug!(
                client = %client.id(),
                reason = reason.as_str(),
                "resuming client told sse-reset"
            ),
            None => tracing::debug!(client = %client.id(), %last, "client resumed"),
        }
        ((!resume.cursor.is_done()).then_some(resume.cursor), reset)
    }

    /// After registering a client, outside the lock: ends the connections it
    /// replaced, and runs the hooks.
    fn admitted(
        &self,
        client: &Arc<Client>,
        count: usize,
        replaced: &[(Arc<Client>, usize)],
        reset: Option<ResetReason>,
    ) {
        for (old, count) in replaced {
            let replaced = notice(REPLACED_EVENT, "replaced").with_retry(REPLACED_RETRY);
            // Past the bound, as shutdown's frames: small and the last.
            old.queue.push_unbounded(replaced.encode());
            old.queue.close(false);
            self.removed_hook(old, *count);
        }
        bump(&self.counters.connected, 1);
        self.hooks.on_create_client(client, count);
        if let Some(reason) = reset {
            self.hooks.on_resume_reset(client, reason);
        }
        tracing::debug!(count, "client connected");
    }
}

/// The refusal of a client with more than `max` topics.
/// The refusal of a request naming an invalid client id or topic, which it keeps.
fn invalid_name(error: NameError) -> Rejection {
    Rejection::invalid(error.to_string()).with_source(error)
}

pub(super) fn too_many_topics(max: usize) -> Error {
    Rejection::invalid(format!("at most {max} topics per client")).into()
}
