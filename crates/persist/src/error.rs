//! Errors of document operations: the operation, the file, where in the file
//! (line and column) when parsing, and a kind that keeps gw-anchor's security
//! refusals distinct.

use std::fmt;
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};

use gw_error::{Class, Detail};

/// What went wrong.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// A filesystem error or refusal from gw-anchor (symlink, insecure
    /// directory, not a regular file, not found on write paths, I/O, ...).
    Fs(gw_anchor::ErrorKind),
    /// The document is not valid JSON / plist: syntax, invalid UTF-8, a
    /// byte-order mark, trailing data after the document.
    Syntax,
    /// An object or dictionary has the same key twice (security refusal: two
    /// parsers keeping different copies is a known attack).
    DuplicateKey,
    /// Nesting is deeper than the limit.
    TooDeep,
    /// The document is larger than the limit (checked before parsing), or a
    /// binary plist decodes to more than a document of that size can hold
    /// (shared references, THREATS DOC-2).
    TooLarge,
    /// A value the format cannot hold (`null` in a plist; plist `<data>`,
    /// `<date>` or UID values, which gw documents do not map).
    Unsupported,
    /// The document's shape does not match the expected type.
    Type,
    /// The document's generation is not the expected one (another writer
    /// got there first).
    Conflict,
    /// A JSON pointer is malformed or names nothing in the document.
    Pointer,
    /// A service definition has an invalid value (relative path, bad label).
    InvalidSpec,
    /// A service definition value would inject a directive or break the
    /// format: newline, control character, unbalanced quote (security refusal).
    Injection,
    /// The document is writable by its group or by others, or owned by
    /// another user (not the caller, not root): anyone could have written its
    /// content (security refusal, THREATS FS-5).
    InsecureFile,
}

impl ErrorKind {
    /// `true` for refusals made for security.
    pub fn is_security_refusal(self) -> bool {
        match self {
            Self::Fs(k) => k.is_security_refusal(),
            Self::DuplicateKey | Self::Injection | Self::InsecureFile => true,
            _ => false,
        }
    }

    /// The one class a caller acts on: gw-anchor's for [`ErrorKind::Fs`];
    /// refused for the security refusals; invalid for a malformed pointer
    /// or service definition (the caller's input); failed for the rest.
    pub fn class(self) -> Class {
        match self {
            Self::Fs(k) => k.class(),
            k if k.is_security_refusal() => Class::Refused,
            Self::Pointer | Self::InvalidSpec => Class::Invalid,
            _ => Class::Failed,
        }
    }

    /// A short stable name for machine-readable output.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Fs(k) => k.as_str(),
            Self::Syntax => "syntax",
            Self::DuplicateKey => "duplicate_key",
            Self::TooDeep => "too_deep",
            Self::TooLarge => "too_large",
            Self::Unsupported => "unsupported",
            Self::Type => "type",
            Self::Conflict => "conflict",
            Self::Pointer => "pointer",
            Self::InvalidSpec => "invalid_spec",
            Self::Injection => "injection",
            Self::InsecureFile => "insecure_file",
        }
    }
}

gw_error::error_type! {
    /// An error from a document operation.
    pub struct Error {
        detail: Detail<ErrorKind, Located>,
    }
}

/// The file (or spec) an error concerns and, for a parse error, where in it.
#[derive(Debug)]
struct Located {
    path: PathBuf,
    /// Line and column, kept as `u32`s (a document is at most a few MiB)
    /// and the line (1-based, never 0) as a `NonZeroU32`, so the error stays
    /// small enough to return by value.
    position: Option<(NonZeroU32, u32)>,
}

impl Located {
    fn new(path: impl Into<PathBuf>) -> Self {
        Self { path: path.into(), position: None }
    }
}

/// `PATH` or `PATH:LINE:COLUMN`.
impl gw_error::Subject for Located {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match self.position {
            Some((line, col)) => write!(f, "{path}:{line}:{col}"),
            None => write!(f, "{path}"),
        }
    }
}

impl Error {
    /// A new error of `kind` for operation `op` on `path`.
    pub(crate) fn new(kind: ErrorKind, op: &'static str, path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self { detail: Detail::new(kind, op, Located::new(path), message) }
    }

    /// An I/O failure of operation `op` on `path`, of kind
    /// `Fs(gw_anchor::ErrorKind::Io)` with `err` as its cause: for storage
    /// that is not a gw-anchor root (a `gw_cred::Storage` over another
    /// backend) to report its failures as documents do.
    #[cold]
    pub fn io(op: &'static str, path: impl Into<PathBuf>, err: std::io::Error) -> Self {
        Self::new(ErrorKind::Fs(gw_anchor::ErrorKind::Io), op, path, err.to_string()).with_source(err)
    }

