//! How a registry learns about processes and time: the [`ProcessOracle`]
//! and [`WallClock`] traits, the real oracle (`/proc` on Linux, `kinfo_proc` and
//! `kern.bootsessionuuid` on macOS), and the `/proc/PID/stat` parser.
//!
//! The decision (keep or remove, and why) is made in `judge.rs` from what the
//! oracle reports; the oracle only observes. Tests inject a fake oracle and
//! clock to run the registry's state machine without real processes; the
//! real oracle is exercised by the real-process tests (`tests/lease_*.rs`).

use std::fmt;
use std::time::{SystemTime, UNIX_EPOCH};

use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};

/// What a liveness probe of one pid found.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "probe")]
pub enum Probe {
    /// No such process (`kill(pid, 0)` failed with `ESRCH`, or it vanished
    /// while being looked at).
    Gone,
    /// The process has exited and waits to be reaped (state `Z`/`X`).
    Zombie,
    /// The process exists and could be signalled; its start time.
    Running {
        /// The start time (see [`Identity::start_time`]).
        start_time: u64,
    },
    /// The process exists but belongs to another user (`kill` gave `EPERM`,
    /// LEASE-4); its start time if `/proc` still showed it.
    NoPermission {
        /// The start time (see [`Identity::start_time`]), where readable.
        start_time: Option<u64>,
    },
    /// The probe itself failed (e.g. `/proc` hidden by `hidepid`): nothing
    /// can be concluded.
    Unknown {
        /// Why.
        reason: String,
    },
}

/// The identity of a process, as a record stores it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// When the process started, in the platform's unit: on Linux clock
    /// ticks after boot (`/proc/PID/stat` field 22); on macOS microseconds
    /// since the Unix epoch (`kinfo_proc` `p_starttime`, see
    /// `darwin_start_time`). Only compared with values of the same boot
    /// (the record's boot id), never converted.
    pub start_time: u64,
    /// The inode of the process's pid namespace; `None` on a platform that
    /// has no pid namespaces (macOS: a pid names the same process for every
    /// process of the machine).
    pub pid_namespace: Option<u64>,
    /// The real uid.
    pub uid: u32,
}

/// Observes processes. The real one is [`ProcOracle`].
pub trait ProcessOracle: Send + Sync + fmt::Debug {
    /// Probes `pid` (in this process's pid namespace).
    fn probe(&self, pid: u32) -> Probe;
    /// The identity of the live process `pid`, for registering it.
    ///
    /// # Errors
    /// [`ErrorKind::ProcessNotFound`] if it does not exist or is a zombie;
    /// [`ErrorKind::ProcessUnreadable`] if `/proc` cannot be read.
    fn identify(&self, pid: u32) -> Result<Identity>;
    /// The current boot id; `None` if unknown.
    fn boot_id(&self) -> Option<String>;
    /// The inode of this process's pid namespace; `None` if unknown (or if
    /// the platform has none: see [`ProcessOracle::has_pid_namespaces`]).
    fn pid_namespace(&self) -> Option<u64>;
    /// Whether pids live in pid namespaces here (Linux). `false` on a
    /// platform without them (macOS): its records carry
    /// `"pid_namespace": null`, and a record that names a namespace was
    /// written elsewhere.
    fn has_pid_namespaces(&self) -> bool {
        true
    }
    /// The pid of the calling process.
    fn current_pid(&self) -> u32;
}

/// Tells the wall-clock time (ms since the Unix epoch), which records carry
/// and expire by. The real one is [`SystemWallClock`]. (gw-watch's `Clock` is
/// another thing: a monotonic clock that also sleeps.)
pub trait WallClock: Send + Sync + fmt::Debug {
    /// Now, in ms since the Unix epoch.
    fn now_unix_ms(&self) -> u64;
}

/// The system's wall clock (`SystemTime`).
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemWallClock;

impl WallClock for SystemWallClock {
    fn now_unix_ms(&self) -> u64 {
        SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
    }
}

/// The fields of `/proc/PID/stat` (gw-procfs's one parser).
pub use gw_procfs::ProcStat;

/// Parses `/proc/PID/stat` with gw-procfs's parser (fields counted from the
/// *last* `)`: a process may name itself `a) R 1 (b`); `None` for anything
/// that does not have that shape.
pub fn parse_proc_stat(bytes: &[u8]) -> Option<ProcStat> {
    gw_procfs::parse_stat(bytes).ok()
}

