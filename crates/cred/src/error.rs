//! Errors of credential operations: which operation, which gateway or
//! profile, never the secret.

use std::fmt;

use gw_error::{Class, Detail};

/// What went wrong.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// Not a usable gateway URL.
    InvalidUrl,
    /// A bad role, profile name, hello-ok message or secret value.
    InvalidInput,
    /// The replacement shared token failed validation (nothing changed).
    ValidationFailed,
    /// The write came from a connection generation that is no longer current
    /// (THREATS CRED-6); nothing was written.
    StaleGeneration,
    /// Tokens written during a hand-off did not read back identically; the
    /// bootstrap token was kept (THREATS CRED-3).
    ReadBackMismatch,
    /// The OS keyring could not be used (not running, locked, access
    /// denied, no answer in time), or it failed; see the fix.
    KeyringUnavailable,
    /// A keyring entry the document refers to is not in the keyring (any
    /// more); the document was not changed.
    KeyringEntryMissing,
    /// The `keyring` policy refused to write a secret anywhere else while
    /// the keyring is unavailable (THREATS CRED-9, fail closed); nothing was
    /// written.
    FallbackRefused,
    /// A document error from gw-persist (parse, lock, conflict, ...).
    Doc(gw_persist::ErrorKind),
    /// A filesystem error or refusal from gw-anchor.
    Fs(gw_anchor::ErrorKind),
    /// A root secret error from gw-token.
    Token(gw_token::ErrorKind),
}

impl ErrorKind {
    /// `true` for refusals made for security.
    pub fn is_security_refusal(self) -> bool {
        match self {
            Self::Doc(k) => k.is_security_refusal(),
            Self::Fs(k) => k.is_security_refusal(),
            Self::Token(k) => k.is_security_refusal(),
            Self::StaleGeneration | Self::FallbackRefused => true,
            _ => false,
        }
    }

    /// The one class a caller acts on: the lower crate's for
    /// [`ErrorKind::Doc`], [`ErrorKind::Fs`] and [`ErrorKind::Token`];
    /// refused for the security refusals and a replacement token the
    /// validation refused; invalid for a bad URL or input; failed for the
    /// rest.
    pub fn class(self) -> Class {
        match self {
            Self::Doc(k) => k.class(),
            Self::Fs(k) => k.class(),
            Self::Token(k) => k.class(),
            k if k.is_security_refusal() => Class::Refused,
            Self::ValidationFailed => Class::Refused,
            Self::InvalidUrl | Self::InvalidInput => Class::Invalid,
            _ => Class::Failed,
        }
    }

    /// A short stable name for machine-readable output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidUrl => "invalid_url",
            Self::InvalidInput => "invalid_input",
            Self::ValidationFailed => "validation_failed",
            Self::StaleGeneration => "stale_generation",
            Self::ReadBackMismatch => "read_back_mismatch",
            Self::KeyringUnavailable => "keyring_unavailable",
            Self::KeyringEntryMissing => "keyring_entry_missing",
            Self::FallbackRefused => "fallback_refused",
            Self::Doc(k) => k.as_str(),
            Self::Fs(k) => k.as_str(),
            Self::Token(k) => k.as_str(),
        }
    }
}

gw_error::error_type! {
    /// An error from gw-cred.
    pub struct Error {
        /// The subject is `None` where there is none to name (an empty one is
        /// not shown either).
        detail: Detail<ErrorKind, Option<String>>,
    }
}

/// A subject to show, `None` for an empty one.
fn named(subject: String) -> Option<String> {
    (!subject.is_empty()).then_some(subject)
}

impl Error {
    /// A new error of `kind` for `op`; the message must never hold a secret.
    pub(crate) fn new(kind: ErrorKind, op: &'static str, message: impl Into<String>) -> Self {
        Self { detail: Detail::new(kind, op, None, message) }
    }
    pub(crate) fn about(mut self, subject: impl fmt::Display) -> Self {
        self.detail = self.detail.with_subject(named(subject.to_string()));
        self
    }
    /// The same error (kind, operation, subject, cause) saying `message`.
    pub(crate) fn reworded(mut self, message: String) -> Self {
        self.detail = self.detail.with_message(message);
        self
    }
    /// The gateway key, profile or file concerned (may be empty).
    pub fn subject(&self) -> &str {
        self.detail.subject().as_deref().unwrap_or_default()
    }
}

impl From<gw_persist::Error> for Error {
    fn from(e: gw_persist::Error) -> Self {
        let kind = match e.kind() {
            gw_persist::ErrorKind::Fs(k) => ErrorKind::Fs(k),
            k => ErrorKind::Doc(k),
        };
        let subject = match e.position() {
            Some((l, c)) => format!("{}:{l}:{c}", e.path().display()),
            None => e.path().display().to_string(),
        };
        Self { detail: Detail::caused_by(kind, named(subject), e) }
    }
}

impl From<gw_anchor::Error> for Error {
    fn from(e: gw_anchor::Error) -> Self {
        let subject = named(e.path().display().to_string());
        Self { detail: Detail::caused_by(ErrorKind::Fs(e.kind()), subject, e) }
    }
}

impl From<gw_token::Error> for Error {
    fn from(e: gw_token::Error) -> Self {
        let kind = match e.kind() {
            gw_token::ErrorKind::Fs(k) => ErrorKind::Fs(k),
            k => ErrorKind::Token(k),
        };
        let subject = e.path().map(|p| p.display().to_string());
        Self { detail: Detail::caused_by(kind, subject.and_then(named), e) }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use gw_error::Class;

    use super::{Error, ErrorKind};

    #[test]
    fn a_lower_error_is_kept_whole_as_the_cause_chain() {
        let persist = gw_persist::Error::io("save", "/home/me/.gw/creds.json", std::io::Error::from_raw_os_error(5));
        let shown = persist.to_string();
        let e = Error::from(persist);
        assert_eq!(e.kind(), ErrorKind::Fs(gw_anchor::ErrorKind::Io));
        assert_eq!(e.class(), Class::Failed);
        assert_eq!(e.to_string(), shown, "the message is the lower error's, as before");
        let cause = e.source().and_then(|s| s.downcast_ref::<gw_persist::Error>()).expect("gw-persist's error");
        let os = cause.source().and_then(|s| s.downcast_ref::<std::io::Error>()).expect("and the OS error beneath");
        assert_eq!(os.raw_os_error(), Some(5));
    }

    #[test]
    fn nested_kinds_answer_their_causes_class() {
        assert_eq!(ErrorKind::Doc(gw_persist::ErrorKind::DuplicateKey).class(), Class::Refused);
        assert_eq!(ErrorKind::Fs(gw_anchor::ErrorKind::NotFound).class(), Class::NotFound);
        assert_eq!(ErrorKind::Token(gw_token::ErrorKind::Expired).class(), Class::Refused);
        assert_eq!(ErrorKind::ValidationFailed.class(), Class::Refused);
        assert_eq!(ErrorKind::InvalidUrl.class(), Class::Invalid);
        assert_eq!(ErrorKind::KeyringUnavailable.class(), Class::Failed);
    }
}
