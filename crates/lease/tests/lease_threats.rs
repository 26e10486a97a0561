//! Security-regression tests for gw-lease (THREATS LEASE-1 … LEASE-5, FS-1
//! for the registry's own entries, DOC-3 for the record writer), with real
//! processes: `sleep` children, a child of this test binary running as uid
//! 65534, and a child
//! in a new pid namespace (`unshare --pid --fork --mount-proc`).
//!
//! Each test fails if its defence is removed: treating EPERM as dead,
//! ignoring the start time or boot id, judging another namespace's pid here,
//! following or deleting a non-regular entry.

use gw_test_support as common;

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gw_anchor::Policy;
use gw_lease::{Record, Registration, Registry, RemoveReason, SkipReason, Status, parse_record};

use common::{NOBODY, helper_main, run_helper};
use serde_json::json;

/// Child modes of this test binary.
fn dispatch(mode: &str, args: &[String]) -> Vec<String> {
    match mode {
        // register DIR ID PID TTL_MS (0 = none)
        "register" => {
            let reg = Registry::open(&args[0]).expect("open registry");
            let mut r = Registration::new(&args[1]).unwrap().pid(args[2].parse().unwrap());
            let ttl: u64 = args[3].parse().unwrap();
            if ttl > 0 {
                r = r.ttl(Duration::from_millis(ttl));
            }
            match reg.register(&r) {
                Ok((guard, _)) => {
                    guard.persist();
                    vec!["ok".into()]
                }
                Err(e) => vec![format!("err {}", e.kind().as_str())],
            }
        }
        // register-self DIR ID TTL_MS: this process (pid 1 inside a new pid namespace)
        "register-self" => {
            let reg = Registry::open(&args[0]).expect("open registry");
            let r = Registration::new(&args[1]).unwrap().ttl(Duration::from_millis(args[2].parse().unwrap()));
            let (guard, _) = reg.register(&r).expect("register self");
            let rec = guard.persist();
            vec![format!("ok pid={} ns={:?}", rec.pid, rec.pid_namespace)]
        }
        // prune DIR
        "prune" => {
            let reg = Registry::open(&args[0]).expect("open registry");
            let report = reg.prune(false).expect("prune");
            let mut out = vec!["done".to_owned()];
            out.extend(report.removed.iter().map(|r| format!("removed {} {}", r.id, r.reason.as_str())));
            out.extend(report.kept.iter().map(|k| format!("kept {} {}", k.id, k.status.as_str())));
            out
        }
        other => panic!("unknown helper mode {other}"),
    }
}

#[test]
fn helper_child() {
    helper_main(dispatch);
}

fn sleeper() -> Child {
    Command::new("sleep").arg("60").stdin(Stdio::null()).spawn().expect("spawn sleep")
}

fn registry_dir() -> (tempfile::TempDir, std::path::PathBuf) {
    let tmp = gw_test_support::private_tempdir("gw-lease-");
    let dir = tmp.path().join("reg");
    (tmp, dir)
}

fn rewrite(dir: &Path, id: &str, f: impl FnOnce(&mut Record)) {
    let path = dir.join(format!("{id}.json"));
    let mut rec = parse_record(&std::fs::read(&path).unwrap()).unwrap();
    f(&mut rec);
    std::fs::write(&path, rec.to_bytes().unwrap()).unwrap();
}

fn exists(dir: &Path, id: &str) -> bool {
    dir.join(format!("{id}.json")).exists()
}

#[test]
fn lease_1_dead_and_zombie_and_expired_records_are_pruned_and_register_prunes_first() {
    let (_tmp, dir) = registry_dir();
    let reg = Registry::open(&dir).unwrap();
    assert_eq!(std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777, 0o700, "created 0700");

    let mut reaped = sleeper();
    let mut zombie = sleeper();
    let mut live = sleeper();
    for (id, child) in [("reaped", &reaped), ("zombie", &zombie), ("live", &live)] {
        reg.register(&Registration::new(id).unwrap().pid(child.id())).unwrap().0.persist();
    }
    let (_g, _) = reg.register(&Registration::new("expiring").unwrap().ttl(Duration::from_millis(1))).unwrap();
    std::thread::sleep(Duration::from_millis(20));

    reaped.kill().unwrap();
    reaped.wait().unwrap(); // gone: kill(pid, 0) gives ESRCH
    zombie.kill().unwrap(); // not waited for: state Z
    while std::fs::read_to_string(format!("/proc/{}/stat", zombie.id())).is_ok_and(|s| !s.contains(") Z ")) {
        std::thread::sleep(Duration::from_millis(5));
    }

    // Registering anything prunes first.
    let (_g2, report) = reg.register(&Registration::new("newcomer").unwrap().pid(live.id())).unwrap();
    let mut removed: Vec<(&str, &RemoveReason)> = report.removed.iter().map(|r| (r.id.as_str(), &r.reason)).collect();
    removed.sort_by_key(|r| r.0);
    assert_eq!(
        removed,
        vec![
            ("expiring", &RemoveReason::Expired),
            ("reaped", &RemoveReason::ProcessGone),
            ("zombie", &RemoveReason::Zombie)
        ]
    );
    for id in ["expiring", "reaped", "zombie"] {
        assert!(!exists(&dir, id), "{id} is still there");
    }
    assert!(exists(&dir, "live") && exists(&dir, "newcomer"));
    let live_ids: Vec<String> = reg.list_live().unwrap().into_iter().map(|r| r.id).collect();
    assert_eq!(live_ids, vec!["live", "newcomer"]);
    zombie.wait().unwrap();
    live.kill().unwrap();
    live.wait().unwrap();
}

