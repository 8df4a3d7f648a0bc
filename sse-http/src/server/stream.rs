//! An event stream written straight to its socket: no buffer while it is idle, one
//! `send` per frame with its chunk framing.

use std::{
    io::{self, IoSlice},
    pin::Pin,
    task::{ready, Context, Poll},
    time::SystemTime,
};

use bytes::Bytes;
use futures_core::Stream;
use http::{
    header::{CONNECTION, CONTENT_ENCODING, CONTENT_LENGTH, CONTENT_TYPE, DATE, TRANSFER_ENCODING},
    Response, StatusCode,
};
use sse_core::ClientStream;
use tokio::net::TcpStream;

use super::gather::write_gathered;
use crate::response::StreamSlot;

/// Bytes a peer may send after its request while it reads a stream (an
/// `EventSource` sends none); past this the stream is closed.
const MAX_DISCARDED: u32 = 64 * 1024;

/// Frames written in one poll before other tasks get a turn.
const FRAMES_PER_POLL: usize = 16;

/// The client stream of `response` when it is one of this crate's streams, as
/// [`connect_response`](crate::connect_response) made it: `200`, `text/event-stream`
/// and no content coding. A layer that changed any of those gets the response back
/// untouched: its body still holds the stream, taken when it is first polled.
pub(crate) fn take_stream<B>(response: &mut Response<B>) -> Option<ClientStream> {
    let slot = response.extensions_mut().remove::<StreamSlot>()?;
    let headers = response.headers();
    let ours = response.status() == StatusCode::OK
        && headers
            .get(CONTENT_TYPE)
            .is_some_and(|t| t.as_bytes().starts_with(b"text/event-stream"))
        && !headers.contains_key(CONTENT_ENCODING);
    if ours {
        slot.take()
    } else {
        None
    }
}

/// A client's event stream on its connection, until the stream ends (then the
/// connection closes) or the peer leaves.
#[derive(Debug)]
pub(crate) struct Streaming {
    tcp: TcpStream,
    body: ClientStream,
    /// What the socket did not take yet: only while it is full.
    unsent: Option<Box<Unsent>>,
    /// HTTP/1.1: frames are chunks. HTTP/1.0: the body ends with the connection.
    chunked: bool,
    /// The stream ended: close once `unsent` is out.
    ended: bool,
    discarded: u32,
}

impl Streaming {
    /// Starts writing `body` on `tcp`, with the head of `response` (its status and
    /// fields, framed for HTTP/1.1 or, if `close_delimited`, HTTP/1.0).
    pub(crate) fn new<B>(
        tcp: TcpStream,
        body: ClientStream,
        response: &Response<B>,
        close_delimited: bool,
    ) -> Self {
        let head = encode_head(response, !close_delimited);
        Streaming {
            tcp,
            body,
            unsent: Some(Box::new(Unsent {
                parts: [Bytes::from(head), Bytes::new(), Bytes::new()],
                sent: 0,
            })),
            chunked: !close_delimited,
            ended: false,
            discarded: 0,
        }
    }

    /// Writes frames as they come, until the stream ends and is written, or the
    /// peer closes or fails.
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Once per wake: a close is seen on the next one at the latest.
        if let Poll::Ready(result) = self.poll_peer(cx) {
            return Poll::Ready(result);
        }
        for _ in 0..FRAMES_PER_POLL {
            if let Some(unsent) = &mut self.unsent {
                ready!(self.tcp.poll_write_ready(cx))?;
                match send(&self.tcp, &unsent.remaining()) {
                    Ok(n) => {
                        unsent.sent += n;
                        if unsent.sent == unsent.len() {
                            self.unsent = None;
                        }
                    }
                    // Readiness is cleared: the next poll waits for it.
                    Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                    Err(error) => return Poll::Ready(Err(error)),
                }
                continue;
            }
            if self.ended {
                return Poll::Ready(Ok(()));
            }
            match Pin::new(&mut self.body).poll_next(cx) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Some(frame)) => self.write(frame)?,
                Poll::Ready(None) => {
                    self.ended = true;
                    if self.chunked {
                        let last = Bytes::from_static(b"0\r\n\r\n");
                        self.write_parts([last, Bytes::new(), Bytes::new()])?;
                    }
                }
            }
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }

    /// Writes `frame` as one chunk (or as it is, close-delimited).
    fn write(&mut self, frame: Bytes) -> io::Result<()> {
        if frame.is_empty() {
            // An empty chunk would end the body.
            return Ok(());
        }
        if !self.chunked {
            return self.write_parts([frame, Bytes::new(), Bytes::new()]);
        }
        let mut line = [0u8; 18];
        let size = chunk_size_line(frame.len(), &mut line);
        let parts = [
            IoSlice::new(size),
            IoSlice::new(&frame),
            IoSlice::new(b"\r\n"),
        ];
        let sent = send_or_none(&self.tcp, &parts)?;
        if sent < size.len() + frame.len() + 2 {
            self.unsent = Some(Box::new(Unsent {
                parts: [
                    Bytes::copy_from_slice(size),
                    frame,
                    Bytes::from_static(b"\r\n"),
                ],
                sent,
            }));
        }
        Ok(())
    }

    fn write_parts(&mut self, parts: [Bytes; 3]) -> io::Result<()> {
        let mut unsent = Unsent { parts, sent: 0 };
        unsent.sent = send_or_none(&self.tcp, &unsent.remaining())?;
        if unsent.sent < unsent.len() {
            self.unsent = Some(Box::new(unsent));
        }
        Ok(())
    }

    /// Ready when the peer has closed (or failed, or sent too much); bytes it sends
    /// meanwhile are read into a small stack buffer and dropped.
    fn poll_peer(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.tcp.poll_read_ready(cx))?;
            let mut scrap = [0u8; 512];
            match self.tcp.try_read(&mut scrap) {
                Ok(0) => return Poll::Ready(Ok(())),
                Ok(n) => {
                    // At most the scrap buffer's 512 bytes.
                    self.discarded = self.discarded.saturating_add(n as u32);
                    if self.discarded > MAX_DISCARDED {
                        return Poll::Ready(Err(io::Error::new(
                            io::ErrorKind::InvalidData,
                            "the peer sent too much after its request",
                        )));
                    }
                }
                Err(error) if error.kind() == io::ErrorKind::WouldBlock => {}
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
    }
}

