//! The registry's transactions — scan, prune, register, release, renew —
//! written once over the [`Store`] seam. The caller holds the registry lock
//! (in-process mutex, then the directory's `flock`) around each of them.
//!
//! What is touched: only regular files whose names match `<id>.json`. The
//! lock file and gw-anchor temporaries are passed over in silence; any other
//! entry is reported in [`Skipped`] and left alone — symlinks, FIFOs,
//! directories (never followed, never deleted), files with other names,
//! record files owned by another user or writable by group/other (never
//! trusted, FS-9), and record files that do not parse. A malformed record is **kept**: it may be
//! a newer gw's format, or evidence of tampering; `gw doctor` reports it and
//! a human decides (a crashed writer cannot leave one: writes are atomic).

use std::os::unix::ffi::OsStrExt;

use gw_anchor::FileKind;
use serde::Serialize;

use crate::error::{Error, ErrorKind, Result};
use crate::judge::{Context, Judgement, RemoveReason, Status, judge};
use crate::oracle::Probe;
use crate::record::{self, Record, parse_record};
use crate::store::{Ident, Store};

/// The lock file (never a record name: ids cannot start with `.`).
pub const LOCK_FILE: &str = ".lock";

/// A record and the verdict on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listed {
    /// The record.
    pub record: Record,
    /// Keep (and why) or remove (and why).
    pub verdict: Judgement,
}

/// A record a prune removed (or, in a dry run, would remove).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Removed {
    /// The record's id.
    pub id: String,
    /// Why.
    pub reason: RemoveReason,
    /// The record as it was.
    pub record: Record,
}

/// A record a prune kept.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Kept {
    /// The record's id.
    pub id: String,
    /// Why it is kept.
    pub status: Status,
    /// The record.
    pub record: Record,
}

/// Why a directory entry was left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case", tag = "reason")]
pub enum SkipReason {
    /// Not a regular file (symlink, FIFO, directory, socket, device): never
    /// followed, opened or deleted.
    NotRegular {
        /// `symlink`, `fifo`, `dir`, ...
        kind: &'static str,
    },
    /// A regular file whose name is not `<id>.json`.
    UnrecognisedName,
    /// A `<id>.json` file owned by another user (not the caller, not root)
    /// or writable by group/other: anyone could have written it, so it is
    /// not read, judged, trusted or removed (THREATS FS-9).
    Insecure {
        /// Its owner and mode, and what to do.
        message: String,
    },
    /// A `<id>.json` file that is not a valid record (kept, see module docs).
    Malformed {
        /// What is wrong.
        message: String,
    },
    /// The record could not be read or removed (the error says why).
    Failed {
        /// What failed.
        message: String,
    },
}

/// An entry left alone.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Skipped {
    /// The entry's name (lossy UTF-8).
    pub name: String,
    /// Why it was left alone.
    pub reason: SkipReason,
}

/// Everything in a registry, judged.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Listing {
    /// Every record, with its verdict.
    pub records: Vec<Listed>,
    /// Entries that are not records.
    pub skipped: Vec<Skipped>,
}

/// What a prune did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PruneReport {
    /// `true` if nothing was removed on purpose (`removed` lists what would be).
    pub dry_run: bool,
    /// Records removed, and why.
    pub removed: Vec<Removed>,
    /// Records kept, and why.
    pub kept: Vec<Kept>,
    /// Entries left alone.
    pub skipped: Vec<Skipped>,
}

pub(crate) struct Scanned {
    pub(crate) listed: Vec<(Listed, Ident)>,
    pub(crate) skipped: Vec<Skipped>,
}

/// Reads and judges every record.
pub(crate) fn scan<S: Store>(store: &S, ctx: &Context, probe: &dyn Fn(u32) -> Probe) -> Result<Scanned> {
    let mut out = Scanned { listed: Vec::new(), skipped: Vec::new() };
    for (name, kind) in store.entries()? {
        let shown = String::from_utf8_lossy(name.as_bytes()).into_owned();
        if shown == LOCK_FILE || gw_anchor::is_temp_name(&name) {
            continue;
        }
        if kind != FileKind::File {
            out.skipped.push(Skipped { name: shown, reason: SkipReason::NotRegular { kind: kind.as_str() } });
            continue;
        }
        let Some(id) = name.to_str().and_then(record::id_from_file_name) else {
            out.skipped.push(Skipped { name: shown, reason: SkipReason::UnrecognisedName });
            continue;
        };
        let (bytes, ident) = match store.read(&shown) {
            Ok(x) => x,
            // Removed since it was listed (by a writer that skips the lock).
            Err(e) if e.kind() == ErrorKind::Fs(gw_anchor::ErrorKind::NotFound) => continue,
            Err(e) if e.kind() == ErrorKind::Fs(gw_anchor::ErrorKind::InsecureFile) => {
                out.skipped.push(Skipped { name: shown, reason: SkipReason::Insecure { message: e.to_string() } });
                continue;
            }
            Err(e) => {
                out.skipped.push(Skipped { name: shown, reason: SkipReason::Failed { message: e.to_string() } });
                continue;
            }
        };
        let record = match parse_record(&bytes) {
            Ok(r) if r.id == id => r,
            Ok(r) => {
                let message = format!("the record's id {:?} is not its file name's", r.id);
                out.skipped.push(Skipped { name: shown, reason: SkipReason::Malformed { message } });
                continue;
            }
            Err(e) => {
                out.skipped
                    .push(Skipped { name: shown, reason: SkipReason::Malformed { message: e.message().into() } });
                continue;
            }
        };
        let verdict = judge(&record, ctx, probe);
        out.listed.push((Listed { record, verdict }, ident));
    }
    Ok(out)
}

