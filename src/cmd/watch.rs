//! `gw watch`: the approval watcher and the rescue watchdog, over gw-watch.
//!
//! Events go to stderr, one line each (`--json`: one JSON object per line);
//! the final report goes to stdout. SIGTERM and SIGINT end a watcher at its
//! next step (a running call is still bounded by its timeout).

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use gw_anchor::Policy;
use gw_cred::{GatewayKey, Home, home_path};
use gw_portguard::Options;
use gw_watch::{
    ApprovalConfig, ApprovalWatcher, CommandLine, Event, MAX_LIST_BYTES, OneShotLimits, ProcessRunner, Schedule,
    SystemClock, Watchdog, WatchdogConfig, WatchdogExit,
};
use serde_json::json;

use crate::cli::watch::{ApprovalsArgs, HealthArgs, WatchCommand};
use crate::output::{CliError, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, Output};
use crate::owner::{NotProvable, Owner};

/// Runs a `gw watch` subcommand.
pub(crate) fn run(cmd: WatchCommand, profile: &str, policy: &Policy, out: Output) -> Result<u8, CliError> {
    match cmd {
        WatchCommand::Approvals(a) => approvals(a, out),
        WatchCommand::Health(h) => health(h.args, profile, policy, out),
    }
}

fn watch_error(e: gw_watch::Error) -> CliError {
    CliError {
        code: CliError::code_for(e.class()),
        kind: e.kind().as_str(),
        op: e.op(),
        path: (!e.subject().is_empty()).then(|| e.subject().to_owned()),
        message: e.message().to_owned(),
        fix: None,
    }
}

/// Prints each event on stderr as it happens.
fn logger(out: Output) -> impl FnMut(&Event) {
    move |e: &Event| {
        crate::output::eprint(&if out.json {
            let mut v = serde_json::to_value(e).unwrap_or_default();
            crate::output::stamp(&mut v);
            format!("{v}\n")
        } else {
            format!("gw watch: {e}\n")
        });
    }
}

/// A flag raised by SIGTERM or SIGINT.
fn stop_flag() -> Result<Arc<AtomicBool>, CliError> {
    let flag = Arc::new(AtomicBool::new(false));
    for sig in [signal_hook::consts::SIGTERM, signal_hook::consts::SIGINT] {
        signal_hook::flag::register(sig, Arc::clone(&flag)).map_err(|e| CliError {
            code: EXIT_FAILED,
            kind: "io",
            op: "watch",
            path: None,
            message: format!("cannot handle signal {sig}: {e}"),
            fix: None,
        })?;
    }
    Ok(flag)
}

fn approvals(a: ApprovalsArgs, out: Output) -> Result<u8, CliError> {
    let list = CommandLine::parse(&a.list_cmd).map_err(watch_error)?;
    let approve = CommandLine::parse(&a.approve_cmd).map_err(watch_error)?;
    let config = ApprovalConfig::new(list, approve, a.allow, a.call_timeout)
        .and_then(|c| c.with_devices(a.allow_device))
        .map_err(watch_error)?;
    let schedule = Schedule::new(a.fast_interval, a.fast_window, a.slow_interval, a.deadline).map_err(watch_error)?;
    let mut watcher = ApprovalWatcher::new(config, ProcessRunner::new(MAX_LIST_BYTES));
    let mut base = logger(out);
    let (quiet, verbose) = (a.quiet, a.verbose);
    let mut log = move |e: &Event| {
        let shown = if quiet { is_error(e) } else { verbose || !matches!(e, Event::Polled { .. }) };
        if shown {
            base(e);
        }
    };
    if a.once {
        let limits = OneShotLimits { max_approvals: a.max, max_time: a.max_time };
        let rep = watcher.one_shot(limits, &SystemClock, &mut log);
        let human = format!(
            "one pass: {} listed, {} approved, {} rejected, {} failed{}{}{}",
            rep.listed,
            rep.approved.len(),
            rep.rejected.len(),
            rep.failed.len(),
            rep.list_error.as_ref().map(|e| format!("; list failed: {e}")).unwrap_or_default(),
            if rep.capped_count { "; stopped at --max" } else { "" },
            if rep.capped_time { "; stopped at --max-time" } else { "" },
        );
        out.ok(&human, json!({ "mode": "once", "report": rep }));
        // WATCH-5: a best-effort pass never fails its caller.
        return Ok(EXIT_OK);
    }
    let flag = stop_flag()?;
    let stop = move || flag.load(Ordering::Relaxed);
    let rep = watcher.run(&schedule, &SystemClock, &mut log, &stop);
    let human = format!(
        "{} after {} fast and {} keepalive polls: {} approved, {} rejected, {} failed",
        if rep.stopped { "stopped" } else { "deadline reached" },
        rep.fast_polls,
        rep.slow_polls,
        rep.approved.len(),
        rep.rejected.len(),
        rep.failed.len(),
    );
    out.ok(&human, json!({ "mode": "watch", "report": rep }));
    Ok(EXIT_OK)
}

