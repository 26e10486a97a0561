//! What a directory must look like to be trusted: the ownership and mode
//! rules, and the choice of resolver.

use std::path::Path;

use crate::error::{Error, ErrorKind};

/// How paths beneath a root are resolved. Both never follow a symlink.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Resolver {
    /// `openat2` when the kernel offers it, else the walk (decided once per
    /// process, on the first `ENOSYS`/`EPERM`).
    #[default]
    Auto,
    /// Linux `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS |
    /// RESOLVE_NO_MAGICLINKS)` only; fails where the kernel refuses it.
    Openat2,
    /// A component-by-component `openat(O_NOFOLLOW | O_DIRECTORY)` walk,
    /// intermediates opened `O_PATH` on Linux. On other Unixes, where
    /// `O_PATH` does not exist, this is [`Resolver::Portable`].
    Walk,
    /// The portable backend, what macOS and other Unixes run, selectable on
    /// Linux so every line of it is tested there: the same walk with
    /// intermediates opened `O_RDONLY | O_DIRECTORY | O_NOFOLLOW` (no
    /// `O_PATH`: read permission is needed on the way down), named exclusive
    /// temporaries only (no `O_TMPFILE`, no `AT_EMPTY_PATH`, no
    /// `/proc/self/fd`), root chains walked without `O_PATH` either, and
    /// durability through `F_FULLFSYNC` on Apple platforms.
    Portable,
}

impl Resolver {
    /// The backend this resolver choice runs on this platform: on Linux
    /// itself; elsewhere (and on Linux with the test-only `force-portable`
    /// feature) `Auto` and `Walk` are [`Resolver::Portable`] and `Openat2`
    /// stays `Openat2` (refused off Linux, never replaced).
    pub fn effective(self) -> Resolver {
        if crate::sys::LINUX && !cfg!(feature = "force-portable") {
            return self;
        }
        match self {
            Resolver::Auto | Resolver::Walk | Resolver::Portable => Resolver::Portable,
            Resolver::Openat2 => Resolver::Openat2,
        }
    }

    /// `true` when the portable backend is in use (see [`Resolver::Portable`]).
    pub fn is_portable(self) -> bool {
        self.effective() == Resolver::Portable
    }
}

impl std::str::FromStr for Resolver {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "auto" => Ok(Self::Auto),
            "openat2" => Ok(Self::Openat2),
            "walk" => Ok(Self::Walk),
            "portable" => Ok(Self::Portable),
            other => Err(format!("unknown resolver `{other}` (expected auto, openat2, walk or portable)")),
        }
    }
}

/// The rules a [`Root`](crate::Root) is opened and used under.
///
/// - Every directory on the way to the root must be owned by root or the
///   caller, and not writable by group/other unless the sticky bit is set
///   (so `/tmp` is a fine ancestor).
/// - A step from a directory owned by uid `a` to one owned by uid `b` is
///   unsafe when `a != 0 && a != b` (systemd's "unsafe transition").
/// - The root itself, and every directory beneath it whose entries gw
///   changes, must be owned by the caller (or by root, if allowed) and not
///   writable by group/other at all.
/// - Root-owned symlinks in root-owned directories are followed on the way
///   *to* the root (`/var/run` -> `/run`); beneath the root, never.
#[derive(Debug, Clone)]
pub struct Policy {
    uid: u32,
    allow_root_owned: bool,
    resolver: Resolver,
}

impl Default for Policy {
    fn default() -> Self {
        Self::new()
    }
}

impl Policy {
    /// The default policy for the calling process (its effective uid).
    pub fn new() -> Self {
        Self { uid: rustix::process::geteuid().as_raw(), allow_root_owned: false, resolver: Resolver::Auto }
    }

    /// Accept a root (and directories beneath it) owned by uid 0 as well as
    /// by the caller.
    pub fn allow_root_owned(mut self, allow: bool) -> Self {
        self.allow_root_owned = allow;
        self
    }

