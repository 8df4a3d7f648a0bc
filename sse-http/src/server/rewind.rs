//! A socket that gives back the bytes already read from it before reading more, and
//! that can take a connection back from hyper between two requests.

use std::{
    io::{self, IoSlice},
    pin::Pin,
    sync::{
        atomic::{AtomicBool, Ordering},
        Arc,
    },
    task::{ready, Context, Poll},
};

use bytes::{Buf, Bytes};
use http::header::{ACCEPT, CONTENT_LENGTH, EXPECT, TRANSFER_ENCODING, UPGRADE};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Reads `read` first, then the socket: how a connection whose head the server
/// read itself is handed to hyper. With a [`Gate`], hyper is given one request head
/// at a time, and an event-stream request that comes after the others on the
/// connection is taken back from it.
#[derive(Debug)]
pub(crate) struct Rewind<T> {
    read: Bytes,
    inner: T,
    gate: Option<Box<Gate>>,
}

/// Lets hyper read one request at a time while every request on the connection has
/// no body, so that the boundaries between requests are known here too. When the
/// next head, at such a boundary, asks for an event stream, hyper is told the peer
/// closed (it has nothing in flight and nothing buffered, so it ends quietly) and
/// the connection goes back to the server, which serves the stream itself.
///
/// A request with a body, an upgrade or anything unclear ends the gating for the
/// connection's life: the body's length is hyper's business, and guessing at it
/// here could split a message where hyper would not.
#[derive(Debug)]
pub(crate) struct Gate {
    /// Set when hyper drops the body of its answer to the head it was given.
    answered: Arc<AtomicBool>,
    /// Bytes read past the head hyper was given: the next request's.
    held: Vec<u8>,
    max_head_size: usize,
    /// hyper was given a head and may not have written all of its answer.
    busy: bool,
    /// A flush finished after the answer's body was dropped: all of it is written.
    flushed: bool,
    /// hyper was told the peer closed, so that the connection comes back.
    handed_back: bool,
}

/// The next request head in a buffer, as far as the gate needs to know it.
#[derive(Debug, PartialEq, Eq)]
enum Ahead {
    Partial,
    /// A whole head of `len` bytes, of a request without a body; `stream` when it is
    /// a `GET` that accepts `text/event-stream`.
    Head {
        len: usize,
        stream: bool,
    },
    /// A body, an upgrade, or a malformed head.
    Other,
}

fn next_head(buf: &[u8]) -> Ahead {
    let mut fields = [httparse::EMPTY_HEADER; super::conn::MAX_HEADERS];
    let mut parsed = httparse::Request::new(&mut fields);
    let len = match parsed.parse(buf) {
        Ok(httparse::Status::Complete(len)) => len,
        Ok(httparse::Status::Partial) => return Ahead::Partial,
        Err(_) => return Ahead::Other,
    };
    let mut accepts_stream = false;
    for field in parsed.headers.iter() {
        let name = field.name;
        let body = name.eq_ignore_ascii_case(TRANSFER_ENCODING.as_str())
            || name.eq_ignore_ascii_case(UPGRADE.as_str())
            || name.eq_ignore_ascii_case(EXPECT.as_str())
            || (name.eq_ignore_ascii_case(CONTENT_LENGTH.as_str()) && field.value != b"0");
        if body {
            return Ahead::Other;
        }
        if name.eq_ignore_ascii_case(ACCEPT.as_str()) {
            accepts_stream |= field
                .value
                .windows(b"text/event-stream".len())
                .any(|w| w.eq_ignore_ascii_case(b"text/event-stream"));
        }
    }
    Ahead::Head {
        len,
        stream: parsed.method == Some("GET") && accepts_stream,
    }
}

impl Gate {
    /// The next `len` bytes held, for hyper.
    fn give(&mut self, len: usize) -> Bytes {
        let rest = self.held.split_off(len);
        self.busy = true;
        self.flushed = false;
        self.answered.store(false, Ordering::Relaxed);
        Bytes::from(std::mem::replace(&mut self.held, rest))
    }

    /// Whether hyper has answered, and written, every head it was given.
    fn idle(&mut self) -> bool {
        if self.busy && self.flushed {
            self.busy = false;
        }
        !self.busy
    }
}

impl<T> Rewind<T> {
    pub(crate) fn new(read: Bytes, inner: T) -> Self {
        Rewind {
            read,
            inner,
            gate: None,
        }
    }

    /// Gives hyper the request head of `head_len` bytes at the front of `read`, and
    /// the rest one head at a time (see [`Gate`]). `answered` is to be set when
    /// hyper drops the body of each answer.
    pub(crate) fn gated(
        mut read: Vec<u8>,
        head_len: usize,
        inner: T,
        answered: Arc<AtomicBool>,
        max_head_size: usize,
    ) -> Self {
        let held = read.split_off(head_len.min(read.len()));
        Rewind {
            read: Bytes::from(read),
            inner,
            gate: Some(Box::new(Gate {
                answered,
                held,
                max_head_size,
                busy: true,
                flushed: false,
                handed_back: false,
            })),
        }
    }

    /// The socket, what was read from it and not given to hyper, and whether hyper
    /// was told the peer closed so as to hand the connection back.
    pub(crate) fn into_parts(self) -> (T, Vec<u8>, bool) {
        let mut unread = self.read.to_vec();
        let mut handed_back = false;
        if let Some(gate) = self.gate {
            unread.extend_from_slice(&gate.held);
            handed_back = gate.handed_back;
        }
        (self.inner, unread, handed_back)
    }

