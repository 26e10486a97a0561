//! Decoding macOS's `socket_fdinfo` (what `proc_pidfdinfo` with
//! `PROC_PIDFDSOCKETINFO` returns) from bytes, in safe code: the part of
//! the Darwin source (`darwin.rs`) that needs no Mac, so it is compiled and
//! tested on every platform.
#![cfg_attr(not(target_os = "macos"), allow(dead_code))]

/// Where the fields a portguard check needs sit in the kernel's
/// `socket_fdinfo` (`<sys/proc_info.h>`), as bytes. On macOS they are
/// computed with `offset_of!` from libproc-rs's own `#[repr(C)]` mirror of
/// that struct, so they follow whatever libproc-rs reads; tests use any
/// layout.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SockOffsets {
    pub(crate) so: usize,
    pub(crate) kind: usize,
    pub(crate) tcp_state: usize,
    pub(crate) lport: usize,
    pub(crate) vflag: usize,
    pub(crate) laddr: usize,
}

/// `SOCKINFO_TCP` (`soi_kind`).
const SOCKINFO_TCP: i32 = 2;
/// `TCPS_LISTEN`.
const TCPS_LISTEN: i32 = 1;
/// `INP_IPV4` (`insi_vflag`): the address is IPv4 (in the last 4 of 16 bytes).
const INP_IPV4: u8 = 0x1;

/// A listening TCP socket found among a process's descriptors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct SockSeen {
    /// The socket's kernel id (`soi_so`): the same for every descriptor of
    /// this socket in every process while it exists (an obfuscated kernel
    /// address, so a closed socket's id can come back for a new socket
    /// later, not while both exist). It proves "these descriptors are one
    /// socket", nothing about who created it.
    pub(crate) id: u64,
    /// Local address and port.
    pub(crate) local: std::net::SocketAddr,
}

fn bytes_at<const N: usize>(b: &[u8], at: usize) -> Option<[u8; N]> {
    b.get(at..at.checked_add(N)?)?.try_into().ok()
}

/// Decodes one `socket_fdinfo` (as bytes): `Some` only for a TCP socket in
/// LISTEN state. `None` for anything else, and for a buffer too short for
/// the layout (never read past it).
pub(crate) fn decode_listener(b: &[u8], o: &SockOffsets) -> Option<SockSeen> {
    let int = |at| bytes_at::<4>(b, at).map(i32::from_ne_bytes);
    if int(o.kind)? != SOCKINFO_TCP || int(o.tcp_state)? != TCPS_LISTEN {
        return None;
    }
    let id = u64::from_ne_bytes(bytes_at::<8>(b, o.so)?);
    // `insi_lport` is the kernel's `inp_lport` (network byte order) in an int.
    let port = u16::from_be_bytes((int(o.lport)? as u16).to_ne_bytes());
    let addr: [u8; 16] = bytes_at(b, o.laddr)?;
    let ip: std::net::IpAddr = if b.get(o.vflag)? & INP_IPV4 != 0 {
        std::net::Ipv4Addr::new(addr[12], addr[13], addr[14], addr[15]).into()
    } else {
        std::net::Ipv6Addr::from(addr).into()
    };
    Some(SockSeen { id, local: std::net::SocketAddr::new(ip, port) })
}

#[cfg(test)]
mod tests {
    use super::*;

    const O: SockOffsets = SockOffsets { so: 8, kind: 16, tcp_state: 20, lport: 24, vflag: 28, laddr: 32 };

    fn info(kind: i32, state: i32, port: u16, vflag: u8, addr: [u8; 16]) -> Vec<u8> {
        let mut b = vec![0u8; 64];
        b[8..16].copy_from_slice(&0xfeed_beef_u64.to_ne_bytes());
        b[16..20].copy_from_slice(&kind.to_ne_bytes());
        b[20..24].copy_from_slice(&state.to_ne_bytes());
        // the kernel's network-order port, widened to an int
        let net = i32::from(u16::from_ne_bytes(port.to_be_bytes()));
        b[24..28].copy_from_slice(&net.to_ne_bytes());
        b[28] = vflag;
        b[32..48].copy_from_slice(&addr);
        b
    }

    #[test]
    fn tcp_listeners_are_decoded_with_port_and_address() {
        let mut v4 = [0u8; 16];
        v4[12..].copy_from_slice(&[127, 0, 0, 1]);
        let got = decode_listener(&info(2, 1, 18789, INP_IPV4, v4), &O).unwrap();
        assert_eq!(got, SockSeen { id: 0xfeed_beef, local: "127.0.0.1:18789".parse().unwrap() });
        let v6 = std::net::Ipv6Addr::LOCALHOST.octets();
        let got = decode_listener(&info(2, 1, 443, 0x2, v6), &O).unwrap();
        assert_eq!(got.local, "[::1]:443".parse().unwrap());
    }

    #[test]
    fn anything_but_a_tcp_listener_is_none() {
        let a = [0u8; 16];
        assert_eq!(decode_listener(&info(2, 4, 80, INP_IPV4, a), &O), None, "established");
        assert_eq!(decode_listener(&info(1, 1, 80, INP_IPV4, a), &O), None, "not TCP (SOCKINFO_IN)");
        assert_eq!(decode_listener(&info(3, 1, 80, INP_IPV4, a), &O), None, "unix socket");
        // a buffer shorter than the layout is never read past its end
        let b = info(2, 1, 80, INP_IPV4, a);
        for len in 0..48 {
            assert_eq!(decode_listener(&b[..len], &O), None, "{len}");
        }
    }
}
