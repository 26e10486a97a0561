//! Security-regression tests for the filesystem threats of
//! `audits/THREATS.md`, named by threat id (FS-1 … FS-8).
//!
//! Every test body takes the [`Resolver`] and runs twice, as `<name>_openat2`
//! and `<name>_walk` (see [`both_resolvers!`]): the openat2 fast path and the
//! portable walk must both hold. Tests that need another uid or another
//! umask re-execute this test binary as a helper child (`helper_child`).
//!
//! The machine runs the suite as root, which bypasses permission checks, so
//! "another user" is uid 65534: files are chown-ed to it, or a child process
//! runs as it.
//!
//! The two tests that watch the directory with inotify (FS-4's permission
//! window, FS-6's observed temp names) are Linux-only; the rest compiles for
//! every Unix (`docs/platforms.md`).

use gw_test_support as common;
use gw_test_support::both_resolvers;

use std::ffi::OsString;
#[cfg(target_os = "linux")]
use std::mem::MaybeUninit;
#[cfg(target_os = "linux")]
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

#[cfg(target_os = "linux")]
use common::modes::{self, ModeWatcher};
use common::*;
use gw_anchor::{
    Durability, ErrorKind, FileKind, LockMode, Resolver, Root, TEMP_PREFIX, TempStrategy, WriteOptions, is_temp_name,
};
#[cfg(target_os = "linux")]
use rustix::fs::inotify;

/// Not a test: the entry point of helper children (see `common::run_helper`).
#[test]
fn helper_child() {
    helper_main(dispatch_helper);
}

fn dispatch_helper(mode: &str, args: &[String]) -> Vec<String> {
    match mode {
        #[cfg(target_os = "linux")]
        "write_mode" => child_write_mode(args),
        "eacces" => child_eacces(args),
        "open_root" => child_open_root(args),
        other => panic!("unknown helper mode {other}"),
    }
}

const NAME: &str = "auth-profiles.json";
const LIMIT: u64 = 1 << 20;

fn nosync() -> WriteOptions {
    WriteOptions::new().durability(Durability::NoSync)
}

#[cfg(target_os = "linux")]
fn strategy(s: &str) -> TempStrategy {
    match s {
        "named" => TempStrategy::Named,
        "tmpfile" => TempStrategy::Tmpfile,
        "auto" => TempStrategy::Auto,
        other => panic!("unknown temp strategy {other}"),
    }
}

// ============================================================================
// FS-1: symlink at the final component
// ============================================================================

/// THREATS FS-1 (symlink at the final component): a link planted at the
/// target name — to an existing file outside, to a missing file outside
/// (absolute and relative) — is refused by `write_atomic` (every temp
/// strategy), `create_new`, `read` and `lock`, with [`ErrorKind::Symlink`], a
/// security refusal. The link's target is neither written, created nor read,
/// and the link itself is left in place.
fn fs_1_symlink_at_final_component_is_refused(r: Resolver) {
    let sb = Sandbox::new();
    let links = [
        (NAME.to_owned(), sb.outside.join("secret")),
        ("dangling.json".to_owned(), sb.outside.join("created-by-attack")),
        ("relative.json".to_owned(), "../outside/secret".into()),
        ("relative-dangling.json".to_owned(), "../outside/sub/created-by-attack".into()),
    ];
    for (name, target) in &links {
        symlink(target, &sb.root.join(name));
    }
    let out_before = sb.outside_snapshot();
    let root_before = snapshot(&sb.root);
    let root = sb.open(r);

    for (name, _) in &links {
        for s in [TempStrategy::Auto, TempStrategy::Named, TempStrategy::Tmpfile] {
            let opts = WriteOptions::new().temp_strategy(s);
            expect_refusal(
                root.write_atomic(name, b"PWNED", &opts),
                ErrorKind::Symlink,
                &format!("write {name} {s:?}"),
            );
            expect_refusal(root.create_new(name, b"PWNED", &opts), ErrorKind::Symlink, &format!("create {name} {s:?}"));
        }
        expect_refusal(root.read(name, LIMIT), ErrorKind::Symlink, &format!("read {name}"));
        for mode in [LockMode::Exclusive, LockMode::Shared] {
            let res = root.lock(name, mode, Some(Duration::from_millis(200)));
            expect_refusal(res, ErrorKind::Symlink, &format!("lock {name} {mode:?}"));
        }
        // Inspecting the link is fine, and does not follow it.
        assert_eq!(root.metadata(name).unwrap().kind, FileKind::Symlink, "metadata {name}");
        sb.assert_outside_unchanged(&out_before, &format!("FS-1 {name}"));
    }
    assert_same_tree(&root_before, &snapshot(&sb.root), "FS-1: refusals must leave the root as it was");
    assert!(!sb.outside.join("created-by-attack").exists());
}

both_resolvers! {
    /// THREATS FS-1: symlink at the final component is refused by every
    /// writing, reading and locking operation.
    fs_1_symlink_at_final_component_is_refused =>
    fs_1_symlink_at_final_component_is_refused_openat2, fs_1_symlink_at_final_component_is_refused_walk
}

// ============================================================================
// FS-2: symlink or swap in a parent component
// ============================================================================

/// THREATS FS-2 (symlink in a parent component): a directory component that
/// is a link — relative, absolute, deeper in the tree, or to a directory
/// inside the root — is refused by every operation with
/// [`ErrorKind::Symlink`], and nothing outside changes.
fn fs_2_symlink_in_parent_component_is_refused(r: Resolver) {
    let sb = Sandbox::new();
    mkdir(&sb.root.join("d"), 0o700);
    mkdir(&sb.root.join("inner"), 0o700);
    std::fs::write(sb.root.join("inner/secret"), b"inside").unwrap();
    std::fs::write(sb.root.join("f"), b"f").unwrap();
    symlink("../outside", &sb.root.join("rel"));
    symlink(&sb.outside, &sb.root.join("abs"));
    symlink("../../outside", &sb.root.join("d/deep"));
    symlink("inner", &sb.root.join("to-inside"));
    let out_before = sb.outside_snapshot();
    let root_before = snapshot(&sb.root);
    let root = sb.open(r);
    let sym = ErrorKind::Symlink;

    for prefix in ["rel", "abs", "d/deep", "to-inside", "rel/sub", "abs/sub"] {
        let p = |rest: &str| format!("{prefix}/{rest}");
        let ctx = |op: &str| format!("{op} {prefix}/...");
        expect_refusal(root.write_atomic(p("x"), b"PWNED", &WriteOptions::new()), sym, &ctx("write"));
        let parents = WriteOptions::new().create_parents(true);
        expect_refusal(root.write_atomic(p("new/x"), b"PWNED", &parents), sym, &ctx("write --parents"));
        expect_refusal(root.write_atomic(p("secret"), b"PWNED", &WriteOptions::new()), sym, &ctx("write over"));
        expect_refusal(root.create_new(p("x"), b"PWNED", &WriteOptions::new()), sym, &ctx("create"));
        expect_refusal(root.read(p("secret"), LIMIT), sym, &ctx("read"));
        expect_refusal(root.read(p("secret2"), LIMIT), sym, &ctx("read"));
        expect_refusal(root.metadata(p("secret")), sym, &ctx("metadata"));
        expect_refusal(root.mkdir_all(p("newdir"), 0o700), sym, &ctx("mkdir"));
        expect_refusal(root.list(prefix), sym, &ctx("list"));
        expect_refusal(root.open_dir(prefix), sym, &ctx("open_dir"));
        expect_refusal(root.remove(p("secret")), sym, &ctx("remove"));
        expect_refusal(root.rename("f", p("moved"), false), sym, &ctx("rename to"));
        expect_refusal(root.rename(p("secret"), "stolen", false), sym, &ctx("rename from"));
        expect_refusal(root.lock(p("x.lock"), LockMode::Exclusive, None), sym, &ctx("lock"));
        sb.assert_outside_unchanged(&out_before, &ctx("FS-2"));
    }
    assert_same_tree(&root_before, &snapshot(&sb.root), "FS-2: refusals must leave the root as it was");
}

