//! The verdict on one record: keep it (and why) or remove it (and why).
//! Pure: everything it needs is passed in, so the real oracle, the fake
//! oracle of the state-machine test and the loom model all share it.

use serde::Serialize;

use crate::oracle::Probe;
use crate::record::Record;

/// What the judge knows about "here and now".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Context {
    /// Now, ms since the Unix epoch.
    pub now_unix_ms: u64,
    /// This boot's id, if known.
    pub boot_id: Option<String>,
    /// This process's pid namespace inode, if known.
    pub pid_namespace: Option<u64>,
    /// Whether this platform has pid namespaces (`false` on macOS, where
    /// records carry none and `pid_namespace` is `None` by nature, not
    /// because it is unknown).
    pub has_pid_namespaces: bool,
}

/// Why a record is kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "detail")]
pub enum Status {
    /// Its process is running, with the recorded start time (LEASE-2).
    Alive,
    /// Its process exists but cannot be signalled by us (another uid,
    /// `EPERM`): alive (LEASE-4).
    AliveNoPermission,
    /// It was written in another pid namespace, where its pid means
    /// something we cannot check: kept until it expires (LEASE-5).
    OtherPidNamespace,
    /// Nothing could be concluded (the probe failed, or this process's boot
    /// id / namespace is unknown): kept until it expires.
    Unknown(String),
}

/// Why a record is removed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum RemoveReason {
    /// No such process (`ESRCH`, LEASE-1).
    ProcessGone,
    /// The process has exited and is a zombie (LEASE-1).
    Zombie,
    /// The record's expiry has passed (LEASE-1).
    Expired,
    /// A process has the pid, but it started at another time: the pid was
    /// reused (LEASE-3).
    StartTimeDiffers {
        /// The start time in the record.
        recorded: u64,
        /// The start time of the process that has the pid now.
        found: u64,
    },
    /// The record was written before the last reboot (LEASE-3).
    BootIdDiffers,
}

impl RemoveReason {
    /// A short stable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::ProcessGone => "process_gone",
            Self::Zombie => "zombie",
            Self::Expired => "expired",
            Self::StartTimeDiffers { .. } => "pid_reused",
            Self::BootIdDiffers => "boot_id_differs",
        }
    }
}

impl Status {
    /// A short stable name.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Alive => "alive",
            Self::AliveNoPermission => "alive_no_permission",
            Self::OtherPidNamespace => "other_pid_namespace",
            Self::Unknown(_) => "unknown",
        }
    }
}

/// The judgement on one record: keep it or remove it (gw-portguard's
/// `Verdict` is the answer about a port's owner).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Judgement {
    /// Keep the record.
    Keep(Status),
    /// Remove the record.
    Remove(RemoveReason),
}

/// Judges `record` in `ctx`, probing its pid with `probe` only when the
/// record can be judged from here.
///
/// Order: expired → removed; another boot → removed; another (or unknown)
/// pid namespace → kept (on a platform without pid namespaces: a record
/// naming one → kept); then the probe: gone or zombie → removed; running
/// (or `EPERM`) with another start time → removed (pid reused); otherwise
/// kept. An unreadable start time behind `EPERM` is kept (alive, LEASE-4).
pub fn judge(record: &Record, ctx: &Context, probe: impl FnOnce(u32) -> Probe) -> Judgement {
    if record.is_expired(ctx.now_unix_ms) {
        return Judgement::Remove(RemoveReason::Expired);
    }
    match &ctx.boot_id {
        Some(b) if *b != record.boot_id => return Judgement::Remove(RemoveReason::BootIdDiffers),
        Some(_) => {}
        None => return Judgement::Keep(Status::Unknown("this boot's id is unknown".into())),
    }
    if ctx.has_pid_namespaces {
        match ctx.pid_namespace {
            Some(ns) if Some(ns) != record.pid_namespace => return Judgement::Keep(Status::OtherPidNamespace),
            Some(_) => {}
            None => return Judgement::Keep(Status::Unknown("this process's pid namespace is unknown".into())),
        }
    } else if record.pid_namespace.is_some() {
        // Written where pid namespaces exist: not a pid of this system.
        return Judgement::Keep(Status::OtherPidNamespace);
    }
    let same = |found: u64, keep: Status| {
        if found == record.start_time {
            Judgement::Keep(keep)
        } else {
            Judgement::Remove(RemoveReason::StartTimeDiffers { recorded: record.start_time, found })
        }
    };
    match probe(record.pid) {
        Probe::Gone => Judgement::Remove(RemoveReason::ProcessGone),
        Probe::Zombie => Judgement::Remove(RemoveReason::Zombie),
        Probe::Running { start_time } => same(start_time, Status::Alive),
        Probe::NoPermission { start_time: Some(t) } => same(t, Status::AliveNoPermission),
        Probe::NoPermission { start_time: None } => Judgement::Keep(Status::AliveNoPermission),
        Probe::Unknown { reason } => Judgement::Keep(Status::Unknown(reason)),
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    const BOOT: &str = "0123abcd-0000-4000-8000-00000000beef";

    fn record(pid_namespace: Option<u64>) -> Record {
        Record {
            version: 1,
            id: "r".into(),
            pid: 42,
            start_time: 7,
            boot_id: BOOT.into(),
            pid_namespace,
            uid: 0,
            port: None,
            created_unix_ms: 0,
            expires_unix_ms: None,
            nonce: "00112233445566778899aabbccddeeff".into(),
            payload: serde_json::Value::Null,
        }
    }

    fn ctx(pid_namespace: Option<u64>, has_pid_namespaces: bool) -> Context {
        Context { now_unix_ms: 1, boot_id: Some(BOOT.into()), pid_namespace, has_pid_namespaces }
    }

    fn running(_: u32) -> Probe {
        Probe::Running { start_time: 7 }
    }

    #[test]
    fn platform_without_pid_namespaces() {
        // macOS: a record without a namespace is judged by its process...
        assert_eq!(judge(&record(None), &ctx(None, false), running), Judgement::Keep(Status::Alive));
        assert_eq!(
            judge(&record(None), &ctx(None, false), |_| Probe::Gone),
            Judgement::Remove(RemoveReason::ProcessGone)
        );
        // ...one that names a namespace was written elsewhere: kept, not probed.
        let never = |_: u32| -> Probe { panic!("probed a foreign record") };
        assert_eq!(judge(&record(Some(5)), &ctx(None, false), never), Judgement::Keep(Status::OtherPidNamespace));
    }

    #[test]
    fn platform_with_pid_namespaces() {
        let never = |_: u32| -> Probe { panic!("probed a foreign record") };
        assert_eq!(judge(&record(Some(5)), &ctx(Some(5), true), running), Judgement::Keep(Status::Alive));
        assert_eq!(judge(&record(Some(6)), &ctx(Some(5), true), never), Judgement::Keep(Status::OtherPidNamespace));
        // A record from a platform without namespaces is not a pid of ours.
        assert_eq!(judge(&record(None), &ctx(Some(5), true), never), Judgement::Keep(Status::OtherPidNamespace));
        // Our own namespace unknown: nothing concluded.
        assert!(matches!(judge(&record(Some(5)), &ctx(None, true), never), Judgement::Keep(Status::Unknown(_))));
    }
}
