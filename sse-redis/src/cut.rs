//! The event id: a node's cut, the position it has reached in every partition's log.
//!
//! A node delivers the events of all its partitions in one merged order; when it
//! delivers an event, it has delivered everything of its interest it read before, so
//! a client holding that event has every event of its topics up to the node's
//! position in each partition. That vector is the same for every recipient, so it is
//! the event's id, encoded once:
//!
//! ```text
//! 2.k2x9a1;0:4f-2,1:51-0,g:0-0
//! ```
//!
//! `2` is the format; `k2x9a1` a base time (unix ms); each `P:MS-SEQ` a partition and
//! its position, a stream entry id whose milliseconds are relative to the base. Every
//! number is base 36. The broadcast partition is the last one.

use std::fmt::Write;

use sse_core::EventSeq;

use crate::partition::Partition;

const FORMAT: &str = "2";

/// The longest id the format writes: what `sse-http` accepts as `Last-Event-ID`.
pub(crate) const MAX_LEN: usize = 256;

/// Most partitions (broadcast included) whose cut fits in [`MAX_LEN`]: at most 12
/// bytes an entry while positions stay within 28 minutes of each other, as a node
/// keeps them (its subscriber moves any that falls 10 minutes behind).
pub(crate) const MAX_PARTITIONS: usize = 17;

/// A position in every partition, the broadcast one last.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Cut(pub(crate) Vec<EventSeq>);

impl Cut {
    /// The id for the wire.
    pub(crate) fn encode(&self) -> String {
        let base = self.0.iter().map(|p| p.epoch()).min().unwrap_or(0);
        let mut out = String::with_capacity(16 + 10 * self.0.len());
        out.push_str(FORMAT);
        out.push('.');
        push36(&mut out, base);
        for (p, pos) in self.0.iter().enumerate() {
            out.push(if p == 0 { ';' } else { ',' });
            out.push_str(&piece(p, *pos, base));
        }
        out
    }

    /// The positions of an id written by [`encode`](Self::encode) for `partitions`
    /// partitions (broadcast included); `None` for any other text.
    pub(crate) fn parse(id: &str, partitions: usize) -> Option<Cut> {
        if id.len() > MAX_LEN {
            return None;
        }
        let rest = id.strip_prefix(FORMAT)?.strip_prefix('.')?;
        let (base, entries) = rest.split_once(';')?;
        let base = parse36(base)?;
        let mut positions = vec![None; partitions];
        for entry in entries.split(',') {
            let (p, pos) = entry.split_once(':')?;
            let (ms, seq) = pos.split_once('-')?;
            let slot = positions.get_mut(usize::try_from(parse36(p)?).ok()?)?;
            if slot.is_some() {
                return None;
            }
            *slot = Some(EventSeq::new(
                base.checked_add(parse36(ms)?)?,
                parse36(seq)?,
            ));
        }
        positions.into_iter().collect::<Option<Vec<_>>>().map(Cut)
    }

    pub(crate) fn get(&self, partition: Partition) -> EventSeq {
        self.0[usize::from(partition)]
    }

    pub(crate) fn set(&mut self, partition: Partition, pos: EventSeq) {
        self.0[usize::from(partition)] = pos;
    }
}

/// A cut that keeps its encoding, so that moving one position re-encodes that one
/// (and the base, when it was the lowest): a node encodes an id per event.
#[derive(Debug, Clone)]
pub(crate) struct EncodedCut {
    cut: Cut,
    base: u64,
    /// `2.BASE`, the id's start.
    head: String,
    /// `P:MS-SEQ` per partition, relative to `base`.
    pieces: Vec<String>,
}

impl EncodedCut {
    pub(crate) fn new(cut: Cut) -> Self {
        let mut encoded = EncodedCut {
            cut,
            base: 0,
            head: String::new(),
            pieces: Vec::new(),
        };
        encoded.rebuild();
        encoded
    }

    pub(crate) fn cut(&self) -> &Cut {
        &self.cut
    }

    pub(crate) fn get(&self, partition: Partition) -> EventSeq {
        self.cut.get(partition)
    }

    pub(crate) fn set(&mut self, partition: Partition, pos: EventSeq) {
        self.cut.set(partition, pos);
        let base = self.cut.0.iter().map(|p| p.epoch()).min().unwrap_or(0);
        if base == self.base {
            self.pieces[usize::from(partition)] = piece(usize::from(partition), pos, base);
        } else {
            self.rebuild();
        }
    }

    fn rebuild(&mut self) {
        self.base = self.cut.0.iter().map(|p| p.epoch()).min().unwrap_or(0);
        let base = self.base;
        self.head = format!("{FORMAT}.");
        push36(&mut self.head, base);
        self.pieces = (self.cut.0.iter().enumerate())
            .map(|(p, pos)| piece(p, *pos, base))
            .collect();
    }

    /// The id, as [`Cut::encode`] writes it.
    #[cfg(test)]
    pub(crate) fn id(&self) -> String {
        let mut out = bytes::BytesMut::new();
        self.write_id(&mut out);
        String::from_utf8(out.to_vec()).expect("ASCII")
    }

