//! CLI-3: output write errors are neither lost nor mis-reported. Every `gw`
//! command (the table below is checked against the clap command tree, as
//! `gw --help` lists it) is run, in human and `--json` mode, once normally
//! and then with
//!
//! - stdout on a full device (`/dev/full`): a command that prints on stdout
//!   must not exit 0 (exit 1, or its own non-zero code) and must say on
//!   stderr what failed ("writing to stdout: No space left on device");
//!   never the usage code 2 for an I/O error;
//! - stdout a pipe whose reader is gone (`EPIPE`, `gw ... | head`): it ends
//!   quietly with the exit code of the normal run;
//! - stderr a pipe whose reader is gone: the exit code of the normal run.
//!
//! and never panics (exit 101, "panicked").

use std::collections::BTreeSet;
use std::fs::File;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use gw_test_support::cli::{self, Gw};

const GW: &str = env!("CARGO_BIN_EXE_gw");
const URL: &str = "ws://127.0.0.1:40111";
/// The longest one command may take.
const TIMEOUT: Duration = Duration::from_secs(60);

/// A fresh sandbox: a home with profiles `default` and `b`, a shared token
/// stored for [`URL`], a data directory with a JSON document and a file, a
/// token derived from the default profile's root secret.
struct Env {
    tmp: tempfile::TempDir,
    home: PathBuf,
    data: PathBuf,
    token: String,
    /// A port a listener of this test process holds.
    port: u16,
    _listener: TcpListener,
}

