//! No gap reaches a client unannounced: slow readers over real TCP, with small queues
//! under drop-oldest or drop-newest, while events are pumped faster than they read.
//! Every time a client's sequence numbers jump, an `sse-gap` event must have come
//! since the last event it got; events dropped at the end are announced once the
//! client has caught up; every event is either delivered or counted in a notice; and
//! gaps must really happen (else the test proves nothing).

use std::time::Duration;

use reliability::{seq_and_time, Server, SseConn, StreamEvent};
use sse_core::GAP_EVENT;

const BIN: &str = env!("CARGO_BIN_EXE_rel-server");

#[derive(Debug, Clone, Copy)]
struct Scale {
    clients: usize,
    count: u64,
    rate: u64,
}

#[derive(Debug, Default)]
struct Tally {
    events: u64,
    gaps: u64,
    unannounced: u64,
    missed_announced: u64,
    last: u64,
}

async fn slow_reader(mut conn: SseConn, count: u64, pause_every: u64) -> Tally {
    let mut tally = Tally::default();
    let mut announced = 0u64;
    loop {
        match conn.next(Duration::from_secs(10)).await {
            Ok(StreamEvent::Event(event)) if event.event_type() == GAP_EVENT => {
                announced += event.data().parse::<u64>().expect("a count");
                if tally.events + tally.missed_announced + announced >= count {
                    // The last ones were dropped, and said so.
                    tally.missed_announced += announced;
                    return tally;
                }
            }
            Ok(StreamEvent::Event(event)) => {
                let Some((seq, _)) = seq_and_time(&event) else {
                    continue;
                };
                if seq > tally.last + 1 {
                    tally.gaps += 1;
                    if announced == 0 {
                        tally.unannounced += 1;
                    }
                }
                tally.missed_announced += announced;
                announced = 0;
                tally.last = seq;
                tally.events += 1;
                if tally.events + tally.missed_announced >= count {
                    return tally;
                }
                if tally.events % pause_every == 0 {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            Ok(StreamEvent::End) | Err(_) => return tally,
        }
    }
}

async fn run(scale: Scale, policy: &str) {
    let server = Server::start(
        BIN,
        &[
            ("POLICY", policy.into()),
            ("QUEUE_FRAMES", "8".into()),
            ("KEEP_ALIVE_MS", "0".into()),
        ],
    )
    .await;
    let addr = server.addr;
    let mut readers = Vec::new();
    for _ in 0..scale.clients {
        let conn = SseConn::open(addr, "/events", &[], Some(4096), Duration::from_secs(10))
            .await
            .expect("open")
            .expect_stream("slow reader");
        readers.push(tokio::spawn(slow_reader(conn, scale.count, 5)));
    }
    server
        .wait_stats(Duration::from_secs(10), |s| {
            s.get("active") == scale.clients as u64
        })
        .await;
    server
        .post(&format!(
            "/pump?count={}&rate={}&size=2048",
            scale.count, scale.rate
        ))
        .await;
    let mut total = Tally::default();
    for reader in readers {
        let t = reader.await.expect("reader");
        total.events += t.events;
        total.gaps += t.gaps;
        total.unannounced += t.unannounced;
        total.missed_announced += t.missed_announced;
    }
    println!(
        "{policy}: {} clients, {} events each offered: {} delivered, {} gaps, {} events \
         announced missed, {} gaps unannounced",
        scale.clients,
        scale.count,
        total.events,
        total.gaps,
        total.missed_announced,
        total.unannounced
    );
    assert!(
        total.missed_announced > 0,
        "{policy}: nothing was dropped; the test proves nothing"
    );
    assert_eq!(
        total.unannounced, 0,
        "{policy}: gaps reached clients unannounced"
    );
    assert_eq!(
        total.events + total.missed_announced,
        scale.count * scale.clients as u64,
        "{policy}: every event either delivered or counted in a notice"
    );
}

#[tokio::test]
async fn gaps_short() {
    let scale = Scale {
        clients: 20,
        count: 2_000,
        rate: 2_000,
    };
    run(scale, "drop-oldest").await;
    run(scale, "drop-newest").await;
}

#[tokio::test]
#[ignore = "long: scripts/reliability.sh"]
async fn gaps_long() {
    let scale = Scale {
        clients: 500,
        count: 20_000,
        rate: 2_000,
    };
    run(scale, "drop-oldest").await;
    run(scale, "drop-newest").await;
}
