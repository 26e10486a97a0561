//! [`Detail`]: what every gw error holds, and [`error_type!`](crate::error_type),
//! what every gw error answers, written once instead of once per crate.

use std::fmt;
use std::path::PathBuf;

use crate::{Cause, Class};

/// What a gw error holds: its kind, the operation, what it concerns (the
/// subject: a path, a port, a gateway, a record id), a message that never
/// holds a secret, a fix where one is known, and the lower error it was made
/// from.
///
/// Each crate's `Error` keeps a `Detail` in a private field named `detail`
/// and lets [`error_type!`](crate::error_type) write its accessors, its
/// `Display` (the one line of [`write_line`](crate::write_line)) and its
/// `source()`.
///
/// ```
/// use gw_error::Detail;
///
/// let io = std::io::Error::from_raw_os_error(28);
/// let d = Detail::new('k', "save", "/x".to_owned(), "no space left").with_fix("free some space").with_source(io);
/// assert_eq!(d.to_string(), "save /x: no space left (fix: free some space)");
/// assert!(d.source().is_some());
/// ```
#[derive(Debug)]
pub struct Detail<K, S> {
    kind: K,
    op: &'static str,
    subject: S,
    message: String,
    fix: Option<String>,
    source: Option<Cause>,
}

impl<K: Copy, S> Detail<K, S> {
    /// A detail of `kind` for operation `op` on `subject`, saying `message`.
    pub fn new(kind: K, op: &'static str, subject: S, message: impl Into<String>) -> Self {
        Self { kind, op, subject, message: message.into(), fix: None, source: None }
    }

    /// The detail of an error made from the lower gw error `cause`: its
    /// operation, message and fix, with `cause` kept whole as the source.
    pub fn caused_by<E: Described>(kind: K, subject: S, cause: E) -> Self {
        let fix = cause.fix().map(str::to_owned);
        Self { kind, op: cause.op(), subject, message: cause.message().to_owned(), fix, source: Some(Box::new(cause)) }
    }

    /// The same, with how to fix it.
    #[must_use]
    pub fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// The same, made from `source` (kept as its `source()`).
    #[must_use]
    pub fn with_source(mut self, source: impl std::error::Error + Send + Sync + 'static) -> Self {
        self.source = Some(Box::new(source));
        self
    }

    /// The same, for operation `op`.
    #[must_use]
    pub fn with_op(mut self, op: &'static str) -> Self {
        self.op = op;
        self
    }

    /// The same, concerning `subject`.
    #[must_use]
    pub fn with_subject(mut self, subject: S) -> Self {
        self.subject = subject;
        self
    }

    /// The same, saying `message`.
    #[must_use]
    pub fn with_message(mut self, message: impl Into<String>) -> Self {
        self.message = message.into();
        self
    }

    /// The kind.
    pub fn kind(&self) -> K {
        self.kind
    }

    /// The operation.
    pub fn op(&self) -> &'static str {
        self.op
    }

    /// What it concerns.
    pub fn subject(&self) -> &S {
        &self.subject
    }

    /// What it concerns, to change (a parse position added to a path).
    pub fn subject_mut(&mut self) -> &mut S {
        &mut self.subject
    }

    /// What happened.
    pub fn message(&self) -> &str {
        &self.message
    }

    /// How to fix it, where known.
    pub fn fix(&self) -> Option<&str> {
        self.fix.as_deref()
    }

    /// The lower error it was made from, as `std::error::Error::source`
    /// returns it.
    pub fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        crate::source(self.source.as_ref())
    }
}

impl<K, S: Subject> Detail<K, S> {
    /// Writes the one line ([`write_line`](crate::write_line)), with the fix
    /// when `with_fix` (an error whose fix is shown apart, as gw-gateway's,
    /// leaves it out).
    ///
    /// # Errors
    /// Only the formatter's.
    pub fn write_line(&self, f: &mut fmt::Formatter<'_>, with_fix: bool) -> fmt::Result {
        let shown = Shown(&self.subject);
        let subject = self.subject.is_shown().then_some(&shown as &dyn fmt::Display);
        let fix = if with_fix { self.fix.as_deref() } else { None };
        crate::write_line(f, self.op, subject, &self.message, fix)
    }
}

impl<K, S: Subject> fmt::Display for Detail<K, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.write_line(f, true)
    }
}

/// What an error concerns, as its line shows it (after the operation).
pub trait Subject {
    /// Whether the line shows it at all (`false`: `OP: MESSAGE`).
    fn is_shown(&self) -> bool {
        true
    }

    /// Writes it.
    ///
    /// # Errors
    /// Only the formatter's.
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result;
}

