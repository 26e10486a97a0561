//! The expected process and its tree: pinned with a pidfd (pidfd_open(2)),
//! identified by its start time (`/proc/PID/stat` field 22), and searched
//! for `socket:[inode]` links in `/proc/PID/fd`. Every `/proc` read goes
//! through gw-procfs's verified handle.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::sync::OnceLock;
use std::time::Instant;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{Pid, PidfdFlags};

use gw_procfs::{FdScanError as ScanErr, FdTable, Proc, ProcStat};

pub(crate) use crate::decide::{Attribution, Fail};

/// Most processes a tree may have before the check gives up (Unknown).
const MAX_TREE: usize = 65_536;

pub(crate) fn timed_out(deadline: Instant) -> bool {
    Instant::now() >= deadline
}

/// The verified `/proc` (procfs, of our pid namespace: otherwise every pid
/// we read there names some other process, or nothing real).
pub(crate) fn proc() -> io::Result<&'static Proc> {
    Proc::get()
}

/// Reads and parses `/proc/PID/stat`; `Ok(None)` when the process is not
/// there (exited, or hidden from us).
pub(crate) fn read_stat(pid: u32) -> io::Result<Option<ProcStat>> {
    proc()?.stat(pid)
}

/// `/proc` must be procfs and the one of our pid namespace.
pub(crate) fn check_proc_namespace() -> Result<(), Fail> {
    proc().map(|_| ()).map_err(|e| Fail::Unknown(e.to_string()))
}

/// The expected process, pinned: while `fd` reports it alive, `pid` names
/// this very process (the kernel does not reuse a pid a pidfd refers to
/// before the process is reaped... and a reaped process's pidfd reports
/// exited), so everything read from `/proc/PID` in between was about it.
#[derive(Debug)]
pub(crate) struct Pin {
    pub(crate) pid: u32,
    fd: OwnedFd,
    pub(crate) start_time: u64,
    /// Where the process's next accepted socket should be (see
    /// [`accept_candidates`]), from the fd table the scan read.
    next_accept: OnceLock<Vec<u32>>,
}

impl Pin {
    pub(crate) fn new(pid: u32, expected_start: Option<u64>) -> Result<Self, Fail> {
        let raw =
            i32::try_from(pid).ok().and_then(Pid::from_raw).ok_or_else(|| Fail::No(format!("invalid pid {pid}")))?;
        let fd = match rustix::process::pidfd_open(raw, PidfdFlags::empty()) {
            Ok(fd) => fd,
            Err(rustix::io::Errno::SRCH) => return Err(Fail::No(format!("expected process {pid} is not running"))),
            Err(e) => return Err(Fail::Unknown(format!("pidfd_open({pid}): {e}"))),
        };
        let stat = match read_stat(pid) {
            Ok(Some(s)) => s,
            Ok(None) => {
                return Err(Fail::Unknown(format!(
                    "process {pid} is not visible in /proc (hidepid, or another pid namespace)"
                )));
            }
            Err(e) => return Err(Fail::Unknown(format!("cannot read /proc/{pid}/stat: {e}"))),
        };
        if stat.pid != pid {
            return Err(Fail::Unknown(format!("/proc/{pid}/stat names pid {}", stat.pid)));
        }
        if stat.state == b'Z' || stat.state == b'X' {
            return Err(Fail::No(format!("expected process {pid} has exited (zombie)")));
        }
        if let Some(t) = expected_start
            && t != stat.start_time
        {
            return Err(Fail::No(format!(
                "pid {pid} is another process now (start time {}, expected {t}): the expected process exited and its pid was reused",
                stat.start_time
            )));
        }
        let pin = Self { pid, fd, start_time: stat.start_time, next_accept: OnceLock::new() };
        // Still running after the stat was read: the stat was the pinned
        // process's (its pid cannot be reused before it exits).
        pin.alive()?;
        Ok(pin)
    }

    /// Whether the pinned process has not exited (its pidfd is not
    /// readable yet).
    fn alive(&self) -> Result<(), Fail> {
        match poll_now(&self.fd, PollFlags::IN) {
            Ok(ready) if ready.is_empty() => Ok(()),
            Ok(_) => Err(Fail::No(format!("expected process {} exited during the check", self.pid))),
            Err(e) => Err(Fail::Unknown(format!("poll(pidfd {}): {e}", self.pid))),
        }
    }