#[test]
fn lease_2_live_foreign_record_is_kept_and_never_overwritten() {
    let (_tmp, dir) = registry_dir();
    let reg = Registry::open(&dir).unwrap();
    let mut other = sleeper();
    let dir_s = dir.to_str().unwrap().to_owned();
    // Another process (same uid) registers the sleeper ...
    assert_eq!(
        run_helper("register", &[dir_s.clone(), "gw-a".into(), other.id().to_string(), "0".into()], None),
        ["ok"]
    );
    // ... our prune keeps it, and so does another process's.
    let report = reg.prune(false).unwrap();
    assert!(report.removed.is_empty(), "{report:?}");
    assert_eq!(report.kept.len(), 1);
    assert_eq!(report.kept[0].status, Status::Alive);
    let lines = run_helper("prune", std::slice::from_ref(&dir_s), None);
    assert_eq!(lines, ["done", "kept gw-a alive"]);
    // Registering the same id for another process is refused, not an overwrite.
    let err = reg.register(&Registration::new("gw-a").unwrap()).unwrap_err();
    assert_eq!(err.kind(), gw_lease::ErrorKind::AlreadyRegistered);
    let rec = parse_record(&std::fs::read(dir.join("gw-a.json")).unwrap()).unwrap();
    assert_eq!(rec.pid, other.id());
    other.kill().unwrap();
    other.wait().unwrap();
    // Once it is gone, the id is free again.
    let (_g, report) = reg.register(&Registration::new("gw-a").unwrap()).unwrap();
    assert_eq!(report.removed[0].reason, RemoveReason::ProcessGone);
}

#[test]
fn lease_3_reused_pid_is_recognised_by_start_time_and_boot_id() {
    let (_tmp, dir) = registry_dir();
    let reg = Registry::open(&dir).unwrap();
    let mut child = sleeper();
    for id in ["control", "old-start", "old-boot"] {
        reg.register(&Registration::new(id).unwrap().pid(child.id())).unwrap().0.persist();
    }
    let real_start = parse_record(&std::fs::read(dir.join("control.json")).unwrap()).unwrap().start_time;
    // The pid is alive, but the records say it belonged to a process that
    // started earlier, or in an earlier boot: the pid was reused.
    rewrite(&dir, "old-start", |r| r.start_time = real_start.saturating_sub(1));
    rewrite(&dir, "old-boot", |r| r.boot_id = "00000000-0000-4000-8000-000000000000".into());
    let report = reg.prune(false).unwrap();
    let mut removed: Vec<(String, RemoveReason)> = report.removed.into_iter().map(|r| (r.id, r.reason)).collect();
    removed.sort_by(|a, b| a.0.cmp(&b.0));
    assert_eq!(
        removed,
        vec![
            ("old-boot".into(), RemoveReason::BootIdDiffers),
            (
                "old-start".into(),
                RemoveReason::StartTimeDiffers { recorded: real_start.saturating_sub(1), found: real_start }
            ),
        ]
    );
    assert_eq!(report.kept.iter().map(|k| k.id.as_str()).collect::<Vec<_>>(), ["control"]);
    assert!(exists(&dir, "control"));
    child.kill().unwrap();
    child.wait().unwrap();
}

