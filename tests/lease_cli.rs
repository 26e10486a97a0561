//! `gw lease register|list|prune` on the real binary: exit codes (0 ok,
//! 1 operational, 2 usage, 3 refused, 4 not found), `--json`, the default
//! pid (gw's parent), and that bad input changes nothing (CLI-2).

use gw_test_support as common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};

use serde_json::Value;

const GW: &str = env!("CARGO_BIN_EXE_gw");

fn gw(args: &[&str]) -> Output {
    common::cli::Gw::new(GW).args(args).output()
}

fn json(out: &Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)))
}

fn sleeper() -> Child {
    Command::new("sleep").arg("60").stdin(Stdio::null()).spawn().unwrap()
}

fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> =
        std::fs::read_dir(dir).unwrap().map(|e| e.unwrap().file_name().into_string().unwrap()).collect();
    v.sort();
    v
}

#[test]
fn lease_1_cli_register_list_prune_roundtrip() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reg");
    let d = dir.to_str().unwrap();
    let mut live = sleeper();
    let mut dead = sleeper();
    let (lp, dp) = (live.id().to_string(), dead.id().to_string());

    let out = gw(&[
        "--json",
        "lease",
        "register",
        d,
        "--id",
        "live",
        "--pid",
        &lp,
        "--port",
        "18789",
        "--payload",
        "{\"url\":\"ws://127.0.0.1:18789\"}",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let v = json(&out);
    assert_eq!(v["record"]["pid"], live.id());
    assert_eq!(v["record"]["port"], 18789);
    assert_eq!(v["record"]["payload"]["url"], "ws://127.0.0.1:18789");
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700);
    assert_eq!(std::fs::metadata(dir.join("live.json")).unwrap().permissions().mode() & 0o777, 0o600);

    assert!(gw(&["lease", "register", d, "--id", "dead", "--pid", &dp, "--ttl", "1h"]).status.success());
    // The default pid is gw's parent: this test process.
    assert!(gw(&["lease", "register", d, "--id", "me"]).status.success());
    dead.kill().unwrap();
    dead.wait().unwrap();
    let me: Value = serde_json::from_slice(&std::fs::read(dir.join("me.json")).unwrap()).unwrap();
    assert_eq!(me["pid"], std::process::id());

    let v = json(&gw(&["--json", "lease", "list", d]));
    let ids: Vec<&str> = v["records"].as_array().unwrap().iter().map(|r| r["record"]["id"].as_str().unwrap()).collect();
    assert_eq!(ids, ["live", "me"], "list shows only live records");
    let v = json(&gw(&["--json", "lease", "list", d, "--all"]));
    assert_eq!(v["records"].as_array().unwrap().len(), 3);

    let v = json(&gw(&["--json", "lease", "prune", d, "--dry-run"]));
    assert_eq!(v["report"]["removed"][0]["id"], "dead");
    assert_eq!(v["report"]["removed"][0]["reason"]["reason"], "process_gone");
    assert!(dir.join("dead.json").exists(), "a dry run removes nothing");
    let out = gw(&["lease", "prune", d]);
    assert!(out.status.success());
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("dead\tpid") && text.contains("removed: process_gone"), "{text}");
    assert_eq!(names(&dir), [".lock", "live.json", "me.json"]);

    // A live record of another process is not overwritten: exit 1, unchanged.
    let before = std::fs::read(dir.join("live.json")).unwrap();
    let out = gw(&["lease", "register", d, "--id", "live"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).starts_with("gw: error: register live: "));
    assert_eq!(std::fs::read(dir.join("live.json")).unwrap(), before);
    live.kill().unwrap();
    live.wait().unwrap();
}

#[test]
fn cli_2_lease_bad_input_changes_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reg");
    let d = dir.to_str().unwrap();
    // `lease list` never creates (FS-10): the registry is made here.
    common::mkdir(&dir, 0o700);
    assert!(gw(&["lease", "list", d]).status.success());
    let before = names(&dir);
    let cases: [(&[&str], i32); 6] = [
        (&["lease", "register", d, "--id", "../x"], 2),
        (&["lease", "register", d, "--id", ".hidden"], 2),
        (&["lease", "register", d, "--id", "x", "--payload", "{\"a\":1,\"a\":2}"], 3),
        (&["lease", "register", d, "--id", "x", "--payload", "{nope"], 2),
        (&["lease", "register", d, "--id", "x", "--ttl", "soon"], 2),
        (&["lease", "register", d, "--id", "x", "--pid", "4194304"], 4),
    ];
    for (args, code) in cases {
        let out = gw(args);
        assert_eq!(out.status.code(), Some(code), "{args:?}: {}", String::from_utf8_lossy(&out.stderr));
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.starts_with("gw: ") && err.lines().count() == 1, "{args:?}: {err}");
        assert_eq!(names(&dir), before, "{args:?} changed the registry");
    }
    let big = format!("{{\"x\":\"{}\"}}", "y".repeat(gw_lease::MAX_PAYLOAD_BYTES));
    assert_eq!(gw(&["lease", "register", d, "--id", "x", "--payload", &big]).status.code(), Some(2));
    assert_eq!(names(&dir), before);
}

#[test]
fn fs_5_lease_insecure_registry_is_refused_with_exit_3() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reg");
    common::mkdir(&dir, 0o700);
    common::chmod(&dir, 0o777);
    let d = dir.to_str().unwrap();
    for args in [vec!["lease", "register", d, "--id", "x"], vec!["lease", "list", d], vec!["lease", "prune", d]] {
        let out = gw(&args);
        assert_eq!(out.status.code(), Some(3), "{args:?}");
        assert!(String::from_utf8_lossy(&out.stderr).starts_with("gw: refused: "));
        let out = gw(&[&["--json"], &args[..]].concat());
        assert_eq!(json(&out)["error"]["kind"], "insecure_directory");
    }
    assert!(names(&dir).is_empty());
    // Owned by another user: refused too.
    common::chmod(&dir, 0o700);
    common::chown(&dir, common::NOBODY);
    assert_eq!(gw(&["lease", "prune", d]).status.code(), Some(3));
}
