//! `NETLINK_SOCK_DIAG` / inet_diag messages (linux/inet_diag.h, sock_diag(7)).
//!
//! Hand-written rather than `netlink-packet-sock-diag`: gw needs exactly
//! three fixed-layout structures (`nlmsghdr`, `inet_diag_req_v2` with a
//! two-comparison bytecode filter, `inet_diag_msg`) and ignores every
//! attribute; the crate brings netlink-packet-core/-utils, `anyhow` and a
//! generic attribute model that is larger to audit than these ~200 lines,
//! which are bounds-checked at every read and fuzzed as they are.
//!
//! Multi-byte fields of `nlmsghdr` and `inet_diag_msg` are in host byte
//! order except the ports and addresses of `inet_diag_sockid`, which are in
//! network byte order.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::{ParseError, SockEntry};

/// `sizeof(struct nlmsghdr)`.
pub const NLMSG_HDRLEN: usize = 16;
/// `NLMSG_ERROR`.
pub const NLMSG_ERROR: u16 = 2;
/// `NLMSG_DONE`.
pub const NLMSG_DONE: u16 = 3;
/// `SOCK_DIAG_BY_FAMILY`.
pub const SOCK_DIAG_BY_FAMILY: u16 = 20;
/// `TCPDIAG_GETSOCK`: inet_diag's original request type, which dumps the
/// TCP sockets of both families in one walk of the kernel's tables.
pub const TCPDIAG_GETSOCK: u16 = 18;
/// `sizeof(struct inet_diag_msg)`.
pub const INET_DIAG_MSG_LEN: usize = 72;
/// `AF_INET`.
pub const AF_INET: u8 = 2;
/// `AF_INET6`.
pub const AF_INET6: u8 = 10;

const NLMSG_NOOP: u16 = 1;
const NLM_F_REQUEST: u16 = 0x1;
const NLM_F_MULTI: u16 = 0x2;
const NLM_F_DUMP: u16 = 0x300;
const IPPROTO_TCP: u8 = 6;
const INET_DIAG_REQ_BYTECODE: u16 = 1;
const INET_DIAG_BC_S_GE: u8 = 2;
const INET_DIAG_BC_S_LE: u8 = 3;
const INET_DIAG_BC_D_GE: u8 = 4;
const INET_DIAG_BC_D_LE: u8 = 5;
const WHAT: &str = "sock_diag";

/// What one `recv` of a dump reply held.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DiagBatch {
    /// The sockets reported (`SOCK_DIAG_BY_FAMILY` messages), in order.
    pub entries: Vec<SockEntry>,
    /// `NLMSG_DONE` was seen: the dump is complete.
    pub done: bool,
}

fn align4(n: usize) -> usize {
    (n + 3) & !3
}

fn u16_ne(b: &[u8], at: usize) -> u16 {
    u16::from_ne_bytes([b[at], b[at + 1]])
}

