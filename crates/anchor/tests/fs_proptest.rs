//! Property tests: random trees (directories, files, symlinks to inside,
//! outside, absolute and dangling targets) and random relative paths over a
//! small alphabet (`a`, `b`, `c`, link names, `.`, `..`, empty components, a
//! leading or trailing slash), with `read`, `write_atomic`, `metadata` and
//! `mkdir_all` applied in sequence.
//!
//! Properties, after every operation, on both resolvers:
//! - **never an escape**: the tree outside the root is byte-for-byte
//!   unchanged, and nothing new appears next to the root;
//! - **a success lands inside, at the lexical path**: a read returns the
//!   bytes of the regular file at the path's lexical components reached
//!   through real directories only (and those bytes are one of the inside
//!   files' contents); a write put exactly its bytes there and changed
//!   nothing else; a mkdir made real directories along the path and nothing
//!   else; metadata describes that very entry (same inode);
//! - **a failure is a refusal or an honest error**: a security refusal, or
//!   NotFound / NotADirectory / InvalidPath / AlreadyExists — and it changed
//!   nothing in the root;
//! - **both resolvers agree**: the same tree and the same operations give the
//!   same outcomes and the same resulting tree on openat2 and on the walk.

use gw_test_support as common;

use std::collections::BTreeSet;
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use common::*;
use gw_anchor::{ErrorKind, Resolver, Root, WriteOptions};
use proptest::prelude::*;

/// Names used in trees and paths. `l` and `m` are usually links.
const NAMES: [&str; 5] = ["a", "b", "c", "l", "m"];

/// Link targets, relative to the link's directory; `$OUT` is the absolute
/// path of the sandbox's `outside/`.
const TARGETS: [&str; 14] = [
    "a",
    "b/c",
    ".",
    "..",
    "../a",
    "../outside",
    "../outside/secret",
    "../../outside/secret",
    "$OUT",
    "$OUT/secret",
    "$OUT/sub",
    "zz",
    "l",
    "/etc/hostname",
];

#[derive(Debug, Clone)]
enum Kind {
    Dir,
    File,
    Link(usize),
}

/// One entry to create: its path (1-3 names) and what it is.
#[derive(Debug, Clone)]
struct Entry {
    path: Vec<usize>,
    kind: Kind,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Write,
    Meta,
    Mkdir,
}

fn entry() -> impl Strategy<Value = Entry> {
    let kind = prop_oneof![
        3 => Just(Kind::Dir),
        3 => Just(Kind::File),
        4 => (0..TARGETS.len()).prop_map(Kind::Link),
    ];
    (prop::collection::vec(0..NAMES.len(), 1..=3), kind).prop_map(|(path, kind)| Entry { path, kind })
}

/// A relative path over the alphabet, sometimes with a leading or trailing
/// slash.
fn random_path() -> impl Strategy<Value = String> {
    let token = prop_oneof![
        12 => (0..NAMES.len()).prop_map(|i| NAMES[i].to_owned()),
        1 => Just(".".to_owned()),
        1 => Just("..".to_owned()),
        1 => Just(String::new()),
    ];
    (prop::collection::vec(token, 1..=4), 0..30u8).prop_map(|(tokens, deco)| {
        let p = tokens.join("/");
        match deco {
            0 => format!("/{p}"),
            1 | 2 => format!("{p}/"),
            _ => p,
        }
    })
}

/// How an operation's path is chosen: at random over the alphabet, or from
/// one of the tree's entries (so that many operations hit something),
/// decorated.
#[derive(Debug, Clone)]
enum PathSpec {
    Random(String),
    Entry(prop::sample::Index, u8),
}

fn path_spec() -> impl Strategy<Value = PathSpec> {
    prop_oneof![
        1 => random_path().prop_map(PathSpec::Random),
        1 => (any::<prop::sample::Index>(), 0..8u8).prop_map(|(i, d)| PathSpec::Entry(i, d)),
    ]
}

/// The path a spec names, given the entries actually made (as paths).
fn resolve_spec(spec: &PathSpec, made: &[String]) -> String {
    match spec {
        PathSpec::Random(p) => p.clone(),
        PathSpec::Entry(_, _) if made.is_empty() => "a".to_owned(),
        PathSpec::Entry(i, deco) => {
            let p = i.get(made).clone();
            let names: Vec<&str> = p.split('/').collect();
            match deco {
                0 => format!("./{p}"),
                1 => names.join("//"),
                2 => format!("{p}/"),
                3 => format!("{p}/a"),
                4 => format!("{p}/../a"),
                _ => p,
            }
        }
    }
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![Just(Op::Read), Just(Op::Write), Just(Op::Meta), Just(Op::Mkdir)]
}

