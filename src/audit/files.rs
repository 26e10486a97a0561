//! The home on disk: the directory chain from `/` (gw-anchor's audit), then
//! every entry beneath the home, `lstat`ed through the verified home root
//! (no link followed, nothing opened but directories being listed and the
//! documents gw-persist loads read-only).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use gw_anchor::{ChainStep, FileKind, Metadata, Policy, Root, audit_chain, is_temp_name};
use gw_cred::{CONFIG_FILE, GatewayKey, Home, ROOT_KEY_FILE, STORE_FILE, check_profile_name};
use gw_gateway::DEVICE_KEY_FILE;

use super::{Finding, Report, Severity, sh};

/// Entries beyond this many are not audited by default (`--max-entries`);
/// reaching the cap is a high finding (CLI-4).
pub(crate) const MAX_ENTRIES: usize = 10_000;
/// Directories deeper than this beneath the home are not audited; gw's own
/// layout is never this deep, and reaching the cap is a high finding (CLI-4).
const MAX_DEPTH: usize = 8;
/// The files of a profile gw itself reads: audited first, before any other
/// entry of the home (CLI-4: debris must not use up the entry cap first).
const PROFILE_DOCUMENTS: [&str; 4] = [ROOT_KEY_FILE, STORE_FILE, CONFIG_FILE, crate::owner::PIDFILE];
/// A temp file younger than this may belong to a write in progress.
const TEMP_GRACE: Duration = Duration::from_secs(60);

/// Where the secrets of a profile are (for the keyring check).
#[derive(Debug, Clone, Default)]
pub(crate) struct StoredIn {
    pub(crate) profile: String,
    /// Secrets kept inline in the 0600 file.
    pub(crate) inline: usize,
    /// Keyring name → references to it.
    pub(crate) keyring_refs: BTreeMap<String, usize>,
}

/// What kind of directory an entry is in: decides what belongs there.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Place {
    Home,
    Profiles,
    Profile,
    Other,
}

/// Audits the home at `home` (and only profile `only`, if given).
pub(super) fn audit_home(home: &Path, only: Option<&str>, max_entries: usize, policy: &Policy, report: &mut Report) {
    let steps = match audit_chain(home, policy) {
        Ok(steps) => steps,
        Err(e) if e.kind() == gw_anchor::ErrorKind::NotFound => return missing_home(home, policy, report),
        Err(e) => {
            report.add(Finding {
                severity: Severity::Medium,
                check: "home",
                subject: home.display().to_string(),
                what: format!("the home cannot be audited: {} ({})", e.message(), e.path().display()),
                why: "gw commands fail the same way on this home".into(),
                fix: e.fix().map_or_else(|| format!("ls -ld {}", sh(e.path())), str::to_owned),
                threat: "FS-7",
            });
            return;
        }
    };
    report.home_exists = true;
    let problems = chain_findings(&steps, policy, Severity::High, report);
    if problems > 0 {
        report.checked(format!(
            "chain: {} of {} directories from / to the home are not trusted; the home's contents are not \
             audited until they are (gw refuses to use it too)",
            problems,
            steps.len()
        ));
        return;
    }
    report.checked(format!("chain: {} directories from / to the home, all trusted", steps.len()));
    let root = match Root::open(home, policy) {
        Ok(r) => r,
        Err(e) => {
            report.checked(format!("home: could not be opened after its audit ({e}); contents not audited"));
            return;
        }
    };
    let mut walker = Walker {
        root: &root,
        me: policy.uid(),
        now: SystemTime::now(),
        seen: 0,
        only,
        max_entries,
        depth_capped: Vec::new(),
    };
    // Secrets, configs and documents first; then everything else, breadth
    // first, so debris deep down (a flood of lease files) comes last.
    walker.documents(report);
    let stopped = walker.walk(report);
    let depth_capped = std::mem::take(&mut walker.depth_capped);
    match stopped {
        Some((at, left)) => cap_reached(home, &at, walker.seen, max_entries, left, report),
        None => report.checked(format!("files: {} entries beneath the home (owner, mode, type)", walker.seen)),
    }
    if let Some(first) = depth_capped.first() {
        let p = sh(first);
        report.add(Finding {
            severity: Severity::High,
            check: "cap",
            subject: first.display().to_string(),
            what: format!(
                "the audit stopped at the depth cap: {} director{} more than {MAX_DEPTH} levels deep beneath the \
                 home {} not audited (the first is this one)",
                depth_capped.len(),
                if depth_capped.len() == 1 { "y" } else { "ies" },
                if depth_capped.len() == 1 { "is" } else { "are" },
            ),
            why: "what lies below was not examined (a readable secret, a planted link, a foreign file would not be \
                  reported), so the doctor cannot call this home clean; gw's own layout is never this deep"
                .into(),
            fix: format!(
                "find {p} -xdev \\( -type l -o ! -type f ! -type d -o ! -user \"$(id -u)\" -o -perm /077 \\) -ls   # \
                 audits what is below by hand; gw never nests this deep: move or remove it"
            ),
            threat: "CLI-4",
        });
    }
    profiles(home, only, policy, report);
}

