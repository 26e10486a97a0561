//! Security-regression tests for gw-persist documents, named by threat id
//! (`audits/THREATS.md`): FS-1, FS-2, FS-5, FS-7 and FS-8 as they reach a
//! [`Document`], CLI-2 (hostile documents change nothing) and CRED-7
//! (mirroring keeps local credentials).
//!
//! Every test body takes the gw-anchor [`Resolver`] and runs twice, as
//! `<name>_openat2` and `<name>_walk` ([`both_resolvers!`], as in
//! `crates/anchor/tests/fs_threats.rs`): a document is only as safe as the resolver under
//! it. Refusals are checked for their kind, the path they name, that
//! `update_value`'s closure never ran, that the file is byte-for-byte (and
//! inode-for-inode) what it was, and that nothing changed outside the root
//! (`Sandbox::outside_snapshot`). The only thing an `update` may leave behind
//! is its lock file (`.NAME.lock`, empty, 0600) — and not even that when the
//! refusal comes from the directory it would go in.
//!
//! The machine runs the suite as root, which bypasses permission checks:
//! "another user" is uid 65534 (files chown-ed to it, or a helper child run
//! as it, see `common::run_helper`).

use gw_test_support as common;
use gw_test_support::both_resolvers;

use std::fmt::Debug;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::*;
use gw_anchor::{ErrorKind as AK, Resolver};
use gw_persist::{Document, ErrorKind, Limits, merge_keeping_local};
use serde_json::{Value, json};

/// Not a test: the entry point of helper children (see `common::run_helper`).
#[test]
fn helper_child() {
    helper_main(dispatch_helper);
}

fn dispatch_helper(mode: &str, args: &[String]) -> Vec<String> {
    match mode {
        "doc_eacces" => child_doc_eacces(args),
        other => panic!("unknown helper mode {other}"),
    }
}

const DOC: &str = "auth-profiles.json";
const ORIGINAL: &[u8] =
    b"{\n  \"gateways\": {\n    \"ws://127.0.0.1:18789\": {\n      \"token\": \"ORIGINAL\"\n    }\n  }\n}\n";
const PWNED: &str = "PWNED";

// ---- expectations ----

/// Asserts `res` failed with `kind`; returns the error.
#[track_caller]
fn expect_kind<T: Debug>(res: gw_persist::Result<T>, kind: ErrorKind, ctx: &str) -> gw_persist::Error {
    match res {
        Ok(v) => panic!("{ctx}: expected {kind:?}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{ctx}: expected {kind:?}, got {:?}: {e}", e.kind());
            e
        }
    }
}

/// Asserts `res` is a security refusal of `kind`; returns the error.
#[track_caller]
fn expect_refusal<T: Debug>(res: gw_persist::Result<T>, kind: ErrorKind, ctx: &str) -> gw_persist::Error {
    let e = expect_kind(res, kind, ctx);
    assert!(e.kind().is_security_refusal(), "{ctx}: {kind:?} must be a security refusal: {e}");
    e
}

/// Loads (as a value and typed), reads the generation, and updates `doc`:
/// each must fail with `kind`, and the update's closure must never run. With
/// `save`, a save must be refused too. Returns the load error.
#[track_caller]
fn refused_everywhere(doc: &Document<'_>, kind: ErrorKind, save: bool, ctx: &str) -> gw_persist::Error {
    let e = expect_kind(doc.load_value(), kind, &format!("{ctx}: load_value"));
    expect_kind(doc.load::<Value>(), kind, &format!("{ctx}: load"));
    expect_kind(doc.generation(), kind, &format!("{ctx}: generation (an error, never 0)"));
    let ran = AtomicBool::new(false);
    let res = doc.update_value(|_| {
        ran.store(true, Ordering::SeqCst);
        Ok::<_, gw_persist::Error>(json!({"token": PWNED}))
    });
    expect_kind(res, kind, &format!("{ctx}: update_value"));
    assert!(!ran.load(Ordering::SeqCst), "{ctx}: update_value ran its closure over a refused document");
    if save {
        expect_kind(doc.save_value(&json!({"token": PWNED})), kind, &format!("{ctx}: save_value"));
    }
    e
}

/// `before` and the root now are the same, except for lock files an
/// `update` created (`.NAME.lock`, empty, 0600).
#[track_caller]
fn assert_root_unchanged_but_locks(root_dir: &Path, before: &Snapshot, ctx: &str) {
    let mut after = snapshot(root_dir);
    after.retain(|path, node| {
        let lock_name =
            path.file_name().map(|n| n.to_string_lossy()).is_some_and(|n| n.starts_with('.') && n.ends_with(".lock"));
        let new_empty_lock = !before.contains_key(path)
            && lock_name
            && matches!(node, Node::File { mode: 0o600, content, .. } if content.is_empty());
        !new_empty_lock
    });
    assert_same_tree(before, &after, ctx);
}

/// Writes `bytes` at `path` with mode 0600.
fn put(path: &Path, bytes: &[u8]) {
    std::fs::write(path, bytes).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    chmod(path, 0o600);
}

/// The bytes and inode of a file, to prove it was neither rewritten nor
/// replaced.
fn fingerprint(path: &Path) -> (Vec<u8>, u64) {
    (std::fs::read(path).unwrap(), std::fs::symlink_metadata(path).unwrap().ino())
}

// ============================================================================
// FS-1: symlink (and other non-files) at the document path
// ============================================================================

/// THREATS FS-1 (symlink at the final component): a link planted at a
/// document's name — to a file outside (absolute and relative), to a missing
/// file outside, for JSON and plist documents — makes `load_value`, `load`,
/// `generation`, `update_value` and `save_value` fail with
/// `Fs(Symlink)` naming the document. The link's target is neither read,
/// written nor created, the link stays as it was, and no lock file is made.
fn fs_1_symlink_at_document_path_is_refused(r: Resolver) {
    let sb = Sandbox::new();
    let cases = [
        (DOC, sb.outside.join("secret")),
        ("dangling.json", sb.outside.join("created-by-attack")),
        ("relative.json", PathBuf::from("../outside/secret")),
        ("ai.gw.serve.plist", sb.outside.join("secret")),
        ("dangling.plist", PathBuf::from("../outside/sub/created-by-attack")),
    ];
    for (name, target) in &cases {
        symlink(target, &sb.root.join(name));
    }
    let out_before = sb.outside_snapshot();
    let root_before = snapshot(&sb.root);
    let root = sb.open(r);
    for (name, _) in &cases {
        let doc = Document::new(&root, name);
        let e = refused_everywhere(&doc, ErrorKind::Fs(AK::Symlink), true, name);
        assert!(e.kind().is_security_refusal());
        assert_eq!(e.path(), sb.root.join(name), "the error names the document: {e}");
        assert!(e.fix().is_some(), "a refusal says how to fix it: {e}");
        sb.assert_outside_unchanged(&out_before, &format!("FS-1 {name}"));
    }
    // Not even a lock file: a target that can never be a document is
    // refused before `update` creates one.
    let after = snapshot(&sb.root);
    assert!(after == root_before, "FS-1: the links are left as they were, and nothing is added: {after:#?}");
    assert!(!sb.outside.join("created-by-attack").exists());
    assert!(!sb.outside.join("sub/created-by-attack").exists());
}

both_resolvers! {
    /// THREATS FS-1: a symlink at the document path is refused by load,
    /// update and save.
    fs_1_symlink_at_document_path_is_refused =>
    fs_1_symlink_at_document_path_is_refused_openat2, fs_1_symlink_at_document_path_is_refused_walk
}

/// THREATS FS-1 at the lock file: `update` creates `.NAME.lock` beside the
/// document. A link planted there (to a file outside, or dangling) is
/// refused with `Fs(Symlink)` before anything is read or written: the link's
/// target is not created, truncated or locked, the document is unchanged, and
/// plain loads still work (they take no lock).
fn fs_1_symlink_at_lock_file_is_refused(r: Resolver) {
    let sb = Sandbox::new();
    put(&sb.root.join(DOC), ORIGINAL);
    put(&sb.root.join("other.json"), ORIGINAL);
    symlink(sb.outside.join("secret"), &sb.root.join(format!(".{DOC}.lock")));
    symlink(sb.outside.join("created-by-attack"), &sb.root.join(".other.json.lock"));
    let out_before = sb.outside_snapshot();
    let root_before = snapshot(&sb.root);
    let root = sb.open(r);
    for name in [DOC, "other.json"] {
        let doc = Document::new(&root, name);
        let mut ran = false;
        let e = expect_refusal(
            doc.update_value(|_| {
                ran = true;
                Ok::<_, gw_persist::Error>(json!({"token": PWNED}))
            }),
            ErrorKind::Fs(AK::Symlink),
            name,
        );
        assert!(!ran, "{name}: the closure ran without the lock");
        assert!(e.path().ends_with(format!(".{name}.lock")), "the error names the lock file: {e}");
        assert!(doc.load_value().unwrap().is_some(), "{name}: loads take no lock and still work");
    }
    sb.assert_outside_unchanged(&out_before, "FS-1 lock link");
    assert_same_tree(&root_before, &snapshot(&sb.root), "FS-1 lock link: nothing changed in the root");
}

