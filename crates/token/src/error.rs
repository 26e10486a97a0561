//! Errors: which check failed, never the secret or the token.

use std::fmt;
use std::path::{Path, PathBuf};

use gw_error::{Cause, Class};

/// What went wrong.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The token is not a well-formed `gw2` token (length, characters,
    /// non-canonical base64 or claims, too many caveats).
    Malformed,
    /// The token's version is not one this library verifies.
    UnknownVersion,
    /// The MAC does not match: altered, or made with another secret.
    Signature,
    /// The token has expired (beyond the allowed clock skew).
    Expired,
    /// The token is not valid yet (beyond the allowed clock skew).
    NotYetValid,
    /// The token does not grant the requested scope.
    Scope,
    /// The token is bound to another audience.
    Audience,
    /// A `local` token was presented from a peer that is not loopback (or
    /// from an unknown peer).
    Locality,
    /// Invalid input to derivation or attenuation (a bad scope name, a
    /// caveat that narrows nothing, ...).
    InvalidInput,
    /// A secret file is readable or writable by others, or owned by someone
    /// else (security refusal).
    InsecureSecret,
    /// A secret file's content is not a secret of the expected form.
    BadSecret,
    /// A filesystem error or refusal from gw-anchor (not found, symlink,
    /// insecure directory, I/O, ...).
    Fs(gw_anchor::ErrorKind),
}

impl ErrorKind {
    /// `true` when a token was presented and refused (any verification
    /// failure): callers map these to "invalid token".
    pub fn is_invalid_token(self) -> bool {
        matches!(
            self,
            Self::Malformed
                | Self::UnknownVersion
                | Self::Signature
                | Self::Expired
                | Self::NotYetValid
                | Self::Scope
                | Self::Audience
                | Self::Locality
        )
    }

    /// `true` for refusals made for security: invalid tokens, insecure
    /// secret files, and gw-anchor's refusals.
    pub fn is_security_refusal(self) -> bool {
        match self {
            Self::Fs(k) => k.is_security_refusal(),
            Self::InsecureSecret => true,
            k => k.is_invalid_token(),
        }
    }

    /// The one class a caller acts on: the lower crate's for
    /// [`ErrorKind::Fs`]; refused for the security
    /// refusals (every invalid token among them); invalid for bad input to
    /// derivation or attenuation; failed for the rest.
    pub fn class(self) -> Class {
        match self {
            Self::Fs(k) => k.class(),
            k if k.is_security_refusal() => Class::Refused,
            Self::InvalidInput => Class::Invalid,
            _ => Class::Failed,
        }
    }

    /// A short stable name for machine-readable output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Malformed => "malformed",
            Self::UnknownVersion => "unknown_version",
            Self::Signature => "signature",
            Self::Expired => "expired",
            Self::NotYetValid => "not_yet_valid",
            Self::Scope => "scope",
            Self::Audience => "audience",
            Self::Locality => "locality",
            Self::InvalidInput => "invalid_input",
            Self::InsecureSecret => "insecure_secret",
            Self::BadSecret => "bad_secret",
            Self::Fs(k) => k.as_str(),
        }
    }
}

/// An error from gw-token. Its message names the check that failed; it
/// never contains a secret or a token.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    op: &'static str,
    path: Option<PathBuf>,
    message: String,
    fix: Option<String>,
    source: Option<Cause>,
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    pub(crate) fn new(kind: ErrorKind, op: &'static str, message: impl Into<String>) -> Self {
        Self { kind, op, path: None, message: message.into(), fix: None, source: None }
    }

    pub(crate) fn at(mut self, path: impl Into<PathBuf>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub(crate) fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// What kind of error this is.
    pub fn kind(&self) -> ErrorKind {
        self.kind
    }
    /// The class of its kind ([`ErrorKind::class`]).
    pub fn class(&self) -> Class {
        self.kind.class()
    }
    /// The operation (`"verify"`, `"derive"`, `"load secret"`, ...).
    pub fn op(&self) -> &'static str {
        self.op
    }
    /// The file concerned, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }
    /// Which check failed.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// How to fix it, where known.
    pub fn fix(&self) -> Option<&str> {
        self.fix.as_deref()
    }
}

impl From<gw_anchor::Error> for Error {
    fn from(e: gw_anchor::Error) -> Self {
        Self {
            kind: ErrorKind::Fs(e.kind()),
            op: e.op(),
            path: Some(e.path().to_path_buf()),
            message: e.message().to_owned(),
            fix: e.fix().map(str::to_owned),
            source: Some(Box::new(e)),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.as_ref().map(|p| p.display());
        gw_error::write_line(f, self.op, path.as_ref().map(|p| p as _), &self.message, self.fix())
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        gw_error::source(self.source.as_ref())
    }
}