impl Env {
    fn new() -> Self {
        let tmp = gw_test_support::private_tempdir("gw-cli3-");
        let home = tmp.path().join("home");
        let data = tmp.path().join("data");
        std::fs::create_dir(&data).unwrap();
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::write(data.join("doc.json"), br#"{"a": 1, "socket": {"token": "k3y"}}"#).unwrap();
        std::fs::write(data.join("f"), b"file content\n").unwrap();
        std::fs::write(data.join("spec.json"), br#"{"exec_start": ["/usr/bin/gw", "serve"]}"#).unwrap();
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let mut env = Self { tmp, home, data, token: String::new(), port, _listener: listener };
        env.setup(&["profile", "init", "default", "--port", "40111"], b"");
        env.setup(&["profile", "init", "b", "--port", "40112"], b"");
        env.setup(&["cred", "set", URL, "--shared"], b"shared-secret-value\n");
        let key = env.key();
        let out = env.setup(&["token", "derive", "--secret-file", &key, "--scope", "s"], b"");
        env.token = String::from_utf8(out).unwrap().trim().to_owned();
        env
    }

    fn setup(&self, args: &[&str], stdin: &[u8]) -> Vec<u8> {
        let (code, out, err) = self.run(args, stdin, Streams::Normal);
        assert_eq!(code, 0, "setup {args:?}: {err}");
        out
    }

    fn key(&self) -> String {
        self.home.join("profiles/default/root.key").display().to_string()
    }

    /// Runs gw with `stdin`; (exit code, stdout, stderr) as far as captured.
    fn run(&self, args: &[&str], stdin: &[u8], streams: Streams) -> (i32, Vec<u8>, String) {
        let gw = Gw::new(GW).args(args).home(&self.home).env("RUST_BACKTRACE", "0").current_dir(self.tmp.path());
        wait(streams.apply(gw.stdin(Some(stdin))).spawn(), args)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Streams {
    Normal,
    FullStdout,
    ClosedStdout,
    ClosedStderr,
}

impl Streams {
    /// gw's stdout and stderr as this case wants them.
    fn apply(self, gw: Gw) -> Gw {
        match self {
            Streams::Normal => gw,
            Streams::FullStdout => gw.stdout(File::options().write(true).open("/dev/full").unwrap()),
            Streams::ClosedStdout => gw.stdout(closed_pipe()),
            Streams::ClosedStderr => gw.stderr(closed_pipe()),
        }
    }
}

/// The write end of a pipe whose read end is already closed.
fn closed_pipe() -> Stdio {
    let (read, write) = std::io::pipe().unwrap();
    drop(read);
    Stdio::from(write)
}

fn wait(child: Child, args: &[&str]) -> (i32, Vec<u8>, String) {
    let out = cli::finish_output(child, TIMEOUT, &format!("gw {args:?}"));
    (out.status.code().unwrap_or(-1), out.stdout, String::from_utf8_lossy(&out.stderr).into_owned())
}

/// One way to run a command: its argv (with `{data}`, `{key}`, `{port}`,
/// `{pid}`, `{url}` replaced) and its stdin (`{token}` replaced).
struct Case {
    /// The command's path in the clap tree, e.g. "fs read".
    path: &'static str,
    args: &'static [&'static str],
    stdin: &'static str,
}

const fn case(path: &'static str, args: &'static [&'static str], stdin: &'static str) -> Case {
    Case { path, args, stdin }
}

/// Every leaf command of `gw`, run so that it does its work (or, for the
/// gateway clients with no gateway to talk to, fails as it would for a user).
const CASES: &[Case] = &[
    case("demo", &["demo"], ""),
    case("fs write", &["fs", "write", "{data}", "new"], "new content\n"),
    case("fs read", &["fs", "read", "{data}", "f"], ""),
    case("fs mkdir", &["fs", "mkdir", "{data}", "sub/dir"], ""),
    case("fs rm", &["fs", "rm", "{data}", "f"], ""),
    case("fs mv", &["fs", "mv", "{data}", "f", "g"], ""),
    case("fs ls", &["fs", "ls", "{data}"], ""),
    case("fs check", &["fs", "check", "{data}"], ""),
    case("doc get", &["doc", "get", "{data}", "doc.json"], ""),
    case("doc set", &["doc", "set", "{data}", "doc.json", "/b", "2"], ""),
    case("doc rm", &["doc", "rm", "{data}", "doc.json", "/a"], ""),
    case("doc merge", &["doc", "merge", "{data}", "doc.json"], r#"{"c": 3}"#),
    case("doc render", &["doc", "render", "systemd", "--spec", "{data}/spec.json"], ""),
    case("token init", &["token", "init", "--secret-file", "{data}/new.key"], ""),
    case("token derive", &["token", "derive", "--secret-file", "{key}", "--scope", "s"], ""),
    case("token attenuate", &["token", "attenuate", "--scope", "s"], "{token}\n"),
    case("token verify", &["token", "verify", "--secret-file", "{key}", "--scope", "s"], "{token}\n"),
    case("token inspect", &["token", "inspect"], "{token}\n"),
    case("token label", &["token", "label", "--key-file", "{data}/doc.json", "--label", "l"], ""),
    case("cred set", &["cred", "set", "{url}", "--device", "operator"], "device-secret\n"),
    case("cred get", &["cred", "get", "{url}", "--shared", "--reveal"], ""),
    case("cred resolve", &["cred", "resolve", "{url}", "--reveal"], ""),
    case(
        "cred handoff",
        &["cred", "handoff", "{url}"],
        r#"{"type":"hello-ok","protocol":4,"auth":{"method":"bootstrap-token","role":"operator","deviceToken":"handed-off-token"}}"#,
    ),
    case("cred replace-shared", &["cred", "replace-shared", "{url}", "--validate-cmd", "/bin/true"], "new-shared\n"),
    case("cred list", &["cred", "list"], ""),
    case("cred rm", &["cred", "rm", "{url}", "--shared"], ""),
    case("cred mirror", &["cred", "mirror", "--from", "default", "--to", "b"], ""),
    case("profile init", &["profile", "init", "c", "--port", "40113"], ""),
    case("profile list", &["profile", "list"], ""),
    case("profile show", &["profile", "show", "default"], ""),
    case("profile rm", &["profile", "rm", "b", "--yes"], ""),
    case("lease register", &["lease", "register", "{data}/leases", "--id", "x", "--pid", "{pid}"], ""),
    case("lease list", &["lease", "list", "{home}"], ""),
    case("lease prune", &["lease", "prune", "{home}"], ""),
    case(
        "watch approvals",
        &[
            "watch",
            "approvals",
            "--once",
            "--list-cmd",
            "/bin/echo []",
            "--approve-cmd",
            "/bin/true {id}",
            "--allow",
            "c",
        ],
        "",
    ),
    case("watch health", &["watch", "health", "--on-fail", "/bin/true", "--interval", "1s", "--deadline", "2s"], ""),
    case("doctor", &["doctor", "--no-keyring-probe", "--skip-kernel"], ""),
    // Fails at once: the port is held by this test.
    case("serve", &["serve", "--port", "{port}", "--bind", "ipv4"], ""),
    case("probe", &["probe", "--timeout", "1s"], ""),
    case("port who", &["port", "who", "{port}"], ""),
    case("port verify", &["port", "verify", "{port}", "--pid", "{pid}"], ""),
    case("completions", &["completions", "bash"], ""),
    case("man", &["man", "cred", "set"], ""),
];

impl Case {
    fn argv(&self, env: &Env, json: bool) -> Vec<String> {
        let mut v: Vec<String> = if json { vec!["--json".into()] } else { Vec::new() };
        v.extend(self.args.iter().map(|a| {
            a.replace("{data}", &env.data.display().to_string())
                .replace("{home}", &env.home.join("profiles/default/leases").display().to_string())
                .replace("{key}", &env.key())
                .replace("{port}", &env.port.to_string())
                .replace("{pid}", &std::process::id().to_string())
                .replace("{url}", URL)
        }));
        v
    }

    fn stdin(&self, env: &Env) -> Vec<u8> {
        self.stdin.replace("{token}", &env.token).into_bytes()
    }

    /// Runs the case in a fresh sandbox.
    fn run(&self, json: bool, streams: Streams) -> (i32, Vec<u8>, String) {
        let env = Env::new();
        if self.path == "lease list" || self.path == "lease prune" {
            std::fs::create_dir(env.home.join("profiles/default/leases")).unwrap();
        }
        let argv = self.argv(&env, json);
        let args: Vec<&str> = argv.iter().map(String::as_str).collect();
        env.run(&args, &self.stdin(&env), streams)
    }
}

/// The leaf commands of the clap tree, as `gw [SUB...] --help` lists them.
fn leaf_commands(prefix: &[&str]) -> Vec<String> {
    let mut argv: Vec<&str> = prefix.to_vec();
    argv.push("--help");
    let out = Gw::new(GW).args(&argv).output();
    assert!(out.status.success(), "gw {argv:?}");
    let text = String::from_utf8(out.stdout).unwrap();
    let subs: Vec<String> = text
        .lines()
        .skip_while(|l| *l != "Commands:")
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(str::to_owned)
        .collect();
    if subs.is_empty() {
        return vec![prefix.join(" ")];
    }
    let mut leaves = Vec::new();
    for sub in &subs {
        let mut p = prefix.to_vec();
        p.push(sub);
        leaves.extend(leaf_commands(&p));
    }
    leaves
}

#[test]
fn cli_3_the_table_covers_every_command() {
    let tree: BTreeSet<String> = leaf_commands(&[]).into_iter().collect();
    let table: BTreeSet<String> = CASES.iter().map(|c| c.path.to_owned()).collect();
    assert_eq!(CASES.len(), table.len(), "a command is in the table twice");
    assert_eq!(tree, table, "commands missing from (left) or unknown to (right) the table");
    assert!(tree.len() >= 40, "{tree:?}");
}

fn no_panic(what: &str, code: i32, stderr: &str) -> Result<(), String> {
    if code == 101 || stderr.contains("panicked") {
        return Err(format!("{what}: panicked (exit {code}): {stderr}"));
    }
    Ok(())
}

/// Runs `check` on every case in both modes, a few cases at a time.
fn each_case(check: fn(&Case, bool) -> Result<(), String>) {
    let failures: Vec<String> = std::thread::scope(|s| {
        let handles: Vec<_> = CASES
            .chunks(CASES.len().div_ceil(4))
            .map(|chunk| {
                s.spawn(move || {
                    let mut failed = Vec::new();
                    for c in chunk {
                        for json in [false, true] {
                            if let Err(e) = check(c, json) {
                                failed.push(e);
                            }
                        }
                    }
                    failed
                })
            })
            .collect();
        handles.into_iter().flat_map(|h| h.join().unwrap()).collect()
    });
    assert!(failures.is_empty(), "{} failure(s):\n{}", failures.len(), failures.join("\n"));
}

fn label(c: &Case, json: bool) -> String {
    format!("gw {}{}", if json { "--json " } else { "" }, c.path)
}

#[test]
fn cli_3_a_full_stdout_is_an_error_never_exit_0_nor_a_usage_error() {
    each_case(|c, json| {
        let what = label(c, json);
        let (base, out, base_err) = c.run(json, Streams::Normal);
        no_panic(&what, base, &base_err)?;
        let (code, _, err) = c.run(json, Streams::FullStdout);
        eprintln!("{what}: normally exit {base} with {} bytes on stdout; on /dev/full exit {code}", out.len());
        no_panic(&what, code, &err)?;
        if out.is_empty() {
            // Nothing to write: nothing can fail.
            return if code == base { Ok(()) } else { Err(format!("{what}: exit {code}, normally {base}: {err}")) };
        }
        let want = if base == 0 { 1 } else { base };
        if code != want {
            return Err(format!("{what}: exit {code} with stdout on /dev/full, want {want} (normally {base}): {err}"));
        }
        if !err.contains("writing to stdout: No space left on device") {
            return Err(format!("{what}: stderr does not say what failed: {err:?}"));
        }
        Ok(())
    });
}

#[test]
fn cli_3_a_closed_stdout_pipe_ends_quietly_with_the_normal_exit_code() {
    each_case(|c, json| {
        let what = label(c, json);
        let (base, _, base_err) = c.run(json, Streams::Normal);
        let (code, _, err) = c.run(json, Streams::ClosedStdout);
        no_panic(&what, code, &err)?;
        if code != base {
            return Err(format!("{what}: exit {code} with a closed stdout, normally {base}: {err} / {base_err}"));
        }
        if err.contains("writing to stdout") {
            return Err(format!("{what}: a closed pipe is not an error to report: {err}"));
        }
        Ok(())
    });
}

#[test]
fn cli_3_a_closed_stderr_pipe_never_panics() {
    each_case(|c, json| {
        let what = label(c, json);
        let (base, _, _) = c.run(json, Streams::Normal);
        let (code, _, _) = c.run(json, Streams::ClosedStderr);
        if code == 101 {
            return Err(format!("{what}: panicked (exit 101) with a closed stderr"));
        }
        if code != base {
            return Err(format!("{what}: exit {code} with a closed stderr, normally {base}"));
        }
        Ok(())
    });
}

#[test]
fn cli_3_help_on_a_full_stdout_is_an_error() {
    for args in [&["--help"][..], &["fs", "--help"], &["--version"]] {
        let env_dir = tempfile::tempdir().unwrap();
        let out = Streams::FullStdout.apply(Gw::new(GW).args(args).current_dir(env_dir.path())).output();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "gw {args:?}: {err}");
        assert!(err.contains("writing to stdout"), "{err}");
    }
}

/// `gw serve` until SIGTERM: its ready line is its stdout.
#[test]
fn cli_3_serve_reports_a_lost_ready_line_and_never_panics() {
    for json in [false, true] {
        for streams in [Streams::Normal, Streams::FullStdout, Streams::ClosedStdout, Streams::ClosedStderr] {
            let env = Env::new();
            let mut argv = if json { vec!["--json"] } else { vec![] };
            argv.extend(["serve", "--port", "0", "--bind", "ipv4"]);
            let child = streams.apply(Gw::new(GW).args(&argv).home(&env.home)).spawn();
            // The lease is registered just before the ready line is printed
            // (a SIGTERM after it is handled once the line is out).
            let leases = env.home.join("profiles/default/leases");
            let start = Instant::now();
            while std::fs::read_dir(&leases).map_or(true, |mut d| d.next().is_none()) {
                assert!(start.elapsed() < TIMEOUT, "gw serve did not start ({streams:?})");
                std::thread::sleep(Duration::from_millis(10));
            }
            let kill = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().unwrap();
            assert!(kill.success());
            let (code, out, err) = wait(child, &argv);
            let what = format!("gw {} ({streams:?})", argv.join(" "));
            no_panic(&what, code, &err).unwrap();
            match streams {
                Streams::Normal => {
                    assert_eq!(code, 0, "{what}: {err}");
                    assert!(String::from_utf8_lossy(&out).contains("ready"), "{what}");
                }
                Streams::FullStdout => {
                    assert_eq!(code, 1, "{what}: {err}");
                    assert!(err.contains("writing to stdout: No space left on device"), "{what}: {err}");
                }
                Streams::ClosedStdout => {
                    assert_eq!(code, 0, "{what}: {err}");
                    assert!(!err.contains("writing to stdout"), "{what}: {err}");
                }
                Streams::ClosedStderr => assert_eq!(code, 0, "{what}"),
            }
        }
    }
}