    /// Choose the resolver (tests run every case on both).
    pub fn resolver(mut self, resolver: Resolver) -> Self {
        self.resolver = resolver;
        self
    }

    /// The resolver in use.
    pub fn resolver_kind(&self) -> Resolver {
        self.resolver
    }

    /// The uid directories must belong to (the caller's effective uid).
    pub fn uid(&self) -> u32 {
        self.uid
    }

    /// Checks a directory on the way to the root. Returns the problem, if any.
    pub(crate) fn ancestor_problem(&self, uid: u32, mode: u32) -> Option<Problem> {
        if uid != 0 && uid != self.uid {
            return Some(Problem::Owner { uid });
        }
        if mode & 0o022 != 0 && mode & 0o1000 == 0 {
            return Some(Problem::Writable { mode });
        }
        None
    }

    /// Checks the root, or a directory beneath it that gw changes.
    pub(crate) fn private_dir_problem(&self, uid: u32, mode: u32) -> Option<Problem> {
        let owner_ok = uid == self.uid || (uid == 0 && self.allow_root_owned);
        if !owner_ok {
            return Some(Problem::Owner { uid });
        }
        if mode & 0o022 != 0 {
            return Some(Problem::Writable { mode });
        }
        None
    }

    /// Checks a file whose content gw trusts (a pidfile, a lease record, a
    /// document, a shared token): owned by the caller or by root, and not
    /// writable by group/other. Returns what is wrong, if anything.
    pub(crate) fn trusted_file_problem(&self, uid: u32, mode: u32) -> Option<String> {
        let foreign = uid != self.uid && uid != 0;
        let writable = mode & 0o022 != 0;
        match (foreign, writable) {
            (false, false) => None,
            (true, false) => Some(format!("is owned by uid {uid}, not by you (uid {}) or root", self.uid)),
            (false, true) => Some("is writable by other users".to_owned()),
            (true, true) => Some(format!(
                "is owned by uid {uid}, not by you (uid {}) or root, and writable by other users",
                self.uid
            )),
        }
    }

    /// Checks the step from a parent owned by `parent_uid` to a child owned by
    /// `child_uid`.
    pub(crate) fn transition_problem(&self, parent_uid: u32, child_uid: u32) -> Option<Problem> {
        (parent_uid != 0 && parent_uid != child_uid).then_some(Problem::Transition { parent_uid, child_uid })
    }
}

/// Why a directory is not trusted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Problem {
    Owner { uid: u32 },
    Writable { mode: u32 },
    Transition { parent_uid: u32, child_uid: u32 },
}

impl Problem {
    /// The refusal for directory `path` with owner `uid` and `mode`.
    #[cold]
    pub(crate) fn to_error(self, op: &'static str, path: &Path, uid: u32, mode: u32, policy: &Policy) -> Error {
        let p = path.display();
        let me = policy.uid;
        let (why, fix) = match self {
            Problem::Owner { uid } => (
                format!("is owned by uid {uid}, not by you (uid {me}) or root"),
                format!("`chown {me} {p}`, or use a directory you own"),
            ),
            Problem::Writable { mode } => {
                let who = match (mode & 0o020 != 0, mode & 0o002 != 0) {
                    (true, true) => "group and others",
                    (true, false) => "its group",
                    _ => "others",
                };
                let why = format!("is writable by {who}, so another user could swap its entries");
                if mode & 0o1000 != 0 {
                    // A shared sticky directory (/tmp): taking its write bits
                    // away would break every other user of it. The fix is a
                    // private directory beneath it.
                    (
                        why,
                        format!(
                            "it is a shared directory (sticky, like /tmp): leave its mode alone and use a private directory beneath it: `mkdir -m 700 {}/NAME`",
                            p.to_string().trim_end_matches('/')
                        ),
                    )
                } else {
                    (why, format!("`chmod go-w {p}`"))
                }
            }
            Problem::Transition { parent_uid, child_uid } => (
                format!(
                    "is owned by uid {child_uid} but sits in a directory owned by uid {parent_uid} \
                     (an unsafe ownership transition: uid {parent_uid} could swap it)"
                ),
                format!("`chown {parent_uid} {p}`, or move it to a directory owned by root or uid {child_uid}"),
            ),
        };
        Error::new(
            ErrorKind::InsecureDirectory,
            op,
            path,
            format!("refused: directory {why} (owner uid {uid}, mode {:04o})", mode & 0o7777),
        )
        .with_fix(fix)
    }

