//! Fuzz target: a random plan of gw-anchor operations, interleaved with an
//! attacker planting symlinks, FIFOs, hard links and swaps inside the root,
//! must never touch anything outside the root and never panic.
//!
//! Each run makes a fresh temp dir holding `root/` (0700, the `Root`) and
//! `outside/` (a canary file, a private dir with a secret, a victim file the
//! attacker hard-links into the root). Afterwards:
//! - `outside/` is exactly as it was (names, types, modes, contents, mtimes:
//!   an entry created and removed again changes a directory's mtime) and the
//!   temp dir holds only `root/` and `outside/` (THREATS FS-1, FS-2);
//! - no read returned a secret, no listing showed an outside name, no
//!   metadata or sub-root was an outside inode;
//! - any path with a `..` component was refused as an escape.
//!
//! The resolver (walk, openat2 or auto) is chosen by the plan.
//! Set `GW_FUZZ_DEBUG=1` to print the decoded plan and every result.
#![no_main]

use std::ffi::OsString;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use arbitrary::Arbitrary;
use gw_anchor::{Durability, ErrorKind, LockMode, Policy, Resolver, Root, TempStrategy, WriteOptions};
use libfuzzer_sys::fuzz_target;
use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{FileType, Mode, OFlags, RenameFlags};

/// Plans are cut to this many operations to keep each run fast.
const MAX_OPS: usize = 32;
/// At most this many roots (the root and sub-roots from `open_dir`) at once.
const MAX_ROOTS: usize = 4;

const CANARY: &[u8] = b"gw-fuzz canary: a secret that lives outside the root\n";
const INNER: &[u8] = b"gw-fuzz inner secret, in a private dir outside the root\n";
const VICTIM: &[u8] = b"gw-fuzz victim, hard-linked into the root by the attacker\n";
/// Names that exist only outside the root: a listing beneath it must never show them.
const OUTSIDE_NAMES: &[&str] = &["outside", "root", "canary", "secret-dir", "inner"];

#[derive(Arbitrary, Debug, Clone, Copy, PartialEq, Eq)]
enum Name {
    A,
    B,
    Link,
    Dot,
    DotDot,
    Empty,
}

impl Name {
    fn as_str(self) -> &'static str {
        match self {
            Name::A => "a",
            Name::B => "b",
            Name::Link => "link",
            Name::Dot => ".",
            Name::DotDot => "..",
            Name::Empty => "",
        }
    }
}

/// A relative path of up to three names from the alphabet, joined by `/`.
#[derive(Arbitrary, Debug, Clone, Copy)]
struct P {
    len: u8,
    names: [Name; 3],
    trailing_slash: bool,
}

impl P {
    fn names(&self) -> &[Name] {
        &self.names[..usize::from(self.len % 4)]
    }

    fn to_path(self) -> PathBuf {
        let mut s = self.names().iter().map(|n| n.as_str()).collect::<Vec<_>>().join("/");
        if self.trailing_slash {
            s.push('/');
        }
        PathBuf::from(s)
    }

