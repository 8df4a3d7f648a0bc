//! `RedisBackplane::report_metrics`: the backplane's figures reach the `metrics`
//! facade's recorder, beside the service's.

mod common;

use std::time::Duration;

use common::RedisServer;
use metrics_util::debugging::{DebugValue, DebuggingRecorder};
use sse_codec::Event;
use sse_core::{ConnectRequest, Service};
use sse_redis::{RedisBackplane, RedisOptions};

#[tokio::test]
async fn the_backplane_reports_to_the_metrics_facade() {
    let recorder = DebuggingRecorder::new();
    let snapshotter = recorder.snapshotter();
    recorder
        .install()
        .expect("the only recorder of this test binary");

    let server = RedisServer::start();
    let backplane =
        RedisBackplane::connect(&server.url(), &Service::builder(), RedisOptions::new())
            .await
            .unwrap();
    let _reader = backplane.service().connect(ConnectRequest::new()).unwrap();
    for n in 0..3 {
        backplane
            .broadcast(Event::message(n.to_string()))
            .await
            .unwrap();
    }
    let task = backplane.report_metrics(Duration::from_millis(10));
    tokio::time::sleep(Duration::from_millis(100)).await;

    // One snapshot: taking one resets the counters it read.
    let snapshot = snapshotter.snapshot().into_vec();
    let value = |name: &str| -> Option<f64> {
        snapshot.iter().find_map(|(key, _, _, value)| {
            (key.key().name() == name).then(|| match value {
                DebugValue::Counter(n) => *n as f64,
                DebugValue::Gauge(g) => g.into_inner(),
                DebugValue::Histogram(_) => f64::NAN,
            })
        })
    };
    let status = backplane.status();
    assert_eq!(status.published, 3);
    assert_eq!(value("sse_redis_up"), Some(1.0));
    assert_eq!(value("sse_redis_published_total"), Some(3.0));
    assert_eq!(
        value("sse_redis_received_total"),
        Some(status.received as f64)
    );
    assert_eq!(value("sse_redis_outages_total"), Some(0.0));
    // The service's own report runs alongside.
    assert_eq!(value("sse_clients"), Some(1.0));
    // The lag of every broadcast heard back, from script run to here.
    let lags: Vec<f64> = snapshot
        .iter()
        .find_map(|(key, _, _, value)| match value {
            DebugValue::Histogram(samples)
                if key.key().name() == "sse_redis_delivery_lag_seconds" =>
            {
                Some(samples.iter().map(|s| s.into_inner()).collect())
            }
            _ => None,
        })
        .expect("a lag histogram");
    assert!(
        !lags.is_empty() && lags.iter().all(|&s| (0.0..1.0).contains(&s)),
        "{lags:?}"
    );

    drop(_reader);
    drop(backplane);
    tokio::time::timeout(Duration::from_secs(1), task)
        .await
        .expect("the reporting task ends with the backplane")
        .unwrap();
}
