//! Shorthands of gw-watch's suites (`watch_schedule`, `watch_threats`).

use std::time::Duration;

/// `x` seconds.
pub(crate) fn s(x: u64) -> Duration {
    Duration::from_secs(x)
}

/// `x` milliseconds.
pub(crate) fn ms(x: u64) -> Duration {
    Duration::from_millis(x)
}

/// A stop condition that never holds.
pub(crate) fn never() -> bool {
    false
}
