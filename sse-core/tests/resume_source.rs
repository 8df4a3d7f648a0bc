//! A resume source outside the service (a backplane's history): held clients, the
//! prelude waiting for the source, and an exact hand-off at the release.

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use futures::{channel::mpsc, StreamExt};
use sse_codec::Event;
use sse_core::{
    Admission, ConnectRequest, Hold, ResumeSource, ResumeStream, Service, Target, Topic,
    CLIENT_EVENT,
};

/// Holds every client that sends a `Last-Event-ID`, and hands the test its hold and the
/// sender of its stream's frames.
#[derive(Debug, Clone, Default)]
struct Source(Arc<Mutex<Vec<Held>>>);

/// A held client's hold, and the sender of its stream's frames.
type Held = (Hold, mpsc::UnboundedSender<Bytes>);

impl ResumeSource for Source {
    fn admit(&self, admission: Admission) -> Option<ResumeStream> {
        admission.last_event_id()?;
        let (tx, rx) = mpsc::unbounded();
        self.0.lock().unwrap().push((admission.into_hold(), tx));
        Some(Box::pin(rx))
    }
}

fn frame(data: &str, id: &str) -> Bytes {
    Event::message(data)
        .with_id(sse_codec::EventId::new(id).unwrap())
        .encode()
}

async fn text_within(stream: &mut sse_core::ClientStream) -> Option<String> {
    tokio::time::timeout(Duration::from_millis(200), stream.next())
        .await
        .ok()
        .flatten()
        .map(|b| String::from_utf8(b.to_vec()).unwrap())
}

#[tokio::test]
async fn a_held_client_gets_its_history_then_live_events_from_the_release_on() {
    let source = Source::default();
    let service = Service::builder().resume_source(source.clone()).build();
    let news = Topic::new("news").unwrap();
    let target = Target::Topics(vec![news.clone()]);

    // Not resuming: live at once, no hold.
    let mut fresh = service
        .connect(ConnectRequest::new().topics(["news"]))
        .unwrap();
    assert!(!fresh.client().is_held());
    let mut resuming = service
        .connect(ConnectRequest::new().topics(["news"]).last_event_id("x"))
        .unwrap();
    assert!(resuming.client().is_held());

    // Before the source's first frame, not even the prelude is written.
    assert_eq!(text_within(&mut resuming).await, None);
    // Held: an event with an id does not reach it; a direct one does.
    service
        .deliver_frame(&target, &frame("during", "b:2"), &[])
        .unwrap();
    let direct = Event::message("direct").encode();
    service
        .deliver_frame(
            &Target::Client(resuming.client().id().clone()),
            &direct,
            &[],
        )
        .unwrap();

    let (hold, tx) = source.0.lock().unwrap().pop().unwrap();
    tx.unbounded_send(frame("missed", "b:2")).unwrap();
    let first = text_within(&mut resuming).await.unwrap();
    assert!(first.starts_with(": connected"), "{first}");
    assert!(first.contains(&format!("event: {CLIENT_EVENT}")));
    assert!(first.ends_with("id: b:2\ndata: missed\n\n"), "{first}");

    // Released: live events reach it, after what the source still gives.
    hold.release();
    assert!(!resuming.client().is_held());
    service
        .deliver_frame(&target, &frame("after", "b:3"), &[])
        .unwrap();
    tx.unbounded_send(Bytes::new()).unwrap(); // empty: nothing written
    drop(tx);
    // Queued while it was held, so written together.
    assert_eq!(
        text_within(&mut resuming).await.unwrap(),
        "data: direct\n\nid: b:3\ndata: after\n\n"
    );
    assert_eq!(text_within(&mut resuming).await, None);

    // The fresh client saw both live events.
    let mut seen = String::new();
    while let Some(t) = text_within(&mut fresh).await {
        seen.push_str(&t);
    }
    assert!(
        seen.contains("data: during") && seen.contains("data: after"),
        "{seen}"
    );
}

#[tokio::test]
async fn a_dropped_hold_releases_and_except_skips_readers_of_other_topics() {
    let source = Source::default();
    let service = Service::builder().resume_source(source.clone()).build();
    let mut held = service
        .connect(ConnectRequest::new().topics(["a"]).last_event_id("x"))
        .unwrap();
    // The source ends without a frame: the prelude alone, and the hold is gone.
    source.0.lock().unwrap().clear();
    assert!(text_within(&mut held)
        .await
        .unwrap()
        .starts_with(": connected"));
    assert!(!held.client().is_held());

    let mut both = service
        .connect(ConnectRequest::new().topics(["a", "b"]))
        .unwrap();
    text_within(&mut both).await.unwrap();
    let (a, b) = (Topic::new("a").unwrap(), Topic::new("b").unwrap());
    // An event of a and b that reaches readers of b another way: only a's readers
    // that do not read b get it here.
    let sent = service
        .deliver_frame(&Target::Topics(vec![a]), &frame("x", "1"), &[b])
        .unwrap();
    assert_eq!(sent.queued, 1);
    assert_eq!(text_within(&mut held).await.unwrap(), "id: 1\ndata: x\n\n");
    assert_eq!(text_within(&mut both).await, None);
}