    /// Re-checks that the pinned process is still the one pinned: its pidfd
    /// does not report it exited, so its pid has not been reused (a pid is
    /// freed only when its process is reaped, after it exits) and the start
    /// time read when it was pinned is still its own — no second read of
    /// `/proc/PID/stat` needed.
    pub(crate) fn still_same(&self) -> Result<(), Fail> {
        self.alive().map_err(|f| match f {
            Fail::No(_) => Fail::No(format!("expected process {} exited or was replaced during the check", self.pid)),
            unknown => unknown,
        })
    }
}

/// What `fd` reports of `events` (and of `HUP`/`ERR`) at once, without
/// waiting: empty when nothing is ready.
pub(crate) fn poll_now(fd: impl AsFd, events: PollFlags) -> rustix::io::Result<PollFlags> {
    let mut fds = [PollFd::new(&fd, events)];
    let zero = Timespec { tv_sec: 0, tv_nsec: 0 };
    rustix::event::poll(&mut fds, Some(&zero))?;
    Ok(fds[0].revents())
}

/// The socket inodes among the fds of `pid` (see
/// [`Proc::socket_inodes`]).
pub(crate) fn socket_inodes(pid: u32, deadline: Instant) -> Result<Vec<u64>, ScanErr> {
    proc().map_err(|e| ScanErr::Other(e.to_string()))?.socket_inodes(pid, deadline)
}

/// Whether the pinned process holds the socket `inode` (one of its fds is
/// `socket:[inode]`; the caller re-checks the pin afterwards, so the pid
/// named that process throughout). First at the fd numbers its next
/// `accept` should have taken ([`accept_candidates`]; measured against
/// `gw serve`, the first one): one `readlinkat` each, and where one names
/// the socket, that is proof, whichever way the number was chosen.
/// Otherwise its whole fd table is read.
pub(crate) fn pinned_holds(pin: &Pin, inode: u64, deadline: Instant) -> bool {
    let Ok(proc) = proc() else { return false };
    let hints = pin.next_accept.get().map_or(&[][..], Vec::as_slice);
    hints.iter().any(|&fd| proc.socket_at(pin.pid, fd) == Ok(Some(inode)))
        || proc.socket_inodes(pin.pid, deadline).is_ok_and(|held| held.contains(&inode))
}

/// Where a server's next accepted socket should be, from its fd `table`:
/// `accept` takes the lowest free fd number — the lowest that was free when
/// the table was read, unless a lower one was closed since, such as a
/// finished connection's socket (one other than the listeners, `wanted`).
/// The two lowest free numbers, then two such sockets' numbers. Only a
/// hint: [`pinned_holds`] falls back to the whole table.
fn accept_candidates(table: &FdTable, wanted: &HashSet<u64>) -> Vec<u32> {
    let open: HashSet<u32> = table.open.iter().copied().collect();
    let mut out: Vec<u32> = (0u32..).filter(|n| !open.contains(n)).take(2).collect();
    let mut closable: Vec<u32> = table.sockets.iter().filter(|(_, i)| !wanted.contains(i)).map(|&(fd, _)| fd).collect();
    closable.sort_unstable();
    out.extend(closable.into_iter().take(2));
    out
}

#[derive(Debug, Clone, Copy)]
struct Node {
    pid: u32,
    parent: Option<usize>,
    start_time: u64,
}

/// The command name of `pid` (`/proc/PID/comm`), empty when unreadable.
pub(crate) fn command_of(pid: u32) -> String {
    proc().map(|p| p.comm(pid)).unwrap_or_default()
}

/// Every visible holder of some sockets: what [`scan`] found.
#[derive(Debug, Default)]
pub(crate) struct Scan {
    /// inode -> every pid whose fds hold it, in `/proc` order.
    pub(crate) holders: HashMap<u64, Vec<u32>>,
    /// Processes whose fds could not be read, with the reason.
    pub(crate) unreadable: Vec<(u32, String)>,
    /// Why the scan did not cover every process (out of time, `/proc`
    /// could not be listed); `None` when it did.
    pub(crate) incomplete: Option<String>,
    /// The fd table of the process [`scan`] was asked to note, as read.
    pub(crate) noted: Option<FdTable>,
}

