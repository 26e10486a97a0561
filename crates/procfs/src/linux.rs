//! The verified `/proc` handle and what gw reads through it.

use std::ffi::{CStr, CString};
use std::io;
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::sync::OnceLock;
use std::time::Instant;

use rustix::fs::{AtFlags, Mode, OFlags, RawDir, StatxFlags};
use rustix::io::Errno;

use crate::stat::{ProcStat, parse_stat};

/// `PROC_SUPER_MAGIC` (linux/magic.h).
const PROC_SUPER_MAGIC: i64 = 0x9fa0;
/// The inode number of the root of every procfs mount (`PROC_ROOT_INO`).
const PROC_ROOT_INO: u64 = 1;
/// Larger than any `/proc` text gw reads (`status` is ~1.5 KiB, a stat line
/// at most ~1 KiB; `mountinfo` grows with mounts): a bound, not a guess.
const MAX_READ: usize = 4 << 20;

/// `/proc`, opened once and verified to be the procfs of our pid namespace.
#[derive(Debug)]
pub struct Proc {
    dir: OwnedFd,
    /// Whether `statx` of `PID/fd` counts the open fds (Linux 6.2+).
    fd_counts: bool,
    /// Whether pid 2 here is `kthreadd` (a kernel thread: the init pid
    /// namespace's procfs), asked once; see [`Proc::kernel_threads`].
    kthreadd: OnceLock<bool>,
}

/// Why the fds of one process could not be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FdScanError {
    /// Permission denied (another user's process, ptrace rules, hidepid).
    Denied(String),
    /// The process went away.
    Gone,
    /// Past the deadline.
    Timeout,
    /// Anything else, with what failed.
    Other(String),
}

/// One read of a process's fd table ([`Proc::fd_table`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct FdTable {
    /// Every fd number that was open, in the kernel's (ascending) order.
    pub open: Vec<u32>,
    /// Each socket among them: its fd number and socket inode.
    pub sockets: Vec<(u32, u64)>,
}

fn invalid(what: String) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what)
}

impl Proc {
    /// Opens `/proc` and verifies it: the root of a procfs mount, of our
    /// pid namespace.
    ///
    /// # Errors
    /// The `open` error, or `InvalidData` naming what is wrong with what is
    /// mounted there (another filesystem, not the mount's root, another
    /// pid namespace's procfs).
    pub fn open() -> io::Result<Self> {
        let dir = rustix::fs::open(
            "/proc",
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| io::Error::new(io::Error::from(e).kind(), format!("open /proc: {e}")))?;
        let fs = rustix::fs::fstatfs(&dir).map_err(|e| invalid(format!("fstatfs /proc: {e}")))?;
        #[allow(clippy::unnecessary_cast)] // f_type's width differs across libcs
        let magic = fs.f_type as i64;
        if magic != PROC_SUPER_MAGIC {
            return Err(invalid(format!(
                "/proc is not procfs (filesystem magic {magic:#x}, expected {PROC_SUPER_MAGIC:#x})"
            )));
        }
        let st = rustix::fs::fstat(&dir).map_err(|e| invalid(format!("fstat /proc: {e}")))?;
        if st.st_ino != PROC_ROOT_INO {
            return Err(invalid(format!(
                "/proc is a directory inside procfs (inode {}), not a procfs mount",
                st.st_ino
            )));
        }
        let me = std::process::id().to_string();
        let link = rustix::fs::readlinkat(&dir, "self", Vec::new())
            .map_err(|e| invalid(format!("readlink /proc/self: {e}")))?;
        if link.as_bytes() != me.as_bytes() {
            return Err(invalid(format!(
                "/proc belongs to another pid namespace (/proc/self is {}, we are pid {me})",
                link.to_string_lossy()
            )));
        }
        let mut proc = Self { dir, fd_counts: false, kthreadd: OnceLock::new() };
        // We hold at least the descriptor of /proc itself: a kernel that
        // counts fds says so; an older one reports 0.
        proc.fd_counts = proc.fd_count_of(c"self/fd").is_ok_and(|n| n > 0);
        Ok(proc)
    }

