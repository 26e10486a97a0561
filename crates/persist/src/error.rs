//! Errors of document operations: the operation, the file, where in the file
//! (line and column) when parsing, and a kind that keeps gw-anchor's security
//! refusals distinct.

use std::fmt;
use std::path::{Path, PathBuf};

use gw_error::{Cause, Class};

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

/// An error from a document operation.
#[derive(Debug)]
pub struct Error {
    kind: ErrorKind,
    op: &'static str,
    path: PathBuf,
    /// Kept as `u32`s (a document is at most a few MiB) so the error stays
    /// small enough to return by value.
    position: Option<(u32, u32)>,
    message: String,
    fix: Option<String>,
    source: Option<Cause>,
}

/// `Result` with [`Error`].
pub type Result<T> = std::result::Result<T, Error>;

impl Error {
    /// A new error of `kind` for operation `op` on `path`.
    pub(crate) fn new(kind: ErrorKind, op: &'static str, path: impl Into<PathBuf>, message: impl Into<String>) -> Self {
        Self { kind, op, path: path.into(), position: None, message: message.into(), fix: None, source: None }
    }

    /// An I/O failure of operation `op` on `path`, of kind
    /// `Fs(gw_anchor::ErrorKind::Io)` with `err` as its cause: for storage
    /// that is not a gw-anchor root (a `gw_cred::Storage` over another
    /// backend) to report its failures as documents do.
    #[cold]
    pub fn io(op: &'static str, path: impl Into<PathBuf>, err: std::io::Error) -> Self {
        let mut e = Self::new(ErrorKind::Fs(gw_anchor::ErrorKind::Io), op, path, err.to_string());
        e.source = Some(Box::new(err));
        e
    }

    /// Adds a line and column (1-based) in the file.
    pub(crate) fn at(mut self, line: usize, column: usize) -> Self {
        let narrow = |n: usize| u32::try_from(n).unwrap_or(u32::MAX);
        self.position = Some((narrow(line), narrow(column)));
        self
    }

    /// Adds how to fix it.
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
    /// The operation, e.g. `"load"`, `"update"`, `"render"`.
    pub fn op(&self) -> &'static str {
        self.op
    }
    /// The file (or spec) the error concerns.
    pub fn path(&self) -> &Path {
        &self.path
    }
    /// Line and column (1-based) of a parse error.
    pub fn position(&self) -> Option<(usize, usize)> {
        self.position.map(|(l, c)| (l as usize, c as usize))
    }
    /// What happened.
    pub fn message(&self) -> &str {
        &self.message
    }
    /// How to fix it, where known.
    pub fn fix(&self) -> Option<&str> {
        self.fix.as_deref()
    }

    /// The same error for another operation and path.
    pub(crate) fn relabel(mut self, op: &'static str, path: &Path) -> Self {
        self.op = op;
        self.path = path.to_path_buf();
        self
    }
}

impl From<gw_anchor::Error> for Error {
    fn from(e: gw_anchor::Error) -> Self {
        Self {
            kind: ErrorKind::Fs(e.kind()),
            op: e.op(),
            path: e.path().to_path_buf(),
            position: None,
            message: e.message().to_owned(),
            fix: e.fix().map(str::to_owned),
            source: Some(Box::new(e)),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match self.position {
            Some((line, col)) => {
                gw_error::write_line(f, self.op, Some(&format_args!("{path}:{line}:{col}")), &self.message, self.fix())
            }
            None => gw_error::write_line(f, self.op, Some(&path), &self.message, self.fix()),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        gw_error::source(self.source.as_ref())
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
