//! The error type: an operation, the thing it concerns, and a kind.

use gw_error::{Class, Detail};

/// What went wrong, for callers that branch on it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ErrorKind {
    /// A configuration value is unusable (empty command, bad duration, a
    /// placeholder where none may be, ...).
    InvalidConfig,
    /// The list command's output is not a valid pending-request list.
    InvalidList,
    /// Refused for security: an id outside the strict charset, a duplicate id.
    Refused,
}

impl ErrorKind {
    /// A short stable name (for JSON output).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidConfig => "invalid_config",
            Self::InvalidList => "invalid_list",
            Self::Refused => "refused",
        }
    }

    /// The one class a caller acts on: refused for a security refusal,
    /// invalid (the configuration or the list given) for the rest.
    pub fn class(self) -> Class {
        if self.is_security_refusal() { Class::Refused } else { Class::Invalid }
    }

    /// Whether this is a security refusal rather than a plain error.
    pub fn is_security_refusal(self) -> bool {
        matches!(self, Self::Refused)
    }
}

gw_error::error_type! {
    /// An error of gw-watch: the operation, the subject (a field, a command, an
    /// id) and a message that says what was wrong.
    pub struct Error {
        detail: Detail<ErrorKind, String>,
    }
    without fix
}

impl Error {
    pub(crate) fn new(
        kind: ErrorKind,
        op: &'static str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self { detail: Detail::new(kind, op, subject.into(), message) }
    }

    #[cold]
    pub(crate) fn config(op: &'static str, subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidConfig, op, subject, message)
    }

    #[cold]
    pub(crate) fn list(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidList, "parse pending list", "list output", message)
    }

    #[cold]
    pub(crate) fn refused(op: &'static str, subject: impl Into<String>, message: impl Into<String>) -> Self {
        Self::new(ErrorKind::Refused, op, subject, message)
    }

    /// What the operation concerned (a flag, a command, an id).
    pub fn subject(&self) -> &str {
        self.detail.subject()
    }
}

/// A gw-watch error has neither a fix nor a cause, so a copy is whole.
impl Clone for Error {
    fn clone(&self) -> Self {
        Self::new(self.kind(), self.op(), self.subject(), self.message())
    }
}
