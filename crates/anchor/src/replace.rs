//! Atomic replace (`write_atomic`) and exclusive create (`create_new`).
//!
//! The protocol (THREATS FS-1, FS-3, FS-4, FS-6):
//! 1. resolve the parent directory beneath the root (no symlink followed)
//!    and check it is private (owner, mode);
//! 2. refuse a symlink or non-regular file at the target;
//! 3. make the new file in the same directory: anonymous (`O_TMPFILE`) where
//!    the filesystem supports it, else under an unpredictable name
//!    (`.gw-tmp.` + 128 random bits) created `O_CREAT | O_EXCL | O_NOFOLLOW`;
//! 4. give it its final mode with `fchmod` *before any byte is written*
//!    (independent of the umask);
//! 5. write everything; `fsync` the file;
//! 6. publish: `renameat` over the target (replace), or `linkat` /
//!    `renameat2(RENAME_NOREPLACE)` (create);
//! 7. `fsync` the directory.
//!
//! On any failure the temporary name is removed. The final path is never
//! opened for writing and never truncated.
//!
//! Failures are reported for what they are (THREATS FS-11): a failed
//! `fsync` of the directory after step 6 is [`ErrorKind::NotDurable`] (the
//! new content is in place, its durability is not); a failed random source
//! is [`ErrorKind::RandomSource`], not an I/O error of the file.
//!
//! What a `kill -9` leaves: with `O_TMPFILE`, nothing, unless it lands
//! between `linkat` and `renameat` (two system calls): then one
//! `.gw-tmp.*` file. With named temporaries, one `.gw-tmp.*` file per killed
//! write. A double fault (the rename fails, then so does the removal of the
//! temp) leaves one too. Either way the target holds one complete version,
//! old or new, but the temp may hold a copy of a secret.
//!
//! # Stale temps
//! Every successful write then removes the stale temps of its directory, and
//! [`Root::remove_stale_temps`] does on demand. A temp is stale, and removed,
//! only if all hold: its name is gw's (`.gw-tmp.` + 32 hex digits), it is a
//! regular file (`lstat`), owned by the root's uid, last modified at least
//! [`STALE_TEMP_AGE`] ago (for the automatic sweep), and no live writer
//! holds its lock. A writer takes an exclusive `flock` on its temp as soon
//! as it exists and holds it until the temp is renamed or removed, in
//! whatever process; the sweeper takes the same lock without waiting and
//! skips the temp if it cannot, then checks the name still names the file it
//! locked before `unlinkat`. The age covers the instant between a named
//! temp's creation and its lock (and filesystems without `flock`): a live
//! writer's temp is either young or locked, never both old and unlocked.
//!
//! Why not cap-tempfile: its `TempFile` is created with a mode from the umask
//! and only chmod-able after creation through a `cap_std::fs::File`, links
//! through its own name scheme, and offers no exclusive "create with content"
//! publish; the protocol above needs each step in a fixed order (the strace
//! test pins it), so it is written here with rustix, one system call a step.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, FlockOperation, Mode, OFlags, RenameFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};
use crate::metadata::FileKind;
use crate::root::Root;

/// The prefix of every temporary name gw-anchor creates.
pub const TEMP_PREFIX: &str = ".gw-tmp.";

/// How old an unlocked temp must be before a write in its directory
/// removes it (see the module docs, "Stale temps").
pub const STALE_TEMP_AGE: Duration = Duration::from_secs(15 * 60);

/// Whether a write waits for the data to reach stable storage.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Durability {
    /// `fsync` the file before publishing it and the directory after
    /// (survives power loss).
    #[default]
    Sync,
    /// No `fsync` (still atomic for readers and crashes of the process).
    NoSync,
}

/// How the new file is made before it is published.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TempStrategy {
    /// `O_TMPFILE` where the filesystem supports it, else a named temp.
    #[default]
    Auto,
    /// Anonymous `O_TMPFILE` only.
    Tmpfile,
    /// An unpredictable name created exclusively.
    Named,
}

