//! A socket wrapper that bounds how long a request may take to arrive.

use std::{
    future::Future,
    io::{self, IoSlice},
    pin::Pin,
    task::{Context, Poll},
    time::Duration,
};

use tokio::{
    io::{AsyncRead, AsyncWrite, ReadBuf},
    time::Sleep,
};

/// Fails reads once a request has been arriving for `limit` without an answer: the
/// deadline starts with the first byte read after the last write (the start of a
/// request) and ends with the next write (the answer). A client that sends a head and
/// then trickles its body, or never finishes it, is cut off; a stream that is being
/// answered, however long, is not. No timer is held between requests.
#[derive(Debug)]
pub(crate) struct RequestDeadline<T> {
    inner: T,
    limit: Option<Duration>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<T> RequestDeadline<T> {
    pub(crate) fn new(inner: T, limit: Option<Duration>) -> Self {
        RequestDeadline {
            inner,
            limit,
            timer: None,
        }
    }

    pub(crate) fn into_inner(self) -> T {
        self.inner
    }

    /// Counts the deadline of the request being read from `start`, when its first
    /// byte arrived before this wrapper saw it.
    pub(crate) fn started_at(&mut self, start: tokio::time::Instant) {
        if let Some(limit) = self.limit {
            self.timer = Some(Box::pin(tokio::time::sleep_until(start + limit)));
        }
    }

    fn answered(&mut self, written: usize) {
        if written > 0 {
            self.timer = None;
        }
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for RequestDeadline<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        match Pin::new(&mut this.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if let (Some(limit), None, true) =
                    (this.limit, &this.timer, buf.filled().len() > before)
                {
                    this.timer = Some(Box::pin(tokio::time::sleep(limit)));
                }
                Poll::Ready(Ok(()))
            }
            Poll::Pending => {
                let expired = this
                    .timer
                    .as_mut()
                    .is_some_and(|timer| timer.as_mut().poll(cx).is_ready());
                if expired {
                    return Poll::Ready(Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "the request did not arrive in time",
                    )));
                }
                Poll::Pending
            }
            other => other,
        }
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for RequestDeadline<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        if let Poll::Ready(Ok(n)) = written {
            self.answered(n);
        }
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if let Poll::Ready(Ok(n)) = written {
            self.answered(n);
        }
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test(start_paused = true)]
    async fn a_request_must_arrive_or_be_answered_in_time() {
        let (a, mut peer) = tokio::io::duplex(1024);
        let mut a = RequestDeadline::new(a, Some(Duration::from_secs(30)));
        let mut buf = [0; 64];
        // Idle before any request: no deadline.
        let idle = tokio::time::timeout(Duration::from_secs(100), a.read(&mut buf)).await;
        assert!(idle.is_err(), "still waiting, no error");
        // A request starts and stalls: cut 30 s after its first byte, whatever trickles.
        peer.write_all(b"POST / HTTP/1.1\r\n").await.unwrap();
        assert!(a.read(&mut buf).await.unwrap() > 0);
        tokio::time::advance(Duration::from_secs(20)).await;
        peer.write_all(b"x").await.unwrap();
        assert!(a.read(&mut buf).await.unwrap() > 0);
        let cut = a.read(&mut buf).await.unwrap_err();
        assert_eq!(cut.kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn a_request_read_elsewhere_first_keeps_its_start() {
        let (a, mut peer) = tokio::io::duplex(1024);
        let mut a = RequestDeadline::new(a, Some(Duration::from_secs(30)));
        // Its first byte came 25 s ago: 5 s are left, however the rest trickles.
        a.started_at(tokio::time::Instant::now() - Duration::from_secs(25));
        let mut buf = [0; 64];
        tokio::time::advance(Duration::from_secs(4)).await;
        peer.write_all(b"x").await.unwrap();
        assert!(a.read(&mut buf).await.unwrap() > 0);
        let cut = tokio::time::timeout(Duration::from_secs(2), a.read(&mut buf))
            .await
            .expect("cut within the 5 s left");
        assert_eq!(cut.unwrap_err().kind(), io::ErrorKind::TimedOut);
    }

    #[tokio::test(start_paused = true)]
    async fn an_answered_request_is_not_timed() {
        let (a, mut peer) = tokio::io::duplex(1024);
        let mut a = RequestDeadline::new(a, Some(Duration::from_secs(30)));
        let mut buf = [0; 64];
        peer.write_all(b"GET /events HTTP/1.1\r\n\r\n")
            .await
            .unwrap();
        assert!(a.read(&mut buf).await.unwrap() > 0);
        a.write_all(b"HTTP/1.1 200 OK\r\n").await.unwrap();
        // A stream being answered: the client sends nothing for an hour, and that is fine.
        let quiet = tokio::time::timeout(Duration::from_secs(3600), a.read(&mut buf)).await;
        assert!(quiet.is_err(), "no error while answered");
    }
}
