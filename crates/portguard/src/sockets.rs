//! Where the socket tables come from: netlink `NETLINK_SOCK_DIAG`
//! (sock_diag(7)) or `/proc/net/tcp{,6}` (proc(5)). Both are time-bounded by
//! the caller's deadline; neither shells out.

use std::io;
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