/// Reads the fds of **every** process in `/proc` and records which of them
/// hold one of `wanted` (a socket is one open file description, and every
/// process holding a descriptor of it can `accept(2)` on it: inherited by
/// `fork`, passed with `SCM_RIGHTS`, or taken with `pidfd_getfd`). Stops at
/// the deadline with `incomplete` set. The fd table of `note` (a pid), if
/// given, is kept whole in [`Scan::noted`].
pub(crate) fn scan(wanted: &HashSet<u64>, note: Option<u32>, deadline: Instant) -> Scan {
    let listed = proc().and_then(|p| Ok((p, p.pids()?)));
    let (proc, pids) = match listed {
        Ok(l) => l,
        Err(e) => return Scan { incomplete: Some(format!("cannot list /proc: {e}")), ..Scan::default() },
    };
    let pids = &pids[..];
    // The kernel's own processes (kernel threads and its usermode helpers,
    // root's programs: out of scope) are listed in one read and not asked
    // one by one (see Proc::kernel_threads).
    let kernel = &proc.kernel_threads()[..];
    // The work is the kernel's (a readlinkat per fd): split a long process
    // list across the CPUs. The result does not depend on the split.
    let workers = if pids.len() < 256 {
        1
    } else {
        std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get).min(4)
    };
    scan_split(Ask { proc, kernel, wanted, note, deadline }, pids, workers)
}

/// What every part of one [`scan`] looks for, and where: the verified
/// `/proc`, the kernel's processes to skip (sorted), the sockets wanted,
/// the pid whose table to keep, the deadline.
#[derive(Clone, Copy)]
struct Ask<'a> {
    proc: &'a Proc,
    kernel: &'a [u32],
    wanted: &'a HashSet<u64>,
    note: Option<u32>,
    deadline: Instant,
}

/// [`scan_pids`] of `pids` in `workers` threads, each its share of the
/// list, merged.
fn scan_split(ask: Ask<'_>, pids: &[u32], workers: usize) -> Scan {
    if workers < 2 {
        return scan_pids(ask, pids);
    }
    let parts: Vec<Scan> = std::thread::scope(|sc| {
        let handles: Vec<_> =
            pids.chunks(pids.len().div_ceil(workers)).map(|chunk| sc.spawn(move || scan_pids(ask, chunk))).collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| Scan {
                    incomplete: Some("a scanning thread panicked".into()),
                    ..Scan::default()
                })
            })
            .collect()
    });
    let mut s = Scan::default();
    for part in parts {
        for (inode, holders) in part.holders {
            s.holders.entry(inode).or_default().extend(holders);
        }
        s.unreadable.extend(part.unreadable);
        s.noted = s.noted.or(part.noted);
        if s.incomplete.is_none() {
            s.incomplete = part.incomplete;
        }
    }
    s
}

/// [`scan`] of `pids`, skipping the kernel's processes.
fn scan_pids(ask: Ask<'_>, pids: &[u32]) -> Scan {
    let Ask { proc, kernel, wanted, note, deadline } = ask;
    let mut s = Scan::default();
    for &pid in pids {
        if timed_out(deadline) {
            s.incomplete = Some("timed out reading the processes' file descriptors".into());
            return s;
        }
        if kernel.binary_search(&pid).is_ok() {
            continue;
        }
        // Without that list (another pid namespace's /proc, or no
        // `children` file), a process the kernel counts as holding no fd
        // (every kernel thread) costs one statx (Linux 6.2+; see
        // Proc::holds_no_fd). With it, the rest hold fds as a rule, and
        // the statx would be one more call each.
        if kernel.is_empty() && proc.holds_no_fd(pid) {
            continue;
        }
        match proc.fd_table(pid, deadline) {
            Ok(table) => {
                for &(_, i) in table.sockets.iter().filter(|(_, i)| wanted.contains(i)) {
                    let pids = s.holders.entry(i).or_default();
                    if !pids.contains(&pid) {
                        pids.push(pid);
                    }
                }
                if note == Some(pid) {
                    s.noted = Some(table);
                }
            }
            Err(ScanErr::Gone) => {}
            Err(ScanErr::Denied(m) | ScanErr::Other(m)) => s.unreadable.push((pid, m)),
            Err(ScanErr::Timeout) => {
                s.incomplete = Some("timed out reading the processes' file descriptors".into());
                return s;
            }
        }
    }
    s
}

