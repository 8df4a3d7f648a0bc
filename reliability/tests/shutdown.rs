//! Shutdown under load: clients read while events flow fast; the server gets SIGTERM
//! (or `POST /shutdown`). Every event broadcast before shutdown began reaches every
//! client, every stream ends, and the process exits within the deadline.

use std::time::{Duration, Instant};

use reliability::{read_until, Received, Server, SseConn};

const BIN: &str = env!("CARGO_BIN_EXE_rel-server");

#[derive(Debug, Clone, Copy)]
struct Scale {
    clients: usize,
    rate: u64,
    size: usize,
    /// How long events flow before the signal.
    before: Duration,
    deadline: Duration,
    sigterm: bool,
}

async fn run(scale: Scale) {
    let mut server = Server::start(
        BIN,
        &[
            ("SHUTDOWN_MS", scale.deadline.as_millis().to_string()),
            ("QUEUE_FRAMES", "4096".into()),
            ("QUEUE_BYTES", (16 << 20).to_string()),
        ],
    )
    .await;
    let addr = server.addr;
    let wait = Duration::from_secs(20);
    let mut readers = Vec::new();
    for i in 0..scale.clients {
        let mut conn = SseConn::open(addr, "/events", &[], None, wait)
            .await
            .expect("open")
            .expect_stream(&format!("client {i}"));
        readers.push(tokio::spawn(async move {
            let mut got = Received::default();
            read_until(&mut conn, u64::MAX, Duration::from_secs(10), &mut got).await;
            got
        }));
    }
    let (_, ok) = server
        .wait_stats(wait, |s| s.get("active") == scale.clients as u64)
        .await;
    assert!(ok);
    server
        .post(&format!(
            "/pump?count=100000000&rate={}&size={}",
            scale.rate, scale.size
        ))
        .await;
    tokio::time::sleep(scale.before).await;

    let signalled = Instant::now();
    if scale.sigterm {
        server.terminate().expect("SIGTERM");
    } else {
        server.post("/shutdown").await;
    }
    let began = server
        .line(Duration::from_secs(5))
        .await
        .expect("shutdown began line");
    let last: u64 = began
        .strip_prefix("shutdown began last=")
        .and_then(|s| s.split(' ').next())
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("unexpected line {began:?}"));
    let done = server.line(scale.deadline + Duration::from_secs(2)).await;
    let status = server
        .wait_exit(scale.deadline + Duration::from_secs(2))
        .await;
    let exited = signalled.elapsed();
    assert!(status.is_some(), "process exited");

    let mut ended = 0;
    for (i, r) in readers.into_iter().enumerate() {
        let got = tokio::time::timeout(wait, r)
            .await
            .expect("reader within bound")
            .expect("reader");
        let upto: Vec<u64> = got
            .seqs
            .iter()
            .copied()
            .take_while(|s| *s <= last)
            .collect();
        assert!(
            upto.len() as u64 == last && upto.iter().zip(1..).all(|(a, b)| *a == b),
            "client {i}: got {} of the {last} events before shutdown (timed out {})",
            upto.len(),
            got.timed_out
        );
        assert!(got.ended, "client {i}'s stream ended");
        ended += 1;
    }
    println!(
        "shutdown {scale:?}: {last} events before shutdown, all delivered to {ended} clients; \
         {done:?}; process exited {exited:?} after the signal"
    );
    assert!(
        exited <= scale.deadline + Duration::from_millis(1000),
        "exited after {exited:?}"
    );
    let done = done.expect("shutdown done line");
    assert!(done.contains("forced=0"), "{done}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_short() {
    let scale = Scale {
        clients: 200,
        rate: 200,
        size: 256,
        before: Duration::from_secs(2),
        deadline: Duration::from_secs(3),
        sigterm: true,
    };
    tokio::time::timeout(Duration::from_secs(60), run(scale))
        .await
        .expect("within 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_short_by_request() {
    let scale = Scale {
        clients: 50,
        rate: 200,
        size: 256,
        before: Duration::from_secs(1),
        deadline: Duration::from_secs(3),
        sigterm: false,
    };
    tokio::time::timeout(Duration::from_secs(60), run(scale))
        .await
        .expect("within 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: scripts/reliability.sh"]
async fn shutdown_long() {
    let scale = Scale {
        clients: 1000,
        rate: 200,
        size: 1024,
        before: Duration::from_secs(20),
        deadline: Duration::from_secs(5),
        sigterm: true,
    };
    tokio::time::timeout(Duration::from_secs(300), run(scale))
        .await
        .expect("within 300 s");
}
