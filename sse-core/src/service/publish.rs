//! Publishing and fan-out: ids and the history, pushing one encoded frame into every
//! recipient's queue, live subscriptions, and the history a resuming client reads.

use std::sync::{atomic::Ordering, Arc};

use bytes::{BufMut, Bytes, BytesMut};
use sse_codec::Event;

use super::{admission::too_many_topics, Inner, Service};
use crate::{
    metrics::bump,
    queue::Pushed,
    replay::{reset_notice, Cursor},
    Client, ClientId, Error, EventSeq, Interest, ResetReason, SlowClientAction, Topic,
};

/// Marks the expiry task stopped when it ends, however it ends.
struct ExpiryStopped(std::sync::Weak<Inner>);

impl Drop for ExpiryStopped {
    fn drop(&mut self) {
        if let Some(inner) = self.0.upgrade() {
            inner.expiring.store(false, Ordering::Relaxed);
        }
    }
}

/// Most history a resuming client reads at once (one write's worth).
const MAX_READ: usize = 16 * 1024;

/// Who a published event is for.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Target {
    /// Every client.
    All,
    /// Every subscriber of any of these topics, once each.
    Topics(Vec<Topic>),
    /// Every connection with this client id.
    Client(ClientId),
}

/// What one publish did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Delivery {
    /// The id the event was given, when replay is on and the event was not direct.
    pub id: Option<EventSeq>,
    /// Clients whose queue took the event.
    pub queued: usize,
    /// Clients that could not take it (full queue with drop-newest, or closing).
    pub skipped: usize,
    /// Clients disconnected by the slow-client policy.
    pub disconnected: usize,
}

impl Service {
    /// Sends `event` to every client. The event is encoded once; with replay on
    /// (the default) it is given the next id, replacing any id it had.
    ///
    /// # Errors
    ///
    /// [`Error::ShuttingDown`] once [`shutdown`](Self::shutdown) has begun: no client
    /// would get the event, so it is given no id.
    pub fn broadcast(&self, event: Event) -> Result<Delivery, Error> {
        self.inner.publish(&Target::All, None, event)
    }

    /// Sends `event` to the subscribers of `topic`.
    ///
    /// # Errors
    ///
    /// As [`broadcast`](Self::broadcast).
    pub fn publish(&self, topic: &Topic, event: Event) -> Result<Delivery, Error> {
        self.inner
            .publish(&Target::Topics(vec![topic.clone()]), None, event)
    }

    /// Sends `event` to the subscribers of any of `topics`, once each.
    ///
    /// # Errors
    ///
    /// As [`broadcast`](Self::broadcast).
    pub fn publish_many(&self, topics: &[Topic], event: Event) -> Result<Delivery, Error> {
        self.inner
            .publish(&Target::Topics(topics.to_vec()), None, event)
    }

    /// Sends `event` to every connection of client `id`. Direct events get no id and
    /// are not replayed.
    ///
    /// # Errors
    ///
    /// [`Error::NotConnected`] if no connection has that id; [`Error::ShuttingDown`]
    /// once shutdown has begun.
    pub fn send_to(&self, id: &ClientId, event: Event) -> Result<Delivery, Error> {
        let delivery = self
            .inner
            .publish(&Target::Client(id.clone()), None, event)?;
        if delivery.queued + delivery.skipped + delivery.disconnected == 0 {
            return Err(Error::NotConnected);
        }
        Ok(delivery)
    }

    /// Delivers an event that a backplane has already given a global id, for
    /// [`Target::All`] and [`Target::Topics`]; `seq` must be higher than every id seen
    /// so far, or the event is taken as a duplicate and dropped (`id` is then `None`).
    /// With `seq` `None` this is the same as the local publish methods.
    ///
    /// # Errors
    ///
    /// As [`broadcast`](Self::broadcast).
    pub fn deliver(
        &self,
        target: &Target,
        seq: Option<EventSeq>,
        event: Event,
    ) -> Result<Delivery, Error> {
        self.inner.publish(target, seq, event)
    }