/// `len` in hex and a CRLF: a chunk's first line.
fn chunk_size_line(len: usize, line: &mut [u8; 18]) -> &[u8] {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let mut start = 16;
    let mut rest = len;
    loop {
        start -= 1;
        line[start] = HEX[rest & 0xf];
        rest >>= 4;
        if rest == 0 {
            break;
        }
    }
    line[16..].copy_from_slice(b"\r\n");
    &line[start..]
}

/// Bytes not yet sent: up to three pieces (a chunk-size line, a frame, a CRLF).
#[derive(Debug)]
struct Unsent {
    parts: [Bytes; 3],
    sent: usize,
}

impl Unsent {
    fn len(&self) -> usize {
        self.parts.iter().map(Bytes::len).sum()
    }

    fn remaining(&self) -> [IoSlice<'_>; 3] {
        let mut skip = self.sent;
        self.parts.each_ref().map(|part| {
            let from = skip.min(part.len());
            skip -= from;
            IoSlice::new(&part[from..])
        })
    }
}

/// Sends `bufs` with one `send` when small, or `writev` when large.
fn send(tcp: &TcpStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    write_gathered(
        tcp,
        bufs,
        |tcp, one| tcp.try_write(one),
        |tcp, bufs| tcp.try_write_vectored(bufs),
    )
}

/// [`send`], with a full socket counted as nothing sent.
fn send_or_none(tcp: &TcpStream, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
    match send(tcp, bufs) {
        Err(error) if error.kind() == io::ErrorKind::WouldBlock => Ok(0),
        other => other,
    }
}

/// The response head: its status line and fields, a `Date`, the body's framing and
/// `Connection: close` (the connection closes when the stream ends).
fn encode_head<B>(response: &Response<B>, chunked: bool) -> Vec<u8> {
    let mut head = Vec::with_capacity(256);
    let status = response.status();
    head.extend_from_slice(b"HTTP/1.1 ");
    head.extend_from_slice(status.as_str().as_bytes());
    head.push(b' ');
    head.extend_from_slice(status.canonical_reason().unwrap_or("").as_bytes());
    head.extend_from_slice(b"\r\n");
    for (name, value) in response.headers() {
        let framing = name == CONTENT_LENGTH || name == TRANSFER_ENCODING || name == CONNECTION;
        if framing || name == DATE {
            continue;
        }
        head.extend_from_slice(name.as_str().as_bytes());
        head.extend_from_slice(b": ");
        head.extend_from_slice(value.as_bytes());
        head.extend_from_slice(b"\r\n");
    }
    head.extend_from_slice(b"date: ");
    head.extend_from_slice(httpdate::fmt_http_date(SystemTime::now()).as_bytes());
    head.extend_from_slice(b"\r\n");
    if chunked {
        head.extend_from_slice(b"transfer-encoding: chunked\r\n");
    }
    head.extend_from_slice(b"connection: close\r\n\r\n");
    head
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chunk_sizes_are_hex() {
        let mut line = [0; 18];
        for len in [1, 9, 10, 255, 4096, 40_013, usize::MAX] {
            assert_eq!(
                chunk_size_line(len, &mut line),
                format!("{len:x}\r\n").as_bytes()
            );
        }
    }

    #[test]
    fn unsent_bytes_resume_where_the_socket_stopped() {
        let mut unsent = Unsent {
            parts: [
                Bytes::from_static(b"4\r\n"),
                Bytes::from_static(b"abcd"),
                Bytes::from_static(b"\r\n"),
            ],
            sent: 0,
        };
        assert_eq!(unsent.len(), 9);
        unsent.sent = 5;
        let rest: Vec<u8> = unsent.remaining().iter().flat_map(|s| s.to_vec()).collect();
        assert_eq!(rest, b"cd\r\n");
    }

    #[test]
    fn the_head_frames_the_body_and_drops_framing_fields() {
        let response = Response::builder()
            .header(CONTENT_TYPE, "text/event-stream")
            .header(CONTENT_LENGTH, "5")
            .header("x-accel-buffering", "no")
            .body(())
            .unwrap();
        let head = String::from_utf8(encode_head(&response, true)).unwrap();
        assert!(head.starts_with("HTTP/1.1 200 OK\r\ncontent-type: text/event-stream\r\n"));
        assert!(head.contains("\r\nx-accel-buffering: no\r\n"));
        assert!(head.contains("\r\ndate: "));
        assert!(!head.contains("content-length"));
        assert!(head.ends_with("transfer-encoding: chunked\r\nconnection: close\r\n\r\n"));
        let head = String::from_utf8(encode_head(&response, false)).unwrap();
        assert!(!head.contains("chunked"));
    }
}
