//! `Service::report_metrics`: the counters reach whatever recorder the `metrics` facade
//! has, and the reporting task ends with the service.

use std::time::Duration;

use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use sse_codec::Event;
use sse_core::{ConnectRequest, RejectionKind, Service};

#[tokio::test]
async fn the_counters_reach_the_metrics_facade() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");

    // One frame of room: of three events, the client (not reading) keeps one.
    let service = Service::builder().queue_limits(1, usize::MAX).build();
    let _reader = service.connect(ConnectRequest::new()).unwrap();
    // Refused: a topic name with a space.
    let refused = service.connect(ConnectRequest::new().topics(["no spaces"]));
    assert!(refused.is_err());
    for n in 0..3 {
        service.broadcast(Event::message(n.to_string())).unwrap();
    }
    let task = service.report_metrics(Duration::from_millis(10));
    tokio::time::sleep(Duration::from_millis(50)).await;

    // One snapshot: taking one resets the counters it read.
    let snapshot = snapshotter.snapshot().into_vec();
    let value = |name: &str, label: Option<(&str, &str)>| -> Option<f64> {
        snapshot.iter().find_map(|(key, _, _, value)| {
            let key = key.key();
            let labelled =
                label.is_none_or(|(k, v)| key.labels().any(|l| l.key() == k && l.value() == v));
            (key.name() == name && labelled).then(|| match value {
                DebugValue::Counter(n) => *n as f64,
                DebugValue::Gauge(g) => g.into_inner(),
                DebugValue::Histogram(_) => f64::NAN,
            })
        })
    };
    // The same figures as the service's own snapshot.
    let m = service.metrics();
    assert_eq!((m.active, m.published), (1, 3), "{m:?}");
    assert!(m.dropped_oldest >= 2, "{m:?}");
    assert_eq!(
        (m.rejected, m.rejections.get(RejectionKind::Invalid)),
        (1, 1)
    );
    for (name, label, expected) in [
        ("sse_clients", None, m.active),
        ("sse_connections_total", None, m.connected),
        ("sse_disconnections_total", None, m.removed),
        (
            "sse_rejections_total",
            Some(("kind", "invalid")),
            m.rejections.get(RejectionKind::Invalid),
        ),
        ("sse_rejections_total", Some(("kind", "forbidden")), 0),
        ("sse_rejections_total", Some(("kind", "other")), 0),
        ("sse_events_published_total", None, m.published),
        ("sse_deliveries_total", None, m.queued),
        ("sse_delivered_bytes_total", None, m.queued_bytes),
        ("sse_resumes_total", None, m.resumed),
        ("sse_resets_total", None, m.reset),
        ("sse_history_events", None, m.history_events),
        ("sse_history_bytes", None, m.history_bytes),
        (
            "sse_drops_total",
            Some(("reason", "drop_oldest")),
            m.dropped_oldest,
        ),
        (
            "sse_drops_total",
            Some(("reason", "drop_newest")),
            m.dropped_newest,
        ),
        (
            "sse_drops_total",
            Some(("reason", "disconnect")),
            m.disconnected_slow,
        ),
        // The reader's queue is full: one frame of room.
        ("sse_queued_frames", None, 1),
        ("sse_queue_depth_max", None, 1),
    ] {
        assert_eq!(
            value(name, label),
            Some(expected as f64),
            "{name} {label:?}"
        );
    }

    // The task holds the service weakly: it ends once the service is gone.
    drop(_reader);
    drop(service);
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("the reporting task ends with the service")
        .unwrap();
}
