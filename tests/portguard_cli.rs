//! `gw port who|verify`: exit codes, one-line reasons, --json, pidfiles
//! through gw-anchor — with real listeners, on both sources.

use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Output};

use gw_test_support::portguard::{NOBODY, SOURCES, Spec, Svc, source_arg};

fn gw(args: &[&str], uid: Option<u32>) -> Output {
    let gw = gw_test_support::gw!().args(args).home("/nonexistent-gw-home");
    match uid {
        Some(u) => gw.as_user(u),
        None => gw,
    }
    .output()
}

/// Held by the tests that start a non-dumpable process of uid 65534 or
/// check as 65534 that nothing unreadable is about: one test's non-dumpable
/// process, started after another's service, is a possible holder in that
/// other test's check (the tests of one binary run in parallel).
static UNREADABLE: std::sync::Mutex<()> = std::sync::Mutex::new(());

fn unreadable_serial() -> std::sync::MutexGuard<'static, ()> {
    UNREADABLE.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

fn json(o: &Output) -> serde_json::Value {
    let text = String::from_utf8_lossy(&o.stdout);
    serde_json::from_str(text.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {text:?}"))
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn port_1_cli_verify_owned_exits_0_and_foreign_exits_3_naming_the_listener() {
    for src in SOURCES {
        let s = source_arg(src);
        let service = Svc::spawn(Spec::on(&["127.0.0.1"], 0));
        let port = service.port.to_string();
        let pid = service.root.to_string();
        let o = gw(&["port", "verify", &port, "--pid", &pid, "--timeout", "10s", "--source", s], None);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        assert!(String::from_utf8_lossy(&o.stdout).contains("owned by pid"));
        let o = gw(&["--json", "port", "verify", &port, "--pid", &pid, "--timeout", "10s", "--source", s], None);
        let j = json(&o);
        assert_eq!((j["ok"].as_bool(), j["verdict"].as_str()), (Some(true), Some("owned")));
        assert_eq!(j["listeners"][0]["pid"].as_u64(), Some(u64::from(service.root)));

        let intruder = Svc::spawn(Spec::on(&["::1"], service.port));
        let o = gw(&["port", "verify", &port, "--pid", &pid, "--timeout", "10s", "--source", s], None);
        assert_eq!(o.status.code(), Some(3));
        let err = stderr(&o);
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        assert!(err.starts_with("gw: refused: port verify port"), "{err}");
        assert!(err.contains(&format!("[::1]:{port}")) && err.contains(&intruder.leaf.to_string()), "{err}");
        assert!(err.contains("(fix: "), "{err}");
        let o = gw(&["--json", "port", "verify", &port, "--pid", &pid, "--timeout", "10s", "--source", s], None);
        assert_eq!(o.status.code(), Some(3));
        let j = json(&o);
        assert_eq!(j["verdict"].as_str(), Some("not_owned"));
        assert_eq!(j["foreign"][0]["pid"].as_u64(), Some(u64::from(intruder.leaf)));
        assert_eq!(j["exit_code"].as_u64(), Some(3));
    }
}

#[test]
fn port_3_cli_no_descendants_refuses_a_grandchild_listener() {
    for src in SOURCES {
        let svc = Svc::spawn(Spec { depth: 2, ..Spec::on(&["127.0.0.1"], 0) });
        let (port, pid) = (svc.port.to_string(), svc.root.to_string());
        let base = ["port", "verify", &port, "--pid", &pid, "--timeout", "10s", "--source", source_arg(src)];
        assert_eq!(gw(&base, None).status.code(), Some(0));
        let mut nd = base.to_vec();
        nd.push("--no-descendants");
        assert_eq!(gw(&nd, None).status.code(), Some(3));
        let mut wrong_uid = base.to_vec();
        wrong_uid.extend(["--uid", "65534"]);
        assert_eq!(gw(&wrong_uid, None).status.code(), Some(3));
    }
}

#[test]
fn port_5_cli_other_uid_checker_against_root_listener_is_unknown() {
    for src in SOURCES {
        let svc = Svc::spawn(Spec::on(&["127.0.0.1"], 0));
        let (port, pid) = (svc.port.to_string(), svc.root.to_string());
        let args = ["--json", "port", "verify", &port, "--pid", &pid, "--timeout", "10s", "--source", source_arg(src)];
        // As root: owned. As uid 65534: the root process's fds cannot be read,
        // so ownership is unprovable -> unknown, exit 3.
        assert_eq!(gw(&args, None).status.code(), Some(0));
        let o = gw(&args, Some(NOBODY));
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        let j = json(&o);
        assert_eq!(j["verdict"].as_str(), Some("unknown"), "{j}");
        assert!(stderr(&o).contains("permission denied"), "{}", stderr(&o));
    }
}

/// PORT-5 under `hidepid`: an unprivileged checker (uid 65534) of a uid-65534
/// service whose `/proc` hides other users' processes (a procfs mounted
/// with `hidepid=2` in a private mount namespace: the real kernel's option)
/// cannot rule out a holder it cannot see, so the answer is unknown (3)
/// naming hidepid — never owned. The same check with the ordinary `/proc`
/// is owned, and so is root's under hidepid.
#[test]
fn port_5_cli_under_hidepid_an_unprivileged_checker_answers_unknown() {
    let _serial = unreadable_serial();
    assert!(rustix::process::geteuid().is_root(), "needs root for a mount namespace (run as root, as CI does)");
    for src in SOURCES {
        let svc = Svc::spawn(Spec { uid: Some(NOBODY), ..Spec::on(&["127.0.0.1"], 0) });
        let (port, pid) = (svc.port.to_string(), svc.root.to_string());
        let args = ["--json", "port", "verify", &port, "--pid", &pid, "--timeout", "10s", "--source", source_arg(src)];
        let o = gw(&args, Some(NOBODY));
        assert_eq!((o.status.code(), json(&o)["verdict"].as_str()), (Some(0), Some("owned")), "{}", stderr(&o));
        for (who, want) in [(NOBODY, "unknown"), (0, "owned")] {
            let script = format!(
                "mount -t proc -o hidepid=2 proc /proc && exec setpriv --reuid {who} --regid {who} --clear-groups \"$0\" \"$@\""
            );
            let mut cmd = Command::new("unshare");
            cmd.args(["--mount", "--propagation", "private", "sh", "-c", &script, env!("CARGO_BIN_EXE_gw")]).args(args);
            let o = gw_test_support::cli::Gw::wrapping(cmd).home("/nonexistent-gw-home").output();
            let j = json(&o);
            assert_eq!(j["verdict"].as_str(), Some(want), "uid {who} under hidepid: {j}");
            if who == NOBODY {
                assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
                assert!(stderr(&o).contains("/proc hides processes (hidepid)"), "{}", stderr(&o));
            } else {
                assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
            }
        }
    }
}

#[test]
fn port_1_cli_who_lists_every_listener() {
    for src in SOURCES {
        let a = Svc::spawn(Spec::on(&["127.0.0.1"], 0));
        let b = Svc::spawn(Spec { uid: Some(NOBODY), ..Spec::on(&["::1"], a.port) });
        let port = a.port.to_string();
        let o = gw(&["--json", "port", "who", &port, "--timeout", "10s", "--source", source_arg(src)], None);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let j = json(&o);
        let ls = j["listeners"].as_array().unwrap();
        assert_eq!(ls.len(), 2, "{j}");
        assert_eq!(ls[0]["address"].as_str(), Some(format!("127.0.0.1:{port}").as_str()));
        assert_eq!((ls[0]["uid"].as_u64(), ls[0]["pid"].as_u64()), (Some(0), Some(u64::from(a.leaf))));
        assert_eq!((ls[1]["uid"].as_u64(), ls[1]["pid"].as_u64()), (Some(65534), Some(u64::from(b.leaf))));
        let o = gw(&["port", "who", &port, "--source", source_arg(src)], None);
        let text = String::from_utf8_lossy(&o.stdout);
        assert!(text.contains(&format!("[::1]:{port}\tuid 65534\tpid {}", b.leaf)), "{text}");
    }
}

#[test]
fn port_1_cli_pidfile_in_world_writable_directory_is_refused() {
    let svc = Svc::spawn(Spec::on(&["127.0.0.1"], 0));
    let port = svc.port.to_string();
    let tmp = tempfile::tempdir().unwrap();
    let good = tmp.path().join("run");
    std::fs::create_dir(&good).unwrap();
    std::fs::set_permissions(&good, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::write(good.join("svc.pid"), gw_portguard::pidfile_line(svc.root).unwrap()).unwrap();
    let pf = good.join("svc.pid");
    let o = gw(&["port", "verify", &port, "--pidfile", pf.to_str().unwrap(), "--timeout", "10s"], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));

    // world-writable, not sticky: anyone could have written the pidfile
    let bad = tmp.path().join("open");
    std::fs::create_dir(&bad).unwrap();
    std::fs::set_permissions(&bad, std::fs::Permissions::from_mode(0o777)).unwrap();
    std::fs::write(bad.join("svc.pid"), format!("{}\n", svc.root)).unwrap();
    let pf = bad.join("svc.pid");
    let o = gw(&["port", "verify", &port, "--pidfile", pf.to_str().unwrap(), "--timeout", "10s"], None);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).starts_with("gw: refused:"), "{}", stderr(&o));

    // a stale pidfile (recorded start time of another process) is refused
    std::fs::write(good.join("stale.pid"), format!("{} 1\n", svc.root)).unwrap();
    let pf = good.join("stale.pid");
    let o = gw(&["port", "verify", &port, "--pidfile", pf.to_str().unwrap(), "--timeout", "10s"], None);
    assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
    assert!(stderr(&o).contains("reused"), "{}", stderr(&o));

    // missing pidfile: not found (4); neither --pid nor --pidfile: usage (2)
    let o = gw(&["port", "verify", &port, "--pidfile", good.join("none.pid").to_str().unwrap()], None);
    assert_eq!(o.status.code(), Some(4), "{}", stderr(&o));
    assert_eq!(gw(&["port", "verify", &port], None).status.code(), Some(2));
}