    /// Delivers `frame`, an event a backplane encoded with an id of its own (or
    /// none), to `target`'s clients as it is: to everyone, to the subscribers of
    /// topics except those that also read one of `except` (who get the event another
    /// way), or to every connection of a client id. It is not recorded in the
    /// service's history (the backplane keeps it), and clients held by a
    /// [`ResumeSource`](crate::ResumeSource) do not get it unless it is direct.
    ///
    /// `frame` must be one whole event as [`Event::encode`] writes it: the service
    /// writes it to the wire unchecked.
    ///
    /// # Errors
    ///
    /// [`Error::ShuttingDown`] once shutdown has begun.
    pub fn deliver_frame(
        &self,
        target: &Target,
        frame: &Bytes,
        except: &[Topic],
    ) -> Result<Delivery, Error> {
        self.inner.deliver_frame(target, frame, except)
    }

    /// Subscribes every connection of client `id` to `topics` (those it has already
    /// are kept), checked against each connection's grants first: nothing changes
    /// unless every connection may read every topic. Returns the number of
    /// connections.
    ///
    /// Events published after this returns reach them; nothing earlier is replayed. A
    /// reconnecting client is resumed for the topics its new request names (see the
    /// crate docs on resume).
    ///
    /// # Errors
    ///
    /// [`Error::NotConnected`] if no connection has that id; [`Error::Rejected`] with
    /// of kind `Forbidden` if a topic is not granted, `Invalid` if a connection would exceed
    /// [`max_topics_per_client`](crate::ServiceBuilder::max_topics_per_client).
    pub fn subscribe(&self, id: &ClientId, topics: &[Topic]) -> Result<usize, Error> {
        self.inner.change_topics(id, topics, true)
    }

    /// Unsubscribes every connection of client `id` from `topics`; from when this
    /// returns, no event of them reaches it. Returns the number of connections.
    ///
    /// # Errors
    ///
    /// [`Error::NotConnected`] if no connection has that id.
    pub fn unsubscribe(&self, id: &ClientId, topics: &[Topic]) -> Result<usize, Error> {
        self.inner.change_topics(id, topics, false)
    }
}

struct Tally {
    delivery: Delivery,
    slow: Vec<(Arc<Client>, SlowClientAction)>,
    dropped_oldest: u64,
    dropped_newest: u64,
    /// When the publish began: one clock read for all its pushes.
    at: tokio::time::Instant,
}

impl Tally {
    fn new(id: Option<EventSeq>) -> Self {
        Tally {
            delivery: Delivery {
                id,
                ..Delivery::default()
            },
            slow: Vec::new(),
            dropped_oldest: 0,
            dropped_newest: 0,
            at: tokio::time::Instant::now(),
        }
    }

    fn push(&mut self, client: &Arc<Client>, frame: &Bytes) {
        match client.queue.push(frame.clone(), client.policy, self.at) {
            Pushed::Queued => self.delivery.queued += 1,
            Pushed::DroppedOldest(n) => {
                self.delivery.queued += 1;
                self.dropped_oldest += n as u64;
                self.slow
                    .push((Arc::clone(client), SlowClientAction::DroppedOldest(n)));
            }
            Pushed::DroppedNewest => {
                self.delivery.skipped += 1;
                self.dropped_newest += 1;
                self.slow
                    .push((Arc::clone(client), SlowClientAction::DroppedNewest));
            }
            Pushed::Disconnected => {
                self.delivery.disconnected += 1;
                self.slow
                    .push((Arc::clone(client), SlowClientAction::Disconnected));
            }
            Pushed::Closed => self.delivery.skipped += 1,
        }
    }
}

