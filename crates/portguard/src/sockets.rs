//! Where the socket tables come from: netlink `NETLINK_SOCK_DIAG`
//! (sock_diag(7)) or `/proc/net/tcp{,6}` (proc(5)). Both are time-bounded by
//! the caller's deadline; neither shells out.

use std::io;
use std::mem::MaybeUninit;
use std::net::SocketAddr;
use std::time::Instant;

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, netlink};

use crate::Source;
use crate::error::{Error, ErrorKind, Result};
use crate::parse::{self, Families, SockEntry};

/// Which sockets to fetch: a bitmask of TCP states and the ports.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Query {
    pub(crate) states: u32,
    pub(crate) sport: u16,
    pub(crate) dport: Option<u16>,
}

impl Query {
    fn matches(&self, e: &SockEntry) -> bool {
        self.states & (1u32 << u32::from(e.state.min(31))) != 0
            && e.local.port() == self.sport
            && self.dport.is_none_or(|d| e.remote.port() == d)
    }
}

fn remaining(deadline: Instant, op: &'static str, subject: &str) -> Result<std::time::Duration> {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return Err(Error::new(ErrorKind::Timeout, op, subject, "time bound exceeded"));
    }
    Ok(left)
}

/// Fetches the TCP sockets (IPv4 and IPv6) matching `q` from `source`.
///
/// `Source::Auto` uses netlink and falls back to `/proc/net` only when
/// netlink sock_diag is unavailable (socket refused, inet_diag missing),
/// never after a parse error or a timeout.
pub(crate) fn fetch(q: Query, source: Source, deadline: Instant) -> Result<Vec<SockEntry>> {
    match source {
        Source::Netlink => netlink_fetch(q, deadline).map_err(|f| f.into_error(q)),
        Source::ProcNet => procnet_fetch(q, deadline),
        Source::Auto => match netlink_fetch(q, deadline) {
            Ok(v) => Ok(v),
            Err(NlFail::Unavailable(_)) => procnet_fetch(q, deadline),
            Err(f) => Err(f.into_error(q)),
        },
    }
}

/// Exact lookups of established sockets, on one sock_diag socket opened at
/// the first lookup (a socket and its close per lookup cost about as much
/// as the lookup: a connect that waits for its accept asks several times).
#[derive(Default)]
pub(crate) struct Lookups {
    fd: Option<rustix::fd::OwnedFd>,
    seq: u32,
}

impl Lookups {
    /// The established TCP socket whose local address is `local` and
    /// remote `remote` (the server side of a connection we made), `None`
    /// when there is none; its inode is 0 until the server has accepted it.
    ///
    /// Netlink first asks the kernel for exactly that socket (one hash
    /// lookup, [`parse::encode_lookup`]); a dump of every established
    /// socket walks the whole established table, which costs far more than
    /// the rest of a verified connect (measured: `benches/handshake.rs`).
    /// Anything but that socket in reply (an error, `ENOENT`, the listener
    /// the tuple would reach) falls back to the dump, which also reports why
    /// netlink failed.
    pub(crate) fn established(
        &mut self,
        local: SocketAddr,
        remote: SocketAddr,
        source: Source,
        deadline: Instant,
    ) -> Result<Option<SockEntry>> {
        let canon = |a: SocketAddr| (a.ip().to_canonical(), a.port());
        let this = |e: &SockEntry| {
            e.state == parse::TCP_ESTABLISHED && canon(e.local) == canon(local) && canon(e.remote) == canon(remote)
        };
        if source != Source::ProcNet
            && let Ok(Some(e)) = self.lookup(local, remote, deadline)
            && this(&e)
        {
            return Ok(Some(e));
        }
        let q = Query { states: 1 << parse::TCP_ESTABLISHED, sport: local.port(), dport: Some(remote.port()) };
        Ok(fetch(q, source, deadline)?.into_iter().find(this))
    }

