//! `gw doctor` on the real binary: each test plants one problem in a real
//! home (made by `gw profile init`) and checks that the doctor reports it
//! with the right severity, threat id and an exact fix — and, where the fix
//! is a plain command, that running it makes the finding go away. Named by
//! the THREATS id the finding is about:
//!
//! - FS-4: a root secret readable by others (high, `chmod 600`).
//! - FS-1: a symlink or a FIFO where a document belongs (high, `rm --`).
//! - FS-5: a group-writable profile directory, a world-writable home, a
//!   secret owned by another uid (high); the doctor run as uid 65534 judges
//!   by that uid.
//! - FS-3: the temp file of an interrupted write (low; info while recent).
//! - LEASE-1 / LEASE-2: a lease of a dead pid (low, `gw lease prune DIR`);
//!   a live one of this process is kept silently.
//! - PORT-1: a configured gateway's port held by a process that is not its
//!   `gw serve` (no pidfile, or a pidfile naming another process): high.
//! - CRED-9: credentials referenced in a keyring that is unavailable.
//! - CLI-2: the doctor changes nothing on disk (tree, inodes and times
//!   compared before and after), on a home full of planted problems.
//!
//! The keyring probe is off (`--no-keyring-probe`) except where it is the
//! subject; kernel findings (fs.protected_*) are medium/low by design and
//! never decide the exit code.

use gw_test_support as common;

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, SystemTime};

use common::{NOBODY, assert_same_tree, chmod, chown, mkfifo, snapshot, symlink};
use gw_test_support::cli::{EXIT_OK, EXIT_REFUSED, Gw};
use serde_json::Value;

const GW: &str = env!("CARGO_BIN_EXE_gw");
/// The longest one doctor run may take (it must never block, e.g. on a FIFO).
const TIMEOUT: Duration = Duration::from_secs(30);

/// A private temp dir holding `home/` (made by `gw profile init`).
struct Env {
    tmp: tempfile::TempDir,
    home: PathBuf,
}

impl Env {
    /// An empty sandbox; the home does not exist yet.
    fn empty() -> Self {
        let tmp = gw_test_support::private_tempdir("gw-doctor-");
        let home = tmp.path().join("home");
        Self { tmp, home }
    }

    /// A home with profile `default` on a port nothing listens on.
    fn with_profile() -> Self {
        let env = Self::empty();
        env.init("default", free_port());
        env
    }

    fn init(&self, name: &str, port: u16) {
        let out = self.gw(&["profile", "init", name, "--port", &port.to_string()]);
        assert!(out.0 == 0, "profile init {name}: {}", out.2);
    }

    fn profile(&self, name: &str) -> PathBuf {
        self.home.join("profiles").join(name)
    }

    /// Runs gw with GW_HOME set; (code, stdout, stderr).
    fn gw(&self, args: &[&str]) -> (i32, String, String) {
        run(Gw::new(GW).args(args).home(&self.home))
    }

    /// `gw --json doctor --no-keyring-probe ARGS`: (code, report).
    fn doctor(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--json", "doctor", "--no-keyring-probe"];
        all.extend_from_slice(args);
        let (code, stdout, stderr) = self.gw(&all);
        let v: Value = serde_json::from_str(&stdout)
            .unwrap_or_else(|e| panic!("doctor --json is not JSON ({e}):\n{stdout}\nstderr:\n{stderr}"));
        (code, v)
    }
}

/// Runs a command with a timeout (killed after [`TIMEOUT`]).
fn run(cmd: Gw) -> (i32, String, String) {
    cmd.timeout(TIMEOUT).run().triple()
}

/// A loopback port nothing listens on (bound, then released).
fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn findings(v: &Value) -> &Vec<Value> {
    v["findings"].as_array().expect("findings[]")
}

/// The findings about `subject` (exact match).
fn about<'a>(v: &'a Value, subject: &str) -> Vec<&'a Value> {
    findings(v).iter().filter(|f| f["subject"] == subject).collect()
}

/// The one finding about `path`, which must have `severity` and `threat`.
fn expect_finding<'a>(v: &'a Value, path: &Path, severity: &str, threat: &str) -> &'a Value {
    let subject = path.display().to_string();
    let found = about(v, &subject);
    assert_eq!(found.len(), 1, "expected one finding about {subject}, report:\n{v:#}");
    let f = found[0];
    assert_eq!(f["severity"], severity, "{f:#}");
    assert_eq!(f["threat"], threat, "{f:#}");
    for field in ["what", "why", "fix"] {
        assert!(!f[field].as_str().unwrap_or("").is_empty(), "{field} is empty: {f:#}");
    }
    f
}

