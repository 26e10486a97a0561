//! External commands: argv without a shell, a timeout that kills the whole
//! process group, bounded output, and a classified outcome.

#[cfg(target_os = "linux")]
use std::io::{Read, Write};
#[cfg(target_os = "linux")]
use std::os::unix::process::{CommandExt, ExitStatusExt};
#[cfg(target_os = "linux")]
use std::process::{Command, ExitStatus, Stdio};
#[cfg(target_os = "linux")]
use std::sync::mpsc;
use std::time::Duration;
#[cfg(target_os = "linux")]
use std::time::Instant;

#[cfg(target_os = "linux")]
use rustix::process::{Pid, Signal, WaitId, WaitIdOptions};
use serde::Serialize;

use crate::error::{Error, Result};

/// The placeholder an approve command's arguments carry for the request id.
pub const ID_PLACEHOLDER: &str = "{id}";

/// How a call (or a request) ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It succeeded (exit status 0).
    Done,
    /// It may succeed later: timed out (killed), killed by a signal, exit
    /// status 75 (`EX_TEMPFAIL` of sysexits.h), or the program could not be
    /// started for a passing reason (EAGAIN, ENOMEM, ...). Retried (WATCH-2).
    Transient,
    /// It will not succeed by retrying: any other exit status, a program that
    /// does not exist or may not be executed, output over the limit. Logged,
    /// not retried.
    Permanent,
    /// Refused before any call: the client is not allowlisted (WATCH-4).
    Rejected,
}

impl Outcome {
    /// A short stable name.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Done => "done",
            Self::Transient => "transient",
            Self::Permanent => "permanent",
            Self::Rejected => "rejected",
        }
    }
}

/// A program and its arguments, run without a shell.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandLine {
    argv: Vec<String>,
}

impl CommandLine {
    /// Splits `line` into words like a POSIX shell would (single and double
    /// quotes, backslash escapes; `shlex`), and nothing else: no variables,
    /// globs, pipes or redirections — the words are passed as they are.
    ///
    /// # Errors
    /// `InvalidConfig` for an empty line, an unbalanced quote, or a
    /// [`ID_PLACEHOLDER`] in the program position.
    pub fn parse(line: &str) -> Result<Self> {
        let argv = shlex::split(line).ok_or_else(|| {
            Error::config("parse command", line, "unbalanced quotes or a trailing backslash (fix: quote like a shell)")
        })?;
        Self::from_argv(argv)
    }

    /// A command line from its words.
    ///
    /// # Errors
    /// `InvalidConfig` for an empty argv, an empty program, a NUL byte, or a
    /// [`ID_PLACEHOLDER`] in the program.
    pub fn from_argv(argv: Vec<String>) -> Result<Self> {
        let op = "parse command";
        let Some(program) = argv.first() else {
            return Err(Error::config(op, "", "the command is empty"));
        };
        if program.is_empty() {
            return Err(Error::config(op, "", "the program name is empty"));
        }
        if program.contains(ID_PLACEHOLDER) {
            return Err(Error::config(op, program.as_str(), "the {id} placeholder may only be in an argument"));
        }
        if argv.iter().any(|a| a.contains('\0')) {
            return Err(Error::config(op, program.as_str(), "an argument contains a NUL byte"));
        }
        Ok(Self { argv })
    }

    /// The words: program first.
    pub fn argv(&self) -> &[String] {
        &self.argv
    }

    /// The program (the first word).
    pub fn program(&self) -> &str {
        &self.argv[0]
    }

    /// Whether an argument carries [`ID_PLACEHOLDER`].
    pub fn has_placeholder(&self) -> bool {
        self.argv[1..].iter().any(|a| a.contains(ID_PLACEHOLDER))
    }

    /// The argv with every [`ID_PLACEHOLDER`] in the arguments replaced by
    /// `value`. The program is never substituted.
    pub fn substitute(&self, value: &str) -> Vec<String> {
        let mut out = Vec::with_capacity(self.argv.len());
        out.push(self.argv[0].clone());
        out.extend(self.argv[1..].iter().map(|a| a.replace(ID_PLACEHOLDER, value)));
        out
    }
}

/// What a call did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CallReport {
    /// How it ended.
    pub outcome: Outcome,
    /// Its standard output (at most the runner's limit; empty unless it
    /// exited).
    pub stdout: Vec<u8>,
    /// One line saying why, for the log (never the output itself).
    pub detail: String,
    /// Whether it was killed at its timeout.
    pub timed_out: bool,
}