/// A macOS process start time as a record stores it: microseconds since
/// the Unix epoch, from `kinfo_proc`'s `p_starttime` (`tv_sec`, `tv_usec`).
/// `None` for a value no kernel gives (negative, `tv_usec` outside
/// `0..1_000_000`, or past `u64`): such a process cannot be identified.
///
/// The kernel stores the time once, at `fork`, and never changes it, so a
/// later change of the wall clock does not change it; two processes that
/// had the same pid in one boot (the record's boot session id) started at
/// different microseconds unless both started within one, which a pid
/// cannot be reused that fast to do (the pid space is walked before reuse).
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) fn darwin_start_time(tv_sec: i64, tv_usec: i32) -> Option<u64> {
    let sec = u64::try_from(tv_sec).ok()?;
    let usec = u64::try_from(tv_usec).ok().filter(|u| *u < 1_000_000)?;
    sec.checked_mul(1_000_000)?.checked_add(usec)
}

/// A macOS boot session id (`kern.bootsessionuuid`, an uppercase UUID,
/// new at every boot) as a record stores it: lowercase. `None` if it is not
/// a UUID.
#[cfg_attr(not(target_os = "macos"), allow(dead_code))]
pub(crate) fn darwin_boot_id(raw: &str) -> Option<String> {
    let s = raw.trim_end_matches('\0').trim().to_ascii_lowercase();
    crate::record::is_valid_boot_id(&s).then_some(s)
}

/// Where this platform's boot id comes from (named in errors).
pub(crate) const BOOT_ID_SOURCE: &str =
    if cfg!(target_os = "macos") { "sysctl kern.bootsessionuuid" } else { "/proc/sys/kernel/random/boot_id" };

/// The real oracle.
///
/// - Linux: `kill(pid, 0)`, `/proc/PID/stat`, `/proc/PID/status`,
///   `/proc/PID/ns/pid` and `/proc/sys/kernel/random/boot_id`.
/// - macOS: `kill(pid, 0)`, `sysctl(KERN_PROC_PID)` (`kinfo_proc`: start
///   time, state, real uid; readable for every process, any uid) and
///   `sysctl kern.bootsessionuuid`. There are no pid namespaces: records
///   carry `pid_namespace: null` ([`ProcessOracle::has_pid_namespaces`]).
///
/// Elsewhere every probe is [`Probe::Unknown`] and registration fails with
/// [`ErrorKind::Unsupported`]: a registry there keeps every record until it
/// expires, never guessing.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProcOracle;

#[cfg(target_os = "linux")]
mod linux {
    use super::*;

    fn proc() -> std::io::Result<&'static gw_procfs::Proc> {
        gw_procfs::Proc::get()
    }

    pub(super) fn read_stat(pid: u32) -> std::io::Result<ProcStat> {
        proc()?.stat(pid)?.ok_or_else(|| std::io::Error::new(std::io::ErrorKind::NotFound, "no such process"))
    }

    pub(super) fn probe(pid: u32) -> Probe {
        let Some(p) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) else {
            return Probe::Gone;
        };
        let signalled = match rustix::process::test_kill_process(p) {
            Ok(()) => true,
            Err(rustix::io::Errno::PERM) => false,
            Err(rustix::io::Errno::SRCH) => return Probe::Gone,
            Err(e) => return Probe::Unknown { reason: format!("kill({pid}, 0): {e}") },
        };
        match read_stat(pid) {
            Ok(st) if matches!(st.state, b'Z' | b'X' | b'x') => Probe::Zombie,
            Ok(st) if signalled => Probe::Running { start_time: st.start_time },
            Ok(st) => Probe::NoPermission { start_time: Some(st.start_time) },
            // It existed a moment ago and is gone now.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Probe::Gone,
            Err(_) if !signalled => Probe::NoPermission { start_time: None },
            Err(e) => Probe::Unknown { reason: format!("/proc/{pid}/stat: {e}") },
        }
    }

    pub(super) fn identify(pid: u32) -> Result<Identity> {
        const OP: &str = "register";
        let path = format!("/proc/{pid}");
        let st = read_stat(pid).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::new(ErrorKind::ProcessNotFound, OP, &path, "no such process")
            } else {
                Error::new(ErrorKind::ProcessUnreadable, OP, &path, format!("cannot read stat: {e}"))
            }
        })?;
        if matches!(st.state, b'Z' | b'X' | b'x') {
            return Err(Error::new(ErrorKind::ProcessNotFound, OP, &path, "the process has exited (zombie)"));
        }
        let status = proc()
            .and_then(|p| p.read_to_string(&format!("{pid}/status")))
            .map_err(|e| Error::new(ErrorKind::ProcessUnreadable, OP, &path, format!("cannot read status: {e}")))?;
        let uid = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_ascii_whitespace().next())
            .and_then(|u| u.parse().ok())
            .ok_or_else(|| Error::new(ErrorKind::ProcessUnreadable, OP, &path, "no Uid line in status"))?;
        // The namespace the pid number means something in. Another user's
        // process hides its ns link (ptrace access check); its pid was
        // resolved through our /proc, so it is a pid of our namespace.
        let pid_namespace = proc()
            .and_then(|p| p.pid_namespace(Some(pid)))
            .ok()
            .or_else(own_pid_namespace)
            .ok_or_else(|| Error::new(ErrorKind::ProcessUnreadable, OP, &path, "cannot read the pid namespace"))?;
        Ok(Identity { start_time: st.start_time, pid_namespace: Some(pid_namespace), uid })
    }

    pub(super) fn boot_id() -> Option<String> {
        let s = proc().and_then(|p| p.boot_id()).ok()?;
        crate::record::is_valid_boot_id(&s).then_some(s)
    }

    pub(super) fn own_pid_namespace() -> Option<u64> {
        proc().and_then(|p| p.pid_namespace(None)).ok()
    }
}

