//! The error type: an operation, the path it concerns, a kind that separates
//! security refusals from plain I/O failures, and (for refusals) how to fix it.
//!
//! Only `ENOENT` becomes [`ErrorKind::NotFound`] (THREATS FS-7): every other
//! failure is reported as it is, never mapped to "missing".

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use gw_error::{Class, Detail};

/// What went wrong, in categories a caller can act on.
///
/// Security refusals ([`ErrorKind::is_security_refusal`]) are distinct from
/// I/O failures: they mean gw *chose* not to proceed because proceeding could
/// be exploited.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The path does not exist (`ENOENT`, and only that).
    NotFound,
    /// A symbolic link was met where gw never follows one (security refusal).
    Symlink,
    /// The path would lead outside the root: absolute, or containing `..`
    /// (security refusal).
    Escape,
    /// A directory on the way is owned by another user or writable by
    /// group/other (security refusal). The message names the directory, its
    /// owner and mode, and the fix.
    InsecureDirectory,
    /// The target exists but is not a regular file (FIFO, socket, device,
    /// directory) where only a regular file is acceptable (security refusal).
    NotRegularFile,
    /// A file read with [`Root::read_trusted`](crate::Root::read_trusted) is
    /// owned by another user (not the caller, not root) or writable by
    /// group/other, so anyone could have written its content (security
    /// refusal, THREATS FS-9). The message names its owner and mode, and the fix.
    InsecureFile,
    /// The root directory was moved or replaced since it was opened
    /// (security refusal, THREATS FS-8).
    RootChanged,
    /// The relative path is malformed: empty, NUL byte, too long, too deep,
    /// or a trailing slash on a file operation.
    InvalidPath,
    /// A component in the middle of the path is not a directory.
    NotADirectory,
    /// The target already exists (exclusive create, rename without replace,
    /// removing a non-empty directory).
    AlreadyExists,
    /// The content is larger than the caller's limit.
    TooLarge,
    /// A lock could not be taken before the timeout.
    LockTimeout,
    /// The write was published (renamed or linked into place: readers see
    /// the new content) but the `fsync` of the directory that makes it
    /// durable failed: after a power loss the old content may be back
    /// (THREATS FS-11).
    NotDurable,
    /// The system's random source (`getrandom(2)`) failed, so no
    /// unpredictable temporary name could be made; nothing was written
    /// (THREATS FS-11).
    RandomSource,
    /// Any other system error, reported as it is.
    Io,
}

impl ErrorKind {
    /// `true` for refusals made for security (symlink, escape, insecure
    /// directory, not a regular file, insecure file, root changed).
    pub fn is_security_refusal(self) -> bool {
        matches!(
            self,
            Self::Symlink
                | Self::Escape
                | Self::InsecureDirectory
                | Self::NotRegularFile
                | Self::InsecureFile
                | Self::RootChanged
        )
    }

    /// The one class a caller acts on: not found (only `ENOENT`, FS-7),
    /// refused (the security refusals), invalid (a malformed relative path),
    /// failed (the rest).
    pub fn class(self) -> Class {
        match self {
            Self::NotFound => Class::NotFound,
            k if k.is_security_refusal() => Class::Refused,
            Self::InvalidPath => Class::Invalid,
            _ => Class::Failed,
        }
    }

    /// A short stable name for machine-readable output (`--json`).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Symlink => "symlink",
            Self::Escape => "escape",
            Self::InsecureDirectory => "insecure_directory",
            Self::NotRegularFile => "not_regular_file",
            Self::InsecureFile => "insecure_file",
            Self::RootChanged => "root_changed",
            Self::InvalidPath => "invalid_path",
            Self::NotADirectory => "not_a_directory",
            Self::AlreadyExists => "already_exists",
            Self::TooLarge => "too_large",
            Self::LockTimeout => "lock_timeout",
            Self::NotDurable => "not_durable",
            Self::RandomSource => "random_source",
            Self::Io => "io",
        }
    }
}

impl fmt::Display for ErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