/// Removes `name` only if it is still the file version `ident`.
fn remove_if_same<S: Store>(store: &S, name: &str, ident: Ident) -> Result<bool> {
    if store.identity(name)? != Some(ident) {
        return Ok(false);
    }
    store.remove(name)
}

/// Prunes: removes every record judged removable.
pub(crate) fn prune<S: Store>(
    store: &S,
    ctx: &Context,
    probe: &dyn Fn(u32) -> Probe,
    dry_run: bool,
) -> Result<PruneReport> {
    let scanned = scan(store, ctx, probe)?;
    let mut report = PruneReport { dry_run, removed: Vec::new(), kept: Vec::new(), skipped: scanned.skipped };
    for (listed, ident) in scanned.listed {
        let Listed { record, verdict } = listed;
        match verdict {
            Judgement::Keep(status) => report.kept.push(Kept { id: record.id.clone(), status, record }),
            Judgement::Remove(reason) => {
                let name = record::file_name(&record.id);
                let done = if dry_run { Ok(true) } else { remove_if_same(store, &name, ident) };
                match done {
                    Ok(true) => report.removed.push(Removed { id: record.id.clone(), reason, record }),
                    // Rewritten since it was read: judged next time.
                    Ok(false) => {}
                    Err(e) => {
                        report.skipped.push(Skipped { name, reason: SkipReason::Failed { message: e.to_string() } })
                    }
                }
            }
        }
    }
    Ok(report)
}

/// Prunes, then writes `new` unless its id is held by a record that is
/// kept and is not the same process's.
pub(crate) fn register<S: Store>(
    store: &S,
    ctx: &Context,
    probe: &dyn Fn(u32) -> Probe,
    new: &Record,
) -> Result<PruneReport> {
    let report = prune(store, ctx, probe, false)?;
    let name = record::file_name(&new.id);
    if let Some(k) = report.kept.iter().find(|k| k.id == new.id) {
        let same_process = k.record.pid == new.pid
            && k.record.start_time == new.start_time
            && k.record.boot_id == new.boot_id
            && k.record.pid_namespace == new.pid_namespace;
        if !same_process {
            return Err(Error::new(
                ErrorKind::AlreadyRegistered,
                "register",
                &new.id,
                format!("the id is held by pid {} ({}); it is not overwritten", k.record.pid, k.status.as_str()),
            )
            .with_fix("choose another id, or stop that process first"));
        }
    }
    if let Some(s) = report.skipped.iter().find(|s| s.name == name) {
        if let SkipReason::Insecure { message } = &s.reason {
            return Err(Error::new(
                ErrorKind::Fs(gw_anchor::ErrorKind::InsecureFile),
                "register",
                &new.id,
                format!("the record file {name} is refused and left alone: {message}"),
            )
            .with_fix("check it, then remove it by hand if no process of yours wrote it"));
        }
        return Err(Error::new(
            ErrorKind::Malformed,
            "register",
            &new.id,
            format!("the entry {name} is not a record gw can read ({:?}); it is left alone", s.reason),
        )
        .with_fix("inspect it and remove it by hand if it is not needed"));
    }
    store.write(&name, &new.to_bytes()?)?;
    Ok(report)
}

/// Reads `id` if it is still the registration with `nonce`.
fn ours<S: Store>(store: &S, id: &str, nonce: &str) -> Result<Option<(Record, Ident)>> {
    match store.read(&record::file_name(id)) {
        Ok((bytes, ident)) => Ok(parse_record(&bytes).ok().filter(|r| r.nonce == nonce).map(|r| (r, ident))),
        Err(e) if e.kind() == ErrorKind::Fs(gw_anchor::ErrorKind::NotFound) => Ok(None),
        Err(e) => Err(e),
    }
}

/// Removes `id` if it is still the registration with `nonce`.
pub(crate) fn release<S: Store>(store: &S, id: &str, nonce: &str) -> Result<bool> {
    match ours(store, id, nonce)? {
        Some((_, ident)) => remove_if_same(store, &record::file_name(id), ident),
        None => Ok(false),
    }
}

/// Rewrites `id` with a new expiry if it is still the registration with `nonce`.
pub(crate) fn renew<S: Store>(store: &S, id: &str, nonce: &str, expires_unix_ms: Option<u64>) -> Result<Record> {
    let Some((mut rec, _)) = ours(store, id, nonce)? else {
        return Err(Error::new(
            ErrorKind::NotOurs,
            "renew",
            id,
            "the record is gone or was replaced by another registration",
        )
        .with_fix("register again"));
    };
    rec.expires_unix_ms = expires_unix_ms;
    store.write(&record::file_name(id), &rec.to_bytes()?)?;
    Ok(rec)
}
