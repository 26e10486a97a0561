//! What a watcher reports as it goes: one event per line, human or JSON.

use std::fmt;

use serde::Serialize;

use crate::approval::Rejection;
use crate::command::Outcome;

/// Something a watcher did or saw. Times are milliseconds since its start.
///
/// Events never carry a command's output (it may hold secrets): only ids,
/// client names (validated by the list parser) and one-line details.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "event", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Event {
    /// The list command was run and parsed.
    Polled {
        /// When.
        at_ms: u64,
        /// Whether this poll was in the fast window.
        fast: bool,
        /// How many requests it listed.
        pending: usize,
    },
    /// The fast window is over: keepalive cadence from now on (WATCH-3/6).
    SlowPhase {
        /// When.
        at_ms: u64,
    },
    /// The list command failed (the next poll tries again).
    ListFailed {
        /// How.
        outcome: Outcome,
        /// Why.
        detail: String,
    },
    /// The list command's output was not a valid list (the next poll tries
    /// again).
    InvalidList {
        /// Why.
        detail: String,
    },
    /// A request was approved (once, never again).
    Approved {
        /// The request.
        id: String,
        /// Its client.
        client: String,
        /// Its device, when the list names one.
        #[serde(skip_serializing_if = "Option::is_none")]
        device: Option<String>,
    },
    /// A request that may not be approved — its client is not on the
    /// allowlist (WATCH-4), or devices are pinned and it comes from none of
    /// them (WATCH-8): never approved, logged once, not retried.
    Rejected {
        /// The request.
        id: String,
        /// Its client.
        client: String,
        /// Its device, when the list names one.
        #[serde(skip_serializing_if = "Option::is_none")]
        device: Option<String>,
        /// Why: the client is not allowlisted, or devices are pinned and
        /// this one is not among them (or it has none).
        why: Rejection,
    },
    /// An approval failed: transient ones are retried at the next poll
    /// (WATCH-2), permanent ones are not.
    ApproveFailed {
        /// The request.
        id: String,
        /// Its client.
        client: String,
        /// Transient (retried) or permanent (not).
        outcome: Outcome,
        /// Why.
        detail: String,
    },
    /// A bounded pass stopped at one of its caps (WATCH-5).
    Capped {
        /// `count` or `time`.
        cap: &'static str,
    },
    /// The health probe failed.
    ProbeFailed {
        /// Consecutive failures so far.
        consecutive: u32,
        /// Why.
        detail: String,
    },
    /// The probe succeeded again after failures.
    Healthy {
        /// When.
        at_ms: u64,
    },
    /// A recovery command starts.
    RecoveryStarted {
        /// Its number in this run, from 1.
        attempt: u32,
    },
    /// A recovery command ended.
    RecoveryFinished {
        /// Its number in this run.
        attempt: u32,
        /// How it ended.
        outcome: Outcome,
        /// Why.
        detail: String,
    },
    /// Waiting before probing again after a recovery.
    Backoff {
        /// How long.
        delay_ms: u64,
    },
    /// The restart rate limit was reached: the watchdog gives up.
    StartLimitHit {
        /// Recoveries within the window.
        restarts: u32,
        /// The window, in seconds.
        window_secs: u64,
    },
    /// The watcher ends.
    Finished {
        /// When.
        at_ms: u64,
        /// `deadline`, `stopped`, `start_limit` or `pass_done`.
        reason: &'static str,
    },
}

impl fmt::Display for Event {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Polled { at_ms, fast, pending } => {
                let cadence = if *fast { "fast" } else { "slow" };
                write!(f, "poll at {at_ms}ms ({cadence}): {pending} pending")
            }
            Self::SlowPhase { at_ms } => write!(f, "fast window over at {at_ms}ms: keepalive cadence"),
            Self::ListFailed { outcome, detail } => write!(f, "list failed ({}): {detail}", outcome.as_str()),
            Self::InvalidList { detail } => write!(f, "list output refused: {detail}"),
            Self::Approved { id, client, device: None } => write!(f, "approved {id} for client {client:?}"),
            Self::Approved { id, client, device: Some(d) } => {
                write!(f, "approved {id} for client {client:?}, device {d}")
            }
            Self::Rejected { id, client, device, why } => match (why, device) {
                (Rejection::Client, _) => {
                    write!(f, "rejected {id}: client {client:?} is not allowlisted (not retried)")
                }
                (Rejection::Device, Some(d)) => write!(
                    f,
                    "rejected {id}: device {d} (client {client:?}) is not one of the --allow-device ids (not retried)"
                ),
                (Rejection::Device | Rejection::NoDevice, _) => write!(
                    f,
                    "rejected {id}: the list names no device for it (client {client:?}), and devices are pinned \
                     with --allow-device (not retried)"
                ),
            },
            Self::ApproveFailed { id, client, outcome, detail } => {
                let then = if *outcome == Outcome::Transient { "will retry" } else { "not retried" };
                write!(f, "approval of {id} for {client:?} failed ({}, {then}): {detail}", outcome.as_str())
            }
            Self::Capped { cap } => write!(f, "pass stopped at its {cap} cap"),
            Self::ProbeFailed { consecutive, detail } => write!(f, "probe failed ({consecutive} in a row): {detail}"),
            Self::Healthy { at_ms } => write!(f, "healthy again at {at_ms}ms"),
            Self::RecoveryStarted { attempt } => write!(f, "recovery #{attempt} starts"),
            Self::RecoveryFinished { attempt, outcome, detail } => {
                write!(f, "recovery #{attempt} ended ({}): {detail}", outcome.as_str())
            }
            Self::Backoff { delay_ms } => write!(f, "waiting {delay_ms}ms before probing again"),
            Self::StartLimitHit { restarts, window_secs } => {
                write!(f, "start limit hit: {restarts} recoveries within {window_secs}s; giving up")
            }
            Self::Finished { at_ms, reason } => write!(f, "finished at {at_ms}ms ({reason})"),
        }
    }
}

/// Where events go.
pub trait Log {
    /// Records one event.
    fn event(&mut self, e: &Event);
}

impl<F: FnMut(&Event)> Log for F {
    fn event(&mut self, e: &Event) {
        self(e)
    }
}

impl Log for Vec<Event> {
    fn event(&mut self, e: &Event) {
        self.push(e.clone())
    }
}

pub(crate) fn ms(d: std::time::Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}