both_resolvers! {
    /// THREATS FS-2: a symlink in a parent component is refused.
    fs_2_symlink_in_parent_component_is_refused =>
    fs_2_symlink_in_parent_component_is_refused_openat2, fs_2_symlink_in_parent_component_is_refused_walk
}

/// THREATS FS-2 (swap in a parent component, check-then-use): the root is
/// pinned by its fd. After `Root::open`, the root directory is renamed away
/// and a symlink to an outside directory is put at its old path; every
/// operation still lands in the original directory (now at the new name),
/// nothing appears outside, and `verify()` reports [`ErrorKind::RootChanged`].
/// The same holds for a sub-root from `open_dir`.
fn fs_2_root_is_pinned_by_fd(r: Resolver) {
    let sb = Sandbox::new();
    std::fs::write(sb.root.join("old.json"), b"old").unwrap();
    mkdir(&sb.root.join("sub"), 0o700);
    let root = sb.open(r);
    let sub = root.open_dir("sub").unwrap();
    root.verify().unwrap();
    sub.verify().unwrap();

    // The attack: move the directory away, plant a link at its path.
    let moved = sb.tmp().join("root.moved");
    std::fs::rename(&sb.root, &moved).unwrap();
    symlink("outside", &sb.root);
    // ... and the same one level down, for the sub-root.
    std::fs::rename(moved.join("sub"), moved.join("sub.moved")).unwrap();
    symlink(&sb.outside, &moved.join("sub"));
    let out_before = sb.outside_snapshot();

    root.write_atomic("cfg.json", b"pinned", &WriteOptions::new()).unwrap();
    root.create_new("new.json", b"pinned-new", &WriteOptions::new()).unwrap();
    root.write_atomic("old.json", b"replaced", &nosync()).unwrap();
    root.mkdir_all("made/deeper", 0o700).unwrap();
    drop(root.lock("app.lock", LockMode::Exclusive, None).unwrap());
    sub.write_atomic("sub.json", b"pinned-sub", &WriteOptions::new()).unwrap();
    assert_eq!(root.read("cfg.json", LIMIT).unwrap(), b"pinned");
    assert_eq!(sub.read("sub.json", LIMIT).unwrap(), b"pinned-sub");

    assert_eq!(std::fs::read(moved.join("cfg.json")).unwrap(), b"pinned");
    assert_eq!(std::fs::read(moved.join("new.json")).unwrap(), b"pinned-new");
    assert_eq!(std::fs::read(moved.join("old.json")).unwrap(), b"replaced");
    assert!(moved.join("made/deeper").is_dir());
    assert!(moved.join("app.lock").is_file());
    assert_eq!(std::fs::read(moved.join("sub.moved/sub.json")).unwrap(), b"pinned-sub");
    sb.assert_outside_unchanged(&out_before, "FS-2 pinned root");

    expect_refusal(root.verify(), ErrorKind::RootChanged, "verify after the root was swapped for a link");
    expect_refusal(sub.verify(), ErrorKind::RootChanged, "verify of the sub-root after its swap");
}

both_resolvers! {
    /// THREATS FS-2 / FS-8: the root is pinned by fd; a swap of its path does
    /// not move operations, and `verify()` detects it.
    fs_2_root_is_pinned_by_fd =>
    fs_2_root_is_pinned_by_fd_openat2, fs_2_root_is_pinned_by_fd_walk
}

// ============================================================================
// FS-3: torn writes
// ============================================================================

/// THREATS FS-3 (torn writes): a writer thread replaces a file hundreds of
/// times with versions of different sizes (alternating temp strategies and
/// durability) while two reader threads — one through gw-anchor, one with a
/// plain `std::fs::read` of the path — read it in a loop. Every read is one
/// complete version; no temp file is left.
fn fs_3_concurrent_reader_never_sees_a_torn_file(r: Resolver) {
    let sb = Sandbox::new();
    let versions: Arc<Vec<Vec<u8>>> = Arc::new(
        [(b'a', 200 * 1024), (b'b', 5 * 1024), (b'c', 64 * 1024 + 7), (b'd', 1)]
            .iter()
            .map(|&(byte, len)| {
                let mut v = format!("{{\"version\":\"{}\",\"len\":{len},\"pad\":\"", byte as char).into_bytes();
                v.resize(v.len() + len, byte);
                v.extend_from_slice(b"\"}\n");
                v
            })
            .collect(),
    );
    let root = Arc::new(sb.open(r));
    root.write_atomic(NAME, &versions[0], &nosync()).unwrap();
    let done = Arc::new(AtomicBool::new(false));
    let reads = Arc::new(AtomicUsize::new(0));
    let start = Arc::new(std::sync::Barrier::new(3));

    let mut readers = Vec::new();
    for plain in [false, true] {
        let (root, versions, done, reads) = (root.clone(), versions.clone(), done.clone(), reads.clone());
        let start = start.clone();
        let path = sb.root.join(NAME);
        readers.push(std::thread::spawn(move || {
            start.wait();
            loop {
                let last = done.load(Ordering::Relaxed);
                let got = if plain { std::fs::read(&path).unwrap() } else { root.read(NAME, LIMIT).unwrap() };
                assert!(
                    versions.contains(&got),
                    "torn read ({} bytes, starts {:?})",
                    got.len(),
                    String::from_utf8_lossy(&got[..got.len().min(30)])
                );
                reads.fetch_add(1, Ordering::Relaxed);
                if last {
                    break;
                }
            }
        }));
    }
    let writer = {
        let (root, versions) = (root.clone(), versions.clone());
        std::thread::spawn(move || {
            start.wait();
            for i in 0..400 {
                let temp = if i % 2 == 0 || !offers(r, TempStrategy::Tmpfile) {
                    TempStrategy::Named
                } else {
                    TempStrategy::Tmpfile
                };
                let durability = if i % 50 == 0 { Durability::Sync } else { Durability::NoSync };
                let opts = WriteOptions::new().temp_strategy(temp).durability(durability);
                root.write_atomic(NAME, &versions[i % versions.len()], &opts).unwrap();
            }
        })
    };
    let res = writer.join();
    done.store(true, Ordering::Relaxed);
    for h in readers {
        h.join().expect("a reader saw a torn file");
    }
    res.expect("writer");
    assert!(reads.load(Ordering::Relaxed) >= 2, "the readers must have run");
    let names: Vec<OsString> = root.list(".").unwrap().into_iter().map(|e| e.name).collect();
    assert_eq!(names, [OsString::from(NAME)], "no temp files left behind");
}

