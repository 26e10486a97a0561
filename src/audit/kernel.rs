//! The kernel's link and file protections (`/proc/sys/fs/protected_*`).
//!
//! gw does not rely on them: its own file operations never follow a link
//! (openat2 `RESOLVE_NO_SYMLINKS` or an `O_NOFOLLOW` walk) and never write
//! through an existing file (exclusive temp + rename). They protect every
//! *other* program that touches shared directories on the machine (shell
//! scripts, service managers, other gateways' tools), which is why they are
//! reported, but as medium or low: with them off gw is not exposed, the
//! machine is.

use super::{Finding, Report, Severity};

/// One sysctl: its name, the value gw recommends, the severity when it is
/// lower, what it protects against.
struct Knob {
    name: &'static str,
    want: u32,
    severity: Severity,
    why: &'static str,
}

const KNOBS: [Knob; 4] = [
    Knob {
        name: "protected_symlinks",
        want: 1,
        severity: Severity::Medium,
        why: "with 0, a program that opens a path in a sticky world-writable directory (/tmp) follows a symlink \
              another user planted there, and writes wherever it points (THREATS FS-1); gw itself never follows \
              links, other tools on this machine do",
    },
    Knob {
        name: "protected_hardlinks",
        want: 1,
        severity: Severity::Medium,
        why: "with 0, any user can hard-link files they do not own (a setuid binary, another user's file) into a \
              directory they control, and keep them after the owner deletes or fixes them",
    },
    Knob {
        name: "protected_regular",
        want: 1,
        severity: Severity::Low,
        why: "with 0, a program creating a file with O_CREAT in a sticky world-writable directory opens a file \
              another user pre-created there instead (a spoofed or readable temp file)",
    },
    Knob {
        name: "protected_fifos",
        want: 1,
        severity: Severity::Low,
        why: "with 0, a program creating a file with O_CREAT in a sticky world-writable directory opens a FIFO \
              another user pre-created there (data goes to the attacker, or the program blocks)",
    },
];

/// Reads `/proc/sys/fs/NAME` as a number.
fn read_knob(name: &str) -> Result<u32, String> {
    let path = format!("/proc/sys/fs/{name}");
    let text = read_proc(&path["/proc/".len()..]).map_err(|e| format!("cannot read {path}: {e}"))?;
    text.trim().parse().map_err(|_| format!("{path} does not hold a number: {:?}", text.trim()))
}

/// Reads `/proc/REL` through gw-procfs's verified handle.
#[cfg(target_os = "linux")]
fn read_proc(rel: &str) -> std::io::Result<String> {
    gw_procfs::Proc::get()?.read_to_string(rel)
}

#[cfg(not(target_os = "linux"))]
fn read_proc(rel: &str) -> std::io::Result<String> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, format!("no /proc/{rel} on this platform")))
}

/// Audits the four protections.
pub(super) fn audit(report: &mut Report) {
    if !cfg!(target_os = "linux") {
        report.checked("kernel: link protections are a Linux feature; not checked on this platform");
        return;
    }
    for k in &KNOBS {
        match read_knob(k.name) {
            Ok(v) if v >= k.want => report.checked(format!("kernel: fs.{} = {v} (ok)", k.name)),
            Ok(v) => {
                report.checked(format!("kernel: fs.{} = {v} (finding)", k.name));
                report.add(Finding {
                    severity: k.severity,
                    check: "kernel",
                    subject: format!("fs.{}", k.name),
                    what: format!("fs.{} is {v}, not {}", k.name, k.want),
                    why: k.why.into(),
                    fix: format!(
                        "sudo sysctl -w fs.{n}={w} && echo 'fs.{n} = {w}' | sudo tee -a /etc/sysctl.d/60-gw-protected.conf",
                        n = k.name,
                        w = k.want
                    ),
                    threat: "FS-1",
                });
            }
            Err(e) => report.checked(format!("kernel: fs.{}: {e} (not judged)", k.name)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_knob_is_reported_as_ok_or_finding_with_a_sysctl_fix() {
        let mut r = Report::default();
        audit(&mut r);
        for k in &KNOBS {
            let Ok(v) = read_knob(k.name) else { continue };
            let finding = r.findings.iter().find(|f| f.subject == format!("fs.{}", k.name));
            if v >= k.want {
                assert!(finding.is_none(), "{} = {v} must not be a finding", k.name);
            } else {
                let f = finding.unwrap_or_else(|| panic!("{} = {v} must be a finding", k.name));
                assert_eq!(f.severity, k.severity);
                assert!(f.fix.contains(&format!("sysctl -w fs.{}=1", k.name)), "{}", f.fix);
                assert!(f.severity < Severity::High, "kernel findings are not high: gw does not rely on them");
            }
        }
    }
}
