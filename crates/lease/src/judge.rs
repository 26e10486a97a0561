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

/// The verdict on one record.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Verdict {
    /// Keep the record.
    Keep(Status),
    /// Remove the record.
    Remove(RemoveReason),
}

/// Judges `record` in `ctx`, probing its pid with `probe` only when the
/// record can be judged from here.
///
/// Order: expired → removed; another boot → removed; another (or unknown)
/// pid namespace → kept; then the probe: gone or zombie → removed; running
/// (or `EPERM`) with another start time → removed (pid reused); otherwise
/// kept. An unreadable start time behind `EPERM` is kept (alive, LEASE-4).
pub fn judge(record: &Record, ctx: &Context, probe: impl FnOnce(u32) -> Probe) -> Verdict {
    if record.is_expired(ctx.now_unix_ms) {
        return Verdict::Remove(RemoveReason::Expired);
    }
    match &ctx.boot_id {
        Some(b) if *b != record.boot_id => return Verdict::Remove(RemoveReason::BootIdDiffers),
        Some(_) => {}
        None => return Verdict::Keep(Status::Unknown("this boot's id is unknown".into())),
    }
    match ctx.pid_namespace {
        Some(ns) if ns != record.pid_namespace => return Verdict::Keep(Status::OtherPidNamespace),
        Some(_) => {}
        None => return Verdict::Keep(Status::Unknown("this process's pid namespace is unknown".into())),
    }
    let same = |found: u64, keep: Status| {
        if found == record.start_time {
            Verdict::Keep(keep)
        } else {
            Verdict::Remove(RemoveReason::StartTimeDiffers { recorded: record.start_time, found })
        }
    };
    match probe(record.pid) {
        Probe::Gone => Verdict::Remove(RemoveReason::ProcessGone),
        Probe::Zombie => Verdict::Remove(RemoveReason::Zombie),
        Probe::Running { start_time } => same(start_time, Status::Alive),
        Probe::NoPermission { start_time: Some(t) } => same(t, Status::AliveNoPermission),
        Probe::NoPermission { start_time: None } => Verdict::Keep(Status::AliveNoPermission),
        Probe::Unknown { reason } => Verdict::Keep(Status::Unknown(reason)),
    }
}