fn u32_ne(b: &[u8], at: usize) -> u32 {
    u32::from_ne_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn u16_be(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

/// Parses the messages of one `recv` on a sock_diag socket.
///
/// Every message must carry `seq` (replies to anything else are refused,
/// not skipped). `NLMSG_ERROR` and an `NLMSG_DONE` carrying a negative
/// status become an error naming the errno. Parsing stops after
/// `NLMSG_DONE`; bytes after it are refused.
///
/// # Errors
/// A [`ParseError`] for any truncation, length that does not fit, unknown
/// message type or address family, or kernel-reported error.
pub fn sock_diag_messages(buf: &[u8], seq: u32) -> Result<DiagBatch, ParseError> {
    let mut batch = DiagBatch::default();
    let mut off = 0usize;
    while off < buf.len() {
        if batch.done {
            return Err(ParseError::new(WHAT, off, "data after NLMSG_DONE"));
        }
        let rest = &buf[off..];
        if rest.len() < NLMSG_HDRLEN {
            return Err(ParseError::new(WHAT, off, "truncated nlmsghdr"));
        }
        let len = u32_ne(rest, 0) as usize;
        let ty = u16_ne(rest, 4);
        let msg_seq = u32_ne(rest, 8);
        if len < NLMSG_HDRLEN || len > rest.len() {
            return Err(ParseError::new(WHAT, off, format!("message length {len} does not fit ({} left)", rest.len())));
        }
        if msg_seq != seq {
            return Err(ParseError::new(WHAT, off, format!("sequence {msg_seq}, expected {seq}")));
        }
        let payload = &rest[NLMSG_HDRLEN..len];
        match ty {
            NLMSG_NOOP => {}
            NLMSG_ERROR | NLMSG_DONE => {
                let status = if payload.len() >= 4 {
                    u32_ne(payload, 0) as i32
                } else if ty == NLMSG_DONE {
                    0
                } else {
                    return Err(ParseError::new(WHAT, off, "truncated NLMSG_ERROR"));
                };
                if status < 0 {
                    let errno = status.unsigned_abs();
                    let e = ParseError::new(WHAT, off, format!("kernel error: errno {errno}"));
                    return Err(ParseError { errno: Some(errno), ..e });
                }
                // NLMSG_ERROR with 0 is an ACK; either way the reply is over.
                batch.done = true;
            }
            // The kernel answers in the request's type: the same
            // inet_diag_msg for either.
            SOCK_DIAG_BY_FAMILY | TCPDIAG_GETSOCK => batch.entries.push(inet_diag_msg(payload, off + NLMSG_HDRLEN)?),
            other => return Err(ParseError::new(WHAT, off, format!("unexpected message type {other}"))),
        }
        off += align4(len).min(rest.len());
    }
    Ok(batch)
}

fn inet_diag_msg(p: &[u8], at: usize) -> Result<SockEntry, ParseError> {
    if p.len() < INET_DIAG_MSG_LEN {
        return Err(ParseError::new(WHAT, at, format!("inet_diag_msg of {} bytes, need {INET_DIAG_MSG_LEN}", p.len())));
    }
    let family = p[0];
    let state = p[1];
    let sport = u16_be(p, 4);
    let dport = u16_be(p, 6);
    let src: [u8; 16] = p[8..24].try_into().unwrap_or([0; 16]);
    let dst: [u8; 16] = p[24..40].try_into().unwrap_or([0; 16]);
    let uid = u32_ne(p, 64);
    let inode = u64::from(u32_ne(p, 68));
    let (local, remote) = match family {
        AF_INET => (
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(src[0], src[1], src[2], src[3]), sport)),
            SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3]), dport)),
        ),
        AF_INET6 => (
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(src), sport, 0, 0)),
            SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(dst), dport, 0, 0)),
        ),
        other => return Err(ParseError::new(WHAT, at, format!("unknown address family {other}"))),
    };
    Ok(SockEntry { state, local, remote, uid, inode })
}

fn header(out: &mut Vec<u8>, len: usize, ty: u16, flags: u16, seq: u32) {
    out.extend_from_slice(&(len as u32).to_ne_bytes());
    out.extend_from_slice(&ty.to_ne_bytes());
    out.extend_from_slice(&flags.to_ne_bytes());
    out.extend_from_slice(&seq.to_ne_bytes());
    out.extend_from_slice(&0u32.to_ne_bytes());
}

fn addr_bytes(a: &SocketAddr) -> [u8; 16] {
    match a {
        SocketAddr::V4(v4) => {
            let mut b = [0u8; 16];
            b[..4].copy_from_slice(&v4.ip().octets());
            b
        }
        SocketAddr::V6(v6) => v6.ip().octets(),
    }
}

