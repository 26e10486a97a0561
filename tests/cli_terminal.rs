//! Secrets at a terminal (issue 12 item 2): when stdin is a terminal, gw
//! prompts on stderr and reads with echo off; nothing typed comes back on the
//! terminal, the terminal's echo is restored afterwards (also after Ctrl-C).
//! A secret given as an argument gets its own usage error (exit 2) that
//! says it is now in the shell history, and never repeats it.
//!
//! The terminal is a real pty (python3's pty module): what the test reads is
//! everything the terminal would have shown the user.

use std::path::Path;
use std::process::{Command, Stdio};

const GW: &str = env!("CARGO_BIN_EXE_gw");
const URL: &str = "ws://127.0.0.1:18789";

/// Runs `argv` on a new pty; once the hidden prompt shows, types `typed`.
/// Returns the exit code and everything the terminal showed.
const DRIVER: &str = r#"
import os, pty, select, sys, time
typed, argv = sys.argv[1].encode("latin-1"), sys.argv[2:]
pid, fd = pty.fork()
if pid == 0:
    os.execv(argv[0], argv)
shown = b""
def pump(until_prompt, limit):
    global shown
    end = time.time() + limit
    while time.time() < end:
        r, _, _ = select.select([fd], [], [], 0.05)
        if not r:
            continue
        try:
            data = os.read(fd, 4096)
        except OSError:
            return
        if not data:
            return
        shown += data
        if until_prompt and os.environ.get("WAIT_FOR", "typing is hidden").encode() in shown:
            return
pump(True, 20)
os.write(fd, typed)
pump(False, 20)
_, status = os.waitpid(pid, 0)
sys.stdout.buffer.write(shown)
sys.exit(os.waitstatus_to_exitcode(status))
"#;

fn on_pty(home: &Path, typed: &str, argv: &[&str]) -> (i32, String) {
    on_pty_after(home, "typing is hidden", typed, argv)
}

/// [`on_pty`], typing once `prompt` shows.
fn on_pty_after(home: &Path, prompt: &str, typed: &str, argv: &[&str]) -> (i32, String) {
    let out = Command::new("python3")
        .env("WAIT_FOR", prompt)
        .arg("-c")
        .arg(DRIVER)
        .arg(typed)
        .args(argv)
        .env("GW_HOME", home)
        .stdin(Stdio::null())
        .output()
        .expect("python3 (scripts/test installs it)");
    assert!(out.stderr.is_empty(), "driver: {}", String::from_utf8_lossy(&out.stderr));
    (out.status.code().unwrap_or(-1), String::from_utf8_lossy(&out.stdout).into_owned())
}

fn gw(home: &Path, stdin: &str, args: &[&str]) -> (i32, String, String) {
    gw_test_support::gw_in_with(GW, home, args, Some(stdin.as_bytes()))
}

fn home_with_profile() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let (code, _, err) = gw(&home, "", &["profile", "init", "default"]);
    assert_eq!(code, 0, "{err}");
    (tmp, home)
}

#[test]
fn a_secret_typed_at_a_terminal_is_never_echoed_and_is_stored() {
    let (_tmp, home) = home_with_profile();
    let secret = "s3cret-typed-at-the-tty";
    let (code, shown) = on_pty(&home, &format!("{secret}\r"), &[GW, "cred", "set", URL, "--shared"]);
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("gw: the credential (typing is hidden"), "the prompt: {shown}");
    assert!(!shown.contains("s3cret"), "the typed secret was echoed: {shown}");
    let (code, out, err) = gw(&home, "", &["cred", "get", URL, "--shared", "--reveal"]);
    assert_eq!((code, out.trim()), (0, secret), "{err}");

    // The terminal's echo is back once gw is done.
    let script = format!("{GW} cred set {URL} --shared; stty -a");
    let (code, shown) = on_pty(&home, "other-secret\r", &["/bin/sh", "-c", &script]);
    assert_eq!(code, 0, "{shown}");
    assert!(!shown.contains("other-secret"), "{shown}");
    let flags: Vec<&str> = shown.split_whitespace().collect();
    for f in ["echo", "icanon", "isig"] {
        assert!(flags.contains(&f), "`{f}` not restored: {shown}");
    }
}

