//! How a message travels: its event, encoded once as the Server-Sent Events frame it
//! becomes (without an id), and the topics it is for.
//!
//! - A message's record is `TOPICS EXCEPT\nFRAME`: its topics in this partition
//!   joined by `,` (empty for a broadcast), its topics in partitions it was written
//!   to before this one, whose readers get it there, and the frame.
//! - A log entry (stream `{ns:P}:log`) has one field, `r`, the record. (Entries of
//!   earlier versions had `t`, `x` and `f` for the three parts; they still read.)
//! - On a topic or broadcast channel the payload is one record or more, each
//!   preceded by its entry's id and a space: `ENTRY-ID TOPICS EXCEPT\nFRAME`.
//! - On a client channel (direct messages, not logged) the payload is the frame,
//!   which may carry the event's own id.
//!
//! Anyone who can write to Redis can write these, so every frame read back is checked
//! to be one whole event before it reaches a client.

use bytes::{BufMut, Bytes, BytesMut};
use sse_codec::Event;
use sse_core::{EventSeq, Topic};

/// Why a message could not be read back.
pub(crate) type Malformed = &'static str;

/// A logged message as read from a channel or the log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Logged {
    pub(crate) pos: EventSeq,
    /// Empty for a broadcast.
    pub(crate) topics: Vec<Topic>,
    /// Readers of these got the message from an earlier partition.
    pub(crate) except: Vec<Topic>,
    pub(crate) frame: Bytes,
}

impl Logged {
    /// Whether a client of `topics` (sorted) gets this message here.
    pub(crate) fn is_for(&self, topics: &[Topic]) -> bool {
        let reads = |t: &Topic| topics.binary_search(t).is_ok();
        (self.topics.is_empty() || self.topics.iter().any(reads)) && !self.except.iter().any(reads)
    }
}

/// The frame of `event` for a topic or broadcast: without its id, which the node
/// gives it.
pub(crate) fn logged_frame(event: &Event) -> Bytes {
    match event.id() {
        None => event.encode(),
        Some(_) => without_id(event).encode(),
    }
}

fn without_id(event: &Event) -> Event {
    let mut out = Event::new();
    for c in event.comments() {
        out = out.with_comment(c.clone());
    }
    if let Some(t) = event.event_type() {
        out = out.with_event(t.clone());
    }
    if let Some(d) = event.data() {
        out = out.with_data(d);
    }
    if let Some(r) = event.retry() {
        out = out.with_retry(r);
    }
    out
}

/// The record of a message for `topics` (empty: a broadcast) whose readers of
/// `except` got it from an earlier partition. Topics cannot hold commas or spaces.
pub(crate) fn record(topics: &[Topic], except: &[Topic], frame: &[u8]) -> Bytes {
    let names: usize = topics
        .iter()
        .chain(except)
        .map(|t| t.as_str().len() + 1)
        .sum();
    let mut out = BytesMut::with_capacity(names + 2 + frame.len());
    for (list, end) in [(topics, b' '), (except, b'\n')] {
        for (n, topic) in list.iter().enumerate() {
            if n > 0 {
                out.put_u8(b',');
            }
            out.put_slice(topic.as_str().as_bytes());
        }
        out.put_u8(end);
    }
    out.put_slice(frame);
    out.freeze()
}

/// A log entry's record at `pos`, checked: one whole frame after its header.
pub(crate) fn parse_record(pos: EventSeq, record: &[u8]) -> Result<Logged, Malformed> {
    let newline = memchr::memchr(b'\n', record).ok_or("no topics line")?;
    let header = std::str::from_utf8(&record[..newline]).map_err(|_| "header")?;
    let (topics, except) = header.split_once(' ').ok_or("no except list")?;
    let frame = &record[newline + 1..];
    if BLANK_LINE.find(frame).map(|end| end + 2) != Some(frame.len()) {
        return Err("not one frame");
    }
    logged(pos, topics, except, Bytes::copy_from_slice(frame))
}