    /// A one-line description for audits.
    pub(crate) fn describe(self) -> String {
        match self {
            Problem::Owner { uid } => format!("owned by uid {uid}, not by the caller or root"),
            Problem::Writable { mode } => format!("writable by group/other (mode {:04o})", mode & 0o7777),
            Problem::Transition { parent_uid, child_uid } => {
                format!("unsafe transition: uid {child_uid} inside a directory of uid {parent_uid}")
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A policy for uid 1000: the suites run as root, where "the caller" and
    /// "root" are one uid and the rules that tell them apart cannot show.
    fn user(allow_root_owned: bool) -> Policy {
        Policy { uid: 1000, allow_root_owned, resolver: Resolver::Auto }
    }

    #[test]
    fn ancestors_may_be_root_s_or_ours_and_shared_only_when_sticky() {
        let p = user(false);
        for (uid, mode, want) in [
            (1000, 0o755, None),
            (0, 0o755, None),
            (0, 0o1777, None),
            (1000, 0o1775, None),
            (0, 0o775, Some(Problem::Writable { mode: 0o775 })),
            (0, 0o757, Some(Problem::Writable { mode: 0o757 })),
            (1000, 0o777, Some(Problem::Writable { mode: 0o777 })),
            (1001, 0o755, Some(Problem::Owner { uid: 1001 })),
            (1001, 0o1777, Some(Problem::Owner { uid: 1001 })),
        ] {
            assert_eq!(p.ancestor_problem(uid, mode), want, "uid {uid} mode {mode:o}");
        }
    }

    #[test]
    fn a_root_is_ours_or_root_s_when_allowed_and_never_shared() {
        for allow in [false, true] {
            let p = user(allow);
            assert_eq!(p.private_dir_problem(1000, 0o700), None);
            assert_eq!(p.private_dir_problem(1000, 0o755), None);
            let root_owned = if allow { None } else { Some(Problem::Owner { uid: 0 }) };
            assert_eq!(p.private_dir_problem(0, 0o700), root_owned, "allow_root_owned {allow}");
            assert_eq!(p.private_dir_problem(1001, 0o700), Some(Problem::Owner { uid: 1001 }));
            for mode in [0o720, 0o702, 0o1777, 0o1770] {
                assert_eq!(p.private_dir_problem(1000, mode), Some(Problem::Writable { mode }), "mode {mode:o}");
            }
        }
        assert!(!Policy::new().allow_root_owned, "root-owned roots are opted into");
    }

    #[test]
    fn trusted_files_are_ours_or_root_s_and_not_writable_by_others() {
        let p = user(false);
        assert_eq!(p.trusted_file_problem(1000, 0o644), None);
        assert_eq!(p.trusted_file_problem(0, 0o600), None);
        assert_eq!(
            p.trusted_file_problem(1001, 0o600).as_deref(),
            Some("is owned by uid 1001, not by you (uid 1000) or root")
        );
        assert_eq!(p.trusted_file_problem(1000, 0o620).as_deref(), Some("is writable by other users"));
        assert_eq!(p.trusted_file_problem(0, 0o602).as_deref(), Some("is writable by other users"));
        assert_eq!(
            p.trusted_file_problem(1001, 0o666).as_deref(),
            Some("is owned by uid 1001, not by you (uid 1000) or root, and writable by other users")
        );
    }

    #[test]
    fn only_a_step_out_of_another_user_s_directory_is_unsafe() {
        let p = user(false);
        assert_eq!(p.transition_problem(0, 1001), None, "root's directories may hold anyone's");
        assert_eq!(p.transition_problem(1001, 1001), None);
        assert_eq!(
            p.transition_problem(1001, 0),
            Some(Problem::Transition { parent_uid: 1001, child_uid: 0 }),
            "uid 1001 could swap root's directory for its own"
        );
        assert_eq!(p.transition_problem(1000, 1001), Some(Problem::Transition { parent_uid: 1000, child_uid: 1001 }));
    }

    #[test]
    fn each_problem_says_who_could_swap_entries_and_how_to_fix_it() {
        let p = user(false);
        let dir = Path::new("/srv/app/");
        let said = |problem: Problem, uid: u32, mode: u32| {
            let e = problem.to_error("open root", dir, uid, mode, &p);
            assert_eq!(e.kind(), ErrorKind::InsecureDirectory);
            (e.to_string(), e.fix().unwrap_or_default().to_owned())
        };
        for (mode, who) in [(0o775, "its group"), (0o757, "others"), (0o777, "group and others")] {
            let (text, fix) = said(Problem::Writable { mode }, 1000, mode);
            let want = format!(
                "is writable by {who}, so another user could swap its entries (owner uid 1000, mode 0{mode:o})"
            );
            assert!(text.contains(&want), "{text}");
            assert_eq!(fix, "`chmod go-w /srv/app/`");
        }
        let (text, fix) = said(Problem::Writable { mode: 0o1777 }, 0, 0o1777);
        assert!(text.contains("writable by group and others") && text.contains("mode 1777"), "{text}");
        assert!(fix.contains("leave its mode alone") && fix.ends_with("`mkdir -m 700 /srv/app/NAME`"), "{fix}");
        let (text, fix) = said(Problem::Owner { uid: 1001 }, 1001, 0o700);
        assert!(text.contains("is owned by uid 1001, not by you (uid 1000) or root"), "{text}");
        assert_eq!(fix, "`chown 1000 /srv/app/`, or use a directory you own");
        let (text, fix) = said(Problem::Transition { parent_uid: 1001, child_uid: 1000 }, 1000, 0o700);
        assert!(text.contains("sits in a directory owned by uid 1001"), "{text}");
        assert_eq!(fix, "`chown 1001 /srv/app/`, or move it to a directory owned by root or uid 1000");
    }

    #[test]
    fn the_policy_is_the_caller_s_and_takes_its_choices() {
        let p = Policy::new();
        assert_eq!(p.uid(), rustix::process::geteuid().as_raw());
        assert_eq!(p.resolver_kind(), Resolver::Auto);
        let p = p.allow_root_owned(true).resolver(Resolver::Walk);
        assert!(p.allow_root_owned);
        assert_eq!(p.resolver_kind(), Resolver::Walk);
    }

    #[test]
    fn resolvers_are_named_and_run_on_their_own_backend() {
        for (name, r) in [
            ("auto", Resolver::Auto),
            ("openat2", Resolver::Openat2),
            ("walk", Resolver::Walk),
            ("portable", Resolver::Portable),
        ] {
            assert_eq!(name.parse::<Resolver>(), Ok(r));
        }
        assert_eq!(
            "Walk".parse::<Resolver>(),
            Err("unknown resolver `Walk` (expected auto, openat2, walk or portable)".to_owned())
        );
        // On Linux each resolver runs as itself; the portable backend (what
        // other platforms, and Linux under the test-only feature, run) takes
        // every resolver but openat2, which is never replaced.
        let portable_build = !crate::sys::LINUX || cfg!(feature = "force-portable");
        for r in [Resolver::Auto, Resolver::Walk, Resolver::Portable, Resolver::Openat2] {
            let want = if portable_build && r != Resolver::Openat2 { Resolver::Portable } else { r };
            assert_eq!(r.effective(), want, "{r:?}");
            assert_eq!(r.is_portable(), want == Resolver::Portable, "{r:?}");
        }
    }
}
