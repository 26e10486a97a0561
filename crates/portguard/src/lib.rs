//! # gw-portguard: prove who owns a loopback port before a secret goes there
//!
//! gw-portguard owns one problem: before a client sends a token to
//! `127.0.0.1:PORT`, prove that the process listening there is the managed
//! service and not whatever bound the port first (THREATS PORT-1..PORT-6).
//!
//! ```
//! use std::net::TcpListener;
//! use gw_portguard::{Expected, Options, Verdict, connect_verified, verify};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // The "service": this process listens on a loopback port.
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let service = Expected::new(std::process::id());
//! let opts = Options::default();
//!
//! if cfg!(target_os = "linux") { // what other platforms prove: docs/platforms.md
//!     assert!(verify(addr.port(), &service, &opts).is_owned());
//!
//!     // Expecting another process (here a child that holds no socket): the
//!     // listener is held by someone else, so no secret may go there.
//!     let mut other = std::process::Command::new("sleep").arg("30").spawn()?;
//!     let verdict = verify(addr.port(), &Expected::new(other.id()), &opts);
//!     assert!(matches!(verdict, Verdict::NotOwned { .. }));
//!     other.kill()?;
//!     other.wait()?;
//!
//!     // Connect, then prove that the socket which accepted *this*
//!     // connection is the service's, before writing anything.
//!     let server = std::thread::spawn(move || listener.accept().map(|(s, _)| s));
//!     let stream = connect_verified(addr, &service, &opts)?;
//!     drop((stream, server.join().expect("accept thread")?));
//! }
//! # Ok(()) }
//! ```
//!
//! **How.** [`listeners`] asks the kernel for every TCP socket in LISTEN state
//! on the port — IPv4 and IPv6, every address — with its socket inode and
//! uid, through netlink `NETLINK_SOCK_DIAG` (inet_diag; one dump for both
//! families where the kernel takes inet_diag's original request), or from
//! `/proc/net/tcp{,6}` when netlink is unavailable ([`Source`]; both always
//! tested). [`verify`] pins the expected process with `pidfd_open(2)` and its
//! start time (`/proc/PID/stat` field 22), finds **every process holding one
//! of those sockets** (`socket:[inode]` among the fds of every process in
//! `/proc`), attributes each holder to the expected process, one of its
//! descendants (optionally), or the outside, then re-checks the pidfd (a
//! process that has not exited still owns its pid, so its start time is
//! still the one read), so a pid that died and was reused during the check
//! is refused. [`connect_verified`] additionally finds the server side of the
//! connection it just made (sock_diag by 4-tuple), waits a bounded time for
//! it to be accepted, and applies the same rule to *that* socket before
//! handing out the stream. Nothing shells out (`ss`, `lsof`).
//!
//! **Verdicts.** [`Verdict::Owned`] only when every listener on the port is
//! held by the tree (and has the expected uid, if given) and **no process
//! outside the tree holds any of them** (THREATS PORT-6): a listening socket
//! is one open file description, and every process with a descriptor of it
//! (inherited by a double-forked daemon, passed with `SCM_RIGHTS`) can
//! accept its connections. A second SO_REUSEPORT listener, a `::1` listener
//! beside the service's `127.0.0.1`, a listener also held by an outsider, or
//! no listener at all is [`Verdict::NotOwned`], naming the other holders.
//! Whatever cannot be proven — permission denied on the expected process's
//! `/proc/PID/fd`, a process that could hold a listener but whose fds we may
//! not read (started after the expected process, one of its uids ours or a
//! listener's: a non-dumpable process), hidepid, a `/proc` from another pid namespace, a timeout, a
//! platform other than Linux (on macOS the expected process is pinned, but
//! the listeners cannot be tied to their holders in safe Rust: see
//! `darwin.rs` and docs/platforms.md) — is [`Verdict::Unknown`], and **callers must
//! treat `Unknown` exactly like `NotOwned`** (fail closed). Every inspection
//! is bounded by [`Options::timeout`].
//!
//! **Cost.** Proving that nobody else holds a listener means reading the fds
//! of every visible process once (as `ss -p` and `lsof` do for every
//! answer): one `openat` + `getdents64` per process and one `readlinkat`
//! per fd, relative to the fd directory, split across up to four threads
//! when more than 256 processes are listed. The process tree is built (every
//! `/proc/*/stat` read once) only when a process other than the expected
//! one holds a listener. benches/README.md gives the measured cost.
//!
//! **Residual risks (not guaranteed).**
//! - A process can receive the socket right after the scan (`SCM_RIGHTS`
//!   from the tree, `pidfd_getfd` by the tree's uid), and a holder that
//!   forks and exits while the scan runs can be missed if its child gets a
//!   pid the scan has already passed; gw sees who holds the socket at one
//!   moment, not what the holders do with the bytes. A service that proxies
//!   its connections elsewhere is trusted as the service.
//! - Processes whose fds we may not read are counted as possible holders
//!   only if they could have inherited a listener from the tree: started
//!   after the expected process, with our uid or a listener's (a descriptor
//!   reaches another uid only through a privileged process or by being
//!   sent). With `CAP_SYS_PTRACE` (root) every process of our user
//!   namespace is readable, and one that is not (a container's init and
//!   what it spawns, from a user namespace above ours) is more privileged
//!   than the caller and not counted.
//! - A socket-activated service shares its listener with the service
//!   manager (systemd keeps its copy): that is NotOwned, naming the
//!   manager's pid.
//! - [`verify`] answers for an instant: a listener can appear right after it.
//!   [`connect_verified`] closes that window for *its* connection by
//!   attributing the accepted socket itself; only then does it return the
//!   stream, and nothing is written before.
//! - Root (or the service's own uid, via ptrace or /proc/PID/mem) can
//!   subvert the service itself; that is out of scope.
//! - Descendants are found by ppid at one moment: a double-forked daemon
//!   reparented to init is not part of the tree (NotOwned, fail closed).
//!
//! The decision itself ("every listener held by the tree and nobody outside
//! it") is one piece of code for every platform (`decide.rs`); each
//! platform's source only observes.
//!
//! The threat rationale lives in `audits/THREAT-MAP.md`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

