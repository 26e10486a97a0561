//! Resolution of a relative path beneath an open directory, following no
//! symlink anywhere.
//!
//! Two resolvers, always both tested:
//! - **openat2**: one `openat2(2)` call with `RESOLVE_BENEATH |
//!   RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS`; `EAGAIN` (a concurrent
//!   rename was seen) is retried a bounded number of times.
//! - **walk**: `openat(2)` one component at a time with `O_NOFOLLOW |
//!   O_DIRECTORY` (intermediates as `O_PATH`, so only search permission is
//!   needed, as with openat2). Used when openat2 is missing or refused
//!   (`ENOSYS`, or `EPERM` under a seccomp filter).
//! - **portable**: the same walk with intermediates opened `O_RDONLY`, no
//!   `O_PATH`, and `O_SEARCH` for a search-only directory (what macOS and
//!   other Unixes run; selectable on Linux, where the suites run on it too;
//!   see `sys`).
//!
//! Both return the same error kinds for the same trees: a symlink anywhere is
//! [`ErrorKind::Symlink`](crate::ErrorKind::Symlink), a non-directory in the
//! middle is `NotADirectory`, a missing component is `NotFound`.
//!
//! # References
//! `openat2(2)`, `openat(2)`, `path_resolution(7)`.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
#[cfg(any(target_os = "linux", target_os = "android"))]
use std::os::unix::ffi::OsStringExt;
use std::path::Path;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
#[cfg(any(target_os = "linux", target_os = "android"))]
use rustix::fs::ResolveFlags;
use rustix::fs::{AtFlags, FileType, Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::policy::Resolver;
use crate::sync::{AtomicU8, Ordering};
use crate::sys;

/// How many times an `EAGAIN` from openat2 is retried before giving up.
#[cfg(any(target_os = "linux", target_os = "android"))]
const OPENAT2_RETRIES: usize = 32;

#[cfg(any(target_os = "linux", target_os = "android"))]
const RESOLVE: ResolveFlags = ResolveFlags::BENEATH.union(ResolveFlags::NO_SYMLINKS).union(ResolveFlags::NO_MAGICLINKS);

/// Whether this process may use openat2, learnt on first use: shared by every
/// `Root` in the process, so it is the one piece of in-process shared state
/// (checked with loom, see `tests` below).
pub(crate) struct Openat2Support {
    state: AtomicU8,
}

const UNKNOWN: u8 = 0;
const AVAILABLE: u8 = 1;
const UNAVAILABLE: u8 = 2;

impl Openat2Support {
    #[cfg(not(loom))]
    const fn new() -> Self {
        Self { state: AtomicU8::new(UNKNOWN) }
    }

    #[cfg(loom)]
    fn new() -> Self {
        Self { state: AtomicU8::new(UNKNOWN) }
    }

    /// `false` once openat2 has been refused in this process.
    fn may_try(&self) -> bool {
        self.state.load(Ordering::Relaxed) != UNAVAILABLE
    }

    /// Records what a call to openat2 taught. "Unavailable" is sticky: once a
    /// call was refused, every later `Auto` resolution uses the walk.
    fn learn(&self, refused: bool) {
        if refused {
            // A swap, not a store: both are fine under the C++ model (a CAS
            // that read UNKNOWN is ordered before this write), but loom orders
            // a plain store and a concurrent CAS only partially and would let
            // this thread read the CAS's AVAILABLE back; read-modify-writes
            // are totally ordered in loom too.
            let _ = self.state.swap(UNAVAILABLE, Ordering::Relaxed);
        } else {
            let _ = self.state.compare_exchange(UNKNOWN, AVAILABLE, Ordering::Relaxed, Ordering::Relaxed);
        }
    }

    #[cfg(any(test, loom))]
    fn get(&self) -> u8 {
        self.state.load(Ordering::Relaxed)
    }
}

#[cfg(not(loom))]
static OPENAT2: Openat2Support = Openat2Support::new();

#[cfg(loom)]
loom::lazy_static! {
    static ref OPENAT2: Openat2Support = Openat2Support::new();
}

/// A directory to operate in: the root's own fd, or one opened beneath it.
#[derive(Debug)]
pub(crate) enum DirFd<'a> {
    Borrowed(BorrowedFd<'a>),
    Owned(OwnedFd),
}

impl AsFd for DirFd<'_> {
    fn as_fd(&self) -> BorrowedFd<'_> {
        match self {
            DirFd::Borrowed(fd) => *fd,
            DirFd::Owned(fd) => fd.as_fd(),
        }
    }
}

