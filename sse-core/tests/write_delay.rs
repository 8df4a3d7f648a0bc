//! `ServiceBuilder::write_delay`: frames held for the delay share one write, with
//! paused time.

mod common;

use std::time::Duration;

use common::*;
use futures::{FutureExt, StreamExt};
use sse_codec::Event;
use sse_core::{ClientStream, ConnectRequest, Service};
use tokio::time::{advance, pause, Instant};

const DELAY: Duration = Duration::from_millis(100);

async fn connected(service: &Service) -> ClientStream {
    let mut stream = service
        .connect(ConnectRequest::new().client_id("w"))
        .unwrap();
    assert_eq!(next_text(&mut stream).await, prelude("w"));
    stream
}

/// Polls once, as a server does after each write, and finds nothing to write.
fn assert_nothing_yet(stream: &mut ClientStream) {
    assert!(stream.next().now_or_never().is_none(), "a write came early");
}

/// Tokio's timer rounds deadlines up to its millisecond tick.
fn assert_about(waited: Duration, expected: Duration) {
    let hi = expected + Duration::from_millis(2);
    assert!(
        (expected..=hi).contains(&waited),
        "{waited:?}, expected {expected:?}"
    );
}

#[tokio::test]
async fn frames_arriving_during_the_delay_share_one_write() {
    pause();
    let service = Service::builder().write_delay(DELAY).build();
    let mut stream = connected(&service).await;
    assert_nothing_yet(&mut stream);

    let start = Instant::now();
    service.broadcast(Event::message("a")).unwrap();
    // Woken by the broadcast and polled at once, as a server's task is: the hold
    // starts now.
    assert_nothing_yet(&mut stream);
    advance(Duration::from_millis(30)).await;
    service.broadcast(Event::message("b")).unwrap();
    advance(Duration::from_millis(30)).await;
    service.broadcast(Event::message("c")).unwrap();
    assert_nothing_yet(&mut stream);

    let frame = next_text(&mut stream).await;
    assert_about(start.elapsed(), DELAY);
    assert_eq!(datas(&frame), ["a", "b", "c"]);

    // After a quiet spell the next frame is held again, from its own arrival.
    assert_nothing_yet(&mut stream);
    advance(Duration::from_secs(1)).await;
    let later = Instant::now();
    service.broadcast(Event::message("d")).unwrap();
    assert_nothing_yet(&mut stream);
    assert_eq!(datas(&next_text(&mut stream).await), ["d"]);
    assert_about(later.elapsed(), DELAY);
}

#[tokio::test]
async fn a_client_left_behind_is_written_to_without_waiting() {
    pause();
    let service = Service::builder().write_delay(DELAY).build();
    let mut stream = connected(&service).await;
    assert_nothing_yet(&mut stream);
    // 100 KiB: more than one write takes (64 KiB).
    let data = "x".repeat(1000);
    for _ in 0..100 {
        service.broadcast(Event::message(data.clone())).unwrap();
    }
    let start = Instant::now();
    let mut seen = datas(&next_text(&mut stream).await).len();
    assert_about(start.elapsed(), DELAY);
    assert!(seen < 100, "one write took all {seen}");
    let rest = Instant::now();
    while seen < 100 {
        seen += datas(&next_text(&mut stream).await).len();
    }
    assert_eq!(rest.elapsed(), Duration::ZERO, "the rest waited");
    assert_eq!(seen, 100);
}

#[tokio::test]
async fn keep_alive_counts_from_the_held_write() {
    pause();
    let service = Service::builder()
        .write_delay(DELAY)
        .keep_alive(Some(Duration::from_secs(1)))
        .build();
    let mut stream = connected(&service).await;
    assert_nothing_yet(&mut stream);
    advance(Duration::from_millis(500)).await;
    service.broadcast(Event::message("a")).unwrap();
    assert_eq!(datas(&next_text(&mut stream).await), ["a"]);
    let written = Instant::now();
    assert_eq!(next_text(&mut stream).await, ":\n\n");
    assert_about(written.elapsed(), Duration::from_secs(1));
}

#[tokio::test]
async fn a_disconnect_during_the_delay_ends_the_stream() {
    pause();
    let service = Service::builder().write_delay(DELAY).build();
    let mut stream = connected(&service).await;
    service.broadcast(Event::message("a")).unwrap();
    let client = stream.client().clone();
    assert!(service.disconnect(&client));
    let start = Instant::now();
    assert!(next(&mut stream).await.is_none());
    assert!(start.elapsed() <= DELAY + Duration::from_millis(2));
}