#[cfg(target_os = "macos")]
mod darwin;
mod darwin_sock;
mod decide;
mod error;
mod expected;
// The kernel-format parsers and their encoders, public only for the fuzz
// targets (fuzz/, its own workspace) and the property tests
// (tests/portguard_{proptest,threats}.rs) that round-trip them. Not an API:
// callers ask `owners_of` / `verify_port` / `connect_verified`. Hidden
// rather than behind a feature so fuzzing checks the same build the CLI runs.
#[doc(hidden)]
pub mod parse;
#[cfg(target_os = "linux")]
mod process;
#[cfg(target_os = "linux")]
mod sockets;
mod verdict;

#[cfg(target_os = "linux")]
use std::collections::HashSet;
use std::fmt;
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

pub use error::{Error, ErrorKind, Result};
pub use expected::{Expected, pidfile_line, start_time_of};
/// The class every error answers (gw-error): not found, refused, invalid, failed.
pub use gw_error::Class;
pub use verdict::{ConnectError, Verdict};

/// One TCP socket in LISTEN state on the port.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Listener {
    /// Local address: `127.0.0.1:P`, `[::1]:P`, `0.0.0.0:P`, `[::]:P`...
    pub addr: SocketAddr,
    /// Socket inode (what `/proc/PID/fd/N -> socket:[inode]` shows). On
    /// macOS, which has no socket inode, the socket's kernel id (libproc's
    /// `soi_so`): the same for every descriptor of the socket while it
    /// exists.
    pub inode: u64,
    /// Owner uid of the socket, from the kernel.
    pub uid: u32,
    /// The pid holding it, where attributed or visible.
    pub pid: Option<u32>,
    /// That process's command name, where visible.
    pub command: Option<String>,
}

impl fmt::Display for Listener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} uid {}", self.addr, self.uid)?;
        match (self.pid, &self.command) {
            (Some(p), Some(c)) if !c.is_empty() => write!(f, " pid {p} ({c})"),
            (Some(p), _) => write!(f, " pid {p}"),
            (None, _) => f.write_str(" pid ?"),
        }
    }
}

