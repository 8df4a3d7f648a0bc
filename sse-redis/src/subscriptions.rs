//! Which channels this node wants and which Redis has confirmed: the core's interests
//! become channel subscriptions, sent to the shard that holds each channel.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex},
};

use sse_core::{ClientId, Interest, InterestListener, Topic};
use tokio::sync::mpsc::UnboundedSender;

use crate::{partition::Layout, shard::Command};

/// Per channel: whether it is wanted (a local reader reads it, or a live
/// subscription is being set up), and whether its subscription is in place
/// (confirmed by Redis, the shard caught up).
#[derive(Debug, Default)]
pub(crate) struct Subscriptions {
    channels: Mutex<HashMap<String, Channel>>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Channel {
    readers: bool,
    /// Live subscriptions waiting for the channel before they take effect.
    pins: u32,
    confirmed: bool,
}

impl Channel {
    fn wanted(&self) -> bool {
        self.readers || self.pins > 0
    }
}

impl Subscriptions {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Channel>> {
        self.channels.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Marks whether local readers read `channel`; returns whether that changed
    /// whether it is wanted.
    pub(crate) fn want(&self, channel: &str, readers: bool) -> bool {
        self.change(channel, |c| c.readers = readers)
    }

    /// Wants `channel` for a live subscription being set up; returns whether it was
    /// not wanted before.
    pub(crate) fn pin(&self, channel: &str) -> bool {
        self.change(channel, |c| c.pins += 1)
    }

    /// The live subscription is set up (or failed); returns whether `channel` is no
    /// longer wanted.
    pub(crate) fn unpin(&self, channel: &str) -> bool {
        self.change(channel, |c| c.pins = c.pins.saturating_sub(1))
    }

    fn change(&self, channel: &str, change: impl FnOnce(&mut Channel)) -> bool {
        let mut channels = self.lock();
        let entry = channels.entry(channel.to_owned()).or_default();
        let before = entry.wanted();
        change(entry);
        before != entry.wanted()
    }

    /// Redis confirmed these channels, and their partitions are caught up.
    pub(crate) fn confirm<'a>(&self, channels: impl IntoIterator<Item = &'a String>) {
        let mut all = self.lock();
        for channel in channels {
            if let Some(c) = all.get_mut(channel) {
                c.confirmed = c.wanted();
            }
        }
    }

    /// The channel is unsubscribed (or its connection lost): no longer confirmed.
    /// Forgotten when no reader wants it either.
    pub(crate) fn unconfirm<'a>(&self, channels: impl IntoIterator<Item = &'a String>) {
        let mut all = self.lock();
        for channel in channels {
            if let Some(c) = all.get_mut(channel) {
                c.confirmed = false;
                if !c.wanted() {
                    all.remove(channel);
                }
            }
        }
    }

    /// Forgets `channel` unless a reader wants it again; returns whether it did. The
    /// check and the change are one step, so a reader that comes back meanwhile
    /// keeps it (its subscribe command follows).
    pub(crate) fn forget_if_unwanted(&self, channel: &str) -> bool {
        let mut all = self.lock();
        match all.get(channel) {
            Some(c) if c.wanted() => false,
            _ => {
                all.remove(channel);
                true
            }
        }
    }

    /// Whether every one of `channels` is wanted and confirmed: a client reading only
    /// these takes live events at once.
    pub(crate) fn all_in_place<'a>(&self, mut channels: impl Iterator<Item = &'a str>) -> bool {
        let all = self.lock();
        channels.all(|ch| all.get(ch).is_some_and(|c| c.wanted() && c.confirmed))
    }
}

/// Turns the core's interests into subscriptions: marks the channel, then tells its
/// shard, in the order the core reports them.
#[derive(Debug)]
pub(crate) struct Listener {
    pub(crate) layout: Layout,
    pub(crate) subscriptions: Arc<Subscriptions>,
    pub(crate) shards: Vec<UnboundedSender<Command>>,
}

impl Listener {
    pub(crate) fn channel_of(layout: &Layout, interest: &Interest) -> Option<(String, usize)> {
        match interest {
            Interest::Topic(topic) => {
                let p = layout.of_topic(topic);
                Some((layout.topic_channel(p, topic), layout.shard(p)))
            }
            Interest::Client(id) => Some((
                layout.client_channel(id),
                layout.shard(layout.of_client(id)),
            )),
            _ => None,
        }
    }
}

impl InterestListener for Listener {
    fn on_interest(&self, interest: &Interest, interested: bool) {
        let Some((channel, shard)) = Self::channel_of(&self.layout, interest) else {
            return;
        };
        if self.subscriptions.want(&channel, interested) {
            // The shard's task outlives every service that sends to it, but not the
            // backplane: after that the service is local and nothing listens.
            let _ = self.shards[shard].send(if interested {
                Command::Subscribe(channel)
            } else {
                Command::Unsubscribe(channel)
            });
        }
    }
}

/// The channels a client of `id` and `topics` reads: its topics', its own, and the
/// broadcast channel.
pub(crate) fn channels_of(layout: &Layout, id: &ClientId, topics: &[Topic]) -> Vec<String> {
    topics
        .iter()
        .map(|t| layout.topic_channel(layout.of_topic(t), t))
        .chain([layout.client_channel(id), layout.broadcast_channel()])
        .collect()
}
