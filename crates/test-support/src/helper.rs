//! Helper children: the test binary re-executed as its own `helper_child`
//! test, in a mode, with arguments (as another uid, under another umask, in
//! a clean environment). Two shapes: [`run_helper`] runs a mode to its end
//! and returns the lines it reported; [`spawn_helper`] starts a mode the
//! test then talks to line by line ([`Helper`], [`Talk`]), for a child that
//! must hold a state while the parent acts.

use std::io::{BufRead as _, BufReader, Write as _};
use std::os::unix::process::CommandExt as _;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};

const MODE_ENV: &str = "GW_TEST_HELPER_MODE";
const ARGS_ENV: &str = "GW_TEST_HELPER_ARGS";
/// What marks a helper's own lines among the test harness's output.
const MARK: &str = "GW-HELPER-RESULT ";

/// The mode and arguments a helper child was started with, if this process
/// is one.
fn started_as() -> Option<(String, Vec<String>)> {
    let mode = std::env::var(MODE_ENV).ok()?;
    let args =
        std::env::var(ARGS_ENV).unwrap_or_default().split('\n').filter(|a| !a.is_empty()).map(str::to_owned).collect();
    Some((mode, args))
}

/// This test binary running its `helper_child` test in `mode` with `args`,
/// from `/` (a directory every uid may enter).
fn helper_command<S: AsRef<str>>(mode: &str, args: &[S]) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    let args: Vec<&str> = args.iter().map(AsRef::as_ref).collect();
    cmd.args(["helper_child", "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(MODE_ENV, mode)
        .env(ARGS_ENV, args.join("\n"))
        .current_dir("/");
    cmd
}

/// The helper's lines in a child's stdout.
fn reported(stdout: &str) -> Vec<String> {
    stdout.lines().filter_map(|l| l.strip_prefix(MARK)).map(str::to_owned).collect()
}

/// The body of the `helper_child` test of a test binary. In a normal run it
/// does nothing; in a child started by [`run_helper`] it runs `dispatch`
/// (mode, args) and prints each line it returns, then exits the process.
pub fn helper_main(dispatch: fn(&str, &[String]) -> Vec<String>) {
    let Some((mode, args)) = started_as() else { return };
    let lines = dispatch(&mode, &args);
    let mut out = std::io::stdout().lock();
    for line in lines {
        writeln!(out, "{MARK}{line}").unwrap();
    }
    out.flush().unwrap();
    std::process::exit(0);
}

/// Runs this test binary's `helper_child` test in a child process with
/// `mode` and `args`, as `uid`/`gid` when given, and returns the lines the
/// helper printed. Panics (with the child's output) if the child failed.
pub fn run_helper(mode: &str, args: &[String], uid: Option<u32>) -> Vec<String> {
    let mut cmd = helper_command(mode, args);
    if let Some(uid) = uid {
        cmd.uid(uid).gid(uid);
    }
    let out = cmd.output().expect("spawn helper child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines = reported(&stdout);
    assert!(
        out.status.success() && !lines.is_empty(),
        "helper child `{mode}` failed ({}):\nstdout:\n{stdout}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    lines
}

/// [`helper_main`] for a conversation: in a child started by
/// [`spawn_helper`] or [`run_helper_env`] runs `dispatch` with the mode, the
/// arguments and the child's side of the conversation, then exits.
pub fn talk_main(dispatch: fn(&str, &[String], &mut Talk)) {
    let Some((mode, args)) = started_as() else { return };
    let mut talk = Talk { input: std::io::stdin().lock() };
    dispatch(&mode, &args, &mut talk);
    std::io::stdout().flush().unwrap();
    std::process::exit(0);
}

/// The child's side of the conversation with its parent.
#[derive(Debug)]
pub struct Talk {
    input: std::io::StdinLock<'static>,
}

impl Talk {
    /// Sends a line to the parent.
    pub fn say(&mut self, line: &str) {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{MARK}{line}").unwrap();
        out.flush().unwrap();
    }

    /// Waits for a line from the parent.
    pub fn hear(&mut self) -> String {
        let mut line = String::new();
        self.input.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }
}

/// A helper child the parent talks to line by line.
#[derive(Debug)]
pub struct Helper {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    seen: String,
}

/// Starts this binary's `helper_child` (a [`talk_main`]) in `mode`.
pub fn spawn_helper(mode: &str, args: &[&str]) -> Helper {
    let mut child = helper_command(mode, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the helper child");
    let input = child.stdin.take().unwrap();
    let output = BufReader::new(child.stdout.take().unwrap());
    Helper { child, input, output, seen: String::new() }
}

impl Helper {
    /// The next line the child said.
    pub fn hear(&mut self) -> String {
        loop {
            let mut line = String::new();
            let n = self.output.read_line(&mut line).expect("read the helper's stdout");
            assert!(n != 0, "the helper ended early; its output was:\n{}", self.seen);
            if let Some(rest) = line.strip_prefix(MARK) {
                return rest.trim().to_owned();
            }
            self.seen.push_str(&line);
        }
    }

    /// Sends a line to the child.
    pub fn say(&mut self, line: &str) {
        writeln!(self.input, "{line}").unwrap();
        self.input.flush().unwrap();
    }

    /// Waits for the child to exit successfully.
    pub fn finish(mut self) {
        drop(self.input);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "helper child failed: {status}; output:\n{}", self.seen);
    }
}

/// Runs the helper (a [`talk_main`]) with **only** the environment `env`
/// (plus the helper's mode) and returns the lines it said.
pub fn run_helper_env(mode: &str, env: &[(&str, &str)]) -> Vec<String> {
    let mut cmd = helper_command::<&str>(mode, &[]);
    cmd.env_clear().env(MODE_ENV, mode).envs(env.iter().copied());
    let out = cmd.stdin(Stdio::null()).output().expect("spawn the helper child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "helper `{mode}` failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    reported(&stdout)
}
