//! `mkdir_all`: create a directory and its missing parents beneath a root.

use std::ffi::OsString;
use std::path::Path;

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};
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

    pub(crate) fn mkdir_components(&self, op: &'static str, comps: &[OsString], mode: u32) -> Result<OwnedFd> {
        let mode = Mode::from_raw_mode(mode & 0o7777);
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
                    if mode.as_raw_mode() & 0o022 != 0 {
                        return Err(insecure_mode(op, &shown, mode.as_raw_mode()));
                    }
                    match rustix::fs::mkdirat(parent, comp.as_os_str(), mode) {
                        Ok(()) | Err(Errno::EXIST) => {}
                        Err(e) => return Err(Error::from_errno(op, &shown, e)),
                    }
                    let fd = resolve::open_beneath(self.resolver(), op, &shown, parent, one, flags, Mode::empty())?;
                    // mkdir applied the umask; make the mode exact. A directory
                    // raced in by someone else is checked below, not chmod-ed.
                    let st = rustix::fs::fstat(&fd).map_err(|e| Error::from_errno(op, &shown, e))?;
                    if st.st_uid == self.policy.uid() && st.st_mode & 0o7777 != mode.as_raw_mode() {
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
