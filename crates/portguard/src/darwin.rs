//! macOS's source for the shared verdict logic (`decide.rs`): what libproc
//! lets safe Rust prove, and an explicit refusal for what it does not.
//!
//! **Built:** the expected process is pinned by pid **and** start time
//! (`sysctl(KERN_PROC_PID)`, `kinfo_proc` `p_starttime`, readable for every
//! process whatever its uid), refused when it is a zombie or another process
//! now has the pid, and re-checked after the search like on Linux. macOS has
//! no pidfd: the pin is the (pid, start time) pair, which names one process
//! within a boot (the kernel stores the start time once, at `fork`).
//!
//! **Listeners and holders:** every process's socket descriptors
//! (`proc_listallpids`, `proc_pidinfo(PROC_PIDLISTFDS)`,
//! `proc_pidfdinfo(PROC_PIDFDSOCKETINFO)`). libproc-rs's typed
//! `SocketFDInfo` keeps ports and TCP state in a C union, which safe Rust
//! cannot read; so this source implements libproc's public `PIDFDInfo`
//! trait for a plain byte buffer (libproc copies the kernel's answer into
//! it) and decodes the fields at the offsets of libproc-rs's own mirror of
//! the struct (`darwin_sock.rs`, tested on Linux). A socket is named by its
//! kernel id `soi_so`: the same for every descriptor of one socket in every
//! process while it exists — it proves "these descriptors are one socket"
//! (PORT-6), nothing about who created it. Darwin has no socket inode.
//!
//! **What it cannot prove, and so answers `Unknown`:**
//! - macOS shows a process's descriptors only to its user and root, and
//!   there is no global listener table to check the pass against
//!   (`sysctl net.inet.tcp.pcblist_n` names sockets by
//!   `VM_KERNEL_ADDRHASH(so)`, libproc by `VM_KERNEL_ADDRPERM(so)`, in the
//!   XNU sources read for this). Any unreadable process could hold a
//!   listener the pass never saw, so unless every process was read (root),
//!   the answer is `Unknown`; a definite foreign holder is still NotOwned.
//! - The socket's owner uid is not available: `Expected::uid` is refused.
//! - `connect_verified`: the accepted connection's socket is not
//!   attributed; it refuses.
//! - `listeners`/`who`: a list that may miss other users' listeners is not
//!   offered (`Unsupported`).

use std::collections::{HashMap, HashSet};
use std::mem::offset_of;
use std::sync::Mutex;
use std::time::Instant;

use libproc::bsd_info::BSDInfo;
use libproc::file_info::{ListFDs, PIDFDInfo, PIDFDInfoFlavor, ProcFDType, pidfdinfo};
use libproc::kinfo::KinfoProc;
use libproc::net_info::{InSockInfo, SocketFDInfo, SocketInfo, TcpSockInfo};
use libproc::proc_pid::{kproc_info_raw, listpidinfo, pidinfo};
use libproc::processes::{ProcFilter, pids_by_type};

use crate::darwin_sock::{SockOffsets, decode_listener};
use crate::decide::{Attribution, Fail, Observer};
use crate::{Listener, Options};

/// The offsets, from libproc-rs's `#[repr(C)]` mirror of `socket_fdinfo`
/// (`soi_proto` is a union: every member starts at its offset).
const OFFSETS: SockOffsets = {
    let psi = offset_of!(SocketFDInfo, psi);
    let proto = psi + offset_of!(SocketInfo, soi_proto);
    let ini = proto + offset_of!(TcpSockInfo, tcpsi_ini);
    SockOffsets {
        so: psi + offset_of!(SocketInfo, soi_so),
        kind: psi + offset_of!(SocketInfo, soi_kind),
        tcp_state: proto + offset_of!(TcpSockInfo, tcpsi_state),
        lport: ini + offset_of!(InSockInfo, insi_lport),
        vflag: ini + offset_of!(InSockInfo, insi_vflag),
        laddr: ini + offset_of!(InSockInfo, insi_laddr),
    }
};