both_resolvers! {
    /// THREATS FS-1: a symlink at the lock file is refused by update.
    fs_1_symlink_at_lock_file_is_refused =>
    fs_1_symlink_at_lock_file_is_refused_openat2, fs_1_symlink_at_lock_file_is_refused_walk
}

/// THREATS FS-1 / CLI-2 (a FIFO, socket or device planted at the document
/// path): `load_value` does not block on a FIFO nobody writes to (it is
/// opened non-blocking, then refused by type) — each operation runs in a
/// thread the test gives 10 s — and load, update and save all fail with
/// `Fs(NotRegularFile)`; the special file is left as it was.
fn fs_1_fifo_at_document_path_is_refused_without_blocking(r: Resolver) {
    let sb = Sandbox::new();
    mkfifo(&sb.root.join(DOC));
    mkfifo(&sb.root.join("launchd.plist"));
    mksocket(&sb.root.join("socket.json"));
    mknod_null(&sb.root.join("device.json"));
    let out_before = sb.outside_snapshot();
    let root_before = snapshot(&sb.root);
    let root_dir = sb.root.clone();
    for name in [DOC, "launchd.plist", "socket.json", "device.json"] {
        let (tx, rx) = mpsc::channel();
        let dir = root_dir.clone();
        std::thread::spawn(move || {
            let root = gw_anchor::Root::open(&dir, &policy(r)).unwrap();
            let doc = Document::new(&root, name);
            let e = refused_everywhere(&doc, ErrorKind::Fs(AK::NotRegularFile), true, name);
            tx.send((e.kind().is_security_refusal(), e.path().to_path_buf(), e.to_string())).unwrap();
        });
        let (refusal, path, text) = rx
            .recv_timeout(Duration::from_secs(10))
            .unwrap_or_else(|_| panic!("{name}: load/update/save BLOCKED (or panicked) on a special file"));
        assert!(refusal, "{name}: {text}");
        assert_eq!(path, root_dir.join(name), "{text}");
    }
    sb.assert_outside_unchanged(&out_before, "FS-1 special files");
    assert_root_unchanged_but_locks(&sb.root, &root_before, "FS-1: special files are left in place");
}

both_resolvers! {
    /// THREATS FS-1 / CLI-2: a FIFO (socket, device) at the document path is
    /// refused, and loading does not block.
    fs_1_fifo_at_document_path_is_refused_without_blocking =>
    fs_1_fifo_at_document_path_is_refused_without_blocking_openat2,
    fs_1_fifo_at_document_path_is_refused_without_blocking_walk
}

// ============================================================================
// FS-2: symlink or swap in a parent component
// ============================================================================

/// THREATS FS-2 (symlink in a parent component): a document whose directory
/// is reached through a link — to a directory outside (absolute, relative),
/// deeper in the tree, or even to a directory inside the root — is refused by
/// load, update and save with `Fs(Symlink)`, including for a name that
/// exists behind the link (`secret2`, which must not be read). No lock file
/// is created behind the link.
fn fs_2_symlink_in_document_parent_is_refused(r: Resolver) {
    let sb = Sandbox::new();
    mkdir(&sb.root.join("real"), 0o700);
    put(&sb.root.join("real").join(DOC), ORIGINAL);
    mkdir(&sb.root.join("deep"), 0o700);
    symlink(sb.outside.join("sub"), &sb.root.join("profiles"));
    symlink("../outside/sub", &sb.root.join("rel"));
    symlink(sb.outside.join("sub"), &sb.root.join("deep/link"));
    symlink("real", &sb.root.join("inner"));
    let out_before = sb.outside_snapshot();
    let root_before = snapshot(&sb.root);
    let root = sb.open(r);
    for parent in ["profiles", "rel", "deep/link", "inner"] {
        for name in [DOC, "secret2", "launchd.plist"] {
            let rel = format!("{parent}/{name}");
            let doc = Document::new(&root, &rel);
            refused_everywhere(&doc, ErrorKind::Fs(AK::Symlink), true, &rel);
            sb.assert_outside_unchanged(&out_before, &format!("FS-2 {rel}"));
        }
    }
    assert_same_tree(&root_before, &snapshot(&sb.root), "FS-2: nothing changed in the root, not even a lock file");
    assert_eq!(std::fs::read(sb.root.join("real").join(DOC)).unwrap(), ORIGINAL);
}

both_resolvers! {
    /// THREATS FS-2: a symlink in the document's parent is refused.
    fs_2_symlink_in_document_parent_is_refused =>
    fs_2_symlink_in_document_parent_is_refused_openat2, fs_2_symlink_in_document_parent_is_refused_walk
}

