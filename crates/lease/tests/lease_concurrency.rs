//! Concurrent registrars and pruners lose nothing (issue 6 §1): threads of
//! one process (sharing a `Registry`, and each with its own) and separate
//! processes (this test binary re-executed) register live records — many of
//! them re-using the ids of dead records that the pruners race to remove —
//! while pruners prune in a loop. Afterwards every registration is on disk
//! with its live pid, no pruner ever reported removing a live record, and
//! every dead record is gone. Contenders — each for its own live process —
//! race for the same ids: each id is won exactly once and the winner's
//! record is the one on disk (the others are refused, not silently
//! overwritten).
//!
//! Without the registry lock a pruner that judged a dead `x.json` could
//! remove the live `x.json` a registrar wrote after the judgement, and a
//! registration would be lost.

use gw_test_support as common;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use gw_lease::{Registration, Registry};

fn dispatch(mode: &str, args: &[String]) -> Vec<String> {
    match mode {
        // register-many DIR PREFIX N PID
        "register-many" => {
            let reg = Registry::open(&args[0]).unwrap();
            let n: usize = args[2].parse().unwrap();
            for i in 0..n {
                let r = Registration::new(format!("{}-{i}", args[1])).unwrap().pid(args[3].parse().unwrap());
                reg.register(&r).unwrap().0.persist();
            }
            vec![format!("ok {n}")]
        }
        // contest DIR N PID: try to take the ids c-0 .. c-N for PID
        "contest" => {
            let reg = Registry::open(&args[0]).unwrap();
            let pid: u32 = args[2].parse().unwrap();
            let mut out = vec!["done".to_owned()];
            for i in 0..args[1].parse::<usize>().unwrap() {
                out.extend(contest(&reg, i, pid));
            }
            out
        }
        // prune-loop DIR ROUNDS
        "prune-loop" => {
            let reg = Registry::open(&args[0]).unwrap();
            let mut out = vec!["done".to_owned()];
            for _ in 0..args[1].parse::<usize>().unwrap() {
                for r in reg.prune(false).unwrap().removed {
                    out.push(format!("removed {} {}", r.id, r.record.pid));
                }
            }
            out
        }
        other => panic!("unknown helper mode {other}"),
    }
}

/// Tries to register `c-i` for `pid`: `Some("won c-i pid")` if this call
/// got it, `None` if a live record of another process held it.
fn contest(reg: &Registry, i: usize, pid: u32) -> Option<String> {
    match reg.register(&Registration::new(format!("c-{i}")).unwrap().pid(pid)) {
        Ok((g, _)) => {
            g.persist();
            Some(format!("won c-{i} {pid}"))
        }
        Err(e) if e.kind() == gw_lease::ErrorKind::AlreadyRegistered => None,
        Err(e) => panic!("register c-{i}: {e}"),
    }
}

/// Every contested id was won exactly once, and the record on disk is the
/// winner's: two winners mean one registration overwrote the other (lost).
fn check_contest(dir: &Path, won: &[String], n: usize) {
    let on_disk = records(dir);
    for i in 0..n {
        let id = format!("c-{i}");
        let winners: Vec<&String> = won.iter().filter(|w| w.split(' ').nth(1) == Some(id.as_str())).collect();
        assert_eq!(winners.len(), 1, "{id} was registered by {} callers: {winners:?}", winners.len());
        let pid: u32 = winners[0].split(' ').nth(2).unwrap().parse().unwrap();
        assert!(on_disk.contains(&(id.clone(), pid)), "{id}: the winner's record (pid {pid}) was lost");
    }
}

#[test]
fn helper_child() {
    common::helper_main(dispatch);
}

fn sleeper() -> Child {
    Command::new("sleep").arg("120").stdin(Stdio::null()).spawn().unwrap()
}

/// Writes `ids` as records of a process that is then killed: all dead.
fn dead_records(reg: &Registry, ids: &[String]) {
    let mut doomed = sleeper();
    for id in ids {
        reg.register(&Registration::new(id).unwrap().pid(doomed.id())).unwrap().0.persist();
    }
    doomed.kill().unwrap();
    doomed.wait().unwrap();
}

fn records(dir: &Path) -> BTreeSet<(String, u32)> {
    std::fs::read_dir(dir)
        .unwrap()
        .filter_map(|e| {
            let name = e.unwrap().file_name().into_string().unwrap();
            let id = name.strip_suffix(".json")?.to_owned();
            let rec = gw_lease::parse_record(&std::fs::read(dir.join(&name)).unwrap()).unwrap();
            Some((id, rec.pid))
        })
        .collect()
}

