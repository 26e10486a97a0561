//! `lock`: advisory locks (`flock`) on a lock file beneath a root.
//!
//! `flock` locks belong to the open file description, so two opens of the
//! lock file exclude each other whether they are in two processes or two
//! threads of one process: no in-process lock table is needed.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use rustix::fd::OwnedFd;
use rustix::fs::{FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

use crate::error::{Error, ErrorKind, Result};
use crate::metadata::FileKind;
use crate::root::Root;

/// Shared or exclusive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LockMode {
    /// Many holders at once, excluding exclusive holders.
    Shared,
    /// One holder.
    Exclusive,
}

/// A held lock; released when dropped.
#[derive(Debug)]
pub struct LockGuard {
    _fd: OwnedFd,
    path: PathBuf,
}

impl LockGuard {
    /// The lock file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Root {
    /// Takes an advisory lock on the file `rel` (created 0600 if missing),
    /// waiting at most `timeout` (`None`: wait as long as it takes).
    ///
    /// # Errors
    /// [`ErrorKind::LockTimeout`] after the timeout;
    /// [`ErrorKind::Symlink`] / [`ErrorKind::NotRegularFile`] if the lock
    /// path is not a regular file; [`ErrorKind::InsecureDirectory`]; I/O.
    pub fn lock(&self, rel: impl AsRef<Path>, mode: LockMode, timeout: Option<Duration>) -> Result<LockGuard> {
        const OP: &str = "lock";
        let rel = self.rel_file(OP, rel.as_ref())?;
        let shown = self.shown(&rel);
        let (dir, name) = self.open_parent_checked(OP, &shown, &rel)?;
        let flags =
            OFlags::RDWR | OFlags::CREATE | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
        let fd = rustix::fs::openat(&dir, name, flags, Mode::from_raw_mode(0o600))
            .map_err(|e| Error::from_errno(OP, &shown, e))?;
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::from_errno(OP, &shown, e))?;
        let kind = FileKind::from_file_type(FileType::from_raw_mode(st.st_mode));
        if kind != FileKind::File {
            return Err(Error::not_regular(OP, &shown, kind.noun()));
        }
        let (blocking, nonblocking) = match mode {
            LockMode::Shared => (FlockOperation::LockShared, FlockOperation::NonBlockingLockShared),
            LockMode::Exclusive => (FlockOperation::LockExclusive, FlockOperation::NonBlockingLockExclusive),
        };
        match timeout {
            None => loop {
                match rustix::fs::flock(&fd, blocking) {
                    Ok(()) => break,
                    Err(Errno::INTR) => continue,
                    Err(e) => return Err(Error::from_errno(OP, &shown, e)),
                }
            },
            Some(limit) => {
                let deadline = Instant::now() + limit;
                let mut pause = Duration::from_millis(1);
                loop {
                    match rustix::fs::flock(&fd, nonblocking) {
                        Ok(()) => break,
                        Err(Errno::WOULDBLOCK | Errno::INTR) => {}
                        Err(e) => return Err(Error::from_errno(OP, &shown, e)),
                    }
                    let now = Instant::now();
                    if now >= deadline {
                        return Err(Error::new(
                            ErrorKind::LockTimeout,
                            OP,
                            &shown,
                            format!("another holder kept the lock for longer than {limit:?}"),
                        ));
                    }
                    std::thread::sleep(pause.min(deadline - now));
                    pause = (pause * 2).min(Duration::from_millis(50));
                }
            }
        }
        Ok(LockGuard { _fd: fd, path: shown })
    }
}
