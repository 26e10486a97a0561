//! A profile's liveness records (`profiles/NAME/leases`, a gw-lease
//! registry): records of dead, expired or recycled processes (THREATS
//! LEASE-1, LEASE-3), judged by gw-lease exactly as a prune would — but
//! through `Registry::list`, which takes no lock and changes nothing.

use gw_anchor::Root;
use gw_lease::{Judgement, Registry, SkipReason};

use super::{Finding, Report, Severity, sh};

/// The lease registry of a profile, relative to the profile directory.
pub(crate) const LEASE_DIR: &str = "leases";

/// Audits the registry of profile `profile` (directory `dir`), if it has one.
pub(super) fn check(profile: &str, dir: &Root, report: &mut Report) {
    match dir.metadata(LEASE_DIR) {
        Ok(m) if m.kind == gw_anchor::FileKind::Dir => {}
        Ok(_) => return, // a link or a file there: reported by the file audit
        Err(e) if e.kind() == gw_anchor::ErrorKind::NotFound => {
            report.checked(format!("leases (profile {profile}): no registry"));
            return;
        }
        Err(e) => {
            report.checked(format!("leases (profile {profile}): not examined ({e})"));
            return;
        }
    }
    let reg_path = dir.path().join(LEASE_DIR);
    let root = match dir.open_dir(LEASE_DIR) {
        Ok(r) => r,
        Err(e) => {
            report.checked(format!(
                "leases (profile {profile}): registry not opened ({}); see the findings above",
                e.message()
            ));
            return;
        }
    };
    let listing = match Registry::from_root(root).list() {
        Ok(l) => l,
        Err(e) => {
            report.checked(format!("leases (profile {profile}): not listed ({e})"));
            return;
        }
    };
    let prune = format!("gw lease prune {}", sh(&reg_path));
    let mut live = 0;
    for listed in &listing.records {
        let r = &listed.record;
        match &listed.verdict {
            Judgement::Keep(status) => {
                live += 1;
                report.checked(format!("lease {} (profile {profile}): pid {} kept ({})", r.id, r.pid, status.as_str()));
            }
            Judgement::Remove(reason) => report.add(Finding {
                severity: Severity::Low,
                check: "lease",
                subject: reg_path.join(format!("{}.json", r.id)).display().to_string(),
                what: format!(
                    "stale lease `{}` (pid {}{}): {}",
                    r.id,
                    r.pid,
                    r.port.map(|p| format!(", port {p}")).unwrap_or_default(),
                    reason.as_str()
                ),
                why: "a client that picks this record talks to a process that is gone (or to whoever has its pid or \
                      port now); gw-lease prunes it on the next registration, and `gw lease prune` now"
                    .into(),
                fix: prune.clone(),
                threat: if matches!(
                    reason,
                    gw_lease::RemoveReason::StartTimeDiffers { .. } | gw_lease::RemoveReason::BootIdDiffers
                ) {
                    "LEASE-3"
                } else {
                    "LEASE-1"
                },
            }),
        }
    }
    for s in &listing.skipped {
        let path = reg_path.join(&s.name);
        match &s.reason {
            // Links, FIFOs and directories are reported by the file audit.
            SkipReason::NotRegular { .. } | SkipReason::UnrecognisedName => {}
            SkipReason::Insecure { message } => report.add(Finding {
                severity: Severity::High,
                check: "lease",
                subject: path.display().to_string(),
                what: format!("lease record refused for its owner or mode: {message}"),
                why: "a lease record names the process taken for a gateway's owner (`--lease`): whoever can write \
                      it could name their own listener and receive the tokens; gw refuses it, so the gateway it \
                      names cannot be verified through it"
                    .into(),
                fix: format!(
                    "ls -l -- {p}   # if you wrote it: chmod 600 {p}; if not, or unsure: rm -- {p}",
                    p = sh(&path)
                ),
                threat: "FS-9",
            }),
            SkipReason::Malformed { message } | SkipReason::Failed { message } => report.add(Finding {
                severity: Severity::Low,
                check: "lease",
                subject: path.display().to_string(),
                what: format!("lease record that cannot be read: {message}"),
                why: "gw-lease keeps what it cannot judge (it may be a newer format); if no gw of yours wrote it, it \
                      is debris"
                    .into(),
                fix: format!("cat -- {p}   # check it, then: rm -- {p}", p = sh(&path)),
                threat: "LEASE-1",
            }),
        }
    }
    report.checked(format!("leases (profile {profile}): {} record(s), {live} live", listing.records.len()));
}
