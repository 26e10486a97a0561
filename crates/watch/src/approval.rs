//! The approval watcher: list pending requests, approve allowlisted clients
//! exactly once, reject the others once.

use std::collections::BTreeSet;
use std::fmt;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::clock::{Clock, sleep_until};
use crate::command::{CommandLine, Outcome, Runner};
use crate::error::{Error, Result};
use crate::event::{Event, Log, ms};
use crate::schedule::Schedule;

/// The largest list output accepted, in bytes.
pub const MAX_LIST_BYTES: usize = 1024 * 1024;
/// The most requests one list may hold.
pub const MAX_REQUESTS: usize = 1000;
/// The longest id.
const MAX_ID: usize = 128;
/// The longest client name or scope, in bytes.
const MAX_NAME: usize = 256;
/// The most scopes one request may name.
const MAX_SCOPES: usize = 64;

/// A request id: 1 to 128 of `[A-Za-z0-9._:-]`, not starting with `-`.
///
/// # Security
/// The id becomes an argument of the approve command: the charset keeps out
/// whitespace, quotes, `/`, `$` and control characters, and the first
/// character may not be `-`, so an id can never be read as an option.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(transparent)]
pub struct RequestId(String);

impl RequestId {
    /// Validates `id`.
    ///
    /// # Errors
    /// `Refused` if it is empty, too long, starts with `-`, or has a
    /// character outside `[A-Za-z0-9._:-]`.
    pub fn new(id: &str) -> Result<Self> {
        match id_problem("an id", id) {
            Some(m) => Err(Error::refused("validate request id", shown(id), m)),
            None => Ok(Self(id.to_owned())),
        }
    }

    /// The id.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for RequestId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// What is wrong with `s` as a request or device id (`what` names it in
/// the message), if anything: it must be 1 to 128 of `[A-Za-z0-9._:-]`, not
/// starting with `-`.
fn id_problem(what: &str, s: &str) -> Option<String> {
    if s.is_empty() || s.len() > MAX_ID {
        return Some(format!("{what} is 1 to {MAX_ID} characters"));
    }
    if s.starts_with('-') {
        return Some(format!("{what} may not start with `-` (it would read as an option)"));
    }
    let c = s.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')))?;
    Some(format!("character {c:?} is not allowed in {what} (only A-Z a-z 0-9 . _ : -)"))
}

/// `s` as an error subject: its first 40 characters, escaped.
fn shown(s: &str) -> String {
    s.chars().take(40).flat_map(char::escape_debug).collect()
}

/// One pending request as the list command reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PendingRequest {
    /// Its id (validated).
    pub id: RequestId,
    /// The client asking (1 to 256 bytes, no control characters).
    pub client: String,
    /// The scopes asked for (informational; at most 64).
    pub scopes: Vec<String>,
    /// The device asking, when the list names one (OpenClaw's `deviceId`:
    /// the SHA-256 of the public key the device signed its connect with;
    /// checked like an id).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest {
    id: String,
    client: String,
    scopes: Vec<String>,
    #[serde(default)]
    device: Option<String>,
}

fn check_name(what: &str, s: &str) -> Result<()> {
    if s.is_empty() || s.len() > MAX_NAME {
        return Err(Error::list(format!("a {what} is 1 to {MAX_NAME} bytes")));
    }
    if s.chars().any(char::is_control) {
        return Err(Error::list(format!("a {what} contains a control character")));
    }
    Ok(())
}

/// One pending device request as OpenClaw's `openclaw devices list --json`
/// prints it (2026.9.6): the fields the watcher needs; the others
/// (`publicKey`, `platform`, `clientMode`, `role`, `roles`, `silent`,
/// `isRepair`, `ts`, and any later addition) are skipped unread.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct OpenClawRequest {
    request_id: String,
    client_id: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    device_id: Option<String>,
}

/// The whole `openclaw devices list --json` document: `pending` is read,
/// `paired` (the paired devices, with token metadata) is skipped unread.
#[derive(Deserialize)]
struct OpenClawList {
    pending: Vec<OpenClawRequest>,
}

