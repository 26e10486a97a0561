//! `gw port`: who listens on a port, and whether an expected process owns
//! it — the command line over gw-portguard (which makes every decision).

use std::path::Path;

use gw_anchor::Policy;
use gw_portguard::{Expected, Listener, Options, Source, Verdict};
use serde_json::{Value, json};

use crate::cli::port::{InspectArgs, PortCommand, SourceArg, VerifyArgs, WhoArgs};
use crate::output::{CliError, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_OK, EXIT_REFUSED, Output};

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
    Ok(Expected::pid(rec.pid).start_time(rec.start_time))
}

/// [`lease_registry`] + [`lease_expected`], errors as the CLI reports them.
pub(crate) fn lease_owner(dir: &Path, id: &str, policy: &Policy) -> Result<Expected, CliError> {
    lease_expected(&lease_registry(dir, policy)?, id).map_err(CliError::from)
}

/// The gw-portguard options of `--timeout` and `--source`.
fn options(a: &InspectArgs) -> Options {
    let source = match a.source {
        SourceArg::Auto => Source::Auto,
        SourceArg::Netlink => Source::Netlink,
        SourceArg::Procnet => Source::ProcNet,
    };
    Options { source, timeout: a.timeout, ..Options::default() }
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
    let ls = gw_portguard::who(a.port, &options(&a.inspect)).map_err(port_error)?;
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
        (Some(pid), _, _, _) => Expected::pid(*pid),
        (None, Some(path), _, _) => {
            let (root, name) = super::token::open_parent(path, policy)?;
            Expected::from_pidfile(&root, name).map_err(port_error)?
        }
        (None, None, Some(dir), Some(id)) => lease_owner(dir, id, policy)?,
        _ => return Err(CliError::usage("port verify", "give --pid PID, --pidfile PATH or --lease DIR --id ID")),
    };
    if let Some(uid) = a.uid {
        expected = expected.uid(uid);
    }
    expected = expected.descendants(!a.no_descendants);
    let v = gw_portguard::verify(a.port, &expected, &options(&a.inspect));
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
