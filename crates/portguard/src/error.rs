//! The error type: operation, subject (port, pid or path), kind, message.

use std::io;

use gw_error::{Class, Detail};

/// What went wrong, in categories a caller can act on.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Not supported on this platform (only Linux inspects sockets).
    Unsupported,
    /// The inspection did not finish within its time bound.
    Timeout,
    /// What the kernel returned could not be parsed.
    Parse,
    /// The process is not running (or not visible).
    NotRunning,
    /// The pidfile was refused for security (insecure directory, symlink,
    /// not a regular file, owned by another user or writable by
    /// group/other...), see gw-anchor.
    PidfileRefused,
    /// The pidfile's content is not `PID` or `PID STARTTIME`.
    PidfileInvalid,
    /// The pidfile does not exist.
    PidfileNotFound,
    /// Any other system error, reported as it is.
    Io,
}

impl ErrorKind {
    /// `true` for refusals made for security.
    pub fn is_security_refusal(self) -> bool {
        matches!(self, Self::PidfileRefused)
    }

    /// The one class a caller acts on: not found for a missing pidfile,
    /// refused for a refused one, failed for the rest.
    pub fn class(self) -> Class {
        match self {
            Self::PidfileNotFound => Class::NotFound,
            k if k.is_security_refusal() => Class::Refused,
            _ => Class::Failed,
        }
    }

    /// A short stable name for `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unsupported => "unsupported",
            Self::Timeout => "timeout",
            Self::Parse => "parse",
            Self::NotRunning => "not_running",
            Self::PidfileRefused => "pidfile_refused",
            Self::PidfileInvalid => "pidfile_invalid",
            Self::PidfileNotFound => "not_found",
            Self::Io => "io",
        }
    }
}

gw_error::error_type! {
    /// An error from a gw-portguard operation: the operation (`"list listeners"`,
    /// `"read pidfile"`...), its subject (`port 8080`, `pid 42`, a path), a
    /// message and, for refusals, a fix.
    pub struct Error {
        detail: Detail<ErrorKind, String>,
    }
}

impl Error {
    #[cold]
    pub(crate) fn new(
        kind: ErrorKind,
        op: &'static str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self { detail: Detail::new(kind, op, subject.into(), message) }
    }

    #[cold]
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    pub(crate) fn io(op: &'static str, subject: impl Into<String>, err: io::Error) -> Self {
        let kind = if matches!(err.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) {
            ErrorKind::Timeout
        } else {
            ErrorKind::Io
        };
        Self::new(kind, op, subject, err.to_string()).with_source(err)
    }

    /// What it concerned (`port 8080`, `pid 42`, a path).
    pub fn subject(&self) -> &str {
        self.detail.subject()
    }
}
