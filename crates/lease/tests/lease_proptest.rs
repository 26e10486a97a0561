//! State-machine test of a gw-lease registry against a reference model
//! (issue 6 §4): random sequences of spawn, exit (reaped or zombie), pid
//! reuse, uid change (EPERM), register (guards kept and dropped), records
//! written from another pid namespace, clock advances and prunes — run on a
//! real registry directory with an injected process oracle and clock.
//!
//! After every step the directory must hold exactly the model's records, and
//! every prune must report exactly the model's removals and reasons. In
//! particular a prune never removes a live record (LEASE-2, LEASE-4), nor an
//! unexpired record from another namespace (LEASE-5), and always removes a
//! dead, zombie, recycled (LEASE-3) or expired one (LEASE-1). The real
//! `/proc` oracle is covered by crates/lease/tests/lease_threats.rs.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex};

use gw_anchor::{Policy, Root};
use gw_lease::{
    ErrorKind, Identity, LeaseGuard, Probe, ProcessOracle, Record, Registration, Registry, RemoveReason, Status,
    WallClock,
};
use proptest::prelude::*;

const BOOT: &str = "0123abcd-0000-4000-8000-00000000beef";
const NS: u64 = 4026531836;
const OTHER_NS: u64 = 4026532999;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Proc {
    Running(u64),
    NoPerm(u64),
    Zombie,
}

#[derive(Debug, Default)]
struct World {
    procs: HashMap<u32, Proc>,
    next_start: u64,
    now: u64,
}

#[derive(Debug, Clone, Default)]
struct Fake(Arc<Mutex<World>>);

impl ProcessOracle for Fake {
    fn probe(&self, pid: u32) -> Probe {
        match self.0.lock().unwrap().procs.get(&pid) {
            None => Probe::Gone,
            Some(Proc::Zombie) => Probe::Zombie,
            Some(Proc::Running(s)) => Probe::Running { start_time: *s },
            Some(Proc::NoPerm(s)) => Probe::NoPermission { start_time: Some(*s) },
        }
    }
    fn identify(&self, pid: u32) -> gw_lease::Result<Identity> {
        match self.0.lock().unwrap().procs.get(&pid) {
            Some(Proc::Running(s) | Proc::NoPerm(s)) => {
                Ok(Identity { start_time: *s, pid_namespace: Some(NS), uid: 0 })
            }
            _ => Err(gw_lease::Error::process_not_found("register", pid)),
        }
    }
    fn boot_id(&self) -> Option<String> {
        Some(BOOT.into())
    }
    fn pid_namespace(&self) -> Option<u64> {
        Some(NS)
    }
    fn current_pid(&self) -> u32 {
        1
    }
}

impl WallClock for Fake {
    fn now_unix_ms(&self) -> u64 {
        self.0.lock().unwrap().now
    }
}

#[derive(Debug, Clone)]
enum Op {
    Spawn(u32),
    Exit { pid: u32, zombie: bool },
    Reap(u32),
    LoseSignal(u32),
    Register { id: u8, pid: u32, ttl: Option<u64> },
    Release(u8),
    Foreign { id: u8, pid: u32, ttl: Option<u64> },
    Advance(u64),
    Prune,
}

fn op() -> impl Strategy<Value = Op> {
    let pid = 1u32..6;
    let id = 0u8..4;
    let ttl = proptest::option::of(1u64..60);
    prop_oneof![
        3 => pid.clone().prop_map(Op::Spawn),
        2 => (pid.clone(), any::<bool>()).prop_map(|(pid, zombie)| Op::Exit { pid, zombie }),
        1 => pid.clone().prop_map(Op::Reap),
        1 => pid.clone().prop_map(Op::LoseSignal),
        4 => (id.clone(), pid.clone(), ttl.clone()).prop_map(|(id, pid, ttl)| Op::Register { id, pid, ttl }),
        1 => id.clone().prop_map(Op::Release),
        1 => (id, pid, ttl).prop_map(|(id, pid, ttl)| Op::Foreign { id, pid, ttl }),
        2 => (1u64..40).prop_map(Op::Advance),
        3 => Just(Op::Prune),
    ]
}

