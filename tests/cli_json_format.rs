//! `--json` output (issue 12 item 12, docs/json-output.md): over every
//! command that runs here without a network peer — successes and failures —
//! stdout is exactly one JSON object carrying `"format": 1` and `"ok"`; an
//! error's `message` never repeats the "refused: " the exit code and `kind`
//! already say; `fs read` has one key scheme (`content` + `encoding`).

use gw_test_support as common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

const GW: &str = env!("CARGO_BIN_EXE_gw");

/// Runs `gw --json ARGS` with `stdin`; checks the shape; returns (code, object).
fn json_run(home: &Path, args: &[&str], stdin: &[u8]) -> (i32, Value) {
    let (code, text, err) = common::gw_in_with(GW, &home.join("home"), &[&["--json"], args].concat(), Some(stdin));
    let ctx = format!("gw --json {args:?} (exit {code}): {text:?} {err}");
    assert_eq!(text.lines().count(), 1, "one line: {ctx}");
    let v: Value = serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {ctx}"));
    assert!(v.is_object(), "an object: {ctx}");
    assert_eq!(v["format"], 1, "the format version: {ctx}");
    assert_eq!(v["ok"], code == 0, "ok matches the exit code: {ctx}");
    if code != 0 {
        assert_eq!(v["exit_code"], code, "{ctx}");
        let message = v["error"]["message"].as_str().unwrap_or_else(|| panic!("a message: {ctx}"));
        assert!(!message.to_lowercase().starts_with("refused:"), "no repeated prefix: {ctx}");
        assert!(!message.contains("refused: refused"), "{ctx}");
        assert!(v["error"]["kind"].is_string() && v["error"]["op"].is_string(), "{ctx}");
    }
    (code, v)
}

#[test]
fn every_command_prints_one_versioned_object() {
    let d = tempfile::tempdir().unwrap();
    let p = d.path();
    fs::set_permissions(p, fs::Permissions::from_mode(0o700)).unwrap();
    fs::create_dir(p.join("home")).unwrap();
    fs::set_permissions(p.join("home"), fs::Permissions::from_mode(0o700)).unwrap();
    let dir = p.to_str().unwrap();
    let ok = |args: &[&str], stdin: &[u8]| {
        let (code, v) = json_run(p, args, stdin);
        assert_eq!(code, 0, "{args:?}: {v}");
        v
    };
    let fails = |args: &[&str], stdin: &[u8], want: i32| {
        let (code, v) = json_run(p, args, stdin);
        assert_eq!(code, want, "{args:?}: {v}");
        v
    };

    // fs
    ok(&["fs", "write", dir, "text.txt"], b"hello\n");
    ok(&["fs", "write", dir, "bin.dat"], b"\xff\x00\x01");
    let text = ok(&["fs", "read", dir, "text.txt"], b"");
    assert_eq!((text["encoding"].as_str(), text["content"].as_str()), (Some("utf-8"), Some("hello\n")));
    let bin = ok(&["fs", "read", dir, "bin.dat"], b"");
    assert_eq!((bin["encoding"].as_str(), bin["content"].as_str()), (Some("hex"), Some("ff0001")));
    assert!(bin.get("content_hex").is_none());
    ok(&["fs", "mkdir", dir, "sub"], b"");
    ok(&["fs", "mv", dir, "text.txt", "sub/moved.txt"], b"");
    ok(&["fs", "ls", dir, "sub"], b"");
    ok(&["fs", "check", dir], b"");
    ok(&["fs", "rm", dir, "sub/moved.txt"], b"");
    fails(&["fs", "read", dir, "missing"], b"", 4);
    std::os::unix::fs::symlink("/etc/passwd", p.join("link")).unwrap();
    let refused = fails(&["fs", "read", dir, "link"], b"", 3);
    assert_eq!(refused["error"]["kind"], "symlink", "{refused}");
    fails(&["fs", "ls", "/tmp"], b"", 3);

    // doc
    ok(&["doc", "set", dir, "d.json", "/a", "1"], b"");
    ok(&["doc", "get", dir, "d.json"], b"");
    ok(&["doc", "merge", dir, "d.json"], b"{\"b\": 2}");
    ok(&["doc", "rm", dir, "d.json", "/b"], b"");
    fails(&["doc", "set", dir, "d.json", "/x", "not json"], b"", 2);
    fails(&["doc", "set", dir, "d.json", "/x", "{\"k\": 1, \"k\": 2}"], b"", 3);
    let spec = br#"{"description": "gw test", "exec_start": ["/usr/bin/true"]}"#;
    ok(&["doc", "render", "systemd", "--spec", "-"], spec);
    fails(&["doc", "render", "systemd", "--spec", "-"], br#"{"description": "x\ny", "exec_start": ["/bin/true"]}"#, 3);

    // token
    let key = p.join("root.key");
    let key = key.to_str().unwrap();
    ok(&["token", "init", "--secret-file", key], b"");
    let token = ok(&["token", "derive", "--secret-file", key, "--scope", "a"], b"");
    let token = token["token"].as_str().unwrap().as_bytes().to_vec();
    ok(&["token", "inspect"], &token);
    ok(&["token", "attenuate", "--ttl", "30s"], &token);
    ok(&["token", "verify", "--secret-file", key, "--scope", "a"], &token);
    fails(&["token", "verify", "--secret-file", key, "--scope", "b"], &token, 3);
    fails(&["token", "init", "--secret-file", key], b"", 1);

    // profile and cred
    ok(&["profile", "init", "default"], b"");
    ok(&["profile", "list"], b"");
    ok(&["profile", "show", "default"], b"");
    ok(&["cred", "list"], b"");
    ok(&["cred", "set", "ws://127.0.0.1:18789", "--shared"], b"not-a-real-token");
    let got = ok(&["cred", "get", "ws://127.0.0.1:18789"], b"");
    assert_eq!(got["shared"], true, "{got}");
    fails(&["--profile", "nope", "cred", "list"], b"", 4);

    // lease
    let reg = p.join("leases");
    let reg = reg.to_str().unwrap();
    fails(&["lease", "list", reg], b"", 4);

    // ports (port 1: nothing listens there), the audit, the demo
    ok(&["port", "who", "1"], b"");
    let refused = fails(&["port", "verify", "1", "--pid", "1"], b"", 3);
    assert!(refused["verdict"].is_string(), "{refused}");
    let home = p.join("home");
    let audit =
        json_run(p, &["doctor", "--home", home.to_str().unwrap(), "--no-keyring-probe", "--skip-kernel"], b"").1;
    assert!(audit["summary"].is_object(), "{audit}");
    ok(&["demo"], b"");

    // usage errors, from clap too
    fails(&["no-such-command"], b"", 2);
    fails(&["doc", "get"], b"", 2);
}
