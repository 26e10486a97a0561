//! The `gw` runner every root suite shares, and the exit codes gw documents.
//!
//! `CARGO_BIN_EXE_gw` exists only in the root package's tests, so the binary
//! is named at the call site: [`gw!`](crate::gw) expands `env!` there (or
//! pass the path to [`Gw::new`]). Every run is bounded in time (nothing gw
//! does may block, e.g. on a FIFO), writes its stdin from a thread (gw may
//! stop reading early: a broken pipe is then its answer, not the test's
//! failure) and drains stdout and stderr while it waits, so a large output
//! cannot fill a pipe and stall gw.

use std::ffi::OsStr;
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// Success.
pub const EXIT_OK: i32 = 0;
/// Any other failure (I/O, a lost race, a backend error).
pub const EXIT_FAILED: i32 = 1;
/// A usage error: bad arguments or input.
pub const EXIT_USAGE: i32 = 2;
/// A security refusal.
pub const EXIT_REFUSED: i32 = 3;
/// What was asked for does not exist.
pub const EXIT_NOT_FOUND: i32 = 4;

/// How long a run may take unless [`Gw::timeout`] says otherwise.
pub const TIMEOUT: Duration = Duration::from_secs(20);

/// A [`Gw`] for the `gw` binary of this build (the root package's tests only:
/// `CARGO_BIN_EXE_gw` is expanded at the call site).
#[macro_export]
macro_rules! gw {
    () => {
        $crate::cli::Gw::new(env!("CARGO_BIN_EXE_gw"))
    };
}

/// What a run of `gw` (or of a wrapper around it) did; stdout and stderr
/// decoded lossily. The code is -1 when it was killed by a signal.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Run {
    /// `(code, stdout, stderr)`, the shape many suites assert on.
    pub fn triple(self) -> (i32, String, String) {
        (self.code, self.stdout, self.stderr)
    }

    /// Asserts gw failed as documented: exit `code`, nothing on stdout, one
    /// line on stderr starting `gw: refused: ` (a security refusal) or
    /// `gw: error: ` (any other failure) and naming every one of `needles`.
    #[track_caller]
    pub fn assert_fails(&self, code: i32, needles: &[&str], ctx: &str) {
        assert_eq!(self.code, code, "{ctx}: exit code (stderr: {})", self.stderr);
        let line = self.stderr.strip_suffix('\n').unwrap_or(&self.stderr);
        assert!(!line.is_empty() && !line.contains('\n'), "{ctx}: stderr must be one line, got {:?}", self.stderr);
        let word = if code == EXIT_REFUSED { "gw: refused: " } else { "gw: error: " };
        assert!(line.starts_with(word), "{ctx}: expected `{word}`: {line}");
        for n in needles {
            assert!(line.contains(n), "{ctx}: the error should mention {n:?}: {line}");
        }
        assert!(self.stdout.is_empty(), "{ctx}: nothing on stdout, got {:?}", self.stdout);
    }
}

impl From<Output> for Run {
    fn from(out: Output) -> Self {
        Self {
            code: out.status.code().unwrap_or(-1),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }
}

/// What gw reads.
#[derive(Debug)]
enum Stdin {
    Null,
    Bytes(Vec<u8>),
    /// A pipe the test writes itself (after [`Gw::spawn`]).
    Piped,
}

/// One run of `gw` being set up: arguments, environment, stdin, time limit.
/// Stdin is `/dev/null` unless [`Gw::stdin`] gives bytes.
#[derive(Debug)]
pub struct Gw {
    cmd: Command,
    stdin: Stdin,
    /// Where stdout and stderr go when not to pipes the runner drains.
    stdout: Option<Stdio>,
    stderr: Option<Stdio>,
    timeout: Duration,
    what: String,
}

impl Gw {
    /// A run of the binary at `bin` (usually through [`gw!`](crate::gw)).
    pub fn new(bin: impl AsRef<OsStr>) -> Self {
        Self::wrapping(Command::new(bin))
    }

    /// A run of `cmd` as it is (a wrapper such as `sh -c 'umask 0; exec gw'`,
    /// `strace … gw`, or a command with a uid set), with the runner's
    /// stdin, draining and time limit.
    pub fn wrapping(cmd: Command) -> Self {
        let what = format!("{cmd:?}");
        Self { cmd, stdin: Stdin::Null, stdout: None, stderr: None, timeout: TIMEOUT, what }
    }

    /// The binary at `bin` under umask `umask` (through `sh`: the umask is
    /// process-wide, so the test's own cannot be changed for one child).
    pub fn with_umask(bin: &str, umask: u32) -> Self {
        let mut sh = Command::new("/bin/sh");
        sh.args(["-c", &format!("umask {umask:03o}; exec \"$0\" \"$@\""), bin]);
        Self::wrapping(sh)
    }

    /// What the run is called in a time-out panic (default: the command).
    pub fn named(mut self, what: impl Into<String>) -> Self {
        self.what = what.into();
        self
    }

    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Self {
        self.cmd.arg(arg);
        self
    }

    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(mut self, args: I) -> Self {
        self.cmd.args(args);
        self
    }

    /// `GW_HOME=home`.
    pub fn home(self, home: impl AsRef<Path>) -> Self {
        self.env("GW_HOME", home.as_ref())
    }

    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Self {
        self.cmd.env(key, value);
        self
    }

    pub fn envs<I: IntoIterator<Item = (K, V)>, K: AsRef<OsStr>, V: AsRef<OsStr>>(mut self, vars: I) -> Self {
        self.cmd.envs(vars);
        self
    }

    pub fn env_remove(mut self, key: impl AsRef<OsStr>) -> Self {
        self.cmd.env_remove(key);
        self
    }

