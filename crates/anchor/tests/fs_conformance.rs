//! Conformance table: path cases × operations, on both resolvers.
//!
//! Each row is a relative path and the expected outcome of `read`,
//! `write_atomic`, `metadata`, `list` and `mkdir_all` on it (`Ok`, `Ok` of a
//! given file kind for `metadata`, or an [`ErrorKind`]). Every (row,
//! operation, resolver) runs on a fresh copy of the same tree, in a thread
//! with a deadline (a FIFO at the target must not block), and is followed by
//! checks that hold whatever the row:
//! - nothing outside the root changed;
//! - a failure left the root exactly as it was (no temp, no partial dir);
//! - a success happened at the lexical path, reached without a symlink: a
//!   read returns that file's bytes, a write put its bytes there (and changed
//!   nothing else), a mkdir made that directory, a metadata call describes
//!   that entry (same inode), a list names its entries.
//!
//! Both resolvers must also agree on every outcome (they are checked against
//! the same table).

use gw_test_support as common;

use std::ffi::OsString;
use std::os::unix::ffi::{OsStrExt, OsStringExt};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::Duration;

use common::*;
use gw_anchor::{ErrorKind, FileKind, MAX_DEPTH, MAX_NAME_BYTES, MAX_PATH_BYTES, Resolver, Root, WriteOptions};

/// An expected outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Exp {
    /// Success (for `metadata`: of kind [`Exp::Is`] instead).
    Ok,
    /// `metadata` succeeds and reports this kind.
    Is(FileKind),
    /// Fails with this kind.
    Err(ErrorKind),
}

use Exp::{Is, Ok as OK};
const NF: Exp = Exp::Err(ErrorKind::NotFound);
const SYM: Exp = Exp::Err(ErrorKind::Symlink);
const ESC: Exp = Exp::Err(ErrorKind::Escape);
const INV: Exp = Exp::Err(ErrorKind::InvalidPath);
const NDIR: Exp = Exp::Err(ErrorKind::NotADirectory);
const NREG: Exp = Exp::Err(ErrorKind::NotRegularFile);
const FILE: Exp = Is(FileKind::File);
const DIR: Exp = Is(FileKind::Dir);
const LINK: Exp = Is(FileKind::Symlink);

/// One row: a path and the expected outcome of each operation.
#[derive(Debug, Clone)]
struct Row {
    what: &'static str,
    path: OsString,
    read: Exp,
    write: Exp,
    meta: Exp,
    list: Exp,
    mkdir: Exp,
}

fn row(what: &'static str, path: impl Into<OsString>, [read, write, meta, list, mkdir]: [Exp; 5]) -> Row {
    Row { what, path: path.into(), read, write, meta, list, mkdir }
}

/// The tree every case starts from (`outside/` is the sandbox's):
/// ```text
/// f          file          d/        dir       d/g      file     d/e/   dir
/// in -> f                  in_dir -> d
/// out -> ../outside/secret out_dir -> ../outside
/// abs -> $OUTSIDE/secret   abs_dir -> $OUTSIDE
/// dangling -> nope         loop -> loop         loop_a <-> loop_b
/// chain -> chain2 -> in -> f
/// fifo  sock  null (char device 1,3)
/// ```
fn build_tree(sb: &Sandbox) {
    let r = &sb.root;
    std::fs::write(r.join("f"), b"content of f").unwrap();
    mkdir(&r.join("d"), 0o700);
    std::fs::write(r.join("d/g"), b"content of d/g").unwrap();
    mkdir(&r.join("d/e"), 0o700);
    symlink("f", &r.join("in"));
    symlink("d", &r.join("in_dir"));
    symlink("../outside/secret", &r.join("out"));
    symlink("../outside", &r.join("out_dir"));
    symlink(sb.outside.join("secret"), &r.join("abs"));
    symlink(&sb.outside, &r.join("abs_dir"));
    symlink("nope", &r.join("dangling"));
    symlink("loop", &r.join("loop"));
    symlink("loop_b", &r.join("loop_a"));
    symlink("loop_a", &r.join("loop_b"));
    symlink("chain2", &r.join("chain"));
    symlink("in", &r.join("chain2"));
    mkfifo(&r.join("fifo"));
    mksocket(&r.join("sock"));
    mknod_null(&r.join("null"));
}

