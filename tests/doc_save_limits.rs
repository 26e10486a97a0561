//! THREATS DOC-3: a writer never saves what its own reader refuses.
//!
//! The four cases the outside audit measured (issue 11 §3), on the real
//! binary (the lease record and launchd agent writers are tested with their
//! crates: gw-lease's `lease_threats`, gw-persist's `service_write`):
//!
//! - `cred set` into a store one 4000-character credential short of the
//!   1 MiB load limit: the set is refused (exit 1, the limit, the size and
//!   the file named, the `gw cred rm` fix, no secret in the message), the
//!   store is unchanged byte for byte, and every `cred` command still works;
//!   the same for `cred handoff` (the bootstrap token is kept) and for
//!   `cred mirror` into a near-full profile;
//! - `doc set` of a 58-deep value at depth 10: refused (the depth reached,
//!   68, and the limit, 64, named), the document unchanged;
//! - a compact ~400 KB JSON document whose pretty-printed form exceeds 1 MiB:
//!   any `doc set` is refused, the document unchanged and still loadable;
//! - a ~250-byte binary plist whose shared references, written out as XML,
//!   exceed 1 MiB: `doc set` is refused, the file unchanged.
//!
//! Before the fix every one of these saves succeeded and left a file every
//! later load refused.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

// EXIT_FAILED: the documented exit code of an operational error ("too large").
use gw_test_support::cli::{EXIT_FAILED, Gw, Run};
use serde_json::{Value, json};

const GW: &str = env!("CARGO_BIN_EXE_gw");
/// The strict loader's size limit (gw-persist's default).
const MAX_BYTES: usize = 1 << 20;

/// A private temp dir; `home` is every child's `GW_HOME`.
struct Env {
    tmp: tempfile::TempDir,
    home: PathBuf,
}

impl Env {
    fn new() -> Self {
        let tmp = gw_test_support::private_tempdir("gw-doc-3-");
        let home = tmp.path().join("home");
        Self { tmp, home }
    }

    fn gw(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        Gw::new(GW).args(args).home(&self.home).current_dir(self.tmp.path()).stdin(stdin).run()
    }

    #[track_caller]
    fn ok(&self, args: &[&str], stdin: Option<&[u8]>) -> String {
        let run = self.gw(args, stdin);
        assert_eq!(run.code, 0, "gw {args:?}: {run:?}");
        run.stdout
    }

    /// `gw` that must fail with exit 1 and one `gw: error:` line naming
    /// every piece of `needles`.
    #[track_caller]
    fn too_large(&self, args: &[&str], stdin: Option<&[u8]>, needles: &[&str]) -> Run {
        let run = self.gw(args, stdin);
        assert_eq!(run.code, EXIT_FAILED, "gw {args:?}: exit 1 (too large): {run:?}");
        assert_eq!(run.stderr.lines().count(), 1, "gw {args:?}: one line: {run:?}");
        assert!(run.stderr.starts_with("gw: error: "), "gw {args:?}: {run:?}");
        for n in needles {
            assert!(run.stderr.contains(n), "gw {args:?}: the error names `{n}`: {}", run.stderr);
        }
        assert!(run.stdout.is_empty(), "{run:?}");
        run
    }

    fn store(&self, profile: &str) -> PathBuf {
        self.home.join("profiles").join(profile).join("credentials.json")
    }
}

fn write_private(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
}

/// A 4000-character credential, distinct per `n` (as the audit's).
fn credential(n: usize) -> String {
    let head = format!("cred-{n:05}-");
    format!("{head}{}", "x".repeat(4000 - head.len()))
}

fn gateway(n: usize) -> String {
    format!("ws://127.0.0.1:{}", 10_000 + n)
}

/// The bytes gw writes for `doc` (pretty JSON, trailing newline).
fn rendered(doc: &Value) -> Vec<u8> {
    let mut out = serde_json::to_vec_pretty(doc).unwrap();
    out.push(b'\n');
    out
}

/// A credential store with shared credentials for gateways `from..`, as
/// many as fit within the load limit, and the one that would not fit.
fn near_full_store(from: usize) -> (Vec<u8>, usize) {
    let mut gateways = serde_json::Map::new();
    let mut n = from;
    loop {
        gateways.insert(gateway(n), json!({"generation": 0, "shared": credential(n)}));
        if rendered(&json!({"version": 1, "gateways": gateways})).len() > MAX_BYTES {
            gateways.remove(&gateway(n));
            return (rendered(&json!({"version": 1, "gateways": gateways})), n);
        }
        n += 1;
    }
}

