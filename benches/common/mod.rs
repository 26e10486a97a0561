//! The contenders, shared by the criterion benches (`benches/*.rs`) and the
//! helper examples (`examples/replace_once.rs`, `examples/read_once.rs`,
//! `examples/paired.rs`), so that syscall counts and paired ratios measure
//! exactly the code the benches time.
//!
//! Included with `mod common;` from the benches and with
//! `#[path = "../benches/common/mod.rs"] mod common;` from the examples. Each
//! user needs only some of the items, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::fs::File;
use std::hint::black_box;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use gw_anchor::{Durability, FileKind, LockMode, Policy, Resolver, Root, WriteOptions};
use gw_persist::{Document, Limits};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tempfile::TempDir;

/// The replace payload: 4 KiB.
pub(crate) const REPLACE_SIZE: usize = 4096;

/// The file read by the open+read benches: 8 directories, then the file.
pub(crate) const READ_REL: &str = "d1/d2/d3/d4/d5/d6/d7/d8/file.txt";
/// Its content: small (a typical config or token file).
pub(crate) const READ_CONTENT: &[u8] = b"{\"gateway\":\"http://127.0.0.1:18789\",\"profile\":\"default\"}\n";
/// The size limit passed to `Root::read`.
pub(crate) const READ_MAX: u64 = 1 << 20;

/// 4 KiB of non-constant bytes.
pub(crate) fn payload() -> Vec<u8> {
    (0..REPLACE_SIZE).map(|i| (i % 251) as u8).collect()
}

/// A fresh directory under the system temp dir (one filesystem for all).
pub(crate) fn temp_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().expect("temp dir")
}

/// A root over `dir` with the default policy and `resolver`.
pub(crate) fn root(dir: &Path, resolver: Resolver) -> Root {
    Root::open(dir, &Policy::new().resolver(resolver)).expect("open root")
}

/// gw-anchor: atomic replace of `name` beneath `root`.
pub(crate) fn gw_replace(root: &Root, name: &str, data: &[u8], durability: Durability) {
    root.write_atomic(name, data, &WriteOptions::new().durability(durability)).expect("gw write_atomic");
}

/// The `atomic-write-file` crate: open (which opens the parent directory),
/// write, commit (fsync file, rename, fsync directory).
pub(crate) fn awf_replace(path: &Path, data: &[u8]) {
    let mut f = atomic_write_file::AtomicWriteFile::open(path).expect("awf open");
    f.write_all(data).expect("awf write");
    f.commit().expect("awf commit");
}

/// `tempfile` by hand, with gw's durability: a named temp in the same
/// directory, write, `sync_all`, `persist` (rename), fsync the directory
/// (`dir_handle`, opened once by the caller).
pub(crate) fn tempfile_replace(dir: &Path, dir_handle: &File, target: &Path, data: &[u8]) {
    let mut f = tempfile::NamedTempFile::new_in(dir).expect("tempfile new_in");
    f.write_all(data).expect("tempfile write");
    f.as_file().sync_all().expect("tempfile sync_all");
    f.persist(target).expect("tempfile persist");
    dir_handle.sync_all().expect("fsync dir");
}

/// `std::fs::write`: truncates and rewrites in place (not atomic).
pub(crate) fn std_write(path: &Path, data: &[u8]) {
    std::fs::write(path, data).expect("std write");
}

/// Creates the 8-deep tree under `dir`; returns the file's full path.
pub(crate) fn make_read_tree(dir: &Path) -> PathBuf {
    let full = dir.join(READ_REL);
    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir -p");
    std::fs::write(&full, READ_CONTENT).expect("write file");
    full
}

/// gw-anchor: anchored read of [`READ_REL`].
pub(crate) fn gw_read(root: &Root) -> Vec<u8> {
    let got = root.read(READ_REL, READ_MAX).expect("gw read");
    assert_eq!(got.len(), READ_CONTENT.len());
    got
}

/// cap-std: `Dir::read` of [`READ_REL`] beneath a `Dir` opened once.
pub(crate) fn cap_read(dir: &cap_std::fs::Dir) -> Vec<u8> {
    let got = dir.read(READ_REL).expect("cap-std read");
    assert_eq!(got.len(), READ_CONTENT.len());
    got
}

/// `std::fs::read` of the full path string (the baseline).
pub(crate) fn std_read(full: &Path) -> Vec<u8> {
    let got = std::fs::read(full).expect("std read");
    assert_eq!(got.len(), READ_CONTENT.len());
    got
}