    pub fn current_dir(mut self, dir: impl AsRef<Path>) -> Self {
        self.cmd.current_dir(dir);
        self
    }

    /// Bytes on gw's stdin (`None`: `/dev/null`).
    pub fn stdin(mut self, data: Option<&[u8]>) -> Self {
        self.stdin = data.map_or(Stdin::Null, |d| Stdin::Bytes(d.to_vec()));
        self
    }

    /// A pipe on gw's stdin that the caller of [`Gw::spawn`] writes.
    pub fn piped_stdin(mut self) -> Self {
        self.stdin = Stdin::Piped;
        self
    }

    /// gw's stdout to `out` (e.g. a pipe the test fills first) instead of
    /// a pipe the runner drains.
    pub fn stdout(mut self, out: impl Into<Stdio>) -> Self {
        self.stdout = Some(out.into());
        self
    }

    /// gw's stderr to `err` instead of a pipe the runner drains.
    pub fn stderr(mut self, err: impl Into<Stdio>) -> Self {
        self.stderr = Some(err.into());
        self
    }

    pub fn timeout(mut self, limit: Duration) -> Self {
        self.timeout = limit;
        self
    }

    /// Runs as user and group `id` (the test runs as root), from `/` (a
    /// directory that user may enter).
    pub fn as_user(mut self, id: u32) -> Self {
        self.cmd.uid(id).gid(id).current_dir("/");
        self
    }

    /// Starts gw with stdout and stderr piped and its stdin being fed (or
    /// left to the caller, [`Gw::piped_stdin`]): for
    /// a test that acts while gw runs; [`finish`] collects it.
    pub fn spawn(mut self) -> Child {
        self.cmd.stdin(if matches!(self.stdin, Stdin::Null) { Stdio::null() } else { Stdio::piped() });
        self.cmd.stdout(self.stdout.take().unwrap_or_else(Stdio::piped));
        self.cmd.stderr(self.stderr.take().unwrap_or_else(Stdio::piped));
        let mut child = self.cmd.spawn().unwrap_or_else(|e| panic!("spawn {}: {e}", self.what));
        if let Stdin::Bytes(data) = self.stdin {
            let mut pipe = child.stdin.take().expect("piped stdin");
            // gw may stop reading (a limit reached, a refusal before
            // reading): a broken pipe here is expected.
            std::thread::spawn(move || {
                let _ = pipe.write_all(&data);
            });
        }
        child
    }

    /// Runs gw to its end (panics past the time limit, killing it).
    pub fn run(self) -> Run {
        self.output().into()
    }

    /// [`Gw::run`], as raw bytes and exit status.
    pub fn output(self) -> Output {
        let (limit, what) = (self.timeout, self.what.clone());
        finish_output(self.spawn(), limit, &what)
    }
}

/// Waits for a child started by [`Gw::spawn`] at most `limit` (killing it
/// and panicking past that), draining its stdout and stderr meanwhile.
pub fn finish(child: Child, limit: Duration, what: &str) -> Run {
    finish_output(child, limit, what).into()
}

/// [`finish`], as raw bytes and exit status.
pub fn finish_output(mut child: Child, limit: Duration, what: &str) -> Output {
    let (stdout, stderr) = drains(&mut child);
    wait_drained(child, stdout, stderr, limit, what)
}

/// [`finish`] for a child whose stdout and stderr are already being
/// drained ([`drains`], started before the test acts on the child).
pub fn finish_drained(child: Child, stdout: Drain, stderr: Drain, limit: Duration, what: &str) -> Run {
    wait_drained(child, stdout, stderr, limit, what).into()
}

fn wait_drained(mut child: Child, stdout: Drain, stderr: Drain, limit: Duration, what: &str) -> Output {
    let status = wait_bounded(&mut child, limit, what);
    Output { status, stdout: stdout.join().expect("stdout reader"), stderr: stderr.join().expect("stderr reader") }
}

/// Waits for `child` at most `limit`; past it, kills and reaps it and panics.
pub fn wait_bounded(child: &mut Child, limit: Duration, what: &str) -> ExitStatus {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().expect("wait for gw") {
            return status;
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            panic!("{what} did not finish in {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A pipe being read to its end on a thread of its own.
pub type Drain = JoinHandle<Vec<u8>>;

/// Drains the child's stdout and stderr (each on a thread), so a large
/// output cannot fill a pipe and stall it.
pub fn drains(child: &mut Child) -> (Drain, Drain) {
    (drain(child.stdout.take()), drain(child.stderr.take()))
}

/// Reads `pipe` (if any) to its end on a thread of its own.
pub fn drain(pipe: Option<impl std::io::Read + Send + 'static>) -> Drain {
    std::thread::spawn(move || {
        let mut buf = Vec::new();
        if let Some(mut p) = pipe {
            let _ = p.read_to_end(&mut buf);
        }
        buf
    })
}

/// Runs the `gw` at `gw` with `GW_HOME=home`, no stdin; its code, stdout
/// and stderr.
pub fn gw_in(gw: &str, home: &Path, args: &[&str]) -> (i32, String, String) {
    Gw::new(gw).args(args).home(home).run().triple()
}

/// [`gw_in`] with extra environment variables (e.g. `GW_PROFILE`).
pub fn gw_env_in(gw: &str, home: &Path, env: &[(&str, &str)], args: &[&str]) -> (i32, String, String) {
    Gw::new(gw).args(args).home(home).envs(env.iter().copied()).run().triple()
}

/// [`gw_in`], with `stdin` written to gw's standard input (`None`: none).
pub fn gw_in_with(gw: &str, home: &Path, args: &[&str], stdin: Option<&[u8]>) -> (i32, String, String) {
    Gw::new(gw).args(args).home(home).stdin(stdin).run().triple()
}