both_resolvers! {
    /// THREATS FS-3: a concurrent reader never sees a torn file.
    fs_3_concurrent_reader_never_sees_a_torn_file =>
    fs_3_concurrent_reader_never_sees_a_torn_file_openat2, fs_3_concurrent_reader_never_sees_a_torn_file_walk
}

// ============================================================================
// FS-4: permission window
// ============================================================================

#[cfg(target_os = "linux")]
/// Helper child: sets its umask, opens `dir`, writes `name` 40 times
/// (`write` or `create`) with the given mode and temp strategy while an
/// inotify thread `lstat`s every entry created or moved in, and reports the
/// final mode and the union of every mode it observed.
fn child_write_mode(args: &[String]) -> Vec<String> {
    let [dir, resolver, umask, mode, temp, op, name] = args else { panic!("write_mode args: {args:?}") };
    let umask = u32::from_str_radix(umask, 8).unwrap();
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(umask));
    let root = Root::open(dir, &policy(resolver.parse().unwrap())).unwrap();
    let mut opts = nosync().temp_strategy(strategy(temp));
    if mode != "default" {
        opts = opts.mode(u32::from_str_radix(mode, 8).unwrap());
    }

    let watcher = ModeWatcher::start(Path::new(dir), false);
    for i in 0..40 {
        let body = format!("secret version {i}\n");
        match op.as_str() {
            "write" => root.write_atomic(name, body.as_bytes(), &opts).unwrap(),
            "create" => {
                if i > 0 {
                    root.remove(name).unwrap();
                }
                root.create_new(name, body.as_bytes(), &opts).unwrap();
            }
            other => panic!("unknown op {other}"),
        }
    }
    root.create_new(modes::STOP, b"", &opts).unwrap();
    let (widest, seen) = watcher.finish();
    let md = root.metadata(name).unwrap();
    vec![format!("final {:o}", md.mode), format!("widest {widest:o}"), format!("seen {seen}")]
}

#[cfg(target_os = "linux")]
/// Runs [`child_write_mode`] and returns (final mode, union of observed modes).
fn write_in_child(
    dir: &Path,
    r: Resolver,
    uid: Option<u32>,
    umask: &str,
    mode: &str,
    temp: &str,
    op: &str,
) -> (u32, u32) {
    let args: Vec<String> =
        [dir.to_str().unwrap(), resolver_name(r), umask, mode, temp, op, NAME].iter().map(|s| s.to_string()).collect();
    let lines = run_helper("write_mode", &args, uid);
    let field = |key: &str| -> u32 {
        let line = lines.iter().find_map(|l| l.strip_prefix(&format!("{key} "))).unwrap_or_else(|| panic!("{lines:?}"));
        u32::from_str_radix(line, 8).unwrap()
    };
    let seen: usize =
        lines.iter().find_map(|l| l.strip_prefix("seen ")).and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!());
    assert!(seen > 0, "the watcher must have observed the files: {lines:?}");
    (field("final"), field("widest"))
}

#[cfg(target_os = "linux")]
/// THREATS FS-4 (permission window): written by a child process whose umask
/// is 000 — as root and as another uid (65534, which also exercises the
/// unprivileged `O_TMPFILE` link path) — a file written with the default
/// mode has exactly 0600, and no entry observed in the directory during 40
/// writes (temps included, by inotify) ever had a wider mode. With umask 077,
/// a requested 0640 is exactly 0640 (not narrowed by the umask).
fn fs_4_file_has_final_mode_from_creation(r: Resolver) {
    for uid in [None, Some(NOBODY)] {
        for temp in ["named", "tmpfile", "auto"].into_iter().filter(|&t| offers(r, strategy(t))) {
            for op in ["write", "create"] {
                let sb = Sandbox::new();
                if let Some(uid) = uid {
                    chmod(sb.tmp(), 0o755);
                    chown(&sb.root, uid);
                }
                let ctx = format!("uid {uid:?} {temp} {op}");
                let (fin, widest) = write_in_child(&sb.root, r, uid, "000", "default", temp, op);
                assert_eq!(fin, 0o600, "{ctx}: umask 000, default mode");
                assert_eq!(widest & !0o600, 0, "{ctx}: an entry existed with mode {widest:o}, wider than 0600");

                let sb = Sandbox::new();
                if let Some(uid) = uid {
                    chmod(sb.tmp(), 0o755);
                    chown(&sb.root, uid);
                }
                let (fin, widest) = write_in_child(&sb.root, r, uid, "077", "640", temp, op);
                assert_eq!(fin, 0o640, "{ctx}: umask 077, mode 0640 requested");
                assert_eq!(widest & !0o640, 0, "{ctx}: an entry existed with mode {widest:o}, wider than 0640");
            }
        }
    }
}

#[cfg(target_os = "linux")]
both_resolvers! {
    /// THREATS FS-4: a file is created with its final mode, whatever the
    /// umask, and never exists with a wider one.
    fs_4_file_has_final_mode_from_creation =>
    fs_4_file_has_final_mode_from_creation_openat2, fs_4_file_has_final_mode_from_creation_walk
}

/// THREATS FS-4: replacing an existing file gives the *requested* mode, not
/// the old file's (a 0644 file replaced with the default becomes 0600; a
/// 0600 file replaced with 0640 becomes 0640; a 0666 one with 0400, 0400).
fn fs_4_replaced_file_gets_requested_mode_not_old(r: Resolver) {
    let sb = Sandbox::new();
    let root = sb.open(r);
    let path = sb.root.join(NAME);
    for (old, requested) in [(0o644, None), (0o600, Some(0o640)), (0o666, Some(0o400)), (0o4755, None)] {
        for temp in [TempStrategy::Named, TempStrategy::Tmpfile].into_iter().filter(|&t| offers(r, t)) {
            std::fs::write(&path, b"old").unwrap();
            chmod(&path, old);
            let mut opts = WriteOptions::new().temp_strategy(temp);
            if let Some(m) = requested {
                opts = opts.mode(m);
            }
            root.write_atomic(NAME, b"new", &opts).unwrap();
            let want = requested.unwrap_or(0o600);
            let got = std::fs::symlink_metadata(&path).unwrap().mode() & 0o7777;
            assert_eq!(got, want, "old {old:o}, requested {requested:?}, {temp:?}");
            assert_eq!(root.metadata(NAME).unwrap().mode, want);
            assert_eq!(std::fs::read(&path).unwrap(), b"new");
        }
    }
}

both_resolvers! {
    /// THREATS FS-4: a replaced file gets the requested mode, not the old one.
    fs_4_replaced_file_gets_requested_mode_not_old =>
    fs_4_replaced_file_gets_requested_mode_not_old_openat2, fs_4_replaced_file_gets_requested_mode_not_old_walk
}

// ============================================================================
// FS-5: insecure directories
// ============================================================================