    fn has_dotdot(&self) -> bool {
        self.names().contains(&Name::DotDot)
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Content {
    Empty,
    Short(u8),
    Long(u8),
}

impl Content {
    fn bytes(self) -> Vec<u8> {
        match self {
            Content::Empty => Vec::new(),
            Content::Short(n) => format!("content {n}\n").into_bytes(),
            Content::Long(n) => format!("long content {n}\n").repeat(usize::from(n) * 4 + 1).into_bytes(),
        }
    }
}

/// Where outside the root a planted link points.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Leaf {
    OutsideDir,
    Canary,
    SecretDir,
    Victim,
    /// A name that does not exist yet (a write through it would create it).
    Missing,
    SecretMissing,
}

impl Leaf {
    fn rel(self) -> &'static str {
        match self {
            Leaf::OutsideDir => "outside",
            Leaf::Canary => "outside/canary",
            Leaf::SecretDir => "outside/secret-dir",
            Leaf::Victim => "outside/victim",
            Leaf::Missing => "outside/new",
            Leaf::SecretMissing => "outside/secret-dir/new",
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum LinkTarget {
    /// `../` repeated `1 + up % 4` times, then the leaf.
    Relative {
        up: u8,
        leaf: Leaf,
    },
    /// The leaf's absolute path.
    Absolute(Leaf),
    /// A path inside the root.
    Inside(P),
    Dangling,
    /// The link's own name.
    Loop,
    RootDir,
    DotDot,
}

impl LinkTarget {
    fn target(self, base: &Path, at: &[OsString]) -> PathBuf {
        match self {
            LinkTarget::Relative { up, leaf } => {
                PathBuf::from(format!("{}{}", "../".repeat(1 + usize::from(up % 4)), leaf.rel()))
            }
            LinkTarget::Absolute(leaf) => base.join(leaf.rel()),
            LinkTarget::Inside(p) => p.to_path(),
            LinkTarget::Dangling => PathBuf::from("no-such-entry"),
            LinkTarget::Loop => at.last().map_or_else(|| PathBuf::from("link"), PathBuf::from),
            LinkTarget::RootDir => PathBuf::from("/"),
            LinkTarget::DotDot => PathBuf::from(".."),
        }
    }
}

#[derive(Arbitrary, Debug, Clone, Copy)]
enum Temp {
    Auto,
    Tmpfile,
    Named,
}

#[derive(Arbitrary, Debug)]
enum Op {
    // ---- gw-anchor, on root number `on` (modulo the roots open) ----
    WriteAtomic {
        on: u8,
        path: P,
        content: Content,
        mode: u16,
        parents: bool,
        temp: Temp,
    },
    CreateNew {
        on: u8,
        path: P,
        content: Content,
        parents: bool,
    },
    Read {
        on: u8,
        path: P,
        max: u16,
    },
    MkdirAll {
        on: u8,
        path: P,
        mode: u16,
    },
    Remove {
        on: u8,
        path: P,
    },
    Rename {
        on: u8,
        from: P,
        to: P,
        no_replace: bool,
    },
    List {
        on: u8,
        path: P,
    },
    Metadata {
        on: u8,
        path: P,
    },
    OpenDir {
        on: u8,
        path: P,
    },
    Lock {
        on: u8,
        path: P,
        exclusive: bool,
    },
    RemoveStaleTemps {
        on: u8,
        path: P,
    },
    Verify {
        on: u8,
    },
    // ---- the attacker, with direct system calls inside root/ ----
    PlantSymlink {
        at: P,
        target: LinkTarget,
    },
    PlantFifo {
        at: P,
    },
    PlantHardlink {
        at: P,
    },
    /// `renameat2(RENAME_EXCHANGE)` of the entry at `at` with a new symlink.
    SwapWithSymlink {
        at: P,
        target: LinkTarget,
    },
    Chmod {
        at: P,
        mode: u16,
    },
}

#[derive(Arbitrary, Debug)]
struct Plan {
    resolver: u8,
    ops: Vec<Op>,
}

/// Everything observable outside the root: path -> description.
type Snapshot = Vec<(PathBuf, String)>;

fn snapshot(base: &Path) -> Snapshot {
    fn visit(dir: &Path, rel: &Path, skip_root: bool, out: &mut Snapshot) {
        let mut names: Vec<OsString> = fs::read_dir(dir).expect("read_dir").map(|e| e.unwrap().file_name()).collect();
        names.sort();
        for name in names {
            if skip_root && name == "root" {
                continue;
            }
            let path = dir.join(&name);
            let rel = rel.join(&name);
            let md = fs::symlink_metadata(&path).expect("lstat");
            let ft = md.file_type();
            let head = format!("mode={:o} uid={} mtime={}.{}", md.mode(), md.uid(), md.mtime(), md.mtime_nsec());
            if ft.is_symlink() {
                out.push((rel, format!("symlink -> {:?} {head}", fs::read_link(&path).unwrap())));
            } else if ft.is_dir() {
                out.push((rel.clone(), format!("dir {head}")));
                visit(&path, &rel, false, out);
            } else if ft.is_file() {
                out.push((rel, format!("file {head} {:?}", fs::read(&path).unwrap())));
            } else {
                out.push((rel, format!("other {ft:?} {head}")));
            }
        }
    }
    let mut out = Vec::new();
    let md = fs::symlink_metadata(base).unwrap();
    out.push((PathBuf::from("."), format!("base mode={:o} mtime={}.{}", md.mode(), md.mtime(), md.mtime_nsec())));
    visit(base, Path::new(""), true, &mut out);
    out
}

/// Where worlds are made: `$GW_FUZZ_TMPDIR` if set, else `/dev/shm` (tmpfs:
/// directory removal on a disk filesystem costs milliseconds, which would
/// make runs ten times slower), else the system temp dir.
fn scratch_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("GW_FUZZ_TMPDIR") {
        return PathBuf::from(dir);
    }
    if Path::new("/dev/shm").is_dir() {
        return PathBuf::from("/dev/shm");
    }
    std::env::temp_dir()
}

/// A fresh world: `base/{root,outside}`; removed on drop.
struct World {
    base: PathBuf,
    /// `(dev, ino)` of everything outside that must never be reached.
    forbidden: Vec<(u64, u64)>,
}

impl World {
    fn new() -> Self {
        static N: AtomicU64 = AtomicU64::new(0);
        let base =
            scratch_dir().join(format!("gw-fuzz-ops.{}.{}", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        let _ = fs::remove_dir_all(&base);
        let mut b = fs::DirBuilder::new();
        b.mode(0o700).create(&base).unwrap();
        b.create(base.join("root")).unwrap();
        b.mode(0o755).create(base.join("outside")).unwrap();
        b.mode(0o700).create(base.join("outside/secret-dir")).unwrap();
        let file = |rel: &str, bytes: &[u8], mode: u32| {
            use std::io::Write;
            let mut f = fs::OpenOptions::new().write(true).create_new(true).mode(mode).open(base.join(rel)).unwrap();
            f.write_all(bytes).unwrap();
        };
        file("outside/canary", CANARY, 0o644);
        file("outside/secret-dir/inner", INNER, 0o600);
        file("outside/victim", VICTIM, 0o600);
        let mut forbidden = Vec::new();
        for rel in ["", "outside", "outside/canary", "outside/secret-dir", "outside/secret-dir/inner"] {
            let md = fs::symlink_metadata(base.join(rel)).unwrap();
            forbidden.push((md.dev(), md.ino()));
        }
        let tmp = fs::metadata(scratch_dir()).unwrap();
        forbidden.push((tmp.dev(), tmp.ino()));
        World { base, forbidden }
    }

    fn root_dir(&self) -> PathBuf {
        self.base.join("root")
    }
}

impl Drop for World {
    fn drop(&mut self) {
        // remove_dir_all does not follow symlinks.
        let _ = fs::remove_dir_all(&self.base);
    }
}

/// The attacker's view of a path: plain names only (`None` if it has `..`).
fn attacker_names(p: &P) -> Option<Vec<OsString>> {
    if p.has_dotdot() {
        return None;
    }
    Some(p.names().iter().filter(|n| !matches!(n, Name::Dot | Name::Empty)).map(|n| n.as_str().into()).collect())
}

/// Opens the parent of `names` beneath `root` without following links (the
/// attacker must not escape by accident either), with the last name.
fn attacker_parent(root: &OwnedFd, names: &[OsString]) -> Option<(OwnedFd, OsString)> {
    let (last, middle) = names.split_last()?;
    let mut cur =
        rustix::fs::openat(root, ".", OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).ok()?;
    for name in middle {
        let flags = OFlags::PATH | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
        cur = rustix::fs::openat(&cur, name.as_os_str(), flags, Mode::empty()).ok()?;
    }
    Some((cur, last.clone()))
}

struct Run<'w> {
    world: &'w World,
    debug: bool,
    attacker_root: OwnedFd,
    roots: Vec<Root>,
    locks: Vec<gw_anchor::LockGuard>,
    swaps: u32,
}

impl Run<'_> {
    fn root(&self, on: u8) -> &Root {
        &self.roots[usize::from(on) % self.roots.len()]
    }

