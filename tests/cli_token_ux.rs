//! `gw token` as people use it (issue 12 item 11): `--peer ADDR[:PORT]`, an
//! audience-bound token verified without `--aud`, attenuating to a scope the
//! token lacks, times in `inspect`, and a token accepted within the skew.

use gw_test_support as common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use serde_json::Value;

const GW: &str = env!("CARGO_BIN_EXE_gw");

/// Runs gw with `stdin`; (exit code, stdout, stderr).
fn gw(home: &Path, args: &[&str], stdin: &str) -> (i32, String, String) {
    common::gw_in_with(GW, home, args, Some(stdin.as_bytes()))
}

fn setup() -> (tempfile::TempDir, String) {
    let d = tempfile::tempdir().unwrap();
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o700)).unwrap();
    let secret = d.path().join("root.key").to_str().unwrap().to_owned();
    assert_eq!(gw(d.path(), &["token", "init", "--secret-file", &secret], "").0, 0);
    (d, secret)
}

fn derive(home: &Path, secret: &str, extra: &[&str]) -> String {
    let mut args = vec!["token", "derive", "--secret-file", secret];
    args.extend_from_slice(extra);
    let (code, out, err) = gw(home, &args, "");
    assert_eq!(code, 0, "{err}");
    out.trim().to_owned()
}

#[test]
fn peer_takes_addr_or_addr_port() {
    let (d, secret) = setup();
    let token = derive(d.path(), &secret, &["--scope", "a", "--local"]);
    for peer in ["127.0.0.1", "127.0.0.1:5123", "::1", "[::1]:5123"] {
        let (code, _, err) =
            gw(d.path(), &["token", "verify", "--secret-file", &secret, "--scope", "a", "--peer", peer], &token);
        assert_eq!(code, 0, "--peer {peer}: {err}");
    }
    let (code, _, err) =
        gw(d.path(), &["token", "verify", "--secret-file", &secret, "--scope", "a", "--peer", "192.0.2.1:80"], &token);
    assert_eq!(code, 3, "a remote peer with a port is still remote: {err}");
    let (code, _, err) =
        gw(d.path(), &["token", "verify", "--secret-file", &secret, "--scope", "a", "--peer", "localhost:80"], &token);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("ADDR:PORT"), "{err}");
}

#[test]
fn an_audience_bound_token_without_aud_says_to_pass_aud() {
    let (d, secret) = setup();
    let token = derive(d.path(), &secret, &["--scope", "a", "--aud", "ws://127.0.0.1:18789"]);
    let (code, out, err) =
        gw(d.path(), &["--json", "token", "verify", "--secret-file", &secret, "--scope", "a"], &token);
    assert_eq!(code, 3);
    assert!(err.contains("--aud"), "{err}");
    let v: Value = serde_json::from_str(&out).unwrap();
    assert!(v["error"]["fix"].as_str().unwrap().contains("--aud"), "{v}");
    // With the wrong --aud it is the other audience, not a missing flag.
    let (code, _, err) =
        gw(d.path(), &["token", "verify", "--secret-file", &secret, "--scope", "a", "--aud", "ws://other"], &token);
    assert_eq!(code, 3);
    assert!(err.contains("another audience"), "{err}");
    let (code, _, err) = gw(
        d.path(),
        &["token", "verify", "--secret-file", &secret, "--scope", "a", "--aud", "ws://127.0.0.1:18789"],
        &token,
    );
    assert_eq!(code, 0, "{err}");
}

#[test]
fn attenuating_to_a_scope_the_token_lacks_is_refused() {
    let (d, secret) = setup();
    let token = derive(d.path(), &secret, &["--scope", "a", "--scope", "b"]);
    let (code, out, err) = gw(d.path(), &["token", "attenuate", "--scope", "c"], &token);
    assert_eq!(code, 2, "{err}");
    assert!(out.is_empty(), "no token printed: {out}");
    assert!(err.contains("`c`") && err.contains("nothing") && err.contains("`a`, `b`"), "{err}");
    let (code, _, err) = gw(d.path(), &["token", "attenuate", "--scope", "a", "--scope", "c"], &token);
    assert_eq!(code, 2, "{err}");
    let (code, out, err) = gw(d.path(), &["token", "attenuate", "--scope", "b"], &token);
    assert_eq!(code, 0, "{err}");
    // Narrowed twice: only what the narrower token grants may be kept.
    let (code, _, err) = gw(d.path(), &["token", "attenuate", "--scope", "a"], out.trim());
    assert_eq!(code, 2, "{err}");
}

#[test]
fn inspect_shows_rfc3339_and_relative_times() {
    let (d, secret) = setup();
    let token = derive(d.path(), &secret, &["--scope", "a", "--ttl", "2h"]);
    let (code, out, err) = gw(d.path(), &["token", "inspect"], &token);
    assert_eq!(code, 0, "{err}");
    let expires = out.lines().find(|l| l.starts_with("expires:")).expect("an expires line");
    assert!(expires.contains("T") && expires.contains("Z (in 1h 59m") || expires.contains("Z (in 2h"), "{expires}");
    assert!(expires.contains("30 s"), "the skew is named: {expires}");
    let (_, out, _) = gw(d.path(), &["--json", "token", "inspect"], &token);
    let v: Value = serde_json::from_str(&out).unwrap();
    let exp = &v["times"]["expires"];
    let unix = exp["unix"].as_u64().unwrap();
    let at = humantime::parse_rfc3339(exp["rfc3339"].as_str().unwrap()).unwrap();
    assert_eq!(at.duration_since(std::time::UNIX_EPOCH).unwrap().as_secs(), unix);
    assert!(exp["relative"].as_str().unwrap().starts_with("in "), "{exp}");
    assert_eq!(v["format"], 1);
    assert_eq!(v["token_format"], "gw2");
}

#[test]
fn a_token_expired_within_the_skew_says_so() {
    let (d, secret) = setup();
    let token = derive(d.path(), &secret, &["--scope", "a", "--ttl", "1s"]);
    std::thread::sleep(std::time::Duration::from_millis(3100));
    let (code, out, err) = gw(d.path(), &["token", "verify", "--secret-file", &secret, "--scope", "a"], &token);
    assert_eq!(code, 0, "{err}");
    assert!(out.contains("s ago, accepted within the 30 s skew"), "{out}");
    let (_, out, _) = gw(d.path(), &["--json", "token", "verify", "--secret-file", &secret, "--scope", "a"], &token);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["within_skew"], true);
    let (_, help, _) = gw(d.path(), &["token", "verify", "--help"], "");
    assert!(help.contains("30 s"), "the skew is in --help: {help}");
}
