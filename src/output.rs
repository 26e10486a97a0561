//! Printing results and errors, and the exit codes every command shares.
//!
//! Exit codes: 0 ok, 1 operational error, 2 usage error, 3 refused for
//! security, 4 not found. Errors are one line on stderr (`gw: ...`); with
//! `--json` the result or the error is also a JSON object on stdout.
//!
//! Every byte the CLI prints goes through [`print`](fn@print) (stdout) or
//! [`eprint`](fn@eprint) (stderr), never `print!`/`eprintln!`, which panic when the
//! stream fails (THREATS CLI-3). A failed stdout write is kept and decided
//! once, in [`finish`], which `main` calls on every exit path:
//! - the reader closed the pipe (`EPIPE`: `gw ... | head`): gw ends quietly
//!   with the command's own exit code, as ripgrep and cargo do — the reader
//!   asked for no more;
//! - any other failure (`ENOSPC` on a full disk, `EIO`): `gw: error: writing
//!   to stdout: ...` on stderr and exit 1 (or the command's own non-zero
//!   code, which already says it failed): the output is lost, never a 0.
//!
//! Stderr is best effort: if it fails too, there is nowhere left to say so
//! and the exit code is the report.

use std::io::Write;
use std::sync::{Mutex, PoisonError};

use gw_error::Class;
use serde_json::{Value, json};

/// The version of the JSON output's shape (docs/json-output.md): every JSON
/// object gw prints carries it as `"format"`. Raised when a key is renamed,
/// removed or changes type; adding keys does not raise it.
pub(crate) const JSON_FORMAT: u64 = 1;

/// Adds `"format": JSON_FORMAT` to a JSON object about to be printed.
pub(crate) fn stamp(value: &mut Value) {
    if let Value::Object(map) = value {
        map.insert("format".into(), Value::from(JSON_FORMAT));
    }
}

/// Exit code: success.
pub(crate) const EXIT_OK: u8 = 0;
/// Exit code: an operation failed (I/O, lock timeout, too large, ...).
pub(crate) const EXIT_FAILED: u8 = 1;
/// Exit code: the command line or its input was malformed.
pub(crate) const EXIT_USAGE: u8 = 2;
/// Exit code: refused for security.
pub(crate) const EXIT_REFUSED: u8 = 3;
/// Exit code: not found.
pub(crate) const EXIT_NOT_FOUND: u8 = 4;

/// An error as the CLI reports it.
#[derive(Debug)]
pub(crate) struct CliError {
    pub(crate) code: u8,
    pub(crate) kind: &'static str,
    pub(crate) op: &'static str,
    pub(crate) path: Option<String>,
    pub(crate) message: String,
    pub(crate) fix: Option<String>,
}

impl CliError {
    /// A usage error (bad input on the command line or stdin).
    pub(crate) fn usage(op: &'static str, message: impl Into<String>) -> Self {
        Self { code: EXIT_USAGE, kind: "usage", op, path: None, message: message.into(), fix: None }
    }

    pub(crate) fn with_fix(mut self, fix: impl Into<String>) -> Self {
        self.fix = Some(fix.into());
        self
    }

    /// A write that did not find its target's directory, without
    /// `--parents`: the fix names `--parents` (issue 12 item 6).
    pub(crate) fn missing_parent(self, parents_given: bool) -> Self {
        if self.code == EXIT_NOT_FOUND && !parents_given {
            self.with_fix("a parent directory is missing: add --parents to create it (mode 0700)")
        } else {
            self
        }
    }

    /// The exit code of an error's class: the one place where gw's errors,
    /// whichever crate reports them, become exit codes.
    pub(crate) fn code_for(class: Class) -> u8 {
        match class {
            Class::NotFound => EXIT_NOT_FOUND,
            Class::Refused => EXIT_REFUSED,
            Class::Invalid => EXIT_USAGE,
            Class::Failed => EXIT_FAILED,
        }
    }

