//! Property: whatever mix of connects, publishes, live subscriptions and disconnects,
//! each client receives exactly the events meant for it (broadcasts and its topics at
//! the time of each publish), once each, in order.

mod common;

use std::task::{Context, Poll, Waker};

use futures::StreamExt;
use proptest::prelude::*;
use sse_codec::Event;
use sse_core::{ClientId, ClientStream, ConnectRequest, Interest, ReplayConfig, Service, Topic};

const TOPICS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
enum Op {
    Connect(Vec<usize>),
    Publish(Vec<usize>),
    Broadcast,
    Disconnect(usize),
    Subscribe(usize, Vec<usize>),
    Unsubscribe(usize, Vec<usize>),
}

fn op() -> impl Strategy<Value = Op> {
    let topics = proptest::sample::subsequence(vec![0, 1, 2], 0..=3);
    prop_oneof![
        topics.clone().prop_map(Op::Connect),
        topics.clone().prop_map(Op::Publish),
        Just(Op::Broadcast),
        any::<usize>().prop_map(Op::Disconnect),
        (any::<usize>(), topics.clone()).prop_map(|(i, t)| Op::Subscribe(i, t)),
        (any::<usize>(), topics).prop_map(|(i, t)| Op::Unsubscribe(i, t)),
    ]
}

fn drain(stream: &mut ClientStream) -> String {
    let mut cx = Context::from_waker(Waker::noop());
    let mut text = String::new();
    while let Poll::Ready(Some(frame)) = stream.poll_next_unpin(&mut cx) {
        text.push_str(std::str::from_utf8(&frame).unwrap());
    }
    text
}

proptest! {
    #[test]
    fn each_client_gets_exactly_its_events(ops in proptest::collection::vec(op(), 1..60)) {
        let service = Service::builder()
            .keep_alive(None)
            .replay(ReplayConfig::disabled())
            .queue_limits(1000, usize::MAX)
            .build();
        // (stream, id, subscribed topics, expected data so far)
        let mut clients: Vec<(ClientStream, ClientId, Vec<usize>, Vec<String>)> = Vec::new();
        let list = |topics: &[usize]| -> Vec<Topic> {
            topics.iter().map(|&t| Topic::new(TOPICS[t]).unwrap()).collect()
        };
        for (n, op) in ops.into_iter().enumerate() {
            match op {
                Op::Connect(topics) => {
                    let names: Vec<&str> = topics.iter().map(|&t| TOPICS[t]).collect();
                    let id = format!("c{n}");
                    let request = ConnectRequest::new().client_id(&id).topics(names);
                    let stream = service.connect(request).unwrap();
                    clients.push((stream, ClientId::new(&id).unwrap(), topics, Vec::new()));
                }
                Op::Subscribe(i, ref topics) | Op::Unsubscribe(i, ref topics) if !clients.is_empty() => {
                    let len = clients.len();
                    let (_, id, subscribed, _) = &mut clients[i % len];
                    if matches!(op, Op::Subscribe(..)) {
                        prop_assert_eq!(service.subscribe(id, &list(topics)), Ok(1));
                        subscribed.extend(topics);
                    } else {
                        prop_assert_eq!(service.unsubscribe(id, &list(topics)), Ok(1));
                        subscribed.retain(|t| !topics.contains(t));
                    }
                }
                Op::Subscribe(..) | Op::Unsubscribe(..) => {}
                Op::Publish(topics) => {
                    let data = format!("e{n}");
                    let delivery = service.publish_many(&list(&topics), Event::message(data.clone())).unwrap();
                    let mut reached = 0;
                    for (_, _, subscribed, expected) in &mut clients {
                        if subscribed.iter().any(|t| topics.contains(t)) {
                            expected.push(data.clone());
                            reached += 1;
                        }
                    }
                    prop_assert_eq!(delivery.queued, reached);
                }
                Op::Broadcast => {
                    let data = format!("e{n}");
                    service.broadcast(Event::message(data.clone())).unwrap();
                    for (_, _, _, expected) in &mut clients {
                        expected.push(data.clone());
                    }
                }
                Op::Disconnect(i) if !clients.is_empty() => {
                    let (mut stream, _, _, expected) = clients.remove(i % clients.len());
                    prop_assert_eq!(common::datas(&drain(&mut stream)), expected);
                }
                Op::Disconnect(_) => {}
            }
            // The service's interests are exactly its clients' ids and topics.
            let mut expected: Vec<Interest> = clients
                .iter()
                .flat_map(|(_, id, subscribed, _)| {
                    list(subscribed)
                        .into_iter()
                        .map(Interest::Topic)
                        .chain([Interest::Client(id.clone())])
                })
                .collect();
            expected.sort();
            expected.dedup();
            prop_assert_eq!(service.interests(), expected);
        }
        prop_assert_eq!(service.active(), clients.len());
        for (mut stream, _, _, expected) in clients {
            prop_assert_eq!(common::datas(&drain(&mut stream)), expected);
        }
        prop_assert_eq!(service.active(), 0);
        prop_assert!(service.interests().is_empty());
    }
}
