//! Paired, interleaved ratios for the contenders of `benches/replace.rs`,
//! `benches/open_read.rs`, `benches/persist.rs` and `benches/token.rs` (the same code, from
//! `benches/common`): a cross-check of the criterion figures that holds up on
//! a noisy, shared machine.
//!
//! Criterion measures one bench after another, so load that comes and goes
//! (other builds, other fsyncs on the same disk) lands on one contender and
//! not the next, and a single run's ratios can swing by 2x. Here each round
//! times a batch of every contender back to back (the order rotating from
//! round to round) and takes each one's ratio to the baseline *within that
//! round*; the report is the median and interquartile range of those per-round
//! ratios. Absolute times are not printed.
//!
//! ```text
//! cargo run --release --example paired                  # 31 rounds per group
//! cargo run --release --example paired -- 61            # more rounds
//! cargo run --release --example paired -- 31 persist    # gw-persist groups only
//! cargo run --release --example paired -- 31 anchor     # gw-anchor groups only
//! cargo run --release --example paired -- 31 token      # gw-token groups only
//! ```

use std::fs::File;
use std::hint::black_box;
use std::time::Instant;

use gw_anchor::{Durability, Resolver};

#[path = "../benches/common/mod.rs"]
mod common;

/// One contender: a name and one iteration of its work.
struct Contender<'a> {
    name: &'static str,
    run: Box<dyn FnMut() + 'a>,
}

impl<'a> Contender<'a> {
    fn new(name: &'static str, run: impl FnMut() + 'a) -> Self {
        Self { name, run: Box::new(run) }
    }
}

