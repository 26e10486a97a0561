//! `gw cred` and `gw profile` on the real binary: THREATS CLI-1 (secrets
//! only through stdin, never in argv/environ, never printed without
//! `--reveal`), CLI-2 (bad input: documented exit code, every file
//! byte-for-byte unchanged), CRED-1 (precedence), CRED-2/CRED-3 (hand-off of
//! every role token, bootstrap cleared only after read-back; a malformed
//! hello-ok changes nothing), CRED-4 (validate before replace, a hung
//! validator killed with its whole process group), CRED-5 (loopback
//! equivalent URLs are one record), CRED-7 (mirror keeps the target's
//! entries) and CRED-8 (profile isolation).
//!
//! - `cli_1_*`: while `gw cred set URL --shared` (and `--device`,
//!   `--bootstrap`, `handoff`, `replace-shared`) blocks reading stdin (kept
//!   open), this process reads its `/proc/PID/cmdline` and
//!   `/proc/PID/environ`, before and after the secret was written: the secret
//!   is in neither; a validator's own argv/environ do not hold it either.
//!   Every command but `cred get --reveal` / `cred resolve --reveal` is
//!   checked for every secret stored in the test (credentials and the
//!   profiles' root secrets) on stdout and stderr — on success, on errors
//!   (bad URL, refused validation, missing profile, malformed input) and
//!   with `--json`.
//!
//! Every `gw` child gets `GW_HOME` set to a private temp directory.

use gw_test_support as common;

use std::cell::RefCell;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::ChildStdin;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use common::cli::{self, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_USAGE, Gw, Run, drains, finish_drained};
use common::{Node, Snapshot, assert_same_tree, chmod, snapshot};
use serde_json::{Value, json};

const GW: &str = env!("CARGO_BIN_EXE_gw");

/// The longest any single `gw` run may take.
const TIMEOUT: Duration = cli::TIMEOUT;

/// The canonical key of every loopback form of port 18789.
const GATEWAY: &str = "ws://127.0.0.1:18789";
/// Loopback-equivalent spellings of [`GATEWAY`] (THREATS CRED-5).
const LOOPBACK_FORMS: [&str; 6] = [
    "ws://127.0.0.1:18789",
    "ws://localhost:18789",
    "ws://[::1]:18789",
    "ws://127.0.0.2:18789/",
    "WS://LocalHost:18789",
    "ws://[::ffff:127.0.0.1]:18789",
];

// ---- running gw ----

/// A private (0700) temp dir whose `home` is the `GW_HOME` of every child
/// (not created until a test does), and every secret the test stored, which
/// no command but a `--reveal` may print.
#[derive(Debug)]
struct Env {
    tmp: tempfile::TempDir,
    home: PathBuf,
    secrets: RefCell<Vec<Vec<u8>>>,
}

impl Env {
    fn new() -> Self {
        let tmp = gw_test_support::private_tempdir("gw-cli-cred-");
        let home = tmp.path().join("home");
        Self { tmp, home, secrets: RefCell::new(Vec::new()) }
    }

    /// A home with profiles `a` and `b` (and their root secrets registered).
    fn with_profiles(names: &[&str]) -> Self {
        let env = Self::new();
        for name in names {
            env.profile_init(name, &[]);
        }
        env
    }

    /// `gw ARGS` in this home, run from the temp dir.
    fn command(&self, args: &[&str]) -> Gw {
        Gw::new(GW).args(args).home(&self.home).current_dir(self.tmp.path())
    }

    /// Runs `gw ARGS` with `stdin` (`/dev/null` when `None`), bounded in
    /// time. Nothing is checked.
    fn raw(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        self.command(args).stdin(stdin).run()
    }

    /// [`Env::raw`], then: no secret of the test on stdout or stderr (CLI-1).
    fn gw(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        let run = self.raw(args, stdin);
        self.assert_no_secret(&run, &format!("gw {args:?}"));
        run
    }

    /// `gw` that must succeed with nothing on stderr; returns stdout.
    #[track_caller]
    fn ok(&self, args: &[&str], stdin: Option<&[u8]>) -> String {
        let run = self.gw(args, stdin);
        assert_eq!(run.code, 0, "gw {args:?}: {run:?}");
        assert!(run.stderr.is_empty(), "gw {args:?}: nothing on stderr on success: {run:?}");
        run.stdout
    }

    /// `gw` that must fail with `code`: one `gw: ` line on stderr, nothing
    /// on stdout (or, with `--json`, one JSON error object with that code).
    #[track_caller]
    fn fails(&self, args: &[&str], stdin: Option<&[u8]>, code: i32) -> Run {
        let run = self.gw(args, stdin);
        let ctx = format!("gw {args:?}");
        assert_eq!(run.code, code, "{ctx}: exit code: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{ctx}: one line on stderr: {run:?}");
        assert!(run.stderr.starts_with("gw: "), "{ctx}: {run:?}");
        if args.contains(&"--json") && !run.stderr.starts_with("gw: error: usage:") {
            let v = json_of(&run.stdout);
            assert_eq!((&v["ok"], &v["exit_code"]), (&Value::Bool(false), &Value::from(code)), "{ctx}: {v}");
        } else {
            assert!(run.stdout.is_empty(), "{ctx}: nothing on stdout on error: {run:?}");
        }
        run
    }

    /// Runs `gw ARGS` under umask 000 (through `sh`: the umask is
    /// process-wide).
    fn umask0(&self, args: &[&str], stdin: &[u8]) -> Run {
        let run =
            Gw::with_umask(GW, 0o000).args(args).home(&self.home).current_dir(self.tmp.path()).stdin(Some(stdin)).run();
        self.assert_no_secret(&run, &format!("umask 000; gw {args:?}"));
        run
    }

    /// Registers `secret`: from now on no command may print it.
    fn secret(&self, secret: impl Into<Vec<u8>>) -> String {
        let secret = secret.into();
        let text = String::from_utf8(secret.clone()).unwrap();
        self.secrets.borrow_mut().push(secret);
        text
    }

    #[track_caller]
    fn assert_no_secret(&self, run: &Run, ctx: &str) {
        assert_no_secret_in(run, &self.secrets.borrow(), ctx);
    }

    fn profile_dir(&self, name: &str) -> PathBuf {
        self.home.join("profiles").join(name)
    }

    fn store(&self, name: &str) -> PathBuf {
        self.profile_dir(name).join("credentials.json")
    }

    /// `gw profile init NAME` (must succeed); its root secret is registered
    /// in every form it could leak in.
    fn profile_init(&self, name: &str, extra: &[&str]) {
        self.ok(&[&["profile", "init", name], extra].concat(), None);
        let key = std::fs::read(self.profile_dir(name).join("root.key")).unwrap();
        let text = key.strip_suffix(b"\n").expect("one line").to_vec();
        let raw = URL_SAFE_NO_PAD.decode(&text).expect("base64url");
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        let mut secrets = self.secrets.borrow_mut();
        secrets.extend([text, raw, hex.into_bytes()]);
    }

    /// `gw --profile P cred set URL SLOT` with `secret` on stdin (registered).
    fn set(&self, profile: &str, url: &str, slot: &[&str], secret: &str) {
        self.secret(secret);
        let args = [&["--profile", profile, "cred", "set", url], slot].concat();
        self.ok(&args, Some(format!("{secret}\n").as_bytes()));
    }

    /// The secret `cred get --reveal` prints (exactly it, nothing else).
    #[track_caller]
    fn reveal(&self, profile: &str, url: &str, slot: &[&str]) -> String {
        let args = [&["--profile", profile, "cred", "get", url, "--reveal"], slot].concat();
        let run = self.raw(&args, None);
        assert_eq!(run.code, 0, "gw {args:?}: {run:?}");
        assert!(run.stderr.is_empty(), "{run:?}");
        let secret = run.stdout.strip_suffix('\n').expect("one line").to_owned();
        self.only_secret(&run, &secret, &format!("gw {args:?}"));
        secret
    }

    /// The only registered secret in `run` is `allowed`, and only on stdout.
    #[track_caller]
    fn only_secret(&self, run: &Run, allowed: &str, ctx: &str) {
        let others: Vec<Vec<u8>> =
            self.secrets.borrow().iter().filter(|s| s.as_slice() != allowed.as_bytes()).cloned().collect();
        let others: Vec<Vec<u8>> = others.into_iter().filter(|s| !contains(allowed.as_bytes(), s)).collect();
        assert_no_secret_in(run, &others, ctx);
        assert!(!contains(run.stderr.as_bytes(), allowed.as_bytes()), "{ctx}: the secret on stderr: {run:?}");
    }