gw_error::error_type! {
    /// An error from a gw-anchor operation.
    ///
    /// Carries the operation (`"write"`, `"open root"`, ...), the full path it
    /// concerns, a message, an optional fix, and the underlying OS error if any.
    pub struct Error {
        detail: Detail<ErrorKind, PathBuf>,
    }
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, op: &'static str, path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self { detail: Detail::new(kind, op, path.into(), message) }
    }

    /// Classifies an OS error. Only `ENOENT` is "not found" (FS-7); `ELOOP`
    /// from a no-follow open is a symlink refusal.
    pub(crate) fn from_errno(op: &'static str, path: impl Into<PathBuf>, err: rustix::io::Errno) -> Self {
        use rustix::io::Errno;
        let path = path.into();
        let ioe = io::Error::from(err);
        let (kind, message) = match err {
            Errno::NOENT => (ErrorKind::NotFound, "no such file or directory".to_owned()),
            Errno::LOOP => {
                return Self::symlink(op, path);
            }
            Errno::XDEV if op_resolves(op) => {
                return Self::escape(op, path, "the path led outside the root");
            }
            Errno::NOTDIR => (ErrorKind::NotADirectory, "a component of the path is not a directory".to_owned()),
            Errno::EXIST => (ErrorKind::AlreadyExists, "the target already exists".to_owned()),
            Errno::NOTEMPTY => (ErrorKind::AlreadyExists, "the directory is not empty".to_owned()),
            _ => (ErrorKind::Io, ioe.to_string()),
        };
        Self::new(kind, op, path, message).with_source(ioe)
    }

    #[cold]
    pub(crate) fn symlink(op: &'static str, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let fix = format!("inspect it with `ls -l {}`; if it is not yours, remove it and retry", path.display());
        Self::new(
            ErrorKind::Symlink,
            op,
            path,
            "refused: a symbolic link is on the path, and gw never follows links beneath a root",
        )
        .with_fix(fix)
    }

    /// A directory open (`O_DIRECTORY | O_NOFOLLOW`) failed because the entry
    /// was not a directory, yet it is one when looked at again: it was
    /// swapped while being opened (THREATS FS-2, e.g. a symlink exchanged
    /// with a directory by `renameat2(RENAME_EXCHANGE)`). Refused as a
    /// symlink: that is what such a swap plants.
    #[cold]
    pub(crate) fn swapped(op: &'static str, path: impl Into<PathBuf>) -> Self {
        let path = path.into();
        let fix = format!("find out who is renaming entries under `{}`; retry once it is left alone", path.display());
        Self::new(
            ErrorKind::Symlink,
            op,
            path,
            "refused: a component of the path was swapped while it was being opened (it was not a directory, \
             then it was one: a concurrent rename, as when a symlink is exchanged with a directory)",
        )
        .with_fix(fix)
    }

    #[cold]
    pub(crate) fn escape(op: &'static str, path: impl Into<PathBuf>, why: &str) -> Self {
        Self::new(ErrorKind::Escape, op, path, format!("refused: {why}"))
            .with_fix("give a path relative to the directory, without `..` and without a leading `/`")
    }

    #[cold]
    pub(crate) fn not_regular(op: &'static str, path: impl Into<PathBuf>, what: &str) -> Self {
        let path = path.into();
        let fix = format!("move the {what} away (`ls -l {}`) or choose another name", path.display());
        Self::new(
            ErrorKind::NotRegularFile,
            op,
            path,
            format!("refused: the target is a {what}, and gw only reads or replaces regular files"),
        )
        .with_fix(fix)
    }

    /// The `fsync` of the directory after a publish failed: the new content
    /// is in place, its durability is not (THREATS FS-11).
    #[cold]
    pub(crate) fn not_durable(op: &'static str, path: impl Into<PathBuf>, err: rustix::io::Errno) -> Self {
        let ioe = io::Error::from(err);
        Self::new(
            ErrorKind::NotDurable,
            op,
            path,
            format!(
                "the new content is in place but may not be durable: the {} of its directory failed ({ioe}); \
                 after a power loss the old content may be back",
                crate::sys::FULL_SYNC_NAME
            ),
        )
        .with_fix("check the disk (`dmesg`); once it is healthy, `sync` or write again to make it durable")
        .with_source(ioe)
    }

    /// The random source failed: no temporary name, nothing written
    /// (THREATS FS-11).
    #[cold]
    pub(crate) fn random_source(op: &'static str, path: impl Into<PathBuf>, err: getrandom::Error) -> Self {
        let ioe = match err.raw_os_error() {
            Some(n) => io::Error::from_raw_os_error(n),
            None => io::Error::other(err.to_string()),
        };
        Self::new(
            ErrorKind::RandomSource,
            op,
            path,
            format!("the random source failed (getrandom: {ioe}), so no unpredictable temporary name could be made; nothing was written"),
        )
        .with_fix("check the kernel's random source (`getrandom(2)`, /dev/urandom) and retry")
        .with_source(ioe)
    }

    #[cold]
    pub(crate) fn invalid_path(op: &'static str, path: impl Into<PathBuf>, why: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidPath, op, path, why)
    }

    /// The same error, reported for operation `op` on `path`.
    pub(crate) fn relabel(mut self, op: &'static str, path: impl Into<PathBuf>) -> Self {
        self.detail = self.detail.with_op(op).with_subject(path.into());
        self
    }

    /// The path the error concerns (the root joined with the relative path
    /// where there is one).
    pub fn path(&self) -> &Path {
        self.detail.subject()
    }

    /// The raw OS error number, if the error came from a system call.
    pub fn raw_os_error(&self) -> Option<i32> {
        std::error::Error::source(self).and_then(|s| s.downcast_ref::<io::Error>()).and_then(io::Error::raw_os_error)
    }
}

/// Operations that resolve paths, where `EXDEV` from `RESOLVE_BENEATH` means
/// an escape attempt rather than a cross-device rename.
fn op_resolves(op: &str) -> bool {
    !matches!(op, "rename")
}
