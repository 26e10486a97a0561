//! THREATS CLI-2 (bad input changes nothing), on the real `gw` binary.
//!
//! Every case runs `gw fs ...` with malformed or hostile input — an invalid,
//! absolute, `..` or over-long REL, stdin over `--max-bytes`, a missing or
//! insecure DIR, a symlink at the target — and checks:
//! - the documented exit code (README / `gw --help`: 2 usage error, 3
//!   refused for security, 4 not found, 1 operational error);
//! - one clear line on stderr (`gw: ...`) naming what was refused and why;
//!   nothing on stdout (without `--json`);
//! - the whole sandbox — the directory, its neighbours and the "outside"
//!   tree a link points to — is byte-for-byte unchanged: names, types,
//!   modes, owners, contents, link targets.
//!
//! Each test runs on both resolvers (`--resolver openat2|walk`).

use gw_test_support as common;
use gw_test_support::both_resolvers;

use std::ffi::OsString;
use std::path::Path;

use common::cli::{EXIT_FAILED, EXIT_NOT_FOUND, EXIT_REFUSED, EXIT_USAGE, Run};
use common::*;
use gw_anchor::Resolver;

/// Runs `gw --resolver R ARGS` with `stdin` (closed when `None`), bounded
/// in time (nothing may block, e.g. on a FIFO).
fn gw(r: Resolver, args: &[OsString], stdin: Option<&[u8]>) -> Run {
    common::gw!().arg("--resolver").arg(resolver_name(r)).args(args).stdin(stdin).run()
}

fn args(list: &[&dyn AsRef<std::ffi::OsStr>]) -> Vec<OsString> {
    list.iter().map(|a| a.as_ref().to_owned()).collect()
}

/// The sandbox every case starts from: `root/` with a file, a subdirectory,
/// a link to the outside secret, a dangling link, a link to an outside
/// directory and a FIFO; `outside/` with the secret.
fn sandbox() -> Sandbox {
    let sb = Sandbox::new();
    let r = &sb.root;
    std::fs::write(r.join("config.json"), b"{\"keep\":\"me\"}\n").unwrap();
    mkdir(&r.join("sub"), 0o700);
    std::fs::write(r.join("sub/inner.txt"), b"inner\n").unwrap();
    symlink(sb.outside.join("secret"), &r.join("link.json"));
    symlink("../outside/planted.json", &r.join("dangling.json"));
    symlink("../outside", &r.join("ldir"));
    mkfifo(&r.join("fifo"));
    sb
}

/// Runs one bad-input case and checks exit code, stderr, stdout and that the
/// whole sandbox is unchanged. `needles` must all appear in the error line.
#[track_caller]
fn expect_bad(sb: &Sandbox, r: Resolver, argv: &[OsString], stdin: Option<&[u8]>, code: i32, needles: &[&str]) {
    let before = snapshot(sb.tmp());
    let run = gw(r, argv, stdin);
    let ctx = format!("gw --resolver {} {argv:?}", resolver_name(r));
    assert!(run.stderr.starts_with("gw: "), "{ctx}: {}", run.stderr);
    run.assert_fails(code, needles, &ctx);
    assert_same_tree(&before, &snapshot(sb.tmp()), &format!("{ctx}: bad input must change nothing"));
}

fn dir_of(sb: &Sandbox) -> OsString {
    sb.root.clone().into_os_string()
}

