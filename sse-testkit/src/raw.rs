//! A raw HTTP/1.1 client: one request per TCP connection, the response head parsed by
//! hand, a chunked body decoded and fed to `sse_codec::Parser`. Light enough to hold
//! thousands of streams open from one test process, and to set socket options (a small
//! receive buffer, linger) that a full client hides.

use std::{io, net::SocketAddr, time::Duration};

use sse_codec::{Item, MessageEvent, Parser};
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::{TcpSocket, TcpStream},
    time::timeout,
};

/// A whole response to a plain request.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// The response head, lower-cased.
    pub head: String,
    /// The body, de-chunked.
    pub body: String,
}

/// What [`SseConn::open`] got back.
#[derive(Debug)]
pub enum Opened {
    /// `200`: the event stream.
    Stream(Box<SseConn>),
    /// Any other status, with the body.
    Refused(Response),
}

impl Opened {
    /// The stream; panics with the refusal otherwise.
    pub fn expect_stream(self, what: &str) -> SseConn {
        match self {
            Opened::Stream(conn) => *conn,
            Opened::Refused(r) => panic!("{what}: refused {} {:?}", r.status, r.body),
        }
    }
}

/// An event or the end of the stream.
#[derive(Debug)]
pub enum StreamEvent {
    /// An event (any but the `sse-client` one, which [`SseConn::client_id`] keeps).
    Event(MessageEvent),
    /// The stream ended: the last chunk, end of file or a reset.
    End,
}

/// One open event stream over its own TCP connection.
#[derive(Debug)]
pub struct SseConn {
    tcp: TcpStream,
    /// Body bytes received but not yet de-chunked.
    pending: Vec<u8>,
    /// Bytes left in the current chunk; `None` when a size line is expected next.
    chunk_left: Option<usize>,
    chunked: bool,
    parser: Parser,
    ended: bool,
    buf: Vec<u8>,
    /// Body bytes received (after de-chunking).
    pub body_bytes: u64,
    /// The client id the service told this connection (its first event, which
    /// [`SseConn::next`] does not return).
    pub client_id: Option<String>,
}

/// Finds `needle` in `hay`.
fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// Connects, with a receive buffer of `rcvbuf` bytes if given (set before connect, so
/// the kernel does not grow it).
pub async fn connect(addr: SocketAddr, rcvbuf: Option<u32>) -> io::Result<TcpStream> {
    let socket = TcpSocket::new_v4()?;
    if let Some(size) = rcvbuf {
        socket.set_recv_buffer_size(size)?;
    }
    socket.connect(addr).await
}

/// Writes a request for `path` with `method` and extra header lines (each `name: value`
/// without CRLF; raw bytes allowed).
fn request_bytes(method: &str, path: &str, addr: SocketAddr, headers: &[&[u8]]) -> Vec<u8> {
    let mut req = format!("{method} {path} HTTP/1.1\r\nhost: {addr}\r\n").into_bytes();
    for h in headers {
        req.extend_from_slice(h);
        req.extend_from_slice(b"\r\n");
    }
    req.extend_from_slice(b"\r\n");
    req
}

/// Reads a response head from `tcp`: the status, the lower-cased head and the bytes
/// already read past it.
async fn read_head(tcp: &mut TcpStream, wait: Duration) -> io::Result<(u16, String, Vec<u8>)> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let end = loop {
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i;
        }
        let n = timeout(wait, tcp.read(&mut chunk))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "response head"))??;
        if n == 0 {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "closed before a response head",
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| io::Error::new(io::ErrorKind::InvalidData, "status line"))?;
    Ok((status, head, buf[end + 4..].to_vec()))
}

fn header_value<'a>(head: &'a str, name: &str) -> Option<&'a str> {
    head.lines().find_map(|l| {
        let (k, v) = l.split_once(':')?;
        (k.trim() == name).then(|| v.trim())
    })
}

