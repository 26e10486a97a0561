//! `gw token label --openclaw-state` against state made by the real OpenClaw
//! 2026.9.6 (installed by `scripts/test`): the token gw prints equals the
//! approval runtime token OpenClaw's own function derives, and bad state is
//! refused with the documented exit codes, nothing written.

#[path = "../crates/gateway/tests/support/mod.rs"]
mod support;

use std::os::unix::fs::PermissionsExt;
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
    let mut c = Command::new(GW);
    if json {
        c.arg("--json");
    }
    let out = c
        .args(["token", "label", "--label", LABEL, "--openclaw-state"])
        .arg(state)
        .stdin(Stdio::null())
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
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