/// The audit's case: one more 4000-character credential than fits. Before
/// the fix the 258th `cred set` wrote a 1,052,163-byte store and from then
/// on every `cred` command failed.
#[test]
fn doc_3_cred_set_past_the_load_limit_is_refused_and_the_store_still_works() {
    let env = Env::new();
    env.ok(&["profile", "init", "a"], None);
    let (store, next) = near_full_store(1);
    write_private(&env.store("a"), &store);
    assert_eq!(next, 258, "the audit's numbers: 257 credentials fit, the 258th does not");
    assert_eq!(env.ok(&["--profile", "a", "--json", "cred", "list"], None).matches("ws://").count(), 257);

    // The 258th is refused, naming the store, the size and the fix.
    let secret = credential(next);
    let path = env.store("a").display().to_string();
    let run = env.too_large(
        &["--profile", "a", "cred", "set", &gateway(next), "--shared"],
        Some(format!("{secret}\n").as_bytes()),
        &[&path, "credential store would exceed 1 MiB", "1048576", "gw cred rm"],
    );
    assert!(!run.stderr.contains(&secret[..40]), "no credential in the error: {run:?}");
    assert_eq!(std::fs::read(env.store("a")).unwrap(), store, "the store is unchanged byte for byte");

    // Every cred command still works on it.
    let listed = env.ok(&["--profile", "a", "--json", "cred", "list"], None);
    assert_eq!(listed.matches("ws://").count(), 257);
    assert!(!listed.contains(&gateway(next)));
    let got = env.ok(&["--profile", "a", "cred", "get", &gateway(7), "--shared", "--reveal"], None);
    assert_eq!(got.trim_end(), credential(7));
    let got = env.ok(&["--profile", "a", "cred", "resolve", &gateway(9), "--reveal"], None);
    assert!(got.contains(&credential(9)), "{got}");
    assert_eq!(env.gw(&["--profile", "a", "cred", "get", &gateway(next), "--shared"], None).code, 4);
    // Making room (the fix the error names) lets the set through.
    env.ok(&["--profile", "a", "cred", "rm", &gateway(1)], None);
    env.ok(&["--profile", "a", "cred", "set", &gateway(next), "--shared"], Some(format!("{secret}\n").as_bytes()));
    let got = env.ok(&["--profile", "a", "cred", "get", &gateway(next), "--shared", "--reveal"], None);
    assert_eq!(got.trim_end(), secret);
    assert!(std::fs::metadata(env.store("a")).unwrap().len() <= MAX_BYTES as u64);
}

/// A hand-off whose role token would take the store past the limit: refused
/// before anything is written, so the bootstrap token is kept (CRED-3) and
/// the store is unchanged.
#[test]
fn doc_3_cred_handoff_past_the_load_limit_is_refused_and_keeps_the_bootstrap_token() {
    let env = Env::new();
    env.ok(&["profile", "init", "a"], None);
    let (store, _) = near_full_store(1);
    let mut doc: Value = serde_json::from_slice(&store).unwrap();
    doc["gateways"][gateway(1)]["bootstrap"] = json!("boot-Kk1Ll2Mm3Nn4");
    let store = rendered(&doc);
    assert!(store.len() <= MAX_BYTES);
    write_private(&env.store("a"), &store);
    let token = format!("op-{}", "z".repeat(3997));
    let hello = json!({"type": "hello-ok", "protocol": 4,
                       "auth": {"method": "bootstrap-token", "role": "operator", "deviceToken": token}});
    let path = env.store("a").display().to_string();
    let run = env.too_large(
        &["--profile", "a", "cred", "handoff", &gateway(1)],
        Some(hello.to_string().as_bytes()),
        &[&path, "credential store would exceed 1 MiB", "gw cred rm"],
    );
    assert!(!run.stderr.contains("zzzz") && !run.stderr.contains("boot-"), "no credential in the error: {run:?}");
    assert_eq!(std::fs::read(env.store("a")).unwrap(), store, "the store is unchanged byte for byte");
    let got = env.ok(&["--profile", "a", "cred", "get", &gateway(1), "--bootstrap", "--reveal"], None);
    assert_eq!(got.trim_end(), "boot-Kk1Ll2Mm3Nn4", "the bootstrap token is kept");
}