/// Sends one request (`Connection: close`) and reads the whole response, within
/// `wait`.
///
/// # Errors
///
/// Connection errors, a closed connection before the head, or `wait` passing.
pub async fn request(
    addr: SocketAddr,
    method: &str,
    path: &str,
    headers: &[&[u8]],
    wait: Duration,
) -> io::Result<Response> {
    let run = async {
        let mut tcp = TcpStream::connect(addr).await?;
        let mut all: Vec<&[u8]> = headers.to_vec();
        all.push(b"connection: close");
        tcp.write_all(&request_bytes(method, path, addr, &all))
            .await?;
        let (status, head, rest) = read_head(&mut tcp, wait).await?;
        let mut raw = rest;
        let len = header_value(&head, "content-length").and_then(|v| v.parse::<usize>().ok());
        match len {
            Some(len) => {
                while raw.len() < len {
                    let mut chunk = [0u8; 8192];
                    let n = tcp.read(&mut chunk).await?;
                    if n == 0 {
                        break;
                    }
                    raw.extend_from_slice(&chunk[..n]);
                }
            }
            None => {
                tcp.read_to_end(&mut raw).await?;
            }
        }
        let body = if header_value(&head, "transfer-encoding") == Some("chunked") {
            let mut dechunk = Dechunk::default();
            let mut out = Vec::new();
            dechunk.push(&raw, &mut out);
            out
        } else {
            raw
        };
        Ok(Response {
            status,
            head,
            body: String::from_utf8_lossy(&body).into_owned(),
        })
    };
    timeout(wait, run)
        .await
        .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, format!("{method} {path}")))?
}

/// A chunked transfer-coding decoder (RFC 9112 section 7.1), trailers ignored.
#[derive(Debug, Default)]
struct Dechunk {
    pending: Vec<u8>,
    left: Option<usize>,
    done: bool,
}

impl Dechunk {
    /// Decodes what it can of `input` into `out`; returns whether the last chunk came.
    fn push(&mut self, input: &[u8], out: &mut Vec<u8>) -> bool {
        self.pending.extend_from_slice(input);
        let mut pos = 0;
        while !self.done {
            match self.left {
                None => {
                    let Some(i) = find(&self.pending[pos..], b"\r\n") else {
                        break;
                    };
                    let line = String::from_utf8_lossy(&self.pending[pos..pos + i]);
                    let size = line.split(';').next().unwrap_or("").trim();
                    let size = usize::from_str_radix(size, 16).unwrap_or(0);
                    pos += i + 2;
                    if size == 0 {
                        self.done = true;
                    } else {
                        self.left = Some(size);
                    }
                }
                Some(0) => {
                    if self.pending.len() - pos < 2 {
                        break;
                    }
                    pos += 2;
                    self.left = None;
                }
                Some(n) => {
                    let take = n.min(self.pending.len() - pos);
                    if take == 0 {
                        break;
                    }
                    out.extend_from_slice(&self.pending[pos..pos + take]);
                    pos += take;
                    self.left = Some(n - take);
                }
            }
        }
        self.pending.drain(..pos);
        self.done
    }
}

impl SseConn {
    /// Opens `GET path` with extra header lines on a new connection (receive buffer
    /// `rcvbuf` if given), waiting up to `wait` for the response head.
    ///
    /// # Errors
    ///
    /// Connection errors, a close before the head, or `wait` passing.
    pub async fn open(
        addr: SocketAddr,
        path: &str,
        headers: &[&[u8]],
        rcvbuf: Option<u32>,
        wait: Duration,
    ) -> io::Result<Opened> {
        let mut tcp = timeout(wait, connect(addr, rcvbuf))
            .await
            .map_err(|_| io::Error::new(io::ErrorKind::TimedOut, "connect"))??;
        let mut all: Vec<&[u8]> = vec![b"accept: text/event-stream"];
        all.extend_from_slice(headers);
        tcp.write_all(&request_bytes("GET", path, addr, &all))
            .await?;
        let (status, head, rest) = read_head(&mut tcp, wait).await?;
        if status != 200 {
            let mut body = rest;
            let len = header_value(&head, "content-length")
                .and_then(|v| v.parse::<usize>().ok())
                .unwrap_or(0);
            while body.len() < len {
                let mut chunk = [0u8; 4096];
                match timeout(wait, tcp.read(&mut chunk)).await {
                    Ok(Ok(n)) if n > 0 => body.extend_from_slice(&chunk[..n]),
                    _ => break,
                }
            }
            return Ok(Opened::Refused(Response {
                status,
                head,
                body: String::from_utf8_lossy(&body).into_owned(),
            }));
        }
        let chunked = header_value(&head, "transfer-encoding") == Some("chunked");
        let mut conn = SseConn {
            tcp,
            pending: Vec::new(),
            chunk_left: None,
            chunked,
            parser: Parser::new(),
            ended: false,
            buf: Vec::new(),
            body_bytes: 0,
            client_id: None,
        };
        conn.take(&rest);
        Ok(Opened::Stream(Box::new(conn)))
    }