#[test]
fn lease_4_process_of_another_uid_is_alive_when_eperm() {
    if !rustix::process::geteuid().is_root() {
        eprintln!("lease_4: needs root to run a child as uid {NOBODY}; skipped");
        return;
    }
    // A registry owned by uid 65534 (its parent traversable by it).
    let tmp = tempfile::Builder::new()
        .prefix("gw-lease-")
        .permissions(std::fs::Permissions::from_mode(0o711))
        .tempdir()
        .unwrap();
    let dir = tmp.path().join("reg");
    common::mkdir(&dir, 0o700);
    common::chown(&dir, NOBODY);
    let dir_s = dir.to_str().unwrap().to_owned();
    // Root-owned processes: one stays alive, one dies.
    let mut alive = sleeper();
    let mut dying = sleeper();
    for (id, child) in [("root-alive", &alive), ("root-dying", &dying)] {
        let out = run_helper("register", &[dir_s.clone(), id.into(), child.id().to_string(), "0".into()], Some(NOBODY));
        assert_eq!(out, ["ok"], "{id}");
    }
    dying.kill().unwrap();
    dying.wait().unwrap();
    // uid 65534 cannot signal root's process: kill(pid, 0) is EPERM, which
    // means alive. The dead one is still pruned (the probe works).
    assert!(rustix::process::test_kill_process(rustix::process::Pid::from_raw(alive.id() as i32).unwrap()).is_ok());
    let lines = run_helper("prune", &[dir_s], Some(NOBODY));
    assert_eq!(lines, ["done", "removed root-dying process_gone", "kept root-alive alive_no_permission"]);
    assert!(exists(&dir, "root-alive"));
    alive.kill().unwrap();
    alive.wait().unwrap();
}