/// Opens `dir` as a cap-std `Dir` (ambient authority, once).
pub(crate) fn cap_dir(dir: &Path) -> cap_std::fs::Dir {
    cap_std::fs::Dir::open_ambient_dir(dir, cap_std::ambient_authority()).expect("cap-std dir")
}

/// Every contender really wrote the payload.
pub(crate) fn check_written(dir: &Path, names: &[&str], data: &[u8]) {
    for name in names {
        let got = std::fs::read(dir.join(name)).expect("read back");
        assert_eq!(got, data, "{name} holds the payload");
    }
}

// ---- gw-persist (benches/persist.rs) ----

/// The size of the document saved and updated, as written: 4 KiB.
pub(crate) const DOC_SIZE: usize = 4096;
/// The size of the document parsed: 1 MiB, gw-persist's default size limit
/// ([`Limits::DEFAULT_MAX_BYTES`]; a document of exactly the limit is
/// accepted).
pub(crate) const PARSE_SIZE: usize = 1 << 20;
/// The mode gw-persist writes documents with (its default); the baselines
/// write with the same.
pub(crate) const DOC_MODE: u32 = 0o600;

/// A profile/credential document, the kind gw-persist keeps: nested
/// objects, strings, integers, floats, booleans, arrays, maps.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct ProfileDoc {
    pub(crate) version: u32,
    pub(crate) generation: u64,
    pub(crate) default_profile: String,
    pub(crate) note: String,
    pub(crate) profiles: BTreeMap<String, Profile>,
}

/// One gateway profile with its token's metadata (the secret itself is a
/// reference, as in a real profile store).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Profile {
    pub(crate) gateway: String,
    pub(crate) token_id: String,
    pub(crate) secret_ref: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) issued_at: u64,
    pub(crate) expires_at: u64,
    pub(crate) latency_ms_p50: f64,
    pub(crate) rate_limit: RateLimit,
    pub(crate) tls: Tls,
    pub(crate) labels: BTreeMap<String, String>,
}

/// A profile's rate limit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct RateLimit {
    pub(crate) per_minute: u32,
    pub(crate) burst: u32,
    pub(crate) backoff_factor: f64,
}

/// A profile's TLS settings.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Tls {
    pub(crate) verify: bool,
    pub(crate) min_version: String,
    pub(crate) ca_sha256: String,
}

/// `n` deterministic hex digits from `seed`.
fn hex(seed: u64, n: usize) -> String {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            char::from(b"0123456789abcdef"[(x & 15) as usize])
        })
        .collect()
}

fn profile(i: u64) -> Profile {
    const SCOPES: [&str; 6] = ["gateway:read", "gateway:write", "tokens:rotate", "ports:verify", "logs:read", "admin"];
    Profile {
        gateway: format!("https://gw-{i:05}.internal.example:18789/v1"),
        token_id: format!("tok_{}", hex(i, 24)),
        secret_ref: format!("keychain:gw/profile-{i:05}"),
        scopes: (0..3).map(|k| SCOPES[((i + k * 2) % 6) as usize].to_owned()).collect(),
        issued_at: 1_763_600_000 + i * 3607,
        expires_at: 1_763_600_000 + i * 3607 + 30 * 86_400,
        // Floats with many significant digits: what `float_roundtrip` is for.
        latency_ms_p50: 12.5 + (i % 97) as f64 * 0.3719,
        rate_limit: RateLimit {
            per_minute: 600 + (i % 7) as u32 * 60,
            burst: 20 + (i % 5) as u32,
            backoff_factor: 1.5,
        },
        tls: Tls { verify: !i.is_multiple_of(11), min_version: "1.3".to_owned(), ca_sha256: hex(i ^ 0xCA, 64) },
        labels: BTreeMap::from([
            ("region".to_owned(), ["eu-west", "us-east", "ap-south"][(i % 3) as usize].to_owned()),
            ("team".to_owned(), format!("team-{:03}", i % 40)),
            ("env".to_owned(), if i.is_multiple_of(4) { "staging" } else { "production" }.to_owned()),
        ]),
    }
}

fn profile_doc_n(n: u64) -> ProfileDoc {
    ProfileDoc {
        version: 3,
        generation: 0,
        default_profile: "profile-00000".to_owned(),
        note: String::new(),
        profiles: (0..n).map(|i| (format!("profile-{i:05}"), profile(i))).collect(),
    }
}

/// Pretty JSON with a trailing newline: gw-persist's output format (keys in
/// the order given: sorted for a `serde_json::Value`, field order for a
/// struct).
pub(crate) fn pretty(value: &impl Serialize) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(value).expect("serialize");
    out.push(b'\n');
    out
}