/// Parses the list command's output, in either of two shapes told apart by
/// the first byte that is not whitespace:
/// - `[`: gw's own shape, a JSON array of
///   `{"id": "...", "client": "...", "scopes": ["..."]}` and optionally
///   `"device": "..."`, nothing else (no other fields);
/// - `{`: OpenClaw's `openclaw devices list --json`, an object whose
///   `pending` array holds `{"requestId", "clientId", "scopes", "deviceId",
///   ...}` (the id is `requestId`, the client is `clientId`, the device is
///   `deviceId`; other fields and the `paired` list are ignored).
///
/// Strict either way: at most [`MAX_LIST_BYTES`] and [`MAX_REQUESTS`];
/// UTF-8 and numbers a JSON reader can hold throughout (the skipped fields
/// too); no duplicate fields, no
/// trailing data, no byte-order mark; ids checked by
/// [`RequestId::new`], device ids by the same rule; the same id twice
/// refuses the whole list.
///
/// # Errors
/// `InvalidList` for malformed or oversized output, `Refused` for an id
/// outside the charset or a duplicate id.
pub fn parse_pending(bytes: &[u8]) -> Result<Vec<PendingRequest>> {
    if bytes.len() > MAX_LIST_BYTES {
        return Err(Error::list(format!("{} bytes is more than the {MAX_LIST_BYTES} allowed", bytes.len())));
    }
    // Read whole as a JSON value first: serde_json skips the fields it is
    // not asked for (OpenClaw's `publicKey`, `ts`, ...) without checking
    // their text is UTF-8 or their numbers fit a number (both found by the
    // fuzz target), and a list must read the same in any JSON reader. The
    // typed read below still reads the text, not that value: it refuses a
    // field given twice, of which the value keeps the last.
    let text = std::str::from_utf8(bytes).map_err(|e| Error::list(format!("not UTF-8: {e}")))?;
    serde_json::from_str::<serde_json::Value>(text).map_err(|e| Error::list(e.to_string()))?;
    let raw: Vec<RawRequest> = match text.bytes().find(|b| !b.is_ascii_whitespace()) {
        Some(b'{') => serde_json::from_str::<OpenClawList>(text)
            .map_err(|e| Error::list(format!("not the shape of `openclaw devices list --json`: {e}")))?
            .pending
            .into_iter()
            .map(|r| RawRequest { id: r.request_id, client: r.client_id, scopes: r.scopes, device: r.device_id })
            .collect(),
        _ => serde_json::from_str(text).map_err(|e| Error::list(e.to_string()))?,
    };
    if raw.len() > MAX_REQUESTS {
        return Err(Error::list(format!("{} requests is more than the {MAX_REQUESTS} allowed", raw.len())));
    }
    let mut seen = BTreeSet::new();
    let mut out = Vec::with_capacity(raw.len());
    for r in raw {
        let id = RequestId::new(&r.id)?;
        if !seen.insert(id.clone()) {
            return Err(Error::refused("parse pending list", id.0, "the same id is listed twice"));
        }
        check_name("client", &r.client)?;
        if r.scopes.len() > MAX_SCOPES {
            return Err(Error::list(format!("request {id} names more than {MAX_SCOPES} scopes")));
        }
        for s in &r.scopes {
            check_name("scope", s)?;
        }
        if let Some(m) = r.device.as_deref().and_then(|d| id_problem("a device id", d)) {
            return Err(Error::refused("parse pending list", format!("request {id}"), m));
        }
        out.push(PendingRequest { id, client: r.client, scopes: r.scopes, device: r.device });
    }
    Ok(out)
}

/// What the approval watcher runs and whom it approves.
#[derive(Debug, Clone)]
pub struct ApprovalConfig {
    list: CommandLine,
    approve: CommandLine,
    allow: BTreeSet<String>,
    /// When not empty, a request must also come from one of these devices.
    devices: BTreeSet<String>,
    call_timeout: Duration,
}

