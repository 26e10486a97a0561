//! FS-11: failure reporting of the durable write, with faults injected into
//! the real `gw fs write` by `strace -e inject=SYSCALL:error=ERRNO:when=N`
//! (a system call made to fail, as a dying disk or a full kernel would):
//!
//! - the directory `fsync` after the rename fails: the new content is
//!   already published, and the error says so ("the new content is in place
//!   but may not be durable"), with its own kind (`not_durable`);
//! - the rename fails and so does the removal of the temp (a double fault):
//!   the temp (a copy of what was written, maybe a secret) stays; the next
//!   write in that directory removes gw's stale temps — regular files named
//!   `.gw-tmp.<32 hex>`, owned by the caller, older than
//!   `gw_anchor::STALE_TEMP_AGE` and not locked by a live writer — and
//!   leaves every other one; `gw doctor` rates such a temp next to a
//!   profile's secrets above "info";
//! - the random source (`getrandom`) fails: reported as such
//!   (`random_source`), not as an I/O error of the file.
//!
//! Needs `strace` (CI installs it).

use std::fs::File;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use gw_test_support::cli::{self, Gw};
use serde_json::Value;

const GW: &str = env!("CARGO_BIN_EXE_gw");
const NOBODY: u32 = 65534;

fn private_dir() -> (tempfile::TempDir, PathBuf) {
    let tmp = gw_test_support::private_tempdir("gw-fs11-");
    let dir = tmp.path().join("d");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    (tmp, dir)
}

/// `gw --json fs write DIR NAME [EXTRA]` with `content` on stdin, under
/// `strace -f -e inject=...` (or without strace if `inject` is empty).
fn write(dir: &Path, name: &str, content: &[u8], extra: &[&str], inject: &[&str]) -> Output {
    let cmd = if inject.is_empty() {
        Command::new(GW)
    } else {
        let mut c = Command::new("strace");
        c.args(["-f", "-qq", "-o", "/dev/null"]);
        for i in inject {
            c.args(["-e", &format!("inject={i}")]);
        }
        c.arg(GW);
        c
    };
    Gw::wrapping(cmd).args(["--json", "fs", "write"]).arg(dir).arg(name).args(extra).stdin(Some(content)).output()
}

fn error_of(out: &Output) -> Value {
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(&out.stderr)));
    v["error"].clone()
}

fn temps(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.starts_with(".gw-tmp."))
        .collect();
    v.sort();
    v
}

/// Sets the modification time of `path` to `ago` in the past.
fn age(path: &Path, ago: &str) {
    let st = Command::new("touch").args(["-m", "-d", ago]).arg(path).status().unwrap();
    assert!(st.success());
}