/// Where a frame ends, searched once per record.
static BLANK_LINE: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(b"\n\n"));

/// A channel payload of logged messages: one record or more, each
/// `ENTRY-ID TOPICS EXCEPT\nFRAME`, in the log's order. A frame ends at its first blank
/// line, so records need no other delimiter.
pub(crate) fn parse_payload(payload: &[u8]) -> Result<Vec<Logged>, Malformed> {
    let mut records: Vec<Logged> = Vec::new();
    let mut last_names: Option<&str> = None;
    // One copy of the payload; each record's frame is a slice of it.
    let whole = Bytes::copy_from_slice(payload);
    let mut rest = payload;
    while !rest.is_empty() {
        let newline = memchr::memchr(b'\n', rest).ok_or("no topics line")?;
        let header = std::str::from_utf8(&rest[..newline]).map_err(|_| "header")?;
        let (pos, names) = header.split_once(' ').ok_or("no entry id")?;
        let (topics, except) = names.split_once(' ').ok_or("no except list")?;
        let pos = pos.parse().map_err(|_| "invalid entry id")?;
        let body = &rest[newline + 1..];
        let end = BLANK_LINE.find(body).ok_or("frame not ended")? + 2;
        let start = payload.len() - body.len();
        let frame = whole.slice(start..start + end);
        // Records of one payload usually share their topics: parsed once.
        let record = match (last_names, records.last()) {
            (Some(last), Some(previous)) if last == names => {
                check(&frame, false)?;
                Logged {
                    pos,
                    topics: previous.topics.clone(),
                    except: previous.except.clone(),
                    frame,
                }
            }
            _ => logged(pos, topics, except, frame)?,
        };
        last_names = Some(names);
        records.push(record);
        rest = &body[end..];
    }
    if records.is_empty() {
        return Err("empty payload");
    }
    Ok(records)
}

/// A logged message from its parts, checked.
pub(crate) fn logged(
    pos: EventSeq,
    topics: &str,
    except: &str,
    frame: Bytes,
) -> Result<Logged, Malformed> {
    let list = |names: &str| {
        if names.is_empty() {
            Ok(Vec::new())
        } else {
            Topic::parse_list(names).map_err(|_| "invalid topic")
        }
    };
    let (topics, except) = (list(topics)?, list(except)?);
    check(&frame, false)?;
    Ok(Logged {
        pos,
        topics,
        except,
        frame,
    })
}

/// A direct message's frame, checked.
pub(crate) fn direct(payload: &[u8]) -> Result<Bytes, Malformed> {
    check(payload, true)?;
    Ok(Bytes::copy_from_slice(payload))
}

/// `frame` with `id` added: the id line goes before the blank line that ends it.
pub(crate) fn with_id(frame: &[u8], id: &str) -> Bytes {
    with_id_by(frame, id.len(), |out| out.put_slice(id.as_bytes()))
}

/// `frame` with an id of about `len` bytes that `write` writes.
pub(crate) fn with_id_by(frame: &[u8], len: usize, write: impl FnOnce(&mut BytesMut)) -> Bytes {
    let mut out = BytesMut::with_capacity(frame.len() + len + 5);
    out.put_slice(&frame[..frame.len() - 1]);
    out.put_slice(b"id: ");
    write(&mut out);
    out.put_slice(b"\n\n");
    out.freeze()
}

/// Most bytes a frame read back may have.
const MAX_FRAME: usize = 16 * 1024 * 1024;

