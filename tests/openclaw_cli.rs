//! `gw token label --openclaw-state` against state made by the real OpenClaw
//! 2026.9.6 (installed by `scripts/test`): the token gw prints equals the
//! approval runtime token OpenClaw's own function derives, and bad state is
//! refused with the documented exit codes, nothing written.

#[path = "../crates/gateway/tests/support/mod.rs"]
mod support;

use gw_test_support::cli::Gw;

use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const GW: &str = env!("CARGO_BIN_EXE_gw");
const LABEL: &str = "openclaw:gateway-approval-runtime-token:v1";

fn openclaw_state(raw_token: &str) -> (tempfile::TempDir, String) {
    let peer = support::peer();
    let d = tempfile::Builder::new().prefix("gw-oc-cli.").tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/gateway/tests/support/openclaw_approvals.mjs");
    let out = Command::new(&peer.node)
        .arg(&script)
        .arg(raw_token)
        .env("OPENCLAW_PKG", &peer.pkg)
        .env("OPENCLAW_STATE_DIR", d.path())
        .env("HOME", d.path())
        .output()
        .unwrap();
    assert!(out.status.success(), "node: {}", String::from_utf8_lossy(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    (d, v["token"].as_str().unwrap().to_owned())
}

fn label(state: &Path, json: bool) -> (i32, String, String) {
    let gw = if json { Gw::new(GW).arg("--json") } else { Gw::new(GW) };
    gw.args(["token", "label", "--label", LABEL, "--openclaw-state"]).arg(state).run().triple()
}

#[test]
fn gate_4_token_label_from_openclaw_state_equals_openclaws_own() {
    let secret = "  socket-token-with-spaces-91c2\n";
    let (state, theirs) = openclaw_state(secret);
    let (code, out, err) = label(state.path(), false);
    assert_eq!(code, 0, "{err}");
    assert_eq!(out.trim(), theirs);
    assert!(!err.contains(secret.trim()) && !out.contains(secret.trim()));

    // A database others can write: refused (exit 3), naming the fix.
    let db = state.path().join("state/openclaw.sqlite");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o646)).unwrap();
    let before = std::fs::read(&db).unwrap();
    let (code, out, err) = label(state.path(), true);
    assert_eq!(code, 3, "{err}");
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert_eq!(v["ok"], serde_json::json!(false), "{out}");
    assert!(err.contains("chmod"), "{err}");
    assert_eq!(std::fs::read(&db).unwrap(), before);

    // No state database: not found (exit 4).
    let empty = tempfile::Builder::new().prefix("gw-oc-empty.").tempdir().unwrap();
    std::fs::set_permissions(empty.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let (code, _, err) = label(empty.path(), false);
    assert_eq!(code, 4, "{err}");
    assert!(std::fs::read_dir(empty.path()).unwrap().next().is_none(), "something was created");
}

fn doctor_openclaw(state: &Path) -> (i32, serde_json::Value) {
    let out = Gw::new(GW).args(["--json", "doctor", "--skip-kernel", "--openclaw"]).arg(state).output();
    let v =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stdout)));
    (out.status.code().unwrap_or(-1), v)
}

fn has(report: &serde_json::Value, subject_end: &str, severity: &str, threat: &str) -> bool {
    report["findings"].as_array().unwrap().iter().any(|f| {
        f["subject"].as_str().is_some_and(|s| s.ends_with(subject_end))
            && f["severity"] == severity
            && f["threat"] == threat
    })
}

/// A real OpenClaw state directory (made by OpenClaw's own code) with its
/// `state/` replaced by a symlink, as OpenClaw 2026.9.6 would follow it:
/// `gw doctor --openclaw` reports it high and changes nothing.
#[test]
fn fs_2_doctor_openclaw_reports_a_symlinked_state_subdir_and_exposed_files() {
    let (state, _) = openclaw_state("tok");
    let (code, clean) = doctor_openclaw(state.path());
    let high = |r: &serde_json::Value| r["summary"]["high"].as_u64().unwrap();
    assert_eq!(high(&clean), 0, "{clean}");
    assert!(code == 0 || code == 3, "{clean}");

    // The database readable by others: high (device keys and tokens).
    let db = state.path().join("state/openclaw.sqlite");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let (code, r) = doctor_openclaw(state.path());
    assert_eq!(code, 3, "{r}");
    assert!(has(&r, "state/openclaw.sqlite", "high", "FS-4"), "{r}");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();

    // state/ moved elsewhere and replaced by a symlink.
    let elsewhere = tempfile::Builder::new().prefix("gw-oc-elsewhere.").tempdir().unwrap();
    std::fs::rename(state.path().join("state"), elsewhere.path().join("state")).unwrap();
    std::os::unix::fs::symlink(elsewhere.path().join("state"), state.path().join("state")).unwrap();
    let before: Vec<_> =
        std::fs::read_dir(elsewhere.path().join("state")).unwrap().map(|e| e.unwrap().path()).collect();
    let (code, r) = doctor_openclaw(state.path());
    assert_eq!(code, 3, "{r}");
    assert!(has(&r, "/state", "high", "FS-2"), "{r}");
    let after: Vec<_> = std::fs::read_dir(elsewhere.path().join("state")).unwrap().map(|e| e.unwrap().path()).collect();
    assert_eq!(before, after, "the audit changed the state");

    // The whole state directory a symlink: high too.
    let link = elsewhere.path().join("link-to-state");
    std::os::unix::fs::symlink(state.path(), &link).unwrap();
    let (code, r) = doctor_openclaw(&link);
    assert_eq!(code, 3, "{r}");
    assert!(has(&r, "link-to-state", "high", "FS-2"), "{r}");
}

/// The configured port (openclaw.json `gateway.port`) held by another user:
/// OpenClaw's CLI would send its shared token there. High, naming the holder.
#[test]
fn port_1_doctor_openclaw_names_a_foreign_holder_of_the_configured_port() {
    let (state, _) = openclaw_state("tok");
    let port = support::free_port();
    std::fs::write(state.path().join("openclaw.json"), format!("{{\"gateway\": {{\"port\": {port}}}}}\n")).unwrap();
    std::fs::set_permissions(state.path().join("openclaw.json"), std::fs::Permissions::from_mode(0o600)).unwrap();
    let (_, r) = doctor_openclaw(state.path());
    let text = r["checked"].to_string();
    assert!(text.contains(&format!("nothing listens on port {port}")), "{r}");

    // uid 65534 listens there.
    let mut child = Command::new("/usr/bin/python3")
        .args([
            "-c",
            "import socket,sys,time\ns=socket.socket()\ns.bind(('127.0.0.1',int(sys.argv[1])))\ns.listen()\nprint('up',flush=True)\ntime.sleep(30)",
            &port.to_string(),
        ])
        .uid(65534)
        .gid(65534)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(child.stdout.take().unwrap()), &mut line).unwrap();
    assert_eq!(line.trim(), "up");
    let (code, r) = doctor_openclaw(state.path());
    let _ = child.kill();
    let _ = child.wait();
    assert_eq!(code, 3, "{r}");
    assert!(has(&r, &format!("port {port}"), "high", "PORT-1"), "{r}");
    assert!(r.to_string().contains(&child.id().to_string()), "the holder's pid is named: {r}");
}