/// `socket_fdinfo` as plain bytes: libproc-rs copies the kernel's answer
/// into it (its `unsafe`, not ours), and [`decode_listener`] reads the
/// fields safely. Twice the size of the struct, so a larger future layout
/// still fits (the kernel refuses a buffer smaller than its struct).
#[repr(C)]
struct RawSocketInfo([u64; 2 * std::mem::size_of::<SocketFDInfo>() / 8]);

impl Default for RawSocketInfo {
    fn default() -> Self {
        Self([0; 2 * std::mem::size_of::<SocketFDInfo>() / 8])
    }
}

impl PIDFDInfo for RawSocketInfo {
    fn flavor() -> PIDFDInfoFlavor {
        PIDFDInfoFlavor::SocketInfo
    }
}

impl RawSocketInfo {
    fn bytes(&self) -> Vec<u8> {
        self.0.iter().flat_map(|w| w.to_ne_bytes()).collect()
    }
}

/// What one pass over every process's descriptors found.
#[derive(Debug, Default)]
struct Scan {
    /// socket id -> (local address, every pid holding it).
    listeners: HashMap<u64, (std::net::SocketAddr, Vec<u32>)>,
    /// Processes whose descriptors could not be read, with why.
    unreadable: Vec<(u32, String)>,
    /// Why the pass did not cover every process; `None` if it did.
    incomplete: Option<String>,
}

/// The listening TCP sockets on `port` among the descriptors of `pid`.
fn listeners_of(pid: u32, port: u16) -> Result<Vec<crate::darwin_sock::SockSeen>, String> {
    let raw = i32::try_from(pid).map_err(|_| format!("pid {pid} out of range"))?;
    let info: BSDInfo = pidinfo(raw, 0).map_err(|e| format!("proc_pidinfo({pid}, PROC_PIDTBSDINFO): {e}"))?;
    // Room for descriptors opened meanwhile; a full buffer may have cut
    // some off, so it is refused rather than trusted.
    let room = info.pbi_nfiles as usize + 64;
    let fds = listpidinfo::<ListFDs>(raw, room).map_err(|e| format!("proc_pidinfo({pid}, PROC_PIDLISTFDS): {e}"))?;
    if fds.len() >= room {
        return Err(format!("process {pid} has more descriptors than could be listed at once"));
    }
    let mut out = Vec::new();
    for fd in fds.iter().filter(|f| f.proc_fdtype == ProcFDType::Socket as u32) {
        let sock: RawSocketInfo = pidfdinfo(raw, fd.proc_fd)
            .map_err(|e| format!("proc_pidfdinfo({pid}, fd {}, PROC_PIDFDSOCKETINFO): {e}", fd.proc_fd))?;
        if let Some(seen) = decode_listener(&sock.bytes(), &OFFSETS).filter(|s| s.local.port() == port) {
            out.push(seen);
        }
    }
    Ok(out)
}

/// Reads the socket descriptors of every process (`proc_listallpids`,
/// then per process `PROC_PIDLISTFDS` and `PROC_PIDFDSOCKETINFO`), keeping
/// the TCP listeners on `port` and who holds each. Stops at the deadline.
fn scan(port: u16, deadline: Instant) -> Scan {
    let mut s = Scan::default();
    let pids = match pids_by_type(ProcFilter::All) {
        Ok(p) => p,
        Err(e) => {
            s.incomplete = Some(format!("cannot list the processes: {e}"));
            return s;
        }
    };
    for pid in pids.into_iter().filter(|p| *p != 0) {
        if Instant::now() >= deadline {
            s.incomplete = Some("timed out reading the processes' descriptors".into());
            return s;
        }
        match listeners_of(pid, port) {
            Ok(found) => {
                for l in found {
                    let holders = &mut s.listeners.entry(l.id).or_insert((l.local, Vec::new())).1;
                    if !holders.contains(&pid) {
                        holders.push(pid);
                    }
                }
            }
            // Gone, or a zombie (which holds no descriptors): nothing to see.
            Err(_) if matches!(seen(pid), Ok(None) | Ok(Some(Seen { zombie: true, .. }))) => {}
            Err(e) => s.unreadable.push((pid, e)),
        }
    }
    s
}

