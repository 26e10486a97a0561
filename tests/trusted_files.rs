//! Files that decide who gets a secret, and directories gw creates, against
//! another uid (65534), on the real binary.
//!
//! THREATS FS-9: a pidfile (`--pidfile`, the profile's `serve.pid`), a lease
//! record (`--lease DIR --id ID`) and `gw serve --shared-token-file` are
//! trusted only if they are the caller's or root's and not writable by
//! group/other: a 0666 pidfile that uid 65534 rewrote with its own pid must
//! not make `gw port verify` answer owned, nor `gw probe` send the stored
//! credential to uid 65534's listener (which records every byte it gets).
//! Each refusal has a control — the same file with a safe owner and mode —
//! that gets through, so the tests show the mode/owner is what refuses.
//!
//! THREATS FS-10: `gw lease register/list/prune` and `--lease DIR` create
//! nothing through a symlink that uid 65534 planted in a world-writable
//! sticky directory (the link's target is snapshotted), and the read-only
//! commands create nothing at all.

mod serve_support;

use std::collections::BTreeMap;
use std::ffi::OsStr;
use std::io::Write;
use std::net::TcpListener;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde_json::Value;
use serve_support::{EXIT_NOT_FOUND, EXIT_REFUSED, Env, ForeignListener, Run, free_port};

/// The other user.
const NOBODY: u32 = 65534;
const SHARED: &str = "shared-secret-fs9-do-not-leak-4b2e";

fn chmod(p: &Path, mode: u32) {
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode)).unwrap();
}

fn chown(p: &Path, uid: u32) {
    std::os::unix::fs::lchown(p, Some(uid), Some(uid)).unwrap();
}

/// A root-owned temp dir with `mode` (0755: others may traverse it).
fn temp_dir(mode: u32) -> tempfile::TempDir {
    tempfile::Builder::new().prefix("gw-fs9-").permissions(std::fs::Permissions::from_mode(mode)).tempdir().unwrap()
}

/// Helper entry point (not a test of its own): started by the tests below
/// as uid 65534 with `GW_TEST_FS9_PORT`, this test binary listens on that
/// port, writes its own pid into `GW_TEST_FS9_PIDFILE` if given (the
/// attacker's rewrite), plays a gateway up to the challenge and prints every
/// chunk it receives as a `GOT:` line (`serve_support::print_received`).
#[test]
fn fs_9_attacker_child() {
    serve_support::listener_child("GW_TEST_FS9_PORT", || {
        if let Ok(pidfile) = std::env::var("GW_TEST_FS9_PIDFILE") {
            // Rewrite in place (O_TRUNC): the file stays the victim's inode.
            let mut f = std::fs::OpenOptions::new().write(true).truncate(true).open(pidfile).unwrap();
            writeln!(f, "{}", std::process::id()).unwrap();
        }
    });
}

/// A listener of uid 65534 that records what it receives.
struct Attacker(ForeignListener);

impl Attacker {
    fn start(port: u16, pidfile: Option<&Path>) -> Self {
        let port = port.to_string();
        let mut env = vec![("GW_TEST_FS9_PORT", OsStr::new(&port))];
        if let Some(p) = pidfile {
            env.push(("GW_TEST_FS9_PIDFILE", p.as_os_str()));
        }
        Self(ForeignListener::start("fs_9_attacker_child", &env, NOBODY))
    }

    fn pid(&self) -> u32 {
        self.0.pid()
    }

    /// Every `GOT:` line received within `wait`.
    fn received(&self, wait: Duration) -> Vec<String> {
        let mut got = Vec::new();
        while let Ok(line) = self.0.lines.recv_timeout(wait) {
            if line.contains("GOT:") {
                got.push(line);
            }
        }
        got
    }
}

fn assert_refused(r: &Run, fix: &str, what: &str) {
    assert_eq!(r.code, EXIT_REFUSED, "{what}: {r:?}");
    assert!(r.stderr.starts_with("gw: refused: "), "{what}: {r:?}");
    assert!(r.stderr.contains(fix), "{what}: the fix `{fix}` is named: {r:?}");
    assert!(!r.stderr.contains(SHARED) && !r.stdout.contains(SHARED), "{what}: {r:?}");
}

