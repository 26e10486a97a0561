//! Printing results and errors, and the exit codes every command shares.
//!
//! Exit codes: 0 ok, 1 operational error, 2 usage error, 3 refused for
//! security, 4 not found. Errors are one line on stderr (`gw: ...`); with
//! `--json` the result or the error is also a JSON object on stdout.

use std::io::Write;

use gw_anchor::ErrorKind;
use serde_json::{Value, json};

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

    /// The exit code for an anchor error kind.
    pub(crate) fn code_for(kind: ErrorKind) -> u8 {
        match kind {
            ErrorKind::NotFound => EXIT_NOT_FOUND,
            k if k.is_security_refusal() => EXIT_REFUSED,
            ErrorKind::InvalidPath => EXIT_USAGE,
            _ => EXIT_FAILED,
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
        // The anchor's messages start with "refused: "; do not say it twice.
        s.push_str(self.message.strip_prefix("refused: ").unwrap_or(&self.message));
        if let Some(fix) = &self.fix {
            s.push_str(" (fix: ");
            s.push_str(fix);
            s.push(')');
        }
        s.replace('\n', " ")
    }

    pub(crate) fn to_json(&self) -> Value {
        json!({
            "ok": false,
            "exit_code": self.code,
            "error": {
                "kind": self.kind,
                "op": self.op,
                "path": self.path,
                "message": self.message,
                "fix": self.fix,
            }
        })
    }
}

impl From<gw_anchor::Error> for CliError {
    fn from(e: gw_anchor::Error) -> Self {
        Self {
            code: Self::code_for(e.kind()),
            kind: e.kind().as_str(),
            op: e.op(),
            path: Some(e.path().display().to_string()),
            message: e.message().into(),
            fix: e.fix().map(str::to_owned),
        }
    }
}

impl From<gw_persist::Error> for CliError {
    fn from(e: gw_persist::Error) -> Self {
        use gw_persist::ErrorKind as K;
        let code = match e.kind() {
            K::Fs(k) => Self::code_for(k),
            k if k.is_security_refusal() => EXIT_REFUSED,
            K::Pointer | K::InvalidSpec => EXIT_USAGE,
            _ => EXIT_FAILED,
        };
        let path = match e.position() {
            Some((line, col)) => format!("{}:{line}:{col}", e.path().display()),
            None => e.path().display().to_string(),
        };
        Self {
            code,
            kind: e.kind().as_str(),
            op: e.op(),
            path: Some(path),
            message: e.message().into(),
            fix: e.fix().map(str::to_owned),
        }
    }
}

impl From<gw_token::Error> for CliError {
    fn from(e: gw_token::Error) -> Self {
        use gw_token::ErrorKind as K;
        let code = match e.kind() {
            K::Fs(k) => Self::code_for(k),
            K::Doc(gw_persist::ErrorKind::Fs(k)) => Self::code_for(k),
            k if k.is_security_refusal() => EXIT_REFUSED,
            K::InvalidInput => EXIT_USAGE,
            _ => EXIT_FAILED,
        };
        Self {
            code,
            kind: e.kind().as_str(),
            op: e.op(),
            path: e.path().map(|p| p.display().to_string()),
            message: e.message().into(),
            fix: e.fix().map(str::to_owned),
        }
    }
}

impl From<gw_cred::Error> for CliError {
    fn from(e: gw_cred::Error) -> Self {
        use gw_cred::ErrorKind as K;
        let code = match e.kind() {
            K::Fs(k) => Self::code_for(k),
            K::Doc(gw_persist::ErrorKind::Fs(k)) => Self::code_for(k),
            K::Token(gw_token::ErrorKind::Fs(k)) => Self::code_for(k),
            k if k.is_security_refusal() => EXIT_REFUSED,
            K::ValidationFailed => EXIT_REFUSED,
            K::InvalidUrl | K::InvalidInput => EXIT_USAGE,
            _ => EXIT_FAILED,
        };
        Self {
            code,
            kind: e.kind().as_str(),
            op: e.op(),
            path: (!e.subject().is_empty()).then(|| e.subject().to_owned()),
            message: e.message().into(),
            fix: e.fix().map(str::to_owned),
        }
    }
}

impl From<gw_gateway::Error> for CliError {
    fn from(e: gw_gateway::Error) -> Self {
        use gw_gateway::ErrorKind as K;
        let code = match e.kind() {
            K::Fs(k) | K::Key(gw_token::ErrorKind::Fs(k)) => Self::code_for(k),
            k if k.is_security_refusal() => EXIT_REFUSED,
            K::Absent => EXIT_NOT_FOUND,
            K::InvalidRequest => EXIT_USAGE,
            _ => EXIT_FAILED,
        };
        Self {
            code,
            kind: e.kind().as_str(),
            op: e.op(),
            path: Some(e.at().to_owned()),
            message: e.message().into(),
            fix: e.fix(),
        }
    }
}

impl From<gw_lease::Error> for CliError {
    /// `gw lease` and the `--lease DIR --id ID` owner of `gw port`/`probe`/
    /// `watch`: exit 4 for a missing registry, record or process, 3 for a
    /// refusal or a record whose process is not running here (dead, expired,
    /// reused pid, another boot or pid namespace), 2 for a bad id or payload.
    fn from(e: gw_lease::Error) -> Self {
        use gw_lease::ErrorKind as K;
        let code = match e.kind() {
            K::Fs(k) => Self::code_for(k),
            K::InvalidId | K::InvalidPayload => EXIT_USAGE,
            K::ProcessNotFound => EXIT_NOT_FOUND,
            K::NotRunning | K::ForeignRecord | K::Unproven => EXIT_REFUSED,
            k if k.is_security_refusal() => EXIT_REFUSED,
            _ => EXIT_FAILED,
        };
        Self {
            code,
            kind: e.kind().as_str(),
            op: e.op(),
            path: Some(e.path().display().to_string()),
            message: e.message().into(),
            fix: e.fix().map(str::to_owned),
        }
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
        let mut out = std::io::stdout().lock();
        if self.json {
            if let Value::Object(map) = &mut value {
                map.entry("ok").or_insert(Value::Bool(true));
            }
            let _ = writeln!(out, "{value}");
        } else if !human.is_empty() {
            let _ = out.write_all(human.as_bytes());
            if !human.ends_with('\n') {
                let _ = out.write_all(b"\n");
            }
        }
        let _ = out.flush();
    }

    /// Reports an error and returns its exit code.
    pub(crate) fn error(&self, err: &CliError) -> u8 {
        eprintln!("{}", err.line());
        if self.json {
            println!("{}", err.to_json());
        }
        err.code
    }
}
