//! Small gathered writes sent as one buffer: a socket wrapper for hyper, and the
//! function the server's own stream writer uses.

use std::{
    cell::RefCell,
    io::{self, IoSlice},
    pin::Pin,
    task::{Context, Poll},
};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// Writes of at most this many bytes in several pieces are copied into one buffer
/// and sent with a single `send`; larger ones go out as `writev`, where the copy
/// would cost more than the call saves.
const GATHER_BYTES: usize = 16 * 1024;

thread_local! {
    // One per worker thread, at most `GATHER_BYTES`: nothing is kept per connection.
    static GATHERED: RefCell<Vec<u8>> = const { RefCell::new(Vec::new()) };
}

/// Writes `bufs` to `target`: with `write` when there is one non-empty piece, or when
/// they add up to at most [`GATHER_BYTES`] (copied into one thread-local buffer); with
/// `write_vectored` when larger. A short write reports how many bytes of the
/// concatenation went out, as `writev` would.
pub(crate) fn write_gathered<T, R>(
    target: T,
    bufs: &[IoSlice<'_>],
    write: impl FnOnce(T, &[u8]) -> R,
    write_vectored: impl FnOnce(T, &[IoSlice<'_>]) -> R,
) -> R {
    let pieces = bufs.iter().filter(|b| !b.is_empty()).count();
    if pieces <= 1 {
        let one = bufs
            .iter()
            .find(|b| !b.is_empty())
            .map_or(&[][..], |b| &b[..]);
        return write(target, one);
    }
    let total: usize = bufs.iter().map(|b| b.len()).sum();
    if total > GATHER_BYTES {
        return write_vectored(target, bufs);
    }
    GATHERED.with(|gathered| {
        let mut gathered = gathered.borrow_mut();
        gathered.clear();
        for buf in bufs {
            gathered.extend_from_slice(buf);
        }
        write(target, &gathered)
    })
}

/// Passes reads through; sends a small vectored write (hyper's chunk-size line, frame
/// and CRLF) as one contiguous `send`.
///
/// On Linux a `writev` on a socket goes through the generic file-write path (file
/// position lock, iovec import, write notifications) before reaching TCP; `send`
/// goes to the socket directly. With one small write per event per client, that saved
/// 7-14% of the server's CPU time in the fan-out benchmark (`BENCHMARKS.md`). hyper's own
/// alternative, `writev(false)`, copies into its per-connection write buffer, which
/// then keeps the capacity of the largest write for the connection's life.
#[derive(Debug)]
pub(crate) struct GatherWrites<T> {
    inner: T,
}

impl<T> GatherWrites<T> {
    pub(crate) fn new(inner: T) -> Self {
        GatherWrites { inner }
    }

    pub(crate) fn into_inner(self) -> T {
        self.inner
    }
}

impl<T: AsyncRead + Unpin> AsyncRead for GatherWrites<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl<T: AsyncWrite + Unpin> AsyncWrite for GatherWrites<T> {
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
        write_gathered(
            (Pin::new(&mut self.inner), cx),
            bufs,
            |(inner, cx), one| inner.poll_write(cx, one),
            |(inner, cx), bufs| inner.poll_write_vectored(cx, bufs),
        )
    }

    fn is_write_vectored(&self) -> bool {
        // Keeps hyper on its queueing strategy: frames are not copied into a
        // per-connection buffer before they get here.
        true
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

    #[tokio::test]
    async fn vectored_writes_arrive_whole_and_in_order() {
        let (a, mut b) = tokio::io::duplex(1 << 20);
        let mut a = GatherWrites::new(a);
        let big = vec![b'x'; GATHER_BYTES + 1];
        let cases: [&[&[u8]]; 5] = [
            &[b"4\r\n", b"abcd", b"\r\n"],
            &[b"", b"one", b""],
            &[b"", b""],
            &[b"head", &big, b"tail"],
            &[b"a", b"b", b"c", b"d"],
        ];
        let mut expected = Vec::new();
        for bufs in cases {
            let mut slices: Vec<IoSlice<'_>> = bufs.iter().map(|b| IoSlice::new(b)).collect();
            let mut rest = &mut slices[..];
            expected.extend(bufs.iter().flat_map(|b| b.iter().copied()));
            while rest.iter().any(|b| !b.is_empty()) {
                let n = a.write_vectored(rest).await.expect("write");
                IoSlice::advance_slices(&mut rest, n);
            }
        }
        a.shutdown().await.expect("shutdown");
        let mut got = Vec::new();
        b.read_to_end(&mut got).await.expect("read");
        assert_eq!(got, expected);
    }

    #[tokio::test]
    async fn a_short_write_counts_bytes_of_the_concatenation() {
        // Room for 5 bytes only: the gathered write is cut there.
        let (a, mut b) = tokio::io::duplex(5);
        let mut a = GatherWrites::new(a);
        let n = a
            .write_vectored(&[IoSlice::new(b"abc"), IoSlice::new(b"defg")])
            .await
            .expect("write");
        assert_eq!(n, 5);
        let mut got = [0; 5];
        b.read_exact(&mut got).await.expect("read");
        assert_eq!(&got, b"abcde");
    }
}
