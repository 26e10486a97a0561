//! One exit code per condition, the same in every command (issue 12 item 8;
//! the table is docs/exit-codes.md): every gw command is run into at least one
//! of the conditions below, and the code is checked, with and without
//! `--json` (where the JSON `exit_code` must agree).
//!
//! - 1: an operational failure; "already exists" is one (a profile, a root
//!   secret file, the target of `fs mv --no-replace`).
//! - 2: a usage error; an absolute path where one relative to DIR is needed,
//!   and a directory where a regular file is needed, are usage errors (not
//!   security refusals).
//! - 3: refused for security (a symlink, `..`, an invalid token).
//! - 4: not found, a missing pidfile included (probe, port verify,
//!   cred replace-shared --validate-with-probe).

use std::path::Path;
const URL: &str = "ws://127.0.0.1:18789";

fn run(home: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    gw_test_support::gw!().args(args).home(home).env_remove("GW_PROFILE").stdin(Some(stdin.as_bytes())).run().triple()
}

/// Every command path as `--help` lists them (leaves only).
fn leaves(home: &Path, path: &[&str], all: &mut Vec<String>) {
    let mut args: Vec<&str> = path.to_vec();
    args.push("--help");
    let (_, out, _) = run(home, &args, "");
    match out.split("\nCommands:\n").nth(1) {
        None => all.push(path.join(" ")),
        Some(list) => {
            for line in list.lines().take_while(|l| !l.is_empty()) {
                let name = line.split_whitespace().next().unwrap();
                if name != "help" {
                    let mut sub = path.to_vec();
                    sub.push(name);
                    leaves(home, &sub, all);
                }
            }
        }
    }
}