/// THREATS CLI-2: an invalid REL — empty, `.`, a trailing slash on a file
/// operation, a name over 255 bytes, a path over 4095 bytes, more than 64
/// components — is a usage error (exit 2) that says what is wrong, for every
/// subcommand that takes one, and changes nothing.
fn cli_2_invalid_rel_is_a_usage_error(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let long_name = "n".repeat(256);
    let long_path = vec!["x".repeat(63); 65].join("/");
    let deep = vec!["a"; 65].join("/");
    for (rel, why) in [(long_name.as_str(), "limit is 255"), (&long_path, "limit is 4095"), (&deep, "limit is 64")] {
        expect_bad(&sb, r, &args(&[&"fs", &"write", &d, &rel]), Some(b"x"), EXIT_USAGE, &[why]);
        expect_bad(&sb, r, &args(&[&"fs", &"read", &d, &rel]), None, EXIT_USAGE, &[why]);
        expect_bad(&sb, r, &args(&[&"fs", &"mkdir", &d, &rel]), None, EXIT_USAGE, &[why]);
        expect_bad(&sb, r, &args(&[&"fs", &"rm", &d, &rel]), None, EXIT_USAGE, &[why]);
        expect_bad(&sb, r, &args(&[&"fs", &"ls", &d, &rel]), None, EXIT_USAGE, &[why]);
        expect_bad(&sb, r, &args(&[&"fs", &"mv", &d, &"config.json", &rel]), None, EXIT_USAGE, &[why]);
        expect_bad(&sb, r, &args(&[&"fs", &"mv", &d, &rel, &"x"]), None, EXIT_USAGE, &[why]);
    }
    for (rel, why) in [("", "root directory itself"), (".", "root directory itself"), ("./", "root directory itself")] {
        expect_bad(&sb, r, &args(&[&"fs", &"write", &d, &rel]), Some(b"x"), EXIT_USAGE, &[why]);
        expect_bad(&sb, r, &args(&[&"fs", &"read", &d, &rel]), None, EXIT_USAGE, &[why]);
    }
    for rel in ["config.json/", "sub/inner.txt/", "new/"] {
        expect_bad(&sb, r, &args(&[&"fs", &"write", &d, &rel]), Some(b"x"), EXIT_USAGE, &["trailing slash"]);
        expect_bad(&sb, r, &args(&[&"fs", &"read", &d, &rel]), None, EXIT_USAGE, &["trailing slash"]);
    }
}

both_resolvers! {
    /// THREATS CLI-2: an invalid REL is a usage error and changes nothing.
    cli_2_invalid_rel_is_a_usage_error =>
    cli_2_invalid_rel_is_a_usage_error_openat2, cli_2_invalid_rel_is_a_usage_error_walk
}

/// THREATS CLI-2 / FS-2: an absolute REL — outside, or even naming a file
/// inside DIR — is refused by every subcommand as a usage error (exit 2,
/// issue 12 item 8: a relative path was needed), and changes nothing.
fn cli_2_absolute_rel_is_refused(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let secret = sb.outside.join("secret");
    let inside = sb.root.join("config.json");
    let absolutes: [&dyn AsRef<std::ffi::OsStr>; 4] = [&"/etc/passwd", &secret, &inside, &"/"];
    for rel in absolutes {
        let why = ["absolute"];
        expect_bad(&sb, r, &args(&[&"fs", &"write", &d, rel]), Some(b"PWNED"), EXIT_USAGE, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"read", &d, rel]), None, EXIT_USAGE, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"mkdir", &d, rel]), None, EXIT_USAGE, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"rm", &d, rel]), None, EXIT_USAGE, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"ls", &d, rel]), None, EXIT_USAGE, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"mv", &d, &"config.json", rel]), None, EXIT_USAGE, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"mv", &d, rel, &"stolen"]), None, EXIT_USAGE, &why);
    }
}

both_resolvers! {
    /// THREATS CLI-2: an absolute REL is refused and changes nothing.
    cli_2_absolute_rel_is_refused =>
    cli_2_absolute_rel_is_refused_openat2, cli_2_absolute_rel_is_refused_walk
}

