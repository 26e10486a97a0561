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
//! **Not built — so every verdict that would need it is `Unknown`:** the
//! listeners on a port and their holders. What it would take, and why it is
//! not here yet:
//! - libproc's `proc_pidfdinfo(PROC_PIDFDSOCKETINFO)` gives each socket
//!   descriptor's kernel id (`soi_so`), family, protocol and
//!   `SO_ACCEPTCONN` as plain fields, but in libproc-rs's typed
//!   `SocketFDInfo` the ports and TCP state sit in the `soi_proto` union,
//!   which safe Rust cannot read (gw forbids `unsafe`). Safe code could
//!   still get them by implementing libproc's public `PIDFDInfo` trait for a
//!   plain byte buffer and decoding the fields at their offsets; that
//!   decoder is not built, because no Mac is here to confirm the offsets.
//! - Even then, another user's descriptors are unreadable without root
//!   (`proc_pidinfo`'s same-user policy), and there is no global table to
//!   check the scan against: `sysctl net.inet.tcp.pcblist_n` lists every TCP
//!   socket, but names it by `xso_so = VM_KERNEL_ADDRHASH(so)` while
//!   libproc's `soi_so` is `VM_KERNEL_ADDRPERM(so)` in the XNU sources read
//!   for this, so its listeners cannot be tied to processes. For a caller
//!   other than root, any other user's process could hold an unseen
//!   listener: `Unknown` however the scan came out.
//!
//! So, for now, a port on macOS is never proven owned: `Unknown`, which
//! callers treat as not owned.

use std::collections::HashSet;
use std::time::Instant;

use libproc::kinfo::KinfoProc;
use libproc::proc_pid::kproc_info_raw;

use crate::decide::{Attribution, Fail, Observer};
use crate::{Listener, Options};

/// Why no listener can be proven on macOS (see the module doc).
pub(crate) const NO_LISTENERS: &str = "macOS: gw cannot yet tie the listeners of a port to the processes holding \
                                       them (libproc's socket ports are not decoded, other users' descriptors are \
                                       unreadable and the global TCP table names sockets differently), so ownership \
                                       is never proven there";

/// `SZOMB` (`<sys/proc.h>`): exited, not yet reaped.
const SZOMB: i8 = 5;

/// What `kinfo_proc` says about a live process.
struct Seen {
    start_time: u64,
    zombie: bool,
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
    Ok(Some(Seen { start_time, zombie: k.kp_proc.p_stat == SZOMB }))
}

/// A `timeval` start time as microseconds since the Unix epoch; `None` for
/// a value no kernel gives.
fn start_time_micros(tv_sec: i64, tv_usec: i32) -> Option<u64> {
    let usec = u64::try_from(tv_usec).ok().filter(|u| *u < 1_000_000)?;
    u64::try_from(tv_sec).ok()?.checked_mul(1_000_000)?.checked_add(usec)
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

/// libproc and sysctl (see the module doc).
pub(crate) struct Darwin;

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

    fn listeners(&self, _: u16, _: &Options, _: Instant) -> Result<Vec<Listener>, String> {
        Err(NO_LISTENERS.into())
    }

    fn attribute(&self, _: &Pin, _: bool, _: &HashSet<u64>, _: &HashSet<u32>, _: Instant) -> Result<Attribution, Fail> {
        // Only reached with listeners, which macOS does not give: refuse.
        Err(Fail::Unknown(NO_LISTENERS.into()))
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