#[cfg(target_os = "macos")]
mod darwin {
    use libproc::kinfo::KinfoProc;
    use libproc::proc_pid::kproc_info_raw;

    use super::*;

    /// `SZOMB` (`<sys/proc.h>`): exited, not yet reaped.
    const SZOMB: i8 = 5;

    /// `kill(pid, 0)`: `Ok(true)` signalled, `Ok(false)` `EPERM`, `Err(None)`
    /// no such process, `Err(Some(reason))` anything else.
    fn kill0(pid: u32) -> std::result::Result<bool, Option<String>> {
        let p = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw).ok_or(None)?;
        match rustix::process::test_kill_process(p) {
            Ok(()) => Ok(true),
            Err(rustix::io::Errno::PERM) => Ok(false),
            Err(rustix::io::Errno::SRCH) => Err(None),
            Err(e) => Err(Some(format!("kill({pid}, 0): {e}"))),
        }
    }

    /// `sysctl(CTL_KERN, KERN_PROC, KERN_PROC_PID, pid)`. libproc reports
    /// its errors as text, so "no such process" is decided by `kill`, never
    /// by matching that text.
    fn kinfo(pid: u32) -> std::result::Result<KinfoProc, String> {
        kproc_info_raw(i32::try_from(pid).map_err(|_| format!("pid {pid} out of range"))?)
            .map_err(|e| format!("sysctl kern.proc.pid.{pid}: {e}"))
    }

    fn start_of(k: &KinfoProc) -> Option<u64> {
        // `p_un` is `p_starttime` in the `kinfo_proc` that sysctl fills.
        darwin_start_time(k.kp_proc.p_un.tv_sec, k.kp_proc.p_un.tv_usec)
    }

    pub(super) fn probe(pid: u32) -> Probe {
        let signalled = match kill0(pid) {
            Ok(s) => s,
            Err(None) => return Probe::Gone,
            Err(Some(reason)) => return Probe::Unknown { reason },
        };
        match kinfo(pid) {
            Ok(k) if k.kp_proc.p_stat == SZOMB => Probe::Zombie,
            Ok(k) => match (start_of(&k), signalled) {
                (Some(start_time), true) => Probe::Running { start_time },
                (start_time, false) => Probe::NoPermission { start_time },
                (None, true) => Probe::Unknown { reason: format!("pid {pid}: the kernel gave no valid start time") },
            },
            // Vanished between the two calls?
            Err(reason) => match kill0(pid) {
                Err(None) => Probe::Gone,
                _ => Probe::Unknown { reason },
            },
        }
    }

    pub(super) fn identify(pid: u32) -> Result<Identity> {
        const OP: &str = "register";
        let subject = format!("pid {pid}");
        if let Err(None) = kill0(pid) {
            return Err(Error::new(ErrorKind::ProcessNotFound, OP, &subject, "no such process"));
        }
        let k = kinfo(pid).map_err(|e| match kill0(pid) {
            Err(None) => Error::new(ErrorKind::ProcessNotFound, OP, &subject, "no such process"),
            _ => Error::new(ErrorKind::ProcessUnreadable, OP, &subject, e),
        })?;
        if k.kp_proc.p_stat == SZOMB {
            return Err(Error::new(ErrorKind::ProcessNotFound, OP, &subject, "the process has exited (zombie)"));
        }
        if k.kp_proc.p_pid != pid as i32 {
            return Err(Error::new(ErrorKind::ProcessUnreadable, OP, &subject, "the kernel answered for another pid"));
        }
        let start_time = start_of(&k)
            .ok_or_else(|| Error::new(ErrorKind::ProcessUnreadable, OP, &subject, "no valid start time"))?;
        Ok(Identity { start_time, pid_namespace: None, uid: k.kp_eproc.e_pcred.p_ruid })
    }

    pub(super) fn boot_id() -> Option<String> {
        use sysctl::Sysctl;
        let raw = sysctl::Ctl::new("kern.bootsessionuuid").ok()?.value_string().ok()?;
        darwin_boot_id(&raw)
    }
}