/// Runs `rounds` interleaved rounds of `batch` iterations per contender and
/// prints each contender's per-round ratio to `contenders[0]` (the baseline).
fn paired(group: &str, contenders: &mut [Contender<'_>], rounds: usize, batch: u32, targets: &[(&str, f64)]) {
    paired_with(group, contenders, rounds, batch, targets, &[]);
}

/// [`paired`], plus, for each `(slow, fast, min)` in `speedups`, the per-round
/// ratio of `slow`'s time to `fast`'s (how many times faster `fast` is), with
/// the target "at least `min`".
fn paired_with(
    group: &str,
    contenders: &mut [Contender<'_>],
    rounds: usize,
    batch: u32,
    targets: &[(&str, f64)],
    speedups: &[(&str, &str, f64)],
) {
    let n = contenders.len();
    // times[i][r]: contender i's time per iteration in round r.
    let mut times: Vec<Vec<f64>> = vec![Vec::with_capacity(rounds); n];
    for round in 0..=rounds {
        let mut per_iter = vec![0f64; n];
        for k in 0..n {
            let i = (round + k) % n;
            let c = &mut contenders[i];
            let start = Instant::now();
            for _ in 0..batch {
                (c.run)();
            }
            per_iter[i] = start.elapsed().as_secs_f64() / f64::from(batch);
        }
        if round == 0 {
            continue; // warm-up
        }
        for i in 0..n {
            times[i].push(per_iter[i]);
        }
    }
    // Per-round ratios of contender `num` to contender `den`, sorted.
    let ratios = |num: usize, den: usize| {
        let mut r: Vec<f64> = times[num].iter().zip(&times[den]).map(|(a, b)| a / b).collect();
        r.sort_by(f64::total_cmp);
        r
    };
    let q = |r: &[f64], p: f64| r[((r.len() - 1) as f64 * p).round() as usize];
    println!("{group} (baseline: {}; {rounds} rounds of {batch} iterations each)", contenders[0].name);
    println!("  {:<20}{:>14}{:>18}  target", "contender", "median ratio", "p25 - p75");
    for (i, c) in contenders.iter().enumerate().skip(1) {
        let r = ratios(i, 0);
        let verdict = match targets.iter().find(|(name, _)| *name == c.name) {
            Some((_, t)) => format!("<= {t:.1}x: {}", if q(&r, 0.5) <= *t { "met" } else { "NOT met" }),
            None => String::new(),
        };
        println!("  {:<20}{:>13.2}x{:>10.2} - {:.2}x  {verdict}", c.name, q(&r, 0.5), q(&r, 0.25), q(&r, 0.75));
    }
    let index = |name: &str| contenders.iter().position(|c| c.name == name).expect("a contender of this group");
    for (slow, fast, min) in speedups {
        let r = ratios(index(slow), index(fast));
        let verdict = if q(&r, 0.5) >= *min { "met" } else { "NOT met" };
        println!(
            "  {slow} / {fast}: {:.2}x (p25 - p75 {:.2} - {:.2}x)  >= {min:.1}x: {verdict}",
            q(&r, 0.5),
            q(&r, 0.25),
            q(&r, 0.75)
        );
    }
}

fn main() {
    let rounds: usize = match std::env::args().nth(1) {
        Some(s) => s.parse().expect("usage: paired [ROUNDS] [anchor|persist|token]"),
        None => 31,
    };
    let (anchor, persist, token) = match std::env::args().nth(2).as_deref() {
        None => (true, true, true),
        Some("anchor") => (true, false, false),
        Some("persist") => (false, true, false),
        Some("token") => (false, false, true),
        Some(other) => panic!("unknown selection `{other}`: usage: paired [ROUNDS] [anchor|persist|token]"),
    };
    if anchor {
        anchor_groups(rounds);
    }
    if persist {
        persist_groups(rounds);
    }
    if token {
        token_groups(rounds);
    }
}

/// gw-anchor: `benches/replace.rs` and `benches/open_read.rs`.
fn anchor_groups(rounds: usize) {
    let data = common::payload();

    {
        let tmp = common::temp_dir("gw-paired-replace.");
        let dir = tmp.path();
        let root = common::root(dir, Resolver::Auto);
        let dir_handle = File::open(dir).expect("open dir");
        let (awf, tf) = (dir.join("awf.bin"), dir.join("tempfile.bin"));
        paired(
            "replace_durable",
            &mut [
                Contender::new("atomic_write_file", || common::awf_replace(black_box(&awf), &data)),
                Contender::new("gw_anchor", || common::gw_replace(&root, black_box("gw.bin"), &data, Durability::Sync)),
                Contender::new("tempfile", || common::tempfile_replace(dir, &dir_handle, black_box(&tf), &data)),
            ],
            rounds,
            20,
            &[("gw_anchor", 1.1)],
        );
        common::check_written(dir, &["gw.bin", "awf.bin", "tempfile.bin"], &data);
    }

    {
        let tmp = common::temp_dir("gw-paired-replace.");
        let dir = tmp.path();
        let root = common::root(dir, Resolver::Auto);
        let std_path = dir.join("std.bin");
        paired(
            "replace_nosync",
            &mut [
                Contender::new("std_fs_write", || common::std_write(black_box(&std_path), &data)),
                Contender::new("gw_anchor", || {
                    common::gw_replace(&root, black_box("gw.bin"), &data, Durability::NoSync)
                }),
            ],
            rounds,
            100,
            &[],
        );
        common::check_written(dir, &["gw.bin", "std.bin"], &data);
    }

    {
        let tmp = common::temp_dir("gw-paired-read.");
        let dir = tmp.path();
        let full = common::make_read_tree(dir);
        let openat2 = common::root(dir, Resolver::Openat2);
        let walk = common::root(dir, Resolver::Walk);
        let cap = common::cap_dir(dir);
        paired(
            "open_read_8deep",
            &mut [
                Contender::new("std_fs_read", || drop(black_box(common::std_read(black_box(&full))))),
                Contender::new("gw_openat2", || drop(black_box(common::gw_read(black_box(&openat2))))),
                Contender::new("gw_walk", || drop(black_box(common::gw_read(black_box(&walk))))),
                Contender::new("cap_std", || drop(black_box(common::cap_read(black_box(&cap))))),
            ],
            rounds,
            5000,
            &[("gw_openat2", 1.5), ("gw_walk", 3.0)],
        );
    }
}

/// gw-persist: `benches/persist.rs`.
fn persist_groups(rounds: usize) {
    let typed = common::profile_doc(common::DOC_SIZE);
    let value = serde_json::to_value(&typed).expect("to value");
    println!(
        "save/update document: {} bytes as written ({} profiles)",
        common::pretty(&value).len(),
        typed.profiles.len()
    );

    for (group, durability, batch) in [("save_durable", Durability::Sync, 60), ("save_nosync", Durability::NoSync, 300)]
    {
        let tmp = common::temp_dir("gw-paired-persist.");
        let dir = tmp.path();
        let root = common::root(dir, Resolver::Auto);
        let doc = common::document(&root, "save.json", durability);
        let doc_value = common::document(&root, "save_value.json", durability);
        paired(
            group,
            &mut [
                Contender::new("serde_anchor", || {
                    common::serde_anchor_save(&root, black_box("plain.json"), &typed, durability)
                }),
                Contender::new("gw_persist_save", || common::persist_save(black_box(&doc), &typed)),
                Contender::new("gw_persist_save_value", || common::persist_save_value(black_box(&doc_value), &value)),
            ],
            rounds,
            batch,
            &[("gw_persist_save", 1.1)],
        );
        common::check_json(dir, &["plain.json", "save.json", "save_value.json"], &value);
    }

    for (group, durability, batch) in
        [("update_durable", Durability::Sync, 60), ("update_nosync", Durability::NoSync, 300)]
    {
        let tmp = common::temp_dir("gw-paired-persist.");
        let dir = tmp.path();
        let root = common::root(dir, Resolver::Auto);
        let files = ["plain.json", "strict.json", "checked.json", "flock.json", "doc.json"];
        for name in files {
            common::serde_anchor_save(&root, name, &typed, durability);
        }
        let doc = common::document(&root, "doc.json", durability);
        common::persist_update(&doc); // creates .doc.json.lock
        common::checked_rmw(&root, "flock.json", Some(".flock.json.lock"), durability);
        paired(
            group,
            &mut [
                Contender::new("unlocked_rmw", || common::plain_rmw(&root, black_box("plain.json"), durability)),
                Contender::new("strict_rmw", || common::strict_rmw(&root, black_box("strict.json"), durability)),
                Contender::new("checked_rmw", || {
                    common::checked_rmw(&root, black_box("checked.json"), None, durability)
                }),
                Contender::new("flock_rmw", || {
                    common::checked_rmw(&root, black_box("flock.json"), Some(black_box(".flock.json.lock")), durability)
                }),
                Contender::new("gw_persist_update", || common::persist_update(black_box(&doc))),
            ],
            rounds,
            batch,
            &[],
        );
        // Every contender ran (rounds + 1) * batch times (+ 1 before timing).
        let runs = (rounds as u64 + 1) * u64::from(batch);
        for (name, before) in
            [("plain.json", 0), ("strict.json", 0), ("checked.json", 0), ("flock.json", 1), ("doc.json", 1)]
        {
            assert_eq!(common::generation_of(dir, name), runs + before, "{name}");
        }
        common::check_updated(dir, &files, &value);
    }

    {
        let bytes = common::parse_input();
        println!("parse document: {} bytes", bytes.len());
        assert_eq!(common::persist_parse(&bytes), common::serde_parse(&bytes), "both parsers agree");
        paired(
            "parse_1mib",
            &mut [
                Contender::new("serde_json_from_slice", || drop(black_box(common::serde_parse(black_box(&bytes))))),
                Contender::new("gw_persist_parse_json", || drop(black_box(common::persist_parse(black_box(&bytes))))),
            ],
            rounds,
            5,
            &[("gw_persist_parse_json", 1.5)],
        );
    }
}

/// gw-token: `benches/token.rs`. CPU only, so the batches are large.
fn token_groups(rounds: usize) {
    let b = common::TokenBench::new();
    println!(
        "gw2 token: {} bytes, with one caveat {} bytes; JWT: {} bytes",
        b.plain.len(),
        b.caveated.len(),
        b.jwt.len()
    );
    paired_with(
        "token_verify",
        &mut [
            Contender::new("hmac_sha256", || common::bare_hmac_verify(&b, black_box(&b.plain_signed), &b.plain_tag)),
            Contender::new("hmac_sha256_prekeyed", || {
                common::prekeyed_hmac_verify(&b, black_box(&b.plain_signed), &b.plain_tag)
            }),
            Contender::new("gw_verify", || drop(black_box(common::gw_verify(&b, black_box(&b.plain))))),
            Contender::new("jsonwebtoken_decode", || drop(black_box(common::jwt_decode(black_box(&b))))),
        ],
        rounds,
        20_000,
        &[("gw_verify", 2.0)],
        &[("jsonwebtoken_decode", "gw_verify", 3.0)],
    );
    paired_with(
        "token_verify_caveat",
        &mut [
            Contender::new("hmac_sha256", || {
                common::bare_hmac_verify(&b, black_box(&b.caveated_signed), &b.caveated_flat_tag)
            }),
            Contender::new("hmac_sha256_prekeyed", || {
                common::prekeyed_hmac_verify(&b, black_box(&b.caveated_signed), &b.caveated_flat_tag)
            }),
            Contender::new("mac_chain", || common::mac_chain_verify(black_box(&b))),
            Contender::new("gw_verify", || drop(black_box(common::gw_verify(&b, black_box(&b.caveated))))),
            Contender::new("jsonwebtoken_decode", || drop(black_box(common::jwt_decode(black_box(&b))))),
        ],
        rounds,
        20_000,
        &[("gw_verify", 2.0)],
        &[("jsonwebtoken_decode", "gw_verify", 3.0)],
    );
    paired_with(
        "token_derive",
        &mut [
            Contender::new("hmac_sha256", || {
                black_box(common::bare_hmac(black_box(&b)));
            }),
            Contender::new("gw_derive_with_id", || drop(black_box(common::gw_derive_with_id(black_box(&b))))),
            Contender::new("gw_derive", || drop(black_box(common::gw_derive(black_box(&b))))),
            Contender::new("jsonwebtoken_encode", || drop(black_box(common::jwt_encode(black_box(&b))))),
        ],
        rounds,
        20_000,
        &[],
        &[("jsonwebtoken_encode", "gw_derive_with_id", 1.0)],
    );
}
