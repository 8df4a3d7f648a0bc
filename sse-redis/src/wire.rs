//! How a message is written into, and read back from, a stream entry.
//!
//! An entry holds flat text fields, so any Redis client can read or write it:
//!
//! | field | value |
//! | --- | --- |
//! | `v` | format version, `1` |
//! | `k` | kind: `a` everyone, `t` topics, `c` one client id |
//! | `to` | the topics joined by `,` (topics cannot hold commas), or the client id |
//! | `e` | event type, if set |
//! | `d` | data, if set |
//! | `r` | retry hint in milliseconds, if set |
//! | `c` | the comments joined by LF (each line becomes a comment line either way) |
//! | `i` | the event's own id, for a direct message only |
//!
//! The id of a broadcast or topic event is the entry's id, never a field.

use std::{collections::HashMap, time::Duration};

use redis::Value;
use sse_codec::{Event, EventId, EventType};
use sse_core::{ClientId, Target, Topic};

const VERSION: &str = "1";

/// The entry's fields for `XADD`, in order.
pub(crate) fn encode(target: &Target, event: &Event) -> Vec<(&'static str, String)> {
    let mut fields = vec![("v", VERSION.to_owned())];
    match target {
        Target::Topics(topics) => {
            let joined = topics
                .iter()
                .map(Topic::as_str)
                .collect::<Vec<_>>()
                .join(",");
            fields.push(("k", "t".to_owned()));
            fields.push(("to", joined));
        }
        Target::Client(id) => {
            fields.push(("k", "c".to_owned()));
            fields.push(("to", id.as_str().to_owned()));
            if let Some(id) = event.id() {
                fields.push(("i", id.as_str().to_owned()));
            }
        }
        // `Target::All` and any later kind of target go to everyone.
        _ => fields.push(("k", "a".to_owned())),
    }
    if let Some(t) = event.event_type() {
        fields.push(("e", t.as_str().to_owned()));
    }
    if let Some(d) = event.data() {
        fields.push(("d", d.to_owned()));
    }
    if let Some(r) = event.retry() {
        fields.push(("r", r.as_millis().to_string()));
    }
    if !event.comments().is_empty() {
        fields.push(("c", event.comments().join("\n")));
    }
    fields
}

/// The event without its id, as it travels: the backplane gives it one.
pub(crate) fn without_id(event: &Event) -> Event {
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

/// Why an entry could not be read back.
pub(crate) type Malformed = &'static str;

/// The target and event of an entry's fields.
pub(crate) fn decode(map: &HashMap<String, Value>) -> Result<(Target, Event), Malformed> {
    let text = |name: &str| -> Result<Option<String>, Malformed> {
        match map.get(name) {
            None => Ok(None),
            Some(Value::BulkString(b)) => String::from_utf8(b.clone())
                .map(Some)
                .map_err(|_| "field is not UTF-8"),
            Some(Value::SimpleString(s)) => Ok(Some(s.clone())),
            Some(_) => Err("field is not a string"),
        }
    };
    if text("v")?.as_deref() != Some(VERSION) {
        return Err("unknown format version");
    }
    let to = text("to")?.unwrap_or_default();
    let mut event = Event::new();
    if let Some(c) = text("c")? {
        event = event.with_comment(c);
    }
    if let Some(e) = text("e")? {
        event = event.with_event(EventType::new(e).map_err(|_| "invalid event type")?);
    }
    if let Some(d) = text("d")? {
        event = event.with_data(d);
    }
    if let Some(r) = text("r")? {
        let ms = r.parse::<u64>().map_err(|_| "invalid retry")?;
        event = event.with_retry(Duration::from_millis(ms));
    }
    let target = match text("k")?.as_deref() {
        Some("a") => Target::All,
        Some("t") => Target::Topics(Topic::parse_list(&to).map_err(|_| "invalid topic")?),
        Some("c") => {
            if let Some(i) = text("i")? {
                event = event.with_id(EventId::new(i).map_err(|_| "invalid event id")?);
            }
            Target::Client(ClientId::new(&to).map_err(|_| "invalid client id")?)
        }
        _ => return Err("unknown kind"),
    };
    Ok((target, event))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn roundtrip(target: &Target, event: &Event) -> (Target, Event) {
        let map = encode(target, event)
            .into_iter()
            .map(|(k, v)| (k.to_owned(), Value::BulkString(v.into_bytes())))
            .collect();
        decode(&map).unwrap()
    }

    #[test]
    fn every_field_survives() {
        let event = Event::message("a\nb\r\nc")
            .with_event(EventType::new("chat").unwrap())
            .with_retry(Duration::from_millis(1500))
            .with_comment("x")
            .with_comment("y\nz");
        let topics = Target::Topics(vec![Topic::new("a").unwrap(), Topic::new("b:c").unwrap()]);
        for target in [Target::All, topics] {
            let (t, e) = roundtrip(&target, &event);
            assert_eq!(t, target);
            // Comments are joined, which encodes to the same lines.
            assert_eq!(e.encode(), event.encode());
        }
    }

    #[test]
    fn ids_travel_only_with_direct_messages() {
        let event = Event::message("hi").with_id(EventId::new("7").unwrap());
        let (_, e) = roundtrip(&Target::All, &event);
        assert_eq!(e.id(), None);
        let alice = Target::Client(ClientId::new("alice").unwrap());
        let (t, e) = roundtrip(&alice, &event);
        assert_eq!(t, alice);
        assert_eq!(e, event);
        assert_eq!(without_id(&event), Event::message("hi"));
    }

    #[test]
    fn bad_entries_are_rejected() {
        let entry = |pairs: &[(&str, &str)]| -> HashMap<String, Value> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), Value::BulkString(v.as_bytes().to_vec())))
                .collect()
        };
        assert!(decode(&entry(&[("k", "a")])).is_err());
        assert!(decode(&entry(&[("v", "2"), ("k", "a")])).is_err());
        assert!(decode(&entry(&[("v", "1"), ("k", "q")])).is_err());
        assert!(decode(&entry(&[("v", "1"), ("k", "t"), ("to", "a b")])).is_err());
        assert!(decode(&entry(&[("v", "1"), ("k", "c"), ("to", "")])).is_err());
        assert!(decode(&entry(&[("v", "1"), ("k", "a"), ("r", "soon")])).is_err());
        assert!(decode(&entry(&[("v", "1"), ("k", "a"), ("e", "a\nb")])).is_err());
        let mut bad = entry(&[("v", "1"), ("k", "a")]);
        bad.insert("d".into(), Value::BulkString(vec![0xff]));
        assert!(decode(&bad).is_err());
        assert!(decode(&entry(&[("v", "1"), ("k", "a"), ("d", "ok")])).is_ok());
    }
}
