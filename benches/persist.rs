//! gw-persist's document layer beside the plain serde_json + gw-anchor code a
//! caller would write without it.
//!
//! - `save_durable` / `save_nosync`: `Document::save` of a ~4 KiB typed
//!   profile document (`gw_persist_save`; serialized through a
//!   `serde_json::Value`) and `Document::save_value` of the same document
//!   already held as a `Value` (`gw_persist_save_value`), vs
//!   `serde_json::to_vec_pretty` + newline + `Root::write_atomic`
//!   (`serde_anchor`, the baseline). Same mode (0600) and durability.
//! - `update_durable` / `update_nosync`: `Document::update_value` bumping a
//!   counter (`gw_persist_update`: in-process lock, `flock`, strict load,
//!   atomic save) vs the same read-modify-write with no lock and no checks
//!   (`unlocked_rmw`, the baseline: `Root::read`, `serde_json::from_slice`,
//!   bump, pretty, `Root::write_atomic`), and the rungs between them, each
//!   adding one part of gw-persist's work: `strict_rmw` (strict parser),
//!   `checked_rmw` (+ gw-persist's file checks, same system calls),
//!   `flock_rmw` (+ the cross-process `flock`). See `benches/common`.
//! - `parse_1mib`: `gw_persist::parse_json` (strict: size limit, BOM,
//!   UTF-8, depth, duplicate keys, trailing data) vs
//!   `serde_json::from_slice::<Value>` (`serde_json_from_slice`, the
//!   baseline) on the same ~1 MiB pretty-printed document. gw-persist turns
//!   on serde_json's `float_roundtrip` feature, and features are unified, so
//!   the baseline parses with it too.
//!
//! Every file lives in one fresh directory under the system temp dir; the
//! `Root` and `Document`s are made once, outside the timed loop, and every
//! contender's file is written once before timing (so each timed save or
//! update replaces an existing file; gw-persist's first update also creates
//! its lock file). The contenders live in
//! `benches/common`. Quote ratios, not times: see benches/README.md and
//! benches/ratios.py.

use std::hint::black_box;
use std::time::Duration;

use criterion::{Criterion, criterion_group, criterion_main};
use gw_anchor::{Durability, Resolver};

mod common;

fn bench_save(c: &mut Criterion, group_name: &str, durability: Durability) {
    let tmp = common::temp_dir("gw-bench-persist.");
    let dir = tmp.path();
    let root = common::root(dir, Resolver::Auto);
    let typed = common::profile_doc(common::DOC_SIZE);
    let value = serde_json::to_value(&typed).expect("to value");
    let doc = common::document(&root, "save.json", durability);
    let doc_value = common::document(&root, "save_value.json", durability);
    // Every file exists before timing: each timed save replaces one.
    common::serde_anchor_save(&root, "plain.json", &typed, durability);
    common::persist_save(&doc, &typed);
    common::persist_save_value(&doc_value, &value);
    let mut group = c.benchmark_group(group_name);

    group.bench_function("serde_anchor", |b| {
        b.iter(|| common::serde_anchor_save(&root, black_box("plain.json"), black_box(&typed), durability));
    });

    group.bench_function("gw_persist_save", |b| b.iter(|| common::persist_save(black_box(&doc), black_box(&typed))));

    group.bench_function("gw_persist_save_value", |b| {
        b.iter(|| common::persist_save_value(black_box(&doc_value), black_box(&value)));
    });

    group.finish();
    common::check_json(dir, &["plain.json", "save.json", "save_value.json"], &value);
}

/// The update ladder: see `benches/common/mod.rs`.
const UPDATE_FILES: [&str; 5] = ["plain.json", "strict.json", "checked.json", "flock.json", "doc.json"];

fn bench_update(c: &mut Criterion, group_name: &str, durability: Durability) {
    let tmp = common::temp_dir("gw-bench-persist.");
    let dir = tmp.path();
    let root = common::root(dir, Resolver::Auto);
    let typed = common::profile_doc(common::DOC_SIZE);
    for name in UPDATE_FILES {
        common::serde_anchor_save(&root, name, &typed, durability);
    }
    let doc = common::document(&root, "doc.json", durability);
    common::persist_update(&doc); // creates .doc.json.lock
    common::checked_rmw(&root, "flock.json", Some(".flock.json.lock"), durability);
    let mut group = c.benchmark_group(group_name);

    group.bench_function("unlocked_rmw", |b| {
        b.iter(|| common::plain_rmw(&root, black_box("plain.json"), durability));
    });
    group.bench_function("strict_rmw", |b| {
        b.iter(|| common::strict_rmw(&root, black_box("strict.json"), durability));
    });
    group.bench_function("checked_rmw", |b| {
        b.iter(|| common::checked_rmw(&root, black_box("checked.json"), None, durability));
    });
    group.bench_function("flock_rmw", |b| {
        b.iter(|| common::checked_rmw(&root, black_box("flock.json"), Some(black_box(".flock.json.lock")), durability));
    });
    group.bench_function("gw_persist_update", |b| b.iter(|| common::persist_update(black_box(&doc))));

    group.finish();
    let original = serde_json::to_value(&typed).expect("to value");
    common::check_updated(dir, &UPDATE_FILES, &original);
}

fn bench_save_durable(c: &mut Criterion) {
    bench_save(c, "save_durable", Durability::Sync);
}

fn bench_save_nosync(c: &mut Criterion) {
    bench_save(c, "save_nosync", Durability::NoSync);
}

fn bench_update_durable(c: &mut Criterion) {
    bench_update(c, "update_durable", Durability::Sync);
}

fn bench_update_nosync(c: &mut Criterion) {
    bench_update(c, "update_nosync", Durability::NoSync);
}

fn bench_parse(c: &mut Criterion) {
    let bytes = common::parse_input();
    assert_eq!(common::persist_parse(&bytes), common::serde_parse(&bytes), "both parsers agree");
    let mut group = c.benchmark_group("parse_1mib");
    group.bench_function("serde_json_from_slice", |b| b.iter(|| common::serde_parse(black_box(&bytes))));
    group.bench_function("gw_persist_parse_json", |b| b.iter(|| common::persist_parse(black_box(&bytes))));
    group.finish();
}

fn config() -> Criterion {
    Criterion::default().sample_size(30).warm_up_time(Duration::from_secs(1)).measurement_time(Duration::from_secs(5))
}

criterion_group! {
    name = benches;
    config = config();
    targets = bench_save_durable, bench_save_nosync, bench_update_durable, bench_update_nosync, bench_parse
}
criterion_main!(benches);
