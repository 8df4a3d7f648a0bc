//! Request bodies that stall: a `Content-Length` body that never comes, and one that
//! trickles a byte at a time. Each connection is cut within the server's request
//! timeout of its first byte, while the server keeps accepting and a streaming client
//! keeps receiving every event; a body that arrives slowly but within the timeout is
//! served. The server's connections and descriptors come back afterwards.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use reliability::{quantile, read_until, request, Received, Server, SseConn};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

const BIN: &str = env!("CARGO_BIN_EXE_rel-server");
const WAIT: Duration = Duration::from_secs(10);

#[derive(Debug, Clone, Copy)]
struct Scale {
    /// Stalled connections, half silent and half trickling.
    stalled: usize,
    /// The server's request timeout.
    request_timeout: Duration,
}

/// How long the server took, from the end of the request head, to cut off a
/// connection whose body stalls (silent, or one byte per `trickle`): to close it, or to
/// answer with an error (axum's body extractor answers 400 when the read fails) and
/// then close it. `None` if it answered 200, or was still open after `give_up`.
async fn stalled_body(
    addr: SocketAddr,
    trickle: Option<Duration>,
    give_up: Duration,
) -> Option<Duration> {
    let mut tcp = TcpStream::connect(addr).await.ok()?;
    let head = "POST /body HTTP/1.1\r\nhost: x\r\ncontent-length: 65536\r\n\r\n";
    tcp.write_all(head.as_bytes()).await.ok()?;
    let start = Instant::now();
    let mut buf = [0u8; 256];
    loop {
        let left = give_up.checked_sub(start.elapsed())?;
        let wait = trickle.map_or(left, |t| t.min(left));
        match timeout(wait, tcp.read(&mut buf)).await {
            // Closed (or reset) without an answer: cut.
            Ok(Ok(0)) | Ok(Err(_)) => return Some(start.elapsed()),
            Ok(Ok(n)) => {
                let cut = start.elapsed();
                if buf[..n].starts_with(b"HTTP/1.1 200") {
                    return None;
                }
                // An error answer: the connection must close after it.
                let mut rest = Vec::new();
                timeout(WAIT, tcp.read_to_end(&mut rest)).await.ok()?.ok()?;
                return Some(cut);
            }
            Err(_) if start.elapsed() >= give_up => return None,
            Err(_) => {
                if tcp.write_all(b"b").await.is_err() {
                    return Some(start.elapsed());
                }
            }
        }
    }
}

async fn run(scale: Scale) {
    let mut server = Server::start(
        BIN,
        &[
            (
                "REQUEST_TIMEOUT_MS",
                scale.request_timeout.as_millis().to_string(),
            ),
            ("KEEP_ALIVE_MS", "0".into()),
        ],
    )
    .await;
    let addr = server.addr;
    let before = server.stats().await;
    let mut reader = SseConn::open(addr, "/events", &[], None, WAIT)
        .await
        .expect("open")
        .expect_stream("reader");

    let give_up = scale.request_timeout + WAIT;
    let started = Instant::now();
    let stalled: Vec<_> = (0..scale.stalled)
        .map(|i| {
            let trickle = (i % 2 == 1).then_some(Duration::from_millis(200));
            tokio::spawn(stalled_body(addr, trickle, give_up))
        })
        .collect();

    // While they stall, the server accepts, serves and streams as usual.
    tokio::time::sleep(scale.request_timeout / 4).await;
    let (stats, all_open) = server
        .wait_stats(WAIT, |s| {
            s.get("connections") >= before.get("connections") + scale.stalled as u64
        })
        .await;
    assert!(all_open, "every stalled connection was accepted: {stats:?}");
    let mut late = SseConn::open(addr, "/events", &[], None, WAIT)
        .await
        .expect("open while stalled")
        .expect_stream("late reader");
    let seq: u64 = server
        .post("/broadcast?count=10")
        .await
        .trim()
        .trim_start_matches("seq=")
        .parse()
        .expect("seq");
    // Served in time, although slowly: half the timeout to send 8 bytes.
    let slow_ok = {
        let mut tcp = TcpStream::connect(addr).await.expect("connect");
        tcp.write_all(b"POST /body HTTP/1.1\r\nhost: x\r\ncontent-length: 8\r\n\r\n")
            .await
            .expect("head");
        for _ in 0..8 {
            tokio::time::sleep(scale.request_timeout / 16).await;
            tcp.write_all(b"b").await.expect("a body byte");
        }
        let mut answer = vec![0; 512];
        let n = timeout(WAIT, tcp.read(&mut answer))
            .await
            .expect("an answer")
            .expect("read");
        String::from_utf8_lossy(&answer[..n]).into_owned()
    };
    assert!(
        slow_ok.starts_with("HTTP/1.1 200") && slow_ok.ends_with("\n8\n"),
        "a body within the timeout is served: {slow_ok:?}"
    );

    let mut cut = Vec::new();
    for task in stalled {
        cut.push(
            task.await.expect("stalled task").expect(
                "the stalled body was cut off (closed, or answered with an error and closed)",
            ),
        );
    }
    let all_cut = started.elapsed();
    let (min, p50, max) = (
        quantile(&mut cut, 0.0),
        quantile(&mut cut, 0.5),
        quantile(&mut cut, 1.0),
    );
    println!(
        "stalled bodies: {} cut after min {min:?} p50 {p50:?} max {max:?} (timeout {:?}); all \
         cut {all_cut:?} after the first",
        scale.stalled, scale.request_timeout
    );
    assert!(
        min >= scale.request_timeout - Duration::from_millis(100),
        "not cut before the timeout: {min:?}"
    );
    assert!(
        max <= scale.request_timeout + Duration::from_secs(2),
        "cut within the timeout: {max:?}"
    );

    for conn in [&mut reader, &mut late] {
        let mut got = Received::default();
        read_until(conn, seq, WAIT, &mut got).await;
        assert!(got.is_exactly(seq - 9, seq), "every event: {got:?}");
    }
    drop((reader, late));
    let (stats, back) = server
        .wait_stats(WAIT, |s| {
            s.get("connections") <= before.get("connections") + 1
                && s.get("fds") <= before.get("fds") + 1
        })
        .await;
    assert!(
        back,
        "connections and descriptors come back: {stats:?} from {before:?}"
    );
    let r = request(addr, "GET", "/stats", &[], WAIT)
        .await
        .expect("stats");
    assert_eq!(r.status, 200);
    assert!(server.is_running());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_bodies_are_cut_short() {
    run(Scale {
        stalled: 200,
        request_timeout: Duration::from_secs(1),
    })
    .await;
}

/// `scripts/reliability.sh`: 4,000 stalled bodies against the default 30 s timeout.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by scripts/reliability.sh"]
async fn stalled_bodies_are_cut_long() {
    run(Scale {
        stalled: 4_000,
        request_timeout: Duration::from_secs(30),
    })
    .await;
}