/// THREATS FS-2 (swap in a parent, raced): a thread exchanges the document's
/// directory with a symlink to a directory outside
/// (`renameat2(RENAME_EXCHANGE)`, as fast as it can) while the test runs
/// `update_value` increments for ~1 s. Each update either succeeds or is
/// refused as a symlink; nothing outside ever changes; and the counter in
/// the real document equals the number of successes — every successful
/// update read and wrote the real file, none was lost or went elsewhere.
fn fs_2_parent_swapped_during_updates_never_escapes(r: Resolver) {
    let sb = Sandbox::new();
    mkdir(&sb.root.join("profiles"), 0o700);
    symlink(sb.outside.join("sub"), &sb.root.join("decoy"));
    let out_before = sb.outside_snapshot();
    let root = sb.open(r);
    let doc = Document::new(&root, "profiles/counter.json").durability(gw_anchor::Durability::NoSync);
    doc.save_value(&json!({"count": 0})).unwrap();

    let stop = Arc::new(AtomicBool::new(false));
    let swaps = Arc::new(AtomicU64::new(0));
    let attacker = {
        let (stop, swaps) = (Arc::clone(&stop), Arc::clone(&swaps));
        let (a, b) = (sb.root.join("profiles"), sb.root.join("decoy"));
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                rustix::fs::renameat_with(rustix::fs::CWD, &a, rustix::fs::CWD, &b, rustix::fs::RenameFlags::EXCHANGE)
                    .expect("RENAME_EXCHANGE");
                swaps.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let (mut successes, mut refusals) = (0u64, 0u64);
    let t0 = Instant::now();
    while t0.elapsed() < Duration::from_millis(1000) {
        let res = doc.update_value(|cur| {
            let mut v = cur.expect("the real document exists");
            v["count"] = json!(v["count"].as_u64().unwrap() + 1);
            Ok::<_, gw_persist::Error>(v)
        });
        match res {
            Ok(_) => successes += 1,
            Err(e) if e.kind() == ErrorKind::Fs(AK::Symlink) => refusals += 1,
            Err(e) => panic!("an update under a racing swap failed with something else than a symlink refusal: {e}"),
        }
    }
    stop.store(true, Ordering::Relaxed);
    attacker.join().unwrap();
    if std::fs::symlink_metadata(sb.root.join("profiles")).unwrap().file_type().is_symlink() {
        rustix::fs::renameat_with(
            rustix::fs::CWD,
            sb.root.join("profiles"),
            rustix::fs::CWD,
            sb.root.join("decoy"),
            rustix::fs::RenameFlags::EXCHANGE,
        )
        .unwrap();
    }
    sb.assert_outside_unchanged(&out_before, "FS-2 race");
    let count = doc.load_value().unwrap().unwrap()["count"].as_u64().unwrap();
    eprintln!("FS-2 race ({r:?}): {successes} updates, {refusals} refusals, {} swaps", swaps.load(Ordering::Relaxed));
    assert_eq!(count, successes, "the real counter must count exactly the successful updates");
    assert!(successes > 0 && refusals > 0, "the race never hit (or never missed): {successes} ok, {refusals} refused");
}

both_resolvers! {
    /// THREATS FS-2: a parent swapped with a symlink while updates run never
    /// lets a write escape, and no update is lost.
    fs_2_parent_swapped_during_updates_never_escapes =>
    fs_2_parent_swapped_during_updates_never_escapes_openat2, fs_2_parent_swapped_during_updates_never_escapes_walk
}

// ============================================================================
// FS-5: insecure directory, and a document writable by others
// ============================================================================

/// THREATS FS-5 (insecure directory): a document whose directory is
/// writable by its group or by others, or owned by another user (65534) —
/// and the root itself once it was made group-writable after opening — is
/// refused by load, update and save with `Fs(InsecureDirectory)` naming that
/// directory (another user could swap the document for their own). Nothing
/// is written: no lock file, no temp, the document is byte-for-byte the same.
fn fs_5_insecure_document_directory_is_refused(r: Resolver) {
    let sb = Sandbox::new();
    let dirs = [
        ("group", 0o770, None),
        ("world", 0o777, None),
        ("foreign", 0o700, Some(NOBODY)),
        ("both", 0o775, Some(NOBODY)),
    ];
    for (dir, mode, owner) in dirs {
        let d = sb.root.join(dir);
        mkdir(&d, 0o700);
        put(&d.join(DOC), ORIGINAL);
        chmod(&d, mode);
        if let Some(uid) = owner {
            chown(&d, uid);
        }
    }
    put(&sb.root.join(DOC), ORIGINAL);
    let out_before = sb.outside_snapshot();
    let root_before = snapshot(&sb.root);
    let root = sb.open(r);
    for (dir, _, _) in dirs {
        let rel = format!("{dir}/{DOC}");
        let e = refused_everywhere(&Document::new(&root, &rel), ErrorKind::Fs(AK::InsecureDirectory), true, &rel);
        assert!(e.kind().is_security_refusal());
        assert_eq!(e.path(), sb.root.join(dir), "the error names the insecure directory: {e}");
        assert!(e.fix().is_some(), "{e}");
    }
    assert_same_tree(&root_before, &snapshot(&sb.root), "FS-5: nothing written in insecure directories");

    // The root itself, made group-writable after it was opened.
    chmod(&sb.root, 0o770);
    let e = refused_everywhere(&Document::new(&root, DOC), ErrorKind::Fs(AK::InsecureDirectory), true, "root 0770");
    assert_eq!(e.path(), sb.root, "{e}");
    assert!(e.to_string().contains("0770"), "the error shows the mode: {e}");
    chmod(&sb.root, 0o700);
    let mut before = root_before;
    before.insert(PathBuf::new(), node(&sb.root));
    assert_same_tree(&before, &snapshot(&sb.root), "FS-5: nothing written in the insecure root");
    sb.assert_outside_unchanged(&out_before, "FS-5");
    assert_eq!(
        Document::new(&root, DOC).load_value().unwrap().unwrap()["gateways"]["ws://127.0.0.1:18789"]["token"],
        json!("ORIGINAL")
    );
}

both_resolvers! {
    /// THREATS FS-5: a document in a group/world-writable or foreign-owned
    /// directory is refused by load, update and save.
    fs_5_insecure_document_directory_is_refused =>
    fs_5_insecure_document_directory_is_refused_openat2, fs_5_insecure_document_directory_is_refused_walk
}

/// THREATS FS-5 for the document itself ("a document that became
/// group-writable", issue 3 §3): a document writable by its group or by
/// others, or owned by another user, may hold anyone's content — a planted
/// token, a changed gateway URL. Loading and updating it are refused with
/// [`ErrorKind::InsecureFile`] naming the file and its mode/owner, and the
/// file is left exactly as it was. Saving over it is allowed: the atomic
/// replace puts a new 0600 file of ours in its place, after which it loads.
fn fs_5_document_writable_by_others_is_refused(r: Resolver) {
    let sb = Sandbox::new();
    let files = [("group.json", 0o660, None), ("world.plist", 0o646, None), ("foreign.json", 0o600, Some(NOBODY))];
    for (name, mode, owner) in files {
        let p = sb.root.join(name);
        let bytes: &[u8] = if name.ends_with(".plist") {
            b"<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<plist version=\"1.0\">\n<dict/>\n</plist>\n"
        } else {
            ORIGINAL
        };
        put(&p, bytes);
        chmod(&p, mode);
        if let Some(uid) = owner {
            chown(&p, uid);
        }
    }
    let out_before = sb.outside_snapshot();
    let root_before = snapshot(&sb.root);
    let root = sb.open(r);
    for (name, mode, owner) in files {
        let doc = Document::new(&root, name);
        let e = refused_everywhere(&doc, ErrorKind::InsecureFile, false, name);
        assert!(e.kind().is_security_refusal());
        assert_eq!(e.path(), sb.root.join(name), "{e}");
        let text = e.to_string();
        assert!(text.contains(&format!("{mode:04o}")), "the error shows the mode: {text}");
        assert!(text.contains(&format!("uid {}", owner.unwrap_or(0))), "the error shows the owner: {text}");
        assert!(e.fix().is_some(), "{e}");
    }
    assert_root_unchanged_but_locks(&sb.root, &root_before, "FS-5: documents writable by others are left as they were");
    sb.assert_outside_unchanged(&out_before, "FS-5 files");

    // Replacing it is the fix: a new file of ours, 0600.
    for (name, _, _) in files {
        let doc = Document::new(&root, name);
        doc.save_value(&json!({"fresh": true})).unwrap();
        let md = std::fs::symlink_metadata(sb.root.join(name)).unwrap();
        assert_eq!((md.mode() & 0o7777, md.uid()), (0o600, rustix::process::geteuid().as_raw()));
        assert_eq!(doc.load_value().unwrap(), Some(json!({"fresh": true})));
    }
}

both_resolvers! {
    /// THREATS FS-5: a document writable by group/others or owned by another
    /// user is refused by load and update.
    fs_5_document_writable_by_others_is_refused =>
    fs_5_document_writable_by_others_is_refused_openat2, fs_5_document_writable_by_others_is_refused_walk
}

// ============================================================================
// FS-7: errors are not "missing"
// ============================================================================

/// THREATS FS-7 (errors mistaken for "missing"): `load_value` is `Ok(None)`
/// for a missing file — also behind a missing directory — and `generation`
/// is 0 there; everything else is an error, never `None`: a directory at the
/// path (`Fs(NotRegularFile)`), a symlink loop (`ELOOP` → `Fs(Symlink)`), a
/// file where a directory should be (`ENOTDIR` → `Fs(NotADirectory)`), an
/// empty file (`Syntax`). `update_value` over any of them fails and writes
/// nothing (it must not take the error for "absent" and create the document).
fn fs_7_load_is_none_only_for_a_missing_file(r: Resolver) {
    let sb = Sandbox::new();
    mkdir(&sb.root.join("dir.json"), 0o700);
    symlink("loop.json", &sb.root.join("loop.json"));
    put(&sb.root.join("file"), ORIGINAL);
    put(&sb.root.join("empty.json"), b"");
    let out_before = sb.outside_snapshot();
    let root_before = snapshot(&sb.root);
    let root = sb.open(r);

    for rel in ["absent.json", "absent.plist", "no-such-dir/absent.json"] {
        let doc = Document::new(&root, rel);
        assert_eq!(doc.load_value().unwrap(), None, "{rel}: missing is None");
        assert_eq!(doc.load::<Value>().unwrap(), None, "{rel}");
        assert_eq!(doc.generation().unwrap(), 0, "{rel}");
    }
    let cases = [
        ("dir.json", ErrorKind::Fs(AK::NotRegularFile)),
        ("loop.json", ErrorKind::Fs(AK::Symlink)),
        ("file/doc.json", ErrorKind::Fs(AK::NotADirectory)),
        ("empty.json", ErrorKind::Syntax),
    ];
    for (rel, kind) in cases {
        let doc = Document::new(&root, rel);
        refused_everywhere(&doc, kind, false, rel);
    }
    sb.assert_outside_unchanged(&out_before, "FS-7");
    assert_root_unchanged_but_locks(&sb.root, &root_before, "FS-7: errors create nothing");
}

both_resolvers! {
    /// THREATS FS-7: load is None only for a missing file.
    fs_7_load_is_none_only_for_a_missing_file =>
    fs_7_load_is_none_only_for_a_missing_file_openat2, fs_7_load_is_none_only_for_a_missing_file_walk
}

/// `"kind message"` for an error, `"none"`/`"some"` for a load: what the
/// helper child reports.
fn doc_report<T>(res: &gw_persist::Result<Option<T>>) -> String {
    match res {
        Ok(None) => "none".to_owned(),
        Ok(Some(_)) => "some".to_owned(),
        Err(e) => format!("{} {}", e.kind().as_str(), e.message()),
    }
}

/// Helper child (uid 65534): loads and updates documents it may not read.
fn child_doc_eacces(args: &[String]) -> Vec<String> {
    let [dir, resolver] = args else { panic!("doc_eacces args: {args:?}") };
    let root = gw_anchor::Root::open(dir, &policy(resolver.parse().unwrap())).unwrap();
    let doc = |rel: &str| Document::new(&root, rel.to_owned());
    let mut ran = false;
    let update = doc("unreadable.json").update_value(|_| {
        ran = true;
        Ok::<_, gw_persist::Error>(json!({"token": PWNED}))
    });
    vec![
        format!("load_unreadable {}", doc_report(&doc("unreadable.json").load_value())),
        format!("load_behind_locked {}", doc_report(&doc("locked/doc.json").load_value())),
        format!("load_absent_behind_locked {}", doc_report(&doc("locked/absent.json").load_value())),
        format!("update_unreadable {} ran={ran}", doc_report(&update.map(Some))),
        format!("generation_unreadable {}", doc_report(&doc("unreadable.json").generation().map(Some))),
        format!("load_absent {}", doc_report(&doc("absent.json").load_value())),
    ]
}

/// THREATS FS-7 (EACCES is not "missing"): a child running as uid 65534
/// opens a root it owns, holding a root-owned 0600 document and a root-owned
/// 0700 directory. Loading the document, anything behind the directory (even
/// a name that does not exist there), reading its generation and updating it
/// all fail with a permission error — never `None`, never 0, and the update
/// does not run its closure or write over the document it could not read.
/// Only the truly absent document is `None`.
fn fs_7_permission_denied_is_not_missing(r: Resolver) {
    let sb = Sandbox::new();
    chmod(sb.tmp(), 0o755);
    chown(&sb.root, NOBODY);
    put(&sb.root.join("unreadable.json"), ORIGINAL);
    mkdir(&sb.root.join("locked"), 0o700);
    put(&sb.root.join("locked/doc.json"), ORIGINAL);
    let before = snapshot(&sb.root);

    let lines = run_helper("doc_eacces", &[sb.root.display().to_string(), resolver_name(r).into()], Some(NOBODY));
    let get = |label: &str| {
        lines.iter().find_map(|l| l.strip_prefix(&format!("{label} "))).unwrap_or_else(|| panic!("{label}: {lines:?}"))
    };
    for label in [
        "load_unreadable",
        "load_behind_locked",
        "load_absent_behind_locked",
        "update_unreadable",
        "generation_unreadable",
    ] {
        let got = get(label);
        assert!(
            got.starts_with("io ") && got.contains("os error 13"),
            "{label}: expected an I/O error with EACCES, got `{got}` (all: {lines:?})"
        );
    }
    assert!(get("update_unreadable").ends_with("ran=false"), "{lines:?}");
    assert_eq!(get("load_absent"), "none", "{lines:?}");
    assert_root_unchanged_but_locks(&sb.root, &before, "FS-7 EACCES: nothing written over the unreadable document");
}

both_resolvers! {
    /// THREATS FS-7: permission denied is an error, not a missing document.
    fs_7_permission_denied_is_not_missing =>
    fs_7_permission_denied_is_not_missing_openat2, fs_7_permission_denied_is_not_missing_walk
}

// ============================================================================
// CLI-2: hostile documents change nothing
// ============================================================================

/// A hostile document: its name (the extension picks the format), bytes,
/// the expected kind, the expected line (where the parser knows it), and the
/// limits (default unless given).
struct Hostile {
    name: &'static str,
    bytes: Vec<u8>,
    kind: ErrorKind,
    line: Option<usize>,
    limits: Limits,
}

fn hostile(name: &'static str, bytes: impl Into<Vec<u8>>, kind: ErrorKind, line: Option<usize>) -> Hostile {
    Hostile { name, bytes: bytes.into(), kind, line, limits: Limits::default() }
}

const PLIST_HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n";

fn plist(body: &str) -> Vec<u8> {
    format!("{PLIST_HEAD}{body}\n</plist>\n").into_bytes()
}

fn hostile_documents() -> Vec<Hostile> {
    let big_string = format!("{{\"blob\": \"{}\"}}\n", "A".repeat(Limits::DEFAULT_MAX_BYTES as usize));
    let mut invalid_utf8 = b"{\n  \"a\": 1,\n  \"token\": \"".to_vec();
    invalid_utf8.extend_from_slice(b"\xff\xfe\"\n}\n");
    let mut bom_json = b"\xEF\xBB\xBF".to_vec();
    bom_json.extend_from_slice(ORIGINAL);
    let mut bom_plist = b"\xEF\xBB\xBF".to_vec();
    bom_plist.extend(plist("<dict/>"));
    let mut bad_utf8_plist = plist("<dict>\n<key>k</key>\n<string>");
    bad_utf8_plist.truncate(bad_utf8_plist.len() - "\n</plist>\n".len());
    bad_utf8_plist.extend_from_slice(b"\xc3\x28</string>\n</dict>\n</plist>\n");
    let mut small =
        hostile("small-limit.json", format!("{{\"k\": \"{}\"}}", "x".repeat(100)), ErrorKind::TooLarge, None);
    small.limits = Limits::new(64, 64);
    let mut shallow = hostile("shallow-limit.json", "{\"a\": {\"b\": {\"c\": {}}}}", ErrorKind::TooDeep, Some(1));
    shallow.limits = Limits::new(1 << 20, 3);
    vec![
        hostile(
            "dup-deep.json",
            "{\n  \"gateways\": {\n    \"ws://127.0.0.1:18789\": [\n      {\"role\": \"node\", \"token\": \"a\", \"token\": \"b\"}\n    ]\n  }\n}\n",
            ErrorKind::DuplicateKey,
            Some(4),
        ),
        hostile("dup-escaped.json", "{\"admin\": false,\n \"adm\\u0069n\": true}\n", ErrorKind::DuplicateKey, Some(2)),
        hostile("too-deep.json", format!("{}{}", "[".repeat(65), "]".repeat(65)), ErrorKind::TooDeep, Some(1)),
        hostile("far-too-deep.json", "[".repeat(200_000), ErrorKind::TooDeep, Some(1)),
        shallow,
        hostile("too-large.json", big_string, ErrorKind::TooLarge, None),
        small,
        hostile("bom.json", bom_json, ErrorKind::Syntax, Some(1)),
        hostile("invalid-utf8.json", invalid_utf8, ErrorKind::Syntax, Some(3)),
        hostile("trailing.json", "{\"a\": 1}\nx\n", ErrorKind::Syntax, Some(2)),
        hostile("two-documents.json", "{\"admin\": false}\n{\"admin\": true}\n", ErrorKind::Syntax, Some(2)),
        hostile("nan.json", "{\"a\": NaN}", ErrorKind::Syntax, Some(1)),
        hostile("comment.json", "// note\n{}", ErrorKind::Syntax, Some(1)),
        hostile("trailing-comma.json", "{\"a\": 1,\n}", ErrorKind::Syntax, Some(2)),
        hostile("lone-surrogate.json", "{\"a\": \"\\ud800\"}", ErrorKind::Syntax, Some(1)),
        hostile("huge-number.json", "{\"a\": 1e400}", ErrorKind::Syntax, Some(1)),
        hostile("whitespace.json", " \n\t\n", ErrorKind::Syntax, Some(3)),
        hostile(
            "dup-deep.plist",
            plist(
                "<dict>\n<key>gateways</key>\n<dict>\n<key>token</key><string>a</string>\n<key>token</key><string>b</string>\n</dict>\n</dict>",
            ),
            ErrorKind::DuplicateKey,
            None,
        ),
        hostile(
            "data.plist",
            plist("<dict>\n<key>blob</key>\n<data>AAAA</data>\n</dict>"),
            ErrorKind::Unsupported,
            None,
        ),
        hostile("date.plist", plist("<date>2024-01-01T00:00:00Z</date>"), ErrorKind::Unsupported, None),
        hostile(
            "too-deep.plist",
            plist(&format!("{}{}", "<array>".repeat(65), "</array>".repeat(65))),
            ErrorKind::TooDeep,
            None,
        ),
        hostile("bom.plist", bom_plist, ErrorKind::Syntax, Some(1)),
        hostile("invalid-utf8.plist", bad_utf8_plist, ErrorKind::Syntax, Some(6)),
        hostile("trailing.plist", [plist("<dict/>"), b"garbage".to_vec()].concat(), ErrorKind::Syntax, None),
        hostile(
            "second-value.plist",
            [plist("<dict/>"), b"<plist><true/></plist>\n".to_vec()].concat(),
            ErrorKind::Syntax,
            None,
        ),
        hostile("two-values.plist", plist("<string>a</string><string>b</string>"), ErrorKind::Syntax, None),
        hostile("key-without-value.plist", plist("<dict><key>a</key></dict>"), ErrorKind::Syntax, None),
        hostile(
            "control-char.plist",
            plist("<dict><key>k</key><string>a\u{1}b</string></dict>"),
            ErrorKind::Syntax,
            None,
        ),
        hostile(
            "control-char-ref.plist",
            plist("<dict><key>k</key><string>a&#1;b</string></dict>"),
            ErrorKind::Syntax,
            None,
        ),
        hostile("empty.plist", "", ErrorKind::Syntax, None),
        hostile("binary-data.plist", bplist(&[&[0x41, 0xAA]]), ErrorKind::Unsupported, None),
        hostile(
            "binary-dup.plist",
            // {"a": 1, "a": 2}: a dictionary whose two key references are the same string.
            bplist(&[&[0xD2, 1, 1, 2, 3], &[0x51, b'a'], &[0x10, 1], &[0x10, 2]]),
            ErrorKind::DuplicateKey,
            None,
        ),
        hostile("binary-truncated.plist", b"bplist00\xd1\x01".to_vec(), ErrorKind::Syntax, None),
    ]
}

/// THREATS CLI-2 (bad input changes nothing; and FS-3: no half-applied
/// update): each hostile document — duplicate keys at depth (also spelled
/// with an escape), too deep (also 200,000 levels: no stack overflow), too
/// large (default 1 MiB and a custom limit), a byte-order mark, invalid
/// UTF-8, trailing garbage or a second document, non-JSON syntax, and for
/// plist duplicate keys, `<data>`/`<date>`, control characters XML forbids,
/// trailing values, binary plists with data or duplicate keys — is refused
/// by load (as a value and typed), `generation` and `update_value` with the
/// right [`ErrorKind`]; the error names the file, and the line (and column)
/// where the parser knows them. `update_value` never runs its closure and
/// leaves the file byte-for-byte and inode-for-inode as it was.
fn cli_2_hostile_documents_are_refused_and_left_unchanged(r: Resolver) {
    assert_hostile_refused(r, &hostile_documents(), "CLI-2");
}

/// Each of `cases`, on disk, is refused by every load path and `update`
/// with its kind (and line), naming the file, and left as it was.
fn assert_hostile_refused(r: Resolver, cases: &[Hostile], id: &str) {
    let sb = Sandbox::new();
    for case in cases {
        put(&sb.root.join(case.name), &case.bytes);
    }
    let out_before = sb.outside_snapshot();
    let root_before = snapshot(&sb.root);
    let root = sb.open(r);
    for case in cases {
        let path = sb.root.join(case.name);
        let before = fingerprint(&path);
        let doc = Document::new(&root, case.name).limits(case.limits);
        let e = refused_everywhere(&doc, case.kind, false, case.name);
        assert_eq!(e.path(), path, "{}: the error names the file: {e}", case.name);
        assert_eq!(e.op(), "load", "{}: {e}", case.name);
        let text = e.to_string();
        assert!(text.contains(&path.display().to_string()), "{}: {text}", case.name);
        if let Some(line) = case.line {
            let (l, c) = e.position().unwrap_or_else(|| panic!("{}: no position in {text}", case.name));
            assert_eq!(l, line, "{}: the line of the error: {text}", case.name);
            assert!(c >= 1, "{}: {text}", case.name);
            assert!(text.contains(&format!("{}:{l}:{c}", path.display())), "{}: `file:line:col` in {text}", case.name);
        }
        if case.kind == ErrorKind::DuplicateKey {
            assert!(e.kind().is_security_refusal(), "{}: duplicate keys are a security refusal", case.name);
        }
        assert_eq!(fingerprint(&path), before, "{}: the file changed", case.name);
    }
    sb.assert_outside_unchanged(&out_before, id);
    assert_root_unchanged_but_locks(&sb.root, &root_before, &format!("{id}: hostile documents are left as they were"));
}

both_resolvers! {
    /// THREATS CLI-2: hostile documents are refused with the right kind and
    /// position, and an update over them writes nothing.
    cli_2_hostile_documents_are_refused_and_left_unchanged =>
    cli_2_hostile_documents_are_refused_and_left_unchanged_openat2,
    cli_2_hostile_documents_are_refused_and_left_unchanged_walk
}

// ============================================================================
// DOC-1 / DOC-2: plist structure a reference reader refuses; expansion
// ============================================================================

/// Documents whose structure Python's `plistlib` (expat) refuses and the
/// plist crate's event stream once read as a value (THREATS DOC-1).
fn plist_structure_documents() -> Vec<Hostile> {
    let syntax = |name, bytes: Vec<u8>| hostile(name, bytes, ErrorKind::Syntax, None);
    let mut no_end = PLIST_HEAD.as_bytes().to_vec();
    no_end.extend_from_slice(b"<dict>\n<key>token</key>\n<string>a</string>\n</dict>\n");
    vec![
        // `{"a": "b"}` to the event stream: two keys in a row.
        hostile("key-key.plist", plist("<dict>\n<key>a</key>\n<key>b</key>\n</dict>"), ErrorKind::Syntax, Some(6)),
        syntax("key-in-array.plist", plist("<array><key>a</key></array>")),
        syntax("key-at-top.plist", plist("<key>a</key>")),
        syntax("string-as-key.plist", plist("<dict><string>a</string><string>b</string></dict>")),
        syntax("leaf-holds-element.plist", plist("<array><true><false/></true></array>")),
        hostile("no-end-plist.plist", no_end, ErrorKind::Syntax, Some(3)),
        syntax("second-root.plist", [plist("<dict/>"), b"<plist/>\n".to_vec()].concat()),
        syntax("duplicate-attribute.plist", b"<plist version=\"1\" version=\"2\"><dict/></plist>".to_vec()),
        syntax("comment-dashes.plist", plist("<!-- a -- b --><dict/>")),
        syntax("doctype-late.plist", plist("<dict/><!DOCTYPE plist>")),
        syntax("hex-twice.plist", plist("<dict><key>port</key><integer>0x0x10</integer></dict>")),
        syntax("binary-ascii-utf8.plist", bplist(&[&[0xD1, 1, 2], &[0x51, b'k'], &[0x52, 0xC3, 0xA9]])),
    ]
}

both_resolvers! {
    /// THREATS DOC-1 (and CLI-2): a plist whose structure a conforming
    /// reader refuses — a `<key>` outside a dictionary's key position, a
    /// value at a key position, an element inside a leaf, a missing
    /// `</plist>`, a second top-level element, a duplicate attribute, `--`
    /// in a comment, a late DOCTYPE, an integer `0x0x10`, a binary ASCII
    /// string holding UTF-8 — is refused as `Syntax` by every load path and
    /// `update`, naming the file (and the line), and left unchanged.
    doc_1_plist_structure_a_reference_reader_refuses_is_refused =>
    doc_1_plist_structure_a_reference_reader_refuses_is_refused_openat2,
    doc_1_plist_structure_a_reference_reader_refuses_is_refused_walk
}

fn doc_1_plist_structure_a_reference_reader_refuses_is_refused(r: Resolver) {
    assert_hostile_refused(r, &plist_structure_documents(), "DOC-1");
}

both_resolvers! {
    /// THREATS DOC-2 (and CLI-2): a binary plist that expands past what a
    /// document of the size limit can hold — 2^41 values from 202 bytes,
    /// a 100-byte string in 14^3 places — and one that contains itself are
    /// refused (`TooLarge`, `Syntax`) by every load path and `update`, in
    /// seconds, and left unchanged.
    doc_2_expanding_and_cyclic_binary_plists_are_refused =>
    doc_2_expanding_and_cyclic_binary_plists_are_refused_openat2,
    doc_2_expanding_and_cyclic_binary_plists_are_refused_walk
}

fn doc_2_expanding_and_cyclic_binary_plists_are_refused(r: Resolver) {
    let string = [&[0x5F, 0x10, 100][..], &[b'x'; 100]].concat();
    let mut text = hostile("text-laughs.plist", bplist_laughs(3, 14, &string), ErrorKind::TooLarge, None);
    text.limits = Limits::new(100_000, 64);
    let cases = vec![
        hostile("laughs.plist", bplist_laughs(40, 2, &[0x09]), ErrorKind::TooLarge, None),
        text,
        hostile("cycle.plist", bplist(&[&[0xA1, 0x00]]), ErrorKind::Syntax, None),
        hostile("cycle-2.plist", bplist(&[&[0xA1, 0x01], &[0xD1, 2, 0], &[0x51, b'k']]), ErrorKind::Syntax, None),
    ];
    let start = Instant::now();
    assert_hostile_refused(r, &cases, "DOC-2");
    // Four load paths and an update per case, in a debug build.
    assert!(start.elapsed() < Duration::from_secs(120), "took {:?}", start.elapsed());
}

/// Whether `plistlib` (Python's reference reader, on expat) and gw must
/// agree on a document.
enum Verdict {
    /// Both accept the same value, or both refuse.
    Agree,
    /// gw refuses what plistlib reads, for the reason given (an allowed,
    /// documented difference: gw is stricter).
    GwStricter(&'static str),
}

/// THREATS DOC-1: a table of XML and binary plists on which gw and Python's
/// `plistlib` must agree — accept or refuse, and when both accept, the same
/// value — or where gw is, by design, stricter (each such row says why, and
/// is checked to be a refusal by gw of what plistlib reads). No row may be
/// read by gw and refused by plistlib. Needs `python3`.
#[test]
fn doc_1_gw_and_plistlib_agree_on_a_table_of_documents() {
    use Verdict::*;
    let x = |body: &str| plist(body);
    let raw = |b: &[u8]| b.to_vec();
    let string = [&[0x5F, 0x10, 100][..], &[b'x'; 100]].concat();
    let table: Vec<(&str, Vec<u8>, Verdict)> = vec![
        // Accepted by both, the same value.
        ("agent", x("<dict><key>Label</key><string>ai.gw</string><key>Args</key><array><string>/bin/gw</string><integer>-5</integer><real>0.5</real><true/><false/></array></dict>"), Agree),
        ("no-plist-root", raw(b"<?xml version=\"1.0\"?>\n<array><integer>+7</integer><integer>0xFF</integer></array>\n"), Agree),
        ("decl-and-doctype", raw(b"<?xml version = '1.0' encoding='utf-8' standalone='yes' ?>\n<!DOCTYPE plist SYSTEM \"x.dtd\">\n<plist a=\"&amp;&#65;\"><string>a&lt;&#233;&#x1F600;</string></plist>"), Agree),
        ("comments-pis", x("<dict><key>a<!-- c -->b</key><string>x<?pi y?>z</string></dict><!-- after -->"), Agree),
        ("crlf", raw(b"<plist>\r\n<string>a\r\nb\rc&#13;</string>\r\n</plist>\r\n"), Agree),
        ("empty-key-and-string", x("<dict><key/><string/></dict>"), Agree),
        ("int-limits", x("<array><integer>18446744073709551615</integer><integer>-9223372036854775808</integer><integer>0xffffffffffffffff</integer></array>"), Agree),
        ("reals", x("<array><real>1.</real><real>.5</real><real>+1.5E+3</real><real>1e-400</real><real>5</real></array>"), Agree),
        ("binary-dict", bplist(&[&[0xD2, 1, 2, 3, 4], &[0x51, b'k'], &[0x61, 0, 0xE9], &[0x10, 7], &[0xA2, 5, 5], &[0x09]]), Agree),
        ("binary-shared-small", bplist_laughs(3, 2, &[0x09]), Agree),
        ("binary-int16", bplist(&[&[&[0x14][..], &[0; 8], &[0x80, 0, 0, 0, 0, 0, 0, 0]].concat()]), Agree),
        // Refused by both.
        ("key-key", x("<dict><key>a</key><key>b</key></dict>"), Agree),
        ("key-in-array", x("<array><key>a</key></array>"), Agree),
        ("key-at-top", x("<key>a</key>"), Agree),
        ("key-in-plist", raw(b"<plist><key>a</key><string>b</string></plist>"), Agree),
        ("string-as-key", x("<dict><string>a</string><string>b</string></dict>"), Agree),
        ("integer-as-key", x("<dict><integer>1</integer><string>b</string></dict>"), Agree),
        ("key-without-value", x("<dict><key>a</key></dict>"), Agree),
        ("no-end-plist", [PLIST_HEAD.as_bytes(), b"<dict/>\n"].concat(), Agree),
        ("no-end-true", raw(b"<plist><true>"), Agree),
        ("mismatched-end", raw(b"<plist><array></dict></plist>"), Agree),
        ("second-root", [plist("<string>a</string>"), b"<plist/>".to_vec()].concat(), Agree),
        ("text-after-root", [plist("<true/>"), b"x".to_vec()].concat(), Agree),
        ("nbsp-before-root", "\u{a0}<plist><true/></plist>".as_bytes().to_vec(), Agree),
        ("reference-before-root", raw(b"&#32;<plist><true/></plist>"), Agree),
        ("duplicate-attribute", raw(b"<plist version=\"1\" version=\"2\"><true/></plist>"), Agree),
        ("attribute-without-value", raw(b"<plist version><true/></plist>"), Agree),
        ("unquoted-attribute", raw(b"<plist version=1><true/></plist>"), Agree),
        ("attribute-unknown-entity", raw(b"<plist version=\"&x;\"><true/></plist>"), Agree),
        ("attribute-control-reference", raw(b"<plist version=\"&#1;\"><true/></plist>"), Agree),
        ("comment-dashes", raw(b"<plist><!-- a -- b --><true/></plist>"), Agree),
        ("comment-three-dashes", raw(b"<plist><!-- a ---><true/></plist>"), Agree),
        ("comment-control", raw(b"<plist><!-- \x01 --><true/></plist>"), Agree),
        ("pi-without-target", raw(b"<plist><? a?><true/></plist>"), Agree),
        ("doctype-late", raw(b"<plist><true/><!DOCTYPE plist></plist>"), Agree),
        ("doctype-twice", raw(b"<!DOCTYPE plist><!DOCTYPE plist><plist><true/></plist>"), Agree),
        ("doctype-lowercase", raw(b"<!doctype plist><plist><true/></plist>"), Agree),
        ("doctype-public-without-system", raw(b"<!DOCTYPE plist PUBLIC \"x\"><plist><true/></plist>"), Agree),
        ("doctype-internal-subset", raw(b"<!DOCTYPE plist [<!ENTITY e \"x\">]><plist><string>&e;</string></plist>"), Agree),
        ("declaration-unknown", raw(b"<?xml version=\"1.0\" foo=\"bar\"?><plist><true/></plist>"), Agree),
        ("declaration-without-version", raw(b"<?xml encoding=\"UTF-8\"?><plist><true/></plist>"), Agree),
        ("declaration-late", raw(b" <?xml version=\"1.0\"?><plist><true/></plist>"), Agree),
        ("declaration-bad-standalone", raw(b"<?xml version=\"1.0\" standalone=\"maybe\"?><plist><true/></plist>"), Agree),
        ("declaration-out-of-order", raw(b"<?xml version=\"1.0\" standalone=\"yes\" encoding=\"UTF-8\"?><plist><true/></plist>"), Agree),
        ("doctype-system-single-quotes", raw(b"<!DOCTYPE plist SYSTEM 'x'><plist><true/></plist>"), Agree),
        ("doctype-system-unquoted", raw(b"<!DOCTYPE plist SYSTEM xax><plist><true/></plist>"), Agree),
        ("doctype-system-without-space", raw(b"<!DOCTYPE plist SYSTEM\"x\"><plist><true/></plist>"), Agree),
        ("doctype-public-without-space", raw(b"<!DOCTYPE plist PUBLIC \"a\"\"b\"><plist><true/></plist>"), Agree),
        ("doctype-unknown-keyword", raw(b"<!DOCTYPE plist XUBLIC \"a\" \"b\"><plist><true/></plist>"), Agree),
        ("doctype-public-id-brace", raw(b"<!DOCTYPE plist PUBLIC \"a{b\" \"x\"><plist><true/></plist>"), Agree),
        ("brackets-in-text", raw(b"<plist><string>a]b]]c]></string></plist>"), Agree),
        ("hex-twice", x("<integer>0x0x10</integer>"), Agree),
        ("hex-plus", x("<integer>0x+10</integer>"), Agree),
        ("real-empty", x("<real></real>"), Agree),
        ("surrogate-reference", x("<string>&#xD800;</string>"), Agree),
        ("raw-nul", x("<string>a\u{0}b</string>"), Agree),
        ("lt-in-text", x("<string>a < b</string>"), Agree),
        ("binary-ascii-utf8", bplist(&[&[0x52, 0xC3, 0xA9]]), Agree),
        ("binary-utf16-lone-surrogate", bplist(&[&[0x61, 0xD8, 0x00]]), Agree),
        ("binary-top-out-of-range", { let mut b = bplist(&[&[0x09]]); let n = b.len(); b[n - 9] = 5; b }, Agree),
        // gw is stricter, by design.
        ("duplicate-key", x("<dict><key>a</key><true/><key>a</key><false/></dict>"), GwStricter("duplicate keys: plistlib keeps the last (DuplicateKey)")),
        ("binary-duplicate-key", bplist(&[&[0xD2, 1, 1, 2, 2], &[0x51, b'a'], &[0x09]]), GwStricter("duplicate keys (DuplicateKey)")),
        ("data", x("<data>AAAA</data>"), GwStricter("<data> is not mapped (Unsupported)")),
        ("date", x("<date>2024-01-01T00:00:00Z</date>"), GwStricter("<date> is not mapped (Unsupported)")),
        ("empty-plist", x(""), GwStricter("a plist without a value is None to plistlib")),
        ("nested-plist", x("<array><plist><true/></plist></array>"), GwStricter("<plist> only at the top")),
        ("leaf-holds-element", x("<array><true><false/></true></array>"), GwStricter("an element inside a leaf (plistlib: [False, True])")),
        ("unknown-element", x("<array><foo/></array>"), GwStricter("elements plists do not have (plistlib ignores them)")),
        ("text-in-array", x("<array>x<true/></array>"), GwStricter("text between values (plistlib ignores it)")),
        ("text-in-true", x("<true>x</true>"), GwStricter("text in <true> (plistlib ignores it)")),
        ("cdata", x("<string><![CDATA[x]]></string>"), GwStricter("CDATA (the plist crate's reader drops it)")),
        ("declaration-version-1.1", raw(b"<?xml version=\"1.1\"?><plist><true/></plist>"), GwStricter("XML 1.1 (readers differ on its characters and line ends)")),
        ("namespace-element", x("<array xmlns:x=\"u\"><x:string>a</x:string></array>"), GwStricter("a prefixed element (plistlib ignores it as unknown)")),
        ("namespace-undeclared-prefix", raw(b"<plist version=\"1.0\" a:b=\"2\"><true/></plist>"), GwStricter("an undeclared prefix (namespace-aware readers refuse it)")),
        ("namespace-default-reserved", raw(b"<plist xmlns=\"http://www.w3.org/XML/1998/namespace\"><true/></plist>"), GwStricter("the XML namespace as the default (namespace-aware readers refuse it)")),
        ("namespace-same-attribute-twice", raw(b"<plist xmlns:a=\"u\" xmlns:b=\"u\" a:x=\"1\" b:x=\"2\"><true/></plist>"), GwStricter("one attribute under two prefixes (namespace-aware readers refuse it)")),
        ("int-space", x("<integer> 5 </integer>"), GwStricter("whitespace in a number (Python's int() strips it)")),
        ("int-upper-hex", x("<integer>0X10</integer>"), GwStricter("`0X` hex (the plist crate reads only `0x`)")),
        ("int-reference", x("<integer>&#x31;</integer>"), GwStricter("a reference inside <integer>")),
        ("int-too-large", x("<integer>18446744073709551616</integer>"), GwStricter("integers beyond 64 bits")),
        ("real-underscore", x("<real>1_0.5</real>"), GwStricter("`_` in a real (Python's float() takes it)")),
        ("real-nan", x("<real>nan</real>"), GwStricter("non-finite reals (JSON has none)")),
        ("empty-key-then-key", x("<dict><key></key><key>b</key><true/></dict>"), GwStricter("plistlib's `if self.current_key` lets an empty key be overwritten")),
        ("binary-cycle", bplist(&[&[0xA1, 0x00]]), GwStricter("reference cycles (plistlib builds a cyclic list)")),
        ("binary-laughs", bplist_laughs(40, 2, &[0x09]), GwStricter("expansion past the size limit (plistlib shares the objects)")),
        ("binary-text-laughs", bplist_laughs(4, 14, &string), GwStricter("text expansion past the size limit")),
        ("binary-non-string-key", bplist(&[&[0xD1, 1, 2], &[0x10, 1], &[0x09]]), GwStricter("non-string keys")),
        ("binary-null", bplist(&[&[0x00]]), GwStricter("null (a plist has none)")),
        ("binary-ascii-unreachable", bplist(&[&[0x09], &[0x51, 0x80]]), GwStricter("every ASCII string object is checked, reachable or not")),
    ];
    let dir = tempfile::tempdir().unwrap();
    let mut argv = Vec::new();
    for (i, (name, bytes, verdict)) in table.iter().enumerate() {
        let path = dir.path().join(format!("{i:03}-{name}.plist"));
        std::fs::write(&path, bytes).unwrap();
        // plistlib's value is compared only where both must agree (a
        // shared-reference bomb must not be expanded by `json.dumps`).
        argv.push(format!("{}={}", matches!(verdict, Agree) as u8, path.display()));
    }
    let script = "import json, plistlib, sys\n\
                  for arg in sys.argv[1:]:\n\
                  \x20   want, path = arg.split('=', 1)\n\
                  \x20   data = open(path, 'rb').read()\n\
                  \x20   fmt = plistlib.FMT_BINARY if data.startswith(b'bplist00') else plistlib.FMT_XML\n\
                  \x20   try:\n\
                  \x20       v = plistlib.loads(data, fmt=fmt)\n\
                  \x20       out = {'ok': True, 'value': json.loads(json.dumps(v)) if want == '1' else None}\n\
                  \x20   except Exception as e:\n\
                  \x20       out = {'ok': False, 'error': type(e).__name__ + ': ' + str(e)}\n\
                  \x20   print(json.dumps(out))\n";
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(&argv)
        .output()
        .expect("run python3 (install the Debian package `python3`)");
    assert!(out.status.success(), "python3 failed:\n{}", String::from_utf8_lossy(&out.stderr));
    let answers: Vec<Value> =
        String::from_utf8(out.stdout).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(answers.len(), table.len());
    for ((name, bytes, verdict), py) in table.iter().zip(&answers) {
        let gw = gw_persist::parse_plist(bytes, &Limits::default());
        let py_ok = py["ok"].as_bool().unwrap();
        match verdict {
            Agree => match &gw {
                Ok(v) => {
                    assert!(py_ok, "{name}: gw read {v} where plistlib refuses: {}", py["error"]);
                    assert_eq!(v, &py["value"], "{name}: gw and plistlib read different values");
                }
                Err(e) => assert!(!py_ok, "{name}: gw refuses ({e}) what plistlib reads as {}", py["value"]),
            },
            GwStricter(why) => {
                assert!(py_ok, "{name} ({why}): the row says plistlib reads it, but: {}", py["error"]);
                assert!(gw.is_err(), "{name} ({why}): gw must refuse it, read {:?}", gw.unwrap());
            }
        }
    }
}

/// THREATS CLI-2: an `update` whose closure fails, or returns what the
/// format cannot hold (`null` in a plist, a control character in an XML
/// plist), writes nothing; a document whose
/// shape does not match the type asked for is `Type`, and stays as it was.
fn cli_2_failed_update_writes_nothing(r: Resolver) {
    let sb = Sandbox::new();
    put(&sb.root.join(DOC), ORIGINAL);
    put(&sb.root.join("agent.plist"), &plist("<dict><key>Label</key><string>ai.gw</string></dict>"));
    let root = sb.open(r);
    let before = snapshot(&sb.root);
    let json_doc = Document::new(&root, DOC);
    let e = json_doc.update_value(|_| Err(gw_persist::pointer::tokens("no leading slash").unwrap_err())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Pointer);
    let plist_doc = Document::new(&root, "agent.plist");
    let e = plist_doc.update_value(|_| Ok::<_, gw_persist::Error>(json!({"Label": null}))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    // A control character XML cannot hold (plutil and plistlib refuse such a
    // file): refused, not written raw.
    let e = plist_doc
        .update_value(|_| Ok::<_, gw_persist::Error>(json!({"Label": "ai.gw", "Args": ["a\u{1}b"]})))
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
    assert!(e.message().contains("/Args/0"), "the error names where: {e}");
    #[derive(serde::Deserialize, serde::Serialize, Debug)]
    struct Wrong {
        count: u64,
    }
    let e = json_doc.update::<Wrong>(|w| Ok(w.unwrap())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Type, "{e}");
    assert_root_unchanged_but_locks(&sb.root, &before, "CLI-2: failed updates write nothing");
}

both_resolvers! {
    /// THREATS CLI-2: a failed update writes nothing.
    cli_2_failed_update_writes_nothing =>
    cli_2_failed_update_writes_nothing_openat2, cli_2_failed_update_writes_nothing_walk
}

/// A typed `save` writes what `load` reads back, up to its size limit to the
/// byte; a name ending in `/` names no document (it is not taken as the
/// file before the slash).
fn typed_save_reads_back_and_a_trailing_slash_names_no_document(r: Resolver) {
    #[derive(serde::Deserialize, serde::Serialize, Debug, PartialEq)]
    struct Profile {
        name: String,
        count: u64,
    }
    let sb = Sandbox::new();
    let root = sb.open(r);
    let doc = Document::new(&root, DOC);
    let p = Profile { name: "main".into(), count: 3 };
    doc.save(&p).unwrap();
    assert_eq!(doc.load::<Profile>().unwrap().as_ref(), Some(&p));
    // The size limit holds to the byte: a save exactly at it is written; with
    // the limit one byte lower the same size is refused and writes nothing.
    let len = std::fs::metadata(sb.root.join(DOC)).unwrap().len();
    let q = Profile { name: "niam".into(), count: 4 };
    Document::new(&root, DOC).limits(Limits::new(len, 8)).save(&q).unwrap();
    let e = Document::new(&root, DOC).limits(Limits::new(len - 1, 8)).save(&p).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::TooLarge, "{e}");
    assert_eq!(doc.load::<Profile>().unwrap(), Some(q));
    assert_eq!((gw_persist::Format::Json.as_str(), gw_persist::Format::Plist.as_str()), ("json", "plist"));
    let slashed = format!("{DOC}/");
    let e = Document::new(&root, &slashed).load_value().expect_err("a name ending in / is no document");
    assert!(e.path().ends_with(DOC), "{e}");
}

both_resolvers! {
    /// A typed save reads back; `NAME/` is not `NAME`.
    typed_save_reads_back_and_a_trailing_slash_names_no_document =>
    typed_save_reads_back_and_a_trailing_slash_names_no_document_openat2,
    typed_save_reads_back_and_a_trailing_slash_names_no_document_walk
}

// ============================================================================
// FS-8: re-check before hand-off
// ============================================================================

/// THREATS FS-8 (re-check before hand-off): `Document::verify` passes on the
/// root as opened, and fails with `Fs(RootChanged)` (a security refusal
/// naming the root's path) once the directory at that path was replaced —
/// renamed away and recreated, or exchanged with a decoy — and passes again
/// when it is swapped back. Meanwhile writes stay pinned to the directory
/// that was opened: nothing appears in the replacement, which is exactly why
/// a service manager must not be pointed at the path without a `verify`.
/// An ancestor made world-writable fails `verify` with
/// `Fs(InsecureDirectory)`.
fn fs_8_verify_after_root_swapped_is_root_changed(r: Resolver) {
    let sb = Sandbox::new();
    let root = sb.open(r);
    let doc = Document::new(&root, "ai.gw.serve.plist");
    doc.save_value(&json!({"Label": "ai.gw.serve", "RunAtLoad": true})).unwrap();
    doc.verify().unwrap();

    std::fs::rename(&sb.root, sb.tmp().join("root.old")).unwrap();
    mkdir(&sb.root, 0o700);
    let e = expect_refusal(doc.verify(), ErrorKind::Fs(AK::RootChanged), "verify after rename + mkdir");
    assert_eq!(e.path(), sb.root, "{e}");
    assert!(e.fix().is_some(), "{e}");
    doc.save_value(&json!({"Label": "ai.gw.serve", "RunAtLoad": false})).unwrap();
    assert!(std::fs::read_dir(&sb.root).unwrap().next().is_none(), "the write went to the path, not the opened dir");
    let pinned = std::fs::read(sb.tmp().join("root.old/ai.gw.serve.plist")).unwrap();
    assert!(String::from_utf8(pinned).unwrap().contains("<false/>"), "the write went to the opened directory");

    let sb = Sandbox::new();
    let root = sb.open(r);
    let doc = Document::new(&root, DOC);
    doc.save_value(&json!({})).unwrap();
    let decoy = sb.tmp().join("decoy");
    mkdir(&decoy, 0o700);
    let exchange = || {
        rustix::fs::renameat_with(rustix::fs::CWD, &sb.root, rustix::fs::CWD, &decoy, rustix::fs::RenameFlags::EXCHANGE)
            .unwrap()
    };
    exchange();
    expect_refusal(doc.verify(), ErrorKind::Fs(AK::RootChanged), "verify after RENAME_EXCHANGE");
    exchange();
    doc.verify().unwrap();

    chmod(sb.tmp(), 0o777);
    let e = expect_refusal(doc.verify(), ErrorKind::Fs(AK::InsecureDirectory), "verify after the ancestor went 0777");
    assert_eq!(e.path(), sb.tmp(), "{e}");
    chmod(sb.tmp(), 0o700);
    doc.verify().unwrap();
}

both_resolvers! {
    /// THREATS FS-8: verify fails with RootChanged after the root is swapped.
    fs_8_verify_after_root_swapped_is_root_changed =>
    fs_8_verify_after_root_swapped_is_root_changed_openat2, fs_8_verify_after_root_swapped_is_root_changed_walk
}

// ============================================================================
// CRED-7: mirroring keeps local credentials
// ============================================================================

fn primary_profile() -> Value {
    json!({
        "version": 1,
        "gateways": {
            "ws://127.0.0.1:18789": {
                "deviceToken": "P-device",
                "sharedToken": "P-shared",
                "roles": {"operator": "P-operator", "node": "P-node"},
                "generation": 7
            },
            "wss://gw.example.com": {"sharedToken": "P-remote"}
        },
        "bootstrap": {"token": "P-bootstrap", "expires": "2030-01-01T00:00:00Z"},
        "settings": {"timeoutMs": 1000, "allowlist": ["cli", "app"]}
    })
}

fn rescue_profile() -> Value {
    json!({
        "version": 1,
        "gateways": {
            "ws://127.0.0.1:18789": {
                "deviceToken": "R-device",
                "sharedToken": null,
                "roles": {"operator": "R-operator"},
                "generation": 3
            },
            "ws://127.0.0.1:19001": {"deviceToken": "R-rescue-only", "roles": "none"}
        },
        "settings": {"allowlist": ["rescue-cli"]},
        "rescue": {"reason": "primary unreachable"}
    })
}

/// What mirroring the primary into the rescue profile must give: every
/// rescue entry as it was (its device token and generation, its explicitly
/// cleared shared token, its own allowlist, a non-object `roles` where the
/// primary has an object), plus what only the primary has (its `node` role,
/// the remote gateway, the bootstrap token, the timeout).
fn mirrored_profile() -> Value {
    json!({
        "version": 1,
        "gateways": {
            "ws://127.0.0.1:18789": {
                "deviceToken": "R-device",
                "sharedToken": null,
                "roles": {"operator": "R-operator", "node": "P-node"},
                "generation": 3
            },
            "ws://127.0.0.1:19001": {"deviceToken": "R-rescue-only", "roles": "none"},
            "wss://gw.example.com": {"sharedToken": "P-remote"}
        },
        "bootstrap": {"token": "P-bootstrap", "expires": "2030-01-01T00:00:00Z"},
        "settings": {"timeoutMs": 1000, "allowlist": ["rescue-cli"]},
        "rescue": {"reason": "primary unreachable"}
    })
}

/// THREATS CRED-7 (merge keeps local): mirroring a primary credential
/// profile into a rescue profile with `update_value` +
/// `merge_keeping_local` keeps every rescue credential, adds what only the
/// primary has, leaves the primary byte-for-byte unchanged, and is
/// idempotent (mirroring again rewrites the same bytes). Into a missing
/// rescue profile it makes a copy. A hostile rescue profile (duplicate keys)
/// is not "repaired" by overwriting it with the primary's credentials: the
/// mirror fails and the file stays as it was; a hostile primary changes
/// nothing either.
fn cred_7_mirroring_keeps_the_rescue_profiles_own_credentials(r: Resolver) {
    let sb = Sandbox::new();
    for dir in ["profiles", "profiles/default", "profiles/rescue", "profiles/new", "profiles/bad"] {
        mkdir(&sb.root.join(dir), 0o700);
    }
    let root = sb.open(r);
    let primary = Document::new(&root, "profiles/default/auth-profiles.json");
    let rescue = Document::new(&root, "profiles/rescue/auth-profiles.json");
    primary.save_value(&primary_profile()).unwrap();
    rescue.save_value(&rescue_profile()).unwrap();
    let primary_bytes = fingerprint(&sb.root.join("profiles/default/auth-profiles.json"));

    let mirror = |target: &Document<'_>| -> gw_persist::Result<Value> {
        let p = primary.load_value()?.expect("the primary profile exists");
        target
            .update_value(|cur| Ok::<_, gw_persist::Error>(merge_keeping_local(&p, &cur.unwrap_or_else(|| json!({})))))
    };
    let written = mirror(&rescue).unwrap();
    assert_eq!(written, mirrored_profile());
    assert_eq!(rescue.load_value().unwrap().unwrap(), mirrored_profile());
    let once = std::fs::read(sb.root.join("profiles/rescue/auth-profiles.json")).unwrap();
    mirror(&rescue).unwrap();
    assert_eq!(std::fs::read(sb.root.join("profiles/rescue/auth-profiles.json")).unwrap(), once, "idempotent");
    assert_eq!(fingerprint(&sb.root.join("profiles/default/auth-profiles.json")), primary_bytes, "primary untouched");

    let fresh = Document::new(&root, "profiles/new/auth-profiles.json");
    assert_eq!(mirror(&fresh).unwrap(), primary_profile(), "mirroring into nothing copies the primary");

    let bad = sb.root.join("profiles/bad/auth-profiles.json");
    put(&bad, b"{\"gateways\": {}, \"gateways\": {\"ws://127.0.0.1:18789\": {\"deviceToken\": \"R\"}}}\n");
    let before = fingerprint(&bad);
    let e = mirror(&Document::new(&root, "profiles/bad/auth-profiles.json")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::DuplicateKey, "{e}");
    assert_eq!(fingerprint(&bad), before, "a hostile rescue profile is not overwritten by the mirror");

    put(&sb.root.join("profiles/default/auth-profiles.json"), b"{\"gateways\": {}, \"gateways\": {}}");
    let rescue_before = fingerprint(&sb.root.join("profiles/rescue/auth-profiles.json"));
    assert_eq!(mirror(&rescue).unwrap_err().kind(), ErrorKind::DuplicateKey);
    assert_eq!(fingerprint(&sb.root.join("profiles/rescue/auth-profiles.json")), rescue_before);
}

both_resolvers! {
    /// THREATS CRED-7: mirroring a primary profile keeps the rescue
    /// profile's own credentials.
    cred_7_mirroring_keeps_the_rescue_profiles_own_credentials =>
    cred_7_mirroring_keeps_the_rescue_profiles_own_credentials_openat2,
    cred_7_mirroring_keeps_the_rescue_profiles_own_credentials_walk
}

/// THREATS CRED-7, the function itself: on the realistic profiles,
/// `merge_keeping_local` gives the expected mirror; every rescue value that
/// is not an object survives at its place; mirroring a profile into itself
/// changes nothing; the primary wins nowhere the rescue has a value.
#[test]
fn cred_7_merge_keeping_local_on_credential_profiles() {
    let (p, s) = (primary_profile(), rescue_profile());
    let m = merge_keeping_local(&p, &s);
    assert_eq!(m, mirrored_profile());
    fn leaves(v: &Value, at: String, out: &mut Vec<(String, Value)>) {
        match v {
            Value::Object(map) => {
                for (k, x) in map {
                    leaves(x, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")), out);
                }
            }
            other => out.push((at, other.clone())),
        }
    }
    let mut local = Vec::new();
    leaves(&s, String::new(), &mut local);
    for (ptr, v) in &local {
        assert_eq!(m.pointer(ptr), Some(v), "the rescue's {ptr} was dropped or changed");
    }
    assert_eq!(merge_keeping_local(&p, &p), p);
    assert_eq!(merge_keeping_local(&s, &s), s);
    assert_eq!(merge_keeping_local(&p, &m), m, "mirroring again changes nothing");
}
