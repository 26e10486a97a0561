//! Anchored open+read of a small file 8 directories deep, gw-anchor beside
//! what a user would pick instead.
//!
//! Group `open_read_8deep`:
//! - `std_fs_read`: `std::fs::read` of the full path string (the baseline;
//!   no anchoring, follows any symlink);
//! - `gw_openat2`: `Root::read` with `Resolver::Openat2` (one `openat2` call);
//! - `gw_walk`: `Root::read` with `Resolver::Walk` (one `openat` per
//!   component);
//! - `cap_std`: `cap_std::fs::Dir::read`, the directory opened once with
//!   `Dir::open_ambient_dir`.
//!
//! The roots and the cap-std `Dir` are opened once, outside the timed loop.
//! The contenders live in `benches/common`. Quote ratios, not times: see
//! benches/README.md and benches/ratios.py.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use gw_anchor::Resolver;

mod common;

fn bench_open_read(c: &mut Criterion) {
    let tmp = common::temp_dir("gw-bench-read.");
    let dir = tmp.path();
    let full = common::make_read_tree(dir);

    let openat2 = common::root(dir, Resolver::Openat2);
    let walk = common::root(dir, Resolver::Walk);
    let cap = common::cap_dir(dir);

    let mut group = c.benchmark_group("open_read_8deep");
    group.bench_function("std_fs_read", |b| b.iter(|| common::std_read(black_box(&full))));
    group.bench_function("gw_openat2", |b| b.iter(|| common::gw_read(black_box(&openat2))));
    group.bench_function("gw_walk", |b| b.iter(|| common::gw_read(black_box(&walk))));
    group.bench_function("cap_std", |b| b.iter(|| common::cap_read(black_box(&cap))));
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().sample_size(50).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(4))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_open_read
}
criterion_main!(benches);