/// Encodes one `SOCK_DIAG_BY_FAMILY` reply message as the kernel would (for
/// round-trip tests and fuzz seeds). An inode above `u32::MAX` is truncated,
/// as the kernel's field is 32 bits.
pub fn encode_inet_diag_msg(e: &SockEntry, seq: u32) -> Vec<u8> {
    let len = NLMSG_HDRLEN + INET_DIAG_MSG_LEN;
    let mut out = Vec::with_capacity(len);
    header(&mut out, len, SOCK_DIAG_BY_FAMILY, NLM_F_MULTI, seq);
    out.push(if e.local.is_ipv4() { AF_INET } else { AF_INET6 });
    out.push(e.state);
    out.extend_from_slice(&[0, 0]); // timer, retrans
    out.extend_from_slice(&e.local.port().to_be_bytes());
    out.extend_from_slice(&e.remote.port().to_be_bytes());
    out.extend_from_slice(&addr_bytes(&e.local));
    out.extend_from_slice(&addr_bytes(&e.remote));
    out.extend_from_slice(&0u32.to_ne_bytes()); // if
    out.extend_from_slice(&[0xa5; 8]); // cookie
    for v in [0u32, 0, 0, e.uid, e.inode as u32] {
        out.extend_from_slice(&v.to_ne_bytes()); // expires, rqueue, wqueue, uid, inode
    }
    out
}

/// Encodes `NLMSG_DONE` (status 0) with `seq`.
pub fn encode_done(seq: u32) -> Vec<u8> {
    let mut out = Vec::with_capacity(NLMSG_HDRLEN + 4);
    header(&mut out, NLMSG_HDRLEN + 4, NLMSG_DONE, NLM_F_MULTI, seq);
    out.extend_from_slice(&0i32.to_ne_bytes());
    out
}

/// Encodes `NLMSG_ERROR` carrying `-errno` with `seq`.
pub fn encode_error(seq: u32, errno: i32) -> Vec<u8> {
    let mut out = Vec::with_capacity(NLMSG_HDRLEN + 4 + NLMSG_HDRLEN);
    header(&mut out, NLMSG_HDRLEN + 4 + NLMSG_HDRLEN, NLMSG_ERROR, 0, seq);
    out.extend_from_slice(&(-errno.abs()).to_ne_bytes());
    header(&mut out, NLMSG_HDRLEN, SOCK_DIAG_BY_FAMILY, 0, seq);
    out
}

/// Which address families a dump asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Families {
    /// IPv4 only (`inet_diag_req_v2`, `AF_INET`).
    V4,
    /// IPv6 only (`inet_diag_req_v2`, `AF_INET6`).
    V6,
    /// Both, in one request (`TCPDIAG_GETSOCK` with `inet_diag_req`): the
    /// kernel dumps with family `AF_UNSPEC`, walking each table once for
    /// both families where two `SOCK_DIAG_BY_FAMILY` requests walk it twice.
    Both,
}