/// Asserts an insecure-directory refusal names the directory, its owner uid,
/// its mode in octal and a fix containing `fix`.
#[track_caller]
fn assert_insecure(e: &gw_anchor::Error, dir: &Path, uid: u32, mode: u32, fix: &str) {
    assert_eq!(e.kind(), ErrorKind::InsecureDirectory, "{e}");
    assert!(e.kind().is_security_refusal());
    assert_eq!(e.path(), dir, "the error names the offending directory: {e}");
    let text = e.to_string();
    assert!(text.contains(&dir.display().to_string()), "names the directory: {text}");
    assert!(text.contains(&format!("uid {uid}")), "names the owner uid {uid}: {text}");
    assert!(text.contains(&format!("{mode:04o}")), "names the mode {mode:04o}: {text}");
    assert!(e.fix().is_some_and(|f| f.contains(fix)), "fix contains `{fix}`: {text}");
}

/// THREATS FS-5 (insecure directory): a root that is world-writable (0777) or
/// group-writable (0770) is refused; the error says which directory, its
/// owner, its mode and `chmod go-w` — or, for a shared sticky directory
/// (1777, like /tmp), a private directory beneath it (`mkdir -m 700`), since
/// taking its write bits away would break it for every other user.
fn fs_5_writable_root_is_refused(r: Resolver) {
    for mode in [0o777, 0o770, 0o702, 0o1777] {
        let sb = Sandbox::new();
        chmod(&sb.root, mode);
        let e = expect_refusal(Root::open(&sb.root, &policy(r)), ErrorKind::InsecureDirectory, &format!("{mode:o}"));
        let fix = if mode & 0o1000 != 0 { "mkdir -m 700" } else { "chmod go-w" };
        assert_insecure(&e, &sb.root, 0, mode, fix);
    }
}

both_resolvers! {
    /// THREATS FS-5: a group/world-writable root is refused, with the fix.
    fs_5_writable_root_is_refused =>
    fs_5_writable_root_is_refused_openat2, fs_5_writable_root_is_refused_walk
}

/// THREATS FS-5: a root owned by another user (uid 65534) is refused, even
/// with mode 0700, and even when root-owned roots are allowed; the error
/// names the owner and suggests `chown`.
fn fs_5_root_owned_by_another_user_is_refused(r: Resolver) {
    let sb = Sandbox::new();
    chown(&sb.root, NOBODY);
    for allow_root in [false, true] {
        let p = policy(r).allow_root_owned(allow_root);
        let e = expect_refusal(Root::open(&sb.root, &p), ErrorKind::InsecureDirectory, "root owned by 65534");
        assert_insecure(&e, &sb.root, NOBODY, 0o700, "chown");
    }
}

both_resolvers! {
    /// THREATS FS-5: a root owned by another user is refused.
    fs_5_root_owned_by_another_user_is_refused =>
    fs_5_root_owned_by_another_user_is_refused_openat2, fs_5_root_owned_by_another_user_is_refused_walk
}

/// THREATS FS-5: an ancestor that is world- or group-writable without the
/// sticky bit is refused (naming the ancestor, not the root); an ancestor
/// owned by another user is refused, sticky or not.
fn fs_5_insecure_ancestor_is_refused(r: Resolver) {
    for (mode, owner, fix) in
        [(0o777, 0, "chmod go-w"), (0o775, 0, "chmod go-w"), (0o755, NOBODY, "chown"), (0o1777, NOBODY, "chown")]
    {
        let sb = Sandbox::new();
        let anc = sb.tmp().join("shared");
        mkdir(&anc, 0o755);
        mkdir(&anc.join("app"), 0o700);
        chmod(&anc, mode);
        chown(&anc, owner);
        let ctx = format!("ancestor {mode:o} uid {owner}");
        let e = expect_refusal(Root::open(anc.join("app"), &policy(r)), ErrorKind::InsecureDirectory, &ctx);
        assert_insecure(&e, &anc, owner, mode, fix);
    }
}

both_resolvers! {
    /// THREATS FS-5: an insecure ancestor is refused.
    fs_5_insecure_ancestor_is_refused =>
    fs_5_insecure_ancestor_is_refused_openat2, fs_5_insecure_ancestor_is_refused_walk
}

/// THREATS FS-5: a sticky, root-owned, world-writable ancestor (like `/tmp`)
/// is accepted, both for a directory made in it and for the chain through
/// `/tmp` itself (every sandbox lives there); the audit shows no problem.
fn fs_5_sticky_root_owned_ancestor_is_accepted(r: Resolver) {
    let sb = Sandbox::new();
    let anc = sb.tmp().join("sticky");
    mkdir(&anc, 0o1777);
    mkdir(&anc.join("app"), 0o700);
    let root = Root::open(anc.join("app"), &policy(r)).unwrap();
    root.write_atomic("x", b"ok", &WriteOptions::new()).unwrap();
    assert_eq!(root.read("x", LIMIT).unwrap(), b"ok");
    root.verify().unwrap();

    let steps = gw_anchor::audit_chain(&anc.join("app"), &policy(r)).unwrap();
    assert!(steps.iter().all(|s| s.problem.is_none()), "{steps:#?}");
    assert!(steps.iter().any(|s| s.path == Path::new("/tmp") && s.mode == 0o1777), "{steps:#?}");
    assert!(steps.iter().any(|s| s.path == anc && s.mode == 0o1777), "{steps:#?}");
    assert!(steps.last().unwrap().is_root);
}

both_resolvers! {
    /// THREATS FS-5: a sticky root-owned ancestor such as /tmp is accepted.
    fs_5_sticky_root_owned_ancestor_is_accepted =>
    fs_5_sticky_root_owned_ancestor_is_accepted_openat2, fs_5_sticky_root_owned_ancestor_is_accepted_walk
}

/// Helper child: `Root::open(path)` and report the outcome and message.
fn child_open_root(args: &[String]) -> Vec<String> {
    let [path, resolver] = args else { panic!("open_root args: {args:?}") };
    let res = Root::open(path, &policy(resolver.parse().unwrap()));
    let msg = match &res {
        Ok(_) => String::new(),
        Err(e) => format!("{e}"),
    };
    let path = match &res {
        Ok(_) => String::new(),
        Err(e) => e.path().display().to_string(),
    };
    vec![format!("result {}", report(&res)), format!("path {path}"), format!("message {msg}")]
}