    /// The store document of profile `name`.
    fn doc(&self, name: &str) -> Value {
        let text = std::fs::read(self.store(name)).unwrap();
        serde_json::from_slice(&text).unwrap()
    }

    fn snap(&self) -> Snapshot {
        snapshot(&self.home)
    }
}

fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

#[track_caller]
fn assert_no_secret_in(run: &Run, secrets: &[Vec<u8>], ctx: &str) {
    for secret in secrets {
        let shown = String::from_utf8_lossy(&secret[..secret.len().min(10)]).into_owned();
        for (name, out) in [("stdout", &run.stdout), ("stderr", &run.stderr)] {
            assert!(!contains(out.as_bytes(), secret), "{ctx}: a secret (starting {shown:?}) is on {name}: {run:?}");
        }
    }
}

fn json_of(text: &str) -> Value {
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not one JSON object ({e}): {text:?}"))
}

/// A protocol-4 hello-ok of a bootstrap connect handing out `roles` (role,
/// token): the first is the primary `auth.deviceToken` (role `auth.role`),
/// the others `auth.deviceTokens[]`.
fn hello(roles: &[(&str, &str)]) -> String {
    hello_with("bootstrap-token", roles)
}

fn hello_with(method: &str, roles: &[(&str, &str)]) -> String {
    let mut auth = json!({ "method": method, "role": roles.first().map_or("node", |r| r.0), "scopes": [] });
    if let Some((_, t)) = roles.first() {
        auth["deviceToken"] = json!(t);
        auth["issuedAtMs"] = json!(1_765_000_000_000_u64);
    }
    let extra: Vec<Value> =
        roles.iter().skip(1).map(|(r, t)| json!({ "role": r, "deviceToken": t, "scopes": ["x.read"] })).collect();
    auth["deviceTokens"] = json!(extra);
    json!({
        "type": "hello-ok",
        "protocol": 4,
        "server": { "version": "2026.9.6", "connId": "c-1" },
        "auth": auth,
        "policy": { "tickIntervalMs": 30000 },
    })
    .to_string()
}

// ---- /proc ----

/// `(state, ppid, pgrp)` of `pid` from `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(char, u32, u32)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let mut f = rest.split_whitespace();
    let state = f.next()?.chars().next()?;
    let ppid = f.next()?.parse().ok()?;
    let pgrp = f.next()?.parse().ok()?;
    Some((state, ppid, pgrp))
}

fn all_pids() -> Vec<u32> {
    std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect()
}

/// Live (not zombie) processes of process group `pgid`.
fn live_in_group(pgid: u32) -> Vec<u32> {
    all_pids().into_iter().filter(|&p| matches!(proc_stat(p), Some((s, _, g)) if g == pgid && s != 'Z')).collect()
}

