//! `gw watch`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use gw_watch::RateLimit;

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
    Health(super::ProfileLeaf<HealthArgs>),
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
    /// automatically, it does not authenticate the device (pin devices with
    /// --allow-device for that).
    #[arg(long = "allow", value_name = "CLIENT", required = true)]
    pub(crate) allow: Vec<String>,
    /// Approve only requests from this device too (exact id; repeat for
    /// several). With OpenClaw this is the request's `deviceId`, the SHA-256
    /// of the public key the device signed its connect with (`openclaw
    /// devices list --json` shows it; for a gw profile, `gw profile show`):
    /// another device cannot ask under it, whatever client it declares. A
    /// request from another device, or from none, is rejected.
    #[arg(long = "allow-device", value_name = "DEVICE_ID")]
    pub(crate) allow_device: Vec<String>,
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
