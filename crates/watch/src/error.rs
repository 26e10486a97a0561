//! The error type: an operation, the thing it concerns, and a kind.

use std::fmt;

use gw_error::Class;

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

/// An error of gw-watch: the operation, the subject (a field, a command, an
/// id) and a message that says what was wrong.
#[derive(Debug, Clone)]
pub struct Error {
    kind: ErrorKind,
    op: &'static str,
    subject: String,
    message: String,
}

/// `Result` with [`Error`].
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    pub(crate) fn new(
        kind: ErrorKind,
        op: &'static str,
        subject: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Self { kind, op, subject: subject.into(), message: message.into() }
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

    /// The kind of error.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }

    /// The class of its kind ([`ErrorKind::class`]).
    pub fn class(&self) -> Class {
        self.kind.class()
    }

    /// The operation that failed.
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// What the operation concerned (a flag, a command, an id).
    pub fn subject(&self) -> &str {
        &self.subject
    }

    /// What was wrong.
    pub fn message(&self) -> &str {
        &self.message
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        gw_error::write_line(f, self.op, Some(&self.subject), &self.message, None)
    }
}

impl std::error::Error for Error {}