/// The home does not exist yet: say so, and audit where it would be created.
fn missing_home(home: &Path, policy: &Policy, report: &mut Report) {
    report.add(Finding {
        severity: Severity::Info,
        check: "home",
        subject: home.display().to_string(),
        what: "the gw home does not exist yet".into(),
        why: "nothing is stored here yet; the first profile creates it (mode 0700)".into(),
        fix: "gw profile init default".into(),
        threat: "CRED-8",
    });
    let mut base = home.to_path_buf();
    let mut first_missing = home.to_path_buf();
    while !base.exists() {
        match base.parent() {
            Some(p) => {
                first_missing = base.clone();
                base = p.to_path_buf();
            }
            None => return,
        }
    }
    match audit_chain(&base, policy) {
        Ok(mut steps) => {
            // The existing directory is audited as a root would be, but it is
            // not the home: gw would create the home beneath it, so a shared
            // sticky directory (/tmp) is refused for being writable; the fix
            // is a private directory of your own in it, not a chmod of it.
            let mut n = 0;
            if let Some(last) = steps.last_mut()
                && last.is_root
                && let Some(problem) = last.problem.take()
            {
                n += 1;
                report.add(Finding {
                    severity: Severity::Medium,
                    check: "chain",
                    subject: last.path.display().to_string(),
                    what: format!(
                        "the home would be created in {}, which is {problem} (owner uid {}, mode {:04o}): gw \
                         refuses to create it there",
                        last.path.display(),
                        last.uid,
                        last.mode
                    ),
                    why: "another user who can write to the directory a home is created in can plant or swap it".into(),
                    fix: format!(
                        "mkdir -m 700 {}   # a private directory of your own; gw creates the rest",
                        sh(&first_missing)
                    ),
                    threat: "FS-5",
                });
            }
            n += chain_findings(&steps, policy, Severity::Medium, report);
            report.checked(format!(
                "chain: {} directories from / to {} (where the home would be created){}",
                steps.len(),
                base.display(),
                if n == 0 {
                    ", all trusted".to_owned()
                } else {
                    format!(", {n} not trusted: gw would refuse to create the home there")
                }
            ));
        }
        Err(e) => report.checked(format!("chain: {} could not be audited: {e}", base.display())),
    }
}

/// One finding per untrusted step of a chain; returns how many.
fn chain_findings(steps: &[ChainStep], policy: &Policy, severity: Severity, report: &mut Report) -> usize {
    let me = policy.uid();
    let mut n = 0;
    for step in steps {
        let Some(problem) = &step.problem else { continue };
        n += 1;
        let p = sh(&step.path);
        let (fix, threat) = if let Some(target) = &step.link_target {
            (
                format!(
                    "export GW_HOME=\"$(realpath -e {})\"   # use the real path; the link (-> {}) is not trusted",
                    sh(&step.path),
                    target.display()
                ),
                "FS-2",
            )
        } else if step.uid != 0 && step.uid != me {
            (format!("sudo chown {me} {p}   # or move the home beneath directories you or root own"), "FS-5")
        } else if step.is_root {
            (format!("chmod 700 {p}"), "FS-5")
        } else {
            (format!("chmod go-w {p}"), "FS-5")
        };
        report.add(Finding {
            severity,
            check: "chain",
            subject: step.path.display().to_string(),
            what: format!(
                "{} {} (owner uid {}, mode {:04o})",
                if step.is_root { "the home directory is" } else { "a directory on the way to the home is" },
                problem,
                step.uid,
                step.mode
            ),
            why: "whoever else can write to a directory on the way can swap the entries beneath it (the home, a \
                  profile, a secret) between gw's check and its use"
                .into(),
            fix,
            threat,
        });
    }
    n
}

