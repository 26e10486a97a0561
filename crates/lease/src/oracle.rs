//! How a registry learns about processes and time: the [`ProcessOracle`]
//! and [`Clock`] traits, the real `/proc` oracle, and the `/proc/PID/stat`
//! parser.
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
        /// Clock ticks after boot (`/proc/PID/stat` field 22).
        start_time: u64,
    },
    /// The process exists but belongs to another user (`kill` gave `EPERM`,
    /// LEASE-4); its start time if `/proc` still showed it.
    NoPermission {
        /// Clock ticks after boot, where readable.
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
    /// Clock ticks after boot (`/proc/PID/stat` field 22).
    pub start_time: u64,
    /// The inode of the process's pid namespace.
    pub pid_namespace: u64,
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
    /// The inode of this process's pid namespace; `None` if unknown.
    fn pid_namespace(&self) -> Option<u64>;
    /// The pid of the calling process.
    fn current_pid(&self) -> u32;
}

/// Tells the time (ms since the Unix epoch). The real one is [`SystemClock`].
pub trait Clock: Send + Sync + fmt::Debug {
    /// Now, in ms since the Unix epoch.
    fn now_unix_ms(&self) -> u64;
}

/// The system's wall clock.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
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

/// The real oracle: `kill(pid, 0)`, `/proc/PID/stat`, `/proc/PID/status`,
/// `/proc/PID/ns/pid` and `/proc/sys/kernel/random/boot_id`.
///
/// On platforms without `/proc` every probe is [`Probe::Unknown`] and
/// registration fails with [`ErrorKind::Unsupported`]: a registry there
/// keeps every record until it expires, never guessing.
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
        Ok(Identity { start_time: st.start_time, pid_namespace, uid })
    }

    pub(super) fn boot_id() -> Option<String> {
        let s = proc().and_then(|p| p.boot_id()).ok()?;
        crate::record::is_valid_boot_id(&s).then_some(s)
    }

    pub(super) fn own_pid_namespace() -> Option<u64> {
        proc().and_then(|p| p.pid_namespace(None)).ok()
    }
}

impl ProcessOracle for ProcOracle {
    fn probe(&self, pid: u32) -> Probe {
        #[cfg(target_os = "linux")]
        return linux::probe(pid);
        #[cfg(not(target_os = "linux"))]
        return Probe::Unknown { reason: format!("unsupported platform: cannot judge pid {pid}") };
    }

    fn identify(&self, pid: u32) -> Result<Identity> {
        #[cfg(target_os = "linux")]
        return linux::identify(pid);
        #[cfg(not(target_os = "linux"))]
        return Err(Error::new(
            ErrorKind::Unsupported,
            "register",
            format!("pid {pid}"),
            "unsupported platform: gw-lease judges processes through Linux /proc",
        ));
    }

    fn boot_id(&self) -> Option<String> {
        #[cfg(target_os = "linux")]
        return linux::boot_id();
        #[cfg(not(target_os = "linux"))]
        return None;
    }

    fn pid_namespace(&self) -> Option<u64> {
        #[cfg(target_os = "linux")]
        return linux::own_pid_namespace();
        #[cfg(not(target_os = "linux"))]
        return None;
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

    #[cfg(target_os = "linux")]
    #[test]
    fn real_self() {
        let o = ProcOracle;
        let me = o.identify(std::process::id()).unwrap();
        assert_eq!(o.probe(std::process::id()), Probe::Running { start_time: me.start_time });
        assert_eq!(Some(me.pid_namespace), o.pid_namespace());
        assert!(o.boot_id().is_some());
        assert_eq!(o.probe(PID_MAX_PLUS), Probe::Gone);
    }

    #[cfg(target_os = "linux")]
    const PID_MAX_PLUS: u32 = crate::record::PID_MAX + 1;
}