impl CallReport {
    fn new(outcome: Outcome, detail: impl Into<String>) -> Self {
        Self { outcome, stdout: Vec::new(), detail: detail.into(), timed_out: false }
    }
}

/// Runs a command line, bounded by a timeout.
pub trait Runner {
    /// Runs `argv` (program first, no shell) for at most `timeout`.
    fn run(&self, argv: &[String], timeout: Duration) -> CallReport;
}

impl<R: Runner + ?Sized> Runner for &R {
    fn run(&self, argv: &[String], timeout: Duration) -> CallReport {
        (**self).run(argv, timeout)
    }
}

/// Runs real processes: each in its own process group (`setpgid(0, 0)`),
/// stdin from /dev/null, stderr discarded (it may carry secrets and would
/// break the one-line log), stdout captured up to a limit.
///
/// # Security
/// WATCH-1: a call that outlives its timeout is killed with its whole
/// process group (`kill(-pgid, SIGKILL)`) and reaped; so is any process the
/// call left behind in its group after it exited. The group is killed while
/// the leader is still an unreaped zombie, so its pid (the group id) cannot
/// have been reused by then.
#[derive(Debug, Clone, Copy)]
pub struct ProcessRunner {
    // Read by the Linux runner only (elsewhere every call is refused).
    #[cfg_attr(not(target_os = "linux"), allow(dead_code))]
    output_limit: usize,
    grace: Duration,
}

impl Default for ProcessRunner {
    fn default() -> Self {
        Self::new(1024 * 1024)
    }
}

/// How often a running call is checked on.
#[cfg(target_os = "linux")]
const POLL_STEP: Duration = Duration::from_millis(5);

impl ProcessRunner {
    /// A runner keeping at most `output_limit` bytes of stdout (more is a
    /// permanent failure: the call is killed).
    pub fn new(output_limit: usize) -> Self {
        Self { output_limit, grace: Duration::from_millis(500) }
    }

    /// How long to wait, after the group was killed, for the output pipe to
    /// close (only a process that left the group can hold it open longer).
    pub fn with_grace(mut self, grace: Duration) -> Self {
        self.grace = grace;
        self
    }
}

#[cfg(target_os = "linux")]
enum ReadResult {
    Complete(Vec<u8>),
    TooLarge,
    Failed(std::io::Error),
}

#[cfg(target_os = "linux")]
impl Runner for ProcessRunner {
    fn run(&self, argv: &[String], timeout: Duration) -> CallReport {
        self.call(argv, None, timeout)
    }
}

impl ProcessRunner {
    /// As [`Runner::run`], with `input` written to the call's stdin (then
    /// closed) instead of /dev/null — how a secret reaches a validator without
    /// appearing in its argv or environment (THREATS CLI-1). The input is
    /// written by a helper thread from a copy that is zeroized afterwards, so
    /// a call that never reads its stdin (or shrinks its pipe) cannot block
    /// the caller past `timeout`: once the group is killed the write fails.
    pub fn run_with_input(&self, argv: &[String], input: &[u8], timeout: Duration) -> CallReport {
        #[cfg(target_os = "linux")]
        {
            self.call(argv, Some(input), timeout)
        }
        #[cfg(not(target_os = "linux"))]
        {
            let _ = input;
            self.run(argv, timeout)
        }
    }