fn health_error(code: u8, at: impl Into<String>, message: impl Into<String>) -> CliError {
    CliError { code, kind: "health", op: "watch health", path: Some(at.into()), message: message.into(), fix: None }
}

/// The loopback address of a ws:// gateway key (crate::owner's rule;
/// refused if not loopback).
fn loopback(key: &GatewayKey) -> Result<SocketAddr, CliError> {
    crate::owner::loopback(key).map_err(|why| match why {
        NotProvable::NotWs => CliError::usage("watch health", why.message(key)),
        NotProvable::NotLoopback => health_error(EXIT_REFUSED, key.as_str(), why.message(key)),
    })
}

/// Whether an event is an error (what `-q` still prints).
fn is_error(e: &Event) -> bool {
    match e {
        Event::ProbeFailed { .. }
        | Event::StartLimitHit { .. }
        | Event::ListFailed { .. }
        | Event::InvalidList { .. }
        | Event::ApproveFailed { .. } => true,
        Event::RecoveryFinished { outcome, .. } => *outcome != gw_watch::Outcome::Done,
        _ => false,
    }
}

/// A line on stderr, unless `-q` (errors always).
fn say(out: Output, quiet: bool, event: &str, human: &str, fields: serde_json::Value) {
    if quiet {
        return;
    }
    crate::output::eprint(&if out.json {
        let mut v = json!({ "event": event });
        if let (Some(m), serde_json::Value::Object(f)) = (v.as_object_mut(), fields) {
            m.extend(f);
        }
        format!("{v}\n")
    } else {
        format!("gw watch: {human}\n")
    });
}

/// What a `--hello` check presents: the profile's device identity and its
/// stored credential for the gateway.
struct HelloCheck {
    key: GatewayKey,
    role: String,
    device: Option<gw_gateway::DeviceIdentity>,
    profile: String,
}

/// The outcome of one check.
enum Check {
    Healthy(String),
    Unhealthy(String),
    /// The port is not proven to be the expected process's (nothing was
    /// sent): exit 3 for `--once`; a failed check for the watchdog, whose
    /// recovery may restart the gateway that lost its port.
    NotOwned(String, Option<String>),
    /// The gateway refused the credential: exit 3, no recovery.
    Refused(String, Option<String>),
}

impl HelloCheck {
    fn open(key: GatewayKey, role: String, profile: &str, policy: &Policy) -> Result<Self, CliError> {
        gw_cred::check_role(&role)?;
        let home = Home::open(&home_path()?, policy)?;
        let p = home.profile(profile)?;
        let device = crate::home::load_device(&p)?;
        Ok(Self { key, role, device, profile: profile.to_owned() })
    }

    /// Which credential is sent, for messages (never the secret).
    fn describe(&self, slot: Option<&gw_cred::Slot>) -> String {
        let cred = slot.map_or_else(|| "no credential".to_owned(), |s| format!("the {} credential", s.describe()));
        let dev =
            self.device.as_ref().map_or_else(|| "no device identity".to_owned(), |d| format!("device {}", d.id()));
        format!("{cred} of profile `{}` for {}, {dev}", self.profile, self.key)
    }

    fn request(&self, policy: &Policy) -> Result<(gw_gateway::Connect<'_>, String), String> {
        let home = Home::open(&home_path().map_err(|e| e.to_string())?, policy).map_err(|e| e.to_string())?;
        let p = home.profile(&self.profile).map_err(|e| e.to_string())?;
        let device = self.device.as_ref().map(gw_gateway::DeviceIdentity::id);
        let resolved = p.store().resolve_for(&self.key, device, &self.role).map_err(|e| e.to_string())?;
        let sent = self.describe(resolved.as_ref().map(|r| &r.slot));
        let credential = gw_gateway::Credential::from_resolved(resolved);
        let scopes = if self.role == "operator" { vec!["operator.read".to_owned()] } else { vec![] };
        let req = gw_gateway::Connect {
            client: gw_gateway::ClientInfo::default(),
            role: self.role.clone(),
            scopes,
            credential,
            device: self.device.as_ref(),
        };
        Ok((req, sent))
    }

