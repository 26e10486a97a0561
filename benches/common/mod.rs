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
use std::net::IpAddr;
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
        Ok::<_, gw_persist::Error>(v)
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

// ---- gw-token (benches/token.rs) ----
//
// One realistic grant: two scopes, an audience, local-only, 8 hours. The
// same grant three ways: a `gw2` token without caveats, the same token
// narrowed by one caveat (one scope, a shorter expiry), and an HS256 JWT with
// the same claims (`jsonwebtoken`, signed with the same 32-byte key). The
// bare-HMAC baseline is HMAC-SHA256 with that key over exactly the bytes the
// token's MAC authenticates (`CLAIMS_DOMAIN || claims record`). Keys
// (gw-token's `TokenKey`, jsonwebtoken's `EncodingKey` and `DecodingKey`, the
// bare HMAC key bytes and the pre-keyed HMAC) are made once, outside the
// timed loop.

/// A fixed root secret (the benches need no randomness in their inputs).
pub(crate) const TOKEN_ROOT: [u8; 32] = *b"gw-bench-root-secret-32-bytes-ok";
/// The two scopes granted (stored sorted, as gw-token stores them).
pub(crate) const TOKEN_SCOPES: [&str; 2] = ["approvals.read", "gateway.connect"];
/// The scope every verifier asks for (kept by the caveat).
pub(crate) const TOKEN_SCOPE: &str = "approvals.read";
/// The audience: the gateway's URL.
pub(crate) const TOKEN_AUD: &str = "ws://127.0.0.1:18789";
/// The lifetime granted: long enough to outlast any run of the benches.
pub(crate) const TOKEN_TTL: Duration = Duration::from_secs(8 * 3600);
/// The token id used by `derive_with_id` and in the JWT (`jti`).
pub(crate) const TOKEN_ID: [u8; 16] = *b"gw-bench-tok-id!";
/// The clock skew both verifiers tolerate (gw-token's default; jsonwebtoken's
/// `leeway`).
pub(crate) const TOKEN_SKEW: u64 = gw_token::DEFAULT_SKEW_SECS;

/// The JWT's claims: the same as the `gw2` token's, with the same names.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct JwtClaims {
    pub(crate) scp: Vec<String>,
    pub(crate) aud: String,
    pub(crate) nbf: u64,
    pub(crate) exp: u64,
    pub(crate) loc: bool,
    pub(crate) jti: String,
}

type HmacSha256 = hmac::Hmac<sha2::Sha256>;

/// Everything the token contenders use, made once.
pub(crate) struct TokenBench {
    /// gw-token's key, `TokenKey::from_root` (HKDF and the HMAC key state, once).
    pub(crate) key: gw_token::TokenKey,
    /// The same key's bytes, from the public `hkdf_sha256` and gw-token's
    /// labels: the bare HMAC's key and the JWT's secret.
    pub(crate) mac_key: zeroize::Zeroizing<[u8; 32]>,
    /// `Hmac::new_from_slice(mac_key)`, made once: cloned per call by the
    /// pre-keyed baseline (key setup hoisted out of the loop, as gw-token's
    /// `TokenKey` does).
    pub(crate) prekeyed: HmacSha256,
    /// The grant derived (the `derive` contenders derive it again).
    pub(crate) grant: gw_token::Grant,
    /// The issue time of the tokens (the clock when the bench started).
    pub(crate) now: u64,
    /// A loopback peer (the tokens are local-only).
    pub(crate) peer: IpAddr,
    /// The `gw2` token without caveats.
    pub(crate) plain: String,
    /// What its MAC authenticates: `CLAIMS_DOMAIN || claims record`.
    pub(crate) plain_signed: Vec<u8>,
    /// Its tag.
    pub(crate) plain_tag: [u8; 32],
    /// The same token with one caveat.
    pub(crate) caveated: String,
    /// The two MAC inputs of its chain (`CLAIMS_DOMAIN || claims`, then
    /// `CAVEAT_DOMAIN || caveat`), concatenated: the bare HMAC runs over
    /// all of them at once.
    pub(crate) caveated_signed: Vec<u8>,
    /// HMAC-SHA256(`mac_key`, `caveated_signed`) (what the bare HMAC of the
    /// caveat group compares with; not the token's tag, which is chained).
    pub(crate) caveated_flat_tag: [u8; 32],
    /// The caveated token's claims record and caveat record (decoded).
    pub(crate) caveated_parts: (Vec<u8>, Vec<u8>),
    /// Its tag (the end of the chain).
    pub(crate) caveated_tag: [u8; 32],
    /// The HS256 JWT of the same claims.
    pub(crate) jwt: String,
    pub(crate) jwt_header: jsonwebtoken::Header,
    pub(crate) jwt_enc: jsonwebtoken::EncodingKey,
    pub(crate) jwt_dec: jsonwebtoken::DecodingKey,
    /// HS256 only; `exp`, `nbf` and `aud` required and checked, with gw's
    /// skew as leeway.
    pub(crate) jwt_validation: jsonwebtoken::Validation,
}