/// Findings other than the kernel's (which depend on the machine).
fn non_kernel(v: &Value) -> Vec<&Value> {
    findings(v).iter().filter(|f| f["check"] != "kernel").collect()
}

/// Runs a finding's fix (the command before any `#` comment) with sh.
fn apply_fix(f: &Value) {
    let fix = f["fix"].as_str().unwrap();
    let cmd = fix.split("   #").next().unwrap();
    let (code, out, err) = run(Gw::new("sh").args(["-c", cmd]));
    assert_eq!(code, 0, "fix `{cmd}` failed: {out}{err}");
}

#[test]
fn fs_5_clean_home_exits_0_with_no_finding_but_the_kernels() {
    let env = Env::with_profile();
    env.init("dev", free_port());
    let (code, v) = env.doctor(&[]);
    assert_eq!(code, EXIT_OK, "{v:#}");
    assert!(non_kernel(&v).is_empty(), "a fresh home has no finding: {v:#}");
    assert_eq!(v["home_exists"], true);
    assert_eq!(v["profiles"], serde_json::json!(["default", "dev"]));
    // Kernel findings are reported, but never high: gw does not rely on them.
    for f in findings(&v) {
        assert_ne!(f["severity"], "high", "{f:#}");
    }
    let (code, v) = env.doctor(&["--skip-kernel"]);
    assert_eq!(code, EXIT_OK);
    assert!(findings(&v).is_empty(), "{v:#}");
}

#[test]
fn fs_4_root_key_readable_by_others_is_high_and_the_chmod_fixes_it() {
    let env = Env::with_profile();
    let key = env.profile("default").join("root.key");
    chmod(&key, 0o644);
    let (code, v) = env.doctor(&[]);
    assert_eq!(code, EXIT_REFUSED, "{v:#}");
    let f = expect_finding(&v, &key, "high", "FS-4");
    assert_eq!(f["fix"], format!("chmod 600 {}", key.display()));
    assert_eq!(v["summary"]["exit_code"], EXIT_REFUSED);
    assert_eq!(v["ok"], false);
    apply_fix(f);
    let (code, v) = env.doctor(&[]);
    assert_eq!(code, EXIT_OK, "{v:#}");
    assert!(non_kernel(&v).is_empty(), "{v:#}");
}

#[test]
fn fs_4_credentials_file_readable_by_group_is_high() {
    let env = Env::with_profile();
    let (c, _, e) = run(Gw::new("sh")
        .args(["-c", &format!("printf token | {GW} cred set ws://127.0.0.1:18789 --shared")])
        .home(&env.home));
    assert_eq!(c, 0, "{e}");
    let creds = env.profile("default").join("credentials.json");
    chmod(&creds, 0o640);
    let (code, v) = env.doctor(&[]);
    assert_eq!(code, EXIT_REFUSED, "{v:#}");
    expect_finding(&v, &creds, "high", "FS-4");
}

#[test]
fn fs_1_symlinked_credentials_json_is_high_and_its_target_is_untouched() {
    let env = Env::with_profile();
    let outside = env.tmp.path().join("victim");
    std::fs::write(&outside, b"victim\n").unwrap();
    let link = env.profile("default").join("credentials.json");
    symlink(&outside, &link);
    let (code, v) = env.doctor(&[]);
    assert_eq!(code, EXIT_REFUSED, "{v:#}");
    let f = expect_finding(&v, &link, "high", "FS-1");
    assert!(f["what"].as_str().unwrap().contains(&outside.display().to_string()), "{f:#}");
    apply_fix(f);
    assert_eq!(std::fs::read(&outside).unwrap(), b"victim\n", "the fix removes the link, never its target");
    assert!(std::fs::symlink_metadata(&link).is_err());
    assert_eq!(env.doctor(&[]).0, EXIT_OK);
}

