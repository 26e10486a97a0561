//! Time as a dependency: the real clock, and a virtual one for tests.

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A source of monotonic time that can also wait.
///
/// Every schedule in this crate reads time and sleeps only through a
/// `Clock`, so tests drive hours of schedule in microseconds with
/// [`VirtualClock`].
pub trait Clock {
    /// The current instant.
    fn now(&self) -> Instant;
    /// Waits for `d` (a virtual clock just advances).
    fn sleep(&self, d: Duration);
}

impl<C: Clock + ?Sized> Clock for &C {
    fn now(&self) -> Instant {
        (**self).now()
    }
    fn sleep(&self, d: Duration) {
        (**self).sleep(d)
    }
}

/// The real monotonic clock ([`Instant::now`], [`std::thread::sleep`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, d: Duration) {
        std::thread::sleep(d)
    }
}

/// A clock that only moves when slept on or advanced: virtual time.
#[derive(Debug)]
pub struct VirtualClock {
    base: Instant,
    offset: Mutex<Duration>,
}

impl Default for VirtualClock {
    fn default() -> Self {
        Self::new()
    }
}

impl VirtualClock {
    /// A virtual clock at its origin.
    pub fn new() -> Self {
        Self { base: Instant::now(), offset: Mutex::new(Duration::ZERO) }
    }

    /// The instant the clock started at.
    pub fn origin(&self) -> Instant {
        self.base
    }

    /// Virtual time elapsed since the origin.
    pub fn elapsed(&self) -> Duration {
        *self.offset.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Moves time forward by `d` (e.g. a simulated call that took `d`).
    pub fn advance(&self, d: Duration) {
        let mut off = self.offset.lock().unwrap_or_else(|p| p.into_inner());
        *off = off.saturating_add(d);
    }
}

impl Clock for VirtualClock {
    fn now(&self) -> Instant {
        self.base + self.elapsed()
    }
    fn sleep(&self, d: Duration) {
        self.advance(d)
    }
}

/// The longest single sleep, so a stop request is seen promptly.
const SLEEP_STEP: Duration = Duration::from_millis(200);

/// Sleeps until `target` in steps, checking `stop` between them; returns
/// whether a stop was requested.
pub(crate) fn sleep_until(clock: &dyn Clock, target: Instant, stop: &dyn Fn() -> bool) -> bool {
    loop {
        if stop() {
            return true;
        }
        let left = target.saturating_duration_since(clock.now());
        if left.is_zero() {
            return false;
        }
        clock.sleep(left.min(SLEEP_STEP));
    }
}