/// Opens `comps` beneath `dir` with `flags` (to which `O_NOFOLLOW` and
/// `O_CLOEXEC` are always added), following no symlink.
///
/// `shown` is the full path used in errors.
pub(crate) fn open_beneath(
    resolver: Resolver,
    op: &'static str,
    shown: &Path,
    dir: BorrowedFd<'_>,
    comps: &[OsString],
    flags: OFlags,
    mode: Mode,
) -> Result<OwnedFd> {
    let flags = flags | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    match resolver.effective() {
        Resolver::Walk => walk(op, shown, dir, comps, flags, mode, false),
        Resolver::Portable => walk(op, shown, dir, comps, flags, mode, true),
        Resolver::Openat2 => openat2(op, shown, dir, comps, flags, mode).map_err(|(e, _)| e),
        Resolver::Auto => {
            if !OPENAT2.may_try() {
                return walk(op, shown, dir, comps, flags, mode, false);
            }
            match openat2(op, shown, dir, comps, flags, mode) {
                Err((_, true)) => {
                    OPENAT2.learn(true);
                    walk(op, shown, dir, comps, flags, mode, false)
                }
                other => {
                    OPENAT2.learn(false);
                    other.map_err(|(e, _)| e)
                }
            }
        }
    }
}

/// Opens the directory that contains the last component of `comps`, for
/// changing entries in it, and returns it with that last component.
pub(crate) fn open_parent<'a, 'r>(
    resolver: Resolver,
    op: &'static str,
    shown: &Path,
    root: BorrowedFd<'r>,
    comps: &'a [OsString],
) -> Result<(DirFd<'r>, &'a OsStr)> {
    let (last, parent) = comps.split_last().expect("file paths have a last component");
    if parent.is_empty() {
        return Ok((DirFd::Borrowed(root), last.as_os_str()));
    }
    let fd = open_beneath(resolver, op, shown, root, parent, OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty())?;
    Ok((DirFd::Owned(fd), last.as_os_str()))
}

/// The openat2 resolver. The `bool` in the error is `true` when the kernel
/// refused the system call itself (`ENOSYS`, `EPERM`): the caller may fall
/// back to the walk.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn openat2(
    op: &'static str,
    shown: &Path,
    dir: BorrowedFd<'_>,
    comps: &[OsString],
    flags: OFlags,
    mode: Mode,
) -> std::result::Result<OwnedFd, (Error, bool)> {
    let joined = join(comps);
    let mut tries = 0;
    loop {
        match rustix::fs::openat2(dir, joined.as_os_str(), flags, mode, RESOLVE) {
            Ok(fd) => return Ok(fd),
            Err(Errno::AGAIN) if tries < OPENAT2_RETRIES => tries += 1,
            Err(e @ (Errno::NOSYS | Errno::PERM)) => return Err((Error::from_errno(op, shown, e), true)),
            // With `O_DIRECTORY`, a symlink at the last component gives
            // `ENOTDIR`, not `ELOOP`, and openat2 does not say which component
            // failed: classify by walking (without following) to it.
            Err(Errno::NOTDIR) => {
                // The classifying walk opens with `O_PATH` (keeping only
                // `O_DIRECTORY`), so it can have no side effect such as a create.
                let probe = OFlags::PATH | OFlags::NOFOLLOW | OFlags::CLOEXEC | (flags & OFlags::DIRECTORY);
                let err = match walk(op, shown, dir, comps, probe, Mode::empty(), false) {
                    Err(e) => e,
                    // The walk found directories all the way: the tree
                    // changed between the two resolutions (a swap, FS-2).
                    Ok(_) => Error::swapped(op, shown),
                };
                return Err((err, false));
            }
            Err(e) => return Err((Error::from_errno(op, shown, e), false)),
        }
    }
}

/// openat2 elsewhere than Linux: refused with a clear error, never replaced
/// by another resolver behind the caller's back.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn openat2(
    op: &'static str,
    shown: &Path,
    _dir: BorrowedFd<'_>,
    _comps: &[OsString],
    _flags: OFlags,
    _mode: Mode,
) -> std::result::Result<OwnedFd, (Error, bool)> {
    let err = Error::new(
        crate::error::ErrorKind::Io,
        op,
        shown,
        "the openat2 resolver exists only on Linux; use the portable resolver (`auto`, `walk` or `portable`)",
    );
    Err((err, false))
}

/// The walk resolver; `portable` opens intermediates without `O_PATH`.
fn walk(
    op: &'static str,
    shown: &Path,
    dir: BorrowedFd<'_>,
    comps: &[OsString],
    flags: OFlags,
    mode: Mode,
    portable: bool,
) -> Result<OwnedFd> {
    // Defence in depth: `RelPath` never yields these, but the walk must not
    // depend on it (openat2 has RESOLVE_BENEATH; the walk has this check).
    if let Some(bad) = comps.iter().find(|c| c.is_empty() || *c == "." || *c == ".." || c.as_bytes().contains(&b'/')) {
        return Err(Error::escape(op, shown, &format!("`{}` is not a plain name", bad.to_string_lossy())));
    }
    let Some((last, middle)) = comps.split_last() else {
        return rustix::fs::openat(dir, ".", flags, mode).map_err(|e| Error::from_errno(op, shown, e));
    };
    let mut held: Option<OwnedFd> = None;
    for comp in middle {
        let cur = held.as_ref().map_or(dir, |fd| fd.as_fd());
        let next =
            sys::open_intermediate(cur, comp.as_os_str(), portable).map_err(|e| classify(op, shown, cur, comp, e))?;
        held = Some(next);
    }
    let cur = held.as_ref().map_or(dir, |fd| fd.as_fd());
    rustix::fs::openat(cur, last.as_os_str(), flags, mode).map_err(|e| classify(op, shown, cur, last, e))
}

