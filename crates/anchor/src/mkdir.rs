//! `mkdir_all`: create a directory and its missing parents beneath a root.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::chain::{self, mode_of};
use crate::error::{Error, ErrorKind, Result};
use crate::policy::Policy;
use crate::resolve;
use crate::root::Root;

impl Root {
    /// Creates the directory `rel` and any missing parents, each with exactly
    /// `mode` (independent of the umask). Existing directories are kept.
    ///
    /// The path is walked one component at a time from the root; each step is
    /// opened without following symlinks, and every directory gw creates an
    /// entry in, and the final one, must be private (owner, mode).
    ///
    /// # Errors
    /// [`ErrorKind::Symlink`](crate::ErrorKind::Symlink) if a component is a
    /// symlink; [`ErrorKind::NotADirectory`](crate::ErrorKind::NotADirectory)
    /// if one is a file; [`ErrorKind::InsecureDirectory`](crate::ErrorKind::InsecureDirectory)
    /// if a directory on the way is not private, or if `mode` is writable by
    /// group/other and a directory would have to be created (nothing is
    /// created); I/O errors.
    pub fn mkdir_all(&self, rel: impl AsRef<Path>, mode: u32) -> Result<()> {
        let rel = self.rel("mkdir", rel.as_ref())?;
        if rel.is_root() {
            return self.check_private("mkdir", &self.path, &self.fd).map(|_| ());
        }
        self.mkdir_components("mkdir", rel.components(), mode)?;
        Ok(())
    }

    /// Opens the directory at `path` as [`Root::open`] does, creating it
    /// first (and its missing parents, each with exactly `mode`) if it does
    /// not exist.
    ///
    /// Nothing is created through a symlink: the nearest existing ancestor
    /// is reached by the same walk as [`Root::open`] (only root-owned links
    /// in root-owned directories are followed) and must pass the ancestor
    /// rule (owned by root or the caller, group/other writable only if
    /// sticky, like `/tmp`); the first missing directory is created in that
    /// ancestor's open descriptor and opened without following a link, and
    /// the rest beneath it as [`Root::mkdir_all`] creates them. (Not
    /// `std::fs::create_dir_all`, which follows every link on the way.)
    ///
    /// # Errors
    /// As [`Root::open`] — in particular [`ErrorKind::Symlink`] for a link on
    /// the way (nothing is created), [`ErrorKind::InsecureDirectory`] for an
    /// untrusted ancestor, or for a directory someone else planted at the
    /// name; [`ErrorKind::InsecureDirectory`] too if `mode` is writable by
    /// group/other; [`ErrorKind::InvalidPath`] for a `..` among the missing
    /// components; I/O errors.
    ///
    /// # Security
    /// THREATS FS-10 (no directory created through a symlinked parent), FS-5.
    pub fn open_or_create(path: impl AsRef<Path>, mode: u32, policy: &Policy) -> Result<Root> {
        const OP: &str = "create root";
        let path = path.as_ref();
        match Root::open(path, policy) {
            Err(e) if e.kind() == ErrorKind::NotFound => {}
            other => return other,
        }
        if mode & 0o022 != 0 {
            return Err(insecure_mode(OP, path, mode));
        }
        let abs = if path.is_absolute() {
            path.to_path_buf()
        } else {
            let cwd = std::env::current_dir()
                .map_err(|e| Error::new(ErrorKind::Io, OP, path, format!("cannot read the current directory: {e}")))?;
            cwd.join(path)
        };
        // The nearest existing ancestor, and the names missing beneath it.
        let mut base = abs.clone();
        let mut missing: Vec<OsString> = Vec::new();
        let ancestor = loop {
            let (Some(name), Some(parent)) = (base.file_name(), base.parent()) else {
                return Err(Error::invalid_path(OP, &abs, "refused: no existing directory on the way"));
            };
            missing.push(name.to_owned());
            base = parent.to_path_buf();
            match chain::walk_to(OP, &base, policy, false, false) {
                Ok(w) => break w,
                Err(e) if e.kind() == ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        };
        missing.reverse();
        if missing.iter().any(|c| c == "..") {
            return Err(Error::invalid_path(OP, &abs, "refused: `..` after a missing directory"));
        }
        let first = &missing[0];
        let shown = ancestor.path.join(first);
        let raw = crate::sys::mode_from_bits(mode);
        let created = match rustix::fs::mkdirat(&ancestor.fd, first.as_os_str(), raw) {
            Ok(()) => true,
            Err(Errno::EXIST) => false,
            Err(e) => return Err(Error::from_errno(OP, &shown, e)),
        };
        // No link followed: one planted at the name is refused (ELOOP).
        let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&ancestor.fd, first.as_os_str(), flags, Mode::empty())
            .map_err(|e| Error::from_errno(OP, &shown, e))?;
        let mut st = rustix::fs::fstat(&fd).map_err(|e| Error::from_errno(OP, &shown, e))?;
        if created && st.st_uid == policy.uid() && mode_of(&st) != crate::sys::mode_bits(raw) {
            // mkdir applied the umask; make the mode exact.
            rustix::fs::fchmod(&fd, raw).map_err(|e| Error::from_errno(OP, &shown, e))?;
            st = rustix::fs::fstat(&fd).map_err(|e| Error::from_errno(OP, &shown, e))?;
        }
        let problem = policy
            .transition_problem(ancestor.stat.st_uid, st.st_uid)
            .or_else(|| policy.private_dir_problem(st.st_uid, mode_of(&st)));
        if let Some(p) = problem {
            return Err(p.to_error(OP, &shown, st.st_uid, mode_of(&st), policy));
        }
        let root = Root { fd, path: shown, dev: crate::sys::dev_of(&st), ino: st.st_ino, policy: policy.clone() };
        if missing.len() == 1 {
            return Ok(root);
        }
        let rest: PathBuf = missing[1..].iter().collect();
        root.mkdir_all(&rest, mode)?;
        root.open_dir(&rest)
    }

