//! THREATS FS-3 (torn writes): a writer process replacing a file in a loop is
//! SIGKILLed at random moments, hundreds of times, for each temp strategy
//! (`TempStrategy::Tmpfile` and `TempStrategy::Named`).
//!
//! The writer (this test binary re-executed, helper [`crash_writer_process`])
//! replaces `target` with self-validating versions: a header with a version
//! number, the body length and a checksum, then a 4–64 KiB body. The test
//! waits until the writer is running, reads the target concurrently for a
//! random 0–15 ms (every read must be one complete version), then SIGKILLs
//! it. After each kill the target must hold one complete version, never older
//! than the one before the writer started.
//!
//! **What a kill leaves behind, and how it is cleaned.** The target itself is
//! only ever replaced by `renameat`, so it is always one complete version.
//! A temporary name (`.gw-tmp.<32 hex>`) can be left:
//! - `Tmpfile`: the new file is anonymous (`O_TMPFILE`) while it is written
//!   and fsynced — a kill then leaves nothing, the kernel frees the inode. It
//!   gets a name only for the span of two system calls, `linkat` to a temp
//!   name then `renameat` over the target; a kill landing in that span leaves
//!   one temp file, which is complete (it was fsynced before the link).
//! - `Named`: the temp name exists from its exclusive creation until the
//!   rename, across the write and the fsync — most of each cycle — so a kill
//!   usually leaves one temp file, possibly partial (but already with its
//!   final mode: `fchmod` comes before the first byte, FS-4).
//!
//! At most one temp per kill (one write in flight), so they do not pile up
//! beyond the number of crashes; [`Root::remove_stale_temps`] removes them
//! (the CLI and callers run it with an age threshold, so a live writer's temp
//! is never taken; here, with every writer dead, `Duration::ZERO`). It must
//! remove every leftover, never the target, and leave the directory holding
//! only the target.

use gw_test_support::race as support_race;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::BufReader;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::process::Stdio;
use std::time::{Duration, Instant};

use gw_anchor::{Policy, Root, TempStrategy, WriteOptions, is_temp_name};

use support_race::{Rng, current_exe, helper_command, serial, wait_for_line};

/// Kills per strategy. Each costs a process start (a few ms) plus the random
/// delay (7.5 ms on average): about 5–10 s per strategy in a debug build.
const KILLS: u64 = 300;
/// The longest delay between "the writer is running" and SIGKILL, in µs
/// (several write cycles: each is a 4–64 KiB write and two fsyncs).
const MAX_DELAY_US: u64 = 15_000;
const TARGET: &str = "target";
const MODE: u32 = 0o600;
const MAGIC: &[u8; 8] = b"GWCRASH1";
const HEADER: usize = 32;
const WRITER_ENV: &str = "GW_CRASH_WRITER";
const WRITER_HELPER: &str = "crash_writer_process";
const READY: &str = "GW-WRITER ready";

/// FNV-1a, 64 bits: enough to detect a torn or mixed file (not a MAC).
fn fnv1a(parts: &[&[u8]]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for part in parts {
        for &b in *part {
            h ^= u64::from(b);
            h = h.wrapping_mul(0x0100_0000_01b3);
        }
    }
    h
}

/// Version `version` of the file: `MAGIC | version | body length | checksum`
/// (little-endian u64s; the checksum covers version, length and body), then
/// the body.
fn make_version(version: u64, body_len: usize, rng: &mut Rng) -> Vec<u8> {
    let mut body = vec![0u8; body_len];
    rng.fill(&mut body);
    let (v, l) = (version.to_le_bytes(), (body_len as u64).to_le_bytes());
    let sum = fnv1a(&[&v, &l, &body]);
    let mut out = Vec::with_capacity(HEADER + body_len);
    out.extend_from_slice(MAGIC);
    out.extend_from_slice(&v);
    out.extend_from_slice(&l);
    out.extend_from_slice(&sum.to_le_bytes());
    out.extend_from_slice(&body);
    out
}

/// The version number of a complete file, or why it is not one.
fn validate(bytes: &[u8]) -> Result<u64, String> {
    if bytes.len() < HEADER {
        return Err(format!("torn: {} bytes, shorter than the header", bytes.len()));
    }
    if &bytes[..8] != MAGIC {
        return Err("torn: bad magic".into());
    }
    let word = |i: usize| u64::from_le_bytes(bytes[i..i + 8].try_into().unwrap());
    let (version, len, sum) = (word(8), word(16), word(24));
    let body = &bytes[HEADER..];
    if body.len() as u64 != len {
        return Err(format!("torn: version {version} says {len} body bytes, the file has {}", body.len()));
    }
    if fnv1a(&[&bytes[8..16], &bytes[16..24], body]) != sum {
        return Err(format!("torn: version {version}: checksum mismatch (mixed or partial content)"));
    }
    Ok(version)
}