    /// Adds a line and column (1-based) in the file.
    pub(crate) fn at(mut self, line: usize, column: usize) -> Self {
        let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.detail.subject_mut().position = NonZeroU32::new(narrow(line)).map(|l| (l, narrow(column)));
        self
    }

    /// The file (or spec) the error concerns.
    pub fn path(&self) -> &Path {
        &self.detail.subject().path
    }
    /// Line and column (1-based) of a parse error.
    pub fn position(&self) -> Option<(usize, usize)> {
        self.detail.subject().position.map(|(l, c)| (l.get() as usize, c as usize))
    }

    /// The same error for another operation and path.
    pub(crate) fn relabel(mut self, op: &'static str, path: &Path) -> Self {
        let position = self.detail.subject().position;
        self.detail = self.detail.with_op(op).with_subject(Located { path: path.to_path_buf(), position });
        self
    }
}

impl From<gw_anchor::Error> for Error {
    fn from(e: gw_anchor::Error) -> Self {
        let path = Located::new(e.path());
        Self { detail: Detail::caused_by(ErrorKind::Fs(e.kind()), path, e) }
    }
}

#[cfg(test)]
mod tests {
    use std::error::Error as _;

    use gw_anchor::{Policy, Root};
    use gw_error::Class;
    use serde_json::json;

    use super::{Error, ErrorKind};
    use crate::Document;

    #[test]
    fn a_gw_anchor_refusal_is_kept_as_the_cause_and_gives_the_class() {
        let dir = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink("/etc/passwd", dir.path().join("doc.json")).unwrap();
        let root = Root::open(dir.path(), &Policy::new()).unwrap();
        let e = Document::new(&root, "doc.json").load_value().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Fs(gw_anchor::ErrorKind::Symlink));
        assert_eq!(e.class(), Class::Refused);
        let cause =
            e.source().and_then(|s| s.downcast_ref::<gw_anchor::Error>()).expect("the gw-anchor error is the cause");
        assert_eq!(cause.kind(), gw_anchor::ErrorKind::Symlink);
        assert_eq!(cause.message(), e.message());
    }

    #[test]
    fn update_value_returns_the_closures_own_error_as_it_is() {
        #[derive(Debug)]
        enum Mine {
            Persist(Error),
            Refused(&'static str),
        }
        impl From<Error> for Mine {
            fn from(e: Error) -> Self {
                Self::Persist(e)
            }
        }
        let dir = tempfile::tempdir().unwrap();
        let root = Root::open(dir.path(), &Policy::new()).unwrap();
        let doc = Document::new(&root, "doc.json");
        let res = doc.update_value(|_| Err(Mine::Refused("not today")));
        assert!(matches!(res, Err(Mine::Refused("not today"))), "{res:?}");
        assert!(doc.load_value().unwrap().is_none(), "nothing was written");
        // gw-persist's own errors reach the caller through `From`.
        std::fs::write(dir.path().join("doc.json"), "{").unwrap();
        let res = doc.update_value(|_| Ok::<_, Mine>(json!({})));
        assert!(matches!(&res, Err(Mine::Persist(e)) if e.kind() == ErrorKind::Syntax), "{res:?}");
    }

    #[test]
    fn each_kind_answers_one_class_and_nested_kinds_their_causes() {
        assert_eq!(ErrorKind::Fs(gw_anchor::ErrorKind::NotFound).class(), Class::NotFound);
        assert_eq!(ErrorKind::Fs(gw_anchor::ErrorKind::InsecureDirectory).class(), Class::Refused);
        assert_eq!(ErrorKind::Fs(gw_anchor::ErrorKind::InvalidPath).class(), Class::Invalid);
        assert_eq!(ErrorKind::Fs(gw_anchor::ErrorKind::LockTimeout).class(), Class::Failed);
        assert_eq!(ErrorKind::DuplicateKey.class(), Class::Refused);
        assert_eq!(ErrorKind::Injection.class(), Class::Refused);
        assert_eq!(ErrorKind::Pointer.class(), Class::Invalid);
        assert_eq!(ErrorKind::Syntax.class(), Class::Failed);
    }

    #[test]
    fn io_keeps_the_os_error_as_the_cause() {
        let e = Error::io("save", "/x", std::io::Error::from_raw_os_error(28));
        assert_eq!(e.kind(), ErrorKind::Fs(gw_anchor::ErrorKind::Io));
        let cause = e.source().and_then(|s| s.downcast_ref::<std::io::Error>()).expect("the OS error is the cause");
        assert_eq!(cause.raw_os_error(), Some(28));
        assert!(e.to_string().starts_with("save /x: "), "{e}");
    }
}
