//! Keyring availability and where each profile's secrets are stored
//! (THREATS CRED-9).
//!
//! Availability is gw-cred's own round trip ([`Keyring::probe`]: an entry
//! holding no secret is stored, read back and deleted), so the answer is
//! exactly what `--store keyring` would decide. The storage policy is chosen
//! per command (`--store`); what the doctor can see is where the stored
//! secrets are: inline in the 0600 file, or referenced in a keyring.

use std::thread::JoinHandle;
use std::time::Duration;

use gw_cred::{Keyring, KeyringKind, SystemKeyring};

use super::{Finding, Report, Severity};

/// How long one keyring call of the probe may take (a Secret Service
/// waiting on an unlock prompt nobody answers would otherwise block).
const PROBE_TIMEOUT: Duration = Duration::from_secs(3);

/// The keyrings this platform has.
#[cfg(not(target_os = "macos"))]
const KINDS: &[KeyringKind] = &[KeyringKind::SecretService, KeyringKind::Keyutils];
#[cfg(target_os = "macos")]
const KINDS: &[KeyringKind] = &[KeyringKind::Keychain];

/// The probes, running.
pub(super) type Probes = Vec<(KeyringKind, JoinHandle<Result<(), String>>)>;

/// Starts one probe per keyring, in parallel.
pub(super) fn start_probes() -> Probes {
    KINDS
        .iter()
        .map(|&kind| {
            let h = std::thread::spawn(move || {
                SystemKeyring::new(kind, PROBE_TIMEOUT).probe().map_err(|e| {
                    // The reason only: never data the keyring returned.
                    let m = e.message();
                    m.strip_prefix("refused: ").unwrap_or(m).to_owned()
                })
            });
            (kind, h)
        })
        .collect()
}

/// Waits for the probes and reports, together with what the profiles'
/// stores reference (collected by the file audit in `report.stored`).
pub(super) fn finish(probes: Probes, report: &mut Report) {
    let mut available = Vec::new();
    for (kind, h) in probes {
        let res = h.join().unwrap_or_else(|_| Err("the probe failed unexpectedly".into()));
        match &res {
            Ok(()) => {
                report.checked(format!("keyring: {} is available (`--store keyring` would use it)", kind.as_str()));
                available.push(kind);
            }
            Err(why) => report.checked(format!(
                "keyring: {} is unavailable ({why}); `--store keyring` would be refused and write nothing, \
                 `--store keyring-or-file` would say so before using the 0600 file",
                kind.as_str()
            )),
        }
    }
    let stored = std::mem::take(&mut report.stored);
    for s in &stored {
        for (keyring, count) in &s.keyring_refs {
            let reachable = KINDS.iter().any(|k| k.as_str() == keyring && available.contains(k));
            if !reachable {
                let kind = KeyringKind::parse(keyring).ok();
                report.add(Finding {
                    severity: Severity::Medium,
                    check: "keyring",
                    subject: format!("profile {}", s.profile),
                    what: format!(
                        "{count} credential(s) of profile `{}` are kept in the {keyring} keyring, which is unavailable",
                        s.profile
                    ),
                    why: "gw will not fall back to another credential or to a file when a keyring-held one cannot be \
                          read: the gateways of this profile cannot be reached until the keyring is"
                        .into(),
                    fix: kind.map_or_else(|| "use a gw that knows this keyring".to_owned(), |k| k.fix().to_owned()),
                    threat: "CRED-9",
                });
            }
        }
        if s.inline > 0 {
            let better: Vec<&str> =
                available.iter().filter(|k| **k != KeyringKind::Keyutils).map(|k| k.as_str()).collect();
            report.checked(format!(
                "storage: profile `{}` keeps {} secret(s) inline in its 0600 credentials.json{}",
                s.profile,
                s.inline,
                if better.is_empty() {
                    String::new()
                } else {
                    format!(" (the {} keyring is available: `gw --profile {} --store keyring cred set ...` keeps new ones there)", better.join(", "), s.profile)
                }
            ));
        }
    }
    report.stored = stored;
}