/// THREATS CLI-2 / FS-2: a REL with a `..` component — leading, in the
/// middle, trailing, or hidden in an over-long path — is refused as an
/// escape (exit 3) by every subcommand, and changes nothing.
fn cli_2_dotdot_rel_is_refused(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let long = format!("sub/..{}", "/x".repeat(3000));
    for rel in ["..", "../outside/secret", "sub/../../outside/secret", "sub/..", "sub/../config.json", long.as_str()] {
        let why = ["`..`"];
        expect_bad(&sb, r, &args(&[&"fs", &"write", &d, &rel]), Some(b"PWNED"), EXIT_REFUSED, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"write", &"--parents", &d, &rel]), Some(b"PWNED"), EXIT_REFUSED, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"read", &d, &rel]), None, EXIT_REFUSED, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"mkdir", &d, &rel]), None, EXIT_REFUSED, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"rm", &d, &rel]), None, EXIT_REFUSED, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"ls", &d, &rel]), None, EXIT_REFUSED, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"mv", &d, &"config.json", &rel]), None, EXIT_REFUSED, &why);
    }
}

both_resolvers! {
    /// THREATS CLI-2: a `..` REL is refused and changes nothing.
    cli_2_dotdot_rel_is_refused =>
    cli_2_dotdot_rel_is_refused_openat2, cli_2_dotdot_rel_is_refused_walk
}

/// THREATS CLI-2: stdin over `--max-bytes` is a usage error (exit 2): the
/// existing target keeps its content, a new target is not created, missing
/// parents are not made with `--parents`, and no temp file is left —
/// whether stdin is one byte over or far over the limit. (Control: exactly
/// the limit is written.)
fn cli_2_stdin_over_max_bytes_writes_nothing(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let big = vec![b'x'; 1 << 20];
    for (max, len) in [("10", 11), ("0", 1), ("1000", big.len())] {
        for rel in ["config.json", "new.json", "sub/new.json"] {
            let argv = args(&[&"fs", &"write", &"--max-bytes", &max, &d, &rel]);
            expect_bad(&sb, r, &argv, Some(&big[..len]), EXIT_USAGE, &["--max-bytes", max]);
        }
        let argv = args(&[&"fs", &"write", &"--parents", &"--max-bytes", &max, &d, &"a/b/c.json"]);
        expect_bad(&sb, r, &argv, Some(&big[..len]), EXIT_USAGE, &["--max-bytes"]);
    }
    // Control: exactly at the limit, the write happens.
    let run = gw(r, &args(&[&"fs", &"write", &"--max-bytes", &"10", &d, &"config.json"]), Some(b"0123456789"));
    assert_eq!(run.code, 0, "{run:?}");
    assert_eq!(std::fs::read(sb.root.join("config.json")).unwrap(), b"0123456789");
}

both_resolvers! {
    /// THREATS CLI-2: stdin over --max-bytes writes nothing.
    cli_2_stdin_over_max_bytes_writes_nothing =>
    cli_2_stdin_over_max_bytes_writes_nothing_openat2, cli_2_stdin_over_max_bytes_writes_nothing_walk
}

/// THREATS CLI-2 / FS-7: a missing DIR (or a DIR under a missing parent) is
/// "not found" (exit 4) for every subcommand, names the first missing
/// directory, and
/// creates nothing — `write --parents` and `mkdir` do not create DIR.
fn cli_2_missing_dir_is_not_found(r: Resolver) {
    let sb = sandbox();
    // (DIR, the first missing component, which the error names)
    let cases = [
        (sb.tmp().join("nope"), sb.tmp().join("nope")),
        (sb.tmp().join("nope/deeper"), sb.tmp().join("nope")),
        (sb.root.join("absent-dir"), sb.root.join("absent-dir")),
    ];
    for (missing, first) in cases {
        let d = missing.clone().into_os_string();
        let shown = first.display().to_string();
        let why = ["no such file", &shown];
        expect_bad(&sb, r, &args(&[&"fs", &"write", &d, &"x"]), Some(b"x"), EXIT_NOT_FOUND, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"write", &"--parents", &d, &"a/x"]), Some(b"x"), EXIT_NOT_FOUND, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"read", &d, &"x"]), None, EXIT_NOT_FOUND, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"mkdir", &d, &"x"]), None, EXIT_NOT_FOUND, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"rm", &d, &"x"]), None, EXIT_NOT_FOUND, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"ls", &d]), None, EXIT_NOT_FOUND, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"mv", &d, &"x", &"y"]), None, EXIT_NOT_FOUND, &why);
    }
    // A DIR that is a file is not "missing": an operational error (exit 1).
    let file = sb.root.join("config.json").into_os_string();
    expect_bad(&sb, r, &args(&[&"fs", &"write", &file, &"x"]), Some(b"x"), EXIT_FAILED, &["not a directory"]);
    expect_bad(&sb, r, &args(&[&"fs", &"read", &file, &"x"]), None, EXIT_FAILED, &["not a directory"]);
}

