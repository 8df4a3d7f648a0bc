//! Hostile requests: oversized and non-UTF-8 `Last-Event-ID`, client id and topics;
//! thousands of topics; oversized headers and URIs; request bodies that never end;
//! slow-loris headers. Each gets a clear status or is dropped, while a normal client
//! keeps receiving every event and the server's descriptors come back.

use std::{
    net::SocketAddr,
    time::{Duration, Instant},
};

use reliability::{read_until, request, Opened, Received, Server, SseConn, StreamEvent};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
    time::timeout,
};

const BIN: &str = env!("CARGO_BIN_EXE_rel-server");
const WAIT: Duration = Duration::from_secs(10);
/// The server's header read timeout in these tests.
const HEADER_TIMEOUT: Duration = Duration::from_secs(2);

#[derive(Debug, Clone, Copy)]
struct Scale {
    slow_loris: usize,
    body_bytes: usize,
}

/// `GET /events` with raw header lines: the status, or 200 with whether a `sse-reset`
/// event came first.
async fn status_of(addr: SocketAddr, path: &str, headers: &[&[u8]]) -> (u16, String) {
    match SseConn::open(addr, path, headers, None, WAIT).await {
        Ok(Opened::Refused(r)) => (r.status, r.body),
        Ok(Opened::Stream(mut conn)) => {
            // The prelude and any reset notice arrive at once.
            let first = conn.next(Duration::from_millis(300)).await;
            let what = match first {
                Ok(StreamEvent::Event(e)) => format!("event {}", e.event_type()),
                _ => String::new(),
            };
            (200, what)
        }
        Err(e) => (0, e.to_string()),
    }
}

/// Writes a request head a byte at a time, one byte per `every`, and returns when the
/// server closes or answers, with how long that took and what it sent.
async fn slow_loris(addr: SocketAddr, every: Duration) -> (Duration, Vec<u8>) {
    let start = Instant::now();
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let head = b"GET /events HTTP/1.1\r\nhost: x\r\nx-slow: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    let mut got = Vec::new();
    for b in head {
        if tcp.write_all(&[*b]).await.is_err() {
            break;
        }
        let mut buf = [0u8; 1024];
        match timeout(every, tcp.read(&mut buf)).await {
            Err(_) => continue,
            Ok(Ok(n)) if n > 0 => got.extend_from_slice(&buf[..n]),
            Ok(_) => break,
        }
        if !got.is_empty() {
            break;
        }
    }
    (start.elapsed(), got)
}

/// Sends a request with a body that never ends (chunked, 16 KiB chunks) until the
/// server stops taking it or `limit` bytes went; the status if one came, and the bytes
/// written.
async fn endless_body(addr: SocketAddr, method: &str, path: &str, limit: usize) -> (u16, usize) {
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let head = format!("{method} {path} HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n");
    tcp.write_all(head.as_bytes()).await.expect("head");
    let chunk = format!("4000\r\n{}\r\n", "b".repeat(0x4000));
    let mut sent = 0;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while sent < limit {
        match timeout(Duration::from_millis(500), tcp.write_all(chunk.as_bytes())).await {
            Ok(Ok(())) => sent += 0x4000,
            _ => break,
        }
        // Non-blocking look at what the server said.
        if let Ok(Ok(n)) = timeout(Duration::from_millis(0), tcp.read(&mut buf)).await {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
    }
    if got.is_empty() {
        if let Ok(Ok(n)) = timeout(Duration::from_secs(2), tcp.read(&mut buf)).await {
            got.extend_from_slice(&buf[..n]);
        }
    }
    let status = String::from_utf8_lossy(&got)
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, sent)
}