/// Attributes every holder of `wanted` (THREATS PORT-6): [`scan`] finds
/// every visible process holding one of the sockets; each holder is the
/// pinned process, a descendant (if `descendants`; its fds read again and
/// its ppid chain re-checked, for pid reuse), or outside the tree.
///
/// A process whose fds cannot be read is a possible unseen holder when it
/// could have inherited a socket from the tree — it started no earlier than
/// the pinned process (`/proc/PID/stat` field 22) — and one of its uids
/// (`/proc/PID/status`) is ours or one of `socket_uids`: a descriptor
/// reaches another uid's process only through a privileged process
/// (setuid) or by being sent, and a process of a uid we may read is
/// unreadable only when it made itself non-dumpable. Older processes could
/// hold one only if a holder sent it, or by `pidfd_getfd(2)` with ptrace
/// rights over the service (its own uid or root, out of scope). With
/// `CAP_SYS_PTRACE` (root) no unreadable process is counted: see
/// [`may_read_every_process`].
///
/// # Errors
/// `Fail::Unknown` when the pinned process's fds cannot be read, the scan
/// is incomplete (timeout) or the tree is too large; `Fail::No` when the
/// pinned process is gone.
pub(crate) fn attribute(
    pin: &Pin,
    descendants: bool,
    wanted: &HashSet<u64>,
    socket_uids: &HashSet<u32>,
    deadline: Instant,
) -> Result<Attribution, Fail> {
    let scan = scan(wanted, Some(pin.pid), deadline);
    if let Some(why) = scan.incomplete {
        return Err(Fail::Unknown(why));
    }
    if let Some(table) = &scan.noted {
        let _ = pin.next_accept.set(accept_candidates(table, wanted));
    }
    if let Some((_, m)) = scan.unreadable.iter().find(|(p, _)| *p == pin.pid) {
        return Err(Fail::Unknown(format!("{m} (the process belongs to another user; run gw as that user or root)")));
    }
    let mut a = Attribution::default();
    let others = scan.holders.values().flatten().any(|&p| p != pin.pid);
    let nodes = if descendants && others { tree(pin, deadline)? } else { Vec::new() };
    let index: HashMap<u32, usize> = nodes.iter().enumerate().skip(1).map(|(i, n)| (n.pid, i)).collect();
    let mut inodes: Vec<&u64> = scan.holders.keys().collect();
    inodes.sort();
    for &inode in inodes {
        for &pid in &scan.holders[&inode] {
            if pid == pin.pid {
                // Re-checked by the caller (pidfd and start time).
                a.found.insert(inode, pid);
                continue;
            }
            let Some(&idx) = index.get(&pid) else {
                a.outside.push((inode, pid));
                continue;
            };
            // The fds were read before the tree was listed: read them again
            // now, between the listing and the chain re-check, so they are
            // the fds of the descendant we listed (pid reuse).
            match socket_inodes(pid, deadline) {
                Ok(held) if !held.contains(&inode) => {} // let go of it meanwhile
                Ok(_) if chain_unchanged(&nodes, idx) => {
                    a.found.entry(inode).or_insert(pid);
                }
                Ok(_) => {
                    a.unseen.get_or_insert_with(|| format!("descendant {pid} changed during the check"));
                }
                Err(ScanErr::Gone) => {}
                Err(ScanErr::Timeout) => return Err(Fail::Unknown("timed out searching the process tree".into())),
                Err(ScanErr::Denied(m) | ScanErr::Other(m)) => {
                    a.unseen.get_or_insert(format!("descendant {pid}: {m}"));
                }
            }
        }
    }
    if a.unseen.is_none() && !may_read_every_process() {
        a.unseen = scan.unreadable.iter().find_map(|(pid, m)| possible_holder(*pid, m, pin.start_time, socket_uids));
    }
    if a.unseen.is_none() && proc_hides_processes() {
        a.unseen = Some("/proc hides processes (hidepid)".into());
    }
    Ok(a)
}

