//! Property: whatever mix of connects, publishes and disconnects, each client receives
//! exactly the events meant for it (broadcasts and its topics), once each, in order.

use std::task::{Context, Poll, Waker};

use futures::StreamExt;
use proptest::prelude::*;
use sse_codec::Event;
use sse_core::{ClientStream, ConnectRequest, ReplayConfig, Service, Topic};

const TOPICS: [&str; 3] = ["a", "b", "c"];

#[derive(Debug, Clone)]
enum Op {
    Connect(Vec<usize>),
    Publish(Vec<usize>),
    Broadcast,
    Disconnect(usize),
}

fn op() -> impl Strategy<Value = Op> {
    let topics = proptest::sample::subsequence(vec![0, 1, 2], 0..=3);
    prop_oneof![
        topics.clone().prop_map(Op::Connect),
        topics.prop_map(Op::Publish),
        Just(Op::Broadcast),
        any::<usize>().prop_map(Op::Disconnect),
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
        // (stream, subscribed topics, expected data so far)
        let mut clients: Vec<(ClientStream, Vec<usize>, Vec<String>)> = Vec::new();
        for (n, op) in ops.into_iter().enumerate() {
            match op {
                Op::Connect(topics) => {
                    let names: Vec<&str> = topics.iter().map(|&t| TOPICS[t]).collect();
                    let stream = service.connect(ConnectRequest::new().topics(names)).unwrap();
                    clients.push((stream, topics, Vec::new()));
                }
                Op::Publish(topics) => {
                    let list: Vec<Topic> =
                        topics.iter().map(|&t| Topic::new(TOPICS[t]).unwrap()).collect();
                    let data = format!("e{n}");
                    let delivery = service.publish_many(&list, Event::message(data.clone()));
                    let mut reached = 0;
                    for (_, subscribed, expected) in &mut clients {
                        if subscribed.iter().any(|t| topics.contains(t)) {
                            expected.push(data.clone());
                            reached += 1;
                        }
                    }
                    prop_assert_eq!(delivery.queued, reached);
                }
                Op::Broadcast => {
                    let data = format!("e{n}");
                    service.broadcast(Event::message(data.clone()));
                    for (_, _, expected) in &mut clients {
                        expected.push(data.clone());
                    }
                }
                Op::Disconnect(i) if !clients.is_empty() => {
                    let (mut stream, _, expected) = clients.remove(i % clients.len());
                    let got: Vec<String> = drain(&mut stream)
                        .lines()
                        .filter_map(|l| l.strip_prefix("data: ").map(str::to_owned))
                        .collect();
                    prop_assert_eq!(got, expected);
                }
                Op::Disconnect(_) => {}
            }
        }
        prop_assert_eq!(service.active(), clients.len());
        for (mut stream, _, expected) in clients {
            let got: Vec<String> = drain(&mut stream)
                .lines()
                .filter_map(|l| l.strip_prefix("data: ").map(str::to_owned))
                .collect();
            prop_assert_eq!(got, expected);
        }
        prop_assert_eq!(service.active(), 0);
    }
}