#[test]
fn fs_11_a_failed_directory_fsync_says_the_new_content_is_in_place() {
    for &temp in strategies_offered() {
        let (_tmp, dir) = private_dir();
        std::fs::write(dir.join("secret"), b"old").unwrap();
        // fsync #1 is the file's, #2 the directory's after the rename.
        let out = write(&dir, "secret", b"new", &["--temp", temp], &["fsync:error=EIO:when=2"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{temp}: {stderr}");
        assert_eq!(std::fs::read(dir.join("secret")).unwrap(), b"new", "{temp}: the rename happened");
        assert!(
            stderr.contains("the new content is in place but may not be durable"),
            "{temp}: the error must say the content is published: {stderr}"
        );
        assert!(stderr.contains("Input/output error"), "{temp}: and keep its cause: {stderr}");
        assert_eq!(error_of(&out)["kind"], "not_durable", "{temp}");
        assert!(temps(&dir).is_empty(), "{temp}: {:?}", temps(&dir));
    }
}

#[test]
fn fs_11_a_failed_file_fsync_is_a_plain_io_error_and_nothing_is_published() {
    let (_tmp, dir) = private_dir();
    std::fs::write(dir.join("secret"), b"old").unwrap();
    let out = write(&dir, "secret", b"new", &["--temp", "named"], &["fsync:error=EIO:when=1"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(std::fs::read(dir.join("secret")).unwrap(), b"old");
    assert_eq!(error_of(&out)["kind"], "io");
    assert!(!String::from_utf8_lossy(&out.stderr).contains("in place"));
}

#[test]
fn fs_11_a_double_fault_temp_is_removed_by_the_next_write_unless_young_locked_or_foreign() {
    let (_tmp, dir) = private_dir();
    std::fs::write(dir.join("secret"), b"old").unwrap();
    // The rename fails, and so does the cleanup of the temp.
    let out = write(
        &dir,
        "secret",
        b"a copy of the secret",
        &["--temp", "named"],
        &["renameat,renameat2:error=EIO", "unlinkat:error=EIO"],
    );
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(std::fs::read(dir.join("secret")).unwrap(), b"old");
    let left = temps(&dir);
    assert_eq!(left.len(), 1, "the double fault leaves the temp: {left:?}");
    let leftover = dir.join(&left[0]);
    assert_eq!(std::fs::read(&leftover).unwrap(), b"a copy of the secret");
    assert_eq!(std::fs::metadata(&leftover).unwrap().mode() & 0o777, 0o600);

    // A recent leftover may be a write in progress: the next write keeps it.
    assert!(write(&dir, "other", b"x", &[], &[]).status.success());
    assert_eq!(temps(&dir), left, "a young temp is kept");

    // Old: removed by the next write. Beside it, old temps that are not
    // ours to remove: one locked by a live writer (this process), one owned
    // by another uid, and a symlink with a temp's name.
    age(&leftover, "1 hour ago");
    let locked = dir.join(".gw-tmp.0123456789abcdef0123456789abcdef");
    std::fs::write(&locked, b"a live writer's").unwrap();
    age(&locked, "1 hour ago");
    let lock = File::open(&locked).unwrap();
    rustix::fs::flock(&lock, rustix::fs::FlockOperation::LockExclusive).unwrap();
    let foreign = dir.join(".gw-tmp.fedcba9876543210fedcba9876543210");
    std::fs::write(&foreign, b"not ours").unwrap();
    std::os::unix::fs::chown(&foreign, Some(NOBODY), Some(NOBODY)).unwrap();
    age(&foreign, "1 hour ago");
    let link = dir.join(".gw-tmp.00000000000000000000000000000000");
    std::os::unix::fs::symlink(dir.join("secret"), &link).unwrap();

    let out = write(&dir, "other", b"y", &[], &[]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(!leftover.exists(), "the stale temp of the double fault is removed by the next write");
    assert!(locked.exists(), "a temp locked by a live writer is never removed");
    assert!(foreign.exists(), "another uid's temp is not ours to remove");
    assert!(link.symlink_metadata().is_ok(), "a symlink is not a temp");
    assert_eq!(std::fs::read(dir.join("secret")).unwrap(), b"old");
    drop(lock);
}

#[test]
fn fs_11_a_failing_random_source_is_reported_as_such() {
    for &temp in strategies_offered() {
        let (_tmp, dir) = private_dir();
        // getrandom #1 and #2 are the standard library's (its runtime's
        // start, then the hash keys gw draws first thing, see main.rs);
        // every later one fails: the temp name's.
        let out = write(&dir, "secret", b"new", &["--temp", temp], &["getrandom:error=EIO:when=3+"]);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{temp}: {stderr}");
        assert!(stderr.contains("the random source failed"), "{temp}: {stderr}");
        assert_eq!(error_of(&out)["kind"], "random_source", "{temp}");
        assert!(!dir.join("secret").exists(), "{temp}");
        assert!(temps(&dir).is_empty(), "{temp}: {:?}", temps(&dir));
    }
}

#[test]
fn fs_11_doctor_rates_a_leftover_temp_next_to_a_secret_above_info() {
    let tmp = gw_test_support::private_tempdir("gw-fs11-");
    let home = tmp.path().join("home");
    let gw = |args: &[&str]| Gw::new(GW).args(args).home(&home).output();
    assert!(gw(&["profile", "init", "default", "--port", "40121"]).status.success());
    let profile = home.join("profiles/default");
    let temp = profile.join(".gw-tmp.0123456789abcdef0123456789abcdef");
    std::fs::write(&temp, b"a copy of root.key").unwrap();
    std::fs::set_permissions(&temp, std::fs::Permissions::from_mode(0o600)).unwrap();
    let severity = || {
        let out = gw(&["--json", "doctor", "--no-keyring-probe", "--skip-kernel"]);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap();
        let subject = temp.display().to_string();
        let f: Vec<&Value> =
            v["findings"].as_array().unwrap().iter().filter(|f| f["subject"] == subject.as_str()).collect();
        assert_eq!(f.len(), 1, "{v:#}");
        assert_eq!(f[0]["check"], "temp");
        f[0]["severity"].as_str().unwrap().to_owned()
    };
    assert_eq!(severity(), "low", "even a recent temp next to a secret is above info");
    age(&temp, "1 hour ago");
    assert_eq!(severity(), "medium", "a leftover next to a secret may be a copy of it");
}

#[test]
fn fs_11_a_live_writers_temp_is_never_swept_by_another_write_even_when_old() {
    for &temp in strategies_offered() {
        let (_tmp, dir) = private_dir();
        // Writer A stops for 3 s just before its rename: its temp is named,
        // complete, and locked.
        let mut strace = Command::new("strace");
        strace.args(["-f", "-qq", "-o", "/dev/null", "-e", "inject=renameat,renameat2:delay_enter=3000000", GW]);
        let a = Gw::wrapping(strace)
            .args(["fs", "write"])
            .arg(&dir)
            .args(["secret", "--temp", temp])
            .stdin(Some(b"writer A"))
            .spawn();
        let start = std::time::Instant::now();
        let mine = loop {
            if let Some(t) = temps(&dir).first() {
                break dir.join(t);
            }
            assert!(start.elapsed() < std::time::Duration::from_secs(10), "{temp}: writer A made no temp");
            std::thread::sleep(std::time::Duration::from_millis(5));
        };
        // As old as a stale temp: only A's lock protects it now.
        age(&mine, "1 hour ago");
        let b = write(&dir, "other", b"writer B", &[], &[]);
        assert!(b.status.success(), "{}", String::from_utf8_lossy(&b.stderr));
        assert!(mine.exists(), "{temp}: writer B removed the temp of live writer A");
        let a = cli::finish_output(a, cli::TIMEOUT, "writer A");
        assert!(a.status.success(), "{temp}: writer A: {}", String::from_utf8_lossy(&a.stderr));
        assert_eq!(std::fs::read(dir.join("secret")).unwrap(), b"writer A");
        assert!(temps(&dir).is_empty(), "{temp}: {:?}", temps(&dir));
    }
}

/// The temp strategies to fault-inject: the portable backend (macOS's, and
/// Linux's with gw-anchor's `force-portable`) has no `O_TMPFILE`.
fn strategies_offered() -> &'static [&'static str] {
    if gw_anchor::Resolver::Auto.is_portable() { &["named"] } else { &["tmpfile", "named"] }
}