#[test]
fn fs_1_fifo_at_root_key_is_high_and_never_opened() {
    let env = Env::with_profile();
    let key = env.profile("default").join("root.key");
    std::fs::remove_file(&key).unwrap();
    mkfifo(&key);
    // A doctor that opened it would block here (run() times out and fails).
    let (code, v) = env.doctor(&[]);
    assert_eq!(code, EXIT_REFUSED, "{v:#}");
    let f = expect_finding(&v, &key, "high", "FS-1");
    assert_eq!(f["fix"], format!("rm -- {}", key.display()));
}

#[test]
fn fs_5_group_writable_profile_dir_is_high_with_chmod_700() {
    let env = Env::with_profile();
    let dir = env.profile("default");
    chmod(&dir, 0o770);
    let (code, v) = env.doctor(&[]);
    assert_eq!(code, EXIT_REFUSED, "{v:#}");
    let f = expect_finding(&v, &dir, "high", "FS-5");
    assert_eq!(f["fix"], format!("chmod 700 {}", dir.display()));
    apply_fix(f);
    assert_eq!(env.doctor(&[]).0, EXIT_OK);
}

#[test]
fn fs_5_world_writable_home_is_a_high_chain_finding() {
    let env = Env::with_profile();
    chmod(&env.home, 0o777);
    let (code, v) = env.doctor(&[]);
    assert_eq!(code, EXIT_REFUSED, "{v:#}");
    let f = expect_finding(&v, &env.home, "high", "FS-5");
    assert_eq!(f["check"], "chain");
    assert_eq!(f["fix"], format!("chmod 700 {}", env.home.display()));
    // Contents are not judged through an untrusted chain, and the doctor says so.
    let checked = v["checked"].to_string();
    assert!(checked.contains("not audited"), "{checked}");
    apply_fix(f);
    assert_eq!(env.doctor(&[]).0, EXIT_OK);
}

#[test]
fn fs_5_secret_owned_by_another_user_is_high() {
    let env = Env::with_profile();
    let key = env.profile("default").join("root.key");
    chown(&key, NOBODY);
    let (code, v) = env.doctor(&[]);
    assert_eq!(code, EXIT_REFUSED, "{v:#}");
    let f = expect_finding(&v, &key, "high", "FS-5");
    assert!(f["what"].as_str().unwrap().contains(&format!("uid {NOBODY}")), "{f:#}");
}

#[test]
fn fs_3_leftover_temp_file_is_reported_with_rm_and_left_in_place() {
    let env = Env::with_profile();
    // In the home, away from the secrets (beside them: FS-11, in
    // tests/fs_write_faults.rs).
    let dir = env.home.clone();
    let old = dir.join(".gw-tmp.0123456789abcdef0123456789abcdef");
    let fresh = dir.join(".gw-tmp.fedcba9876543210fedcba9876543210");
    std::fs::write(&old, b"half a doc").unwrap();
    std::fs::write(&fresh, b"in flight").unwrap();
    let f = std::fs::File::options().write(true).open(&old).unwrap();
    f.set_modified(SystemTime::now() - Duration::from_secs(3600)).unwrap();
    drop(f);
    let (code, v) = env.doctor(&[]);
    assert_eq!(code, EXIT_OK, "temp files are hygiene, not high: {v:#}");
    let f = expect_finding(&v, &old, "low", "FS-3");
    assert_eq!(f["fix"], format!("rm -- {}", old.display()));
    expect_finding(&v, &fresh, "info", "FS-3");
    assert!(old.exists() && fresh.exists(), "the doctor deletes nothing");
    apply_fix(f);
    assert!(about(&env.doctor(&[]).1, &old.display().to_string()).is_empty());
}

#[test]
fn lease_1_dead_pid_lease_is_reported_and_lease_2_live_one_is_kept() {
    let env = Env::with_profile();
    let reg_dir = env.profile("default").join("leases");
    let reg = gw_lease::Registry::open(&reg_dir).unwrap();
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    let dead_pid = child.id();
    let (guard, _) = reg.register(&gw_lease::Registration::new("dead-child").unwrap().pid(dead_pid).port(1)).unwrap();
    guard.persist();
    let (guard, _) = reg.register(&gw_lease::Registration::new("live-me").unwrap()).unwrap();
    guard.persist();
    child.kill().unwrap();
    child.wait().unwrap();

    let (code, v) = env.doctor(&[]);
    assert_eq!(code, EXIT_OK, "a stale lease is low: {v:#}");
    let dead = reg_dir.join("dead-child.json");
    let f = expect_finding(&v, &dead, "low", "LEASE-1");
    assert!(f["what"].as_str().unwrap().contains(&format!("pid {dead_pid}")), "{f:#}");
    assert_eq!(f["fix"], format!("gw lease prune {}", reg_dir.display()));
    assert!(about(&v, &reg_dir.join("live-me.json").display().to_string()).is_empty(), "LEASE-2: {v:#}");
    assert!(dead.exists(), "the doctor prunes nothing");
}