/// `cred mirror` into a profile whose store would outgrow the limit with
/// the primary's entries: refused, the target unchanged and readable.
#[test]
fn doc_3_cred_mirror_past_the_load_limit_is_refused() {
    let env = Env::new();
    env.ok(&["profile", "init", "main"], None);
    env.ok(&["profile", "init", "rescue"], None);
    let (full, _) = near_full_store(1);
    write_private(&env.store("rescue"), &full);
    let primary: serde_json::Map<String, Value> =
        (1000..1003).map(|n| (gateway(n), json!({"generation": 0, "shared": credential(n)}))).collect();
    write_private(&env.store("main"), &rendered(&json!({"version": 1, "gateways": primary})));
    let path = env.store("rescue").display().to_string();
    let run = env.too_large(
        &["cred", "mirror", "--from", "main", "--to", "rescue"],
        None,
        &[&path, "credential store would exceed 1 MiB", "gw cred rm"],
    );
    assert!(!run.stderr.contains("cred-0"), "no credential in the error: {run:?}");
    assert_eq!(std::fs::read(env.store("rescue")).unwrap(), full, "the target store is unchanged");
    assert_eq!(env.ok(&["--profile", "rescue", "--json", "cred", "list"], None).matches("ws://").count(), 257);
}

/// A private document directory holding `name` = `bytes` (0600).
fn doc_dir(env: &Env, name: &str, bytes: &[u8]) -> (PathBuf, PathBuf) {
    let dir = env.tmp.path().join("docs");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let file = dir.join(name);
    write_private(&file, bytes);
    (dir, file)
}

/// The audit's case: a value set 58 deep at depth 10 gave a 68-deep
/// document the loader (limit 64) refused.
#[test]
fn doc_3_doc_set_deeper_than_the_load_limit_is_refused() {
    let env = Env::new();
    let mut doc = json!({});
    for _ in 0..9 {
        doc = json!({ "a": doc });
    }
    let before = rendered(&doc);
    let (dir, file) = doc_dir(&env, "deep.json", &before);
    let (dir, path) = (dir.to_str().unwrap(), file.display().to_string());
    let pointer = format!("{}/x", "/a".repeat(9));
    let value = format!("{}{}", "[".repeat(58), "]".repeat(58));
    env.too_large(&["doc", "set", dir, "deep.json", &pointer, &value], None, &[&path, "68 levels", "64"]);
    assert_eq!(std::fs::read(&file).unwrap(), before, "unchanged byte for byte");
    // Within the limit it is saved, and loads.
    let value = format!("{}{}", "[".repeat(54), "]".repeat(54));
    env.ok(&["doc", "set", dir, "deep.json", &pointer, &value], None);
    env.ok(&["doc", "get", dir, "deep.json", &pointer], None);
}

/// The audit's case was a compact 400 KB document that became 1.4 MB
/// pretty-printed after one `doc set`. An edit now keeps the document's
/// layout (issue 12 item 7): the compact document stays compact and the
/// save fits. A compact document near the limit that one `doc set` pushes
/// past it is still refused: the document stays as it was, and loadable.
#[test]
fn doc_3_doc_set_on_compact_document_that_grows_past_the_limit_is_refused() {
    let env = Env::new();
    let compact = serde_json::to_vec(&json!({ "a": vec![7; 200_000] })).unwrap();
    assert!((390_000..=410_000).contains(&compact.len()), "{}", compact.len());
    assert!(rendered(&serde_json::from_slice(&compact).unwrap()).len() > 1_300_000);
    let (dir, file) = doc_dir(&env, "compact.json", &compact);
    let dir = dir.to_str().unwrap();
    env.ok(&["doc", "set", dir, "compact.json", "/b", "1"], None);
    let after = std::fs::read(&file).unwrap();
    assert!(!after.contains(&b'\n') && after.len() == compact.len() + 6, "still compact: {} bytes", after.len());

    let near = serde_json::to_vec(&json!({ "a": vec![7; 520_000] })).unwrap();
    assert!((1_030_000..1_048_576).contains(&near.len()), "{}", near.len());
    let file = std::path::Path::new(dir).join("near.json");
    write_private(&file, &near);
    let path = file.display().to_string();
    let big = format!("\"{}\"", "x".repeat(20_000));
    env.too_large(&["doc", "set", dir, "near.json", "/b", &big], None, &[&path, "bytes as written", "1048576"]);
    let patch = format!("{{\"b\": {big}}}");
    env.too_large(&["doc", "merge", dir, "near.json"], Some(patch.as_bytes()), &[&path, "1048576"]);
    assert_eq!(std::fs::read(&file).unwrap(), near, "unchanged byte for byte");
    assert_eq!(env.ok(&["doc", "get", dir, "near.json", "/a/0"], None).trim(), "7", "still loads");
}

