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
    /// At least one listener is held outside the tree — by an outsider only,
    /// or by the tree *and* an outsider (PORT-6) — or has the wrong uid,
    /// there is no listener, or the expected process is gone/replaced.
    NotOwned {
        /// Why, in one line.
        reason: String,
        /// The listeners held outside the tree, one entry per outside
        /// holder (its pid, and command where read), then those held by no
        /// process we can see (`pid: None`).
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

    use rustix::event::PollFlags;

    use super::{ConnectError, Verdict};
    use crate::decide::{self, Attribution, Fail, Observer, from_fail, whose};
    use crate::process::{self, Pin};
    use crate::{Expected, Listener, Options, sockets};

    #[cfg(test)]
    pub(crate) fn from_fail_for_tests(f: Fail) -> Verdict {
        from_fail(f)
    }

    /// `l` as held by `pid`, with its command name when `opts` asks for it.
    fn held_by(l: &Listener, pid: u32, opts: &Options) -> Listener {
        decide::held_by(l, pid, opts, &process::command_of)
    }

    #[cfg(test)]
    thread_local! {
        /// Test seam: runs between the /proc search and the re-check of the
        /// pinned process (a test replaces the process there).
        pub(crate) static AFTER_SEARCH: std::cell::RefCell<Option<Box<dyn FnMut()>>> =
            std::cell::RefCell::new(None);
    }

    /// Linux's source: `/proc` of our pid namespace, a pidfd pin, the
    /// socket table (sock_diag or `/proc/net`), `/proc/PID/fd`.
    struct Proc;

    impl Observer for Proc {
        type Pin = Pin;

        fn pin(&self, pid: u32, start_time: Option<u64>) -> Result<Pin, Fail> {
            process::check_proc_namespace()?;
            Pin::new(pid, start_time)
        }

        fn pid_of(&self, pin: &Pin) -> u32 {
            pin.pid
        }

        fn listeners(&self, port: u16, opts: &Options, deadline: Instant) -> Result<Vec<Listener>, String> {
            crate::listeners_until(port, opts.source, deadline).map_err(|e| e.to_string())
        }

        fn attribute(
            &self,
            pin: &Pin,
            descendants: bool,
            wanted: &HashSet<u64>,
            socket_uids: &HashSet<u32>,
            deadline: Instant,
        ) -> Result<Attribution, Fail> {
            process::attribute(pin, descendants, wanted, socket_uids, deadline)
        }

        fn still_same(&self, pin: &Pin) -> Result<(), Fail> {
            pin.still_same()
        }

        fn command_of(&self, pid: u32) -> String {
            process::command_of(pid)
        }

        fn after_search(&self) {
            #[cfg(test)]
            AFTER_SEARCH.with(|h| {
                if let Some(f) = h.borrow_mut().as_mut() {
                    f();
                }
            });
        }
    }

    /// The verdict and, when Owned, the pin (still valid) for a follow-up.
    pub(crate) fn verify_linux(
        port: u16,
        expected: &Expected,
        opts: &Options,
        deadline: Instant,
    ) -> (Verdict, Option<Pin>) {
        decide::verify_with(&Proc, port, expected, opts, deadline)
    }

    /// [`decide::decide`] with Linux's command names (the unit tests' seam).
    #[cfg(test)]
    pub(crate) fn decide(
        port: u16,
        expected: &Expected,
        ls: Vec<Listener>,
        att: &Attribution,
        opts: &Options,
        pid: u32,
    ) -> Verdict {
        decide::decide(port, expected, ls, att, opts, pid, &process::command_of)
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
        let mut lookups = sockets::Lookups::default();
        let mut wait = Backoff::new();
        // The server side of this connection: local = the address we reached,
        // remote = our address. It has an inode only once accepted.
        let server = loop {
            let side = match lookups.established(peer, local, opts.source, deadline) {
                Ok(e) => e,
                Err(e) => {
                    return Err(refused_unknown(format!("cannot find the server side of {local} -> {peer}: {e}")));
                }
            };
            if let Some(e) = side.filter(|e| e.inode != 0) {
                break e;
            }
            if closed_by_server(&stream) {
                return Err(closed_before_attributed(local, peer));
            }
            if !wait.pause(deadline) {
                return Err(refused_unknown(format!(
                    "the connection {local} -> {peer} was not accepted within {:?}; an unaccepted connection \
                     cannot be attributed",
                    opts.timeout
                )));
            }
        };
        if let Some(u) = expected.uid()
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
        // Who holds the accepted socket. The common case: the pinned process
        // itself, read in its own fd table (one process, not the machine).
        // That suffices without the scan of every process the listeners got
        // (PORT-6): the scan just proved that only the tree held every
        // listener, so an outsider can hold this connection only if the tree
        // handed it a descriptor (or was ptraced by root or its own uid, out
        // of scope) — the tree can equally forward the bytes, which no check
        // of ours sees. A socket the pinned process does not hold (accepted by
        // a descendant, or by a listener that appeared since) gets the full
        // rule below: every holder we can see is in the tree.
        //
        // A socket held by no process at all is not yet anyone's: accept(2)
        // gives the new socket its inode (what the lookup above saw) before
        // it installs the descriptor, and copies the peer's address to the
        // server in between — a server preempted or faulting there is seen
        // holding nothing. Its descriptor is waited for as the accept was
        // (refusing such a socket as foreign was a false NotOwned: the bench
        // against `gw serve` met it).
        let wanted = HashSet::from([server.inode]);
        let socket_uids = HashSet::from([server.uid]);
        let mut wait = Backoff::new();
        let att = loop {
            if process::pinned_holds(&pin, server.inode, deadline) {
                return match pin.still_same() {
                    Ok(()) => Ok((stream, verdict)),
                    Err(f) => Err(ConnectError::Refused(from_fail(f))),
                };
            }
            let att = match process::attribute(&pin, expected.includes_descendants(), &wanted, &socket_uids, deadline) {
                Ok(a) => a,
                Err(f) => return Err(ConnectError::Refused(from_fail(f))),
            };
            if att.found.contains_key(&server.inode) || !att.outside.is_empty() || att.unseen.is_some() {
                break att;
            }
            if closed_by_server(&stream) {
                return Err(closed_before_attributed(local, peer));
            }
            if !wait.pause(deadline) {
                return Err(refused_unknown(format!(
                    "the connection {local} -> {peer} was accepted, but no process we can see held its socket \
                     within {:?}; a socket nobody holds cannot be attributed",
                    opts.timeout
                )));
            }
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
        Ok((stream, verdict))
    }

    /// Whether the server end has closed or reset the connection (its FIN
    /// or RST reached `stream`): a socket closed before it was attributed
    /// has no holder left to find, so the wait ends there, not at the bound.
    fn closed_by_server(stream: &TcpStream) -> bool {
        process::poll_now(stream, PollFlags::RDHUP)
            .is_ok_and(|ready| ready.intersects(PollFlags::RDHUP | PollFlags::HUP | PollFlags::ERR))
    }

    fn closed_before_attributed(local: SocketAddr, peer: SocketAddr) -> ConnectError {
        refused_unknown(format!(
            "the server end closed the connection {local} -> {peer} before it could be attributed (nothing was sent)"
        ))
    }

    /// The wait for the server (its accept, then its descriptor): it
    /// usually takes microseconds, so the first retries only yield the CPU
    /// (a sleep costs its timer slack, ~50 µs, each time), then sleep from
    /// 50 µs doubling up to 10 ms.
    struct Backoff {
        yields: u32,
        sleep: Duration,
    }

    impl Backoff {
        fn new() -> Self {
            Self { yields: 8, sleep: Duration::from_micros(50) }
        }

        /// Waits once; false (without waiting) when the next wait would
        /// reach `deadline`.
        fn pause(&mut self, deadline: Instant) -> bool {
            if Instant::now() + self.sleep >= deadline {
                return false;
            }
            if self.yields > 0 {
                self.yields -= 1;
                std::thread::yield_now();
            } else {
                std::thread::sleep(self.sleep);
                self.sleep = (self.sleep * 2).min(Duration::from_millis(10));
            }
            true
        }
    }

    fn refused_unknown(reason: String) -> ConnectError {
        ConnectError::Refused(Verdict::Unknown { reason })
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    //! The library rule "only `is_owned` lets a secret through": every path
    //! that produces `Unknown` yields a verdict for which `is_owned()` is
    //! false, and the re-check of the pinned process after the search.

    use std::collections::HashMap;
    use std::io::{BufRead, BufReader};
    use std::net::SocketAddr;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use super::linux::{AFTER_SEARCH, decide, verify_linux};
    use super::*;
    use crate::process::Attribution;
    use crate::{Expected, Options, Source};

    fn assert_unknown(v: &Verdict, what: &str) {
        assert!(matches!(v, Verdict::Unknown { .. }), "{what}: {v:?}");
        assert!(!v.is_owned(), "{what}: Unknown must not count as owned");
        assert_eq!(v.as_str(), "unknown", "{what}");
        assert!(v.fix_hint().is_some(), "{what}");
    }

    fn opts(timeout: Duration) -> Options {
        Options { source: Source::Netlink, timeout, identify_foreign: true }
    }

    /// A python3 child listening on 127.0.0.1 (its pid, its port).
    fn listener_child(accept: bool) -> (Child, u16) {
        let code = format!(
            "import socket,time\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\n\
             print(s.getsockname()[1],flush=True)\n{}",
            if accept { "while True:\n  c,_=s.accept()\n  time.sleep(60)" } else { "time.sleep(120)" }
        );
        let mut child = Command::new("python3")
            .args(["-c", &code])
            .stdout(Stdio::piped())
            .stdin(Stdio::null())
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();
        (child, line.trim().parse().unwrap())
    }

    fn listener(port: u16, pid: Option<u32>) -> Listener {
        Listener { addr: SocketAddr::from(([127, 0, 0, 1], port)), inode: 77, uid: 0, pid, command: None }
    }

    #[test]
    fn only_owned_is_owned() {
        assert!(Verdict::Owned { pid: 1, listeners: Vec::new() }.is_owned());
        assert!(!Verdict::NotOwned { reason: "x".into(), foreign: Vec::new() }.is_owned());
        assert_unknown(&Verdict::Unknown { reason: "x".into() }, "constructed");
        assert_unknown(&from_fail_unknown(), "a check that could not tell");
    }

    fn from_fail_unknown() -> Verdict {
        // `Fail::Unknown` (permission denied on the pinned process, an
        // incomplete /proc scan, a tree too large, pidfd/poll errors) maps to
        // Unknown through the one conversion every path uses.
        super::linux::from_fail_for_tests(crate::process::Fail::Unknown("cannot tell".into()))
    }

    /// The decision from who holds what: each Unknown outcome (a possible
    /// unseen holder with every listener held by the tree, or with a
    /// listener found nowhere) is not owned; definite answers stay definite.
    #[test]
    fn unseen_holders_make_unknown_never_owned() {
        let e = Expected::new(10);
        let o = opts(Duration::from_secs(1));
        let held = Attribution { found: HashMap::from([(77, 10)]), ..Attribution::default() };
        assert!(decide(1, &e, vec![listener(1, None)], &held, &o, 10).is_owned());
        let unseen = Some("process 99 (uid 0) could hold it".to_owned());
        let v = decide(1, &e, vec![listener(1, None)], &Attribution { unseen: unseen.clone(), ..held }, &o, 10);
        assert_unknown(&v, "held by the tree, an unreadable process could hold it too");
        let v = decide(
            1,
            &e,
            vec![listener(1, None)],
            &Attribution { unseen: unseen.clone(), ..Attribution::default() },
            &o,
            10,
        );
        assert_unknown(&v, "held by no visible process, and something is unseen");
        // definite: an outsider holds it, or the uid is wrong, unseen or not
        let shared = Attribution { found: HashMap::from([(77, 10)]), outside: vec![(77, 11)], unseen: unseen.clone() };
        assert!(matches!(decide(1, &e, vec![listener(1, None)], &shared, &o, 10), Verdict::NotOwned { .. }));
        let held = Attribution { found: HashMap::from([(77, 10)]), unseen, ..Attribution::default() };
        let v = decide(1, &e.clone().with_uid(5), vec![listener(1, None)], &held, &o, 10);
        assert!(matches!(v, Verdict::NotOwned { .. }), "{v:?}");
        let v = decide(1, &e, vec![listener(1, None)], &Attribution::default(), &o, 10);
        assert!(matches!(v, Verdict::NotOwned { .. }), "{v:?}");
    }

    /// Out of time, before or during the search and in connect_verified
    /// (before connecting, and a listener that never accepts): Unknown.
    #[test]
    fn out_of_time_is_unknown_never_owned() {
        let (mut child, port) = listener_child(false);
        let e = Expected::new(child.id());
        assert!(crate::verify(port, &e, &opts(Duration::from_secs(10))).is_owned());
        for src in [Source::Netlink, Source::ProcNet] {
            let o = Options { source: src, ..opts(Duration::ZERO) };
            assert_unknown(&crate::verify(port, &e, &o), "timeout zero");
            let (v, pin) = verify_linux(port, &e, &o, Instant::now());
            assert_unknown(&v, "deadline passed");
            assert!(pin.is_none());
            let addr = SocketAddr::from(([127, 0, 0, 1], port));
            match crate::connect_verified(addr, &e, &o) {
                Err(ConnectError::Refused(v)) => assert_unknown(&v, "connect, timeout zero"),
                other => panic!("{other:?}"),
            }
            // never accepts: the connection cannot be attributed
            match crate::connect_verified(addr, &e, &Options { source: src, ..opts(Duration::from_millis(300)) }) {
                Err(ConnectError::Refused(v)) => assert_unknown(&v, "never accepted"),
                other => panic!("{other:?}"),
            }
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The pinned process's fds cannot be read (here: pid 1 of a container,
    /// which holds capabilities we lack, so even root is denied
    /// `/proc/1/fd/*`): Unknown. Where root may read them, the verdict is
    /// NotOwned (pid 1 does not hold the listener); either way not owned.
    #[test]
    fn unreadable_pinned_process_is_unknown_never_owned() {
        let (mut child, port) = listener_child(false);
        let v = crate::verify(port, &Expected::new(1), &opts(Duration::from_secs(10)));
        if std::fs::read_link("/proc/1/fd/0").is_err_and(|e| e.kind() == std::io::ErrorKind::PermissionDenied) {
            assert_unknown(&v, "pid 1's fds unreadable");
        } else {
            assert!(matches!(v, Verdict::NotOwned { .. }), "{v:?}");
        }
        let _ = child.kill();
        let _ = child.wait();
    }

    /// The pinned process is replaced (killed and reaped) between the
    /// /proc search and the re-check: the search saw it holding the
    /// listener, the re-check refuses (NotOwned), never Owned.
    #[test]
    fn pinned_process_replaced_after_the_search_is_not_owned() {
        let (child, port) = listener_child(true);
        let pid = child.id();
        let e = Expected::new(pid);
        let o = opts(Duration::from_secs(10));
        assert!(crate::verify(port, &e, &o).is_owned());
        let child = std::cell::RefCell::new(Some(child));
        let hook = move || {
            if let Some(mut c) = child.borrow_mut().take() {
                let _ = c.kill();
                let _ = c.wait();
            }
        };
        AFTER_SEARCH.with(|h| *h.borrow_mut() = Some(Box::new(hook)));
        let v = crate::verify(port, &e, &o);
        AFTER_SEARCH.with(|h| *h.borrow_mut() = None);
        match &v {
            Verdict::NotOwned { reason, .. } => assert!(reason.contains(&format!("process {pid}")), "{reason}"),
            other => panic!("expected NotOwned after the pinned process was replaced, got {other:?}"),
        }
    }
}
