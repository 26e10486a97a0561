//! `gw watch`: the approval watcher and the rescue watchdog, over gw-watch.
//!
//! Events go to stderr, one line each (`--json`: one JSON object per line);
//! the final report goes to stdout. SIGTERM and SIGINT end a watcher at its
//! next step (a running call is still bounded by its timeout).

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use clap::{Args, Subcommand};
use gw_anchor::{Policy, Root};
use gw_cred::{GatewayKey, Home, home_path};
use gw_portguard::{Expected, Options};
use gw_watch::{
    ApprovalConfig, ApprovalWatcher, CommandLine, Event, MAX_LIST_BYTES, OneShotLimits, ProcessRunner, RateLimit,
    Schedule, SystemClock, Watchdog, WatchdogConfig, WatchdogExit,
};
use serde_json::json;

use crate::output::{CliError, EXIT_FAILED, EXIT_OK, EXIT_REFUSED, EXIT_USAGE, Output};

/// `gw watch` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum WatchCommand {
    /// Approve pending requests of allowlisted clients (once each).
    ///
    /// Polls a list command fast for a window, then slowly (keepalive)
    /// until a deadline. Each
    /// request is approved at most once; requests of other clients are
    /// rejected once (logged, never retried); approvals that time out or fail
    /// temporarily (exit 75) are retried at the next poll. Commands run
    /// without a shell, each bounded by --call-timeout (its whole process
    /// group is killed) and by the deadline.
    Approvals(ApprovalsArgs),
    /// Rescue watchdog: run a recovery command when a gateway stays unhealthy.
    ///
    /// Every --interval, connect to the gateway only if its
    /// port is proven to belong to the expected process (gw-portguard; a
    /// hijacked or unverifiable port counts as a failure) and, with --hello,
    /// complete the handshake with the profile's device identity and stored
    /// credential (a refusal by the gateway ends the watch, exit 3, with no
    /// recovery); prints a start line first (-v: every check, -q: only
    /// failures). --once: one check, no watchdog. After --failures
    /// failures in a row, run --on-fail (no shell, bounded by
    /// --call-timeout), then wait with exponential backoff and jitter
    /// (from --interval, doubling up to 16 times it, plus up to as much
    /// again) before probing again. Never two recoveries at once. Past
    /// --max-restarts the watchdog gives up (exit 1).
    Health(crate::cli::ProfileLeaf<HealthArgs>),
}

/// `gw watch health` arguments.
#[derive(Debug, Args)]
pub(crate) struct HealthArgs {
    /// The gateway URL (ws://, loopback; 127.0.0.1 is probed); needs --pid,
    /// --pidfile or --lease DIR --id ID. Without URL: the --profile's own gateway (port from its
    /// config.json, owner from its serve.pid, re-read at every probe so a
    /// restarted gateway is recognised).
    pub(crate) url: Option<String>,
    /// The gateway's pid (every listener on the port must belong to it or
    /// its descendants). A restart changes the pid: prefer --pidfile.
    #[arg(long, group = "health_owner", requires = "url")]
    pub(crate) pid: Option<u32>,
    /// A pidfile naming the gateway ("PID" or "PID STARTTIME"), re-read at
    /// every probe; its directory is verified like any gw directory, and a
    /// pidfile owned by another user or writable by group/other is refused
    /// (a failed probe).
    #[arg(long, value_name = "PATH", group = "health_owner", requires = "url")]
    pub(crate) pidfile: Option<PathBuf>,
    /// A gw-lease registry directory; with --id, the gateway is the record's
    /// process (pid and start time), re-read at every probe so a restarted
    /// gateway that registers again is recognised. A record whose process is
    /// not running (or of another boot or pid namespace) is a failed probe.
    #[arg(long, value_name = "DIR", group = "health_owner", requires_all = ["url", "id"])]
    pub(crate) lease: Option<PathBuf>,
    /// The lease record's id (`gw serve` registers `serve-PORT`).
    #[arg(long, value_name = "ID", requires = "lease")]
    pub(crate) id: Option<String>,
    /// The recovery command (split like a shell would, run without one).
    /// Needed unless --once.
    #[arg(long, value_name = "'CMD ARGS'", required_unless_present = "once")]
    pub(crate) on_fail: Option<String>,
    /// Each check completes the verified handshake, not only the TCP
    /// accept: the port-ownership proof, then the gateway's challenge and a
    /// `connect` signed with the --profile's device identity and carrying
    /// its stored credential for this gateway (device token for --role,
    /// else shared token, else bootstrap token), then a clean WebSocket
    /// close. A gateway that accepts TCP but does not answer within
    /// --probe-timeout is unhealthy; a gateway that refuses the credential
    /// (its code, e.g. AUTH_TOKEN_MISMATCH or PAIRING_REQUIRED, is named)
    /// ends the watch with exit 3 and runs no recovery: a restart cannot
    /// mend a refused credential.
    #[arg(long)]
    pub(crate) hello: bool,
    /// With --hello: the role asked for (`operator` asks for the scope
    /// operator.read; other roles for no scope).
    #[arg(long, default_value = "operator", requires = "hello", value_name = "ROLE")]
    pub(crate) role: String,
    /// One check instead of a watchdog: exit 0 healthy, 1 unhealthy, 3
    /// refused by the gateway (with --hello) or the port not proven to be
    /// the expected owner's (nothing sent).
    #[arg(long, conflicts_with_all = ["on_fail", "deadline"])]
    pub(crate) once: bool,
    /// Print every check, healthy ones too.
    #[arg(short, long, conflicts_with = "quiet")]
    pub(crate) verbose: bool,
    /// Print only failures (no start line, no recovery progress).
    #[arg(short, long)]
    pub(crate) quiet: bool,
    /// Time between probes.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub(crate) interval: Duration,
    /// Consecutive failed probes before a recovery.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) failures: u32,
    /// At most N recoveries within DUR (like systemd's StartLimitBurst /
    /// StartLimitIntervalSec); one more and the watchdog gives up.
    #[arg(long, default_value = "5/10m", value_parser = parse_rate, value_name = "N/DUR")]
    pub(crate) max_restarts: RateLimit,
    /// How long the recovery command may run before its process group is killed.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub(crate) call_timeout: Duration,
    /// How long one probe may take: the ownership proof and connection, and
    /// with --hello each of the upgrade-and-challenge wait, the whole
    /// handshake, and the close.
    #[arg(long, default_value = "2s", value_parser = parse_duration)]
    pub(crate) probe_timeout: Duration,
    /// Stop watching after this long (default: until SIGTERM/SIGINT).
    #[arg(long, value_parser = parse_duration)]
    pub(crate) deadline: Option<Duration>,
}