/// A process listening on a loopback port: (child, port).
fn python_listener() -> (Child, u16) {
    let mut child = Command::new("python3")
        .args([
            "-c",
            "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\n\
             print(s.getsockname()[1],flush=True)\ntime.sleep(120)",
        ])
        .stdout(Stdio::piped())
        .spawn()
        .expect("python3");
    let mut line = String::new();
    BufReader::new(child.stdout.as_mut().unwrap()).read_line(&mut line).unwrap();
    (child, line.trim().parse().unwrap())
}

#[test]
fn port_1_foreign_listener_on_a_gateways_port_is_high() {
    // No pidfile, and this test process listens on the profile's port.
    let env = Env::empty();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    env.init("default", port);
    let (code, v) = env.doctor(&[]);
    assert_eq!(code, EXIT_REFUSED, "{v:#}");
    let subject = format!("port {port} (profile default)");
    let f = about(&v, &subject);
    assert_eq!(f.len(), 1, "{v:#}");
    assert_eq!(f[0]["severity"], "high");
    assert_eq!(f[0]["threat"], "PORT-1");
    assert!(f[0]["fix"].as_str().unwrap().contains(&format!("ss -ltnp 'sport = :{port}'")), "{:#}", f[0]);
    drop(l);
    // Nothing listens any more: clean. A child another test thread is
    // spawning may hold a copy of the socket until its exec closes it (the
    // kernel keeps listening while any process holds it), so allow it a
    // bounded moment to go.
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let (code, v) = env.doctor(&[]);
        if code == EXIT_OK {
            break;
        }
        assert!(std::time::Instant::now() < until, "the port still looks held 10 s after the listener closed: {v:#}");
        std::thread::sleep(std::time::Duration::from_millis(200));
    }
}

#[test]
fn port_1_pidfile_of_another_process_is_high_and_of_the_holder_is_clean() {
    let (mut holder, port) = python_listener();
    let mut other = Command::new("sleep").arg("60").spawn().unwrap();
    let env = Env::empty();
    env.init("default", port);
    let pidfile = env.profile("default").join("serve.pid");
    let subject = format!("port {port} (profile default)");

    // The pidfile names the process that holds the port: owned, no finding.
    std::fs::write(&pidfile, format!("{}\n", holder.id())).unwrap();
    chmod(&pidfile, 0o644);
    let (code, v) = env.doctor(&[]);
    assert_eq!(code, EXIT_OK, "{v:#}");
    assert!(about(&v, &subject).is_empty(), "{v:#}");
    assert!(v["checked"].to_string().contains(&format!("belongs to gw serve (pid {})", holder.id())), "{v:#}");

    // The pidfile names another live process: the holder is foreign.
    std::fs::write(&pidfile, format!("{}\n", other.id())).unwrap();
    let (code, v) = env.doctor(&[]);
    assert_eq!(code, EXIT_REFUSED, "{v:#}");
    let f = about(&v, &subject);
    assert_eq!(f.len(), 1, "{v:#}");
    assert_eq!((f[0]["severity"].as_str(), f[0]["threat"].as_str()), (Some("high"), Some("PORT-1")));

    holder.kill().unwrap();
    holder.wait().unwrap();
    other.kill().unwrap();
    other.wait().unwrap();
    // Nobody listens and the pidfile's pid is gone: a stale pidfile (low).
    let (code, v) = env.doctor(&[]);
    assert_eq!(code, EXIT_OK, "{v:#}");
    let f = about(&v, &subject);
    assert_eq!(f.len(), 1, "{v:#}");
    assert_eq!(f[0]["severity"], "low");
    assert_eq!(f[0]["fix"], format!("rm -- {}", pidfile.display()));
}