    pub(crate) fn mkdir_components(&self, op: &'static str, comps: &[OsString], mode: u32) -> Result<OwnedFd> {
        let mode = crate::sys::mode_from_bits(mode);
        let flags = OFlags::RDONLY | OFlags::DIRECTORY;
        let mut shown = self.path.clone();
        let mut cur: Option<OwnedFd> = None;
        for comp in comps {
            let parent = cur.as_ref().map_or(self.fd.as_fd(), |fd| fd.as_fd());
            let parent_shown = shown.clone();
            shown.push(comp);
            let one = std::slice::from_ref(comp);
            let next = match resolve::open_beneath(self.resolver(), op, &shown, parent, one, flags, Mode::empty()) {
                Ok(fd) => fd,
                Err(e) if e.kind() == crate::ErrorKind::NotFound => {
                    self.check_private(op, &parent_shown, &parent)?;
                    // Never create a directory the policy would then refuse:
                    // the refusal would leave it behind, writable by others.
                    if crate::sys::mode_bits(mode) & 0o022 != 0 {
                        return Err(insecure_mode(op, &shown, crate::sys::mode_bits(mode)));
                    }
                    match rustix::fs::mkdirat(parent, comp.as_os_str(), mode) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(Error::from_errno(op, &shown, e)),
                    }
                    let fd = resolve::open_beneath(self.resolver(), op, &shown, parent, one, flags, Mode::empty())?;
                    // mkdir applied the umask; make the mode exact. A directory
                    // raced in by someone else is checked below, not chmod-ed.
                    let st = rustix::fs::fstat(&fd).map_err(|e| Error::from_errno(op, &shown, e))?;
                    if st.st_uid == self.policy.uid() && crate::sys::mode_of(&st) != crate::sys::mode_bits(mode) {
                        rustix::fs::fchmod(&fd, mode).map_err(|e| Error::from_errno(op, &shown, e))?;
                    }
                    fd
                }
                Err(e) => return Err(e),
            };
            cur = Some(next);
        }
        let fd = cur.expect("at least one component");
        self.check_private(op, &shown, &fd)?;
        Ok(fd)
    }
}

#[cold]
fn insecure_mode(op: &'static str, shown: &std::path::Path, mode: u32) -> Error {
    Error::new(
        crate::ErrorKind::InsecureDirectory,
        op,
        shown,
        format!(
            "refused: mode {mode:04o} would make the new directory writable by group or others; nothing was created"
        ),
    )
    .with_fix("use a mode without group/other write, such as 0700 or 0755")
}
