//! Behaviour of the service over its default in-memory queues.

mod common;

use std::{sync::Arc, time::Duration};

use common::*;
use futures::StreamExt;
use sse_codec::Event;
use sse_core::{
    ClientId, ConnectRequest, DuplicatePolicy, Error, Principal, RejectionKind, Service, Shutdown,
    SlowClientPolicy, Topic, TopicGrants,
};

#[tokio::test]
async fn hooks_fire_in_order_with_counts() {
    let hooks = Recorder::default();
    let service = Service::builder().hooks(hooks.clone()).build();
    let mut a = service.connect(req("a")).unwrap();
    let b = service.connect(req("b")).unwrap();
    assert_eq!(next_text(&mut a).await, prelude("a"));
    service.broadcast(Event::message("x")).unwrap();
    assert!(next_text(&mut a).await.ends_with("data: x\n\n"));
    drop(b);
    drop(a);
    assert_eq!(
        hooks.entries(),
        [
            "connect Some(\"a\")",
            "create a 1",
            "connect Some(\"b\")",
            "create b 2",
            "before a",
            "sent a true",
            "before a",
            "sent a true",
            "remove b 1",
            "remove a 0",
        ]
    );
    assert_eq!(service.active(), 0);
}

#[tokio::test]
async fn rejection_from_hook_registers_nothing() {
    let hooks = Recorder {
        reject: Some(RejectionKind::Forbidden),
        ..Default::default()
    };
    let service = Service::builder().hooks(hooks.clone()).build();
    let err = service.connect(req("a")).unwrap_err();
    assert_eq!(err.rejection().unwrap().kind(), RejectionKind::Forbidden);
    assert_eq!(service.active(), 0);
    assert_eq!(hooks.count("create"), 0);
    assert_eq!(service.metrics().rejected, 1);
}

#[tokio::test]
async fn invalid_input_is_400() {
    let service = Service::builder().max_topics_per_client(2).build();
    for bad in [
        req("has space"),
        req(""),
        ConnectRequest::new().topics(["a,b"]),
        ConnectRequest::new().topics(["a", "b", "c"]),
    ] {
        let err = service.connect(bad).unwrap_err();
        assert_eq!(
            err.rejection().unwrap().kind(),
            RejectionKind::Invalid,
            "{err}"
        );
    }
}

#[tokio::test]
async fn generated_ids_are_unique() {
    let service = Service::new();
    let a = service.connect(ConnectRequest::new()).unwrap();
    let b = service.connect(ConnectRequest::new()).unwrap();
    assert_ne!(a.client().id(), b.client().id());
}

async fn policy_case(policy: SlowClientPolicy) -> (Recorder, Service, sse_core::ClientStream) {
    let hooks = Recorder::default();
    let service = Service::builder()
        .hooks(hooks.clone())
        .queue_limits(2, 1 << 20)
        .slow_client_policy(policy)
        .build();
    let mut stream = service.connect(req("slow")).unwrap();
    next(&mut stream).await;
    for n in 1..=3 {
        service.broadcast(Event::message(n.to_string())).unwrap();
    }
    (hooks, service, stream)
}

#[tokio::test]
async fn drop_oldest_policy() {
    let (hooks, service, mut s) = policy_case(SlowClientPolicy::DropOldest).await;
    // Told how many it missed, before the first event after the gap.
    let text = next_text(&mut s).await;
    assert!(text.starts_with("event: sse-gap\ndata: 1\n\n"), "{text}");
    assert_eq!(datas(&text), ["1", "2", "3"]);
    assert_eq!(hooks.count("slow slow DroppedOldest(1)"), 1);
    assert_eq!(service.metrics().dropped_oldest, 1);
}

#[tokio::test]
async fn drop_newest_policy() {
    let (hooks, service, mut s) = policy_case(SlowClientPolicy::DropNewest).await;
    assert_eq!(datas(&next_text(&mut s).await), ["1", "2"]);
    // The gap is where "3" was: told before the next event.
    service.broadcast(Event::message("4")).unwrap();
    let text = next_text(&mut s).await;
    assert!(text.starts_with("event: sse-gap\ndata: 1\n\n"), "{text}");
    assert_eq!(datas(&text), ["1", "4"]);
    assert_eq!(hooks.count("slow slow DroppedNewest"), 1);
    assert_eq!(service.metrics().dropped_newest, 1);
}

#[tokio::test]
async fn disconnect_policy_ends_stream_and_removes_once() {
    let (hooks, service, mut s) = policy_case(SlowClientPolicy::Disconnect).await;
    assert_eq!(next(&mut s).await, None);
    assert_eq!(service.active(), 0);
    drop(s);
    assert_eq!(hooks.count("remove slow"), 1);
    assert_eq!(hooks.count("slow slow Disconnected"), 1);
    assert_eq!(service.metrics().disconnected_slow, 1);
}