    /// The TCP connection, e.g. to stop reading it or to set linger.
    pub fn tcp(&self) -> &TcpStream {
        &self.tcp
    }

    /// Feeds raw body bytes through the de-chunker to the parser.
    fn take(&mut self, raw: &[u8]) {
        if !self.chunked {
            self.body_bytes += raw.len() as u64;
            self.parser.feed(raw);
            return;
        }
        let mut dechunk = Dechunk {
            pending: std::mem::take(&mut self.pending),
            left: self.chunk_left,
            done: false,
        };
        let mut out = Vec::new();
        let done = dechunk.push(raw, &mut out);
        self.pending = dechunk.pending;
        self.chunk_left = dechunk.left;
        self.body_bytes += out.len() as u64;
        self.parser.feed(&out);
        if done {
            self.parser.finish();
            self.ended = true;
        }
    }

    /// The next event or the end of the stream, waiting up to `wait` for bytes each
    /// time the socket is read.
    ///
    /// # Errors
    ///
    /// `TimedOut` after `wait` without bytes; `InvalidData` if the stream does not
    /// parse.
    pub async fn next(&mut self, wait: Duration) -> io::Result<StreamEvent> {
        if self.buf.is_empty() {
            self.buf = vec![0u8; 16 * 1024];
        }
        loop {
            while let Some(item) = self.parser.next_item() {
                match item {
                    Ok(Item::Event(event)) if event.event_type() == sse_core::CLIENT_EVENT => {
                        self.client_id = Some(event.data().to_owned());
                    }
                    Ok(Item::Event(event)) => return Ok(StreamEvent::Event(event)),
                    Ok(_) => {}
                    Err(e) => return Err(io::Error::new(io::ErrorKind::InvalidData, e)),
                }
            }
            if self.ended {
                return Ok(StreamEvent::End);
            }
            match timeout(wait, self.tcp.read(&mut self.buf)).await {
                Err(_) => return Err(io::Error::new(io::ErrorKind::TimedOut, "no bytes")),
                Ok(Ok(0)) | Ok(Err(_)) => {
                    self.parser.finish();
                    self.ended = true;
                }
                Ok(Ok(n)) => {
                    let chunk = std::mem::take(&mut self.buf);
                    self.take(&chunk[..n]);
                    self.buf = chunk;
                }
            }
        }
    }

    /// The next event; `None` at the end of the stream.
    ///
    /// # Errors
    ///
    /// As [`SseConn::next`].
    pub async fn next_event(&mut self, wait: Duration) -> io::Result<Option<MessageEvent>> {
        Ok(match self.next(wait).await? {
            StreamEvent::Event(e) => Some(e),
            StreamEvent::End => None,
        })
    }

    /// Closes the connection with a reset (`SO_LINGER` 0) rather than a FIN.
    pub fn abort(self) {
        let _ = socket2::SockRef::from(&self.tcp).set_linger(Some(Duration::ZERO));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dechunk_in_any_split() {
        let wire = b"5\r\nhello\r\n3;x=1\r\n ab\r\n0\r\n\r\n";
        for split in 0..wire.len() {
            let mut d = Dechunk::default();
            let mut out = Vec::new();
            let a = d.push(&wire[..split], &mut out);
            let b = d.push(&wire[split..], &mut out);
            // The last chunk counts once its size line is in; the final CRLF may lag.
            assert!(!a || split >= wire.len() - 2, "split {split}");
            assert!(b, "split {split}");
            assert_eq!(out, b"hello ab");
        }
    }
}
