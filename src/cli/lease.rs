//! `gw lease`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};

/// Liveness records in a registry directory.
#[derive(Debug, Subcommand)]
pub(crate) enum LeaseCommand {
    /// Register a process in the registry DIR (created 0700 if missing,
    /// with its missing parents, beneath its nearest existing directory and
    /// never through a symlink):
    /// prunes dead, expired and recycled records first, then writes
    /// DIR/ID.json atomically with the process's pid, start time, boot id
    /// and pid namespace. Refused if a live record of another process holds
    /// ID. The record stays after gw exits; it is pruned once its process is
    /// gone or its TTL has passed.
    Register(RegisterArgs),
    /// List the live records of DIR (alive, alive but owned by another user,
    /// or from another pid namespace and not yet expired). Changes nothing
    /// and creates nothing: a missing DIR is not found (exit 4), not an
    /// empty list. Record files owned by another user or writable by
    /// group/other are never trusted: they are always listed as refused, and
    /// the exit status is then 3.
    List(ListArgs),
    /// Remove the records of DIR whose process is gone or a zombie, whose
    /// TTL has passed, or whose pid now belongs to another process (other
    /// start time or boot). Records of live processes are kept, and so are
    /// records from another pid namespace until they expire. Symlinks,
    /// FIFOs, directories and malformed records are reported, never
    /// followed or deleted; record files owned by another user or writable
    /// by group/other are reported as refused and left alone (exit 3). A
    /// missing DIR is not found (exit 4): nothing is created.
    Prune(PruneArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RegisterArgs {
    /// The registry directory (must be yours and not group/other writable;
    /// created 0700 if missing).
    pub(crate) dir: PathBuf,
    /// The record id: 1-64 characters of A-Z a-z 0-9 . _ - starting with a
    /// letter or digit. The record is DIR/ID.json.
    #[arg(long)]
    pub(crate) id: String,
    /// The process to register. Default: gw's parent process (the shell or
    /// program that ran `gw lease register`), since gw itself exits at once.
    #[arg(long)]
    pub(crate) pid: Option<u32>,
    /// The port the process serves (recorded for clients).
    #[arg(long)]
    pub(crate) port: Option<u16>,
    /// Expire the record after this long (e.g. 30s, 10m, 1h). Default: no
    /// expiry (the record lives as long as its process).
    #[arg(long, value_parser = humantime::parse_duration)]
    pub(crate) ttl: Option<Duration>,
    /// A JSON value stored with the record (at most 16 KiB; parsed strictly).
    /// Arguments are readable by other processes: never put a secret here.
    #[arg(long)]
    pub(crate) payload: Option<String>,
}

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// The registry directory.
    pub(crate) dir: PathBuf,
    /// Show every record with its verdict (also those a prune would remove),
    /// and the entries that are not records.
    #[arg(long)]
    pub(crate) all: bool,
}

#[derive(Debug, Args)]
pub(crate) struct PruneArgs {
    /// The registry directory.
    pub(crate) dir: PathBuf,
    /// Report what would be removed, remove nothing.
    #[arg(long)]
    pub(crate) dry_run: bool,
}
