//! Verdicts, and the checks that produce them.

use std::fmt;
use std::io;
use std::net::SocketAddr;

use crate::Listener;

/// The answer to "does the expected process own this port?".
///
/// Callers treat [`Verdict::Unknown`] exactly like [`Verdict::NotOwned`]:
/// only [`Verdict::Owned`] ([`Verdict::is_owned`]) allows a secret through.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Every listener on the port is held by the expected process or (if
    /// allowed) its descendants.
    Owned {
        /// The expected pid.
        pid: u32,
        /// The listeners, each with the tree pid holding it.
        listeners: Vec<Listener>,
    },
    /// At least one listener is held outside the tree (or has the wrong
    /// uid), there is no listener, or the expected process is gone/replaced.
    NotOwned {
        /// Why, in one line.
        reason: String,
        /// The listeners not held by the tree (pid/command where visible).
        foreign: Vec<Listener>,
    },
    /// Ownership could not be established (permission, hidepid, pid
    /// namespace, timeout, platform). Treat as NotOwned.
    Unknown {
        /// Why, in one line.
        reason: String,
    },
}

impl Verdict {
    /// `true` only for [`Verdict::Owned`].
    pub fn is_owned(&self) -> bool {
        matches!(self, Self::Owned { .. })
    }

    /// A short stable name: `owned`, `not_owned`, `unknown`.
    pub fn as_str(&self) -> &'static str {
        match self {
            Self::Owned { .. } => "owned",
            Self::NotOwned { .. } => "not_owned",
            Self::Unknown { .. } => "unknown",
        }
    }

    /// The one-line reason (for Owned: the listeners).
    pub fn reason(&self) -> String {
        match self {
            Self::Owned { pid, listeners } => {
                let addrs: Vec<String> = listeners.iter().map(|l| l.addr.to_string()).collect();
                format!("owned by pid {pid}: {}", addrs.join(", "))
            }
            Self::NotOwned { reason, .. } | Self::Unknown { reason } => reason.clone(),
        }
    }

    /// How to fix a refusal.
    pub fn fix_hint(&self) -> Option<&'static str> {
        match self {
            Self::Owned { .. } => None,
            Self::NotOwned { foreign, .. } if foreign.is_empty() => {
                Some("start the service (or check the port and the pid/pidfile it was started with)")
            }
            Self::NotOwned { .. } => Some(
                "stop the process holding the foreign listener, or name the process that really serves the port \
                 (--pid/--pidfile)",
            ),
            Self::Unknown { .. } => Some(
                "run gw as the service's user (or root) in the service's pid namespace, without hidepid, so its \
                 sockets can be attributed; unknown is treated as not owned",
            ),
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Owned { .. } => f.write_str(&self.reason()),
            Self::NotOwned { reason, .. } => write!(f, "not owned: {reason}"),
            Self::Unknown { reason } => write!(f, "unknown: {reason}"),
        }
    }
}

/// Why [`crate::connect_verified`] returned no stream.
#[derive(Debug)]
pub enum ConnectError {
    /// The connection could not be made (operational failure).
    Io {
        /// What failed (`"connect"`, ...).
        op: &'static str,
        /// The address.
        addr: SocketAddr,
        /// The OS error.
        source: io::Error,
    },
    /// Ownership was not proven: the stream was closed before anything was
    /// written (security refusal).
    Refused(Verdict),
}

impl ConnectError {
    /// The verdict, for a refusal.
    pub fn verdict(&self) -> Option<&Verdict> {
        match self {
            Self::Refused(v) => Some(v),
            Self::Io { .. } => None,
        }
    }
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Io { op, addr, source } => write!(f, "{op} {addr}: {source}"),
            Self::Refused(v) => write!(f, "refused: {v}"),
        }
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Io { source, .. } => Some(source),
            Self::Refused(_) => None,
        }
    }
}

#[cfg(target_os = "linux")]
pub(crate) use linux::{connect_linux, verify_linux};

#[cfg(target_os = "linux")]
mod linux {
    use std::collections::HashSet;
    use std::net::{SocketAddr, TcpStream};
    use std::time::{Duration, Instant};

    use super::{ConnectError, Verdict};
    use crate::process::{self, Fail, Pin};
    use crate::{Expected, Listener, Options, parse, sockets};

    fn from_fail(f: Fail) -> Verdict {
        match f {
            Fail::No(reason) => Verdict::NotOwned { reason, foreign: Vec::new() },
            Fail::Unknown(reason) => Verdict::Unknown { reason },
        }
    }

