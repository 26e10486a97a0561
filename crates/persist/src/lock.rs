//! [`FileLock`]: an exclusive lock on a file beneath a gw-anchor [`Root`],
//! held against the other threads of this process and against other
//! processes — the one lock [`crate::Document`] updates and gw-lease's
//! registry are made under.

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::Duration;

use gw_anchor::{LockGuard, LockMode, Root};

use crate::inproc::{KeyGuard, KeyedLocks};

/// The identity of a lock: the root directory's (device, inode) and the
/// lock file's path beneath it. Every [`Root`] opened on one directory, in
/// any part of the process, names the same lock by it.
type LockKey = (u64, u64, PathBuf);

fn threads() -> &'static KeyedLocks<LockKey> {
    static LOCKS: OnceLock<KeyedLocks<LockKey>> = OnceLock::new();
    LOCKS.get_or_init(KeyedLocks::new)
}

/// An exclusive lock on a lock file beneath a root, released when dropped.
///
/// Taken in two halves: threads of this process queue first on a condition
/// variable keyed by the lock file's identity (so they wait their turn
/// instead of polling `flock`; loom-modelled), and the one that gets
/// through takes an exclusive `flock` on the file ([`Root::lock`]: created
/// 0600 if missing, never through a symlink), which excludes other
/// processes. Both halves are released together, the `flock` first.
///
/// ```
/// use std::time::Duration;
/// use gw_anchor::{Policy, Root};
/// use gw_persist::{FileLock, LockError};
///
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let dir = tempfile::tempdir()?;
/// let root = Root::open(dir.path(), &Policy::new())?;
/// let held = FileLock::acquire(&root, ".state.lock", Duration::from_secs(5))?;
/// // Another thread of this process waits its turn, at most the timeout.
/// std::thread::scope(|s| {
///     let waited = s.spawn(|| FileLock::acquire(&root, ".state.lock", Duration::from_millis(20))).join().unwrap();
///     assert!(matches!(waited, Err(LockError::Threads { .. })));
/// });
/// drop(held);
/// assert!(FileLock::acquire(&root, ".state.lock", Duration::from_secs(5)).is_ok());
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct FileLock {
    // Fields drop in this order: the `flock` goes before the in-process key
    // is handed on, so the next thread finds the file free.
    flock: LockGuard,
    _threads: KeyGuard<'static, LockKey>,
}

impl FileLock {
    /// Takes the lock on the file `rel` beneath `root`. Each half waits at
    /// most `timeout`: for the other threads of this process, then for the
    /// `flock` other processes hold.
    ///
    /// # Errors
    /// [`LockError::Threads`] when other threads of this process held the
    /// lock for the whole timeout (the file was not touched);
    /// [`LockError::Fs`] with gw-anchor's error, as it is, when the root's
    /// identity cannot be read or [`Root::lock`] fails (its `LockTimeout`
    /// when another process held the `flock` for the whole timeout; `Symlink`
    /// or `NotRegularFile` when the lock path is not a regular file; ...).
    ///
    /// # Security
    /// Locks are advisory: they exclude only writers that take them.
    pub fn acquire(root: &Root, rel: impl AsRef<Path>, timeout: Duration) -> Result<Self, LockError> {
        let rel = rel.as_ref();
        let id = root.metadata(".").map_err(LockError::Fs)?;
        let key = (id.dev, id.ino, rel.to_path_buf());
        let threads =
            threads().lock(key, timeout).ok_or_else(|| LockError::Threads { path: root.path().join(rel), timeout })?;
        let flock = root.lock(rel, LockMode::Exclusive, Some(timeout)).map_err(LockError::Fs)?;
        Ok(Self { flock, _threads: threads })
    }

    /// The lock file's path.
    pub fn path(&self) -> &Path {
        self.flock.path()
    }
}

/// Why a [`FileLock`] was not taken.
#[derive(Debug)]
pub enum LockError {
    /// Other threads of this process held the lock for the whole timeout.
    Threads {
        /// The lock file.
        path: PathBuf,
        /// How long this thread waited.
        timeout: Duration,
    },
    /// gw-anchor's error reading the root or taking the `flock`, as it is.
    Fs(gw_anchor::Error),
}

impl fmt::Display for LockError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Threads { path, timeout } => gw_error::write_line(
                f,
                "lock",
                Some(&path.display()),
                &format!("another thread held the lock for longer than {timeout:?}"),
                None,
            ),
            Self::Fs(e) => e.fmt(f),
        }
    }
}

impl std::error::Error for LockError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Threads { .. } => None,
            Self::Fs(e) => Some(e),
        }
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use gw_anchor::Policy;

    fn root() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path(), &Policy::new()).unwrap();
        (dir, root)
    }

    /// Two roots opened on one directory name one lock: a thread holding it
    /// through one root makes a thread going through the other wait (in
    /// process, not on `flock`), and other lock files are independent.
    #[test]
    fn one_lock_per_file_identity_across_roots() {
        let (dir, a) = root();
        let b = Root::open(dir.path(), &Policy::new()).unwrap();
        let held = FileLock::acquire(&a, ".x.lock", Duration::from_secs(5)).unwrap();
        assert_eq!(held.path(), dir.path().join(".x.lock"));
        std::thread::scope(|s| {
            let got = s.spawn(|| FileLock::acquire(&b, ".x.lock", Duration::from_millis(30))).join().unwrap();
            match got {
                Err(LockError::Threads { path, timeout }) => {
                    assert_eq!(path, dir.path().join(".x.lock"));
                    assert_eq!(timeout, Duration::from_millis(30));
                }
                other => panic!("expected the in-process timeout, got {other:?}"),
            }
            let other = s.spawn(|| FileLock::acquire(&b, ".y.lock", Duration::from_millis(30))).join().unwrap();
            assert!(other.is_ok(), "another lock file is another lock");
        });
        drop(held);
        assert!(FileLock::acquire(&b, ".x.lock", Duration::from_millis(30)).is_ok());
    }

    /// A symlink in the lock file's place is gw-anchor's refusal, as it is
    /// (nothing is created through it).
    #[test]
    fn anchor_refusals_pass_through() {
        let (dir, root) = root();
        std::os::unix::fs::symlink(dir.path().join("elsewhere"), dir.path().join(".x.lock")).unwrap();
        let err = FileLock::acquire(&root, ".x.lock", Duration::from_millis(30)).unwrap_err();
        let LockError::Fs(e) = &err else { panic!("expected gw-anchor's error, got {err:?}") };
        assert_eq!(e.kind(), gw_anchor::ErrorKind::Symlink);
        assert!(!dir.path().join("elsewhere").exists());
        assert_eq!(err.to_string(), e.to_string());
        assert!(std::error::Error::source(&err).is_some());
    }
}
