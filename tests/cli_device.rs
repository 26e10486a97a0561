//! The profile's device identity from the command line (GATE-1): `gw profile
//! init` creates the Ed25519 device key 0600 beside the root secret, `gw
//! profile show` prints its device id (text and JSON) and never the key, and
//! an exposed key is refused, not replaced, and `gw doctor` reports it.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use gw_anchor::{Policy, Root};

const GW: &str = env!("CARGO_BIN_EXE_gw");

use gw_test_support as common;

fn gw(home: &Path, args: &[&str]) -> (i32, String, String) {
    common::gw_in(GW, home, args)
}

#[test]
fn gate_1_profile_init_creates_a_device_key_and_show_prints_only_its_id() {
    let tmp = tempfile::Builder::new().prefix("gw-cli-device.").tempdir().unwrap();
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let home = tmp.path().join("home");
    let (code, out, err) = gw(&home, &["--json", "profile", "init", "work", "--port", "18811"]);
    assert_eq!(code, 0, "{err}");
    let init: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let id = init["device_id"].as_str().unwrap().to_owned();
    assert!(id.len() == 64 && id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()), "{id}");

    let dir = home.join("profiles/work");
    let key = dir.join("device.key");
    assert_eq!(std::fs::metadata(&key).unwrap().permissions().mode() & 0o777, 0o600);
    // The library reads the same identity.
    let lib = gw_gateway::DeviceIdentity::load(&Root::open(&dir, &Policy::default()).unwrap(), "device.key").unwrap();
    assert_eq!(lib.id(), id);

    let seed = std::fs::read_to_string(&key).unwrap();
    for json in [false, true] {
        let mut args = vec!["profile", "show", "work"];
        if json {
            args.insert(0, "--json");
        }
        let (code, out, err) = gw(&home, &args);
        assert_eq!(code, 0, "{err}");
        assert!(out.contains(&id), "{out}");
        assert!(!out.contains(seed.trim()) && !err.contains(seed.trim()), "the key was printed");
    }

    // Exposed to others: `show` refuses (exit 3) with the fix; the key is
    // left as it was.
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o640)).unwrap();
    let (code, _, err) = gw(&home, &["profile", "show", "work"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("chmod 600"), "{err}");
    assert_eq!(std::fs::read_to_string(&key).unwrap(), seed);
    // And `gw doctor` rates it high, with the fix.
    let (code, out, _) = gw(&home, &["--json", "doctor"]);
    assert_eq!(code, 3);
    let report: serde_json::Value = serde_json::from_str(out.trim()).unwrap();
    let hit = report["findings"].as_array().unwrap().iter().any(|f| {
        f["subject"].as_str().is_some_and(|s| s.ends_with("/device.key"))
            && f["severity"] == "high"
            && f["fix"].as_str().is_some_and(|x| x.starts_with("chmod 600"))
    });
    assert!(hit, "{out}");
}
