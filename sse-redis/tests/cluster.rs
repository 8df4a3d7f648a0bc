//! Two or three services on one real Redis, as two or three server instances.

mod common;

use std::{
    collections::HashSet,
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use common::{eventually, Frame, RedisCluster, RedisServer, Sse};
use sse_codec::{Event, EventType};
use sse_core::{ClientId, ConnectRequest, Service, ServiceBuilder, Topic};
use sse_redis::{BackplaneHooks, Error, RedisBackplane, RedisOptions};

fn builder() -> ServiceBuilder {
    let mut b = Service::builder();
    b.keep_alive(None);
    b
}

async fn instance(server: &RedisServer, options: RedisOptions) -> RedisBackplane {
    within_10s(RedisBackplane::connect(&server.url(), &builder(), options)).await
}

fn topic(name: &str) -> Topic {
    Topic::new(name).unwrap()
}

fn client(service: &Service, id: &str, topics: &[&str]) -> Sse {
    Sse::new(
        service
            .connect(
                ConnectRequest::new()
                    .client_id(id)
                    .topics(topics.iter().copied()),
            )
            .unwrap(),
    )
}

fn datas(frames: &[Frame]) -> Vec<&str> {
    frames.iter().map(|f| f.data.as_str()).collect()
}

/// A connection of its own to the Redis at `url`, for what a test does to it directly.
async fn admin(url: String) -> redis::aio::MultiplexedConnection {
    let client = redis::Client::open(url).unwrap();
    client.get_multiplexed_async_connection().await.unwrap()
}

/// The shards' URLs, for `connect_shards`.
fn urls(servers: &[RedisServer]) -> Vec<String> {
    servers.iter().map(RedisServer::url).collect()
}

async fn instance_on(servers: &[RedisServer], options: RedisOptions) -> RedisBackplane {
    let urls = urls(servers);
    let urls: Vec<&str> = urls.iter().map(String::as_str).collect();
    within_10s(RedisBackplane::connect_shards(&urls, &builder(), options)).await
}

/// An instance on a Redis Cluster.
async fn instance_in(cluster: &RedisCluster, options: RedisOptions) -> RedisBackplane {
    let urls = cluster.urls();
    let seeds: Vec<&str> = urls.iter().map(String::as_str).collect();
    within_10s(RedisBackplane::connect_cluster(&seeds, &builder(), options)).await
}

async fn within_10s(
    connect: impl std::future::Future<Output = Result<RedisBackplane, Error>>,
) -> RedisBackplane {
    tokio::time::timeout(Duration::from_secs(10), connect)
        .await
        .expect("connect within 10 s")
        .expect("connect")
}

/// Every kind of message, between two instances on the same shards.
async fn every_kind_of_message(a: RedisBackplane, b: RedisBackplane) {
    let mut a_news = client(a.service(), "a-news", &["news"]);
    let mut b_sport = client(b.service(), "b-sport", &["sport"]);
    let mut b_news = client(b.service(), "b-news", &["news"]);
    // Once a client has its `sse-client` event, its channels are in place.
    for sse in [&mut a_news, &mut b_sport, &mut b_news] {
        sse.connected().await;
    }

    // Each message is read where it goes before the next is sent: partitions on
    // different shards arrive over different connections, in no order between them.
    let (mut got_a, mut got_s, mut got_n) = (Vec::new(), Vec::new(), Vec::new());
    a.broadcast(Event::message("hello")).await.unwrap();
    got_a.push(a_news.next().await);
    got_s.push(b_sport.next().await);
    got_n.push(b_news.next().await);
    b.publish(&topic("news"), Event::message("n1"))
        .await
        .unwrap();
    got_a.push(a_news.next().await);
    got_n.push(b_news.next().await);
    a.publish(&topic("sport"), Event::message("s1"))
        .await
        .unwrap();
    got_s.push(b_sport.next().await);
    b.publish_many(&[topic("news"), topic("sport")], Event::message("both"))
        .await
        .unwrap();
    got_a.push(a_news.next().await);
    got_s.push(b_sport.next().await);
    got_n.push(b_news.next().await);
    let typed = Event::message("typed").with_event(EventType::new("chat").unwrap());
    a.broadcast(typed).await.unwrap();
    got_a.push(a_news.next().await);
    got_s.push(b_sport.next().await);
    got_n.push(b_news.next().await);
    // Direct messages reach only the instances holding the id.
    let id = |s: &str| ClientId::new(s).unwrap();
    let to_a = b.send_to(&id("a-news"), Event::message("to-a")).await;
    assert_eq!(to_a.unwrap(), 1);
    got_a.push(a_news.next().await);
    let to_b = a.send_to(&id("b-sport"), Event::message("to-b")).await;
    assert_eq!(to_b.unwrap(), 1);
    got_s.push(b_sport.next().await);
    let lost = a.send_to(&id("nobody"), Event::message("lost")).await;
    assert_eq!(lost.unwrap(), 0, "connected nowhere");
    b.broadcast(Event::message("end")).await.unwrap();
    got_a.extend(a_news.until("end").await);
    got_s.extend(b_sport.until("end").await);
    got_n.extend(b_news.until("end").await);

    let got = got_a;
    assert_eq!(datas(&got), ["hello", "n1", "both", "typed", "to-a", "end"]);
    assert_eq!(got[3].event.as_deref(), Some("chat"));
    assert_eq!(got[4].id, None, "direct messages carry no id");
    assert!(got
        .iter()
        .filter(|f| f.data != "to-a")
        .all(|f| f.id.as_deref().is_some_and(|id| id.starts_with("2."))));
    let got = got_s;
    assert_eq!(datas(&got), ["hello", "s1", "both", "typed", "to-b", "end"]);
    let on_b = got_n;
    assert_eq!(datas(&on_b), ["hello", "n1", "both", "typed", "end"]);
    // One id per event on an instance, shared by its recipients.
    assert_eq!(on_b.last().unwrap().id, got.last().unwrap().id);
    for sse in [&mut a_news, &mut b_sport, &mut b_news] {
        sse.quiet(Duration::from_millis(200)).await;
    }
    assert_eq!(a.status().published + b.status().published, 10);
}

#[tokio::test]
async fn every_kind_of_message_reaches_the_right_clients_once() {
    let server = [RedisServer::start()];
    let a = instance_on(&server, RedisOptions::new()).await;
    let b = instance_on(&server, RedisOptions::new()).await;
    every_kind_of_message(a, b).await;
}

#[tokio::test]
async fn partitions_spread_over_independent_servers() {
    let servers = [
        RedisServer::start(),
        RedisServer::start(),
        RedisServer::start(),
    ];
    let a = instance_on(&servers, RedisOptions::new()).await;
    let b = instance_on(&servers, RedisOptions::new()).await;
    every_kind_of_message(a, b).await;
}

#[tokio::test]
async fn partitions_spread_over_a_redis_cluster() {
    let cluster = RedisCluster::start(3, 0);
    let a = instance_in(&cluster, RedisOptions::new()).await;
    let b = instance_in(&cluster, RedisOptions::new()).await;
    every_kind_of_message(a, b).await;
}

/// A client of `topics` resuming after `last` on `service`.
fn resume(service: &Service, id: &str, topics: &[&str], last: &str) -> Sse {
    Sse::new(
        service
            .connect(
                ConnectRequest::new()
                    .client_id(id)
                    .topics(topics.iter().copied())
                    .last_event_id(last),
            )
            .unwrap(),
    )
}

#[tokio::test]
async fn a_client_resumes_on_an_instance_that_never_saw_its_topic() {
    let server = RedisServer::start();
    let a = instance(&server, RedisOptions::new()).await;
    let b = instance(&server, RedisOptions::new()).await;

    let mut first = client(a.service(), "c", &["news"]);
    first.connected().await;
    a.broadcast(Event::message("e1")).await.unwrap();
    b.publish(&topic("news"), Event::message("e2"))
        .await
        .unwrap();
    let seen = first.until("e2").await;
    let last = seen[1].id.clone().unwrap();
    drop(first);

    // Missed while away: two for this client, one not. b has no reader of news.
    b.publish(&topic("news"), Event::message("e3"))
        .await
        .unwrap();
    b.publish(&topic("sport"), Event::message("other"))
        .await
        .unwrap();
    a.broadcast(Event::message("e4")).await.unwrap();

    let mut again = resume(b.service(), "c", &["news"], &last);
    again.connected().await;
    a.publish(&topic("news"), Event::message("live"))
        .await
        .unwrap();
    assert_eq!(datas(&again.until("live").await), ["e3", "e4", "live"]);
    again.quiet(Duration::from_millis(200)).await;

    // An instance started later resumes from Redis too.
    let c = instance(&server, RedisOptions::new()).await;
    let mut late = resume(c.service(), "c", &["news"], &last);
    assert_eq!(datas(&late.until("live").await), ["e3", "e4", "live"]);
    late.quiet(Duration::from_millis(100)).await;

    // An id of another format is reset, not skipped, and nothing old is replayed.
    let mut old = resume(c.service(), "d", &["news"], "1-0");
    let reset = old.next().await;
    assert_eq!(reset.event.as_deref(), Some("sse-reset"));
    assert_eq!(reset.data, "unknown");
    assert!(reset.id.is_some(), "an id to resume from next time");
    old.quiet(Duration::from_millis(100)).await;
}

#[tokio::test]
async fn an_id_older_than_the_logs_hold_is_too_old() {
    let server = RedisServer::start();
    let a = instance(&server, RedisOptions::new().max_len(4)).await;
    let mut reader = client(a.service(), "r", &[]);
    reader.connected().await;
    let mut ids = Vec::new();
    for n in 0..12 {
        a.broadcast(Event::message(n.to_string())).await.unwrap();
        ids.push(reader.next().await.id.unwrap());
    }
    // Just before the last three: exactly them.
    let mut ok = resume(a.service(), "r2", &[], &ids[8]);
    assert_eq!(datas(&ok.until("11").await), ["9", "10", "11"]);
    ok.quiet(Duration::from_millis(100)).await;
    // From the start: told, then what is held, ending with the newest.
    let mut reset = resume(a.service(), "r3", &[], &ids[0]);
    let first = reset.next().await;
    assert_eq!(
        (first.event.as_deref(), first.data.as_str()),
        (Some("sse-reset"), "too-old")
    );
    assert_eq!(datas(&reset.until("11").await), ["8", "9", "10", "11"]);
    reset.quiet(Duration::from_millis(100)).await;
}

#[derive(Debug, Default)]
struct Counts {
    down: AtomicUsize,
    up: AtomicUsize,
}

#[derive(Debug, Clone, Default)]
struct Counting(Arc<Counts>);

impl BackplaneHooks for Counting {
    fn on_down(&self, _reason: &str) {
        self.0.down.fetch_add(1, Ordering::SeqCst);
    }
    fn on_up(&self, _down_for: Duration) {
        self.0.up.fetch_add(1, Ordering::SeqCst);
    }
}

#[tokio::test]
async fn an_outage_keeps_local_delivery_and_recovers() {
    let mut server = RedisServer::start();
    let hooks = Counting::default();
    let options = RedisOptions::new()
        .publish_timeout(Duration::from_secs(1))
        .connect_timeout(Duration::from_secs(1))
        .ping_interval(Duration::from_millis(200))
        .backoff(Duration::from_millis(20), Duration::from_millis(200));
    let slow_reader = options
        .clone()
        .backoff(Duration::from_millis(20), Duration::from_secs(1))
        .hooks(hooks.clone());
    let a = instance(&server, slow_reader).await;
    let b = instance(&server, options).await;
    let mut on_a = client(a.service(), "x", &["news"]);
    let mut on_b = client(b.service(), "y", &["news"]);
    on_a.connected().await;
    on_b.connected().await;

    a.broadcast(Event::message("before")).await.unwrap();
    assert_eq!(on_a.next().await.data, "before");
    assert_eq!(on_b.next().await.data, "before");

    server.kill();
    // Publishing fails clearly; this instance's clients still get it, without an id.
    let all = a.broadcast(Event::message("during-all")).await;
    let news = a
        .publish(&topic("news"), Event::message("during-topic"))
        .await;
    let x = ClientId::new("x").unwrap();
    let direct = a.send_to(&x, Event::message("during-direct")).await;
    for (event, error) in [
        ("during-all", all.err()),
        ("during-topic", news.err()),
        ("during-direct", direct.err()),
    ] {
        match error {
            Some(Error::Unavailable { local: Some(1), .. }) => {}
            other => panic!("{event}: expected Unavailable with local delivery, got {other:?}"),
        }
        let got = on_a.next().await;
        assert_eq!((got.data.as_str(), got.id), (event, None));
    }
    // A direct message keeps its own id, as with `Service::send_to`.
    let own = Event::message("own").with_id(sse_codec::EventId::new("own-7").unwrap());
    assert!(a.send_to(&x, own).await.unwrap_err().is_unavailable());
    assert_eq!(on_a.next().await.id.as_deref(), Some("own-7"));
    // A client connecting during the outage is told its history cannot be read,
    // without an id, and its stream ends: it comes back with the id it had.
    let mut newcomer = client(a.service(), "z", &[]);
    let told = newcomer.next().await;
    assert_eq!(
        (told.event.as_deref(), told.data.as_str(), told.id),
        (Some("sse-reset"), "unavailable", None)
    );
    assert!(
        a.service().client(&ClientId::new("z").unwrap()).is_none(),
        "removed"
    );
    assert_eq!(
        newcomer.next_within(Duration::from_secs(1)).await,
        None,
        "ended"
    );
    assert!(b
        .broadcast(Event::message("b-during"))
        .await
        .unwrap_err()
        .is_unavailable());
    assert_eq!(on_b.next().await.data, "b-during");
    eventually(Duration::from_secs(5), "both readers to notice", || {
        !a.status().up && !b.status().up
    })
    .await;
    assert_eq!(hooks.0.down.load(Ordering::SeqCst), 1);
    assert!(a.status().outages >= 1 && a.status().local_fallbacks == 4);

    server.restart();
    // Wait, with a probe that reaches no client, until b's publisher is back; a's
    // reader may still be waiting to reconnect.
    let probe = topic("probe");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while b.publish(&probe, Event::message("probe")).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "b publishes again within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    b.broadcast(Event::message("after")).await.unwrap();
    // Nothing published during the outage shows up again; 'after' arrives once, with
    // an id, on both instances (on a once its subscriber reconnects).
    for sse in [&mut on_a, &mut on_b] {
        let got = sse.until("after").await;
        assert_eq!(datas(&got), ["after"]);
        assert!(got[0].id.is_some());
    }
    eventually(Duration::from_secs(5), "both readers to recover", || {
        a.status().up && b.status().up
    })
    .await;
    assert_eq!(hooks.0.up.load(Ordering::SeqCst), 1);
    assert_eq!(hooks.0.down.load(Ordering::SeqCst), 1);
    // Cross-instance delivery is back both ways.
    a.publish(&topic("news"), Event::message("back"))
        .await
        .unwrap();
    assert_eq!(on_b.next().await.data, "back");
    assert_eq!(on_a.next().await.data, "back");
    for sse in [&mut on_a, &mut on_b] {
        sse.quiet(Duration::from_millis(200)).await;
    }
}

#[tokio::test]
async fn connect_fails_cleanly_without_redis() {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let result = RedisBackplane::connect(
        &format!("redis://127.0.0.1:{port}/"),
        &builder(),
        RedisOptions::new().connect_timeout(Duration::from_millis(500)),
    )
    .await;
    assert!(matches!(result, Err(Error::Connect(_))), "{result:?}");
    let result = RedisBackplane::connect("not a url", &builder(), RedisOptions::new()).await;
    assert!(matches!(result, Err(Error::Config(_))), "{result:?}");
}

/// (instances, connections, topic subscribers) as `backplane` reads them.
type Counted = (usize, u64, std::collections::HashMap<Topic, u64>);

/// Reads the cluster counts until they are `expected`, for at most 5 s; the last read.
async fn counts_until(backplane: &RedisBackplane, expected: &Counted) -> Counted {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let counts = backplane.cluster_counts().await.expect("counts");
        let got = (counts.instances, counts.active, counts.topics);
        if &got == expected || tokio::time::Instant::now() >= deadline {
            return got;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[tokio::test]
async fn counts_over_every_live_instance() {
    let server = RedisServer::start();
    let options = RedisOptions::new().heartbeat(Duration::from_millis(100));
    let a = instance(&server, options.clone()).await;
    let b = instance(&server, options).await;
    assert_ne!(a.instance_id(), b.instance_id());
    let _x = client(a.service(), "x", &["news"]);
    let _y = client(a.service(), "y", &["news", "sport"]);
    let z = client(b.service(), "z", &["sport"]);
    let expect = |instances: usize, active: u64, news: u64, sport: u64| -> Counted {
        let topics = [("news", news), ("sport", sport)]
            .into_iter()
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| (topic(t), n))
            .collect();
        (instances, active, topics)
    };
    // Read from either instance: the same figures.
    let all = expect(2, 3, 2, 2);
    assert_eq!(counts_until(&b, &all).await, all);

    // A client leaves, then an instance stops: its share goes with it.
    drop(z);
    drop(b);
    let left = expect(1, 2, 2, 1);
    assert_eq!(counts_until(&a, &left).await, left);

    // An instance that died without cleaning up counts until its key expires.
    let mut conn = admin(server.url()).await;
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    redis::pipe()
        .hset("{sse:n}:node:ghost", "active", 5)
        .pexpire("{sse:n}:node:ghost", 300)
        .zadd("{sse:n}:nodes", "ghost", now_ms)
        .query_async::<()>(&mut conn)
        .await
        .unwrap();
    let counts = a.cluster_counts().await.unwrap();
    assert_eq!((counts.instances, counts.active), (2, 7));
    tokio::time::sleep(Duration::from_millis(400)).await;
    let counts = a.cluster_counts().await.unwrap();
    assert_eq!((counts.instances, counts.active), (1, 2), "expired");
}

#[tokio::test]
async fn a_publish_without_an_answer_is_an_unknown_outcome_and_a_keyed_retry_sends_nothing_more() {
    let server = RedisServer::start();
    let options = RedisOptions::new().publish_timeout(Duration::from_millis(200));
    let a = instance(&server, options.clone()).await;
    let b = instance(&server, options).await;
    let mut on_a = client(a.service(), "x", &[]);
    let mut on_b = client(b.service(), "y", &[]);
    on_a.connected().await;
    on_b.connected().await;

    // Redis holds writes for 800 ms: the send is not answered in time, then taken.
    let mut admin = admin(server.url()).await;
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(800)
        .arg("WRITE")
        .query_async::<()>(&mut admin)
        .await
        .unwrap();
    let target = sse_core::Target::All;
    let first = a
        .send_once(&target, Event::message("once"), "order-17")
        .await;
    assert!(
        matches!(first, Err(Error::UnknownOutcome { .. })),
        "{first:?}"
    );
    // Not delivered locally meanwhile; once Redis takes it, everyone gets it once.
    let got_a = on_a.next().await;
    let got_b = on_b.next().await;
    assert_eq!((got_a.data.as_str(), got_b.data.as_str()), ("once", "once"));
    assert!(got_a.id.is_some() && got_b.id.is_some());

    // The retry with the same key gets the first send's position and sends nothing.
    let retry = a
        .send_once(&target, Event::message("once"), "order-17")
        .await
        .expect("answered now")
        .expect("a position in the log");
    on_a.quiet(Duration::from_millis(300)).await;
    on_b.quiet(Duration::from_millis(300)).await;
    // Another key is another message.
    let other = a
        .send_once(&target, Event::message("twice"), "order-18")
        .await
        .unwrap();
    assert!(other.expect("a position") > retry);
    assert_eq!(on_b.next().await.data, "twice");
    // A keyed direct message, likewise.
    let y = sse_core::Target::Client(ClientId::new("y").unwrap());
    for _ in 0..2 {
        let sent = a.send_once(&y, Event::message("dm"), "dm-1").await.unwrap();
        assert_eq!(sent, None, "direct messages are not logged");
    }
    assert_eq!(on_b.next().await.data, "dm");
    on_b.quiet(Duration::from_millis(200)).await;
}

/// Where the channels are: one server, or the nodes of a cluster (sharded PUB/SUB).
enum Place<'a> {
    Server(&'a RedisServer),
    Cluster(&'a RedisCluster),
}

impl Place<'_> {
    fn urls(&self) -> Vec<String> {
        match self {
            Place::Server(server) => vec![server.url()],
            Place::Cluster(cluster) => cluster.urls(),
        }
    }

    /// `PUBSUB` `what` (prefixed with `SHARD` on a cluster) on every node.
    async fn pubsub<T: redis::FromRedisValue>(&self, what: &str, arg: &str) -> Vec<T> {
        let what = match self {
            Place::Server(_) => what.to_owned(),
            Place::Cluster(_) => format!("SHARD{what}"),
        };
        let mut replies = Vec::new();
        for url in self.urls() {
            let mut admin = admin(url).await;
            let cmd = redis::cmd("PUBSUB").arg(&what).arg(arg).clone();
            replies.push(cmd.query_async::<T>(&mut admin).await.unwrap());
        }
        replies
    }

    /// Subscribers of `channel`, over every node.
    async fn subscribers(&self, channel: &str) -> i64 {
        let counts: Vec<Vec<(String, i64)>> = self.pubsub("NUMSUB", channel).await;
        counts.into_iter().flatten().map(|(_, n)| n).sum()
    }

    /// The channel of `topic` among the subscribed ones.
    async fn channel_of(&self, topic: &str) -> String {
        let channels: Vec<Vec<String>> = self.pubsub("CHANNELS", &format!("*:t:{topic}")).await;
        channels
            .into_iter()
            .flatten()
            .next()
            .expect("someone subscribes to it")
    }
}

#[tokio::test]
async fn an_instance_receives_only_what_its_clients_read() {
    let server = RedisServer::start();
    let options = RedisOptions::new().unsubscribe_delay(Duration::from_millis(100));
    let a = instance(&server, options.clone()).await;
    let b = instance(&server, options).await;
    receives_only_what_its_clients_read(Place::Server(&server), a, b).await;
}

#[tokio::test]
async fn on_a_cluster_an_instance_receives_only_what_its_clients_read() {
    let cluster = RedisCluster::start(3, 0);
    let options = RedisOptions::new().unsubscribe_delay(Duration::from_millis(100));
    let a = instance_in(&cluster, options.clone()).await;
    let b = instance_in(&cluster, options).await;
    receives_only_what_its_clients_read(Place::Cluster(&cluster), a, b).await;
}

async fn receives_only_what_its_clients_read(
    place: Place<'_>,
    a: RedisBackplane,
    b: RedisBackplane,
) {
    let mut reader = client(a.service(), "reader", &["busy"]);
    reader.connected().await;
    let busy = place.channel_of("busy").await;
    assert_eq!(place.subscribers(&busy).await, 1, "only a");

    // 1,000 events of a topic b has no reader of: none of their bytes reach b.
    let payload = "x".repeat(64);
    for hundred in 0..10 {
        for n in hundred * 100..(hundred + 1) * 100 {
            b.publish(&topic("busy"), Event::message(format!("{n} {payload}")))
                .await
                .unwrap();
        }
        let last = format!("{} {payload}", hundred * 100 + 99);
        assert_eq!(reader.until(&last).await.len(), 100);
    }
    assert_eq!((b.status().received, b.status().received_bytes), (0, 0));
    assert!(a.status().received_bytes >= 64 * 1000);

    // A reader on b: b subscribes at once, and gets the topic from then on (what
    // was published well before it connected stays history).
    tokio::time::sleep(Duration::from_millis(50)).await;
    let mut late = client(b.service(), "late", &["busy"]);
    late.connected().await;
    assert_eq!(place.subscribers(&busy).await, 2);
    a.publish(&topic("busy"), Event::message("now"))
        .await
        .unwrap();
    assert_eq!(datas(&late.until("now").await), ["now"]);
    // It leaves: b unsubscribes after the delay, and receives nothing more.
    drop(late);
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while place.subscribers(&busy).await != 1 {
        assert!(tokio::time::Instant::now() < deadline, "b unsubscribes");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let before = b.status().received_bytes;
    a.publish(&topic("busy"), Event::message("after"))
        .await
        .unwrap();
    assert_eq!(reader.until("after").await.len(), 2);
    assert_eq!(b.status().received_bytes, before);
}

#[tokio::test]
async fn an_event_of_topics_in_several_partitions_reaches_each_reader_once() {
    let server = RedisServer::start();
    let a = instance(&server, RedisOptions::new()).await;
    let b = instance(&server, RedisOptions::new()).await;
    // Twenty topics fall in most of the sixteen partitions.
    let names: Vec<String> = (0..20).map(|n| format!("room-{n}")).collect();
    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    let topics: Vec<Topic> = names.iter().map(|n| topic(n)).collect();
    let mut every = client(a.service(), "every", &all);
    let mut one = client(b.service(), "one", &all[7..8]);
    let mut some = client(b.service(), "some", &all[3..12]);
    for sse in [&mut every, &mut one, &mut some] {
        sse.connected().await;
    }
    let first = every_id(&mut every, &a).await;
    one.until("mark").await;
    some.until("mark").await;
    for n in 0..3 {
        a.publish_many(&topics, Event::message(format!("m{n}")))
            .await
            .unwrap();
    }
    b.broadcast(Event::message("end")).await.unwrap();
    for sse in [&mut every, &mut one, &mut some] {
        assert_eq!(datas(&sse.until("end").await), ["m0", "m1", "m2", "end"]);
        sse.quiet(Duration::from_millis(100)).await;
    }
    // Replayed from the logs, likewise once each.
    let mut again = resume(b.service(), "every", &all, &first);
    assert_eq!(datas(&again.until("end").await), ["m0", "m1", "m2", "end"]);
    again.quiet(Duration::from_millis(100)).await;
}

/// Broadcasts a marker and returns its id as `sse` got it.
async fn every_id(sse: &mut Sse, through: &RedisBackplane) -> String {
    through.broadcast(Event::message("mark")).await.unwrap();
    let got = sse.until("mark").await;
    got.last().unwrap().id.clone().unwrap()
}

#[tokio::test]
async fn a_client_moving_to_an_instance_whose_link_was_cut_gets_every_event_once() {
    let server = RedisServer::start();
    let a = instance(&server, RedisOptions::new()).await;
    // b's link stays down about a second and a half once cut.
    let slow = RedisOptions::new()
        .backoff(Duration::from_millis(1500), Duration::from_secs(2))
        .connect_timeout(Duration::from_secs(5));
    let b = instance(&server, slow).await;
    let mut on_a = client(a.service(), "mover", &["news"]);
    let mut watcher = client(b.service(), "watcher", &["news"]);
    on_a.connected().await;
    watcher.connected().await;
    let publish = |n: usize| {
        let a = a.clone();
        async move {
            a.publish(&topic("news"), Event::message(format!("e{n}")))
                .await
                .unwrap();
        }
    };
    for n in 0..5 {
        publish(n).await;
    }
    let seen = on_a.until("e4").await;
    let last = seen.last().unwrap().id.clone().unwrap();
    drop(on_a);

    // Cut every subscriber connection: a's is back at once, b's in 1.5 s.
    let mut admin = admin(server.url()).await;
    redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async::<i64>(&mut admin)
        .await
        .unwrap();
    for n in 5..10 {
        publish(n).await;
    }
    // The client moves to b while b is still cut off: held until b caught up,
    // then exactly what it missed, no reset, no repeat.
    let mut moved = resume(b.service(), "mover", &["news"], &last);
    for n in 10..12 {
        publish(n).await;
    }
    let got = moved.until("e11").await;
    let want: Vec<String> = (5..12).map(|n| format!("e{n}")).collect();
    assert_eq!(datas(&got), want);
    moved.quiet(Duration::from_millis(200)).await;
    // b's own reader lost nothing either.
    let got = watcher.until("e11").await;
    let want: Vec<String> = (0..12).map(|n| format!("e{n}")).collect();
    assert_eq!(datas(&got), want);
    assert!(b.status().reconnects >= 1);
}

#[tokio::test]
async fn a_clock_gone_back_loses_nothing() {
    let server = RedisServer::start();
    let a = instance(&server, RedisOptions::new()).await;
    // As if Redis's clock had been a minute ahead when the broadcast log last saw it,
    // and had since gone back.
    let mut admin = admin(server.url()).await;
    let (secs, _): (u64, u64) = redis::cmd("TIME").query_async(&mut admin).await.unwrap();
    redis::cmd("HSET")
        .arg("{sse:b}:meta")
        .arg("hw")
        .arg(secs * 1000 + 60_000)
        .query_async::<()>(&mut admin)
        .await
        .unwrap();
    // Its channels new here, the reader makes the instance catch up, which moves
    // the instance's position to just below the mark.
    let mut reader = client(a.service(), "r", &[]);
    reader.connected().await;
    reader.quiet(Duration::from_millis(200)).await; // its (empty) history read
    a.broadcast(Event::message("after")).await.unwrap();
    assert_eq!(reader.next().await.data, "after");
}

#[tokio::test]
async fn an_event_of_several_partitions_with_a_shard_down_reaches_each_reader_once() {
    let servers = [RedisServer::start(), RedisServer::start()];
    let options = RedisOptions::new().publish_timeout(Duration::from_millis(500));
    let a = instance_on(&servers, options.clone()).await;
    let b = instance_on(&servers, options).await;
    // Twenty topics fall in partitions of both shards.
    let names: Vec<String> = (0..20).map(|n| format!("room-{n}")).collect();
    let all: Vec<&str> = names.iter().map(String::as_str).collect();
    let topics: Vec<Topic> = names.iter().map(|n| topic(n)).collect();
    let mut reader = client(b.service(), "reader", &all);
    reader.connected().await;
    reader.quiet(Duration::from_millis(200)).await; // its (empty) history read
    let [mut first, _second] = servers;
    first.kill();
    // The first shard's partitions fail; the other shard's take it, and their entries
    // name no topic of a partition that failed, so the reader gets it from them.
    let sent = a.publish_many(&topics, Event::message("m")).await;
    assert!(matches!(sent, Err(Error::Unavailable { .. })), "{sent:?}");
    assert_eq!(reader.next().await.data, "m");
    reader.quiet(Duration::from_millis(300)).await;
}

/// A small deterministic generator, so a failing run can be replayed.
struct Lcg(u64);

impl Lcg {
    fn below(&mut self, n: usize) -> usize {
        self.0 = self
            .0
            .wrapping_mul(6_364_136_223_846_793_005)
            .wrapping_add(1);
        ((self.0 >> 33) % n as u64) as usize
    }
}

// Two worker threads, so that deliveries, admissions and hand-offs race for real.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_moving_between_three_instances_get_every_event_once_in_order() {
    let server = RedisServer::start();
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(instance(&server, RedisOptions::new()).await);
    }
    clients_moving_between(nodes).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_moving_between_three_instances_on_a_cluster_get_every_event_once_in_order() {
    let cluster = RedisCluster::start(3, 0);
    let mut nodes = Vec::new();
    for _ in 0..3 {
        nodes.push(instance_in(&cluster, RedisOptions::new()).await);
    }
    clients_moving_between(nodes).await;
}

/// 4 clients move at random between `nodes` while events of one topic, several or
/// all are published through each: every client gets each of its events once, in
/// order.
async fn clients_moving_between(nodes: Vec<RedisBackplane>) {
    let names = ["t0", "t1", "t2", "t3", "t4", "t5"];
    let mut rng = Lcg(7);
    // Events, in publish order: (data, topics; empty for a broadcast).
    let mut plan: Vec<(String, Vec<&str>)> = (0..300)
        .map(|n| {
            let topics = match rng.below(10) {
                0 => vec![],
                1 | 2 => vec![names[rng.below(6)], names[rng.below(6)]],
                _ => vec![names[rng.below(6)]],
            };
            (format!("e{n}"), topics)
        })
        .collect();
    plan.push(("end".to_owned(), vec![]));

    let readers: Vec<_> = (0..4)
        .map(|c| {
            let nodes = nodes.clone();
            let topics = vec![names[c], names[(c + 2) % 6]];
            tokio::spawn(async move {
                let mut rng = Lcg(100 + c as u64);
                let mut got: Vec<String> = Vec::new();
                let mut last: Option<String> = None;
                let mut moves = 0;
                loop {
                    let node = &nodes[rng.below(3)];
                    let mut request = ConnectRequest::new()
                        .client_id(format!("c{c}"))
                        .topics(topics.iter().copied());
                    if let Some(id) = &last {
                        request = request.last_event_id(id.clone());
                    }
                    let mut sse = Sse::new(node.service().connect(request).unwrap());
                    for _ in 0..1 + rng.below(12) {
                        let frame = sse.next().await;
                        assert_ne!(frame.event.as_deref(), Some("sse-reset"), "{frame:?}");
                        last = frame.id.clone();
                        got.push(frame.data);
                        if got.last().map(String::as_str) == Some("end") {
                            return (topics, got, moves);
                        }
                    }
                    moves += 1;
                    drop(sse);
                    // Away for a while: what is published meanwhile comes from the logs.
                    tokio::time::sleep(Duration::from_millis(rng.below(8) as u64)).await;
                }
            })
        })
        .collect();

    for (n, (data, topics)) in plan.iter().enumerate() {
        let via = &nodes[n % 3];
        let event = Event::message(data.clone());
        if topics.is_empty() {
            via.broadcast(event).await.unwrap();
        } else {
            let topics: Vec<Topic> = topics.iter().map(|t| topic(t)).collect();
            via.publish_many(&topics, event).await.unwrap();
        }
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    for reader in readers {
        let (topics, got, moves) = tokio::time::timeout(Duration::from_secs(30), reader)
            .await
            .expect("every reader reaches the end within 30 s")
            .unwrap();
        let expected: Vec<&str> = plan
            .iter()
            .filter(|(_, to)| to.is_empty() || to.iter().any(|t| topics.contains(t)))
            .map(|(data, _)| data.as_str())
            .collect();
        // A fresh client starts where it connected; from there on, every move is
        // exact: the rest of the expected events, once each, in order.
        let start = expected
            .iter()
            .position(|d| *d == got[0])
            .expect("a planned event");
        assert_eq!(
            got,
            expected[start..],
            "client of {topics:?} after {moves} moves"
        );
        assert!(moves >= 3, "the readers moved: {moves}");
    }
}

#[tokio::test]
async fn a_live_subscription_through_the_backplane_gets_what_is_published_next_anywhere() {
    let server = RedisServer::start();
    let options = RedisOptions::new().unsubscribe_delay(Duration::from_millis(50));
    let a = instance(&server, options.clone()).await;
    let b = instance(&server, options).await;
    let mut reader = client(b.service(), "r", &["x"]);
    reader.connected().await;
    let r = ClientId::new("r").unwrap();
    // It returns only once Redis has the subscription: not while Redis is paused.
    let mut admin = admin(server.url()).await;
    redis::cmd("CLIENT")
        .arg("PAUSE")
        .arg(300)
        .arg("ALL")
        .query_async::<()>(&mut admin)
        .await
        .unwrap();
    let asked = std::time::Instant::now();
    assert_eq!(b.subscribe(&r, &[topic("paused")]).await, Ok(1));
    assert!(
        asked.elapsed() >= Duration::from_millis(250),
        "{:?}",
        asked.elapsed()
    );
    a.publish(&topic("paused"), Event::message("paused"))
        .await
        .unwrap();
    assert_eq!(reader.next().await.data, "paused");
    // Ten new topics, one after the other: each published on A right after the
    // subscription returns on B, and received.
    for n in 0..10 {
        let name = format!("live-{n}");
        assert_eq!(b.subscribe(&r, &[topic(&name)]).await, Ok(1));
        a.publish(&topic(&name), Event::message(name.clone()))
            .await
            .unwrap();
        assert_eq!(reader.next().await.data, name);
    }
    // Refused as the service refuses it; and out again.
    let nobody = ClientId::new("nobody").unwrap();
    let refused = b.subscribe(&nobody, &[topic("y")]).await;
    assert_eq!(refused, Err(Error::Service(sse_core::Error::NotConnected)));
    assert_eq!(b.unsubscribe(&r, &[topic("live-0")]), Ok(1));
    a.publish(&topic("live-0"), Event::message("gone"))
        .await
        .unwrap();
    a.publish(&topic("x"), Event::message("still"))
        .await
        .unwrap();
    assert_eq!(reader.next().await.data, "still");
    // The channel of the refused topic is let go: no subscription stays open.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    loop {
        let open: Vec<String> = redis::cmd("PUBSUB")
            .arg("CHANNELS")
            .arg("*:t:y")
            .query_async(&mut admin)
            .await
            .unwrap();
        if open.is_empty() {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "still subscribed: {open:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cluster_failover_loses_nothing_acknowledged() {
    let mut cluster = RedisCluster::start(3, 1);
    let mut run = Disrupted::begin(&cluster, RedisOptions::new().replicas(1)).await;
    let killed = tokio::task::block_in_place(|| cluster.fail_over("{sse:b}:log"));
    let (acknowledged, attempts) = run.publishing().await;
    assert!(attempts > acknowledged.len(), "some publishes failed");
    // The promoted replica has none of its own until the killed node rejoins as one:
    // meanwhile, what it takes is not confirmed.
    let lone = run.a.broadcast(Event::message("unconfirmed")).await;
    assert!(lone.unwrap_err().is_unknown_outcome());
    tokio::task::block_in_place(|| cluster.revive(killed));
    run.check(&acknowledged).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slot_moved_to_another_primary_under_load_loses_nothing() {
    let cluster = RedisCluster::start(3, 0);
    let mut run = Disrupted::begin(&cluster, RedisOptions::new()).await;
    let before = cluster.master_of("{sse:b}:log");
    let after = tokio::task::block_in_place(|| cluster.move_slot("{sse:b}:log"));
    assert_ne!(before, after);
    let (acknowledged, attempts) = run.publishing().await;
    // The old primary told the subscribers it no longer sends the slot's channels:
    // they connect again and catch up.
    assert!(run.b.status().outages > 0, "{:?}", run.b.status());
    eprintln!(
        "{attempts} attempts for {} acknowledged",
        acknowledged.len()
    );
    run.check(&acknowledged).await;
}

/// Two instances on a cluster, a reader of broadcasts and six topics on B, and a
/// client that left with the id it had, while publishes go on through A (see
/// [`acknowledged_publishes`]): something is done to the cluster meanwhile, then
/// [`check`](Self::check) asserts that no acknowledged event was lost.
struct Disrupted {
    a: RedisBackplane,
    b: RedisBackplane,
    reader: tokio::task::JoinHandle<Vec<Frame>>,
    last_id: String,
    publishing: tokio::task::JoinHandle<(Vec<String>, usize)>,
    first: usize,
}

const SIX: [&str; 6] = ["t0", "t1", "t2", "t3", "t4", "t5"];

impl Disrupted {
    /// Connects, publishes 100 events, lets a client leave, and starts publishing
    /// 300 more.
    async fn begin(cluster: &RedisCluster, options: RedisOptions) -> Self {
        let options = options
            .local_fallback(false)
            .backoff(Duration::from_millis(50), Duration::from_millis(500));
        let a = instance_in(cluster, options.clone()).await;
        let b = instance_in(cluster, options).await;
        let mut reader = client(b.service(), "reader", &SIX);
        let mut leaver = client(b.service(), "leaver", &SIX);
        reader.connected().await;
        leaver.connected().await;
        // Read all along (a client's queue is bounded), and through the disruption,
        // which may hold events back longer than `until` waits.
        let reader = tokio::spawn(async move {
            let mut frames = Vec::new();
            while let Some(frame) = reader.next_within(Duration::from_secs(30)).await {
                let end = frame.data == "end";
                frames.push(frame);
                if end {
                    return frames;
                }
            }
            panic!("the reader's stream stopped after {} events", frames.len());
        });
        let (acknowledged, attempts) = acknowledged_publishes(a.clone(), Vec::new(), 0, 100).await;
        let mut before = Vec::new();
        for _ in 0..acknowledged.len() {
            before.push(leaver.next().await.data);
        }
        // On a cluster, partitions on different primaries arrive over different
        // connections: in each topic's order, not in the order of the publishes.
        assert_same_per_topic(&before, &acknowledged);
        assert_eq!(before.len(), acknowledged.len());
        let last_id = every_id(&mut leaver, &a).await;
        drop(leaver);
        let first = acknowledged.len();
        let publishing = tokio::spawn(acknowledged_publishes(
            a.clone(),
            acknowledged,
            attempts,
            300,
        ));
        tokio::time::sleep(Duration::from_millis(100)).await;
        Disrupted {
            a,
            b,
            reader,
            last_id,
            publishing,
            first,
        }
    }

    /// Waits for the publishing: the acknowledged events, and the attempts.
    async fn publishing(&mut self) -> (Vec<String>, usize) {
        (&mut self.publishing).await.unwrap()
    }

    /// Every acknowledged event reached the reader, once and in its topic's order
    /// (partitions caught up after a disruption interleave differently), and no
    /// attempt twice; a client resuming from before gets every one since from the
    /// logs, without a reset.
    async fn check(self, acknowledged: &[String]) {
        self.a.broadcast(Event::message("end")).await.unwrap();
        let frames = tokio::time::timeout(Duration::from_secs(30), self.reader)
            .await
            .expect("the reader gets the end")
            .unwrap();
        let got: Vec<String> = datas(&frames).into_iter().map(str::to_owned).collect();
        let mut unique = got.clone();
        unique.sort();
        unique.dedup();
        assert_eq!(unique.len(), got.len(), "no duplicate");
        assert_same_per_topic(&got, acknowledged);

        let mut back = resume(self.b.service(), "leaver", &SIX, &self.last_id);
        let frames = back.until("end").await;
        assert!(frames.iter().all(|f| f.event.is_none()), "no reset");
        let again: Vec<String> = datas(&frames).into_iter().map(str::to_owned).collect();
        assert_same_per_topic(&again, &acknowledged[self.first..]);
    }
}

/// `got` holds every one of `acknowledged`, in the same order per topic (the end of
/// the data), and maybe unacknowledged attempts.
fn assert_same_per_topic(got: &[String], acknowledged: &[String]) {
    let acked: HashSet<&String> = acknowledged.iter().collect();
    for to in ["all", "t0", "t1", "t2", "t3", "t4", "t5"] {
        let of = |list: &[String]| -> Vec<String> {
            list.iter()
                .filter(|d| acked.contains(d) && d.ends_with(&format!(".{to}")))
                .cloned()
                .collect()
        };
        assert_eq!(of(got), of(acknowledged), "events of {to}");
    }
}

/// Publishes through `a` until `count` more are acknowledged (`done` has those
/// before, `attempts` the attempts before), every attempt with data of its own:
/// broadcasts, and events of topics t0 to t5 (the data ends with `.all` or the
/// topic). Returns the acknowledged, in order, and the attempts.
async fn acknowledged_publishes(
    a: RedisBackplane,
    mut done: Vec<String>,
    attempts: usize,
    count: usize,
) -> (Vec<String>, usize) {
    let target = done.len() + count;
    let mut n = attempts;
    while done.len() < target {
        assert!(n < attempts + 2_000, "bounded");
        let to = match n % 4 {
            0 => "all".to_owned(),
            k => format!("t{}", (n + k) % 6),
        };
        let data = format!("e{}.{n}.{to}", done.len());
        let event = Event::message(data.clone());
        let sent = match to.as_str() {
            "all" => a.broadcast(event).await,
            t => a.publish(&topic(t), event).await,
        };
        n += 1;
        match sent {
            Ok(_) => done.push(data),
            Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
        }
    }
    (done, n)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_publishes_to_topics_of_one_partition_all_arrive() {
    // One partition: every topic's events share a log, and batches mix topics.
    let server = RedisServer::start();
    let options = || RedisOptions::new().partitions(1);
    let a = instance(&server, options()).await;
    // Room for every event: a reader that a loaded machine holds back must not
    // overflow its queue (256 frames by default) and lose them that way.
    let mut roomy = builder();
    roomy.queue_limits(4096, 1 << 24);
    let b = RedisBackplane::connect(&server.url(), &roomy, options())
        .await
        .unwrap();
    const NAMES: [&str; 8] = ["t0", "t1", "t2", "t3", "t4", "t5", "t6", "t7"];
    let names: &'static [&str] = &NAMES;
    let mut reader = client(b.service(), "reader", names);
    let mut some = client(b.service(), "some", &names[2..5]);
    reader.connected().await;
    some.connected().await;
    // Read all along: a client's queue is bounded.
    let reading = [(reader, names), (some, &names[2..5])]
        .map(|(mut sse, of)| tokio::spawn(async move { (sse.until("end").await, of) }));
    let (publishers, each) = (64, 20);
    let tasks: Vec<_> = (0..publishers)
        .map(|p| {
            let a = a.clone();
            tokio::spawn(async move {
                let to = topic(&format!("t{}", p % 8));
                for n in 0..each {
                    let event = Event::message(format!("p{p}.{n}"));
                    a.publish(&to, event).await.unwrap();
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.unwrap();
    }
    a.broadcast(Event::message("end")).await.unwrap();
    for read in reading {
        let (got, of) = read.await.unwrap();
        let expected = (0..publishers)
            .filter(|p| of.contains(&format!("t{}", p % 8).as_str()))
            .count()
            * each;
        assert_eq!(got.len() - 1, expected, "every event, once");
        // Each publisher's events in its order.
        for p in 0..publishers {
            let mine: Vec<&str> = datas(&got)
                .into_iter()
                .filter(|d| d.starts_with(&format!("p{p}.")))
                .collect();
            let sorted: Vec<String> = (0..mine.len()).map(|n| format!("p{p}.{n}")).collect();
            assert_eq!(mine, sorted);
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_cut_by_length_records_exactly_what_it_dropped() {
    let server = RedisServer::start();
    // Marks every 2 entries (a sixteenth of 32).
    let a = instance(&server, RedisOptions::new().max_len(32)).await;
    let mut admin = admin(server.url()).await;
    let mut positions = Vec::new();
    for round in 0..5 {
        // Alone, then concurrent: marks fall inside batches too.
        let publishers = if round % 2 == 0 { 1 } else { 16 };
        let sent = futures::future::join_all((0..publishers).map(|p| {
            let a = a.clone();
            async move {
                let mut mine = Vec::new();
                for n in 0..40 / publishers {
                    let event = Event::message(format!("{round}.{p}.{n}"));
                    mine.push(a.broadcast(event).await.unwrap());
                }
                mine
            }
        }))
        .await;
        positions.extend(sent.into_iter().flatten());
        positions.sort();
        let len: usize = redis::cmd("XLEN")
            .arg("{sse:b}:log")
            .query_async(&mut admin)
            .await
            .unwrap();
        assert!((32..34).contains(&len), "round {round}: {len} entries");
        let first: redis::streams::StreamRangeReply = redis::cmd("XRANGE")
            .arg("{sse:b}:log")
            .arg("-")
            .arg("+")
            .arg("COUNT")
            .arg(1)
            .query_async(&mut admin)
            .await
            .unwrap();
        let first: sse_core::EventSeq = first.ids[0].id.parse().unwrap();
        let floor: String = redis::cmd("HGET")
            .arg("{sse:b}:meta")
            .arg("floor")
            .query_async(&mut admin)
            .await
            .unwrap();
        let kept = positions.iter().position(|p| *p == first).unwrap();
        assert_eq!(floor, positions[kept - 1].to_string(), "round {round}");
        assert_eq!(positions.len() - kept, len, "round {round}");
    }
}

#[tokio::test]
async fn a_channel_left_before_a_reconnect_is_not_subscribed_again() {
    let server = RedisServer::start();
    let place = Place::Server(&server);
    let options = RedisOptions::new().unsubscribe_delay(Duration::from_millis(500));
    let a = instance(&server, options).await;
    let mut kept = client(a.service(), "kept", &["kept"]);
    let mut leaving = client(a.service(), "leaving", &["gone"]);
    kept.connected().await;
    leaving.connected().await;
    let (kept_channel, gone) = (
        place.channel_of("kept").await,
        place.channel_of("gone").await,
    );
    drop(leaving);
    // Within the delay, the subscriber's connection is cut.
    let mut admin = admin(server.url()).await;
    let killed: i64 = redis::cmd("CLIENT")
        .arg("KILL")
        .arg("TYPE")
        .arg("pubsub")
        .query_async(&mut admin)
        .await
        .unwrap();
    assert_eq!(killed, 1);
    eventually(Duration::from_secs(5), "a reconnects", || {
        a.status().reconnects >= 1 && a.status().up
    })
    .await;
    assert_eq!(place.subscribers(&kept_channel).await, 1, "wanted: again");
    // Past the delay, the channel left before the cut is not subscribed, now or later.
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(place.subscribers(&gone).await, 0, "left: not again");
    a.publish(&topic("kept"), Event::message("still"))
        .await
        .unwrap();
    assert_eq!(kept.next().await.data, "still");
}

#[tokio::test]
async fn a_log_trimmed_while_a_client_reads_its_history_is_announced() {
    let server = RedisServer::start();
    let options = RedisOptions::new().max_len(16).read_batch(2);
    let a = instance(&server, options).await;
    let mut reader = client(a.service(), "reader", &[]);
    reader.connected().await;
    // Events of 8 KiB: the history comes a chunk of one or two events at a time, read
    // from the log only as the client takes them.
    let big = "x".repeat(8 * 1024);
    let mut ids = Vec::new();
    for n in 0..16 {
        a.broadcast(Event::message(format!("{n} {big}")))
            .await
            .unwrap();
        ids.push(reader.next().await.id.unwrap());
    }
    let mut late = resume(a.service(), "late", &[], &ids[1]);
    let mut got = Vec::new();
    for _ in 0..3 {
        got.push(late.next().await);
    }
    // Meanwhile the log drops everything the client has yet to read.
    for n in 16..48 {
        a.broadcast(Event::message(format!("{n} {big}")))
            .await
            .unwrap();
    }
    loop {
        let frame = late.next().await;
        let last = frame.data.starts_with("47 ");
        got.push(frame);
        if last {
            break;
        }
    }
    let number = |f: &Frame| f.data.split(' ').next().unwrap().parse::<u32>().ok();
    assert_eq!(number(&got[0]), Some(2));
    // Every jump in the numbers comes right after the notice, and there is one.
    let mut told = 0;
    for pair in got.windows(2) {
        match (number(&pair[0]), number(&pair[1])) {
            (Some(a), Some(b)) => assert_eq!(b, a + 1, "a gap without a notice"),
            (None, _) => {
                assert_eq!(pair[0].event.as_deref(), Some("sse-reset"));
                assert_eq!(pair[0].data, "too-old");
                told += 1;
            }
            _ => {}
        }
    }
    assert_eq!(
        told,
        1,
        "{:?}",
        got.iter()
            .map(|f| &f.data[..f.data.len().min(8)])
            .collect::<Vec<_>>()
    );
}
