//! Atomic replace of a 4 KiB file: gw-anchor beside what a user would pick
//! instead.
//!
//! - `replace_durable`: `Root::write_atomic` (`Durability::Sync`) vs the
//!   `atomic-write-file` crate vs `tempfile` done by hand with the same
//!   durability (`NamedTempFile::new_in`, `write_all`, `sync_all`, `persist`,
//!   then fsync the directory). The baseline is `atomic_write_file`.
//! - `replace_nosync`: `Root::write_atomic` (`Durability::NoSync`) vs
//!   `std::fs::write` (which truncates in place: not atomic). The baseline is
//!   `std_fs_write`.
//!
//! Every contender works in the same fresh directory under the system temp
//! dir (one filesystem); gw's `Root` and tempfile's directory handle are
//! opened once, outside the timed loop (`atomic-write-file` opens the parent
//! directory inside every call: that is its API). The contenders live in
//! `benches/common`. Quote ratios, not times: see benches/README.md and
//! benches/ratios.py.

use std::fs::File;
use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use gw_anchor::{Durability, Resolver};

mod common;

fn bench_durable(c: &mut Criterion) {
    let tmp = common::temp_dir("gw-bench-replace.");
    let dir = tmp.path();
    let data = common::payload();
    let mut group = c.benchmark_group("replace_durable");

    let root = common::root(dir, Resolver::Auto);
    group.bench_function("gw_anchor", |b| {
        b.iter(|| common::gw_replace(&root, black_box("gw.bin"), black_box(&data), Durability::Sync));
    });

    let awf_path = dir.join("awf.bin");
    group.bench_function("atomic_write_file", |b| {
        b.iter(|| common::awf_replace(black_box(&awf_path), black_box(&data)));
    });

    let dir_handle = File::open(dir).expect("open dir");
    let tf_path = dir.join("tempfile.bin");
    group.bench_function("tempfile", |b| {
        b.iter(|| common::tempfile_replace(dir, &dir_handle, black_box(&tf_path), black_box(&data)));
    });

    group.finish();
    common::check_written(dir, &["gw.bin", "awf.bin", "tempfile.bin"], &data);
}

fn bench_nosync(c: &mut Criterion) {
    let tmp = common::temp_dir("gw-bench-replace.");
    let dir = tmp.path();
    let data = common::payload();
    let mut group = c.benchmark_group("replace_nosync");

    let root = common::root(dir, Resolver::Auto);
    group.bench_function("gw_anchor", |b| {
        b.iter(|| common::gw_replace(&root, black_box("gw.bin"), black_box(&data), Durability::NoSync));
    });

    let std_path = dir.join("std.bin");
    group.bench_function("std_fs_write", |b| {
        b.iter(|| common::std_write(black_box(&std_path), black_box(&data)));
    });

    group.finish();
    common::check_written(dir, &["gw.bin", "std.bin"], &data);
}

fn config() -> Criterion {
    Criterion::default().sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(6))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_durable, bench_nosync
}
criterion_main!(benches);
