//! Errors: which check failed, never the secret or the token.

use std::path::{Path, PathBuf};

use gw_error::{Class, Detail};

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

gw_error::error_type! {
    /// An error from gw-token. Its message names the check that failed; it
    /// never contains a secret or a token.
    pub struct Error {
        detail: Detail<ErrorKind, Option<PathBuf>>,
    }
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, op: &'static str, message: impl Into<String>) -> Self {
        Self { detail: Detail::new(kind, op, None, message) }
    }

    pub(crate) fn at(mut self, path: impl Into<PathBuf>) -> Self {
        self.detail = self.detail.with_subject(Some(path.into()));
        self
    }

    /// The file concerned, if any.
    pub fn path(&self) -> Option<&Path> {
        self.detail.subject().as_deref()
    }
}

impl From<gw_anchor::Error> for Error {
    fn from(e: gw_anchor::Error) -> Self {
        let path = Some(e.path().to_path_buf());
        Self { detail: Detail::caused_by(ErrorKind::Fs(e.kind()), path, e) }
    }
}