/// Tells a symlink (refused) from a non-directory after `ENOTDIR`/`ELOOP`.
///
/// A no-follow directory open fails with `ENOTDIR` on a symlink or another
/// non-directory; if the entry is a directory when looked at again, it was
/// swapped in between (a race, THREATS FS-2): refused, never reported as a
/// plain "not a directory".
fn classify(op: &'static str, shown: &Path, dir: BorrowedFd<'_>, name: &OsStr, e: Errno) -> Error {
    if matches!(e, Errno::NOTDIR | Errno::LOOP)
        && let Ok(st) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
    {
        match FileType::from_raw_mode(st.st_mode) {
            FileType::Symlink => return Error::symlink(op, shown),
            FileType::Directory => return Error::swapped(op, shown),
            _ => {}
        }
    }
    Error::from_errno(op, shown, e)
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn join(comps: &[OsString]) -> OsString {
    let mut out = Vec::with_capacity(comps.iter().map(|c| c.len() + 1).sum());
    for (i, c) in comps.iter().enumerate() {
        if i > 0 {
            out.push(b'/');
        }
        out.extend_from_slice(c.as_bytes());
    }
    if out.is_empty() {
        out.push(b'.');
    }
    OsString::from_vec(out)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn unavailable_is_sticky() {
        let s = Openat2Support::new();
        assert_eq!(s.get(), UNKNOWN);
        s.learn(false);
        assert_eq!(s.get(), AVAILABLE);
        s.learn(true);
        assert_eq!(s.get(), UNAVAILABLE);
        s.learn(false);
        assert_eq!(s.get(), UNAVAILABLE);
        assert!(!s.may_try());
        assert!(Openat2Support::new().may_try(), "openat2 is tried until refused");
    }

    /// The walk's own check, behind `RelPath`'s: whoever calls it with a
    /// component that is not a plain name gets an escape refusal naming it,
    /// with either kind of walk.
    #[test]
    fn the_walk_takes_only_plain_names() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("a")).unwrap();
        let fd = rustix::fs::open(dir.path(), OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        let flags = OFlags::RDONLY | OFlags::DIRECTORY;
        for bad in ["", ".", "..", "a/..", "/a"] {
            for portable in [false, true] {
                let comps = [OsString::from("a"), OsString::from(bad)];
                let e = walk("t", Path::new("shown"), fd.as_fd(), &comps, flags, Mode::empty(), portable).unwrap_err();
                assert_eq!(e.kind(), crate::ErrorKind::Escape, "{bad:?}: {e}");
                assert!(e.to_string().contains(&format!("`{bad}` is not a plain name")), "{e}");
            }
        }
        let comps = [OsString::from("a")];
        walk("t", Path::new("shown"), fd.as_fd(), &comps, flags, Mode::empty(), false).expect("a plain name");
    }
}

/// Loom models of the only in-process shared state: the openat2 support flag.
/// Run with `RUSTFLAGS="--cfg loom" cargo test --release -p gw-anchor --lib loom`.
#[cfg(all(test, loom))]
mod loom_tests {
    use super::*;
    use loom::thread;
    use std::sync::Arc;

    /// Threads learning concurrently, some seeing a refusal: whatever the
    /// interleaving, the flag ends "unavailable" iff any thread was refused,
    /// and a thread that saw "unavailable" never sees it reset.
    #[test]
    fn loom_openat2_support_converges() {
        for pattern in [[false, false], [false, true], [true, false], [true, true]] {
            loom::model(move || {
                let s = Arc::new(Openat2Support::new());
                let handles: Vec<_> = pattern
                    .iter()
                    .map(|&refused| {
                        let s = Arc::clone(&s);
                        thread::spawn(move || {
                            s.learn(refused);
                            let after = s.get();
                            if refused {
                                assert_eq!(after, UNAVAILABLE);
                            }
                            assert_ne!(after, UNKNOWN);
                        })
                    })
                    .collect();
                for h in handles {
                    h.join().unwrap();
                }
                let expect = if pattern.contains(&true) { UNAVAILABLE } else { AVAILABLE };
                assert_eq!(s.get(), expect);
            });
        }
    }

    /// A reader deciding whether to try openat2 while another thread learns a
    /// refusal: once it has seen "unavailable" it keeps seeing it.
    #[test]
    fn loom_unavailable_never_flips_back() {
        loom::model(|| {
            let s = Arc::new(Openat2Support::new());
            let w = {
                let s = Arc::clone(&s);
                thread::spawn(move || {
                    s.learn(true);
                    s.learn(false);
                })
            };
            let first = s.may_try();
            let second = s.may_try();
            assert!(first || !second, "may_try went from false back to true");
            w.join().unwrap();
            assert!(!s.may_try());
        });
    }
}
