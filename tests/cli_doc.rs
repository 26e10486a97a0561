//! `gw doc` on the real binary: THREATS CLI-1 (secrets only through stdin),
//! CLI-2 (bad input changes nothing) and FS-7 (errors are not "missing").
//!
//! Happy paths first (set/get/rm/merge, JSON and plist, `--json`, render),
//! then every kind of bad input — malformed, duplicate keys (on disk and in
//! the input), too deep, too large, BOM, invalid UTF-8, trailing garbage,
//! bad pointers, missing things, a symlink or a FIFO at the document path,
//! insecure directories, hostile or invalid service specs — each checked
//! for:
//! - the documented exit code (1 operational, 2 usage, 3 refused for
//!   security, 4 not found);
//! - one line on stderr (`gw: error: ...` / `gw: refused: ...`) naming the
//!   file, with `:LINE:COLUMN` for parse errors; nothing on stdout;
//! - the whole sandbox byte-for-byte unchanged (names, types, modes, owners,
//!   contents, link targets). The one thing a command that takes the
//!   document lock (`set`, `rm`, `merge`) may leave is its lock file
//!   (`.NAME.lock` beside the document, empty, 0600) — and only where the
//!   case says the lock was reached; input refused before that leaves not
//!   even the lock.
//!
//! Every test runs on both resolvers (`--resolver openat2|walk`).

use gw_test_support as common;
use gw_test_support::both_resolvers;

use std::ffi::OsString;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use common::cli::{self, EXIT_FAILED, EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_USAGE, Gw, Run, finish};
use common::*;
use gw_anchor::Resolver;
use serde_json::{Value, json};

const GW: &str = env!("CARGO_BIN_EXE_gw");

/// The longest any single `gw` run may take (nothing may block, e.g. on a
/// FIFO).
const TIMEOUT: Duration = cli::TIMEOUT;

/// `gw --resolver R ARGS`.
fn command(r: Resolver, args: &[OsString]) -> cli::Gw {
    Gw::new(GW).arg("--resolver").arg(resolver_name(r)).args(args)
}

/// Starts `gw --resolver R ARGS`, with a stdin pipe the caller writes when
/// `stdin`, else `/dev/null`.
fn spawn(r: Resolver, args: &[OsString], stdin: bool) -> Child {
    let gw = command(r, args);
    if stdin { gw.piped_stdin() } else { gw }.spawn()
}

/// Runs `gw --resolver R ARGS` with `stdin` (`/dev/null` when `None`),
/// bounded in time.
fn gw(r: Resolver, args: &[OsString], stdin: Option<&[u8]>) -> Run {
    command(r, args).stdin(stdin).run()
}

/// `gw` that must succeed; returns stdout.
#[track_caller]
fn gw_ok(r: Resolver, args: &[OsString], stdin: Option<&[u8]>) -> String {
    let run = gw(r, args, stdin);
    assert_eq!(run.code, 0, "gw {args:?}: {run:?}");
    assert!(run.stderr.is_empty(), "gw {args:?}: nothing on stderr on success: {run:?}");
    run.stdout
}

fn args(list: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    list.iter().map(|a| a.as_ref().to_owned()).collect()
}

/// The document every case that needs one starts from.
const CONFIG: &[u8] =
    b"{\n  \"keep\": \"me\",\n  \"a\": 1,\n  \"nested\": {\n    \"list\": [\n      1,\n      2\n    ]\n  }\n}\n";

/// The sandbox: `root/` with a document (`config.json`, 0600), an empty
/// private subdirectory, a link to the outside secret, a dangling link into
/// outside, a link to the outside directory and a FIFO; `outside/` with the
/// secret.
fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    let r = &sb.root;
    write_file(&r.join("config.json"), CONFIG, 0o600);
    mkdir(&r.join("sub"), 0o700);
    symlink(sb.outside.join("secret"), &r.join("link.json"));
    symlink("../outside/planted.json", &r.join("dangling.json"));
    symlink("../outside", &r.join("ldir"));
    mkfifo(&r.join("fifo.json"));
    sb
}

fn write_file(path: &Path, content: &[u8], mode: u32) {
    std::fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    chmod(path, mode);
}

fn dir_of(sb: &Sandbox) -> OsString {
    sb.root.clone().into_os_string()
}

fn shown(sb: &Sandbox, rel: &str) -> String {
    sb.root.join(rel).display().to_string()
}

/// The lock file of the document `rel` beneath `root/`, as a path in a
/// snapshot of the sandbox's temp dir.
fn lock_of(rel: &str) -> PathBuf {
    let p = Path::new("root").join(rel);
    let name = p.file_name().unwrap().to_string_lossy().into_owned();
    p.with_file_name(format!(".{name}.lock"))
}

/// Panics unless `after` is `before`, except that the lock file of the
/// document `lock` may have appeared (empty, 0600, one link).
fn assert_unchanged_but_lock(before: &Snapshot, after: &Snapshot, lock: Option<&str>, ctx: &str) {
    let mut after = after.clone();
    if let Some(rel) = lock {
        let l = lock_of(rel);
        if !before.contains_key(&l)
            && let Some(n) = after.remove(&l)
        {
            let ok = matches!(&n, Node::File { mode: 0o600, nlink: 1, content, .. } if content.is_empty());
            assert!(ok, "{ctx}: the lock file {} must be empty, 0600: {n:?}", l.display());
        }
    }
    assert_same_tree(before, &after, ctx);
}

/// Where a failing command may leave a lock file.
#[derive(Debug, Clone, Copy)]
enum Lock<'a> {
    /// Nowhere: the input is refused before the lock is taken.
    None,
    /// Beside this document (relative to `root/`).
    Of(&'a str),
}

impl<'a> Lock<'a> {
    fn rel(self) -> Option<&'a str> {
        match self {
            Self::None => None,
            Self::Of(rel) => Some(rel),
        }
    }
}

/// Runs one bad-input case and checks: the exit code; one `gw: ...` line on
/// stderr containing every needle; nothing on stdout; the whole sandbox
/// unchanged (but the lock file `lock` allows).
#[track_caller]
fn expect_bad(
    sb: &Sandbox,
    r: Resolver,
    argv: &[OsString],
    stdin: Option<&[u8]>,
    code: i32,
    needles: &[&str],
    lock: Lock<'_>,
) {
    let before = snapshot(sb.tmp());
    let run = gw(r, argv, stdin);
    let ctx = format!("gw --resolver {} {argv:?}", resolver_name(r));
    run.assert_fails(code, needles, &ctx);
    assert_unchanged_but_lock(
        &before,
        &snapshot(sb.tmp()),
        lock.rel(),
        &format!("{ctx}: bad input must change nothing"),
    );
}

/// Every document command on `rel` — get (whole and at a pointer), set
/// (VALUE and `--stdin --string`), rm, merge — expecting `code` and
/// `needles`, and the sandbox unchanged (the commands that lock may leave
/// `rel`'s lock file).
#[track_caller]
fn all_doc_commands_fail(sb: &Sandbox, r: Resolver, rel: &str, format: Option<&str>, code: i32, needles: &[&str]) {
    let d = dir_of(sb);
    let fmt: Vec<OsString> = format.map(|f| args(&[&"--format", &f])).unwrap_or_default();
    let with = |list: &[&dyn AsRef<std::ffi::OsStr>]| {
        let mut v = args(list);
        v.extend(fmt.iter().cloned());
        v
    };
    let lock = Lock::Of(rel);
    expect_bad(sb, r, &with(&[&"doc", &"get", &d, &rel]), None, code, needles, Lock::None);
    expect_bad(sb, r, &with(&[&"doc", &"get", &d, &rel, &"/a"]), None, code, needles, Lock::None);
    expect_bad(sb, r, &with(&[&"doc", &"set", &d, &rel, &"/a", &"2"]), None, code, needles, lock);
    let argv = with(&[&"doc", &"set", &d, &rel, &"/a", &"--stdin", &"--string"]);
    expect_bad(sb, r, &argv, Some(b"value\n"), code, needles, lock);
    expect_bad(sb, r, &with(&[&"doc", &"rm", &d, &rel, &"/a"]), None, code, needles, lock);
    expect_bad(sb, r, &with(&[&"doc", &"merge", &d, &rel]), Some(b"{\"a\": 3}"), code, needles, lock);
}

fn parse(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("not JSON ({e}): {stdout:?}"))
}

fn mode_of(path: &Path) -> u32 {
    std::fs::symlink_metadata(path).unwrap().permissions().mode() & 0o7777
}

/// Asserts `path` holds `expected` as gw writes JSON: pretty-printed, with
/// a trailing newline, mode 0600.
#[track_caller]
fn assert_json_file(path: &Path, expected: &Value) {
    let text = std::fs::read_to_string(path).unwrap();
    let parsed: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(&parsed, expected, "{}", path.display());
    assert_eq!(text, format!("{}\n", serde_json::to_string_pretty(&parsed).unwrap()), "pretty, trailing newline");
    assert_eq!(mode_of(path), 0o600, "{}", path.display());
}

