//! Resume with `Last-Event-ID`: exactly once, in order, with no gap at the hand-off.

mod common;

use std::time::Duration;

use common::*;
use futures::StreamExt;
use sse_codec::Event;
use sse_core::{ConnectRequest, ReplayConfig, Service, Topic, CLIENT_EVENT};

/// (id, data) of every event in `text`; comments, retry lines and the `sse-client`
/// event skipped.
fn events(text: &str) -> Vec<(String, String)> {
    let (mut out, mut id, mut data) = (Vec::new(), String::new(), None::<String>);
    let mut kind = String::new();
    for line in text.split('\n') {
        if line.is_empty() {
            if let Some(d) = data.take() {
                if kind != CLIENT_EVENT {
                    out.push((id.clone(), d));
                }
            }
            kind.clear();
        } else if let Some(v) = line.strip_prefix("event: ") {
            kind = v.to_owned();
        } else if let Some(v) = line.strip_prefix("id: ") {
            id = v.to_owned();
        } else if let Some(v) = line.strip_prefix("data: ") {
            data = Some(v.to_owned());
        }
    }
    out
}

/// The next `n` events, over as many frames as they take.
async fn next_events(stream: &mut sse_core::ClientStream, n: usize) -> Vec<(String, String)> {
    let mut got = Vec::new();
    while got.len() < n {
        got.extend(events(&next_text(stream).await));
    }
    got
}

fn data_of(events: &[(String, String)]) -> Vec<&str> {
    events.iter().map(|e| e.1.as_str()).collect()
}

#[tokio::test]
async fn reconnect_gets_exactly_the_missed_events() {
    let service = Service::new();
    let mut s = service.connect(ConnectRequest::new()).unwrap();
    next(&mut s).await;
    service.broadcast(Event::message("1")).unwrap();
    let seen = events(&next_text(&mut s).await);
    drop(s);
    service.broadcast(Event::message("2")).unwrap();
    service.broadcast(Event::message("3")).unwrap();
    let mut s = service
        .connect(ConnectRequest::new().last_event_id(&seen[0].0))
        .unwrap();
    let got = next_events(&mut s, 2).await;
    assert_eq!(data_of(&got), ["2", "3"]);
    service.broadcast(Event::message("4")).unwrap();
    assert_eq!(datas(&next_text(&mut s).await), ["4"]);
    assert_eq!(service.metrics().resumed, 1);
}

#[tokio::test]
async fn replay_is_per_topic() {
    let service = Service::new();
    let (a, b) = (Topic::new("a").unwrap(), Topic::new("b").unwrap());
    let start = service.latest_id().to_string();
    service.publish(&a, Event::message("a1")).unwrap();
    service.publish(&b, Event::message("b1")).unwrap();
    service.broadcast(Event::message("all")).unwrap();
    service
        .publish_many(&[a.clone(), b.clone()], Event::message("ab"))
        .unwrap();
    let mut s = service
        .connect(ConnectRequest::new().topics(["a"]).last_event_id(start))
        .unwrap();
    assert_eq!(data_of(&next_events(&mut s, 3).await), ["a1", "all", "ab"]);
}