fn b64url(s: &str) -> Vec<u8> {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.decode(s).expect("base64url")
}

fn tag_of(token: &str) -> [u8; 32] {
    b64url(token.rsplit('.').next().expect("a tag")).try_into().expect("32 bytes")
}

impl TokenBench {
    pub(crate) fn new() -> Self {
        use gw_token::{CAVEAT_DOMAIN, CLAIMS_DOMAIN, Caveat, Grant, HKDF_SALT, INFO_MAC_KEY, Secret, TokenKey};
        use hmac::Mac;
        let key = TokenKey::from_root(&Secret::new(TOKEN_ROOT.to_vec()));
        let mac_key = gw_token::hkdf_sha256(HKDF_SALT, &TOKEN_ROOT, INFO_MAC_KEY);
        let prekeyed = <HmacSha256 as Mac>::new_from_slice(mac_key.as_ref()).expect("any key length");
        let grant = Grant {
            scopes: TOKEN_SCOPES.iter().map(|s| (*s).to_owned()).collect(),
            audience: Some(TOKEN_AUD.to_owned()),
            ttl: TOKEN_TTL,
            local: true,
        };
        let now = gw_token::unix_now();
        let plain =
            gw_token::expose(&gw_token::derive_with_id(&key, &grant, now, &TOKEN_ID).expect("derive")).to_owned();
        let parts: Vec<&str> = plain.split('.').collect();
        assert_eq!(parts.len(), 3);
        let plain_signed = [CLAIMS_DOMAIN, &b64url(parts[1])].concat();
        let plain_tag = tag_of(&plain);
        let caveat = Caveat {
            scp: Some(vec![TOKEN_SCOPE.to_owned()]),
            exp: Some(now + TOKEN_TTL.as_secs() / 2),
            ..Caveat::default()
        };
        let caveated = gw_token::expose(&gw_token::attenuate(&plain, &caveat).expect("attenuate")).to_owned();
        let cparts: Vec<&str> = caveated.split('.').collect();
        assert_eq!(cparts.len(), 4);
        let caveated_parts = (b64url(cparts[1]), b64url(cparts[2]));
        let caveated_signed = [CLAIMS_DOMAIN, &caveated_parts.0[..], CAVEAT_DOMAIN, &caveated_parts.1[..]].concat();
        let caveated_flat_tag = *gw_token::hmac_sha256(mac_key.as_ref(), &[&caveated_signed]);
        let caveated_tag = tag_of(&caveated);

        let jwt_header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256);
        let jwt_enc = jsonwebtoken::EncodingKey::from_secret(mac_key.as_ref());
        let jwt_dec = jsonwebtoken::DecodingKey::from_secret(mac_key.as_ref());
        let mut jwt_validation = jsonwebtoken::Validation::new(jsonwebtoken::Algorithm::HS256);
        jwt_validation.set_audience(&[TOKEN_AUD]);
        jwt_validation.set_required_spec_claims(&["exp", "nbf", "aud"]);
        jwt_validation.validate_exp = true;
        jwt_validation.validate_nbf = true;
        jwt_validation.validate_aud = true;
        jwt_validation.leeway = TOKEN_SKEW;