/// THREATS FS-9 (pidfile): in a root-owned 0755 directory, a 0666 pidfile
/// rewritten by uid 65534 with the pid of its own listener is refused by
/// `gw port verify --pidfile` (exit 3, with the fix) and by `gw probe
/// --pidfile`, which sends **zero bytes** to that listener; so is the same
/// pidfile owned by uid 65534 (mode 0644). Control: the same content in a
/// root-owned 0644 pidfile is accepted (verify says owned, probe sends).
#[test]
fn fs_9_pidfile_rewritten_by_another_uid_is_refused() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let url = format!("ws://127.0.0.1:{port}");
    env.store("p", &url, "--shared", SHARED);
    let run = temp_dir(0o755);
    let pidfile = run.path().join("gw.pid");
    std::fs::write(&pidfile, "1\n").unwrap();
    chmod(&pidfile, 0o666);
    let attacker = Attacker::start(port, Some(&pidfile));
    assert_eq!(std::fs::read_to_string(&pidfile).unwrap(), format!("{}\n", attacker.pid()), "the attacker wrote it");
    let md = std::fs::metadata(&pidfile).unwrap();
    assert_eq!((md.uid(), md.mode() & 0o777), (0, 0o666));
    let p = pidfile.to_str().unwrap();
    let port_s = port.to_string();

    let r = env.run(&["port", "verify", &port_s, "--pidfile", p], None);
    assert_refused(&r, "chmod go-w", "port verify, 0666 pidfile");
    assert!(r.stderr.contains("0666"), "the mode is named: {r:?}");
    let r = env.run(&["--profile", "p", "probe", &url, "--pidfile", p], None);
    assert_refused(&r, "chmod go-w", "probe, 0666 pidfile");
    let got = attacker.received(Duration::from_millis(500));
    assert!(got.is_empty(), "the attacker's listener received {got:?}");

    // Owned by the attacker (it could rewrite it at will), mode 0644.
    chmod(&pidfile, 0o644);
    chown(&pidfile, NOBODY);
    let r = env.run(&["port", "verify", &port_s, "--pidfile", p], None);
    assert_refused(&r, &format!("chown {}", rustix::process::geteuid().as_raw()), "port verify, foreign pidfile");
    assert!(r.stderr.contains(&format!("uid {NOBODY}")), "the owner is named: {r:?}");
    let r = env.run(&["--profile", "p", "probe", &url, "--pidfile", p], None);
    assert_refused(&r, "chown", "probe, foreign pidfile");
    let got = attacker.received(Duration::from_millis(500));
    assert!(got.is_empty(), "the attacker's listener received {got:?}");

    // Control: the very same content, root's own 0644 file, is trusted: the
    // only difference above was the owner/mode.
    chown(&pidfile, 0);
    let r = env.run(&["port", "verify", &port_s, "--pidfile", p], None);
    assert_eq!(r.code, 0, "control: {r:?}");
    let r = env.run(&["--profile", "p", "probe", &url, "--timeout", "1s", "--pidfile", p], None);
    assert_eq!(r.code, 1, "control: the recorder answers no hello: {r:?}");
    let got = attacker.received(Duration::from_secs(2));
    assert!(got.iter().any(|l| l.contains(SHARED)), "control: the credential reached it: {got:?}");
}