both_resolvers! {
    /// THREATS CLI-2: a missing DIR is not-found (exit 4) and nothing is
    /// created.
    cli_2_missing_dir_is_not_found =>
    cli_2_missing_dir_is_not_found_openat2, cli_2_missing_dir_is_not_found_walk
}

/// Every subcommand against `dir`, expecting a security refusal whose line
/// contains `needles`.
fn all_refused(sb: &Sandbox, r: Resolver, dir: &Path, needles: &[&str]) {
    let d = dir.as_os_str().to_owned();
    expect_bad(sb, r, &args(&[&"fs", &"write", &d, &"config.json"]), Some(b"PWNED"), EXIT_REFUSED, needles);
    expect_bad(sb, r, &args(&[&"fs", &"write", &"--parents", &d, &"a/b"]), Some(b"x"), EXIT_REFUSED, needles);
    expect_bad(sb, r, &args(&[&"fs", &"read", &d, &"config.json"]), None, EXIT_REFUSED, needles);
    expect_bad(sb, r, &args(&[&"fs", &"mkdir", &d, &"x"]), None, EXIT_REFUSED, needles);
    expect_bad(sb, r, &args(&[&"fs", &"rm", &d, &"config.json"]), None, EXIT_REFUSED, needles);
    expect_bad(sb, r, &args(&[&"fs", &"ls", &d]), None, EXIT_REFUSED, needles);
    expect_bad(sb, r, &args(&[&"fs", &"mv", &d, &"config.json", &"y"]), None, EXIT_REFUSED, needles);
}

/// THREATS CLI-2 / FS-5: an insecure DIR — world-writable, group-writable,
/// owned by another user, or under a world-writable (non-sticky) ancestor —
/// is refused (exit 3) by every subcommand, with the directory, its owner,
/// its mode and the fix on the one line; nothing changes (not even the
/// mode: gw never "fixes" it by itself).
fn cli_2_insecure_dir_is_refused(r: Resolver) {
    let sb = sandbox();
    let shown = sb.root.display().to_string();
    for mode in [0o777, 0o770] {
        chmod(&sb.root, mode);
        let m = format!("mode {mode:04o}");
        all_refused(&sb, r, &sb.root, &[&shown, "owner uid 0", &m, "chmod go-w"]);
    }
    chmod(&sb.root, 0o700);
    chown(&sb.root, NOBODY);
    all_refused(&sb, r, &sb.root, &[&shown, "owner uid 65534", "chown"]);
    chown(&sb.root, 0);

    let sb = sandbox();
    let anc = sb.tmp().join("shared");
    mkdir(&anc, 0o777);
    std::fs::rename(&sb.root, anc.join("root")).unwrap();
    let anc_shown = anc.display().to_string();
    all_refused(&sb, r, &anc.join("root"), &[&anc_shown, "mode 0777", "chmod go-w"]);
}

both_resolvers! {
    /// THREATS CLI-2: an insecure DIR is refused (exit 3) and nothing changes.
    cli_2_insecure_dir_is_refused =>
    cli_2_insecure_dir_is_refused_openat2, cli_2_insecure_dir_is_refused_walk
}

