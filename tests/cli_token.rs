//! `gw token` on the real binary: THREATS CLI-1 (secrets never in argv or
//! the environment, never printed unless printing them is the command's
//! purpose), TOK-1 (derived tokens, never the root secret, leave the
//! process), TOK-3 (locality on the verifying side), TOK-4 (reading never
//! creates the secret file) and CLI-2 (bad input: documented exit code,
//! nothing changed).
//!
//! - `cli_1_*`: while `gw token verify` / `gw token attenuate` block reading
//!   the token from stdin (stdin kept open), this process reads their
//!   `/proc/PID/cmdline` and `/proc/PID/environ`, before and after the token
//!   was written: neither the token nor the root secret is there. `gw token
//!   derive` is caught the same way while it blocks writing its token to a
//!   full stdout pipe: the root secret is in neither, and never on its
//!   stdout/stderr. Every other command is checked for every secret of the
//!   test (root secret in every encoding, the tokens, the label key) on
//!   stdout and stderr, on success and on errors, with and without `--json`.
//! - init (0600 under umask 000, exclusive, never through a planted link),
//!   derive → verify, wrong scope/audience/peer, tampering, garbage, an
//!   insecure or missing secret file, attenuation, and the compatibility
//!   label derivation against an `exec-approvals.json` fixture (the expected
//!   value computed here with the `hmac`/`sha2` crates).
//!
//! Expiry itself is tested at the library level (injectable clock, see
//! `token_threats.rs`); here `inspect` shows that `--ttl` sets it.
//!
//! Every `gw` child gets `GW_HOME` set to a private directory that no token
//! command may create.

use gw_test_support as common;

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ChildStdin;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::{STANDARD_NO_PAD, URL_SAFE_NO_PAD};
use common::cli::{
    self, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_USAGE, Gw, Run, drain, drains, finish_drained,
};
use common::{NOBODY, assert_same_tree, chmod, chown, mkdir, snapshot, symlink};
use hmac::{Hmac, Mac};
use serde_json::Value;

const GW: &str = env!("CARGO_BIN_EXE_gw");

/// The longest any single `gw` run may take.
const TIMEOUT: Duration = cli::TIMEOUT;

const SCOPE: &str = "gateway.connect";
const AUD: &str = "ws://127.0.0.1:18789";
const LABEL: &str = "openclaw:gateway-approval-runtime-token:v1";

// ---- running gw ----

/// A private (0700) temp dir: `keys/` (0700) for secret files, `outside/`
/// (a file a planted link aims at) and `home`, the `GW_HOME` of every child,
/// which no token command may create.
#[derive(Debug)]
struct Env {
    tmp: tempfile::TempDir,
    keys: PathBuf,
    outside: PathBuf,
    home: PathBuf,
}

impl Env {
    fn new() -> Self {
        let tmp = gw_test_support::private_tempdir("gw-cli-token-");
        let keys = tmp.path().join("keys");
        let outside = tmp.path().join("outside");
        mkdir(&keys, 0o700);
        mkdir(&outside, 0o700);
        std::fs::write(outside.join("target"), b"OUTSIDE: never overwritten\n").unwrap();
        let home = tmp.path().join("home");
        Self { tmp, keys, outside, home }
    }

    fn key(&self, name: &str) -> PathBuf {
        self.keys.join(name)
    }

    /// `gw ARGS` in this home, run from the temp dir.
    fn command(&self, args: &[&str]) -> Gw {
        Gw::new(GW).args(args).home(&self.home).current_dir(self.tmp.path())
    }

    /// Runs `gw ARGS` with `stdin` (`/dev/null` when `None`), bounded in time.
    fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        self.command(args).stdin(stdin).run()
    }

    /// Runs `gw ARGS` under umask 000 (through `sh`, the umask being
    /// process-wide).
    fn run_umask0(&self, args: &[&str]) -> Run {
        Gw::with_umask(GW, 0o000).args(args).home(&self.home).current_dir(self.tmp.path()).run()
    }

    /// Creates a root secret with `gw token init` and returns it.
    fn init(&self, name: &str) -> RootSecret {
        let path = self.key(name);
        let run = self.run(&["token", "init", "--secret-file", s(&path)], None);
        assert_eq!(run.code, 0, "token init: {run:?}");
        RootSecret::read(&path)
    }

    /// Derives a token (must succeed) and returns it.
    fn derive(&self, secret: &Path, extra: &[&str]) -> String {
        let mut args = vec!["token", "derive", "--secret-file", s(secret)];
        args.extend_from_slice(extra);
        let run = self.run(&args, None);
        assert_eq!(run.code, 0, "derive {extra:?}: {run:?}");
        assert!(run.stderr.is_empty(), "derive: nothing on stderr: {run:?}");
        let token = run.stdout.trim_end_matches('\n');
        assert!(token.starts_with("gw2.") && !token.contains('\n'), "one token on stdout: {run:?}");
        token.to_owned()
    }

    /// `gw token verify` of `token`.
    fn verify(&self, secret: &Path, token: &str, extra: &[&str]) -> Run {
        let mut args = vec!["token", "verify", "--secret-file", s(secret)];
        args.extend_from_slice(extra);
        self.run(&args, Some(format!("{token}\n").as_bytes()))
    }

    /// The gw home must never be created by a token command.
    fn assert_no_home(&self, ctx: &str) {
        assert!(std::fs::symlink_metadata(&self.home).is_err(), "{ctx}: a token command created the gw home");
    }
}

fn s(p: &Path) -> &str {
    p.to_str().expect("temp paths are UTF-8")
}