/// What the macOS source does not do (see the module doc).
pub(crate) const NOT_BUILT: &str = "macOS: a complete list of a port's listeners, and the socket of an accepted \
                                    connection, cannot be read there yet (libproc shows only the caller's own \
                                    processes' descriptors to non-root, and no global table names sockets as it \
                                    does)";

/// `SZOMB` (`<sys/proc.h>`): exited, not yet reaped.
const SZOMB: i8 = 5;

/// What `kinfo_proc` says about a live process.
struct Seen {
    start_time: u64,
    zombie: bool,
    ppid: u32,
    uid: u32,
}

/// `kill(pid, 0)` says no such process.
fn gone(pid: u32) -> bool {
    i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .is_none_or(|p| rustix::process::test_kill_process(p) == Err(rustix::io::Errno::SRCH))
}

/// `Ok(None)`: no such process. libproc reports errors as text, so "no such
/// process" is decided by `kill(pid, 0)`, never by matching that text.
fn seen(pid: u32) -> Result<Option<Seen>, String> {
    let raw = i32::try_from(pid).map_err(|_| format!("pid {pid} out of range"))?;
    let k: KinfoProc = match kproc_info_raw(raw) {
        Ok(k) => k,
        Err(_) if gone(pid) => return Ok(None),
        Err(e) => return Err(format!("sysctl kern.proc.pid.{pid}: {e}")),
    };
    if k.kp_proc.p_pid != raw {
        return Err(format!("sysctl kern.proc.pid.{pid} answered for pid {}", k.kp_proc.p_pid));
    }
    let start_time = start_time_micros(k.kp_proc.p_un.tv_sec, k.kp_proc.p_un.tv_usec)
        .ok_or_else(|| format!("pid {pid}: the kernel gave no valid start time"))?;
    Ok(Some(Seen {
        start_time,
        zombie: k.kp_proc.p_stat == SZOMB,
        ppid: u32::try_from(k.kp_eproc.e_ppid).unwrap_or(0),
        uid: k.kp_eproc.e_pcred.p_ruid,
    }))
}

/// A `timeval` start time as microseconds since the Unix epoch; `None` for
/// a value no kernel gives.
fn start_time_micros(tv_sec: i64, tv_usec: i32) -> Option<u64> {
    let usec = u64::try_from(tv_usec).ok().filter(|u| *u < 1_000_000)?;
    u64::try_from(tv_sec).ok()?.checked_mul(1_000_000)?.checked_add(usec)
}

/// Whether `pid` descends from the pinned process, by its parent chain
/// (`kinfo_proc` `e_ppid`). Every step must have started no earlier than
/// its parent, so a parent pid reused during the walk is an error (the
/// answer would be about another process), not a "yes".
fn descends_from(pid: u32, pin: &Pin) -> Result<bool, String> {
    let mut cur = pid;
    let mut start = None;
    for _ in 0..4096 {
        let Some(s) = seen(cur)? else { return Ok(false) };
        if start.is_some_and(|child| s.start_time > child) {
            return Err(format!("process {cur} changed during the check"));
        }
        if s.ppid == pin.pid {
            return if s.start_time >= pin.start_time {
                Ok(true)
            } else {
                Err(format!("process {cur} started before the expected process, whose pid is its parent's"))
            };
        }
        if s.ppid <= 1 {
            return Ok(false);
        }
        start = Some(s.start_time);
        cur = s.ppid;
    }
    Err(format!("the parent chain of process {pid} is too long"))
}

/// The start time of `pid` (microseconds since the Unix epoch); `Ok(None)`
/// if it is not running (or is a zombie).
pub(crate) fn start_time_of(pid: u32) -> Result<Option<u64>, String> {
    Ok(seen(pid)?.filter(|s| !s.zombie).map(|s| s.start_time))
}

/// The expected process: its pid and the start time it had when pinned.
#[derive(Debug)]
pub(crate) struct Pin {
    pid: u32,
    start_time: u64,
}

/// libproc and sysctl (see the module doc). One per check: the pass over
/// the processes made for the listeners is the one the attribution uses.
#[derive(Default)]
pub(crate) struct Darwin {
    scan: Mutex<Option<Scan>>,
}

impl Observer for Darwin {
    type Pin = Pin;