impl ProcessOracle for ProcOracle {
    fn probe(&self, pid: u32) -> Probe {
        #[cfg(target_os = "linux")]
        return linux::probe(pid);
        #[cfg(target_os = "macos")]
        return darwin::probe(pid);
        #[cfg(not(any(target_os = "linux", target_os = "macos")))]
        return Probe::Unknown { reason: format!("unsupported platform: cannot judge pid {pid}") };
    }

    fn identify(&self, pid: u32) -> Result<Identity> {
        #[cfg(target_os = "linux")]
        return linux::identify(pid);
        #[cfg(target_os = "macos")]
        return darwin::identify(pid);
        #[cfg(not(any(target_os = "linux", target_os = "macos")))]
        return Err(Error::new(
            ErrorKind::Unsupported,
            "register",
            format!("pid {pid}"),
            "unsupported platform: gw-lease judges processes through Linux /proc or macOS kinfo_proc",
        ));
    }

    fn boot_id(&self) -> Option<String> {
        #[cfg(target_os = "linux")]
        return linux::boot_id();
        #[cfg(target_os = "macos")]
        return darwin::boot_id();
        #[cfg(not(any(target_os = "linux", target_os = "macos")))]
        return None;
    }

    fn pid_namespace(&self) -> Option<u64> {
        #[cfg(target_os = "linux")]
        return linux::own_pid_namespace();
        #[cfg(not(target_os = "linux"))]
        return None;
    }

    fn has_pid_namespaces(&self) -> bool {
        // macOS has none; elsewhere (Linux, and platforms gw does not judge
        // processes on) a missing namespace is "unknown", never "none".
        !cfg!(target_os = "macos")
    }

    fn current_pid(&self) -> u32 {
        std::process::id()
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn stat_with_hostile_comm() {
        let mut fields = String::new();
        for i in 4..=52 {
            fields.push_str(&format!(" {}", if i == 22 { 98765 } else { i }));
        }
        for comm in ["sleep", "a b", "a) R 1 (b", "))", "(", ") Z 5 ("] {
            let line = format!("123 ({comm}) S{fields}\n");
            let st = parse_proc_stat(line.as_bytes()).unwrap_or_else(|| panic!("{comm}"));
            assert_eq!((st.state, st.start_time), (b'S', 98765), "{comm}");
        }
        assert_eq!(parse_proc_stat(b"123 (x) S 1 2"), None);
        assert_eq!(parse_proc_stat(b"garbage"), None);
        assert_eq!(parse_proc_stat(b""), None);
    }

    #[test]
    fn darwin_start_times() {
        assert_eq!(darwin_start_time(1_700_000_000, 123_456), Some(1_700_000_000_123_456));
        assert_eq!(darwin_start_time(0, 0), Some(0));
        assert_eq!(darwin_start_time(0, 999_999), Some(999_999));
        for (s, u) in [(-1, 0), (0, -1), (0, 1_000_000), (i64::MAX, 0)] {
            assert_eq!(darwin_start_time(s, u), None, "{s} {u}");
        }
        // Distinct (sec, usec) pairs never collide.
        assert_ne!(darwin_start_time(1, 0), darwin_start_time(0, 999_999));
    }

    #[test]
    fn darwin_boot_ids() {
        let up = "6B1A8C1E-2F0D-4C7B-9E55-0123456789AB";
        assert_eq!(darwin_boot_id(up).as_deref(), Some("6b1a8c1e-2f0d-4c7b-9e55-0123456789ab"));
        assert_eq!(darwin_boot_id(&format!("{up}\n")).as_deref(), Some("6b1a8c1e-2f0d-4c7b-9e55-0123456789ab"));
        for bad in ["", "not-a-uuid", "6B1A8C1E2F0D4C7B9E550123456789AB", &format!("{up}0")] {
            assert_eq!(darwin_boot_id(bad), None, "{bad:?}");
        }
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn real_self() {
        let o = ProcOracle;
        let me = o.identify(std::process::id()).unwrap();
        assert_eq!(o.probe(std::process::id()), Probe::Running { start_time: me.start_time });
        assert_eq!(me.pid_namespace, o.pid_namespace());
        assert!(me.pid_namespace.is_some() && o.has_pid_namespaces());
        assert!(o.boot_id().is_some());
        assert_eq!(o.probe(PID_MAX_PLUS), Probe::Gone);
    }

    #[cfg(target_os = "linux")]
    const PID_MAX_PLUS: u32 = crate::record::PID_MAX + 1;
}
