//! Resume under chaos: while events flow, clients drop their connections at random
//! moments (FIN or reset) and come back after random pauses with `Last-Event-ID`.
//! The replay window holds every event, so each client must end with the whole
//! sequence, in order, without duplicates.

use std::time::{Duration, Instant};

use reliability::{seq_and_time, Received, Rng, Server, SseConn, StreamEvent};

const BIN: &str = env!("CARGO_BIN_EXE_rel-server");

#[derive(Debug, Clone, Copy)]
struct Scale {
    clients: usize,
    count: u64,
    rate: u64,
    seed: u64,
}

/// One client: starts on `first`, reads a random number of events, drops the
/// connection (half the time with a reset), sleeps, reconnects with the last id seen,
/// until it has event `count`. Returns what it got, its connections and resets.
async fn client(
    addr: std::net::SocketAddr,
    first: SseConn,
    count: u64,
    mut rng: Rng,
) -> (Received, u64, u64) {
    let mut got = Received::default();
    let mut last_id: Option<String> = None;
    let mut connections = 0;
    let mut resets = 0;
    let mut next = Some(first);
    let deadline = Instant::now() + Duration::from_secs(240);
    while got.seqs.last().copied() != Some(count) && Instant::now() < deadline {
        let mut conn = match next.take() {
            Some(conn) => conn,
            None => {
                let header = last_id.as_ref().map(|id| format!("last-event-id: {id}"));
                let headers: Vec<&[u8]> = header.iter().map(|h| h.as_bytes()).collect();
                SseConn::open(addr, "/events", &headers, None, Duration::from_secs(10))
                    .await
                    .expect("open")
                    .expect_stream("chaos client")
            }
        };
        connections += 1;
        let take = rng.range(1, 40);
        let mut taken = 0;
        while taken < take {
            match conn.next(Duration::from_secs(10)).await {
                Ok(StreamEvent::Event(event)) if event.event_type() == "sse-reset" => {
                    resets += 1;
                    last_id = Some(event.last_event_id().to_owned());
                }
                Ok(StreamEvent::Event(event)) => {
                    let (seq, _) = seq_and_time(&event).expect("seq");
                    got.seqs.push(seq);
                    last_id = Some(event.last_event_id().to_owned());
                    taken += 1;
                    if seq == count {
                        break;
                    }
                }
                Ok(StreamEvent::End) | Err(_) => break,
            }
        }
        if rng.range(0, 2) == 0 {
            conn.abort();
        } else {
            drop(conn);
        }
        tokio::time::sleep(Duration::from_millis(rng.range(0, 150))).await;
    }
    (got, connections, resets)
}

async fn run(scale: Scale) {
    let server = Server::start(
        BIN,
        &[
            ("REPLAY_EVENTS", (scale.count * 2).to_string()),
            ("REPLAY_BYTES", (scale.count * 1024).to_string()),
        ],
    )
    .await;
    let addr = server.addr;
    // Everyone is connected before the first event, so the whole sequence is theirs.
    let mut tasks = Vec::new();
    for i in 0..scale.clients {
        let first = SseConn::open(addr, "/events", &[], None, Duration::from_secs(10))
            .await
            .expect("open")
            .expect_stream("first connection");
        let rng = Rng::new(scale.seed ^ (i as u64 + 1));
        tasks.push(tokio::spawn(client(addr, first, scale.count, rng)));
    }
    let (_, ok) = server
        .wait_stats(Duration::from_secs(10), |s| {
            s.get("active") == scale.clients as u64
        })
        .await;
    assert!(ok);
    let start = Instant::now();
    server
        .post(&format!(
            "/pump?count={}&rate={}&size=64",
            scale.count, scale.rate
        ))
        .await;
    let mut total = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        let (got, connections, resets) = tokio::time::timeout(Duration::from_secs(300), t)
            .await
            .expect("client within bound")
            .expect("client");
        assert_eq!(resets, 0, "client {i}: no sse-reset inside the window");
        assert!(
            got.is_exactly(1, scale.count),
            "client {i}: {} events, first wrong at index {:?}",
            got.seqs.len(),
            got.seqs.iter().zip(1..).position(|(a, b)| *a != b)
        );
        total += connections;
    }
    let stats = server.stats().await;
    println!(
        "resume-chaos {scale:?}: every client got all {} events in order without duplicates \
         over {total} connections in {:?}; server resumed {} reset {}",
        scale.count,
        start.elapsed(),
        stats.get("resumed"),
        stats.get("reset")
    );
    assert_eq!(stats.get("reset"), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resume_chaos_short() {
    let scale = Scale {
        clients: 20,
        count: 300,
        rate: 100,
        seed: 8,
    };
    tokio::time::timeout(Duration::from_secs(60), run(scale))
        .await
        .expect("within 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: scripts/reliability.sh"]
async fn resume_chaos_long() {
    let scale = Scale {
        clients: 200,
        count: 20_000,
        rate: 200,
        seed: 0x5eed,
    };
    tokio::time::timeout(Duration::from_secs(400), run(scale))
        .await
        .expect("within 400 s");
}