fn rows(sb: &Sandbox) -> Vec<Row> {
    let name255 = "n".repeat(MAX_NAME_BYTES);
    let name256 = "n".repeat(MAX_NAME_BYTES + 1);
    // 64 components of 63 bytes: exactly MAX_PATH_BYTES (4095) bytes.
    let longest = vec!["x".repeat(63); 64].join("/");
    assert_eq!(longest.len(), MAX_PATH_BYTES);
    let too_long = format!("{longest}y");
    let deepest = vec!["a"; MAX_DEPTH].join("/");
    let too_deep = vec!["a"; MAX_DEPTH + 1].join("/");
    let abs_outside = sb.outside.join("secret").into_os_string();
    let abs_inside = sb.root.join("f").into_os_string();

    //            path                         read   write  meta   list   mkdir
    vec![
        // plain and nested names
        row("plain file", "f", [OK, OK, FILE, NDIR, NDIR]),
        row("nested file", "d/g", [OK, OK, FILE, NDIR, NDIR]),
        row("directory", "d", [NREG, NREG, DIR, OK, OK]),
        row("nested directory", "d/e", [NREG, NREG, DIR, OK, OK]),
        row("absent", "new", [NF, OK, NF, NF, OK]),
        row("absent, nested", "d/new", [NF, OK, NF, NF, OK]),
        row("absent parent", "nodir/new", [NF, NF, NF, NF, OK]),
        // `.`, empty components, trailing slash
        row("root as `.`", ".", [INV, INV, DIR, OK, OK]),
        row("root as empty", "", [INV, INV, DIR, OK, OK]),
        row("root as `./`", "./", [INV, INV, DIR, OK, OK]),
        row("`./f`", "./f", [OK, OK, FILE, NDIR, NDIR]),
        row("`d/./g`", "d/./g", [OK, OK, FILE, NDIR, NDIR]),
        row("`d//g`", "d//g", [OK, OK, FILE, NDIR, NDIR]),
        row("`.//d/.//g`", ".//d/.//g", [OK, OK, FILE, NDIR, NDIR]),
        row("trailing slash on a file", "f/", [INV, INV, NDIR, NDIR, NDIR]),
        row("trailing `/.` on a file", "f/.", [INV, INV, NDIR, NDIR, NDIR]),
        row("trailing slash on a dir", "d/", [INV, INV, DIR, OK, OK]),
        row("trailing slash, absent", "new/", [INV, INV, NF, NF, OK]),
        // `..` and absolute paths
        row("`..`", "..", [ESC, ESC, ESC, ESC, ESC]),
        row("`../outside/secret`", "../outside/secret", [ESC, ESC, ESC, ESC, ESC]),
        row("`d/../f`", "d/../f", [ESC, ESC, ESC, ESC, ESC]),
        row("`d/..`", "d/..", [ESC, ESC, ESC, ESC, ESC]),
        row("`./..`", "./..", [ESC, ESC, ESC, ESC, ESC]),
        row("absolute, outside", abs_outside, [ESC, ESC, ESC, ESC, ESC]),
        row("absolute, inside", abs_inside, [ESC, ESC, ESC, ESC, ESC]),
        row("`/`", "/", [ESC, ESC, ESC, ESC, ESC]),
        // symlinks at the target
        row("symlink to inside file", "in", [SYM, SYM, LINK, SYM, SYM]),
        row("symlink to inside dir", "in_dir", [SYM, SYM, LINK, SYM, SYM]),
        row("symlink to outside", "out", [SYM, SYM, LINK, SYM, SYM]),
        row("symlink to outside dir", "out_dir", [SYM, SYM, LINK, SYM, SYM]),
        row("absolute symlink", "abs", [SYM, SYM, LINK, SYM, SYM]),
        row("absolute symlink to dir", "abs_dir", [SYM, SYM, LINK, SYM, SYM]),
        row("dangling symlink", "dangling", [SYM, SYM, LINK, SYM, SYM]),
        row("symlink loop (self)", "loop", [SYM, SYM, LINK, SYM, SYM]),
        row("symlink loop (pair)", "loop_a", [SYM, SYM, LINK, SYM, SYM]),
        row("chain of links", "chain", [SYM, SYM, LINK, SYM, SYM]),
        row("dir symlink, trailing slash", "in_dir/", [INV, INV, SYM, SYM, SYM]),
        row("outside dir link, trailing slash", "abs_dir/", [INV, INV, SYM, SYM, SYM]),
        // symlinks on the way
        row("via link to inside dir", "in_dir/g", [SYM, SYM, SYM, SYM, SYM]),
        row("via relative link outside", "out_dir/secret", [SYM, SYM, SYM, SYM, SYM]),
        row("via absolute link outside", "abs_dir/secret", [SYM, SYM, SYM, SYM, SYM]),
        row("via absolute link, deeper", "abs_dir/sub/secret2", [SYM, SYM, SYM, SYM, SYM]),
        row("via dangling link", "dangling/x", [SYM, SYM, SYM, SYM, SYM]),
        row("via loop", "loop/x", [SYM, SYM, SYM, SYM, SYM]),
        row("via chain", "chain/x", [SYM, SYM, SYM, SYM, SYM]),
        row("via link to a file", "in/x", [SYM, SYM, SYM, SYM, SYM]),
        // a file in the middle
        row("file in the middle", "f/x", [NDIR, NDIR, NDIR, NDIR, NDIR]),
        row("file in the middle, deeper", "f/x/y", [NDIR, NDIR, NDIR, NDIR, NDIR]),
        row("nested file in the middle", "d/g/x", [NDIR, NDIR, NDIR, NDIR, NDIR]),
        // special files at the target
        row("FIFO", "fifo", [NREG, NREG, Is(FileKind::Fifo), NDIR, NDIR]),
        row("socket", "sock", [NREG, NREG, Is(FileKind::Socket), NDIR, NDIR]),
        row("char device", "null", [NREG, NREG, Is(FileKind::CharDevice), NDIR, NDIR]),
        row("FIFO in the middle", "fifo/x", [NDIR, NDIR, NDIR, NDIR, NDIR]),
        row("socket in the middle", "sock/x", [NDIR, NDIR, NDIR, NDIR, NDIR]),
        row("device in the middle", "null/x", [NDIR, NDIR, NDIR, NDIR, NDIR]),
        // lengths and depth
        row("name of 255 bytes", name255.clone(), [NF, OK, NF, NF, OK]),
        row("nested name of 255 bytes", format!("d/{name255}"), [NF, OK, NF, NF, OK]),
        row("name of 256 bytes", name256.clone(), [INV, INV, INV, INV, INV]),
        row("nested name of 256 bytes", format!("d/{name256}"), [INV, INV, INV, INV, INV]),
        row("path of 4095 bytes", longest, [NF, NF, NF, NF, OK]),
        row("path of 4096 bytes", too_long, [INV, INV, INV, INV, INV]),
        row("path of 4096 bytes, mostly slashes", format!("a{}", "/".repeat(4095)), [INV, INV, INV, INV, INV]),
        row("absolute and too long: escape wins", "/".repeat(4096), [ESC, ESC, ESC, ESC, ESC]),
        row("`..` and too long: escape wins", format!("../{}", "x/".repeat(2100)), [ESC, ESC, ESC, ESC, ESC]),
        row("64 components", deepest, [NF, NF, NF, NF, OK]),
        row("65 components", too_deep, [INV, INV, INV, INV, INV]),
        row("NUL byte", OsString::from_vec(b"f\0x".to_vec()), [INV, INV, INV, INV, INV]),
        row("non-UTF-8 name", OsString::from_vec(b"caf\xe9".to_vec()), [NF, OK, NF, NF, OK]),
        row("name `...`", "...", [NF, OK, NF, NF, OK]),
        row("name with spaces and newline", "a b\nc", [NF, OK, NF, NF, OK]),
    ]
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Read,
    Write,
    Meta,
    List,
    Mkdir,
}