    fn check_escape<T: std::fmt::Debug>(&self, what: &str, paths: &[&P], res: &gw_anchor::Result<T>) {
        if self.debug {
            eprintln!("  {what} {:?} -> {res:?}", paths.iter().map(|p| p.to_path()).collect::<Vec<_>>());
        }
        // The first path is validated first: a `..` in it is an escape. A
        // `..` in a later one (rename's `to`) is refused either as an escape
        // or because the first path was already invalid.
        let first = paths.first().is_some_and(|p| p.has_dotdot());
        if paths.iter().any(|p| p.has_dotdot()) {
            match res {
                Err(e) if e.kind() == ErrorKind::Escape => {}
                Err(e) if !first && e.kind() == ErrorKind::InvalidPath => {}
                other => panic!("{what} with a `..` path was not refused as an escape: {other:?}"),
            }
        }
    }

    fn check_inode(&self, what: &str, dev: u64, ino: u64) {
        assert!(!self.world.forbidden.contains(&(dev, ino)), "{what} reached an inode outside the root");
    }

    fn step(&mut self, op: &Op) {
        let opts = |mode: Option<u16>, parents: bool, temp: Temp| {
            let mut o =
                WriteOptions::new().durability(Durability::NoSync).create_parents(parents).temp_strategy(match temp {
                    Temp::Auto => TempStrategy::Auto,
                    Temp::Tmpfile => TempStrategy::Tmpfile,
                    Temp::Named => TempStrategy::Named,
                });
            if let Some(m) = mode {
                o = o.mode(u32::from(m) & 0o777);
            }
            o
        };
        match *op {
            Op::WriteAtomic { on, path, content, mode, parents, temp } => {
                let r = self.root(on).write_atomic(path.to_path(), &content.bytes(), &opts(Some(mode), parents, temp));
                self.check_escape("write_atomic", &[&path], &r);
            }
            Op::CreateNew { on, path, content, parents } => {
                let r = self.root(on).create_new(path.to_path(), &content.bytes(), &opts(None, parents, Temp::Auto));
                self.check_escape("create_new", &[&path], &r);
            }
            Op::Read { on, path, max } => {
                let r = self.root(on).read(path.to_path(), u64::from(max));
                self.check_escape("read", &[&path], &r);
                if let Ok(bytes) = &r {
                    for secret in [CANARY, INNER] {
                        assert!(
                            !bytes.windows(secret.len()).any(|w| w == secret),
                            "read returned a secret from outside"
                        );
                    }
                }
            }
            Op::MkdirAll { on, path, mode } => {
                let r = self.root(on).mkdir_all(path.to_path(), u32::from(mode) & 0o7777);
                self.check_escape("mkdir_all", &[&path], &r);
            }
            Op::Remove { on, path } => {
                let r = self.root(on).remove(path.to_path());
                self.check_escape("remove", &[&path], &r);
            }
            Op::Rename { on, from, to, no_replace } => {
                let r = self.root(on).rename(from.to_path(), to.to_path(), no_replace);
                self.check_escape("rename", &[&from, &to], &r);
            }
            Op::List { on, path } => {
                let r = self.root(on).list(path.to_path());
                self.check_escape("list", &[&path], &r);
                for entry in r.iter().flatten() {
                    let name = entry.name.to_string_lossy();
                    assert!(!OUTSIDE_NAMES.contains(&name.as_ref()), "list showed `{name}`, which is outside the root");
                }
            }
            Op::Metadata { on, path } => {
                let r = self.root(on).metadata(path.to_path());
                self.check_escape("metadata", &[&path], &r);
                if let Ok(md) = &r {
                    self.check_inode("metadata", md.dev, md.ino);
                }
            }
            Op::OpenDir { on, path } => {
                let r = self.root(on).open_dir(path.to_path());
                self.check_escape("open_dir", &[&path], &r);
                if let Ok(sub) = r {
                    let md = sub.metadata(".").expect("stat of an open sub-root");
                    self.check_inode("open_dir", md.dev, md.ino);
                    if self.roots.len() < MAX_ROOTS {
                        self.roots.push(sub);
                    }
                }
            }
            Op::Lock { on, path, exclusive } => {
                let mode = if exclusive { LockMode::Exclusive } else { LockMode::Shared };
                let r = self.root(on).lock(path.to_path(), mode, Some(Duration::ZERO));
                self.check_escape("lock", &[&path], &r);
                if let Ok(guard) = r {
                    self.locks.push(guard);
                }
            }
            Op::RemoveStaleTemps { on, path } => {
                let r = self.root(on).remove_stale_temps(path.to_path(), Duration::ZERO);
                self.check_escape("remove_stale_temps", &[&path], &r);
            }
            Op::Verify { on } => {
                let r = self.root(on).verify();
                if self.debug {
                    eprintln!("  verify -> {r:?}");
                }
            }
            Op::PlantSymlink { at, target } => {
                let Some(names) = attacker_names(&at) else { return };
                let Some((dir, name)) = attacker_parent(&self.attacker_root, &names) else { return };
                let target = target.target(&self.world.base, &names);
                let r = rustix::fs::symlinkat(target.as_os_str(), &dir, name.as_os_str());
                if self.debug {
                    eprintln!("  attacker: symlink {names:?} -> {target:?}: {r:?}");
                }
            }
            Op::PlantFifo { at } => {
                let Some(names) = attacker_names(&at) else { return };
                let Some((dir, name)) = attacker_parent(&self.attacker_root, &names) else { return };
                let r = rustix::fs::mknodat(&dir, name.as_os_str(), FileType::Fifo, Mode::from_raw_mode(0o600), 0);
                if self.debug {
                    eprintln!("  attacker: fifo {names:?}: {r:?}");
                }
            }
            Op::PlantHardlink { at } => {
                let Some(names) = attacker_names(&at) else { return };
                let Some((dir, name)) = attacker_parent(&self.attacker_root, &names) else { return };
                let victim = self.world.base.join("outside/victim");
                let r = rustix::fs::linkat(
                    rustix::fs::CWD,
                    victim.as_os_str(),
                    &dir,
                    name.as_os_str(),
                    rustix::fs::AtFlags::empty(),
                );
                if self.debug {
                    eprintln!("  attacker: hard link {names:?} -> victim: {r:?}");
                }
            }
            Op::SwapWithSymlink { at, target } => {
                let Some(names) = attacker_names(&at) else { return };
                let Some((dir, name)) = attacker_parent(&self.attacker_root, &names) else { return };
                self.swaps += 1;
                let tmp = format!("swap{}", self.swaps);
                let target = target.target(&self.world.base, &names);
                let r = rustix::fs::symlinkat(target.as_os_str(), &dir, tmp.as_str()).and_then(|()| {
                    rustix::fs::renameat_with(&dir, tmp.as_str(), &dir, name.as_os_str(), RenameFlags::EXCHANGE)
                });
                if self.debug {
                    eprintln!("  attacker: swap {names:?} with a symlink -> {target:?}: {r:?}");
                }
            }
            Op::Chmod { at, mode } => {
                let Some(names) = attacker_names(&at) else { return };
                let mode = Mode::from_raw_mode(u32::from(mode) & 0o7777);
                // Directories only (a hard-linked victim is not the attacker's
                // to change), by fchmod on a no-follow open: chmod(2) follows links.
                let fd = match attacker_parent(&self.attacker_root, &names) {
                    None if names.is_empty() => {
                        rustix::fs::openat(&self.attacker_root, ".", OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
                    }
                    None => return,
                    Some((dir, name)) => rustix::fs::openat(
                        &dir,
                        name.as_os_str(),
                        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                        Mode::empty(),
                    ),
                };
                let r = fd.and_then(|fd| rustix::fs::fchmod(fd.as_fd(), mode));
                if self.debug {
                    eprintln!("  attacker: chmod {names:?} {mode:?}: {r:?}");
                }
            }
        }
    }
}

fuzz_target!(|plan: Plan| {
    let debug = std::env::var_os("GW_FUZZ_DEBUG").is_some();
    let resolver = match plan.resolver % 3 {
        0 => Resolver::Walk,
        1 => Resolver::Openat2,
        _ => Resolver::Auto,
    };
    if debug {
        eprintln!("plan: {resolver:?}, {} ops", plan.ops.len().min(MAX_OPS));
    }
    let world = World::new();
    let before = snapshot(&world.base);
    let root = Root::open(world.root_dir(), &Policy::new().resolver(resolver)).expect("open the fresh root");
    let attacker_root = rustix::fs::open(
        world.root_dir().as_os_str().as_bytes(),
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap();
    let mut run = Run { world: &world, debug, attacker_root, roots: vec![root], locks: Vec::new(), swaps: 0 };
    for op in plan.ops.iter().take(MAX_OPS) {
        if debug {
            eprintln!("{op:?}");
        }
        run.step(op);
    }
    drop(run);

    let after = snapshot(&world.base);
    if before != after {
        let changed: Vec<_> = after.iter().filter(|e| !before.contains(e)).collect();
        let gone: Vec<_> = before.iter().filter(|e| !after.contains(e)).collect();
        panic!("something outside the root changed:\n  new/changed: {changed:#?}\n  gone/changed: {gone:#?}");
    }
    let mut top: Vec<_> = fs::read_dir(&world.base).unwrap().map(|e| e.unwrap().file_name()).collect();
    top.sort();
    assert_eq!(top, ["outside", "root"], "a new entry appeared next to the root");
    assert!(fs::symlink_metadata(world.root_dir()).unwrap().is_dir(), "root/ is no longer a directory");
});
