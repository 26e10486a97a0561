//! `gw port`: who listens on a port, and whether an expected process owns
//! it — the command line over gw-portguard (which makes every decision).

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};
use gw_anchor::Policy;
use gw_portguard::{Expected, Listener, Options, Source, Verdict};
use serde_json::{Value, json};

use crate::output::{CliError, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_OK, EXIT_REFUSED, Output};

/// `gw port ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum PortCommand {
    /// Every TCP listener on PORT (IPv4 and IPv6, every address) with its
    /// socket uid, and every process holding it where visible, one line per
    /// holder (a listener inherited by another process has several;
    /// processes of other users are only visible to root). For display:
    /// use `gw port verify` to decide.
    Who(WhoArgs),
    /// Proves that every listener on PORT is held by the expected process
    /// (or, unless --no-descendants, its descendants), named by --pid,
    /// --pidfile or a gw-lease record (--lease DIR --id ID). Exit 0 when owned,
    /// 3 when not owned or when ownership cannot be proven (a foreign or
    /// extra listener, a listener also held by a process outside the tree,
    /// no listener, another user's process, timeout).
    Verify(VerifyArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum SourceArg {
    Auto,
    Netlink,
    Procnet,
}

/// Options shared by both subcommands.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Time bound on the whole inspection (e.g. 500ms, 2s); past it the
    /// answer is "unknown" (exit 3).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "500ms")]
    timeout: Duration,
    /// Socket table source (tests): netlink sock_diag, /proc/net/tcp{,6},
    /// or auto (netlink, else /proc/net).
    #[arg(long, value_enum, default_value_t = SourceArg::Auto, hide = true)]
    source: SourceArg,
}

impl InspectArgs {
    fn options(&self) -> Options {
        let source = match self.source {
            SourceArg::Auto => Source::Auto,
            SourceArg::Netlink => Source::Netlink,
            SourceArg::Procnet => Source::ProcNet,
        };
        Options { source, timeout: self.timeout, ..Options::default() }
    }
}

#[derive(Debug, Args)]
pub(crate) struct WhoArgs {
    /// The TCP port (1-65535).
    #[arg(value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    #[command(flatten)]
    inspect: InspectArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("owner").required(true).args(["pid", "pidfile", "lease"])))]
pub(crate) struct VerifyArgs {
    /// The TCP port (1-65535).
    #[arg(value_parser = clap::value_parser!(u16).range(1..))]
    port: u16,
    /// The expected owner's pid.
    #[arg(long)]
    pid: Option<u32>,
    /// A pidfile naming the expected owner (`PID` or `PID STARTTIME`); read
    /// without following symlinks from a directory whose chain is verified;
    /// refused (exit 3) if the directory is insecure or the pidfile is owned
    /// by another user (not you, not root) or writable by group/other.
    #[arg(long, value_name = "PATH")]
    pidfile: Option<PathBuf>,
    #[command(flatten)]
    lease: LeaseOwnerArgs,
    /// Every listener must also be owned by this uid.
    #[arg(long)]
    uid: Option<u32>,
    /// Only the pid itself may hold the listeners, not its descendants.
    #[arg(long)]
    no_descendants: bool,
    #[command(flatten)]
    inspect: InspectArgs,
}

/// `--lease DIR --id ID`: the expected owner named by a gw-lease record
/// (also flattened into `gw probe` and `gw watch health`).
#[derive(Debug, Args)]
pub(crate) struct LeaseOwnerArgs {
    /// A gw-lease registry directory (`gw serve` keeps one in its profile
    /// directory: `~/.config/gw/profiles/NAME/leases`); with --id, the expected owner
    /// is the record's process, named by pid and start time. Refused (exit 3)
    /// if the directory is insecure, if the record file is owned by another
    /// user or writable by group/other, or if the record's process is not
    /// running (dead, expired, pid reused) or was registered in another boot
    /// or pid namespace; exit 4 if DIR or a record with the id does not
    /// exist. Read only: nothing is pruned or created.
    #[arg(long, value_name = "DIR", requires = "id")]
    pub(crate) lease: Option<PathBuf>,
    /// The lease record's id (`gw serve` registers `serve-PORT`).
    #[arg(long, value_name = "ID", requires = "lease")]
    pub(crate) id: Option<String>,
}

/// The lease registry at `dir`, opened read-only: not created if missing
/// (exit 4), refused if insecure (exit 3).
pub(crate) fn lease_registry(dir: &Path, policy: &Policy) -> Result<gw_lease::Registry, CliError> {
    Ok(gw_lease::Registry::open_existing(dir, policy)?)
}

/// The expected owner named by record `id`: gw-lease decides whether the
/// record names a process running here (boot, pid namespace, expiry, start
/// time); gw-portguard pins that pid and start time (a pid reused after
/// this check is refused there).
pub(crate) fn lease_expected(reg: &gw_lease::Registry, id: &str) -> Result<Expected, gw_lease::Error> {
    let rec = reg.live_owner(id)?;
    Ok(Expected::new(rec.pid).with_start_time(rec.start_time))
}