    fn whose(e: &Expected) -> String {
        if e.includes_descendants() {
            format!("pid {} or its descendants", e.get_pid())
        } else {
            format!("pid {} itself (descendants excluded)", e.get_pid())
        }
    }

    /// `l` as held by `pid`, with its command name when `opts` asks for it.
    fn held_by(l: &Listener, pid: u32, opts: &Options) -> Listener {
        let command = opts.identify_foreign.then(|| process::command_of(pid));
        Listener { pid: Some(pid), command, ..l.clone() }
    }

    #[cfg(test)]
    thread_local! {
        /// Test seam: runs between the /proc search and the re-check of the
        /// pinned process (a test replaces the process there).
        pub(crate) static AFTER_SEARCH: std::cell::RefCell<Option<Box<dyn FnMut()>>> =
            std::cell::RefCell::new(None);
    }

    fn after_search() {
        #[cfg(test)]
        AFTER_SEARCH.with(|h| {
            if let Some(f) = h.borrow_mut().as_mut() {
                f();
            }
        });
    }

    /// The verdict and, when Owned, the pin (still valid) for a follow-up.
    pub(crate) fn verify_linux(
        port: u16,
        expected: &Expected,
        opts: &Options,
        deadline: Instant,
    ) -> (Verdict, Option<Pin>) {
        if let Err(f) = process::check_proc_namespace() {
            return (from_fail(f), None);
        }
        let pin = match Pin::new(expected.get_pid(), expected.get_start_time()) {
            Ok(p) => p,
            Err(f) => return (from_fail(f), None),
        };
        let mut ls = match crate::listeners_until(port, opts.source, deadline) {
            Ok(ls) => ls,
            Err(e) => return (Verdict::Unknown { reason: format!("cannot list the listeners: {e}") }, None),
        };
        if ls.is_empty() {
            let reason = format!("nothing listens on port {port}");
            return (Verdict::NotOwned { reason, foreign: Vec::new() }, None);
        }
        let wanted: HashSet<u64> = ls.iter().map(|l| l.inode).collect();
        let uids: HashSet<u32> = ls.iter().map(|l| l.uid).collect();
        let att = match process::attribute(&pin, expected.includes_descendants(), &wanted, &uids, deadline) {
            Ok(a) => a,
            Err(f) => return (from_fail(f), None),
        };
        after_search();
        // The search read /proc/PID of whatever had the pid: only valid if the
        // pinned process is still alive with the same start time now.
        if let Err(f) = pin.still_same() {
            return (from_fail(f), None);
        }
        if process::timed_out(deadline) {
            return (Verdict::Unknown { reason: format!("timed out after {:?}", opts.timeout) }, None);
        }
        let mut shared = Vec::new(); // held by the tree and by an outsider
        let mut foreign = Vec::new(); // held by outsiders only
        let mut unheld = Vec::new(); // held by no process we can see
        let mut uid_problems = Vec::new();
        for l in &mut ls {
            l.pid = att.found.get(&l.inode).copied();
            if let Some(u) = expected.get_uid()
                && l.uid != u
            {
                uid_problems.push(format!("{} has uid {}, expected {u}", l.addr, l.uid));
            }
            let outsiders: Vec<Listener> =
                att.outside.iter().filter(|(i, _)| *i == l.inode).map(|(_, p)| held_by(l, *p, opts)).collect();
            match (l.pid, outsiders.is_empty()) {
                (Some(_), true) => {}
                (Some(_), false) => shared.extend(outsiders),
                (None, false) => foreign.extend(outsiders),
                (None, true) => unheld.push(l.clone()),
            }
        }
        let definite = !shared.is_empty() || !foreign.is_empty() || !uid_problems.is_empty();
        if !definite && let Some(unseen) = &att.unseen {
            let what = if unheld.is_empty() {
                format!("{} held by {}, but other holders cannot be ruled out", addrs(&ls), whose(expected))
            } else {
                format!("{} not found in {}", addrs(&unheld), whose(expected))
            };
            return (Verdict::Unknown { reason: format!("port {port}: {what}: {unseen}") }, None);
        }
        if !definite && unheld.is_empty() {
            return (Verdict::Owned { pid: pin.pid, listeners: ls }, Some(pin));
        }
        let mut parts = Vec::new();
        if !foreign.is_empty() || !unheld.is_empty() {
            let list: Vec<String> = foreign.iter().chain(&unheld).map(Listener::to_string).collect();
            parts.push(format!("listener {} not held by {}", list.join("; "), whose(expected)));
        }
        for s in &shared {
            parts.push(format!(
                "listener {} is also held by a process outside {} (it can accept the connections): {s}",
                s.addr,
                whose(expected)
            ));
        }
        parts.extend(uid_problems);
        let reason = format!("port {port}: {}", parts.join("; "));
        foreign.extend(shared);
        foreign.extend(unheld);
        (Verdict::NotOwned { reason, foreign }, None)
    }