#[tokio::test]
async fn policy_can_be_overridden_per_client() {
    let service = Service::builder()
        .queue_limits(1, 1 << 20)
        .slow_client_policy(SlowClientPolicy::Disconnect)
        .build();
    let mut keep = service
        .connect(req("k").slow_client_policy(SlowClientPolicy::DropOldest))
        .unwrap();
    let mut cut = service.connect(req("c")).unwrap();
    next(&mut keep).await;
    next(&mut cut).await;
    service.broadcast(Event::message("1")).unwrap();
    service.broadcast(Event::message("2")).unwrap();
    let text = next_text(&mut keep).await;
    assert!(text.starts_with("event: sse-gap\ndata: 1\n\n"), "{text}");
    assert_eq!(datas(&text), ["1", "2"]);
    assert_eq!(next(&mut cut).await, None);
}

#[tokio::test]
async fn duplicate_reject() {
    let service = Service::builder()
        .duplicate_policy(DuplicatePolicy::Reject)
        .build();
    let _a = service.connect(req("same")).unwrap();
    let err = service.connect(req("same")).unwrap_err();
    assert_eq!(err.rejection().unwrap().kind(), RejectionKind::Duplicate);
    assert_eq!(service.active(), 1);
}

#[tokio::test]
async fn duplicate_replace_ends_old_stream_cleanly() {
    let hooks = Recorder::default();
    let service = Service::builder()
        .hooks(hooks.clone())
        .duplicate_policy(DuplicatePolicy::Replace)
        .build();
    let mut old = service.connect(req("same")).unwrap();
    next(&mut old).await;
    service.broadcast(Event::message("before")).unwrap();
    let mut new = service.connect(req("same")).unwrap();
    // What was queued for the old connection still arrives, then the notice with a
    // day-long retry (so an EventSource does not come back and take turns), then the
    // end.
    let text = next_text(&mut old).await;
    assert_eq!(datas(&text), ["before", "replaced"]);
    assert!(
        text.ends_with("event: sse-replaced\nretry: 86400000\ndata: replaced\n\n"),
        "{text}"
    );
    assert_eq!(next(&mut old).await, None);
    assert_eq!(service.active(), 1);
    service
        .send_to(&ClientId::new("same").unwrap(), Event::message("dm"))
        .unwrap();
    next(&mut new).await;
    assert_eq!(datas(&next_text(&mut new).await), ["dm"]);
    drop(old);
    assert_eq!(hooks.count("remove same"), 1);
    assert_eq!(
        hooks
            .entries()
            .iter()
            .filter(|e| e.starts_with("create") || e.starts_with("remove"))
            .cloned()
            .collect::<Vec<_>>(),
        ["create same 1", "remove same 0", "create same 1"]
    );
}

#[test]
fn duplicates_are_allowed_up_to_eight_per_id_by_default() {
    let service = Service::new();
    let tabs: Vec<_> = (0..8).map(|_| service.connect(req("u")).unwrap()).collect();
    let err = service.connect(req("u")).unwrap_err();
    assert_eq!(err.rejection().unwrap().kind(), RejectionKind::TooMany);
    let d = service
        .send_to(&ClientId::new("u").unwrap(), Event::message("all tabs"))
        .unwrap();
    assert_eq!(d.queued, 8);
    drop(tabs);
}

#[tokio::test]
async fn duplicate_allow_reaches_every_connection() {
    let service = Service::builder()
        .duplicate_policy(DuplicatePolicy::Allow)
        .max_connections_per_id(2)
        .build();
    let mut a = service.connect(req("same")).unwrap();
    let mut b = service.connect(req("same")).unwrap();
    let err = service.connect(req("same")).unwrap_err();
    assert_eq!(err.rejection().unwrap().kind(), RejectionKind::TooMany);
    let d = service
        .send_to(&ClientId::new("same").unwrap(), Event::message("both"))
        .unwrap();
    assert_eq!(d.queued, 2);
    for s in [&mut a, &mut b] {
        next(s).await;
        assert_eq!(datas(&next_text(s).await), ["both"]);
    }
}

#[tokio::test]
async fn send_to_unknown_client() {
    let service = Service::new();
    let err = service
        .send_to(&ClientId::new("nobody").unwrap(), Event::message("x"))
        .unwrap_err();
    assert_eq!(err, sse_core::Error::NotConnected);
}

#[tokio::test]
async fn global_client_limit_is_429_with_retry_after() {
    let service = Service::builder().max_clients(1).build();
    let _a = service.connect(req("a")).unwrap();
    let err = service.connect(req("b")).unwrap_err();
    let rejection = err.rejection().unwrap();
    assert_eq!(rejection.kind(), RejectionKind::TooMany);
    assert!(rejection.retry_after().is_some());
}

