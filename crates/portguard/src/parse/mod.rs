//! Pure parsers for what the kernel tells us: `NETLINK_SOCK_DIAG` replies,
//! `/proc/net/tcp{,6}` and `/proc/PID/stat`. They take bytes, allocate
//! bounded output and never panic (fuzzed: `fuzz/fuzz_targets/{sock_diag,
//! proc_net_tcp,proc_stat}.rs`); each has an encoder so round-trips can be
//! property-tested.

mod proc_net;
mod sock_diag;

use std::fmt;
use std::net::SocketAddr;

pub use proc_net::{format_proc_net_tcp_line, proc_net_tcp, proc_net_tcp_header};
pub use sock_diag::{
    AF_INET, AF_INET6, DiagBatch, Families, INET_DIAG_MSG_LEN, NLMSG_DONE, NLMSG_ERROR, NLMSG_HDRLEN,
    SOCK_DIAG_BY_FAMILY, TCPDIAG_GETSOCK, encode_done, encode_error, encode_inet_diag_msg, encode_lookup,
    encode_request, sock_diag_messages,
};

/// TCP state `ESTABLISHED` (include/net/tcp_states.h).
pub const TCP_ESTABLISHED: u8 = 1;
/// TCP state `LISTEN` (include/net/tcp_states.h).
pub const TCP_LISTEN: u8 = 10;

/// One TCP socket as the kernel reports it (sock_diag or `/proc/net/tcp`).
///
/// The address family is the one of `local` (`SocketAddr::V4` for
/// `AF_INET`, `V6` for `AF_INET6`, including v4-mapped addresses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct SockEntry {
    /// TCP state (`TCP_LISTEN`, `TCP_ESTABLISHED`, ...).
    pub state: u8,
    /// Local address and port.
    pub local: SocketAddr,
    /// Remote address and port (unspecified for a listener).
    pub remote: SocketAddr,
    /// Owner uid of the socket.
    pub uid: u32,
    /// Socket inode; 0 for a connection not yet accepted.
    pub inode: u64,
}

/// Why a parser rejected its input: the byte (or line) offset and what was
/// wrong there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// What was being parsed (`"sock_diag"`, `"/proc/net/tcp"`, `"/proc/PID/stat"`).
    pub what: &'static str,
    /// Byte offset (sock_diag, stat) or line number (proc_net) of the problem.
    pub at: usize,
    /// What was wrong.
    pub message: String,
    /// The kernel's errno, when the input was its error reply (sock_diag's
    /// `NLMSG_ERROR`, or an `NLMSG_DONE` with a negative status).
    pub errno: Option<u32>,
}

impl ParseError {
    #[cold]
    pub(crate) fn new(what: &'static str, at: usize, message: impl Into<String>) -> Self {
        Self { what, at, message: message.into(), errno: None }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at {}: {}", self.what, self.at, self.message)
    }
}

impl std::error::Error for ParseError {}