        let mut b = Self {
            key,
            mac_key,
            prekeyed,
            grant,
            now,
            peer: IpAddr::V4(std::net::Ipv4Addr::LOCALHOST),
            plain,
            plain_signed,
            plain_tag,
            caveated,
            caveated_signed,
            caveated_flat_tag,
            caveated_parts,
            caveated_tag,
            jwt: String::new(),
            jwt_header,
            jwt_enc,
            jwt_dec,
            jwt_validation,
        };
        b.jwt = jwt_encode(&b);
        b.check();
        b
    }

    /// Every contender computes what it should, and the JWT carries the gw
    /// token's claims.
    fn check(&self) {
        // The bare HMAC over the signed bytes is the token's tag.
        assert_eq!(*gw_token::hmac_sha256(self.mac_key.as_ref(), &[&self.plain_signed]), self.plain_tag);
        bare_hmac_verify(self, &self.plain_signed, &self.plain_tag);
        prekeyed_hmac_verify(self, &self.plain_signed, &self.plain_tag);
        bare_hmac_verify(self, &self.caveated_signed, &self.caveated_flat_tag);
        prekeyed_hmac_verify(self, &self.caveated_signed, &self.caveated_flat_tag);
        mac_chain_verify(self);
        assert_eq!(bare_hmac(self), self.plain_tag);
        let i = gw_token::inspect(&self.plain).expect("inspect");
        let e = gw_verify(self, &self.plain);
        assert_eq!(e.scopes, TOKEN_SCOPES);
        let ec = gw_verify(self, &self.caveated);
        assert_eq!(ec.scopes, [TOKEN_SCOPE]);
        assert!(ec.local && ec.expires < e.expires);
        // The JWT: the same claims, and it decodes and validates.
        let j = jwt_decode(self);
        assert_eq!(
            j,
            JwtClaims {
                scp: i.claims.scp.clone(),
                aud: i.claims.aud.clone().expect("aud"),
                nbf: i.claims.nbf,
                exp: i.claims.exp,
                loc: i.claims.loc,
                jti: i.claims.jti.clone(),
            }
        );
        // Both refuse a wrong audience and an altered token.
        let v = gw_token::Verifier::new(&self.key, TOKEN_SCOPE).audience("ws://127.0.0.1:1").peer(self.peer);
        assert!(v.verify(&self.plain).is_err());
        let mut wrong = self.jwt_validation.clone();
        wrong.set_audience(&["ws://127.0.0.1:1"]);
        assert!(jsonwebtoken::decode::<JwtClaims>(&self.jwt, &self.jwt_dec, &wrong).is_err());
        let flip = |t: &str| {
            let mut b = t.as_bytes().to_vec();
            let k = b.len() / 2;
            b[k] = if b[k] == b'A' { b'B' } else { b'A' };
            String::from_utf8(b).expect("ascii")
        };
        let v = gw_token::Verifier::new(&self.key, TOKEN_SCOPE).audience(TOKEN_AUD).peer(self.peer);
        assert!(v.verify(&flip(&self.plain)).is_err());
        assert!(jsonwebtoken::decode::<JwtClaims>(flip(&self.jwt), &self.jwt_dec, &self.jwt_validation).is_err());
        // The derive contenders make the same token (with_id) or one like it.
        assert_eq!(gw_token::expose(&gw_derive_with_id(self)), self.plain);
        assert_eq!(gw_token::expose(&gw_derive(self)).len(), self.plain.len());
    }
}

/// The verify baseline: HMAC-SHA256 with the token key over `signed` (key
/// setup included: `Hmac::new_from_slice`, as any call of a stock HMAC API
/// and jsonwebtoken's decode do), then a constant-time comparison with `tag`
/// (`Mac::verify_slice`). Nothing else.
pub(crate) fn bare_hmac_verify(b: &TokenBench, signed: &[u8], tag: &[u8; 32]) {
    use hmac::Mac;
    let mut mac = <HmacSha256 as Mac>::new_from_slice(b.mac_key.as_ref()).expect("any key length");
    mac.update(signed);
    mac.verify_slice(tag).expect("bare HMAC matches");
}

