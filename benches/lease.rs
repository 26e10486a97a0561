//! gw-lease: `Registry::prune` of registries with 100, 1,000 and 10,000
//! records (a third live, a third dead, a third expired), beside the naive
//! prune a caller would write without gw-lease.
//!
//! - `gw_lease_prune/N`: `Registry::prune(false)` — registry lock, list,
//!   strict parse of every record, judge (expiry, boot id, pid namespace,
//!   `kill(pid, 0)`, `/proc/PID/stat` start time for each live or reused
//!   pid), identity re-check and removal of the dead and expired.
//! - `naive_prune/N` (the baseline): `std::fs::read_dir`, `std::fs::read`
//!   and `serde_json::from_slice::<Value>` of each `*.json`, removal when
//!   `expires_unix_ms` has passed or `kill(pid, 0)` says `ESRCH`. No lock, no
//!   start time, no boot id, no namespace: it would delete a live record in
//!   a race, keep recycled pids and judge other namespaces' pids.
//!
//! Both remove exactly the same records here (2/3 of N). Before every timed
//! prune the removed records are written back (untimed: `iter_batched`
//! setup), so each prune sees the full registry. Throughput is in records,
//! so criterion reports time per record; linearity is shown by the
//! per-record time at 1,000 and 10,000 divided by the one at 100, and gw's
//! cost by gw / naive at the same N. Quote ratios, not times (README).

use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use gw_lease::{Record, Registration, Registry};

const SIZES: [usize; 3] = [100, 1_000, 10_000];

/// A registry of `n` records: live (this process), dead (a reaped child's
/// pid) and expired (this process, expiry in the past), in turn. Returns it
/// and the records a prune removes (to write back before each run).
fn registry(dir: &Path, n: usize) -> (Registry, Vec<(PathBuf, Vec<u8>)>) {
    let reg = Registry::open(dir).expect("open registry");
    let template: Record = {
        let (g, _) = reg.register(&Registration::new("template").expect("id")).expect("register");
        g.record().clone()
    };
    let mut dead = std::process::Command::new("true").spawn().expect("spawn true");
    dead.wait().expect("wait");
    let dead_pid = dead.id();
    let mut removable = Vec::new();
    for i in 0..n {
        let mut r = template.clone();
        r.id = format!("rec-{i:05}");
        r.payload = serde_json::json!({ "url": format!("ws://127.0.0.1:{}", 20000 + i % 40000) });
        match i % 3 {
            0 => {}
            1 => r.pid = dead_pid,
            _ => r.expires_unix_ms = Some(1),
        }
        let path = dir.join(format!("{}.json", r.id));
        let bytes = r.to_bytes().expect("render");
        std::fs::write(&path, &bytes).expect("write record");
        if i % 3 != 0 {
            removable.push((path, bytes));
        }
    }
    (reg, removable)
}

fn restore(removable: &[(PathBuf, Vec<u8>)]) {
    for (path, bytes) in removable {
        std::fs::write(path, bytes).expect("restore record");
    }
}

/// The naive prune: no lock, no identity beyond the pid.
fn naive_prune(dir: &Path, now_ms: u64) -> usize {
    let mut removed = 0;
    for entry in std::fs::read_dir(dir).expect("read_dir") {
        let path = entry.expect("entry").path();
        if path.extension().is_none_or(|e| e != "json") {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else { continue };
        let Ok(v) = serde_json::from_slice::<serde_json::Value>(&bytes) else { continue };
        let expired = v["expires_unix_ms"].as_u64().is_some_and(|e| e <= now_ms);
        let pid = v["pid"].as_u64().and_then(|p| i32::try_from(p).ok()).and_then(rustix::process::Pid::from_raw);
        let dead = pid.is_some_and(|p| rustix::process::test_kill_process(p) == Err(rustix::io::Errno::SRCH));
        if (expired || dead) && std::fs::remove_file(&path).is_ok() {
            removed += 1;
        }
    }
    removed
}

fn now_ms() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

fn bench_prune(c: &mut Criterion) {
    let mut group = c.benchmark_group("lease_prune");
    group.sample_size(10).warm_up_time(Duration::from_millis(500)).measurement_time(Duration::from_secs(3));
    for n in SIZES {
        let tmp = tempfile::Builder::new().prefix("gw-bench-lease.").tempdir().expect("temp dir");
        let dir = tmp.path().join("reg");
        let (reg, removable) = registry(&dir, n);
        let expect = removable.len();
        group.throughput(Throughput::Elements(n as u64));
        group.bench_function(format!("gw_lease_prune/{n}"), |b| {
            b.iter_batched(
                || restore(&removable),
                |()| {
                    let report = reg.prune(black_box(false)).expect("prune");
                    assert_eq!(report.removed.len(), expect);
                },
                BatchSize::PerIteration,
            );
        });
        group.bench_function(format!("naive_prune/{n}"), |b| {
            b.iter_batched(
                || restore(&removable),
                |()| assert_eq!(naive_prune(black_box(&dir), now_ms()), expect),
                BatchSize::PerIteration,
            );
        });
    }
    group.finish();
}

criterion_group!(benches, bench_prune);
criterion_main!(benches);