/// A [`ProfileDoc`] whose pretty form (with the trailing newline) is exactly
/// `size` bytes: as many whole profiles as fit, then the free-text `note`
/// fills the rest.
pub(crate) fn profile_doc(size: usize) -> ProfileDoc {
    const TEXT: &[u8] = b"Managed by gw. Profiles mirror the primary store; local entries are kept. ";
    let len = |doc: &ProfileDoc| pretty(doc).len();
    let base = len(&profile_doc_n(0));
    assert!(base <= size, "{size} bytes is smaller than an empty document");
    // Profiles differ in size by a few bytes: estimate from the first one,
    // correct with the mean of the ones made, then drop any that overflow.
    let count = |per: usize| ((size - base) / per) as u64;
    let first = profile_doc_n(count(len(&profile_doc_n(1)) - base).max(1));
    let mut n = count((len(&first) - base) / first.profiles.len());
    let mut doc = profile_doc_n(n);
    while len(&doc) > size {
        n -= 1;
        doc = profile_doc_n(n);
    }
    let pad = size - len(&doc);
    doc.note = TEXT.iter().cycle().take(pad).map(|&b| char::from(b)).collect();
    assert_eq!(len(&doc), size);
    doc
}

/// The 1 MiB document parsed by the `parse_1mib` group, pretty-printed as
/// gw-persist writes it (keys sorted), within its default size limit.
pub(crate) fn parse_input() -> Vec<u8> {
    let bytes = pretty(&serde_json::to_value(profile_doc(PARSE_SIZE)).expect("to value"));
    assert!(bytes.len() as u64 <= Limits::DEFAULT_MAX_BYTES, "{} bytes is over the default limit", bytes.len());
    bytes
}

/// A gw-persist document `rel` beneath `root`, JSON, mode 0600, with
/// `durability`.
pub(crate) fn document<'r>(root: &'r Root, rel: &str, durability: Durability) -> Document<'r> {
    Document::new(root, rel).mode(DOC_MODE).durability(durability)
}

/// gw-persist: `Document::save` of a typed document (serialized through a
/// `serde_json::Value`, rendered pretty, atomic replace through gw-anchor).
pub(crate) fn persist_save(doc: &Document<'_>, value: &ProfileDoc) {
    doc.save(value).expect("gw-persist save");
}

/// gw-persist: `Document::save_value` of a value already in hand.
pub(crate) fn persist_save_value(doc: &Document<'_>, value: &Value) {
    doc.save_value(value).expect("gw-persist save_value");
}

/// The baseline: `serde_json::to_vec_pretty` (plus the trailing newline
/// gw-persist writes) and gw-anchor's `Root::write_atomic`, same mode and
/// durability.
pub(crate) fn serde_anchor_save(root: &Root, rel: &str, value: &ProfileDoc, durability: Durability) {
    let bytes = pretty(value);
    root.write_atomic(rel, &bytes, &WriteOptions::new().mode(DOC_MODE).durability(durability))
        .expect("gw write_atomic");
}

/// The modification every update contender makes: one counter + 1.
pub(crate) fn bump(v: &mut Value) {
    let next = v["generation"].as_u64().expect("generation") + 1;
    v["generation"] = next.into();
}

/// gw-persist: `Document::update_value` (in-process lock, `flock` of
/// `.NAME.lock`, strict load, modify, atomic save, unlock).
pub(crate) fn persist_update(doc: &Document<'_>) {
    doc.update_value(|cur| {
        let mut v = cur.expect("the document exists");
        bump(&mut v);
        Ok(v)
    })
    .expect("gw-persist update_value");
}

// The update ladder (groups `update_durable`, `update_nosync`): each rung
// adds one part of `Document::update_value` to the rung before, so the
// steps between rungs say where gw-persist's extra time goes.
//   unlocked_rmw  the baseline: `Root::read`, `serde_json::from_slice`, bump,
//                 pretty + newline, `Root::write_atomic`;
//   strict_rmw    + gw-persist's strict parser instead of serde_json's;
//   checked_rmw   + gw-persist's file checks, by hand through gw-anchor's
//                 public API, with the same system calls;
//   flock_rmw     + the cross-process `flock` around read, parse and write;
//   gw_persist_update  the real thing (+ the in-process lock).