/// THREATS FS-9 (`serve.pid`): the profile's own pidfile, made 0666 and
/// rewritten with uid 65534's listener's pid, is refused by `gw probe`
/// without a URL (zero bytes sent) and reported by
/// `gw doctor` (a high finding, FS-9).
#[test]
fn fs_9_profile_serve_pid_writable_by_others_is_refused() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let url = format!("ws://127.0.0.1:{port}");
    env.store("p", &url, "--shared", SHARED);
    let pidfile = env.profile_dir("p").join("serve.pid");
    std::fs::write(&pidfile, "1\n").unwrap();
    chmod(&pidfile, 0o666);
    // Nothing listens yet: the refused pidfile is a finding of its own.
    let doctor_port_finding = |r: &Run| {
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "port" && f["threat"] == "FS-9" && f["what"].as_str().unwrap().contains("0666"))
    };
    let r = env.run(&["--json", "doctor", "--no-keyring-probe"], None);
    assert_eq!(r.code, EXIT_REFUSED, "{r:?}");
    assert!(doctor_port_finding(&r), "doctor reports the refused serve.pid: {}", r.stdout);
    let attacker = Attacker::start(port, None);
    std::fs::write(&pidfile, format!("{}\n", attacker.pid())).unwrap();
    chmod(&pidfile, 0o666);

    let r = env.run(&["--profile", "p", "probe"], None);
    assert_refused(&r, "chmod go-w", "probe of the profile's gateway");
    let got = attacker.received(Duration::from_millis(500));
    assert!(got.is_empty(), "the attacker's listener received {got:?}");
    let r = env.run(&["--json", "doctor", "--no-keyring-probe"], None);
    assert_eq!(r.code, EXIT_REFUSED, "{r:?}");
    assert!(doctor_port_finding(&r), "doctor reports the refused serve.pid: {}", r.stdout);

    // Control: the same content, 0644: the pidfile is trusted and names the
    // attacker (so gw proceeds — to a listener that is the pidfile's).
    chmod(&pidfile, 0o644);
    let r = env.run(&["--profile", "p", "probe", "--timeout", "1s"], None);
    assert_eq!(r.code, 1, "control: {r:?}");
    let got = attacker.received(Duration::from_secs(2));
    assert!(got.iter().any(|l| l.contains(SHARED)), "control: the credential reached it: {got:?}");
}

/// A listener held by this test process (the lease's process).
fn own_listener() -> (TcpListener, u16) {
    let l = TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = l.local_addr().unwrap().port();
    (l, port)
}

/// THREATS FS-9 (lease record): a record of a registry whose mode was
/// widened (0666), or that another uid owns, is refused by `--lease DIR --id
/// ID` (exit 3, with the fix), listed as refused by `gw lease list` (even
/// without --all) and `gw lease prune` (exit 3, left in place), and reported
/// by `gw doctor` (high, FS-9). Control: the record as written (0600, ours)
/// proves the port's owner.
#[test]
fn fs_9_lease_record_widened_or_foreign_is_refused_and_reported() {
    let env = Env::new();
    env.profile("p", free_port());
    let (_listener, port) = own_listener();
    let leases = env.profile_dir("p").join("leases");
    let d = leases.to_str().unwrap();
    let me = std::process::id().to_string();
    let port_s = port.to_string();
    let r = env.run(&["lease", "register", d, "--id", "gw", "--pid", &me, "--port", &port_s], None);
    assert_eq!(r.code, 0, "{r:?}");
    let record = leases.join("gw.json");
    assert_eq!(std::fs::metadata(&record).unwrap().mode() & 0o777, 0o600);
    // Control first: the record as gw wrote it names this process.
    let r = env.run(&["port", "verify", &port_s, "--lease", d, "--id", "gw"], None);
    assert_eq!(r.code, 0, "control: {r:?}");

    for (mode, owner, fix) in [(0o666, 0, "chmod go-w"), (0o600, NOBODY, "chown")] {
        chmod(&record, mode);
        chown(&record, owner);
        let before = std::fs::read(&record).unwrap();
        let what = format!("record mode {mode:04o} uid {owner}");
        let r = env.run(&["port", "verify", &port_s, "--lease", d, "--id", "gw"], None);
        assert_refused(&r, fix, &format!("port verify --lease, {what}"));
        assert!(r.stderr.contains("gw.json"), "{what}: the record is named: {r:?}");

        let r = env.run(&["lease", "list", d], None);
        assert_eq!(r.code, EXIT_REFUSED, "{what}: {r:?}");
        assert!(r.stdout.contains("gw.json") && r.stdout.contains("REFUSED"), "{what}: listed as refused: {r:?}");
        let r = env.run(&["--json", "lease", "list", d], None);
        assert_eq!(r.code, EXIT_REFUSED, "{what}: {r:?}");
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        assert_eq!(v["ok"], false, "{what}");
        assert_eq!(v["refused"][0]["name"], "gw.json", "{what}: {v}");
        assert_eq!(v["records"].as_array().unwrap().len(), 0, "{what}: not trusted as a live record: {v}");

        let r = env.run(&["lease", "prune", d], None);
        assert_eq!(r.code, EXIT_REFUSED, "{what}: {r:?}");
        assert!(r.stdout.contains("REFUSED"), "{what}: {r:?}");
        assert_eq!(std::fs::read(&record).unwrap(), before, "{what}: left in place");

        let r = env.run(&["--json", "doctor", "--no-keyring-probe"], None);
        assert_eq!(r.code, EXIT_REFUSED, "{what}: {r:?}");
        let v: Value = serde_json::from_str(&r.stdout).unwrap();
        let found = v["findings"]
            .as_array()
            .unwrap()
            .iter()
            .any(|f| f["check"] == "lease" && f["threat"] == "FS-9" && f["subject"] == record.to_str().unwrap());
        assert!(found, "{what}: doctor reports the record: {}", r.stdout);
    }
}

