//! The rescue watchdog: probe, recover after K failures, back off, and give
//! up at a restart rate limit.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};
use serde::Serialize;

use crate::clock::{Clock, sleep_until};
use crate::command::{CommandLine, Runner};
use crate::error::{Error, Result};
use crate::event::{Event, Log, ms};

/// At most `burst` recoveries within any `window` (systemd's
/// `StartLimitBurst=` / `StartLimitIntervalSec=`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    /// Recoveries allowed per window.
    pub burst: u32,
    /// The window.
    pub window: Duration,
}

/// What the watchdog does.
#[derive(Debug, Clone)]
pub struct WatchdogConfig {
    /// Time between probes while healthy.
    pub interval: Duration,
    /// Consecutive probe failures before a recovery (K, at least 1).
    pub failures: u32,
    /// The recovery command (run without a shell).
    pub recovery: CommandLine,
    /// How long a recovery may run before its process group is killed.
    pub call_timeout: Duration,
    /// The first wait after a recovery; doubles (with jitter) while
    /// recoveries keep being needed, reset by a healthy probe.
    pub backoff_min: Duration,
    /// The longest base wait after a recovery (jitter adds up to as much
    /// again: each wait is in `[base, 2 * base)`).
    pub backoff_max: Duration,
    /// The restart rate limit.
    pub rate: RateLimit,
    /// Stop after this long (`None`: until stopped).
    pub deadline: Option<Duration>,
}

impl WatchdogConfig {
    fn check(&self) -> Result<()> {
        let op = "watchdog";
        if self.interval.is_zero() {
            return Err(Error::config(op, "--interval", "must be longer than zero"));
        }
        if self.failures == 0 {
            return Err(Error::config(op, "--failures", "must be at least 1"));
        }
        if self.rate.burst == 0 || self.rate.window.is_zero() {
            return Err(Error::config(op, "--max-restarts", "needs at least one restart in a non-empty window"));
        }
        if self.call_timeout.is_zero() {
            return Err(Error::config(op, "call timeout", "must be longer than zero"));
        }
        if self.backoff_min.is_zero() || self.backoff_max < self.backoff_min {
            return Err(Error::config(op, "backoff", "needs 0 < min <= max"));
        }
        if self.recovery.has_placeholder() {
            return Err(Error::config(op, "--on-fail", "the recovery command takes no {id}"));
        }
        Ok(())
    }
}

/// Why the watchdog stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum WatchdogExit {
    /// Its deadline passed.
    Deadline,
    /// It was asked to stop.
    Stopped,
    /// The restart rate limit was reached: recovery is not working.
    StartLimitHit,
}

/// What the watchdog did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WatchdogReport {
    /// Why it stopped.
    pub exit: WatchdogExit,
    /// Probes made.
    pub probes: u32,
    /// Probes that failed.
    pub probe_failures: u32,
    /// Recoveries run.
    pub recoveries: u32,
    /// The waits after each recovery, in milliseconds.
    pub backoffs_ms: Vec<u64>,
}

/// The rescue watchdog.
///
/// # Security
/// Never two recoveries at once: a recovery runs inside the probe loop and
/// is over — exited, or killed with its whole process group at its timeout
/// — before the loop goes on. A recovery that does not help cannot loop
/// fast: waits grow exponentially with jitter (backon), and past the rate
/// limit the watchdog gives up and says so instead of restarting forever.
#[derive(Debug)]
pub struct Watchdog<R> {
    config: WatchdogConfig,
    runner: R,
    backoff: ExponentialBuilder,
}

impl<R: Runner> Watchdog<R> {
    /// A watchdog.
    ///
    /// # Errors
    /// `InvalidConfig` for a zero interval, K, burst, window or timeout, or
    /// a backoff whose minimum exceeds its maximum.
    pub fn new(config: WatchdogConfig, runner: R) -> Result<Self> {
        config.check()?;
        let backoff = ExponentialBuilder::new()
            .with_min_delay(config.backoff_min)
            .with_max_delay(config.backoff_max)
            .with_factor(2.0)
            .with_jitter()
            .without_max_times();
        Ok(Self { config, runner, backoff })
    }