/// `N/DUR`, e.g. `5/10m`.
fn parse_rate(s: &str) -> Result<RateLimit, String> {
    let (n, d) = s.split_once('/').ok_or_else(|| format!("`{s}` is not N/DURATION like 5/10m"))?;
    let burst: u32 = n.trim().parse().map_err(|_| format!("`{n}` is not a number of restarts"))?;
    if burst == 0 {
        return Err("at least one restart must be allowed".into());
    }
    Ok(RateLimit { burst, window: parse_duration(d.trim())? })
}

/// `gw watch approvals` arguments.
#[derive(Debug, Args)]
pub(crate) struct ApprovalsArgs {
    /// The list command (split like a shell would, run without one). It
    /// prints the pending requests on stdout, either as a JSON array of
    /// {"id": ID, "client": NAME, "scopes": [SCOPE, ...]}, or as OpenClaw's
    /// `openclaw devices list --json` does ({"pending": [{"requestId",
    /// "clientId", "scopes", ...}], "paired": [...]}) (at most 1 MiB, 1000
    /// requests; ids of A-Z a-z 0-9 . _ : - not starting with -).
    #[arg(long, value_name = "'CMD ARGS'")]
    pub(crate) list_cmd: String,
    /// The approve command; the argument `{id}` is replaced by the request id
    /// (for OpenClaw: 'openclaw devices approve {id}').
    /// Exit 0 = approved, 75 = try again later, anything else = failed for good.
    #[arg(long, value_name = "'CMD ARGS {id}'")]
    pub(crate) approve_cmd: String,
    /// A client whose requests are approved (exact name; repeat for several).
    /// With OpenClaw this is the request's `clientId`, which the connecting
    /// device declares itself: the allowlist narrows what is approved
    /// automatically, it does not authenticate the device.
    #[arg(long = "allow", value_name = "CLIENT", required = true)]
    pub(crate) allow: Vec<String>,
    /// Time between polls during the fast window.
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    pub(crate) fast_interval: Duration,
    /// How long the fast cadence lasts from the start.
    #[arg(long, default_value = "10m", value_parser = parse_duration_or_zero)]
    pub(crate) fast_window: Duration,
    /// Time between polls after the fast window (keepalive).
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub(crate) slow_interval: Duration,
    /// When the watcher stops, from its start.
    #[arg(long, default_value = "8h", value_parser = parse_duration)]
    pub(crate) deadline: Duration,
    /// How long one list or approve call may run before its process group is
    /// killed.
    #[arg(long, default_value = "10s", value_parser = parse_duration)]
    pub(crate) call_timeout: Duration,
    /// One bounded pass instead of a watcher: list once, approve at most
    /// --max requests within --max-time. Always exits 0 unless the arguments
    /// are wrong (failures are logged and reported).
    #[arg(long)]
    pub(crate) once: bool,
    /// With --once: the most approvals attempted.
    #[arg(long, default_value_t = 10, requires = "once", value_name = "N")]
    pub(crate) max: usize,
    /// With --once: the most time the pass may take.
    #[arg(long, default_value = "30s", requires = "once", value_parser = parse_duration, value_name = "DUR")]
    pub(crate) max_time: Duration,
    /// Print every poll on stderr too (by default: approvals, rejections,
    /// the change of cadence and failures).
    #[arg(short, long, conflicts_with = "quiet")]
    pub(crate) verbose: bool,
    /// Print only failures on stderr (a failed list or approval), not the
    /// approvals and rejections; the final report still goes to stdout.
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

/// A duration like 500ms, 90s, 5m or 8h; at least a millisecond.
fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = parse_duration_or_zero(s)?;
    if d < Duration::from_millis(1) {
        return Err(format!("`{s}` is shorter than a millisecond"));
    }
    Ok(d)
}