#[tokio::test]
async fn topics_reach_exactly_their_subscribers_once() {
    let service = Service::new();
    let (a, b, ab) = (
        Topic::new("a").unwrap(),
        Topic::new("b").unwrap(),
        ["a", "b"],
    );
    let mut only_a = service
        .connect(ConnectRequest::new().topics(["a"]))
        .unwrap();
    let mut both = service.connect(ConnectRequest::new().topics(ab)).unwrap();
    let mut none = service.connect(ConnectRequest::new()).unwrap();
    for s in [&mut only_a, &mut both, &mut none] {
        next(s).await;
    }
    assert_eq!(
        service.publish(&b, Event::message("to b")).unwrap().queued,
        1
    );
    assert_eq!(
        service
            .publish_many(&[a.clone(), b.clone()], Event::message("to a+b"))
            .unwrap()
            .queued,
        2
    );
    service.broadcast(Event::message("all")).unwrap();
    assert_eq!(datas(&next_text(&mut only_a).await), ["to a+b", "all"]);
    assert_eq!(
        datas(&next_text(&mut both).await),
        ["to b", "to a+b", "all"]
    );
    assert_eq!(datas(&next_text(&mut none).await), ["all"]);
}

#[tokio::test]
async fn keep_alive_with_paused_time_is_reset_by_traffic() {
    tokio::time::pause();
    let service = Service::builder()
        .keep_alive(Some(Duration::from_secs(15)))
        .retry_hint(Some(Duration::from_millis(2500)))
        .build();
    let mut s = service.connect(ConnectRequest::new()).unwrap();
    assert_eq!(
        next_text(&mut s).await,
        prelude(&only_id(&service)) + "retry: 2500\n\n"
    );
    let start = tokio::time::Instant::now();
    assert_eq!(next_text(&mut s).await, ":\n\n");
    assert_about_15s(start.elapsed());
    tokio::time::advance(Duration::from_secs(10)).await;
    service.broadcast(Event::message("traffic")).unwrap();
    next(&mut s).await;
    let after_traffic = tokio::time::Instant::now();
    assert_eq!(next_text(&mut s).await, ":\n\n");
    assert_about_15s(after_traffic.elapsed());
}

#[tokio::test]
async fn keep_alive_counts_silence_from_the_last_event_and_follows_a_new_waker() {
    tokio::time::pause();
    let service = Service::builder()
        .keep_alive(Some(Duration::from_secs(15)))
        .build();
    let mut s = service.connect(ConnectRequest::new()).unwrap();
    next(&mut s).await;
    // Events every 10 s keep the stream from ever being silent for 15.
    for i in 0..4 {
        tokio::time::advance(Duration::from_secs(10)).await;
        service.broadcast(Event::message(format!("e{i}"))).unwrap();
        assert_eq!(datas(&next_text(&mut s).await), [format!("e{i}")]);
    }
    let last = tokio::time::Instant::now();
    // Polled once by another task's waker, then read here: the keep-alive wakes the
    // reader that waits now, not the first.
    let noop = &mut std::task::Context::from_waker(std::task::Waker::noop());
    assert!(s.poll_next_unpin(noop).is_pending());
    let keep_alive = tokio::time::timeout(Duration::from_secs(20), next_text(&mut s)).await;
    assert_eq!(keep_alive.expect("a keep-alive within 20 s"), ":\n\n");
    assert_about_15s(last.elapsed());
}

#[tokio::test]
async fn endless_keep_alive_and_write_delay_intervals_are_no_panic() {
    tokio::time::pause();
    let service = Service::builder().keep_alive(Some(Duration::MAX)).build();
    let held = Service::builder().write_delay(Duration::MAX).build();
    let mut h = held.connect(ConnectRequest::new()).unwrap();
    next(&mut h).await;
    held.broadcast(Event::message("held")).unwrap();
    let waited = tokio::time::timeout(Duration::from_secs(3600), h.next()).await;
    assert!(waited.is_err(), "held for ever, without a panic");
    let mut s = service.connect(ConnectRequest::new()).unwrap();
    next(&mut s).await;
    service.broadcast(Event::message("x")).unwrap();
    assert_eq!(datas(&next_text(&mut s).await), ["x"]);
    let waited = tokio::time::timeout(Duration::from_secs(3600), s.next()).await;
    assert!(waited.is_err());
}

/// Tokio's timer rounds deadlines up to its millisecond tick.
fn assert_about_15s(waited: Duration) {
    let (lo, hi) = (Duration::from_secs(15), Duration::from_millis(15_002));
    assert!((lo..=hi).contains(&waited), "{waited:?}");
}