#[tokio::test]
async fn too_old_and_unknown_ids_get_a_reset_event_and_hook() {
    let hooks = Recorder::default();
    let service = Service::builder()
        .hooks(hooks.clone())
        .replay(ReplayConfig::new().max_events(2))
        .build();
    let origin = service.latest_id().to_string();
    let first = service.broadcast(Event::message("1")).unwrap().id.unwrap();
    for n in 2..=4 {
        service.broadcast(Event::message(n.to_string())).unwrap();
    }
    // The notice says where the client is (for an id of another run, the start of
    // this one), and every event still held follows it.
    let first_id = first.to_string();
    let latest = service.latest_id().to_string();
    let future = format!("{}-999", first.epoch());
    for (last, reason, id) in [
        (first_id.as_str(), "too-old", first_id.as_str()),
        ("0-1", "unknown", origin.as_str()),
        ("not an id", "unknown", origin.as_str()),
        // Past our latest (an instance ahead of us): it may have had all of it.
        (future.as_str(), "unknown", latest.as_str()),
    ] {
        let mut s = service.connect(req("r").last_event_id(last)).unwrap();
        let text = next_text(&mut s).await;
        assert!(
            text.ends_with(&format!("event: sse-reset\nid: {id}\ndata: {reason}\n\n")),
            "{text}"
        );
        if last == future {
            service.broadcast(Event::message("live")).unwrap();
            assert_eq!(data_of(&next_events(&mut s, 1).await), ["live"]);
        } else {
            assert_eq!(data_of(&next_events(&mut s, 2).await), ["3", "4"]);
        }
    }
    assert_eq!(hooks.count("reset r too-old"), 1);
    assert_eq!(hooks.count("reset r unknown"), 3);
    assert_eq!(service.metrics().reset, 4);
}

#[tokio::test]
async fn no_replay_means_no_ids() {
    let service = Service::builder().replay(ReplayConfig::disabled()).build();
    let mut s = service
        .connect(ConnectRequest::new().last_event_id("1-1"))
        .unwrap();
    assert_eq!(next_text(&mut s).await, prelude(&only_id(&service)));
    assert_eq!(service.broadcast(Event::message("x")).unwrap().id, None);
    assert_eq!(next_text(&mut s).await, "data: x\n\n");
}

/// Clients keep dropping and resuming while a publisher runs on another thread; each
/// must end with every event, in order, once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hand_off_under_concurrent_publishing() {
    const EVENTS: usize = 3000;
    let service = Service::builder()
        .replay(ReplayConfig::new().max_events(EVENTS))
        .queue_limits(EVENTS, usize::MAX)
        .build();
    let start = service.latest_id().to_string();
    let mut clients = Vec::new();
    for c in 0..4u64 {
        let service = service.clone();
        let start = start.clone();
        clients.push(tokio::spawn(async move {
            let mut seen: Vec<(String, String)> = Vec::new();
            let mut round = 0u64;
            while seen.len() < EVENTS {
                let last = seen.last().map_or(start.clone(), |e| e.0.clone());
                let mut s = service
                    .connect(ConnectRequest::new().last_event_id(last))
                    .unwrap();
                // Read a few writes, then drop the connection mid-stream.
                round += 1;
                for _ in 0..(1 + (round * 7 + c) % 5) {
                    match tokio::time::timeout(Duration::from_secs(10), s.next()).await {
                        Ok(Some(frame)) => {
                            seen.extend(events(std::str::from_utf8(&frame).unwrap()))
                        }
                        _ => break,
                    }
                    if seen.len() >= EVENTS {
                        break;
                    }
                }
            }
            (seen, round)
        }));
    }
    let publisher = {
        let service = service.clone();
        tokio::spawn(async move {
            for n in 0..EVENTS {
                service.broadcast(Event::message(n.to_string())).unwrap();
                // Paced, so that the clients hand off many times while it runs: all
                // at once, a client may get everything in a few large writes.
                if n % 64 == 0 {
                    tokio::time::sleep(Duration::from_millis(1)).await;
                } else if n % 16 == 0 {
                    tokio::task::yield_now().await;
                }
            }
        })
    };
    publisher.await.unwrap();
    let expected: Vec<String> = (0..EVENTS).map(|n| n.to_string()).collect();
    for c in clients {
        let (seen, rounds) = tokio::time::timeout(Duration::from_secs(60), c)
            .await
            .expect("client finishes")
            .unwrap();
        let got: Vec<String> = seen.into_iter().map(|e| e.1).collect();
        assert_eq!(got, expected);
        assert!(
            rounds > 10,
            "the client really reconnected ({rounds} rounds)"
        );
    }
    assert_eq!(service.metrics().reset, 0);
}