async fn run(scale: Scale) {
    let server = Server::start(
        BIN,
        &[
            ("HEADER_TIMEOUT_MS", HEADER_TIMEOUT.as_millis().to_string()),
            ("MAX_CLIENTS", "1000".into()),
        ],
    )
    .await;
    let addr = server.addr;
    let idle = server.stats().await;

    // The bystander: reads every event while the rest goes on.
    let count = 100;
    let mut normal = SseConn::open(addr, "/events", &[], None, WAIT)
        .await
        .expect("open")
        .expect_stream("normal client");
    let bystander = tokio::spawn(async move {
        let mut got = Received::default();
        read_until(&mut normal, count, Duration::from_secs(20), &mut got).await;
        got
    });
    server
        .post(&format!("/pump?count={count}&rate=10&size=64"))
        .await;

    let long = |n: usize| "a".repeat(n);
    let mut report = Vec::new();
    let mut check = |what: &str, got: (u16, String), ok: &[u16]| {
        assert!(
            ok.contains(&got.0),
            "{what}: got {got:?}, want one of {ok:?}"
        );
        report.push(format!("{what}: {} {}", got.0, got.1.trim()));
    };
    let id_8k = format!("last-event-id: {}", long(8 * 1024));
    check(
        "Last-Event-ID of 8 KiB (ignored)",
        status_of(addr, "/events", &[id_8k.as_bytes()]).await,
        &[200],
    );
    let id_1m = format!("last-event-id: {}", long(1 << 20));
    check(
        "Last-Event-ID of 1 MiB",
        status_of(addr, "/events", &[id_1m.as_bytes()]).await,
        &[431],
    );
    check(
        "non-UTF-8 Last-Event-ID (ignored)",
        status_of(addr, "/events", &[b"last-event-id: \xff\xfe\x80"]).await,
        &[200],
    );
    check(
        "unknown Last-Event-ID",
        status_of(addr, "/events", &[b"last-event-id: 12-34"]).await,
        &[200],
    );
    let cid = format!("sse-clientid: {}", long(200));
    check(
        "client id of 200 bytes (not an identity by default)",
        status_of(addr, "/events", &[cid.as_bytes()]).await,
        &[200],
    );
    check(
        "client id of 200 bytes, trusted",
        status_of(addr, "/trusted/events", &[cid.as_bytes()]).await,
        &[400],
    );
    check(
        "non-UTF-8 client id, trusted",
        status_of(addr, "/trusted/events", &[b"sse-clientid: \xff\xfe"]).await,
        &[400],
    );
    check(
        "topic of 200 bytes",
        status_of(addr, &format!("/events?topics={}", long(200)), &[]).await,
        &[400],
    );
    check(
        "non-UTF-8 topic",
        status_of(addr, "/events?topics=%FF%FE", &[]).await,
        &[400],
    );
    let many: Vec<String> = (0..100).map(|i| format!("t{i}")).collect();
    check(
        "100 topics",
        status_of(addr, &format!("/events?topics={}", many.join(",")), &[]).await,
        &[400],
    );
    let many: Vec<String> = (0..5000).map(|i| format!("t{i}")).collect();
    check(
        "5,000 topics (a 30 KB request head)",
        status_of(addr, &format!("/events?topics={}", many.join(",")), &[]).await,
        &[431],
    );
    check(
        "URI of 100 KiB",
        status_of(addr, &format!("/events?topics={}", long(100 * 1024)), &[]).await,
        &[400, 414, 431],
    );
    let headers: Vec<String> = (0..200).map(|i| format!("x-h{i}: v")).collect();
    let headers: Vec<&[u8]> = headers.iter().map(|h| h.as_bytes()).collect();
    check(
        "200 headers",
        status_of(addr, "/events", &headers).await,
        &[431],
    );

    // A body that never ends, on the stream and on a route that reads its body.
    let (status, sent) = endless_body(addr, "GET", "/events", scale.body_bytes).await;
    assert!(
        status == 200 || status == 0,
        "GET /events with an endless body: {status}"
    );
    report.push(format!(
        "GET /events with an endless chunked body: {status}, server stopped taking it after {} KiB",
        sent / 1024
    ));
    let (status, sent) = endless_body(addr, "POST", "/broadcast", scale.body_bytes).await;
    assert!(
        status == 200 || status == 413 || status == 0,
        "POST with an endless body: {status}"
    );
    report.push(format!(
        "POST /broadcast with an endless chunked body: {status} after {} KiB",
        sent / 1024
    ));

    // Slow loris: a byte a second; each must be cut off near the header timeout.
    let lorises: Vec<_> = (0..scale.slow_loris)
        .map(|_| tokio::spawn(slow_loris(addr, Duration::from_secs(1))))
        .collect();
    let mut worst = Duration::ZERO;
    for l in lorises {
        let (took, got) = timeout(Duration::from_secs(30), l)
            .await
            .expect("slow loris cut off within 30 s")
            .expect("task");
        assert!(
            took <= HEADER_TIMEOUT + Duration::from_secs(2),
            "slow loris held {took:?}, answer {:?}",
            String::from_utf8_lossy(&got)
        );
        worst = worst.max(took);
    }
    report.push(format!(
        "{} slow-loris connections (1 byte/s): all cut off, the last after {worst:?} (header timeout {HEADER_TIMEOUT:?})",
        scale.slow_loris
    ));

    let got = timeout(Duration::from_secs(60), bystander)
        .await
        .expect("bystander within bound")
        .expect("bystander");
    assert!(
        got.is_exactly(1, count),
        "the normal client got {} of {count} (timed out {})",
        got.seqs.len(),
        got.timed_out
    );
    let (end, ok) = server
        .wait_stats(Duration::from_secs(10), |s| {
            s.get("active") == 0 && s.get("fds") <= idle.get("fds")
        })
        .await;
    println!(
        "hostile {scale:?}:\n  {}\n  idle {:?}\n  end {:?}",
        report.join("\n  "),
        idle.0,
        end.0
    );
    assert!(
        ok,
        "every hostile connection released: idle {idle:?}, end {end:?}"
    );
    let r = request(addr, "GET", "/stats", &[], WAIT)
        .await
        .expect("alive");
    assert_eq!(r.status, 200);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_short() {
    let scale = Scale {
        slow_loris: 50,
        body_bytes: 8 << 20,
    };
    timeout(Duration::from_secs(60), run(scale))
        .await
        .expect("within 60 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: scripts/reliability.sh"]
async fn hostile_long() {
    let scale = Scale {
        slow_loris: 2000,
        body_bytes: 256 << 20,
    };
    timeout(Duration::from_secs(300), run(scale))
        .await
        .expect("within 300 s");
}
