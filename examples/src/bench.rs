//! The contract both fan-out benchmark servers (`bench-server`, `bench-baseline`)
//! share, so they cannot drift apart: configuration from the environment and the
//! event payload the load generator reads latency from.

use std::{
    env,
    str::FromStr,
    time::{SystemTime, UNIX_EPOCH},
};

/// The environment variable `name` parsed as `T`, or `default` when unset or invalid.
pub fn env_or<T: FromStr>(name: &str, default: T) -> T {
    env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// The benchmark payload: send time in unix nanoseconds, a space, `x` up to `size`.
pub fn payload(size: usize) -> String {
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos());
    let mut data = format!("{nanos} ");
    let pad = size.saturating_sub(data.len());
    data.extend(std::iter::repeat_n('x', pad));
    data
}