/// The pids `ss -Hltnp 'sport = :P'` names (`users:(("cmd",pid=N,fd=M),...)`).
fn ss_pids(port: &str) -> std::collections::BTreeSet<u64> {
    let o = Command::new("ss").args(["-Hltnp", &format!("sport = :{port}")]).output().expect("ss (iproute2)");
    assert!(o.status.success(), "ss: {}", stderr(&o));
    let text = String::from_utf8_lossy(&o.stdout).into_owned();
    text.split("pid=")
        .skip(1)
        .map(|s| s.split(|c: char| !c.is_ascii_digit()).next().unwrap().parse().unwrap())
        .collect()
}

/// PORT-6 through the CLI: A's listener is inherited by a double-forked
/// grandchild outside A's tree. `gw port verify --pid A` refuses (3) naming
/// the other holder; `gw port who` lists both holders, the same pids `ss`
/// names.
#[test]
fn port_6_cli_verify_names_the_other_holder_and_who_lists_every_holder_like_ss() {
    for src in SOURCES {
        let s = source_arg(src);
        let svc = Svc::spawn(Spec { escape: true, setsid: true, ..Spec::on(&["127.0.0.1"], 0) });
        let (port, pid) = (svc.port.to_string(), svc.root.to_string());
        let o = gw(&["port", "verify", &port, "--pid", &pid, "--timeout", "10s", "--source", s], None);
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        let err = stderr(&o);
        assert!(err.starts_with("gw: refused: port verify port") && err.contains("also held by"), "{err}");
        assert!(err.contains(&format!("pid {}", svc.leaf)), "the other holder is named: {err}");
        let o = gw(&["--json", "port", "verify", &port, "--pid", &pid, "--timeout", "10s", "--source", s], None);
        let j = json(&o);
        assert_eq!(j["verdict"].as_str(), Some("not_owned"), "{j}");
        assert_eq!(j["foreign"][0]["pid"].as_u64(), Some(u64::from(svc.leaf)), "{j}");

        let o = gw(&["--json", "port", "who", &port, "--timeout", "10s", "--source", s], None);
        assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
        let j = json(&o);
        let ls = j["listeners"].as_array().unwrap();
        let pids: std::collections::BTreeSet<u64> = ls.iter().map(|l| l["pid"].as_u64().expect("pid")).collect();
        let want = std::collections::BTreeSet::from([u64::from(svc.root), u64::from(svc.leaf)]);
        assert_eq!(pids, want, "one row per holder: {j}");
        assert!(ls.iter().all(|l| l["inode"] == ls[0]["inode"]), "one socket, two holders: {j}");
        assert_eq!(ss_pids(&port), want, "gw port who names the holders ss names");
        let text = String::from_utf8_lossy(&gw(&["port", "who", &port, "--source", s], None).stdout).into_owned();
        assert_eq!(text.lines().count(), 2, "{text}");
    }
}

