//! `sse_warp::serve`: filters get the peer's address as an extension.

use sse_testkit::{bind_loopback, read_until};
use sse_warp::PeerAddr;
use tokio::{io::AsyncWriteExt, net::TcpStream};
use warp::Filter;

#[tokio::test]
async fn filters_get_the_peer_address() {
    let who = warp::path("who")
        .and(warp::ext::get::<PeerAddr>())
        .map(|PeerAddr(peer)| format!("peer {peer}"));
    let (listener, addr) = bind_loopback().await;
    tokio::spawn(sse_warp::serve(listener, warp::service(who)));
    let mut tcp = TcpStream::connect(addr).await.expect("connect");
    let mine = tcp.local_addr().expect("local address");
    tcp.write_all(b"GET /who HTTP/1.1\r\nhost: x\r\n\r\n")
        .await
        .expect("request");
    let answer = read_until(&mut tcp, &format!("peer {mine}")).await;
    let answer = String::from_utf8_lossy(&answer);
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
}