/// Whether `frame` is one whole event as [`Event::encode`] writes it: lines of known
/// fields (an `id` only where allowed) or comments, ended by one blank line.
fn check(frame: &[u8], id_allowed: bool) -> Result<(), Malformed> {
    if frame.len() > MAX_FRAME {
        return Err("frame too large");
    }
    let body = frame.strip_suffix(b"\n\n").ok_or("frame not ended")?;
    if body.is_empty() {
        return Err("empty frame");
    }
    if memchr::memchr(b'\r', body).is_some() || memchr::memchr(0, body).is_some() {
        return Err("frame has a CR or NUL");
    }
    for line in body.split(|&b| b == b'\n') {
        let name = line.split(|&b| b == b':').next().unwrap_or_default();
        let known = match name {
            b"" => !line.is_empty(),
            b"data" | b"event" | b"retry" => true,
            b"id" => id_allowed,
            _ => false,
        };
        if !known {
            return Err("frame has an unknown line");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sse_codec::{EventId, EventType};
    use std::time::Duration;

    #[test]
    fn a_payload_reads_back() {
        let event = Event::message("a\nb")
            .with_event(EventType::new("chat").unwrap())
            .with_retry(Duration::from_millis(1500))
            .with_comment("x")
            .with_id(EventId::new("7").unwrap());
        let f = logged_frame(&event);
        assert!(!f.windows(3).any(|w| w == b"id:"));
        let payload = [&b"17-3 a,b:c d\n"[..], &f].concat();
        let read = parse_payload(&payload).unwrap().remove(0);
        assert_eq!(read.pos, EventSeq::new(17, 3));
        assert_eq!((read.topics.len(), read.except.len()), (2, 1));
        let framed = with_id(&read.frame, "2.0;0:0-0");
        assert!(
            framed.ends_with(b"data: b\nid: 2.0;0:0-0\n\n"),
            "{framed:?}"
        );
        assert_eq!(
            parse_payload(&[&b"17-3  \n"[..], &f].concat()).unwrap()[0].topics,
            []
        );
        // A direct message keeps its id.
        assert_eq!(direct(&event.encode()).unwrap(), event.encode());
    }

    #[test]
    fn a_record_reads_back_from_the_log_and_from_a_channel() {
        let frame = logged_frame(&Event::message("x"));
        let topics = [Topic::new("a").unwrap(), Topic::new("b").unwrap()];
        let except = [Topic::new("c").unwrap()];
        let record = record(&topics, &except, &frame);
        assert_eq!(&record[..], b"a,b c\ndata: x\n\n");
        let pos = EventSeq::new(17, 3);
        let logged = parse_record(pos, &record).unwrap();
        assert_eq!((logged.topics.len(), logged.except.len()), (2, 1));
        let on_channel = [&b"17-3 "[..], &record].concat();
        assert_eq!(parse_payload(&on_channel).unwrap(), [logged]);
        assert_eq!(&super::record(&[], &[], &frame)[..], b" \ndata: x\n\n");
        for bad in [
            &b" \ndata: x\n"[..],
            b" \ndata: x\n\ndata: y\n\n",
            b"a\ndata: x\n\n",
        ] {
            assert!(parse_record(pos, bad).is_err());
        }
    }

    #[test]
    fn bad_messages_are_refused() {
        for bad in [
            &b""[..],
            b"17-3 a \n",
            b"17-3 a \ndata: x\n",
            b"17-3 a \ndata: x\n\ndata: y\n\n",
            b"17-3 a \nid: 1\ndata: x\n\n",
            b"17-3 a \nfoo: x\n\n",
            b"17-3 a \ndata: x\r\n\n",
            b"x a \ndata: x\n\n",
            b"17-3 a\ndata: x\n\n",
            b"17-3 a b c\ndata: x\n\n",
            b"17-3\ndata: x\n\n",
            b"17-3 a \n\n",
        ] {
            assert!(
                parse_payload(bad).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
        assert!(parse_payload(b"17-3 a \ndata: x\n\n").is_ok());
        // Several records, in order.
        let two = parse_payload(b"1-0 a \ndata: x\n\n1-1  \n: c\ndata: y\n\n").unwrap();
        assert_eq!(two.len(), 2);
        assert_eq!((two[1].pos, two[1].topics.len()), (EventSeq::new(1, 1), 0));
        assert!(parse_payload(b"1-0 a \ndata: x\n\n1-1 a \n").is_err());
        assert!(direct(b"id: 1\ndata: x\n\n").is_ok());
        assert!(direct(b"data: x\n\nevent: y\n\n").is_err());
    }
}