/// A path, always shown (as `Path::display` shows it).
impl Subject for PathBuf {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.display())
    }
}

/// A port, pid, gateway, field or id, always shown.
impl Subject for String {
    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self)
    }
}

/// Shown when there is one.
impl<T: Subject> Subject for Option<T> {
    fn is_shown(&self) -> bool {
        self.as_ref().is_some_and(T::is_shown)
    }

    fn write(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.as_ref().map_or(Ok(()), |s| s.write(f))
    }
}

struct Shown<'a, S>(&'a S);

impl<S: Subject> fmt::Display for Shown<'_, S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.write(f)
    }
}

/// What every gw error answers, whatever its crate: the class, the
/// operation, the message and the fix. [`error_type!`](crate::error_type)
/// implements it; [`Detail::caused_by`] reads a lower error through it.
pub trait Described: std::error::Error + Send + Sync + 'static {
    /// The class of its kind.
    fn class(&self) -> Class;
    /// The operation that failed.
    fn op(&self) -> &'static str;
    /// What happened, without the operation and subject.
    fn message(&self) -> &str;
    /// How to fix it, where known.
    fn fix(&self) -> Option<&str>;
}

/// Declares a gw crate's `Error` and writes what it shares with every other
/// gw error, over its `detail: Detail<ErrorKind, Subject>` field:
///
/// - the struct (with `#[derive(Debug)]`, the attributes and the further
///   fields given) and `Result<T, E = Error>`;
/// - the accessors `kind()`, `class()`, `is_security_refusal()` (asked of
///   the kind, which answers them), `op()`, `message()` and, unless
///   `without fix` follows the struct, `fix()`;
/// - the crate-private builders `with_fix` and `with_source`;
/// - `Display`: the one line (`OP[ SUBJECT]: MESSAGE[ (fix: FIX)]`; with
///   `without fix` the line leaves the fix out), `std::error::Error` with
///   the cause as `source()`, and (with the fix) [`Described`](crate::Described).
///
/// The crate keeps its own `ErrorKind` (with `class()` and
/// `is_security_refusal()`), its subject accessor (`path()`, `subject()`,
/// `at()`), its constructors and its `From` impls.
///
/// ```
/// mod error {
///     use gw_error::Detail;
///
///     #[derive(Debug, Clone, Copy, PartialEq, Eq)]
///     pub enum ErrorKind { Refused }
///     impl ErrorKind {
///         pub fn class(self) -> gw_error::Class { gw_error::Class::Refused }
///         pub fn is_security_refusal(self) -> bool { true }
///     }
///
///     gw_error::error_type! {
///         /// An error of this crate.
///         pub struct Error {
///             detail: Detail<ErrorKind, String>,
///         }
///     }
///
///     impl Error {
///         pub fn refused(id: &str) -> Self {
///             Self { detail: Detail::new(ErrorKind::Refused, "accept", id.to_owned(), "refused: unknown id") }
///                 .with_fix("register the id first")
///         }
///     }
/// }
/// let e = error::Error::refused("abc");
/// assert!(e.is_security_refusal());
/// assert_eq!(e.fix(), Some("register the id first"));
/// assert_eq!(e.to_string(), "accept abc: refused: unknown id (fix: register the id first)");
/// let r: error::Result<()> = Err(e);
/// assert!(r.is_err());
/// ```
#[macro_export]
macro_rules! error_type {
    (
        $(#[$attr:meta])*
        $vis:vis struct $error:ident { $($body:tt)* }
        $($mode:ident $what:ident)?
    ) => {
        $(#[$attr])*
        #[derive(Debug)]
        $vis struct $error { $($body)* }

        #[doc = concat!("`Result` with [`", stringify!($error), "`].")]
        $vis type Result<T, E = $error> = ::std::result::Result<T, E>;

        $crate::error_type!(@impl $error { $($body)* } $($mode $what)?);
    };
    (@impl $error:ident {
        $(#[$dattr:meta])* detail: Detail<$kind:ty, $subject:ty> $(, $($rest:tt)*)?
    }) => {
        $crate::error_type!(@common $error, $kind, true);
        impl $error {
            /// How to fix it, where known.
            pub fn fix(&self) -> Option<&str> {
                self.detail.fix()
            }
        }
        impl $crate::Described for $error {
            fn class(&self) -> $crate::Class {
                self.detail.kind().class()
            }
            fn op(&self) -> &'static str {
                self.detail.op()
            }
            fn message(&self) -> &str {
                self.detail.message()
            }
            fn fix(&self) -> Option<&str> {
                self.detail.fix()
            }
        }
    };
    (@impl $error:ident {
        $(#[$dattr:meta])* detail: Detail<$kind:ty, $subject:ty> $(, $($rest:tt)*)?
    } without fix) => {
        $crate::error_type!(@common $error, $kind, false);
    };
    (@common $error:ident, $kind:ty, $line_fix:expr) => {
        impl $error {
            /// What kind of error this is.
            pub fn kind(&self) -> $kind {
                self.detail.kind()
            }
            /// The class of its kind (`ErrorKind::class`): what a caller
            /// acts on.
            pub fn class(&self) -> $crate::Class {
                self.detail.kind().class()
            }
            /// `true` for refusals made for security
            /// (`ErrorKind::is_security_refusal`).
            pub fn is_security_refusal(&self) -> bool {
                self.detail.kind().is_security_refusal()
            }
            /// The operation that failed.
            pub fn op(&self) -> &'static str {
                self.detail.op()
            }
            /// What happened, without the operation and what it concerns.
            pub fn message(&self) -> &str {
                self.detail.message()
            }
            /// The same error, with how to fix it.
            #[allow(dead_code)]
            pub(crate) fn with_fix(mut self, fix: impl Into<String>) -> Self {
                self.detail = self.detail.with_fix(fix);
                self
            }
            /// The same error, made from `source` (kept as its `source()`).
            #[allow(dead_code)]
            pub(crate) fn with_source(mut self, source: impl ::std::error::Error + Send + Sync + 'static) -> Self {
                self.detail = self.detail.with_source(source);
                self
            }
        }
        impl ::std::fmt::Display for $error {
            fn fmt(&self, f: &mut ::std::fmt::Formatter<'_>) -> ::std::fmt::Result {
                self.detail.write_line(f, $line_fix)
            }
        }
        impl ::std::error::Error for $error {
            fn source(&self) -> Option<&(dyn ::std::error::Error + 'static)> {
                self.detail.source()
            }
        }
    };
}

#[cfg(test)]
mod tests {
    use std::fmt;
    use std::path::PathBuf;

    use super::{Described, Detail};
    use crate::Class;

    #[derive(Debug)]
    struct Lower(Detail<Class, PathBuf>);

    impl fmt::Display for Lower {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            fmt::Display::fmt(&self.0, f)
        }
    }

    impl std::error::Error for Lower {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.0.source()
        }
    }

    impl Described for Lower {
        fn class(&self) -> Class {
            self.0.kind()
        }
        fn op(&self) -> &'static str {
            self.0.op()
        }
        fn message(&self) -> &str {
            self.0.message()
        }
        fn fix(&self) -> Option<&str> {
            self.0.fix()
        }
    }

    #[test]
    fn a_subject_is_shown_only_when_there_is_one() {
        let none: Detail<char, Option<String>> = Detail::new('k', "resolve", None, "no gateway");
        assert_eq!(none.to_string(), "resolve: no gateway");
        let some = none.with_subject(Some("ws://127.0.0.1:1".to_owned()));
        assert_eq!(some.to_string(), "resolve ws://127.0.0.1:1: no gateway");
        let path = Detail::new('k', "load", PathBuf::from("/a b/c.json"), "bad").with_fix("fix it");
        assert_eq!(path.to_string(), "load /a b/c.json: bad (fix: fix it)");
    }

    #[test]
    fn the_line_leaves_the_fix_out_when_asked() {
        struct Without<'a>(&'a Detail<char, String>);
        impl fmt::Display for Without<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.write_line(f, false)
            }
        }
        let d = Detail::new('k', "handshake", "ws://h".to_owned(), "refused").with_fix("retry");
        assert_eq!(Without(&d).to_string(), "handshake ws://h: refused");
        assert_eq!(d.fix(), Some("retry"), "the fix is kept for its own accessor");
    }

    #[test]
    fn an_error_made_from_a_lower_one_says_what_it_said_and_keeps_it_as_the_cause() {
        let os = std::io::Error::from_raw_os_error(13);
        let lower = Lower(
            Detail::new(Class::Refused, "open root", PathBuf::from("/x"), "refused: insecure")
                .with_fix("chmod 700 /x")
                .with_source(os),
        );
        let upper: Detail<char, String> = Detail::caused_by('u', "gw-upper".to_owned(), lower);
        assert_eq!(upper.to_string(), "open root gw-upper: refused: insecure (fix: chmod 700 /x)");
        let cause = upper.source().and_then(|s| s.downcast_ref::<Lower>()).expect("the lower error is the cause");
        assert_eq!(cause.0.subject(), &PathBuf::from("/x"));
        let os = cause.0.source().and_then(|s| s.downcast_ref::<std::io::Error>()).expect("and the OS error beneath");
        assert_eq!(os.raw_os_error(), Some(13));
    }
}
