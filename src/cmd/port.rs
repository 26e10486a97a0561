//! `gw port`: who listens on a port, and whether an expected process owns
//! it — the command line over gw-portguard (which makes every decision).

use std::path::PathBuf;
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
    /// socket uid, and the pid and command holding it where visible
    /// (processes of other users are only visible to root). For display:
    /// use `gw port verify` to decide.
    Who(WhoArgs),
    /// Proves that every listener on PORT is held by the expected process
    /// (or, unless --no-descendants, its descendants). Exit 0 when owned,
    /// 3 when not owned or when ownership cannot be proven (a foreign or
    /// extra listener, no listener, another user's process, timeout).
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
    /// The TCP port.
    port: u16,
    #[command(flatten)]
    inspect: InspectArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("owner").required(true).args(["pid", "pidfile"])))]
pub(crate) struct VerifyArgs {
    /// The TCP port.
    port: u16,
    /// The expected owner's pid.
    #[arg(long)]
    pid: Option<u32>,
    /// A pidfile naming the expected owner (`PID` or `PID STARTTIME`); read
    /// without following symlinks from a directory whose chain is verified
    /// (an insecure directory is refused, exit 3).
    #[arg(long, value_name = "PATH")]
    pidfile: Option<PathBuf>,
    /// Every listener must also be owned by this uid.
    #[arg(long)]
    uid: Option<u32>,
    /// Only the pid itself may hold the listeners, not its descendants.
    #[arg(long)]
    no_descendants: bool,
    #[command(flatten)]
    inspect: InspectArgs,
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
    let mut expected = match (&a.pid, &a.pidfile) {
        (Some(pid), _) => Expected::pid(*pid),
        (None, Some(path)) => {
            let (root, name) = super::token::open_parent(path, policy)?;
            Expected::from_pidfile(&root, name).map_err(port_error)?
        }
        (None, None) => return Err(CliError::usage("port verify", "give --pid PID or --pidfile PATH")),
    };
    if let Some(uid) = a.uid {
        expected = expected.uid(uid);
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
                eprintln!("{}", err.line());
                let mut j = err.to_json();
                j["verdict"] = json!(v.as_str());
                j["foreign"] = json!(foreign.iter().map(listener_json).collect::<Vec<_>>());
                println!("{j}");
                return Ok(EXIT_REFUSED);
            }
            Err(err)
        }
        Verdict::Unknown { .. } => {
            let err = verdict_refusal("port verify", a.port, &v);
            if out.json {
                eprintln!("{}", err.line());
                let mut j = err.to_json();
                j["verdict"] = json!(v.as_str());
                println!("{j}");
                return Ok(EXIT_REFUSED);
            }
            Err(err)
        }
    }
}