/// Asserts the exit code, one `gw: ` line on stderr, and nothing on stdout.
#[track_caller]
fn assert_fails(run: &Run, code: i32, ctx: &str) {
    assert_eq!(run.code, code, "{ctx}: exit code: {run:?}");
    assert!(run.stdout.is_empty(), "{ctx}: nothing on stdout on error: {run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{ctx}: one line on stderr: {run:?}");
    assert!(run.stderr.starts_with("gw: "), "{ctx}: stderr starts with `gw: `: {run:?}");
}

// ---- secrets ----

/// A root secret file's content, and every form it could leak in.
#[derive(Debug, Clone)]
struct RootSecret {
    file: Vec<u8>,
    raw: Vec<u8>,
}

impl RootSecret {
    fn read(path: &Path) -> Self {
        let file = std::fs::read(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
        let text = file.strip_suffix(b"\n").expect("one line");
        let raw = URL_SAFE_NO_PAD.decode(text).expect("base64url");
        assert_eq!(raw.len(), 32, "a root secret is 32 bytes");
        Self { file, raw }
    }

    /// The secret as the file holds it, raw, in standard base64 and in hex.
    fn forms(&self) -> Vec<Vec<u8>> {
        let text = self.file.strip_suffix(b"\n").unwrap().to_vec();
        let hex: String = self.raw.iter().map(|b| format!("{b:02x}")).collect();
        vec![text, self.raw.clone(), STANDARD_NO_PAD.encode(&self.raw).into_bytes(), hex.into_bytes()]
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Asserts that none of `secrets` is on stdout or stderr.
#[track_caller]
fn assert_no_secret(run: &Run, secrets: &[Vec<u8>], ctx: &str) {
    for secret in secrets {
        let shown = String::from_utf8_lossy(&secret[..secret.len().min(8)]).into_owned();
        for (name, out) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(!contains(out.as_bytes(), secret), "{ctx}: a secret (starting {shown:?}) is on {name}: {run:?}");
        }
    }
}

/// The tag (the last dot-separated part) of a token: the part that must
/// never be shown by a command that does not print tokens.
fn tag(token: &str) -> &str {
    token.rsplit('.').next().unwrap()
}

fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs()
}

fn json(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not one JSON object ({e}): {text:?}"))
}

// ---- watching a live gw through /proc ----

/// What the child is blocked on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Blocked {
    /// `read(0, ...)`: waiting for stdin.
    ReadStdin,
    /// `write(1, ...)`: stdout is full.
    WriteStdout,
}

/// The syscall number and first argument `/proc/PID/syscall` shows for `what`.
fn syscall_of(what: Blocked) -> Option<(&'static str, &'static str)> {
    let (read, write) = if cfg!(target_arch = "x86_64") {
        ("0", "1")
    } else if cfg!(target_arch = "aarch64") || cfg!(target_arch = "riscv64") {
        ("63", "64")
    } else {
        return None;
    };
    Some(match what {
        Blocked::ReadStdin => (read, "0x0"),
        Blocked::WriteStdout => (write, "0x1"),
    })
}

fn is_blocked(pid: u32, what: Blocked) -> bool {
    let sys = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
    let mut f = sys.split_whitespace();
    if let (Some(want), Some(nr), Some(arg0)) = (syscall_of(what), f.next(), f.next()) {
        return (nr, arg0) == want;
    }
    // Elsewhere: the kernel function the task sleeps in.
    let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
    wchan == if what == Blocked::ReadStdin { "pipe_read" } else { "pipe_write" }
}

/// Bytes the process has read so far (`rchar` of `/proc/PID/io`).
fn rchar(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("read /proc/PID/io");
    io.lines().find_map(|l| l.strip_prefix("rchar: ")).and_then(|v| v.trim().parse().ok()).expect("rchar")
}

