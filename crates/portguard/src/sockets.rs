//! Where the socket tables come from: netlink `NETLINK_SOCK_DIAG`
//! (sock_diag(7)) or `/proc/net/tcp{,6}` (proc(5)). Both are time-bounded by
//! the caller's deadline; neither shells out.

use std::io;
use std::net::SocketAddr;
use std::time::Instant;

use rustix::net::{AddressFamily, RecvFlags, SendFlags, SocketFlags, SocketType, netlink};

use crate::Source;
use crate::error::{Error, ErrorKind, Result};
use crate::parse::{self, SockEntry};

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

/// The established TCP socket whose local address is `local` and remote
/// `remote` (the server side of a connection we made), `None` when there is
/// none; its inode is 0 until the server has accepted it.
///
/// Netlink first asks the kernel for exactly that socket (one hash lookup,
/// [`parse::encode_lookup`]); a dump of every established socket walks the
/// whole established table, which costs far more than the rest of a
/// verified connect (measured: `benches/handshake.rs`). Anything but that
/// socket in reply (an error, `ENOENT`, the listener the tuple would reach)
/// falls back to the dump, which also reports why netlink failed.
pub(crate) fn established(
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
        && let Ok(Some(e)) = netlink_lookup(local, remote, deadline)
        && this(&e)
    {
        return Ok(Some(e));
    }
    let q = Query { states: 1 << parse::TCP_ESTABLISHED, sport: local.port(), dport: Some(remote.port()) };
    Ok(fetch(q, source, deadline)?.into_iter().find(this))
}

/// One exact sock_diag lookup; `Ok(None)` when the kernel answers `ENOENT`.
fn netlink_lookup(local: SocketAddr, remote: SocketAddr, deadline: Instant) -> Result<Option<SockEntry>> {
    let subject = format!("{local} <- {remote}");
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        Some(netlink::SOCK_DIAG),
    )
    .map_err(|e| Error::io("sock_diag socket", subject.clone(), e.into()))?;
    let req = parse::encode_lookup(local, remote, 1);
    rustix::net::sendto(&fd, &req, SendFlags::empty(), &netlink::SocketAddrNetlink::new(0, 0))
        .map_err(|e| Error::io("sock_diag send", subject.clone(), e.into()))?;
    let left = remaining(deadline, "sock_diag", &subject)?;
    rustix::net::sockopt::set_socket_timeout(&fd, rustix::net::sockopt::Timeout::Recv, Some(left))
        .map_err(|e| Error::io("sock_diag timeout", subject.clone(), e.into()))?;
    // One inet_diag_msg and its attributes, or an NLMSG_ERROR.
    let mut buf = vec![0u8; 8 * 1024];
    let (_, n) = rustix::net::recv(&fd, &mut buf[..], RecvFlags::TRUNC)
        .map_err(|e| Error::io("sock_diag recv", subject.clone(), e.into()))?;
    if n > buf.len() {
        return Err(Error::new(ErrorKind::Parse, "sock_diag recv", subject, "reply truncated"));
    }
    match parse::sock_diag_messages(&buf[..n], 1) {
        Ok(batch) => Ok(batch.entries.into_iter().next()),
        Err(e) if e.message.ends_with("errno 2") => Ok(None),
        Err(e) => Err(Error::new(ErrorKind::Parse, "sock_diag", subject, e.to_string())),
    }
}

enum NlFail {
    Unavailable(String),
    Other(Error),
}

impl NlFail {
    fn into_error(self, q: Query) -> Error {
        match self {
            Self::Unavailable(m) => Error::new(ErrorKind::Io, "sock_diag", format!("port {}", q.sport), m)
                .with_fix("use --source procnet, or load the tcp_diag module"),
            Self::Other(e) => e,
        }
    }
}

fn netlink_fetch(q: Query, deadline: Instant) -> std::result::Result<Vec<SockEntry>, NlFail> {
    let subject = format!("port {}", q.sport);
    let fd = rustix::net::socket_with(
        AddressFamily::NETLINK,
        SocketType::DGRAM,
        SocketFlags::CLOEXEC,
        Some(netlink::SOCK_DIAG),
    )
    .map_err(|e| NlFail::Unavailable(format!("netlink sock_diag socket: {e}")))?;
    let kernel = netlink::SocketAddrNetlink::new(0, 0);
    let mut out = Vec::new();
    // Large enough for the kernel's dump batches (it fills up to ~32 KiB).
    let mut buf = vec![0u8; 64 * 1024];
    for (seq, v6) in [(1u32, false), (2u32, true)] {
        let req = parse::encode_request(v6, q.states, Some(q.sport), q.dport, seq);
        rustix::net::sendto(&fd, &req, SendFlags::empty(), &kernel)
            .map_err(|e| NlFail::Other(Error::io("sock_diag send", subject.clone(), e.into())))?;
        loop {
            let left = remaining(deadline, "sock_diag", &subject).map_err(NlFail::Other)?;
            rustix::net::sockopt::set_socket_timeout(&fd, rustix::net::sockopt::Timeout::Recv, Some(left))
                .map_err(|e| NlFail::Other(Error::io("sock_diag timeout", subject.clone(), e.into())))?;
            let (_, n) = rustix::net::recv(&fd, &mut buf[..], RecvFlags::TRUNC).map_err(|e| {
                let e: io::Error = e.into();
                NlFail::Other(Error::io("sock_diag recv", subject.clone(), e))
            })?;
            if n > buf.len() {
                return Err(NlFail::Other(Error::new(ErrorKind::Parse, "sock_diag recv", subject, "reply truncated")));
            }
            let batch = match parse::sock_diag_messages(&buf[..n], seq) {
                Ok(b) => b,
                // ENOENT: inet_diag/tcp_diag is not available in this kernel.
                Err(e) if e.message.ends_with("errno 2") => return Err(NlFail::Unavailable(e.to_string())),
                Err(e) => return Err(NlFail::Other(Error::new(ErrorKind::Parse, "sock_diag", subject, e.to_string()))),
            };
            out.extend(batch.entries.into_iter().filter(|e| q.matches(e)));
            if batch.done {
                break;
            }
        }
    }
    Ok(out)
}

fn procnet_fetch(q: Query, deadline: Instant) -> Result<Vec<SockEntry>> {
    let subject = format!("port {}", q.sport);
    let mut out = Vec::new();
    for (path, v6) in [("/proc/net/tcp", false), ("/proc/net/tcp6", true)] {
        remaining(deadline, "read /proc/net", &subject)?;
        let text = match std::fs::read(path) {
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
            let queued = netlink_lookup(server, client, deadline).unwrap().expect("found by lookup");
            assert_eq!(
                (queued.state, queued.local, queued.remote, queued.inode),
                (parse::TCP_ESTABLISHED, server, client, 0)
            );
            let (accepted, _) = l.accept().unwrap();
            for source in [Source::Netlink, Source::ProcNet, Source::Auto] {
                let e = established(server, client, source, deadline).unwrap().expect("found");
                assert_eq!(e.inode, inode_of(&accepted), "{bind} {source:?}");
                assert_eq!(e.uid, rustix::process::geteuid().as_raw());
            }
            // A tuple with no established socket: the kernel may answer the
            // listener; `established` says none.
            let nobody: SocketAddr =
                if server.is_ipv4() { "127.0.0.1:9".parse().unwrap() } else { "[::1]:9".parse().unwrap() };
            assert_eq!(established(server, nobody, Source::Auto, deadline).unwrap(), None);
            drop(c);
        }
    }
}