const OPS: [Op; 5] = [Op::Read, Op::Write, Op::Meta, Op::List, Op::Mkdir];

/// What an operation returned, reduced to what the checks need.
#[derive(Debug)]
enum Got {
    Read(Vec<u8>),
    Meta(gw_anchor::Metadata),
    List(Vec<OsString>),
    Done,
}

const WRITTEN: &[u8] = b"written by the conformance table\n";

fn run_op(root: Root, op: Op, path: OsString) -> gw_anchor::Result<Got> {
    match op {
        Op::Read => root.read(&path, 1 << 20).map(Got::Read),
        Op::Write => root.write_atomic(&path, WRITTEN, &WriteOptions::new()).map(|()| Got::Done),
        Op::Meta => root.metadata(&path).map(Got::Meta),
        Op::List => root.list(&path).map(|v| Got::List(v.into_iter().map(|e| e.name).collect())),
        Op::Mkdir => root.mkdir_all(&path, 0o700).map(|()| Got::Done),
    }
}

/// Runs `op` in a thread and fails the test if it does not finish in time
/// (a FIFO at the target must never block the caller).
fn run_with_deadline(root: Root, op: Op, path: &Path) -> gw_anchor::Result<Got> {
    let (tx, rx) = mpsc::channel();
    let owned = path.as_os_str().to_owned();
    std::thread::spawn(move || {
        let _ = tx.send(run_op(root, op, owned));
    });
    let shown = path.display().to_string();
    rx.recv_timeout(Duration::from_secs(10)).unwrap_or_else(|_| panic!("{op:?} {shown} blocked for 10 s"))
}

