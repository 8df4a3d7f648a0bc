//! Each example server started on port 0: it prints its address, and a client at
//! `/events` gets the time.

use sse_testkit::{process::ServerProcess, Client};
use tokio::process::Command;

async fn serves_the_time(binary: &str) {
    let mut command = Command::new(binary);
    command.env("PORT", "0");
    let mut server = ServerProcess::start(command).await;
    let addr = server.addr;

    let mut stream = Client::h1(addr).stream("/events", &[]).await;
    let event = stream.next_event().await;
    let secs: u64 = event.data().parse().expect("Unix time");
    assert!(secs > 1_700_000_000);
    assert!(!event.last_event_id().is_empty(), "broadcasts carry ids");
    server.kill().await;
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