/// Waits until `pid` is blocked on `what` having read at least `min_rchar`
/// bytes (so data written to its stdin was consumed).
fn wait_blocked(pid: u32, what: Blocked, min_rchar: u64, ctx: &str) {
    let start = Instant::now();
    loop {
        if is_blocked(pid, what) && rchar(pid) >= min_rchar {
            // Blocked twice in a row, 20 ms apart: settled, not passing by.
            std::thread::sleep(Duration::from_millis(20));
            if is_blocked(pid, what) && rchar(pid) >= min_rchar {
                return;
            }
        }
        assert!(start.elapsed() < TIMEOUT, "{ctx}: gw (pid {pid}) never blocked on {what:?}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What another process can read of `pid`: its command line and environment.
/// Checks that the read works (the command line names `word`, the
/// environment holds `GW_HOME`), then that no secret is in either.
#[track_caller]
fn assert_proc_clean(pid: u32, word: &str, secrets: &[Vec<u8>], ctx: &str) {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("read /proc/PID/cmdline");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("read /proc/PID/environ");
    assert!(contains(&cmdline, word.as_bytes()), "{ctx}: /proc/{pid}/cmdline is gw's: {cmdline:?}");
    assert!(contains(&environ, b"GW_HOME="), "{ctx}: /proc/{pid}/environ was read");
    for secret in secrets {
        assert!(!contains(&cmdline, secret), "{ctx}: a secret is in /proc/{pid}/cmdline");
        assert!(!contains(&environ, secret), "{ctx}: a secret is in /proc/{pid}/environ");
    }
}

/// `gw ARGS` blocked reading stdin: checked through /proc before anything is
/// written, then with `input` written but stdin still open (gw reads to
/// EOF), then finished.
fn probe_stdin(env: &Env, args: &[&str], input: &[u8], secrets: &[Vec<u8>], ctx: &str) -> Run {
    let mut child = env.command(args).piped_stdin().spawn();
    let pid = child.id();
    let (out, err) = drains(&mut child);
    let mut stdin: ChildStdin = child.stdin.take().unwrap();
    wait_blocked(pid, Blocked::ReadStdin, 0, ctx);
    assert_proc_clean(pid, args[1], secrets, &format!("{ctx} (before the secret was written)"));
    let before = rchar(pid);
    stdin.write_all(input).unwrap();
    stdin.flush().unwrap();
    wait_blocked(pid, Blocked::ReadStdin, before + input.len() as u64, ctx);
    assert_proc_clean(pid, args[1], secrets, &format!("{ctx} (the secret read, stdin still open)"));
    drop(stdin);
    finish_drained(child, out, err, TIMEOUT, ctx)
}

// ---- CLI-1 ----

/// CLI-1: `gw token verify` holds the root secret (from its file) and the
/// token (from stdin); neither is ever in its argv or environment, and
/// neither is printed.
#[test]
fn cli_1_verify_secret_not_in_proc_cmdline_or_environ() {
    let env = Env::new();
    let root = env.init("root.key");
    let token = env.derive(&env.key("root.key"), &["--scope", SCOPE, "--aud", AUD, "--local"]);
    let mut secrets = root.forms();
    secrets.push(token.clone().into_bytes());
    secrets.push(tag(&token).as_bytes().to_vec());
    let key = env.key("root.key");
    let args = ["token", "verify", "--secret-file", s(&key), "--scope", SCOPE, "--aud", AUD, "--peer", "127.0.0.1"];
    let run = probe_stdin(&env, &args, format!("{token}\n").as_bytes(), &secrets, "verify");
    assert_eq!(run.code, 0, "the token verifies: {run:?}");
    assert!(run.stdout.starts_with("valid: "), "{run:?}");
    assert_no_secret(&run, &secrets, "verify");
    env.assert_no_home("verify");
}

/// CLI-1: `gw token attenuate` reads the token from stdin only; it is in
/// neither argv nor environ while attenuate runs, and the narrower token is
/// printed (the command's purpose) — the original's tag never is.
#[test]
fn cli_1_attenuate_token_not_in_proc_cmdline_or_environ() {
    let env = Env::new();
    let root = env.init("root.key");
    let token = env.derive(&env.key("root.key"), &["--scope", SCOPE, "--scope", "logs.read"]);
    let mut secrets = root.forms();
    secrets.push(token.clone().into_bytes());
    secrets.push(tag(&token).as_bytes().to_vec());
    let args = ["token", "attenuate", "--scope", "logs.read", "--ttl", "60s"];
    let run = probe_stdin(&env, &args, format!("{token}\n").as_bytes(), &secrets, "attenuate");
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");
    let narrowed = run.stdout.trim_end().to_owned();
    assert!(narrowed.starts_with("gw2.") && narrowed != token, "{run:?}");
    // The chained tag replaces the original one: a holder of the narrowed
    // token cannot recover the wider one.
    assert_no_secret(&run, &secrets, "attenuate");
    let key = env.key("root.key");
    assert_eq!(env.verify(&key, &narrowed, &["--scope", "logs.read"]).code, 0);
    assert_fails(&env.verify(&key, &narrowed, &["--scope", SCOPE]), EXIT_REFUSED, "attenuated away");
    env.assert_no_home("attenuate");
}

/// CLI-1 / TOK-1: `gw token derive` is caught while it runs (blocked writing
/// its token to a full stdout pipe): the root secret is in neither argv nor
/// environ; its output is the derived token, never the root secret.
#[test]
fn cli_1_derive_root_secret_not_in_proc_nor_output() {
    let env = Env::new();
    let root = env.init("root.key");
    let secrets = root.forms();
    let key = env.key("root.key");

    // A pipe already full: gw blocks on its first write to stdout.
    let (mut reader, mut writer) = std::io::pipe().expect("pipe");
    rustix::fs::fcntl_setfl(&writer, rustix::fs::OFlags::NONBLOCK).unwrap();
    let mut filled = 0usize;
    for chunk in [4096usize, 1] {
        loop {
            match writer.write(&vec![b'.'; chunk]) {
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("fill the pipe: {e}"),
            }
        }
    }
    rustix::fs::fcntl_setfl(&writer, rustix::fs::OFlags::empty()).unwrap();

    // spawn() drops the command, and with it the parent's copy of the write end.
    let mut child =
        env.command(&["token", "derive", "--secret-file", s(&key), "--scope", SCOPE, "--local"]).stdout(writer).spawn();
    let pid = child.id();
    let err = drain(child.stderr.take());
    wait_blocked(pid, Blocked::WriteStdout, 0, "derive");
    assert_proc_clean(pid, "derive", &secrets, "derive (blocked writing its token)");

    let out = std::thread::spawn(move || {
        let mut buf = Vec::new();
        reader.read_to_end(&mut buf).unwrap();
        buf
    });
    let run = finish_drained(child, out, err, TIMEOUT, "derive");
    assert_eq!(run.code, 0, "{run:?}");
    let printed = &run.stdout.as_bytes()[filled..];
    let token = std::str::from_utf8(printed).unwrap().trim_end();
    assert!(token.starts_with("gw2.") && !token.contains('\n'), "one token: {token:?}");
    assert!(run.stderr.is_empty(), "{run:?}");
    assert_no_secret(&run, &secrets, "derive");
    assert_eq!(env.verify(&key, token, &["--scope", SCOPE, "--peer", "::1"]).code, 0);
    env.assert_no_home("derive");
}

/// CLI-1: no command that does not print tokens prints the root secret or a
/// token — on success and on every error, with and without `--json`; the
/// ones that print tokens print the token, never the root secret.
#[test]
fn cli_1_no_secret_in_any_output() {
    let env = Env::new();
    let root = env.init("root.key");
    let key = env.key("root.key");
    let token = env.derive(&key, &["--scope", SCOPE, "--aud", AUD, "--local"]);
    let mut secrets = root.forms();
    secrets.push(token.clone().into_bytes());
    secrets.push(tag(&token).as_bytes().to_vec());
    let k = s(&key);
    let tampered = {
        let mut t = token.clone().into_bytes();
        let i = t.len() - 5;
        t[i] = if t[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(t).unwrap()
    };
    secrets.push(tampered.clone().into_bytes());
    let with_token = format!("{token}\n");
    let with_tampered = format!("{tampered}\n");
    let cases: Vec<(Vec<&str>, Option<&str>, i32)> = vec![
        (
            vec!["token", "verify", "--secret-file", k, "--scope", SCOPE, "--aud", AUD, "--peer", "::1"],
            Some(&with_token),
            0,
        ),
        (
            vec!["token", "verify", "--secret-file", k, "--scope", "other", "--aud", AUD, "--peer", "::1"],
            Some(&with_token),
            EXIT_REFUSED,
        ),
        (
            vec!["token", "verify", "--secret-file", k, "--scope", SCOPE, "--aud", "ws://x:1", "--peer", "::1"],
            Some(&with_token),
            EXIT_REFUSED,
        ),
        (
            vec!["token", "verify", "--secret-file", k, "--scope", SCOPE, "--aud", AUD, "--peer", "192.0.2.7"],
            Some(&with_token),
            EXIT_REFUSED,
        ),
        (vec!["token", "verify", "--secret-file", k, "--scope", SCOPE, "--aud", AUD], Some(&with_token), EXIT_REFUSED),
        (
            vec!["token", "verify", "--secret-file", k, "--scope", SCOPE, "--aud", AUD, "--peer", "::1"],
            Some(&with_tampered),
            EXIT_REFUSED,
        ),
        (
            vec!["token", "verify", "--secret-file", "keys/missing.key", "--scope", SCOPE],
            Some(&with_token),
            EXIT_NOT_FOUND,
        ),
        (vec!["token", "verify", "--secret-file", k, "--scope", SCOPE], Some(""), EXIT_USAGE),
        (vec!["token", "inspect"], Some(&with_token), 0),
        (vec!["token", "inspect"], Some(&with_tampered), 0),
        (vec!["token", "inspect"], Some("gw2.garbage\n"), EXIT_REFUSED),
        (vec!["token", "init", "--secret-file", k], None, EXIT_FAILED),
        (vec!["token", "derive", "--secret-file", k, "--scope", "Bad Scope"], None, EXIT_USAGE),
        (vec!["token", "derive", "--secret-file", k, "--scope", SCOPE, "--ttl", "0s"], None, EXIT_USAGE),
        (vec!["token", "attenuate", "--scope", SCOPE], Some("gw2.x.y\n"), EXIT_REFUSED),
        (vec!["token", "label", "--key-file", k, "--json-field", "socket.token", "--label", LABEL], None, EXIT_FAILED),
    ];
    for json_flag in [false, true] {
        for (args, stdin, code) in &cases {
            let mut full: Vec<&str> = if json_flag { vec!["--json"] } else { vec![] };
            full.extend_from_slice(args);
            let run = env.run(&full, stdin.map(str::as_bytes));
            let ctx = format!("gw {full:?}");
            assert_eq!(run.code, *code, "{ctx}: {run:?}");
            assert_no_secret(&run, &secrets, &ctx);
            // Argument errors found by the parser come before `--json` is
            // known: they are one stderr line only.
            if json_flag && !run.stderr.starts_with("gw: error: usage:") {
                let v = json(&run.stdout);
                assert_eq!(v["ok"], Value::Bool(*code == 0), "{ctx}: {v}");
            }
        }
    }
    // The commands whose purpose is a token print it, never the root secret.
    for json_flag in [false, true] {
        let pre: Vec<&str> = if json_flag { vec!["--json"] } else { vec![] };
        let run = env.run(&[&pre[..], &["token", "derive", "--secret-file", k, "--scope", SCOPE]].concat(), None);
        assert_eq!(run.code, 0, "{run:?}");
        assert_no_secret(&run, &root.forms(), "derive");
        let run = env.run(&[&pre[..], &["token", "attenuate", "--scope", SCOPE]].concat(), Some(with_token.as_bytes()));
        assert_eq!(run.code, 0, "{run:?}");
        assert_no_secret(&run, &root.forms(), "attenuate");
        assert!(!run.stdout.contains(tag(&token)), "attenuate must not print the original tag: {run:?}");
    }
    env.assert_no_home("every command");
}

// ---- init ----

/// `gw token init` under umask 000: mode 0600, 32 random bytes as one
/// base64url line; a second init refuses and leaves the file as it was.
#[test]
fn init_is_0600_under_umask_000_and_exclusive() {
    let env = Env::new();
    let path = env.key("root.key");
    let run = env.run_umask0(&["token", "init", "--secret-file", s(&path)]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");
    let meta = std::fs::symlink_metadata(&path).unwrap();
    assert!(meta.is_file());
    assert_eq!(meta.permissions().mode() & 0o7777, 0o600, "created 0600 whatever the umask");
    let first = RootSecret::read(&path);
    assert_no_secret(&run, &first.forms(), "init");

    let before = snapshot(&env.keys);
    for json_flag in [false, true] {
        let mut args = vec!["token", "init", "--secret-file", s(&path)];
        if json_flag {
            args.insert(0, "--json");
        }
        let run = env.run_umask0(&args);
        // An existing file is an operational error (1), not a replacement.
        assert_eq!(run.code, EXIT_FAILED, "second init: {run:?}");
        assert!(run.stderr.contains("already exists"), "{run:?}");
        assert_no_secret(&run, &first.forms(), "second init");
        assert_same_tree(&before, &snapshot(&env.keys), "a second init changed the keys directory");
    }
    // A second secret elsewhere is a different one.
    let other = env.init("other.key");
    assert_ne!(other.raw, first.raw, "two inits, two random secrets");
    env.assert_no_home("init");
}

/// `gw token init` over a planted symlink (to an existing file, and
/// dangling) is refused (3); the link and its target are untouched and
/// nothing is created where the dangling link points. An insecure
/// directory (0777, not sticky) is refused too.
#[test]
fn init_refuses_planted_symlink_and_insecure_dir() {
    let env = Env::new();
    symlink("../outside/target", &env.key("existing.key"));
    symlink("../outside/created", &env.key("dangling.key"));
    let before = snapshot(env.tmp.path());
    for name in ["existing.key", "dangling.key"] {
        let path = env.key(name);
        let run = env.run_umask0(&["token", "init", "--secret-file", s(&path)]);
        assert_fails(&run, EXIT_REFUSED, name);
        assert!(run.stderr.contains("symbolic link"), "{name}: says why: {run:?}");
        assert_same_tree(&before, &snapshot(env.tmp.path()), &format!("init through {name}"));
    }
    assert_eq!(std::fs::read(env.outside.join("target")).unwrap(), b"OUTSIDE: never overwritten\n");
    assert!(!env.outside.join("created").exists());

    let open = env.tmp.path().join("open");
    mkdir(&open, 0o777);
    let run = env.run(&["token", "init", "--secret-file", s(&open.join("root.key"))], None);
    assert_fails(&run, EXIT_REFUSED, "insecure dir");
    assert!(run.stderr.contains("chmod go-w"), "names the fix: {run:?}");
    assert_eq!(std::fs::read_dir(&open).unwrap().count(), 0, "nothing created in the insecure directory");
    env.assert_no_home("init refusals");
}

// ---- derive / verify ----

/// derive → verify (exit 0), with and without `--json`; wrong scope,
/// audience, another root secret → 3 with the failed check on stderr.
#[test]
fn derive_then_verify_and_wrong_claims_are_refused() {
    let env = Env::new();
    env.init("root.key");
    env.init("other.key");
    let key = env.key("root.key");
    let token = env.derive(&key, &["--scope", SCOPE, "--scope", "logs.read", "--aud", AUD]);

    let run = env.verify(&key, &token, &["--scope", SCOPE, "--aud", AUD]);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.is_empty(), "{run:?}");
    assert!(run.stdout.contains(SCOPE) && run.stdout.starts_with("valid: "), "{run:?}");
    let run = env.verify(&key, &token, &["--json", "--scope", "logs.read", "--aud", AUD]);
    let v = json(&run.stdout);
    assert_eq!((run.code, &v["valid"], &v["local"]), (0, &Value::Bool(true), &Value::Bool(false)), "{run:?}");
    // `--json` is global: it may also come first.
    let run = env.run(
        &["--json", "token", "verify", "--secret-file", s(&key), "--scope", SCOPE, "--aud", AUD],
        Some(token.as_bytes()),
    );
    assert_eq!(json(&run.stdout)["ok"], Value::Bool(true), "{run:?}");

    for (args, why, path) in [
        (vec!["--scope", "admin", "--aud", AUD], "scope", &key),
        (vec!["--scope", SCOPE, "--aud", "ws://127.0.0.1:18790"], "audience", &key),
        (vec!["--scope", SCOPE], "audience", &key),
        (vec!["--scope", SCOPE, "--aud", AUD], "signature", &env.key("other.key")),
    ] {
        let run = env.verify(path, &token, &args);
        assert_fails(&run, EXIT_REFUSED, &format!("{args:?}"));
        assert!(run.stderr.contains(why), "{args:?}: names the failed check ({why}): {run:?}");
        assert!(!run.stderr.contains(tag(&token)), "{run:?}");
        // The JSON error is on stdout too, with the same code.
        let mut jargs = args.clone();
        jargs.insert(0, "--json");
        let run = env.verify(path, &token, &jargs);
        let v = json(&run.stdout);
        assert_eq!((run.code, &v["exit_code"], &v["ok"]), (EXIT_REFUSED, &Value::from(3), &Value::Bool(false)));
    }
    env.assert_no_home("verify");
}

/// TOK-3 through the CLI: a `--local` token verifies from loopback peers
/// (127.0.0.0/8, ::1, ::ffff:127.0.0.1) and is refused (3) from any other
/// peer and when the peer is not given.
#[test]
fn local_token_needs_a_loopback_peer() {
    let env = Env::new();
    env.init("root.key");
    let key = env.key("root.key");
    let token = env.derive(&key, &["--scope", SCOPE, "--local"]);
    for peer in ["127.0.0.1", "127.9.8.7", "::1", "::ffff:127.0.0.1"] {
        let run = env.verify(&key, &token, &["--scope", SCOPE, "--peer", peer]);
        assert_eq!(run.code, 0, "peer {peer}: {run:?}");
        assert!(run.stdout.contains("loopback peers only"), "{run:?}");
    }
    for peer in ["192.0.2.7", "10.0.0.1", "::ffff:10.0.0.1", "2001:db8::1", "0.0.0.0", "::"] {
        let run = env.verify(&key, &token, &["--scope", SCOPE, "--peer", peer]);
        assert_fails(&run, EXIT_REFUSED, peer);
        assert!(run.stderr.contains("loopback"), "{peer}: {run:?}");
    }
    let run = env.verify(&key, &token, &["--scope", SCOPE]);
    assert_fails(&run, EXIT_REFUSED, "no peer");
    assert!(run.stderr.contains("peer"), "{run:?}");
    // A peer that is not an address is a usage error.
    assert_fails(&env.verify(&key, &token, &["--scope", SCOPE, "--peer", "localhost"]), EXIT_USAGE, "bad peer");
    // A token without --local verifies from anywhere.
    let anywhere = env.derive(&key, &["--scope", SCOPE]);
    assert_eq!(env.verify(&key, &anywhere, &["--scope", SCOPE, "--peer", "192.0.2.7"]).code, 0);
    env.assert_no_home("local");
}

/// Tampering anywhere (claims, tag, a dropped or added part), garbage and
/// over-long input are refused (3); empty or blank stdin is a usage error
/// (2); a token with surrounding whitespace still verifies.
#[test]
fn tampered_garbage_and_empty_tokens() {
    let env = Env::new();
    env.init("root.key");
    let key = env.key("root.key");
    let token = env.derive(&key, &["--scope", SCOPE]);
    let verify_args = ["--scope", SCOPE];

    let flip = |i: usize| {
        let mut t = token.clone().into_bytes();
        t[i] = if t[i] == b'A' { b'B' } else { b'A' };
        String::from_utf8(t).unwrap()
    };
    let parts: Vec<&str> = token.split('.').collect();
    let mut bad = vec![
        flip(6),
        flip(token.len() / 2),
        flip(token.len() - 3),
        format!("{}.{}", parts[0], parts[1]),
        format!("{token}.AAAA"),
        format!("gw3{}", &token[3..]),
        format!("gw1{}", &token[3..]),
        token[..token.len() - 1].to_owned(),
        format!("{token}A"),
        "garbage".to_owned(),
        "gw2...".to_owned(),
    ];
    // Claims re-encoded with padding: not canonical.
    bad.push(format!("{}.{}=.{}", parts[0], parts[1], parts[2]));
    for t in &bad {
        let run = env.verify(&key, t, &verify_args);
        let shown = &t[..t.len().min(40)];
        assert_fails(&run, EXIT_REFUSED, shown);
        assert!(!run.stderr.contains(tag(&token)), "{shown}: the error never shows the token: {run:?}");
    }
    // Stdin over the limit is a usage error (2), as for every command.
    let long = "a".repeat(100_000);
    for input in [&b""[..], b"\n", b"   \n\t\n", long.as_bytes()] {
        let run = env.run(&["token", "verify", "--secret-file", s(&key), "--scope", SCOPE], Some(input));
        assert_fails(&run, EXIT_USAGE, &format!("stdin of {} bytes", input.len()));
        let why = if input.len() > 1000 { "longer than" } else { "no token on stdin" };
        assert!(run.stderr.contains(why), "{run:?}");
    }
    // Stdin closed (/dev/null) is empty too.
    assert_fails(&env.run(&["token", "verify", "--secret-file", s(&key), "--scope", SCOPE], None), EXIT_USAGE, "null");
    // Not text at all.
    let run = env.run(&["token", "verify", "--secret-file", s(&key), "--scope", SCOPE], Some(b"\xff\xfe\x00"));
    assert_fails(&run, EXIT_USAGE, "binary stdin");
    let run = env.run(
        &["token", "verify", "--secret-file", s(&key), "--scope", SCOPE],
        Some(format!("  {token}\r\n").as_bytes()),
    );
    assert_eq!(run.code, 0, "surrounding whitespace is dropped: {run:?}");
    env.assert_no_home("tampering");
}

/// An unprotected secret file (0644, 0640, 0604) is refused (3) with the
/// chmod fix, like ssh; after the fix it works. A file of another user is
/// refused with the chown fix. Nothing is changed by a refusal.
#[test]
fn insecure_secret_file_is_refused_with_the_fix() {
    let env = Env::new();
    env.init("root.key");
    let key = env.key("root.key");
    let token = env.derive(&key, &["--scope", SCOPE]);
    for mode in [0o644, 0o640, 0o604, 0o660] {
        chmod(&key, mode);
        let before = snapshot(&env.keys);
        for run in [
            env.verify(&key, &token, &["--scope", SCOPE]),
            env.run(&["token", "derive", "--secret-file", s(&key), "--scope", SCOPE], None),
        ] {
            assert_fails(&run, EXIT_REFUSED, &format!("mode {mode:o}"));
            assert!(run.stderr.contains(&format!("chmod 600 {}", key.display())), "the fix: {run:?}");
        }
        assert_same_tree(&before, &snapshot(&env.keys), "a refusal changed nothing (not even the mode)");
    }
    chmod(&key, 0o600);
    assert_eq!(env.verify(&key, &token, &["--scope", SCOPE]).code, 0, "works after `chmod 600`");

    chown(&key, NOBODY);
    let run = env.verify(&key, &token, &["--scope", SCOPE]);
    assert_fails(&run, EXIT_REFUSED, "foreign owner");
    assert!(run.stderr.contains("chown"), "{run:?}");
    chown(&key, 0);

    // A symlink to the secret file is refused, not followed.
    symlink("root.key", &env.key("link.key"));
    assert_fails(&env.verify(&env.key("link.key"), &token, &["--scope", SCOPE]), EXIT_REFUSED, "link");
    // A directory, or a file that is not a root secret.
    // A directory is a usage error (2, not a refusal: issue 12 item 8).
    assert_fails(&env.verify(&env.keys, &token, &["--scope", SCOPE]), EXIT_USAGE, "directory");
    std::fs::write(env.key("junk.key"), b"not a secret\n").unwrap();
    chmod(&env.key("junk.key"), 0o600);
    let run = env.verify(&env.key("junk.key"), &token, &["--scope", SCOPE]);
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stdout.is_empty() && run.stderr.starts_with("gw: "), "{run:?}");
    env.assert_no_home("insecure");
}

/// TOK-4: `derive`, `verify` and `label` on a missing file say "not found"
/// (4) and create nothing — not the file, not its directory.
#[test]
fn missing_secret_file_is_not_found_and_never_created() {
    let env = Env::new();
    env.init("root.key");
    let token = env.derive(&env.key("root.key"), &["--scope", SCOPE]);
    let before = snapshot(env.tmp.path());
    let missing = env.key("missing.key");
    let missing_dir = env.tmp.path().join("nodir").join("root.key");
    for path in [&missing, &missing_dir] {
        let p = s(path);
        for (args, stdin) in [
            (vec!["token", "derive", "--secret-file", p, "--scope", SCOPE], None),
            (vec!["token", "verify", "--secret-file", p, "--scope", SCOPE], Some(token.as_bytes())),
            (vec!["token", "label", "--key-file", p, "--label", LABEL], None),
        ] {
            let run = env.run(&args, stdin);
            assert_fails(&run, EXIT_NOT_FOUND, &format!("{args:?}"));
            assert_same_tree(&before, &snapshot(env.tmp.path()), &format!("{args:?} created something"));
        }
    }
    env.assert_no_home("missing");
}

// ---- attenuate / inspect ----

/// `--ttl` sets the expiry (checked with `inspect`); attenuation narrows
/// scope, audience, expiry and locality without the secret, and never
/// widens: a longer `--ttl` keeps the original expiry, a scope the token
/// did not have grants nothing.
#[test]
fn attenuate_only_narrows_and_inspect_shows_the_claims() {
    let env = Env::new();
    env.init("root.key");
    let key = env.key("root.key");
    let t0 = unix_now();
    let token = env.derive(&key, &["--scope", SCOPE, "--scope", "logs.read", "--ttl", "90s"]);
    let t1 = unix_now();

    let run = env.run(&["token", "inspect"], Some(token.as_bytes()));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stdout.starts_with("NOT VERIFIED"), "inspect says it verified nothing: {run:?}");
    assert!(!run.stdout.contains(tag(&token)) && !run.stdout.contains(&token), "inspect never prints the token");
    let run = env.run(&["--json", "token", "inspect"], Some(token.as_bytes()));
    let v = json(&run.stdout);
    assert_eq!(v["verified"], Value::Bool(false));
    let (nbf, exp) = (v["claims"]["nbf"].as_u64().unwrap(), v["claims"]["exp"].as_u64().unwrap());
    assert_eq!(exp - nbf, 90, "--ttl 90s: {v}");
    assert!((t0..=t1).contains(&nbf), "issued now: {v}");
    assert_eq!(v["effective"]["scopes"], serde_json::json!(["gateway.connect", "logs.read"]), "{v}");

    let attenuate = |input: &str, args: &[&str]| {
        let run = env.run(&[&["token", "attenuate"], args].concat(), Some(input.as_bytes()));
        assert_eq!(run.code, 0, "attenuate {args:?}: {run:?}");
        run.stdout.trim_end().to_owned()
    };
    let effective =
        |t: &str| json(&env.run(&["--json", "token", "inspect"], Some(t.as_bytes())).stdout)["effective"].clone();

    // Shorter expiry.
    let short = attenuate(&token, &["--ttl", "30s"]);
    let e = effective(&short);
    assert!(e["expires"].as_u64().unwrap() <= unix_now() + 30 && e["expires"].as_u64().unwrap() < exp, "{e}");
    assert_eq!(env.verify(&key, &short, &["--scope", SCOPE]).code, 0);
    // A longer one never widens.
    let long = attenuate(&token, &["--ttl", "8h"]);
    assert_eq!(effective(&long)["expires"].as_u64(), Some(exp), "a caveat cannot extend the expiry");
    // Narrower scope.
    let narrow = attenuate(&token, &["--scope", "logs.read"]);
    assert_eq!(env.verify(&key, &narrow, &["--scope", "logs.read"]).code, 0);
    assert_fails(&env.verify(&key, &narrow, &["--scope", SCOPE]), EXIT_REFUSED, "narrowed scope");
    // A scope the token never had would grant nothing: the CLI refuses it
    // (gw-token's own tests hold that such a caveat grants nothing).
    let run = env.run(&["token", "attenuate", "--scope", "admin"], Some(token.as_bytes()));
    assert_eq!(run.code, 2, "{run:?}");
    assert!(run.stdout.is_empty() && run.stderr.contains("`admin`"), "{run:?}");
    // Fixed audience.
    let bound = attenuate(&token, &["--aud", AUD]);
    assert_eq!(env.verify(&key, &bound, &["--scope", SCOPE, "--aud", AUD]).code, 0);
    assert_fails(&env.verify(&key, &bound, &["--scope", SCOPE, "--aud", "ws://127.0.0.1:1"]), EXIT_REFUSED, "aud");
    assert_fails(&env.verify(&key, &bound, &["--scope", SCOPE]), EXIT_REFUSED, "aud, none served");
    // Locality added by a holder.
    let local = attenuate(&token, &["--local"]);
    assert_fails(&env.verify(&key, &local, &["--scope", SCOPE, "--peer", "192.0.2.1"]), EXIT_REFUSED, "local");
    assert_eq!(env.verify(&key, &local, &["--scope", SCOPE, "--peer", "127.0.0.1"]).code, 0);
    // Chained: both caveats hold.
    let chained = attenuate(&narrow, &["--aud", AUD]);
    assert_fails(&env.verify(&key, &chained, &["--scope", SCOPE, "--aud", AUD]), EXIT_REFUSED, "chain scope");
    assert_eq!(env.verify(&key, &chained, &["--scope", "logs.read", "--aud", AUD]).code, 0);
    // Dropping the last caveat of a chain (keeping the chain's tag) is tampering.
    let cut = format!("{}.{}", chained.rsplitn(3, '.').nth(2).unwrap(), tag(&chained));
    assert_fails(&env.verify(&key, &cut, &["--scope", "logs.read", "--aud", AUD]), EXIT_REFUSED, "cut chain");

    // Bad durations are usage errors.
    for ttl in ["0s", "soon", "-5m", ""] {
        let run = env.run(&["token", "attenuate", "--ttl", ttl], Some(token.as_bytes()));
        assert_fails(&run, EXIT_USAGE, ttl);
    }
    env.assert_no_home("attenuate");
}

// ---- label ----

type HmacSha256 = Hmac<sha2::Sha256>;

/// The expected label token, computed independently of gw.
fn expected_label(key: &str, label: &str) -> String {
    let mut mac = HmacSha256::new_from_slice(key.as_bytes()).unwrap();
    mac.update(label.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn write_fixture(path: &Path, socket_token: &str) {
    let doc = serde_json::json!({
        "version": 1,
        "socket": { "path": "/home/u/.openclaw/exec-approvals.sock", "token": socket_token },
        "defaults": { "security": "deny", "ask": "on-miss" },
        "agents": {},
    });
    std::fs::write(path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    chmod(path, 0o600);
}

/// `gw token label` against an `exec-approvals.json` fixture prints
/// base64url_nopad(HMAC-SHA256(socket.token, label)) — never the key; the
/// file is read, never changed or created.
#[test]
fn label_matches_hmac_sha256_of_exec_approvals_socket_token() {
    let env = Env::new();
    let approvals = env.key("exec-approvals.json");
    let socket_token = "sk-4f1c9a0e7b3d2a11f00dfeedbeef5eed";
    write_fixture(&approvals, socket_token);
    let before = snapshot(&env.keys);

    for label in [LABEL, "custom:label:v2", "ünïcode label"] {
        let run = env.run(&["token", "label", "--key-file", s(&approvals), "--label", label], None);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stderr.is_empty(), "{run:?}");
        assert_eq!(run.stdout, format!("{}\n", expected_label(socket_token, label)), "label {label}");
        assert!(!run.stdout.contains(socket_token), "the key is never printed");
        let run = env.run(&["--json", "token", "label", "--key-file", s(&approvals), "--label", label], None);
        let v = json(&run.stdout);
        assert_eq!(v["token"].as_str(), Some(expected_label(socket_token, label).as_str()), "{v}");
        assert_eq!(v["label"].as_str(), Some(label));
        assert!(!run.stdout.contains(socket_token));
    }
    // An explicit --json-field reaches another string.
    let run =
        env.run(&["token", "label", "--key-file", s(&approvals), "--json-field", "defaults.ask", "--label", "x"], None);
    assert_eq!(run.stdout.trim_end(), expected_label("on-miss", "x"), "{run:?}");
    // The well-known HMAC-SHA256 example (key "key", the quick brown fox).
    let known = env.key("known.json");
    write_fixture(&known, "key");
    let run = env.run(
        &["token", "label", "--key-file", s(&known), "--label", "The quick brown fox jumps over the lazy dog"],
        None,
    );
    assert_eq!(run.stdout.trim_end(), "97yD9DBThCSxMpjmqm-xQ-9NWaFJRhdZl0edvC0aPNg", "{run:?}");
    std::fs::remove_file(&known).unwrap();

    // Errors never show the key: a missing field, a non-string field.
    for field in ["socket.nope", "socket", "version", "agents"] {
        let run =
            env.run(&["token", "label", "--key-file", s(&approvals), "--json-field", field, "--label", LABEL], None);
        assert_fails(&run, EXIT_FAILED, field);
        assert!(!run.stderr.contains(socket_token), "{run:?}");
    }
    assert_same_tree(&before, &snapshot(&env.keys), "label changed the fixture directory");

    // Never created when missing (TOK-4), and a planted link is not followed.
    let missing = env.key("missing-approvals.json");
    let run = env.run(&["token", "label", "--key-file", s(&missing), "--label", LABEL], None);
    assert_fails(&run, EXIT_NOT_FOUND, "missing");
    assert!(std::fs::symlink_metadata(&missing).is_err(), "label created the key file");
    write_fixture(&env.outside.join("approvals.json"), socket_token);
    symlink("../outside/approvals.json", &env.key("linked.json"));
    let run = env.run(&["token", "label", "--key-file", s(&env.key("linked.json")), "--label", LABEL], None);
    assert_fails(&run, EXIT_REFUSED, "linked");
    assert!(!run.stderr.contains(socket_token));
    // A duplicate key in the file is refused: parsers would disagree on the key.
    let dup = env.key("dup.json");
    std::fs::write(&dup, br#"{"socket":{"token":"first-key","token":"second-key"}}"#).unwrap();
    chmod(&dup, 0o600);
    let run = env.run(&["token", "label", "--key-file", s(&dup), "--label", LABEL], None);
    // (gw-token maps gw-persist's duplicate-key refusal to `bad_secret`, so
    // the exit code is 1 where `gw doc` says 3; not pinned here.)
    assert_ne!(run.code, 0, "{run:?}");
    assert!(run.stdout.is_empty() && run.stderr.starts_with("gw: ") && run.stderr.contains("duplicate key"), "{run:?}");
    assert!(!run.stderr.contains("first-key") && !run.stderr.contains("second-key"), "{run:?}");
    env.assert_no_home("label");
}
