//! This node's side of delivery: its position in every partition, and the one lock
//! under which it delivers, raises positions and releases held clients.

use std::sync::{Arc, Mutex};

use bytes::Bytes;
use sse_core::{EventSeq, Hold, Service, Target, Topic};

use crate::{
    cut::{Cut, EncodedCut},
    health::Health,
    message::{self, Logged},
    partition::{Layout, Partition},
};

/// Delivers what the shards read, in one order, each logged message once.
#[derive(Debug)]
pub(crate) struct Node {
    pub(crate) layout: Layout,
    pub(crate) service: Service,
    pub(crate) health: Arc<Health>,
    /// The positions, held while delivering: everything at or before a position has
    /// been delivered, so a message read again (twice on channels, or from the log)
    /// is dropped, and a client released here has every earlier event.
    cut: Mutex<EncodedCut>,
    /// A copy of the positions for readers that may not take `cut` (admission runs
    /// under the service's lock, which a delivery takes inside `cut`).
    seen: Mutex<Cut>,
}

impl Node {
    pub(crate) fn new(layout: Layout, service: Service, health: Arc<Health>, start: Cut) -> Self {
        Node {
            layout,
            service,
            health,
            seen: Mutex::new(start.clone()),
            cut: Mutex::new(EncodedCut::new(start)),
        }
    }

    /// Delivers `messages`, read in order from `partition`'s channel or log, each
    /// unless the node is already past it. Returns how many were new.
    pub(crate) fn deliver(&self, partition: Partition, messages: &[Logged]) -> usize {
        let mut cut = lock(&self.cut);
        let mut new = 0;
        // Consecutive messages usually share their topics: their target too.
        let mut target: Option<(&[Topic], Target)> = None;
        for message in messages {
            if message.pos <= cut.get(partition) {
                continue;
            }
            cut.set(partition, message.pos);
            let frame = message::with_id_by(&message.frame, cut.id_len(), |out| cut.write_id(out));
            let same = matches!(&target, Some((topics, _)) if *topics == &message.topics[..]);
            if !same {
                let to = if message.topics.is_empty() {
                    Target::All
                } else {
                    Target::Topics(message.topics.clone())
                };
                target = Some((&message.topics, to));
            }
            if let Some((_, to)) = &target {
                // Refused only while the service shuts down: its clients are leaving.
                let _ = self.service.deliver_frame(to, &frame, &message.except);
            }
            new += 1;
        }
        if new > 0 {
            lock(&self.seen).clone_from(cut.cut());
            self.health
                .received
                .fetch_add(new as u64, std::sync::atomic::Ordering::Relaxed);
        }
        new
    }

    /// Moves the node's position in `partition` to `pos` when it is behind: nothing
    /// of its interest lies between (the caller has read it).
    pub(crate) fn raise(&self, partition: Partition, pos: EventSeq) {
        let mut cut = lock(&self.cut);
        if cut.get(partition) < pos {
            cut.set(partition, pos);
            lock(&self.seen).clone_from(cut.cut());
        }
    }

    /// The node's position in `partition`.
    pub(crate) fn position(&self, partition: Partition) -> EventSeq {
        lock(&self.seen).get(partition)
    }

    /// The positions, from a copy: for admission.
    pub(crate) fn seen(&self) -> Cut {
        lock(&self.seen).clone()
    }

    /// Lets a held client take live events from now on, and returns the positions up
    /// to which it must read the logs instead.
    pub(crate) fn release(&self, hold: Hold) -> Cut {
        let cut = lock(&self.cut);
        hold.release();
        cut.cut().clone()
    }

    /// Delivers `frame` (no id: not in any log) to this node's clients of `target`,
    /// except readers of `except`.
    pub(crate) fn deliver_locally(
        &self,
        target: &Target,
        frame: &Bytes,
        except: &[Topic],
    ) -> usize {
        self.service
            .deliver_frame(target, frame, except)
            .map_or(0, |d| d.queued)
    }
}

fn lock<T>(mutex: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|e| e.into_inner())
}