/// A reconnect is resumed for the topics its request names: after a live subscription,
/// a request that names the new topic gets its missed events too; one that names
/// only the topics of the first connect (an `EventSource`'s unchanged URL) does not.
#[tokio::test]
async fn resume_across_a_live_subscription() {
    let service = Service::new();
    let (a, b) = (Topic::new("a").unwrap(), Topic::new("b").unwrap());
    let mut s = service
        .connect(ConnectRequest::new().client_id("c").topics(["a"]))
        .unwrap();
    next(&mut s).await;
    let id = sse_core::ClientId::new("c").unwrap();
    service.subscribe(&id, std::slice::from_ref(&b)).unwrap();
    service.publish(&b, Event::message("b1")).unwrap();
    service.publish(&a, Event::message("a1")).unwrap();
    let mut seen = Vec::new();
    while seen.len() < 2 {
        seen.extend(events(&next_text(&mut s).await));
    }
    assert_eq!(
        seen.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(),
        ["b1", "a1"]
    );
    drop(s);
    service.publish(&b, Event::message("b2")).unwrap();
    service.publish(&a, Event::message("a2")).unwrap();
    // Resumed after b1, as if a1 had been lost in flight.
    let resume = |topics: &[&str]| {
        service
            .connect(
                ConnectRequest::new()
                    .client_id("c")
                    .topics(topics.iter().copied())
                    .last_event_id(&seen[0].0),
            )
            .unwrap()
    };
    let mut both = resume(&["a", "b"]);
    assert_eq!(
        data_of(&next_events(&mut both, 3).await),
        ["a1", "b2", "a2"]
    );
    let mut first_url = resume(&["a"]);
    assert_eq!(data_of(&next_events(&mut first_url, 2).await), ["a1", "a2"]);
}

#[tokio::test(start_paused = true)]
async fn aged_events_leave_the_history_with_nothing_published_or_resumed() {
    let handle = tokio::runtime::Handle::current();
    let tasks_before = handle.metrics().num_alive_tasks();
    let service = Service::builder()
        .replay(ReplayConfig::new().max_age(Duration::from_secs(8)))
        .build();
    for i in 0..10 {
        service.broadcast(Event::message(i.to_string())).unwrap();
    }
    assert_eq!(service.metrics().history_events, 10);
    assert!(service.metrics().history_bytes > 10 * sse_core::ENTRY_OVERHEAD as u64);

    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        service.metrics().history_events,
        10,
        "younger than the bound"
    );
    // The bound plus one expiry period (an eighth of it), and a margin.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let metrics = service.metrics();
    assert_eq!((metrics.history_events, metrics.history_bytes), (0, 0));

    // The expiry task ends with the service.
    assert_eq!(handle.metrics().num_alive_tasks(), tasks_before + 1);
    drop(service);
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(handle.metrics().num_alive_tasks(), tasks_before);
}

#[test]
fn a_service_outside_a_runtime_publishes_and_bounds_its_history_by_count() {
    let service = Service::builder()
        .replay(ReplayConfig::new().max_events(3))
        .build();
    for i in 0..5 {
        service.broadcast(Event::message(i.to_string())).unwrap();
    }
    assert_eq!(service.metrics().history_events, 3);
}

#[test]
fn expiry_starts_again_on_a_new_runtime_when_the_first_one_ends() {
    let config = ReplayConfig::new().max_age(Duration::from_secs(8));
    let first = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    // Built inside the first runtime: its expiry task runs there, and ends with it.
    let service = first.block_on(async { Service::builder().replay(config).build() });
    drop(first);
    let second = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .start_paused(true)
        .build()
        .unwrap();
    second.block_on(async {
        service.broadcast(Event::message("x")).unwrap();
        assert_eq!(service.metrics().history_events, 1);
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert_eq!(
            service.metrics().history_events,
            0,
            "expired on the new runtime"
        );
    });
}