#[test]
fn cred_9_credentials_in_an_unavailable_keyring_are_reported() {
    let env = Env::with_profile();
    let creds = env.profile("default").join("credentials.json");
    let doc = serde_json::json!({
        "version": 1,
        "gateways": { "ws://127.0.0.1:18789": { "generation": 0, "shared": {
            "keyring": "secret-service", "service": "gw-cred", "account": "default/ws://127.0.0.1:18789/shared/00" } } }
    });
    std::fs::write(&creds, serde_json::to_vec(&doc).unwrap()).unwrap();
    chmod(&creds, 0o600);
    // The probe runs, against a D-Bus address where nothing answers.
    let (code, stdout, _) = run(Gw::new(GW)
        .args(["--json", "doctor", "--skip-kernel"])
        .home(&env.home)
        .env("DBUS_SESSION_BUS_ADDRESS", format!("unix:path={}", env.tmp.path().join("no-bus").display())));
    let v: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(code, EXIT_OK, "unreachable credentials are medium: {v:#}");
    let f = about(&v, "profile default");
    assert_eq!(f.len(), 1, "{v:#}");
    assert_eq!((f[0]["severity"].as_str(), f[0]["threat"].as_str()), (Some("medium"), Some("CRED-9")));
    assert!(v["checked"].to_string().contains("secret-service is unavailable"), "{v:#}");
}

#[test]
fn missing_home_is_info_exits_0_and_creates_nothing() {
    let env = Env::empty();
    let (code, v) = env.doctor(&[]);
    assert_eq!(code, EXIT_OK, "{v:#}");
    assert_eq!(v["home_exists"], false);
    let f = expect_finding(&v, &env.home, "info", "CRED-8");
    assert_eq!(f["fix"], "gw profile init default");
    assert!(!env.home.exists(), "the doctor creates no home");
    // The directory it would be created in is audited too: trusted here.
    assert!(v["checked"].to_string().contains("all trusted"), "{v:#}");
}

#[test]
fn json_report_shape() {
    let env = Env::with_profile();
    chmod(&env.profile("default").join("root.key"), 0o604);
    let (_, v) = env.doctor(&[]);
    assert!(v.is_object());
    assert_eq!(v["ok"], false);
    assert_eq!(v["home"], env.home.display().to_string());
    assert!(v["checked"].as_array().unwrap().iter().all(Value::is_string));
    for f in findings(&v) {
        let obj = f.as_object().unwrap();
        let mut keys: Vec<&str> = obj.keys().map(String::as_str).collect();
        keys.sort_unstable();
        assert_eq!(keys, ["check", "fix", "severity", "subject", "threat", "what", "why"], "{f:#}");
        assert!(["info", "low", "medium", "high"].contains(&f["severity"].as_str().unwrap()));
    }
    let s = &v["summary"];
    let n = |k: &str| s[k].as_u64().unwrap();
    assert_eq!(n("high") + n("medium") + n("low") + n("info"), n("total"));
    assert_eq!(n("total") as usize, findings(&v).len());
    assert_eq!(n("high"), 1);
    assert_eq!(n("exit_code"), 3);
}

#[test]
fn only_the_named_profile_is_audited_with_profile() {
    let env = Env::with_profile();
    env.init("dev", free_port());
    let dev_key = env.profile("dev").join("root.key");
    chmod(&dev_key, 0o644);
    let (code, v) = env.doctor(&[]);
    assert_eq!(code, EXIT_REFUSED);
    expect_finding(&v, &dev_key, "high", "FS-4");
    let (code, v) = run_json(&env, &["--profile", "default"]);
    assert_eq!(code, EXIT_OK, "{v:#}");
    assert_eq!(v["profiles"], serde_json::json!(["default"]));
    let (code, v) = run_json(&env, &["--profile", "dev"]);
    assert_eq!(code, EXIT_REFUSED, "{v:#}");
}

fn run_json(env: &Env, global: &[&str]) -> (i32, Value) {
    let mut args: Vec<&str> = global.to_vec();
    args.extend(["--json", "doctor", "--no-keyring-probe"]);
    let (code, out, err) = env.gw(&args);
    (code, serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}")))
}

/// Inode and times of every entry (never following a link).
fn stamps(dir: &Path, out: &mut BTreeMap<PathBuf, (u64, i64, i64, i64, i64)>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        let m = std::fs::symlink_metadata(&path).unwrap();
        out.insert(path.clone(), (m.ino(), m.mtime(), m.mtime_nsec(), m.ctime(), m.ctime_nsec()));
        if m.file_type().is_dir() {
            stamps(&path, out);
        }
    }
}

