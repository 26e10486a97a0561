//! [`Root`]: an open, verified directory handle, and the helpers every
//! operation shares (path display, parent checks).

use std::path::{Path, PathBuf};

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags};

use crate::chain::{self, mode_of};
use crate::error::{Error, ErrorKind, Result};
use crate::path::RelPath;
use crate::policy::{Policy, Resolver};
use crate::resolve::{self, DirFd};

/// An open directory that was verified when opened, and beneath which every
/// operation is resolved without following any symlink.
///
/// Operations take *relative* paths (validated by [`RelPath::parse`]); the
/// path string of the root is never resolved again after [`Root::open`]
/// (except by [`Root::verify`], which re-walks it on purpose).
#[derive(Debug)]
pub struct Root {
    pub(crate) fd: OwnedFd,
    pub(crate) path: PathBuf,
    pub(crate) dev: u64,
    pub(crate) ino: u64,
    pub(crate) policy: Policy,
}

impl Root {
    /// Opens and verifies the directory at `path`.
    ///
    /// Walks from `/` holding directory fds and checks every component
    /// against `policy` (see [`Policy`]): ancestors owned by root or the
    /// caller and not group/other writable unless sticky; no unsafe ownership
    /// transition; the root itself owned by the caller and not group/other
    /// writable. Root-owned symlinks in root-owned directories are followed on
    /// the way; any other symlink is refused.
    ///
    /// # Errors
    /// [`ErrorKind::InsecureDirectory`] (naming the directory, its owner and
    /// mode, and the fix), [`ErrorKind::Symlink`], [`ErrorKind::NotFound`],
    /// [`ErrorKind::NotADirectory`], or I/O errors.
    ///
    /// # Security
    /// THREATS FS-5 (insecure directory) and FS-2 (the root is pinned by fd,
    /// so a later swap of a parent component does not move it).
    pub fn open(path: impl AsRef<Path>, policy: &Policy) -> Result<Self> {
        let walked = chain::walk("open root", path.as_ref(), policy, false)?;
        Ok(Self {
            dev: crate::sys::dev_of(&walked.stat),
            ino: walked.stat.st_ino,
            fd: walked.fd,
            path: walked.path,
            policy: policy.clone(),
        })
    }

    /// Re-walks the path this root was opened from and checks that it still
    /// leads, through trusted directories, to the very same directory.
    ///
    /// Call it right before handing a file beneath the root to another
    /// program (a service manager loading a unit, say).
    ///
    /// # Errors
    /// [`ErrorKind::RootChanged`] when the path now leads elsewhere; the
    /// errors of [`Root::open`] when the chain is no longer trusted.
    ///
    /// # Security
    /// THREATS FS-8 (re-check before hand-off).
    pub fn verify(&self) -> Result<()> {
        let walked = chain::walk("verify root", &self.path, &self.policy, false)?;
        if crate::sys::dev_of(&walked.stat) != self.dev || walked.stat.st_ino != self.ino {
            return Err(Error::new(
                ErrorKind::RootChanged,
                "verify root",
                &self.path,
                "refused: the path now leads to a different directory than the one opened (it was moved or replaced)",
            )
            .with_fix("find out who replaced it; reopen the directory only once it is trusted again"));
        }
        Ok(())
    }

    /// The path this root was opened from (after following trusted links).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The policy this root was opened with.
    pub fn policy(&self) -> &Policy {
        &self.policy
    }

    /// The open directory (for callers that need further `*at` calls).
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Opens the directory `rel` beneath this root as a root of its own,
    /// after checking it as the root itself is checked.
    ///
    /// # Errors
    /// As [`Root::open`], plus the path errors of [`RelPath::parse`].
    pub fn open_dir(&self, rel: impl AsRef<Path>) -> Result<Root> {
        const OP: &str = "open dir";
        let rel_path = self.rel(OP, rel.as_ref())?;
        let shown = self.shown(&rel_path);
        let fd = self.open_beneath(OP, &shown, &rel_path, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let st = self.check_private(OP, &shown, &fd)?;
        Ok(Root { fd, path: shown, dev: crate::sys::dev_of(&st), ino: st.st_ino, policy: self.policy.clone() })
    }

    // ---- helpers shared by the operations ----

    /// Validates `rel` for operation `op` (errors name the op and full path).
    pub(crate) fn rel(&self, op: &'static str, rel: &Path) -> Result<RelPath> {
        RelPath::parse(rel).map_err(|e| e.relabel(op, self.path.join(rel)))
    }

    /// Validates `rel` as a file path for operation `op`.
    pub(crate) fn rel_file(&self, op: &'static str, rel: &Path) -> Result<RelPath> {
        RelPath::parse_file(op, rel).map_err(|e| e.relabel(op, self.path.join(rel)))
    }

    /// The full path of `rel` for messages.
    /// (Built in one allocation: it is made on every operation, on the hot
    /// path of `read`.)
    pub(crate) fn shown(&self, rel: &RelPath) -> PathBuf {
        let comps = rel.components();
        let len = self.path.as_os_str().len() + comps.iter().map(|c| c.len() + 1).sum::<usize>();
        let mut out = PathBuf::with_capacity(len);
        out.push(&self.path);
        for c in comps {
            out.push(c);
        }
        out
    }

    pub(crate) fn resolver(&self) -> Resolver {
        self.policy.resolver_kind()
    }

    pub(crate) fn open_beneath(&self, op: &'static str, shown: &Path, rel: &RelPath, flags: OFlags) -> Result<OwnedFd> {
        resolve::open_beneath(self.resolver(), op, shown, self.fd.as_fd(), rel.components(), flags, Mode::empty())
    }

    /// Opens the parent of `rel` for changing its entries, and checks it
    /// (owner, mode) as the root is checked.
    pub(crate) fn open_parent_checked<'a>(
        &self,
        op: &'static str,
        shown: &Path,
        rel: &'a RelPath,
    ) -> Result<(DirFd<'_>, &'a std::ffi::OsStr)> {
        let (dir, name) = resolve::open_parent(self.resolver(), op, shown, self.fd.as_fd(), rel.components())?;
        let dir_shown = shown.parent().unwrap_or(shown);
        self.check_private(op, dir_shown, &dir)?;
        Ok((dir, name))
    }

    /// Checks an open directory against the policy for directories whose
    /// entries gw changes. Returns its `fstat`, for callers that need it too.
    pub(crate) fn check_private(&self, op: &'static str, shown: &Path, dir: &impl AsFd) -> Result<rustix::fs::Stat> {
        let st = rustix::fs::fstat(dir).map_err(|e| Error::from_errno(op, shown, e))?;
        let mode = mode_of(&st);
        match self.policy.private_dir_problem(st.st_uid, mode) {
            None => Ok(st),
            Some(p) => Err(p.to_error(op, shown, st.st_uid, mode, &self.policy)),
        }
    }
}