    pub(crate) fn line(&self) -> String {
        let what = if self.code == EXIT_REFUSED { "refused" } else { "error" };
        let mut s = format!("gw: {what}: {}", self.op);
        if let Some(p) = &self.path {
            s.push(' ');
            s.push_str(p);
        }
        s.push_str(": ");
        s.push_str(self.message());
        if let Some(fix) = &self.fix {
            s.push_str(" (fix: ");
            s.push_str(fix);
            s.push(')');
        }
        s.replace('\n', " ")
    }

    /// The message without a leading "refused: " (the anchor's messages
    /// start with it; the line says "refused" already and JSON has `kind`
    /// and `exit_code`): never said twice.
    pub(crate) fn message(&self) -> &str {
        self.message.strip_prefix("refused: ").unwrap_or(&self.message)
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "format": JSON_FORMAT,
            "ok": false,
            "exit_code": self.code,
            "error": {
                "kind": self.kind,
                "op": self.op,
                "path": self.path,
                "message": self.message(),
                "fix": self.fix,
            }
        })
    }
}

/// One exit code per condition, whichever crate reports it (issue 12 item
/// 8): an absolute path where a path relative to DIR is needed is a usage
/// error (2), as a malformed relative path is, not a security refusal; a
/// directory where a regular file is needed is a usage error too (the
/// argument names the wrong thing; FIFOs, sockets and devices stay refusals,
/// exit 3). gw-anchor classifies both as refusals for its library callers;
/// the CLI recognises them by gw-anchor's own wording.
fn reclassify(code: u8, message: &str) -> u8 {
    const ABSOLUTE: &str = "an absolute path cannot be used beneath a root";
    const DIRECTORY: &str = "the target is a directory, and gw only";
    if code == EXIT_REFUSED && (message.contains(ABSOLUTE) || message.contains(DIRECTORY)) { EXIT_USAGE } else { code }
}

impl CliError {
    /// A library error as the CLI reports it: the exit code of its class
    /// (see [`reclassify`]), its kind's stable name, operation, subject,
    /// message and fix.
    pub(crate) fn report(
        class: Class,
        kind: &'static str,
        op: &'static str,
        path: Option<String>,
        message: &str,
        fix: Option<String>,
    ) -> Self {
        Self { code: reclassify(Self::code_for(class), message), kind, op, path, message: message.into(), fix }
    }
}

impl From<gw_anchor::Error> for CliError {
    fn from(e: gw_anchor::Error) -> Self {
        let path = Some(e.path().display().to_string());
        Self::report(e.class(), e.kind().as_str(), e.op(), path, e.message(), e.fix().map(str::to_owned))
    }
}

impl From<gw_persist::Error> for CliError {
    fn from(e: gw_persist::Error) -> Self {
        let path = match e.position() {
            Some((line, col)) => format!("{}:{line}:{col}", e.path().display()),
            None => e.path().display().to_string(),
        };
        Self::report(e.class(), e.kind().as_str(), e.op(), Some(path), e.message(), e.fix().map(str::to_owned))
    }
}

impl From<gw_token::Error> for CliError {
    fn from(e: gw_token::Error) -> Self {
        let path = e.path().map(|p| p.display().to_string());
        Self::report(e.class(), e.kind().as_str(), e.op(), path, e.message(), e.fix().map(str::to_owned))
    }
}

impl From<gw_cred::Error> for CliError {
    fn from(e: gw_cred::Error) -> Self {
        let path = (!e.subject().is_empty()).then(|| e.subject().to_owned());
        Self::report(e.class(), e.kind().as_str(), e.op(), path, e.message(), e.fix().map(str::to_owned))
    }
}

impl From<gw_gateway::Error> for CliError {
    fn from(e: gw_gateway::Error) -> Self {
        Self::report(e.class(), e.kind().as_str(), e.op(), Some(e.at().to_owned()), e.message(), e.fix())
    }
}

