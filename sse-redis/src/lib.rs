//! A Redis backplane for [`sse_core`]: several server instances behind a load
//! balancer act as one Server-Sent Events service.
//!
//! A broadcast, topic message or send-to-one published through any instance's
//! [`RedisBackplane`] reaches the right clients on every instance, and only the
//! instances that have readers for it receive it: each subscribes to the Redis
//! channels of its own topics and clients. Every topic and broadcast event is also
//! written to a log in Redis (one stream per partition of the topics), so a client
//! that reconnects to any instance resumes with `Last-Event-ID` from Redis, exactly
//! once and in order. Partitions can spread over several independent Redis servers
//! ([`RedisBackplane::connect_shards`]) or over a Redis Cluster
//! ([`RedisBackplane::connect_cluster`], with sharded PUB/SUB).
//! See [`RedisBackplane`] for the design and what happens when Redis goes away, and
//! `docs/redis.md` in the repository for the reasoning behind it.
//!
//! ```no_run
//! use std::time::Duration;
//! use sse_codec::Event;
//! use sse_core::{ConnectRequest, Service};
//! use sse_redis::{RedisBackplane, RedisOptions};
//!
//! # async fn run() -> Result<(), Box<dyn std::error::Error>> {
//! let mut builder = Service::builder();
//! builder.keep_alive(Some(Duration::from_secs(15)));
//! let options = RedisOptions::new().prefix("chat");
//! let backplane = RedisBackplane::connect("redis://127.0.0.1:6379/", &builder, options).await?;
//!
//! // Serve `backplane.service()` with sse-axum, sse-warp or sse-hyper; here, directly:
//! let mut stream = backplane.service().connect(ConnectRequest::new().client_id("alice"))?;
//!
//! // Publish through the backplane, on any instance.
//! match backplane.broadcast(Event::message("hello")).await {
//!     Ok(position) => println!("sent everywhere; in the broadcast log at {position}"),
//!     Err(e) if e.is_unavailable() => eprintln!("only local clients got it: {e}"),
//!     Err(e) => return Err(e.into()),
//! }
//! # Ok(())
//! # }
//! ```

#![cfg_attr(docsrs, feature(doc_cfg))]

mod backplane;
mod batch;
mod conn;
mod counts;
mod cut;
mod error;
mod feed;
mod health;
mod message;
mod node;
mod options;
mod partition;
mod resume;
mod shard;
mod subscriptions;

pub use backplane::RedisBackplane;
pub use counts::ClusterCounts;
pub use error::Error;
pub use health::{BackplaneHooks, Status};
pub use options::RedisOptions;
