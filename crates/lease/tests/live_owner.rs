//! `Registry::get` / `Registry::live_owner`: one record read by id (no lock,
//! no symlink followed) and judged with the real `/proc` oracle, against
//! real processes. The CLI side (`gw port verify --lease`) is in the
//! workspace's tests/portguard_lease.rs.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

use gw_lease::{ErrorKind, Judgement, Record, Registration, Registry, Status, parse_record};

fn sleeper() -> Child {
    Command::new("sleep").arg("60").stdin(Stdio::null()).spawn().expect("spawn sleep")
}

fn registry() -> (tempfile::TempDir, std::path::PathBuf, Registry) {
    let tmp = tempfile::Builder::new().permissions(std::fs::Permissions::from_mode(0o700)).tempdir().unwrap();
    let dir = tmp.path().join("reg");
    let reg = Registry::open(&dir).unwrap();
    (tmp, dir, reg)
}

fn rewrite(dir: &Path, id: &str, f: impl FnOnce(&mut Record)) {
    let path = dir.join(format!("{id}.json"));
    let mut rec = parse_record(&std::fs::read(&path).unwrap()).unwrap();
    f(&mut rec);
    std::fs::write(&path, rec.to_bytes().unwrap()).unwrap();
}

#[test]
fn lease_3_live_owner_names_only_a_running_process_of_this_boot_and_namespace() {
    let (_tmp, dir, reg) = registry();
    let mut child = sleeper();
    for id in ["live", "reused", "old-boot", "other-ns", "expired"] {
        reg.register(&Registration::new(id).unwrap().pid(child.id())).unwrap().0.persist();
    }
    let rec = reg.live_owner("live").unwrap();
    assert_eq!(rec.pid, child.id());
    assert_eq!(reg.get("live").unwrap().verdict, Judgement::Keep(Status::Alive));

    rewrite(&dir, "reused", |r| r.start_time = r.start_time.saturating_sub(1));
    let e = reg.live_owner("reused").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotRunning, "{e}");
    assert!(e.message().contains("was reused"), "{e}");
    assert!(e.fix().unwrap().contains("gw lease prune"), "{e}");

    rewrite(&dir, "old-boot", |r| r.boot_id = "00000000-0000-4000-8000-000000000000".into());
    let e = reg.live_owner("old-boot").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ForeignRecord, "{e}");
    assert!(e.is_security_refusal() && e.message().contains("another boot"), "{e}");

    rewrite(&dir, "other-ns", |r| r.pid_namespace = r.pid_namespace.map(|n| n.wrapping_add(1)));
    let e = reg.live_owner("other-ns").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ForeignRecord, "{e}");
    assert!(e.message().contains("another pid namespace"), "{e}");

    rewrite(&dir, "expired", |r| r.expires_unix_ms = Some(r.created_unix_ms));
    let e = reg.live_owner("expired").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotRunning, "{e}");
    assert!(e.message().contains("expired"), "{e}");

    child.kill().unwrap();
    child.wait().unwrap();
    let e = reg.live_owner("live").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::NotRunning, "{e}");
    assert!(e.message().contains("not running"), "{e}");
    // Read-only: nothing was pruned.
    for id in ["live", "reused", "old-boot", "other-ns", "expired"] {
        assert!(dir.join(format!("{id}.json")).exists(), "{id}");
    }
}

#[test]
fn fs_1_live_owner_never_follows_a_symlink_and_reports_a_missing_or_misnamed_record() {
    let (tmp, dir, reg) = registry();
    let e = reg.live_owner("nobody").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Fs(gw_anchor::ErrorKind::NotFound), "{e}");
    assert!(e.fix().unwrap().contains("gw lease list"), "{e}");
    assert_eq!(reg.live_owner("../x").unwrap_err().kind(), ErrorKind::InvalidId);

    // A live record elsewhere, linked into the registry: refused, not followed.
    let (_g, _) = reg.register(&Registration::new("real").unwrap()).unwrap();
    let outside = tmp.path().join("outside.json");
    std::fs::copy(dir.join("real.json"), &outside).unwrap();
    let text = std::fs::read_to_string(&outside).unwrap().replace("\"real\"", "\"linked\"");
    std::fs::write(&outside, text).unwrap();
    std::os::unix::fs::symlink(&outside, dir.join("linked.json")).unwrap();
    let e = reg.live_owner("linked").unwrap_err();
    assert!(e.is_security_refusal(), "{e}");
    assert_eq!(e.kind(), ErrorKind::Fs(gw_anchor::ErrorKind::Symlink), "{e}");

    // A record whose id is not its file name's.
    std::fs::copy(dir.join("real.json"), dir.join("copy.json")).unwrap();
    assert_eq!(reg.live_owner("copy").unwrap_err().kind(), ErrorKind::Malformed);
    assert!(reg.live_owner("real").is_ok());
}