    /// About how long the id is.
    pub(crate) fn id_len(&self) -> usize {
        16 + self.pieces.iter().map(|p| p.len() + 1).sum::<usize>()
    }

    /// Writes the id, as [`Cut::encode`] writes it.
    pub(crate) fn write_id(&self, out: &mut bytes::BytesMut) {
        use bytes::BufMut;
        out.put_slice(self.head.as_bytes());
        for (p, piece) in self.pieces.iter().enumerate() {
            out.put_u8(if p == 0 { b';' } else { b',' });
            out.put_slice(piece.as_bytes());
        }
    }
}

fn piece(partition: usize, pos: EventSeq, base: u64) -> String {
    let mut out = String::with_capacity(12);
    push36(&mut out, partition as u64);
    out.push(':');
    push36(&mut out, pos.epoch() - base);
    out.push('-');
    push36(&mut out, pos.seq());
    out
}

fn push36(out: &mut String, mut n: u64) {
    let mut digits = [0u8; 13];
    let mut i = digits.len();
    loop {
        i -= 1;
        digits[i] = b"0123456789abcdefghijklmnopqrstuvwxyz"[(n % 36) as usize];
        n /= 36;
        if n == 0 {
            break;
        }
    }
    // Only ASCII digits were written.
    let _ = out.write_str(std::str::from_utf8(&digits[i..]).unwrap_or("0"));
}

fn parse36(s: &str) -> Option<u64> {
    // No sign, no leading zeros but "0", no upper case: one spelling per number.
    let canonical = !s.is_empty()
        && s.len() <= 13
        && (s == "0" || !s.starts_with('0'))
        && s.bytes()
            .all(|b| b.is_ascii_digit() || b.is_ascii_lowercase());
    canonical.then(|| u64::from_str_radix(s, 36).ok()).flatten()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn a_known_cut() {
        let cut = Cut(vec![
            EventSeq::new(1_700_000_000_151, 2),
            EventSeq::new(1_700_000_000_000, 0),
            EventSeq::new(1_700_000_000_037, 35),
        ]);
        let id = cut.encode();
        assert_eq!(id, "2.loyw3v28;0:47-2,1:0-0,2:11-z");
        assert_eq!(Cut::parse(&id, 3), Some(cut));
    }

    #[test]
    fn anything_else_is_refused() {
        for bad in [
            "",
            "1700000000000-1",
            "2.0;0:0-0", // too few partitions
            "2.0;0:0-0,1:0-0,2:0-0,3:0-0",
            "2.0;0:0-0,0:0-0,1:0-0", // a partition twice
            "3.0;0:0-0,1:0-0,2:0-0",
            "2.0;0:00-0,1:0-0,2:0-0",
            "2.0;0:A-0,1:0-0,2:0-0",
            "2.0;0:-1-0,1:0-0,2:0-0",
            "2.zzzzzzzzzzzzz;0:zzzzzzzzzzzzz-0,1:0-0,2:0-0",
            "2.0;0:0-0,1:0-0,2:0-0,",
        ] {
            assert_eq!(Cut::parse(bad, 3), None, "{bad:?}");
        }
        assert!(Cut::parse("2.0;0:0-0,1:0-0,2:0-0", 3).is_some());
    }

    #[test]
    fn the_widest_cut_fits() {
        // Positions up to 28 minutes apart (a node moves any that falls 10 minutes
        // behind), and the highest sequence the publish script gives.
        let now = 1_800_000_000_000;
        let mut positions = vec![EventSeq::new(now, 999_999 + 511); MAX_PARTITIONS];
        positions[0] = EventSeq::new(now - (36u64.pow(4) - 1), 0);
        let id = Cut(positions).encode();
        assert!(id.len() <= MAX_LEN, "{} bytes: {id}", id.len());
    }

    proptest! {
        #[test]
        fn an_encoded_cut_writes_what_encode_writes(
            start in proptest::collection::vec((0u64..1_000_000, 0u64..100), 17),
            moves in proptest::collection::vec((0u16..17, 0u64..2_000_000, 0u64..100), 0..40),
        ) {
            let base = 1_700_000_000_000;
            let cut = Cut(start.iter().map(|&(ms, seq)| EventSeq::new(base + ms, seq)).collect());
            let mut encoded = EncodedCut::new(cut);
            for (p, ms, seq) in moves {
                encoded.set(p, EventSeq::new(base + ms, seq));
                prop_assert_eq!(encoded.id(), encoded.cut().encode());
            }
        }

        #[test]
        fn every_cut_reads_back(
            base in 0u64..4_000_000_000_000,
            positions in proptest::collection::vec((0u64..100_000_000, any::<u64>()), 1..18),
        ) {
            let cut = Cut(positions.iter().map(|&(ms, seq)| EventSeq::new(base + ms, seq)).collect());
            let id = cut.encode();
            prop_assert_eq!(Cut::parse(&id, cut.0.len()), (id.len() <= MAX_LEN).then_some(cut));
        }
    }
}
