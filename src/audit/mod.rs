//! The audit behind `gw doctor`: audits a gw home without changing anything, and reports
//! findings, each with a severity, what was found, why it matters and the
//! exact command that fixes it.
//!
//! The checks are read-only: directories are walked and entries `lstat`ed
//! through gw-anchor (nothing followed, nothing opened for writing), documents
//! are loaded through gw-persist (loading never creates a lock file), and the
//! fixes are printed, never applied. The one exception is the keyring probe
//! (gw-cred's own availability check stores, reads back and deletes one entry
//! that holds no secret), which `--no-keyring-probe` turns off.
//!
//! Severities:
//! - **high**: another user (or process) can read a secret, change what gw
//!   trusts or sends (a writable directory or document, a planted link, a
//!   foreign listener on a gateway's port), or gw refuses to work there.
//!   `gw doctor` exits 3 when there is at least one. An audit that stopped
//!   at a cap (entries, depth) is one too (CLI-4): it cannot call the home
//!   clean.
//! - **medium**: a defence in depth is off (kernel link protections), or
//!   stored credentials cannot be reached (a keyring they live in is
//!   unavailable).
//! - **low**: hygiene: temp files of interrupted writes, stale leases and
//!   pidfiles.
//! - **info**: facts worth knowing (the home does not exist yet, ...).

mod files;
pub(crate) use files::MAX_ENTRIES;
pub(crate) use openclaw::default_state_dir as openclaw_state_dir;
mod kernel;
mod keyring;
mod leases;
mod openclaw;
mod ports;

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

use gw_anchor::Policy;
use serde::Serialize;
use serde_json::Value;

/// How serious a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Severity {
    Info,
    Low,
    Medium,
    High,
}

impl Severity {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Self::Info => "info",
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// One thing the doctor found.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Finding {
    pub(crate) severity: Severity,
    /// The check that found it: `chain`, `file`, `temp`, `lease`, `keyring`,
    /// `port`, `kernel`, `home`, `cap`.
    pub(crate) check: &'static str,
    /// What it is about: a path, a port, a sysctl.
    pub(crate) subject: String,
    /// What was found.
    pub(crate) what: String,
    /// Why it matters.
    pub(crate) why: String,
    /// The exact command (or commands) that fix it.
    pub(crate) fix: String,
    /// The THREATS id it relates to.
    pub(crate) threat: &'static str,
}

/// What to audit.
#[derive(Debug, Clone)]
pub(crate) struct Options {
    /// Audit this OpenClaw state directory instead of the gw home.
    pub(crate) openclaw: Option<PathBuf>,
    /// The home (`None`: it could not be determined; see `home_error`).
    pub(crate) home: Option<PathBuf>,
    /// Why the home could not be determined.
    pub(crate) home_error: Option<String>,
    /// Only this profile (else every profile of the home).
    pub(crate) profile: Option<String>,
    /// Probe the OS keyrings.
    pub(crate) keyring_probe: bool,
    /// Audit the kernel settings.
    pub(crate) kernel: bool,
    /// Stop the file audit after this many entries (a high finding, CLI-4).
    pub(crate) max_entries: usize,
}

/// The whole audit.
#[derive(Debug, Default, Serialize)]
pub(crate) struct Report {
    pub(crate) home: Option<PathBuf>,
    pub(crate) home_exists: bool,
    pub(crate) profiles: Vec<String>,
    /// One line per check that ran, with its result (what was audited).
    pub(crate) checked: Vec<String>,
    pub(crate) findings: Vec<Finding>,
    /// Where each profile's secrets are (filled by the file audit, read by
    /// the keyring check).
    #[serde(skip)]
    pub(crate) stored: Vec<files::StoredIn>,
}

impl Report {
    pub(crate) fn add(&mut self, f: Finding) {
        self.findings.push(f);
    }

    pub(crate) fn checked(&mut self, line: impl Into<String>) {
        self.checked.push(line.into());
    }

    pub(crate) fn count(&self, s: Severity) -> usize {
        self.findings.iter().filter(|f| f.severity == s).count()
    }

    /// 3 when any finding is high, else 0.
    pub(crate) fn exit_code(&self) -> u8 {
        if self.count(Severity::High) > 0 { 3 } else { 0 }
    }

    /// The JSON form: `findings[]`, `summary`, and what was audited.
    pub(crate) fn to_json(&self) -> Value {
        let mut v = serde_json::to_value(self).unwrap_or(Value::Null);
        if let Value::Object(map) = &mut v {
            map.insert(
                "summary".into(),
                serde_json::json!({
                    "high": self.count(Severity::High),
                    "medium": self.count(Severity::Medium),
                    "low": self.count(Severity::Low),
                    "info": self.count(Severity::Info),
                    "total": self.findings.len(),
                    "exit_code": self.exit_code(),
                }),
            );
        }
        v
    }