/// Whether this kernel and sandbox let us make a pid namespace.
fn unshare_available() -> bool {
    Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc", "true"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[test]
fn lease_5_record_from_another_pid_namespace_is_kept_until_it_expires() {
    if !unshare_available() {
        eprintln!("lease_5: `unshare --pid --fork --mount-proc` is not available here (needs root); skipped");
        return;
    }
    let (_tmp, dir) = registry_dir();
    let reg = Registry::open(&dir).unwrap();
    let dir_s = dir.to_str().unwrap().to_owned();
    // A process in a new pid namespace registers itself (it is pid 1 there)
    // with a 3 s TTL, and exits. Here, pid 1 is another process entirely
    // (other start time): judged from here, the record would look recycled.
    let exe = std::env::current_exe().unwrap();
    let out = Command::new("unshare")
        .args(["--pid", "--fork", "--mount-proc"])
        .arg(&exe)
        .args(["helper_child", "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env("GW_TEST_HELPER_MODE", "register-self")
        .env("GW_TEST_HELPER_ARGS", format!("{dir_s}\nin-container\n3000"))
        .current_dir("/")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(stdout.contains("GW-HELPER-RESULT ok pid=1 "), "{stdout}\n{}", String::from_utf8_lossy(&out.stderr));
    let rec = parse_record(&std::fs::read(dir.join("in-container.json")).unwrap()).unwrap();
    let here = std::fs::metadata("/proc/self/ns/pid").map(|m| std::os::unix::fs::MetadataExt::ino(&m)).unwrap();
    assert_ne!(rec.pid_namespace, Some(here), "the record names the other namespace");
    assert!(rec.pid_namespace.is_some(), "a Linux record names its pid namespace");

    let report = reg.prune(false).unwrap();
    assert!(report.removed.is_empty(), "{report:?}");
    assert_eq!(report.kept[0].status, Status::OtherPidNamespace);
    assert!(exists(&dir, "in-container"));
    assert_eq!(reg.list_live().unwrap().len(), 1);

    // After the TTL it is pruned.
    let wait =
        rec.expires_unix_ms.unwrap().saturating_sub(gw_lease::WallClock::now_unix_ms(&gw_lease::SystemWallClock));
    std::thread::sleep(Duration::from_millis(wait + 50));
    let report = reg.prune(false).unwrap();
    assert_eq!(report.removed.len(), 1);
    assert_eq!(report.removed[0].reason, RemoveReason::Expired);
    assert!(!exists(&dir, "in-container"));
}

#[test]
fn fs_1_symlink_fifo_dir_and_malformed_entries_are_reported_never_followed_or_deleted() {
    let sb = common::Sandbox::new();
    let dir = sb.tmp().join("reg");
    let reg = Registry::open(&dir).unwrap();
    let before = sb.outside_snapshot();
    // A symlink named like a record, pointing at a (valid-looking) record outside.
    let mut child = sleeper();
    let (g, _) = reg.register(&Registration::new("real").unwrap().pid(child.id())).unwrap();
    let record_bytes = std::fs::read(g.path()).unwrap();
    drop(g);
    std::fs::write(sb.outside.join("victim.json"), &record_bytes).unwrap();
    let before_victim = sb.outside_snapshot();
    common::symlink(sb.outside.join("victim.json"), &dir.join("link.json"));
    common::symlink(&sb.outside, &dir.join("linkdir.json"));
    common::mkfifo(&dir.join("fifo.json"));
    std::fs::create_dir(dir.join("sub.json")).unwrap();
    std::fs::write(dir.join("sub.json/inner.json"), &record_bytes).unwrap();
    std::fs::write(dir.join("bad.json"), b"{\"version\": 1, \"version\": 1}").unwrap();
    std::fs::write(dir.join("notes.txt"), b"hello").unwrap();
    child.kill().unwrap();
    child.wait().unwrap();

    for dry_run in [true, false] {
        let report = reg.prune(dry_run).unwrap();
        assert!(report.removed.is_empty() && report.kept.is_empty(), "{report:?}");
        let mut skipped: Vec<(String, String)> = report
            .skipped
            .iter()
            .map(|s| {
                let why = match &s.reason {
                    SkipReason::NotRegular { kind } => (*kind).to_owned(),
                    SkipReason::Malformed { .. } => "malformed".into(),
                    SkipReason::UnrecognisedName => "name".into(),
                    SkipReason::Failed { message } => format!("failed {message}"),
                    SkipReason::Insecure { .. } => "insecure".into(),
                };
                (s.name.clone(), why)
            })
            .collect();
        skipped.sort();
        let expect: Vec<(String, String)> = [
            ("bad.json", "malformed"),
            ("fifo.json", "fifo"),
            ("link.json", "symlink"),
            ("linkdir.json", "symlink"),
            ("notes.txt", "name"),
            ("sub.json", "dir"),
        ]
        .iter()
        .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
        .collect();
        assert_eq!(skipped, expect);
    }
    for name in ["link.json", "linkdir.json", "fifo.json", "sub.json/inner.json", "bad.json", "notes.txt"] {
        assert!(std::fs::symlink_metadata(dir.join(name)).is_ok(), "{name} was deleted");
    }
    sb.assert_outside_unchanged(&before_victim, "prune must not follow links out of the registry");
    drop(before);
}

#[test]
fn fs_5_insecure_registry_directory_is_refused() {
    let (_tmp, dir) = registry_dir();
    common::mkdir(&dir, 0o700);
    common::chmod(&dir, 0o777);
    let err = Registry::open(&dir).unwrap_err();
    assert!(err.is_security_refusal(), "{err}");
    assert_eq!(err.kind(), gw_lease::ErrorKind::Fs(gw_anchor::ErrorKind::InsecureDirectory));
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing written");
}

/// THREATS FS-9: a record whose mode was widened (0666, 0620) or that uid
/// 65534 owns could have been written by anyone: the library never trusts
/// it. `get`/`live_owner` refuse it (a security refusal naming the fix),
/// `list` does not count it as a record but reports it as `Insecure`,
/// `prune` leaves it alone even though its process is dead, and `register`
/// does not write over it. The control (the same record, 0600 and ours) is
/// read and judged.
#[test]
fn fs_9_record_others_can_write_is_never_trusted() {
    use gw_anchor::ErrorKind as A;
    let (_tmp, dir) = registry_dir();
    let reg = Registry::open(&dir).unwrap();
    let mut child = sleeper();
    let (guard, _) = reg.register(&Registration::new("gw").unwrap().pid(child.id())).unwrap();
    guard.persist();
    let path = dir.join("gw.json");
    assert_eq!(reg.live_owner("gw").unwrap().pid, child.id(), "control: the record as written is trusted");
    child.kill().unwrap();
    child.wait().unwrap();
    for (mode, uid) in [(0o666, 0), (0o620, 0), (0o600, NOBODY)] {
        common::chmod(&path, mode);
        std::os::unix::fs::lchown(&path, Some(uid), Some(uid)).unwrap();
        let before = std::fs::read(&path).unwrap();
        for err in [reg.get("gw").unwrap_err(), reg.live_owner("gw").unwrap_err()] {
            assert_eq!(err.kind(), gw_lease::ErrorKind::Fs(A::InsecureFile), "{mode:o}/{uid}: {err}");
            assert!(err.is_security_refusal() && err.fix().is_some(), "{err}");
        }
        let listing = reg.list().unwrap();
        assert!(listing.records.is_empty(), "{listing:?}");
        assert!(
            matches!(listing.skipped.as_slice(), [s] if s.name == "gw.json" && matches!(s.reason, SkipReason::Insecure { .. })),
            "{listing:?}"
        );
        let report = reg.prune(false).unwrap();
        assert!(report.removed.is_empty(), "a dead process's record others could write is not judged: {report:?}");
        assert!(
            matches!(report.skipped.as_slice(), [s] if matches!(s.reason, SkipReason::Insecure { .. })),
            "{report:?}"
        );
        let err = reg.register(&Registration::new("gw").unwrap()).unwrap_err();
        assert_eq!(err.kind(), gw_lease::ErrorKind::Fs(A::InsecureFile), "{err}");
        assert_eq!(std::fs::read(&path).unwrap(), before, "left exactly as it was");
    }
    // Control: the same record, 0600 and ours again, is judged (dead) and pruned.
    std::os::unix::fs::lchown(&path, Some(0), Some(0)).unwrap();
    common::chmod(&path, 0o600);
    assert_eq!(reg.live_owner("gw").unwrap_err().kind(), gw_lease::ErrorKind::NotRunning);
    assert_eq!(reg.prune(false).unwrap().removed.len(), 1);
}

/// THREATS FS-10: `Registry::open_existing` never creates (a missing
/// directory is `Fs(NotFound)`), and `Registry::open` creates nothing
/// through a symlink uid 65534 planted in a sticky world-writable
/// directory as a parent of the registry (refused, the link's target
/// unchanged), while it does create a registry directly in such a directory.
#[test]
fn fs_10_registry_is_never_created_through_a_symlinked_parent() {
    let (tmp, _) = registry_dir();
    let sticky = tmp.path().join("tmp");
    common::mkdir(&sticky, 0o700);
    common::chmod(&sticky, 0o1777);
    let target = tmp.path().join("target");
    common::mkdir(&target, 0o700);
    let link = sticky.join("link");
    std::os::unix::fs::symlink(&target, &link).unwrap();
    std::os::unix::fs::lchown(&link, Some(NOBODY), Some(NOBODY)).unwrap();

    let missing = sticky.join("missing/reg");
    let err = Registry::open_existing(&missing, &gw_anchor::Policy::new()).unwrap_err();
    assert_eq!(err.kind(), gw_lease::ErrorKind::Fs(gw_anchor::ErrorKind::NotFound), "{err}");
    assert!(!sticky.join("missing").exists(), "open_existing created nothing");

    for rel in ["link/reg", "link/a/b/reg"] {
        let err = Registry::open(sticky.join(rel)).unwrap_err();
        assert_eq!(err.kind(), gw_lease::ErrorKind::Fs(gw_anchor::ErrorKind::Symlink), "{rel}: {err}");
        assert_eq!(std::fs::read_dir(&target).unwrap().count(), 0, "{rel}: nothing created at the link's target");
        let err = Registry::open_existing(sticky.join(rel), &gw_anchor::Policy::new()).unwrap_err();
        assert_eq!(err.kind(), gw_lease::ErrorKind::Fs(gw_anchor::ErrorKind::Symlink), "{rel}: {err}");
    }
    let reg = Registry::open(sticky.join("reg")).unwrap();
    let md = std::fs::symlink_metadata(reg.path()).unwrap();
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&md.permissions()) & 0o7777, 0o700);
}

/// A lease payload within its own limits (≤ 16 KiB compact, ≤ 16 deep)
/// whose record, pretty-printed, exceeds the 64 KiB the record reader reads:
/// refused, and no record is written (before the fix the record was written
/// and every later read of it failed as malformed).
#[test]
fn doc_3_lease_record_past_the_reader_limit_is_refused() {
    let tmp = tempfile::Builder::new().permissions(std::fs::Permissions::from_mode(0o700)).tempdir().unwrap();
    let dir = tmp.path().join("leases");
    let registry = gw_lease::Registry::open_with(&dir, &Policy::new()).unwrap();
    let mut payload = json!(vec![1; 5000]);
    for _ in 0..14 {
        payload = json!([payload]);
    }
    assert!(serde_json::to_vec(&payload).unwrap().len() <= gw_lease::MAX_PAYLOAD_BYTES);
    let reg = gw_lease::Registration::new("big").unwrap().pid(std::process::id()).payload(payload).unwrap();
    let err = registry.register(&reg).map(|_| ()).expect_err("a record its reader refuses is not written");
    assert_eq!(err.kind(), gw_lease::ErrorKind::InvalidPayload, "{err}");
    assert!(err.message().contains("65536"), "the limit is named: {err}");
    assert!(!dir.join("big.json").exists(), "no record written");
    // A small payload registers and reads back.
    let reg = gw_lease::Registration::new("small").unwrap().pid(std::process::id()).payload(json!([[1]])).unwrap();
    let (guard, _) = registry.register(&reg).unwrap();
    assert_eq!(registry.get("small").unwrap().record.payload, json!([[1]]));
    drop(guard);
}