struct Walker<'a> {
    root: &'a Root,
    me: u32,
    now: SystemTime,
    seen: usize,
    only: Option<&'a str>,
    max_entries: usize,
    /// Directories not descended into because of [`MAX_DEPTH`].
    depth_capped: Vec<PathBuf>,
}

impl Walker<'_> {
    /// The profiles to audit: the directories of `profiles/` (only `only`,
    /// if given).
    fn profile_dirs(&self) -> Vec<PathBuf> {
        let Ok(entries) = self.root.list("profiles") else { return Vec::new() };
        entries
            .into_iter()
            .filter(|e| e.kind == FileKind::Dir && self.only.is_none_or(|o| e.name == o))
            .map(|e| Path::new("profiles").join(e.name))
            .collect()
    }

    /// Phase 1: the documents gw reads in every profile, whatever the cap
    /// (there are four per profile).
    fn documents(&mut self, report: &mut Report) {
        for dir in self.profile_dirs() {
            for name in PROFILE_DOCUMENTS {
                self.entry(&dir.join(name), name, Place::Profile, report);
            }
        }
    }

    /// Phase 2: every other entry, breadth first, until the entry cap.
    /// Returns where the cap was reached and how many directories were left
    /// unlisted.
    fn walk(&mut self, report: &mut Report) -> Option<(PathBuf, usize)> {
        let mut queue = std::collections::VecDeque::from([(PathBuf::from("."), Place::Home, 0usize)]);
        while let Some((rel, place, depth)) = queue.pop_front() {
            let entries = match self.root.list(&rel) {
                Ok(e) => e,
                Err(e) => {
                    report.checked(format!("files: {} not listed: {e}", self.root.path().join(&rel).display()));
                    continue;
                }
            };
            for entry in entries {
                let name_str = entry.name.to_string_lossy().into_owned();
                if place == Place::Profiles
                    && let Some(only) = self.only
                    && name_str != only
                {
                    continue;
                }
                if place == Place::Profile && PROFILE_DOCUMENTS.contains(&name_str.as_str()) {
                    continue; // audited in phase 1
                }
                if self.seen >= self.max_entries {
                    return Some((rel, queue.len()));
                }
                let child = if rel == Path::new(".") { PathBuf::from(&entry.name) } else { rel.join(&entry.name) };
                if self.entry(&child, &name_str, place, report) == Some(FileKind::Dir) {
                    let sub = match (place, name_str.as_str()) {
                        (Place::Home, "profiles") => Place::Profiles,
                        (Place::Profiles, _) => Place::Profile,
                        _ => Place::Other,
                    };
                    if depth + 1 < MAX_DEPTH {
                        queue.push_back((child, sub, depth + 1));
                    } else {
                        self.depth_capped.push(self.root.path().join(&child));
                    }
                }
            }
        }
        None
    }

    /// Audits one entry (`lstat`, never followed); returns its kind.
    fn entry(&mut self, child: &Path, name: &str, place: Place, report: &mut Report) -> Option<FileKind> {
        let meta = match self.root.metadata(child) {
            Ok(m) => m,
            Err(e) if e.kind() == gw_anchor::ErrorKind::NotFound => return None,
            Err(e) => {
                self.seen += 1;
                report.checked(format!("files: {} not examined: {e}", self.root.path().join(child).display()));
                return None;
            }
        };
        self.seen += 1;
        let full = self.root.path().join(child);
        match meta.kind {
            FileKind::Dir => self.directory(&full, &meta, place, name, report),
            FileKind::File => self.file(&full, &meta, place, name, report),
            FileKind::Symlink => self.symlink(child, &full, place, report),
            other => self.special(&full, other, place, name, report),
        }
        Some(meta.kind)
    }

    fn directory(&self, full: &Path, meta: &Metadata, place: Place, name: &str, report: &mut Report) {
        let p = sh(full);
        if meta.uid != self.me {
            report.add(Finding {
                severity: Severity::High,
                check: "file",
                subject: full.display().to_string(),
                what: format!("directory owned by uid {}, not by you (uid {})", meta.uid, self.me),
                why: "its owner can add, replace or remove anything in it: documents, secrets, lease records".into(),
                fix: format!("sudo chown -R {} {p} && chmod 700 {p}", self.me),
                threat: "FS-5",
            });
        } else if meta.mode & 0o022 != 0 {
            report.add(Finding {
                severity: Severity::High,
                check: "file",
                subject: full.display().to_string(),
                what: format!("directory writable by group/others (mode {:04o})", meta.mode),
                why: "another user can swap its entries (plant a symlink at a secret's name, replace a document); gw \
                      refuses to use it"
                    .into(),
                fix: format!("chmod 700 {p}"),
                threat: "FS-5",
            });
        } else if meta.mode & 0o055 != 0 && matches!(place, Place::Home | Place::Profiles) {
            report.add(Finding {
                severity: Severity::Low,
                check: "file",
                subject: full.display().to_string(),
                what: format!("directory readable by group/others (mode {:04o})", meta.mode),
                why: "others can see the names and sizes of what it holds (the files themselves stay 0600); gw makes \
                      these directories 0700"
                    .into(),
                fix: format!("chmod 700 {p}"),
                threat: "FS-5",
            });
        }
        if place == Place::Profiles && check_profile_name(name).is_err() {
            report.checked(format!("files: {} is not a profile name; gw ignores it", full.display()));
        }
    }

    fn file(&self, full: &Path, meta: &Metadata, place: Place, name: &str, report: &mut Report) {
        let p = sh(full);
        let subject = full.display().to_string();
        if is_temp_name(std::ffi::OsStr::new(name)) {
            let age = self.now.duration_since(meta.modified).unwrap_or(Duration::ZERO);
            let recent = age < TEMP_GRACE;
            // In a profile directory, beside root.key and credentials.json,
            // a leftover may be a copy of a secret that outlives its
            // rotation (FS-11): above info even while recent.
            let beside_secret = place == Place::Profile;
            let severity = match (beside_secret, recent) {
                (true, true) => Severity::Low,
                (true, false) => Severity::Medium,
                (false, true) => Severity::Info,
                (false, false) => Severity::Low,
            };
            report.add(Finding {
                severity,
                check: "temp",
                subject,
                what: format!(
                    "temporary file of an atomic write, {} s old (mode {:04o}){}{}",
                    age.as_secs(),
                    meta.mode,
                    if recent { " (a write may still be in progress)" } else { " (left by an interrupted write)" },
                    if beside_secret { ", beside the profile's secrets" } else { "" }
                ),
                why: if beside_secret {
                    "the write it belonged to never completed (the target was left whole, FS-3); written here, it may \
                     hold a copy of a secret (the root secret, the credentials) that survives rotating the original. \
                     The next gw write in this directory removes it once it is stale (FS-11)"
                        .into()
                } else {
                    "the write it belonged to never completed (the target was left whole, FS-3); the temp file may \
                     hold a copy of what was being written and takes space. gw ignores it, and the next gw write in \
                     this directory removes it once it is stale (FS-11)"
                        .into()
                },
                fix: format!("rm -- {p}"),
                threat: if beside_secret { "FS-11" } else { "FS-3" },
            });
            return;
        }
        let secret = place == Place::Profile && [ROOT_KEY_FILE, STORE_FILE, DEVICE_KEY_FILE].contains(&name);
        // config.json and the gateway's pidfile hold no secret (0644 is fine).
        let known_doc = place == Place::Profile && (secret || name == CONFIG_FILE || name == crate::owner::PIDFILE);
        // A secret must be the caller's own (gw-token refuses anything else);
        // other documents may also be root's.
        if meta.uid != self.me && (secret || meta.uid != 0) {
            report.add(Finding {
                severity: Severity::High,
                check: "file",
                subject,
                what: format!("owned by uid {}, not by you (uid {})", meta.uid, self.me),
                why: format!(
                    "its owner can rewrite it{}; gw refuses to load it",
                    if secret { " or read it: consider the secret leaked" } else { "" }
                ),
                fix: if secret {
                    format!("sudo chown {} {p} && chmod 600 {p}   # then rotate the secret", self.me)
                } else {
                    format!("sudo chown {} {p} && chmod go-w {p}", self.me)
                },
                threat: "FS-5",
            });
            return;
        }
        if secret && meta.mode & 0o077 != 0 {
            report.add(Finding {
                severity: Severity::High,
                check: "file",
                subject,
                what: format!("secret file accessible by group/others (mode {:04o}, want 0600)", meta.mode),
                why: if name == ROOT_KEY_FILE {
                    "anyone who could read the root secret can mint every token of this profile; gw refuses to load \
                     it. After the chmod, consider it leaked and rotate it (tokens derived from it stop working)"
                        .into()
                } else if name == DEVICE_KEY_FILE {
                    "the device key proves this profile's device identity to gateways; anyone who could read it can \
                     connect as this paired device. After the chmod, consider it leaked: remove the device on the \
                     gateway and create a new profile key"
                        .into()
                } else {
                    "the credential store holds gateway tokens; anyone who could read it can impersonate this client. \
                     After the chmod, consider them leaked and have the gateway issue new ones"
                        .into()
                },
                fix: format!("chmod 600 {p}"),
                threat: "FS-4",
            });
        } else if meta.mode & 0o022 != 0 {
            report.add(Finding {
                severity: Severity::High,
                check: "file",
                subject,
                what: format!("writable by group/others (mode {:04o})", meta.mode),
                why: if name == CONFIG_FILE {
                    "another user can change the profile's gateway port, so its tokens would be sent to whatever \
                     listens there; gw refuses to load it"
                        .into()
                } else {
                    "another user can rewrite what gw reads from it; gw refuses to load it".into()
                },
                fix: format!("chmod go-w {p}"),
                threat: "FS-5",
            });
        } else if !known_doc && place == Place::Profile && meta.mode & 0o044 != 0 && !name.starts_with('.') {
            report.add(Finding {
                severity: Severity::Medium,
                check: "file",
                subject,
                what: format!("file readable by group/others in a profile directory (mode {:04o})", meta.mode),
                why: "files a gateway issues into a profile (device tokens, pairing files) are credentials; gw writes \
                      every file of a profile 0600"
                    .into(),
                fix: format!("chmod 600 {p}"),
                threat: "FS-4",
            });
        }
        if secret && meta.nlink > 1 {
            report.add(Finding {
                severity: Severity::Medium,
                check: "file",
                subject: full.display().to_string(),
                what: format!("secret file has {} hard links", meta.nlink),
                why: "another name for the same secret exists, maybe outside the profile, with its own directory's \
                      protection; removing or rotating this one does not remove that one"
                    .into(),
                fix: format!("find / -xdev -samefile {p}   # then remove the other names"),
                threat: "FS-4",
            });
        }
    }

    fn symlink(&self, rel: &Path, full: &Path, place: Place, report: &mut Report) {
        let target = rustix::fs::readlinkat(self.root.as_fd(), rel, Vec::new())
            .map(|t| t.to_string_lossy().into_owned())
            .unwrap_or_else(|_| "?".into());
        report.add(Finding {
            severity: if place == Place::Other { Severity::Medium } else { Severity::High },
            check: "file",
            subject: full.display().to_string(),
            what: format!("symbolic link (-> {target}) where gw keeps documents"),
            why: "a tool that follows it reads or overwrites whatever it points to (a secret written there lands \
                  outside the home); gw refuses it, so whatever should be here is unusable"
                .into(),
            fix: format!("rm -- {}   # removes the link only, never its target", sh(full)),
            threat: "FS-1",
        });
    }

    fn special(&self, full: &Path, kind: FileKind, place: Place, name: &str, report: &mut Report) {
        let known =
            place == Place::Profile && [ROOT_KEY_FILE, STORE_FILE, CONFIG_FILE, DEVICE_KEY_FILE].contains(&name);
        report.add(Finding {
            severity: if known || place == Place::Profiles { Severity::High } else { Severity::Medium },
            check: "file",
            subject: full.display().to_string(),
            what: format!("a {} where gw keeps regular files", kind.as_str()),
            why: "opening it could block (FIFO), talk to another process (socket) or a device; gw refuses it, so \
                  whatever should be here is unusable"
                .into(),
            fix: format!("rm -- {}", sh(full)),
            threat: "FS-1",
        });
    }
}