#[tokio::test]
async fn no_keep_alive_when_disabled() {
    tokio::time::pause();
    // A zero interval counts as off rather than a flood of comments.
    for every in [None, Some(Duration::ZERO)] {
        let service = Service::builder().keep_alive(every).build();
        let mut s = service.connect(ConnectRequest::new()).unwrap();
        next(&mut s).await;
        let waited = tokio::time::timeout(Duration::from_secs(3600), s.next()).await;
        assert!(waited.is_err(), "{every:?}");
    }
}

#[tokio::test]
async fn a_large_topic_empties_without_quadratic_cost() {
    let service = Service::builder().keep_alive(None).build();
    let room = Topic::new("room").unwrap();
    let streams: Vec<_> = (0..20_000)
        .map(|_| {
            service
                .connect(ConnectRequest::new().topics(["room"]))
                .unwrap()
        })
        .collect();
    assert_eq!(
        service.publish(&room, Event::message("x")).unwrap().queued,
        20_000
    );
    // Leave from the front, the worst order for a list scan.
    drop(streams);
    assert_eq!(service.active(), 0);
    assert_eq!(
        service.publish(&room, Event::message("y")).unwrap().queued,
        0
    );
}

#[tokio::test]
async fn shutdown_delivers_queued_then_ends_every_stream() {
    let hooks = Recorder::default();
    let service = Service::builder().hooks(hooks.clone()).build();
    let mut streams: Vec<_> = (0..3)
        .map(|n| service.connect(req(&format!("c{n}"))).unwrap())
        .collect();
    service.broadcast(Event::message("last words")).unwrap();
    let readers: Vec<_> = streams
        .drain(..)
        .map(|mut s| {
            tokio::spawn(async move {
                let mut text = String::new();
                while let Some(f) = next(&mut s).await {
                    text.push_str(std::str::from_utf8(&f).unwrap());
                }
                text
            })
        })
        .collect();
    let report = service
        .shutdown(
            Shutdown::new(Duration::from_secs(5))
                .final_event(Event::message("bye"))
                .retry(Duration::from_secs(1), Duration::from_secs(4)),
        )
        .await;
    assert_eq!((report.clients, report.forced), (3, 0));
    let mut retries = Vec::new();
    for r in readers {
        let text = r.await.unwrap();
        assert_eq!(datas(&text), ["last words", "bye"]);
        let retry: u64 = text
            .lines()
            .find_map(|l| l.strip_prefix("retry: "))
            .unwrap()
            .parse()
            .unwrap();
        assert!((1000..5000).contains(&retry));
        retries.push(retry);
    }
    retries.dedup();
    assert!(retries.len() > 1, "retry hints are jittered: {retries:?}");
    assert_eq!(service.active(), 0);
    assert_eq!(hooks.count("remove"), 3);
    let err = service.connect(req("late")).unwrap_err();
    assert_eq!(err.rejection().unwrap().kind(), RejectionKind::ShuttingDown);
}

#[tokio::test]
async fn shutdown_cuts_off_unread_streams_at_the_deadline() {
    tokio::time::pause();
    let service = Service::new();
    let stalled = service.connect(req("stalled")).unwrap();
    let report = service
        .shutdown(Shutdown::new(Duration::from_secs(2)))
        .await;
    assert_eq!((report.clients, report.forced), (1, 1));
    assert_eq!(service.active(), 0);
    assert!(stalled.client().is_removed());
}