/// The model's record: pid, start time, expiry, foreign namespace, nonce.
#[derive(Debug, Clone, PartialEq)]
struct M {
    pid: u32,
    start: u64,
    expires: Option<u64>,
    foreign: bool,
    nonce: String,
}

/// The model's verdict (None = keep).
fn model_verdict(m: &M, w: &World) -> Result<Status, RemoveReason> {
    if m.expires.is_some_and(|e| e <= w.now) {
        return Err(RemoveReason::Expired);
    }
    if m.foreign {
        return Ok(Status::OtherPidNamespace);
    }
    match w.procs.get(&m.pid) {
        None => Err(RemoveReason::ProcessGone),
        Some(Proc::Zombie) => Err(RemoveReason::Zombie),
        Some(Proc::Running(s)) if *s == m.start => Ok(Status::Alive),
        Some(Proc::NoPerm(s)) if *s == m.start => Ok(Status::AliveNoPermission),
        Some(Proc::Running(s) | Proc::NoPerm(s)) => {
            Err(RemoveReason::StartTimeDiffers { recorded: m.start, found: *s })
        }
    }
}

/// Applies a prune to the model; returns the expected removals.
fn model_prune(model: &mut BTreeMap<String, M>, w: &World) -> BTreeMap<String, RemoveReason> {
    let mut removed = BTreeMap::new();
    model.retain(|id, m| match model_verdict(m, w) {
        Ok(_) => true,
        Err(r) => {
            removed.insert(id.clone(), r);
            false
        }
    });
    removed
}

fn on_disk(dir: &std::path::Path) -> BTreeMap<String, M> {
    let mut out = BTreeMap::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let name = e.unwrap().file_name().into_string().unwrap();
        if let Some(id) = name.strip_suffix(".json") {
            let r: Record = gw_lease::parse_record(&std::fs::read(dir.join(&name)).unwrap()).unwrap();
            let m = M {
                pid: r.pid,
                start: r.start_time,
                expires: r.expires_unix_ms,
                foreign: r.pid_namespace != Some(NS),
                nonce: r.nonce,
            };
            out.insert(id.to_owned(), m);
        }
    }
    out
}

