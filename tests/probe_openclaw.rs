//! `gw probe` and the hand-off against the real OpenClaw 2026.9.6 gateway
//! (installed by `scripts/test`; missing, these tests fail naming the
//! install command): a shared token, a password, a bootstrap token from
//! `openclaw qr` whose device token is handed off and then used to connect
//! again, a wrong token (exit 3 with the gateway's code and what gw sent),
//! and impostors (exit 3, zero bytes received). One gateway per auth mode,
//! shared by the flows of that mode.

#[path = "../crates/gateway/tests/support/mod.rs"]
mod support;

use gw_test_support::cli::Gw;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::time::Duration;

use base64::Engine;
use serde_json::Value;

const GW: &str = env!("CARGO_BIN_EXE_gw");
const SHARED: &str = "probe-oc-SHARED-7f3a9c1e5b2d";
const PASSWORD: &str = "probe-oc-PASSWORD-4e8b2a6c";
const WRONG: &str = "probe-oc-WRONG-0d9e8f7a6b";

/// A private gw home.
struct Home {
    dir: tempfile::TempDir,
}

impl Home {
    fn new() -> Self {
        let dir = tempfile::Builder::new().prefix("gw-probe-oc.").tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        Self { dir }
    }

    /// Runs gw with `stdin`; returns (exit code, stdout, stderr).
    fn gw(&self, args: &[&str], stdin: Option<&str>) -> (i32, String, String) {
        Gw::new(GW)
            .args(args)
            .home(self.dir.path().join("gw"))
            .env_remove("GW_PROFILE")
            .stdin(Some(stdin.unwrap_or_default().as_bytes()))
            .timeout(Duration::from_secs(120))
            .run()
            .triple()
    }

    fn ok(&self, args: &[&str], stdin: Option<&str>) -> String {
        let (code, out, err) = self.gw(args, stdin);
        assert_eq!(code, 0, "gw {args:?}: {err}{out}");
        out
    }

    /// A profile with a device key; returns its device id.
    fn profile(&self, name: &str) -> String {
        let v: Value = serde_json::from_str(&self.ok(&["--json", "profile", "init", name], None)).unwrap();
        v["device_id"].as_str().unwrap().to_owned()
    }

    fn store(&self, profile: &str) -> PathBuf {
        self.dir.path().join("gw/profiles").join(profile).join("credentials.json")
    }

    fn stored(&self, profile: &str) -> Value {
        serde_json::from_str(&std::fs::read_to_string(self.store(profile)).unwrap()).unwrap()
    }
}