fn parse_duration_or_zero(s: &str) -> Result<Duration, String> {
    humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration like 500ms, 90s, 5m or 8h: {e}"))
}

/// Runs a `gw watch` subcommand.
pub(crate) fn run(cmd: WatchCommand, profile: &str, policy: &Policy, out: Output) -> Result<u8, CliError> {
    match cmd {
        WatchCommand::Approvals(a) => approvals(a, out),
        WatchCommand::Health(h) => health(h.args, profile, policy, out),
    }
}

fn watch_error(e: gw_watch::Error) -> CliError {
    let code = if e.kind().is_security_refusal() { EXIT_REFUSED } else { EXIT_USAGE };
    CliError {
        code,
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
    let config = ApprovalConfig::new(list, approve, a.allow, a.call_timeout).map_err(watch_error)?;
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

/// Whose port it must be: a fixed pid, or a pidfile re-read at every probe.
enum Owner {
    Pid(u32),
    Pidfile(Root, PathBuf),
    Lease(gw_lease::Registry, String),
}

impl Owner {
    fn expected(&self) -> Result<Expected, String> {
        match self {
            Self::Pid(pid) => Ok(Expected::new(*pid)),
            Self::Pidfile(root, name) => Expected::from_pidfile(root, name).map_err(|e| e.to_string()),
            Self::Lease(reg, id) => crate::cmd::port::lease_expected(reg, id).map_err(|e| e.to_string()),
        }
    }
}

fn pidfile_owner(path: &Path, policy: &Policy) -> Result<Owner, CliError> {
    let shown = path.display().to_string();
    let (dir, name) = match (path.parent(), path.file_name()) {
        (Some(d), Some(n)) => (if d.as_os_str().is_empty() { Path::new(".") } else { d }, n),
        _ => return Err(CliError::usage("watch health", format!("`{shown}` is not a file path"))),
    };
    Ok(Owner::Pidfile(Root::open(dir, policy)?, PathBuf::from(name)))
}

/// The loopback address of a ws:// gateway key (refused if not loopback).
fn loopback(key: &GatewayKey) -> Result<SocketAddr, CliError> {
    if !key.as_str().starts_with("ws://") {
        return Err(CliError::usage("watch health", format!("{key}: only ws:// gateways can be probed")));
    }
    if !key.is_loopback() {
        return Err(health_error(
            EXIT_REFUSED,
            key.as_str(),
            "the host is not loopback: who owns a remote port cannot be proven",
        ));
    }
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, key.port())))
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
        let device = crate::cmd::cred::load_device(&p)?;
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
        let credential = match resolved {
            None => gw_gateway::Credential::None,
            Some(r) => match r.slot {
                gw_cred::Slot::Device(_) | gw_cred::Slot::Issued { .. } => {
                    gw_gateway::Credential::DeviceToken(r.secret)
                }
                gw_cred::Slot::Shared => gw_gateway::Credential::Token(r.secret),
                gw_cred::Slot::Password => gw_gateway::Credential::Password(r.secret),
                gw_cred::Slot::Bootstrap => gw_gateway::Credential::BootstrapToken(r.secret),
            },
        };
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
        Err(e) => return Check::Unhealthy(e),
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
            let owner = match (h.pid, &h.pidfile, &h.lease, &h.id) {
                (Some(pid), _, _, _) => Owner::Pid(pid),
                (None, Some(path), _, _) => pidfile_owner(path, policy)?,
                (None, None, Some(dir), Some(id)) => {
                    gw_lease::check_id(id)?;
                    Owner::Lease(crate::cmd::port::lease_registry(dir, policy)?, id.clone())
                }
                _ => {
                    return Err(CliError::usage(
                        "watch health",
                        "a URL needs --pid, --pidfile or --lease DIR --id ID: who should own its port cannot be guessed",
                    )
                    .with_fix("add --pidfile PATH of the gateway, or watch the profile's own gateway without a URL"));
                }
            };
            (addr, owner, key)
        }
        None => {
            let home = Home::open(&home_path()?, policy)?;
            let p = home.profile(profile)?;
            let key = p.gateway()?;
            let addr = loopback(&key)?;
            let dir = Root::open(p.root().path(), policy)?;
            (addr, Owner::Pidfile(dir, PathBuf::from(crate::cmd::serve::PIDFILE)), key)
        }
    };
    let hello = if h.hello { Some(HelloCheck::open(key.clone(), h.role.clone(), profile, policy)?) } else { None };
    let opts = Options { timeout: h.probe_timeout, ..Options::default() };
    let owner_text = match &owner {
        Owner::Pid(pid) => format!("pid {pid}"),
        Owner::Pidfile(root, name) => format!("the pidfile {}", root.path().join(name).display()),
        Owner::Lease(_, id) => format!("lease record {id}"),
    };
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