    fn pin(&self, pid: u32, expected_start: Option<u64>) -> Result<Pin, Fail> {
        let s = match seen(pid) {
            Ok(Some(s)) => s,
            Ok(None) => return Err(Fail::No(format!("expected process {pid} is not running"))),
            Err(e) => return Err(Fail::Unknown(e)),
        };
        if s.zombie {
            return Err(Fail::No(format!("expected process {pid} has exited (zombie)")));
        }
        if let Some(t) = expected_start
            && t != s.start_time
        {
            return Err(Fail::No(format!(
                "pid {pid} is another process now (start time {}, expected {t}): the expected process exited and its \
                 pid was reused",
                s.start_time
            )));
        }
        Ok(Pin { pid, start_time: s.start_time })
    }

    fn pid_of(&self, pin: &Pin) -> u32 {
        pin.pid
    }

    fn listeners(&self, port: u16, _: &Options, deadline: Instant) -> Result<Vec<Listener>, String> {
        let found = scan(port, deadline);
        if let Some(why) = &found.incomplete {
            return Err(why.clone());
        }
        let mut out: Vec<Listener> = found
            .listeners
            .iter()
            // macOS gives no socket owner uid through libproc: the uid shown
            // is the first holder's (an `--uid` check is refused, see lib.rs).
            .map(|(id, (addr, holders))| Listener {
                addr: *addr,
                inode: *id,
                uid: holders.first().and_then(|p| seen(*p).ok().flatten()).map_or(u32::MAX, |s| s.uid),
                pid: None,
                command: None,
            })
            .collect();
        out.sort_by_key(|l| (l.addr.is_ipv6(), l.addr, l.inode));
        *self.scan.lock().unwrap_or_else(std::sync::PoisonError::into_inner) = Some(found);
        Ok(out)
    }

    fn attribute(
        &self,
        pin: &Pin,
        descendants: bool,
        wanted: &HashSet<u64>,
        _: &HashSet<u32>,
        _: Instant,
    ) -> Result<Attribution, Fail> {
        let Some(found) = self.scan.lock().unwrap_or_else(std::sync::PoisonError::into_inner).take() else {
            return Err(Fail::Unknown("no pass over the processes to attribute from".into()));
        };
        if let Some((_, why)) = found.unreadable.iter().find(|(p, _)| *p == pin.pid) {
            return Err(Fail::Unknown(format!("{why} (the process belongs to another user; run gw as that user)")));
        }
        let mut a = Attribution::default();
        let mut ids: Vec<&u64> = found.listeners.keys().filter(|i| wanted.contains(i)).collect();
        ids.sort();
        for id in ids {
            for &pid in &found.listeners[id].1 {
                if pid == pin.pid {
                    a.found.insert(*id, pid);
                    continue;
                }
                match descendants.then(|| descends_from(pid, pin)) {
                    Some(Ok(true)) => {
                        a.found.entry(*id).or_insert(pid);
                    }
                    Some(Err(why)) => {
                        a.unseen.get_or_insert(format!("holder {pid}: {why}"));
                    }
                    Some(Ok(false)) | None => a.outside.push((*id, pid)),
                }
            }
        }
        // Without a global listener table that names sockets as libproc
        // does, a process whose descriptors we may not read could hold a
        // listener on the port that this pass never saw.
        if a.unseen.is_none()
            && let Some((pid, why)) = found.unreadable.first()
        {
            a.unseen = Some(format!(
                "process {pid} could hold a listener gw cannot see ({why}; macOS shows a process's descriptors \
                 only to its user and root, and {} processes were unreadable)",
                found.unreadable.len()
            ));
        }
        Ok(a)
    }

    fn still_same(&self, pin: &Pin) -> Result<(), Fail> {
        match seen(pin.pid) {
            Ok(Some(s)) if s.start_time == pin.start_time && !s.zombie => Ok(()),
            Ok(_) => Err(Fail::No(format!("expected process {} exited or was replaced during the check", pin.pid))),
            Err(e) => Err(Fail::Unknown(e)),
        }
    }

    fn command_of(&self, pid: u32) -> String {
        i32::try_from(pid).ok().and_then(|p| libproc::proc_pid::kproc_info(p).ok()).map(|k| k.comm).unwrap_or_default()
    }
}