/// Builds the tree in `sb.root`, skipping entries whose parent is not a real
/// directory or whose name is taken. Returns the contents of the files made,
/// and the paths of the entries made.
fn build(sb: &Sandbox, entries: &[Entry]) -> (BTreeSet<Vec<u8>>, Vec<String>) {
    // Outside, names from the same alphabet, so that a followed link
    // (`l -> ../outside`, then `l/a`) would meet them.
    std::fs::write(sb.outside.join("a"), OUTSIDE_SECRET).unwrap();
    mkdir(&sb.outside.join("b"), 0o700);
    std::fs::write(sb.outside.join("b/c"), OUTSIDE_SECRET).unwrap();
    let mut contents = BTreeSet::new();
    let mut made = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        let rel: PathBuf = e.path.iter().map(|&n| NAMES[n]).collect();
        let full = sb.root.join(&rel);
        let parent_ok = std::fs::symlink_metadata(full.parent().unwrap()).is_ok_and(|m| m.file_type().is_dir());
        if !parent_ok || std::fs::symlink_metadata(&full).is_ok() {
            continue;
        }
        made.push(rel.to_str().unwrap().to_owned());
        match e.kind {
            Kind::Dir => mkdir(&full, 0o700),
            Kind::File => {
                let body = format!("inside file {} #{i}\n", rel.display()).into_bytes();
                std::fs::write(&full, &body).unwrap();
                contents.insert(body);
            }
            Kind::Link(t) => {
                let target = TARGETS[t].replace("$OUT", sb.outside.to_str().unwrap());
                symlink(target, &full);
            }
        }
    }
    (contents, made)
}

/// The outcome of one operation, comparable across resolvers.
fn run(root: &Root, op: Op, path: &str, body: &[u8]) -> Result<Option<Vec<u8>>, ErrorKind> {
    let res = match op {
        Op::Read => root.read(path, 1 << 16).map(Some),
        Op::Write => {
            root.write_atomic(path, body, &WriteOptions::new().durability(gw_anchor::Durability::NoSync)).map(|()| None)
        }
        Op::Meta => root.metadata(path).map(|m| Some(format!("{:?} {}", m.kind, m.ino).into_bytes())),
        Op::Mkdir => root.mkdir_all(path, 0o700).map(|()| None),
    };
    res.map_err(|e| e.kind())
}

