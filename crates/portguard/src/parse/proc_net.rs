//! `/proc/net/tcp` and `/proc/net/tcp6` (the fallback source when netlink
//! sock_diag is unavailable). Format: net/ipv4/tcp_ipv4.c `get_tcp4_sock`,
//! net/ipv6/tcp_ipv6.c `get_tcp6_sock`: addresses are the in-memory words
//! printed with `%08X` (so host byte order per 32-bit word), ports `%04X`.

use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};

use super::{ParseError, SockEntry};

const WHAT: &str = "/proc/net/tcp";

/// The header line the kernel prints first (the tcp6 header differs only in
/// spacing; the parser checks for `local_address` alone).
pub fn proc_net_tcp_header() -> &'static str {
    "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
}

/// Parses a whole `/proc/net/tcp` (`v6 = false`) or `/proc/net/tcp6`
/// (`v6 = true`) file.
///
/// # Errors
/// A [`ParseError`] naming the line for a missing header, a line with
/// fewer than 10 fields, or any field that is not what the kernel prints.
pub fn proc_net_tcp(text: &[u8], v6: bool) -> Result<Vec<SockEntry>, ParseError> {
    let text = std::str::from_utf8(text).map_err(|e| ParseError::new(WHAT, 0, format!("not UTF-8: {e}")))?;
    let mut lines = text.lines();
    match lines.next() {
        Some(h) if h.contains("local_address") => {}
        _ => return Err(ParseError::new(WHAT, 1, "missing header line")),
    }
    let mut out = Vec::new();
    for (i, line) in lines.enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        out.push(parse_line(line, v6).map_err(|m| ParseError::new(WHAT, i + 2, m))?);
    }
    Ok(out)
}

fn parse_line(line: &str, v6: bool) -> Result<SockEntry, String> {
    let f: Vec<&str> = line.split_ascii_whitespace().collect();
    if f.len() < 10 {
        return Err(format!("{} fields, need at least 10", f.len()));
    }
    if !f[0].ends_with(':') || f[0][..f[0].len() - 1].parse::<u64>().is_err() {
        return Err(format!("bad slot {:?}", f[0]));
    }
    let local = addr(f[1], v6)?;
    let remote = addr(f[2], v6)?;
    let state = hex_exact(f[3], 2).map_err(|_| format!("bad state {:?}", f[3]))? as u8;
    let uid = f[7].parse::<u32>().map_err(|_| format!("bad uid {:?}", f[7]))?;
    let inode = f[9].parse::<u64>().map_err(|_| format!("bad inode {:?}", f[9]))?;
    Ok(SockEntry { state, local, remote, uid, inode })
}

fn hex_exact(s: &str, digits: usize) -> Result<u32, ()> {
    if s.len() != digits || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(());
    }
    u32::from_str_radix(s, 16).map_err(|_| ())
}

fn addr(s: &str, v6: bool) -> Result<SocketAddr, String> {
    let bad = || format!("bad address {s:?}");
    let (ip, port) = s.split_once(':').ok_or_else(bad)?;
    let port = hex_exact(port, 4).map_err(|_| bad())? as u16;
    if v6 {
        // ASCII checked first: slicing at byte offsets below must not split a character.
        if ip.len() != 32 || !ip.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(bad());
        }
        let mut b = [0u8; 16];
        for w in 0..4 {
            let word = hex_exact(&ip[w * 8..w * 8 + 8], 8).map_err(|_| bad())?;
            b[w * 4..w * 4 + 4].copy_from_slice(&word.to_ne_bytes());
        }
        Ok(SocketAddr::V6(SocketAddrV6::new(Ipv6Addr::from(b), port, 0, 0)))
    } else {
        let word = hex_exact(ip, 8).map_err(|_| bad())?;
        Ok(SocketAddr::V4(SocketAddrV4::new(Ipv4Addr::from(word.to_ne_bytes()), port)))
    }
}

fn fmt_addr(a: &SocketAddr) -> String {
    match a {
        SocketAddr::V4(v4) => format!("{:08X}:{:04X}", u32::from_ne_bytes(v4.ip().octets()), v4.port()),
        SocketAddr::V6(v6) => {
            let o = v6.ip().octets();
            let mut s = String::with_capacity(37);
            for w in 0..4 {
                let word = u32::from_ne_bytes([o[w * 4], o[w * 4 + 1], o[w * 4 + 2], o[w * 4 + 3]]);
                s.push_str(&format!("{word:08X}"));
            }
            s.push_str(&format!(":{:04X}", v6.port()));
            s
        }
    }
}

/// Formats one entry as the kernel prints it at slot `sl` (for round-trip
/// tests and fuzz seeds). `local` and `remote` must be of the same family.
pub fn format_proc_net_tcp_line(sl: usize, e: &SockEntry) -> String {
    format!(
        "{sl:4}: {} {} {:02X} 00000000:00000000 00:00000000 00000000 {:5}        0 {} 1 0000000000000000 100 0 0 10 0\n",
        fmt_addr(&e.local),
        fmt_addr(&e.remote),
        e.state,
        e.uid,
        e.inode
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_real_looking_line() {
        // 127.0.0.1:8080 listening, on a little-endian host.
        let word = u32::from_ne_bytes([127, 0, 0, 1]);
        let text = format!(
            "{}   0: {word:08X}:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000  1000        0 4242 1 0 100 0 0 10 0\n",
            proc_net_tcp_header()
        );
        let e = proc_net_tcp(text.as_bytes(), false).unwrap();
        assert_eq!(e.len(), 1);
        assert_eq!(e[0].local, "127.0.0.1:8080".parse().unwrap());
        assert_eq!((e[0].state, e[0].uid, e[0].inode), (10, 1000, 4242));
        assert!(proc_net_tcp(b"garbage\n", false).is_err());
    }

    #[test]
    fn multibyte_address_is_refused_not_a_panic() {
        // Found by the proc_net_tcp fuzz target: 32 bytes that are not 32
        // characters used to split a UTF-8 character when sliced.
        let text = format!(
            "{}   0: {}:0000 {}:0000 0A 0:0 0:0 0 0 0 1\n",
            proc_net_tcp_header(),
            "\u{e9}".repeat(16),
            "0".repeat(32)
        );
        assert!(proc_net_tcp(text.as_bytes(), true).is_err());
    }
}