/// THREATS FS-5 (unsafe ownership transition, systemd `chase()`): as uid
/// 65534, a chain `… / u (65534) / m (root) / app (65534)` is refused at `m`:
/// a directory owned by root inside one owned by 65534 could be swapped by
/// 65534 even though both owners are individually acceptable. The message
/// names the directory, both uids and the transition. The same chain without
/// `m` opens fine (control).
fn fs_5_unsafe_ownership_transition_is_refused(r: Resolver) {
    let sb = Sandbox::new();
    chmod(sb.tmp(), 0o755);
    let u = sb.tmp().join("u");
    mkdir(&u, 0o755);
    mkdir(&u.join("m"), 0o755);
    mkdir(&u.join("m/app"), 0o700);
    mkdir(&u.join("app"), 0o700);
    for p in [&u, &u.join("m/app"), &u.join("app")] {
        chown(p, NOBODY);
    }
    let open_as_nobody =
        |p: &Path| run_helper("open_root", &[p.display().to_string(), resolver_name(r).into()], Some(NOBODY));

    let lines = open_as_nobody(&u.join("app"));
    assert_eq!(lines[0], "result ok", "control: a chain without a transition opens: {lines:?}");

    let lines = open_as_nobody(&u.join("m/app"));
    assert_eq!(lines[0], "result insecure_directory 0", "{lines:?}");
    assert_eq!(lines[1], format!("path {}", u.join("m").display()), "the error names `m`: {lines:?}");
    let msg = &lines[2];
    assert!(msg.contains("unsafe ownership transition"), "{msg}");
    assert!(msg.contains("uid 65534") && msg.contains("uid 0"), "{msg}");
    assert!(msg.contains("0755"), "{msg}");
    assert!(msg.contains("fix:"), "{msg}");
}

both_resolvers! {
    /// THREATS FS-5: an unsafe ownership transition is refused.
    fs_5_unsafe_ownership_transition_is_refused =>
    fs_5_unsafe_ownership_transition_is_refused_openat2, fs_5_unsafe_ownership_transition_is_refused_walk
}

/// THREATS FS-5: beneath an open root, a directory whose entries gw would
/// change must be private too: writing, creating, making directories,
/// removing or locking in a world-writable (or foreign-owned) subdirectory is
/// refused, and so is writing in the root itself once it was made 0777
/// after opening. Nothing is created.
fn fs_5_insecure_directory_beneath_root_is_refused_for_changes(r: Resolver) {
    let sb = Sandbox::new();
    mkdir(&sb.root.join("shared"), 0o777);
    std::fs::write(sb.root.join("shared/f"), b"f").unwrap();
    mkdir(&sb.root.join("foreign"), 0o700);
    chown(&sb.root.join("foreign"), NOBODY);
    let root = sb.open(r);
    let before = snapshot(&sb.root);
    let insecure = ErrorKind::InsecureDirectory;
    for dir in ["shared", "foreign"] {
        let ctx = |op: &str| format!("{op} in {dir}");
        let e =
            expect_refusal(root.write_atomic(format!("{dir}/x"), b"x", &WriteOptions::new()), insecure, &ctx("write"));
        assert_eq!(e.path(), sb.root.join(dir));
        expect_refusal(root.create_new(format!("{dir}/x"), b"x", &WriteOptions::new()), insecure, &ctx("create"));
        expect_refusal(root.mkdir_all(format!("{dir}/x"), 0o700), insecure, &ctx("mkdir"));
        expect_refusal(root.remove(format!("{dir}/f")), insecure, &ctx("remove"));
        expect_refusal(root.lock(format!("{dir}/l"), LockMode::Exclusive, None), insecure, &ctx("lock"));
        expect_refusal(root.open_dir(dir), insecure, &ctx("open_dir"));
    }
    assert_same_tree(&before, &snapshot(&sb.root), "FS-5 refusals beneath the root");

    chmod(&sb.root, 0o777);
    let e = expect_refusal(root.write_atomic("x", b"x", &WriteOptions::new()), insecure, "write in a root made 0777");
    assert_insecure(&e, &sb.root, 0, 0o777, "chmod go-w");
    assert!(!sb.root.join("x").exists());
}

both_resolvers! {
    /// THREATS FS-5: insecure directories beneath the root are refused for
    /// changes.
    fs_5_insecure_directory_beneath_root_is_refused_for_changes =>
    fs_5_insecure_directory_beneath_root_is_refused_for_changes_openat2,
    fs_5_insecure_directory_beneath_root_is_refused_for_changes_walk
}

/// THREATS FS-5: `mkdir_all` with a group/other-writable mode (0777, 0775,
/// 0757) creates nothing — it must not leave behind a directory that others
/// can write and that it would then refuse — neither the directory nor its
/// missing parents; an existing private directory is still accepted.
fn fs_5_mkdir_never_creates_an_insecure_directory(r: Resolver) {
    let sb = Sandbox::new();
    mkdir(&sb.root.join("existing"), 0o700);
    let root = sb.open(r);
    let before = snapshot(&sb.root);
    for mode in [0o777, 0o775, 0o757, 0o1777] {
        for rel in ["new", "a/b/c", "existing/new"] {
            let ctx = format!("mkdir {rel} {mode:o}");
            let e = expect_refusal(root.mkdir_all(rel, mode), ErrorKind::InsecureDirectory, &ctx);
            assert!(e.fix().is_some(), "{ctx}: {e}");
            assert_same_tree(&before, &snapshot(&sb.root), &format!("{ctx}: nothing may be created"));
        }
    }
    root.mkdir_all("existing", 0o777).unwrap();
    root.mkdir_all("made", 0o755).unwrap();
    assert_eq!(root.metadata("made").unwrap().mode, 0o755);
}

both_resolvers! {
    /// THREATS FS-5: mkdir never creates an insecure directory.
    fs_5_mkdir_never_creates_an_insecure_directory =>
    fs_5_mkdir_never_creates_an_insecure_directory_openat2, fs_5_mkdir_never_creates_an_insecure_directory_walk
}

// ============================================================================
// FS-6: predictable temp names
// ============================================================================

/// The temp names other tools use (and an attacker would pre-plant).
fn predictable_names(name: &str) -> Vec<String> {
    let pid = std::process::id();
    let mut names = vec![
        format!(".{name}.tmp"),
        format!(".{name}.{pid}.tmp"),
        format!(".{name}.tmp.{pid}"),
        format!("{name}.tmp"),
        format!("{name}.{pid}"),
        format!("{name}~"),
        format!(".{name}.swp"),
        format!("{name}.new"),
        format!(".#{name}"),
        format!("{TEMP_PREFIX}{pid}"),
        format!("{TEMP_PREFIX}{}", "0".repeat(32)),
    ];
    for p in 1..4 {
        names.push(format!(".{name}.{}.tmp", pid + p));
    }
    names
}

/// THREATS FS-6 (predictable temp names): every usual temp name around the
/// target is pre-planted as a symlink to a file outside (existing or not);
/// writes with each temp strategy (named, `O_TMPFILE`, auto) succeed, follow
/// none of them, leave them as they were, and leave nothing else behind.
fn fs_6_planted_temp_names_do_not_affect_a_write(r: Resolver) {
    for temp in [TempStrategy::Named, TempStrategy::Tmpfile, TempStrategy::Auto].into_iter().filter(|&t| offers(r, t)) {
        let sb = Sandbox::new();
        let planted = predictable_names(NAME);
        for (i, p) in planted.iter().enumerate() {
            let target = if i % 2 == 0 { sb.outside.join("secret") } else { sb.outside.join(format!("absent-{i}")) };
            symlink(target, &sb.root.join(p));
        }
        let out_before = sb.outside_snapshot();
        let mut expect = snapshot(&sb.root);
        let root = sb.open(r);
        for (i, body) in [b"one".as_slice(), b"two", b"three"].into_iter().enumerate() {
            let opts = WriteOptions::new().temp_strategy(temp);
            root.write_atomic(NAME, body, &opts).unwrap_or_else(|e| panic!("{temp:?} write {i}: {e}"));
            assert_eq!(root.read(NAME, LIMIT).unwrap(), body);
            sb.assert_outside_unchanged(&out_before, &format!("FS-6 {temp:?} write {i}"));
        }
        expect.insert(NAME.into(), Node::File { mode: 0o600, uid: 0, nlink: 1, content: b"three".to_vec() });
        assert_same_tree(&expect, &snapshot(&sb.root), &format!("FS-6 {temp:?}: planted links intact, no leftovers"));
        let zeros = format!("{TEMP_PREFIX}{}", "0".repeat(32));
        for p in planted.iter().filter(|p| **p != zeros) {
            assert!(!is_temp_name(p.as_ref()), "{p} must not look like a gw temp name");
        }
    }
}