#[tokio::test]
async fn concurrent_broadcast_send_and_remove() {
    let hooks = Recorder::default();
    let service = Service::builder()
        .hooks(hooks.clone())
        .duplicate_policy(DuplicatePolicy::Allow)
        .build();
    let mut tasks = Vec::new();
    for t in 0..8 {
        let service = service.clone();
        tasks.push(tokio::spawn(async move {
            for n in 0..200 {
                let id = format!("c{}", n % 10);
                let mut s = service.connect(req(&id)).unwrap();
                service
                    .broadcast(Event::message(format!("{t}-{n}")))
                    .unwrap();
                let _ = service.send_to(&ClientId::new(&id).unwrap(), Event::message("dm"));
                s.next().await;
                if n % 3 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for t in tasks {
        tokio::time::timeout(Duration::from_secs(30), t)
            .await
            .expect("no deadlock")
            .expect("no panic");
    }
    assert_eq!(service.active(), 0);
    assert_eq!(hooks.count("create"), 1600);
    assert_eq!(hooks.count("remove"), 1600);
    let m = service.metrics();
    assert_eq!((m.connected, m.removed, m.active), (1600, 1600, 0));
}

#[tokio::test]
async fn one_stalled_client_never_delays_the_others() {
    let service = Service::builder()
        .queue_limits(32, 1 << 20)
        .slow_client_policy(SlowClientPolicy::Disconnect)
        .build();
    let stalled = service.connect(req("stalled")).unwrap();
    let readers: Vec<_> = (0..999)
        .map(|n| {
            let mut s = service.connect(req(&format!("r{n}"))).unwrap();
            tokio::spawn(async move {
                let mut got = Vec::new();
                while got.len() < 100 {
                    let frame = next(&mut s).await.expect("open");
                    got.extend(datas(std::str::from_utf8(&frame).unwrap()));
                }
                got
            })
        })
        .collect();
    for n in 0..100 {
        service.broadcast(Event::message(n.to_string())).unwrap();
        tokio::task::yield_now().await;
    }
    let expected: Vec<String> = (0..100).map(|n| n.to_string()).collect();
    for r in readers {
        assert_eq!(r.await.unwrap(), expected);
    }
    assert!(
        stalled.client().is_removed(),
        "the stalled client was cut off"
    );
    assert_eq!(service.metrics().disconnected_slow, 1);
}

#[tokio::test]
async fn sink_failure_removes_client_once() {
    use sse_core::test_util::{FailingSink, MemorySink};
    let hooks = Recorder::default();
    let service = Service::builder().hooks(hooks.clone()).build();
    let sink = MemorySink::new();
    let stream = service.connect(req("s")).unwrap();
    let pump = tokio::spawn(stream.forward_to(FailingSink::new(sink.clone(), 2)));
    service.broadcast(Event::message("1")).unwrap();
    tokio::task::yield_now().await;
    service.broadcast(Event::message("2")).unwrap();
    let result = tokio::time::timeout(Duration::from_secs(5), pump)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(result, Err(sse_core::Error::Disconnected));
    assert_eq!(service.active(), 0);
    assert_eq!(hooks.count("remove s"), 1);
    assert_eq!(hooks.count("sent s false"), 1);
    assert!(sink.text().starts_with(": connected"));
}

#[tokio::test]
async fn stalled_sink_is_handled_by_policy() {
    use sse_core::test_util::StalledSink;
    let service = Service::builder()
        .queue_limits(4, 1 << 20)
        .slow_client_policy(SlowClientPolicy::Disconnect)
        .build();
    let stream = service.connect(req("s")).unwrap();
    let client = Arc::clone(stream.client());
    let pump = tokio::spawn(stream.forward_to(StalledSink));
    for n in 0..10 {
        service.broadcast(Event::message(n.to_string())).unwrap();
        tokio::task::yield_now().await;
    }
    assert!(client.is_removed());
    pump.abort();
}

#[tokio::test]
async fn slow_sink_gets_everything_in_order() {
    use sse_core::test_util::{MemorySink, SlowSink};
    tokio::time::pause();
    let service = Service::new();
    let sink = MemorySink::new();
    let stream = service.connect(req("s")).unwrap();
    tokio::spawn(stream.forward_to(SlowSink::new(sink.clone(), Duration::from_millis(50))));
    for n in 0..20 {
        service.broadcast(Event::message(n.to_string())).unwrap();
    }
    sink.wait_for(|t| t.contains("data: 19\n")).await;
    let expected: Vec<String> = (0..20).map(|n| n.to_string()).collect();
    assert_eq!(datas(&sink.text()), expected);
}

#[tokio::test]
async fn every_recipient_shares_one_encoding() {
    let service = Service::new();
    let mut a = service.connect(req("a")).unwrap();
    let mut b = service.connect(req("b")).unwrap();
    next(&mut a).await;
    next(&mut b).await;
    service.broadcast(Event::message("shared")).unwrap();
    let fa = next(&mut a).await.unwrap();
    let fb = next(&mut b).await.unwrap();
    assert_eq!(fa.as_ptr(), fb.as_ptr(), "same allocation, not a copy");
}

fn topic(name: &str) -> Topic {
    Topic::new(name).unwrap()
}

fn alice() -> Principal {
    Principal::new(
        ClientId::new("alice").unwrap(),
        TopicGrants::patterns(["room:*", "private:alice"]).unwrap(),
    )
}

#[test]
fn topics_outside_the_grants_are_refused_with_403() {
    let service = Service::builder()
        .anonymous_topics(TopicGrants::patterns(["room:*"]).unwrap())
        .build();
    let as_alice = |topics: &[&str]| {
        service.connect(
            ConnectRequest::new()
                .principal(alice())
                .topics(topics.iter().copied()),
        )
    };
    assert!(as_alice(&["room:a", "private:alice"]).is_ok());
    for forbidden in [&["private:bob"][..], &["room:a", "private:bob"], &["news"]] {
        let err = as_alice(forbidden).unwrap_err();
        let rejection = err.rejection().unwrap();
        assert_eq!(rejection.kind(), RejectionKind::Forbidden, "{forbidden:?}");
        assert!(rejection.reason().contains("not allowed"), "{rejection}");
    }
    // Without a principal: the anonymous topics, whatever id it has.
    let anon = |topics: &[&str]| {
        service.connect(
            ConnectRequest::new()
                .client_id("alice")
                .topics(topics.iter().copied()),
        )
    };
    assert!(anon(&["room:b"]).is_ok());
    assert_eq!(
        anon(&["private:alice"])
            .unwrap_err()
            .rejection()
            .unwrap()
            .kind(),
        RejectionKind::Forbidden
    );
}

#[test]
fn anonymous_topics_default_to_every_topic() {
    let service = Service::new();
    assert!(service
        .connect(ConnectRequest::new().topics(["anything", "private:x"]))
        .is_ok());
    let service = Service::builder()
        .anonymous_topics(TopicGrants::none())
        .build();
    let err = service
        .connect(ConnectRequest::new().topics(["anything"]))
        .unwrap_err();
    assert_eq!(err.rejection().unwrap().kind(), RejectionKind::Forbidden);
}

#[tokio::test]
async fn the_first_event_names_the_client() {
    let service = Service::new();
    let mut generated = service.connect(ConnectRequest::new()).unwrap();
    let id = only_id(&service);
    assert_eq!(next_text(&mut generated).await, prelude(&id));
    let mut named = service
        .connect(ConnectRequest::new().principal(alice()))
        .unwrap();
    assert_eq!(next_text(&mut named).await, prelude("alice"));
}

#[tokio::test]
async fn live_subscriptions_reach_every_connection_of_the_id() {
    let service = Service::new();
    let mut tabs = [
        service
            .connect(ConnectRequest::new().principal(alice()))
            .unwrap(),
        service
            .connect(ConnectRequest::new().principal(alice()))
            .unwrap(),
    ];
    let mut other = service.connect(req("bob")).unwrap();
    for s in tabs.iter_mut().chain([&mut other]) {
        next(s).await;
    }
    let id = ClientId::new("alice").unwrap();
    let room = topic("room:rust");
    service.publish(&room, Event::message("before")).unwrap();
    assert_eq!(
        service
            .subscribe(&id, &[room.clone(), room.clone()])
            .unwrap(),
        2
    );
    assert!(service
        .clients()
        .iter()
        .filter(|c| c.id() == &id)
        .all(|c| c.is_subscribed(&room)));
    service.publish(&room, Event::message("during")).unwrap();
    assert_eq!(
        service
            .unsubscribe(&id, std::slice::from_ref(&room))
            .unwrap(),
        2
    );
    service.publish(&room, Event::message("after")).unwrap();
    service.broadcast(Event::message("marker")).unwrap();
    for s in &mut tabs {
        assert_eq!(next_datas(s, 2).await, ["during", "marker"]);
    }
    assert_eq!(next_datas(&mut other, 1).await, ["marker"]);
}

#[test]
fn live_subscriptions_obey_the_grants_and_limits() {
    let service = Service::builder().max_topics_per_client(2).build();
    let _tab = service
        .connect(ConnectRequest::new().principal(alice()))
        .unwrap();
    let id = ClientId::new("alice").unwrap();
    let err = service
        .subscribe(&id, &[topic("room:a"), topic("private:bob")])
        .unwrap_err();
    assert_eq!(err.rejection().unwrap().kind(), RejectionKind::Forbidden);
    // Nothing changed: the allowed topic of a refused request was not added either.
    assert!(service.clients()[0].topics().is_empty());
    let err = service
        .subscribe(&id, &[topic("room:a"), topic("room:b"), topic("room:c")])
        .unwrap_err();
    assert_eq!(err.rejection().unwrap().kind(), RejectionKind::Invalid);
    assert_eq!(
        service
            .subscribe(&id, &[topic("room:a"), topic("room:b")])
            .unwrap(),
        1
    );
    assert_eq!(
        service.subscribe(&ClientId::new("nobody").unwrap(), &[topic("room:a")]),
        Err(Error::NotConnected)
    );
}

#[tokio::test]
async fn a_removed_client_leaves_no_live_subscription_behind() {
    let service = Service::new();
    let s = service.connect(req("gone")).unwrap();
    let id = ClientId::new("gone").unwrap();
    service.subscribe(&id, &[topic("t")]).unwrap();
    drop(s);
    let d = service.publish(&topic("t"), Event::message("x")).unwrap();
    assert_eq!(
        d.queued + d.skipped,
        0,
        "no index entry left for the removed client"
    );
}

#[tokio::test]
async fn publishing_after_shutdown_began_is_refused() {
    let service = Service::new();
    let id = ClientId::new("stays").unwrap();
    let mut reader = service
        .connect(ConnectRequest::new().client_id("stays"))
        .unwrap();
    next(&mut reader).await;
    let before = service.broadcast(Event::message("before")).unwrap();
    let shutdown = tokio::spawn({
        let service = service.clone();
        async move {
            service
                .shutdown(Shutdown::new(Duration::from_secs(5)))
                .await
        }
    });
    while service.is_accepting() {
        tokio::task::yield_now().await;
    }
    // Refused, with no id given out: no client would ever get it.
    assert_eq!(
        service.broadcast(Event::message("late")),
        Err(Error::ShuttingDown)
    );
    assert_eq!(
        service.publish(&topic("t"), Event::message("late")),
        Err(Error::ShuttingDown)
    );
    assert_eq!(
        service.send_to(&id, Event::message("late")),
        Err(Error::ShuttingDown)
    );
    assert_eq!(service.latest_id(), before.id.unwrap());
    assert_eq!(next_datas(&mut reader, 1).await, ["before"]);
    assert_eq!(next(&mut reader).await, None);
    drop(reader);
    assert_eq!(shutdown.await.unwrap().forced, 0);
}

/// A registry that records every call about subscriptions, over the default one.
#[derive(Debug, Default, Clone)]
struct Watching {
    inner: Arc<sse_core::MemoryManager>,
    log: Arc<std::sync::Mutex<Vec<String>>>,
}

impl Watching {
    fn say(&self, line: String) {
        self.log.lock().unwrap().push(line);
    }

    fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

fn names(topics: &[Topic]) -> String {
    topics
        .iter()
        .map(Topic::as_str)
        .collect::<Vec<_>>()
        .join(",")
}

impl sse_core::ClientManager for Watching {
    fn add(&self, client: Arc<sse_core::Client>) -> usize {
        self.say(format!("add {} [{}]", client.id(), names(&client.topics())));
        self.inner.add(client)
    }
    fn remove(&self, client: &sse_core::Client) -> Option<usize> {
        self.say(format!(
            "remove {} [{}]",
            client.id(),
            names(&client.topics())
        ));
        self.inner.remove(client)
    }
    fn for_each(&self, f: &mut dyn FnMut(&Arc<sse_core::Client>)) {
        self.inner.for_each(f)
    }
    fn for_each_with_id(&self, id: &ClientId, f: &mut dyn FnMut(&Arc<sse_core::Client>)) {
        self.inner.for_each_with_id(id, f)
    }
    fn active(&self) -> usize {
        self.inner.active()
    }
    fn subscribe(&self, client: &Arc<sse_core::Client>, topics: &[Topic]) {
        self.say(format!("subscribe {} [{}]", client.id(), names(topics)));
        self.inner.subscribe(client, topics)
    }
    fn unsubscribe(&self, client: &sse_core::Client, topics: &[Topic]) {
        self.say(format!("unsubscribe {} [{}]", client.id(), names(topics)));
        self.inner.unsubscribe(client, topics)
    }
    fn for_each_subscriber(&self, topics: &[Topic], f: &mut dyn FnMut(&Arc<sse_core::Client>)) {
        self.say(format!("publish [{}]", names(topics)));
        self.inner.for_each_subscriber(topics, f)
    }
}

#[tokio::test]
async fn a_custom_manager_sees_every_subscription() {
    let manager = Watching::default();
    let service = Service::builder().manager(manager.clone()).build();
    let topic = |t: &str| Topic::new(t).unwrap();
    let id = ClientId::new("a").unwrap();
    let mut a = service.connect(req("a").topics(["t1", "t2"])).unwrap();
    next(&mut a).await;
    service.subscribe(&id, &[topic("t3"), topic("t1")]).unwrap();
    service.unsubscribe(&id, &[topic("t1")]).unwrap();
    service.publish(&topic("t3"), Event::message("x")).unwrap();
    assert_eq!(next_datas(&mut a, 1).await, ["x"]);
    drop(a);
    assert_eq!(
        manager.log(),
        [
            "add a [t1,t2]",
            "subscribe a [t3]",
            "unsubscribe a [t1]",
            "publish [t3]",
            "remove a [t2,t3]",
        ]
    );
}

/// Records every interest change, in order.
#[derive(Debug, Default, Clone)]
struct Interests(Arc<std::sync::Mutex<Vec<String>>>);

impl sse_core::InterestListener for Interests {
    fn on_interest(&self, interest: &sse_core::Interest, interested: bool) {
        let what = match interest {
            sse_core::Interest::Topic(t) => format!("topic {t}"),
            sse_core::Interest::Client(id) => format!("client {id}"),
            other => format!("{other:?}"),
        };
        let sign = if interested { "+" } else { "-" };
        self.0.lock().unwrap().push(format!("{sign}{what}"));
    }
}

impl Interests {
    fn take(&self) -> Vec<String> {
        std::mem::take(&mut *self.0.lock().unwrap())
    }
}

#[tokio::test]
async fn interest_begins_with_the_first_local_reader_and_ends_with_the_last() {
    let log = Interests::default();
    let service = Service::builder().interest_listener(log.clone()).build();
    let topic = |t: &str| Topic::new(t).unwrap();
    let a = service.connect(req("a").topics(["t1", "t2"])).unwrap();
    assert_eq!(log.take(), ["+client a", "+topic t1", "+topic t2"]);
    // A second reader of t1, and a second connection of a: nothing new.
    let b = service.connect(req("b").topics(["t1"])).unwrap();
    let a2 = service.connect(req("a")).unwrap();
    assert_eq!(log.take(), ["+client b"]);
    let counts = service.interest_counts();
    assert_eq!(counts[0], (sse_core::Interest::Topic(topic("t1")), 2));
    assert_eq!(
        counts[2],
        (sse_core::Interest::Client(ClientId::new("a").unwrap()), 2)
    );
    assert_eq!(
        service.interests(),
        [
            sse_core::Interest::Topic(topic("t1")),
            sse_core::Interest::Topic(topic("t2")),
            sse_core::Interest::Client(ClientId::new("a").unwrap()),
            sse_core::Interest::Client(ClientId::new("b").unwrap()),
        ]
    );
    // Live subscriptions: b joins t3 (new), a leaves t2 (its last reader).
    service
        .subscribe(&ClientId::new("b").unwrap(), &[topic("t3")])
        .unwrap();
    service
        .unsubscribe(&ClientId::new("a").unwrap(), &[topic("t2")])
        .unwrap();
    assert_eq!(log.take(), ["+topic t3", "-topic t2"]);
    drop(a);
    assert_eq!(log.take(), Vec::<String>::new(), "a2 keeps a; b keeps t1");
    drop(b);
    assert_eq!(log.take(), ["-client b", "-topic t1", "-topic t3"]);
    drop(a2);
    assert_eq!(log.take(), ["-client a"]);
    assert!(service.interests().is_empty());
}

#[tokio::test]
async fn a_replaced_connection_hands_its_interest_over_without_a_gap() {
    let log = Interests::default();
    let service = Service::builder()
        .duplicate_policy(DuplicatePolicy::Replace)
        .interest_listener(log.clone())
        .build();
    let old = service.connect(req("a").topics(["t"])).unwrap();
    let new = service.connect(req("a").topics(["t"])).unwrap();
    assert_eq!(
        log.take(),
        ["+client a", "+topic t"],
        "no end and start again"
    );
    drop(old);
    drop(new);
    assert_eq!(log.take(), ["-client a", "-topic t"]);
}

#[test]
fn interest_changes_alternate_under_concurrent_churn() {
    let log = Interests::default();
    let service = Service::builder()
        .keep_alive(None)
        .interest_listener(log.clone())
        .build();
    let topics = ["t0", "t1", "t2"];
    let threads: Vec<_> = (0..4)
        .map(|thread| {
            let service = service.clone();
            std::thread::spawn(move || {
                for i in 0..500usize {
                    let id = format!("c{}", (thread + i) % 3);
                    let mine = [topics[i % 3], topics[(i + thread) % 3]];
                    let stream = service.connect(req(&id).topics(mine)).unwrap();
                    let live = Topic::new(topics[(i + 1) % 3]).unwrap();
                    let id = ClientId::new(&id).unwrap();
                    let _ = service.subscribe(&id, std::slice::from_ref(&live));
                    if i % 2 == 0 {
                        let _ = service.unsubscribe(&id, &[live]);
                    }
                    drop(stream);
                }
            })
        })
        .collect();
    for thread in threads {
        thread.join().unwrap();
    }
    assert!(service.interests().is_empty());
    // Per interest: began, ended, began, ended... never twice in a row.
    let mut last: std::collections::HashMap<String, char> = Default::default();
    let changes = log.take();
    assert!(!changes.is_empty());
    for change in changes {
        let (sign, what) = change.split_at(1);
        let sign = sign.chars().next().unwrap();
        let previous = last.insert(what.to_owned(), sign).unwrap_or('-');
        assert_ne!(previous, sign, "{what} {sign} twice in a row");
    }
    assert!(last.values().all(|&s| s == '-'), "everything ended");
}

#[test]
fn an_invalid_name_is_kept_as_the_rejection_source() {
    use std::error::Error as _;
    let service = Service::new();
    let err = service.connect(req("two words")).unwrap_err();
    let rejection = err.rejection().unwrap();
    assert_eq!(rejection.kind(), RejectionKind::Invalid);
    let source = err
        .source()
        .and_then(|r| r.source())
        .expect("a source chain");
    assert_eq!(
        source.downcast_ref::<sse_core::NameError>(),
        Some(&sse_core::NameError::ClientId)
    );
    let err = service
        .connect(ConnectRequest::new().topics(["a,b"]))
        .unwrap_err();
    let source = err.source().and_then(|r| r.source());
    assert_eq!(
        source.and_then(|s| s.downcast_ref::<sse_core::NameError>()),
        Some(&sse_core::NameError::Topic)
    );
}
