//! `gw doctor --openclaw [STATE_DIR]`: a read-only audit of a real OpenClaw
//! installation's state directory (`$OPENCLAW_STATE_DIR`, else
//! `~/.openclaw`), for what OpenClaw 2026.9.6 gets wrong or cannot see:
//! - the state directory or its `state/` subdirectory replaced by a symlink
//!   (OpenClaw follows it and creates its SQLite database — device private
//!   keys, device and bootstrap tokens — where it points), or an insecure
//!   directory on the way (THREATS FS-2, FS-5);
//! - `openclaw.json` and the SQLite files: links, other owners, modes open
//!   to others (FS-1, FS-4, FS-9);
//! - its log directory in the shared `/tmp` (`/tmp/openclaw`), made or
//!   replaced by another user;
//! - who holds the configured port: its CLI sends the shared token to
//!   whatever listens there (PORT-1).
//!
//! Nothing is written; the database is not opened.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

use gw_anchor::{Policy, Root};

use super::{Finding, Report, Severity, sh};

/// OpenClaw's default gateway port.
const DEFAULT_PORT: u16 = 18789;
/// Where OpenClaw 2026.9.6 writes its rolling logs by default.
const SHARED_LOG_DIR: &str = "/tmp/openclaw";

/// The state directory to audit when none is given.
pub(crate) fn default_state_dir() -> Option<PathBuf> {
    if let Some(d) = std::env::var_os("OPENCLAW_STATE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(d));
    }
    std::env::var_os("HOME").filter(|h| !h.is_empty()).map(|h| PathBuf::from(h).join(".openclaw"))
}

fn finding(severity: Severity, subject: &Path, what: String, why: &str, fix: String, threat: &'static str) -> Finding {
    Finding { severity, check: "openclaw", subject: subject.display().to_string(), what, why: why.into(), fix, threat }
}

/// Audits the OpenClaw state directory `state`.
pub(crate) fn audit(state: &Path, policy: &Policy, report: &mut Report) {
    let me = rustix::process::geteuid().as_raw();
    let meta = match std::fs::symlink_metadata(state) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            report.checked(format!("openclaw: no state directory at {} (nothing to audit)", state.display()));
            return;
        }
        Err(e) => {
            report.checked(format!("openclaw: {} could not be examined ({e}); not audited", state.display()));
            return;
        }
    };
    if meta.file_type().is_symlink() {
        let target = std::fs::read_link(state).map(|t| t.display().to_string()).unwrap_or_else(|_| "?".into());
        report.add(finding(
            Severity::High,
            state,
            format!("the state directory is a symlink (to {target})"),
            "OpenClaw follows it and keeps its database of device private keys and tokens wherever it points; \
             whoever can change the link decides where those secrets go",
            format!(
                "ls -ld {t} && rm -- {s} && mv -- {t} {s}   # if the target is yours; else stop OpenClaw and make a \
                     new private directory: mkdir -m 700 {s}",
                s = sh(state),
                t = sh(Path::new(&target))
            ),
            "FS-2",
        ));
        return;
    }
    // The chain from / (owners and modes), as gw checks its own home.
    let root = match Root::open(state, policy) {
        Ok(r) => r,
        Err(e) => {
            report.add(finding(
                Severity::High,
                state,
                format!("the state directory is refused: {}", e.message()),
                "another user could swap entries of the directory (or of one above it) that holds OpenClaw's keys \
                 and tokens",
                e.fix().map(str::to_owned).unwrap_or_else(|| format!("chmod 700 {}", sh(state))),
                "FS-5",
            ));
            return;
        }
    };
    report.checked(format!("openclaw: state directory {} (chain from / trusted)", root.path().display()));

    let sub = state.join("state");
    match std::fs::symlink_metadata(&sub) {
        Ok(m) if m.file_type().is_symlink() => {
            let target = std::fs::read_link(&sub).map(|t| t.display().to_string()).unwrap_or_else(|_| "?".into());
            report.add(finding(
                Severity::High,
                &sub,
                format!("`state/` is a symlink (to {target})"),
                "OpenClaw 2026.9.6 follows it and creates its SQLite database (device private keys, device and \
                 bootstrap tokens) in the link's target",
                format!(
                    "stop OpenClaw, then: ls -ld {t}; rm -- {s} && mkdir -m 700 {s}   # move the database back \
                         only if the target is yours and private",
                    s = sh(&sub),
                    t = sh(Path::new(&target))
                ),
                "FS-2",
            ));
        }
        Ok(m) if !m.is_dir() => report.add(finding(
            Severity::High,
            &sub,
            "`state` is not a directory".into(),
            "OpenClaw cannot keep its database there",
            format!("ls -l {}", sh(&sub)),
            "FS-1",
        )),
        Ok(m) if m.uid() != me && m.uid() != 0 || m.mode() & 0o022 != 0 => report.add(finding(
            Severity::High,
            &sub,
            format!("`state/` is owned by uid {} with mode {:04o}", m.uid(), m.mode() & 0o7777),
            "another user can replace the database of device keys and tokens",
            format!("chown {me} {s} && chmod 700 {s}", s = sh(&sub)),
            "FS-5",
        )),
        _ => {}
    }

    for (rel, secret) in [
        ("openclaw.json", false),
        ("state/openclaw.sqlite", true),
        ("state/openclaw.sqlite-wal", true),
        ("state/openclaw.sqlite-shm", true),
    ] {
        file(&state.join(rel), secret, me, report);
    }
    logs(me, report);
    port(&root, state, report);
}

