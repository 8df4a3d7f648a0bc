//! Code shared by the example binaries in `src/bin/`; one module per example.

pub mod bench;
pub mod demo;

// The README's snippets are compiled and run as this crate's doc tests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;