#[test]
fn every_command_gives_one_exit_code_per_condition() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let d = tmp.path().join("d");
    std::fs::create_dir_all(d.join("sub")).unwrap();
    std::fs::write(d.join("f.json"), "{\"a\": 1}\n").unwrap();
    std::fs::write(d.join("g.json"), "{}\n").unwrap();
    let ds = d.to_str().unwrap();
    let key = d.join("root.key");
    let ks = key.to_str().unwrap();
    let missing_pid = d.join("gateway.pid");
    let mp = missing_pid.to_str().unwrap();
    let missing = d.join("nope");
    let ms = missing.to_str().unwrap();
    assert_eq!(run(&home, &["profile", "init", "default"], "").0, 0);
    assert_eq!(run(&home, &["token", "init", "--secret-file", ks], "").0, 0);
    // A port nothing listens on (bound, then closed).
    let free = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port().to_string();
    let free_url = format!("ws://127.0.0.1:{free}");
    let fu = free_url.as_str();

    // (condition, command, args, stdin, code)
    let cases: Vec<(&str, &str, Vec<&str>, &str, i32)> = vec![
        ("absolute REL", "fs write", vec!["fs", "write", ds, "/etc/x"], "x", 2),
        ("directory for a file", "fs write", vec!["fs", "write", ds, "sub"], "x", 2),
        ("missing parent", "fs write", vec!["fs", "write", ds, "a/b"], "x", 4),
        ("absolute REL", "fs read", vec!["fs", "read", ds, "/etc/passwd"], "", 2),
        ("directory for a file", "fs read", vec!["fs", "read", ds, "sub"], "", 2),
        ("not found", "fs read", vec!["fs", "read", ds, "nope"], "", 4),
        ("`..` escape", "fs read", vec!["fs", "read", ds, "../x"], "", 3),
        ("absolute REL", "fs mkdir", vec!["fs", "mkdir", ds, "/x"], "", 2),
        ("absolute REL", "fs rm", vec!["fs", "rm", ds, "/x"], "", 2),
        ("not found", "fs rm", vec!["fs", "rm", ds, "nope"], "", 4),
        ("absolute REL", "fs mv", vec!["fs", "mv", ds, "/x", "y"], "", 2),
        ("already exists", "fs mv", vec!["fs", "mv", "--no-replace", ds, "f.json", "g.json"], "", 1),
        ("absolute REL", "fs ls", vec!["fs", "ls", ds, "/x"], "", 2),
        ("not found", "fs ls", vec!["fs", "ls", ds, "nope"], "", 4),
        ("not found", "fs check", vec!["fs", "check", ms], "", 4),
        ("absolute REL", "doc get", vec!["doc", "get", ds, "/f.json"], "", 2),
        ("directory for a file", "doc get", vec!["doc", "get", ds, "sub"], "", 2),
        ("not found", "doc get", vec!["doc", "get", ds, "nope.json"], "", 4),
        ("absolute REL", "doc set", vec!["doc", "set", ds, "/f.json", "/a", "2"], "", 2),
        ("absolute REL", "doc rm", vec!["doc", "rm", ds, "/f.json", "/a"], "", 2),
        ("not found", "doc rm", vec!["doc", "rm", ds, "nope.json", "/a"], "", 4),
        ("absolute REL", "doc merge", vec!["doc", "merge", ds, "/f.json"], "{}", 2),
        ("not found", "doc render", vec!["doc", "render", "systemd", "--spec", ms], "", 4),
        ("already exists", "token init", vec!["token", "init", "--secret-file", ks], "", 1),
        ("not found", "token derive", vec!["token", "derive", "--secret-file", ms, "--scope", "s"], "", 4),
        ("invalid token", "token attenuate", vec!["token", "attenuate", "--scope", "s"], "not-a-token", 3),
        (
            "invalid token",
            "token verify",
            vec!["token", "verify", "--secret-file", ks, "--scope", "s"],
            "not-a-token",
            3,
        ),
        ("invalid token", "token inspect", vec!["token", "inspect"], "not-a-token", 3),
        ("not found", "token label", vec!["token", "label", "--key-file", ms, "--label", "l"], "", 4),
        ("missing profile", "cred set", vec!["cred", "set", URL, "--shared", "--profile", "ghost"], "s", 4),
        ("not found", "cred get", vec!["cred", "get", URL, "--shared", "--reveal"], "", 4),
        ("not found", "cred resolve", vec!["cred", "resolve", URL], "", 4),
        ("missing profile", "cred handoff", vec!["cred", "handoff", URL, "--profile", "ghost"], "{}", 4),
        (
            "missing pidfile",
            "cred replace-shared",
            vec!["cred", "replace-shared", fu, "--validate-with-probe", "--pidfile", mp],
            "new-token",
            4,
        ),
        ("missing profile", "cred list", vec!["cred", "list", "--profile", "ghost"], "", 4),
        ("not found", "cred rm", vec!["cred", "rm", URL], "", 4),
        ("missing profile", "cred mirror", vec!["cred", "mirror", "--from", "default", "--to", "ghost"], "", 4),
        ("already exists", "profile init", vec!["profile", "init", "default"], "", 1),
        ("usage", "profile list", vec!["profile", "list", "extra"], "", 2),
        ("missing profile", "profile show", vec!["profile", "show", "ghost"], "", 4),
        ("missing profile", "profile rm", vec!["profile", "rm", "ghost", "--yes"], "", 4),
        ("absolute path where REL", "profile init", vec!["profile", "init", "/abs"], "", 2),
        ("not found", "lease list", vec!["lease", "list", ms], "", 4),
        ("not found", "lease prune", vec!["lease", "prune", ms], "", 4),
        ("no such process", "lease register", vec!["lease", "register", ds, "--id", "x", "--pid", "2147483646"], "", 4),
        ("missing profile", "watch health", vec!["watch", "health", "--profile", "ghost", "--on-fail", "true"], "", 4),
        (
            "usage",
            "watch approvals",
            vec!["watch", "approvals", "--list-cmd", "", "--approve-cmd", "true {id}", "--allow", "c"],
            "",
            2,
        ),
        ("missing profile", "doctor", vec!["doctor", "--profile", "ghost"], "", 4),
        ("missing profile", "serve", vec!["serve", "--profile", "ghost"], "", 4),
        ("missing pidfile", "probe", vec!["probe", fu, "--pidfile", mp], "", 4),
        ("missing pidfile", "port verify", vec!["port", "verify", &free, "--pidfile", mp], "", 4),
        ("usage", "port who", vec!["port", "who", "0"], "", 2),
        ("usage", "demo", vec!["demo", "extra"], "", 2),
        ("usage", "completions", vec!["completions", "tcsh"], "", 2),
        ("not found", "man", vec!["man", "nope"], "", 4),
    ];
    let mut wrong = Vec::new();
    for (condition, _, args, stdin, code) in &cases {
        let (got, _, err) = run(&home, args, stdin);
        if got != *code {
            wrong.push(format!("{condition}: gw {} -> {got}, want {code}: {}", args.join(" "), err.trim()));
            continue;
        }
        let mut json = vec!["--json"];
        json.extend_from_slice(args);
        let (got, out, err) = run(&home, &json, stdin);
        let v: serde_json::Value = serde_json::from_str(out.trim()).unwrap_or_default();
        if got != *code || v["exit_code"] != *code {
            wrong.push(format!("{condition}: gw --json {} -> {got} / {out}: {err}", args.join(" ")));
        }
    }
    assert!(wrong.is_empty(), "exit codes that differ from docs/exit-codes.md:\n{}", wrong.join("\n"));

    let mut all = Vec::new();
    leaves(&home, &[], &mut all);
    for leaf in &all {
        assert!(cases.iter().any(|c| c.1 == leaf), "no exit-code case for `gw {leaf}`");
    }
    assert!(all.len() > 40, "{all:?}");
}