#[test]
fn lease_2_concurrent_thread_registrars_and_pruners_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reg");
    let shared = Registry::open(&dir).unwrap();
    let mut live = sleeper();
    let live_pid = live.id();
    const THREADS: usize = 4;
    const PER: usize = 30;
    // Half of every registrar's ids are held by dead records at the start.
    let reused: Vec<String> =
        (0..THREADS).flat_map(|t| (0..PER).step_by(2).map(move |i| format!("t{t}-{i}"))).collect();
    let extra_dead: Vec<String> = (0..40).map(|i| format!("dead-{i}")).collect();
    dead_records(&shared, &reused);
    dead_records(&shared, &extra_dead);

    let stop = Arc::new(AtomicBool::new(false));
    let pruners: Vec<_> = (0..2)
        .map(|p| {
            // One pruner shares the registrars' Registry, one has its own.
            let reg = if p == 0 { shared.clone() } else { Registry::open(&dir).unwrap() };
            let stop = stop.clone();
            std::thread::spawn(move || {
                let mut removed = Vec::new();
                while !stop.load(Ordering::Relaxed) {
                    removed.extend(reg.prune(false).unwrap().removed.into_iter().map(|r| r.record.pid));
                }
                removed
            })
        })
        .collect();
    let registrars: Vec<_> = (0..THREADS)
        .map(|t| {
            let reg = if t % 2 == 0 { shared.clone() } else { Registry::open(&dir).unwrap() };
            std::thread::spawn(move || {
                for i in 0..PER {
                    let r = Registration::new(format!("t{t}-{i}")).unwrap().pid(live_pid);
                    reg.register(&r).unwrap().0.persist();
                }
            })
        })
        .collect();
    // Contenders: each its own live process, all after the same ids.
    let mut contenders_procs: Vec<Child> = (0..3).map(|_| sleeper()).collect();
    let contenders: Vec<_> = contenders_procs
        .iter()
        .enumerate()
        .map(|(k, p)| {
            let reg = if k == 0 { shared.clone() } else { Registry::open(&dir).unwrap() };
            let pid = p.id();
            std::thread::spawn(move || (0..PER).filter_map(|i| contest(&reg, i, pid)).collect::<Vec<_>>())
        })
        .collect();
    for r in registrars {
        r.join().unwrap();
    }
    let won: Vec<String> = contenders.into_iter().flat_map(|c| c.join().unwrap()).collect();
    stop.store(true, Ordering::Relaxed);
    for p in pruners {
        let removed = p.join().unwrap();
        assert!(!removed.contains(&live_pid), "a pruner removed a live record");
    }
    shared.prune(false).unwrap();
    check_contest(&dir, &won, PER);
    let expect: BTreeSet<(String, u32)> =
        (0..THREADS).flat_map(|t| (0..PER).map(move |i| (format!("t{t}-{i}"), live_pid))).collect();
    let got: BTreeSet<(String, u32)> = records(&dir).into_iter().filter(|(id, _)| !id.starts_with("c-")).collect();
    assert_eq!(got, expect, "a registration was lost, or a dead record survived");
    live.kill().unwrap();
    live.wait().unwrap();
    for mut p in contenders_procs.drain(..) {
        p.kill().unwrap();
        p.wait().unwrap();
    }
}

fn spawn_helper(mode: &str, args: &[String]) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["helper_child", "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env("GW_TEST_HELPER_MODE", mode)
        .env("GW_TEST_HELPER_ARGS", args.join("\n"))
        .current_dir("/")
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

fn results(child: Child) -> Vec<String> {
    let mut child = child;
    let lines: Vec<String> = BufReader::new(child.stdout.take().unwrap())
        .lines()
        .map(Result::unwrap)
        .filter_map(|l| l.strip_prefix("GW-HELPER-RESULT ").map(str::to_owned))
        .collect();
    assert!(child.wait().unwrap().success(), "helper failed: {lines:?}");
    lines
}

#[test]
fn lease_2_concurrent_process_registrars_and_pruners_lose_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reg");
    let reg = Registry::open(&dir).unwrap();
    let dir_s = dir.to_str().unwrap().to_owned();
    let mut live = sleeper();
    let live_pid = live.id();
    const PROCS: usize = 4;
    const PER: usize = 25;
    let reused: Vec<String> = (0..PROCS).flat_map(|p| (0..PER).step_by(2).map(move |i| format!("p{p}-{i}"))).collect();
    dead_records(&reg, &reused);

    let pruners: Vec<Child> = (0..2).map(|_| spawn_helper("prune-loop", &[dir_s.clone(), "40".into()])).collect();
    let registrars: Vec<Child> = (0..PROCS)
        .map(|p| {
            spawn_helper("register-many", &[dir_s.clone(), format!("p{p}"), PER.to_string(), live_pid.to_string()])
        })
        .collect();
    let mut contender_procs: Vec<Child> = (0..3).map(|_| sleeper()).collect();
    let contenders: Vec<Child> = contender_procs
        .iter()
        .map(|p| spawn_helper("contest", &[dir_s.clone(), PER.to_string(), p.id().to_string()]))
        .collect();
    for r in registrars {
        assert_eq!(results(r), [format!("ok {PER}")]);
    }
    let won: Vec<String> = contenders.into_iter().flat_map(|c| results(c).into_iter().skip(1)).collect();
    for p in pruners {
        for line in results(p).iter().skip(1) {
            assert!(!line.ends_with(&format!(" {live_pid}")), "a pruner removed a live record: {line}");
        }
    }
    reg.prune(false).unwrap();
    check_contest(&dir, &won, PER);
    let expect: BTreeSet<(String, u32)> =
        (0..PROCS).flat_map(|p| (0..PER).map(move |i| (format!("p{p}-{i}"), live_pid))).collect();
    let got: BTreeSet<(String, u32)> = records(&dir).into_iter().filter(|(id, _)| !id.starts_with("c-")).collect();
    assert_eq!(got, expect, "a registration was lost, or a dead record survived");
    live.kill().unwrap();
    live.wait().unwrap();
    for p in &mut contender_procs {
        p.kill().unwrap();
        p.wait().unwrap();
    }
}