impl Inner {
    /// Starts, once, the task that drops events past the history's age bound, so they
    /// go whether or not anything publishes or resumes. Needs a tokio runtime: started
    /// when the service is built inside one, else by the first publish with an id made
    /// inside one. It ends with the service.
    pub(super) fn start_expiry(&self) {
        if self.expiring.load(Ordering::Relaxed) {
            return;
        }
        let (Some(period), Ok(runtime)) = (
            self.config.replay.expiry_period(),
            tokio::runtime::Handle::try_current(),
        ) else {
            return;
        };
        if self.expiring.swap(true, Ordering::Relaxed) {
            return;
        }
        let me = self.me.clone();
        // Should the runtime end first (even before the task ran), the guard, dropped
        // with the task, lets the next publish start it again.
        let stopped = ExpiryStopped(me.clone());
        runtime.spawn(async move {
            let _stopped = stopped;
            let mut tick = tokio::time::interval(period);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let Some(inner) = me.upgrade() else { return };
                inner.lock_publish().expire(tokio::time::Instant::now());
            }
        });
    }

    /// The next history frames for a resuming client, as one write, with a notice
    /// first if some were evicted before it could read them; `None` once the cursor is
    /// done. Takes the publish lock once per read of at most [`MAX_READ`] bytes.
    pub(crate) fn read_history(&self, cursor: &mut Cursor, topics: &[Topic]) -> Option<Bytes> {
        while !cursor.is_done() {
            let read = self.lock_publish().read(cursor, topics, MAX_READ);
            let mut write = BytesMut::new();
            if let Some(id) = read.lost {
                write.put_slice(&reset_notice(ResetReason::TooOld, id));
                bump(&self.counters.reset, 1);
                tracing::debug!(reason = "too-old", "resuming client lost events as it read");
            }
            read.frames.iter().for_each(|f| write.put_slice(f));
            if !write.is_empty() {
                return Some(write.freeze());
            }
        }
        None
    }

    fn publish(
        &self,
        target: &Target,
        seq: Option<EventSeq>,
        event: Event,
    ) -> Result<Delivery, Error> {
        let published = match target {
            Target::Client(id) => Some(self.send_direct(id, &event.encode())?),
            Target::All => self.publish_logged(None, seq, event)?,
            Target::Topics(topics) => self.publish_logged(Some(topics), seq, event)?,
        };
        // `None`: a backplane's event already delivered.
        Ok(published.map_or_else(Delivery::default, |(tally, len)| self.account(tally, len)))
    }

    /// Pushes a direct event, which has no id and is not kept, to every connection of
    /// `id`; the tally and the frame's length.
    fn send_direct(&self, id: &ClientId, frame: &Bytes) -> Result<(Tally, usize), Error> {
        if !self.accepting.load(Ordering::Acquire) {
            return Err(Error::ShuttingDown);
        }
        let mut tally = Tally::new(None);
        self.manager
            .for_each_with_id(id, &mut |c| tally.push(c, frame));
        Ok((tally, frame.len()))
    }

    /// Gives an event to everyone (`topics` `None`) or to the subscribers of `topics`
    /// its id (the next one, or `seq` from a backplane), records it in the history and
    /// pushes it; the tally and the frame's length, or `None` for a `seq` already seen.
    fn publish_logged(
        &self,
        topics: Option<&[Topic]>,
        seq: Option<EventSeq>,
        event: Event,
    ) -> Result<Option<(Tally, usize)>, Error> {
        let mut history = self.lock_publish();
        // Under the lock that shutdown takes to stop accepting: a publish is either
        // before it, and delivered, or refused.
        if !self.accepting.load(Ordering::Acquire) {
            return Err(Error::ShuttingDown);
        }
        let seq = match seq {
            Some(seq) if seq <= history.latest() => return Ok(None),
            Some(seq) => Some(seq),
            None if history.enabled() => Some(history.next_seq()),
            None => None,
        };
        let event = match seq {
            Some(seq) => event.with_id(seq.to_event_id()),
            None => event,
        };
        let frame = event.encode();
        let _span = tracing::trace_span!("sse_publish", id = ?seq).entered();
        if let Some(seq) = seq {
            history.record(seq, topics, &frame);
        }
        let mut tally = Tally::new(seq);
        self.push_logged(&mut tally, topics, &[], &frame);
        drop(history);
        if seq.is_some() {
            self.start_expiry();
        }
        Ok(Some((tally, frame.len())))
    }

    /// Pushes an event with an id to everyone (`topics` `None`) or to the subscribers
    /// of `topics` that read none of `except`, skipping the clients a resume source
    /// holds. Under the publish lock.
    fn push_logged(
        &self,
        tally: &mut Tally,
        topics: Option<&[Topic]>,
        except: &[Topic],
        frame: &Bytes,
    ) {
        let mut push = |c: &Arc<Client>| {
            if !c.is_held() && !except.iter().any(|t| c.is_subscribed(t)) {
                tally.push(c, frame);
            }
        };
        match topics {
            None => self.manager.for_each(&mut push),
            Some(topics) => self.manager.for_each_subscriber(topics, &mut push),
        }
    }

    /// Pushes a frame a backplane encoded, with its own id, to `target`'s clients
    /// (those of topics: unless they read one of `except`); not recorded.
    fn deliver_frame(
        &self,
        target: &Target,
        frame: &Bytes,
        except: &[Topic],
    ) -> Result<Delivery, Error> {
        let mut tally = Tally::new(None);
        match target {
            Target::Client(id) => tally = self.send_direct(id, frame)?.0,
            _ => {
                let _history = self.lock_publish();
                if !self.accepting.load(Ordering::Acquire) {
                    return Err(Error::ShuttingDown);
                }
                let topics = match target {
                    Target::Topics(topics) => Some(&topics[..]),
                    _ => None,
                };
                self.push_logged(&mut tally, topics, except, frame);
            }
        }
        Ok(self.account(tally, frame.len()))
    }

    /// Counts what a publish did and runs the slow-client hooks, outside any lock.
    fn account(&self, tally: Tally, frame_len: usize) -> Delivery {
        let c = &self.counters;
        bump(&c.published, 1);
        bump(&c.queued, tally.delivery.queued as u64);
        bump(&c.queued_bytes, (tally.delivery.queued * frame_len) as u64);
        bump(&c.dropped_oldest, tally.dropped_oldest);
        bump(&c.dropped_newest, tally.dropped_newest);
        bump(&c.disconnected_slow, tally.delivery.disconnected as u64);
        for (client, action) in &tally.slow {
            tracing::debug!(client = %client.id(), ?action, "slow client");
            self.hooks.on_slow_client(client, *action);
            if *action == SlowClientAction::Disconnected {
                self.remove(client);
            }
        }
        tally.delivery
    }

    fn change_topics(&self, id: &ClientId, topics: &[Topic], add: bool) -> Result<usize, Error> {
        let mut topics = topics.to_vec();
        topics.sort();
        topics.dedup();
        // Under the publish lock, so a publish reaches a connection either before or
        // after the change, never halfway.
        let _history = self.lock_publish();
        let mut clients = Vec::new();
        self.manager
            .for_each_with_id(id, &mut |c| clients.push(Arc::clone(c)));
        if clients.is_empty() {
            return Err(Error::NotConnected);
        }
        if add {
            // All or nothing: every connection may take every topic, or none changes.
            for client in &clients {
                self.check_subscription(client, &topics)?;
            }
        }
        for client in &clients {
            let mut current = client.lock_topics();
            if client.is_removed() {
                continue;
            }
            let changed: Vec<Topic> = topics
                .iter()
                .filter(|t| current.binary_search(t).is_ok() != add)
                .cloned()
                .collect();
            if changed.is_empty() {
                continue;
            }
            // Under the client's topics lock, so that a removal's `leave` comes after.
            let interests = changed.iter().cloned().map(Interest::Topic);
            if add {
                self.interest.join(interests);
            } else {
                self.interest.leave(interests);
            }
            let mut next: Vec<Topic> = if add {
                self.manager.subscribe(client, &changed);
                current.iter().chain(&changed).cloned().collect()
            } else {
                self.manager.unsubscribe(client, &changed);
                current
                    .iter()
                    .filter(|t| !changed.contains(t))
                    .cloned()
                    .collect()
            };
            next.sort();
            next.dedup();
            *current = next.into();
        }
        Ok(clients.len())
    }

    /// Whether `client` may also subscribe to `topics`: `Forbidden` for a topic not
    /// granted, `Invalid` past the topics allowed per client.
    fn check_subscription(&self, client: &Client, topics: &[Topic]) -> Result<(), Error> {
        client.grants().check(topics)?;
        let current = client.lock_topics();
        let new = topics.iter().filter(|t| !current.contains(t)).count();
        if current.len() + new > self.config.max_topics {
            return Err(too_many_topics(self.config.max_topics));
        }
        Ok(())
    }
}
