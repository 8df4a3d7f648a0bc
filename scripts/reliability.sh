#!/usr/bin/env bash
# The long variants of the reliability suite (reliability/tests/, see RELIABILITY.md):
# 1,000 clients with one stalled reader, 10,000-connection churn for 3 minutes, a
# 5,000-connection flood past the admission limit, hostile requests with 2,000
# slow-loris connections, shutdown under load with 1,000 clients, resume under chaos
# with 200 clients, 2,000 resuming non-readers and 10,000 topics against the history,
# 500 slow readers counting every gap, 4,000 stalled request bodies, 2,000 npm
# `eventsource` clients across a slow drain and a restart, then each cargo-fuzz target
# for 10 million inputs.
#
# The short variants of the same tests run with the normal test command
# (scripts/test.sh). Environment: FUZZ_RUNS (default 10000000; 0 skips fuzzing).
set -euo pipefail
cd "$(dirname "$0")/.."

# The churn test holds 10,000 connections in the test process and as many in the
# server: raise the soft limit on open files to the hard one.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

# One test binary at a time (cargo's default) and one test at a time inside each, so
# the loads do not overlap.
cargo test --release --no-fail-fast -p reliability -- --ignored --nocapture --test-threads=1

runs="${FUZZ_RUNS:-10000000}"
if [ "$runs" != 0 ]; then
    if ! command -v cargo-fuzz >/dev/null 2>&1; then
        echo "reliability.sh: cargo-fuzz is missing (cargo install cargo-fuzz); skipping fuzzing" >&2
        exit 1
    fi
    cd fuzz
    for target in parse round_trip; do
        mkdir -p "corpus/$target"
        # Safe Rust only, so no sanitizer (-s none): panics, timeouts and memory growth
        # are what the run checks for, at several times the speed. RUSTC_BOOTSTRAP lets a
        # stable toolchain take cargo-fuzz's nightly flags.
        RUSTC_BOOTSTRAP=1 nice -n 19 cargo fuzz run -s none -O "$target" "corpus/$target" -- \
            -runs="$runs" -rss_limit_mb=2048 -timeout=10 -max_len=4096 -print_final_stats=1
    done
fi
