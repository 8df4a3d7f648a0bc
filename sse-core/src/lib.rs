//! The Server-Sent Events service: a registry of connected clients behind a swappable
//! [`ClientManager`], [`Hooks`] around every client's life, [`Service::broadcast`] to
//! everyone, topics, send-to-one by [`ClientId`], resume with `Last-Event-ID`, and
//! graceful shutdown, over any transport. No HTTP and no web framework here: `sse-http`
//! reads requests and makes responses, and `sse-axum`, `sse-warp` and `sse-hyper`
//! bind it to each framework.
//!
//! Who a client is comes from the application, never from what the client merely
//! claims: a [`Principal`] (its [`ClientId`] and the [`TopicGrants`] it may read), a
//! client id the application chose, or else a generated one. Every stream starts with
//! an event of type [`CLIENT_EVENT`] naming the id, so a page learns it. A topic outside
//! the grants is refused (`Forbidden`), at connect, in [`Service::subscribe`] and in replay.
//! The `sse-http` crate builds all of this from an HTTP request.
//!
//! Each client has a bounded queue. A publish encodes its event once and pushes a clone
//! of the same bytes into every recipient's queue, never waiting on a client: when a
//! queue is full the client's [`SlowClientPolicy`] decides. The client's
//! [`ClientStream`] is the queue's receiving end, a `Stream<Item = Bytes>` to use as a
//! response body, or to drive into any `Sink<Bytes>` with [`ClientStream::forward_to`].
//!
//! **Runtime.** Any transport, but tokio's timers: a stream's keep-alive and
//! `write_delay`, the history's age expiry and [`Service::shutdown`]'s deadline use
//! `tokio::time`, so poll streams and run the shutdown inside a tokio runtime with its
//! time driver (a stream polled elsewhere panics with "there is no reactor running"
//! once it arms a timer). Connecting, publishing and the registry work from any thread.
//!
//! ```
//! use futures::StreamExt;
//! use sse_codec::Event;
//! use sse_core::{ConnectRequest, Service, Topic};
//!
//! # futures::executor::block_on(async {
//! let service = Service::new();
//! let news = Topic::new("news").unwrap();
//! let mut reader = service.connect(ConnectRequest::new().topics(["news"])).unwrap();
//! reader.next().await; // the initial comment
//!
//! let sent = service.publish(&news, Event::message("extra!")).unwrap();
//! let frame = reader.next().await.unwrap();
//! assert_eq!(frame, format!("id: {}\ndata: extra!\n\n", sent.id.unwrap()));
//!
//! // A reconnecting client gets what it missed, then live events.
//! let mut again = service
//!     .connect(ConnectRequest::new().topics(["news"]).last_event_id(service.latest_id().to_string()))
//!     .unwrap();
//! # });
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod access;
mod client;
mod dense;
mod error;
mod hooks;
mod interest;
mod manager;
mod metrics;
mod name;
mod notices;
mod policy;
mod queue;
mod replay;
mod resume;
mod service;
mod sync;
#[cfg(feature = "test-util")]
pub mod test_util;
mod topics;

pub use access::{Principal, TopicGrants, TopicPattern};
pub use client::{Client, ConnectRequest};
pub use error::{Error, NameError, Rejection, RejectionKind};
pub use hooks::{Hooks, ResetReason};
pub use interest::{Interest, InterestListener};
pub use manager::{ClientManager, MemoryManager};
pub use metrics::{Metrics, Rejections};
pub use name::{ClientId, Topic};
pub use notices::{CLIENT_EVENT, GAP_EVENT, REPLACED_EVENT, REPLACED_RETRY, RESET_EVENT};
pub use policy::{DuplicatePolicy, SlowClientAction, SlowClientPolicy};
pub use replay::{EventSeq, ParseEventSeqError, ReplayConfig, ENTRY_OVERHEAD};
pub use resume::{Admission, Hold, ResumeSource, ResumeStream};
pub use service::{
    ClientStream, Delivery, Service, ServiceBuilder, Shutdown, ShutdownReport, Target,
};