impl ApprovalConfig {
    /// A configuration: the list command, the approve command (an argument
    /// must carry `{id}`), the allowlisted client names (exact match) and the
    /// timeout of each call.
    ///
    /// # Errors
    /// `InvalidConfig` if the approve command has no `{id}`, the allowlist
    /// is empty, or the timeout is zero.
    pub fn new(
        list: CommandLine,
        approve: CommandLine,
        allow: impl IntoIterator<Item = String>,
        call_timeout: Duration,
    ) -> Result<Self> {
        let op = "approval watcher";
        if !approve.has_placeholder() {
            return Err(Error::config(op, "--approve-cmd", "no argument carries {id} (fix: e.g. 'tool approve {id}')"));
        }
        if list.has_placeholder() {
            return Err(Error::config(op, "--list-cmd", "the list command takes no {id}"));
        }
        let allow: BTreeSet<String> = allow.into_iter().collect();
        if allow.is_empty() {
            return Err(Error::config(op, "--allow", "the allowlist is empty: nothing could ever be approved"));
        }
        if call_timeout.is_zero() {
            return Err(Error::config(op, "--call-timeout", "must be longer than zero"));
        }
        Ok(Self { list, approve, allow, devices: BTreeSet::new(), call_timeout })
    }

    /// Narrows the allowlist to requests from these devices too (exact
    /// device ids; OpenClaw's `deviceId`, the lowercase hex SHA-256 of the
    /// device's public key). A client id is whatever the connecting device
    /// declares; a device id is bound to the key the device signed its
    /// connect with (the gateway checks both), so only the holder of that
    /// key can ask under it (WATCH-8). A request whose list entry names no
    /// device is then never approved.
    ///
    /// # Errors
    /// `InvalidConfig` for an id that is not 1 to 128 of
    /// `[A-Za-z0-9._:-]` or starts with `-`.
    pub fn with_devices(mut self, devices: impl IntoIterator<Item = String>) -> Result<Self> {
        for d in devices {
            if let Some(m) = id_problem("a device id", &d) {
                return Err(Error::config("approval watcher", "--allow-device", format!("\"{}\": {m}", shown(&d))));
            }
            self.devices.insert(d);
        }
        Ok(self)
    }

    /// Why `req` may not be approved, if it may not: its client is not on
    /// the allowlist, or devices are pinned and its device is not one.
    fn refusal(&self, req: &PendingRequest) -> Option<Rejection> {
        if !self.allow.contains(&req.client) {
            return Some(Rejection::Client);
        }
        if self.devices.is_empty() {
            return None;
        }
        match &req.device {
            Some(d) if self.devices.contains(d) => None,
            Some(_) => Some(Rejection::Device),
            None => Some(Rejection::NoDevice),
        }
    }
}

/// Why a request is not approved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rejection {
    /// Its client is not on the allowlist (WATCH-4).
    Client,
    /// Devices are pinned and its device is not one of them (WATCH-8).
    Device,
    /// Devices are pinned and the list names no device for it (WATCH-8).
    NoDevice,
}

/// Caps of a bounded one-shot pass (WATCH-5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct OneShotLimits {
    /// The most approvals attempted.
    pub max_approvals: usize,
    /// The most time the pass may take, calls included.
    pub max_time: Duration,
}

/// What one pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PassReport {
    /// Requests listed (0 if the list failed).
    pub listed: usize,
    /// Approved in this pass.
    pub approved: Vec<RequestId>,
    /// Rejected in this pass (first sight of a non-allowlisted client, or of
    /// a device not pinned).
    pub rejected: Vec<RequestId>,
    /// Approvals that failed in this pass (transient or permanent).
    pub failed: Vec<RequestId>,
    /// Approval attempts made (successful or not).
    pub attempts: usize,
    /// Why the list could not be used, if it could not.
    pub list_error: Option<String>,
    /// The pass stopped at its count cap.
    pub capped_count: bool,
    /// The pass stopped at its time cap (or the run's deadline).
    pub capped_time: bool,
}