/// A binary plist (`bplist00`): a top dictionary `{"x": W}`, where `W` is
/// `wraps` single-element arrays around `A3`, `A3` holds `n3` references to
/// `A2`, `A2` `n2` to `A1`, `A1` `n1` to the one string "a". Every reference
/// is shared: the file stays a few hundred bytes.
fn shared_ref_bplist(wraps: usize, n3: usize, n2: usize, n1: usize) -> Vec<u8> {
    fn array_marker(out: &mut Vec<u8>, n: usize) {
        if n < 15 {
            out.push(0xA0 | n as u8);
        } else {
            out.extend([0xAF, 0x10, u8::try_from(n).unwrap()]);
        }
    }
    let mut out = b"bplist00".to_vec();
    let mut offsets = Vec::new();
    // Object 0: "a"; 1: "x"; 2: A1; 3: A2; 4: A3; 5..5+wraps: W; last: the dict.
    offsets.push(out.len());
    out.extend([0x51, b'a']);
    offsets.push(out.len());
    out.extend([0x51, b'x']);
    for (count, child) in [(n1, 0u8), (n2, 2), (n3, 3)] {
        offsets.push(out.len());
        array_marker(&mut out, count);
        out.extend(std::iter::repeat_n(child, count));
    }
    for i in 0..wraps {
        offsets.push(out.len());
        out.extend([0xA1, u8::try_from(4 + i).unwrap()]);
    }
    let top = offsets.len();
    offsets.push(out.len());
    out.extend([0xD1, 1, u8::try_from(top - 1).unwrap()]);
    let table = out.len();
    assert!(table < 256 && offsets.len() < 256, "one-byte offsets and references");
    out.extend(offsets.iter().map(|&o| o as u8));
    out.extend([0u8; 6]);
    out.extend([1u8, 1]);
    out.extend((offsets.len() as u64).to_be_bytes());
    out.extend((top as u64).to_be_bytes());
    out.extend((table as u64).to_be_bytes());
    out
}

/// The audit's case: a 111-byte binary plist became a 5.5 MB XML file after
/// one `doc set` (shared references are written out in full). Here ~250
/// bytes decode to 28,800 strings 40 levels deep: about 1.7 MB as XML.
#[test]
fn doc_3_doc_set_on_binary_plist_with_shared_references_is_refused() {
    let env = Env::new();
    let bplist = shared_ref_bplist(36, 30, 30, 32);
    assert!(bplist.len() < 300, "{}", bplist.len());
    let (dir, file) = doc_dir(&env, "shared.plist", &bplist);
    let (dir, path) = (dir.to_str().unwrap(), file.display().to_string());
    let leaf = format!("/x{}/0/0/0", "/0".repeat(36));
    assert_eq!(env.ok(&["doc", "get", dir, "shared.plist", &leaf], None).trim(), "\"a\"", "it loads");
    env.too_large(
        &["doc", "set", dir, "shared.plist", "/y", "1"],
        None,
        &[&path, "bytes as written (an XML property list)", "1048576"],
    );
    assert_eq!(std::fs::read(&file).unwrap(), bplist, "unchanged byte for byte");
    // A smaller expansion is written as XML and loads back.
    let small = shared_ref_bplist(2, 3, 3, 3);
    std::fs::write(&file, &small).unwrap();
    env.ok(&["doc", "set", dir, "shared.plist", "/y", "1"], None);
    assert!(std::fs::read(&file).unwrap().starts_with(b"<?xml"));
    assert_eq!(env.ok(&["doc", "get", dir, "shared.plist", "/y"], None).trim(), "1");
}
