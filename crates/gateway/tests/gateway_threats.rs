//! Security-regression tests of gw-gateway, named by threat id
//! (`audits/THREATS.md`): GATE-1 (the device key file) and GATE-4 (reading a
//! gateway's state database). The state databases are made by the real
//! OpenClaw 2026.9.6's own code, and the approval runtime token gw derives
//! is compared with the one OpenClaw's own function returns.

mod support;

use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};

use gw_anchor::{Policy, Root};
use gw_gateway::openclaw::{STATE_DB, approval_socket_token};
use gw_gateway::{DeviceIdentity, ErrorKind};
use serde_json::Value;

fn private_dir(prefix: &str) -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

fn root(p: &Path) -> Root {
    Root::open(p, &Policy::default()).unwrap()
}

fn mode(p: &Path) -> u32 {
    std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o7777
}

/// A snapshot of every entry beneath `dir`: path, mode, bytes.
fn snapshot(dir: &Path) -> Vec<(PathBuf, u32, Vec<u8>)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            if m.is_dir() {
                stack.push(p.clone());
            }
            let bytes = if m.is_file() { std::fs::read(&p).unwrap() } else { Vec::new() };
            out.push((p, m.permissions().mode(), bytes));
        }
    }
    out.sort();
    out
}

#[test]
fn gate_1_device_key_is_created_exclusively_0600_and_refused_when_exposed() {
    let d = private_dir("gw-gate1.");
    let r = root(d.path());
    // Created with its final mode even under umask 000 (gw-anchor sets the
    // mode at creation), never over an existing file.
    let (created, fresh) = DeviceIdentity::load_or_create(&r, "device.key").unwrap();
    assert!(fresh);
    assert_eq!(mode(&d.path().join("device.key")), 0o600);
    let before = std::fs::read(d.path().join("device.key")).unwrap();
    let e = DeviceIdentity::create(&r, "device.key").unwrap_err();
    assert!(matches!(e.kind(), ErrorKind::Key(_)), "{e}");
    assert_eq!(std::fs::read(d.path().join("device.key")).unwrap(), before, "an existing key was replaced");
    let (again, fresh) = DeviceIdentity::load_or_create(&r, "device.key").unwrap();
    assert!(!fresh);
    assert_eq!(again.id(), created.id());

    // Readable by others: refused (a security refusal, with the fix), and
    // load_or_create does not paper over it with a new key.
    std::fs::set_permissions(d.path().join("device.key"), std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = DeviceIdentity::load_or_create(&r, "device.key").unwrap_err();
    assert!(e.is_security_refusal(), "{e}");
    assert!(e.fix().is_some_and(|f| f.contains("chmod 600")), "{e}");
    assert_eq!(std::fs::read(d.path().join("device.key")).unwrap(), before);

    // Owned by another user: refused.
    std::fs::set_permissions(d.path().join("device.key"), std::fs::Permissions::from_mode(0o600)).unwrap();
    std::os::unix::fs::chown(d.path().join("device.key"), Some(65534), Some(65534)).unwrap();
    let e = DeviceIdentity::load(&r, "device.key").unwrap_err();
    assert!(e.is_security_refusal(), "{e}");

    // A symlink planted at the name: refused, its target untouched; never
    // followed to create a key elsewhere.
    let elsewhere = private_dir("gw-gate1-target.");
    symlink(elsewhere.path().join("stolen.key"), d.path().join("link.key")).unwrap();
    let e = DeviceIdentity::load_or_create(&r, "link.key").unwrap_err();
    assert!(e.is_security_refusal(), "{e}");
    assert!(!elsewhere.path().join("stolen.key").exists());

    // Debug shows the id, never the key material.
    let dbg = format!("{again:?}");
    assert!(dbg.contains(again.id()), "{dbg}");
    let seed_b64 = String::from_utf8(before).unwrap();
    assert!(!dbg.contains(seed_b64.trim()), "{dbg}");
}

/// A fresh OpenClaw state directory with exec approvals made by OpenClaw's
/// own code; `raw_token` replaces the stored socket token verbatim. Returns
/// the directory and the approval runtime token OpenClaw derives.
fn openclaw_state(raw_token: Option<&str>) -> (tempfile::TempDir, String) {
    let peer = support::peer();
    let d = private_dir("gw-openclaw-state.");
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/openclaw_approvals.mjs");
    let mut cmd = std::process::Command::new(&peer.node);
    cmd.arg(&script).env("OPENCLAW_PKG", &peer.pkg).env("OPENCLAW_STATE_DIR", d.path()).env("HOME", d.path());
    if let Some(t) = raw_token {
        cmd.arg(t);
    }
    let out = cmd.output().unwrap();
    assert!(out.status.success(), "node: {}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    (d, v["token"].as_str().unwrap().to_owned())
}

fn gw_label(state: &Path) -> String {
    let key = approval_socket_token(&root(state)).unwrap();
    gw_token::expose(&gw_token::label_token(&key, gw_token::OPENCLAW_APPROVAL_LABEL)).to_owned()
}

#[test]
fn gate_4_approval_token_from_openclaws_database_equals_openclaws_own() {
    // As OpenClaw writes it.
    let (state, theirs) = openclaw_state(None);
    let before = snapshot(state.path());
    assert_eq!(gw_label(state.path()), theirs);
    assert_eq!(snapshot(state.path()), before, "reading the state changed it");
    // A token with surrounding white space (JavaScript's trim set, including
    // a byte-order mark and U+2028) keys the HMAC trimmed, as in OpenClaw.
    let (state, theirs) = openclaw_state(Some(" \t\u{feff}spaced-socket-token\u{2028}\n"));
    assert_eq!(gw_label(state.path()), theirs);
}

#[test]
fn gate_4_state_database_is_read_only_through_the_anchor() {
    let (state, _) = openclaw_state(None);
    let db = state.path().join(STATE_DB);

    // A state/ directory replaced by a symlink (what OpenClaw itself follows):
    // refused, nothing read or created at the target.
    let elsewhere = private_dir("gw-gate4-target.");
    std::fs::rename(state.path().join("state"), elsewhere.path().join("state")).unwrap();
    symlink(elsewhere.path().join("state"), state.path().join("state")).unwrap();
    let e = approval_socket_token(&root(state.path())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fs(gw_anchor::ErrorKind::Symlink), "{e}");
    assert!(e.is_security_refusal());
    std::fs::remove_file(state.path().join("state")).unwrap();
    std::fs::rename(elsewhere.path().join("state"), state.path().join("state")).unwrap();

    // A database others can write: refused, with the fix.
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o666)).unwrap();
    let e = approval_socket_token(&root(state.path())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fs(gw_anchor::ErrorKind::InsecureFile), "{e}");
    assert!(e.fix().is_some(), "{e}");
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o600)).unwrap();

    // Owned by another user: refused.
    std::os::unix::fs::chown(&db, Some(65534), None).unwrap();
    let e = approval_socket_token(&root(state.path())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fs(gw_anchor::ErrorKind::InsecureFile), "{e}");
    std::os::unix::fs::chown(&db, Some(0), None).unwrap();

    // A FIFO at the database's name does not block; a missing database is
    // not found; a file that is not SQLite is a state error; no message
    // holds the token.
    let (fresh, _) = openclaw_state(None);
    let e = approval_socket_token(&root(&fresh.path().join("state"))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fs(gw_anchor::ErrorKind::NotFound), "{e}");
    std::fs::remove_file(fresh.path().join(STATE_DB)).unwrap();
    #[cfg(target_os = "linux")]
    rustix::fs::mknodat(
        rustix::fs::CWD,
        fresh.path().join(STATE_DB),
        rustix::fs::FileType::Fifo,
        rustix::fs::Mode::from_raw_mode(0o600),
        0,
    )
    .unwrap();
    // rustix has no mknodat on Darwin.
    #[cfg(not(target_os = "linux"))]
    assert!(std::process::Command::new("mkfifo").arg(fresh.path().join(STATE_DB)).status().unwrap().success());
    let e = approval_socket_token(&root(fresh.path())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fs(gw_anchor::ErrorKind::NotRegularFile), "{e}");
    std::fs::remove_file(fresh.path().join(STATE_DB)).unwrap();
    std::fs::write(fresh.path().join(STATE_DB), b"not a database at all").unwrap();
    std::fs::set_permissions(fresh.path().join(STATE_DB), std::fs::Permissions::from_mode(0o600)).unwrap();
    let e = approval_socket_token(&root(fresh.path())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::State, "{e}");
}