/// Where the socket table comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Source {
    /// Netlink sock_diag; `/proc/net/tcp{,6}` only if netlink is unavailable.
    #[default]
    Auto,
    /// Netlink `NETLINK_SOCK_DIAG` only.
    Netlink,
    /// `/proc/net/tcp` and `/proc/net/tcp6` only.
    ProcNet,
}

/// How to inspect.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Options {
    /// Socket table source.
    pub source: Source,
    /// Bound on the whole inspection (and, for [`connect_verified`], on the
    /// connect plus the wait for the accept). Past it the answer is
    /// `Unknown`.
    pub timeout: Duration,
    /// On a NotOwned verdict, read the command names of the foreign
    /// holders (message only). Their pids are always named: finding every
    /// holder is part of the decision (PORT-6).
    pub identify_foreign: bool,
}

impl Default for Options {
    fn default() -> Self {
        Self { source: Source::Auto, timeout: Duration::from_millis(500), identify_foreign: true }
    }
}

#[cfg(not(any(target_os = "linux", target_os = "macos")))]
const UNSUPPORTED: &str = "unsupported platform";
#[cfg(target_os = "macos")]
const UNSUPPORTED: &str = darwin::NOT_BUILT;

/// Every TCP listener on `port` (IPv4 and IPv6, all addresses), with inode
/// and uid; `pid`/`command` are `None`.
///
/// # Errors
/// `Timeout` past `opts.timeout`; `Io`/`Parse` if the source fails;
/// `Unsupported` off Linux.
pub fn listeners(port: u16, opts: &Options) -> Result<Vec<Listener>> {
    #[cfg(target_os = "linux")]
    {
        let deadline = std::time::Instant::now() + opts.timeout;
        listeners_until(port, opts.source, deadline)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = opts;
        Err(Error::new(ErrorKind::Unsupported, "list listeners", format!("port {port}"), UNSUPPORTED))
    }
}

#[cfg(target_os = "linux")]
fn listeners_until(port: u16, source: Source, deadline: std::time::Instant) -> Result<Vec<Listener>> {
    let q = sockets::Query { states: 1 << parse::TCP_LISTEN, sport: port, dport: None };
    let mut seen = HashSet::new();
    let mut out: Vec<Listener> = sockets::fetch(q, source, deadline)?
        .into_iter()
        .filter(|e| seen.insert((e.local, e.inode)))
        .map(|e| Listener { addr: e.local, inode: e.inode, uid: e.uid, pid: None, command: None })
        .collect();
    out.sort_by_key(|l| (l.addr.is_ipv6(), l.addr, l.inode));
    Ok(out)
}

/// Every listener on `port` with every process holding it, where visible:
/// a socket held by several processes (inherited, passed) appears once per
/// holder, each with its pid and command (scans the fds of every process we
/// may read, bounded by `opts.timeout`; a listener held by no process we
/// can see appears once with `pid: None`). For display (`gw port who`),
/// never for a decision: use [`verify`].
///
/// # Errors
/// As [`listeners`].
pub fn who(port: u16, opts: &Options) -> Result<Vec<Listener>> {
    #[cfg(target_os = "linux")]
    {
        let deadline = std::time::Instant::now() + opts.timeout;
        let ls = listeners_until(port, opts.source, deadline)?;
        let wanted: HashSet<u64> = ls.iter().map(|l| l.inode).collect();
        let scan = process::scan(&wanted, None, deadline);
        let mut out = Vec::with_capacity(ls.len());
        for l in ls {
            match scan.holders.get(&l.inode) {
                Some(pids) => {
                    let mut pids = pids.clone();
                    pids.sort_unstable();
                    out.extend(pids.into_iter().map(|p| Listener {
                        pid: Some(p),
                        command: Some(process::command_of(p)),
                        ..l.clone()
                    }));
                }
                None => out.push(l),
            }
        }
        Ok(out)
    }
    #[cfg(not(target_os = "linux"))]
    {
        listeners(port, opts)
    }
}