/// `gw --json probe URL --pid PID ARGS`, parsed; exit code, JSON, stderr.
fn probe(home: &Home, profile: &str, url: &str, pid: u32, args: &[&str]) -> (i32, Value, String) {
    let pid = pid.to_string();
    let mut all = vec!["--json", "--profile", profile, "probe", url, "--pid", &pid, "--timeout", "20s"];
    all.extend_from_slice(args);
    // A gateway still starting answers UNAVAILABLE (exit 1): again, bounded.
    let until = std::time::Instant::now() + Duration::from_secs(90);
    let (code, out, err) = loop {
        let (code, out, err) = home.gw(&all, None);
        if code == 1 && err.contains("UNAVAILABLE") && std::time::Instant::now() < until {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        break (code, out, err);
    };
    let v: Value = serde_json::from_str(out.trim()).unwrap_or_else(|e| panic!("one JSON object ({e}): {out}{err}"));
    (code, v, err)
}

fn assert_no_secret(text: &str, secrets: &[&str]) {
    for s in secrets {
        assert!(!text.contains(s), "a secret in: {text}");
    }
}

/// A bootstrap token issued by OpenClaw's own `openclaw qr` (the setup code
/// is base64url JSON holding `bootstrapToken`).
fn bootstrap_token(peer: &support::Peer, gw: &support::Gateway) -> String {
    let out = gw.openclaw(peer, &["qr", "--json", "--url", &gw.url()], &[("OPENCLAW_GATEWAY_TOKEN", SHARED)]);
    assert!(out.status.success(), "openclaw qr: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).expect("openclaw qr --json prints JSON");
    let code = v["setupCode"].as_str().expect("setupCode");
    let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(code.trim_end_matches('=')).unwrap();
    let setup: Value = serde_json::from_slice(&raw).unwrap();
    setup["bootstrapToken"].as_str().expect("bootstrapToken").to_owned()
}

#[test]
fn probe_openclaw_token_gateway_shared_wrong_bootstrap_and_impostors() {
    let peer = support::peer();
    let gw = peer.start_gateway(SHARED);
    let (url, pid) = (gw.url(), gw.pid());
    let home = Home::new();

    // 1. The shared token. A signed device is paired silently on loopback and
    // offered a device token: not stored, the connect was not a bootstrap
    // (GATE-3).
    let device = home.profile("shared");
    home.ok(&["--profile", "shared", "cred", "set", &url, "--shared"], Some(SHARED));
    let (code, v, err) = probe(&home, "shared", &url, pid, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!(v["credential"], "shared");
    assert_eq!(v["sent"], "token");
    assert_eq!(v["signed"], true);
    assert_eq!(v["device_id"], device.as_str());
    assert_eq!(v["owner"]["pid"], pid);
    let h = &v["hello"];
    assert_eq!((h["protocol"].as_u64(), h["server_version"].as_str()), (Some(4), Some(support::OPENCLAW_VERSION)));
    assert_eq!((h["method"].as_str(), h["role"].as_str()), (Some("token"), Some("operator")));
    assert_eq!(h["scopes"], serde_json::json!(["operator.read"]));
    assert_eq!(v["handoff"]["stored"], false, "{v}");
    let st = home.stored("shared");
    assert!(st["gateways"][&url].get("devices").is_none(), "device tokens stored after a shared-token connect: {st}");
    assert_no_secret(&v.to_string(), &[SHARED]);

    // 2. A wrong shared token: exit 3 with the gateway's code, what gw sent
    // and how to change it; no secret.
    home.profile("wrong");
    home.ok(&["--profile", "wrong", "cred", "set", &url, "--shared"], Some(WRONG));
    let (code, v, err) = probe(&home, "wrong", &url, pid, &[]);
    assert_eq!(code, 3, "{v} {err}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("AUTH_TOKEN_MISMATCH"), "{msg}");
    assert!(msg.contains("gw sent the stored shared token for ws://127.0.0.1:"), "{msg}");
    let fix = v["error"]["fix"].as_str().unwrap();
    assert!(fix.contains("gw cred replace-shared ws://127.0.0.1:") && fix.contains("--profile wrong"), "{fix}");
    assert_no_secret(&format!("{v}{err}"), &[SHARED, WRONG]);

    // 3. A bootstrap token from `openclaw qr`: the device token it issues is
    // handed off (stored for this gateway, device and role with its scopes,
    // read back), the bootstrap cleared; the next probe connects with it.
    let device = home.profile("boot");
    let boot = bootstrap_token(&peer, &gw);
    home.ok(&["--profile", "boot", "cred", "set", &url, "--bootstrap"], Some(&boot));
    let (code, v, err) = probe(&home, "boot", &url, pid, &["--role", "node"]);
    assert_eq!(code, 0, "{err}");
    assert_eq!((v["credential"].as_str(), v["sent"].as_str()), (Some("bootstrap"), Some("bootstrapToken")));
    assert_eq!((v["hello"]["method"].as_str(), v["hello"]["role"].as_str()), (Some("bootstrap-token"), Some("node")));
    assert_eq!(v["handoff"]["stored"], true, "{v}");
    assert_eq!(v["handoff"]["bootstrap_cleared"], true);
    assert!(v["handoff"]["roles"].as_array().unwrap().contains(&"node".into()), "{v}");
    let st = home.stored("boot");
    assert_eq!(st["version"], 2);
    let rec = &st["gateways"][&url];
    assert!(rec.get("bootstrap").is_none(), "the bootstrap token was kept: {rec}");
    let node = &rec["devices"][&device]["node"];
    assert!(node["token"].as_str().is_some_and(|t| t.len() >= 16), "{rec}");
    assert_eq!(node["scopes"], serde_json::json!([]));
    assert!(node["issuedAtMs"].as_u64().is_some(), "{node}");
    let token = node["token"].as_str().unwrap().to_owned();
    assert_no_secret(&format!("{v}{err}"), &[&boot, &token]);
    for _ in 0..2 {
        let (code, v, err) = probe(&home, "boot", &url, pid, &["--role", "node"]);
        assert_eq!(code, 0, "{err}");
        assert_eq!(v["credential"], format!("device:node@{device}"));
        assert_eq!(v["sent"], "deviceToken");
        assert_eq!((v["hello"]["method"].as_str(), v["hello"]["role"].as_str()), (Some("device-token"), Some("node")));
        assert_eq!(v["handoff"]["stored"], false, "no hand-off after a device-token connect: {v}");
    }
    // The used bootstrap token is refused by the gateway itself.
    home.profile("reuse");
    home.ok(&["--profile", "reuse", "cred", "set", &url, "--bootstrap"], Some(&boot));
    let (code, v, _) = probe(&home, "reuse", &url, pid, &["--role", "node"]);
    assert_eq!(code, 3, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("gw sent the stored bootstrap token"), "{v}");
    assert!(v["error"]["fix"].as_str().unwrap().contains("openclaw qr"), "{v}");
    assert_no_secret(&v.to_string(), &[&boot]);

    // 4. Impostors: a wrong --pid for the real gateway, and a listener of
    // another process on a port where the gateway is expected. Exit 3, and
    // the listener receives zero bytes.
    let (code, v, _) = probe(&home, "shared", &url, 1, &[]);
    assert_eq!(code, 3, "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("nothing was sent"), "{v}");
    let impostor = TcpListener::bind("127.0.0.1:0").unwrap();
    let fake = format!("ws://127.0.0.1:{}", impostor.local_addr().unwrap().port());
    home.ok(&["--profile", "shared", "cred", "set", &fake, "--shared"], Some(SHARED));
    impostor.set_nonblocking(true).unwrap();
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let finished = done.clone();
    let accept = std::thread::spawn(move || {
        // Accepts while the probe runs (gw-portguard may wait for its
        // connection to be accepted), and once more after it exited: what
        // the connection carried, or nothing (gw may refuse before it
        // connects at all).
        loop {
            let last = finished.load(std::sync::atomic::Ordering::SeqCst);
            if let Ok((s, _)) = impostor.accept() {
                s.set_nonblocking(false).unwrap();
                return support::drain(s, Duration::from_secs(3));
            }
            if last {
                return Vec::new();
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });
    let (code, v, _) = probe(&home, "shared", &fake, pid, &[]);
    done.store(true, std::sync::atomic::Ordering::SeqCst);
    assert_eq!(code, 3, "{v}");
    assert_eq!(v["error"]["kind"], "not_owned", "{v}");
    assert!(accept.join().unwrap().is_empty(), "the impostor received bytes");
    let log = gw.log();
    assert_no_secret(&log, &[&token]);
}

#[test]
fn probe_openclaw_password_gateway() {
    let peer = support::peer();
    let gw = peer.start_gateway_with("password", &[("OPENCLAW_GATEWAY_PASSWORD", PASSWORD)], None);
    let (url, pid) = (gw.url(), gw.pid());
    let home = Home::new();
    home.profile("pw");
    home.ok(&["--profile", "pw", "cred", "set", &url, "--password"], Some(PASSWORD));
    let (code, v, err) = probe(&home, "pw", &url, pid, &[]);
    assert_eq!(code, 0, "{err}");
    assert_eq!((v["credential"].as_str(), v["sent"].as_str()), (Some("password"), Some("password")));
    assert_eq!((v["hello"]["method"].as_str(), v["hello"]["role"].as_str()), (Some("password"), Some("operator")));
    assert_eq!(v["hello"]["protocol"], 4);
    assert_no_secret(&format!("{v}{err}"), &[PASSWORD]);
    // A wrong password: exit 3, the gateway's code, what was sent.
    home.ok(&["--profile", "pw", "cred", "set", &url, "--password"], Some(WRONG));
    let (code, v, err) = probe(&home, "pw", &url, pid, &[]);
    assert_eq!(code, 3, "{v} {err}");
    let msg = v["error"]["message"].as_str().unwrap();
    assert!(msg.contains("AUTH_PASSWORD_MISMATCH") && msg.contains("gw sent the stored password"), "{msg}");
    assert!(v["error"]["fix"].as_str().unwrap().contains("--password"), "{v}");
    assert_no_secret(&format!("{v}{err}"), &[PASSWORD, WRONG]);
}
