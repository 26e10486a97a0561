//! `gw port`: who listens on a port, and whether an expected process owns
//! it — the command line over gw-portguard (which makes every decision).

use gw_anchor::Policy;
use gw_portguard::{Listener, Options, Source, Verdict};
use serde_json::{Value, json};

use crate::cli::port::{InspectArgs, PortCommand, SourceArg, VerifyArgs, WhoArgs};
use crate::output::{CliError, EXIT_OK, EXIT_REFUSED, Output};
use crate::owner::{Owner, OwnerError};

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

/// A gw-portguard error as the CLI reports it.
fn port_error(e: gw_portguard::Error) -> CliError {
    CliError {
        code: CliError::code_for(e.class()),
        kind: e.kind().as_str(),
        op: e.op(),
        path: Some(e.subject().to_owned()),
        message: e.message().to_owned(),
        fix: e.fix().map(str::to_owned),
    }
}

/// A verdict other than Owned as a refusal (exit 3) naming the reason and
/// a fix.
fn verdict_refusal(op: &'static str, port: u16, v: &Verdict) -> CliError {
    CliError {
        code: EXIT_REFUSED,
        kind: v.as_str(),
        op,
        path: Some(format!("port {port}")),
        message: v.to_string(),
        fix: v.fix_hint().map(str::to_owned),
    }
}

fn listener_json(l: &Listener) -> Value {
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
    let lease = a.lease.lease.as_deref().zip(a.lease.id.as_deref());
    let owner = Owner::from_flags(a.pid, a.pidfile.as_deref(), lease, policy)?
        .ok_or_else(|| CliError::usage("port verify", "give --pid PID, --pidfile PATH or --lease DIR --id ID"))?;
    let mut expected = owner.expected().map_err(|e| match e {
        OwnerError::Pidfile(_, e) => port_error(*e),
        OwnerError::Lease(e) => CliError::from(*e),
    })?;
    if let Some(uid) = a.uid {
        expected = expected.with_uid(uid);
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
