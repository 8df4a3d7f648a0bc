//! Arbitrary events, encoded and parsed back in arbitrary chunks, must come back as
//! the standard says: data line breaks as LF, an empty or missing type as `message`,
//! the last id carried forward, retry in whole milliseconds.

#![no_main]

#[path = "../src/checks.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: (Vec<checks::Fields>, Vec<u16>)| {
    let (events, cuts) = input;
    let cuts: Vec<usize> = cuts.into_iter().map(usize::from).collect();
    checks::round_trip(events, &cuts);
});