/// THREATS FS-9 (`gw serve --shared-token-file`): a shared-token file owned
/// by uid 65534 or writable by group/other decides who is let in: `gw
/// serve` refuses it (exit 3, with the fix) before listening. Control: the
/// same file, 0600 and ours, starts the gateway.
#[test]
fn fs_9_shared_token_file_foreign_or_writable_is_refused() {
    let env = Env::new();
    env.profile("p", free_port());
    let file = env.tmp.path().join("shared.token");
    std::fs::write(&file, format!("{SHARED}\n")).unwrap();
    let f = file.to_str().unwrap();
    for (mode, owner, fix) in [(0o666, 0, "chmod go-w"), (0o620, 0, "chmod go-w"), (0o600, NOBODY, "chown")] {
        chmod(&file, mode);
        chown(&file, owner);
        let r = env.run(&["--profile", "p", "serve", "--port", "0", "--shared-token-file", f], None);
        assert_refused(&r, fix, &format!("serve, token file mode {mode:04o} uid {owner}"));
        assert!(r.stderr.contains("shared.token"), "{r:?}");
    }
    chmod(&file, 0o600);
    chown(&file, 0);
    let mut serve = env.serve("p", &["--port", "0", "--shared-token-file", f]);
    let addr = serve.url().trim_start_matches("ws://").parse().unwrap();
    let (_ws, _, hello) = serve_support::connect(addr, Some(SHARED), None).hello();
    assert_eq!(hello["type"], "hello-ok", "control: the shared token works");
    assert!(serve.stop().success());
}

/// Every entry beneath `dir` (not following links), with its type and content.
fn snapshot(dir: &Path) -> BTreeMap<PathBuf, String> {
    let mut out = BTreeMap::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let md = std::fs::symlink_metadata(&p).unwrap();
            let what = if md.is_dir() {
                stack.push(p.clone());
                format!("dir {:o}", md.mode())
            } else if md.file_type().is_symlink() {
                format!("link {:?}", std::fs::read_link(&p).unwrap())
            } else {
                format!("file {:?}", std::fs::read(&p).unwrap())
            };
            out.insert(p, what);
        }
    }
    out
}

/// A root-owned private temp dir holding a world-writable sticky `tmp`
/// (like /tmp) and a root-owned `target` dir, with `tmp/link -> target`
/// owned by uid 65534.
struct StickyLink {
    _base: tempfile::TempDir,
    sticky: PathBuf,
    target: PathBuf,
}

impl StickyLink {
    fn new() -> Self {
        let base = temp_dir(0o700);
        let sticky = base.path().join("tmp");
        std::fs::create_dir(&sticky).unwrap();
        chmod(&sticky, 0o1777);
        let target = base.path().join("target");
        std::fs::create_dir(&target).unwrap();
        chmod(&target, 0o700);
        std::fs::write(target.join("keep"), "x").unwrap();
        let link = sticky.join("link");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        chown(&link, NOBODY);
        Self { _base: base, sticky, target }
    }
}

