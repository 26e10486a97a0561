//! The polling schedule: fast cadence for a window, slow keepalive to a
//! deadline.

use std::time::Duration;

use crate::error::{Error, Result};

/// When to poll: every `fast_interval` while within `fast_window` of the
/// start, then every `slow_interval` (keepalive) until `deadline`.
///
/// All times are offsets from the start of the run. The schedule depends on
/// time only, never on what a poll found.
///
/// # Security
/// - WATCH-3: a request that stays pending does not keep the fast cadence:
///   after the window, consecutive polls are at least `slow_interval` apart,
///   whatever is pending.
/// - WATCH-6: after the window the watcher keeps polling (slowly) until the
///   deadline, so late requests are still seen.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Schedule {
    fast_interval: Duration,
    fast_window: Duration,
    slow_interval: Duration,
    deadline: Duration,
}

impl Schedule {
    /// A schedule.
    ///
    /// # Errors
    /// `InvalidConfig` if an interval or the deadline is zero, or the slow
    /// interval is shorter than the fast one.
    pub fn new(
        fast_interval: Duration,
        fast_window: Duration,
        slow_interval: Duration,
        deadline: Duration,
    ) -> Result<Self> {
        let op = "schedule";
        if fast_interval.is_zero() {
            return Err(Error::config(op, "fast interval", "must be longer than zero"));
        }
        if slow_interval.is_zero() {
            return Err(Error::config(op, "slow interval", "must be longer than zero"));
        }
        if deadline.is_zero() {
            return Err(Error::config(op, "deadline", "must be longer than zero"));
        }
        if slow_interval < fast_interval {
            return Err(Error::config(
                op,
                "slow interval",
                format!("{slow_interval:?} is shorter than the fast interval {fast_interval:?}"),
            ));
        }
        Ok(Self { fast_interval, fast_window, slow_interval, deadline })
    }

    /// The fast interval.
    pub fn fast_interval(&self) -> Duration {
        self.fast_interval
    }
    /// How long the fast cadence lasts from the start.
    pub fn fast_window(&self) -> Duration {
        self.fast_window
    }
    /// The keepalive interval after the window.
    pub fn slow_interval(&self) -> Duration {
        self.slow_interval
    }
    /// The overall deadline, from the start.
    pub fn deadline(&self) -> Duration {
        self.deadline
    }

    /// Whether `at` (from the start) is within the fast window.
    pub fn is_fast(&self, at: Duration) -> bool {
        at <= self.fast_window
    }

    /// The time of the poll after one that started at `last` and finished
    /// at `now` (both from the start), or `None` when it would be past the
    /// deadline.
    ///
    /// A poll that overran its interval is followed at once if that is still
    /// within the window, else after the slow interval: after the window,
    /// polls are never closer than `slow_interval`, and no poll is ever
    /// later than the deadline.
    pub fn next_poll(&self, last: Duration, now: Duration) -> Option<Duration> {
        let fast = last.saturating_add(self.fast_interval).max(now);
        let next = if fast <= self.fast_window { fast } else { last.saturating_add(self.slow_interval).max(now) };
        (next <= self.deadline).then_some(next)
    }
}
