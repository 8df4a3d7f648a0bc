//! Each example server started on port 0: it prints its address, and a client at
//! `/events` gets the time.

use std::{net::SocketAddr, process::Stdio};

use sse_testkit::{Client, WAIT};
use tokio::{
    io::{AsyncBufReadExt, BufReader},
    process::Command,
    time::timeout,
};

async fn serves_the_time(binary: &str) {
    let mut child = Command::new(binary)
        .env("PORT", "0")
        .stdout(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("spawn the example");
    let stdout = child.stdout.take().expect("stdout");
    let mut line = String::new();
    timeout(WAIT, BufReader::new(stdout).read_line(&mut line))
        .await
        .expect("address printed within WAIT")
        .expect("read stdout");
    let addr: SocketAddr = line
        .trim()
        .strip_prefix("listening on ")
        .and_then(|a| a.parse().ok())
        .unwrap_or_else(|| panic!("unexpected first line: {line:?}"));

    let mut stream = Client::h1(addr).stream("/events", &[]).await;
    let event = stream.next_event().await;
    let secs: u64 = event.data().parse().expect("Unix time");
    assert!(secs > 1_700_000_000);
    assert!(!event.last_event_id().is_empty(), "broadcasts carry ids");
    child.kill().await.expect("kill the example");
}

#[tokio::test]
async fn axum_example_serves_the_time() {
    serves_the_time(env!("CARGO_BIN_EXE_axum")).await;
}

#[tokio::test]
async fn warp_example_serves_the_time() {
    serves_the_time(env!("CARGO_BIN_EXE_warp")).await;
}

#[tokio::test]
async fn hyper_example_serves_the_time() {
    serves_the_time(env!("CARGO_BIN_EXE_hyper")).await;
}