/// THREATS FS-10: with uid 65534's symlink `STICKY/link -> TARGET` as a
/// parent of the lease directory, `gw lease register`, `list`, `prune`,
/// `port verify --lease` and `probe --lease` are refused (exit 3) and
/// create nothing at the link's target (nor anywhere else), whatever the
/// depth of the missing part.
#[test]
fn fs_10_lease_dir_under_symlinked_parent_creates_nothing() {
    let env = Env::new();
    env.profile("p", free_port());
    let s = StickyLink::new();
    let me = std::process::id().to_string();
    let before = snapshot(&s.target);
    let sticky_before = snapshot(&s.sticky);
    for rel in ["link/reg", "link/a/b/reg"] {
        let dir = s.sticky.join(rel);
        let d = dir.to_str().unwrap();
        let runs: Vec<Vec<&str>> = vec![
            vec!["lease", "register", d, "--id", "x", "--pid", &me],
            vec!["lease", "list", d],
            vec!["lease", "prune", d],
            vec!["port", "verify", "1", "--lease", d, "--id", "x"],
            vec!["--profile", "p", "probe", "ws://127.0.0.1:1", "--lease", d, "--id", "x"],
        ];
        for args in runs {
            let r = env.run(&args, None);
            assert_eq!(r.code, EXIT_REFUSED, "{args:?}: {r:?}");
            assert!(r.stderr.contains("symbolic link") || r.stderr.contains("symlink"), "{args:?}: {r:?}");
            assert_eq!(snapshot(&s.target), before, "{args:?}: nothing created at the link's target");
            assert_eq!(snapshot(&s.sticky), sticky_before, "{args:?}: nothing created in the sticky dir");
        }
    }
}

/// THREATS FS-10: the read-only commands never create: `gw lease list`,
/// `prune` and `--lease` on a missing directory are "not found" (exit 4)
/// and leave no directory behind. `gw lease register` directly in a sticky
/// world-writable directory creates its registry (0700, ours); a directory
/// uid 65534 planted at that name is refused (exit 3), not used.
#[test]
fn fs_10_read_only_lease_commands_create_nothing() {
    let env = Env::new();
    let s = StickyLink::new();
    let missing = s.sticky.join("missing").join("reg");
    let d = missing.to_str().unwrap();
    let sticky_before = snapshot(&s.sticky);
    for args in [
        vec!["lease", "list", d],
        vec!["lease", "prune", d],
        vec!["lease", "prune", d, "--dry-run"],
        vec!["lease", "list", d, "--all"],
        vec!["port", "verify", "1", "--lease", d, "--id", "x"],
    ] {
        let r = env.run(&args, None);
        assert_eq!(r.code, EXIT_NOT_FOUND, "{args:?}: {r:?}");
        assert_eq!(snapshot(&s.sticky), sticky_before, "{args:?}: nothing created");
    }

    // A registrar creates its registry in the sticky dir, 0700 and ours ...
    let me = std::process::id().to_string();
    let reg = s.sticky.join("reg");
    let r = env.run(&["lease", "register", reg.to_str().unwrap(), "--id", "x", "--pid", &me], None);
    assert_eq!(r.code, 0, "{r:?}");
    let md = std::fs::symlink_metadata(&reg).unwrap();
    assert!(md.is_dir());
    assert_eq!((md.uid(), md.mode() & 0o7777), (rustix::process::geteuid().as_raw(), 0o700));
    // ... and refuses one uid 65534 planted there first (or beneath it).
    let planted = s.sticky.join("planted");
    std::fs::create_dir(&planted).unwrap();
    chown(&planted, NOBODY);
    chmod(&planted, 0o700);
    for dir in [planted.clone(), planted.join("reg")] {
        let r = env.run(&["lease", "register", dir.to_str().unwrap(), "--id", "x", "--pid", &me], None);
        assert_eq!(r.code, EXIT_REFUSED, "{r:?}");
        assert!(r.stderr.contains(&format!("uid {NOBODY}")), "{r:?}");
        assert!(std::fs::read_dir(&planted).unwrap().next().is_none(), "nothing created in the planted dir");
    }
}
