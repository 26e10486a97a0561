//! THREATS CRED-9 (silent downgrade of storage) against real keyrings: the
//! `gw cred` CLI and the gw-cred library with `--store keyring`,
//! `keyring-or-file` and `file`, on a real Secret Service (gnome-keyring on a
//! private D-Bus session bus) and on the kernel's keyutils.
//!
//! - `cred_9_secret_service_*`: this test binary re-executes itself, filtered
//!   to the one test, as the child of `dbus-run-session -- sh -c
//!   'gnome-keyring-daemon --unlock --components=secrets; exec TEST'` with
//!   HOME and the XDG directories in a private temp dir, so the keyring is
//!   new, unlocked and gone afterwards. Set/get/resolve/handoff/replace-shared/
//!   rm/mirror round-trip through the keyring; `secret-tool` (libsecret, not
//!   gw) confirms what the keyring holds; the credentials file is grepped for
//!   every secret.
//! - `cred_9_fail_closed_*`: `--store keyring` with no Secret Service
//!   reachable (`DBUS_SESSION_BUS_ADDRESS=unix:path=/nonexistent`) or a
//!   locked one is refused (exit 3, which backend, how to fix it) and nothing
//!   is written: the gw home is byte-for-byte unchanged and the live keyring
//!   holds no gw entry; the validator of replace-shared never runs.
//! - `cred_9_keyring_or_file_*`: with the keyring unreachable, the notice is
//!   on stderr **before** the file is written: gw's stderr is a pipe filled
//!   to the brim, so gw blocks inside the notice's write; while it is blocked
//!   there (seen in /proc/PID/syscall), the credentials file does not exist.
//! - `cred_9_keyutils_*`: the same round trips with `--keyring keyutils`,
//!   the test re-executed under `keyctl session -` (a private session
//!   keyring); `keyctl` confirms what the kernel holds.
//!
//! The tools are required, not optional: a missing one fails the test with
//! the Debian packages to install (`.ci/run` installs them).

