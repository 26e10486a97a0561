//! The expected owner of a port: a pid, optionally its uid, start time and
//! whether descendants count; from a number or from a pidfile read through
//! gw-anchor.

use std::path::Path;

use crate::error::{Error, ErrorKind, Result};

/// Largest pidfile accepted, in bytes.
const MAX_PIDFILE: u64 = 64;

/// Who must own every listener on the port.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expected {
    pid: u32,
    uid: Option<u32>,
    descendants: bool,
    start_time: Option<u64>,
}

impl Expected {
    /// The process `pid` (descendants count, any uid, start time taken when
    /// the check pins the process).
    pub fn new(pid: u32) -> Self {
        Self { pid, uid: None, descendants: true, start_time: None }
    }

    /// Every listener must also be owned by socket uid `uid`.
    pub fn with_uid(mut self, uid: u32) -> Self {
        self.uid = Some(uid);
        self
    }

    /// Whether sockets held by descendants of the pid count (default: yes,
    /// THREATS PORT-3).
    pub fn descendants(mut self, yes: bool) -> Self {
        self.descendants = yes;
        self
    }

    /// The process must have this start time (as [`start_time_of`] gives
    /// it: Linux clock ticks after boot, macOS microseconds since the
    /// epoch); another start time means the pid was reused and the check is
    /// refused.
    pub fn with_start_time(mut self, ticks: u64) -> Self {
        self.start_time = Some(ticks);
        self
    }

    /// Records the process's current start time, so later checks with this
    /// value refuse a reused pid.
    ///
    /// # Errors
    /// [`ErrorKind::NotRunning`] if the process is not visible; `Io`/`Parse`
    /// for a `/proc` failure; `Unsupported` off Linux.
    pub fn record(self) -> Result<Self> {
        let t = start_time_of(self.pid)?;
        Ok(self.with_start_time(t))
    }

    /// Reads the expected pid from the pidfile `name` beneath `root`, through
    /// gw-anchor: no symlink is followed, only a regular file is read, the
    /// directory chain was verified when `root` was opened (an insecure,
    /// e.g. world-writable, directory is refused there), and the pidfile
    /// itself must be owned by the caller or root and not writable by
    /// group/other ([`gw_anchor::Root::read_trusted`]): whoever can write it
    /// decides which process is taken for the port's owner.
    ///
    /// Content: `PID` or `PID STARTTIME`, optionally ending in a newline (at
    /// most 64 bytes). With `STARTTIME` ([`pidfile_line`]), a stale pidfile
    /// whose pid now names another process is refused by the check.
    ///
    /// # Errors
    /// `PidfileRefused` (security refusal from gw-anchor, including
    /// `RootChanged` and `InsecureFile`: a pidfile owned by another user or
    /// writable by group/other), `PidfileNotFound`, `PidfileInvalid`, `Io`.
    ///
    /// # Security
    /// THREATS FS-9 (a pidfile others can write names the owner of their
    /// choosing), FS-1/FS-5 through gw-anchor.
    pub fn from_pidfile(root: &gw_anchor::Root, name: impl AsRef<Path>) -> Result<Self> {
        let name = name.as_ref();
        let shown = root.path().join(name).display().to_string();
        let map = |e: gw_anchor::Error| {
            let kind = if e.kind().is_security_refusal() {
                ErrorKind::PidfileRefused
            } else if e.kind() == gw_anchor::ErrorKind::NotFound {
                ErrorKind::PidfileNotFound
            } else if e.kind() == gw_anchor::ErrorKind::TooLarge {
                ErrorKind::PidfileInvalid
            } else {
                ErrorKind::Io
            };
            let err = Error::new(kind, "read pidfile", shown.clone(), e.message().to_owned());
            match e.fix() {
                Some(f) => err.with_fix(f.to_owned()),
                None => err,
            }
        };
        root.verify().map_err(map)?;
        let (bytes, _) = root.read_trusted(name, MAX_PIDFILE).map_err(map)?;
        Self::parse_pidfile(&bytes).map_err(|m| Error::new(ErrorKind::PidfileInvalid, "read pidfile", shown, m))
    }

    /// Parses pidfile content (`PID` or `PID STARTTIME`, optional final
    /// newline).
    ///
    /// # Errors
    /// A message saying what is wrong.
    pub fn parse_pidfile(bytes: &[u8]) -> std::result::Result<Self, String> {
        let text = std::str::from_utf8(bytes).map_err(|_| "not UTF-8".to_owned())?;
        let text = text.strip_suffix('\n').unwrap_or(text);
        let mut parts = text.split(' ');
        let num = |s: Option<&str>| -> std::result::Result<Option<u64>, String> {
            match s {
                None => Ok(None),
                Some(s) if !s.is_empty() && s.len() <= 20 && s.bytes().all(|b| b.is_ascii_digit()) => {
                    s.parse().map(Some).map_err(|_| format!("number out of range: {s:?}"))
                }
                Some(s) => Err(format!("expected 'PID' or 'PID STARTTIME', found {s:?}")),
            }
        };
        let pid = num(parts.next())?.ok_or("empty pidfile")?;
        let start = num(parts.next())?;
        if parts.next().is_some() {
            return Err("expected 'PID' or 'PID STARTTIME', found more fields".into());
        }
        let pid = u32::try_from(pid).ok().filter(|p| *p > 0 && *p <= 4_194_304).ok_or(format!("bad pid {pid}"))?;
        let e = Self::new(pid);
        Ok(match start {
            Some(t) => e.with_start_time(t),
            None => e,
        })
    }