// ---------------------------------------------------------------- happy paths

/// `set` creates a missing document with mode 0600 — even under umask 000
/// — as pretty JSON with a trailing newline; later sets are read-modify-
/// write (other keys kept); `get` prints the whole document or the value at
/// a pointer (RFC 6901 escapes `~0` `~1`, array indices and `-` to append).
fn set_get_round_trip(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let doc = sb.root.join("sub/new.json");
    // umask 000: the mode must still be exactly 0600 (final mode at creation).
    let out = Command::new("sh")
        .args(["-c", "umask 000; exec \"$0\" \"$@\"", GW, "--resolver", resolver_name(r), "doc", "set"])
        .arg(&d)
        .args(["sub/new.json", "/port", "18789"])
        .output()
        .unwrap();
    assert!(out.status.success(), "{out:?}");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains(&doc.display().to_string()) && stdout.contains("`/port`"), "{stdout}");
    assert_eq!(std::fs::read(&doc).unwrap(), b"{\n  \"port\": 18789\n}\n");
    assert_eq!(mode_of(&doc), 0o600);

    for (ptr, value) in [
        ("/gateway", r#"{"host": "127.0.0.1", "tls": false}"#),
        ("/gateway/port", "18790"),
        ("/a~1b", r#""slash""#),
        ("/m~0n", "[1, 2]"),
        ("/m~0n/-", "3"),
        ("/m~0n/0", "0"),
        ("/ratio", "0.5"),
        ("/nothing", "null"),
    ] {
        gw_ok(r, &args(&[&"doc", &"set", &d, &"sub/new.json", &ptr, &value]), None);
    }
    let expected = json!({
        "port": 18789,
        "gateway": {"host": "127.0.0.1", "tls": false, "port": 18790},
        "a/b": "slash",
        "m~n": [0, 2, 3],
        "ratio": 0.5,
        "nothing": null,
    });
    assert_json_file(&doc, &expected);

    // get: the whole document, pretty-printed.
    let whole = gw_ok(r, &args(&[&"doc", &"get", &d, &"sub/new.json"]), None);
    assert_eq!(parse(&whole), expected);
    assert_eq!(whole, format!("{}\n", serde_json::to_string_pretty(&expected).unwrap()));
    // get: at pointers.
    for (ptr, want) in [
        ("/gateway/host", json!("127.0.0.1")),
        ("/gateway", expected["gateway"].clone()),
        ("/a~1b", json!("slash")),
        ("/m~0n/2", json!(3)),
        ("/nothing", Value::Null),
        ("", expected.clone()),
    ] {
        let out = gw_ok(r, &args(&[&"doc", &"get", &d, &"sub/new.json", &ptr]), None);
        assert_eq!(parse(&out), want, "get {ptr:?}");
    }
    // `set ""` replaces the whole document.
    gw_ok(r, &args(&[&"doc", &"set", &d, &"sub/new.json", &"", &"[1]"]), None);
    assert_json_file(&doc, &json!([1]));
}

both_resolvers! {
    /// set creates 0600 pretty JSON; get prints the document or a pointer.
    set_get_round_trip => set_get_round_trip_openat2, set_get_round_trip_walk
}

/// `merge` applies an RFC 7386 merge patch from stdin (objects merge key by
/// key, `null` removes, arrays and scalars replace), creating the document
/// if missing; `rm` removes one value; both rewrite pretty JSON, mode 0600.
fn merge_and_rm(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let doc = sb.root.join("config.json");
    // RFC 7386's own example, on top of the sandbox's document.
    gw_ok(r, &args(&[&"doc", &"set", &d, &"config.json", &"/rfc", &r#"{"a": "b", "c": {"d": "e", "f": "g"}}"#]), None);
    let patch =
        br#"{"rfc": {"a": "z", "c": {"f": null}}, "keep": null, "nested": {"list": [9]}, "added": {"x": true}}"#;
    let out = gw_ok(r, &args(&[&"doc", &"merge", &d, &"config.json"]), Some(patch));
    assert!(out.contains(&doc.display().to_string()), "{out}");
    let merged = json!({"a": 1, "nested": {"list": [9]}, "rfc": {"a": "z", "c": {"d": "e"}}, "added": {"x": true}});
    assert_json_file(&doc, &merged);
    // The same patch again changes nothing (idempotent); `{}` changes nothing.
    let before = std::fs::read(&doc).unwrap();
    gw_ok(r, &args(&[&"doc", &"merge", &d, &"config.json"]), Some(patch));
    gw_ok(r, &args(&[&"doc", &"merge", &d, &"config.json"]), Some(b"{}"));
    assert_eq!(std::fs::read(&doc).unwrap(), before);
    // A patch that is not an object replaces the document (RFC 7386).
    write_file(&sb.root.join("sub/replaced.json"), b"{\n  \"a\": 1\n}\n", 0o600);
    gw_ok(r, &args(&[&"doc", &"merge", &d, &"sub/replaced.json"]), Some(b"[1, null]"));
    assert_json_file(&sb.root.join("sub/replaced.json"), &json!([1, null]));
    // merge creates a missing document.
    gw_ok(r, &args(&[&"doc", &"merge", &d, &"sub/merged.json"]), Some(br#"{"a": {"b": 1}, "gone": null}"#));
    assert_json_file(&sb.root.join("sub/merged.json"), &json!({"a": {"b": 1}}));

    // rm: a key, a nested key, an array element.
    let out = gw_ok(r, &args(&[&"doc", &"rm", &d, &"config.json", &"/rfc/c/d"]), None);
    assert!(out.contains("`/rfc/c/d`"), "{out}");
    gw_ok(r, &args(&[&"doc", &"rm", &d, &"config.json", &"/nested/list/0"]), None);
    gw_ok(r, &args(&[&"doc", &"rm", &d, &"config.json", &"/added"]), None);
    assert_json_file(&doc, &json!({"a": 1, "nested": {"list": []}, "rfc": {"a": "z", "c": {}}}));
}

both_resolvers! {
    /// merge follows RFC 7386 (null removes); rm removes one value.
    merge_and_rm => merge_and_rm_openat2, merge_and_rm_walk
}

/// plist documents: chosen by the `.plist` extension or `--format plist`;
/// written as an XML property list (mode 0600) and read back to the same
/// JSON value through get, set, merge and rm; `--format json` overrides a
/// `.plist` name.
fn plist_round_trip(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let value = json!({
        "Label": "ai.gw.serve",
        "ProgramArguments": ["/usr/bin/gw", "serve", "--port", "18789"],
        "RunAtLoad": true,
        "ThrottleInterval": 10,
        "Ratio": 0.5,
        "Negative": -3,
        "EnvironmentVariables": {"GW_HOME": "/home/me/.gw", "Q": "<&>\"'"},
        "Empty": {},
    });
    let text = value.to_string();
    for (rel, format) in [("agent.plist", None), ("agent.conf", Some("plist"))] {
        let fmt: Vec<OsString> = format.map(|f| args(&[&"--format", &f])).unwrap_or_default();
        let with = |list: &[&dyn AsRef<std::ffi::OsStr>]| {
            let mut v = args(list);
            v.extend(fmt.iter().cloned());
            v
        };
        let path = sb.root.join(rel);
        gw_ok(r, &with(&[&"doc", &"set", &d, &rel, &"", &text]), None);
        let bytes = std::fs::read(&path).unwrap();
        let xml = String::from_utf8(bytes).unwrap();
        assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n"), "{rel}: {xml}");
        assert!(xml.contains("<plist version=\"1.0\">") && xml.ends_with("</plist>\n"), "{rel}: {xml}");
        assert!(xml.contains("<key>ProgramArguments</key>") && xml.contains("<true/>"), "{rel}: {xml}");
        assert!(xml.contains("&lt;&amp;&gt;"), "{rel}: XML special characters escaped: {xml}");
        assert_eq!(mode_of(&path), 0o600);
        assert_eq!(parse(&gw_ok(r, &with(&[&"doc", &"get", &d, &rel]), None)), value, "{rel}");
        assert_eq!(parse(&gw_ok(r, &with(&[&"doc", &"get", &d, &rel, &"/ProgramArguments/3"]), None)), json!("18789"));

        gw_ok(r, &with(&[&"doc", &"set", &d, &rel, &"/KeepAlive", &"false"]), None);
        gw_ok(r, &with(&[&"doc", &"merge", &d, &rel]), Some(br#"{"Ratio": null, "ThrottleInterval": 30}"#));
        gw_ok(r, &with(&[&"doc", &"rm", &d, &rel, &"/Empty"]), None);
        let mut want = value.clone();
        want["KeepAlive"] = json!(false);
        want["ThrottleInterval"] = json!(30);
        want.as_object_mut().unwrap().remove("Ratio");
        want.as_object_mut().unwrap().remove("Empty");
        assert_eq!(parse(&gw_ok(r, &with(&[&"doc", &"get", &d, &rel]), None)), want, "{rel}");
        assert!(std::fs::read_to_string(&path).unwrap().starts_with("<?xml"), "{rel}: still a plist");
    }
    // --format json wins over the extension.
    gw_ok(r, &args(&[&"doc", &"set", &"--format", &"json", &d, &"really-json.plist", &"/a", &"1"]), None);
    assert_json_file(&sb.root.join("really-json.plist"), &json!({"a": 1}));
}

both_resolvers! {
    /// plist documents round-trip (by extension and by --format).
    plist_round_trip => plist_round_trip_openat2, plist_round_trip_walk
}

/// `--json`: every successful command prints exactly one line, a JSON
/// object with `"ok": true` and what was done, and nothing on stderr; an
/// error prints one JSON object with `"ok": false`, the exit code, the kind
/// and the file with line:column (and still one line on stderr).
fn json_output_is_one_object(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let units = sb.tmp().join("units");
    mkdir(&units, 0o700);
    let spec = br#"{"exec_start": ["/usr/bin/gw", "serve"]}"#;
    // (argv, stdin, a field the result has)
    type Case<'a> = (Vec<OsString>, Option<&'a [u8]>, &'a str);
    let cases: [Case<'_>; 7] = [
        (args(&[&"doc", &"set", &d, &"config.json", &"/port", &"1"]), None, "bytes"),
        (args(&[&"doc", &"get", &d, &"config.json", &"/port"]), None, "value"),
        (args(&[&"doc", &"get", &d, &"config.json"]), None, "value"),
        (args(&[&"doc", &"merge", &d, &"config.json"]), Some(br#"{"port": 2}"#), "path"),
        (args(&[&"doc", &"rm", &d, &"config.json", &"/port"]), None, "pointer"),
        (args(&[&"doc", &"render", &"systemd", &"--spec", &"-"]), Some(spec), "rendered"),
        (
            args(&[&"doc", &"render", &"systemd", &"--spec", &"-", &"--write", &units, &"gw.service"]),
            Some(spec),
            "verified",
        ),
    ];
    for (argv, stdin, field) in cases {
        let mut argv = argv;
        argv.insert(0, "--json".into());
        let out = gw_ok(r, &argv, stdin);
        assert_eq!(out.lines().count(), 1, "{argv:?}: one line: {out:?}");
        let v = parse(&out);
        assert!(v.is_object(), "{argv:?}: {v}");
        assert_eq!(v["ok"], true, "{argv:?}: {v}");
        assert!(v.get(field).is_some(), "{argv:?}: `{field}` in {v}");
    }
    let v = parse(&gw_ok(r, &args(&[&"--json", &"doc", &"get", &d, &"config.json", &"/nested/list"]), None));
    assert_eq!(v["value"], json!([1, 2]));
    assert_eq!(v["pointer"], "/nested/list");

    // An error with --json.
    write_file(&sb.root.join("dup.json"), b"{\n  \"a\": 1,\n  \"a\": 2\n}\n", 0o600);
    let before = snapshot(sb.tmp());
    let run = gw(r, &args(&[&"--json", &"doc", &"get", &d, &"dup.json"]), None);
    assert_eq!(run.code, EXIT_REFUSED, "{run:?}");
    assert_eq!(run.stderr.lines().count(), 1, "{run:?}");
    assert_eq!(run.stdout.lines().count(), 1, "{run:?}");
    let v = parse(&run.stdout);
    assert_eq!(v["ok"], false, "{v}");
    assert_eq!(v["exit_code"], EXIT_REFUSED, "{v}");
    assert_eq!(v["error"]["kind"], "duplicate_key", "{v}");
    assert_eq!(v["error"]["path"], format!("{}:3:5", shown(&sb, "dup.json")), "{v}");
    assert_same_tree(&before, &snapshot(sb.tmp()), "--json error");
}

both_resolvers! {
    /// --json prints one JSON object with `ok`.
    json_output_is_one_object => json_output_is_one_object_openat2, json_output_is_one_object_walk
}

/// A secret marker no other output could contain by chance.
fn secret_marker() -> String {
    let nanos = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos();
    format!("gw-SECRET-{}-{nanos:x}-do-not-echo", std::process::id())
}

#[track_caller]
fn assert_not_in(secret: &str, haystack: &[u8], what: &str) {
    assert!(
        !haystack.windows(secret.len()).any(|w| w == secret.as_bytes()),
        "THREATS CLI-1: the secret appears in {what}"
    );
}

/// THREATS CLI-1: `set --stdin --string` takes a secret from stdin only:
/// while gw holds it, neither its command line nor its environment
/// (`/proc/PID/cmdline`, `/proc/PID/environ`) contains it; it never appears
/// on stdout or stderr (with or without `--json`, and not in the error when
/// the write is refused); it leaves only through `get`, on explicit
/// request, and the file holding it is 0600. One trailing newline is
/// dropped.
fn cli_1_secret_only_through_stdin(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let secret = secret_marker();
    for json_flag in [false, true] {
        let mut argv = args(&[&"doc", &"set", &d, &"creds.json", &"/token", &"--stdin", &"--string"]);
        if json_flag {
            argv.insert(0, "--json".into());
        }
        for a in &argv {
            assert_not_in(&secret, a.as_encoded_bytes(), "the arguments");
        }
        let mut child = spawn(r, &argv, true);
        let mut pipe = child.stdin.take().unwrap();
        // gw now holds (part of) the secret and waits for the end of stdin.
        pipe.write_all(secret.as_bytes()).unwrap();
        pipe.flush().unwrap();
        std::thread::sleep(Duration::from_millis(50));
        for file in ["cmdline", "environ"] {
            let seen = std::fs::read(format!("/proc/{}/{file}", child.id())).unwrap();
            assert!(!seen.is_empty() || file == "environ", "/proc/PID/{file} readable");
            assert_not_in(&secret, &seen, &format!("/proc/PID/{file}"));
        }
        pipe.write_all(b"\n").unwrap();
        drop(pipe);
        let run = finish(child, TIMEOUT, "gw doc set --stdin");
        assert_eq!(run.code, 0, "{run:?}");
        assert_not_in(&secret, run.stdout.as_bytes(), "stdout");
        assert_not_in(&secret, run.stderr.as_bytes(), "stderr");
        assert!(run.stderr.is_empty(), "{run:?}");
        if json_flag {
            let v = parse(&run.stdout);
            assert_eq!(v["ok"], true);
            assert!(v.get("value").is_none(), "the value is not echoed: {v}");
        }
    }
    let path = sb.root.join("creds.json");
    assert_json_file(&path, &json!({"token": secret}));
    // Out only on explicit request.
    let got = gw_ok(r, &args(&[&"doc", &"get", &d, &"creds.json", &"/token"]), None);
    assert_eq!(parse(&got), json!(secret));

    // Refused writes do not echo the secret either: not JSON (without
    // --string), a duplicate key whose values are the secret, a control
    // character a plist cannot hold, too large.
    let plist = format!("{secret}\u{1}");
    let dup = format!("{{\"k\": \"{secret}\", \"k\": \"{secret}\"}}");
    let big = format!("{secret}{}", "x".repeat(1 << 20));
    let cases: [(&str, bool, &str, i32, Lock<'_>); 4] = [
        ("creds.json", false, &secret, EXIT_USAGE, Lock::None),
        ("creds.json", false, &dup, EXIT_REFUSED, Lock::None),
        ("creds.plist", true, &plist, EXIT_FAILED, Lock::Of("creds.plist")),
        ("creds.json", true, &big, EXIT_USAGE, Lock::None),
    ];
    for (rel, string, input, code, lock) in cases {
        let mut argv = args(&[&"doc", &"set", &d, &rel, &"/token", &"--stdin"]);
        if string {
            argv.push("--string".into());
        }
        let before = snapshot(sb.tmp());
        let run = gw(r, &argv, Some(input.as_bytes()));
        assert_eq!(run.code, code, "{argv:?}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{argv:?}: {run:?}");
        assert_not_in(&secret, run.stdout.as_bytes(), "stdout");
        assert_not_in(&secret, run.stderr.as_bytes(), "stderr");
        assert_unchanged_but_lock(&before, &snapshot(sb.tmp()), lock.rel(), &format!("{argv:?}"));
    }
}

both_resolvers! {
    /// THREATS CLI-1: a secret enters through stdin only and is never echoed.
    cli_1_secret_only_through_stdin => cli_1_secret_only_through_stdin_openat2, cli_1_secret_only_through_stdin_walk
}

/// `render` prints the unit or agent; `--write DIR REL` writes the very same
/// bytes atomically (mode 0644) and prints the re-verified path.
fn render_happy_paths(r: Resolver) {
    let sb = sandbox();
    let units = sb.tmp().join("units");
    mkdir(&units, 0o700);
    let specs = sb.tmp().join("specs");
    mkdir(&specs, 0o700);
    let systemd = br#"{"description": "gw gateway", "exec_start": ["/usr/bin/gw", "serve", "--port", "18789"],
        "environment": {"GW_HOME": "/home/me/.gw"}, "restart": "on-failure", "restart_sec": 5,
        "wanted_by": ["default.target"]}"#;
    let launchd = br#"{"label": "ai.gw.serve", "program_arguments": ["/usr/bin/gw", "serve"], "run_at_load": true}"#;
    for (kind, spec, rel, must) in [
        ("systemd", &systemd[..], "gw.service", "ExecStart=\"/usr/bin/gw\" \"serve\" \"--port\" \"18789\"\n"),
        ("launchd", &launchd[..], "ai.gw.serve.plist", "<key>ProgramArguments</key>"),
    ] {
        let spec_file = specs.join(format!("{kind}.json"));
        write_file(&spec_file, spec, 0o600);
        let from_stdin = gw_ok(r, &args(&[&"doc", &"render", &kind, &"--spec", &"-"]), Some(spec));
        let from_file = gw_ok(r, &args(&[&"doc", &"render", &kind, &"--spec", &spec_file]), None);
        assert_eq!(from_stdin, from_file, "{kind}");
        assert!(from_stdin.contains(must), "{kind}: {from_stdin}");
        let out = gw_ok(r, &args(&[&"doc", &"render", &kind, &"--spec", &spec_file, &"--write", &units, &rel]), None);
        let target = units.join(rel);
        assert!(out.contains(&target.display().to_string()) && out.contains("re-verified"), "{out}");
        assert_eq!(std::fs::read_to_string(&target).unwrap(), from_stdin, "{kind}: written = printed");
        assert_eq!(mode_of(&target), 0o644);
    }
}

both_resolvers! {
    /// render prints or writes the service definition.
    render_happy_paths => render_happy_paths_openat2, render_happy_paths_walk
}

// ------------------------------------------------------- CLI-2: documents on disk

/// THREATS CLI-2 / FS-7: a malformed document on disk — a syntax error,
/// trailing garbage, an empty file — is an operational error (exit 1) for
/// every command, naming the file with line:column; `set`, `rm` and
/// `merge` do not take it for a missing document and overwrite it: it stays
/// byte-for-byte as it was.
fn cli_2_malformed_document_is_left_alone(r: Resolver) {
    let sb = sandbox();
    let cases: [(&str, &[u8], &str, &str); 5] = [
        ("bad.json", b"{\n  \"a\": 1,\n  x\n}\n", ":3:3", "key must be a string"),
        ("trailing.json", b"{\"a\": 1}\n x", ":2:2", "trailing characters"),
        ("twice.json", b"{\"a\": 1}{\"a\": 2}", ":1:9", "trailing characters"),
        ("empty.json", b"", ":1:1", "EOF"),
        ("unclosed.json", b"{\"a\": [1,\n", ":2:", "EOF"),
    ];
    for (rel, content, at, why) in cases {
        write_file(&sb.root.join(rel), content, 0o600);
        let named = format!("{}{at}", shown(&sb, rel));
        all_doc_commands_fail(&sb, r, rel, None, EXIT_FAILED, &[&named, why]);
    }
    // A broken plist too.
    write_file(
        &sb.root.join("bad.plist"),
        b"<?xml version=\"1.0\"?>\n<plist version=\"1.0\"><dict><key>a</key>",
        0o600,
    );
    all_doc_commands_fail(&sb, r, "bad.plist", None, EXIT_FAILED, &[&shown(&sb, "bad.plist"), "not a valid plist"]);
    // A JSON document read as a plist (--format) is malformed, not missing.
    all_doc_commands_fail(&sb, r, "config.json", Some("plist"), EXIT_FAILED, &[&shown(&sb, "config.json"), "plist"]);
}

both_resolvers! {
    /// THREATS CLI-2: a malformed document is exit 1 and left unchanged.
    cli_2_malformed_document_is_left_alone =>
    cli_2_malformed_document_is_left_alone_openat2, cli_2_malformed_document_is_left_alone_walk
}

/// THREATS CLI-2: a document on disk with a duplicate key — at the top, deep
/// inside, or equal only after unescaping — is refused (exit 3, "refused")
/// by every command, with line:column, and left unchanged; a plist
/// dictionary with a duplicate key too.
fn cli_2_duplicate_keys_on_disk_are_refused(r: Resolver) {
    let sb = sandbox();
    let cases: [(&str, &[u8], &str); 4] = [
        ("dup.json", b"{\n  \"a\": 1,\n  \"a\": 2\n}\n", ":3:5"),
        ("deep.json", b"{\"x\": [{\"k\": 1}, {\"k\": 1, \"k\": 1}]}", ":1:"),
        ("escaped.json", b"{\"a\\u0041\": false, \"aA\": true}", ":1:"),
        (
            "dup.plist",
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict><key>a</key><true/><key>a</key><false/></dict>\n</plist>\n",
            "",
        ),
    ];
    for (rel, content, at) in cases {
        write_file(&sb.root.join(rel), content, 0o600);
        let named = format!("{}{at}", shown(&sb, rel));
        all_doc_commands_fail(&sb, r, rel, None, EXIT_REFUSED, &[&named, "duplicate key"]);
    }
}

both_resolvers! {
    /// THREATS CLI-2: duplicate keys on disk are refused (exit 3).
    cli_2_duplicate_keys_on_disk_are_refused =>
    cli_2_duplicate_keys_on_disk_are_refused_openat2, cli_2_duplicate_keys_on_disk_are_refused_walk
}

/// THREATS CLI-2: a document nested deeper than the limit (64), larger than
/// the limit (1 MiB, checked before parsing), starting with a BOM, or with
/// invalid UTF-8 is exit 1 for every command, says why (with line:column
/// where there is one), and is left unchanged. Controls: exactly 64 levels
/// and exactly 1 MiB load.
fn cli_2_deep_large_bom_utf8_documents_are_refused(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
    let max = 1usize << 20;
    let sized = |n: usize| format!("{{\"a\": \"{}\"}}", "x".repeat(n - 9)).into_bytes();
    let large = sized(max + 1);
    let cases: [(&str, &[u8], &[&str]); 6] = [
        ("deep.json", deep.as_bytes(), &[":1:66", "deeper than the limit of 64"]),
        ("large.json", &large, &["limit is 1048576"]),
        ("bom.json", b"\xEF\xBB\xBF{\"a\": 1}", &[":1:1", "byte-order mark"]),
        ("utf8.json", b"{\"a\": \"\xff\"}", &[":1:8", "invalid UTF-8"]),
        ("utf8-2.json", b"{\n  \"a\": \"ok\",\n  \"b\": \"\xc3\x28\"\n}\n", &[":3:9", "invalid UTF-8"]),
        (
            "bom.plist",
            b"\xEF\xBB\xBF<?xml version=\"1.0\"?><plist version=\"1.0\"><dict/></plist>",
            &["byte-order mark"],
        ),
    ];
    for (rel, content, why) in cases {
        write_file(&sb.root.join(rel), content, 0o600);
        let path = shown(&sb, rel);
        let mut needles = vec![path.as_str()];
        needles.extend_from_slice(why);
        // The position is right after the file name.
        let named = why.first().filter(|w| w.starts_with(':')).map(|at| format!("{path}{at}"));
        if let Some(n) = &named {
            needles.push(n);
        }
        all_doc_commands_fail(&sb, r, rel, None, EXIT_FAILED, &needles);
    }
    // Controls: at the limits, the documents load.
    let ok_deep = format!("{}{}", "[".repeat(64), "]".repeat(64));
    write_file(&sb.root.join("ok-deep.json"), ok_deep.as_bytes(), 0o600);
    gw_ok(r, &args(&[&"doc", &"get", &d, &"ok-deep.json"]), None);
    let at_limit = sized(max);
    assert_eq!(at_limit.len(), max);
    write_file(&sb.root.join("ok-large.json"), &at_limit, 0o600);
    gw_ok(r, &args(&[&"doc", &"get", &d, &"ok-large.json", &"/a"]), None);
}

both_resolvers! {
    /// THREATS CLI-2: too deep, too large, BOM, invalid UTF-8 → exit 1.
    cli_2_deep_large_bom_utf8_documents_are_refused =>
    cli_2_deep_large_bom_utf8_documents_are_refused_openat2, cli_2_deep_large_bom_utf8_documents_are_refused_walk
}

/// THREATS CLI-2: a plist on disk with values gw does not map (`<data>`,
/// `<date>`) is exit 1 for every command (not converted lossily, not
/// overwritten); setting or merging a `null` into a plist is exit 1 (a plist
/// has no null) and the plist is left unchanged.
fn cli_2_plist_unsupported_values(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n";
    for (rel, body, why) in [
        ("data.plist", "<dict><key>a</key><data>AAAA</data></dict>", "<data>"),
        ("date.plist", "<dict><key>a</key><date>2020-01-01T00:00:00Z</date></dict>", "<date>"),
    ] {
        write_file(&sb.root.join(rel), format!("{head}{body}\n</plist>\n").as_bytes(), 0o600);
        all_doc_commands_fail(&sb, r, rel, None, EXIT_FAILED, &[&shown(&sb, rel), why, "not supported"]);
    }
    gw_ok(r, &args(&[&"doc", &"set", &d, &"ok.plist", &"", &r#"{"a": "x", "l": [1]}"#]), None);
    let why = ["cannot hold null", &shown(&sb, "ok.plist")];
    let lock = Lock::Of("ok.plist");
    for (ptr, value) in [("/n", "null"), ("/l/-", "null"), ("/o", r#"{"deep": [null]}"#), ("", "null")] {
        let argv = args(&[&"doc", &"set", &d, &"ok.plist", &ptr, &value]);
        expect_bad(&sb, r, &argv, None, EXIT_FAILED, &why, lock);
    }
    let argv = args(&[&"doc", &"merge", &d, &"ok.plist"]);
    expect_bad(&sb, r, &argv, Some(br#"{"o": [null]}"#), EXIT_FAILED, &why, lock);
    // A new plist with a null is not created.
    let argv = args(&[&"doc", &"set", &d, &"new.plist", &"/n", &"null"]);
    expect_bad(&sb, r, &argv, None, EXIT_FAILED, &["cannot hold null"], Lock::Of("new.plist"));
    assert!(!sb.root.join("new.plist").exists());
}

both_resolvers! {
    /// THREATS CLI-2: unsupported plist values and null in a plist → exit 1.
    cli_2_plist_unsupported_values =>
    cli_2_plist_unsupported_values_openat2, cli_2_plist_unsupported_values_walk
}

/// THREATS DOC-1 (and CLI-2): a plist on disk whose structure Python's
/// `plistlib` refuses — two keys in a row (once read as `{"a": "b"}`, and
/// `doc set` rewrote it so), a value at a key position, a `<key>` in an
/// array, a missing `</plist>`, a binary ASCII string holding UTF-8 — is
/// exit 1 for every command, says what was refused and where (file, line,
/// column), and is left byte-for-byte as it was.
fn doc_1_plist_structure_on_disk_is_refused(r: Resolver) {
    let sb = sandbox();
    let head = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n";
    let cases: [(&str, Vec<u8>, &str, &str); 5] = [
        (
            "key-key.plist",
            format!("{head}<dict><key>a</key><key>b</key></dict>\n</plist>\n").into_bytes(),
            ":3:19",
            "a <key> where the previous key's value belongs",
        ),
        (
            "string-key.plist",
            format!("{head}<dict><string>a</string><string>b</string></dict>\n</plist>\n").into_bytes(),
            ":3:7",
            "a <string> where a dictionary <key> belongs",
        ),
        (
            "key-array.plist",
            format!("{head}<array><key>a</key></array>\n</plist>\n").into_bytes(),
            ":3:8",
            "a <key> in an array",
        ),
        (
            "no-end.plist",
            format!("{head}<dict><key>a</key><string>b</string></dict>\n").into_bytes(),
            ":2:1",
            "ends before </plist>",
        ),
        ("ascii.plist", bplist(&[&[0xD1, 1, 2], &[0x51, b'a'], &[0x52, 0xC3, 0xA9]]), "", "holds the byte 0xc3"),
    ];
    for (rel, content, at, why) in cases {
        write_file(&sb.root.join(rel), &content, 0o600);
        let named = format!("{}{at}", shown(&sb, rel));
        all_doc_commands_fail(&sb, r, rel, None, EXIT_FAILED, &[&named, why]);
    }
}

both_resolvers! {
    /// THREATS DOC-1: plist structure plistlib refuses is exit 1, unchanged.
    doc_1_plist_structure_on_disk_is_refused =>
    doc_1_plist_structure_on_disk_is_refused_openat2, doc_1_plist_structure_on_disk_is_refused_walk
}

/// THREATS DOC-2 (and CLI-2): a 202-byte binary plist whose arrays each
/// reference the next one twice, 40 deep (2^41 values once expanded), and
/// one that contains itself, are exit 1 for every command, naming the file
/// and the limit, and left unchanged. Under a 256 MiB address-space cap
/// (`prlimit --as`), `doc get` and `doc set` on the expanding one still end
/// with that refusal in seconds: the bound is on the decoding, not the
/// machine (before it, `doc get` aborted on allocation failure under a
/// 1 GiB cap).
fn doc_2_expanding_binary_plist_is_refused_under_a_memory_cap(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let laughs = bplist_laughs(40, 2, &[0x09]);
    assert_eq!(laughs.len(), 202);
    write_file(&sb.root.join("laughs.plist"), &laughs, 0o600);
    write_file(&sb.root.join("cycle.plist"), &bplist(&[&[0xA1, 0x00]]), 0o600);
    let path = shown(&sb, "laughs.plist");
    let why = [path.as_str(), "more than 349525 values and keys", "size limit (1048576 bytes)"];
    all_doc_commands_fail(&sb, r, "laughs.plist", None, EXIT_FAILED, &why);
    let cycle = shown(&sb, "cycle.plist");
    all_doc_commands_fail(&sb, r, "cycle.plist", None, EXIT_FAILED, &[&cycle, "contains itself (a reference cycle)"]);
    for cmd in [&["get"][..], &["set", "/a", "1"]] {
        let before = snapshot(sb.tmp());
        let mut argv = vec![OsString::from("--as=268435456"), GW.into(), "--resolver".into(), resolver_name(r).into()];
        argv.extend(["doc", cmd[0]].map(OsString::from));
        argv.extend([d.clone(), "laughs.plist".into()]);
        argv.extend(cmd[1..].iter().map(OsString::from));
        let run = Gw::wrapping(Command::new("prlimit")).args(&argv).run();
        assert_eq!(run.code, EXIT_FAILED, "{argv:?}: {run:?}");
        assert!(run.stderr.contains("more than 349525 values and keys"), "{argv:?}: {run:?}");
        assert_unchanged_but_lock(&before, &snapshot(sb.tmp()), (cmd[0] == "set").then_some("laughs.plist"), "DOC-2");
    }
}

both_resolvers! {
    /// THREATS DOC-2: an expanding or cyclic binary plist is exit 1, in
    /// bounded memory, unchanged.
    doc_2_expanding_binary_plist_is_refused_under_a_memory_cap =>
    doc_2_expanding_binary_plist_is_refused_under_a_memory_cap_openat2,
    doc_2_expanding_binary_plist_is_refused_under_a_memory_cap_walk
}

// -------------------------------------------------------------- CLI-2: input

/// THREATS CLI-2: bad input on the command line or stdin — a VALUE or patch
/// with a duplicate key (exit 3), malformed, too deep, with a BOM or
/// trailing garbage, a stdin over 1 MiB (exit 2) — is refused before the
/// document is even locked: the error names the input (`VALUE:L:C`,
/// `stdin:L:C`) and nothing changes, not even a lock file.
fn cli_2_bad_value_or_patch_changes_nothing(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
    let huge = format!("\"{}\"", "x".repeat(1 << 20));
    let bom = "\u{feff}1";
    // (input, code, needles)
    let cases: [(&str, i32, &[&str]); 8] = [
        (r#"{"a": 1, "a": 2}"#, EXIT_REFUSED, &[":1:", "duplicate key `a`"]),
        (r#"{"o": {"k": [1], "k": [1]}}"#, EXIT_REFUSED, &[":1:", "duplicate key `k`"]),
        ("{\"a\": ", EXIT_USAGE, &[":1:"]),
        ("not json", EXIT_USAGE, &[":1:"]),
        (&deep, EXIT_USAGE, &[":1:66", "deeper than the limit"]),
        (bom, EXIT_USAGE, &[":1:1", "byte-order mark"]),
        ("{} x", EXIT_USAGE, &[":1:4", "trailing characters"]),
        ("1 2", EXIT_USAGE, &[":1:3", "trailing characters"]),
    ];
    for (input, code, why) in cases {
        for rel in ["config.json", "new.json"] {
            let argv = args(&[&"doc", &"set", &d, &rel, &"/a", &input]);
            let mut needles = vec!["VALUE:"];
            needles.extend_from_slice(why);
            expect_bad(&sb, r, &argv, None, code, &needles, Lock::None);
            let argv = args(&[&"doc", &"set", &d, &rel, &"/a", &"--stdin"]);
            expect_bad(&sb, r, &argv, Some(input.as_bytes()), code, why, Lock::None);
            let mut needles = vec!["stdin:"];
            needles.extend_from_slice(why);
            let argv = args(&[&"doc", &"merge", &d, &rel]);
            expect_bad(&sb, r, &argv, Some(input.as_bytes()), code, &needles, Lock::None);
        }
    }
    // Invalid UTF-8 on stdin, as JSON and as --string.
    for string in [false, true] {
        let mut argv = args(&[&"doc", &"set", &d, &"config.json", &"/a", &"--stdin"]);
        if string {
            argv.push("--string".into());
        }
        expect_bad(&sb, r, &argv, Some(b"\"\xff\""), EXIT_USAGE, &["UTF-8"], Lock::None);
    }
    expect_bad(
        &sb,
        r,
        &args(&[&"doc", &"merge", &d, &"config.json"]),
        Some(b"\xff"),
        EXIT_USAGE,
        &["UTF-8"],
        Lock::None,
    );
    // Over 1 MiB on stdin: refused while reading, whatever follows.
    for string in [false, true] {
        let mut argv = args(&[&"doc", &"set", &d, &"config.json", &"/a", &"--stdin"]);
        if string {
            argv.push("--string".into());
        }
        expect_bad(&sb, r, &argv, Some(huge.as_bytes()), EXIT_USAGE, &["larger than 1048576"], Lock::None);
    }
    let argv = args(&[&"doc", &"merge", &d, &"config.json"]);
    let patch = format!("{{\"a\": {huge}}}");
    expect_bad(&sb, r, &argv, Some(patch.as_bytes()), EXIT_USAGE, &["larger than 1048576"], Lock::None);
}

both_resolvers! {
    /// THREATS CLI-2: a bad VALUE or patch changes nothing.
    cli_2_bad_value_or_patch_changes_nothing =>
    cli_2_bad_value_or_patch_changes_nothing_openat2, cli_2_bad_value_or_patch_changes_nothing_walk
}

/// THREATS CLI-2: a malformed JSON pointer (no leading `/`, a `~` not
/// followed by 0 or 1) is a usage error (exit 2) for get, set and rm,
/// naming POINTER, before anything is opened or locked; `rm ""` (the whole
/// document) is a usage error too.
fn cli_2_bad_pointer_syntax_is_a_usage_error(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    for ptr in ["a/b", "a", "/~2", "/a~", "/~a/b", "#/a"] {
        for rel in ["config.json", "absent.json"] {
            let why = ["POINTER", "JSON pointer", ptr];
            expect_bad(&sb, r, &args(&[&"doc", &"get", &d, &rel, &ptr]), None, EXIT_USAGE, &why, Lock::None);
            expect_bad(&sb, r, &args(&[&"doc", &"set", &d, &rel, &ptr, &"1"]), None, EXIT_USAGE, &why, Lock::None);
            let argv = args(&[&"doc", &"set", &d, &rel, &ptr, &"--stdin", &"--string"]);
            expect_bad(&sb, r, &argv, Some(b"x"), EXIT_USAGE, &why, Lock::None);
            expect_bad(&sb, r, &args(&[&"doc", &"rm", &d, &rel, &ptr]), None, EXIT_USAGE, &why, Lock::None);
        }
    }
    let why = ["whole document"];
    expect_bad(&sb, r, &args(&[&"doc", &"rm", &d, &"config.json", &""]), None, EXIT_USAGE, &why, Lock::None);
}

both_resolvers! {
    /// THREATS CLI-2: bad pointer syntax is exit 2.
    cli_2_bad_pointer_syntax_is_a_usage_error =>
    cli_2_bad_pointer_syntax_is_a_usage_error_openat2, cli_2_bad_pointer_syntax_is_a_usage_error_walk
}

/// THREATS CLI-2: `set` where the pointer's parent is missing, is not a
/// container, or is an array index past the end / not an index is a usage
/// error (exit 2): parents are never created implicitly, the document is
/// unchanged, and a missing document is not created.
fn cli_2_set_with_missing_parent_writes_nothing(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let named = shown(&sb, "config.json");
    for (ptr, why) in [
        ("/nope/x", "the parent does not exist"),
        ("/nope/x/y", "the parent does not exist"),
        ("/a/x", "not an object or an array"),
        ("/nested/list/5", "past the end"),
        ("/nested/list/x", "not an array index"),
        ("/nested/list/01", "not an array index"),
    ] {
        let argv = args(&[&"doc", &"set", &d, &"config.json", &ptr, &"1"]);
        expect_bad(&sb, r, &argv, None, EXIT_USAGE, &[&named, why], Lock::Of("config.json"));
    }
    for rel in ["new.json", "sub/new.json", "new.plist"] {
        let argv = args(&[&"doc", &"set", &d, &rel, &"/a/b", &"1"]);
        expect_bad(&sb, r, &argv, None, EXIT_USAGE, &[&shown(&sb, rel), "parent"], Lock::Of(rel));
        assert!(!sb.root.join(rel).exists(), "{rel} must not be created");
    }
}

both_resolvers! {
    /// THREATS CLI-2: set with a missing parent is exit 2 and writes nothing.
    cli_2_set_with_missing_parent_writes_nothing =>
    cli_2_set_with_missing_parent_writes_nothing_openat2, cli_2_set_with_missing_parent_writes_nothing_walk
}

/// THREATS CLI-2 / FS-7: nothing at the pointer (get, rm) and a missing
/// document (get, rm) are "not found" (exit 4), naming the document; a
/// missing document is not created by `rm`.
fn cli_2_missing_things_are_not_found(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let named = shown(&sb, "config.json");
    for ptr in ["/zz", "/nested/zz", "/nested/list/2", "/nested/list/01", "/a/b", "/keep/0"] {
        let why = [named.as_str(), "nothing at JSON pointer", ptr];
        expect_bad(&sb, r, &args(&[&"doc", &"get", &d, &"config.json", &ptr]), None, EXIT_NOT_FOUND, &why, Lock::None);
        let lock = Lock::Of("config.json");
        expect_bad(&sb, r, &args(&[&"doc", &"rm", &d, &"config.json", &ptr]), None, EXIT_NOT_FOUND, &why, lock);
    }
    for rel in ["absent.json", "sub/absent.json", "absent.plist", "no-dir/absent.json"] {
        let why = [shown(&sb, rel), "no such document".to_owned()];
        let why: Vec<&str> = why.iter().map(String::as_str).collect();
        expect_bad(&sb, r, &args(&[&"doc", &"get", &d, &rel]), None, EXIT_NOT_FOUND, &why, Lock::None);
        expect_bad(&sb, r, &args(&[&"doc", &"get", &d, &rel, &"/a"]), None, EXIT_NOT_FOUND, &why, Lock::None);
    }
    for rel in ["absent.json", "sub/absent.json", "absent.plist"] {
        let why = [shown(&sb, rel), "no such document".to_owned()];
        let why: Vec<&str> = why.iter().map(String::as_str).collect();
        expect_bad(&sb, r, &args(&[&"doc", &"rm", &d, &rel, &"/a"]), None, EXIT_NOT_FOUND, &why, Lock::Of(rel));
        assert!(!sb.root.join(rel).exists(), "{rel} must not be created");
    }
}

both_resolvers! {
    /// THREATS CLI-2: missing pointer or document → exit 4.
    cli_2_missing_things_are_not_found =>
    cli_2_missing_things_are_not_found_openat2, cli_2_missing_things_are_not_found_walk
}

// ------------------------------------------------------------ CLI-2: refusals

/// THREATS CLI-2 / FS-1 / FS-7: a symlink at the document path (to an
/// outside file, dangling into outside) or on the way (a linked directory)
/// is refused (exit 3) by every command, never followed and never taken for
/// "missing": the link, its target and everything outside are unchanged
/// (`set` on the dangling link does not create its target). A directory at
/// the document path is a usage error (exit 2, issue 12 item 8: the
/// argument names a directory, nothing was at risk), and a regular file on the way
/// is an operational error (exit 1), not "missing".
fn cli_2_symlink_at_document_path_is_refused(r: Resolver) {
    let sb = sandbox();
    for rel in ["link.json", "dangling.json", "ldir/secret", "ldir/new.json"] {
        all_doc_commands_fail(&sb, r, rel, None, EXIT_REFUSED, &["symbolic link"]);
    }
    assert!(!sb.outside.join("planted.json").exists());
    all_doc_commands_fail(&sb, r, "sub", None, EXIT_USAGE, &[&shown(&sb, "sub"), "directory"]);
    all_doc_commands_fail(&sb, r, "config.json/x.json", None, EXIT_FAILED, &["not a directory"]);
}

both_resolvers! {
    /// THREATS CLI-2: a symlink at the document path is refused (exit 3).
    cli_2_symlink_at_document_path_is_refused =>
    cli_2_symlink_at_document_path_is_refused_openat2, cli_2_symlink_at_document_path_is_refused_walk
}

/// THREATS CLI-2 / FS-1: a FIFO at the document path is refused (exit 3) by
/// every command without blocking (nobody ever writes to it: a blocking
/// open would hang; each run is bounded in time), and is left in place.
fn cli_2_fifo_at_document_path_is_refused(r: Resolver) {
    let sb = sandbox();
    let start = Instant::now();
    all_doc_commands_fail(&sb, r, "fifo.json", None, EXIT_REFUSED, &[&shown(&sb, "fifo.json"), "FIFO"]);
    mkfifo(&sb.root.join("fifo.plist"));
    all_doc_commands_fail(&sb, r, "fifo.plist", None, EXIT_REFUSED, &["FIFO"]);
    assert!(start.elapsed() < Duration::from_secs(30), "FIFO refusals took {:?}", start.elapsed());
}

both_resolvers! {
    /// THREATS CLI-2: a FIFO at the document path is refused without blocking.
    cli_2_fifo_at_document_path_is_refused =>
    cli_2_fifo_at_document_path_is_refused_openat2, cli_2_fifo_at_document_path_is_refused_walk
}

/// THREATS CLI-2 / FS-5: a group- or world-writable DIR (or a DIR owned by
/// another user) is refused (exit 3) by every command before anything is
/// read, locked or written — naming the directory, its mode and the fix —
/// and gw does not "fix" the mode itself. A document that is itself
/// writable by others, or owned by another user, is refused too.
fn cli_2_insecure_directory_or_document_is_refused(r: Resolver) {
    let sb = sandbox();
    let root = sb.root.display().to_string();
    for mode in [0o770, 0o777, 0o720] {
        chmod(&sb.root, mode);
        let m = format!("mode {mode:04o}");
        // No lock file either: the directory is refused first (the helper
        // allows a lock; check it separately below).
        all_doc_commands_fail(&sb, r, "config.json", None, EXIT_REFUSED, &[&root, &m, "chmod go-w"]);
        all_doc_commands_fail(&sb, r, "new.json", None, EXIT_REFUSED, &[&root, &m]);
        assert!(!sb.root.join(".config.json.lock").exists() && !sb.root.join(".new.json.lock").exists());
        assert_eq!(mode_of(&sb.root), mode, "gw never changes the mode");
    }
    chmod(&sb.root, 0o700);
    chown(&sb.root, NOBODY);
    all_doc_commands_fail(&sb, r, "config.json", None, EXIT_REFUSED, &[&root, "owner uid 65534"]);
    chown(&sb.root, 0);
    // A group-writable subdirectory holding the document.
    mkdir(&sb.root.join("shared"), 0o770);
    write_file(&sb.root.join("shared/doc.json"), b"{\"a\": 1}\n", 0o600);
    all_doc_commands_fail(&sb, r, "shared/doc.json", None, EXIT_REFUSED, &[&shown(&sb, "shared"), "mode 0770"]);
    // The document itself writable by others, or owned by another user.
    let cases = [
        ("gw.json", 0o620, None, "writable by other users"),
        ("ww.json", 0o606, None, "writable by other users"),
        ("theirs.json", 0o600, Some(NOBODY), "owned by uid 65534"),
    ];
    for (rel, mode, owner, why) in cases {
        let path = sb.root.join(rel);
        write_file(&path, b"{\"a\": 1}\n", mode);
        if let Some(uid) = owner {
            chown(&path, uid);
        }
        all_doc_commands_fail(&sb, r, rel, None, EXIT_REFUSED, &[&shown(&sb, rel), why]);
    }
}

both_resolvers! {
    /// THREATS CLI-2: an insecure directory or document is refused (exit 3).
    cli_2_insecure_directory_or_document_is_refused =>
    cli_2_insecure_directory_or_document_is_refused_openat2, cli_2_insecure_directory_or_document_is_refused_walk
}

// ------------------------------------------------------------ CLI-2: render

/// The render tests' sandbox.
#[derive(Debug)]
struct RenderBox {
    sb: Sandbox,
    r: Resolver,
    /// `tmp/units` (private): where `--write` aims, holding a `gw.service`
    /// and an `ai.gw.serve.plist` rendered from good specs.
    units: PathBuf,
    /// `tmp/specs` (private): for spec files.
    specs: PathBuf,
}

/// A [`RenderBox`] for `r`.
fn render_sandbox(r: Resolver) -> RenderBox {
    let sb = sandbox();
    let units = sb.tmp().join("units");
    mkdir(&units, 0o700);
    let specs = sb.tmp().join("specs");
    mkdir(&specs, 0o700);
    let good = [
        ("systemd", "gw.service", &br#"{"description": "old", "exec_start": ["/usr/bin/gw", "serve"]}"#[..]),
        ("launchd", "ai.gw.serve.plist", br#"{"label": "ai.gw.serve", "program_arguments": ["/usr/bin/gw"]}"#),
    ];
    for (kind, rel, spec) in good {
        gw_ok(r, &args(&[&"doc", &"render", &kind, &"--spec", &"-", &"--write", &units, &rel]), Some(spec));
    }
    RenderBox { sb, r, units, specs }
}

/// Runs `render KIND` on `spec` every way: from stdin and from a file, to
/// stdout, over the existing file and to a new one; each must fail with
/// `code` and `needles` (plus the spec file's name when read from a file),
/// print nothing, and leave everything unchanged (the old file byte for
/// byte; the new one not created).
#[track_caller]
fn render_fails(rb: &RenderBox, kind: &str, spec: &[u8], code: i32, needles: &[&str]) {
    let RenderBox { sb, r, units, specs } = rb;
    let r = *r;
    let (old, new) = match kind {
        "systemd" => ("gw.service", "new.service"),
        _ => ("ai.gw.serve.plist", "new.plist"),
    };
    let file = specs.join("spec.json");
    let spec_path = file.display().to_string();
    for from_file in [false, true] {
        let (src, stdin): (OsString, Option<&[u8]>) =
            if from_file { (file.clone().into_os_string(), None) } else { ("-".into(), Some(spec)) };
        let mut needles = needles.to_vec();
        if from_file {
            needles.push(&spec_path);
        }
        for target in [None, Some(old), Some(new)] {
            write_file(&file, spec, 0o600);
            let mut argv = args(&[&"doc", &"render", &kind, &"--spec", &src]);
            if let Some(rel) = target {
                argv.extend(args(&[&"--write", &units, &rel]));
            }
            expect_bad(sb, r, &argv, stdin, code, &needles, Lock::None);
        }
    }
    assert!(!units.join(new).exists());
}

/// THREATS CLI-2: a service spec whose values would inject a directive or
/// break the file — a newline, a carriage return, a NUL (as `\u0000`), a
/// trailing backslash, a Unicode line separator — in the description, an
/// argument, an environment value, a label, a path — is refused (exit 3)
/// naming the field; nothing is printed, the `--write` target is not
/// created and an existing one is left byte-for-byte as it was.
fn cli_2_render_injection_is_refused(r: Resolver) {
    let rb = render_sandbox(r);
    let systemd: [(&str, &str); 9] = [
        (r#"{"description": "gw\nExecStartPre=/bin/sh -c evil", "exec_start": ["/usr/bin/gw"]}"#, "description"),
        (r#"{"description": "gw\rExecStartPre=/bin/evil", "exec_start": ["/usr/bin/gw"]}"#, "description"),
        (r#"{"description": "gw\u0000evil", "exec_start": ["/usr/bin/gw"]}"#, "description"),
        (r#"{"description": "gw\\", "exec_start": ["/usr/bin/gw"], "wanted_by": ["default.target"]}"#, "description"),
        (r#"{"description": "gw\u2028ExecStartPre=/bin/evil", "exec_start": ["/usr/bin/gw"]}"#, "description"),
        (r#"{"exec_start": ["/usr/bin/gw", "serve\nExecStartPre=/bin/evil"]}"#, "exec_start[1]"),
        (r#"{"exec_start": ["/usr/bin/gw"], "environment": {"A": "x\nExecStartPre=/bin/evil"}}"#, "environment.A"),
        (r#"{"exec_start": ["/usr/bin/gw"], "working_directory": "/srv/gw\\"}"#, "working_directory"),
        (r#"{"exec_start": ["/usr/bin/gw"], "after": ["network.target\nExecStartPre=/bin/evil"]}"#, "after[0]"),
    ];
    for (spec, field) in systemd {
        render_fails(&rb, "systemd", spec.as_bytes(), EXIT_REFUSED, &["validate", field]);
    }
    let launchd: [(&str, &str); 4] = [
        (r#"{"label": "ai.gw\n", "program_arguments": ["/usr/bin/gw"]}"#, "label"),
        (r#"{"label": "ai.gw", "program_arguments": ["/usr/bin/gw", "a\u0000b"]}"#, "program_arguments[1]"),
        (
            r#"{"label": "ai.gw", "program_arguments": ["/usr/bin/gw"], "environment_variables": {"A": "x\ry"}}"#,
            "environment_variables.A",
        ),
        (
            r#"{"label": "ai.gw", "program_arguments": ["/usr/bin/gw"], "standard_out_path": "/tmp/x\u0001"}"#,
            "standard_out_path",
        ),
    ];
    for (spec, field) in launchd {
        render_fails(&rb, "launchd", spec.as_bytes(), EXIT_REFUSED, &["validate", field]);
    }
    // A duplicate key in the spec is a refusal too.
    let dup = br#"{"exec_start": ["/usr/bin/gw"], "exec_start": ["/bin/sh"]}"#;
    render_fails(&rb, "systemd", dup, EXIT_REFUSED, &["duplicate key `exec_start`", ":1:"]);
}

both_resolvers! {
    /// THREATS CLI-2: injection in a service spec is refused (exit 3).
    cli_2_render_injection_is_refused =>
    cli_2_render_injection_is_refused_openat2, cli_2_render_injection_is_refused_walk
}

/// THREATS CLI-2: an invalid service spec — a relative or prefixed exec
/// path, an unknown field, a bad label, a wrong type, an interval of 0,
/// malformed JSON — is a usage error (exit 2) naming the field (or the
/// line:column); nothing is printed or written.
fn cli_2_render_invalid_spec_is_a_usage_error(r: Resolver) {
    let rb = render_sandbox(r);
    let RenderBox { sb, units, .. } = &rb;
    let systemd: [(&str, &[&str]); 7] = [
        (r#"{"exec_start": ["gw", "serve"]}"#, &["exec_start[0]", "absolute path"]),
        (r#"{"exec_start": ["-/usr/bin/gw"]}"#, &["exec_start[0]", "absolute path"]),
        (r#"{"exec_start": []}"#, &["exec_start", "empty"]),
        (r#"{"exec_start": ["/usr/bin/gw"], "bogus": 1}"#, &["unknown field `bogus`"]),
        (r#"{"exec_start": ["/usr/bin/gw"], "restart_sec": 0}"#, &["restart_sec"]),
        (r#"{"exec_start": "/usr/bin/gw"}"#, &["not a valid systemd service spec"]),
        ("{\"exec_start\": [\"/usr/bin/gw\"]\n,,}", &[":2:"]),
    ];
    for (spec, why) in systemd {
        render_fails(&rb, "systemd", spec.as_bytes(), EXIT_USAGE, why);
    }
    let launchd: [(&str, &[&str]); 5] = [
        (r#"{"label": "bad label/x", "program_arguments": ["/usr/bin/gw"]}"#, &["label"]),
        (r#"{"label": "", "program_arguments": ["/usr/bin/gw"]}"#, &["label", "is empty"]),
        (r#"{"label": "-x", "program_arguments": ["/usr/bin/gw"]}"#, &["label", "starts with"]),
        (r#"{"label": "ai.gw", "program_arguments": ["bin/gw"]}"#, &["program_arguments[0]", "absolute path"]),
        (r#"{"program_arguments": ["/usr/bin/gw"]}"#, &["missing field `label`"]),
    ];
    for (spec, why) in launchd {
        render_fails(&rb, "launchd", spec.as_bytes(), EXIT_USAGE, why);
    }
    // A definition written to the wrong extension is invalid as well.
    let argv = args(&[&"doc", &"render", &"systemd", &"--spec", &"-", &"--write", &units, &"gw.conf"]);
    expect_bad(sb, r, &argv, Some(br#"{"exec_start": ["/usr/bin/gw"]}"#), EXIT_USAGE, &[".service"], Lock::None);
}

both_resolvers! {
    /// THREATS CLI-2: an invalid service spec is exit 2.
    cli_2_render_invalid_spec_is_a_usage_error =>
    cli_2_render_invalid_spec_is_a_usage_error_openat2, cli_2_render_invalid_spec_is_a_usage_error_walk
}

/// THREATS CLI-2 / FS-5: `--spec` in a world- or group-writable directory
/// (anyone could swap it) is refused (exit 3), naming the directory, with a
/// fix that suggests `--spec -` (not `chmod go-w` on a shared directory);
/// a spec that is a symlink is refused too; nothing is written.
fn cli_2_render_spec_in_insecure_dir_is_refused(r: Resolver) {
    let rb = render_sandbox(r);
    let RenderBox { sb, units, specs, .. } = &rb;
    let good = br#"{"exec_start": ["/usr/bin/gw"]}"#;
    for mode in [0o777, 0o770] {
        let shared = sb.tmp().join(format!("shared-{mode:o}"));
        mkdir(&shared, 0o700);
        write_file(&shared.join("spec.json"), good, 0o600);
        chmod(&shared, mode);
        let dir = shared.display().to_string();
        let spec = shared.join("spec.json");
        for target in [None, Some("gw.service"), Some("new.service")] {
            let mut argv = args(&[&"doc", &"render", &"systemd", &"--spec", &spec]);
            if let Some(rel) = target {
                argv.extend(args(&[&"--write", &units, &rel]));
            }
            expect_bad(sb, r, &argv, None, EXIT_REFUSED, &[&dir, "--spec -"], Lock::None);
        }
    }
    write_file(&specs.join("real.json"), good, 0o600);
    symlink("real.json", &specs.join("link.json"));
    let argv =
        args(&[&"doc", &"render", &"systemd", &"--spec", &specs.join("link.json"), &"--write", &units, &"new.service"]);
    expect_bad(sb, r, &argv, None, EXIT_REFUSED, &["symbolic link"], Lock::None);
    assert!(!units.join("new.service").exists());
}

both_resolvers! {
    /// THREATS CLI-2: a spec in an insecure directory is refused (exit 3).
    cli_2_render_spec_in_insecure_dir_is_refused =>
    cli_2_render_spec_in_insecure_dir_is_refused_openat2, cli_2_render_spec_in_insecure_dir_is_refused_walk
}

// ---------------------------------------------------------------- concurrency

/// No lost update through the CLI: 8 `gw doc set DIR f.json /kN N`
/// processes started together, each with its own key, all land — the final
/// document has the original key and all 8 (`set` is a locked
/// read-modify-write, not a blind write). Readers running meanwhile always
/// see a whole document (atomic replace, THREATS FS-3). Several rounds.
fn set_is_a_locked_read_modify_write(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    for round in 0..5 {
        let rel = format!("f{round}.json");
        let path = sb.root.join(&rel);
        // Pretty, as gw writes new documents (an edit keeps a file's layout).
        write_file(&path, b"{\n  \"keep\": true\n}\n", 0o600);
        let writers: Vec<Child> = (0..8)
            .map(|n| spawn(r, &args(&[&"doc", &"set", &d, &rel, &format!("/k{n}"), &n.to_string()]), false))
            .collect();
        let readers: Vec<Child> = (0..4).map(|_| spawn(r, &args(&[&"doc", &"get", &d, &rel]), false)).collect();
        for (n, child) in writers.into_iter().enumerate() {
            let run = finish(child, TIMEOUT, &format!("writer {n}"));
            assert_eq!(run.code, 0, "round {round} writer {n}: {run:?}");
        }
        for child in readers {
            let run = finish(child, TIMEOUT, "reader");
            assert_eq!(run.code, 0, "round {round} reader: {run:?}");
            assert_eq!(parse(&run.stdout)["keep"], true, "round {round}: a reader saw a whole document");
        }
        let mut want = json!({"keep": true});
        for n in 0..8 {
            want[format!("k{n}")] = json!(n);
        }
        assert_json_file(&path, &want);
    }
}

both_resolvers! {
    /// Concurrent sets with distinct keys all land (no lost update).
    set_is_a_locked_read_modify_write =>
    set_is_a_locked_read_modify_write_openat2, set_is_a_locked_read_modify_write_walk
}

/// `render --bootstrap` (issue 14, the launchd install flow): off macOS it
/// is refused as a usage error (exit 2) that says where it runs, before the
/// spec is read or anything written; for systemd it is refused everywhere;
/// without `--write` clap refuses it. (On macOS it runs `launchctl
/// bootstrap gui/UID PATH` after the write and the re-verification: compiled
/// for Apple targets in CI, run only on a Mac.)
#[cfg(not(target_os = "macos"))]
#[test]
fn render_bootstrap_is_refused_where_it_cannot_run() {
    let sb = sandbox();
    let units = sb.tmp().join("agents");
    mkdir(&units, 0o700);
    let spec = br#"{"label": "ai.gw.serve", "program_arguments": ["/usr/bin/gw"]}"#;
    let r = Resolver::Auto;
    let launchd = gw(
        r,
        &args(&[
            &"doc",
            &"render",
            &"launchd",
            &"--spec",
            &"-",
            &"--write",
            &units,
            &"ai.gw.serve.plist",
            &"--bootstrap",
        ]),
        Some(spec),
    );
    assert_eq!(launchd.code, 2, "{launchd:?}");
    assert!(launchd.stderr.contains("only on macOS"), "{launchd:?}");
    assert!(launchd.stdout.is_empty(), "{launchd:?}");
    let systemd = gw(
        r,
        &args(&[&"doc", &"render", &"systemd", &"--spec", &"-", &"--write", &units, &"gw.service", &"--bootstrap"]),
        Some(br#"{"description": "d", "exec_start": ["/usr/bin/gw", "serve"]}"#),
    );
    assert_eq!(systemd.code, 2, "{systemd:?}");
    assert!(systemd.stderr.contains("does not apply to systemd"), "{systemd:?}");
    assert_eq!(std::fs::read_dir(&units).unwrap().count(), 0, "nothing written");
    let no_write = gw(r, &args(&[&"doc", &"render", &"launchd", &"--spec", &"-", &"--bootstrap"]), Some(spec));
    assert_eq!(no_write.code, 2, "{no_write:?}");
    assert!(no_write.stderr.contains("--write"), "{no_write:?}");
}
