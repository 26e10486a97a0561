//! Crash (issue 3 §3; THREATS FS-3 for documents, CLI-2): writer processes
//! doing `Document::update_value` in a loop are SIGKILLed at random moments,
//! hundreds of times. After every kill the document parses strictly and is
//! exactly one version the writers produced — and which ones are allowed is
//! pinned down, not just "some valid JSON".
//!
//! **The writers.** Each round starts 1 or 2 writer processes (this test
//! binary re-executed, helper [`doc_crash_writer_process`]) in one process
//! group. Each loops: `update_value(|cur| version_doc(cur.version + 1, me))`,
//! then prints `ack <version>` to its stdout (a pipe; one `write(2)` per
//! line, so an ack is either wholly in the pipe or not at all). A version's
//! content is a pure function of (version, writer): a 1–24 KiB payload
//! derived from the version, the writer's id, and the generation field that
//! `update` maintains (it must equal the version). Writers also check, inside
//! the lock, that what they read is a well-formed version — a torn or mixed
//! file would make them fail.
//!
//! **The kill.** After both writers said `ready`, the test reads the
//! document concurrently for a random 0–20 ms (every read must parse strictly
//! and never go back in version), then sends SIGKILL to the whole process
//! group at once, reaps the writers and drains their pipes (so every ack that
//! was written is seen).
//!
//! **What the document may be.** Let `M` be the highest acknowledged version
//! (or the version before the round if nothing was acknowledged). Writes are
//! serialised by the lock, each writer writes only after it acknowledged its
//! previous write, and a write is published by one `rename` — so the file is
//! either
//! - exactly the acknowledged version `M` (its full content, not just its
//!   number), or
//! - a version written but not yet acknowledged — "in flight": the kill
//!   landed between the `rename` and the ack line. Each writer has at most one
//!   such write, so its version is `M + k` with `1 ≤ k ≤ writers`, and its
//!   content is exactly `version_doc(M + k, w)` for a writer `w` of this
//!   round. (`k = 2` would need both writers killed between their renames
//!   and their acks, with a whole locked update in between; it is allowed
//!   for correctness but not expected.)
//!
//! Nothing else: not a torn file, not an older version than `M` (a rollback),
//! not a version from a writer that is not in the round. Also, the
//! acknowledged versions are all distinct (the lock), and at most one per
//! writer is missing from `(start, final]`.
//!
//! **The lock file.** `.state.json.lock` stays behind (it is never deleted:
//! deleting a lock file while someone waits on it breaks mutual exclusion),
//! but its `flock` died with its holder: after every kill the test takes it
//! at once (timeout zero), and the next round's writers take it within their
//! 5 s timeout or fail the test.
//!
//! Leftover temps: with `O_TMPFILE` (the default) a kill leaves a
//! `.gw-tmp.*` file only when it lands between `linkat` and `renameat`; they
//! are counted, checked to be temps, and removed at the end by
//! `remove_stale_temps`.

use gw_test_support::race as support_race;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::io::{BufRead as _, BufReader};
use std::os::unix::process::{CommandExt as _, ExitStatusExt as _};
use std::process::{Child, ChildStdout, Stdio};
use std::time::{Duration, Instant};

use gw_anchor::{LockMode, Policy, Root, is_temp_name};
use gw_persist::Document;
use serde_json::{Value, json};

use support_race::{Rng, current_exe, helper_command, serial, wait_for_line};

