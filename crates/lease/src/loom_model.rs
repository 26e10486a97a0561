//! loom models of the registry's in-process concurrency: the transactions
//! of `txn.rs` run by threads that share one registry, serialised by the
//! in-process half of the registry's lock — gw-persist's keyed lock table,
//! the one its `FileLock` takes before the `flock` (the cross-process `flock`
//! is exercised by the real-process tests). The store has the directory's granularity (an
//! identity check and a removal are two steps), so a transaction that ran
//! outside the lock would let loom find a lost registration.
//!
//! Run: `RUSTFLAGS="--cfg loom" LOOM_MAX_PREEMPTIONS=2 cargo test --release -p gw-lease --lib loom_`

use std::time::Duration;

use gw_persist::KeyedLocks;
use loom::sync::Arc;
use loom::thread;

use crate::judge::Context;
use crate::oracle::Probe;
use crate::record::{self, FORMAT_VERSION, Record};
use crate::store::{MemStore, Store};
use crate::txn::{self, LOCK_FILE};

const BOOT: &str = "0123abcd-0000-4000-8000-00000000beef";
const NS: u64 = 4026531836;

fn ctx() -> Context {
    Context { now_unix_ms: 1_000, boot_id: Some(BOOT.into()), pid_namespace: Some(NS), has_pid_namespaces: true }
}

/// pid 1 is dead; every other pid runs with start time pid * 10.
fn probe(pid: u32) -> Probe {
    if pid == 1 { Probe::Gone } else { Probe::Running { start_time: u64::from(pid) * 10 } }
}

fn rec(id: &str, pid: u32, nonce_digit: char) -> Record {
    Record {
        version: FORMAT_VERSION,
        id: id.into(),
        pid,
        start_time: u64::from(pid) * 10,
        boot_id: BOOT.into(),
        pid_namespace: Some(NS),
        uid: 0,
        port: None,
        created_unix_ms: 0,
        expires_unix_ms: None,
        nonce: std::iter::repeat_n(nonce_digit, 32).collect(),
        payload: serde_json::Value::Null,
    }
}

/// Runs `f` holding the registry lock's key in `locks`, as
/// `Registry::locked` does through `FileLock` (loom waits without timeout).
fn with_inproc_lock<T>(locks: &KeyedLocks<&'static str>, f: impl FnOnce() -> T) -> T {
    let _held = locks.lock(LOCK_FILE, Duration::from_secs(30)).expect("loom waits without timeout");
    f()
}

fn stored(store: &MemStore, id: &str) -> Option<Record> {
    store.snapshot().get(&record::file_name(id)).map(|b| record::parse_record(b).unwrap())
}

/// A registrar re-using the id of a dead record races a pruner: the new
/// registration is never lost and the pruner never removes a live record.
#[test]
fn loom_register_vs_prune_loses_nothing() {
    loom::model(|| {
        let store = Arc::new(MemStore::default());
        let lock = Arc::new(KeyedLocks::new());
        store.write(&record::file_name("a"), &rec("a", 1, '1').to_bytes().unwrap()).unwrap();

        let (s, l) = (store.clone(), lock.clone());
        let registrar = thread::spawn(move || {
            with_inproc_lock(&l, || txn::register(&*s, &ctx(), &probe, &rec("a", 2, '2'))).unwrap();
        });
        let (s, l) = (store.clone(), lock.clone());
        let pruner = thread::spawn(move || with_inproc_lock(&l, || txn::prune(&*s, &ctx(), &probe, false)).unwrap());
        registrar.join().unwrap();
        let report = pruner.join().unwrap();

        assert!(report.removed.iter().all(|r| r.record.pid == 1), "a live record was pruned: {report:?}");
        assert_eq!(stored(&store, "a").map(|r| r.pid), Some(2), "the registration was lost");
    });
}

/// An old guard's release races the same process registering the id again
/// (a restart): the release removes only its own record, never the new one.
#[test]
fn loom_stale_release_vs_reregister_keeps_the_new_record() {
    loom::model(|| {
        let store = Arc::new(MemStore::default());
        let lock = Arc::new(KeyedLocks::new());
        let old = rec("b", 2, '1');
        store.write(&record::file_name("b"), &old.to_bytes().unwrap()).unwrap();

        let (s, l) = (store.clone(), lock.clone());
        let releaser = thread::spawn(move || with_inproc_lock(&l, || txn::release(&*s, "b", &old.nonce)).unwrap());
        let (s, l) = (store.clone(), lock.clone());
        let registrar = thread::spawn(move || {
            with_inproc_lock(&l, || txn::register(&*s, &ctx(), &probe, &rec("b", 2, '2'))).unwrap();
        });
        releaser.join().unwrap();
        registrar.join().unwrap();

        let now = stored(&store, "b").expect("the new registration was removed by a stale guard");
        assert!(now.nonce.starts_with('2'));
    });
}