    /// One exact sock_diag lookup; `Ok(None)` when the kernel answers
    /// `ENOENT`. Each request has its own sequence number, and a reply must
    /// carry it: one to an earlier request (which can only have timed out,
    /// failing its caller) is refused, not taken for this one's.
    fn lookup(&mut self, local: SocketAddr, remote: SocketAddr, deadline: Instant) -> Result<Option<SockEntry>> {
        let subject = format!("{local} <- {remote}");
        let fd = match &mut self.fd {
            Some(fd) => fd,
            none => {
                none.insert(sock_diag_socket().map_err(|e| Error::io("sock_diag socket", subject.clone(), e.into()))?)
            }
        };
        self.seq = self.seq.wrapping_add(1);
        let req = parse::encode_lookup(local, remote, self.seq);
        rustix::net::sendto(&*fd, &req, SendFlags::empty(), &netlink::SocketAddrNetlink::new(0, 0))
            .map_err(|e| Error::io("sock_diag send", subject.clone(), e.into()))?;
        let left = remaining(deadline, "sock_diag", &subject)?;
        rustix::net::sockopt::set_socket_timeout(&*fd, rustix::net::sockopt::Timeout::Recv, Some(left))
            .map_err(|e| Error::io("sock_diag timeout", subject.clone(), e.into()))?;
        // One inet_diag_msg and its attributes, or an NLMSG_ERROR.
        let mut buf = [MaybeUninit::<u8>::uninit(); 8 * 1024];
        let ((reply, _), n) = rustix::net::recv(&*fd, &mut buf, RecvFlags::TRUNC)
            .map_err(|e| Error::io("sock_diag recv", subject.clone(), e.into()))?;
        if n > reply.len() {
            return Err(Error::new(ErrorKind::Parse, "sock_diag recv", subject, "reply truncated"));
        }
        match parse::sock_diag_messages(reply, self.seq) {
            Ok(batch) => Ok(batch.entries.into_iter().next()),
            Err(e) if e.errno == Some(ENOENT) => Ok(None),
            Err(e) => Err(Error::new(ErrorKind::Parse, "sock_diag", subject, e.to_string())),
        }
    }
}

enum NlFail {
    /// No sock_diag here (no socket, or the kernel has no tcp_diag).
    Unavailable(String),
    /// The kernel answered the request with another errno.
    Refused(Error),
    /// A send, receive or parse failure, or the deadline.
    Other(Error),
}

/// The errno the kernel answers for a table it cannot dump.
const ENOENT: u32 = 2;

impl NlFail {
    fn into_error(self, q: Query) -> Error {
        match self {
            Self::Unavailable(m) => Error::new(ErrorKind::Io, "sock_diag", format!("port {}", q.sport), m)
                .with_fix("use --source procnet, or load the tcp_diag module"),
            Self::Refused(e) | Self::Other(e) => e,
        }
    }
}

/// A `NETLINK_SOCK_DIAG` socket (sock_diag(7)).
fn sock_diag_socket() -> rustix::io::Result<rustix::fd::OwnedFd> {
    rustix::net::socket_with(AddressFamily::NETLINK, SocketType::DGRAM, SocketFlags::CLOEXEC, Some(netlink::SOCK_DIAG))
}

fn netlink_fetch(q: Query, deadline: Instant) -> std::result::Result<Vec<SockEntry>, NlFail> {
    let fd = sock_diag_socket().map_err(|e| NlFail::Unavailable(format!("netlink sock_diag socket: {e}")))?;
    // Both families in one dump: one walk of the kernel's tables instead of
    // two (each walk reads every bucket of the listening hash, empty or
    // not). A kernel that refuses the older request type gets the two
    // per-family requests, which also say why netlink is unavailable.
    match netlink_dump(&fd, q, Families::Both, 1, deadline) {
        Ok(v) => Ok(v),
        Err(f @ NlFail::Other(_)) => Err(f),
        Err(NlFail::Unavailable(_) | NlFail::Refused(_)) => {
            let mut out = netlink_dump(&fd, q, Families::V4, 2, deadline)?;
            out.extend(netlink_dump(&fd, q, Families::V6, 3, deadline)?);
            Ok(out)
        }
    }
}