    /// The expected pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// The expected socket uid, if any.
    pub fn uid(&self) -> Option<u32> {
        self.uid
    }

    /// Whether descendants count.
    pub fn includes_descendants(&self) -> bool {
        self.descendants
    }

    /// The recorded start time, if any.
    pub fn start_time(&self) -> Option<u64> {
        self.start_time
    }
}

/// The start time of `pid`: on Linux `/proc/PID/stat` field 22 (clock
/// ticks after boot), on macOS `kinfo_proc` `p_starttime` (microseconds
/// since the Unix epoch). Compared only with values from the same machine
/// and boot.
///
/// # Errors
/// `NotRunning` if not visible, `Io`/`Parse` for `/proc` (or sysctl)
/// failures, `Unsupported` on other platforms.
pub fn start_time_of(pid: u32) -> Result<u64> {
    #[cfg(target_os = "linux")]
    {
        match crate::process::read_stat(pid) {
            Ok(Some(s)) => Ok(s.start_time),
            Ok(None) => Err(Error::new(ErrorKind::NotRunning, "read start time", format!("pid {pid}"), "not running")),
            Err(e) => Err(Error::io("read start time", format!("pid {pid}"), e)),
        }
    }
    #[cfg(target_os = "macos")]
    {
        match crate::darwin::start_time_of(pid) {
            Ok(Some(t)) => Ok(t),
            Ok(None) => Err(Error::new(ErrorKind::NotRunning, "read start time", format!("pid {pid}"), "not running")),
            Err(e) => Err(Error::new(ErrorKind::Io, "read start time", format!("pid {pid}"), e)),
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        Err(Error::new(ErrorKind::Unsupported, "read start time", format!("pid {pid}"), "unsupported platform"))
    }
}

/// The pidfile line for `pid`: `"PID STARTTIME\n"`, which
/// [`Expected::from_pidfile`] reads back with the start time pinned (for
/// services such as `gw serve` that write their own pidfile).
///
/// # Errors
/// As [`start_time_of`].
pub fn pidfile_line(pid: u32) -> Result<String> {
    Ok(format!("{pid} {}\n", start_time_of(pid)?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pidfile_formats() {
        assert_eq!(Expected::parse_pidfile(b"42\n").unwrap(), Expected::new(42));
        assert_eq!(Expected::parse_pidfile(b"42 77").unwrap(), Expected::new(42).with_start_time(77));
        for bad in
            [&b""[..], b"\n", b"0", b"-1", b"+42", b"42 +7", b"42 x", b"42 1 2", b" 42", b"42\n\n", b"99999999999"]
        {
            assert!(Expected::parse_pidfile(bad).is_err(), "{bad:?}");
        }
        let line = pidfile_line(std::process::id()).unwrap();
        let e = Expected::parse_pidfile(line.as_bytes()).unwrap();
        assert_eq!(e.pid(), std::process::id());
        assert!(e.start_time().is_some());
    }

    /// How a pidfile that cannot be used is classified: missing (exit 4 in
    /// the CLI), too large or malformed (invalid), not a file (refused).
    #[test]
    fn pidfile_errors_are_classified() {
        use std::os::unix::fs::PermissionsExt;
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let root = gw_anchor::Root::open(d.path(), &gw_anchor::Policy::new()).unwrap();
        let kind = |name: &str| Expected::from_pidfile(&root, name).unwrap_err().kind();
        assert_eq!(kind("missing.pid"), ErrorKind::PidfileNotFound);
        std::fs::write(d.path().join("big.pid"), "1".repeat(65)).unwrap();
        assert_eq!(kind("big.pid"), ErrorKind::PidfileInvalid);
        std::fs::write(d.path().join("bad.pid"), "x\n").unwrap();
        assert_eq!(kind("bad.pid"), ErrorKind::PidfileInvalid);
        std::fs::create_dir(d.path().join("dir.pid")).unwrap();
        assert_eq!(kind("dir.pid"), ErrorKind::PidfileRefused);
        std::fs::write(d.path().join("ok.pid"), "42\n").unwrap();
        assert_eq!(Expected::from_pidfile(&root, "ok.pid").unwrap(), Expected::new(42));
    }
}
