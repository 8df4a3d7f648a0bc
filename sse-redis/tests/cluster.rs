//! Two or three services on one real Redis, as two or three server instances.

mod common;

use std::{
    sync::{
        atomic::{AtomicUsize, Ordering},
        Arc,
    },
    time::Duration,
};

use common::{eventually, Frame, RedisServer, Sse};
use sse_codec::{Event, EventType};
use sse_core::{ClientId, ConnectRequest, EventSeq, Service, ServiceBuilder, Topic};
use sse_redis::{BackplaneHooks, Error, RedisBackplane, RedisOptions};

fn builder() -> ServiceBuilder {
    let mut b = Service::builder();
    b.keep_alive(None);
    b
}

async fn instance(server: &RedisServer, options: RedisOptions) -> RedisBackplane {
    tokio::time::timeout(
        Duration::from_secs(10),
        RedisBackplane::connect(&server.url(), &builder(), options),
    )
    .await
    .expect("connect within 10 s")
    .expect("connect")
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

#[tokio::test]
async fn every_kind_of_message_reaches_the_right_clients_once() {
    let server = RedisServer::start();
    let a = instance(&server, RedisOptions::new()).await;
    let b = instance(&server, RedisOptions::new()).await;
    let mut a_news = client(a.service(), "a-news", &["news"]);
    let mut b_sport = client(b.service(), "b-sport", &["sport"]);
    let mut b_news = client(b.service(), "b-news", &["news"]);

    let hello = a.broadcast(Event::message("hello")).await.unwrap();
    let n1 = b
        .publish(&topic("news"), Event::message("n1"))
        .await
        .unwrap();
    let s1 = a
        .publish(&topic("sport"), Event::message("s1"))
        .await
        .unwrap();
    let both = b
        .publish_many(&[topic("news"), topic("sport")], Event::message("both"))
        .await
        .unwrap();
    let typed = Event::message("typed").with_event(EventType::new("chat").unwrap());
    let t = a.broadcast(typed).await.unwrap();
    b.send_to(&ClientId::new("a-news").unwrap(), Event::message("to-a"))
        .await
        .unwrap();
    a.send_to(&ClientId::new("b-sport").unwrap(), Event::message("to-b"))
        .await
        .unwrap();
    // A client connected nowhere: accepted by Redis, dropped everywhere.
    a.send_to(&ClientId::new("nobody").unwrap(), Event::message("lost"))
        .await
        .unwrap();
    let end = b.broadcast(Event::message("end")).await.unwrap();
    assert!(hello < n1 && n1 < s1 && s1 < both && both < t && t < end);

    let id = |s: EventSeq| Some(s.to_string());
    let got = a_news.until("end").await;
    assert_eq!(datas(&got), ["hello", "n1", "both", "typed", "to-a", "end"]);
    assert_eq!(got[0].id, id(hello));
    assert_eq!(got[1].id, id(n1));
    assert_eq!(got[2].id, id(both));
    assert_eq!(got[3].event.as_deref(), Some("chat"));
    assert_eq!(got[4].id, None, "direct messages carry no id");
    let got = b_sport.until("end").await;
    assert_eq!(datas(&got), ["hello", "s1", "both", "typed", "to-b", "end"]);
    assert_eq!(got[1].id, id(s1));
    let got = b_news.until("end").await;
    assert_eq!(datas(&got), ["hello", "n1", "both", "typed", "end"]);
    assert_eq!(got[5 - 1].id, id(end));
    for sse in [&mut a_news, &mut b_sport, &mut b_news] {
        sse.quiet(Duration::from_millis(200)).await;
    }
    // Both services numbered the events the same way.
    assert_eq!(a.service().latest_id(), end);
    assert_eq!(b.service().latest_id(), end);
    assert_eq!(a.status().published + b.status().published, 9);
}

#[tokio::test]
async fn a_client_resumes_on_another_instance() {
    let server = RedisServer::start();
    let a = instance(&server, RedisOptions::new()).await;
    let b = instance(&server, RedisOptions::new()).await;

    let mut first = client(a.service(), "c", &["news"]);
    a.broadcast(Event::message("e1")).await.unwrap();
    b.publish(&topic("news"), Event::message("e2"))
        .await
        .unwrap();
    let seen = first.until("e2").await;
    let last = seen[1].id.clone().unwrap();
    drop(first);

    // Missed while away: two for this client, one not.
    b.publish(&topic("news"), Event::message("e3"))
        .await
        .unwrap();
    b.publish(&topic("sport"), Event::message("other"))
        .await
        .unwrap();
    let e4 = a.broadcast(Event::message("e4")).await.unwrap();
    eventually(Duration::from_secs(5), "b to read e4", || {
        b.service().latest_id() >= e4
    })
    .await;

    let resume = |service: &Service| {
        Sse::new(
            service
                .connect(
                    ConnectRequest::new()
                        .client_id("c")
                        .topics(["news"])
                        .last_event_id(last.clone()),
                )
                .unwrap(),
        )
    };
    let mut again = resume(b.service());
    a.broadcast(Event::message("live")).await.unwrap();
    assert_eq!(datas(&again.until("live").await), ["e3", "e4", "live"]);
    again.quiet(Duration::from_millis(200)).await;

    // An instance started later loads the history from Redis and resumes too.
    let c = instance(&server, RedisOptions::new()).await;
    let mut late = resume(c.service());
    assert_eq!(datas(&late.until("live").await), ["e3", "e4", "live"]);

    // An id from before the retained history, or unknown, is reset, not skipped.
    let mut old = Sse::new(
        c.service()
            .connect(ConnectRequest::new().last_event_id("1-0"))
            .unwrap(),
    );
    let reset = old.next().await;
    assert_eq!(reset.event.as_deref(), Some("sse-reset"));
}

#[tokio::test]
async fn history_before_the_loaded_window_is_too_old() {
    let server = RedisServer::start();
    let a = instance(&server, RedisOptions::new()).await;
    let mut ids = Vec::new();
    for n in 0..5 {
        ids.push(a.broadcast(Event::message(n.to_string())).await.unwrap());
    }
    let b = instance(&server, RedisOptions::new().history(2)).await;
    let resume = |last: EventSeq| {
        Sse::new(
            b.service()
                .connect(ConnectRequest::new().last_event_id(last.to_string()))
                .unwrap(),
        )
    };
    // Just before the two loaded entries: exactly them.
    let mut ok = resume(ids[2]);
    assert_eq!(ok.next().await.data, "3");
    assert_eq!(ok.next().await.data, "4");
    ok.quiet(Duration::from_millis(100)).await;
    let mut reset = resume(ids[1]);
    assert_eq!(reset.next().await.event.as_deref(), Some("sse-reset"));
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
        .block(Duration::from_millis(200))
        .backoff(Duration::from_millis(20), Duration::from_millis(200));
    let slow_reader = options
        .clone()
        .backoff(Duration::from_millis(20), Duration::from_secs(1))
        .hooks(hooks.clone());
    let a = instance(&server, slow_reader).await;
    let b = instance(&server, options).await;
    let mut on_a = client(a.service(), "x", &["news"]);
    let mut on_b = client(b.service(), "y", &["news"]);

    a.broadcast(Event::message("before")).await.unwrap();
    assert_eq!(on_a.next().await.data, "before");
    assert_eq!(on_b.next().await.data, "before");

    server.kill();
    // Publishing fails clearly; this instance's clients still get it, without an id.
    for (event, publish) in [
        (
            "during-all",
            a.broadcast(Event::message("during-all")).await,
        ),
        (
            "during-topic",
            a.publish(&topic("news"), Event::message("during-topic"))
                .await,
        ),
        (
            "during-direct",
            a.send_to(
                &ClientId::new("x").unwrap(),
                Event::message("during-direct"),
            )
            .await,
        ),
    ] {
        match publish {
            Err(Error::Unavailable { local: Some(1), .. }) => {}
            other => panic!("{event}: expected Unavailable with local delivery, got {other:?}"),
        }
        let got = on_a.next().await;
        assert_eq!((got.data.as_str(), got.id), (event, None));
    }
    // A direct message keeps its own id, as with `Service::send_to`.
    let own = Event::message("own").with_id(sse_codec::EventId::new("own-7").unwrap());
    let x = ClientId::new("x").unwrap();
    assert!(a.send_to(&x, own).await.unwrap_err().is_unavailable());
    assert_eq!(on_a.next().await.id.as_deref(), Some("own-7"));
    // A client connecting during the outage is served locally.
    let mut newcomer = client(a.service(), "z", &[]);
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
    let probe = ClientId::new("probe").unwrap();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    while b.send_to(&probe, Event::message("probe")).await.is_err() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "b publishes again within 10 s"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let after = b.broadcast(Event::message("after")).await.unwrap();
    // Nothing published during the outage shows up again; 'after' arrives once, with
    // its global id, on both instances (on a after its reader reconnects).
    for sse in [&mut on_a, &mut on_b, &mut newcomer] {
        let got = sse.until("after").await;
        assert_eq!(
            got,
            [Frame {
                id: Some(after.to_string()),
                event: None,
                data: "after".into()
            }]
        );
    }
    eventually(Duration::from_secs(5), "both readers to recover", || {
        a.status().up && b.status().up
    })
    .await;
    assert_eq!(hooks.0.up.load(Ordering::SeqCst), 1);
    assert_eq!(hooks.0.down.load(Ordering::SeqCst), 1);
    // Cross-instance delivery is back both ways.
    let back = a
        .publish(&topic("news"), Event::message("back"))
        .await
        .unwrap();
    assert_eq!(on_b.next().await.id, Some(back.to_string()));
    assert_eq!(on_a.next().await.id, Some(back.to_string()));
    for sse in [&mut on_a, &mut on_b, &mut newcomer] {
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
    let client = redis::Client::open(server.url()).unwrap();
    let mut conn = client.get_multiplexed_async_connection().await.unwrap();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    redis::pipe()
        .hset("sse:node:ghost", "active", 5)
        .pexpire("sse:node:ghost", 300)
        .zadd("sse:nodes", "ghost", now_ms)
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

    // Redis holds writes for 800 ms: the send is not answered in time, then taken.
    let admin = redis::Client::open(server.url()).unwrap();
    let mut admin = admin.get_multiplexed_async_connection().await.unwrap();
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
    let id = got_a.id.clone().expect("a global id");
    assert_eq!(got_b.id.as_deref(), Some(id.as_str()));

    // The retry with the same key gets the first send's id and sends nothing.
    let retry = a
        .send_once(&target, Event::message("once"), "order-17")
        .await
        .expect("answered now");
    assert_eq!(retry.to_string(), id);
    on_a.quiet(Duration::from_millis(300)).await;
    on_b.quiet(Duration::from_millis(300)).await;
    // Another key is another message.
    let other = a
        .send_once(&target, Event::message("twice"), "order-18")
        .await
        .unwrap();
    assert_ne!(other.to_string(), id);
    assert_eq!(on_b.next().await.data, "twice");
}