    /// The human form: findings worst first, then what was audited.
    pub(crate) fn to_text(&self) -> String {
        let mut s = String::new();
        match &self.home {
            Some(h) => {
                let _ = writeln!(
                    s,
                    "gw doctor: home {}{}",
                    h.display(),
                    if self.home_exists { "" } else { " (does not exist yet)" }
                );
            }
            None => s.push_str("gw doctor: no gw home could be determined\n"),
        }
        if !self.profiles.is_empty() {
            let _ = writeln!(s, "profiles: {}", self.profiles.join(", "));
        }
        let mut sorted: Vec<&Finding> = self.findings.iter().collect();
        sorted.sort_by_key(|f| std::cmp::Reverse(f.severity));
        for f in sorted {
            let _ = writeln!(s, "\n[{}] {} ({}, {}): {}", f.severity.as_str(), f.subject, f.check, f.threat, f.what);
            let _ = writeln!(s, "  why: {}", f.why);
            let _ = writeln!(s, "  fix: {}", f.fix);
        }
        s.push_str("\nchecked:\n");
        for c in &self.checked {
            let _ = writeln!(s, "  - {c}");
        }
        let _ = writeln!(
            s,
            "\nsummary: {} high, {} medium, {} low, {} info{}",
            self.count(Severity::High),
            self.count(Severity::Medium),
            self.count(Severity::Low),
            self.count(Severity::Info),
            if self.exit_code() == 0 { " — no high finding" } else { " — high findings: exit 3" }
        );
        s
    }
}

/// Runs every check and returns the report. Never changes the home.
pub(crate) fn audit(opts: &Options, policy: &Policy) -> Report {
    let mut report = Report { home: opts.home.clone(), ..Report::default() };
    // The keyring probes may wait on a D-Bus call: start them first, in the
    // background, and collect them at the end.
    if let Some(state) = &opts.openclaw {
        openclaw::audit(state, policy, &mut report);
        if opts.kernel {
            kernel::audit(&mut report);
        }
        return report;
    }
    let probes = opts.keyring_probe.then(keyring::start_probes);
    match (&opts.home, &opts.home_error) {
        (Some(home), _) => files::audit_home(home, opts.profile.as_deref(), opts.max_entries, policy, &mut report),
        (None, err) => report.add(Finding {
            severity: Severity::Medium,
            check: "home",
            subject: "GW_HOME".into(),
            what: format!("no gw home: {}", err.as_deref().unwrap_or("none of GW_HOME, XDG_CONFIG_HOME, HOME is set")),
            why: "every gw command that uses profiles fails until a home can be found".into(),
            fix: "export GW_HOME=\"$(getent passwd \"$(id -un)\" | cut -d: -f6)/.config/gw\"   # or any absolute \
                  path to a private directory of yours"
                .into(),
            threat: "CRED-8",
        }),
    }
    match probes {
        Some(p) => keyring::finish(p, &mut report),
        None => report.checked("keyring: not probed (--no-keyring-probe)"),
    }
    if opts.kernel {
        kernel::audit(&mut report);
    }
    report
}

/// A path quoted for a shell command, when it needs quoting.
pub(crate) fn sh(path: &Path) -> String {
    let s = path.display().to_string();
    if !s.is_empty() && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"/._-+:@%,=".contains(&b)) {
        s
    } else {
        format!("'{}'", s.replace('\'', "'\\''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_code_is_3_only_with_a_high_finding() {
        let mut r = Report::default();
        let f = |severity| Finding {
            severity,
            check: "file",
            subject: "x".into(),
            what: String::new(),
            why: String::new(),
            fix: String::new(),
            threat: "FS-4",
        };
        for s in [Severity::Info, Severity::Low, Severity::Medium] {
            r.add(f(s));
        }
        assert_eq!(r.exit_code(), 0);
        r.add(f(Severity::High));
        assert_eq!(r.exit_code(), 3);
        let j = r.to_json();
        assert_eq!(j["summary"]["high"], 1);
        assert_eq!(j["summary"]["exit_code"], 3);
        assert_eq!(j["findings"][3]["severity"], "high");
    }

    #[test]
    fn paths_are_quoted_for_the_shell_only_when_needed() {
        assert_eq!(sh(Path::new("/home/a/.config/gw")), "/home/a/.config/gw");
        assert_eq!(sh(Path::new("/tmp/a b")), "'/tmp/a b'");
        assert_eq!(sh(Path::new("/tmp/it's")), "'/tmp/it'\\''s'");
        assert_eq!(sh(Path::new("/tmp/$(x)")), "'/tmp/$(x)'");
    }
}