/// The stricter baseline: the same HMAC from a keyed state made once
/// (`clone` of [`TokenBench::prekeyed`]: the two key-block compressions are
/// not repeated), then `verify_slice`. The floor of any verifier that keeps
/// its key state, as gw-token's `TokenKey` does.
pub(crate) fn prekeyed_hmac_verify(b: &TokenBench, signed: &[u8], tag: &[u8; 32]) {
    use hmac::Mac;
    let mut mac = b.prekeyed.clone();
    mac.update(signed);
    mac.verify_slice(tag).expect("pre-keyed HMAC matches");
}

/// The derive baseline: HMAC-SHA256 with the token key (key setup included)
/// over the bytes the token without caveats signs; the tag is returned.
pub(crate) fn bare_hmac(b: &TokenBench) -> [u8; 32] {
    use hmac::Mac;
    let mut mac = <HmacSha256 as Mac>::new_from_slice(b.mac_key.as_ref()).expect("any key length");
    mac.update(&b.plain_signed);
    mac.finalize().into_bytes().into()
}

/// The caveated token's MAC chain alone (two chained HMACs with the `hmac`
/// crate, each with its key setup, over the records decoded beforehand), the
/// last compared in constant time with its tag.
pub(crate) fn mac_chain_verify(b: &TokenBench) {
    use hmac::Mac;
    let (claims, caveat) = &b.caveated_parts;
    let t0 = gw_token::hmac_sha256(b.mac_key.as_ref(), &[gw_token::CLAIMS_DOMAIN, claims]);
    let mut mac = <HmacSha256 as Mac>::new_from_slice(t0.as_ref()).expect("any key length");
    mac.update(gw_token::CAVEAT_DOMAIN);
    mac.update(caveat);
    mac.verify_slice(&b.caveated_tag).expect("the chain matches");
}

/// gw-token: a verifier as a server makes one per request (the scope it
/// serves, its audience, the peer's address; the clock read by
/// `Verifier::new`), then `verify`: split, canonical base64 of every part,
/// the MAC chain compared in constant time, the canonical binary records,
/// time, scope, audience, locality, and the owned `Effective` returned.
pub(crate) fn gw_verify(b: &TokenBench, token: &str) -> gw_token::Effective {
    gw_token::Verifier::new(&b.key, TOKEN_SCOPE).audience(TOKEN_AUD).peer(b.peer).verify(token).expect("gw verify")
}

/// jsonwebtoken: `decode` (header, HS256 MAC, claims, `exp`/`nbf`/`aud`
/// with the same leeway), then the two checks gw-token makes and a JWT
/// library cannot: the scope, and locality against the peer.
pub(crate) fn jwt_decode(b: &TokenBench) -> JwtClaims {
    let data = jsonwebtoken::decode::<JwtClaims>(&b.jwt, &b.jwt_dec, &b.jwt_validation).expect("jwt decode");
    assert!(data.claims.scp.iter().any(|s| s == TOKEN_SCOPE), "scope");
    assert!(!data.claims.loc || gw_token::is_loopback(b.peer), "locality");
    data.claims
}

/// gw-token: `derive_with_id` (the fixed id: no randomness, like the JWT
/// contender): claims from the grant, checks, the binary record, the MAC,
/// base64url, the token string.
pub(crate) fn gw_derive_with_id(b: &TokenBench) -> secrecy::SecretString {
    gw_token::derive_with_id(&b.key, &b.grant, b.now, &TOKEN_ID).expect("derive")
}

/// gw-token: `derive`, the real API (a fresh 128-bit id from the OS each time).
pub(crate) fn gw_derive(b: &TokenBench) -> secrecy::SecretString {
    gw_token::derive(&b.key, &b.grant, b.now).expect("derive")
}

/// jsonwebtoken: the JWT claims built from the same grant (scopes sorted, as
/// gw-token stores them; the same fixed id, base64url), then `encode`.
pub(crate) fn jwt_encode(b: &TokenBench) -> String {
    use base64::Engine;
    let mut scp = b.grant.scopes.clone();
    scp.sort();
    scp.dedup();
    let claims = JwtClaims {
        scp,
        aud: b.grant.audience.clone().expect("aud"),
        nbf: b.now,
        exp: b.now + b.grant.ttl.as_secs(),
        loc: b.grant.local,
        jti: base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(TOKEN_ID),
    };
    jsonwebtoken::encode(&b.jwt_header, &claims, &b.jwt_enc).expect("jwt encode")
}
