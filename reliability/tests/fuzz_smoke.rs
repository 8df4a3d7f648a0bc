//! The short variant of the fuzzing item: the checks of the cargo-fuzz targets
//! `fuzz/fuzz_targets/parse.rs` and `round_trip.rs`, run on stable over inputs from a
//! seeded generator (the long variant is `cargo fuzz run` for 10 million inputs each,
//! in `scripts/reliability.sh`).

#[path = "../../fuzz/src/checks.rs"]
mod checks;

use reliability::Rng;

/// Bytes biased towards what the parser cares about.
fn wire(rng: &mut Rng, len: usize) -> Vec<u8> {
    const PIECES: &[&[u8]] = &[
        b"data:",
        b"data: ",
        b"id:",
        b"event:",
        b"retry:",
        b":",
        b"\n",
        b"\r",
        b"\r\n",
        b" ",
        b"x",
        b"12",
        b"\0",
        b"\xff",
        b"\xef\xbb\xbf",
        b"id: a\0b",
        b"retry: 99999999999999",
    ];
    let mut out = Vec::with_capacity(len);
    while out.len() < len {
        if rng.range(0, 4) == 0 {
            out.push(rng.next_u64() as u8);
        } else {
            out.extend_from_slice(PIECES[rng.range(0, PIECES.len() as u64) as usize]);
        }
    }
    out
}

#[test]
fn parse_any_bytes_any_chunking() {
    let mut rng = Rng::new(6);
    for _ in 0..20_000 {
        let len = rng.range(0, 300) as usize;
        let input = wire(&mut rng, len);
        let (line, event, chunk) = (rng.range(0, 64), rng.range(0, 64), rng.range(1, 32));
        checks::parse_any_chunking(
            line as usize * 4,
            event as usize * 16,
            chunk as usize,
            &input,
        );
    }
}

fn text(rng: &mut Rng) -> String {
    const CHARS: &[char] = &['a', ' ', ':', '\n', '\r', 'é', '\0', 'z', '1'];
    (0..rng.range(0, 12))
        .map(|_| CHARS[rng.range(0, CHARS.len() as u64) as usize])
        .collect()
}

#[test]
fn round_trip_any_events_any_cuts() {
    let mut rng = Rng::new(7);
    let maybe = |rng: &mut Rng| (rng.range(0, 2) == 0).then(|| text(rng));
    for _ in 0..5_000 {
        let events: Vec<checks::Fields> = (0..rng.range(0, 6))
            .map(|_| {
                let kind = maybe(&mut rng);
                let id = maybe(&mut rng);
                let retry = (rng.range(0, 4) == 0).then(|| rng.next_u64() >> 20);
                let comments = (0..rng.range(0, 2)).map(|_| text(&mut rng)).collect();
                let data = (rng.range(0, 4) != 0).then(|| text(&mut rng));
                (kind, id, data, retry, comments)
            })
            .collect();
        let cuts: Vec<usize> = (0..rng.range(0, 5))
            .map(|_| rng.next_u64() as usize)
            .collect();
        checks::round_trip(events, &cuts);
    }
}