/// Rounds (each ends with one SIGKILL of the process group). Measured here:
/// about 16 ms a round in a debug build (one or two process starts, the
/// random delay, the checks), so ~5 s; up to ~20 s on a loaded machine.
const KILLS: u64 = 300;
/// The longest delay between "every writer is running" and SIGKILL, in µs.
const MAX_DELAY_US: u64 = 20_000;
const DOC: &str = "state.json";
const LOCK: &str = ".state.json.lock";
const WRITER_ENV: &str = "GW_DOC_CRASH_WRITER";
const WRITER: &str = "doc_crash_writer_process";
const WRITER_LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// splitmix64: the payload of a version is derived from its number.
fn mix(mut x: u64) -> u64 {
    x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
    x = (x ^ (x >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x = (x ^ (x >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// Version `version` as written by writer `writer`: everything is a function
/// of the two, so "equals the version acknowledged" compares whole content.
fn version_doc(version: u64, writer: u64) -> Value {
    let len = 1024 + (mix(version) % (23 * 1024)) as usize;
    let unit = format!("{:016x}\n\"é\\", mix(version ^ 0x5555));
    let payload: String = unit.chars().cycle().take(len).collect();
    json!({
        "version": version,
        "writer": writer,
        "payload": payload,
        "nested": {"checksum": mix(version).to_string(), "list": [version, writer, version % 7]},
        "generation": version,
    })
}

/// The (version, writer) of a document, checking it is exactly that version.
fn identify(v: &Value) -> Result<(u64, u64), String> {
    let version = v["version"].as_u64().ok_or("no version")?;
    let writer = v["writer"].as_u64().ok_or("no writer")?;
    if *v != version_doc(version, writer) {
        return Err(format!("version {version} by writer {writer} does not have that version's content"));
    }
    Ok((version, writer))
}

fn document(root: &Root) -> Document<'_> {
    Document::new(root, DOC).generation_field("/generation")
}

/// Helper, not a test: a writer process (spawned with
/// `GW_DOC_CRASH_WRITER=<dir>\t<writer id>`; returns at once otherwise).
/// Updates the document in a loop, acknowledging each version on stdout,
/// until it is killed; exits by itself if its stdin closes or after 60 s.
#[test]
#[ignore = "helper process for the crash test; does nothing unless GW_DOC_CRASH_WRITER is set"]
fn doc_crash_writer_process() {
    let Ok(spec) = std::env::var(WRITER_ENV) else { return };
    let (dir, me) = spec.split_once('\t').expect("spec");
    let me: u64 = me.parse().unwrap();
    std::thread::spawn(|| {
        let _ = std::io::copy(&mut std::io::stdin(), &mut std::io::sink());
        std::process::exit(0);
    });
    let root = Root::open(dir, &Policy::new()).expect("writer: open the root");
    let doc = document(&root).lock_timeout(WRITER_LOCK_TIMEOUT);
    println!("GW-DOC-WRITER ready");
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let written = doc
            .update_value(|cur| {
                let cur = cur.expect("writer: the document exists");
                let (version, _) = identify(&cur).unwrap_or_else(|e| panic!("writer {me} read a bad document: {e}"));
                Ok::<_, gw_persist::Error>(version_doc(version + 1, me))
            })
            .unwrap_or_else(|e| panic!("writer {me}: update_value: {e}"));
        println!("GW-DOC-WRITER ack {}", written["version"]);
    }
}

/// What the campaign measured.
#[derive(Debug, Default)]
struct Tally {
    kills: u64,
    rounds_with_two_writers: u64,
    /// Acknowledged writes, all rounds.
    acks: u64,
    /// Rounds in which no write was acknowledged (killed before the first).
    rounds_without_ack: u64,
    /// Kills after which the document was the acknowledged version `M`.
    left_at_acked: u64,
    /// Kills after which the document was a written-but-unacknowledged
    /// version (`M + 1`; `M + 2` counted separately).
    left_in_flight: u64,
    left_in_flight_2: u64,
    /// Strict loads by the concurrent reader while writers ran.
    concurrent_reads: u64,
    /// Leftover temp files (distinct names).
    leftover_temps: u64,
    final_version: u64,
}

struct Writer {
    id: u64,
    child: Child,
    out: BufReader<ChildStdout>,
}

/// Issue 3 §3 / THREATS FS-3, CLI-2: SIGKILLed `update_value` writers never
/// leave a torn, older, or foreign document: after each of 300 kills it
/// parses strictly and is the last acknowledged version or the one in flight;
/// the lock file left behind never blocks the next writer.
#[test]
fn fs_3_kill_9_mid_update_leaves_an_acknowledged_or_in_flight_version() {
    let _serial = serial();
    let dir = {
        use std::os::unix::fs::PermissionsExt;
        tempfile::Builder::new()
            .prefix("gw-doc-crash-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in("/tmp")
            .unwrap()
    };
    let root = Root::open(dir.path(), &Policy::new()).unwrap();
    let doc = document(&root);
    let (mut rng, seed) = Rng::from_env_or_clock();
    eprintln!("doc crash test: seed {seed} (set GW_TEST_SEED to replay the delays and writer counts)");
    doc.save_value(&version_doc(0, 0)).unwrap();

    let mut tally = Tally::default();
    let mut last = version_doc(0, 0);
    let mut temps: BTreeSet<OsString> = BTreeSet::new();
    let started = Instant::now();
    let mut next_writer_id = 1;
    for kill in 1..=KILLS {
        let (start_version, _) = identify(&last).unwrap();
        let n_writers = if rng.range(0, 2) == 0 { 1 } else { 2 };
        if n_writers == 2 {
            tally.rounds_with_two_writers += 1;
        }
        let mut writers: Vec<Writer> = Vec::new();
        let mut pgid = 0;
        for _ in 0..n_writers {
            let id = next_writer_id;
            next_writer_id += 1;
            let mut cmd =
                helper_command(&current_exe(), WRITER, WRITER_ENV, &format!("{}\t{id}", dir.path().display()));
            cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::inherit()).process_group(pgid);
            let mut child = cmd.spawn().expect("spawn a writer");
            if pgid == 0 {
                pgid = child.id() as i32;
            }
            let out = BufReader::new(child.stdout.take().unwrap());
            writers.push(Writer { id, child, out });
        }
        for w in &mut writers {
            wait_for_line(&mut w.out, "GW-DOC-WRITER ready");
        }

        // Read concurrently until the kill: always a whole version, never older.
        let delay = Duration::from_micros(rng.range(0, MAX_DELAY_US + 1));
        let t0 = Instant::now();
        let mut seen = start_version;
        while t0.elapsed() < delay {
            let v = doc.load_value().unwrap_or_else(|e| panic!("kill {kill}: a concurrent strict load failed: {e}"));
            let (version, _) = identify(&v.expect("the document exists"))
                .unwrap_or_else(|e| panic!("kill {kill}: a concurrent reader saw {e}"));
            assert!(version >= seen, "kill {kill}: a concurrent reader saw version {version} after {seen}");
            seen = version;
            tally.concurrent_reads += 1;
        }
        rustix::process::kill_process_group(
            rustix::process::Pid::from_raw(pgid).unwrap(),
            rustix::process::Signal::KILL,
        )
        .expect("SIGKILL the writers' process group");
        tally.kills += 1;

        // Reap, then drain every ack that reached the pipes.
        let mut acked: Vec<(u64, u64)> = Vec::new();
        for w in &mut writers {
            let status = w.child.wait().unwrap();
            assert_eq!(status.signal(), Some(9), "kill {kill}: writer {} ended by itself ({status})", w.id);
            let mut mine = Vec::new();
            let mut line = String::new();
            while w.out.read_line(&mut line).unwrap() > 0 {
                if let Some(v) = line.trim().strip_prefix("GW-DOC-WRITER ack ") {
                    mine.push(v.parse::<u64>().unwrap());
                }
                line.clear();
            }
            assert!(mine.windows(2).all(|p| p[0] < p[1]), "kill {kill}: writer {} acks go back: {mine:?}", w.id);
            acked.extend(mine.into_iter().map(|v| (v, w.id)));
        }
        tally.acks += acked.len() as u64;
        let distinct: BTreeSet<u64> = acked.iter().map(|&(v, _)| v).collect();
        assert_eq!(distinct.len(), acked.len(), "kill {kill}: two writers acknowledged the same version: {acked:?}");

        // The document: strict parse, and exactly an allowed version.
        let now = doc
            .load_value()
            .unwrap_or_else(|e| panic!("kill {kill} after {delay:?}: the document does not load strictly: {e}"))
            .expect("the document exists after a kill");
        let (version, writer) =
            identify(&now).unwrap_or_else(|e| panic!("kill {kill} after {delay:?}: the document is {e}"));
        let (m, m_doc) = match acked.iter().max() {
            Some(&(v, w)) => (v, version_doc(v, w)),
            None => {
                tally.rounds_without_ack += 1;
                (start_version, last.clone())
            }
        };
        assert!(version >= m, "kill {kill}: ROLLBACK: the document is version {version}, {m} was acknowledged");
        if version == m {
            assert_eq!(now, m_doc, "kill {kill}: the document is not the acknowledged version {m}");
            tally.left_at_acked += 1;
        } else {
            let k = version - m;
            assert!(
                k <= n_writers,
                "kill {kill}: version {version} is {k} past the last acknowledged {m}, with {n_writers} writers"
            );
            assert!(
                writers.iter().any(|w| w.id == writer),
                "kill {kill}: in-flight version {version} names writer {writer}, not one of this round"
            );
            if k == 1 {
                tally.left_in_flight += 1;
            } else {
                tally.left_in_flight_2 += 1;
            }
        }
        let missing = (version - start_version) - acked.iter().filter(|&&(v, _)| v <= version).count() as u64;
        assert!(
            missing <= n_writers,
            "kill {kill}: {missing} written versions in ({start_version}, {version}] were never acknowledged"
        );
        assert!(
            acked.iter().all(|&(v, _)| v > start_version && v <= version),
            "kill {kill}: acks {acked:?} outside ({start_version}, {version}]"
        );
        last = now;

        // The flock died with its holders: taken at once, no waiting.
        let guard = root
            .lock(LOCK, LockMode::Exclusive, Some(Duration::ZERO))
            .unwrap_or_else(|e| panic!("kill {kill}: the lock left by killed writers is still held: {e}"));
        drop(guard);

        for entry in root.list(".").unwrap() {
            if entry.name == DOC || entry.name == LOCK {
                continue;
            }
            assert!(is_temp_name(&entry.name), "kill {kill}: unexpected entry {:?}", entry.name);
            temps.insert(entry.name);
        }
    }
    tally.leftover_temps = temps.len() as u64;
    tally.final_version = identify(&last).unwrap().0;
    eprintln!("doc crash test: {tally:?} in {:?}", started.elapsed());

    // The kills hit both sides of a write: some after acknowledged writes,
    // some before the first write or between a write and its ack. (How many
    // writes a round gets through depends on the machine's load: measured
    // here, 170–750 acks in 300 rounds.)
    assert!(tally.acks > 0 && tally.left_at_acked > 0, "the writers never completed a write: {tally:?}");
    assert!(tally.rounds_without_ack > 0 || tally.left_in_flight > 0, "no kill ever landed mid-update: {tally:?}");

    // Cleaning leftovers leaves the document and the lock file, untouched.
    let removed: BTreeSet<OsString> = root.remove_stale_temps(".", Duration::ZERO).unwrap().into_iter().collect();
    assert_eq!(removed, temps);
    let mut names: Vec<OsString> = root.list(".").unwrap().into_iter().map(|e| e.name).collect();
    names.sort();
    assert_eq!(names, [OsString::from(LOCK), OsString::from(DOC)]);
    assert_eq!(doc.load_value().unwrap().unwrap(), last);
    // And a last writer in this process gets the lock and goes on.
    let after = doc
        .update_value(|cur| Ok::<_, gw_persist::Error>(version_doc(identify(&cur.unwrap()).unwrap().0 + 1, 0)))
        .unwrap();
    assert_eq!(after["version"], json!(tally.final_version + 1));
}