/// Waits for a child of `parent` and returns its pid.
fn wait_child_of(parent: u32, ctx: &str) -> u32 {
    let start = Instant::now();
    loop {
        if let Some(p) = all_pids().into_iter().find(|&p| matches!(proc_stat(p), Some((_, pp, _)) if pp == parent)) {
            return p;
        }
        assert!(start.elapsed() < TIMEOUT, "{ctx}: no child of {parent} appeared");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Waits until `pid` (a fresh child of gw) has exec'd its program: before
/// that it is still a copy of gw, maybe not yet in its own process group.
fn wait_exec(pid: u32, ctx: &str) {
    let start = Instant::now();
    while std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default().trim_end() == "gw" {
        assert!(start.elapsed() < TIMEOUT, "{ctx}: the child {pid} never exec'd");
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// `read(0, ...)` as `/proc/PID/syscall` shows it.
fn blocked_reading_stdin(pid: u32) -> bool {
    let sys = std::fs::read_to_string(format!("/proc/{pid}/syscall")).unwrap_or_default();
    let mut f = sys.split_whitespace();
    let read_nr = if cfg!(target_arch = "x86_64") {
        "0"
    } else if cfg!(target_arch = "aarch64") || cfg!(target_arch = "riscv64") {
        "63"
    } else {
        let wchan = std::fs::read_to_string(format!("/proc/{pid}/wchan")).unwrap_or_default();
        return wchan == "pipe_read";
    };
    (f.next(), f.next()) == (Some(read_nr), Some("0x0"))
}

fn rchar(pid: u32) -> u64 {
    let io = std::fs::read_to_string(format!("/proc/{pid}/io")).expect("read /proc/PID/io");
    io.lines().find_map(|l| l.strip_prefix("rchar: ")).and_then(|v| v.trim().parse().ok()).expect("rchar")
}

/// Waits until `pid` is blocked reading stdin having read at least
/// `min_rchar` bytes (so what was written to its stdin was consumed).
fn wait_reading(pid: u32, min_rchar: u64, ctx: &str) {
    let start = Instant::now();
    loop {
        if blocked_reading_stdin(pid) && rchar(pid) >= min_rchar {
            std::thread::sleep(Duration::from_millis(20));
            if blocked_reading_stdin(pid) && rchar(pid) >= min_rchar {
                return;
            }
        }
        assert!(start.elapsed() < TIMEOUT, "{ctx}: gw (pid {pid}) never blocked reading stdin");
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Reads `/proc/PID/cmdline` and `/proc/PID/environ` as another process
/// would; checks the read worked (the command line names `word`, the
/// environment holds `GW_HOME`), then that `secret` is in neither.
#[track_caller]
fn assert_proc_clean(pid: u32, word: &str, secret: &[u8], ctx: &str) {
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).expect("read /proc/PID/cmdline");
    let environ = std::fs::read(format!("/proc/{pid}/environ")).expect("read /proc/PID/environ");
    assert!(contains(&cmdline, word.as_bytes()), "{ctx}: /proc/{pid}/cmdline: {cmdline:?}");
    assert!(contains(&environ, b"GW_HOME="), "{ctx}: /proc/{pid}/environ was read");
    assert!(!contains(&cmdline, secret), "{ctx}: the secret is in /proc/{pid}/cmdline");
    assert!(!contains(&environ, secret), "{ctx}: the secret is in /proc/{pid}/environ");
}

/// `gw ARGS` blocked reading stdin: /proc checked before `input` is
/// written, then with it written and stdin still open, then finished.
fn probe_stdin(env: &Env, args: &[&str], input: &[u8], secret: &[u8], ctx: &str) -> Run {
    let mut child = env.command(args).piped_stdin().spawn();
    let pid = child.id();
    let (out, err) = drains(&mut child);
    let mut stdin: ChildStdin = child.stdin.take().unwrap();
    wait_reading(pid, 0, ctx);
    assert_proc_clean(pid, "cred", secret, &format!("{ctx} (before the secret was written)"));
    let before = rchar(pid);
    stdin.write_all(input).unwrap();
    stdin.flush().unwrap();
    wait_reading(pid, before + input.len() as u64, ctx);
    assert_proc_clean(pid, "cred", secret, &format!("{ctx} (the secret read, stdin still open)"));
    drop(stdin);
    let run = finish_drained(child, out, err, TIMEOUT, ctx);
    env.assert_no_secret(&run, ctx);
    run
}

// ---- CLI-1 ----

/// CLI-1: `gw cred set URL --shared` (and `--device R`, `--bootstrap`)
/// reads the secret from stdin; while it runs (stdin open), the secret is
/// in neither `/proc/PID/cmdline` nor `/proc/PID/environ`; it is stored,
/// and not printed.
#[test]
fn cli_1_cred_set_secret_not_in_proc_cmdline_or_environ() {
    let env = Env::with_profiles(&["default"]);
    for (slot, secret) in [
        (vec!["--shared"], "shared-7Hq2LxW9vB4kTz"),
        (vec!["--device", "operator"], "device-Np3Rm8Kd2QsY6c"),
        (vec!["--bootstrap"], "boot-Zt5Gw1Jx7PfA0e"),
    ] {
        env.secret(secret);
        let args = [&["cred", "set", GATEWAY], &slot[..]].concat();
        let run = probe_stdin(&env, &args, format!("{secret}\n").as_bytes(), secret.as_bytes(), &format!("{args:?}"));
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stdout.starts_with("stored the "), "{run:?}");
        let get_slot = if slot[0] == "--device" { vec!["--role", slot[1]] } else { slot.clone() };
        assert_eq!(env.reveal("default", GATEWAY, &get_slot), secret, "stored as written");
    }
}

/// CLI-1: `gw cred handoff` and `gw cred replace-shared` read their secrets
/// (the hello-ok's tokens, the new shared token) from stdin only; the
/// validator gets the token on its stdin, not in its argv or environment.
#[test]
fn cli_1_handoff_and_replace_shared_secrets_not_in_proc() {
    let env = Env::with_profiles(&["default"]);
    env.set("default", GATEWAY, &["--bootstrap"], "boot-Lk4Vb8Nw2Qe6Rt");
    let op = env.secret("op-Hd7Kq1Zs9Wm3Pv");
    let input = hello(&[("operator", &op)]);
    let run = probe_stdin(&env, &["cred", "handoff", GATEWAY], input.as_bytes(), op.as_bytes(), "handoff");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(env.reveal("default", GATEWAY, &["--role", "operator"]), op);

    let new = env.secret("new-shared-VALID-Cx5Tj8Ya2Mn");
    let args = ["cred", "replace-shared", GATEWAY, "--validate-cmd", "grep -q VALID"];
    let run = probe_stdin(&env, &args, format!("{new}\n").as_bytes(), new.as_bytes(), "replace-shared");
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(env.reveal("default", GATEWAY, &["--shared"]), new);

    // The validator itself, caught while it runs: the token is on its stdin only.
    let newer = env.secret("newer-shared-Fp6Ws3Qd9Lz");
    let mut child = env
        .command(&["cred", "replace-shared", GATEWAY, "--validate-cmd", "sleep 30", "--validate-timeout", "20s"])
        .piped_stdin()
        .spawn();
    let gw_pid = child.id();
    let (out, err) = drains(&mut child);
    child.stdin.take().unwrap().write_all(newer.as_bytes()).unwrap();
    let validator = wait_child_of(gw_pid, "validator");
    wait_exec(validator, "validator");
    assert_proc_clean(validator, "sleep", newer.as_bytes(), "the validator");
    assert_proc_clean(gw_pid, "cred", newer.as_bytes(), "gw while its validator runs");
    // Done looking: end the validator (gw judges it by its status).
    rustix::process::kill_process(
        rustix::process::Pid::from_raw(validator as i32).unwrap(),
        rustix::process::Signal::KILL,
    )
    .unwrap();
    let run = finish_drained(child, out, err, TIMEOUT, "replace-shared with a killed validator");
    assert_eq!(run.code, EXIT_REFUSED, "a validator killed by a signal refuses: {run:?}");
    env.assert_no_secret(&run, "replace-shared (killed validator)");
    assert_eq!(env.reveal("default", GATEWAY, &["--shared"]), new, "nothing changed");
}

/// CLI-1: with credentials in two profiles, no command — success or error,
/// human or `--json` — prints any stored secret or root secret, except the
/// `--reveal` of exactly the slot asked for.
#[test]
fn cli_1_no_secret_in_any_output() {
    let env = Env::with_profiles(&["default", "b"]);
    let u2 = "wss://gateway.example:8443";
    env.set("default", "ws://localhost:18789", &["--bootstrap"], "boot-Qw8Er5Ty2Ui7Op");
    env.set("default", "ws://[::1]:18789", &["--shared"], "shared-As4Df6Gh1Jk9Lz");
    env.set("default", GATEWAY, &["--device", "operator"], "dev-op-Zx3Cv7Bn5Mq1Wp");
    env.set("default", u2, &["--shared"], "remote-Rt6Yu2Io8Pa4Sd");
    env.set("b", GATEWAY, &["--device", "node"], "b-node-Fg9Hj3Kl5Zx7Cv");
    let refused = env.secret("refused-Vb1Nm4Qw7Er2Ty");
    let malformed_tok = env.secret("inhello-Ui5Op8As3Df6Gh");
    let bad_hello =
        format!(r#"{{"type":"hello","auth":{{"deviceTokens":[{{"role":"operator","token":"{malformed_tok}"}}]}}}}"#);
    let dup_hello = format!(
        r#"{{"type":"hello-ok","auth":{{"deviceTokens":[{{"role":"x","token":"{malformed_tok}","token":"{malformed_tok}"}}]}}}}"#
    );
    // A gateway that swapped `role` and `token` (CLI-1): the refusal must not
    // echo the role, which is a token.
    let swapped_tok = env.secret("Swapped-Kp9Lm2Zq7Wx4");
    let swapped_hello =
        format!(r#"{{"type":"hello-ok","auth":{{"deviceTokens":[{{"role":"{swapped_tok}","token":"operator"}}]}}}}"#);
    let refused_nl = format!("{refused}\n");
    let cases: Vec<(Vec<&str>, Option<&str>, i32)> = vec![
        (vec!["cred", "list"], None, 0),
        (vec!["cred", "get", GATEWAY], None, 0),
        (vec!["cred", "get", "ws://localhost:18789", "--shared"], None, 0),
        (vec!["cred", "get", GATEWAY, "--role", "operator"], None, 0),
        (vec!["cred", "get", GATEWAY, "--role", "nobody"], None, EXIT_NOT_FOUND),
        (vec!["cred", "get", GATEWAY, "--reveal"], None, EXIT_USAGE),
        (vec!["cred", "get", "ws://127.0.0.1:1", "--shared", "--reveal"], None, EXIT_NOT_FOUND),
        (vec!["cred", "resolve", GATEWAY], None, 0),
        (vec!["cred", "resolve", GATEWAY, "--role", "node"], None, 0),
        (vec!["cred", "resolve", u2], None, 0),
        (vec!["cred", "resolve", GATEWAY, "--role", "Bad Role"], None, EXIT_USAGE),
        (vec!["cred", "resolve", "ws://127.0.0.1:2"], None, EXIT_NOT_FOUND),
        (vec!["cred", "set", "ftp://127.0.0.1:1", "--shared"], Some(&refused_nl), EXIT_USAGE),
        (vec!["cred", "set", "ws://user:pw@127.0.0.1:1", "--shared"], Some(&refused_nl), EXIT_USAGE),
        (vec!["cred", "set", GATEWAY, "--device", "Bad!"], Some(&refused_nl), EXIT_USAGE),
        (vec!["--profile", "nope", "cred", "set", GATEWAY, "--shared"], Some(&refused_nl), EXIT_NOT_FOUND),
        (vec!["--profile", "../b", "cred", "list"], None, EXIT_USAGE),
        (vec!["--profile", "nope", "cred", "list"], None, EXIT_NOT_FOUND),
        (vec!["cred", "replace-shared", GATEWAY, "--validate-cmd", "false"], Some(&refused_nl), EXIT_REFUSED),
        (vec!["cred", "replace-shared", GATEWAY, "--validate-cmd", "grep -q NOPE"], Some(&refused_nl), EXIT_REFUSED),
        (
            vec!["cred", "replace-shared", GATEWAY, "--validate-cmd", "/nonexistent/validator"],
            Some(&refused_nl),
            EXIT_REFUSED,
        ),
        (vec!["cred", "replace-shared", "ws://h:1/p", "--validate-cmd", "true"], Some(&refused_nl), EXIT_USAGE),
        (vec!["cred", "handoff", GATEWAY], Some(&bad_hello), EXIT_USAGE),
        (vec!["cred", "handoff", GATEWAY], Some(&dup_hello), EXIT_REFUSED),
        (vec!["cred", "handoff", GATEWAY], Some(&swapped_hello), EXIT_USAGE),
        (vec!["cred", "handoff", GATEWAY], Some("{not json"), EXIT_USAGE),
        (vec!["cred", "rm", "ws://127.0.0.1:3"], None, EXIT_NOT_FOUND),
        (vec!["cred", "rm", GATEWAY, "--role", "nobody"], None, EXIT_NOT_FOUND),
        (vec!["cred", "mirror", "--from", "default", "--to", "default"], None, EXIT_USAGE),
        (vec!["cred", "mirror", "--from", "default", "--to", "nope"], None, EXIT_NOT_FOUND),
        (vec!["profile", "list"], None, 0),
        (vec!["profile", "show", "default"], None, 0),
        (vec!["profile", "show", "b"], None, 0),
        (vec!["profile", "show", "nope"], None, EXIT_NOT_FOUND),
        (vec!["profile", "init", "default"], None, EXIT_FAILED),
    ];
    let before = env.snap();
    for json_flag in [false, true] {
        for (args, stdin, code) in &cases {
            let mut full: Vec<&str> = if json_flag { vec!["--json"] } else { vec![] };
            full.extend_from_slice(args);
            if *code == 0 {
                let out = env.ok(&full, stdin.map(str::as_bytes));
                if json_flag {
                    assert_eq!(json_of(&out)["ok"], Value::Bool(true), "{full:?}: {out}");
                }
            } else {
                env.fails(&full, stdin.map(str::as_bytes), *code);
            }
        }
    }
    assert_same_tree(&before, &env.snap(), "read-only and refused commands changed the home");

    // The commands whose purpose is a secret print exactly the one asked for.
    assert_eq!(env.reveal("default", "ws://localhost:18789", &["--bootstrap"]), "boot-Qw8Er5Ty2Ui7Op");
    assert_eq!(env.reveal("b", GATEWAY, &["--role", "node"]), "b-node-Fg9Hj3Kl5Zx7Cv");
    let run = env.raw(&["cred", "resolve", GATEWAY, "--reveal"], None);
    assert_eq!((run.code, run.stdout.as_str()), (0, "dev-op-Zx3Cv7Bn5Mq1Wp\n"), "{run:?}");
    assert!(run.stderr.contains("device token for role `operator`"), "the why on stderr: {run:?}");
    env.only_secret(&run, "dev-op-Zx3Cv7Bn5Mq1Wp", "resolve --reveal");
    let run = env.raw(&["--json", "cred", "resolve", GATEWAY, "--role", "node", "--reveal"], None);
    assert_eq!(json_of(&run.stdout)["secret"], "shared-As4Df6Gh1Jk9Lz", "{run:?}");
    env.only_secret(&run, "shared-As4Df6Gh1Jk9Lz", "resolve --reveal --json");
    let run = env.raw(&["--json", "cred", "get", u2, "--shared", "--reveal"], None);
    assert_eq!(json_of(&run.stdout)["secret"], "remote-Rt6Yu2Io8Pa4Sd", "{run:?}");
    env.only_secret(&run, "remote-Rt6Yu2Io8Pa4Sd", "get --reveal --json");
}

// ---- profiles ----

/// `gw profile init` under umask 000: home, profiles/ and the profile
/// directory 0700; config.json (port, the URL generated from it) and
/// root.key 0600; a second init is a usage error (2) and changes nothing.
#[test]
fn profile_init_is_private_and_not_repeated() {
    let env = Env::new();
    let run = env.umask0(&["profile", "init", "work", "--port", "19001"], b"");
    assert_eq!(run.code, 0, "{run:?}");
    let run = env.umask0(&["profile", "init", "default"], b"");
    assert_eq!(run.code, 0, "{run:?}");
    for dir in [env.home.clone(), env.home.join("profiles"), env.profile_dir("work"), env.profile_dir("default")] {
        let meta = std::fs::symlink_metadata(&dir).unwrap();
        assert!(meta.is_dir() && meta.permissions().mode() & 0o7777 == 0o700, "{} 0700: {meta:?}", dir.display());
    }
    for (name, port) in [("work", 19001), ("default", 18789)] {
        let dir = env.profile_dir(name);
        for file in ["config.json", "root.key"] {
            let meta = std::fs::symlink_metadata(dir.join(file)).unwrap();
            assert!(meta.is_file() && meta.permissions().mode() & 0o7777 == 0o600, "{name}/{file} 0600");
        }
        let config: Value = serde_json::from_slice(&std::fs::read(dir.join("config.json")).unwrap()).unwrap();
        assert_eq!(
            config,
            json!({ "version": 1, "name": name, "port": port, "gateway_url": format!("ws://127.0.0.1:{port}") })
        );
        let key = std::fs::read(dir.join("root.key")).unwrap();
        assert_eq!(URL_SAFE_NO_PAD.decode(key.strip_suffix(b"\n").unwrap()).unwrap().len(), 32);
        env.secret(key.strip_suffix(b"\n").unwrap().to_vec());
        assert!(!dir.join("credentials.json").exists(), "no store until something is stored");
    }
    assert_ne!(
        std::fs::read(env.profile_dir("work").join("root.key")).unwrap(),
        std::fs::read(env.profile_dir("default").join("root.key")).unwrap(),
        "each profile has its own root secret"
    );

    let before = env.snap();
    for args in [vec!["profile", "init", "work"], vec!["--json", "profile", "init", "default", "--port", "1"]] {
        let run = env.fails(&args, None, EXIT_FAILED);
        assert!(run.stderr.contains("already exists"), "{run:?}");
        assert_same_tree(&before, &env.snap(), &format!("{args:?}"));
    }

    assert_eq!(env.ok(&["profile", "list"], None), "default\nwork\n");
    let v = json_of(&env.ok(&["--json", "profile", "list"], None));
    assert_eq!(v["profiles"], json!(["default", "work"]));
    let out = env.ok(&["profile", "show", "work"], None);
    assert!(out.contains("ws://127.0.0.1:19001") && out.contains("port 19001"), "{out}");
    let v = json_of(&env.ok(&["--json", "profile", "show", "work"], None));
    assert_eq!(
        (&v["port"], &v["gateway_url"], &v["credentials"]),
        (&json!(19001), &json!("ws://127.0.0.1:19001"), &json!([]))
    );
    assert_same_tree(&before, &env.snap(), "list and show changed nothing");
}

/// A bad profile name (or port) is a usage error (2) and creates nothing:
/// not the home when it is missing, nothing in it when it exists.
#[test]
fn bad_profile_names_create_nothing() {
    let env = Env::new();
    let long = "a".repeat(33);
    let bad: Vec<&str> = vec!["", "Work", "../x", "a/b", "-a", "_a", ".", "..", "a b", "ä", &long, "a\nb"];
    for name in &bad {
        env.fails(&["profile", "init", name], None, EXIT_USAGE);
        assert!(std::fs::symlink_metadata(&env.home).is_err(), "`{name:?}` created the home");
    }
    env.fails(&["profile", "init", "ok", "--port", "0"], None, EXIT_USAGE);
    assert!(std::fs::symlink_metadata(&env.home).is_err(), "--port 0 created the home");
    env.fails(&["profile", "init", "ok", "--port", "70000"], None, EXIT_USAGE);
    assert!(std::fs::symlink_metadata(&env.home).is_err(), "--port 70000 created the home");

    env.profile_init("ok", &[]);
    let before = env.snap();
    for name in &bad {
        env.fails(&["profile", "init", name], None, EXIT_USAGE);
        env.fails(&["profile", "show", name], None, EXIT_USAGE);
        env.fails(&["--profile", name, "cred", "set", GATEWAY, "--shared"], Some(b"tok-1\n"), EXIT_USAGE);
        assert_same_tree(&before, &env.snap(), &format!("profile name {name:?}"));
    }
    env.fails(&["profile", "init", "other", "--port", "0"], None, EXIT_USAGE);
    env.fails(&["cred", "mirror", "--from", "ok", "--to", "../ok"], None, EXIT_USAGE);
    assert_same_tree(&before, &env.snap(), "bad port, bad mirror target");
}

/// Without a gw home, every `gw cred` command and `gw profile list/show`
/// say "not found" (4) with the fix, and create nothing — not the home,
/// not its missing parents.
#[test]
fn no_home_is_not_found_and_nothing_is_created() {
    let env = Env::new();
    let before = snapshot(env.tmp.path());
    let cases: Vec<(Vec<&str>, Option<&[u8]>)> = vec![
        (vec!["cred", "list"], None),
        (vec!["--json", "cred", "list"], None),
        (vec!["cred", "set", GATEWAY, "--shared"], Some(b"tok-1\n")),
        (vec!["cred", "get", GATEWAY], None),
        (vec!["cred", "resolve", GATEWAY], None),
        (vec!["cred", "handoff", GATEWAY], Some(br#"{"type":"hello-ok"}"#)),
        (vec!["cred", "replace-shared", GATEWAY, "--validate-cmd", "true"], Some(b"tok-2\n")),
        (vec!["cred", "rm", GATEWAY], None),
        (vec!["cred", "mirror", "--from", "a", "--to", "b"], None),
        (vec!["profile", "list"], None),
        (vec!["profile", "show", "default"], None),
    ];
    for (args, stdin) in &cases {
        let run = env.fails(args, *stdin, EXIT_NOT_FOUND);
        if !args.contains(&"--json") {
            assert!(run.stderr.contains("gw profile init"), "the fix names `gw profile init`: {run:?}");
        }
        assert_same_tree(&before, &snapshot(env.tmp.path()), &format!("{args:?} created something"));
    }
    // Nor missing parents of the home.
    let deep = env.tmp.path().join("x").join("y").join("home");
    let run = env.command(&["cred", "list"]).home(&deep).output();
    assert_eq!(run.status.code(), Some(EXIT_NOT_FOUND), "{run:?}");
    assert_same_tree(&before, &snapshot(env.tmp.path()), "cred list with a deep missing home");
}

// ---- credentials ----

/// CRED-1 and CRED-5 through the CLI: device token for the role, else the
/// shared token, else the bootstrap token — whichever loopback spelling of
/// the gateway was used to store or ask; one record, not several. Other
/// ports, schemes and non-loopback hosts are other gateways.
#[test]
fn cred_1_precedence_and_cred_5_loopback_urls_are_one_record() {
    let env = Env::with_profiles(&["default"]);
    let resolve = |url: &str, role: &str| {
        let v = json_of(&env.ok(&["--json", "cred", "resolve", url, "--role", role], None));
        assert_eq!(v["gateway"], GATEWAY, "{v}");
        v["slot"].as_str().unwrap().to_owned()
    };
    let reveal_resolved = |url: &str, role: &str| {
        let run = env.raw(&["cred", "resolve", url, "--role", role, "--reveal"], None);
        assert_eq!(run.code, 0, "{run:?}");
        run.stdout.trim_end().to_owned()
    };

    env.fails(&["cred", "resolve", GATEWAY], None, EXIT_NOT_FOUND);
    env.set("default", "ws://localhost:18789", &["--bootstrap"], "boot-Aa1Bb2Cc3Dd4");
    for url in LOOPBACK_FORMS {
        assert_eq!(resolve(url, "operator"), "bootstrap", "{url}");
        assert_eq!(reveal_resolved(url, "operator"), "boot-Aa1Bb2Cc3Dd4", "{url}");
    }
    env.set("default", "ws://[::1]:18789", &["--shared"], "shared-Ee5Ff6Gg7Hh8");
    for url in LOOPBACK_FORMS {
        assert_eq!(resolve(url, "operator"), "shared", "{url}");
        assert_eq!(reveal_resolved(url, "operator"), "shared-Ee5Ff6Gg7Hh8", "{url}");
    }
    env.set("default", "ws://127.0.0.2:18789", &["--device", "operator"], "op-Ii9Jj0Kk1Ll2");
    for url in LOOPBACK_FORMS {
        assert_eq!(resolve(url, "operator"), "device:operator", "{url}");
        assert_eq!(reveal_resolved(url, "operator"), "op-Ii9Jj0Kk1Ll2", "{url}");
        assert_eq!(resolve(url, "node"), "shared", "no device token for node: {url}");
    }
    let out = env.ok(&["cred", "resolve", "ws://localhost:18789"], None);
    assert!(out.contains("device token for role `operator`") && out.contains("highest precedence"), "{out}");

    // One record for every spelling.
    let doc = env.doc("default");
    let gateways = doc["gateways"].as_object().unwrap();
    assert_eq!(gateways.keys().collect::<Vec<_>>(), vec![GATEWAY], "one record: {doc}");
    assert_eq!(
        gateways[GATEWAY],
        json!({ "generation": 0, "device": { "operator": "op-Ii9Jj0Kk1Ll2" }, "shared": "shared-Ee5Ff6Gg7Hh8", "bootstrap": "boot-Aa1Bb2Cc3Dd4" })
    );
    let v = json_of(&env.ok(&["--json", "cred", "list"], None));
    assert_eq!(v["gateways"].as_array().unwrap().len(), 1, "{v}");

    // Not the same gateway.
    for url in [
        "ws://127.0.0.1:18790",
        "wss://127.0.0.1:18789",
        "http://127.0.0.1:18789",
        "ws://localhost.example:18789",
        "ws://127.0.0.1.nip.io:18789",
        "ws://10.0.0.1:18789",
        "ws://[::2]:18789",
    ] {
        env.fails(&["cred", "resolve", url], None, EXIT_NOT_FOUND);
    }

    // Removing slots walks back down the precedence.
    env.ok(&["cred", "rm", "ws://localhost:18789", "--role", "operator"], None);
    assert_eq!(resolve(GATEWAY, "operator"), "shared");
    env.ok(&["cred", "rm", "ws://[::1]:18789", "--shared"], None);
    assert_eq!(resolve(GATEWAY, "operator"), "bootstrap");
    env.fails(&["cred", "rm", GATEWAY, "--shared"], None, EXIT_NOT_FOUND);
    env.ok(&["cred", "rm", "WS://LOCALHOST:18789"], None);
    env.fails(&["cred", "resolve", GATEWAY], None, EXIT_NOT_FOUND);
    env.fails(&["cred", "rm", GATEWAY], None, EXIT_NOT_FOUND);
}

/// The store is created 0600 (its lock file too) whatever the umask.
#[test]
fn store_is_0600_under_umask_000() {
    let env = Env::with_profiles(&["default"]);
    let secret = env.secret("umask-Mm3Nn4Oo5Pp6");
    let run = env.umask0(&["cred", "set", GATEWAY, "--shared"], format!("{secret}\n").as_bytes());
    assert_eq!(run.code, 0, "{run:?}");
    let dir = snapshot(&env.profile_dir("default"));
    for (path, node) in &dir {
        match node {
            Node::File { mode, .. } => assert_eq!(*mode, 0o600, "{}: {node:?}", path.display()),
            Node::Dir { mode, .. } => assert_eq!(*mode, 0o700, "{}", path.display()),
            other => panic!("{}: unexpected {other:?}", path.display()),
        }
    }
    assert!(dir.contains_key(Path::new("credentials.json")), "{dir:?}");
    assert_eq!(env.reveal("default", GATEWAY, &["--shared"]), secret);
}

/// CRED-2: a hello-ok with two role tokens persists both, reads them back,
/// and only then clears the bootstrap token (the shared token stays).
#[test]
fn cred_2_handoff_persists_every_role_and_clears_bootstrap() {
    let env = Env::with_profiles(&["default"]);
    env.set("default", GATEWAY, &["--bootstrap"], "boot-Qq7Rr8Ss9Tt0");
    env.set("default", GATEWAY, &["--shared"], "shared-Uu1Vv2Ww3Xx4");
    let op = env.secret("op-Yy5Zz6Aa7Bb8");
    let node = env.secret("node-Cc9Dd0Ee1Ff2");
    let out = env.ok(
        &["--json", "cred", "handoff", "ws://localhost:18789"],
        Some(hello(&[("operator", &op), ("node", &node)]).as_bytes()),
    );
    let v = json_of(&out);
    assert_eq!(
        (&v["gateway"], &v["roles"], &v["bootstrap_cleared"]),
        (&json!(GATEWAY), &json!(["operator", "node"]), &json!(true)),
        "{v}"
    );
    assert_eq!(env.reveal("default", GATEWAY, &["--role", "operator"]), op);
    assert_eq!(env.reveal("default", GATEWAY, &["--role", "node"]), node);
    assert_eq!(env.reveal("default", GATEWAY, &["--shared"]), "shared-Uu1Vv2Ww3Xx4");
    env.fails(&["cred", "get", GATEWAY, "--bootstrap"], None, EXIT_NOT_FOUND);
    let device = json_of(&env.ok(&["--json", "profile", "show", "default"], None))["device_id"].clone();
    let device = device.as_str().expect("the profile has a device id");
    assert_eq!(
        env.doc("default")["gateways"][GATEWAY],
        json!({ "generation": 0, "devices": { device: {
            "node": { "token": node, "scopes": ["x.read"] },
            "operator": { "token": op, "scopes": [], "issuedAtMs": 1_765_000_000_000_u64 } } },
            "shared": "shared-Uu1Vv2Ww3Xx4" })
    );
    // GATE-3: a hello-ok of a connect that was not a bootstrap, or from a
    // gateway that is not loopback, hands off nothing.
    let before = env.snap();
    let planted = env.secret("planted-Kk1Ll2Mm3Nn4");
    for method in ["token", "device-token", "password"] {
        let run = env.fails(
            &["cred", "handoff", GATEWAY],
            Some(hello_with(method, &[("operator", &planted)]).as_bytes()),
            EXIT_REFUSED,
        );
        assert!(run.stderr.contains("only a bootstrap connect hands off"), "{run:?}");
    }
    let run = env.fails(
        &["cred", "handoff", "ws://192.0.2.7:18789"],
        Some(hello(&[("operator", &planted)]).as_bytes()),
        EXIT_REFUSED,
    );
    assert!(run.stderr.contains("not loopback"), "{run:?}");
    assert_same_tree(&before, &env.snap(), "a refused hand-off");

    // Again, with no bootstrap token left: the tokens are replaced, and the
    // report says there was nothing to clear.
    let op2 = env.secret("op2-Gg3Hh4Ii5Jj6");
    let out = env.ok(&["cred", "handoff", GATEWAY], Some(hello(&[("operator", &op2)]).as_bytes()));
    assert!(out.contains("1 role token(s)") && out.contains("bootstrap token was not stored"), "{out}");
    assert_eq!(env.reveal("default", GATEWAY, &["--role", "operator"]), op2);
    assert_eq!(env.reveal("default", GATEWAY, &["--role", "node"]), node, "other roles kept");
}

/// CRED-3 / CLI-2: a malformed hello-ok — not a hello-ok, a duplicate role,
/// a duplicate JSON key, an empty list, a bad role or token, not JSON,
/// oversized — is an error with the documented code, and the store is
/// byte-for-byte unchanged (the bootstrap token kept).
#[test]
fn cred_3_malformed_hello_ok_changes_nothing() {
    let env = Env::with_profiles(&["default"]);
    env.set("default", GATEWAY, &["--bootstrap"], "boot-Kk7Ll8Mm9Nn0");
    env.set("default", GATEWAY, &["--device", "node"], "node-Oo1Pp2Qq3Rr4");
    let t = env.secret("hello-tok-Ss5Tt6Uu7Vv8");
    let t2 = env.secret("hello-tok2-Ww9Xx0Yy1Zz2");
    let big = format!(
        r#"{{"type":"hello-ok","pad":"{}","protocol":4,"auth":{{"method":"bootstrap-token","role":"operator","deviceToken":"{t}"}}}}"#,
        "x".repeat(1100 * 1024)
    );
    let cases: Vec<(String, i32, &str)> = vec![
        (hello(&[("operator", &t)]).replace("hello-ok", "hello"), EXIT_USAGE, "nor a hello-ok"),
        (format!(r#"{{"auth":{{"role":"operator","deviceToken":"{t}"}}}}"#), EXIT_USAGE, "nor a hello-ok"),
        (hello(&[("operator", &t)]).replace("hello-ok", "HELLO-OK"), EXIT_USAGE, "nor a hello-ok"),
        (format!("[{}]", hello(&[("operator", &t)])), EXIT_USAGE, "nor a hello-ok"),
        (
            format!(r#"{{"type":"res","id":"1","ok":false,"error":{{"code":"INVALID_REQUEST","message":"{t}"}}}}"#),
            EXIT_USAGE,
            "is a refusal",
        ),
        (hello(&[("operator", &t), ("operator", &t2)]), EXIT_USAGE, "issued twice"),
        (hello(&[("node", &t), ("operator", &t2)]).replace("\"protocol\":4", "\"protocol\":3"), EXIT_USAGE, "protocol 3"),
        (
            format!(
                r#"{{"type":"hello-ok","type":"hello-ok","protocol":4,"auth":{{"method":"bootstrap-token","role":"operator","deviceToken":"{t}"}}}}"#
            ),
            EXIT_REFUSED,
            "duplicate key",
        ),
        (
            format!(
                r#"{{"type":"hello-ok","protocol":4,"auth":{{"method":"bootstrap-token","role":"node","deviceTokens":[{{"role":"operator","deviceToken":"{t}","deviceToken":"{t2}"}}]}}}}"#
            ),
            EXIT_REFUSED,
            "duplicate key",
        ),
        (hello(&[]), EXIT_USAGE, "nothing to hand off"),
        (r#"{"type":"hello-ok","protocol":4}"#.to_owned(), EXIT_USAGE, "no `auth` object"),
        (
            r#"{"type":"hello-ok","protocol":4,"auth":{"method":"bootstrap-token","role":"node","deviceTokens":{}}}"#.to_owned(),
            EXIT_USAGE,
            "not an array",
        ),
        (hello(&[("Operator", &t)]), EXIT_USAGE, "role"),
        (hello(&[("operator", "with space")]), EXIT_USAGE, "printable"),
        (hello(&[("operator", "")]), EXIT_USAGE, "printable"),
        (
            r#"{"type":"hello-ok","protocol":4,"auth":{"method":"bootstrap-token","role":"node","deviceTokens":[{"role":"operator"}]}}"#.to_owned(),
            EXIT_USAGE,
            "not a string",
        ),
        (
            format!(r#"{{"type":"hello-ok","protocol":4,"auth":{{"method":"bootstrap-token","role":"node","deviceTokens":[{{"deviceToken":"{t}"}}]}}}}"#),
            EXIT_USAGE,
            "no role",
        ),
        (format!("{} trailing", hello(&[("operator", &t)])), EXIT_USAGE, ""),
        (
            format!(
                "{{\"type\":\"hello-ok\",\"protocol\":4,\"auth\":{{\"role\":\"operator\",\"deviceToken\":\"{t}\""
            ),
            EXIT_USAGE,
            "",
        ),
        ("not json at all".to_owned(), EXIT_USAGE, ""),
        (format!("\u{feff}{}", hello(&[("operator", &t)])), EXIT_USAGE, ""),
        (String::new(), EXIT_USAGE, "on stdin"),
        (big, EXIT_USAGE, "longer than"),
    ];
    let before = env.snap();
    for (input, code, says) in &cases {
        for json_flag in [false, true] {
            let mut args = vec!["cred", "handoff", "ws://localhost:18789"];
            if json_flag {
                args.insert(0, "--json");
            }
            let run = env.fails(&args, Some(input.as_bytes()), *code);
            let shown = &input[..input.len().min(80)];
            assert!(run.stderr.contains(says), "{shown}: says `{says}`: {run:?}");
            assert_same_tree(&before, &env.snap(), &format!("handoff of {shown}"));
        }
    }
    assert_eq!(env.reveal("default", GATEWAY, &["--bootstrap"]), "boot-Kk7Ll8Mm9Nn0", "bootstrap kept");
}

/// Writes an executable script (a validator) into the test's temp dir.
fn script(env: &Env, name: &str, body: &str) -> PathBuf {
    let path = env.tmp.path().join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    chmod(&path, 0o700);
    path
}

/// CRED-4: a refused replacement (validator exits non-zero, cannot start,
/// checks stdin and does not like it) changes nothing; an accepted one
/// stores the new shared token and clears the device tokens, keeping the
/// bootstrap token.
#[test]
fn cred_4_replace_shared_validates_before_clearing() {
    let env = Env::with_profiles(&["default"]);
    env.set("default", GATEWAY, &["--shared"], "old-shared-Ab3Cd4Ef5Gh6");
    env.set("default", GATEWAY, &["--device", "operator"], "op-Ij7Kl8Mn9Op0");
    env.set("default", GATEWAY, &["--device", "node"], "node-Qr1St2Uv3Wx4");
    env.set("default", GATEWAY, &["--bootstrap"], "boot-Yz5Ab6Cd7Ef8");
    let seen = env.tmp.path().join("seen");
    let record = script(&env, "record.sh", &format!("cat > {}\nexit 1", seen.display()));
    let bad = env.secret("new-shared-Gh9Ij0Kl1Mn2");
    let good = env.secret("new-shared-EXPECTED-Op3Qr4St5");
    let before = env.snap();
    for cmd in ["false", "grep -q EXPECTED", "/nonexistent/validator", "test -z x", record.to_str().unwrap()] {
        for json_flag in [false, true] {
            let mut args = vec!["cred", "replace-shared", "ws://localhost:18789", "--validate-cmd", cmd];
            if json_flag {
                args.insert(0, "--json");
            }
            let run = env.fails(&args, Some(format!("{bad}\n").as_bytes()), EXIT_REFUSED);
            assert!(run.stderr.contains("nothing was changed"), "{cmd}: {run:?}");
            assert_same_tree(&before, &env.snap(), &format!("refused by `{cmd}`"));
        }
    }
    // The validator got exactly the token (one trailing newline dropped) on stdin.
    assert_eq!(std::fs::read(&seen).unwrap(), bad.as_bytes());
    // Empty stdin, a bad token, a bad URL: usage errors, nothing run.
    std::fs::remove_file(&seen).unwrap();
    for (url, input) in [(GATEWAY, ""), (GATEWAY, "two words\n"), ("ws://127.0.0.1:1/x", "tok-9\n")] {
        env.fails(
            &["cred", "replace-shared", url, "--validate-cmd", record.to_str().unwrap()],
            Some(input.as_bytes()),
            EXIT_USAGE,
        );
    }
    assert_same_tree(&before, &env.snap(), "usage errors");
    assert!(!seen.exists(), "the validator ran for a usage error");

    let out = env.ok(
        &["--json", "cred", "replace-shared", "ws://[::1]:18789", "--validate-cmd", "grep -q EXPECTED"],
        Some(format!("{good}\n").as_bytes()),
    );
    assert_eq!(json_of(&out)["cleared_roles"], json!(["node", "operator"]), "{out}");
    assert_eq!(
        env.doc("default")["gateways"][GATEWAY],
        json!({ "generation": 0, "shared": good, "bootstrap": "boot-Yz5Ab6Cd7Ef8" })
    );
    assert_eq!(env.reveal("default", GATEWAY, &["--shared"]), good);
    let v = json_of(&env.ok(&["--json", "cred", "resolve", GATEWAY], None));
    assert_eq!(v["slot"], "shared");
    // A validator that exits 0 without reading is judged by its status.
    let third = env.secret("third-Uv6Wx7Yz8Ab9");
    env.ok(&["cred", "replace-shared", GATEWAY, "--validate-cmd", "true"], Some(third.as_bytes()));
    assert_eq!(env.reveal("default", GATEWAY, &["--shared"]), third);
}

/// CRED-4 / WATCH-1: a validator that hangs is killed at `--validate-timeout`
/// with its whole process group (a grandchild too): refused within seconds,
/// nothing changed, no process of the group left.
#[test]
fn cred_4_hung_validator_is_killed_with_its_process_group() {
    let env = Env::with_profiles(&["default"]);
    env.set("default", GATEWAY, &["--shared"], "old-Cd1Ef2Gh3Ij4");
    env.set("default", GATEWAY, &["--device", "operator"], "op-Kl5Mn6Op7Qr8");
    let pidfile = env.tmp.path().join("grandchild.pid");
    let forking = script(&env, "forking.sh", &format!("sleep 60 &\necho $! > {}\nwait", pidfile.display()));
    let new = env.secret("new-St9Uv0Wx1Yz2");
    let before = env.snap();
    for cmd in ["sleep 60", forking.to_str().unwrap()] {
        let start = Instant::now();
        let mut child = env
            .command(&["cred", "replace-shared", GATEWAY, "--validate-cmd", cmd, "--validate-timeout", "1s"])
            .piped_stdin()
            .spawn();
        let gw_pid = child.id();
        let (out, err) = drains(&mut child);
        child.stdin.take().unwrap().write_all(format!("{new}\n").as_bytes()).unwrap();
        let validator = wait_child_of(gw_pid, cmd);
        wait_exec(validator, cmd);
        let (_, _, pgid) = proc_stat(validator).expect("the validator runs");
        assert_eq!(pgid, validator, "{cmd}: the validator leads its own process group");
        let run = finish_drained(child, out, err, TIMEOUT, cmd);
        let took = start.elapsed();
        env.assert_no_secret(&run, cmd);
        assert_eq!(run.code, EXIT_REFUSED, "{cmd}: {run:?}");
        assert!(run.stderr.contains("did not answer within") && run.stderr.contains("nothing was changed"), "{run:?}");
        assert!(took < Duration::from_secs(8), "{cmd}: refused after {took:?}, not within a few seconds");
        assert_same_tree(&before, &env.snap(), cmd);
        // The whole group is gone (a killed grandchild may linger as a zombie
        // until its new parent reaps it: not a running process).
        let deadline = Instant::now() + Duration::from_secs(5);
        while !live_in_group(pgid).is_empty() {
            assert!(Instant::now() < deadline, "{cmd}: left behind in group {pgid}: {:?}", live_in_group(pgid));
            std::thread::sleep(Duration::from_millis(20));
        }
    }
    let grandchild: u32 = std::fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    assert!(
        !matches!(proc_stat(grandchild), Some((s, _, _)) if s != 'Z'),
        "the forking validator's `sleep 60 &` was left running"
    );
}

/// CRED-7: mirroring a primary into a secondary adds the primary's
/// gateways and keeps every entry the secondary already had; the primary
/// is not changed.
#[test]
fn cred_7_mirror_keeps_the_target_entries() {
    let env = Env::with_profiles(&["primary", "rescue", "empty"]);
    let x = GATEWAY;
    let y = "wss://gw.example:443";
    let z = "ws://127.0.0.1:19999";
    env.set("primary", x, &["--shared"], "p-shared-Ab1Cd2Ef3");
    env.set("primary", x, &["--device", "operator"], "p-op-Gh4Ij5Kl6");
    env.set("primary", y, &["--bootstrap"], "p-boot-Mn7Op8Qr9");
    env.set("rescue", x, &["--device", "operator"], "r-op-St0Uv1Wx2");
    env.set("rescue", z, &["--shared"], "r-shared-Yz3Ab4Cd5");
    let primary = snapshot(&env.profile_dir("primary"));

    let v = json_of(&env.ok(&["--json", "cred", "mirror", "--from", "primary", "--to", "rescue"], None));
    assert_eq!((&v["added"], &v["merged"]), (&json!([y]), &json!([x])), "{v}");
    assert_same_tree(&primary, &snapshot(&env.profile_dir("primary")), "the primary changed");
    let doc = env.doc("rescue");
    assert_eq!(doc["gateways"][x]["device"]["operator"], "r-op-St0Uv1Wx2", "the rescue's own token kept: {doc}");
    assert_eq!(doc["gateways"][x]["shared"], "p-shared-Ab1Cd2Ef3", "{doc}");
    assert_eq!(doc["gateways"][y]["bootstrap"], "p-boot-Mn7Op8Qr9", "{doc}");
    assert_eq!(doc["gateways"][z]["shared"], "r-shared-Yz3Ab4Cd5", "{doc}");
    assert_eq!(env.reveal("rescue", x, &["--role", "operator"]), "r-op-St0Uv1Wx2");

    // Mirroring again changes nothing more; an empty primary changes nothing.
    let rescue = snapshot(&env.profile_dir("rescue"));
    env.ok(&["cred", "mirror", "--from", "primary", "--to", "rescue"], None);
    assert_eq!(env.doc("rescue"), doc);
    let out = env.ok(&["cred", "mirror", "--from", "empty", "--to", "rescue"], None);
    assert!(out.contains("0 gateway(s) added, 0 merged"), "{out}");
    assert_same_tree(&rescue, &snapshot(&env.profile_dir("rescue")), "mirror from an empty profile");
    // Into itself, or to a missing profile: refused, nothing created.
    let before = env.snap();
    env.fails(&["cred", "mirror", "--from", "rescue", "--to", "rescue"], None, EXIT_USAGE);
    env.fails(&["cred", "mirror", "--from", "primary", "--to", "missing"], None, EXIT_NOT_FOUND);
    env.fails(&["cred", "mirror", "--from", "missing", "--to", "rescue"], None, EXIT_NOT_FOUND);
    assert_same_tree(&before, &env.snap(), "refused mirrors");
}

/// CRED-8: everything done with `--profile a` (writes, refusals, reads,
/// mirroring from b) leaves profile b byte-for-byte unchanged, and b's
/// credentials are not visible through a.
#[test]
fn cred_8_profile_a_operations_leave_b_unchanged() {
    let env = Env::with_profiles(&["a", "b", "default"]);
    env.set("b", GATEWAY, &["--shared"], "b-shared-Ef6Gh7Ij8");
    env.set("b", GATEWAY, &["--device", "node"], "b-node-Kl9Mn0Op1");
    env.set("b", "ws://127.0.0.1:7000", &["--bootstrap"], "b-boot-Qr2St3Uv4");
    let b = snapshot(&env.profile_dir("b"));
    let default = snapshot(&env.profile_dir("default"));

    env.fails(&["--profile", "a", "cred", "resolve", "ws://127.0.0.1:7000"], None, EXIT_NOT_FOUND);
    let v = json_of(&env.ok(&["--json", "--profile", "a", "cred", "list"], None));
    assert_eq!(v["gateways"], json!([]), "b's credentials are not a's: {v}");

    let op = env.secret("a-op-Wx5Yz6Ab7");
    let steps: Vec<(Vec<&str>, String, i32)> = vec![
        (vec!["cred", "set", GATEWAY, "--bootstrap"], "a-boot-Cd8Ef9Gh0\n".into(), 0),
        (vec!["cred", "set", "ws://localhost:18789", "--shared"], "a-shared-Ij1Kl2Mn3\n".into(), 0),
        (vec!["cred", "handoff", GATEWAY], hello(&[("operator", &op), ("node", "a-node-Op4Qr5St6")]), 0),
        (vec!["cred", "replace-shared", GATEWAY, "--validate-cmd", "true"], "a-shared2-Uv7Wx8Yz9\n".into(), 0),
        (
            vec!["cred", "replace-shared", GATEWAY, "--validate-cmd", "false"],
            "a-shared3-Ab0Cd1Ef2\n".into(),
            EXIT_REFUSED,
        ),
        (vec!["cred", "handoff", GATEWAY], "{\"type\":\"hello\"}".into(), EXIT_USAGE),
        (vec!["cred", "rm", GATEWAY, "--bootstrap"], String::new(), EXIT_NOT_FOUND),
        (vec!["cred", "mirror", "--from", "b", "--to", "a"], String::new(), 0),
        (vec!["cred", "rm", "ws://127.0.0.1:7000"], String::new(), 0),
        (vec!["cred", "rm", GATEWAY, "--role", "node"], String::new(), 0),
        (vec!["cred", "get", GATEWAY], String::new(), 0),
        (vec!["cred", "resolve", GATEWAY, "--role", "node"], String::new(), 0),
        (vec!["cred", "list"], String::new(), 0),
        (vec!["profile", "show", "a"], String::new(), 0),
    ];
    for (args, stdin, code) in &steps {
        for s in
            ["a-boot-Cd8Ef9Gh0", "a-shared-Ij1Kl2Mn3", "a-node-Op4Qr5St6", "a-shared2-Uv7Wx8Yz9", "a-shared3-Ab0Cd1Ef2"]
        {
            if stdin.contains(s) {
                env.secret(s);
            }
        }
        let full = [&["--profile", "a"], &args[..]].concat();
        let input = (!stdin.is_empty()).then_some(stdin.as_bytes());
        if *code == 0 {
            env.ok(&full, input);
        } else {
            env.fails(&full, input, *code);
        }
        assert_same_tree(&b, &snapshot(&env.profile_dir("b")), &format!("`--profile a {args:?}` changed profile b"));
        assert_same_tree(&default, &snapshot(&env.profile_dir("default")), &format!("{args:?} changed `default`"));
    }
    // a got b's mirrored entries, kept its own, and b never saw a's.
    assert_eq!(env.reveal("a", GATEWAY, &["--shared"]), "a-shared2-Uv7Wx8Yz9");
    assert_eq!(env.reveal("b", GATEWAY, &["--shared"]), "b-shared-Ef6Gh7Ij8");
    env.fails(&["--profile", "b", "cred", "get", GATEWAY, "--role", "operator"], None, EXIT_NOT_FOUND);
    // Without --profile, `default` is used (and it has nothing).
    env.fails(&["cred", "resolve", GATEWAY], None, EXIT_NOT_FOUND);
}

/// CLI-2: bad gateway URLs (other schemes, user info, a path, a query, a
/// fragment, no host, an invalid port, garbage) are usage errors (2) for
/// every command that takes one, and nothing is written; so are bad
/// secrets and role names on `set`.
#[test]
fn bad_urls_and_secrets_are_usage_errors_and_write_nothing() {
    let env = Env::with_profiles(&["default"]);
    env.set("default", GATEWAY, &["--shared"], "keep-Gh3Ij4Kl5");
    let long = format!("ws://{}.example:1", "a".repeat(2100));
    let bad_urls: Vec<&str> = vec![
        "ftp://127.0.0.1:18789",
        "file:///etc/passwd",
        "ws://user:pw@127.0.0.1:18789",
        "ws://user@127.0.0.1:18789",
        "ws://127.0.0.1:18789/path",
        "ws://127.0.0.1:18789/?q",
        "ws://127.0.0.1:18789?q=1",
        "ws://127.0.0.1:18789#frag",
        "ws://:18789",
        "ws://127.0.0.1:99999",
        "nonsense",
        "127.0.0.1:18789",
        "",
        &long,
    ];
    let tok = env.secret("never-stored-Mn6Op7Qr8");
    let input = format!("{tok}\n");
    let hello_in = hello(&[("operator", &tok)]);
    let before = env.snap();
    for url in &bad_urls {
        let cases: Vec<(Vec<&str>, Option<&[u8]>)> = vec![
            (vec!["cred", "set", url, "--shared"], Some(input.as_bytes())),
            (vec!["cred", "set", url, "--device", "operator"], Some(input.as_bytes())),
            (vec!["cred", "get", url], None),
            (vec!["cred", "get", url, "--shared", "--reveal"], None),
            (vec!["cred", "resolve", url], None),
            (vec!["cred", "rm", url], None),
            (vec!["cred", "handoff", url], Some(hello_in.as_bytes())),
            (vec!["cred", "replace-shared", url, "--validate-cmd", "true"], Some(input.as_bytes())),
        ];
        for (args, stdin) in cases {
            let run = env.fails(&args, stdin, EXIT_USAGE);
            assert!(run.stderr.contains("parse gateway url"), "{url:?}: {run:?}");
            assert_same_tree(&before, &env.snap(), &format!("{args:?}"));
        }
    }
    let bad_secrets: Vec<Vec<u8>> = vec![
        b"".to_vec(),
        b"\n".to_vec(),
        b"two words\n".to_vec(),
        b"tab\there\n".to_vec(),
        b"ctrl\x07\n".to_vec(),
        b"line1\nline2\n".to_vec(),
        b"\xff\xfe\n".to_vec(),
        "ünïcode\n".as_bytes().to_vec(),
        vec![b'a'; 4097],
        vec![b'a'; 9000],
    ];
    for secret in &bad_secrets {
        env.fails(&["cred", "set", GATEWAY, "--shared"], Some(secret), EXIT_USAGE);
        env.fails(&["cred", "replace-shared", GATEWAY, "--validate-cmd", "true"], Some(secret), EXIT_USAGE);
        assert_same_tree(
            &before,
            &env.snap(),
            &format!("secret {:?}", String::from_utf8_lossy(&secret[..secret.len().min(20)])),
        );
    }
    for role in ["Operator", "", "a b", "-x", "r\u{e9}le", &"r".repeat(65)] {
        env.fails(&["cred", "set", GATEWAY, "--device", role], Some(input.as_bytes()), EXIT_USAGE);
        env.fails(&["cred", "resolve", GATEWAY, "--role", role], None, EXIT_USAGE);
        assert_same_tree(&before, &env.snap(), &format!("role {role:?}"));
    }
    // Slot flags are exclusive.
    env.fails(&["cred", "set", GATEWAY, "--shared", "--bootstrap"], Some(input.as_bytes()), EXIT_USAGE);
    env.fails(&["cred", "set", GATEWAY], Some(input.as_bytes()), EXIT_USAGE);
    env.fails(&["cred", "rm", GATEWAY, "--role", "x", "--shared"], None, EXIT_USAGE);
    assert_same_tree(&before, &env.snap(), "slot flags");
    assert_eq!(env.reveal("default", GATEWAY, &["--shared"]), "keep-Gh3Ij4Kl5");
}
