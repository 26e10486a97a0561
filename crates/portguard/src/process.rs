//! The expected process and its tree: pinned with a pidfd (pidfd_open(2)),
//! identified by its start time (`/proc/PID/stat` field 22), and searched
//! for `socket:[inode]` links in `/proc/PID/fd` of that tree only.

use std::collections::{HashMap, HashSet, VecDeque};
use std::io;
use std::os::fd::OwnedFd;
use std::time::Instant;

use rustix::event::{PollFd, PollFlags, Timespec};
use rustix::process::{Pid, PidfdFlags};

use crate::parse::{self, ProcStat};

/// Why a check could not say "owned": a definite "no", or "cannot tell"
/// (which callers treat as "no").
#[derive(Debug)]
pub(crate) enum Fail {
    No(String),
    Unknown(String),
}

/// Most processes a tree may have before the check gives up (Unknown).
const MAX_TREE: usize = 65_536;

pub(crate) fn timed_out(deadline: Instant) -> bool {
    Instant::now() >= deadline
}

/// Reads and parses `/proc/PID/stat`; `Ok(None)` when the process is not
/// there (exited, or hidden from us).
pub(crate) fn read_stat(pid: u32) -> io::Result<Option<ProcStat>> {
    match std::fs::read(format!("/proc/{pid}/stat")) {
        Ok(b) => parse::proc_stat(&b).map(Some).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string())),
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(3) => Ok(None),
        Err(e) => Err(e),
    }
}

/// `/proc` must be the one of our pid namespace, or every pid we read there
/// names some other process.
pub(crate) fn check_proc_namespace() -> Result<(), Fail> {
    let me = std::process::id().to_string();
    match std::fs::read_link("/proc/self") {
        Ok(p) if p.as_os_str() == me.as_str() => Ok(()),
        Ok(p) => Err(Fail::Unknown(format!(
            "/proc belongs to another pid namespace (/proc/self is {}, we are pid {me})",
            p.display()
        ))),
        Err(e) => Err(Fail::Unknown(format!("cannot read /proc/self: {e}"))),
    }
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
        let pin = Self { pid, fd, start_time: stat.start_time };
        pin.still_same()?;
        Ok(pin)
    }

    /// Re-checks that the pinned process is still alive and still has its
    /// start time (pid not reused).
    pub(crate) fn still_same(&self) -> Result<(), Fail> {
        let mut fds = [PollFd::new(&self.fd, PollFlags::IN)];
        let zero = Timespec { tv_sec: 0, tv_nsec: 0 };
        match rustix::event::poll(&mut fds, Some(&zero)) {
            Ok(0) => {}
            Ok(_) => return Err(Fail::No(format!("expected process {} exited during the check", self.pid))),
            Err(e) => return Err(Fail::Unknown(format!("poll(pidfd {}): {e}", self.pid))),
        }
        match read_stat(self.pid) {
            Ok(Some(s)) if s.start_time == self.start_time && s.state != b'Z' => Ok(()),
            Ok(Some(_)) | Ok(None) => {
                Err(Fail::No(format!("expected process {} exited or was replaced during the check", self.pid)))
            }
            Err(e) => Err(Fail::Unknown(format!("cannot re-read /proc/{}/stat: {e}", self.pid))),
        }
    }
}

/// Why one process's fds could not be read.
#[derive(Debug)]
pub(crate) enum ScanErr {
    /// Permission denied (another user's process, hidepid, ptrace rules).
    Denied(String),
    /// The process went away.
    Gone,
    /// Out of time.
    Timeout,
    /// Anything else.
    Other(String),
}

/// The socket inodes among the fds of `pid` (readlink `/proc/PID/fd/*`).
pub(crate) fn socket_inodes(pid: u32, deadline: Instant) -> Result<Vec<u64>, ScanErr> {
    let dir = format!("/proc/{pid}/fd");
    let entries = match std::fs::read_dir(&dir) {
        Ok(d) => d,
        Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
            return Err(ScanErr::Denied(format!("permission denied reading {dir}")));
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound || e.raw_os_error() == Some(3) => return Err(ScanErr::Gone),
        Err(e) => return Err(ScanErr::Other(format!("{dir}: {e}"))),
    };
    let mut out = Vec::new();
    for (i, entry) in entries.enumerate() {
        if i % 64 == 63 && timed_out(deadline) {
            return Err(ScanErr::Timeout);
        }
        let entry = match entry {
            Ok(e) => e,
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(ScanErr::Denied(format!("permission denied listing {dir}")));
            }
            Err(_) => return Err(ScanErr::Gone),
        };
        match std::fs::read_link(entry.path()) {
            Ok(target) => {
                if let Some(inode) = socket_inode(target.as_os_str().as_encoded_bytes()) {
                    out.push(inode);
                }
            }
            // The fd was closed meanwhile: it holds nothing now.
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) if e.kind() == io::ErrorKind::PermissionDenied => {
                return Err(ScanErr::Denied(format!("permission denied reading {dir}")));
            }
            Err(e) => return Err(ScanErr::Other(format!("{}: {e}", entry.path().display()))),
        }
    }
    Ok(out)
}