    #[cfg(target_os = "linux")]
    fn call(&self, argv: &[String], input: Option<&[u8]>, timeout: Duration) -> CallReport {
        let Some((program, args)) = argv.split_first() else {
            return CallReport::new(Outcome::Permanent, "empty command");
        };
        let started = Instant::now();
        let mut child = match Command::new(program)
            .args(args)
            .stdin(if input.is_some() { Stdio::piped() } else { Stdio::null() })
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
        {
            Ok(c) => c,
            Err(e) => {
                let outcome = match e.kind() {
                    std::io::ErrorKind::NotFound | std::io::ErrorKind::PermissionDenied => Outcome::Permanent,
                    _ if e.raw_os_error() == Some(8) => Outcome::Permanent, // ENOEXEC
                    _ => Outcome::Transient,
                };
                return CallReport::new(outcome, format!("`{program}` could not be started: {e}"));
            }
        };
        let pid = Pid::from_child(&child);
        if let (Some(input), Some(mut stdin)) = (input, child.stdin.take()) {
            let copy = zeroize::Zeroizing::new(input.to_vec());
            std::thread::spawn(move || {
                // A call that exits without reading is judged by its status.
                let _ = stdin.write_all(&copy);
            });
        }
        let (tx, rx) = mpsc::channel();
        if let Some(stdout) = child.stdout.take() {
            let limit = self.output_limit;
            std::thread::spawn(move || {
                let mut buf = Vec::new();
                let r = match stdout.take(limit as u64 + 1).read_to_end(&mut buf) {
                    Ok(_) if buf.len() > limit => ReadResult::TooLarge,
                    Ok(_) => ReadResult::Complete(buf),
                    Err(e) => ReadResult::Failed(e),
                };
                let _ = tx.send(r);
            });
        }
        let deadline = started + timeout;
        let mut output: Option<ReadResult> = None;
        // Wait for the leader to exit without reaping it (WNOWAIT): while it
        // is a zombie its pid, which is the group id, stays reserved.
        let exited = loop {
            if output.is_none() {
                output = rx.try_recv().ok();
            }
            if matches!(output, Some(ReadResult::TooLarge)) {
                break false;
            }
            match rustix::process::waitid(
                WaitId::Pid(pid),
                WaitIdOptions::EXITED | WaitIdOptions::NOHANG | WaitIdOptions::NOWAIT,
            ) {
                Ok(Some(_)) => break true,
                Ok(None) => {}
                Err(rustix::io::Errno::INTR) => continue,
                Err(_) => break true, // already reaped or not ours: child.wait() tells
            }
            if Instant::now() >= deadline {
                break false;
            }
            std::thread::sleep(POLL_STEP.min(deadline.saturating_duration_since(Instant::now())));
        };
        // Whatever happened, nothing of the call survives it.
        let _ = rustix::process::kill_process_group(pid, Signal::KILL);
        let status = child.wait();
        if output.is_none() {
            output = rx.recv_timeout(self.grace).ok();
        }
        let status: ExitStatus = match status {
            Ok(s) => s,
            Err(e) => return CallReport::new(Outcome::Transient, format!("waiting for `{program}` failed: {e}")),
        };
        if matches!(output, Some(ReadResult::TooLarge)) {
            return CallReport::new(
                Outcome::Permanent,
                format!("`{program}` wrote more than {} bytes (killed)", self.output_limit),
            );
        }
        if !exited {
            let mut r =
                CallReport::new(Outcome::Transient, format!("`{program}` did not finish within {timeout:?} (killed)"));
            r.timed_out = true;
            return r;
        }
        let mut report = classify(program, status);
        match output {
            Some(ReadResult::Complete(buf)) => report.stdout = buf,
            Some(ReadResult::Failed(e)) => {
                return CallReport::new(Outcome::Transient, format!("reading the output of `{program}` failed: {e}"));
            }
            Some(ReadResult::TooLarge) => unreachable!("handled above"),
            None => {
                return CallReport::new(
                    Outcome::Permanent,
                    format!("`{program}` exited but its output stayed open (a process left its group)"),
                );
            }
        }
        report
    }
}

#[cfg(not(target_os = "linux"))]
impl Runner for ProcessRunner {
    fn run(&self, argv: &[String], _timeout: Duration) -> CallReport {
        let program = argv.first().map(String::as_str).unwrap_or("");
        CallReport::new(Outcome::Permanent, format!("`{program}`: unsupported platform (gw-watch runs on Linux)"))
    }
}