/// Decides whether every listener on `port` belongs to `expected`.
///
/// Never fails: whatever cannot be established is [`Verdict::Unknown`],
/// which callers treat like [`Verdict::NotOwned`].
///
/// # Security
/// PORT-1 (fail closed), PORT-3 (descendants count, same-uid strangers do
/// not), PORT-5 (every listener in both families; SO_REUSEPORT; bounded),
/// PORT-6 (every visible holder of every listener is in the tree: a
/// listener also held by an outsider is NotOwned, a possible holder whose
/// fds cannot be read is Unknown), and pid reuse (pidfd + start time
/// re-checked after the search).
pub fn verify(port: u16, expected: &Expected, opts: &Options) -> Verdict {
    #[cfg(target_os = "linux")]
    {
        let deadline = std::time::Instant::now() + opts.timeout;
        verdict::verify_linux(port, expected, opts, deadline).0
    }
    #[cfg(target_os = "macos")]
    {
        if let Some(uid) = expected.uid() {
            // libproc gives no socket owner uid: a uid check cannot be made.
            return Verdict::Unknown {
                reason: format!("macOS: the uid that owns a socket cannot be read, so `uid {uid}` cannot be checked"),
            };
        }
        let deadline = std::time::Instant::now() + opts.timeout;
        decide::verify_with(&darwin::Darwin::default(), port, expected, opts, deadline).0
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = (port, expected, opts);
        Verdict::Unknown { reason: UNSUPPORTED.into() }
    }
}

/// Connects to `addr` and returns the stream only once *this connection*
/// is proven to have reached `expected`.
///
/// Steps: [`verify`] the port (must be Owned); connect; find the server side
/// of this connection by its 4-tuple (state ESTABLISHED, local = `addr`,
/// remote = our address) through the same source; wait (bounded by
/// `opts.timeout`, counted from the call) until it has been accepted (it
/// has an inode only then) and some process holds it (accept(2) names the
/// socket before it installs the descriptor); that inode must be held by
/// the expected tree and by no visible process outside it;
/// re-check the pidfd. Nothing is written to the stream here:
/// on refusal it is closed unused.
///
/// # Errors
/// [`ConnectError::Refused`] with the verdict when ownership is not proven
/// (including a hijacker that never accepts, or an accepted socket no
/// process holds: Unknown after the timeout; a connection the server closes
/// before it is attributed: Unknown when the close arrives);
/// [`ConnectError::Io`] when the connect itself fails.
///
/// # Security
/// PORT-1 and PORT-2: a hijacker that answers exactly like the service is
/// refused, because the decision is made from the kernel's socket table and
/// the process tree, never from what the peer says. PORT-6: the rule of
/// [`verify`] holds for the listeners; the accepted socket must then be in
/// the pinned process's own fd table, or else pass the same rule (every
/// visible holder in the tree) — with every listener held by the tree alone,
/// no outsider can hold the connection unless the tree gives it one.
pub fn connect_verified(
    addr: SocketAddr,
    expected: &Expected,
    opts: &Options,
) -> std::result::Result<TcpStream, ConnectError> {
    connect_verified_with_verdict(addr, expected, opts).map(|(stream, _)| stream)
}

/// As [`connect_verified`], also returning the [`Verdict::Owned`] that proved
/// the port's listeners before the connect (which process, which listeners),
/// so a caller that reports the owner need not inspect the port again.
///
/// # Errors
/// As [`connect_verified`].
pub fn connect_verified_with_verdict(
    addr: SocketAddr,
    expected: &Expected,
    opts: &Options,
) -> std::result::Result<(TcpStream, Verdict), ConnectError> {
    #[cfg(target_os = "linux")]
    {
        verdict::connect_linux(addr, expected, opts)
    }
    #[cfg(target_os = "macos")]
    {
        // The listeners are checked first (a foreign holder or a dead or
        // replaced process is a definite NotOwned); attributing the accepted
        // connection is not built on macOS, so nothing is handed out.
        let verdict = verify(addr.port(), expected, opts);
        if verdict.is_owned() {
            return Err(ConnectError::Refused(Verdict::Unknown { reason: UNSUPPORTED.into() }));
        }
        Err(ConnectError::Refused(verdict))
    }
    #[cfg(not(any(target_os = "linux", target_os = "macos")))]
    {
        let _ = (addr, expected, opts);
        Err(ConnectError::Refused(Verdict::Unknown { reason: UNSUPPORTED.into() }))
    }
}

// The README's example runs as a doc test too, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