/// `socket:[12345]` -> 12345.
pub(crate) fn socket_inode(link: &[u8]) -> Option<u64> {
    let inner = link.strip_prefix(b"socket:[")?.strip_suffix(b"]")?;
    if inner.is_empty() || !inner.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(inner).ok()?.parse().ok()
}

#[derive(Debug, Clone, Copy)]
struct Node {
    pid: u32,
    parent: Option<usize>,
    start_time: u64,
}

/// Where the sockets of the tree were found.
#[derive(Debug, Default)]
pub(crate) struct Search {
    /// inode -> pid of the tree that holds it.
    pub(crate) found: HashMap<u64, u32>,
    /// A part of the tree we could not look into (its reason): what was not
    /// found may be there, so "not found" is not a proof.
    pub(crate) blind: Option<String>,
}

/// Looks for `wanted` socket inodes in the fds of the pinned process and,
/// if `descendants`, of its descendants — and nowhere else.
///
/// The pinned process is searched first; the tree is only built when some
/// inode was not found there (building it without `/proc/PID/task/*/children`
/// means reading every `/proc/*/stat`).
pub(crate) fn search(pin: &Pin, descendants: bool, wanted: &HashSet<u64>, deadline: Instant) -> Result<Search, Fail> {
    let mut s = Search::default();
    match socket_inodes(pin.pid, deadline) {
        Ok(inodes) => {
            for i in inodes {
                if wanted.contains(&i) {
                    s.found.insert(i, pin.pid);
                }
            }
        }
        Err(ScanErr::Denied(m)) => {
            return Err(Fail::Unknown(format!(
                "{m} (the process belongs to another user; run gw as that user or root)"
            )));
        }
        Err(ScanErr::Gone) => return Err(Fail::No(format!("expected process {} exited during the check", pin.pid))),
        Err(ScanErr::Timeout) => return Err(Fail::Unknown("timed out reading the process's file descriptors".into())),
        Err(ScanErr::Other(m)) => return Err(Fail::Unknown(m)),
    }
    if !descendants || wanted.iter().all(|i| s.found.contains_key(i)) {
        return Ok(s);
    }
    let nodes = tree(pin, deadline)?;
    for idx in 1..nodes.len() {
        if wanted.iter().all(|i| s.found.contains_key(i)) {
            break;
        }
        if timed_out(deadline) {
            return Err(Fail::Unknown("timed out searching the process tree".into()));
        }
        let node = nodes[idx];
        match socket_inodes(node.pid, deadline) {
            Ok(inodes) => {
                let hits: Vec<u64> = inodes.into_iter().filter(|i| wanted.contains(i)).collect();
                if hits.is_empty() {
                    continue;
                }
                // The fds were read from whatever process has node.pid now: it
                // must still be the descendant we listed, and so must every
                // ancestor up to the pinned root (pid reuse along the chain).
                if chain_unchanged(&nodes, idx) {
                    for i in hits {
                        s.found.insert(i, node.pid);
                    }
                } else {
                    s.blind.get_or_insert_with(|| format!("descendant {} changed during the check", node.pid));
                }
            }
            Err(ScanErr::Gone) => {}
            Err(ScanErr::Denied(m)) | Err(ScanErr::Other(m)) => {
                s.blind.get_or_insert(format!("descendant {}: {m}", node.pid));
            }
            Err(ScanErr::Timeout) => return Err(Fail::Unknown("timed out searching the process tree".into())),
        }
    }
    Ok(s)
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
    let dir = std::fs::read_dir("/proc").map_err(|e| Fail::Unknown(format!("cannot list /proc: {e}")))?;
    let mut map: HashMap<u32, Vec<(u32, u64)>> = HashMap::new();
    for (i, entry) in dir.enumerate() {
        if i % 64 == 63 && timed_out(deadline) {
            return Err(Fail::Unknown("timed out listing processes".into()));
        }
        let Ok(entry) = entry else { continue };
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
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
    let Ok(info) = std::fs::read_to_string("/proc/self/mountinfo") else { return true };
    info.lines().any(|l| {
        let f: Vec<&str> = l.split(' ').collect();
        f.get(4) == Some(&"/proc")
            && l.split([' ', ',']).any(|o| o.strip_prefix("hidepid=").is_some_and(|v| !matches!(v, "0" | "off")))
    })
}

/// Names the holders of `inodes` by scanning every visible process's fds
/// (for `gw port who` and for naming foreign listeners; never part of an
/// ownership decision). Stops at the deadline; unseen inodes stay unnamed.
pub(crate) fn identify(inodes: &HashSet<u64>, deadline: Instant) -> HashMap<u64, (u32, String)> {
    let mut out = HashMap::new();
    let Ok(dir) = std::fs::read_dir("/proc") else { return out };
    for entry in dir.flatten() {
        if out.len() == inodes.len() || timed_out(deadline) {
            break;
        }
        let Some(pid) = entry.file_name().to_str().and_then(|n| n.parse::<u32>().ok()) else { continue };
        let Ok(held) = socket_inodes(pid, deadline) else { continue };
        for i in held {
            if inodes.contains(&i) {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm"))
                    .map(|c| c.trim_end_matches('\n').to_owned())
                    .unwrap_or_default();
                out.entry(i).or_insert((pid, comm));
            }
        }
    }
    out
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
    }
}