/// Whether this thread holds `CAP_SYS_PTRACE` in its effective set
/// (`capget(2)`: one call, and the calling thread's own credentials, which
/// are what `/proc`'s access checks use): then every process of our user
/// namespace is readable, and one that is not belongs to a user namespace
/// above ours (a container's init and what it spawns) — more privileged
/// than us, out of scope like root.
fn may_read_every_process() -> bool {
    rustix::thread::capabilities(None)
        .is_ok_and(|caps| caps.effective.contains(rustix::thread::CapabilitySet::SYS_PTRACE))
}

/// `Some(why)` when the unreadable process `pid` could hold a socket of
/// `socket_uids` inherited from a tree that started at `since` (see
/// [`attribute`]).
fn possible_holder(pid: u32, why: &str, since: u64, socket_uids: &HashSet<u32>) -> Option<String> {
    match read_stat(pid) {
        Ok(Some(st)) if st.start_time < since => return None,
        Ok(Some(_)) => {}
        Ok(None) => return None, // gone: it holds nothing now
        Err(e) => return Some(format!("process {pid}: {why}, and its start time cannot be read: {e}")),
    }
    let me = [rustix::process::getuid().as_raw(), rustix::process::geteuid().as_raw()];
    let uids = match read_uids(pid) {
        Ok(Some(u)) => u,
        Ok(None) => return None, // gone: it holds nothing now
        Err(e) => return Some(format!("process {pid}: {why}, and its uids cannot be read: {e}")),
    };
    uids.iter().any(|u| me.contains(u) || socket_uids.contains(u)).then(|| {
        format!("process {pid} (uid {}) could hold it, but {why} (a non-dumpable process, or another user's)", uids[0])
    })
}

/// The real, effective, saved and filesystem uids of `pid` (the `Uid:`
/// line of `/proc/PID/status`, proc(5)); `Ok(None)` when it is gone.
fn read_uids(pid: u32) -> io::Result<Option<[u32; 4]>> {
    proc()?.uids(pid)
}

fn chain_unchanged(nodes: &[Node], mut idx: usize) -> bool {
    loop {
        let n = nodes[idx];
        match n.parent {
            // The root is the pinned process, re-checked by the caller.
            None => return true,
            Some(p) => match read_stat(n.pid) {
                Ok(Some(st)) if st.start_time == n.start_time && st.ppid == nodes[p].pid => idx = p,
                _ => return false,
            },
        }
    }
}

/// The pinned process and its descendants, breadth first (index 0 = root).
fn tree(pin: &Pin, deadline: Instant) -> Result<Vec<Node>, Fail> {
    let children = children_map(pin.pid, deadline)?;
    let mut nodes = vec![Node { pid: pin.pid, parent: None, start_time: pin.start_time }];
    let mut queue = VecDeque::from([0usize]);
    while let Some(i) = queue.pop_front() {
        let parent = nodes[i];
        for &(pid, start_time) in children.get(&parent.pid).map(Vec::as_slice).unwrap_or(&[]) {
            // A child cannot have started before its parent: a pid reused
            // under a dead parent's entry is not part of the tree.
            if start_time < parent.start_time {
                continue;
            }
            if nodes.len() >= MAX_TREE {
                return Err(Fail::Unknown(format!("process tree larger than {MAX_TREE}")));
            }
            nodes.push(Node { pid, parent: Some(i), start_time });
            queue.push_back(nodes.len() - 1);
        }
    }
    Ok(nodes)
}

/// ppid -> [(pid, start time)] for every process visible in `/proc`.
///
/// `/proc/PID/task/TID/children` (CONFIG_PROC_CHILDREN) would name the
/// children directly, but it is documented as unreliable for this purpose
/// (proc(5): only children of that thread, racy with reparenting) and is
/// absent from many kernels, so the ppid field of every `/proc/*/stat` is
/// the source: one pass, read only when the root does not hold all the
/// sockets itself.
fn children_map(root: u32, deadline: Instant) -> Result<HashMap<u32, Vec<(u32, u64)>>, Fail> {
    let pids = proc().and_then(|p| p.pids()).map_err(|e| Fail::Unknown(format!("cannot list /proc: {e}")))?;
    let mut map: HashMap<u32, Vec<(u32, u64)>> = HashMap::new();
    for (i, pid) in pids.into_iter().enumerate() {
        if i % 64 == 63 && timed_out(deadline) {
            return Err(Fail::Unknown("timed out listing processes".into()));
        }
        if pid == root {
            continue;
        }
        if let Ok(Some(st)) = read_stat(pid) {
            map.entry(st.ppid).or_default().push((pid, st.start_time));
        }
    }
    Ok(map)
}

