//! Writing events in the `text/event-stream` format.

use bytes::{BufMut, Bytes, BytesMut};

use crate::Event;

/// A keep-alive frame: an empty comment, which every parser skips.
pub const KEEP_ALIVE: &[u8] = b":\n\n";

/// Encodes a stand-alone comment frame (`: text`); each line of `text` becomes its own
/// comment line.
///
/// # Examples
///
/// ```
/// assert_eq!(&sse_codec::comment("hi\nthere")[..], b": hi\n: there\n\n");
/// ```
pub fn comment(text: &str) -> Bytes {
    let mut buf = BytesMut::with_capacity(text.len() + 8);
    write_lines(&mut buf, b": ", text);
    buf.put_u8(b'\n');
    buf.freeze()
}

pub(crate) fn write_event(event: &Event, buf: &mut BytesMut) {
    for comment in event.comments() {
        write_lines(buf, b": ", comment);
    }
    let mut fields = false;
    if let Some(kind) = event.event_type() {
        write_line(buf, b"event: ", kind.as_str().as_bytes());
        fields = true;
    }
    if let Some(id) = event.id() {
        write_line(buf, b"id: ", id.as_str().as_bytes());
        fields = true;
    }
    if let Some(retry) = event.retry() {
        let millis = u64::try_from(retry.as_millis()).unwrap_or(u64::MAX);
        let digits = itoa_buf(millis);
        write_line(buf, b"retry: ", digits.as_bytes());
        fields = true;
    }
    if let Some(data) = event.data() {
        write_lines(buf, b"data: ", data);
        fields = true;
    }
    if fields {
        buf.put_u8(b'\n');
    }
}

/// `prefix value\n`, where `prefix` is `name: `: the space is always written so a
/// value that starts with a space survives the parser's removal of one leading space.
fn write_line(buf: &mut BytesMut, prefix: &[u8], value: &[u8]) {
    buf.reserve(prefix.len() + value.len() + 1);
    buf.put_slice(prefix);
    buf.put_slice(value);
    buf.put_u8(b'\n');
}

/// One `prefix line` per line of `text`, splitting at LF, CR and CRLF alike.
fn write_lines(buf: &mut BytesMut, prefix: &[u8], text: &str) {
    let mut rest = text.as_bytes();
    loop {
        match memchr::memchr2(b'\r', b'\n', rest) {
            Some(at) => {
                write_line(buf, prefix, &rest[..at]);
                let skip = if rest[at] == b'\r' && rest.get(at + 1) == Some(&b'\n') {
                    2
                } else {
                    1
                };
                rest = &rest[at + skip..];
            }
            None => {
                write_line(buf, prefix, rest);
                return;
            }
        }
    }
}

struct Digits {
    buf: [u8; 20],
    start: usize,
}

impl Digits {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

fn itoa_buf(mut n: u64) -> Digits {
    let mut buf = [0u8; 20];
    let mut start = buf.len();
    loop {
        start -= 1;
        buf[start] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            return Digits { buf, start };
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::{EventId, EventType};

    fn enc(e: Event) -> String {
        String::from_utf8(e.encode().to_vec()).unwrap()
    }

    #[test]
    fn all_fields_in_order() {
        let e = Event::message("d")
            .with_event(EventType::new("t").unwrap())
            .with_id(EventId::new("1").unwrap())
            .with_retry(Duration::from_millis(1500))
            .with_comment("c");
        assert_eq!(enc(e), ": c\nevent: t\nid: 1\nretry: 1500\ndata: d\n\n");
    }

    #[test]
    fn data_line_breaks_each_become_a_data_line() {
        assert_eq!(
            enc(Event::message("a\nb\rc\r\nd")),
            "data: a\ndata: b\ndata: c\ndata: d\n\n"
        );
        assert_eq!(enc(Event::message("a\n")), "data: a\ndata: \n\n");
        assert_eq!(enc(Event::message("\r\n")), "data: \ndata: \n\n");
    }

    #[test]
    fn empty_data_still_dispatches_and_no_data_writes_no_field() {
        assert_eq!(enc(Event::message("")), "data: \n\n");
        assert_eq!(enc(Event::new()), "");
        assert_eq!(enc(Event::new().with_comment("only")), ": only\n");
    }

    #[test]
    fn leading_space_is_kept() {
        assert_eq!(enc(Event::message(" x")), "data:  x\n\n");
    }

    #[test]
    fn retry_is_whole_milliseconds() {
        let e = Event::new().with_retry(Duration::from_micros(2_999));
        assert_eq!(enc(e), "retry: 2\n\n");
        let e = Event::new().with_retry(Duration::ZERO);
        assert_eq!(enc(e), "retry: 0\n\n");
        let e = Event::new().with_retry(Duration::MAX);
        assert_eq!(enc(e), format!("retry: {}\n\n", u64::MAX));
    }

    #[test]
    fn comment_lines_cannot_forge_fields() {
        assert_eq!(&comment("a\ndata: x\r\n")[..], b": a\n: data: x\n: \n\n");
        assert_eq!(&comment("")[..], b": \n\n");
    }

    #[test]
    fn hint_is_an_upper_bound() {
        let e = Event::message("\n".repeat(100)).with_comment("\r".repeat(50));
        assert!(e.encode().len() <= e.encoded_len_hint());
    }
}
