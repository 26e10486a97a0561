//! Errors of the gateway protocol: the operation, the gateway (or file)
//! concerned, a kind that keeps refusals apart from failures, and — for a
//! gateway's own refusal — its code and recommended next step.

use gw_error::{Class, Detail};

/// What went wrong.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The gateway refused the credential or the device (`res` with
    /// `ok:false` for `connect`, then close 1008): a security refusal.
    AuthRefused,
    /// The gateway answered `UNAVAILABLE` (still starting, or busy): not a
    /// refusal; connect again later.
    Unavailable,
    /// The gateway speaks a protocol version this client does not.
    VersionMismatch,
    /// A frame broke the protocol: not JSON, over the size limit, duplicate
    /// keys, wrong types, a `res` before the challenge, a binary frame, a
    /// hello-ok without `auth`, ...
    Protocol,
    /// The gateway did not answer in time (challenge wait, handshake bound).
    Timeout,
    /// The connection failed or closed (I/O, WebSocket upgrade).
    Io,
    /// The device key file: a gw-token / gw-anchor error reading or creating
    /// it (insecure file, symlink, not found, malformed).
    Key(gw_token::ErrorKind),
    /// A file of a gateway's state: gw-anchor's error or refusal (symlink,
    /// insecure file or directory, not found, too large, I/O).
    Fs(gw_anchor::ErrorKind),
    /// A gateway's state holds nothing of what was asked (no exec-approvals
    /// row, no socket token).
    Absent,
    /// A gateway's state is not what gw reads (not SQLite, another schema,
    /// malformed JSON in it).
    State,
    /// A hello-ok offered device tokens outside a bootstrap connect to a
    /// loopback peer (THREATS GATE-3): a security refusal; nothing stored.
    HandoffRefused,
    /// The caller's request cannot be sent (an empty credential, a field
    /// with a `|` that would make the signed payload ambiguous, ...).
    InvalidRequest,
}

impl ErrorKind {
    /// `true` for refusals made for security (the CLI's exit 3).
    pub fn is_security_refusal(self) -> bool {
        match self {
            Self::AuthRefused | Self::HandoffRefused => true,
            Self::Key(k) => k.is_security_refusal(),
            Self::Fs(k) => k.is_security_refusal(),
            _ => false,
        }
    }

    /// The one class a caller acts on: the lower crate's for
    /// [`ErrorKind::Key`] and [`ErrorKind::Fs`]; refused for the security
    /// refusals; not found for [`ErrorKind::Absent`]; invalid for a request
    /// that cannot be sent; failed for the rest.
    pub fn class(self) -> Class {
        match self {
            Self::Key(k) => k.class(),
            Self::Fs(k) => k.class(),
            k if k.is_security_refusal() => Class::Refused,
            Self::Absent => Class::NotFound,
            Self::InvalidRequest => Class::Invalid,
            _ => Class::Failed,
        }
    }

    /// A short stable name for machine-readable output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::AuthRefused => "auth_refused",
            Self::Unavailable => "unavailable",
            Self::VersionMismatch => "version_mismatch",
            Self::Protocol => "protocol",
            Self::Timeout => "timeout",
            Self::Io => "io",
            Self::Key(k) => k.as_str(),
            Self::Fs(k) => k.as_str(),
            Self::Absent => "absent",
            Self::State => "bad_state",
            Self::HandoffRefused => "handoff_refused",
            Self::InvalidRequest => "invalid_request",
        }
    }
}

/// A refusal as the gateway worded it (`error` of a `res` frame).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    /// `error.code` (`INVALID_REQUEST`, ...).
    pub code: String,
    /// `error.details.code` (`AUTH_TOKEN_MISMATCH`, ...), when given.
    pub detail_code: Option<String>,
    /// `error.details.recommendedNextStep`, when given.
    pub next_step: Option<String>,
    /// `error.message`, cut to a bounded length.
    pub message: String,
}

gw_error::error_type! {
    /// An error of a protocol operation.
    pub struct Error {
        /// The subject is the gateway (URL or address) or file concerned; the
        /// fix is left out of the line (see [`Error::fix`]).
        detail: Detail<ErrorKind, String>,
        refusal: Option<Box<Refusal>>,
    }
    without fix
}

impl Error {
    pub(crate) fn new(kind: ErrorKind, op: &'static str, at: impl Into<String>, message: impl Into<String>) -> Self {
        Self { detail: Detail::new(kind, op, at.into(), message), refusal: None }
    }

    pub(crate) fn refused(op: &'static str, at: impl Into<String>, refusal: Refusal) -> Self {
        let what = match (&refusal.detail_code, &refusal.next_step) {
            (Some(c), Some(n)) => format!("the gateway refused the connect: {c} (recommended next step: {n}): "),
            (Some(c), None) => format!("the gateway refused the connect: {c}: "),
            _ => format!("the gateway refused the connect: {}: ", refusal.code),
        };
        let kind = if refusal.code == "UNAVAILABLE" { ErrorKind::Unavailable } else { ErrorKind::AuthRefused };
        let mut e = Self::new(kind, op, at, format!("{what}{}", refusal.message));
        e.refusal = Some(Box::new(refusal));
        e
    }

    /// The gateway (URL or address) or file concerned.
    pub fn at(&self) -> &str {
        self.detail.subject()
    }

    /// The gateway's own answer, for [`ErrorKind::AuthRefused`] and
    /// [`ErrorKind::Unavailable`].
    pub fn refusal(&self) -> Option<&Refusal> {
        self.refusal.as_deref()
    }

    /// How to fix it, where there is a known fix.
    pub fn fix(&self) -> Option<String> {
        if let Some(f) = self.detail.fix() {
            return Some(f.to_owned());
        }
        if self.kind() == ErrorKind::Unavailable {
            return Some("the gateway is starting or busy: try again in a few seconds".to_owned());
        }
        if let Some(r) = &self.refusal {
            return Some(
                match r.next_step.as_deref() {
                    Some("update_auth_credentials") => "the credential is wrong: store the gateway's current token",
                    Some("retry_with_device_token") => "connect again with the device token stored for this gateway",
                    Some("wait_then_retry") => "the device waits for approval on the gateway: approve it, then retry",
                    Some("update_auth_configuration" | "review_auth_configuration") => {
                        "the gateway's auth configuration does not allow this client: review gateway.auth"
                    }
                    _ => "check the credential and the device pairing on the gateway",
                }
                .to_owned(),
            );
        }
        None
    }
}

impl From<gw_anchor::Error> for Error {
    fn from(e: gw_anchor::Error) -> Self {
        let at = e.path().display().to_string();
        Self { detail: Detail::caused_by(ErrorKind::Fs(e.kind()), at, e), refusal: None }
    }
}

impl From<gw_token::Error> for Error {
    fn from(e: gw_token::Error) -> Self {
        let at = e.path().map(|p| p.display().to_string()).unwrap_or_else(|| "-".to_owned());
        Self { detail: Detail::caused_by(ErrorKind::Key(e.kind()), at, e), refusal: None }
    }
}