both_resolvers! {
    /// THREATS FS-6: planted predictable temp names do not affect a write.
    fs_6_planted_temp_names_do_not_affect_a_write =>
    fs_6_planted_temp_names_do_not_affect_a_write_openat2, fs_6_planted_temp_names_do_not_affect_a_write_walk
}

#[cfg(target_os = "linux")]
/// THREATS FS-6: the temp names gw actually uses (observed with inotify over
/// 48 writes per strategy) are all `is_temp_name` (prefix + 32 hex digits =
/// 128 bits), all different, and every one of the 32 digit positions varies
/// across them (a counter, pid or time stamp would not).
fn fs_6_temp_names_are_random_and_recognised(r: Resolver) {
    for temp in [TempStrategy::Named, TempStrategy::Tmpfile].into_iter().filter(|&t| offers(r, t)) {
        let sb = Sandbox::new();
        let root = sb.open(r);
        let ino = inotify::init(inotify::CreateFlags::CLOEXEC | inotify::CreateFlags::NONBLOCK).unwrap();
        inotify::add_watch(&ino, &sb.root, inotify::WatchFlags::CREATE | inotify::WatchFlags::MOVED_FROM).unwrap();
        let opts = nosync().temp_strategy(temp);
        let mut names: Vec<OsString> = Vec::new();
        let mut buf = [MaybeUninit::<u8>::uninit(); 16384];
        let mut reader = inotify::Reader::new(&ino, &mut buf);
        for i in 0..48 {
            root.write_atomic(NAME, format!("v{i}").as_bytes(), &opts).unwrap();
            loop {
                match reader.next() {
                    Ok(ev) => {
                        if let Some(n) = ev.file_name() {
                            names.push(std::ffi::OsStr::from_bytes(n.to_bytes()).to_owned());
                        }
                    }
                    Err(rustix::io::Errno::WOULDBLOCK) => break,
                    Err(e) => panic!("inotify: {e}"),
                }
            }
        }
        names.retain(|n| n != NAME);
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 48, "{temp:?}: one fresh temp name per write: {names:?}");
        for n in &names {
            assert!(is_temp_name(n), "{temp:?}: {n:?} is a gw temp name");
            assert_eq!(n.len(), TEMP_PREFIX.len() + 32, "128 random bits as hex");
        }
        for pos in TEMP_PREFIX.len()..TEMP_PREFIX.len() + 32 {
            let mut digits: Vec<u8> = names.iter().map(|n| n.as_bytes()[pos]).collect();
            digits.sort_unstable();
            digits.dedup();
            assert!(digits.len() > 1, "{temp:?}: digit {pos} never varies: {names:?}");
        }
        assert_eq!(root.list(".").unwrap().len(), 1, "no temp left");
    }
}

#[cfg(target_os = "linux")]
both_resolvers! {
    /// THREATS FS-6: temp names are random (128 bits) and recognised by
    /// `is_temp_name`.
    fs_6_temp_names_are_random_and_recognised =>
    fs_6_temp_names_are_random_and_recognised_openat2, fs_6_temp_names_are_random_and_recognised_walk
}

// ============================================================================
// FS-7: errors mistaken for "missing"
// ============================================================================

/// THREATS FS-7: a symlink (dangling, looping, or on the way) is reported as
/// [`ErrorKind::Symlink`], never as not-found — a caller that treats
/// not-found as "create it" must not be told a planted link is missing.
fn fs_7_symlink_is_not_reported_as_missing(r: Resolver) {
    let sb = Sandbox::new();
    symlink("nowhere", &sb.root.join("dangling"));
    symlink(sb.outside.join("absent"), &sb.root.join("dangling-abs"));
    symlink("loop", &sb.root.join("loop"));
    symlink("nodir", &sb.root.join("dangling-dir"));
    let root = sb.open(r);
    for name in ["dangling", "dangling-abs", "loop"] {
        expect_refusal(root.read(name, LIMIT), ErrorKind::Symlink, name);
        expect_refusal(root.write_atomic(name, b"x", &WriteOptions::new()), ErrorKind::Symlink, name);
        expect_refusal(root.lock(name, LockMode::Shared, None), ErrorKind::Symlink, name);
    }
    for path in ["dangling-dir/x", "loop/x", "dangling/x/y"] {
        expect_refusal(root.read(path, LIMIT), ErrorKind::Symlink, path);
        expect_refusal(root.metadata(path), ErrorKind::Symlink, path);
        expect_refusal(root.list(path), ErrorKind::Symlink, path);
        expect_refusal(root.remove(path), ErrorKind::Symlink, path);
    }
    assert!(!sb.outside.join("absent").exists());
}

both_resolvers! {
    /// THREATS FS-7: a symlink is reported as a symlink, not as missing.
    fs_7_symlink_is_not_reported_as_missing =>
    fs_7_symlink_is_not_reported_as_missing_openat2, fs_7_symlink_is_not_reported_as_missing_walk
}

/// THREATS FS-7: a regular file in the middle of a path gives
/// [`ErrorKind::NotADirectory`], not not-found.
fn fs_7_file_in_the_middle_is_not_a_directory(r: Resolver) {
    let sb = Sandbox::new();
    std::fs::write(sb.root.join("f"), b"f").unwrap();
    let root = sb.open(r);
    for path in ["f/x", "f/x/y"] {
        expect_err(root.read(path, LIMIT), ErrorKind::NotADirectory, path);
        expect_err(root.write_atomic(path, b"x", &WriteOptions::new()), ErrorKind::NotADirectory, path);
        expect_err(root.metadata(path), ErrorKind::NotADirectory, path);
        expect_err(root.mkdir_all(path, 0o700), ErrorKind::NotADirectory, path);
        expect_err(root.list(path), ErrorKind::NotADirectory, path);
    }
    assert_eq!(std::fs::read(sb.root.join("f")).unwrap(), b"f");
}

both_resolvers! {
    /// THREATS FS-7: a file in the middle of the path is not-a-directory.
    fs_7_file_in_the_middle_is_not_a_directory =>
    fs_7_file_in_the_middle_is_not_a_directory_openat2, fs_7_file_in_the_middle_is_not_a_directory_walk
}