    /// Stops gating: hyper reads everything held, then the socket.
    fn ungate(&mut self) {
        if let Some(gate) = self.gate.take() {
            self.read = Bytes::from(gate.held);
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for Rewind<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        loop {
            if this.read.has_remaining() {
                let n = this.read.len().min(buf.remaining());
                buf.put_slice(&this.read[..n]);
                this.read.advance(n);
                if !this.read.has_remaining() {
                    // Frees the head's buffer.
                    this.read = Bytes::new();
                }
                return Poll::Ready(Ok(()));
            }
            let Some(gate) = &mut this.gate else {
                return Pin::new(&mut this.inner).poll_read(cx, buf);
            };
            if gate.handed_back {
                return Poll::Ready(Ok(()));
            }
            if gate.idle() {
                match next_head(&gate.held) {
                    Ahead::Head { stream: true, .. } => {
                        gate.handed_back = true;
                        return Poll::Ready(Ok(()));
                    }
                    Ahead::Head { len, .. } => {
                        this.read = gate.give(len);
                        continue;
                    }
                    Ahead::Partial if gate.held.len() < gate.max_head_size => {}
                    // hyper answers what is wrong with it (400, 431), or reads the body.
                    Ahead::Partial | Ahead::Other => {
                        this.ungate();
                        continue;
                    }
                }
            } else if gate.held.len() >= gate.max_head_size {
                // Sent ahead of its answer, and too much to hold: hyper takes it.
                this.ungate();
                continue;
            }
            // While hyper answers, it reads to notice a peer that leaves: what comes
            // is held for later, and only the end is passed on.
            let mut scrap = [0u8; 1024];
            let mut more = ReadBuf::new(&mut scrap);
            ready!(Pin::new(&mut this.inner).poll_read(cx, &mut more))?;
            if more.filled().is_empty() {
                let ended_between_requests = gate.held.is_empty();
                this.ungate();
                if ended_between_requests {
                    return Poll::Ready(Ok(()));
                }
                continue;
            }
            gate.held.extend_from_slice(more.filled());
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for Rewind<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(Pin::new(&mut self.inner).poll_flush(cx))?;
        if let Some(gate) = &mut self.gate {
            if gate.busy && !gate.flushed && gate.answered.load(Ordering::Relaxed) {
                gate.flushed = true;
                // hyper may have read already in this poll, found nothing it could
                // have and be waiting for the socket: the next head may be held here.
                cx.waker().wake_by_ref();
            }
        }
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn the_gate_knows_a_head_without_a_body_and_a_stream_request() {
        let stream = b"GET /e HTTP/1.1\r\nAccept: text/html, Text/Event-Stream\r\n\r\n";
        assert_eq!(
            next_head(stream),
            Ahead::Head {
                len: stream.len(),
                stream: true
            }
        );
        let mut two = b"HEAD / HTTP/1.1\r\nContent-Length: 0\r\n\r\n".to_vec();
        let len = two.len();
        two.extend_from_slice(stream);
        assert_eq!(next_head(&two), Ahead::Head { len, stream: false });
        assert_eq!(
            next_head(b"GET /e HTTP/1.1\r\n\r\n"),
            Ahead::Head {
                len: 19,
                stream: false
            },
            "an EventSource says what it accepts"
        );
        assert_eq!(next_head(&stream[..20]), Ahead::Partial);
        for other in [
            &b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\nab"[..],
            b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n",
            b"GET / HTTP/1.1\r\nUpgrade: websocket\r\n\r\n",
            b"GET / HTTP/1.1\r\nExpect: 100-continue\r\n\r\n",
            b"GET / HTTP/1.1\r\nbad header\r\n\r\n",
        ] {
            assert_eq!(next_head(other), Ahead::Other, "{other:?}");
        }
    }

    #[tokio::test]
    async fn the_gate_gives_one_head_at_a_time_and_hands_back_a_stream_request() {
        let page = b"GET /page HTTP/1.1\r\n\r\n";
        let stream = b"GET /e HTTP/1.1\r\nAccept: text/event-stream\r\n\r\n";
        let (socket, mut peer) = tokio::io::duplex(1024);
        let answered = Arc::new(AtomicBool::new(false));
        let mut read = page.to_vec();
        read.extend_from_slice(page);
        let mut io = Rewind::gated(read, page.len(), socket, answered.clone(), 4096);
        let mut buf = [0; 256];
        let n = io.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], page, "the first head alone");
        // While it is answered, what comes is held.
        peer.write_all(stream).await.unwrap();
        let held = tokio::time::timeout(Duration::from_millis(50), io.read(&mut buf)).await;
        assert!(held.is_err(), "nothing for hyper while it answers");
        answered.store(true, Ordering::Relaxed);
        io.flush().await.unwrap();
        let n = io.read(&mut buf).await.unwrap();
        assert_eq!(&buf[..n], page, "the next head once the answer is written");
        answered.store(true, Ordering::Relaxed);
        io.flush().await.unwrap();
        assert_eq!(
            io.read(&mut buf).await.unwrap(),
            0,
            "hyper is told the peer left"
        );
        let (_, unread, handed_back) = io.into_parts();
        assert!(handed_back);
        assert_eq!(unread, stream, "the stream request comes back whole");
    }

    #[tokio::test]
    async fn what_was_read_comes_first_then_the_socket() {
        let (a, mut peer) = tokio::io::duplex(64);
        let mut a = Rewind::new(Bytes::from_static(b"GET / HTTP/1.1\r\n"), a);
        peer.write_all(b"\r\n").await.unwrap();
        drop(peer);
        let mut got = Vec::new();
        // Small reads: the replayed bytes may take several.
        let mut buf = [0; 5];
        loop {
            let n = a.read(&mut buf).await.unwrap();
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
        }
        assert_eq!(got, b"GET / HTTP/1.1\r\n\r\n");
    }
}
