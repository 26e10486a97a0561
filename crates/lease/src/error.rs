//! Errors of registry operations: the operation, the path (or id) concerned,
//! and a kind that keeps gw-anchor's security refusals distinct.

use std::path::{Path, PathBuf};

use gw_error::{Class, Detail};

/// What went wrong.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A filesystem error or refusal from gw-anchor (insecure registry
    /// directory, symlink, not a regular file, lock timeout, I/O, ...).
    Fs(gw_anchor::ErrorKind),
    /// A record id outside the strict charset `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`.
    InvalidId,
    /// The caller's payload is too large or not acceptable JSON.
    InvalidPayload,
    /// A record file is not a valid record (syntax, duplicate key, unknown
    /// field, unsupported version, out-of-range value).
    Malformed,
    /// The process to register does not exist (or is a zombie).
    ProcessNotFound,
    /// The process's identity (start time, boot id, pid namespace) could not
    /// be read from `/proc`.
    ProcessUnreadable,
    /// The id is held by a record this registry keeps (a live process, or one
    /// that cannot be judged from here): it is not overwritten (LEASE-2).
    AlreadyRegistered,
    /// The record is no longer the one this guard wrote (removed by a prune
    /// after expiry, or replaced by another registrar).
    NotOurs,
    /// The platform has no `/proc` to judge processes by.
    Unsupported,
    /// [`crate::Registry::live_owner`]: the record's process is not running
    /// (gone, zombie, expired, or its pid now names a process that started
    /// at another time).
    NotRunning,
    /// [`crate::Registry::live_owner`]: the record was written in another
    /// boot or another pid namespace: its pid cannot name a process here.
    ForeignRecord,
    /// [`crate::Registry::live_owner`]: whether the record's process is
    /// running cannot be proven from here (probe failed, boot id or pid
    /// namespace unknown).
    Unproven,
}

impl ErrorKind {
    /// `true` for refusals made for security.
    pub fn is_security_refusal(self) -> bool {
        match self {
            Self::Fs(k) => k.is_security_refusal(),
            Self::ForeignRecord | Self::Unproven => true,
            _ => false,
        }
    }

    /// The one class a caller acts on: gw-anchor's for [`ErrorKind::Fs`];
    /// invalid for a bad id or payload; not found for a missing process;
    /// refused for a record whose process is not running here (dead,
    /// expired, reused pid, another boot or pid namespace, unproven); failed
    /// for the rest.
    pub fn class(self) -> Class {
        match self {
            Self::Fs(k) => k.class(),
            Self::InvalidId | Self::InvalidPayload => Class::Invalid,
            Self::ProcessNotFound => Class::NotFound,
            Self::NotRunning => Class::Refused,
            k if k.is_security_refusal() => Class::Refused,
            _ => Class::Failed,
        }
    }

    /// A short stable name for machine-readable output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fs(k) => k.as_str(),
            Self::InvalidId => "invalid_id",
            Self::InvalidPayload => "invalid_payload",
            Self::Malformed => "malformed_record",
            Self::ProcessNotFound => "process_not_found",
            Self::ProcessUnreadable => "process_unreadable",
            Self::AlreadyRegistered => "already_registered",
            Self::NotOurs => "not_ours",
            Self::Unsupported => "unsupported_platform",
            Self::NotRunning => "not_running",
            Self::ForeignRecord => "foreign_record",
            Self::Unproven => "unproven",
        }
    }
}

gw_error::error_type! {
    /// An error from a registry operation.
    pub struct Error {
        detail: Detail<ErrorKind, PathBuf>,
    }
}

impl Error {
    /// A new error of `kind` for operation `op` on `path` (a file, or a
    /// record id, or `-` for input that is not a file yet).
    pub(crate) fn new(kind: ErrorKind, op: &'static str, path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self { detail: Detail::new(kind, op, path.into(), message) }
    }

    /// `pid` is not running (or is a zombie): what a
    /// [`ProcessOracle`](crate::ProcessOracle) answers when asked to
    /// identify a process that is gone.
    #[cold]
    pub fn process_not_found(op: &'static str, pid: u32) -> Self {
        Self::new(ErrorKind::ProcessNotFound, op, format!("pid {pid}"), "no such process (or a zombie)")
    }

    pub(crate) fn relabel(mut self, path: impl Into<PathBuf>) -> Self {
        self.detail = self.detail.with_subject(path.into());
        self
    }

    /// The path (or record id) the error concerns.
    pub fn path(&self) -> &Path {
        self.detail.subject()
    }
}

impl From<gw_anchor::Error> for Error {
    fn from(e: gw_anchor::Error) -> Self {
        let path = e.path().to_owned();
        Self { detail: Detail::caused_by(ErrorKind::Fs(e.kind()), path, e) }
    }
}