/// THREATS CLI-2 / FS-5: `mkdir --mode` with group/other write (a mode gw
/// would then refuse to use) is refused (exit 3) and creates nothing, not
/// even the missing parents.
fn cli_2_mkdir_with_insecure_mode_creates_nothing(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    for mode in ["777", "775", "0757"] {
        for rel in ["new", "a/b/c", "sub/new"] {
            let argv = args(&[&"fs", &"mkdir", &"--mode", &mode, &d, &rel]);
            expect_bad(&sb, r, &argv, None, EXIT_REFUSED, &["writable by group or others", "nothing was created"]);
        }
    }
}

both_resolvers! {
    /// THREATS CLI-2: mkdir with an insecure mode creates nothing.
    cli_2_mkdir_with_insecure_mode_creates_nothing =>
    cli_2_mkdir_with_insecure_mode_creates_nothing_openat2, cli_2_mkdir_with_insecure_mode_creates_nothing_walk
}

/// THREATS CLI-2 / FS-1 / FS-2: a symlink at the target (to an outside file,
/// dangling into outside) or on the way (to an outside directory) is refused
/// (exit 3) by write, read, mkdir, mv (either side) and ls; the link, its
/// target and everything else are unchanged. A FIFO at the target is refused
/// too (exit 3), without blocking.
fn cli_2_symlink_at_target_is_refused(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let why = ["symbolic link"];
    for link in ["link.json", "dangling.json", "ldir/secret", "ldir/new.json"] {
        expect_bad(&sb, r, &args(&[&"fs", &"write", &d, &link]), Some(b"PWNED"), EXIT_REFUSED, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"write", &"--parents", &d, &link]), Some(b"PWNED"), EXIT_REFUSED, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"read", &d, &link]), None, EXIT_REFUSED, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"mkdir", &d, &link]), None, EXIT_REFUSED, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"mv", &d, &"config.json", &link]), None, EXIT_REFUSED, &why);
        expect_bad(&sb, r, &args(&[&"fs", &"mv", &d, &link, &"stolen.json"]), None, EXIT_REFUSED, &why);
    }
    expect_bad(&sb, r, &args(&[&"fs", &"ls", &d, &"ldir"]), None, EXIT_REFUSED, &why);
    expect_bad(&sb, r, &args(&[&"fs", &"rm", &d, &"ldir/secret"]), None, EXIT_REFUSED, &why);
    expect_bad(&sb, r, &args(&[&"fs", &"mkdir", &d, &"ldir/x/y"]), None, EXIT_REFUSED, &why);

    let why = ["FIFO"];
    expect_bad(&sb, r, &args(&[&"fs", &"read", &d, &"fifo"]), None, EXIT_REFUSED, &why);
    expect_bad(&sb, r, &args(&[&"fs", &"write", &d, &"fifo"]), Some(b"x"), EXIT_REFUSED, &why);
}

both_resolvers! {
    /// THREATS CLI-2: a symlink at the target is refused (exit 3) and
    /// nothing changes.
    cli_2_symlink_at_target_is_refused =>
    cli_2_symlink_at_target_is_refused_openat2, cli_2_symlink_at_target_is_refused_walk
}

