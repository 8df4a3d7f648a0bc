//! Churn: rounds of many real connections opened (each reads its prelude) and closed,
//! half with a FIN and half with a reset, while events flow. After each round the
//! active count returns to 0; after the last, the server's RSS is within 10% of what
//! it was after the warm-up rounds, and its open descriptors and tasks are back where
//! they were.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use reliability::{Server, SseConn, StreamEvent};
use tokio::sync::Semaphore;

const BIN: &str = env!("CARGO_BIN_EXE_rel-server");
const WARM_UP_ROUNDS: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Scale {
    /// Connections open at once in a round.
    connections: usize,
    /// How long to keep running rounds after the warm-up.
    duration: Duration,
}

/// Opens `n` streams (at most 256 connecting at once), waits until each has read its
/// prelude and the server counts them all, then closes them.
async fn round(server: &Server, n: usize, round: usize) {
    let addr = server.addr;
    let gate = Arc::new(Semaphore::new(256));
    let mut tasks = Vec::with_capacity(n);
    for _ in 0..n {
        let gate = Arc::clone(&gate);
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.expect("semaphore");
            let wait = Duration::from_secs(20);
            let mut conn = SseConn::open(addr, "/events", &[], None, wait)
                .await
                .expect("open")
                .expect_stream("churn client");
            // The prelude is a comment: the parser yields nothing for it, so read the
            // first event or time out quickly; either way the stream is open.
            let _ = conn.next(Duration::from_millis(1)).await;
            conn
        }));
    }
    let mut conns = Vec::with_capacity(n);
    for t in tasks {
        conns.push(t.await.expect("open task"));
    }
    let (stats, ok) = server
        .wait_stats(Duration::from_secs(20), |s| s.get("active") == n as u64)
        .await;
    assert!(ok, "round {round}: {n} active: {stats:?}");
    for (i, conn) in conns.into_iter().enumerate() {
        if i % 2 == 0 {
            drop(conn);
        } else {
            conn.abort();
        }
    }
    let (stats, ok) = server
        .wait_stats(Duration::from_secs(20), |s| {
            s.get("active") == 0 && s.get("connections") <= 1
        })
        .await;
    assert!(ok, "round {round}: active back to 0: {stats:?}");
}

async fn run(scale: Scale) {
    // One malloc arena: with glibc's default (up to 8 per core) the freed memory of
    // 10,000 connections is spread over per-thread arenas and RSS creeps up for
    // reasons that are the allocator's, not ours (RELIABILITY.md has both numbers).
    let server = Server::start(BIN, &[("MALLOC_ARENA_MAX", "1".into())]).await;
    server.post("/pump?count=1000000&rate=20&size=256").await;
    let idle = server.stats().await;
    // Warm-up: the allocator reaches its steady size over the first few rounds
    // (measured: +45% over rounds 1 to 4, then flat).
    for r in 0..WARM_UP_ROUNDS {
        round(&server, scale.connections, r).await;
    }
    let (warm, _) = server
        .wait_stats(Duration::from_secs(5), |s| s.get("fds") <= idle.get("fds"))
        .await;
    let start = Instant::now();
    let mut rounds = WARM_UP_ROUNDS;
    while start.elapsed() < scale.duration || rounds < WARM_UP_ROUNDS + 3 {
        round(&server, scale.connections, rounds).await;
        rounds += 1;
    }
    let elapsed = start.elapsed();
    // Descriptors and tasks of the closed connections go shortly after the last close.
    let (end, settled) = server
        .wait_stats(Duration::from_secs(10), |s| {
            s.get("fds") <= warm.get("fds") && s.get("tasks") <= warm.get("tasks")
        })
        .await;
    println!(
        "churn {scale:?}: {rounds} rounds ({} connections) in {elapsed:?}; idle {:?}; \
         after warm-up rss {} KiB fds {} tasks {}; end rss {} KiB fds {} tasks {} \
         connected {} removed {}",
        rounds * scale.connections,
        idle.0,
        warm.get("rss_kb"),
        warm.get("fds"),
        warm.get("tasks"),
        end.get("rss_kb"),
        end.get("fds"),
        end.get("tasks"),
        end.get("connected"),
        end.get("removed"),
    );
    assert!(settled, "no fd or task leak: warm {warm:?}, end {end:?}");
    assert_eq!(end.get("active"), 0);
    assert_eq!(end.get("connected"), end.get("removed"));
    assert_eq!(end.get("connected"), (rounds * scale.connections) as u64);
    let (w, e) = (warm.get("rss_kb") as f64, end.get("rss_kb") as f64);
    assert!(
        e <= w * 1.10,
        "RSS {e} KiB after churn vs {w} KiB after the warm-up round"
    );
    // Still serving.
    let mut conn = SseConn::open(server.addr, "/events", &[], None, Duration::from_secs(5))
        .await
        .expect("open")
        .expect_stream("after churn");
    assert!(matches!(
        conn.next(Duration::from_secs(5)).await,
        Ok(StreamEvent::Event(_))
    ));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn churn_short() {
    let scale = Scale {
        connections: 1000,
        duration: Duration::from_secs(3),
    };
    tokio::time::timeout(Duration::from_secs(60), run(scale))
        .await
        .expect("within 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: scripts/reliability.sh"]
async fn churn_long() {
    let scale = Scale {
        connections: 10_000,
        duration: Duration::from_secs(180),
    };
    tokio::time::timeout(Duration::from_secs(600), run(scale))
        .await
        .expect("within 600 s");
}
