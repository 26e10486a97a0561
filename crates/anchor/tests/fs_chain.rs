//! The walk from `/` to a root (`Root::open` and `audit_chain`; `Root::verify`
//! is tested in `fs_threats.rs`, FS-2 and FS-8): `..` taken after links as the kernel
//! takes it, the bound on links followed, a root reached through `..` checked
//! as a root, a file named as a root, and an audit that reports every problem
//! instead of stopping at the first (THREATS FS-5).
//!
//! The suite runs as root, so the links made here are root-owned in
//! root-owned directories: the only links followed on the way to a root.

use gw_test_support as common;
use gw_test_support::both_resolvers;

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use gw_anchor::{ErrorKind, Resolver, Root, WriteOptions};

/// `Root::open` on another thread, bounded: a walk that never ends fails the
/// test instead of hanging it.
fn open_bounded(path: PathBuf, r: Resolver) -> gw_anchor::Result<Root> {
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(Root::open(&path, &policy(r)));
    });
    rx.recv_timeout(Duration::from_secs(20)).expect("Root::open did not return within 20 s")
}

/// Writes `name` through `root` and reports whether it landed in `dir`.
fn lands_in(root: &Root, dir: &Path, name: &str) -> bool {
    root.write_atomic(name, b"here", &WriteOptions::new()).unwrap();
    std::fs::read(dir.join(name)).is_ok_and(|b| b == b"here")
}

/// `..` in the path to a root pops the directory walked so far (after a
/// link, the link's target, as the kernel does), and `..` at `/` stays at
/// `/`.
fn dotdot_is_taken_as_the_kernel_takes_it(r: Resolver) {
    let sb = Sandbox::new();
    let tmp = sb.tmp();
    mkdir(&tmp.join("a"), 0o700);
    let root = Root::open(tmp.join("a/../root"), &policy(r)).unwrap();
    assert!(lands_in(&root, &sb.root, "via-dotdot"));

    let from_slash = PathBuf::from(format!("/../..{}", sb.root.display()));
    let root = Root::open(&from_slash, &policy(r)).unwrap();
    assert!(lands_in(&root, &sb.root, "via-slash-dotdot"));

    // `link/..` is the parent of the link's target, not `tmp`.
    symlink(sb.outside.join("sub"), &tmp.join("to-sub"));
    let root = Root::open(tmp.join("to-sub/.."), &policy(r)).unwrap();
    assert!(lands_in(&root, &sb.outside, "via-link-dotdot"));
}

both_resolvers! {
    /// `..` on the way to a root.
    dotdot_is_taken_as_the_kernel_takes_it =>
    dotdot_is_taken_as_the_kernel_takes_it_openat2, dotdot_is_taken_as_the_kernel_takes_it_walk
}

/// A root reached through a final `..` is checked as a root, not as an
/// ancestor: a sticky shared directory (fine on the way, like `/tmp`) is
/// refused as `S/app/..` as it is as `S`; the audit reports it once, as
/// the root.
fn a_root_reached_through_dotdot_is_checked_as_a_root(r: Resolver) {
    let sb = Sandbox::new();
    let shared = sb.tmp().join("shared");
    mkdir(&shared, 0o1777);
    mkdir(&shared.join("app"), 0o700);
    Root::open(shared.join("app"), &policy(r)).unwrap();
    for path in [shared.clone(), shared.join("app/..")] {
        let ctx = path.display().to_string();
        let e = expect_refusal(Root::open(&path, &policy(r)), ErrorKind::InsecureDirectory, &ctx);
        assert_eq!(e.path(), shared, "{ctx}: {e}");
        assert!(e.to_string().contains("writable by group and others"), "{ctx}: {e}");

        let steps = gw_anchor::audit_chain(&path, &policy(r)).unwrap();
        let roots: Vec<_> = steps.iter().filter(|s| s.is_root).collect();
        assert_eq!(roots.len(), 1, "{ctx}: {steps:#?}");
        assert_eq!(roots[0].path, shared, "{ctx}: {steps:#?}");
        assert!(roots[0].problem.as_deref().is_some_and(|p| p.contains("writable")), "{ctx}: {steps:#?}");
        assert!(steps.last().unwrap().is_root, "{ctx}: {steps:#?}");
    }
}

both_resolvers! {
    /// A root reached through `..` is checked as a root.
    a_root_reached_through_dotdot_is_checked_as_a_root =>
    a_root_reached_through_dotdot_is_checked_as_a_root_openat2, a_root_reached_through_dotdot_is_checked_as_a_root_walk
}

/// At most 40 links are followed on the way to a root, as the kernel
/// follows (`ELOOP` past that); a loop of links ends there too.
fn links_to_a_root_are_followed_at_most_forty_times(r: Resolver) {
    let sb = Sandbox::new();
    let tmp = sb.tmp();
    // chain-N/l1 -> l2 -> ... -> lN -> the root
    let chain = |n: usize| {
        let dir = tmp.join(format!("chain-{n}"));
        mkdir(&dir, 0o700);
        for i in 1..n {
            symlink(format!("l{}", i + 1), &dir.join(format!("l{i}")));
        }
        symlink(&sb.root, &dir.join(format!("l{n}")));
        dir.join("l1")
    };
    let root = open_bounded(chain(40), r).expect("40 links are followed");
    assert!(lands_in(&root, &sb.root, "after-40-links"));
    let too_many = |e: gw_anchor::Error, path: &Path, ctx: &str| {
        assert_eq!(e.kind(), ErrorKind::InvalidPath, "{ctx}: not a refusal of an untrusted link: {e}");
        assert_eq!(e.raw_os_error(), Some(rustix::io::Errno::LOOP.raw_os_error()), "{ctx}: {e}");
        assert!(e.to_string().contains("more than 40 symbolic links on the way to the root"), "{ctx}: {e}");
        assert!(e.fix().is_some_and(|f| f.contains(&format!("`namei -l {}`", path.display()))), "{ctx}: {e}");
    };
    let long = chain(41);
    too_many(open_bounded(long.clone(), r).expect_err("41 links"), &long, "41 links");

    symlink("loop-b", &tmp.join("loop-a"));
    symlink("loop-a", &tmp.join("loop-b"));
    let looped = tmp.join("loop-a");
    too_many(open_bounded(looped.clone(), r).expect_err("a loop"), &looped, "a loop of links");
}

