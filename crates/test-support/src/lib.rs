//! gw-test-support: dev-only helpers shared by gw's test suites (the root's
//! CLI and end-to-end tests and each crate's own `tests/`): sandboxes with an
//! "outside" that must never change, byte-for-byte tree snapshots,
//! expectations on gw-anchor errors, re-executing the test binary as a helper
//! child (another uid, another umask), the `gw` runner, and ([`race`]) the
//! race and crash harness.
//!
//! Never a dependency of anything but tests (`publish = false`).
#![allow(missing_docs, missing_debug_implementations)]

pub mod cli;
pub mod helper;
#[cfg(feature = "persist")]
pub mod launchd;
#[cfg(target_os = "linux")]
pub mod modes;
#[cfg(feature = "portguard")]
pub mod portguard;
pub mod race;
pub mod unit;
#[cfg(feature = "gateway")]
pub mod ws;

pub use cli::{gw_env_in, gw_in, gw_in_with};
pub use helper::{helper_main, run_helper};

/// gw-anchor, for the macros below.
pub use gw_anchor;

/// Generates `#[test] fn $openat2` and `#[test] fn $walk` running `$body`
/// with each of gw-anchor's resolvers, both carrying the doc comment given
/// (which names the threat).
#[macro_export]
macro_rules! both_resolvers {
    ($(#[$doc:meta])* $body:ident => $openat2:ident, $walk:ident) => {
        $(#[$doc])*
        #[test]
        fn $openat2() {
            $body($crate::gw_anchor::Resolver::Openat2)
        }
        $(#[$doc])*
        #[test]
        fn $walk() {
            $body($crate::gw_anchor::Resolver::Walk)
        }
    };
}

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::io::Read as _;
use std::os::unix::ffi::OsStringExt;
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags};

use gw_anchor::{ErrorKind, Policy, Resolver, Root};

/// Both resolvers: every case runs on each.
pub const RESOLVERS: [Resolver; 2] = [Resolver::Openat2, Resolver::Walk];

/// The uid (and gid) of the "other user" in ownership and permission tests.
pub const NOBODY: u32 = 65534;

/// Content of the file outside the root that no operation may ever change.
pub const OUTSIDE_SECRET: &[u8] = b"OUTSIDE SECRET: if you can read this through a root, it escaped\n";

/// A temp dir only its owner may enter (0700), its name starting `prefix`:
/// the private place a test's home, keys and documents live in.
pub fn private_tempdir(prefix: &str) -> tempfile::TempDir {
    tempfile::Builder::new()
        .prefix(prefix)
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir()
        .expect("create a private temp dir")
}

/// A policy for the calling uid with the given resolver.
pub fn policy(resolver: Resolver) -> Policy {
    Policy::new().resolver(resolver)
}

/// The resolver's name as `--resolver` and `Resolver::from_str` spell it.
pub fn resolver_name(resolver: Resolver) -> &'static str {
    match resolver {
        Resolver::Openat2 => "openat2",
        Resolver::Walk => "walk",
        Resolver::Auto => "auto",
        Resolver::Portable => "portable",
    }
}

/// Whether a write under `resolver` offers temp strategy `temp`: the
/// portable backend (macOS's, and Linux's with gw-anchor's `force-portable`
/// feature) has no `O_TMPFILE` and refuses `Tmpfile` (a refusal tested in
/// gw-anchor's own tests).
pub fn offers(resolver: Resolver, temp: gw_anchor::TempStrategy) -> bool {
    !(resolver.is_portable() && temp == gw_anchor::TempStrategy::Tmpfile)
}

// ---- stat fields at Linux's widths (Darwin's are narrower or signed) ----

/// Permission bits with setuid/setgid/sticky.
pub fn st_perm(st: &rustix::fs::Stat) -> u32 {
    #[cfg(target_os = "linux")]
    let m = st.st_mode;
    #[cfg(not(target_os = "linux"))]
    let m = u32::from(st.st_mode);
    m & 0o7777
}

/// The link count.
pub fn st_nlink(st: &rustix::fs::Stat) -> u64 {
    #[cfg(target_os = "linux")]
    {
        st.st_nlink
    }
    #[cfg(not(target_os = "linux"))]
    {
        u64::from(st.st_nlink)
    }
}

/// The device number of the entry's filesystem.
pub fn st_dev(st: &rustix::fs::Stat) -> u64 {
    #[cfg(target_os = "linux")]
    {
        st.st_dev
    }
    #[cfg(not(target_os = "linux"))]
    {
        u64::from(st.st_dev.cast_unsigned())
    }
}

/// The device number a device node stands for.
pub fn st_rdev(st: &rustix::fs::Stat) -> u64 {
    #[cfg(target_os = "linux")]
    {
        st.st_rdev
    }
    #[cfg(not(target_os = "linux"))]
    {
        u64::from(st.st_rdev.cast_unsigned())
    }
}

/// Flags to open a directory only to hold it (`O_PATH` on Linux; elsewhere,
/// which has no `O_PATH`, for reading).
pub fn dir_hold_flags() -> OFlags {
    #[cfg(target_os = "linux")]
    {
        OFlags::PATH | OFlags::DIRECTORY | OFlags::CLOEXEC
    }
    #[cfg(not(target_os = "linux"))]
    {
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC
    }
}

/// A private temp dir (0700, owned by the caller, under the sticky root-owned
/// `/tmp`) holding `root/` (the directory a `Root` is opened on) and
/// `outside/` (a secret file and a directory an attack would aim at).
#[derive(Debug)]
pub struct Sandbox {
    /// The temp dir (removed on drop).
    pub tmp: tempfile::TempDir,
    /// `tmp/root`, mode 0700.
    pub root: PathBuf,
    /// `tmp/outside`, mode 0700, holding `secret` and `sub/`.
    pub outside: PathBuf,
}

impl Default for Sandbox {
    fn default() -> Self {
        Self::new()
    }
}

impl Sandbox {
    /// Makes the sandbox.
    pub fn new() -> Self {
        // tempfile makes directories with the default mode (0777 & !umask,
        // so 0755 here): ask for 0700 explicitly.
        let tmp = tempfile::Builder::new()
            .prefix("gw-test-")
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir()
            .expect("tempdir");
        let root = tmp.path().join("root");
        let outside = tmp.path().join("outside");
        mkdir(&root, 0o700);
        mkdir(&outside, 0o700);
        std::fs::write(outside.join("secret"), OUTSIDE_SECRET).unwrap();
        mkdir(&outside.join("sub"), 0o700);
        std::fs::write(outside.join("sub/secret2"), OUTSIDE_SECRET).unwrap();
        Self { tmp, root, outside }
    }

    /// The temp dir's path.
    pub fn tmp(&self) -> &Path {
        self.tmp.path()
    }

    /// Opens `root/` with `resolver`.
    pub fn open(&self, resolver: Resolver) -> Root {
        Root::open(&self.root, &policy(resolver)).unwrap_or_else(|e| panic!("open root {}: {e}", self.root.display()))
    }

    /// A snapshot of everything outside `root/`: the `outside/` tree, and the
    /// names at the top of the temp dir (so nothing new appears next to the
    /// root either).
    pub fn outside_snapshot(&self) -> Snapshot {
        let mut snap = snapshot(&self.outside);
        for entry in std::fs::read_dir(self.tmp()).unwrap() {
            let entry = entry.unwrap();
            let name = entry.file_name();
            if name != "root" && name != "outside" {
                snap.insert(PathBuf::from("../").join(&name), node(&entry.path()));
            }
        }
        snap
    }

    /// Panics (naming `ctx`) if anything outside the root changed.
    pub fn assert_outside_unchanged(&self, before: &Snapshot, ctx: &str) {
        assert_same_tree(before, &self.outside_snapshot(), &format!("OUTSIDE THE ROOT CHANGED ({ctx})"));
    }
}

/// `mkdir` with an exact mode (whatever the umask).
pub fn mkdir(path: &Path, mode: u32) {
    std::fs::create_dir(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
    chmod(path, mode);
}

/// `chmod` with an exact mode.
pub fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {:o} {}: {e}", mode, path.display()));
}

/// `chown uid:uid` without following a link.
pub fn chown(path: &Path, uid: u32) {
    std::os::unix::fs::lchown(path, Some(uid), Some(uid)).unwrap_or_else(|e| panic!("chown {}: {e}", path.display()));
}

/// `symlink target link`.
pub fn symlink(target: impl AsRef<Path>, link: &Path) {
    std::os::unix::fs::symlink(target.as_ref(), link).unwrap_or_else(|e| panic!("symlink {}: {e}", link.display()));
}

/// `mkfifo path` (mode 0600).
#[cfg(target_os = "linux")]
pub fn mkfifo(path: &Path) {
    rustix::fs::mknodat(rustix::fs::CWD, path, rustix::fs::FileType::Fifo, rustix::fs::Mode::from_raw_mode(0o600), 0)
        .unwrap_or_else(|e| panic!("mkfifo {}: {e}", path.display()));
}

/// `mkfifo -m 600 path` (rustix has no `mknodat` on Darwin).
#[cfg(not(target_os = "linux"))]
pub fn mkfifo(path: &Path) {
    let st = std::process::Command::new("mkfifo").arg("-m").arg("600").arg(path).status().expect("run mkfifo");
    assert!(st.success(), "mkfifo {}: {st}", path.display());
}

/// A character device node like `/dev/null` at `path` (root may): (1, 3) on
/// Linux, (3, 2) on Darwin.
#[cfg(not(target_os = "linux"))]
pub fn mknod_null(path: &Path) {
    let st = std::process::Command::new("mknod").arg(path).args(["c", "3", "2"]).status().expect("run mknod");
    assert!(st.success(), "mknod {}: {st}", path.display());
}

/// A character device node like `/dev/null` (1, 3) at `path` (root may).
#[cfg(target_os = "linux")]
pub fn mknod_null(path: &Path) {
    rustix::fs::mknodat(
        rustix::fs::CWD,
        path,
        rustix::fs::FileType::CharacterDevice,
        rustix::fs::Mode::from_raw_mode(0o600),
        rustix::fs::makedev(1, 3),
    )
    .unwrap_or_else(|e| panic!("mknod {}: {e}", path.display()));
}

/// A Unix socket file at `path` (the listener is closed; the file stays).
pub fn mksocket(path: &Path) {
    drop(std::os::unix::net::UnixListener::bind(path).unwrap_or_else(|e| panic!("bind {}: {e}", path.display())));
}

// ---- snapshots ----

/// One entry of a tree, as `lstat` (and, for files, `read`) sees it. Times
/// and inode numbers are left out: a snapshot compares what a user sees.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// A regular file.
    File {
        /// Permission bits.
        mode: u32,
        /// Owner.
        uid: u32,
        /// Hard links.
        nlink: u64,
        /// Content.
        content: Vec<u8>,
    },
    /// A directory.
    Dir {
        /// Permission bits.
        mode: u32,
        /// Owner.
        uid: u32,
    },
    /// A symbolic link (never followed).
    Symlink {
        /// Where it points.
        target: PathBuf,
    },
    /// A FIFO, socket or device (never opened).
    Special {
        /// `fifo`, `socket`, `char`, `block`.
        kind: &'static str,
        /// Permission bits.
        mode: u32,
        /// Device number.
        rdev: u64,
    },
}