/// Whether `/proc` hides other users' processes from us (hidepid=1/2 or
/// `invisible`/`noaccess`, subset=pid) — then "not found" proves nothing.
pub(crate) fn proc_hides_processes() -> bool {
    if rustix::process::geteuid().is_root() {
        return false;
    }
    let Ok(info) = proc().and_then(|p| p.read_to_string("self/mountinfo")) else { return true };
    info.lines().any(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        f.get(4) == Some(&"/proc")
            && l.split([' ', ',']).any(|o| o.strip_prefix("hidepid=").is_some_and(|v| !matches!(v, "0" | "off")))
    })
}

#[cfg(test)]
mod tests {
    use gw_test_support::portguard::{Spec, Svc};

    use super::*;

    #[test]
    fn a_scan_finds_every_holder_and_only_them() {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = rustix::fs::fstat(&l).unwrap().st_ino;
        let s = scan(&HashSet::from([inode, u64::MAX]), None, Instant::now() + std::time::Duration::from_secs(10));
        assert_eq!(s.incomplete, None);
        assert_eq!(s.holders.get(&inode), Some(&vec![std::process::id()]), "{s:?}");
        assert_eq!(s.holders.get(&u64::MAX), None);
        assert_eq!(read_uids(std::process::id()).unwrap().unwrap()[1], rustix::process::geteuid().as_raw());
    }

    /// A listener in another process (gw-test-support's python3 helper,
    /// killed on drop), for a scan to find, and its socket's inode.
    fn listener_elsewhere() -> (Svc, u64) {
        let svc = Svc::spawn(Spec::on(&["127.0.0.1"], 0));
        let ls = crate::listeners(svc.port, &crate::Options::default()).unwrap();
        assert_eq!(ls.len(), 1, "{ls:?}");
        (svc, ls[0].inode)
    }

    /// A long process list is scanned in several threads: whatever the
    /// split, the holders, the noted table and a deadline are what one
    /// thread finds (every process in a chunk of its own included).
    #[test]
    fn a_scan_split_across_threads_finds_what_one_thread_finds() {
        let far = Instant::now() + std::time::Duration::from_secs(10);
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let ours = rustix::fs::fstat(&l).unwrap().st_ino;
        let (svc, theirs) = listener_elsewhere();
        let (me, them) = (std::process::id(), svc.leaf);
        let proc = proc().unwrap();
        let pids = proc.pids().unwrap();
        let kernel = proc.kernel_threads();
        let wanted = HashSet::from([ours, theirs, u64::MAX]);
        for workers in [1, 2, 3, 4, pids.len()] {
            let ask = Ask { proc, kernel: &kernel, wanted: &wanted, note: Some(me), deadline: far };
            let s = scan_split(ask, &pids, workers);
            assert_eq!(s.incomplete, None, "{workers} threads");
            assert_eq!(s.holders.len(), 2, "{workers} threads: {s:?}");
            assert_eq!((&s.holders[&ours], &s.holders[&theirs]), (&vec![me], &vec![them]), "{workers} threads");
            let fd = std::os::fd::AsRawFd::as_raw_fd(&l) as u32;
            assert!(s.noted.is_some_and(|t| t.sockets.contains(&(fd, ours))), "{workers} threads");
            let late = scan_split(Ask { deadline: Instant::now(), ..ask }, &pids, workers);
            let why = late.incomplete.expect("out of time");
            assert!(why.contains("timed out"), "{workers} threads: {why}");
        }
    }