/// One dump request on `fd` and its whole reply (to `NLMSG_DONE`).
fn netlink_dump(
    fd: &impl rustix::fd::AsFd,
    q: Query,
    families: Families,
    seq: u32,
    deadline: Instant,
) -> std::result::Result<Vec<SockEntry>, NlFail> {
    let req = parse::encode_request(families, q.states, Some(q.sport), q.dport, seq);
    netlink_exchange(fd, &req, q, seq, deadline)
}

/// Sends the dump request `req` (sequence `seq`) and reads its whole reply,
/// keeping the sockets that match `q`.
fn netlink_exchange(
    fd: &impl rustix::fd::AsFd,
    req: &[u8],
    q: Query,
    seq: u32,
    deadline: Instant,
) -> std::result::Result<Vec<SockEntry>, NlFail> {
    let subject = format!("port {}", q.sport);
    let mut out = Vec::new();
    // As large as the kernel's dump batches (it fills up to the size of the
    // reader's buffer, at most 32 KiB; a longer one shows as truncated).
    // Not zeroed: the kernel writes what is read.
    let mut buf = vec![MaybeUninit::<u8>::uninit(); 32 * 1024];
    rustix::net::sendto(fd, req, SendFlags::empty(), &netlink::SocketAddrNetlink::new(0, 0))
        .map_err(|e| NlFail::Other(Error::io("sock_diag send", subject.clone(), e.into())))?;
    loop {
        let left = remaining(deadline, "sock_diag", &subject).map_err(NlFail::Other)?;
        rustix::net::sockopt::set_socket_timeout(fd, rustix::net::sockopt::Timeout::Recv, Some(left))
            .map_err(|e| NlFail::Other(Error::io("sock_diag timeout", subject.clone(), e.into())))?;
        let ((reply, _), n) = rustix::net::recv(fd, &mut buf[..], RecvFlags::TRUNC).map_err(|e| {
            let e: io::Error = e.into();
            NlFail::Other(Error::io("sock_diag recv", subject.clone(), e))
        })?;
        if n > reply.len() {
            return Err(NlFail::Other(Error::new(ErrorKind::Parse, "sock_diag recv", subject, "reply truncated")));
        }
        let batch = match parse::sock_diag_messages(reply, seq) {
            Ok(b) => b,
            // ENOENT: inet_diag/tcp_diag is not available in this kernel.
            Err(e) if e.errno == Some(ENOENT) => return Err(NlFail::Unavailable(e.to_string())),
            Err(e) => {
                let refused = e.errno.is_some();
                let e = Error::new(ErrorKind::Parse, "sock_diag", subject, e.to_string());
                return Err(if refused { NlFail::Refused(e) } else { NlFail::Other(e) });
            }
        };
        out.extend(batch.entries.into_iter().filter(|e| q.matches(e)));
        if batch.done {
            return Ok(out);
        }
    }
}