/// Relative path (`""` is the top directory itself) → node.
pub type Snapshot = BTreeMap<PathBuf, Node>;

/// The node at `path`, without following a link or opening a special file.
pub fn node(path: &Path) -> Node {
    let parent = path.parent().unwrap_or(Path::new("/"));
    let name = path.file_name().unwrap_or(std::ffi::OsStr::new("."));
    let dir = rustix::fs::open(parent, dir_hold_flags(), Mode::empty())
        .unwrap_or_else(|e| panic!("open {}: {e}", parent.display()));
    node_at(&dir, name).unwrap_or_else(|e| panic!("lstat {}: {e}", path.display()))
}

/// The node `name` in the directory `dir` (no link followed, no special file
/// opened). Works at any depth: nothing is resolved by path string.
pub fn node_at(dir: impl AsFd, name: &std::ffi::OsStr) -> rustix::io::Result<Node> {
    let dir = dir.as_fd();
    let st = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    let mode = st_perm(&st);
    Ok(match FileType::from_raw_mode(st.st_mode) {
        FileType::Symlink => {
            let target = rustix::fs::readlinkat(dir, name, Vec::new())?;
            Node::Symlink { target: PathBuf::from(std::ffi::OsString::from_vec(target.into_bytes())) }
        }
        FileType::Directory => Node::Dir { mode, uid: st.st_uid },
        FileType::RegularFile => {
            let fd = rustix::fs::openat(dir, name, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC, Mode::empty())?;
            let mut content = Vec::new();
            std::fs::File::from(fd).read_to_end(&mut content).map_err(|_| rustix::io::Errno::IO)?;
            Node::File { mode, uid: st.st_uid, nlink: st_nlink(&st), content }
        }
        other => {
            let kind = match other {
                FileType::Fifo => "fifo",
                FileType::Socket => "socket",
                FileType::CharacterDevice => "char",
                _ => "block",
            };
            Node::Special { kind, mode, rdev: st_rdev(&st) }
        }
    })
}