    /// A descendant still is one while each link of its chain has the start
    /// time and the parent it was listed with (pid reuse changes either).
    #[test]
    fn a_chain_is_unchanged_only_while_each_link_is_as_listed() {
        let (mut svc, _) = listener_elsewhere();
        let (me, pid) = (std::process::id(), svc.root);
        let mine = read_stat(me).unwrap().unwrap().start_time;
        let its = read_stat(pid).unwrap().unwrap().start_time;
        let node = |pid, parent, start_time| Node { pid, parent, start_time };
        let root = node(me, None, mine);
        assert!(chain_unchanged(&[root, node(pid, Some(0), its)], 1));
        assert!(!chain_unchanged(&[root, node(pid, Some(0), its + 1)], 1), "another start time: another process");
        assert!(!chain_unchanged(&[node(1, None, 0), node(pid, Some(0), its)], 1), "another parent");
        svc.kill();
        assert!(!chain_unchanged(&[root, node(pid, Some(0), its)], 1), "gone");
    }

    #[test]
    fn a_process_s_uids_are_its_own() {
        use std::os::unix::process::CommandExt;
        assert!(
            rustix::process::geteuid().is_root(),
            "needs root to start a process as 65534 (run as root, as CI does)"
        );
        let mut child = std::process::Command::new("sleep").arg("60").uid(65534).gid(65534).spawn().unwrap();
        assert_eq!(read_uids(child.id()).unwrap(), Some([65534; 4]));
        child.kill().unwrap();
        child.wait().unwrap();
        assert_eq!(read_uids(child.id()).unwrap(), None, "gone");
    }

    /// Listing the tree's candidates (every process's parent) stops at the
    /// deadline too: checked every 64 processes, so one past it is refused
    /// on a machine of more than 64 (kernel threads included).
    #[test]
    fn listing_the_processes_parents_is_bounded() {
        let pids = proc().unwrap().pids().unwrap();
        assert!(pids.len() >= 64, "this test needs more than 63 processes: {}", pids.len());
        let far = Instant::now() + std::time::Duration::from_secs(10);
        let me = std::process::id();
        let st = read_stat(me).unwrap().unwrap();
        let map = children_map(0, far).unwrap();
        assert!(map[&st.ppid].contains(&(me, st.start_time)), "we are our parent's child: {map:?}");
        let map = children_map(me, far).unwrap();
        assert!(!map.values().flatten().any(|&(pid, _)| pid == me), "the root is not its own descendant");
        match children_map(me, Instant::now()) {
            Err(Fail::Unknown(why)) => assert_eq!(why, "timed out listing processes"),
            other => panic!("not bounded: {other:?}"),
        }
    }

    #[test]
    fn the_next_accept_is_looked_for_at_the_lowest_free_numbers_and_old_connections() {
        let table = FdTable { open: vec![0, 1, 2, 3, 5, 7, 9], sockets: vec![(3, 30), (5, 50), (9, 90)] };
        // 3 is the listener; 5 and 9 are connections that may have closed.
        assert_eq!(accept_candidates(&table, &HashSet::from([30])), vec![4, 6, 5, 9]);
        let full = FdTable { open: (0..10).collect(), sockets: Vec::new() };
        assert_eq!(accept_candidates(&full, &HashSet::new()), vec![10, 11]);
    }

    /// A hint only says where to look first: a wrong one costs a read of
    /// the whole table, never a wrong answer.
    #[test]
    fn the_pinned_process_holds_a_socket_whatever_the_hints_say() {
        let far = Instant::now() + std::time::Duration::from_secs(10);
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let inode = rustix::fs::fstat(&l).unwrap().st_ino;
        let fd = std::os::fd::AsRawFd::as_raw_fd(&l) as u32;
        let not_held = inode + 1_000_000;
        for hints in [vec![], vec![fd], vec![0, 1, 2, 100_000]] {
            let pin = Pin::new(std::process::id(), None).unwrap();
            pin.next_accept.set(hints.clone()).unwrap();
            assert!(pinned_holds(&pin, inode, far), "hints {hints:?}");
            assert!(!pinned_holds(&pin, not_held, far), "hints {hints:?}");
        }
        // What a scan notes for the pinned process: its table as read.
        let s = scan(&HashSet::from([inode]), Some(std::process::id()), far);
        let noted = s.noted.expect("the pinned process's table");
        assert!(noted.sockets.contains(&(fd, inode)) && noted.open.contains(&fd), "{noted:?}");
        drop(l);
        let pin = Pin::new(std::process::id(), None).unwrap();
        pin.next_accept.set(vec![fd]).unwrap();
        assert!(!pinned_holds(&pin, inode, far), "a closed socket is held by nobody");
    }
}