/// Builds a dump request for TCP sockets of `families` in the states of
/// the bitmask `states` (`1 << TCP_LISTEN`, ...), filtered in the kernel by
/// a bytecode program on the local port `sport` and remote port `dport`
/// when given (the same filter `ss 'sport = :P'` compiles; the `>=`/`<=`
/// pair works on every kernel with inet_diag bytecode).
pub fn encode_request(families: Families, states: u32, sport: Option<u16>, dport: Option<u16>, seq: u32) -> Vec<u8> {
    let conds: Vec<(u8, u8, u16)> = [
        sport.map(|p| (INET_DIAG_BC_S_GE, INET_DIAG_BC_S_LE, p)),
        dport.map(|p| (INET_DIAG_BC_D_GE, INET_DIAG_BC_D_LE, p)),
    ]
    .into_iter()
    .flatten()
    .collect();
    let mut bc = Vec::new();
    let total = conds.len() * 16;
    for (ge, le, port) in conds {
        for code in [ge, le] {
            // Each comparison is two ops: {code, yes = 8 (next op), no = past the end (reject)}
            // then {0, 0, port}. "no" = remaining length + 4 makes the program fail.
            let no = (total - bc.len() + 4) as u16;
            bc.extend_from_slice(&[code, 8]);
            bc.extend_from_slice(&no.to_ne_bytes());
            bc.extend_from_slice(&[0, 0]);
            bc.extend_from_slice(&port.to_ne_bytes());
        }
    }
    let attr_len = if bc.is_empty() { 0 } else { 4 + bc.len() };
    // inet_diag_sockid: the ports (network order) also go here: the kernel's
    // dump loops compare `id.idiag_sport`/`idiag_dport` before running the
    // bytecode, which skips other ports' sockets cheaply (and a set dport
    // skips the listening table altogether). Addresses and interface: any.
    let mut sockid = Vec::with_capacity(48);
    sockid.extend_from_slice(&sport.unwrap_or(0).to_be_bytes());
    sockid.extend_from_slice(&dport.unwrap_or(0).to_be_bytes());
    sockid.extend_from_slice(&[0u8; 36]);
    sockid.extend_from_slice(&[0xff; 8]); // cookie = INET_DIAG_NOCOOKIE
    let mut out = Vec::new();
    match families {
        Families::V4 | Families::V6 => {
            // inet_diag_req_v2: family, protocol, ext, pad, states, id.
            let len = NLMSG_HDRLEN + 56 + attr_len;
            header(&mut out, len, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST | NLM_F_DUMP, seq);
            let family = if families == Families::V6 { AF_INET6 } else { AF_INET };
            out.extend_from_slice(&[family, IPPROTO_TCP, 0, 0]);
            out.extend_from_slice(&states.to_ne_bytes());
            out.extend_from_slice(&sockid);
        }
        Families::Both => {
            // inet_diag_req: family (AF_UNSPEC), src_len, dst_len, ext, id,
            // states, dbs. The protocol is the message type's (TCP).
            let len = NLMSG_HDRLEN + 60 + attr_len;
            header(&mut out, len, TCPDIAG_GETSOCK, NLM_F_REQUEST | NLM_F_DUMP, seq);
            out.extend_from_slice(&[0, 0, 0, 0]);
            out.extend_from_slice(&sockid);
            out.extend_from_slice(&states.to_ne_bytes());
            out.extend_from_slice(&0u32.to_ne_bytes());
        }
    }
    if !bc.is_empty() {
        out.extend_from_slice(&(attr_len as u16).to_ne_bytes());
        out.extend_from_slice(&INET_DIAG_REQ_BYTECODE.to_ne_bytes());
        out.extend_from_slice(&bc);
    }
    out
}

