//! Arbitrary bytes with arbitrary limits and chunking: the parser must not panic, must
//! give the same items however the input is chunked, and must keep its limits.

#![no_main]

#[path = "../src/checks.rs"]
mod checks;

use libfuzzer_sys::fuzz_target;

fuzz_target!(|input: &[u8]| {
    // The first bytes choose the limits and the chunk size; the rest is the stream.
    let [line, event, chunk, wire @ ..] = input else {
        return;
    };
    checks::parse_any_chunking(
        usize::from(*line) * 4,
        usize::from(*event) * 16,
        usize::from(*chunk),
        wire,
    );
});