/// Helper child (runs as uid 65534): reads and inspects entries it may not
/// access and reports each outcome as `"label kind errno"`.
fn child_eacces(args: &[String]) -> Vec<String> {
    let [dir, resolver] = args else { panic!("eacces args: {args:?}") };
    let root = Root::open(dir, &policy(resolver.parse().unwrap())).unwrap();
    let w = WriteOptions::new();
    vec![
        format!("read_unreadable {}", report(&root.read("unreadable", LIMIT))),
        format!("read_behind_locked {}", report(&root.read("locked/x", LIMIT))),
        format!("read_absent_behind_locked {}", report(&root.read("locked/absent", LIMIT))),
        format!("meta_behind_locked {}", report(&root.metadata("locked/x"))),
        format!("list_locked {}", report(&root.list("locked"))),
        format!("write_behind_locked {}", report(&root.write_atomic("locked/new", b"x", &w))),
        format!("read_absent {}", report(&root.read("absent", LIMIT))),
        format!("read_readable {}", report(&root.read("readable", LIMIT))),
    ]
}

/// THREATS FS-7 (EACCES is not "missing"): a child running as uid 65534
/// opens a root it owns holding a root-owned 0600 file and a root-owned
/// 0700 directory. Reading the file, or anything behind the directory —
/// even a name that does not exist there — fails with an I/O error carrying
/// `EACCES`, never not-found; only a truly absent file is not-found.
fn fs_7_permission_denied_is_not_missing(r: Resolver) {
    let sb = Sandbox::new();
    chmod(sb.tmp(), 0o755);
    chown(&sb.root, NOBODY);
    std::fs::write(sb.root.join("unreadable"), b"root's").unwrap();
    chmod(&sb.root.join("unreadable"), 0o600);
    std::fs::write(sb.root.join("readable"), b"shared").unwrap();
    chmod(&sb.root.join("readable"), 0o644);
    mkdir(&sb.root.join("locked"), 0o700);
    std::fs::write(sb.root.join("locked/x"), b"x").unwrap();
    let before = snapshot(&sb.root);

    let lines = run_helper("eacces", &[sb.root.display().to_string(), resolver_name(r).into()], Some(NOBODY));
    let eacces = format!("io {}", rustix::io::Errno::ACCESS.raw_os_error());
    let enoent = format!("not_found {}", rustix::io::Errno::NOENT.raw_os_error());
    let want = [
        ("read_unreadable", eacces.as_str()),
        ("read_behind_locked", &eacces),
        ("read_absent_behind_locked", &eacces),
        ("meta_behind_locked", &eacces),
        ("list_locked", &eacces),
        ("write_behind_locked", &eacces),
        ("read_absent", &enoent),
        ("read_readable", "ok"),
    ];
    for (label, expected) in want {
        let got =
            lines.iter().find_map(|l| l.strip_prefix(&format!("{label} "))).unwrap_or_else(|| panic!("{lines:?}"));
        assert_eq!(got, expected, "{label} (all: {lines:?})");
    }
    assert_same_tree(&before, &snapshot(&sb.root), "FS-7: nothing written");
}

both_resolvers! {
    /// THREATS FS-7: permission denied is reported as it is, not as missing.
    fs_7_permission_denied_is_not_missing =>
    fs_7_permission_denied_is_not_missing_openat2, fs_7_permission_denied_is_not_missing_walk
}

/// THREATS FS-7: only a truly absent entry is [`ErrorKind::NotFound`] (with
/// `ENOENT`), for a missing file and a missing parent.
fn fs_7_only_absent_is_not_found(r: Resolver) {
    let sb = Sandbox::new();
    mkdir(&sb.root.join("d"), 0o700);
    let root = sb.open(r);
    for path in ["absent", "d/absent", "nodir/absent"] {
        for e in [
            expect_err(root.read(path, LIMIT), ErrorKind::NotFound, path),
            expect_err(root.metadata(path), ErrorKind::NotFound, path),
            expect_err(root.remove(path), ErrorKind::NotFound, path),
        ] {
            assert_eq!(e.raw_os_error(), Some(rustix::io::Errno::NOENT.raw_os_error()), "{path}: {e}");
            assert!(!e.kind().is_security_refusal());
        }
    }
    expect_err(root.write_atomic("nodir/absent", b"x", &WriteOptions::new()), ErrorKind::NotFound, "write");
    expect_err(root.list("nodir"), ErrorKind::NotFound, "list");
}

both_resolvers! {
    /// THREATS FS-7: only ENOENT is not-found.
    fs_7_only_absent_is_not_found =>
    fs_7_only_absent_is_not_found_openat2, fs_7_only_absent_is_not_found_walk
}

// ============================================================================
// FS-8: re-check before hand-off
// ============================================================================

/// THREATS FS-8: `verify()` passes on an unchanged root (also after writes
/// inside it, which do not change the directory's identity).
fn fs_8_verify_passes_on_unchanged_root(r: Resolver) {
    let sb = Sandbox::new();
    let root = sb.open(r);
    root.verify().unwrap();
    root.write_atomic("unit.service", b"[Unit]\n", &WriteOptions::new()).unwrap();
    root.mkdir_all("a/b", 0o700).unwrap();
    root.verify().unwrap();
    root.open_dir("a/b").unwrap().verify().unwrap();
}

both_resolvers! {
    /// THREATS FS-8: verify passes on an unchanged root.
    fs_8_verify_passes_on_unchanged_root =>
    fs_8_verify_passes_on_unchanged_root_openat2, fs_8_verify_passes_on_unchanged_root_walk
}

/// THREATS FS-8: after the directory at the root's path is swapped — moved
/// away and replaced by a fresh private directory, or exchanged atomically
/// (`renameat2(RENAME_EXCHANGE)`) with a look-alike — `verify()` fails with
/// [`ErrorKind::RootChanged`], even though the new directory is itself
/// perfectly private.
fn fs_8_verify_fails_after_root_swapped(r: Resolver) {
    let sb = Sandbox::new();
    let root = sb.open(r);
    std::fs::rename(&sb.root, sb.tmp().join("root.old")).unwrap();
    mkdir(&sb.root, 0o700);
    let e = expect_refusal(root.verify(), ErrorKind::RootChanged, "verify after rename + mkdir");
    assert_eq!(e.path(), sb.root);
    assert!(e.fix().is_some());

    let sb = Sandbox::new();
    let root = sb.open(r);
    let decoy = sb.tmp().join("decoy");
    mkdir(&decoy, 0o700);
    rustix::fs::renameat_with(rustix::fs::CWD, &sb.root, rustix::fs::CWD, &decoy, rustix::fs::RenameFlags::EXCHANGE)
        .unwrap();
    expect_refusal(root.verify(), ErrorKind::RootChanged, "verify after RENAME_EXCHANGE");
    // Swapped back, it is the same directory again.
    rustix::fs::renameat_with(rustix::fs::CWD, &sb.root, rustix::fs::CWD, &decoy, rustix::fs::RenameFlags::EXCHANGE)
        .unwrap();
    root.verify().unwrap();
}

both_resolvers! {
    /// THREATS FS-8: verify fails with RootChanged after the root is swapped.
    fs_8_verify_fails_after_root_swapped =>
    fs_8_verify_fails_after_root_swapped_openat2, fs_8_verify_fails_after_root_swapped_walk
}