    fn addrs(ls: &[Listener]) -> String {
        ls.iter().map(|l| l.addr.to_string()).collect::<Vec<_>>().join(", ")
    }

    fn canon(a: SocketAddr) -> (std::net::IpAddr, u16) {
        (a.ip().to_canonical(), a.port())
    }

    pub(crate) fn connect_linux(
        addr: SocketAddr,
        expected: &Expected,
        opts: &Options,
    ) -> Result<(TcpStream, Verdict), ConnectError> {
        let deadline = Instant::now() + opts.timeout;
        let (verdict, pin) = verify_linux(addr.port(), expected, opts, deadline);
        let Some(pin) = pin.filter(|_| verdict.is_owned()) else { return Err(ConnectError::Refused(verdict)) };
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(refused_unknown(format!("timed out after {:?} before connecting", opts.timeout)));
        }
        let stream = TcpStream::connect_timeout(&addr, left).map_err(|source| ConnectError::Io {
            op: "connect",
            addr,
            source,
        })?;
        let io = |op: &'static str| move |source| ConnectError::Io { op, addr, source };
        let local = stream.local_addr().map_err(io("getsockname"))?;
        let peer = stream.peer_addr().map_err(io("getpeername"))?;
        let q = sockets::Query { states: 1 << parse::TCP_ESTABLISHED, sport: peer.port(), dport: Some(local.port()) };
        let mut pause = Duration::from_micros(200);
        // The server side of this connection: local = the address we reached,
        // remote = our address. It has an inode only once accepted.
        let server = loop {
            let entries = match sockets::fetch(q, opts.source, deadline) {
                Ok(e) => e,
                Err(e) => {
                    return Err(refused_unknown(format!("cannot find the server side of {local} -> {peer}: {e}")));
                }
            };
            let side = entries.into_iter().find(|e| canon(e.local) == canon(peer) && canon(e.remote) == canon(local));
            if let Some(e) = side.filter(|e| e.inode != 0) {
                break e;
            }
            if Instant::now() + pause >= deadline {
                return Err(refused_unknown(format!(
                    "the connection {local} -> {peer} was not accepted within {:?}; an unaccepted connection \
                     cannot be attributed",
                    opts.timeout
                )));
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        };
        if let Some(u) = expected.get_uid()
            && server.uid != u
        {
            return Err(ConnectError::Refused(Verdict::NotOwned {
                reason: format!(
                    "the connection to {peer} was accepted by a socket of uid {}, expected {u}",
                    server.uid
                ),
                foreign: Vec::new(),
            }));
        }
        // The same rule as for the listeners (PORT-6): every holder of the
        // accepted socket that we can see is in the tree.
        let wanted = HashSet::from([server.inode]);
        let att =
            match process::attribute(&pin, expected.includes_descendants(), &wanted, &HashSet::from([server.uid]), deadline)
            {
                Ok(a) => a,
                Err(f) => return Err(ConnectError::Refused(from_fail(f))),
            };
        if let Err(f) = pin.still_same() {
            return Err(ConnectError::Refused(from_fail(f)));
        }
        let accepted = Listener { addr: server.local, inode: server.inode, uid: server.uid, pid: None, command: None };
        if let Some(&(_, pid)) = att.outside.first() {
            let holder = held_by(&accepted, pid, opts);
            let how = if att.found.contains_key(&server.inode) { "is also held by" } else { "was accepted by" };
            return Err(ConnectError::Refused(Verdict::NotOwned {
                reason: format!("the connection to {peer} {how} {holder}, outside {}", whose(expected)),
                foreign: vec![holder],
            }));
        }
        if let Some(unseen) = att.unseen {
            return Err(refused_unknown(format!("the accepted socket of {local} -> {peer}: {unseen}")));
        }
        if !att.found.contains_key(&server.inode) {
            return Err(ConnectError::Refused(Verdict::NotOwned {
                reason: format!("the connection to {peer} was accepted by {accepted} outside {}", whose(expected)),
                foreign: vec![accepted],
            }));
        }
        Ok((stream, verdict))
    }

    fn refused_unknown(reason: String) -> ConnectError {
        ConnectError::Refused(Verdict::Unknown { reason })
    }
}
