//! A connection flood past the admission limit: the server admits `MAX_CLIENTS`
//! readers, then many more connect at once. Every excess connection gets 429 quickly,
//! the admitted clients keep receiving every event, and the server keeps serving.

use std::time::{Duration, Instant};

use reliability::{quantile, read_until, Opened, Received, Server, SseConn};

const BIN: &str = env!("CARGO_BIN_EXE_rel-server");

#[derive(Debug, Clone, Copy)]
struct Scale {
    admitted: usize,
    flood: usize,
    /// Events sent while the flood runs.
    count: u64,
    rate: u64,
}

async fn run(scale: Scale) {
    let server = Server::start(BIN, &[("MAX_CLIENTS", scale.admitted.to_string())]).await;
    let addr = server.addr;
    let wait = Duration::from_secs(20);
    let mut readers = Vec::new();
    for i in 0..scale.admitted {
        let mut conn = SseConn::open(addr, "/events", &[], None, wait)
            .await
            .expect("open")
            .expect_stream(&format!("admitted client {i}"));
        readers.push(tokio::spawn(async move {
            let mut got = Received::default();
            read_until(&mut conn, scale.count, Duration::from_secs(10), &mut got).await;
            got
        }));
    }
    server
        .post(&format!(
            "/pump?count={}&rate={}&size=128",
            scale.count, scale.rate
        ))
        .await;

    let start = Instant::now();
    let flood: Vec<_> = (0..scale.flood)
        .map(|_| {
            tokio::spawn(async move {
                let t = Instant::now();
                let opened = SseConn::open(addr, "/events", &[], None, wait).await;
                (opened, t.elapsed())
            })
        })
        .collect();
    let mut times = Vec::new();
    let mut statuses = std::collections::BTreeMap::new();
    for f in flood {
        let (opened, took) = f.await.expect("flood task");
        match opened.expect("flood request answered") {
            Opened::Refused(r) => {
                *statuses.entry(r.status).or_insert(0) += 1;
                if r.status == 429 {
                    assert!(r.head.contains("retry-after:"), "{r:?}");
                }
            }
            Opened::Stream(_) => *statuses.entry(200).or_insert(0) += 1,
        }
        times.push(took);
    }
    let flood_took = start.elapsed();
    let p50 = quantile(&mut times, 0.5);
    let p99 = quantile(&mut times, 0.99);
    let max = quantile(&mut times, 1.0);
    let stats = server.stats().await;
    println!(
        "flood {scale:?}: statuses {statuses:?} in {flood_took:?}; time to refusal p50 {p50:?} \
         p99 {p99:?} max {max:?}; server active {} rejected {} rss {} KiB",
        stats.get("active"),
        stats.get("rejected"),
        stats.get("rss_kb")
    );
    assert_eq!(
        statuses.get(&429).copied().unwrap_or(0),
        scale.flood,
        "every excess connection gets 429: {statuses:?}"
    );
    assert!(p99 < Duration::from_secs(2), "429 p99 {p99:?}");
    assert_eq!(stats.get("active"), scale.admitted as u64);
    assert_eq!(stats.get("rejected"), scale.flood as u64);

    for (i, r) in readers.into_iter().enumerate() {
        let got = tokio::time::timeout(Duration::from_secs(60), r)
            .await
            .expect("reader within its bound")
            .expect("reader");
        assert!(
            got.is_exactly(1, scale.count),
            "admitted client {i} got {} of {} events (timed out {})",
            got.seqs.len(),
            scale.count,
            got.timed_out
        );
    }
    // Once the admitted clients leave, new ones get in.
    let (_, ok) = server.wait_stats(wait, |s| s.get("active") == 0).await;
    assert!(ok);
    SseConn::open(addr, "/events", &[], None, wait)
        .await
        .expect("open")
        .expect_stream("after the flood");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn flood_short() {
    let scale = Scale {
        admitted: 50,
        flood: 500,
        count: 60,
        rate: 20,
    };
    tokio::time::timeout(Duration::from_secs(60), run(scale))
        .await
        .expect("within 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: scripts/reliability.sh"]
async fn flood_long() {
    let scale = Scale {
        admitted: 500,
        flood: 5000,
        count: 200,
        rate: 20,
    };
    tokio::time::timeout(Duration::from_secs(300), run(scale))
        .await
        .expect("within 300 s");
}