    /// The handshake over a proven stream, then a clean close.
    fn run(&self, stream: std::net::TcpStream, policy: &Policy, bound: Duration) -> Check {
        let (req, sent) = match self.request(policy) {
            Ok(r) => r,
            Err(e) => return Check::Unhealthy(format!("cannot read the credential: {e}")),
        };
        let bounds = gw_gateway::Bounds { challenge: bound, handshake: bound, ..gw_gateway::Bounds::default() };
        let started = std::time::Instant::now();
        match gw_gateway::connect(stream, self.key.as_str(), &req, &bounds) {
            Ok((mut ws, hello)) => {
                let took = started.elapsed();
                gw_gateway::close(&mut ws, bound);
                let h = &hello.hello;
                Check::Healthy(format!(
                    "hello-ok in {} ms (protocol {}, server {}, auth {} as {})",
                    took.as_millis(),
                    h.protocol,
                    h.server_version.as_deref().unwrap_or("unknown"),
                    h.auth.method.as_deref().unwrap_or("unknown"),
                    h.auth.role
                ))
            }
            Err(e) if e.kind() == gw_gateway::ErrorKind::AuthRefused => {
                let pairing = e.refusal().and_then(|r| r.detail_code.as_deref()) == Some("PAIRING_REQUIRED");
                let fix = if pairing {
                    "have this device approved on the gateway (`openclaw devices list`, then `openclaw devices \
                     approve REQUEST_ID`), then start the watch again"
                        .to_owned()
                } else {
                    format!(
                        "store the gateway's current token with `gw cred set --shared {}` (secret on stdin), then \
                         start the watch again",
                        self.key
                    )
                };
                Check::Refused(format!("{e}; gw sent {sent}"), Some(fix))
            }
            Err(e) => Check::Unhealthy(e.to_string()),
        }
    }
}

/// One check: the ownership proof, then (with --hello) the handshake.
fn check_once(addr: SocketAddr, owner: &Owner, opts: &Options, hello: Option<&HelloCheck>, policy: &Policy) -> Check {
    let expected = match owner.expected() {
        Ok(e) => e,
        Err(e) => return Check::Unhealthy(e.to_string()),
    };
    let stream = match gw_portguard::connect_verified(addr, &expected, opts) {
        Ok(s) => s,
        // No foreign listener (nothing listens, the expected process is not
        // running): a gateway that is down, not a hijack — gw-portguard's
        // own fix hint says "start the service" for exactly these.
        Err(gw_portguard::ConnectError::Refused(gw_portguard::Verdict::NotOwned { reason, foreign }))
            if foreign.is_empty() =>
        {
            return Check::Unhealthy(format!("{reason}; nothing was sent"));
        }
        Err(gw_portguard::ConnectError::Refused(v)) => {
            return Check::NotOwned(format!("{v}; nothing was sent"), v.fix_hint().map(|f| f.to_string()));
        }
        Err(e) => return Check::Unhealthy(e.to_string()),
    };
    match hello {
        // The TCP check opens no WebSocket: dropping the stream is its close.
        None => Check::Healthy(format!("{addr} accepted, held by the expected process")),
        Some(h) => h.run(stream, policy, opts.timeout),
    }
}