/// THREATS FS-8: after an ancestor of the root is made world-writable (0777,
/// no sticky bit) — or the root itself, or the ancestor is given to another
/// user — `verify()` fails with [`ErrorKind::InsecureDirectory`] naming it.
fn fs_8_verify_fails_after_chain_made_insecure(r: Resolver) {
    let sb = Sandbox::new();
    let anc = sb.tmp().join("home");
    mkdir(&anc, 0o755);
    mkdir(&anc.join("app"), 0o700);
    let root = Root::open(anc.join("app"), &policy(r)).unwrap();
    root.verify().unwrap();

    chmod(&anc, 0o777);
    let e = expect_refusal(root.verify(), ErrorKind::InsecureDirectory, "ancestor made 0777");
    assert_insecure(&e, &anc, 0, 0o777, "chmod go-w");
    chmod(&anc, 0o755);
    root.verify().unwrap();

    chown(&anc, NOBODY);
    let e = expect_refusal(root.verify(), ErrorKind::InsecureDirectory, "ancestor given to 65534");
    assert_insecure(&e, &anc, NOBODY, 0o755, "chown");
    chown(&anc, 0);
    root.verify().unwrap();

    chmod(&anc.join("app"), 0o777);
    let e = expect_refusal(root.verify(), ErrorKind::InsecureDirectory, "root made 0777");
    assert_insecure(&e, &anc.join("app"), 0, 0o777, "chmod go-w");
}

both_resolvers! {
    /// THREATS FS-8: verify fails with InsecureDirectory once the chain is
    /// made insecure.
    fs_8_verify_fails_after_chain_made_insecure =>
    fs_8_verify_fails_after_chain_made_insecure_openat2, fs_8_verify_fails_after_chain_made_insecure_walk
}

/// The sandbox's top directory is private; make sure the test setup itself
/// is what the tests assume (tempfile dirs are 0700 and ours).
#[test]
fn sandbox_is_private() {
    let sb = Sandbox::new();
    let md = std::fs::metadata(sb.tmp()).unwrap();
    assert_eq!(md.permissions().mode() & 0o7777, 0o700);
    assert_eq!(md.uid(), rustix::process::geteuid().as_raw());
}

// ============================================================================
// FS-9: files whose content gw trusts; FS-10: creating a root
// ============================================================================

/// THREATS FS-9: `Root::read_trusted` refuses a file owned by another user
/// (even 0600) or writable by group/other (even root's), naming the owner,
/// the mode and the fix; the bytes are not returned. A file of the caller's
/// or of root's, 0644 or 0600, is read. (A verified directory does not
/// protect a 0666 file in it: anyone could have written its content.)
fn fs_9_read_trusted_refuses_foreign_or_writable_files(r: Resolver) {
    let sb = Sandbox::new();
    let root = sb.open(r);
    for (name, mode, owner, fix) in [
        ("w666", 0o666, 0, "chmod go-w"),
        ("w620", 0o620, 0, "chmod go-w"),
        ("w602", 0o602, 0, "chmod go-w"),
        ("foreign", 0o600, NOBODY, "chown"),
        ("both", 0o646, NOBODY, "chown"),
    ] {
        let p = sb.root.join(name);
        std::fs::write(&p, b"1234\n").unwrap();
        chmod(&p, mode);
        chown(&p, owner);
        let e = expect_refusal(root.read_trusted(name, 64), ErrorKind::InsecureFile, name);
        assert_eq!(e.path(), p, "{e}");
        let text = e.to_string();
        assert!(text.contains(&format!("{mode:04o}")) && text.contains(&format!("uid {owner}")), "{text}");
        assert!(e.fix().is_some_and(|f| f.contains(fix)), "{name}: {e}");
        // The plain read is unchanged: only trusted reads apply the rule.
        assert_eq!(root.read(name, 64).unwrap(), b"1234\n");
    }
    for (name, mode) in [("ok644", 0o644), ("ok600", 0o600), ("ok400", 0o400)] {
        let p = sb.root.join(name);
        std::fs::write(&p, b"5678\n").unwrap();
        chmod(&p, mode);
        let (bytes, meta) = root.read_trusted(name, 64).unwrap();
        assert_eq!((bytes.as_slice(), meta.mode), (&b"5678\n"[..], mode));
    }
}

both_resolvers! {
    /// THREATS FS-9: a file others own or can write is not trusted.
    fs_9_read_trusted_refuses_foreign_or_writable_files =>
    fs_9_read_trusted_refuses_foreign_or_writable_files_openat2, fs_9_read_trusted_refuses_foreign_or_writable_files_walk
}

/// THREATS FS-10: `Root::open_or_create` creates nothing through a symlink
/// uid 65534 planted in a sticky world-writable directory (a parent of the
/// new root; refused, the link's target unchanged), nor in a directory uid
/// 65534 planted at the name; it creates a missing root (and parents) 0700
/// directly in the sticky directory and opens an existing one unchanged.
fn fs_10_open_or_create_never_creates_through_a_link(r: Resolver) {
    let sb = Sandbox::new();
    let sticky = sb.tmp().join("sticky");
    mkdir(&sticky, 0o700);
    chmod(&sticky, 0o1777);
    symlink(&sb.outside, &sticky.join("link"));
    chown(&sticky.join("link"), NOBODY);
    mkdir(&sticky.join("planted"), 0o700);
    chown(&sticky.join("planted"), NOBODY);
    let before = sb.outside_snapshot();
    let p = policy(r);
    for rel in ["link/new", "link/a/b/new", "link"] {
        expect_refusal(Root::open_or_create(sticky.join(rel), 0o700, &p), ErrorKind::Symlink, rel);
    }
    for rel in ["planted", "planted/new"] {
        expect_refusal(Root::open_or_create(sticky.join(rel), 0o700, &p), ErrorKind::InsecureDirectory, rel);
    }
    sb.assert_outside_unchanged(&before, "FS-10: open_or_create through a planted link");
    assert_eq!(std::fs::read_dir(sticky.join("planted")).unwrap().count(), 0);
    // Insecure modes are refused before anything is created.
    expect_refusal(Root::open_or_create(sticky.join("wide"), 0o777, &p), ErrorKind::InsecureDirectory, "0777");
    assert!(!sticky.join("wide").exists());

    let root = Root::open_or_create(sticky.join("x/y/z"), 0o700, &p).unwrap();
    assert_eq!(root.path(), sticky.join("x/y/z"));
    for d in ["x", "x/y", "x/y/z"] {
        let md = std::fs::symlink_metadata(sticky.join(d)).unwrap();
        assert_eq!((md.is_dir(), md.mode() & 0o7777, md.uid()), (true, 0o700, 0), "{d}");
    }
    std::fs::write(sticky.join("x/y/z/keep"), b"k").unwrap();
    let again = Root::open_or_create(sticky.join("x/y/z"), 0o700, &p).unwrap();
    assert_eq!(again.read("keep", 8).unwrap(), b"k");
}

both_resolvers! {
    /// THREATS FS-10: no directory is created through a symlinked parent.
    fs_10_open_or_create_never_creates_through_a_link =>
    fs_10_open_or_create_never_creates_through_a_link_openat2, fs_10_open_or_create_never_creates_through_a_link_walk
}
