#![allow(dead_code, unreachable_pub)]

use std::{
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use futures::StreamExt;
use sse_core::{
    Client, ClientId, ClientStream, ConnectRequest, Hooks, Rejection, RejectionKind, ResetReason,
    SlowClientAction,
};

/// Records every hook call, in order.
#[derive(Debug, Default, Clone)]
pub struct Recorder {
    pub log: Arc<Mutex<Vec<String>>>,
    pub reject: Option<RejectionKind>,
}

impl Recorder {
    pub fn entries(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }

    pub fn count(&self, prefix: &str) -> usize {
        self.entries()
            .iter()
            .filter(|e| e.starts_with(prefix))
            .count()
    }

    fn push(&self, entry: String) {
        self.log.lock().unwrap().push(entry);
    }
}

impl Hooks for Recorder {
    fn on_connect(&self, req: &ConnectRequest) -> Result<(), Rejection> {
        self.push(format!("connect {:?}", req.requested_client_id()));
        match self.reject {
            Some(kind) => Err(Rejection::new(kind, "no")),
            None => Ok(()),
        }
    }
    fn on_create_client(&self, client: &Client, count: usize) {
        self.push(format!("create {} {count}", client.id()));
    }
    fn on_remove_client(&self, id: &ClientId, count: usize) {
        self.push(format!("remove {id} {count}"));
    }
    fn before_send(&self, client: &Client) {
        self.push(format!("before {}", client.id()));
    }
    fn on_send(&self, client: &Client, result: Result<(), &sse_core::Error>) {
        self.push(format!("sent {} {}", client.id(), result.is_ok()));
    }
    fn on_slow_client(&self, client: &Client, action: SlowClientAction) {
        self.push(format!("slow {} {action:?}", client.id()));
    }
    fn on_resume_reset(&self, client: &Client, reason: ResetReason) {
        self.push(format!("reset {} {reason}", client.id()));
    }
}

/// The next frame, or panic after a minute (of real or paused time).
pub async fn next(stream: &mut ClientStream) -> Option<Bytes> {
    tokio::time::timeout(Duration::from_secs(60), stream.next())
        .await
        .expect("a frame within 60 s")
}

/// Text of the next frame.
pub async fn next_text(stream: &mut ClientStream) -> String {
    String::from_utf8(next(stream).await.expect("stream open").to_vec()).unwrap()
}

/// The `data:` values in a chunk of stream text, in order, but the `sse-client`
/// event's.
pub fn datas(text: &str) -> Vec<String> {
    text.split("\n\n")
        .filter(|event| !event.lines().any(|l| l == "event: sse-client"))
        .flat_map(str::lines)
        .filter_map(|l| l.strip_prefix("data: "))
        .map(str::to_owned)
        .collect()
}

pub fn req(id: &str) -> ConnectRequest {
    ConnectRequest::new().client_id(id)
}

/// The frame every stream starts with: the initial comment and the `sse-client` event
/// naming the connection's client id.
pub fn prelude(id: &str) -> String {
    format!(": connected\n\nevent: sse-client\ndata: {id}\n\n")
}

/// The id of the service's only connection.
pub fn only_id(service: &sse_core::Service) -> String {
    let clients = service.clients();
    assert_eq!(clients.len(), 1);
    clients[0].id().to_string()
}

/// The next `n` data values, over as many frames as they take.
pub async fn next_datas(stream: &mut ClientStream, n: usize) -> Vec<String> {
    let mut out = Vec::new();
    while out.len() < n {
        out.extend(datas(&next_text(stream).await));
    }
    out
}
