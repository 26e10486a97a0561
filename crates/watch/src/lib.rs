//! gw-watch: supervised polling that cannot be pinned, flooded or tricked.
//!
//! The problem this crate owns is running *other programs* on a schedule
//! from a long-lived watcher without the watcher itself becoming the
//! weak point:
//!
//! - [`Schedule`]: a fast cadence during a fast window, then a slow
//!   keepalive cadence until an overall deadline (WATCH-6). The schedule
//!   depends only on time, never on what the polls found, so a request that
//!   stays pending cannot keep the fast cadence past the window (WATCH-3).
//! - [`CommandLine`] and [`ProcessRunner`]: external commands run without a
//!   shell (an argv vector), each call bounded by a timeout after which its
//!   whole process group is killed and reaped (WATCH-1), its output bounded
//!   in size, and its result classified as an [`Outcome`].
//! - [`ApprovalWatcher`]: polls a list command for pending requests
//!   ([`parse_pending`], strict and size-bounded), approves allowlisted
//!   clients exactly once — and, with [`ApprovalConfig::with_devices`],
//!   only from pinned devices, since a client id is the requester's own
//!   claim (WATCH-8) —, rejects the others once (WATCH-4), retries
//!   approvals that failed transiently (WATCH-2); [`ApprovalWatcher::run`]
//!   follows the schedule to the deadline, [`ApprovalWatcher::one_shot`] is
//!   the bounded best-effort pass that never fails its caller (WATCH-5).
//! - [`Watchdog`]: probes health through an injected probe, runs a recovery
//!   command after K consecutive failures, with exponential backoff and
//!   jitter and a restart rate limit, never two recoveries at once.
//!
//! ```
//! use std::time::Duration;
//! use gw_watch::{ApprovalConfig, ApprovalWatcher, CommandLine, Event, OneShotLimits, Outcome, ProcessRunner, Runner, SystemClock};
//!
//! # fn main() -> Result<(), gw_watch::Error> {
//! // The list command prints the pending requests; the approve command gets
//! // each id in place of `{id}`. Both run without a shell.
//! let list = CommandLine::from_argv(vec![
//!     "echo".into(),
//!     r#"[{"id":"r1","client":"cli","scopes":[]},{"id":"r2","client":"intruder","scopes":[]}]"#.into(),
//! ])?;
//! let approve = CommandLine::parse("true approve {id}")?;
//! let config = ApprovalConfig::new(list, approve, ["cli".to_string()], Duration::from_secs(5))?;
//! let mut watcher = ApprovalWatcher::new(config, ProcessRunner::new(64 * 1024));
//!
//! // One bounded pass: the allowlisted client is approved, the other
//! // rejected once and never approved (THREATS WATCH-4, WATCH-5).
//! let mut log: Vec<Event> = Vec::new();
//! let limits = OneShotLimits { max_approvals: 8, max_time: Duration::from_secs(10) };
//! let report = watcher.one_shot(limits, &SystemClock, &mut log);
//! assert_eq!(report.approved.iter().map(|id| id.as_str()).collect::<Vec<_>>(), ["r1"]);
//! assert_eq!(report.rejected.iter().map(|id| id.as_str()).collect::<Vec<_>>(), ["r2"]);
//!
//! // A call that outlives its timeout is killed with its process group and
//! // reported as transient (WATCH-1).
//! let call = ProcessRunner::new(1024).run(&["sleep".into(), "30".into()], Duration::from_millis(200));
//! assert!(call.timed_out);
//! assert_eq!(call.outcome, Outcome::Transient);
//! # Ok(()) }
//! ```
//!
//! Time comes from a [`Clock`], so every schedule is tested in virtual time
//! ([`VirtualClock`]); commands go through a [`Runner`], so the bookkeeping is
//! tested without processes and the process handling with real ones.
//!
//! What it does not do: it does not judge whether a client *should* be on the
//! allowlist, and it cannot bound a command that escapes its process group
//! (`setsid`) other than by no longer waiting for it (its output pipe is
//! abandoned after a short grace, the call reported as failed).
//!
//! Concurrency: a watcher's bookkeeping (approved / rejected / failed sets)
//! is owned by one `&mut` loop and never shared between threads, so there is
//! no loom model for it; the only threads are the per-call pipe readers,
//! which own their buffers and hand them back over a channel.
//!
//! Threat rationale: audits/THREATS.md WATCH-1 … WATCH-6 (audits/ maps them to
//! tests).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod approval;
mod clock;
mod command;
mod error;
mod event;
mod schedule;
mod watchdog;

pub use approval::{
    ApprovalConfig, ApprovalWatcher, MAX_LIST_BYTES, MAX_REQUESTS, OneShotLimits, PassReport, PendingRequest,
    Rejection, RequestId, RunReport, parse_pending,
};
pub use clock::{Clock, SystemClock, VirtualClock};
pub use command::{CallReport, CommandLine, ID_PLACEHOLDER, Outcome, ProcessRunner, Runner};
pub use error::{Error, ErrorKind, Result};
pub use event::{Event, Log};
/// The class every error answers (gw-error): not found, refused, invalid, failed.
pub use gw_error::Class;
pub use schedule::Schedule;
pub use watchdog::{RateLimit, Watchdog, WatchdogConfig, WatchdogExit, WatchdogReport};

// The README's example runs as a doc test too, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