fn procnet_fetch(q: Query, deadline: Instant) -> Result<Vec<SockEntry>> {
    let subject = format!("port {}", q.sport);
    let mut out = Vec::new();
    let proc = crate::process::proc().map_err(|e| Error::io("open", "/proc", e))?;
    for (path, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        remaining(deadline, "read /proc/net", &subject)?;
        let text = match proc.read(&path["/proc/".len()..]) {
            Ok(t) => t,
            // No tcp6 when IPv6 is disabled: there are no IPv6 sockets then.
            Err(e) if v6 && e.kind() == io::ErrorKind::NotFound => continue,
            Err(e) => return Err(Error::io("read", path, e)),
        };
        let entries =
            parse::proc_net_tcp(&text, v6).map_err(|e| Error::new(ErrorKind::Parse, "parse", path, e.to_string()))?;
        out.extend(entries.into_iter().filter(|e| q.matches(e)));
    }
    remaining(deadline, "read /proc/net", &subject)?;
    Ok(out)
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    use std::net::{TcpListener, TcpStream};
    use std::time::Duration;

    use super::*;

    fn inode_of(fd: impl rustix::fd::AsFd) -> u64 {
        rustix::fs::fstat(fd).unwrap().st_ino
    }

    #[test]
    fn exact_lookup_finds_the_server_side_before_and_after_accept() {
        for bind in ["127.0.0.1:0", "[::1]:0"] {
            let Ok(l) = TcpListener::bind(bind) else { continue }; // no IPv6 here
            let server = l.local_addr().unwrap();
            let c = TcpStream::connect(server).unwrap();
            let client = c.local_addr().unwrap();
            let deadline = Instant::now() + Duration::from_secs(10);
            // In the accept queue: the socket exists, with no inode yet.
            let mut lookups = Lookups::default();
            let queued = lookups.lookup(server, client, deadline).unwrap().expect("found by lookup");
            assert_eq!(
                (queued.state, queued.local, queued.remote, queued.inode),
                (parse::TCP_ESTABLISHED, server, client, 0)
            );
            let (accepted, _) = l.accept().unwrap();
            for source in [Source::Netlink, Source::ProcNet, Source::Auto] {
                let e = lookups.established(server, client, source, deadline).unwrap().expect("found");
                assert_eq!(e.inode, inode_of(&accepted), "{bind} {source:?}");
                assert_eq!(e.uid, rustix::process::geteuid().as_raw());
            }
            // A tuple with no established socket: the kernel may answer the
            // listener; `established` says none.
            let nobody: SocketAddr =
                if server.is_ipv4() { "127.0.0.1:9".parse().unwrap() } else { "[::1]:9".parse().unwrap() };
            assert_eq!(lookups.established(server, nobody, Source::Auto, deadline).unwrap(), None);
            drop(c);
        }
    }

    /// A connection from `from` to `to`, made with `SO_REUSEADDR` so that one
    /// client address can make two.
    fn client(from: SocketAddr, to: SocketAddr) -> rustix::fd::OwnedFd {
        let s = rustix::net::socket(AddressFamily::INET, SocketType::STREAM, None).unwrap();
        rustix::net::sockopt::set_socket_reuseaddr(&s, true).unwrap();
        rustix::net::bind(&s, &from).unwrap();
        rustix::net::connect(&s, &to).unwrap();
        s
    }

    /// Connections that share a server port and a client port, and differ
    /// only in the client's address or only in the server's: each lookup, by
    /// every source, names the server side of its own connection (the dump
    /// holds them all; only the whole 4-tuple tells them apart).
    #[test]
    fn a_lookup_names_only_the_connection_of_its_whole_tuple() {
        let one = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = one.local_addr().unwrap().port();
        let two = TcpListener::bind(("127.0.0.2", port)).unwrap();
        let (a, b) = (SocketAddr::from(([127, 0, 0, 1], port)), SocketAddr::from(([127, 0, 0, 2], port)));
        let first = client("127.0.0.1:0".parse().unwrap(), a);
        let from = SocketAddr::try_from(rustix::net::getsockname(&first).unwrap()).unwrap();
        let other = SocketAddr::from(([127, 0, 0, 2], from.port()));
        // from -> a (first), from -> b, other -> a: three connections.
        let _second = client(from, b);
        let _third = client(other, a);
        let mut accepted = std::collections::HashMap::new();
        for l in [&one, &one, &two] {
            let (s, peer) = l.accept().unwrap();
            accepted.insert((s.local_addr().unwrap(), peer), (inode_of(&s), s));
        }
        assert_eq!(accepted.len(), 3);
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut lookups = Lookups::default();
        for (server, peer) in [(a, from), (b, from), (a, other)] {
            let want = accepted[&(server, peer)].0;
            for source in [Source::Netlink, Source::ProcNet, Source::Auto] {
                let e = lookups.established(server, peer, source, deadline).unwrap().expect("found");
                assert_eq!((e.local, e.remote, e.inode), (server, peer, want), "{server} <- {peer} by {source:?}");
            }
        }
    }

    fn sorted(mut v: Vec<SockEntry>) -> Vec<(SocketAddr, u64)> {
        let mut out: Vec<_> = v.drain(..).map(|e| (e.local, e.inode)).collect();
        out.sort();
        out
    }

    /// The one dump of both families (the older request type) reports
    /// exactly what the two per-family dumps report: every listener on the
    /// port, of either family and any address, and nothing else.
    #[test]
    fn one_dump_of_both_families_reports_what_two_dumps_report() {
        let v4 = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = v4.local_addr().unwrap().port();
        let v4b = TcpListener::bind(("127.0.0.2", port)).unwrap();
        let v6 = TcpListener::bind(("::1", port)).ok(); // no IPv6 here: none
        let _other_port = TcpListener::bind("127.0.0.1:0").unwrap();
        let q = Query { states: 1 << parse::TCP_LISTEN, sport: port, dport: None };
        let deadline = Instant::now() + Duration::from_secs(10);
        let fd = sock_diag_socket().unwrap();
        let ok = |r: std::result::Result<Vec<SockEntry>, NlFail>| match r {
            Ok(v) => v,
            Err(f) => panic!("{}", f.into_error(q)),
        };
        let both = sorted(ok(netlink_dump(&fd, q, Families::Both, 1, deadline)));
        let mut each = ok(netlink_dump(&fd, q, Families::V4, 2, deadline));
        each.extend(ok(netlink_dump(&fd, q, Families::V6, 3, deadline)));
        assert_eq!(both, sorted(each));
        let mut expected: Vec<_> = [Some(&v4), Some(&v4b), v6.as_ref()]
            .into_iter()
            .flatten()
            .map(|l| (l.local_addr().unwrap(), inode_of(l)))
            .collect();
        expected.sort();
        assert_eq!(both, expected);
        // What callers get: the same.
        assert_eq!(sorted(fetch(q, Source::Netlink, deadline).unwrap()), expected);
    }

    /// A request the kernel refuses (here: a filter program it rejects) is
    /// `Refused`, which `netlink_fetch` answers with the per-family
    /// requests; a send, receive or parse failure is not.
    #[test]
    fn a_refused_request_is_told_apart_from_a_failed_one() {
        let q = Query { states: 1 << parse::TCP_LISTEN, sport: 1, dport: None };
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut req = parse::encode_request(Families::Both, q.states, Some(1), None, 1);
        let yes = req.len() - 15; // the first op's "yes" step: 0 is not a valid one
        req[yes] = 0;
        match netlink_exchange(&sock_diag_socket().unwrap(), &req, q, 1, deadline) {
            Err(NlFail::Refused(e)) => assert!(e.to_string().contains("errno 22"), "EINVAL for a bad filter: {e}"),
            Err(f) => panic!("not a refusal: {}", f.into_error(q)),
            Ok(v) => panic!("the kernel took a bad filter: {v:?}"),
        }
        // A reply that is not ours (another sequence) is a failure, not the
        // kernel's refusal: no second request is made after it.
        let req = parse::encode_request(Families::Both, q.states, Some(1), None, 7);
        match netlink_exchange(&sock_diag_socket().unwrap(), &req, q, 8, deadline) {
            Err(NlFail::Other(e)) => assert!(e.to_string().contains("sequence 7, expected 8"), "{e}"),
            Err(f) => panic!("{}", f.into_error(q)),
            Ok(v) => panic!("a foreign reply was taken: {v:?}"),
        }
    }
}