/// Applies the ops on one resolver, checking every property after each;
/// returns the outcomes (inode numbers left out) and the final root tree.
fn apply(r: Resolver, entries: &[Entry], specs: &[(Op, PathSpec)]) -> Result<(Vec<String>, Snapshot), TestCaseError> {
    let sb = Sandbox::new();
    let (mut contents, made) = build(&sb, entries);
    let ops: Vec<(Op, String)> = specs.iter().map(|(op, s)| (*op, resolve_spec(s, &made))).collect();
    let root = sb.open(r);
    let outside_before = sb.outside_snapshot();
    let mut outcomes = Vec::new();
    for (i, (op, path)) in ops.iter().enumerate() {
        let ctx = format!("{r:?} op #{i} {op:?} {path:?}");
        let before = snapshot(&sb.root);
        let body = format!("written by op #{i} {op:?} {path}\n").into_bytes();
        let res = run(&root, *op, path, &body);
        sb.assert_outside_unchanged(&outside_before, &ctx);
        let after = snapshot(&sb.root);

        match &res {
            Err(kind) => {
                let allowed = kind.is_security_refusal()
                    || matches!(
                        kind,
                        ErrorKind::NotFound
                            | ErrorKind::NotADirectory
                            | ErrorKind::InvalidPath
                            | ErrorKind::AlreadyExists
                    );
                prop_assert!(allowed, "{}: unexpected error kind {:?}", ctx, kind);
                if before != after {
                    assert_same_tree(&before, &after, &format!("{ctx}: a failure must change nothing"));
                }
                outcomes.push(kind.as_str().to_owned());
                continue;
            }
            Ok(_) => outcomes.push("ok".to_owned()),
        }

        // A success: at the lexical path, reached through real directories.
        let comps = lexical(Path::new(path));
        prop_assert!(comps.is_some(), "{}: succeeded on a non-lexical path", ctx);
        let comps = comps.unwrap();
        let key: PathBuf = comps.iter().collect();
        let real = real_node(&sb.root, &comps);
        match (op, res) {
            (Op::Read, Ok(Some(bytes))) => {
                let Some(Node::File { content, .. }) = &real else {
                    return Err(TestCaseError::fail(format!("{ctx}: read, but the path holds {real:?}")));
                };
                prop_assert_eq!(&bytes, content, "{}", ctx);
                prop_assert!(contents.contains(&bytes), "{}: content is one of the inside files'", ctx);
                prop_assert!(bytes != OUTSIDE_SECRET, "{}: read the outside secret", ctx);
                prop_assert!(before == after, "{}: a read changed the tree", ctx);
            }
            (Op::Write, Ok(None)) => {
                let mut expect = before.clone();
                expect.insert(key, Node::File { mode: 0o600, uid: 0, nlink: 1, content: body.clone() });
                assert_same_tree(&expect, &after, &format!("{ctx}: a write changes only its target"));
                contents.insert(body);
            }
            (Op::Meta, Ok(Some(_))) => {
                let m = root.metadata(path).unwrap();
                let st = real_lstat(&sb.root, &comps);
                prop_assert!(st.is_some(), "{}: metadata of an unreachable path", ctx);
                let st = st.unwrap();
                prop_assert_eq!((m.dev, m.ino), (st_dev(&st), st.st_ino), "{}: metadata of another entry", ctx);
                prop_assert!(before == after, "{}: metadata changed the tree", ctx);
            }
            (Op::Mkdir, Ok(None)) => {
                prop_assert!(matches!(real, Some(Node::Dir { .. })), "{}: mkdir, but the path holds {:?}", ctx, real);
                for (p, n) in &after {
                    if before.get(p) != Some(n) {
                        let prefix = comps.starts_with(&p.iter().map(|c| c.to_owned()).collect::<Vec<OsString>>());
                        prop_assert!(prefix, "{}: mkdir touched {:?}", ctx, p);
                        prop_assert_eq!(n, &Node::Dir { mode: 0o700, uid: 0 }, "{}: {:?}", ctx, p);
                    }
                }
                prop_assert!(before.keys().all(|k| after.contains_key(k)), "{}: mkdir removed something", ctx);
            }
            (op, res) => return Err(TestCaseError::fail(format!("{ctx}: {op:?} returned {res:?}"))),
        }
    }
    // Normalise absolute link targets (each sandbox has its own path).
    let tmp = sb.tmp().to_path_buf();
    let tree = snapshot(&sb.root)
        .into_iter()
        .map(|(k, n)| match n {
            Node::Symlink { target } => {
                let target = target.strip_prefix(&tmp).map_or(target.clone(), |t| Path::new("$TMP").join(t));
                (k, Node::Symlink { target })
            }
            other => (k, other),
        })
        .collect();
    Ok((outcomes, tree))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    /// Random trees, random paths, read/write/metadata/mkdir in sequence:
    /// never an escape, successes land at the lexical path, failures are
    /// refusals or honest errors that change nothing, and both resolvers
    /// agree on every outcome and on the resulting tree.
    #[test]
    fn never_escapes_and_resolvers_agree(
        entries in prop::collection::vec(entry(), 0..24),
        specs in prop::collection::vec((op(), path_spec()), 1..8),
    ) {
        let (o1, t1) = apply(Resolver::Openat2, &entries, &specs)?;
        let (o2, t2) = apply(Resolver::Walk, &entries, &specs)?;
        prop_assert_eq!(&o1, &o2, "the resolvers disagree on outcomes");
        prop_assert!(t1 == t2, "the resolvers left different trees");
    }

    /// Reads only, many paths per tree: every successful read returns one of
    /// the inside files' contents, never the outside secret.
    #[test]
    fn reads_only_return_inside_content(
        entries in prop::collection::vec(entry(), 0..24),
        specs in prop::collection::vec(path_spec(), 1..24),
    ) {
        for r in RESOLVERS {
            let sb = Sandbox::new();
            let (contents, made) = build(&sb, &entries);
            let paths: Vec<String> = specs.iter().map(|s| resolve_spec(s, &made)).collect();
            let root = sb.open(r);
            for path in &paths {
                match root.read(path, 1 << 16) {
                    Ok(bytes) => {
                        prop_assert!(contents.contains(&bytes), "{:?} read {:?}: not an inside file", r, path);
                    }
                    Err(e) => {
                        let k = e.kind();
                        prop_assert!(
                            k.is_security_refusal()
                                || matches!(k, ErrorKind::NotFound | ErrorKind::NotADirectory | ErrorKind::InvalidPath),
                            "{:?} read {:?}: unexpected {}", r, path, e
                        );
                    }
                }
            }
        }
    }
}
