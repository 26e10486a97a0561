//! The few places where Linux and the other Unixes (macOS first) differ in
//! types or system calls, so the rest of gw-anchor is written once.
//!
//! - `struct stat` field widths: `st_mode` is `u16` and `st_dev` is `i32` on
//!   Darwin, `u32` and `u64` on Linux; gw-anchor's public types use `u32`
//!   and `u64` everywhere.
//! - Durability: on macOS `fsync(2)` only hands the data to the drive, whose
//!   cache may lose it on power loss; `fcntl(F_FULLFSYNC)` asks the drive to
//!   flush it (Apple's `fsync(2)` man page). Where a filesystem refuses
//!   `F_FULLFSYNC` (`ENOTSUP`/`EINVAL`: some network and FAT volumes), plain
//!   `fsync` is the best the platform offers and is used instead, as SQLite
//!   does (`docs/platforms.md` states the guarantee per filesystem).
//! - Directory opens on the way down: Linux opens intermediates `O_PATH`
//!   (search permission only); the portable walk has no `O_PATH` and opens
//!   them `O_RDONLY | O_DIRECTORY | O_NOFOLLOW`. A directory the caller may
//!   search but not read (`--x`, e.g. a 0711 parent) refuses that with
//!   `EACCES`; the walk then retries it with POSIX `O_SEARCH`: on macOS
//!   (13 and later; older kernels refuse it, so the walk fails as before)
//!   the system's `O_SEARCH`, on Linux `O_PATH` (which is what musl defines
//!   `O_SEARCH` as), elsewhere no retry.

use std::ffi::OsStr;

use rustix::fd::{AsFd, BorrowedFd, OwnedFd};
use rustix::fs::{Mode, OFlags, Stat};
use rustix::io::Errno;

/// Whether this build has Linux's resolver facilities (`openat2`, `O_PATH`,
/// `O_TMPFILE`, `AT_EMPTY_PATH`).
pub(crate) const LINUX: bool = cfg!(any(target_os = "linux", target_os = "android"));

/// Permission bits with setuid/setgid/sticky (`st_mode & 0o7777`).
pub(crate) fn mode_of(st: &Stat) -> u32 {
    raw_mode_u32(st.st_mode) & 0o7777
}

/// The device number as `u64` (Darwin's `dev_t` is an `i32`: its bits,
/// reinterpreted, so two stats of one device always compare equal).
pub(crate) fn dev_of(st: &Stat) -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        st.st_dev
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        u64::from(st.st_dev.cast_unsigned())
    }
}

/// The link count as `u64`.
pub(crate) fn nlink_of(st: &Stat) -> u64 {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        st.st_nlink
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        u64::from(st.st_nlink)
    }
}

/// A `Mode` from permission bits (only `0o7777` is kept).
pub(crate) fn mode_from_bits(bits: u32) -> Mode {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        Mode::from_raw_mode(bits & 0o7777)
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    {
        // `bits & 0o7777` fits a `u16` (Darwin's `mode_t`) exactly.
        Mode::from_raw_mode(u16::try_from(bits & 0o7777).unwrap_or(0))
    }
}

/// A `Mode`'s bits as `u32`.
pub(crate) fn mode_bits(mode: Mode) -> u32 {
    raw_mode_u32(mode.as_raw_mode())
}

#[cfg(any(target_os = "linux", target_os = "android"))]
fn raw_mode_u32(m: u32) -> u32 {
    m
}

#[cfg(not(any(target_os = "linux", target_os = "android")))]
fn raw_mode_u32(m: u16) -> u32 {
    u32::from(m)
}

/// The flags for a directory opened on the way down (never the last
/// component): `O_PATH` on Linux unless `portable`, else `O_RDONLY`.
pub(crate) fn intermediate_dir_flags(portable: bool) -> OFlags {
    let base = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if !portable {
        return OFlags::PATH | base;
    }
    let _ = portable;
    OFlags::RDONLY | base
}

/// Opens the intermediate directory `name` beneath `dir` (never following a
/// link): with [`intermediate_dir_flags`], and on the portable backend,
/// after `EACCES`, search-only (see the module docs).
pub(crate) fn open_intermediate(dir: BorrowedFd<'_>, name: &OsStr, portable: bool) -> rustix::io::Result<OwnedFd> {
    match rustix::fs::openat(dir, name, intermediate_dir_flags(portable), Mode::empty()) {
        Err(Errno::ACCESS) if portable => match search_only_flags() {
            Some(flags) => rustix::fs::openat(dir, name, flags, Mode::empty()),
            None => Err(Errno::ACCESS),
        },
        other => other,
    }
}

/// `O_SEARCH | O_NOFOLLOW | O_CLOEXEC` where the platform has a search-only
/// open (`O_SEARCH` includes `O_DIRECTORY`).
fn search_only_flags() -> Option<OFlags> {
    let rest = OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
    #[cfg(target_vendor = "apple")]
    {
        Some(OFlags::from_bits_retain(libc::O_SEARCH.cast_unsigned()) | rest)
    }
    #[cfg(any(target_os = "linux", target_os = "android"))]
    {
        Some(OFlags::PATH | rest)
    }
    #[cfg(not(any(target_vendor = "apple", target_os = "linux", target_os = "android")))]
    {
        let _ = rest;
        None
    }
}

/// Makes what was written to `fd` durable: `fsync` on Linux;
/// `F_FULLFSYNC` on Apple platforms, falling back to `fsync` where the
/// filesystem does not support it (see the module docs).
pub(crate) fn full_sync(fd: impl AsFd) -> rustix::io::Result<()> {
    #[cfg(target_vendor = "apple")]
    {
        match rustix::fs::fcntl_fullfsync(&fd) {
            Err(rustix::io::Errno::NOTSUP | rustix::io::Errno::INVAL | rustix::io::Errno::OPNOTSUPP) => {}
            other => return other,
        }
    }
    rustix::fs::fsync(fd)
}

/// The name of the durability call [`full_sync`] makes first (for docs and
/// error messages).
pub(crate) const FULL_SYNC_NAME: &str = if cfg!(target_vendor = "apple") { "fcntl(F_FULLFSYNC)" } else { "fsync" };
