//! A shard subscriber's connection: PUB/SUB on one server, or sharded PUB/SUB over
//! a Redis Cluster (`SSUBSCRIBE`, each channel on the node of its slot).

use futures::StreamExt;
use redis::{
    aio::{PubSubSink, PubSubStream},
    cluster::ClusterClientBuilder,
    cluster_async::ClusterConnection,
    Client, ConnectionInfo, Msg, ProtocolVersion, PushInfo, PushKind, RedisResult, Value,
};
use tokio::sync::mpsc;

use crate::RedisOptions;

/// Where a subscriber connects.
pub(crate) enum Source {
    Server(Client),
    /// A cluster's seed nodes.
    Cluster(Vec<ConnectionInfo>),
}

impl Source {
    /// A fresh connection, split into the side that asks and the side that hears.
    pub(crate) async fn open(&self, options: &RedisOptions) -> RedisResult<(Asker, Hearer)> {
        match self {
            Source::Server(client) => {
                let (sink, stream) = client.get_async_pubsub().await?.split();
                Ok((Asker::Server(sink), Hearer::Server(stream)))
            }
            Source::Cluster(seeds) => {
                let (tx, rx) = mpsc::unbounded_channel();
                let client = cluster_builder(seeds, options)
                    .use_protocol(ProtocolVersion::RESP3)
                    .push_sender(tx)
                    .build()?;
                let conn = client.get_async_connection().await?;
                Ok((Asker::Cluster(conn), Hearer::Cluster(rx)))
            }
        }
    }
}

/// A cluster client builder from the options; its commands, like those of a single
/// server's connection manager, time out after the publish timeout.
pub(crate) fn cluster_builder(
    seeds: &[ConnectionInfo],
    options: &RedisOptions,
) -> ClusterClientBuilder {
    ClusterClientBuilder::new(seeds.to_vec())
        .connection_timeout(options.connect_timeout)
        .response_timeout(options.publish_timeout)
        .retries(2)
        .min_retry_wait(options.backoff.0.as_millis() as u64)
        .max_retry_wait(options.backoff.1.as_millis() as u64)
}

/// The side of a subscriber's connection that subscribes; clones share it.
#[derive(Clone)]
pub(crate) enum Asker {
    Server(PubSubSink),
    Cluster(ClusterConnection),
}

impl Asker {
    pub(crate) async fn subscribe(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            Asker::Server(sink) => sink.subscribe(channel).await,
            Asker::Cluster(conn) => conn.ssubscribe(channel).await,
        }
    }

    pub(crate) async fn unsubscribe(&mut self, channel: &str) -> RedisResult<()> {
        match self {
            Asker::Server(sink) => sink.unsubscribe(channel).await,
            Asker::Cluster(conn) => conn.sunsubscribe(channel).await,
        }
    }

    /// A round trip: to the server, or to every node of the cluster.
    pub(crate) async fn ping(&mut self) -> RedisResult<()> {
        match self {
            Asker::Server(sink) => sink.ping::<Value>().await.map(drop),
            Asker::Cluster(conn) => redis::cmd("PING")
                .query_async::<Value>(conn)
                .await
                .map(drop),
        }
    }
}

/// The side of a subscriber's connection that hears what Redis sends.
pub(crate) enum Hearer {
    Server(PubSubStream),
    Cluster(mpsc::UnboundedReceiver<PushInfo>),
}

/// What a subscriber hears.
pub(crate) enum Heard {
    Message(Message),
    /// A channel is subscribed on a node: asked for, or subscribed again by the
    /// cluster client after it found the channel's slot elsewhere.
    Subscribed(String),
    /// A node no longer sends a channel: asked for, or its slot moved away.
    Unsubscribed(String),
    /// The connection to a node of the cluster closed.
    Disconnected,
}

/// A message on a channel.
pub(crate) enum Message {
    Server(Msg),
    Cluster { channel: String, payload: Vec<u8> },
}

impl Message {
    pub(crate) fn channel(&self) -> &str {
        match self {
            Message::Server(msg) => msg.get_channel_name(),
            Message::Cluster { channel, .. } => channel,
        }
    }

    pub(crate) fn payload(&self) -> &[u8] {
        match self {
            Message::Server(msg) => msg.get_payload_bytes(),
            Message::Cluster { payload, .. } => payload,
        }
    }
}

impl Hearer {
    /// What is heard next; `None` once the connection is gone.
    pub(crate) async fn next(&mut self) -> Option<Heard> {
        match self {
            Hearer::Server(stream) => stream
                .next()
                .await
                .map(|m| Heard::Message(Message::Server(m))),
            Hearer::Cluster(pushes) => loop {
                if let Some(heard) = heard(pushes.recv().await?) {
                    return Some(heard);
                }
            },
        }
    }

    /// What has been heard already, if anything, without waiting.
    pub(crate) fn try_next(&mut self) -> Option<Heard> {
        match self {
            Hearer::Server(_) => None,
            Hearer::Cluster(pushes) => loop {
                if let Some(heard) = heard(pushes.try_recv().ok()?) {
                    return Some(heard);
                }
            },
        }
    }
}

fn heard(push: PushInfo) -> Option<Heard> {
    let mut data = push.data.into_iter();
    let mut text = || match data.next() {
        Some(Value::BulkString(bytes)) => Some(bytes),
        _ => None,
    };
    match push.kind {
        PushKind::SMessage => {
            let channel = String::from_utf8(text()?).ok()?;
            let payload = text()?;
            Some(Heard::Message(Message::Cluster { channel, payload }))
        }
        PushKind::SSubscribe => String::from_utf8(text()?).ok().map(Heard::Subscribed),
        PushKind::SUnsubscribe => String::from_utf8(text()?).ok().map(Heard::Unsubscribed),
        PushKind::Disconnection => Some(Heard::Disconnected),
        _ => None,
    }
}