/// What a whole run did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct RunReport {
    /// Polls in the fast window.
    pub fast_polls: u32,
    /// Polls after it (keepalive).
    pub slow_polls: u32,
    /// Every request approved.
    pub approved: Vec<RequestId>,
    /// Every request rejected.
    pub rejected: Vec<RequestId>,
    /// Requests whose approval failed permanently.
    pub failed: Vec<RequestId>,
    /// Whether the run was stopped before its deadline.
    pub stopped: bool,
    /// When the run ended, in milliseconds from its start.
    pub ended_at_ms: u64,
}

/// The approval watcher and its bookkeeping.
///
/// # Security
/// - WATCH-2: an approval that timed out or failed transiently is not
///   marked handled; the next poll retries it, and once it succeeds the id
///   is never approved again.
/// - WATCH-4: a client not on the allowlist is never approved; its request
///   is logged once and never retried.
/// - WATCH-8: with pinned devices, neither is a request from another device
///   (or from none), whatever client it declares.
/// - WATCH-1: every call is bounded by the call timeout and by what is left
///   of the deadline.
#[derive(Debug)]
pub struct ApprovalWatcher<R> {
    config: ApprovalConfig,
    runner: R,
    approved: BTreeSet<RequestId>,
    rejected: BTreeSet<RequestId>,
    failed: BTreeSet<RequestId>,
}

impl<R: Runner> ApprovalWatcher<R> {
    /// A watcher with empty bookkeeping.
    pub fn new(config: ApprovalConfig, runner: R) -> Self {
        Self { config, runner, approved: BTreeSet::new(), rejected: BTreeSet::new(), failed: BTreeSet::new() }
    }

    /// Ids approved so far.
    pub fn approved(&self) -> &BTreeSet<RequestId> {
        &self.approved
    }

    /// Ids rejected so far.
    pub fn rejected(&self) -> &BTreeSet<RequestId> {
        &self.rejected
    }

    /// Ids whose approval failed permanently.
    pub fn failed(&self) -> &BTreeSet<RequestId> {
        &self.failed
    }

    /// One pass: list, then approve what is allowlisted and not yet handled,
    /// attempting at most `max_approvals` approvals, no call running past
    /// `until`.
    pub fn pass(&mut self, clock: &dyn Clock, log: &mut dyn Log, until: Instant, max_approvals: usize) -> PassReport {
        let mut report = PassReport::default();
        let Some(budget) = self.budget(clock, until) else {
            report.capped_time = true;
            return report;
        };
        let call = self.runner.run(self.config.list.argv(), budget);
        if call.outcome != Outcome::Done {
            log.event(&Event::ListFailed { outcome: call.outcome, detail: call.detail.clone() });
            report.list_error = Some(call.detail);
            report.capped_time = call.timed_out && clock.now() >= until;
            return report;
        }
        let requests = match parse_pending(&call.stdout) {
            Ok(r) => r,
            Err(e) => {
                log.event(&Event::InvalidList { detail: e.to_string() });
                report.list_error = Some(e.to_string());
                return report;
            }
        };
        report.listed = requests.len();
        for req in requests {
            if self.approved.contains(&req.id) || self.rejected.contains(&req.id) || self.failed.contains(&req.id) {
                continue;
            }
            if let Some(why) = self.config.refusal(&req) {
                log.event(&Event::Rejected {
                    id: req.id.0.clone(),
                    client: req.client.clone(),
                    device: req.device.clone(),
                    why,
                });
                report.rejected.push(req.id.clone());
                self.rejected.insert(req.id);
                continue;
            }
            if report.attempts >= max_approvals {
                report.capped_count = true;
                continue;
            }
            let Some(budget) = self.budget(clock, until) else {
                report.capped_time = true;
                break;
            };
            report.attempts += 1;
            let argv = self.config.approve.substitute(req.id.as_str());
            let call = self.runner.run(&argv, budget);
            match call.outcome {
                Outcome::Done => {
                    log.event(&Event::Approved {
                        id: req.id.0.clone(),
                        client: req.client.clone(),
                        device: req.device.clone(),
                    });
                    report.approved.push(req.id.clone());
                    self.approved.insert(req.id);
                }
                outcome => {
                    let outcome = if outcome == Outcome::Rejected { Outcome::Permanent } else { outcome };
                    log.event(&Event::ApproveFailed {
                        id: req.id.0.clone(),
                        client: req.client.clone(),
                        outcome,
                        detail: call.detail,
                    });
                    report.failed.push(req.id.clone());
                    if outcome == Outcome::Permanent {
                        self.failed.insert(req.id);
                    }
                }
            }
        }
        if report.capped_count {
            log.event(&Event::Capped { cap: "count" });
        }
        if report.capped_time {
            log.event(&Event::Capped { cap: "time" });
        }
        report
    }