fn file(path: &Path, secret: bool, me: u32, report: &mut Report) {
    let Ok(m) = std::fs::symlink_metadata(path) else { return };
    let p = sh(path);
    if m.file_type().is_symlink() {
        report.add(finding(
            Severity::High,
            path,
            "a symlink".into(),
            "OpenClaw reads and writes through it: whoever controls the link decides where its data goes",
            format!("ls -l {p}   # then replace it with the real file"),
            "FS-1",
        ));
        return;
    }
    if !m.is_file() {
        report.add(finding(
            Severity::High,
            path,
            "not a regular file".into(),
            "OpenClaw expects a file here",
            format!("ls -l {p}"),
            "FS-1",
        ));
        return;
    }
    let mode = m.permissions().mode() & 0o7777;
    if m.uid() != me && m.uid() != 0 {
        report.add(finding(
            Severity::High,
            path,
            format!("owned by uid {}, not by you (uid {me})", m.uid()),
            "its owner can rewrite it at will",
            format!("sudo chown {me} {p} && chmod 600 {p}"),
            "FS-9",
        ));
    } else if mode & 0o022 != 0 {
        report.add(finding(
            Severity::High,
            path,
            format!("writable by group/others (mode {mode:04o})"),
            "anyone could rewrite OpenClaw's configuration or database",
            format!("chmod go-w {p}"),
            "FS-9",
        ));
    }
    if mode & 0o044 != 0 {
        let (severity, why) = if secret {
            (Severity::High, "the state database holds device private keys and device and bootstrap tokens")
        } else {
            (Severity::Medium, "openclaw.json may hold the gateway's shared token or password (gateway.auth)")
        };
        report.add(finding(
            severity,
            path,
            format!("readable by group/others (mode {mode:04o})"),
            why,
            format!("chmod 600 {p}   # and consider what it held leaked"),
            "FS-4",
        ));
    }
}

fn logs(me: u32, report: &mut Report) {
    let dir = Path::new(SHARED_LOG_DIR);
    let Ok(m) = std::fs::symlink_metadata(dir) else {
        report.checked(format!("openclaw: no shared log directory {SHARED_LOG_DIR}"));
        return;
    };
    let fix = format!(
        "set logging.file in openclaw.json to a file in a private directory of yours (not under /tmp); then: ls -la {}",
        sh(dir)
    );
    if m.file_type().is_symlink() || m.uid() != me && m.uid() != 0 {
        let what = if m.file_type().is_symlink() {
            "the shared log directory is a symlink".to_owned()
        } else {
            format!("the shared log directory is owned by uid {}, not by you", m.uid())
        };
        report.add(finding(
            Severity::High,
            dir,
            what,
            "another user made it: they can read the gateway's logs, or plant links where it writes them",
            fix,
            "FS-1",
        ));
    } else {
        report.add(finding(
            Severity::Medium,
            dir,
            "the gateway logs to the shared /tmp".into(),
            "any local user could create /tmp/openclaw before the gateway does (OpenClaw then falls back to another \
             temp path only if it notices); logs under /tmp also outlive the state directory's permissions",
            fix,
            "FS-1",
        ));
    }
}

fn port(root: &Root, state: &Path, report: &mut Report) {
    let configured = match root.read_trusted("openclaw.json", 1024 * 1024) {
        Ok((bytes, _)) => match gw_persist::parse_json(&bytes, &gw_persist::Limits::default()) {
            Ok(v) => v.pointer("/gateway/port").and_then(|p| p.as_u64()).and_then(|p| u16::try_from(p).ok()),
            Err(_) => {
                report.checked("openclaw: openclaw.json is JSON5 that gw does not read; the port below is the default");
                None
            }
        },
        Err(_) => None,
    };
    let port = configured.unwrap_or(DEFAULT_PORT);
    let opts = gw_portguard::Options { timeout: std::time::Duration::from_secs(3), ..Default::default() };
    let listeners = match gw_portguard::who(port, &opts) {
        Ok(l) => l,
        Err(e) => {
            report.checked(format!("openclaw: port {port}: listeners not established ({e}); not judged"));
            return;
        }
    };
    if listeners.is_empty() {
        report.checked(format!("openclaw: nothing listens on port {port}: the gateway is not running"));
        return;
    }
    let owner = std::fs::metadata(state).map(|m| m.uid()).ok();
    let foreign: Vec<String> = listeners.iter().filter(|l| Some(l.uid) != owner).map(ToString::to_string).collect();
    if foreign.is_empty() {
        let held: Vec<String> = listeners.iter().map(ToString::to_string).collect();
        report.checked(format!("openclaw: port {port} held by the state directory's owner: {}", held.join(", ")));
    } else {
        report.add(finding(
            Severity::High,
            Path::new(&format!("port {port}")),
            format!("held by another user than the installation's owner: {}", foreign.join(", ")),
            "OpenClaw's CLI sends the configured shared token to whatever listens on the configured port",
            format!(
                "ss -ltnp 'sport = :{port}'   # find the holder, stop it; use `gw probe` (it proves the owner first)"
            ),
            "PORT-1",
        ));
    }
}