/// Every entry beneath `dir` (and `dir` itself as `""`), never following a
/// link. Walks with directory fds, so trees deeper than `PATH_MAX` work.
pub fn snapshot(dir: &Path) -> Snapshot {
    let top = rustix::fs::open(dir, OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .unwrap_or_else(|e| panic!("open {}: {e}", dir.display()));
    let mut out = Snapshot::new();
    out.insert(PathBuf::new(), node(dir));
    snapshot_into(&top, PathBuf::new(), &mut out);
    out
}

fn snapshot_into(dir: &OwnedFd, rel: PathBuf, out: &mut Snapshot) {
    let mut names = Vec::new();
    for entry in rustix::fs::Dir::read_from(dir).unwrap() {
        let entry = entry.unwrap();
        let name = entry.file_name().to_bytes();
        if name != b"." && name != b".." {
            names.push(std::ffi::OsString::from_vec(name.to_vec()));
        }
    }
    for name in names {
        let n = node_at(dir, &name).unwrap_or_else(|e| panic!("lstat {}: {e}", rel.join(&name).display()));
        let is_dir = matches!(n, Node::Dir { .. });
        out.insert(rel.join(&name), n);
        if is_dir {
            let sub = rustix::fs::openat(
                dir,
                name.as_os_str(),
                OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
                Mode::empty(),
            )
            .unwrap();
            snapshot_into(&sub, rel.join(&name), out);
        }
    }
}

/// Panics with a readable diff if `after` differs from `before`.
pub fn assert_same_tree(before: &Snapshot, after: &Snapshot, ctx: &str) {
    if before == after {
        return;
    }
    let mut diff = String::new();
    for (path, node) in before {
        match after.get(path) {
            None => diff.push_str(&format!("  removed {}: {}\n", path.display(), short(node))),
            Some(n) if n != node => {
                diff.push_str(&format!("  changed {}: {} -> {}\n", path.display(), short(node), short(n)))
            }
            Some(_) => {}
        }
    }
    for (path, node) in after {
        if !before.contains_key(path) {
            diff.push_str(&format!("  added {}: {}\n", path.display(), short(node)));
        }
    }
    panic!("{ctx}: the tree changed:\n{diff}");
}

fn short(n: &Node) -> String {
    match n {
        Node::File { mode, uid, nlink, content } => {
            format!(
                "file {mode:04o} uid {uid} nlink {nlink} {:?}",
                String::from_utf8_lossy(&content[..content.len().min(40)])
            )
        }
        other => format!("{other:?}"),
    }
}

/// The lexical components of a relative path, `.` and empty ones dropped
/// (what gw-anchor resolves), or `None` if it has `..` or is absolute.
pub fn lexical(rel: &Path) -> Option<Vec<std::ffi::OsString>> {
    let mut out = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => out.push(n.to_owned()),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// The real directory holding the last of `comps` beneath `top`, reached
/// through real directories only (no symlink followed, by fds, at any depth),
/// with that last name; `None` if the way is missing or not all directories.
pub fn real_parent(top: &Path, comps: &[std::ffi::OsString]) -> Option<(OwnedFd, std::ffi::OsString)> {
    let (last, middle) = comps.split_last()?;
    let flags = dir_hold_flags() | OFlags::NOFOLLOW;
    let mut cur = rustix::fs::open(top, flags, Mode::empty()).ok()?;
    for c in middle {
        cur = rustix::fs::openat(&cur, c.as_os_str(), flags, Mode::empty()).ok()?;
    }
    Some((cur, last.clone()))
}

/// `lstat` of `comps` beneath `top` (the top itself for no components),
/// walking only real directories: `None` if a component is missing, or a
/// symlink or a non-directory is on the way.
pub fn real_lstat(top: &Path, comps: &[std::ffi::OsString]) -> Option<rustix::fs::Stat> {
    if comps.is_empty() {
        return rustix::fs::lstat(top).ok();
    }
    let (dir, name) = real_parent(top, comps)?;
    rustix::fs::statat(&dir, name.as_os_str(), AtFlags::SYMLINK_NOFOLLOW).ok()
}

/// The node at `comps` beneath `top`, reached as [`real_parent`] does.
pub fn real_node(top: &Path, comps: &[std::ffi::OsString]) -> Option<Node> {
    if comps.is_empty() {
        return Some(node(top));
    }
    let (dir, name) = real_parent(top, comps)?;
    node_at(&dir, &name).ok()
}

/// The file type in a `Stat`.
pub fn file_type(st: &rustix::fs::Stat) -> FileType {
    FileType::from_raw_mode(st.st_mode)
}

// ---- expectations on gw-anchor results ----

/// Asserts `res` failed with `kind`; returns the error.
#[track_caller]
pub fn expect_err<T: Debug>(res: gw_anchor::Result<T>, kind: ErrorKind, ctx: &str) -> gw_anchor::Error {
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
pub fn expect_refusal<T: Debug>(res: gw_anchor::Result<T>, kind: ErrorKind, ctx: &str) -> gw_anchor::Error {
    let e = expect_err(res, kind, ctx);
    assert!(e.kind().is_security_refusal(), "{ctx}: {kind:?} must be a security refusal");
    e
}

/// A short name for a result, for comparing outcomes (`ok`, or the kind).
pub fn outcome<T>(res: &gw_anchor::Result<T>) -> &'static str {
    match res {
        Ok(_) => "ok",
        Err(e) => e.kind().as_str(),
    }
}

/// `"kind errno"` for an error, `"ok"` for success: what a helper child
/// reports about a result.
pub fn report<T>(res: &gw_anchor::Result<T>) -> String {
    match res {
        Ok(_) => "ok".to_owned(),
        Err(e) => format!("{} {}", e.kind().as_str(), e.raw_os_error().unwrap_or(0)),
    }
}

/// A binary plist (`bplist00`) from its objects (1-byte offsets and
/// references), the first object at the top.
pub fn bplist(objects: &[&[u8]]) -> Vec<u8> {
    let mut out = b"bplist00".to_vec();
    let mut offsets = Vec::new();
    for o in objects {
        offsets.push(u8::try_from(out.len()).unwrap());
        out.extend_from_slice(o);
    }
    let table = out.len() as u64;
    out.extend_from_slice(&offsets);
    out.extend_from_slice(&[0; 6]);
    out.extend_from_slice(&[1, 1]); // offset size, reference size
    out.extend_from_slice(&(objects.len() as u64).to_be_bytes());
    out.extend_from_slice(&0u64.to_be_bytes()); // top object
    out.extend_from_slice(&table.to_be_bytes());
    out
}

/// A binary plist "billion laughs" (THREATS DOC-2): `depth` arrays, each
/// referencing the next one `width` times (1 to 14), then `leaf` —
/// `(width^(depth+1) - 1) / (width - 1)` values once expanded, from a file
/// of a few hundred bytes at most.
pub fn bplist_laughs(depth: u8, width: u8, leaf: &[u8]) -> Vec<u8> {
    assert!((1..=14).contains(&width), "a width of 15 or more needs a length byte");
    let arrays: Vec<Vec<u8>> = (0..depth).map(|i| [vec![0xA0 | width], vec![i + 1; width.into()]].concat()).collect();
    let mut objects: Vec<&[u8]> = arrays.iter().map(Vec::as_slice).collect();
    objects.push(leaf);
    bplist(&objects)
}