fn expected(row: &Row, op: Op) -> Exp {
    match op {
        Op::Read => row.read,
        Op::Write => row.write,
        Op::Meta => row.meta,
        Op::List => row.list,
        Op::Mkdir => row.mkdir,
    }
}

/// Runs one (row, op, resolver) on a fresh tree and checks everything.
fn check(row: &Row, op: Op, r: Resolver) -> Result<(), String> {
    let sb = Sandbox::new();
    build_tree(&sb);
    let out_before = sb.outside_snapshot();
    let root_before = snapshot(&sb.root);
    let root = sb.open(r);
    let path = Path::new(&row.path);
    let res = run_with_deadline(root, op, path);
    let mut shown = format!("{:?}", row.path);
    if shown.len() > 80 {
        shown = format!("{}...({} bytes)", &shown[..60], row.path.len());
    }
    let ctx = format!("{r:?} {op:?} on {shown} ({})", row.what);

    sb.assert_outside_unchanged(&out_before, &ctx);
    let want = expected(row, op);
    let got = match (&res, want) {
        (Err(e), Exp::Err(k)) if e.kind() == k => {
            let after = snapshot(&sb.root);
            if after != root_before {
                assert_same_tree(&root_before, &after, &format!("{ctx}: a failure must change nothing"));
            }
            if k.is_security_refusal() || k == ErrorKind::InvalidPath {
                assert!(e.fix().is_some() || k == ErrorKind::InvalidPath, "{ctx}: a refusal says how to fix it: {e}");
            }
            return Ok(());
        }
        (Ok(got), Exp::Ok | Exp::Is(_)) => got,
        (Ok(got), _) => return Err(format!("{ctx}: expected {want:?}, got Ok({})", brief(got))),
        (Err(e), _) => return Err(format!("{ctx}: expected {want:?}, got {:?}: {e}", e.kind())),
    };

    // A success: it happened at the lexical path, with no link on the way.
    let comps = lexical(path).ok_or_else(|| format!("{ctx}: succeeded on a non-lexical path"))?;
    let real = real_node(&sb.root, &comps);
    match (op, got) {
        (Op::Read, Got::Read(bytes)) => {
            let Some(Node::File { content, .. }) = real else {
                return Err(format!("{ctx}: read succeeded but the lexical path holds {real:?}"));
            };
            assert_eq!(*bytes, content, "{ctx}");
            assert_same_tree(&root_before, &snapshot(&sb.root), &ctx);
        }
        (Op::Write, Got::Done) => {
            let mut expect = root_before.clone();
            expect.insert(
                comps.iter().collect(),
                Node::File { mode: 0o600, uid: 0, nlink: 1, content: WRITTEN.to_vec() },
            );
            assert_same_tree(&expect, &snapshot(&sb.root), &format!("{ctx}: only the target changes"));
        }
        (Op::Meta, Got::Meta(m)) => {
            let Exp::Is(kind) = want else { unreachable!() };
            assert_eq!(m.kind, kind, "{ctx}");
            let st = real_lstat(&sb.root, &comps)
                .ok_or_else(|| format!("{ctx}: metadata succeeded on an unreachable path"))?;
            assert_eq!((m.dev, m.ino), (st_dev(&st), st.st_ino), "{ctx}: metadata of another entry");
            assert_same_tree(&root_before, &snapshot(&sb.root), &ctx);
        }
        (Op::List, Got::List(names)) => {
            if !matches!(real, Some(Node::Dir { .. })) {
                return Err(format!("{ctx}: listed, but the lexical path holds {real:?}"));
            }
            let prefix: PathBuf = comps.iter().collect();
            let real_names: Vec<OsString> = root_before
                .keys()
                .filter(|k| k.parent() == Some(prefix.as_path()) && !k.as_os_str().is_empty())
                .map(|k| k.file_name().unwrap().to_owned())
                .collect();
            let mut names = names.clone();
            names.sort();
            assert_eq!(names, real_names, "{ctx}");
        }
        (Op::Mkdir, Got::Done) => {
            if !matches!(real, Some(Node::Dir { .. })) {
                return Err(format!("{ctx}: made, but the lexical path holds {real:?}"));
            }
            // Everything new is a 0700 directory on the lexical path.
            let after = snapshot(&sb.root);
            for (p, n) in &after {
                if root_before.get(p) != Some(n) {
                    let on_path = comps.starts_with(&p.iter().map(|c| c.to_owned()).collect::<Vec<_>>());
                    assert!(on_path, "{ctx}: {p:?} changed");
                    assert_eq!(*n, Node::Dir { mode: 0o700, uid: 0 }, "{ctx}: {p:?}");
                }
            }
            assert!(root_before.keys().all(|k| after.contains_key(k)), "{ctx}: something was removed");
        }
        (op, got) => panic!("{ctx}: {op:?} returned {got:?}"),
    }
    Ok(())
}