/// Builds an exact lookup (`inet_diag_req_v2` without `NLM_F_DUMP`) of the
/// one TCP socket whose local address is `local` and remote `remote`: the
/// kernel answers from its hash tables (`inet_diag_find_one_icsk`) with a
/// single `SOCK_DIAG_BY_FAMILY` message, or `NLMSG_ERROR` `ENOENT`, instead
/// of walking every bucket of the established table as a dump does. When no
/// established socket has that 4-tuple the kernel's lookup may answer the
/// listener that would receive it: callers check the state and addresses.
pub fn encode_lookup(local: SocketAddr, remote: SocketAddr, seq: u32) -> Vec<u8> {
    let len = NLMSG_HDRLEN + 56;
    let mut out = Vec::with_capacity(len);
    header(&mut out, len, SOCK_DIAG_BY_FAMILY, NLM_F_REQUEST, seq);
    // Both ends are of one family: the one of the socket that connected.
    out.extend_from_slice(&[if local.is_ipv4() { AF_INET } else { AF_INET6 }, IPPROTO_TCP, 0, 0]);
    out.extend_from_slice(&u32::MAX.to_ne_bytes()); // states: not used by a lookup
    out.extend_from_slice(&local.port().to_be_bytes());
    out.extend_from_slice(&remote.port().to_be_bytes());
    out.extend_from_slice(&addr_bytes(&local));
    out.extend_from_slice(&addr_bytes(&remote));
    out.extend_from_slice(&0u32.to_ne_bytes()); // any interface
    out.extend_from_slice(&[0xff; 8]); // cookie = INET_DIAG_NOCOOKIE
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_has_the_sizes_the_kernel_checks() {
        let r = encode_request(Families::V4, 1 << 10, Some(8080), None, 7);
        assert_eq!(r.len(), 16 + 56 + 4 + 16);
        assert_eq!(u32_ne(&r, 0) as usize, r.len());
        assert_eq!((u16_ne(&r, 4), r[16]), (SOCK_DIAG_BY_FAMILY, AF_INET));
        let r = encode_request(Families::V6, 1 << 1, Some(1), Some(2), 7);
        assert_eq!(r.len(), 16 + 56 + 4 + 32);
        // first op of the program: S_GE, yes 8, no = 32 + 4
        assert_eq!(&r[76..80], &[INET_DIAG_BC_S_GE, 8, 36, 0][..]);
        // the ports are in the socket id too, in network order
        assert_eq!(&r[24..28], &[0, 1, 0, 2][..]);
        // Both families: the older request, 60 bytes, family AF_UNSPEC, the
        // socket id first and the states after it.
        let r = encode_request(Families::Both, 1 << 10, Some(8080), None, 7);
        assert_eq!(r.len(), 16 + 60 + 4 + 16);
        assert_eq!(u32_ne(&r, 0) as usize, r.len());
        assert_eq!((u16_ne(&r, 4), r[16]), (TCPDIAG_GETSOCK, 0));
        assert_eq!(&r[20..22], &8080u16.to_be_bytes()[..]);
        assert_eq!(u32_ne(&r, 68), 1 << 10);
        assert_eq!(&r[80..84], &[INET_DIAG_BC_S_GE, 8, 20, 0][..]);
    }

    #[test]
    fn lookup_is_one_request_with_the_whole_four_tuple() {
        let local: SocketAddr = "127.0.0.1:8080".parse().unwrap();
        let remote: SocketAddr = "127.0.0.2:40000".parse().unwrap();
        let r = encode_lookup(local, remote, 9);
        assert_eq!(r.len(), 16 + 56);
        assert_eq!(u32_ne(&r, 0) as usize, r.len());
        assert_eq!(u16_ne(&r, 6), NLM_F_REQUEST, "not a dump");
        assert_eq!(r[16], AF_INET);
        assert_eq!(&r[24..28], &[0x1f, 0x90, 0x9c, 0x40][..]);
        assert_eq!(&r[28..32], &[127, 0, 0, 1][..]);
        assert_eq!(&r[44..48], &[127, 0, 0, 2][..]);
        let six = encode_lookup("[::1]:1".parse().unwrap(), "[::1]:2".parse().unwrap(), 9);
        assert_eq!(six[16], AF_INET6);
        assert_eq!(six[43], 1);
    }

    #[test]
    fn kernel_error_is_an_error_and_foreign_seq_is_refused() {
        let e = sock_diag_messages(&encode_error(1, 2), 1).unwrap_err();
        assert!(e.message.contains("errno 2"), "{e}");
        assert_eq!(e.errno, Some(2));
        assert_eq!(sock_diag_messages(&encode_error(1, 22), 1).unwrap_err().errno, Some(22));
        let e = sock_diag_messages(&encode_done(2), 1).unwrap_err();
        assert_eq!(e.errno, None, "a foreign sequence is ours to refuse, not the kernel's error");
        let b = sock_diag_messages(&encode_done(1), 1).unwrap();
        assert!(b.done && b.entries.is_empty());
    }

    #[test]
    fn a_reply_to_the_older_request_type_is_the_same_message() {
        let e = SockEntry {
            state: 10,
            local: "[::1]:8080".parse().unwrap(),
            remote: "[::]:0".parse().unwrap(),
            uid: 1000,
            inode: 4242,
        };
        let mut msg = encode_inet_diag_msg(&e, 5);
        msg[4..6].copy_from_slice(&TCPDIAG_GETSOCK.to_ne_bytes());
        msg.extend_from_slice(&encode_done(5));
        assert_eq!(sock_diag_messages(&msg, 5).unwrap(), DiagBatch { entries: vec![e], done: true });
        // Any other type is still refused.
        msg[4..6].copy_from_slice(&19u16.to_ne_bytes());
        assert!(sock_diag_messages(&msg, 5).unwrap_err().message.contains("unexpected message type 19"));
    }
}