/// Options for [`Root::write_atomic`] and [`Root::create_new`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteOptions {
    mode: u32,
    durability: Durability,
    create_parents: bool,
    temp: TempStrategy,
}

impl Default for WriteOptions {
    fn default() -> Self {
        Self { mode: 0o600, durability: Durability::Sync, create_parents: false, temp: TempStrategy::Auto }
    }
}

impl WriteOptions {
    /// Defaults: mode 0600, durable, parents must exist, temp strategy auto.
    pub fn new() -> Self {
        Self::default()
    }
    /// The file's final mode (permission bits only; default 0600).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode & 0o7777;
        self
    }
    /// Durable or not (default durable).
    pub fn durability(mut self, d: Durability) -> Self {
        self.durability = d;
        self
    }
    /// Create missing parent directories (anchored, mode 0700).
    pub fn create_parents(mut self, yes: bool) -> Self {
        self.create_parents = yes;
        self
    }
    /// How the new file is made (tests force each strategy).
    pub fn temp_strategy(mut self, t: TempStrategy) -> Self {
        self.temp = t;
        self
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Publish {
    Replace,
    NoReplace,
}

impl Root {
    /// Atomically replaces (or creates) the regular file `rel` with `bytes`.
    ///
    /// Readers see the old content or the new, never a mix; after a crash the
    /// file holds one complete version. See the module docs for the protocol.
    ///
    /// # Errors
    /// [`ErrorKind::Symlink`](crate::ErrorKind::Symlink) / [`ErrorKind::NotRegularFile`](crate::ErrorKind::NotRegularFile) when the target
    /// (or a component on the way) is a symlink or not a regular file — it is
    /// refused, not replaced; [`ErrorKind::InsecureDirectory`](crate::ErrorKind::InsecureDirectory) when the parent
    /// directory is not private; path, not-found and I/O errors. Nothing is
    /// left behind on failure.
    ///
    /// # Security
    /// THREATS FS-1, FS-2, FS-3, FS-4, FS-6.
    pub fn write_atomic(&self, rel: impl AsRef<Path>, bytes: &[u8], options: &WriteOptions) -> Result<()> {
        self.write_new_file("write", rel.as_ref(), bytes, options, Publish::Replace)
    }

    /// Creates the regular file `rel` with `bytes`, failing if anything
    /// exists at that name. The file appears complete, with its final mode,
    /// or not at all.
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyExists`](crate::ErrorKind::AlreadyExists) if the name is taken;
    /// [`ErrorKind::Symlink`](crate::ErrorKind::Symlink) if it is taken by a symlink (never followed, and
    /// reported as the refusal it is, not as a file the caller might take for
    /// its own); otherwise as [`Root::write_atomic`].
    ///
    /// # Security
    /// THREATS FS-1, FS-4, FS-6.
    pub fn create_new(&self, rel: impl AsRef<Path>, bytes: &[u8], options: &WriteOptions) -> Result<()> {
        self.write_new_file("create", rel.as_ref(), bytes, options, Publish::NoReplace)
    }

    fn write_new_file(
        &self,
        op: &'static str,
        rel: &Path,
        bytes: &[u8],
        options: &WriteOptions,
        publish: Publish,
    ) -> Result<()> {
        let rel = self.rel_file(op, rel)?;
        let shown = self.shown(&rel);
        if options.create_parents {
            let (parent, _) = rel.components().split_at(rel.components().len() - 1);
            if !parent.is_empty() {
                self.mkdir_components(op, parent, 0o700)?;
            }
        }
        let (dir, name) = self.open_parent_checked(op, &shown, &rel)?;
        if publish == Publish::Replace {
            refuse_non_regular_target(op, &shown, dir.as_fd(), name)?;
        }
        let mode = crate::sys::mode_from_bits(options.mode);
        let sync = options.durability == Durability::Sync;
        let portable = self.resolver().is_portable();

        // The temp holds the content (maybe a secret) until it is renamed:
        // locked against the stale-temp sweep of other writers meanwhile.
        let anon = match options.temp {
            TempStrategy::Named => None,
            TempStrategy::Tmpfile if portable => {
                // A symlink at the target is refused as such first (FS-1),
                // whatever the strategy.
                refuse_non_regular_target(op, &shown, dir.as_fd(), name)?;
                return Err(tmpfile_unsupported(op, &shown));
            }
            TempStrategy::Tmpfile => {
                Some(open_tmpfile(dir.as_fd(), mode).map_err(|e| Error::from_errno(op, &shown, e))?)
            }
            // The portable backend never tries O_TMPFILE: named temps only.
            TempStrategy::Auto if portable => None,
            TempStrategy::Auto => open_tmpfile(dir.as_fd(), mode).ok(),
        };
        match anon {
            Some(fd) => {
                lock_temp(&fd);
                fill(op, &shown, &fd, mode, bytes, sync)?;
                match publish {
                    Publish::NoReplace => {
                        link_anonymous(&fd, dir.as_fd(), name)
                            .map_err(|e| publish_error(op, &shown, dir.as_fd(), name, e))?;
                    }
                    Publish::Replace => {
                        let tmp = link_anonymous_temp(op, &shown, &fd, dir.as_fd())?;
                        rename_into_place(op, &shown, dir.as_fd(), &tmp, name, publish)?;
                    }
                }
            }
            None => {
                let (fd, tmp) = create_named_temp(op, &shown, dir.as_fd(), mode)?;
                lock_temp(&fd);
                if let Err(e) = fill(op, &shown, &fd, mode, bytes, sync) {
                    let _ = rustix::fs::unlinkat(dir.as_fd(), tmp.as_os_str(), AtFlags::empty());
                    return Err(e);
                }
                // The descriptor (and its lock) lives until the rename is done.
                rename_into_place(op, &shown, dir.as_fd(), &tmp, name, publish)?;
                drop(fd);
            }
        }
        if sync {
            // Published: a failure now must not read as "nothing happened".
            crate::sys::full_sync(&dir).map_err(|e| Error::not_durable(op, &shown, e))?;
        }
        // Best effort: the write succeeded whatever the sweep finds.
        let _ = sweep_stale_temps(dir.as_fd(), self.policy().uid(), STALE_TEMP_AGE);
        Ok(())
    }

    /// Removes temporary files left in directory `rel` by writers that were
    /// killed mid-write (or by a double fault): regular files named
    /// `.gw-tmp.*`, owned by the root's uid, last modified more than
    /// `older_than` ago, and not locked by a live writer (see the module
    /// docs, "Stale temps"). Returns the names removed.
    ///
    /// # Errors
    /// As [`Root::list`]; [`ErrorKind::InsecureDirectory`](crate::ErrorKind::InsecureDirectory) if the directory
    /// is not private.
    pub fn remove_stale_temps(&self, rel: impl AsRef<Path>, older_than: Duration) -> Result<Vec<OsString>> {
        const OP: &str = "remove stale temps";
        let rel = self.rel(OP, rel.as_ref())?;
        let shown = self.shown(&rel);
        let dir = self.open_beneath(OP, &shown, &rel, OFlags::RDONLY | OFlags::DIRECTORY)?;
        self.check_private(OP, &shown, &dir)?;
        sweep_stale_temps(dir.as_fd(), self.policy().uid(), older_than)
            .map_err(|(name, e)| Error::from_errno(OP, shown.join(name), e))
    }
}

/// Takes the temp's lock (see the module docs, "Stale temps"). Without
/// `flock` support the age rule alone protects the temp.
fn lock_temp(fd: &OwnedFd) {
    let _ = rustix::fs::flock(fd, FlockOperation::NonBlockingLockExclusive);
}

/// Removes the stale temps of `dir` (see the module docs, "Stale temps");
/// returns their names, or the first failure and the name it concerns.
fn sweep_stale_temps(
    dir: BorrowedFd<'_>,
    uid: u32,
    older_than: Duration,
) -> std::result::Result<Vec<OsString>, (OsString, Errno)> {
    let mut names = Vec::new();
    let mut listing = rustix::fs::Dir::read_from(dir).map_err(|e| (OsString::from("."), e))?;
    for entry in &mut listing {
        let entry = entry.map_err(|e| (OsString::from("."), e))?;
        let name = OsStr::from_bytes(entry.file_name().to_bytes());
        if is_temp_name(name) && matches!(entry.file_type(), FileType::RegularFile | FileType::Unknown) {
            names.push(name.to_owned());
        }
    }
    names.sort();
    let now = SystemTime::now();
    let mut removed = Vec::new();
    for name in names {
        match remove_if_stale(dir, &name, uid, now, older_than) {
            Ok(true) => removed.push(name),
            Ok(false) | Err(Errno::NOENT) => {}
            Err(e) => return Err((name, e)),
        }
    }
    Ok(removed)
}

/// Removes temp `name` if it is stale; `Ok(false)` if it is not.
fn remove_if_stale(
    dir: BorrowedFd<'_>,
    name: &OsStr,
    uid: u32,
    now: SystemTime,
    older_than: Duration,
) -> rustix::io::Result<bool> {
    let stale = |st: &rustix::fs::Stat| {
        let meta = crate::Metadata::from_stat(st);
        meta.kind == FileKind::File
            && st.st_uid == uid
            && now.duration_since(meta.modified).unwrap_or(Duration::ZERO) >= older_than
    };
    // lstat first: nothing but an old regular file of ours is ever opened.
    if !stale(&rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?) {
        return Ok(false);
    }
    let flags = OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::NOCTTY | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(dir, name, flags, Mode::empty()) {
        Ok(fd) => fd,
        Err(Errno::LOOP) => return Ok(false),
        Err(e) => return Err(e),
    };
    let st = rustix::fs::fstat(&fd)?;
    if !stale(&st) {
        return Ok(false);
    }
    match rustix::fs::flock(&fd, FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => {}
        Err(Errno::WOULDBLOCK) => return Ok(false), // a live writer's
        Err(e) => return Err(e),
    }
    // The name must still name the file just locked.
    let now_named = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)?;
    if (crate::sys::dev_of(&now_named), now_named.st_ino) != (crate::sys::dev_of(&st), st.st_ino) {
        return Ok(false);
    }
    rustix::fs::unlinkat(dir, name, AtFlags::empty())?;
    Ok(true)
}

/// `true` for names gw-anchor uses for temporary files.
pub fn is_temp_name(name: &OsStr) -> bool {
    let b = name.as_bytes();
    b.len() == TEMP_PREFIX.len() + 32
        && b.starts_with(TEMP_PREFIX.as_bytes())
        && b[TEMP_PREFIX.len()..].iter().all(u8::is_ascii_hexdigit)
}

/// A fresh unpredictable temporary name: the prefix and 128 random bits.
///
/// # Errors
/// [`ErrorKind::RandomSource`] if `getrandom(2)` fails (THREATS FS-11).
fn temp_name(op: &'static str, shown: &Path) -> Result<OsString> {
    let mut raw = [0u8; 16];
    getrandom::fill(&mut raw).map_err(|e| Error::random_source(op, shown, e))?;
    let mut name = String::with_capacity(TEMP_PREFIX.len() + 32);
    name.push_str(TEMP_PREFIX);
    for b in raw {
        name.push_str(&format!("{b:02x}"));
    }
    Ok(name.into())
}

fn refuse_non_regular_target(op: &'static str, shown: &Path, dir: BorrowedFd<'_>, name: &OsStr) -> Result<()> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Err(Errno::NOENT) => Ok(()),
        Err(e) => Err(Error::from_errno(op, shown, e)),
        Ok(st) => match FileKind::from_file_type(FileType::from_raw_mode(st.st_mode)) {
            FileKind::File => Ok(()),
            FileKind::Symlink => Err(Error::symlink(op, shown)),
            other => Err(Error::not_regular(op, shown, other.noun())),
        },
    }
}

/// `TempStrategy::Tmpfile` asked of the portable backend (macOS has no
/// `O_TMPFILE`): a clear refusal, never a silent named temp.
fn tmpfile_unsupported(op: &'static str, shown: &Path) -> Error {
    Error::new(
        crate::error::ErrorKind::Io,
        op,
        shown,
        "anonymous temporaries (O_TMPFILE) exist only on Linux and are not used by the portable backend; \
         use TempStrategy::Auto or Named",
    )
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn open_tmpfile(dir: BorrowedFd<'_>, mode: Mode) -> rustix::io::Result<OwnedFd> {
    rustix::fs::openat(dir, ".", OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC, mode)
}

/// No `O_TMPFILE` here: never called, since every resolver is the portable
/// backend on this platform (see `Resolver::effective`).
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn open_tmpfile(_dir: BorrowedFd<'_>, _mode: Mode) -> rustix::io::Result<OwnedFd> {
    Err(Errno::OPNOTSUPP)
}

/// Creates a named temp exclusively, retrying on the (2^-128) name clash.
fn create_named_temp(op: &'static str, shown: &Path, dir: BorrowedFd<'_>, mode: Mode) -> Result<(OwnedFd, OsString)> {
    let flags = OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::WRONLY | OFlags::CLOEXEC;
    for _ in 0..4 {
        let name = temp_name(op, shown)?;
        match rustix::fs::openat(dir, name.as_os_str(), flags, mode) {
            Err(Errno::EXIST) => continue,
            Ok(fd) => return Ok((fd, name)),
            Err(e) => return Err(Error::from_errno(op, shown, e)),
        }
    }
    Err(Error::from_errno(op, shown, Errno::EXIST))
}

/// Sets the final mode, writes everything, and (if durable) fsyncs.
fn fill(op: &'static str, shown: &Path, fd: &OwnedFd, mode: Mode, bytes: &[u8], sync: bool) -> Result<()> {
    // The file was created with `mode & !umask`, never wider than `mode`;
    // fchmod makes it exactly `mode` before any byte is written (FS-4).
    rustix::fs::fchmod(fd, mode).map_err(|e| Error::from_errno(op, shown, e))?;
    let mut rest = bytes;
    while !rest.is_empty() {
        match rustix::io::write(fd, rest) {
            Ok(0) => return Err(Error::from_errno(op, shown, Errno::IO)),
            Ok(n) => rest = &rest[n..],
            Err(Errno::INTR) => continue,
            Err(e) => return Err(Error::from_errno(op, shown, e)),
        }
    }
    if sync {
        crate::sys::full_sync(fd).map_err(|e| Error::from_errno(op, shown, e))?;
    }
    Ok(())
}

/// Links an `O_TMPFILE` file at `name`: `linkat(AT_EMPTY_PATH)` where
/// allowed, else through `self/fd/N` of gw-procfs's verified `/proc` (a
/// filesystem mounted over `/proc` could point that magic link anywhere).
/// Fails with `EEXIST` if taken.
#[cfg(any(target_os = "linux", target_os = "android"))]
fn link_anonymous(fd: &OwnedFd, dir: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<()> {
    use rustix::fd::AsRawFd;
    match rustix::fs::linkat(fd, "", dir, name, AtFlags::EMPTY_PATH) {
        Err(Errno::NOENT | Errno::PERM | Errno::INVAL) => {
            let proc = gw_procfs::Proc::get().map_err(|_| Errno::NOENT)?;
            let rel = format!("self/fd/{}", fd.as_raw_fd());
            rustix::fs::linkat(proc.as_fd(), rel.as_str(), dir, name, AtFlags::SYMLINK_FOLLOW)
        }
        other => other,
    }
}

/// No anonymous files exist here (see `open_tmpfile`): never called.
#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn link_anonymous(_fd: &OwnedFd, _dir: BorrowedFd<'_>, _name: &OsStr) -> rustix::io::Result<()> {
    Err(Errno::OPNOTSUPP)
}

/// Links an `O_TMPFILE` file under a fresh temporary name.
fn link_anonymous_temp(op: &'static str, shown: &Path, fd: &OwnedFd, dir: BorrowedFd<'_>) -> Result<OsString> {
    for _ in 0..4 {
        let name = temp_name(op, shown)?;
        match link_anonymous(fd, dir, &name) {
            Err(Errno::EXIST) => continue,
            Ok(()) => return Ok(name),
            Err(e) => return Err(Error::from_errno(op, shown, e)),
        }
    }
    Err(Error::from_errno(op, shown, Errno::EXIST))
}

/// Renames the temp over (or to) the target; removes the temp on failure.
fn rename_into_place(
    op: &'static str,
    shown: &Path,
    dir: BorrowedFd<'_>,
    tmp: &OsStr,
    name: &OsStr,
    publish: Publish,
) -> Result<()> {
    let res = match publish {
        Publish::Replace => rustix::fs::renameat(dir, tmp, dir, name),
        Publish::NoReplace => rustix::fs::renameat_with(dir, tmp, dir, name, RenameFlags::NOREPLACE),
    };
    res.map_err(|e| {
        let _ = rustix::fs::unlinkat(dir, tmp, AtFlags::empty());
        if e == Errno::ISDIR {
            return Error::not_regular(op, shown, "directory");
        }
        publish_error(op, shown, dir, name, e)
    })
}

/// The error for a failed publish. `EEXIST` with a symlink at the name is a
/// symlink refusal (THREATS FS-1): "already exists" would let a caller take
/// a planted link for its own file.
fn publish_error(op: &'static str, shown: &Path, dir: BorrowedFd<'_>, name: &OsStr, e: Errno) -> Error {
    if e == Errno::EXIST
        && let Ok(st) = rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW)
        && FileType::from_raw_mode(st.st_mode) == FileType::Symlink
    {
        return Error::symlink(op, shown);
    }
    Error::from_errno(op, shown, e)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_are_unpredictable_and_recognised() {
        let a = temp_name("write", Path::new("x")).unwrap();
        let b = temp_name("write", Path::new("x")).unwrap();
        assert_ne!(a, b);
        assert!(is_temp_name(&a));
        assert!(!is_temp_name(OsStr::new(".gw-tmp.zz")));
        assert!(!is_temp_name(OsStr::new("config.json")));
        assert_eq!(a.len(), TEMP_PREFIX.len() + 32, "128 random bits in hex");
    }

    /// The portable backend (macOS's) has no `O_TMPFILE`: `Tmpfile` is
    /// refused with an error that says so and nothing is written; `Auto`
    /// writes through a named temp and leaves nothing else behind.
    #[test]
    fn portable_backend_refuses_tmpfile_and_writes_through_a_named_temp() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("gw-anchor-portable-{}", std::process::id()));
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let policy = crate::Policy::new().resolver(crate::Resolver::Portable);
        let root = Root::open(&dir, &policy).unwrap();

        let tmpfile = WriteOptions::new().temp_strategy(TempStrategy::Tmpfile);
        let e = root.write_atomic("secret", b"x", &tmpfile).unwrap_err();
        assert_eq!(e.kind(), crate::ErrorKind::Io, "{e}");
        assert!(e.message().contains("O_TMPFILE"), "{e}");
        assert!(!dir.join("secret").exists(), "a refused write wrote nothing");

        root.write_atomic("secret", b"new", &WriteOptions::new()).unwrap();
        root.create_new("other", b"one", &WriteOptions::new()).unwrap();
        assert_eq!(
            root.create_new("other", b"two", &WriteOptions::new()).unwrap_err().kind(),
            crate::ErrorKind::AlreadyExists
        );
        let mut names: Vec<_> = std::fs::read_dir(&dir).unwrap().map(|e| e.unwrap().file_name()).collect();
        names.sort();
        assert_eq!(names, ["other", "secret"], "no temp is left behind");
        assert_eq!(std::fs::read(dir.join("secret")).unwrap(), b"new");
        assert_eq!(std::fs::read(dir.join("other")).unwrap(), b"one");
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