    /// The process-wide handle, opened and verified on first use.
    ///
    /// # Errors
    /// What [`Proc::open`] reported (the same on every call).
    pub fn get() -> io::Result<&'static Self> {
        static PROC: OnceLock<Result<Proc, (io::ErrorKind, String)>> = OnceLock::new();
        match PROC.get_or_init(|| Self::open().map_err(|e| (e.kind(), e.to_string()))) {
            Ok(p) => Ok(p),
            Err((kind, msg)) => Err(io::Error::new(*kind, msg.clone())),
        }
    }

    /// The verified directory, for `*at` calls of callers.
    pub fn as_fd(&self) -> BorrowedFd<'_> {
        self.dir.as_fd()
    }

    /// Opens `rel` (relative to `/proc`, e.g. `"123/stat"`) read-only,
    /// not following a symlink at the last component.
    ///
    /// # Errors
    /// The `openat` error.
    pub fn open_at(&self, rel: &str, flags: OFlags) -> io::Result<OwnedFd> {
        rustix::fs::openat(&self.dir, rel, OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | flags, Mode::empty())
            .map_err(io::Error::from)
    }

    /// The contents of `rel` (bounded by 4 MiB).
    ///
    /// # Errors
    /// The `openat`/`read` error, `InvalidData` past the bound.
    pub fn read(&self, rel: &str) -> io::Result<Vec<u8>> {
        use std::io::Read;
        let file = std::fs::File::from(self.open_at(rel, OFlags::empty())?);
        // procfs files report size 0: without capacity, read_to_end would
        // start at 32 bytes and double (six reads for a stat line).
        let mut out = Vec::with_capacity(4096);
        file.take(MAX_READ as u64 + 1).read_to_end(&mut out)?;
        if out.len() > MAX_READ {
            return Err(invalid(format!("/proc/{rel} is larger than {MAX_READ} bytes")));
        }
        Ok(out)
    }

    /// The contents of `rel` as text.
    ///
    /// # Errors
    /// As [`Proc::read`]; `InvalidData` when not UTF-8.
    pub fn read_to_string(&self, rel: &str) -> io::Result<String> {
        String::from_utf8(self.read(rel)?).map_err(|_| invalid(format!("/proc/{rel} is not UTF-8")))
    }

    /// `/proc/PID/stat`, parsed; `Ok(None)` when the process is not there
    /// (exited, or hidden from us).
    ///
    /// # Errors
    /// A read error other than "gone", or `InvalidData` when unparsable.
    pub fn stat(&self, pid: u32) -> io::Result<Option<ProcStat>> {
        match self.read(&format!("{pid}/stat")) {
            Ok(b) => parse_stat(&b).map(Some).map_err(|e| invalid(e.to_string())),
            Err(e) if gone(&e) => Ok(None),
            Err(e) => Err(e),
        }
    }

    /// The four uids (real, effective, saved, filesystem) of `pid` from its
    /// `status`; `Ok(None)` when it is gone.
    ///
    /// # Errors
    /// A read error other than "gone"; `InvalidData` without a `Uid:` line.
    pub fn uids(&self, pid: u32) -> io::Result<Option<[u32; 4]>> {
        let text = match self.read_to_string(&format!("{pid}/status")) {
            Ok(t) => t,
            Err(e) if gone(&e) => return Ok(None),
            Err(e) => return Err(e),
        };
        parse_uid_line(&text).map(Some).ok_or_else(|| invalid(format!("/proc/{pid}/status: no Uid line")))
    }

    /// The command name of `pid` (`comm`), empty when unreadable.
    pub fn comm(&self, pid: u32) -> String {
        self.read_to_string(&format!("{pid}/comm")).map(|c| c.trim_end_matches('\n').to_owned()).unwrap_or_default()
    }

    /// Every pid listed in `/proc` (processes, not threads), in listing order.
    ///
    /// # Errors
    /// The `openat`/`getdents64` error.
    pub fn pids(&self) -> io::Result<Vec<u32>> {
        // A descriptor of its own (the handle's offset is shared by every
        // thread), listed into a buffer that holds ~680 entries at once
        // (24 bytes each): one getdents64 and the one that says the end,
        // where a growing buffer made four.
        let fd = self.open_at(".", OFlags::DIRECTORY)?;
        let mut names = vec![MaybeUninit::<u8>::uninit(); 16 << 10];
        let mut dir = RawDir::new(&fd, &mut names);
        let mut pids = Vec::new();
        while let Some(entry) = dir.next() {
            let entry = entry.map_err(io::Error::from)?;
            if let Some(pid) = std::str::from_utf8(entry.file_name().to_bytes()).ok().and_then(|n| n.parse().ok()) {
                pids.push(pid);
            }
        }
        Ok(pids)
    }

    /// The inode of the pid namespace of `pid` (`None`: our own), which
    /// names the namespace a pid number means something in.
    ///
    /// # Errors
    /// The `statx` error (another user's process hides its `ns` links).
    pub fn pid_namespace(&self, pid: Option<u32>) -> io::Result<u64> {
        let rel = pid.map_or_else(|| "self/ns/pid".to_owned(), |p| format!("{p}/ns/pid"));
        rustix::fs::statx(&self.dir, rel.as_str(), AtFlags::empty(), StatxFlags::INO)
            .map(|st| st.stx_ino)
            .map_err(io::Error::from)
    }

    /// This boot's id (`sys/kernel/random/boot_id`), trimmed.
    ///
    /// # Errors
    /// The read error.
    pub fn boot_id(&self) -> io::Result<String> {
        Ok(self.read_to_string("sys/kernel/random/boot_id")?.trim().to_owned())
    }

    fn fd_count_of(&self, rel: &CStr) -> rustix::io::Result<u64> {
        rustix::fs::statx(&self.dir, rel, AtFlags::SYMLINK_NOFOLLOW, StatxFlags::SIZE).map(|st| st.stx_size)
    }

    /// Whether this kernel counts a process's open fds in the size of its
    /// `fd` directory (Linux 6.2+: the set bits of its open-fd bitmap, with
    /// no permission check beyond reaching `/proc/PID`).
    pub fn counts_fds(&self) -> bool {
        self.fd_counts
    }

    /// The kernel's own processes: the children of `kthreadd` (pid 2), read
    /// in one `read` of `2/task/2/children`. They are every kernel thread
    /// (no fd table: `kthreadd` starts them all) and the usermode helpers
    /// the kernel starts for itself (a core-dump pipe, `modprobe`), which
    /// run root's configured programs. Empty when pid 2 is not a kernel
    /// thread (another pid namespace's view, where pid 2 is anyone's
    /// process: `PF_KTHREAD` in its stat, which only the kernel sets, is
    /// checked once) or the kernel lacks the `children` file.
    ///
    /// A scan of every process's fds skips these instead of asking each
    /// (about 65 `statx` calls here, a third of a scan's system calls). A
    /// listed pid that exits and is reused during the scan would be skipped
    /// too: reuse needs the pid counter to wrap around to it (`pid_max`
    /// allocations) within the scan's milliseconds.
    pub fn kernel_threads(&self) -> Vec<u32> {
        let is_kthreadd =
            *self.kthreadd.get_or_init(|| self.stat(2).is_ok_and(|s| s.is_some_and(|s| s.is_kernel_thread())));
        if !is_kthreadd {
            return Vec::new();
        }
        let Ok(list) = self.read_to_string("2/task/2/children") else { return Vec::new() };
        let mut pids: Vec<u32> = list.split_ascii_whitespace().filter_map(|p| p.parse().ok()).collect();
        pids.sort_unstable();
        pids
    }

    /// `true` only when the kernel says `pid` has no open fd at all (every
    /// kernel thread; it holds no socket); `false` when it has some, is
    /// gone, or this kernel does not count. One `statx` instead of open,
    /// two `getdents64` and close, for a scan of every process.
    pub fn holds_no_fd(&self, pid: u32) -> bool {
        if !self.fd_counts {
            return false;
        }
        let Ok(rel) = CString::new(format!("{pid}/fd")) else { return false };
        self.fd_count_of(&rel).is_ok_and(|n| n == 0)
    }

    /// The socket inodes among the fds of `pid` (see [`Proc::fd_table`]).
    ///
    /// # Errors
    /// [`FdScanError`]: denied, gone, out of time, or another failure.
    pub fn socket_inodes(&self, pid: u32, deadline: Instant) -> Result<Vec<u64>, FdScanError> {
        Ok(self.fd_table(pid, deadline)?.sockets.into_iter().map(|(_, inode)| inode).collect())
    }

    /// The socket that fd `fd` of `pid` is now, `None` when it is closed,
    /// not a socket, or the process is gone: one `readlinkat(2)` of
    /// `PID/fd/FD`. A caller that
    /// knows where to look (the fd a server's next `accept` takes) asks
    /// this instead of reading the whole table.
    ///
    /// # Errors
    /// [`FdScanError`]: denied (a process we may not read), or another
    /// failure.
    pub fn socket_at(&self, pid: u32, fd: u32) -> Result<Option<u64>, FdScanError> {
        // No such fd, or no such process (ENOENT says not which): None.
        match socket_link(&self.dir, &*format!("{pid}/fd/{fd}")) {
            Ok(inode) => Ok(inode),
            Err(Errno::ACCESS | Errno::PERM) => {
                Err(FdScanError::Denied(format!("permission denied reading /proc/{pid}/fd/{fd}")))
            }
            Err(e) => Err(FdScanError::Other(format!("/proc/{pid}/fd/{fd}: {e}"))),
        }
    }

    /// The fds of `pid` and the sockets among them: `openat` `PID/fd`, list
    /// it with `getdents64(2)`, and `readlinkat(2)` each entry relative to
    /// that directory (`socket:[INODE]`). Checks `deadline` every 64 fds.
    ///
    /// # Errors
    /// [`FdScanError`]: denied, gone, out of time, or another failure.
    pub fn fd_table(&self, pid: u32, deadline: Instant) -> Result<FdTable, FdScanError> {
        let path = format!("/proc/{pid}/fd");
        let denied = |what: &str| FdScanError::Denied(format!("permission denied {what} {path}"));
        let fd = match rustix::fs::openat(
            &self.dir,
            format!("{pid}/fd"),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            Err(Errno::ACCESS | Errno::PERM) => return Err(denied("reading")),
            Err(Errno::NOENT | Errno::SRCH) => return Err(FdScanError::Gone),
            Err(e) => return Err(FdScanError::Other(format!("{path}: {e}"))),
        };
        // The entries are listed straight from this descriptor (rustix's
        // `RawDir` over a borrowed fd: no second descriptor and no second
        // close, syscalls a scan of every process pays per process), and
        // each is read as it is listed. Listing costs the kernel a dentry
        // per entry, so the first listing is short (~10 entries): a process
        // whose fds we may list but not read (a more privileged init holding
        // hundreds) costs that and its first entry — measured here, 5 µs
        // instead of 50–100 µs for 85 entries. The rest, if any, is listed
        // ~170 entries at a time.
        let mut out = FdTable::default();
        let mut seen = 0usize;
        let mut read = |name: &CStr| -> Result<(), FdScanError> {
            if name.to_bytes().first() == Some(&b'.') {
                return Ok(());
            }
            // Always a number here; one that is not is still read, not numbered.
            let number = name.to_str().ok().and_then(|n| n.parse::<u32>().ok());
            out.open.extend(number);
            seen += 1;
            if seen % 64 == 63 && Instant::now() >= deadline {
                return Err(FdScanError::Timeout);
            }
            // An fd closed meanwhile holds nothing now.
            match socket_link(&fd, name) {
                Ok(inode) => {
                    out.sockets.extend(inode.map(|i| (number.unwrap_or(u32::MAX), i)));
                    Ok(())
                }
                Err(Errno::ACCESS | Errno::PERM) => Err(denied("reading")),
                Err(e) => Err(FdScanError::Other(format!("{path}/{}: {e}", name.to_string_lossy()))),
            }
        };
        let listing = |e: Errno| match e {
            Errno::ACCESS | Errno::PERM => denied("listing"),
            _ => FdScanError::Gone,
        };
        let mut first = [MaybeUninit::<u8>::uninit(); 256];
        let mut dir = RawDir::new(&fd, &mut first);
        loop {
            match dir.next() {
                None => return Ok(out),
                Some(entry) => read(entry.map_err(listing)?.file_name())?,
            }
            if dir.is_buffer_empty() {
                break;
            }
        }
        let mut rest = [MaybeUninit::<u8>::uninit(); 4096];
        let mut dir = RawDir::new(&fd, &mut rest);
        while let Some(entry) = dir.next() {
            read(entry.map_err(listing)?.file_name())?;
        }
        Ok(out)
    }
}

