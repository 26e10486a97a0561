//! The error design every gw crate shares.
//!
//! Each gw crate keeps its own `Error` (an operation, what it concerns, a
//! message, a fix where one is known) and its own `#[non_exhaustive]`
//! `ErrorKind`, modelled on gw-anchor's. What they share lives here:
//!
//! - [`Class`]: the one thing a caller decides by — absent, refused for
//!   security, invalid input, or failed. Every kind answers exactly one class;
//!   a kind that wraps a lower crate's kind (`Fs(gw_anchor::ErrorKind)`, ...)
//!   answers its cause's class, so a program maps classes to exit codes in
//!   one place and never matches kinds several crates deep.
//! - [`Cause`]: the lower error an error was made from, kept whole and
//!   returned by `std::error::Error::source`, never flattened into a string.
//! - [`write_line`]: the one-line shape every gw error prints.
//! - [`Detail`] and [`error_type!`]: what every gw `Error` holds (kind,
//!   operation, subject, message, fix, cause) and what it answers (its
//!   accessors, `Display`, `source()`), written here once; each crate keeps
//!   its kinds, its subject accessor, its constructors and its `From` impls.
//!
//! ```
//! use gw_error::Class;
//!
//! fn exit_code(class: Class) -> u8 {
//!     match class {
//!         Class::Failed => 1,
//!         Class::Invalid => 2,
//!         Class::Refused => 3,
//!         Class::NotFound => 4,
//!     }
//! }
//! assert_eq!(exit_code(Class::Refused), 3);
//! assert_eq!(Class::NotFound.as_str(), "not_found");
//! ```

#![forbid(unsafe_code)]
#![deny(missing_docs)]

use std::fmt;

mod detail;

pub use detail::{Described, Detail, Subject};

/// What kind of outcome an error is, for callers that act on it.
///
/// Deliberately small and exhaustive: new error kinds in any crate map onto
/// one of these four, so code matching on `Class` never needs a default arm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Class {
    /// What was asked for does not exist (only `ENOENT` and its equivalents:
    /// a missing file, record, process; THREATS FS-7: never a permission or
    /// other error).
    NotFound,
    /// gw chose not to proceed because proceeding could be exploited (a
    /// symlink, an insecure file or directory, an invalid token, a refused
    /// credential, ...).
    Refused,
    /// The caller's own input is malformed (a bad path, id, URL, pointer,
    /// payload or configuration value).
    Invalid,
    /// Anything else: I/O, a lock timeout, a malformed file, a peer that
    /// failed.
    Failed,
}

impl Class {
    /// A short stable name for machine-readable output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::NotFound => "not_found",
            Self::Refused => "refused",
            Self::Invalid => "invalid",
            Self::Failed => "failed",
        }
    }
}

impl fmt::Display for Class {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The lower error an error was made from, kept as its `source()`.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The cause as `std::error::Error::source` returns it.
pub fn source(cause: Option<&Cause>) -> Option<&(dyn std::error::Error + 'static)> {
    cause.map(|c| &**c as &(dyn std::error::Error + 'static))
}

/// Writes the one line every gw error prints:
/// `OP[ SUBJECT]: MESSAGE[ (fix: FIX)]`.
///
/// ```
/// struct E;
/// impl std::fmt::Display for E {
///     fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
///         gw_error::write_line(f, "load", Some(&"/etc/gw.json:3:7"), "syntax error", Some("fix the file"))
///     }
/// }
/// assert_eq!(E.to_string(), "load /etc/gw.json:3:7: syntax error (fix: fix the file)");
/// ```
///
/// # Errors
/// Only the formatter's.
pub fn write_line(
    f: &mut fmt::Formatter<'_>,
    op: &str,
    subject: Option<&dyn fmt::Display>,
    message: &str,
    fix: Option<&str>,
) -> fmt::Result {
    f.write_str(op)?;
    if let Some(s) = subject {
        write!(f, " {s}")?;
    }
    write!(f, ": {message}")?;
    if let Some(fix) = fix {
        write!(f, " (fix: {fix})")?;
    }
    Ok(())
}

// The README's example runs as a doc test too, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