/// [`lease_registry`] + [`lease_expected`], errors as the CLI reports them.
pub(crate) fn lease_owner(dir: &Path, id: &str, policy: &Policy) -> Result<Expected, CliError> {
    lease_expected(&lease_registry(dir, policy)?, id).map_err(CliError::from)
}

pub(crate) fn run(cmd: PortCommand, policy: &Policy, out: Output) -> Result<u8, CliError> {
    match cmd {
        PortCommand::Who(a) => who(a, out),
        PortCommand::Verify(a) => verify(a, policy, out),
    }
}

/// A gw-portguard error as the CLI reports it (also for `gw probe`/`serve`).
pub(crate) fn port_error(e: gw_portguard::Error) -> CliError {
    use gw_portguard::ErrorKind as K;
    let code = match e.kind() {
        K::PidfileNotFound => EXIT_NOT_FOUND,
        k if k.is_security_refusal() => EXIT_REFUSED,
        _ => EXIT_FAILED,
    };
    CliError {
        code,
        kind: e.kind().as_str(),
        op: e.op(),
        path: Some(e.subject().to_owned()),
        message: e.message().to_owned(),
        fix: e.fix().map(str::to_owned),
    }
}

/// A verdict other than Owned as a refusal (exit 3) naming the reason and
/// a fix (also for `gw probe`).
pub(crate) fn verdict_refusal(op: &'static str, port: u16, v: &Verdict) -> CliError {
    CliError {
        code: EXIT_REFUSED,
        kind: v.as_str(),
        op,
        path: Some(format!("port {port}")),
        message: v.to_string(),
        fix: v.fix_hint().map(str::to_owned),
    }
}

pub(crate) fn listener_json(l: &Listener) -> Value {
    json!({
        "address": l.addr.to_string(),
        "family": if l.addr.is_ipv4() { "ipv4" } else { "ipv6" },
        "inode": l.inode,
        "uid": l.uid,
        "pid": l.pid,
        "command": l.command,
    })
}

fn who(a: WhoArgs, out: Output) -> Result<u8, CliError> {
    let ls = gw_portguard::who(a.port, &a.inspect.options()).map_err(port_error)?;
    let mut human = String::new();
    if ls.is_empty() {
        human.push_str(&format!("nothing listens on port {}\n", a.port));
    }
    for l in &ls {
        let pid = l.pid.map_or_else(|| "?".to_owned(), |p| p.to_string());
        let cmd = l.command.clone().unwrap_or_else(|| "?".to_owned());
        human.push_str(&format!("{}\tuid {}\tpid {pid}\t{cmd}\n", l.addr, l.uid));
    }
    out.ok(&human, json!({ "port": a.port, "listeners": ls.iter().map(listener_json).collect::<Vec<_>>() }));
    Ok(EXIT_OK)
}

fn verify(a: VerifyArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let mut expected = match (&a.pid, &a.pidfile, &a.lease.lease, &a.lease.id) {
        (Some(pid), _, _, _) => Expected::new(*pid),
        (None, Some(path), _, _) => {
            let (root, name) = super::token::open_parent(path, policy)?;
            Expected::from_pidfile(&root, name).map_err(port_error)?
        }
        (None, None, Some(dir), Some(id)) => lease_owner(dir, id, policy)?,
        _ => return Err(CliError::usage("port verify", "give --pid PID, --pidfile PATH or --lease DIR --id ID")),
    };
    if let Some(uid) = a.uid {
        expected = expected.with_uid(uid);
    }
    expected = expected.descendants(!a.no_descendants);
    let v = gw_portguard::verify(a.port, &expected, &a.inspect.options());
    match &v {
        Verdict::Owned { pid, listeners } => {
            out.ok(
                &format!("port {}: {v}", a.port),
                json!({
                    "port": a.port,
                    "verdict": v.as_str(),
                    "pid": pid,
                    "listeners": listeners.iter().map(listener_json).collect::<Vec<_>>(),
                }),
            );
            Ok(EXIT_OK)
        }
        Verdict::NotOwned { foreign, .. } => {
            let err = verdict_refusal("port verify", a.port, &v);
            if out.json {
                crate::output::eprint(&format!("{}\n", err.line()));
                let mut j = err.to_json();
                j["verdict"] = json!(v.as_str());
                j["foreign"] = json!(foreign.iter().map(listener_json).collect::<Vec<_>>());
                crate::output::print(format!("{j}\n").as_bytes());
                return Ok(EXIT_REFUSED);
            }
            Err(err)
        }
        Verdict::Unknown { .. } => {
            let err = verdict_refusal("port verify", a.port, &v);
            if out.json {
                crate::output::eprint(&format!("{}\n", err.line()));
                let mut j = err.to_json();
                j["verdict"] = json!(v.as_str());
                crate::output::print(format!("{j}\n").as_bytes());
                return Ok(EXIT_REFUSED);
            }
            Err(err)
        }
    }
}