both_resolvers! {
    /// The bound on links followed to a root.
    links_to_a_root_are_followed_at_most_forty_times =>
    links_to_a_root_are_followed_at_most_forty_times_openat2, links_to_a_root_are_followed_at_most_forty_times_walk
}

/// A file named as a root is "not a directory", with the fix naming the
/// directory that holds it and the name to give beneath it.
fn a_file_named_as_a_root_says_which_directory_to_use(r: Resolver) {
    let sb = Sandbox::new();
    let file = sb.root.join("config.json");
    std::fs::write(&file, b"{}").unwrap();
    let e = expect_err(Root::open(&file, &policy(r)), ErrorKind::NotADirectory, "a file as a root");
    let fix =
        format!("give the directory that holds it (`{}`) and `config.json` as the path beneath it", sb.root.display());
    assert!(e.fix().is_some_and(|f| f.contains(&fix)), "{e}");
    // A file in the middle of the path is not a root's problem: no such fix.
    let e = expect_err(Root::open(file.join("sub"), &policy(r)), ErrorKind::NotADirectory, "a file in the middle");
    assert!(!e.fix().unwrap_or_default().contains("give the directory"), "{e}");
}

both_resolvers! {
    /// A file named as a root.
    a_file_named_as_a_root_says_which_directory_to_use =>
    a_file_named_as_a_root_says_which_directory_to_use_openat2, a_file_named_as_a_root_says_which_directory_to_use_walk
}

/// `audit_chain` reports every step and every problem where `Root::open`
/// stops at the first: a group-writable directory on the way, then the
/// root beneath it; a link owned by another user is reported with its
/// target and not followed (the audit ends there).
fn an_audit_reports_each_problem_and_keeps_going(r: Resolver) {
    let sb = Sandbox::new();
    let tmp = sb.tmp();
    let open = tmp.join("open");
    mkdir(&open, 0o770);
    mkdir(&open.join("app"), 0o770);
    let e = expect_refusal(Root::open(open.join("app"), &policy(r)), ErrorKind::InsecureDirectory, "group-writable");
    assert_eq!(e.path(), open, "the first problem: {e}");
    let steps = gw_anchor::audit_chain(&open.join("app"), &policy(r)).unwrap();
    let problems: Vec<(&Path, &str)> =
        steps.iter().filter_map(|s| Some((s.path.as_path(), s.problem.as_deref()?))).collect();
    assert_eq!(problems.len(), 2, "{steps:#?}");
    assert_eq!(problems[0].0, open);
    assert_eq!(problems[1].0, open.join("app"));
    assert!(problems.iter().all(|(_, p)| p.contains("writable by group/other (mode 0770)")), "{problems:?}");
    let last = steps.last().unwrap();
    assert!(last.is_root && last.path == open.join("app"), "{steps:#?}");

    let link = tmp.join("theirs");
    symlink(&sb.root, &link);
    chown(&link, NOBODY);
    let e = expect_refusal(Root::open(&link, &policy(r)), ErrorKind::Symlink, "another user's link");
    assert!(e.fix().is_some_and(|f| f.contains(&format!("the link points to `{}`", sb.root.display()))), "{e}");
    let steps = gw_anchor::audit_chain(&link, &policy(r)).unwrap();
    let last = steps.last().unwrap();
    assert_eq!(last.path, link, "the audit stops at the link: {steps:#?}");
    assert_eq!(last.link_target.as_deref(), Some(sb.root.as_path()));
    assert!(last.problem.as_deref().is_some_and(|p| p.contains(&format!("owned by uid {NOBODY}"))), "{steps:#?}");
    assert!(!steps.iter().any(|s| s.path == sb.root), "not followed: {steps:#?}");
}

both_resolvers! {
    /// An audit reports every problem.
    an_audit_reports_each_problem_and_keeps_going =>
    an_audit_reports_each_problem_and_keeps_going_openat2, an_audit_reports_each_problem_and_keeps_going_walk
}

/// The descriptor a root holds is close-on-exec, so a program gw starts
/// (a service manager's tool, a gateway) never inherits a handle on it.
fn a_root_s_descriptor_is_not_inherited(r: Resolver) {
    let sb = Sandbox::new();
    mkdir(&sb.root.join("sub"), 0o700);
    let root = sb.open(r);
    let sub = root.open_dir("sub").unwrap();
    for (what, fd) in [("root", root.as_fd()), ("open_dir", sub.as_fd())] {
        let flags = rustix::io::fcntl_getfd(fd).unwrap();
        assert!(flags.contains(rustix::io::FdFlags::CLOEXEC), "{what}: {flags:?}");
    }
}

both_resolvers! {
    /// A root's descriptor is close-on-exec.
    a_root_s_descriptor_is_not_inherited =>
    a_root_s_descriptor_is_not_inherited_openat2, a_root_s_descriptor_is_not_inherited_walk
}