/// Classifies an exit status (see [`Outcome`]).
#[cfg(target_os = "linux")]
fn classify(program: &str, status: ExitStatus) -> CallReport {
    match (status.code(), status.signal()) {
        (Some(0), _) => CallReport::new(Outcome::Done, format!("`{program}` succeeded")),
        (Some(75), _) => CallReport::new(Outcome::Transient, format!("`{program}` failed temporarily (exit 75)")),
        (Some(c), _) => CallReport::new(Outcome::Permanent, format!("`{program}` failed (exit {c})")),
        (None, Some(sig)) => CallReport::new(Outcome::Transient, format!("`{program}` was killed by signal {sig}")),
        (None, None) => CallReport::new(Outcome::Transient, format!("`{program}` ended with {status}")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[cfg(target_os = "linux")]
    #[test]
    fn run_with_input_delivers_stdin_and_never_blocks_on_a_call_that_does_not_read() {
        let runner = ProcessRunner::default();
        let r = runner.run_with_input(&["cat".to_string()], b"the secret", Duration::from_secs(10));
        assert_eq!((r.outcome, r.stdout.as_slice()), (Outcome::Done, &b"the secret"[..]), "{}", r.detail);
        // 4 MiB never fits a pipe: a caller writing it itself would block
        // forever on a call that does not read; the timeout still holds.
        let big = vec![b'x'; 4 << 20];
        let started = Instant::now();
        let r = runner.run_with_input(&["sleep".to_string(), "30".to_string()], &big, Duration::from_millis(300));
        assert!(r.timed_out && r.outcome == Outcome::Transient, "{}", r.detail);
        assert!(started.elapsed() < Duration::from_secs(10), "returned after {:?}", started.elapsed());
    }

    #[test]
    fn parse_splits_like_a_shell_without_one() {
        let c = CommandLine::parse(r#"tool approve --id '{id}' "two words" a\ b $HOME;ls"#).unwrap();
        assert_eq!(c.argv(), ["tool", "approve", "--id", "{id}", "two words", "a b", "$HOME;ls"]);
        assert!(c.has_placeholder());
        assert_eq!(c.substitute("r-1")[3], "r-1");
        assert!(CommandLine::parse("").is_err());
        assert!(CommandLine::parse("'unbalanced").is_err());
        assert!(CommandLine::parse("{id} x").is_err());
        assert!(!CommandLine::parse("list --json").unwrap().has_placeholder());
    }

    #[test]
    fn exit_statuses_are_classified() {
        let r = ProcessRunner::default();
        let sh = |s: &str| vec!["sh".to_owned(), "-c".to_owned(), s.to_owned()];
        let t = Duration::from_secs(20);
        let done = r.run(&sh("printf hello"), t);
        assert_eq!((done.outcome, done.stdout.as_slice()), (Outcome::Done, &b"hello"[..]));
        assert_eq!(r.run(&sh("exit 75"), t).outcome, Outcome::Transient);
        assert_eq!(r.run(&sh("exit 3"), t).outcome, Outcome::Permanent);
        assert_eq!(r.run(&sh("kill -TERM $$"), t).outcome, Outcome::Transient);
        let missing = r.run(&["/nonexistent/gw-watch-test".to_owned()], t);
        assert_eq!(missing.outcome, Outcome::Permanent);
    }

    /// A file the kernel cannot execute (`ENOEXEC`: no `#!` line and no
    /// executable format) fails the same way every time: permanent, never
    /// retried as a transient failure would be.
    #[cfg(target_os = "linux")]
    #[test]
    fn a_file_the_kernel_cannot_execute_is_a_permanent_failure() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("not-a-program");
        std::fs::write(&path, b"\x00\x01\x02 not a program").unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        let rep = ProcessRunner::default().run(&[path.display().to_string()], Duration::from_secs(20));
        assert_eq!(rep.outcome, Outcome::Permanent, "{}", rep.detail);
        assert!(rep.detail.contains("could not be started"), "{}", rep.detail);
    }

    #[test]
    fn outcomes_and_programs_are_named() {
        let names = [Outcome::Done, Outcome::Transient, Outcome::Permanent, Outcome::Rejected].map(Outcome::as_str);
        assert_eq!(names, ["done", "transient", "permanent", "rejected"]);
        assert_eq!(CommandLine::parse("openclaw devices list --json").unwrap().program(), "openclaw");
    }

    #[test]
    fn output_over_the_limit_is_a_permanent_failure() {
        let r = ProcessRunner::new(1000);
        let argv: Vec<String> = ["sh", "-c", "head -c 5000 /dev/zero"].map(str::to_owned).into();
        let rep = r.run(&argv, Duration::from_secs(20));
        assert_eq!(rep.outcome, Outcome::Permanent, "{}", rep.detail);
        assert!(rep.detail.contains("more than 1000 bytes"));
        let ok: Vec<String> = ["sh", "-c", "head -c 1000 /dev/zero"].map(str::to_owned).into();
        assert_eq!(r.run(&ok, Duration::from_secs(20)).stdout.len(), 1000);
        // Setting the grace keeps the limit.
        let r = ProcessRunner::new(1000).with_grace(Duration::from_millis(50));
        assert_eq!(r.run(&argv, Duration::from_secs(20)).outcome, Outcome::Permanent);
    }
}
