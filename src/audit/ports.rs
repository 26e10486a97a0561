//! Who holds each configured gateway's port (THREATS PORT-1), through
//! gw-portguard: the kernel's socket table for every listener on the port
//! (IPv4 and IPv6), the expected pid from `gw serve`'s pidfile (`serve.pid`
//! in the profile directory, `PID STARTTIME`), and [`gw_portguard::verify`].
//!
//! gw itself never sends a token to a port it cannot prove is its gateway's
//! (`connect_verified` fails closed), so a foreign holder cannot steal a
//! token from gw; but it makes the gateway unusable, and any other client of
//! that gateway (a browser, a script) would talk to it. Hence high.

use gw_anchor::Root;
use gw_portguard::{ErrorKind, Expected, Listener, Options, Verdict};

use super::{Finding, Report, Severity, sh};
use crate::owner::PIDFILE;

fn listed(ls: &[Listener]) -> String {
    ls.iter().map(ToString::to_string).collect::<Vec<_>>().join(", ")
}

fn stop_fix(port: u16, ls: &[Listener]) -> String {
    let pids: Vec<String> = ls.iter().filter_map(|l| l.pid).map(|p| p.to_string()).collect();
    let find = format!("ss -ltnp 'sport = :{port}'");
    if pids.is_empty() {
        format!("{find}   # find the holder (as root if it is another user's), then stop it")
    } else {
        format!("{find}   # check it, then: kill {}", pids.join(" "))
    }
}

/// Checks the port of profile `profile` (directory `dir`).
pub(super) fn check(profile: &str, port: u16, dir: &Root, report: &mut Report) {
    // Longer than the default: an audit is not latency-critical, and a
    // loaded machine must not turn a foreign listener into "not judged".
    let opts = Options { timeout: std::time::Duration::from_secs(3), ..Options::default() };
    let subject = format!("port {port} (profile {profile})");
    let listeners = match gw_portguard::who(port, &opts) {
        Ok(l) => l,
        Err(e) => {
            report.checked(format!("{subject}: listeners not established ({e}); not judged"));
            return;
        }
    };
    let pidfile = dir.path().join(PIDFILE);
    match Expected::from_pidfile(dir, PIDFILE) {
        Err(e) if e.kind() == ErrorKind::PidfileNotFound => {
            if listeners.is_empty() {
                report.checked(format!(
                    "{subject}: nothing listens and there is no {PIDFILE}: the gateway is not running"
                ));
            } else {
                report.add(Finding {
                    severity: Severity::High,
                    check: "port",
                    subject,
                    what: format!(
                        "the gateway is not running here (no {PIDFILE}), but something listens on its port: {}",
                        listed(&listeners)
                    ),
                    why: "whoever holds the port receives what clients of this gateway send (tokens, requests); gw \
                          refuses to hand it a token, and `gw serve` cannot start"
                        .into(),
                    fix: stop_fix(port, &listeners),
                    threat: "PORT-1",
                });
            }
        }
        Err(e) if e.is_security_refusal() && listeners.is_empty() => report.add(Finding {
            severity: Severity::High,
            check: "port",
            subject,
            what: format!("{PIDFILE} is refused: {}", e.message()),
            why: "the pidfile names the process taken for the gateway's owner: whoever can write it can have their \
                  own listener taken for the gateway, and be sent its tokens; gw refuses it"
                .into(),
            fix: e.fix().map_or_else(|| format!("rm -- {}", sh(&pidfile)), str::to_owned),
            threat: "FS-9",
        }),
        Err(e) => {
            if listeners.is_empty() {
                report.checked(format!("{subject}: {PIDFILE} not usable ({}), and nothing listens", e.message()));
            } else {
                report.add(Finding {
                    severity: Severity::High,
                    check: "port",
                    subject,
                    what: format!(
                        "the port's holder cannot be proven: {PIDFILE} is not usable ({}); listening: {}",
                        e.message(),
                        listed(&listeners)
                    ),
                    why: "without a trustworthy pidfile nobody can tell the gateway from a process that took its \
                          port; gw refuses to send it tokens"
                        .into(),
                    fix: format!(
                        "{}; then restart the gateway: gw --profile {profile} serve",
                        stop_fix(port, &listeners)
                    ),
                    threat: if e.is_security_refusal() { "FS-9" } else { "PORT-1" },
                });
            }
        }
        Ok(expected) => {
            let pid = expected.pid();
            if listeners.is_empty() {
                let alive = match gw_portguard::start_time_of(pid) {
                    Ok(t) => expected.start_time().is_none_or(|want| want == t),
                    Err(_) => false,
                };
                report.add(Finding {
                    severity: Severity::Low,
                    check: "port",
                    subject,
                    what: if alive {
                        format!("{PIDFILE} names pid {pid}, which is running but does not listen on port {port}")
                    } else {
                        format!("stale {PIDFILE}: pid {pid} is not running (or is another process now)")
                    },
                    why: "a client that trusts the pidfile without gw-portguard's check would believe the gateway is \
                          up (and whoever binds the port next would be taken for it)"
                        .into(),
                    fix: if alive {
                        format!("kill {pid}   # then restart: gw --profile {profile} serve")
                    } else {
                        format!("rm -- {}", sh(&pidfile))
                    },
                    threat: "PORT-1",
                });
                return;
            }
            match gw_portguard::verify(port, &expected, &opts) {
                Verdict::Owned { pid, .. } => {
                    report.checked(format!("{subject}: every listener belongs to gw serve (pid {pid})"));
                }
                v @ (Verdict::NotOwned { .. } | Verdict::Unknown { .. }) => {
                    let foreign = match &v {
                        Verdict::NotOwned { foreign, .. } if !foreign.is_empty() => foreign.clone(),
                        _ => listeners.clone(),
                    };
                    report.add(Finding {
                        severity: Severity::High,
                        check: "port",
                        subject,
                        what: format!("the gateway's port is not (only) held by gw serve pid {pid}: {}", v.reason()),
                        why: "a listener outside the gateway's process tree receives what clients send to this \
                              gateway; gw refuses to hand tokens to it"
                            .into(),
                        fix: stop_fix(port, &foreign),
                        threat: "PORT-1",
                    });
                }
            }
        }
    }
}