impl From<gw_lease::Error> for CliError {
    /// `gw lease` and the `--lease DIR --id ID` owner of `gw port`/`probe`/
    /// `watch`: exit 4 for a missing registry, record or process, 3 for a
    /// refusal or a record whose process is not running here (dead, expired,
    /// reused pid, another boot or pid namespace), 2 for a bad id or payload.
    fn from(e: gw_lease::Error) -> Self {
        let path = Some(e.path().display().to_string());
        Self::report(e.class(), e.kind().as_str(), e.op(), path, e.message(), e.fix().map(str::to_owned))
    }
}

impl CliError {
    /// An error in input the user gave (an argument, stdin, a spec): a usage
    /// error, unless it is a security refusal (a duplicate key, an injection).
    pub(crate) fn input(e: gw_persist::Error, what: &str) -> Self {
        let at = e.position().map(|(l, c)| format!(":{l}:{c}")).unwrap_or_default();
        let mut err = Self::from(e);
        if err.code != EXIT_REFUSED {
            err.code = EXIT_USAGE;
        }
        err.path = Some(format!("{what}{at}"));
        err
    }
}

/// Where results go, human or JSON.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Output {
    pub(crate) json: bool,
}

impl Output {
    /// Prints a successful result: `human` as text, or `value` (with
    /// `"ok": true` added) as JSON.
    pub(crate) fn ok(&self, human: &str, mut value: Value) {
        if self.json {
            if let Value::Object(map) = &mut value {
                map.entry("ok").or_insert(Value::Bool(true));
            }
            stamp(&mut value);
            print(format!("{value}\n").as_bytes());
        } else if !human.is_empty() {
            if human.ends_with('\n') {
                print(human.as_bytes());
            } else {
                print(format!("{human}\n").as_bytes());
            }
        }
    }

    /// Reports an error and returns its exit code.
    pub(crate) fn error(&self, err: &CliError) -> u8 {
        eprint(&format!("{}\n", err.line()));
        if self.json {
            print(format!("{}\n", err.to_json()).as_bytes());
        }
        err.code
    }
}

/// The first failed stdout write, decided on in [`finish`].
static STDOUT_FAILED: Mutex<Option<std::io::Error>> = Mutex::new(None);

/// Writes `bytes` to stdout and flushes. Never panics: a failure is kept for
/// [`finish`], and nothing more is written after it (the output is already
/// incomplete). Returns whether the bytes were written.
pub(crate) fn print(bytes: &[u8]) -> bool {
    let mut failed = STDOUT_FAILED.lock().unwrap_or_else(PoisonError::into_inner);
    if failed.is_some() {
        return false;
    }
    let mut out = std::io::stdout().lock();
    match out.write_all(bytes).and_then(|()| out.flush()) {
        Ok(()) => true,
        Err(e) => {
            *failed = Some(e);
            false
        }
    }
}

/// Records a stdout write that failed elsewhere (clap's help), for [`finish`].
pub(crate) fn stdout_failed(e: std::io::Error) {
    STDOUT_FAILED.lock().unwrap_or_else(PoisonError::into_inner).get_or_insert(e);
}

/// Writes `text` to stderr, best effort: never panics, and a failure is
/// ignored (there is nowhere left to report it; the exit code still is).
pub(crate) fn eprint(text: &str) {
    let mut err = std::io::stderr().lock();
    let _ = err.write_all(text.as_bytes()).and_then(|()| err.flush());
}

/// The exit code, once stdout's fate is known: `code` if every write
/// succeeded or the reader closed the pipe (`EPIPE`: quiet); otherwise the
/// failure is reported on stderr and a success becomes exit 1.
pub(crate) fn finish(code: u8) -> u8 {
    let failed = STDOUT_FAILED.lock().unwrap_or_else(PoisonError::into_inner).take();
    match failed {
        None => code,
        Some(e) if e.kind() == std::io::ErrorKind::BrokenPipe => code,
        Some(e) => {
            eprint(&format!("gw: error: writing to stdout: {e}; the output is incomplete\n"));
            if code == EXIT_OK { EXIT_FAILED } else { code }
        }
    }
}
