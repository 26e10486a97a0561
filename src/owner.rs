//! Whose port it must be, written once for every command that proves a
//! port's owner (`gw port verify`, `gw probe`, `gw cred replace-shared
//! --validate-with-probe`, `gw watch health`): the expected owner from
//! `--pid`, `--pidfile` or `--lease DIR --id ID` (or the profile's own
//! `serve.pid`), and the loopback rule for the gateways whose owner can be
//! proven at all. The decisions themselves are gw-portguard's (the proof)
//! and gw-lease's (whether a record names a live process here); this module
//! only says which of them applies. Not a command: commands import it,
//! never each other.

use std::ffi::OsStr;
use std::fmt;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};

use gw_anchor::{Policy, Root};
use gw_cred::GatewayKey;
use gw_portguard::Expected;

use crate::output::CliError;

/// The pidfile of `gw serve`, in the profile directory ("PID STARTTIME").
pub(crate) const PIDFILE: &str = "serve.pid";

/// A file path as (anchored root of its directory, file name); a path
/// without a file name is a usage error.
pub(crate) fn open_parent<'p>(path: &'p Path, policy: &Policy) -> Result<(Root, &'p OsStr), CliError> {
    let name =
        path.file_name().ok_or_else(|| CliError::usage("open", format!("{}: not a file path", path.display())))?;
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    };
    Ok((Root::open(dir, policy)?, name))
}

/// The lease registry of `--lease DIR`, opened read-only: never created
/// (a missing DIR is not found, exit 4), refused if insecure (exit 3)
/// (THREATS FS-10).
fn lease_registry(dir: &Path, policy: &Policy) -> Result<gw_lease::Registry, CliError> {
    Ok(gw_lease::Registry::open_existing(dir, policy)?)
}

/// The expected owner of a gateway's listeners, as the flags name it. The
/// pidfile and the lease record are read by [`Owner::expected`], so a
/// watcher that asks again recognises a restarted gateway.
pub(crate) enum Owner {
    /// `--pid`: a fixed process.
    Pid(u32),
    /// `--pidfile`, or the profile's `serve.pid`: the pidfile `name` in the
    /// verified directory `root`; `given` is the path as the user knows it.
    Pidfile { root: Root, name: PathBuf, given: PathBuf },
    /// `--lease DIR --id ID`: the record's process (pid and start time).
    Lease(gw_lease::Registry, String),
}

/// Why the expected owner could not be read.
#[derive(Debug)]
pub(crate) enum OwnerError {
    /// The pidfile (its path as given): missing, insecure, malformed, or its
    /// process gone.
    Pidfile(PathBuf, Box<gw_portguard::Error>),
    /// The lease record: missing, insecure, or its process not running here.
    Lease(Box<gw_lease::Error>),
}

impl fmt::Display for OwnerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pidfile(_, e) => e.fmt(f),
            Self::Lease(e) => e.fmt(f),
        }
    }
}

impl Owner {
    /// The owner the flags name, in their precedence: `--pid`, then
    /// `--pidfile` (its directory opened and verified now), then `--lease
    /// DIR --id ID` (the registry opened now by [`lease_registry`]). `None`
    /// if no flag names one.
    pub(crate) fn from_flags(
        pid: Option<u32>,
        pidfile: Option<&Path>,
        lease: Option<(&Path, &str)>,
        policy: &Policy,
    ) -> Result<Option<Self>, CliError> {
        Ok(Some(match (pid, pidfile, lease) {
            (Some(pid), _, _) => Self::Pid(pid),
            (None, Some(path), _) => {
                let (root, name) = open_parent(path, policy)?;
                Self::Pidfile { root, name: PathBuf::from(name), given: path.to_path_buf() }
            }
            (None, None, Some((dir, id))) => Self::Lease(lease_registry(dir, policy)?, id.to_owned()),
            (None, None, None) => return Ok(None),
        }))
    }

    /// The profile's own gateway: the `serve.pid` that `gw serve` keeps in
    /// the profile directory (opened again, and verified, from its path).
    pub(crate) fn profile(profile_dir: &Root, policy: &Policy) -> Result<Self, CliError> {
        let root = Root::open(profile_dir.path(), policy)?;
        let given = root.path().join(PIDFILE);
        Ok(Self::Pidfile { root, name: PathBuf::from(PIDFILE), given })
    }

    /// The process that must hold the port, read now: gw-lease decides
    /// whether a record names a process running here (boot, pid namespace,
    /// expiry, start time); gw-portguard pins its pid and start time (a pid
    /// reused after this is refused there).
    pub(crate) fn expected(&self) -> Result<Expected, OwnerError> {
        match self {
            Self::Pid(pid) => Ok(Expected::new(*pid)),
            Self::Pidfile { root, name, given } => {
                Expected::from_pidfile(root, name).map_err(|e| OwnerError::Pidfile(given.clone(), Box::new(e)))
            }
            Self::Lease(reg, id) => {
                let rec = reg.live_owner(id).map_err(|e| OwnerError::Lease(Box::new(e)))?;
                Ok(Expected::new(rec.pid).with_start_time(rec.start_time))
            }
        }
    }

    /// "pid 42", "the pidfile /run/x.pid", "lease record serve-18789".
    pub(crate) fn describe(&self) -> String {
        match self {
            Self::Pid(pid) => format!("pid {pid}"),
            Self::Pidfile { root, name, .. } => format!("the pidfile {}", root.path().join(name).display()),
            Self::Lease(_, id) => format!("lease record {id}"),
        }
    }
}

/// Why a gateway's port owner cannot be proven, so nothing may be sent to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NotProvable {
    /// Not a ws:// gateway (a usage error).
    NotWs,
    /// A host other than loopback: who owns a remote port cannot be proven
    /// (a refusal, exit 3).
    NotLoopback,
}

impl NotProvable {
    /// The message, without what the caller did not do.
    pub(crate) fn message(self, key: &GatewayKey) -> String {
        match self {
            Self::NotWs => format!("{key}: only ws:// gateways can be probed"),
            Self::NotLoopback => "the host is not loopback: who owns a remote port cannot be proven".to_owned(),
        }
    }
}

/// The address to connect to for the ws:// gateway `key` on loopback:
/// 127.0.0.1 and its port. Any other gateway is refused before a socket
/// is opened.
///
/// # Security
/// THREATS PORT-1: only a port on this machine can have its owner proven.
pub(crate) fn loopback(key: &GatewayKey) -> Result<SocketAddr, NotProvable> {
    if !key.as_str().starts_with("ws://") {
        return Err(NotProvable::NotWs);
    }
    if !key.is_loopback() {
        return Err(NotProvable::NotLoopback);
    }
    Ok(SocketAddr::from((Ipv4Addr::LOCALHOST, key.port())))
}