/// PORT-6's rule for what an unprivileged checker cannot read: a process it
/// may not read (non-dumpable) could hold the listener only if it started
/// no earlier than the service (so could have inherited it). One of the
/// checker's uid that started before the service is no possible holder:
/// owned (0). (`port_6_cli_as_another_uid_…` has one started after: unknown.)
#[test]
fn port_6_cli_an_unreadable_process_older_than_the_service_is_no_possible_holder() {
    let _serial = unreadable_serial();
    // The escaped grandchild of this one makes itself non-dumpable.
    let older = Svc::spawn(Spec {
        escape: true,
        setsid: true,
        nondumpable: true,
        uid: Some(NOBODY),
        ..Spec::on(&["127.0.0.1"], 0)
    });
    // Start times are in clock ticks (10 ms here): the service starts ticks
    // later, after the grandchild has made itself non-dumpable.
    std::thread::sleep(std::time::Duration::from_millis(300));
    let svc = Svc::spawn(Spec { uid: Some(NOBODY), ..Spec::on(&["127.0.0.1"], 0) });
    let (port, pid) = (svc.port.to_string(), svc.root.to_string());
    let o = gw(&["--json", "port", "verify", &port, "--pid", &pid, "--timeout", "10s"], Some(NOBODY));
    assert_eq!((o.status.code(), json(&o)["verdict"].as_str()), (Some(0), Some("owned")), "{}", stderr(&o));
    // The older process is unreadable to the checker: its own listener's
    // other holder cannot be ruled out.
    let args = ["--json", "port", "verify", &older.port.to_string(), "--pid", &older.root.to_string()];
    let o = gw(&args, Some(NOBODY));
    assert_eq!(json(&o)["verdict"].as_str(), Some("unknown"), "{}", stderr(&o));
    assert!(stderr(&o).contains(&format!("process {} (uid {NOBODY}) could hold it", older.leaf)), "{}", stderr(&o));
}