    /// Uses a fixed jitter seed (reproducible tests).
    pub fn with_jitter_seed(mut self, seed: u64) -> Self {
        self.backoff = self.backoff.with_jitter_seed(seed);
        self
    }

    /// Probes every interval until the deadline, `stop`, or the rate limit.
    /// `probe` returns `Err(why)` when the service is unhealthy; it must
    /// bound its own time.
    pub fn run(
        &mut self,
        probe: &mut dyn FnMut() -> std::result::Result<(), String>,
        clock: &dyn Clock,
        log: &mut dyn Log,
        stop: &dyn Fn() -> bool,
    ) -> WatchdogReport {
        let c = &self.config;
        let start = clock.now();
        let end: Option<Instant> = c.deadline.map(|d| start + d);
        let mut report = WatchdogReport {
            exit: WatchdogExit::Deadline,
            probes: 0,
            probe_failures: 0,
            recoveries: 0,
            backoffs_ms: vec![],
        };
        let mut consecutive = 0u32;
        let mut backoff = self.backoff.build();
        let mut recent: VecDeque<Instant> = VecDeque::new();
        let mut next = start;
        let exit = loop {
            let target = end.map_or(next, |e| next.min(e));
            if sleep_until(clock, target, stop) {
                break WatchdogExit::Stopped;
            }
            if end.is_some_and(|e| clock.now() >= e) {
                break WatchdogExit::Deadline;
            }
            report.probes += 1;
            match probe() {
                Ok(()) => {
                    if consecutive > 0 {
                        log.event(&Event::Healthy { at_ms: ms(clock.now() - start) });
                    }
                    consecutive = 0;
                    backoff = self.backoff.build();
                }
                Err(detail) => {
                    consecutive += 1;
                    report.probe_failures += 1;
                    log.event(&Event::ProbeFailed { consecutive, detail });
                    // A stop raised by the probe itself (a failure no
                    // restart can mend, such as the gateway refusing the
                    // credential) ends the watchdog before any recovery.
                    if stop() {
                        break WatchdogExit::Stopped;
                    }
                }
            }
            if consecutive < c.failures {
                next = clock.now() + c.interval;
                continue;
            }
            consecutive = 0;
            let now = clock.now();
            while recent.front().is_some_and(|t| now.saturating_duration_since(*t) >= c.rate.window) {
                recent.pop_front();
            }
            if recent.len() >= c.rate.burst as usize {
                log.event(&Event::StartLimitHit { restarts: c.rate.burst, window_secs: c.rate.window.as_secs() });
                break WatchdogExit::StartLimitHit;
            }
            recent.push_back(now);
            report.recoveries += 1;
            let attempt = report.recoveries;
            log.event(&Event::RecoveryStarted { attempt });
            let timeout = match end {
                Some(e) => e.saturating_duration_since(now).min(c.call_timeout).max(Duration::from_millis(1)),
                None => c.call_timeout,
            };
            let call = self.runner.run(c.recovery.argv(), timeout);
            log.event(&Event::RecoveryFinished { attempt, outcome: call.outcome, detail: call.detail });
            let delay = backoff.next().unwrap_or(c.backoff_max);
            report.backoffs_ms.push(ms(delay));
            log.event(&Event::Backoff { delay_ms: ms(delay) });
            next = clock.now() + delay;
        };
        report.exit = exit;
        let reason = match exit {
            WatchdogExit::Deadline => "deadline",
            WatchdogExit::Stopped => "stopped",
            WatchdogExit::StartLimitHit => "start_limit",
        };
        log.event(&Event::Finished { at_ms: ms(clock.now() - start), reason });
        report
    }
}