fn health(h: HealthArgs, profile: &str, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let recovery = h.on_fail.as_deref().map(CommandLine::parse).transpose().map_err(watch_error)?;
    let (addr, owner, key) = match &h.url {
        Some(url) => {
            let key = GatewayKey::parse(url)?;
            let addr = loopback(&key)?;
            if let Some(id) = &h.id {
                gw_lease::check_id(id)?;
            }
            let lease = h.lease.as_deref().zip(h.id.as_deref());
            let owner = Owner::from_flags(h.pid, h.pidfile.as_deref(), lease, policy)?.ok_or_else(|| {
                CliError::usage(
                    "watch health",
                    "a URL needs --pid, --pidfile or --lease DIR --id ID: who should own its port cannot be guessed",
                )
                .with_fix("add --pidfile PATH of the gateway, or watch the profile's own gateway without a URL")
            })?;
            (addr, owner, key)
        }
        None => {
            let home = Home::open(&home_path()?, policy)?;
            let p = home.profile(profile)?;
            let key = p.gateway()?;
            let addr = loopback(&key)?;
            (addr, Owner::profile(p.root(), policy)?, key)
        }
    };
    let hello = if h.hello { Some(HelloCheck::open(key.clone(), h.role.clone(), profile, policy)?) } else { None };
    let opts = Options { timeout: h.probe_timeout, ..Options::default() };
    let owner_text = owner.describe();
    let what = match &hello {
        Some(c) => format!(
            "the verified handshake as {} (profile `{}`, {})",
            c.role,
            c.profile,
            c.device.as_ref().map_or_else(|| "no device identity".to_owned(), |d| format!("device {}", d.id()))
        ),
        None => "the TCP accept".to_owned(),
    };
    let check_name = if hello.is_some() { "hello" } else { "tcp" };

    if h.once {
        return match check_once(addr, &owner, &opts, hello.as_ref(), policy) {
            Check::Healthy(detail) => {
                out.ok(
                    &format!("{key} is healthy: {detail}"),
                    json!({ "gateway": key.as_str(), "healthy": true, "check": check_name, "detail": detail }),
                );
                Ok(EXIT_OK)
            }
            Check::Unhealthy(detail) => Err(health_error(EXIT_FAILED, key.as_str(), format!("unhealthy: {detail}"))),
            Check::Refused(detail, fix) | Check::NotOwned(detail, fix) => {
                let e = health_error(EXIT_REFUSED, key.as_str(), detail);
                Err(match fix {
                    Some(f) => e.with_fix(f),
                    None => e,
                })
            }
        };
    }

    let Some(recovery) = recovery else {
        return Err(CliError::usage("watch health", "--on-fail is needed unless --once"));
    };
    let backoff_max = h.interval.saturating_mul(16).max(h.interval);
    let recovery_text = recovery.argv().join(" ");
    let config = WatchdogConfig {
        interval: h.interval,
        failures: h.failures,
        recovery,
        call_timeout: h.call_timeout,
        backoff_min: h.interval,
        backoff_max,
        rate: h.max_restarts,
        deadline: h.deadline,
    };
    let mut watchdog = Watchdog::new(config, ProcessRunner::default()).map_err(watch_error)?;
    // Issue 12 item 9: say what is watched, how, and what happens on failure.
    say(
        out,
        h.quiet,
        "started",
        &format!(
            "watching {key} (port owned by {owner_text}) every {} with {what}; after {} failed checks in a row: `{recovery_text}`",
            humantime::format_duration(h.interval),
            h.failures
        ),
        json!({ "gateway": key.as_str(), "owner": owner_text, "check": check_name,
                "interval_ms": h.interval.as_millis() as u64, "failures": h.failures }),
    );
    let refused: std::cell::RefCell<Option<(String, Option<String>)>> = std::cell::RefCell::new(None);
    let mut n = 0u64;
    let mut probe = || -> Result<(), String> {
        n += 1;
        match check_once(addr, &owner, &opts, hello.as_ref(), policy) {
            Check::Healthy(detail) => {
                if h.verbose {
                    say(
                        out,
                        false,
                        "check",
                        &format!("check #{n}: healthy: {detail}"),
                        json!({ "n": n, "healthy": true, "detail": detail }),
                    );
                }
                Ok(())
            }
            Check::Unhealthy(detail) | Check::NotOwned(detail, _) => Err(detail),
            Check::Refused(detail, fix) => {
                *refused.borrow_mut() = Some((detail.clone(), fix));
                Err(detail)
            }
        }
    };
    let flag = stop_flag()?;
    let stop = || flag.load(Ordering::Relaxed) || refused.borrow().is_some();
    let mut base = logger(out);
    let mut log = |e: &Event| {
        if !h.quiet || is_error(e) {
            base(e);
        }
    };
    let rep = watchdog.run(&mut probe, &SystemClock, &mut log, &stop);
    if let Some((detail, fix)) = refused.take() {
        let e = health_error(
            EXIT_REFUSED,
            key.as_str(),
            format!("the gateway refused the check, watch ended (no recovery run): {detail}"),
        );
        return Err(match fix {
            Some(f) => e.with_fix(f),
            None => e,
        });
    }
    if rep.exit == WatchdogExit::StartLimitHit {
        return Err(health_error(
            EXIT_FAILED,
            addr.to_string(),
            format!(
                "recovery did not restore health: {} recoveries within {} (--max-restarts); gave up",
                h.max_restarts.burst,
                humantime::format_duration(h.max_restarts.window)
            ),
        )
        .with_fix("look at why the gateway keeps failing, then start the watchdog again"));
    }
    let human = format!(
        "{}: {} probes, {} failed, {} recoveries",
        if rep.exit == WatchdogExit::Stopped { "stopped" } else { "deadline reached" },
        rep.probes,
        rep.probe_failures,
        rep.recoveries
    );
    out.ok(&human, json!({ "gateway": addr.to_string(), "check": check_name, "report": rep }));
    Ok(EXIT_OK)
}