/// PORT-6 as an unprivileged checker (uid 65534) of a uid-65534 service: the
/// outsider holding the service's listener is seen and named (3, not_owned);
/// an outsider that made itself non-dumpable cannot be seen by 65534, so
/// the answer is unknown (3) naming that process — root sees it (not_owned).
#[test]
fn port_6_cli_as_another_uid_outsider_is_not_owned_and_an_unreadable_one_is_unknown() {
    let _serial = unreadable_serial();
    for nondumpable in [false, true] {
        let svc = Svc::spawn(Spec {
            escape: true,
            setsid: true,
            nondumpable,
            uid: Some(NOBODY),
            ..Spec::on(&["127.0.0.1"], 0)
        });
        let (port, pid) = (svc.port.to_string(), svc.root.to_string());
        let args = ["--json", "port", "verify", &port, "--pid", &pid, "--timeout", "10s"];
        let o = gw(&args, Some(NOBODY));
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        let j = json(&o);
        let want = if nondumpable { "unknown" } else { "not_owned" };
        assert_eq!(j["verdict"].as_str(), Some(want), "nondumpable {nondumpable}: {j}");
        assert!(stderr(&o).contains(&format!("{}", svc.leaf)), "{}", stderr(&o));
        let o = gw(&args, None);
        assert_eq!(o.status.code(), Some(3), "{}", stderr(&o));
        assert_eq!(json(&o)["verdict"].as_str(), Some("not_owned"), "root sees every holder");
    }
}
