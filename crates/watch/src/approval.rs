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
            let at = clock.now() - start;
            if at > schedule.deadline() {
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
mod tests {
    use super::*;

    #[test]
    fn ids_are_strict() {
        for ok in ["a", "req-1", "A.b_c:d-9", &"x".repeat(128)] {
            assert!(RequestId::new(ok).is_ok(), "{ok}");
        }
        for bad in ["", "-rf", "--force", "a b", "a/b", "a;b", "$x", "é", "a\n", &"x".repeat(129)] {
            let e = RequestId::new(bad).unwrap_err();
            assert!(e.kind().is_security_refusal(), "{bad:?}");
        }
    }

    /// The shape captured from the real `openclaw devices list --json`
    /// (OpenClaw 2026.9.6, a gateway with `autoApproveLocal: false`).
    #[test]
    fn the_list_parser_reads_openclaws_devices_list() {
        let real = br#"{
  "pending": [
    {
      "requestId": "dae7f76b-bdad-43f9-88a8-f279a430cee8",
      "deviceId": "5c29b78f10a35a49a6231d08ee840a04bcc3a37a4f9d46df327dec56b8a9b7c9",
      "publicKey": "E5j2LG0aRXxRumpLXz29L2n8qTIWIY3ImX5Ba9F9k8o",
      "platform": "linux",
      "clientId": "cli",
      "clientMode": "cli",
      "role": "operator",
      "roles": ["operator"],
      "scopes": ["operator.read", "operator.admin"],
      "silent": false,
      "isRepair": false,
      "ts": 1796562451551
    }
  ],
  "paired": [
    {
      "deviceId": "fe812c12f3ab4ce6ac5db69ac352f906cb1b11ef43fb33e252ef7ff552263889",
      "clientId": "node-host",
      "role": "node",
      "tokens": [{"role": "node", "scopes": [], "createdAtMs": 1796562473639}]
    }
  ]
}"#;
        let v = parse_pending(real).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].id.as_str(), "dae7f76b-bdad-43f9-88a8-f279a430cee8");
        assert_eq!(v[0].client, "cli");
        assert_eq!(v[0].scopes, ["operator.read", "operator.admin"]);
        assert_eq!(v[0].device.as_deref(), Some("5c29b78f10a35a49a6231d08ee840a04bcc3a37a4f9d46df327dec56b8a9b7c9"));
        assert!(parse_pending(br#"{"pending":[],"paired":[]}"#).unwrap().is_empty());
        for bad in [
            &br#"{"paired":[]}"#[..],
            br#"{"pending":[{"requestId":"r1"}]}"#,
            br#"{"pending":[{"requestId":"r1","clientId":"a","clientId":"b"}]}"#,
            br#"{"pending":[{"requestId":"r1","clientId":"a"},{"requestId":"r1","clientId":"b"}]}"#,
            br#"{"pending":[{"requestId":"--force","clientId":"a"}]}"#,
            br#"{"pending":[{"requestId":"r1","clientId":"a","deviceId":"d 1"}]}"#,
            br#"{"pending":[{"requestId":"r1","clientId":"a","deviceId":"-d"}]}"#,
            br#"{"pending":[{"requestId":"r1","clientId":"a","deviceId":"d","deviceId":"e"}]}"#,
            br#"{"pending":[{"requestId":"r1","clientId":"a","deviceId":7}]}"#,
            // Found by the fuzz target: text that is not UTF-8 in a field
            // the parser skips.
            b"{\"pending\":[{\"requestId\":\"r1\",\"clientId\":\"a\",\"publicKey\":\"E5\xff\xfe\"}]}",
            b"[{\"id\":\"r1\",\"client\":\"c\",\"scopes\":[]}] \xff",
            br#"{"pending":[{"requestId":"r1","clientId":"a","ts":1e999}]}"#,
            br#"{"pending":[]} []"#,
            br#"{"pending":{}}"#,
        ] {
            assert!(parse_pending(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }

    /// WATCH-4 and WATCH-8 as one rule: the client first, then (only when
    /// devices are pinned) the device.
    #[test]
    fn watch_8_a_request_is_approved_only_when_its_client_and_pinned_device_match() {
        let cl = |w: &str| CommandLine::parse(w).unwrap();
        let plain = ApprovalConfig::new(cl("true"), cl("true {id}"), ["a".to_owned()], Duration::from_secs(1)).unwrap();
        let pinned = plain.clone().with_devices(["d1".to_owned(), "d2".to_owned()]).unwrap();
        let req = |client: &str, device: Option<&str>| PendingRequest {
            id: RequestId::new("r").unwrap(),
            client: client.to_owned(),
            scopes: Vec::new(),
            device: device.map(str::to_owned),
        };
        let cases = [
            (req("a", None), None, Some(Rejection::NoDevice)),
            (req("a", Some("d1")), None, None),
            (req("a", Some("d2")), None, None),
            (req("a", Some("d3")), None, Some(Rejection::Device)),
            (req("a", Some("D1")), None, Some(Rejection::Device)),
            (req("b", Some("d1")), Some(Rejection::Client), Some(Rejection::Client)),
            (req("b", None), Some(Rejection::Client), Some(Rejection::Client)),
        ];
        for (r, without, with) in cases {
            assert_eq!(plain.refusal(&r), without, "{r:?} without pinned devices");
            assert_eq!(pinned.refusal(&r), with, "{r:?} with d1, d2 pinned");
        }
    }

    #[test]
    fn the_list_parser_is_strict() {
        let ok =
            br#"[{"id":"r1","client":"cli","scopes":["a.b"]},{"id":"r2","client":"x y","scopes":[],"device":"d-2"}]"#;
        let v = parse_pending(ok).unwrap();
        assert_eq!(v.len(), 2);
        assert_eq!(v[1].client, "x y");
        assert_eq!((v[0].device.as_deref(), v[1].device.as_deref()), (None, Some("d-2")));
        assert!(parse_pending(b"[]").unwrap().is_empty());
        for bad in [
            &br#"{"id":"r1"}"#[..],
            br#"[{"id":"r1","client":"c"}]"#,
            br#"[{"id":"r1","client":"c","scopes":[],"extra":1}]"#,
            br#"[{"id":"r1","id":"r2","client":"c","scopes":[]}]"#,
            br#"[{"id":"r1","client":"c","scopes":[]}] x"#,
            br#"[{"id":"r1","client":"c","scopes":[]},{"id":"r1","client":"d","scopes":[]}]"#,
            br#"[{"id":"-r1","client":"c","scopes":[]}]"#,
            br#"[{"id":"r1","client":"","scopes":[]}]"#,
            br#"[{"id":"r1","client":"a\u0007","scopes":[]}]"#,
            br#"[{"id":"r1","client":"c","scopes":[],"device":"x/y"}]"#,
            br#"[{"id":"r1","client":"c","scopes":[],"device":""}]"#,
            b"\xef\xbb\xbf[]",
        ] {
            assert!(parse_pending(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
        let big = format!("[{}]", vec![r#"{"id":"a","client":"c","scopes":[]}"#; 40_000].join(","));
        assert!(parse_pending(big.as_bytes()).is_err());
    }
}