fn brief(g: &Got) -> String {
    match g {
        Got::Read(b) => format!("{} bytes", b.len()),
        Got::Meta(m) => format!("{:?}", m.kind),
        Got::List(n) => format!("{} entries", n.len()),
        Got::Done => "()".into(),
    }
}

/// Runs the whole table on one resolver and reports every mismatch at once.
fn conformance(r: Resolver) {
    let probe = Sandbox::new();

    let table = rows(&probe);
    let mut failures = Vec::new();
    for row in table.iter() {
        for op in OPS {
            if let Err(msg) = check(row, op, r) {
                failures.push(msg);
            }
        }
    }
    assert!(failures.is_empty(), "{} conformance failures:\n{}", failures.len(), failures.join("\n"));
}

/// The conformance table on the openat2 resolver.
#[test]
fn conformance_openat2() {
    conformance(Resolver::Openat2);
}

/// The conformance table on the walk resolver.
#[test]
fn conformance_walk() {
    conformance(Resolver::Walk);
}

/// A FIFO at the target does not block a reader even when a writer is
/// absent, on both resolvers (also covered by the table's deadline; this one
/// says it on its own). `lock` on a FIFO is refused without blocking too.
#[test]
fn fifo_at_target_never_blocks() {
    for r in RESOLVERS {
        let sb = Sandbox::new();
        mkfifo(&sb.root.join("fifo"));
        let root = sb.open(r);
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let read = root.read("fifo", 10).map(|_| ());
            let lock = root.lock("fifo", gw_anchor::LockMode::Exclusive, Some(Duration::from_millis(100))).map(|_| ());
            let _ = tx.send((read, lock));
        });
        let (read, lock) = rx.recv_timeout(Duration::from_secs(10)).expect("blocked on a FIFO");
        expect_refusal(read, ErrorKind::NotRegularFile, "read fifo");
        expect_refusal(lock, ErrorKind::NotRegularFile, "lock fifo");
    }
}

/// Names are bytes: a name that is not UTF-8 round-trips through write, list
/// and read.
#[test]
fn non_utf8_names_round_trip() {
    for r in RESOLVERS {
        let sb = Sandbox::new();
        let root = sb.open(r);
        let name = OsString::from_vec(b"\xff\xfe-name".to_vec());
        root.write_atomic(&name, b"bytes", &WriteOptions::new()).unwrap();
        assert_eq!(root.list(".").unwrap()[0].name.as_bytes(), name.as_bytes());
        assert_eq!(root.read(&name, 100).unwrap(), b"bytes");
    }
}