fn strategy_name(s: TempStrategy) -> &'static str {
    match s {
        TempStrategy::Tmpfile => "tmpfile",
        TempStrategy::Named => "named",
        _ => "auto",
    }
}

/// What one campaign measured.
#[derive(Debug, Default)]
struct Outcome {
    kills: u64,
    /// Kills after which the target had advanced (the writer completed at
    /// least one replacement in that run).
    advanced: u64,
    /// Complete versions seen by the concurrent reader while writers ran.
    concurrent_reads: u64,
    /// Temp files left by kills (distinct names).
    leftovers: u64,
    /// Leftovers that were complete versions.
    complete_leftovers: u64,
    final_version: u64,
}

fn crash_campaign(strategy: TempStrategy, kills: u64) -> Outcome {
    let _serial = serial();
    let dir = tempfile::Builder::new().prefix("gw-crash-").tempdir_in("/tmp").unwrap();
    let root = Root::open(dir.path(), &Policy::new()).expect("open the crash directory as a root");
    let (mut rng, seed) = Rng::from_env_or_clock();
    let name = strategy_name(strategy);
    eprintln!("FS-3 crash test, {name}: seed {seed} (set GW_TEST_SEED to replay the delays)");
    root.write_atomic(TARGET, &make_version(0, 4096, &mut rng), &WriteOptions::new()).unwrap();

    let mut out = Outcome::default();
    let mut last = 0u64;
    let mut leftovers: BTreeSet<OsString> = BTreeSet::new();
    let started = Instant::now();
    for kill in 1..=kills {
        let spec = format!("{}\t{name}\t{}", dir.path().display(), rng.next_u64());
        let mut child = helper_command(&current_exe(), WRITER_HELPER, WRITER_ENV, &spec)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn the writer");
        let mut stdout = BufReader::new(child.stdout.take().unwrap());
        let ready = wait_for_line(&mut stdout, READY);
        assert_eq!(ready, format!("version={last}"), "kill {kill}: the writer started from another version");

        // Read concurrently until the kill: every read is one whole version.
        let delay = Duration::from_micros(rng.range(0, MAX_DELAY_US + 1));
        let t0 = Instant::now();
        while t0.elapsed() < delay {
            let bytes = root.read(TARGET, 1 << 20).expect("read the target while the writer runs");
            let v = validate(&bytes).unwrap_or_else(|e| panic!("kill {kill}: a concurrent reader saw {e}"));
            assert!(v >= last, "kill {kill}: a concurrent reader saw version {v}, older than {last}");
            out.concurrent_reads += 1;
        }
        child.kill().expect("SIGKILL the writer");
        child.wait().unwrap();
        out.kills += 1;

        let bytes = root.read(TARGET, 1 << 20).expect("the target exists after a kill");
        let v = validate(&bytes).unwrap_or_else(|e| panic!("kill {kill} after {delay:?}: the target is {e}"));
        assert!(v >= last, "kill {kill}: the target went back from version {last} to {v}");
        if v > last {
            out.advanced += 1;
        }
        last = v;

        let mut new_temps = Vec::new();
        for entry in root.list(".").unwrap() {
            if entry.name == TARGET {
                continue;
            }
            assert!(is_temp_name(&entry.name), "kill {kill}: unexpected entry {:?}", entry.name);
            if leftovers.insert(entry.name.clone()) {
                new_temps.push(entry.name);
            }
        }
        assert!(new_temps.len() <= 1, "kill {kill}: one write in flight left {} temps", new_temps.len());
        for temp in &new_temps {
            let md = std::fs::symlink_metadata(dir.path().join(temp)).unwrap();
            assert!(md.is_file(), "kill {kill}: leftover {temp:?} is not a regular file");
            let mode = md.permissions().mode() & 0o7777;
            assert_eq!(mode & !MODE, 0, "kill {kill}: leftover {temp:?} has mode {mode:o}, wider than {MODE:o} (FS-4)");
            assert_eq!(md.uid(), rustix::process::geteuid().as_raw());
            let content = std::fs::read(dir.path().join(temp)).unwrap();
            let complete = validate(&content).is_ok();
            if complete {
                out.complete_leftovers += 1;
            }
            if strategy == TempStrategy::Tmpfile {
                assert!(complete, "kill {kill}: an O_TMPFILE temp is linked only after it is written and fsynced");
            }
        }
    }
    out.leftovers = leftovers.len() as u64;
    out.final_version = last;
    eprintln!("FS-3 crash test, {name}: {out:?} in {:?}", started.elapsed());

    // Cleaning: every leftover goes, the target stays, nothing else is left.
    let removed: BTreeSet<OsString> =
        root.remove_stale_temps(".", Duration::ZERO).expect("remove_stale_temps").into_iter().collect();
    assert_eq!(removed, leftovers, "remove_stale_temps must remove exactly the leftover temps");
    let names: Vec<OsString> = root.list(".").unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, [OsString::from(TARGET)], "after cleaning, the directory holds only the target");
    let v = validate(&root.read(TARGET, 1 << 20).unwrap()).expect("the target survives the cleaning intact");
    assert_eq!(v, last, "the cleaning did not touch the target");
    // The kills really hit running writers.
    assert!(out.advanced > 0, "no writer ever completed a replacement before its kill: {out:?}");
    assert!(out.advanced < out.kills, "every kill came after a completed write, none mid-cycle: {out:?}");
    out
}

