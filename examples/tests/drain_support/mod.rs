//! A drain that lasts: a client that never reads, and the shutdown options that the
//! shutdown tests share.

#![allow(dead_code, unreachable_pub)] // each test file uses a different part

use std::{net::SocketAddr, time::Duration};

use sse_codec::Event;
use sse_core::{Service, Shutdown, Topic};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
};

/// A client of `/events?topics=fill` that never reads, with more queued for it than
/// the kernel's buffers take (others do not get the filler): a drain waits for it
/// until its deadline.
pub async fn stalled_client(addr: SocketAddr, service: &Service) -> TcpStream {
    let socket = TcpSocket::new_v4().expect("socket");
    socket.set_recv_buffer_size(4096).expect("rcvbuf");
    let mut tcp = socket.connect(addr).await.expect("connect");
    let request = format!("GET /events?topics=fill HTTP/1.1\r\nhost: {addr}\r\n\r\n");
    tcp.write_all(request.as_bytes()).await.expect("write");
    let mut head = [0; 64];
    let _ = tcp.read(&mut head).await;
    let fill = Topic::new("fill").expect("topic");
    for _ in 0..120 {
        service
            .publish(&fill, Event::message("z".repeat(60_000)))
            .expect("published");
    }
    tcp
}

/// A short retry hint, and a 2 s drain that a stalled client holds to its end.
pub fn shutdown_options() -> Shutdown {
    Shutdown::new(Duration::from_secs(2)).retry(Duration::from_millis(300), Duration::ZERO)
}