/// The baseline: an unlocked read-modify-write with the same anchored I/O
/// and durability: `Root::read`, `serde_json::from_slice::<Value>`,
/// [`bump`], pretty + newline, `Root::write_atomic`.
pub(crate) fn plain_rmw(root: &Root, rel: &str, durability: Durability) {
    let bytes = root.read(rel, Limits::DEFAULT_MAX_BYTES).expect("gw read");
    let mut v: Value = serde_json::from_slice(&bytes).expect("serde_json parse");
    bump(&mut v);
    write_doc(root, rel, &v, durability);
}

/// [`plain_rmw`] with gw-persist's strict parser.
pub(crate) fn strict_rmw(root: &Root, rel: &str, durability: Durability) {
    let bytes = root.read(rel, Limits::DEFAULT_MAX_BYTES).expect("gw read");
    let mut v = persist_parse(&bytes);
    bump(&mut v);
    write_doc(root, rel, &v, durability);
}

/// [`strict_rmw`] plus the checks `Document::update_value` makes around its
/// read (for a document `rel` directly beneath the root, as here), and,
/// with `lock_rel`, gw-anchor's exclusive `flock` of it (10 s timeout)
/// held from before the read until after the write, where gw-persist holds
/// it. The checks, in gw-persist's order: the entry is a regular file before
/// the lock file is made (`metadata(rel)`); the root's identity, the key of
/// the in-process lock (`metadata(".")`); the read from the document's
/// directory reopened and checked as a root (`open_dir`); the document's
/// owner and mode after the read (`metadata`). Mirrors
/// `crates/persist/src/document.rs` (`locked_update`, `read_trusted`): the
/// system calls are the same but for the in-process lock's wake-up.
pub(crate) fn checked_rmw(root: &Root, rel: &str, lock_rel: Option<&str>, durability: Durability) {
    assert_eq!(root.metadata(rel).expect("pre-check").kind, FileKind::File);
    let id = root.metadata(".").expect("root identity");
    black_box((id.dev, id.ino));
    let lock = lock_rel.map(|l| root.lock(l, LockMode::Exclusive, Some(Duration::from_secs(10))).expect("gw lock"));
    let dir = root.open_dir(".").expect("open dir");
    let bytes = dir.read(rel, Limits::DEFAULT_MAX_BYTES).expect("gw read");
    let meta = dir.metadata(rel).expect("stat");
    assert!(meta.mode & 0o022 == 0 && (meta.uid == root.policy().uid() || meta.uid == 0), "a private document");
    drop(dir);
    let mut v = persist_parse(&bytes);
    bump(&mut v);
    write_doc(root, rel, &v, durability);
    drop(lock);
}

/// Pretty + newline, `Root::write_atomic` with gw-persist's mode.
fn write_doc(root: &Root, rel: &str, v: &Value, durability: Durability) {
    root.write_atomic(rel, &pretty(v), &WriteOptions::new().mode(DOC_MODE).durability(durability))
        .expect("gw write_atomic");
}

/// gw-persist's strict parser with the default limits.
pub(crate) fn persist_parse(bytes: &[u8]) -> Value {
    gw_persist::parse_json(bytes, &Limits::default()).expect("gw-persist parse_json")
}

/// The baseline: `serde_json::from_slice::<Value>` (last duplicate key wins,
/// no depth or size limit of its own beyond serde_json's recursion limit).
pub(crate) fn serde_parse(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes).expect("serde_json parse")
}

/// Every JSON contender holds `expected` (compared as values: gw-persist
/// writes keys sorted, a struct writes them in field order).
pub(crate) fn check_json(dir: &Path, names: &[&str], expected: &Value) {
    for name in names {
        let got: Value =
            serde_json::from_slice(&std::fs::read(dir.join(name)).expect("read back")).expect("parse back");
        assert_eq!(&got, expected, "{name} holds the document");
    }
}

/// The `generation` counter of the document `name` in `dir`.
pub(crate) fn generation_of(dir: &Path, name: &str) -> u64 {
    let v: Value = serde_json::from_slice(&std::fs::read(dir.join(name)).expect("read back")).expect("parse back");
    v["generation"].as_u64().expect("generation")
}

/// Every update contender's document is `original` but for its counter
/// (which moved by however many iterations ran; none in a filtered run).
pub(crate) fn check_updated(dir: &Path, names: &[&str], original: &Value) {
    for name in names {
        let mut got: Value =
            serde_json::from_slice(&std::fs::read(dir.join(name)).expect("read back")).expect("parse back");
        assert!(got["generation"].as_u64() >= original["generation"].as_u64(), "{name}: the counter went back");
        got["generation"] = original["generation"].clone();
        assert_eq!(&got, original, "{name} holds the document");
    }
}