#[test]
fn backspace_edits_and_ctrl_c_cancels_with_the_terminal_restored() {
    let (_tmp, home) = home_with_profile();
    // "abX", Backspace, "c": the stored secret is "abc".
    let (code, shown) = on_pty(&home, "abX\x7fc\r", &[GW, "cred", "set", URL, "--bootstrap"]);
    assert_eq!(code, 0, "{shown}");
    let (_, out, _) = gw(&home, "", &["cred", "get", URL, "--bootstrap", "--reveal"]);
    assert_eq!(out.trim(), "abc");
    // Ctrl-C: exit 1, nothing stored, echo back on.
    let script = format!("{GW} cred set {URL} --shared; echo \"rc=$?\"; stty -a");
    let (_, shown) = on_pty(&home, "half\x03", &["/bin/sh", "-c", &script]);
    assert!(shown.contains("cancelled at the prompt") && shown.contains("rc=1"), "{shown}");
    assert!(!shown.contains("half"), "{shown}");
    assert!(shown.split_whitespace().any(|f| f == "echo"), "echo not restored after Ctrl-C: {shown}");
    let (code, _, _) = gw(&home, "", &["cred", "get", URL, "--shared", "--reveal"]);
    assert_ne!(code, 0, "a cancelled prompt stored something");
}

#[test]
fn token_and_document_commands_prompt_without_echo_too() {
    let (tmp, home) = home_with_profile();
    let key = tmp.path().join("keys");
    std::fs::create_dir(&key).unwrap();
    std::fs::set_permissions(&key, std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let secret_file = key.join("root.key");
    let sf = secret_file.to_str().unwrap();
    assert_eq!(gw(&home, "", &["token", "init", "--secret-file", sf]).0, 0);
    let (code, token, err) = gw(&home, "", &["token", "derive", "--secret-file", sf, "--scope", "gateway.connect"]);
    assert_eq!(code, 0, "{err}");
    let token = token.trim();
    let (code, shown) = on_pty(
        &home,
        &format!("{token}\r"),
        &[GW, "token", "verify", "--secret-file", sf, "--scope", "gateway.connect"],
    );
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("the token (typing is hidden"), "{shown}");
    assert!(!shown.contains(&token[..20]), "the token was echoed: {shown}");

    let dir = key.to_str().unwrap();
    let (code, shown) =
        on_pty(&home, "doc-secret-value\r", &[GW, "doc", "set", "--stdin", "--string", dir, "app.json", "/token"]);
    assert_eq!(code, 0, "{shown}");
    assert!(!shown.contains("doc-secret-value"), "{shown}");
    let (_, out, _) = gw(&home, "", &["doc", "get", dir, "app.json", "/token"]);
    assert!(out.contains("doc-secret-value"), "{out}");
}

#[test]
fn a_secret_given_as_an_argument_is_its_own_usage_error_and_is_not_repeated() {
    let (tmp, home) = home_with_profile();
    let secret = "argv-secret-1234";
    let cases: &[&[&str]] = &[
        &["cred", "set", URL, "--shared", secret],
        &["cred", "replace-shared", URL, "--validate-cmd", "true", secret],
        &["token", "verify", "--secret-file", "k", "--scope", "s", secret],
        &["token", "attenuate", "--scope", "s", secret],
        &["token", "inspect", secret],
        &["doc", "set", "--stdin", tmp.path().to_str().unwrap(), "d.json", "/k", secret],
    ];
    for args in cases {
        let (code, out, err) = gw(&home, "", args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert!(err.contains("reads the secret from stdin") && err.contains("shell history"), "{args:?}: {err}");
        assert!(err.contains("history -d"), "the fix: {err}");
        assert!(!err.contains(secret) && !out.contains(secret), "the secret repeated: {err}");
        let mut json = vec!["--json"];
        json.extend_from_slice(args);
        let (code, out, _) = gw(&home, "", &json);
        assert_eq!(code, 2);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
        assert_eq!(v["error"]["op"], "read secret", "{out}");
    }
    // Nothing was stored.
    let (code, _, _) = gw(&home, "", &["cred", "get", URL, "--shared", "--reveal"]);
    assert_ne!(code, 0);
}

/// `gw profile rm` at a terminal asks, as gh does: typing the profile's name
/// confirms (and is shown: it is not a secret); anything else removes nothing.
#[test]
fn profile_rm_at_a_terminal_asks_for_the_name() {
    let (_tmp, home) = home_with_profile();
    let (code, shown) = on_pty_after(&home, "Type its name", "nope\r", &[GW, "profile", "rm", "default"]);
    assert_eq!(code, 2, "{shown}");
    assert!(shown.contains("--yes"), "{shown}");
    assert!(home.join("profiles/default/root.key").exists(), "removed on a wrong answer");
    let (code, shown) = on_pty_after(&home, "Type its name", "default\r", &[GW, "profile", "rm", "default"]);
    assert_eq!(code, 0, "{shown}");
    assert!(shown.contains("removed profile `default`"), "{shown}");
    assert!(!home.join("profiles/default").exists());
}