/// The entry cap was reached while listing `at`: a high finding (CLI-4).
fn cap_reached(home: &Path, at: &Path, seen: usize, max: usize, left: usize, report: &mut Report) {
    let full = if at == Path::new(".") { home.to_path_buf() } else { home.join(at) };
    report.checked(format!("files: stopped after {seen} entries (--max-entries {max}); the rest is not audited"));
    report.add(Finding {
        severity: Severity::High,
        check: "cap",
        subject: full.display().to_string(),
        what: format!(
            "the audit stopped at the entry cap of {max} entries while listing this directory; its remaining \
             entries{} were not audited",
            if left > 0 {
                format!(" and {left} more director{}", if left == 1 { "y" } else { "ies" })
            } else {
                String::new()
            }
        ),
        why:
            "what was not examined may hold a problem (a readable secret, a planted link) that would go unreported, so \
              the doctor cannot call this home clean. The secrets, configs and documents of every profile were audited \
              first; the rest is usually debris (lease records, temp files)"
                .into(),
        fix: format!(
            "find {} -xdev | wc -l   # then: gw doctor --max-entries N, N above that count; or remove the debris here \
             (for a lease registry: gw lease prune DIR)",
            sh(home)
        ),
        threat: "CLI-4",
    });
}

/// Per profile: who holds its gateway's port, its leases, and where its
/// secrets are stored (for the keyring check).
fn profiles(home_path: &Path, only: Option<&str>, policy: &Policy, report: &mut Report) {
    let home = match Home::open(home_path, policy) {
        Ok(h) => h,
        Err(e) => {
            report.checked(format!("profiles: not examined: {e}"));
            return;
        }
    };
    let names = match home.profiles() {
        Ok(n) => n,
        Err(e) => {
            report.checked(format!("profiles: not listed: {e}"));
            return;
        }
    };
    if let Some(only) = only
        && !names.iter().any(|n| n == only)
    {
        report.add(Finding {
            severity: Severity::Info,
            check: "home",
            subject: format!("profile {only}"),
            what: format!("profile `{only}` does not exist in this home"),
            why: "nothing to audit for it".into(),
            fix: format!("gw --profile {only} profile init {only}"),
            threat: "CRED-8",
        });
    }
    for name in names.iter().filter(|n| only.is_none_or(|o| o == n.as_str())) {
        report.profiles.push(name.clone());
        let profile = match home.profile(name) {
            Ok(p) => p,
            Err(e) => {
                report.checked(format!("profile {name}: not opened ({}); see the findings above", e.message()));
                continue;
            }
        };
        match profile.config() {
            Ok(c) => super::ports::check(name, c.port, profile.root(), report),
            Err(e) => {
                report.checked(format!("profile {name}: config not loaded ({}); its port is not checked", e.message()))
            }
        }
        super::leases::check(name, profile.root(), report);
        let store = profile.store();
        let mut stored = StoredIn { profile: name.clone(), ..StoredIn::default() };
        match store.list() {
            Ok(list) => {
                for summary in list {
                    let Ok(key) = GatewayKey::parse(&summary.gateway) else { continue };
                    match store.locations(&key) {
                        Ok(locs) => {
                            for (_, loc) in locs {
                                if loc == "file" {
                                    stored.inline += 1;
                                } else {
                                    *stored.keyring_refs.entry(loc).or_default() += 1;
                                }
                            }
                        }
                        Err(e) => report.checked(format!("profile {name}: credentials not read ({})", e.message())),
                    }
                }
            }
            Err(e) => report.checked(format!("profile {name}: credentials not read ({})", e.message())),
        }
        report.stored.push(stored);
    }
}