/// THREATS CLI-2: with `--json`, a refusal is also a JSON object on stdout
/// (`ok: false`, the exit code, the error kind, path and fix), the exit code
/// is the same, stderr is still one line, and nothing changes.
fn cli_2_json_errors_are_machine_readable(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let cases: [(&[&dyn AsRef<std::ffi::OsStr>], i32, &str); 5] = [
        (&[&"fs", &"write", &d, &"/etc/passwd"], EXIT_USAGE, "escape"),
        (&[&"fs", &"write", &d, &"link.json"], EXIT_REFUSED, "symlink"),
        (&[&"fs", &"read", &d, &"absent.json"], EXIT_NOT_FOUND, "not_found"),
        (&[&"fs", &"write", &d, &"x/"], EXIT_USAGE, "invalid_path"),
        (&[&"fs", &"write", &"--max-bytes", &"1", &d, &"config.json"], EXIT_USAGE, "usage"),
    ];
    for (argv, code, kind) in cases {
        let mut argv = args(argv);
        argv.insert(0, "--json".into());
        let before = snapshot(sb.tmp());
        let run = gw(r, &argv, Some(b"more than one byte"));
        assert_eq!(run.code, code, "{argv:?}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{argv:?}: {run:?}");
        let v: serde_json::Value = serde_json::from_str(run.stdout.trim())
            .unwrap_or_else(|e| panic!("{argv:?}: stdout is not one JSON object ({e}): {:?}", run.stdout));
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(v["exit_code"], code, "{v}");
        assert_eq!(v["error"]["kind"], kind, "{v}");
        assert!(v["error"]["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
        assert_same_tree(&before, &snapshot(sb.tmp()), &format!("{argv:?}"));
    }
}

both_resolvers! {
    /// THREATS CLI-2: errors are machine-readable with --json.
    cli_2_json_errors_are_machine_readable =>
    cli_2_json_errors_are_machine_readable_openat2, cli_2_json_errors_are_machine_readable_walk
}

/// THREATS CLI-2: malformed command lines — a bad `--mode`, a missing
/// argument, an unknown subcommand, flag or resolver — are usage errors
/// (exit 2) that change nothing, reported like every gw error: one line on
/// stderr starting `gw: error: usage:`.
fn cli_2_malformed_command_line_changes_nothing(r: Resolver) {
    let sb = sandbox();
    let d = dir_of(&sb);
    let cases: [&[&dyn AsRef<std::ffi::OsStr>]; 8] = [
        &[&"fs", &"write", &"--mode", &"999", &d, &"config.json"],
        &[&"fs", &"write", &"--mode", &"rw", &d, &"config.json"],
        &[&"fs", &"mkdir", &"--mode", &"17777", &d, &"x"],
        &[&"fs", &"write", &d],
        &[&"fs", &"write", &"--max-bytes", &"-1", &d, &"config.json"],
        &[&"fs", &"shred", &d, &"config.json"],
        &[&"fs", &"write", &"--force", &d, &"config.json"],
        &[&"fs", &"mv", &d, &"config.json"],
    ];
    for argv in cases {
        let argv = args(argv);
        let before = snapshot(sb.tmp());
        let run = gw(r, &argv, Some(b"PWNED"));
        assert_eq!(run.code, EXIT_USAGE, "{argv:?}: {run:?}");
        assert!(run.stderr.starts_with("gw: error: usage: "), "{argv:?}: {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "{argv:?}: one line: {run:?}");
        assert!(run.stdout.is_empty(), "{argv:?}: {run:?}");
        assert_same_tree(&before, &snapshot(sb.tmp()), &format!("{argv:?}"));

        // With --json, the same usage error is also a JSON object on stdout.
        let mut with_json = argv.clone();
        with_json.insert(0, "--json".into());
        let run = gw(r, &with_json, Some(b"PWNED"));
        assert_eq!(run.code, EXIT_USAGE, "{with_json:?}: {run:?}");
        assert!(run.stderr.starts_with("gw: error: usage: "), "{with_json:?}: {run:?}");
        let v: serde_json::Value =
            serde_json::from_str(run.stdout.trim()).unwrap_or_else(|e| panic!("{with_json:?}: {e}: {run:?}"));
        assert_eq!(v["ok"], false, "{v}");
        assert_eq!(v["exit_code"], 2, "{v}");
        assert_eq!(v["error"]["kind"], "usage", "{v}");
        assert!(!v["error"]["message"].as_str().unwrap_or("").is_empty(), "{v}");
        assert_same_tree(&before, &snapshot(sb.tmp()), &format!("{with_json:?}"));
    }
}

both_resolvers! {
    /// THREATS CLI-2: malformed command lines are usage errors and change
    /// nothing.
    cli_2_malformed_command_line_changes_nothing =>
    cli_2_malformed_command_line_changes_nothing_openat2, cli_2_malformed_command_line_changes_nothing_walk
}