    /// What a call may take: the call timeout, cut to what is left before
    /// `until`; `None` when nothing is left.
    fn budget(&self, clock: &dyn Clock, until: Instant) -> Option<Duration> {
        let left = until.saturating_duration_since(clock.now());
        (!left.is_zero()).then(|| left.min(self.config.call_timeout))
    }

    /// The bounded best-effort pass (WATCH-5): one pass, at most
    /// `limits.max_approvals` approval attempts and `limits.max_time` in all.
    /// It never fails: every failure is logged and in the report.
    pub fn one_shot(&mut self, limits: OneShotLimits, clock: &dyn Clock, log: &mut dyn Log) -> PassReport {
        let start = clock.now();
        let report = self.pass(clock, log, start + limits.max_time, limits.max_approvals);
        log.event(&Event::Finished { at_ms: ms(clock.now() - start), reason: "pass_done" });
        report
    }

    /// Polls on `schedule` until its deadline (or until `stop` returns
    /// true): fast, then keepalive (WATCH-3, WATCH-6). No call runs past the
    /// deadline (WATCH-1).
    pub fn run(
        &mut self,
        schedule: &Schedule,
        clock: &dyn Clock,
        log: &mut dyn Log,
        stop: &dyn Fn() -> bool,
    ) -> RunReport {
        let start = clock.now();
        let end = start + schedule.deadline();
        let mut report = RunReport::default();
        let mut next = Duration::ZERO;
        let mut slow = false;
        loop {
            if sleep_until(clock, start + next, stop) {
                report.stopped = true;
                break;
            }
            // A poll due at the deadline would have no time left for its
            // list call (none runs past the deadline, WATCH-1): it would
            // only log a poll that listed nothing.
            let at = clock.now() - start;
            if at >= schedule.deadline() {
                break;
            }
            let fast = schedule.is_fast(at);
            if !fast && !slow {
                slow = true;
                log.event(&Event::SlowPhase { at_ms: ms(at) });
            }
            if fast {
                report.fast_polls += 1;
            } else {
                report.slow_polls += 1;
            }
            self.pass_logged(clock, log, end, at, fast);
            match schedule.next_poll(at, clock.now() - start) {
                Some(n) => next = n,
                None => break,
            }
        }
        report.approved = self.approved.iter().cloned().collect();
        report.rejected = self.rejected.iter().cloned().collect();
        report.failed = self.failed.iter().cloned().collect();
        report.ended_at_ms = ms(clock.now() - start);
        let reason = if report.stopped { "stopped" } else { "deadline" };
        log.event(&Event::Finished { at_ms: report.ended_at_ms, reason });
        report
    }

    fn pass_logged(&mut self, clock: &dyn Clock, log: &mut dyn Log, end: Instant, at: Duration, fast: bool) {
        // The Polled event goes before the pass's own events.
        let mut buffered: Vec<Event> = Vec::new();
        let pass = self.pass(clock, &mut buffered, end, usize::MAX);
        if pass.list_error.is_none() {
            log.event(&Event::Polled { at_ms: ms(at), fast, pending: pass.listed });
        }
        for e in &buffered {
            log.event(e);
        }
    }
}

#[cfg(test)]
mod tests;