/// THREATS FS-3 with anonymous temps: the target is always whole, and a kill
/// leaves a (complete) temp only when it falls between `linkat` and
/// `renameat`.
///
/// The bound on leftovers: a leftover needs the kill to land inside one
/// system call (`linkat`: a signal is acted on when the call returns) or the
/// few instructions between it and `renameat`, while each cycle builds and
/// writes 4–64 KiB and makes two fsyncs. Measured here: 0–8 leftovers per 300
/// kills (0–2.7 %; `linkat` of an `O_TMPFILE` inode is journalled on ext4,
/// so it is not free), against 36–60 % of kills for `Named`, whose temp is
/// named across the write and the fsync. The test allows 10 % (30 of 300):
/// more than 3× the worst measured share, still far below what a temp named
/// before the write would leave (and such a temp would also be caught
/// partial by the completeness check in [`crash_campaign`]).
#[test]
fn fs_3_kill_9_mid_replace_tmpfile_leaves_target_whole() {
    if gw_anchor::Resolver::Auto.is_portable() {
        // The portable backend (macOS's) has no O_TMPFILE: the named-temp
        // campaign below is its crash test.
        eprintln!("portable backend: no O_TMPFILE campaign");
        return;
    }
    let out = crash_campaign(TempStrategy::Tmpfile, KILLS);
    assert!(
        out.leftovers * 10 <= out.kills,
        "O_TMPFILE writes left {} temps in {} kills: the anonymous file is linked too early ({out:?})",
        out.leftovers,
        out.kills
    );
}

/// THREATS FS-3 with named temps: the target is always whole; a kill usually
/// leaves one temp (possibly partial, never wider than its final mode), at
/// most one per kill, all removed by `remove_stale_temps`.
#[test]
fn fs_3_kill_9_mid_replace_named_leaves_target_whole() {
    let out = crash_campaign(TempStrategy::Named, KILLS);
    assert!(out.leftovers <= out.kills, "{out:?}");
    // Named temps exist for most of each cycle: kills that land mid-write
    // must leave some, or the kills were not landing mid-write at all.
    assert!(out.leftovers > 0, "no kill ever left a named temp: the kills missed the writes ({out:?})");
}

/// Helper, not a test: the writer process of the crash tests (spawned with
/// `GW_CRASH_WRITER=<dir>\t<tmpfile|named>\t<seed>`; returns at once
/// otherwise). Replaces `<dir>/target` with versions `n+1, n+2, ...` until it
/// is killed; exits by itself if its stdin closes (the test died) or after
/// 60 s.
#[test]
#[ignore = "helper process for the crash tests; does nothing unless GW_CRASH_WRITER is set"]
fn crash_writer_process() {
    let Ok(spec) = std::env::var(WRITER_ENV) else { return };
    let mut it = spec.split('\t');
    let (dir, strategy, seed) = (it.next().unwrap(), it.next().unwrap(), it.next().unwrap());
    let strategy = match strategy {
        "tmpfile" => TempStrategy::Tmpfile,
        "named" => TempStrategy::Named,
        other => panic!("unknown strategy {other}"),
    };
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let root = Root::open(dir, &Policy::new()).expect("writer: open the root");
    let current = validate(&root.read(TARGET, 1 << 20).expect("writer: read the target")).expect("writer: whole");
    let mut rng = Rng::new(seed.parse().unwrap());
    let options = WriteOptions::new().mode(MODE).temp_strategy(strategy);
    println!("{READY} version={current}");
    let deadline = Instant::now() + Duration::from_secs(60);
    let mut version = current;
    while Instant::now() < deadline {
        version += 1;
        let len = rng.range(4096, 64 * 1024 + 1) as usize;
        let content = make_version(version, len, &mut rng);
        root.write_atomic(TARGET, &content, &options).expect("writer: write_atomic");
    }
}
