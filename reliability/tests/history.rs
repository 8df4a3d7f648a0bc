//! The history under hostile load: clients that resume from the start of a full
//! history and never read cost the server little each (nothing is copied for them),
//! and publishing to thousands of topics keeps the history within its one budget.
//! Both measured as the server's RSS.

use std::time::Duration;

use reliability::{Server, SseConn, StreamEvent};

const BIN: &str = env!("CARGO_BIN_EXE_rel-server");
const BUDGET: usize = 32 << 20;

#[derive(Debug, Clone, Copy)]
struct Scale {
    /// Events of 2 KiB in the history the non-readers resume from.
    history: usize,
    non_readers: usize,
    topics: usize,
    topic_event: usize,
}

async fn run(scale: Scale) {
    let server = Server::start(
        BIN,
        &[
            ("REPLAY_EVENTS", "1000000".into()),
            ("REPLAY_BYTES", BUDGET.to_string()),
            ("KEEP_ALIVE_MS", "0".into()),
        ],
    )
    .await;
    let addr = server.addr;
    let wait = Duration::from_secs(20);

    // The first event's id: where every non-reader resumes from.
    let mut first = SseConn::open(addr, "/events", &[], None, wait)
        .await
        .expect("open")
        .expect_stream("reader");
    server.post("/broadcast?count=1&size=64").await;
    let start = match first.next(wait).await.expect("first event") {
        StreamEvent::Event(event) => event.last_event_id().to_owned(),
        StreamEvent::End => panic!("the stream ended"),
    };
    drop(first);
    server
        .post(&format!("/broadcast?count={}&size=2048", scale.history))
        .await;
    let history_bytes = scale.history * 2048;

    let before = server.stats().await.get("rss_kb");
    let header = format!("last-event-id: {start}");
    let mut non_readers = Vec::with_capacity(scale.non_readers);
    for _ in 0..scale.non_readers {
        let conn = SseConn::open(addr, "/events", &[header.as_bytes()], Some(4096), wait)
            .await
            .expect("open")
            .expect_stream("non-reader");
        non_readers.push(conn);
    }
    let (stats, all) = server
        .wait_stats(wait, |s| s.get("active") == scale.non_readers as u64)
        .await;
    assert!(all, "every non-reader admitted: {stats:?}");
    // Let the server write what it can before the windows close.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let after = server.stats().await.get("rss_kb");
    let per_client_kib = (after.saturating_sub(before)) as f64 / scale.non_readers as f64;
    println!(
        "resume: {} non-readers from a {} MiB history: RSS {before} -> {after} KiB, \
         {per_client_kib:.1} KiB each",
        scale.non_readers,
        history_bytes >> 20,
    );
    assert!(
        per_client_kib < 128.0,
        "{per_client_kib:.1} KiB per non-reader: the history ({} KiB) was copied",
        history_bytes >> 10
    );
    drop(non_readers);
    server.wait_stats(wait, |s| s.get("active") == 0).await;

    // Thousands of topics, each with a large event: the history keeps to its budget.
    let before = server.stats().await.get("rss_kb");
    for chunk in 0..scale.topics / 100 {
        let _ = chunk;
        server
            .post(&format!("/publish?topics=100&size={}", scale.topic_event))
            .await;
    }
    let after = server.stats().await.get("rss_kb");
    let offered = scale.topics * scale.topic_event;
    println!(
        "topics: {} topics x {} KB ({} MiB offered): RSS {before} -> {after} KiB, budget {} MiB",
        scale.topics,
        scale.topic_event / 1000,
        offered >> 20,
        BUDGET >> 20
    );
    // The history holds at most its budget; allocator slack on top, not the offer.
    assert!(
        after.saturating_sub(before) < (2 * BUDGET as u64) >> 10,
        "RSS grew {} KiB for a {} MiB budget",
        after.saturating_sub(before),
        BUDGET >> 20
    );
}

#[tokio::test]
async fn history_short() {
    run(Scale {
        history: 8_000,
        non_readers: 200,
        topics: 2_000,
        topic_event: 120_000,
    })
    .await;
}

#[tokio::test]
#[ignore = "long: scripts/reliability.sh"]
async fn history_long() {
    run(Scale {
        history: 15_000,
        non_readers: 2_000,
        topics: 10_000,
        topic_event: 120_000,
    })
    .await;
}
