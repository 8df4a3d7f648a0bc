//! Every point of a client's life is a `tracing` event: refused, resumed or reset,
//! slow, removed, and the service's shutdown.

use std::{
    io::Write,
    sync::{Arc, Mutex},
    time::Duration,
};

use futures::StreamExt;
use sse_codec::Event;
use sse_core::{ConnectRequest, Service, Shutdown};

/// Everything the subscriber writes, kept.
#[derive(Clone, Default)]
struct Log(Arc<Mutex<Vec<u8>>>);

impl Write for Log {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test]
async fn a_clients_life_is_traced() {
    let log = Log::default();
    let writer = log.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_max_level(tracing::Level::DEBUG)
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    let _guard = tracing::subscriber::set_default(subscriber);

    let service = Service::builder().queue_limits(1, usize::MAX).build();
    // Refused: a topic name with a space.
    assert!(service
        .connect(ConnectRequest::new().topics(["no spaces"]))
        .is_err());
    let mut reader = service
        .connect(ConnectRequest::new().client_id("slow"))
        .unwrap();
    reader.next().await; // the prelude
    let last = service.latest_id().to_string();
    for n in 0..3 {
        service.broadcast(Event::message(n.to_string())).unwrap();
    }
    drop(reader);
    let _back = service
        .connect(ConnectRequest::new().client_id("slow").last_event_id(last))
        .unwrap();
    let _unknown = service
        .connect(ConnectRequest::new().last_event_id("nonsense"))
        .unwrap();
    service
        .shutdown(Shutdown::new(Duration::from_millis(50)))
        .await;

    let text = String::from_utf8(log.0.lock().unwrap().clone()).unwrap();
    for said in [
        "connection refused",
        "client connected",
        "slow client",
        "client removed",
        "client resumed",
        "resuming client told sse-reset",
        "shutting down",
        "shut down",
    ] {
        assert!(text.contains(said), "no {said:?} in:\n{text}");
    }
}
