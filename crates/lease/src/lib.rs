//! # gw-lease: liveness records that survive crashes and pid reuse
//!
//! gw-lease owns one problem: a directory of "I am alive, here is how to
//! reach me" records (like bridge or relay registrations) that clients can
//! trust. A record names its process by pid **and** process start time
//! (`/proc/PID/stat` field 22; on macOS `kinfo_proc`'s `p_starttime`)
//! **and** boot id, and says in which pid namespace the pid means something
//! (`null` on macOS, which has none). [`Registry::register`] prunes first
//! and returns a [`LeaseGuard`] that removes the record when dropped;
//! [`Registry::prune`] removes what is dead, expired or recycled and reports
//! why; [`Registry::list_live`] lists what is left.
//!
//! ```
//! use std::time::Duration;
//! use gw_lease::{Registration, Registry, RemoveReason};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let registry = Registry::open(dir.path().join("leases"))?;
//!
//! // This process registers; the guard removes the record when dropped.
//! let (guard, _pruned) = registry.register(&Registration::new("bridge")?.port(18789).ttl(Duration::from_secs(60)))?;
//! let live = registry.list_live()?;
//! assert_eq!(live.len(), 1);
//! assert_eq!(live[0].port, Some(18789));
//!
//! #[cfg(target_os = "linux")] { // elsewhere a process cannot be judged yet: records are kept
//! // Another process registers, then crashes without cleaning up: the next
//! // prune removes its record and says why (THREATS LEASE-1).
//! let mut child = std::process::Command::new("sleep").arg("30").spawn()?;
//! let (other, _) = registry.register(&Registration::new("relay")?.pid(child.id()))?;
//! other.persist(); // as if it had crashed: nobody removes the file
//! child.kill()?;
//! child.wait()?;
//! let report = registry.prune(false)?;
//! assert_eq!(report.removed.len(), 1);
//! assert_eq!(report.removed[0].id, "relay");
//! assert_eq!(report.removed[0].reason, RemoveReason::ProcessGone);
//! }
//!
//! drop(guard);
//! assert!(registry.list_live()?.is_empty());
//! # Ok(()) }
//! ```
//!
//! **Guarantees.** Records of crashed processes (gone, zombie), expired
//! records and records whose pid was reused (other start time, other boot)
//! are removed (THREATS LEASE-1, LEASE-3). Records of other live processes
//! are never removed or overwritten (LEASE-2); a process that exists but
//! cannot be signalled (`EPERM`) is alive (LEASE-4); a record written in
//! another pid namespace cannot be judged here and is kept until it expires
//! (LEASE-5). Only regular files named `<id>.json` are ever touched;
//! symlinks, FIFOs, directories and malformed records are reported, never
//! followed or deleted; a record owned by another user or writable by
//! group/other is reported and never trusted (FS-9: whoever can write it
//! could name any process as a port's owner). Concurrent registrars and pruners — threads and
//! processes — never delete a live record or lose a registration: every
//! change happens under gw-persist's [`FileLock`](gw_persist::FileLock) on the
//! directory's lock file (threads queue in-process, processes on `flock`), and a
//! removal re-checks that the file is still the version that was judged.
//! The registry directory is a gw-anchor [`gw_anchor::Root`]: an insecure
//! directory is refused (FS-5), it is created only by a registrar and never
//! through a symlink (FS-10), nothing beneath it is reached through a
//! symlink (FS-1, FS-2), records are replaced atomically (FS-3).
//!
//! **Not guaranteed.** Locks are advisory: a process that writes the
//! directory without gw-lease is not excluded. A record written in another
//! pid namespace without an expiry is kept forever (give such records a
//! TTL). A same-uid attacker can write or remove records (the directory is
//! theirs too). Linux and macOS (see docs/platforms.md for what only a
//! Mac can confirm): elsewhere every probe is "unknown" and records are kept
//! until they expire.
//!
//! Record files are parsed strictly ([`parse_record`]): gw-persist's JSON
//! parser (duplicate keys, BOM, trailing data refused), no unknown field,
//! every field range-checked. The threat rationale lives in
//! `audits/THREAT-MAP.md`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod judge;
#[cfg(loom)]
mod loom_model;
mod oracle;
mod record;
mod registry;
mod store;
#[cfg(loom)]
mod sync;
mod txn;

pub use error::{Error, ErrorKind, Result};
/// The class every error answers (gw-error): not found, refused, invalid, failed.
pub use gw_error::Class;
pub use judge::{Context, Judgement, RemoveReason, Status, judge};
pub use oracle::{Identity, Probe, ProcOracle, ProcStat, ProcessOracle, SystemWallClock, WallClock};
// The `/proc/PID/stat` parser, exported only for the fuzz target
// (fuzz/fuzz_targets/lease_record.rs, its own workspace): `ProcOracle` is
// how a caller reads a process. Hidden rather than behind a feature so the
// fuzz target checks the same build the CLI runs.
#[doc(hidden)]
pub use oracle::parse_proc_stat;
pub use record::{
    FORMAT_VERSION, MAX_ID_LEN, MAX_PAYLOAD_BYTES, MAX_PAYLOAD_DEPTH, MAX_RECORD_BYTES, PID_MAX, RECORD_SUFFIX, Record,
    check_id, check_payload, file_name, id_from_file_name, is_valid_boot_id, is_valid_id, parse_record,
};
pub use registry::{LOCK_TIMEOUT, LeaseGuard, Registration, Registry};
pub use txn::{Kept, LOCK_FILE, Listed, Listing, PruneReport, Removed, SkipReason, Skipped};

// The README's example runs as a doc test too, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