#[test]
fn cli_2_doctor_changes_nothing_on_a_home_full_of_problems() {
    let env = Env::with_profile();
    env.init("dev", free_port());
    let d = env.profile("default");
    chmod(&d.join("root.key"), 0o644);
    symlink("/etc/passwd", &d.join("credentials.json"));
    std::fs::write(d.join(".gw-tmp.00000000000000000000000000000000"), b"x").unwrap();
    mkfifo(&d.join("pairing.json"));
    std::fs::write(d.join("device-token"), b"t").unwrap();
    chmod(&d.join("device-token"), 0o644);
    chmod(&env.profile("dev"), 0o775);
    std::fs::write(env.profile("dev").join("serve.pid"), b"999999999\n").unwrap();
    let reg = gw_lease::Registry::open(d.join("leases")).unwrap();
    let mut child = Command::new("sleep").arg("60").spawn().unwrap();
    reg.register(&gw_lease::Registration::new("gone").unwrap().pid(child.id())).unwrap().0.persist();
    child.kill().unwrap();
    child.wait().unwrap();

    let before = snapshot(&env.home);
    let mut stamps_before = BTreeMap::new();
    stamps(&env.home, &mut stamps_before);
    let (code, v) = env.doctor(&[]);
    let (code_text, text, _) = env.gw(&["doctor", "--no-keyring-probe"]);
    assert_eq!((code, code_text), (EXIT_REFUSED, EXIT_REFUSED), "{v:#}");
    assert!(text.contains("[high]") && text.contains("fix: chmod 600"), "{text}");
    assert_same_tree(&before, &snapshot(&env.home), "gw doctor");
    let mut stamps_after = BTreeMap::new();
    stamps(&env.home, &mut stamps_after);
    assert_eq!(stamps_before, stamps_after, "inodes or times changed: something was rewritten or chmod-ed");
    // Every planted problem was found.
    for (path, severity) in [
        (d.join("root.key"), "high"),
        (d.join("credentials.json"), "high"),
        // Beside the profile's secrets: above info even while recent (FS-11).
        (d.join(".gw-tmp.00000000000000000000000000000000"), "low"),
        (d.join("pairing.json"), "medium"),
        (d.join("device-token"), "medium"),
        (env.profile("dev"), "high"),
        (d.join("leases/gone.json"), "low"),
    ] {
        let f = about(&v, &path.display().to_string());
        assert_eq!(f.len(), 1, "{}: {v:#}", path.display());
        assert_eq!(f[0]["severity"], severity, "{:#}", f[0]);
    }
}

#[test]
fn fs_5_doctor_run_by_another_user_judges_by_that_users_uid() {
    // A home of uid 65534 beneath a root-owned 0755 directory; the doctor runs as 65534.
    let base = tempfile::Builder::new().prefix("gw-doctor-nobody-").tempdir().unwrap();
    chmod(base.path(), 0o755);
    let env = Env { home: base.path().join("home"), tmp: base };
    env.init("default", free_port());
    let (c, _, e) = run(Gw::new("chown").args(["-R", &format!("{NOBODY}:{NOBODY}")]).arg(&env.home));
    assert_eq!(c, 0, "{e}");
    let as_nobody = |env: &Env| {
        let (code, out, err) = run(Gw::new(GW)
            .args(["--json", "doctor", "--no-keyring-probe", "--skip-kernel"])
            .home(&env.home)
            .as_user(NOBODY));
        (code, serde_json::from_str::<Value>(&out).unwrap_or_else(|e| panic!("{e}: {out}{err}")))
    };
    let (code, v) = as_nobody(&env);
    assert_eq!(code, EXIT_OK, "{v:#}");
    assert!(findings(&v).is_empty(), "{v:#}");
    // root's file in nobody's profile: a secret must be the caller's own.
    let key = env.profile("default").join("root.key");
    chown(&key, 0);
    let (code, v) = as_nobody(&env);
    assert_eq!(code, EXIT_REFUSED, "{v:#}");
    let f = expect_finding(&v, &key, "high", "FS-5");
    assert!(f["what"].as_str().unwrap().contains(&format!("not by you (uid {NOBODY})")), "{f:#}");
}
