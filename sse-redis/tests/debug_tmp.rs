mod common;
use std::time::Duration;
use common::{RedisServer, Sse};
use sse_core::{ConnectRequest, Service};
use sse_redis::{RedisBackplane, RedisOptions};

#[tokio::test]
async fn debug() {
    let server = RedisServer::start();
    let a = RedisBackplane::connect(&server.url(), &Service::builder(), RedisOptions::new().hooks(H)).await.unwrap();
    let mut s = Sse::new(a.service().connect(ConnectRequest::new().client_id("a-news").topics(["news"])).unwrap());
    s.connected().await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    let admin = redis::Client::open(server.url()).unwrap();
    let mut admin = admin.get_multiplexed_async_connection().await.unwrap();
    let chans: Vec<String> = redis::cmd("PUBSUB").arg("CHANNELS").query_async(&mut admin).await.unwrap();
    eprintln!("channels {chans:?} status {:?}", a.status());
}

#[derive(Debug)]
struct H;
impl sse_redis::BackplaneHooks for H {
    fn on_down(&self, reason: &str) { eprintln!("down: {reason}"); }
}