use std::io::{Read, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use gw_test_support as common;
use gw_test_support::cli::{self, Gw, Run};

const GW: &str = env!("CARGO_BIN_EXE_gw");
/// Set in the re-executed child: which keyring session it runs in.
const CHILD_ENV: &str = "GW_TEST_KEYRING_CHILD";
/// The Debian packages these tests need.
const PACKAGES: &str = "dbus gnome-keyring libsecret-tools keyutils";
const URL: &str = "ws://localhost:18789";
const GATEWAY: &str = "ws://127.0.0.1:18789";
const NO_BUS: &str = "unix:path=/nonexistent";
const TIMEOUT: Duration = Duration::from_secs(60);

// ---- the keyring sessions ---------------------------------------------------

/// Panics (never skips) when `tool` is missing, naming the packages.
fn require(tool: &str) {
    let found =
        std::env::var_os("PATH").map(|p| std::env::split_paths(&p).any(|d| d.join(tool).is_file())).unwrap_or(false);
    assert!(
        found,
        "`{tool}` is not installed: the CRED-9 keyring tests need a real Secret Service and keyutils; install \
         the Debian packages: apt-get install -y {PACKAGES}"
    );
}

/// Runs the test `name` in a child process started by `launcher` (which
/// ends by running its arguments), with a private HOME and XDG directories;
/// the child runs the test body. Returns `true` in the child.
fn relaunch(name: &str, session: &str, launcher: &[&str]) -> bool {
    if std::env::var(CHILD_ENV).as_deref() == Ok(session) {
        return true;
    }
    let tmp = private_dir("gw-keyring-session-");
    let (home, data, run) = (tmp.path().join("home"), tmp.path().join("data"), tmp.path().join("run"));
    for d in [&home, &data, &run] {
        std::fs::create_dir(d).unwrap();
        std::fs::set_permissions(d, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new(launcher[0]);
    cmd.args(&launcher[1..])
        .arg(&exe)
        .args([name, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD_ENV, session)
        .env("HOME", &home)
        .env("XDG_DATA_HOME", &data)
        .env("XDG_RUNTIME_DIR", &run)
        .env("XDG_CONFIG_HOME", tmp.path().join("config"))
        .env("XDG_CACHE_HOME", tmp.path().join("cache"))
        .env_remove("DBUS_SESSION_BUS_ADDRESS")
        .env_remove("GNOME_KEYRING_CONTROL")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap_or_else(|e| panic!("start {launcher:?}: {e} (install: {PACKAGES})"));
    let out = cli::finish_output(child, TIMEOUT, &format!("{name} in {session}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.code() == Some(0) && stdout.contains("test result: ok. 1 passed"),
        "{name} in a {session} session failed ({:?}):\n--- stdout\n{stdout}\n--- stderr\n{stderr}",
        out.status.code()
    );
    false
}

/// In the child: a private D-Bus session bus with gnome-keyring's Secret
/// Service, started and unlocked (a new `login` keyring with a test
/// password). In the parent: starts that child and checks it passed.
fn in_secret_service(name: &str) -> bool {
    if std::env::var(CHILD_ENV).as_deref() == Ok("secret-service") {
        return true;
    }
    for tool in ["dbus-run-session", "dbus-daemon", "gnome-keyring-daemon", "secret-tool"] {
        require(tool);
    }
    let script = "printf %s gw-test-keyring-password | gnome-keyring-daemon --unlock --components=secrets >/dev/null \
                  || exit 97; exec \"$@\"";
    relaunch(name, "secret-service", &["dbus-run-session", "--", "sh", "-c", script, "sh"])
}

/// In the child: a private kernel session keyring (`keyctl session -`).
fn in_keyutils_session(name: &str) -> bool {
    if std::env::var(CHILD_ENV).as_deref() == Ok("keyutils") {
        return true;
    }
    require("keyctl");
    relaunch(name, "keyutils", &["keyctl", "session", "-"])
}

fn private_dir(prefix: &str) -> tempfile::TempDir {
    gw_test_support::private_tempdir(prefix)
}

// ---- running programs --------------------------------------------------------

/// A gw home in a private temp dir with profile `default` (and others on
/// request); every secret stored by the test is recorded so the credentials
/// files can be grepped for them.
struct Env {
    tmp: tempfile::TempDir,
    home: PathBuf,
    secrets: std::cell::RefCell<Vec<String>>,
}

impl Env {
    fn new(profiles: &[&str]) -> Self {
        let tmp = private_dir("gw-cred-keyring-");
        let env = Self { home: tmp.path().join("home"), tmp, secrets: Default::default() };
        for p in profiles {
            env.ok(&[], &["profile", "init", p], None);
        }
        env
    }

    fn store_file(&self, profile: &str) -> PathBuf {
        self.home.join("profiles").join(profile).join("credentials.json")
    }

    fn secret(&self, s: &str) -> Vec<u8> {
        self.secrets.borrow_mut().push(s.to_owned());
        s.as_bytes().to_vec()
    }

    /// `gw ARGS` with `envs` added, `stdin` piped in.
    fn raw(&self, envs: &[(&str, &str)], args: &[&str], stdin: Option<&[u8]>) -> Run {
        Gw::new(GW)
            .args(args)
            .home(&self.home)
            .current_dir(self.tmp.path())
            .envs(envs.iter().copied())
            .stdin(stdin)
            .timeout(TIMEOUT)
            .run()
    }

    /// `gw` that must succeed, with nothing on stderr; returns stdout.
    #[track_caller]
    fn ok(&self, envs: &[(&str, &str)], args: &[&str], stdin: Option<&[u8]>) -> String {
        let run = self.raw(envs, args, stdin);
        assert_eq!(run.code, 0, "gw {args:?}: {run:?}");
        assert!(run.stderr.is_empty(), "gw {args:?}: stderr: {run:?}");
        run.stdout
    }

    /// `gw cred resolve URL ARGS --reveal`: the secret on stdout (returned),
    /// the explanation on stderr.
    #[track_caller]
    fn reveal_resolve(&self, args: &[&str]) -> String {
        let mut all = vec!["cred", "resolve", URL, "--reveal"];
        all.extend_from_slice(args);
        let run = self.raw(&[], &all, None);
        assert_eq!(run.code, 0, "{run:?}");
        assert!(run.stderr.starts_with("gw: ") && run.stderr.contains(" would use "), "{run:?}");
        run.stdout
    }

    /// Panics if a credentials file holds any secret of the test.
    #[track_caller]
    fn assert_files_hold_no_secret(&self, profiles: &[&str]) {
        for p in profiles {
            let Ok(text) = std::fs::read_to_string(self.store_file(p)) else { continue };
            for s in self.secrets.borrow().iter() {
                assert!(!text.contains(s.as_str()), "profile {p}: the credentials file holds the secret {s}:\n{text}");
            }
        }
    }

    fn doc(&self, profile: &str) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.store_file(profile)).unwrap()).unwrap()
    }

    /// The keyring reference of `slot` (`shared`, `bootstrap`, `device/ROLE`
    /// — a token bound to no device —, or `issued/ROLE`: the token issued to
    /// the profile's device).
    fn reference(&self, profile: &str, slot: &str) -> Value {
        let pointer = match slot.strip_prefix("issued/") {
            Some(role) => {
                let v: Value =
                    serde_json::from_str(&self.ok(&[], &["--json", "profile", "show", profile], None)).unwrap();
                format!("/devices/{}/{role}/token", v["device_id"].as_str().expect("a device id"))
            }
            None => format!("/{slot}"),
        };
        self.doc(profile)["gateways"][GATEWAY].pointer(&pointer).cloned().unwrap_or(Value::Null)
    }
}

/// A protocol-4 hello-ok of a bootstrap connect: the first token is the
/// primary `auth.deviceToken`, the others `auth.deviceTokens[]`.
fn hello(tokens: &[(&str, &str)]) -> Vec<u8> {
    let list: Vec<Value> = tokens.iter().skip(1).map(|(r, t)| json!({"role": r, "deviceToken": t})).collect();
    let (role, token) = tokens[0];
    json!({"type": "hello-ok", "protocol": 4,
           "auth": {"method": "bootstrap-token", "role": role, "deviceToken": token, "deviceTokens": list}})
    .to_string()
    .into_bytes()
}

/// `secret-tool` (libsecret): what the Secret Service holds, without gw.
fn secret_tool(args: &[&str]) -> (bool, String) {
    let out = Command::new("secret-tool").args(args).stdin(Stdio::null()).output().expect("run secret-tool");
    (out.status.success(), String::from_utf8_lossy(&out.stdout).into_owned())
}

/// The secret of a Secret Service entry named by a gw reference.
fn lookup(reference: &Value) -> Option<String> {
    assert_eq!(reference["keyring"], "secret-service", "{reference}");
    let (ok, out) = secret_tool(&[
        "lookup",
        "service",
        reference["service"].as_str().unwrap(),
        "username",
        reference["account"].as_str().unwrap(),
    ]);
    ok.then_some(out)
}

/// Every gw entry in the Secret Service (`secret-tool search`), as the text
/// it prints.
fn gw_entries() -> String {
    let out = Command::new("secret-tool")
        .args(["search", "--all", "--unlock", "service", "gw-cred"])
        .stdin(Stdio::null())
        .output()
        .expect("run secret-tool");
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

fn gw_entry_count() -> usize {
    gw_entries().lines().filter(|l| l.starts_with("attribute.username = ")).count()
}

/// The accounts and secrets of every gw entry, sorted (item order and
/// times vary between searches).
fn gw_entry_set() -> Vec<String> {
    let mut v: Vec<String> = gw_entries()
        .lines()
        .filter(|l| l.starts_with("attribute.username = ") || l.starts_with("secret = "))
        .map(str::to_owned)
        .collect();
    v.sort();
    v
}

// ---- Secret Service -----------------------------------------------------------

/// Set, get, resolve, hand-off (read back from the keyring), replace-shared
/// and rm through `gw --store keyring` on a real Secret Service; the
/// document holds only references; libsecret sees the secrets.
#[test]
fn cred_9_secret_service_cli_round_trips_keep_secrets_out_of_the_file() {
    if !in_secret_service("cred_9_secret_service_cli_round_trips_keep_secrets_out_of_the_file") {
        return;
    }
    let env = Env::new(&["default"]);
    let kr = ["--store", "keyring"];
    let with =
        |args: &[&'static str]| -> Vec<&'static str> { kr.iter().copied().chain(args.iter().copied()).collect() };
    let boot = env.secret("boot-SS-7f3a");
    let out = env.ok(&[], &with(&["cred", "set", URL, "--bootstrap"]), Some(&boot));
    assert!(out.contains("in the secret-service keyring"), "{out}");
    let shared = env.secret("shared-SS-91c2");
    let out = env.ok(&[], &with(&["--json", "cred", "set", URL, "--shared"]), Some(&shared));
    let v: Value = serde_json::from_str(out.trim()).unwrap();
    assert_eq!(v["stored"], json!({"backend": "secret-service", "fallback": false}), "{v}");
    env.assert_files_hold_no_secret(&["default"]);
    let r = env.reference("default", "shared");
    assert_eq!((&r["keyring"], &r["service"]), (&json!("secret-service"), &json!("gw-cred")), "{r}");
    assert_eq!(lookup(&r).as_deref(), Some("shared-SS-91c2"), "libsecret sees the secret gw stored");
    // Reading resolves references whatever --store says (the default is file).
    let out = env.ok(&[], &["cred", "get", URL], None);
    assert!(out.contains("shared: stored (secret-service keyring)"), "{out}");
    assert_eq!(env.ok(&[], &["cred", "get", URL, "--shared", "--reveal"], None), "shared-SS-91c2\n");
    let run = env.raw(&[], &["cred", "resolve", URL, "--role", "operator", "--reveal"], None);
    assert_eq!((run.code, run.stdout.as_str()), (0, "shared-SS-91c2\n"), "{run:?}");
    assert!(run.stderr.contains("the shared token"), "{run:?}");
    // Hand-off: both role tokens into the keyring, read back, bootstrap cleared
    // (and its entry deleted).
    let boot_ref = env.reference("default", "bootstrap");
    let (op, node) = ("op-SS-4d1e", "node-SS-b8e0");
    env.secret(op);
    env.secret(node);
    let out = env.ok(&[], &with(&["cred", "handoff", URL]), Some(&hello(&[("operator", op), ("node", node)])));
    assert!(out.contains("bootstrap token cleared"), "{out}");
    assert_eq!(lookup(&boot_ref), None, "the bootstrap entry was deleted from the keyring");
    assert_eq!(lookup(&env.reference("default", "issued/node")).as_deref(), Some(node));
    assert_eq!(env.reveal_resolve(&["--role", "node"]), format!("{node}\n"));
    env.assert_files_hold_no_secret(&["default"]);
    assert_eq!(gw_entry_count(), 3, "{}", gw_entries());
    // Replace-shared: a refusing validator changes nothing anywhere; an
    // accepting one replaces the shared entry and deletes the device entries.
    let before = (std::fs::read(env.store_file("default")).unwrap(), gw_entry_set());
    let new = env.secret("new-shared-SS-22aa");
    let run = env.raw(&[], &with(&["cred", "replace-shared", URL, "--validate-cmd", "false"]), Some(&new));
    assert_eq!(run.code, 3, "{run:?}");
    assert!(
        (std::fs::read(env.store_file("default")).unwrap(), gw_entry_set()) == before,
        "a refused replace changed something"
    );
    env.ok(&[], &with(&["cred", "replace-shared", URL, "--validate-cmd", "true"]), Some(&new));
    assert_eq!(gw_entry_count(), 1, "{}", gw_entries());
    assert_eq!(lookup(&env.reference("default", "shared")).as_deref(), Some("new-shared-SS-22aa"));
    assert_eq!(lookup(&r), None, "the replaced shared entry was deleted");
    env.assert_files_hold_no_secret(&["default"]);
    // A file-policy write over a referenced slot moves it into the file and
    // deletes the entry; rm deletes what is left.
    let inline = env.secret("inline-SS-0b0b");
    env.ok(&[], &["cred", "set", URL, "--shared"], Some(&inline));
    assert_eq!(gw_entry_count(), 0, "{}", gw_entries());
    env.ok(&[], &with(&["cred", "set", URL, "--bootstrap"]), Some(&boot));
    assert_eq!(gw_entry_count(), 1);
    env.ok(&[], &["cred", "rm", URL], None);
    assert_eq!(gw_entry_count(), 0, "{}", gw_entries());
}

/// The library on a real Secret Service: a hand-off reads back from the
/// keyring (an entry changed behind gw's back is a mismatch, the bootstrap
/// kept); mirroring copies keyring secrets into the target's own entries,
/// or refuses under the file policy.
#[test]
fn cred_9_secret_service_library_handoff_and_mirror() {
    if !in_secret_service("cred_9_secret_service_library_handoff_and_mirror") {
        return;
    }
    use gw_cred::{
        DeviceToken, ErrorKind, GatewayKey, Home, KeyringKind, Slot, StoreConfig, StorePolicy, mirror, mirror_with,
    };
    use gw_token::Secret;
    let env = Env::new(&["main", "rescue"]);
    let home = Home::open(&env.home, &gw_anchor::Policy::new()).unwrap();
    let (main, rescue) = (home.profile("main").unwrap(), home.profile("rescue").unwrap());
    let config = || StoreConfig::new(StorePolicy::Keyring).keyring_kind(KeyringKind::SecretService);
    let key = GatewayKey::parse(URL).unwrap();
    let s = |t: &str| Secret::from(t.to_owned());
    let store = main.store_with(config());
    store.set(&key, &Slot::Bootstrap, &s("lib-boot-1")).unwrap();
    let report = store.handoff(&key, &[DeviceToken::new("operator", s("lib-op-2"))]).unwrap();
    assert!(report.bootstrap_cleared);
    assert_eq!(store.get(&key, &Slot::Device("operator".into())).unwrap().unwrap().expose(), b"lib-op-2");
    // Mirror: the file policy refuses to copy keyring secrets into a file.
    let before = std::fs::read(env.store_file("rescue")).ok();
    assert_eq!(mirror(&main, &rescue).unwrap_err().kind(), ErrorKind::FallbackRefused);
    assert_eq!(std::fs::read(env.store_file("rescue")).ok(), before);
    let r = mirror_with(&main, &rescue, config()).unwrap();
    assert_eq!(r.from_keyring, 1);
    let main_ref = env.doc("main")["gateways"][GATEWAY]["device"]["operator"].clone();
    let copy_ref = env.doc("rescue")["gateways"][GATEWAY]["device"]["operator"].clone();
    assert_ne!(main_ref, copy_ref, "each profile has its own entry");
    assert!(copy_ref["account"].as_str().unwrap().starts_with("rescue/"), "{copy_ref}");
    assert_eq!(lookup(&copy_ref).as_deref(), Some("lib-op-2"));
    // The rescue profile's copy is independent of the main's entry.
    rescue.store_with(config()).remove(&key, None).unwrap();
    assert_eq!(lookup(&main_ref).as_deref(), Some("lib-op-2"));
    assert_eq!(lookup(&copy_ref), None);
    // A hand-off whose keyring entry does not read back keeps the bootstrap:
    // the read-back asks the keyring, and this one hands back something else.
    store.set(&key, &Slot::Bootstrap, &s("lib-boot-3")).unwrap();
    let liar =
        std::sync::Arc::new(Liar(gw_cred::SystemKeyring::new(KeyringKind::SecretService, Duration::from_secs(30))));
    let lying = main.store_with(StoreConfig::new(StorePolicy::Keyring).keyring(liar));
    let e = lying.handoff(&key, &[DeviceToken::new("node", s("lib-node-4"))]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ReadBackMismatch, "{e}");
    assert_eq!(store.get(&key, &Slot::Bootstrap).unwrap().unwrap().expose(), b"lib-boot-3");
    for p in ["main", "rescue"] {
        let text = std::fs::read_to_string(env.store_file(p)).unwrap_or_default();
        for secret in ["lib-boot-1", "lib-op-2", "lib-boot-3", "lib-node-4"] {
            assert!(!text.contains(secret), "{p}: {text}");
        }
    }
}

/// The real Secret Service, except that it hands back other content than
/// was stored for every entry but the availability probe: what a
/// misbehaving keyring would do.
#[derive(Debug)]
struct Liar(gw_cred::SystemKeyring);

impl gw_cred::Keyring for Liar {
    fn name(&self) -> &str {
        self.0.name()
    }
    fn describe(&self) -> String {
        self.0.describe()
    }
    fn fix(&self) -> String {
        self.0.fix()
    }
    fn set(&self, service: &str, account: &str, label: &str, secret: &[u8]) -> gw_cred::Result<()> {
        self.0.set(service, account, label, secret)
    }
    fn get(&self, service: &str, account: &str) -> gw_cred::Result<Option<zeroize::Zeroizing<Vec<u8>>>> {
        let real = self.0.get(service, account)?;
        Ok(if account.starts_with("probe/") {
            real
        } else {
            real.map(|_| zeroize::Zeroizing::new(b"tampered".to_vec()))
        })
    }
    fn delete(&self, service: &str, account: &str) -> gw_cred::Result<bool> {
        self.0.delete(service, account)
    }
}

/// `--store keyring` with no Secret Service reachable: refused (exit 3,
/// which backend, how to fix), nothing written anywhere — the gw home is
/// unchanged and the (live, but unreachable for gw) keyring holds no entry;
/// the validator never runs. The same commands succeed once the keyring is
/// reachable.
#[test]
fn cred_9_fail_closed_without_a_reachable_secret_service_writes_nothing() {
    if !in_secret_service("cred_9_fail_closed_without_a_reachable_secret_service_writes_nothing") {
        return;
    }
    let env = Env::new(&["default"]);
    let shared = env.secret("shared-FC-5e5e");
    // An inline bootstrap from before (the file policy).
    env.ok(&[], &["cred", "set", URL, "--bootstrap"], Some(b"boot-FC-inline"));
    let before = common::snapshot(&env.home);
    let no_bus = [("DBUS_SESSION_BUS_ADDRESS", NO_BUS)];
    let marker = env.tmp.path().join("validator-ran");
    let validate = format!("touch {}", marker.display());
    let op = env.secret("op-FC-1");
    let attempts: Vec<(Vec<&str>, Vec<u8>)> = vec![
        (vec!["--store", "keyring", "cred", "set", URL, "--shared"], shared.clone()),
        (vec!["--store", "keyring", "--json", "cred", "set", URL, "--device", "operator"], shared.clone()),
        (vec!["--store", "keyring", "cred", "handoff", URL], hello(&[("operator", &String::from_utf8(op).unwrap())])),
        (vec!["--store", "keyring", "cred", "replace-shared", URL, "--validate-cmd", &validate], shared.clone()),
    ];
    for (args, stdin) in &attempts {
        let run = env.raw(&no_bus, args, Some(stdin));
        assert_eq!(run.code, 3, "gw {args:?}: {run:?}");
        let line = run.stderr.trim_end();
        assert_eq!(line.lines().count(), 1, "{run:?}");
        assert!(line.starts_with("gw: refused: store credential secret-service:"), "{run:?}");
        for needle in ["Secret Service", "/nonexistent", "nothing was written", "dbus-run-session", "--store file"] {
            assert!(line.contains(needle), "the error lacks `{needle}`: {line}");
        }
        if args.contains(&"--json") {
            let v: Value = serde_json::from_str(run.stdout.trim()).unwrap();
            assert_eq!(v["error"]["kind"], "fallback_refused", "{v}");
        }
        common::assert_same_tree(&before, &common::snapshot(&env.home), &format!("gw {args:?}"));
        assert_eq!(gw_entry_count(), 0, "gw {args:?} wrote to the keyring: {}", gw_entries());
    }
    assert!(!marker.exists(), "the validator ran although the token could not be stored");
    // keyring-or-file never refuses: it tells, then writes the file (see the
    // ordering test); reads of inline secrets need no keyring.
    assert_eq!(env.ok(&no_bus, &["cred", "get", URL, "--bootstrap", "--reveal"], None), "boot-FC-inline\n");
    // With the keyring reachable, the same command goes through.
    env.ok(&[], &["--store", "keyring", "cred", "set", URL, "--shared"], Some(&shared));
    assert_eq!(gw_entry_count(), 1);
    // A reference that cannot be resolved is an error naming the backend,
    // never a fall-through to the next credential.
    let run = env.raw(&no_bus, &["cred", "resolve", URL, "--reveal"], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("Secret Service") && run.stdout.is_empty(), "{run:?}");
    env.assert_files_hold_no_secret(&["default"]);
}

/// A locked keyring is unavailable too: `--store keyring` is refused (the
/// unlock prompt cannot be shown here) and nothing is written.
#[test]
fn cred_9_fail_closed_with_a_locked_keyring_writes_nothing() {
    if !in_secret_service("cred_9_fail_closed_with_a_locked_keyring_writes_nothing") {
        return;
    }
    let env = Env::new(&["default"]);
    // (`secret-tool lock` crashes in libsecret 0.20; the D-Bus call is what it would make.)
    require("dbus-send");
    let out = Command::new("dbus-send")
        .args([
            "--session",
            "--dest=org.freedesktop.secrets",
            "--type=method_call",
            "--print-reply",
            "/org/freedesktop/secrets",
            "org.freedesktop.Secret.Service.Lock",
            "array:objpath:/org/freedesktop/secrets/collection/login",
        ])
        .output()
        .unwrap();
    assert!(out.status.success(), "lock the login keyring: {out:?}");
    let before = common::snapshot(&env.home);
    let run = env.raw(&[], &["--store", "keyring", "cred", "set", URL, "--shared"], Some(&env.secret("locked-S-1")));
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("locked") && run.stderr.contains("unlock"), "{run:?}");
    common::assert_same_tree(&before, &common::snapshot(&env.home), "locked keyring");
    let run = env.raw(&[], &["--store", "keyring-or-file", "cred", "set", URL, "--shared"], Some(b"locked-S-2"));
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.starts_with("gw: notice: the secret-service keyring is unavailable"), "{run:?}");
    assert!(std::fs::read_to_string(env.store_file("default")).unwrap().contains("locked-S-2"));
}

// ---- keyring-or-file: told before the write ------------------------------------

/// The architecture's `write` and `writev` system call numbers.
fn is_write_syscall(nr: u64) -> bool {
    if cfg!(target_arch = "x86_64") {
        nr == 1 || nr == 20
    } else if cfg!(target_arch = "aarch64") {
        nr == 64 || nr == 66
    } else {
        panic!("add this architecture's write/writev numbers")
    }
}

/// Whether `pid`'s main thread is inside a write to fd 2.
fn blocked_writing_stderr(pid: u32) -> Option<String> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/syscall")).ok()?;
    let mut f = text.split_whitespace();
    let nr: u64 = f.next()?.parse().ok()?;
    let fd = f.next()?;
    (is_write_syscall(nr) && fd == "0x2").then_some(text)
}

/// `--store keyring-or-file` with the keyring unreachable: gw's stderr is a
/// pipe already full, so the notice's write blocks; while gw is blocked in
/// it, the credentials file does not exist (and nothing else was written).
/// Once the pipe is drained, gw stores the secret in the 0600 file and says
/// so on stdout.
#[test]
fn cred_9_keyring_or_file_notice_is_on_stderr_before_the_file_is_written() {
    let env = Env::new(&["default"]);
    let before = common::snapshot(&env.home);
    let (mut reader, writer) = std::io::pipe().unwrap();
    // Fill the pipe: O_NONBLOCK only while filling (the flag is shared with
    // the child's copy of the descriptor).
    rustix::fs::fcntl_setfl(&writer, rustix::fs::OFlags::NONBLOCK).unwrap();
    let mut filled = 0usize;
    for chunk in [4096usize, 1] {
        loop {
            match (&writer).write(&vec![b'.'; chunk]) {
                Ok(n) => filled += n,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break,
                Err(e) => panic!("fill the pipe: {e}"),
            }
        }
    }
    rustix::fs::fcntl_setfl(&writer, rustix::fs::OFlags::empty()).unwrap();
    let mut child = Gw::new(GW)
        .args(["--store", "keyring-or-file", "cred", "set", URL, "--shared"])
        .home(&env.home)
        .env("DBUS_SESSION_BUS_ADDRESS", NO_BUS)
        .piped_stdin()
        .stderr(writer)
        .spawn();
    child.stdin.take().unwrap().write_all(&env.secret("fallback-KF-6c6c")).unwrap();
    let deadline = Instant::now() + TIMEOUT;
    let blocked = loop {
        if let Some(state) = blocked_writing_stderr(child.id()) {
            break state;
        }
        if let Ok(Some(status)) = child.try_wait() {
            panic!("gw finished ({status}) without blocking on stderr");
        }
        assert!(Instant::now() < deadline, "gw never wrote to stderr");
        std::thread::sleep(Duration::from_millis(5));
    };
    // gw is inside the notice's write: nothing may be written yet.
    std::thread::sleep(Duration::from_millis(200));
    assert!(blocked_writing_stderr(child.id()).is_some(), "gw moved on: {blocked}");
    assert!(!env.store_file("default").exists(), "the file was written before the notice was out");
    common::assert_same_tree(&before, &common::snapshot(&env.home), "before the notice");
    // Drain: first what was there, then gw's own stderr.
    let mut junk = vec![0u8; filled];
    reader.read_exact(&mut junk).unwrap();
    let out = cli::finish_output(child, TIMEOUT, "gw cred set");
    let mut stderr = String::new();
    reader.read_to_string(&mut stderr).unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{stdout} {stderr}");
    assert!(
        stderr.starts_with("gw: notice: the secret-service keyring is unavailable")
            && stderr.contains("/nonexistent")
            && stderr.contains("keyring-or-file"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stdout.contains("in the credentials file (the keyring was unavailable)"), "{stdout}");
    let meta = std::fs::metadata(env.store_file("default")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    assert!(std::fs::read_to_string(env.store_file("default")).unwrap().contains("fallback-KF-6c6c"));
}

/// The same order as seen on one terminal (stdout and stderr on one pipe):
/// the notice, then the success line; for a hand-off too.
#[test]
fn cred_9_keyring_or_file_notice_precedes_the_success_line() {
    let env = Env::new(&["default"]);
    let (mut reader, writer) = std::io::pipe().unwrap();
    for (args, stdin) in [
        (vec!["--store", "keyring-or-file", "cred", "set", URL, "--bootstrap"], b"kof-boot".to_vec()),
        (vec!["--store", "keyring-or-file", "cred", "handoff", URL], hello(&[("operator", "kof-op")])),
    ] {
        let mut child = Gw::new(GW)
            .args(&args)
            .home(&env.home)
            .env("DBUS_SESSION_BUS_ADDRESS", NO_BUS)
            .piped_stdin()
            .stdout(writer.try_clone().unwrap())
            .stderr(writer.try_clone().unwrap())
            .spawn();
        child.stdin.take().unwrap().write_all(&stdin).unwrap();
        assert!(child.wait().unwrap().success(), "gw {args:?}");
    }
    drop(writer);
    let mut all = String::new();
    reader.read_to_string(&mut all).unwrap();
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 4, "{all}");
    assert!(lines[0].starts_with("gw: notice: ") && lines[1].starts_with("stored the bootstrap"), "{all}");
    assert!(lines[2].starts_with("gw: notice: ") && lines[3].starts_with("stored in the credentials file"), "{all}");
}

// ---- keyutils -----------------------------------------------------------------

/// `keyctl` output for the gw entry named by a reference: its content, or
/// `None` if the kernel holds no such key.
fn keyctl_read(reference: &Value) -> Option<String> {
    assert_eq!(reference["keyring"], "keyutils", "{reference}");
    let desc = format!("keyring:{}@{}", reference["account"].as_str().unwrap(), reference["service"].as_str().unwrap());
    let id = Command::new("keyctl").args(["search", "@s", "user", &desc]).output().unwrap();
    if !id.status.success() {
        return None;
    }
    let id = String::from_utf8_lossy(&id.stdout).trim().to_owned();
    let out = Command::new("keyctl").args(["pipe", &id]).output().unwrap();
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Invalidates, when dropped (also when the test fails), every key of the
/// profile `0` that is left in the user's persistent keyring: keyutils keys
/// outlive the test's session keyring for days.
struct KeyutilsCleanup(String);

impl Drop for KeyutilsCleanup {
    fn drop(&mut self) {
        let out = |args: &[&str]| {
            Command::new("keyctl")
                .args(args)
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default()
        };
        let persistent = out(&["get_persistent", "@s"]);
        let prefix = format!("keyring:{}/", self.0);
        for line in out(&["list", persistent.trim()]).lines() {
            if let (true, Some((id, _))) = (line.contains(&prefix), line.split_once(':')) {
                let _ = Command::new("keyctl").args(["invalidate", id.trim()]).status();
            }
        }
    }
}

/// `pre` then `rest`.
fn argv<'a>(pre: &[&'a str], rest: &[&'a str]) -> Vec<&'a str> {
    pre.iter().chain(rest).copied().collect()
}

/// Set, get, resolve, hand-off and rm with `--keyring keyutils` in a private
/// session keyring; the kernel holds the secrets, the file only references.
#[test]
fn cred_9_keyutils_round_trips_keep_secrets_out_of_the_file() {
    if !in_keyutils_session("cred_9_keyutils_round_trips_keep_secrets_out_of_the_file") {
        return;
    }
    // A profile name of this run: the keys' descriptions carry it.
    let name = format!("ku{}", std::process::id());
    let _cleanup = KeyutilsCleanup(name.clone());
    let env = Env::new(&[&name]);
    let p = ["--profile", name.as_str()];
    let ku = ["--profile", name.as_str(), "--store", "keyring", "--keyring", "keyutils"];
    let out = env.ok(&[], &argv(&ku, &["cred", "set", URL, "--bootstrap"]), Some(&env.secret("ku-boot-1")));
    assert!(out.contains("in the keyutils keyring"), "{out}");
    env.ok(&[], &argv(&ku, &["cred", "set", URL, "--shared"]), Some(&env.secret("ku-shared-2")));
    let boot_ref = env.reference(&name, "bootstrap");
    assert!(boot_ref["account"].as_str().unwrap().starts_with(&format!("{name}/")), "{boot_ref}");
    assert_eq!(keyctl_read(&boot_ref).as_deref(), Some("ku-boot-1"), "the kernel holds the secret");
    assert_eq!(env.ok(&[], &argv(&p, &["cred", "get", URL, "--shared", "--reveal"]), None), "ku-shared-2\n");
    env.secret("ku-op-3");
    env.ok(&[], &argv(&ku, &["cred", "handoff", URL]), Some(&hello(&[("operator", "ku-op-3")])));
    assert_eq!(keyctl_read(&boot_ref), None, "the bootstrap key was invalidated");
    assert_eq!(env.reveal_resolve(&p), "ku-op-3\n");
    let op_ref = env.reference(&name, "issued/operator");
    assert_eq!(keyctl_read(&op_ref).as_deref(), Some("ku-op-3"));
    env.assert_files_hold_no_secret(&[&name]);
    let out = env.ok(&[], &argv(&p, &["cred", "get", URL]), None);
    assert!(out.contains("operator (keyutils keyring)"), "{out}");
    env.ok(&[], &argv(&p, &["cred", "rm", URL]), None);
    assert_eq!(keyctl_read(&op_ref), None);
}

/// The child helpers above must not pass for the wrong reason: a session
/// that cannot start fails the parent test.
#[test]
fn cred_9_keyring_tools_are_installed() {
    for tool in ["dbus-run-session", "dbus-daemon", "gnome-keyring-daemon", "secret-tool", "keyctl"] {
        require(tool);
    }
}

// ---- the device key in the keyring ---------------------------------------------

/// `gw profile init --store keyring` keeps the profile's Ed25519 device key
/// in the real Secret Service: the profile directory holds only a 0600
/// reference (no device.key), libsecret sees the entry, `gw profile show`
/// and `gw watch health --hello` load the identity from it, the key is never
/// printed; with the Secret Service unreachable, init is refused and writes
/// nothing, and a load names the backend.
#[test]
fn cred_9_secret_service_holds_the_device_key() {
    if !in_secret_service("cred_9_secret_service_holds_the_device_key") {
        return;
    }
    use base64::Engine as _;
    let env = Env::new(&[]);
    let init = env.raw(&[], &["--store", "keyring", "--json", "profile", "init", "default"], None);
    assert_eq!(init.code, 0, "{init:?}");
    let v: Value = serde_json::from_str(init.stdout.trim()).unwrap();
    assert_eq!(v["device_key_store"], "secret-service", "{v}");
    let id = v["device_id"].as_str().unwrap().to_owned();
    let dir = env.home.join("profiles/default");
    assert!(!dir.join("device.key").exists(), "a device.key file was written");
    let meta = std::fs::metadata(dir.join("device.keyring")).unwrap();
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
    let reference: Value = serde_json::from_slice(&std::fs::read(dir.join("device.keyring")).unwrap()).unwrap();
    assert_eq!(reference["keyring"], "secret-service", "{reference}");
    assert!(reference["account"].as_str().unwrap().starts_with("default/device-key/"), "{reference}");
    // libsecret (not gw) holds the 32-byte seed under that reference.
    let out = Command::new("secret-tool")
        .args(["lookup", "service", "gw-cred", "username", reference["account"].as_str().unwrap()])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "secret-tool lookup: {out:?}");
    let seed = out.stdout;
    assert_eq!(seed.len(), 32, "the entry holds {} bytes", seed.len());
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&seed);
    let hex: String = seed.iter().map(|b| format!("{b:02x}")).collect();
    let never_printed = |run: &Run, what: &str| {
        for s in [&b64, &hex] {
            assert!(!run.stdout.contains(s.as_str()) && !run.stderr.contains(s.as_str()), "{what} printed the key");
        }
    };
    never_printed(&init, "profile init");
    // profile show finds the identity in the keyring.
    let show = env.raw(&[], &["--json", "profile", "show", "default"], None);
    assert_eq!(show.code, 0, "{show:?}");
    assert_eq!(serde_json::from_str::<Value>(show.stdout.trim()).unwrap()["device_id"], json!(id), "{show:?}");
    never_printed(&show, "profile show");
    // So does watch health --hello (its start line names the device); a
    // silent listener of this process keeps it from going further.
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let me = std::process::id().to_string();
    let watch = env.raw(
        &[],
        &[
            "watch",
            "health",
            &url,
            "--pid",
            &me,
            "--hello",
            "--on-fail",
            "true",
            "--failures",
            "5",
            "--interval",
            "1s",
            "--deadline",
            "1500ms",
            "--probe-timeout",
            "500ms",
        ],
        None,
    );
    assert_eq!(watch.code, 0, "{watch:?}");
    assert!(watch.stderr.contains(&format!("device {id}")), "{watch:?}");
    never_printed(&watch, "watch health");
    drop(silent);
    // The Secret Service unreachable: a load names it, never falls back.
    let no_bus = [("DBUS_SESSION_BUS_ADDRESS", NO_BUS)];
    let run = env.raw(&no_bus, &["profile", "show", "default"], None);
    assert_eq!(run.code, 1, "{run:?}");
    assert!(run.stderr.contains("Secret Service"), "{run:?}");
    // ... and init under --store keyring is refused, nothing written.
    let before = common::snapshot(&env.home);
    let entries = gw_entry_count();
    let run = env.raw(&no_bus, &["--store", "keyring", "profile", "init", "other"], None);
    assert_eq!(run.code, 3, "{run:?}");
    assert!(run.stderr.contains("nothing was written") && run.stderr.contains("Secret Service"), "{run:?}");
    common::assert_same_tree(&before, &common::snapshot(&env.home), "refused profile init");
    assert_eq!(gw_entry_count(), entries);
    // keyring-or-file says so, then uses the file.
    let run = env.raw(&no_bus, &["--store", "keyring-or-file", "profile", "init", "other"], None);
    assert_eq!(run.code, 0, "{run:?}");
    assert!(run.stderr.contains("notice") && run.stderr.contains("device.key"), "{run:?}");
    assert!(env.home.join("profiles/other/device.key").exists());
}

/// The same with `--keyring keyutils`: the kernel holds the 32-byte seed,
/// `gw profile show` loads the identity from it, the profile directory holds
/// only the reference.
#[test]
fn cred_9_keyutils_holds_the_device_key() {
    if !in_keyutils_session("cred_9_keyutils_holds_the_device_key") {
        return;
    }
    let name = format!("kd{}", std::process::id());
    let _cleanup = KeyutilsCleanup(name.clone());
    let env = Env::new(&[]);
    let init = env.ok(&[], &["--store", "keyring", "--keyring", "keyutils", "--json", "profile", "init", &name], None);
    let v: Value = serde_json::from_str(init.trim()).unwrap();
    assert_eq!(v["device_key_store"], "keyutils", "{v}");
    let dir = env.home.join("profiles").join(&name);
    assert!(!dir.join("device.key").exists());
    let reference: Value = serde_json::from_slice(&std::fs::read(dir.join("device.keyring")).unwrap()).unwrap();
    let desc = format!("keyring:{}@{}", reference["account"].as_str().unwrap(), reference["service"].as_str().unwrap());
    let id = Command::new("keyctl").args(["search", "@s", "user", &desc]).output().unwrap();
    assert!(id.status.success(), "keyctl search {desc}: {id:?}");
    let seed = Command::new("keyctl").args(["pipe", String::from_utf8_lossy(&id.stdout).trim()]).output().unwrap();
    assert!(seed.status.success() && seed.stdout.len() == 32, "{seed:?}");
    let show = env.ok(&[], &["--json", "--profile", &name, "profile", "show", &name], None);
    assert_eq!(serde_json::from_str::<Value>(show.trim()).unwrap()["device_id"], v["device_id"], "{show}");
}