fn run(ops: Vec<Op>) -> Result<(), TestCaseError> {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("reg");
    std::fs::create_dir(&dir).unwrap();
    let fake = Fake::default();
    fake.0.lock().unwrap().now = 1_000;
    let root = Root::open(&dir, &Policy::new()).unwrap();
    let reg = Registry::from_parts(root, Arc::new(fake.clone()), Arc::new(fake.clone()));
    let mut model: BTreeMap<String, M> = BTreeMap::new();
    let mut guards: HashMap<String, LeaseGuard> = HashMap::new();

    for op in ops {
        match op {
            Op::Spawn(pid) => {
                let mut w = fake.0.lock().unwrap();
                if !w.procs.contains_key(&pid) {
                    w.next_start += 1;
                    let s = w.next_start;
                    w.procs.insert(pid, Proc::Running(s));
                }
            }
            Op::Exit { pid, zombie } => {
                let mut w = fake.0.lock().unwrap();
                if matches!(w.procs.get(&pid), Some(Proc::Running(_) | Proc::NoPerm(_))) {
                    if zombie {
                        w.procs.insert(pid, Proc::Zombie);
                    } else {
                        w.procs.remove(&pid);
                    }
                }
            }
            Op::Reap(pid) => {
                let mut w = fake.0.lock().unwrap();
                if w.procs.get(&pid) == Some(&Proc::Zombie) {
                    w.procs.remove(&pid);
                }
            }
            Op::LoseSignal(pid) => {
                let mut w = fake.0.lock().unwrap();
                if let Some(Proc::Running(s)) = w.procs.get(&pid).copied() {
                    w.procs.insert(pid, Proc::NoPerm(s));
                }
            }
            Op::Advance(ms) => fake.0.lock().unwrap().now += ms,
            Op::Register { id, pid, ttl } => {
                let id = format!("id{id}");
                let mut r = Registration::new(&id).unwrap().pid(pid);
                if let Some(t) = ttl {
                    r = r.ttl(std::time::Duration::from_millis(t));
                }
                let res = reg.register(&r);
                let w = fake.0.lock().unwrap();
                let start = match w.procs.get(&pid) {
                    Some(Proc::Running(s) | Proc::NoPerm(s)) => *s,
                    _ => {
                        let e = res.expect_err("registering a dead pid must fail");
                        prop_assert_eq!(e.kind(), ErrorKind::ProcessNotFound);
                        continue;
                    }
                };
                let removed = model_prune(&mut model, &w);
                let conflict = model.get(&id).is_some_and(|m| m.foreign || m.pid != pid || m.start != start);
                match res {
                    Ok((guard, report)) => {
                        prop_assert!(!conflict, "register overwrote a kept record of another process");
                        let got: BTreeMap<String, RemoveReason> =
                            report.removed.into_iter().map(|r| (r.id, r.reason)).collect();
                        prop_assert_eq!(got, removed);
                        let expires = ttl.map(|t| w.now + t);
                        let nonce = guard.record().nonce.clone();
                        model.insert(id.clone(), M { pid, start, expires, foreign: false, nonce });
                        drop(w);
                        // Replacing the guard drops the old one: it must not
                        // remove the new record (its nonce differs).
                        guards.insert(id, guard);
                    }
                    Err(e) => {
                        prop_assert!(conflict, "register failed without a conflict: {}", e);
                        prop_assert_eq!(e.kind(), ErrorKind::AlreadyRegistered);
                    }
                }
            }
            Op::Release(id) => {
                let id = format!("id{id}");
                if let Some(g) = guards.remove(&id) {
                    let nonce = g.record().nonce.clone();
                    drop(g);
                    if model.get(&id).is_some_and(|m| m.nonce == nonce) {
                        model.remove(&id);
                    }
                }
            }
            Op::Foreign { id, pid, ttl } => {
                let id = format!("id{id}");
                if model.contains_key(&id) {
                    continue; // another namespace's registrar would see it taken too
                }
                let now = fake.0.lock().unwrap().now;
                let rec = Record {
                    version: 1,
                    id: id.clone(),
                    pid,
                    start_time: 999_999,
                    boot_id: BOOT.into(),
                    pid_namespace: Some(OTHER_NS),
                    uid: 0,
                    port: None,
                    created_unix_ms: now,
                    expires_unix_ms: ttl.map(|t| now + t),
                    nonce: "f".repeat(32),
                    payload: serde_json::Value::Null,
                };
                std::fs::write(dir.join(format!("{id}.json")), rec.to_bytes().unwrap()).unwrap();
                let m = M { pid, start: 999_999, expires: rec.expires_unix_ms, foreign: true, nonce: rec.nonce };
                model.insert(id, m);
            }
            Op::Prune => {
                let report = reg.prune(false).unwrap();
                let w = fake.0.lock().unwrap();
                // Never a live record; always a dead one.
                for r in &report.removed {
                    let m = model.get(&r.id).expect("removed a record the model does not have");
                    prop_assert!(model_verdict(m, &w).is_err(), "pruned a live record {}: {:?}", r.id, m);
                }
                let removed = model_prune(&mut model, &w);
                let got: BTreeMap<String, RemoveReason> =
                    report.removed.into_iter().map(|r| (r.id, r.reason)).collect();
                prop_assert_eq!(got, removed);
                for k in &report.kept {
                    prop_assert_eq!(Ok(k.status.clone()), model_verdict(&model[&k.id], &w));
                }
            }
        }
        prop_assert_eq!(on_disk(&dir), model.clone());
    }
    // Dropping every guard leaves only records that are not ours.
    let ours: Vec<(String, String)> = guards.iter().map(|(k, g)| (k.clone(), g.record().nonce.clone())).collect();
    drop(guards);
    for (id, nonce) in ours {
        if model.get(&id).is_some_and(|m| m.nonce == nonce) {
            model.remove(&id);
        }
    }
    prop_assert_eq!(on_disk(&dir), model);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn lease_registry_state_machine_matches_model(ops in proptest::collection::vec(op(), 1..40)) {
        run(ops)?;
    }
}