fn gone(e: &io::Error) -> bool {
    e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(Errno::SRCH.raw_os_error())
}

/// The socket inode the fd link `path` (relative to `dir`) names, `None`
/// for anything else or a link that is gone (`ENOENT`): one `readlinkat`.
fn socket_link<P: rustix::path::Arg>(dir: impl AsFd, path: P) -> Result<Option<u64>, Errno> {
    // "socket:[" + at most 20 digits + "]" fits; a target that fills the
    // buffer (possibly truncated) is not a socket.
    let mut link = [0u8; 64];
    match rustix::fs::readlinkat_raw(dir, path, &mut link[..]) {
        Ok(n) if n < link.len() => Ok(socket_inode(&link[..n])),
        Ok(_) | Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `socket:[12345]` -> 12345.
fn socket_inode(link: &[u8]) -> Option<u64> {
    let inner = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    if inner.is_empty() || !inner.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(inner).ok()?.parse().ok()
}

/// The `Uid:` line of a `status` file: real, effective, saved, fs.
fn parse_uid_line(status: &str) -> Option<[u32; 4]> {
    let line = status.lines().find_map(|l| l.strip_prefix("Uid:"))?;
    let mut out = [0u32; 4];
    let mut it = line.split_ascii_whitespace();
    for slot in &mut out {
        *slot = it.next()?.parse().ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn socket_link_parsing() {
        assert_eq!(socket_inode(b"socket:[123]"), Some(123));
        assert_eq!(socket_inode(b"socket:[]"), None);
        assert_eq!(socket_inode(b"pipe:[123]"), None);
        assert_eq!(socket_inode(b"socket:[12a]"), None);
        assert_eq!(socket_inode(b"socket:[+12]"), None, "digits only: Rust's parser takes a sign");
    }

    #[test]
    fn uid_line_parsing() {
        assert_eq!(parse_uid_line("Name:\tx\nUid:\t1000\t0\t65534\t7\nGid:\t1\t1\t1\t1\n"), Some([1000, 0, 65534, 7]));
        assert_eq!(parse_uid_line("Uid:\t1\t2\n"), None);
        let p = Proc::get().unwrap();
        let me = p.uids(std::process::id()).unwrap().unwrap();
        assert_eq!(me[1], rustix::process::geteuid().as_raw());
        assert_eq!(p.uids(u32::MAX).unwrap(), None, "no such process");
        assert!(
            rustix::process::geteuid().is_root(),
            "needs root to start a process as 65534 (run as root, as CI does)"
        );
        let mut child = std::process::Command::new("sleep");
        std::os::unix::process::CommandExt::uid(child.arg("60"), 65534);
        let mut child = child.spawn().unwrap();
        assert_eq!(p.uids(child.id()).unwrap(), Some([65534; 4]));
        child.kill().unwrap();
        child.wait().unwrap();
    }

    #[test]
    fn the_real_proc_is_verified_and_answers_for_us() {
        let p = Proc::get().unwrap();
        let me = p.stat(std::process::id()).unwrap().unwrap();
        assert_eq!((me.pid, me.ppid), (std::process::id(), std::os::unix::process::parent_id()));
        assert_eq!(p.stat(u32::MAX).unwrap(), None, "no such pid: gone, not an error");
        assert!(p.pids().unwrap().contains(&std::process::id()));
        let ns = std::fs::metadata("/proc/self/ns/pid").map(|m| std::os::unix::fs::MetadataExt::ino(&m)).unwrap();
        assert_eq!(p.pid_namespace(None).unwrap(), ns);
        assert_eq!(p.pid_namespace(Some(std::process::id())).unwrap(), ns);
        assert_eq!(p.boot_id().unwrap().len(), 36);
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = rustix::fs::fstat(&l).unwrap().st_ino;
        let far = Instant::now() + std::time::Duration::from_secs(10);
        assert!(p.socket_inodes(std::process::id(), far).unwrap().contains(&inode));
        assert_eq!(p.socket_inodes(u32::MAX, far), Err(FdScanError::Gone));
    }

    #[test]
    fn the_fd_table_numbers_every_fd_and_a_socket_is_found_at_its_number() {
        use std::os::fd::AsRawFd;
        let p = Proc::get().unwrap();
        let far = Instant::now() + std::time::Duration::from_secs(10);
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let file = std::fs::File::open("/dev/null").unwrap();
        let inode = rustix::fs::fstat(&listener).unwrap().st_ino;
        let (sock_fd, file_fd) = (listener.as_raw_fd() as u32, file.as_raw_fd() as u32);
        let t = p.fd_table(std::process::id(), far).unwrap();
        assert!(t.open.contains(&sock_fd) && t.open.contains(&file_fd), "{t:?}");
        assert!(t.open.windows(2).all(|w| w[0] < w[1]), "ascending: {:?}", t.open);
        assert!(t.sockets.contains(&(sock_fd, inode)), "{t:?}");
        assert!(!t.sockets.iter().any(|&(fd, _)| fd == file_fd));
        assert_eq!(p.socket_at(std::process::id(), sock_fd), Ok(Some(inode)));
        assert_eq!(p.socket_at(std::process::id(), file_fd), Ok(None), "a file is no socket");
        drop(listener);
        assert_eq!(p.socket_at(std::process::id(), sock_fd), Ok(None), "closed");
        assert_eq!(p.socket_at(u32::MAX, 0), Ok(None), "no such process");
    }

    #[test]
    fn every_fd_is_read_past_the_short_first_listing() {
        // Files below, then 40 sockets: every socket found, in whichever
        // listing (the first holds ~10 entries, the rest ~170 at a time).
        let files: Vec<std::fs::File> = (0..300).map(|_| std::fs::File::open("/dev/null").unwrap()).collect();
        let listeners: Vec<std::net::TcpListener> =
            (0..40).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
        let want: std::collections::HashSet<u64> =
            listeners.iter().map(|l| rustix::fs::fstat(l).unwrap().st_ino).collect();
        let far = Instant::now() + std::time::Duration::from_secs(10);
        let held: std::collections::HashSet<u64> =
            Proc::get().unwrap().socket_inodes(std::process::id(), far).unwrap().into_iter().collect();
        assert!(want.is_subset(&held), "missing {:?}", want.difference(&held).collect::<Vec<_>>());
        drop(files);
    }

    /// The kernel release as (major, minor).
    fn kernel() -> (u32, u32) {
        let r = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap();
        let mut it = r.split(['.', '-']).map(|p| p.trim().parse::<u32>().unwrap_or(0));
        (it.next().unwrap_or(0), it.next().unwrap_or(0))
    }

    /// The handle to `/proc` is not inherited by the programs gw starts, and
    /// a file past the read bound is refused, not cut.
    #[test]
    fn the_handle_is_close_on_exec_and_reads_are_bounded() {
        let p = Proc::get().unwrap();
        let flags = rustix::io::fcntl_getfd(p.as_fd()).unwrap();
        assert!(flags.contains(rustix::io::FdFlags::CLOEXEC), "{flags:?}");
        assert_eq!(p.read("self/cmdline").unwrap(), std::fs::read("/proc/self/cmdline").unwrap());
        let whole = std::fs::read("/proc/kallsyms").unwrap().len();
        assert!(whole > MAX_READ, "this test needs a /proc/kallsyms over {MAX_READ} bytes: {whole}");
        let e = p.read("kallsyms").unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        assert_eq!(e.to_string(), format!("/proc/kallsyms is larger than {MAX_READ} bytes"));
    }

    /// A table of more than 64 fds is read whole in time, and stops at a
    /// deadline already past (checked every 64 fds).
    #[test]
    fn a_long_fd_table_is_read_whole_and_stops_at_its_deadline() {
        let p = Proc::get().unwrap();
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let copies: Vec<std::os::fd::OwnedFd> = (0..100).map(|_| rustix::io::dup(&l).unwrap()).collect();
        let me = std::process::id();
        let table = p.fd_table(me, Instant::now() + std::time::Duration::from_secs(10)).unwrap();
        let inode = rustix::fs::fstat(&l).unwrap().st_ino;
        let held = table.sockets.iter().filter(|&&(_, i)| i == inode).count();
        assert_eq!(held, 101, "the listener and its 100 copies");
        assert!(matches!(p.fd_table(me, Instant::now()), Err(FdScanError::Timeout)));
        drop(copies);
    }

    #[test]
    fn fd_counts_skip_only_processes_without_fds() {
        let p = Proc::get().unwrap();
        // Linux 6.2 counts fds in st_size; before that the probe must
        // refuse the shortcut, so nothing is ever skipped.
        assert_eq!(p.counts_fds(), kernel() >= (6, 2), "kernel {:?}", kernel());
        assert!(!p.holds_no_fd(std::process::id()), "we hold fds");
        assert!(!p.holds_no_fd(u32::MAX), "a pid that does not exist is not skipped");
        // kthreadd (pid 2 in the initial pid namespace) has no files.
        if p.counts_fds() && p.comm(2) == "kthreadd" {
            assert!(p.holds_no_fd(2), "a kernel thread is skipped");
        }
    }

    #[test]
    fn kernel_threads_are_kthreadds_children_and_only_in_the_initial_pid_namespace() {
        let p = Proc::get().unwrap();
        let listed = p.kernel_threads();
        let two = p.stat(2).unwrap();
        // Told apart without the flag under test: in the initial pid
        // namespace pid 2 is `kthreadd`, whose parent is 0.
        let initial = p.comm(2) == "kthreadd" && two.as_ref().is_some_and(|t| t.ppid == 0);
        assert_eq!(two.as_ref().is_some_and(ProcStat::is_kernel_thread), initial, "pid 2: {two:?}");
        if !initial {
            // Another pid namespace's view: pid 2 is someone's process, and
            // its children must not be skipped.
            assert!(listed.is_empty(), "pid 2 {two:?} is no kernel thread, yet {listed:?} were listed");
            return;
        }
        assert!(!listed.is_empty(), "kthreadd starts the kernel's threads");
        assert!(listed.windows(2).all(|w| w[0] < w[1]), "sorted, for binary search");
        assert!(!listed.contains(&std::process::id()) && !listed.contains(&1));
        let mut seen = 0;
        for &pid in &listed {
            // Gone meanwhile is fine; one still there is kthreadd's child,
            // and (no usermode helper runs during the test) a kernel thread
            // holding no fd.
            let Some(st) = p.stat(pid).unwrap() else { continue };
            assert_eq!(st.ppid, 2, "{st:?}");
            if st.is_kernel_thread() {
                seen += 1;
                assert!(!p.counts_fds() || p.holds_no_fd(pid), "kernel thread {pid} holds fds");
            }
        }
        assert!(seen > 0);
    }

    /// Run by `port_7_something_mounted_over_proc_is_refused` inside a private
    /// mount namespace whose /proc was replaced (`GW_PROCFS_OVERMOUNT`).
    #[test]
    fn overmount_helper() {
        let Some(want) = std::env::var_os("GW_PROCFS_OVERMOUNT") else { return };
        let err = Proc::open().expect_err("what is mounted on /proc is not a procfs root");
        assert!(err.to_string().contains(want.to_str().unwrap()), "{err}");
        println!("REFUSED: {err}");
    }

    #[test]
    fn port_7_something_mounted_over_proc_is_refused() {
        assert!(
            rustix::process::geteuid().is_root(),
            "needs root for a private mount namespace (run as root, as CI does)"
        );
        let exe = std::env::current_exe().unwrap();
        for (mount, want) in
            [("mount -t tmpfs none /proc", "is not procfs"), ("mount --bind /proc/1 /proc", "not a procfs mount")]
        {
            let out = std::process::Command::new("unshare")
                .args(["--mount", "--propagation", "private", "sh", "-c"])
                .arg(format!("{mount} && exec \"$0\" --exact linux::tests::overmount_helper --nocapture"))
                .arg(&exe)
                .env("GW_PROCFS_OVERMOUNT", want)
                .output()
                .unwrap();
            let text = String::from_utf8_lossy(&out.stdout);
            assert!(out.status.success() && text.contains("REFUSED"), "{mount}: {out:?}");
        }
    }

    /// Run by the test below in a new pid namespace where pid 2 is a shell
    /// with a child of its own.
    #[test]
    fn pid_namespace_helper() {
        if std::env::var_os("GW_PROCFS_PIDNS").is_none() {
            return;
        }
        let p = Proc::open().expect("this namespace's own procfs");
        let two = p.stat(2).unwrap().expect("pid 2: the shell");
        assert!(!two.is_kernel_thread(), "{two:?}");
        let children = p.read_to_string("2/task/2/children").unwrap();
        assert!(!children.trim().is_empty(), "pid 2 has a child");
        assert_eq!(p.kernel_threads(), Vec::<u32>::new(), "pid 2's children here are ordinary processes");
        println!("NOTHING SKIPPED");
    }

    #[test]
    fn in_another_pid_namespace_no_process_is_taken_for_a_kernel_thread() {
        assert!(rustix::process::geteuid().is_root(), "needs root for a pid namespace (run as root, as CI does)");
        let exe = std::env::current_exe().unwrap();
        // pid 1 is the outer shell; pid 2 an inner shell (`; :` keeps it
        // from exec'ing sleep) with `sleep` as its child. Taking pid 2's
        // children for kernel threads would skip that child in every scan.
        let out = std::process::Command::new("unshare")
            .args(["--pid", "--fork", "--mount-proc", "sh", "-c"])
            .arg(
                "sh -c 'sleep 30; :' & sleep 0.2; \"$0\" --exact linux::tests::pid_namespace_helper --nocapture; \
                 r=$?; kill -9 -1 2>/dev/null; exit $r",
            )
            .arg(&exe)
            .env("GW_PROCFS_PIDNS", "1")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success() && text.contains("NOTHING SKIPPED"), "{out:?}");
    }

    #[test]
    fn port_7_a_directory_that_is_not_procfs_is_refused() {
        // What Proc::open checks, on a directory that is not /proc's root:
        // the magic of a tmpfs/ext4 directory differs, and a procfs
        // subdirectory is not inode 1.
        let tmp = rustix::fs::open("/tmp", OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        #[allow(clippy::unnecessary_cast)]
        let magic = rustix::fs::fstatfs(&tmp).unwrap().f_type as i64;
        assert_ne!(magic, PROC_SUPER_MAGIC);
        let sub = rustix::fs::open("/proc/self", OFlags::RDONLY | OFlags::DIRECTORY, Mode::empty()).unwrap();
        #[allow(clippy::unnecessary_cast)]
        let sub_magic = rustix::fs::fstatfs(&sub).unwrap().f_type as i64;
        assert_eq!(sub_magic, PROC_SUPER_MAGIC);
        assert_ne!(rustix::fs::fstat(&sub).unwrap().st_ino, PROC_ROOT_INO);
    }
}
