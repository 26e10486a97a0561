//! Fuzz target: the `/proc/net/tcp{,6}` parser,
//! `gw_portguard::parse::proc_net_tcp`.
//!
//! Input: one byte choosing the family (odd = tcp6), then the file.
//! Properties:
//! - it never panics;
//! - an accepted file yields at most one entry per non-empty line after the
//!   header, each of the chosen family;
//! - every entry, formatted the way the kernel prints it, parses back to
//!   the same entry (addresses keep their in-memory byte order).
#![no_main]

use gw_portguard::parse::{format_proc_net_tcp_line, proc_net_tcp, proc_net_tcp_header};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Some((&flag, text)) = data.split_first() else { return };
    let v6 = flag & 1 == 1;
    let Ok(entries) = proc_net_tcp(text, v6) else { return };
    let lines = text.split(|&b| b == b'\n').skip(1).filter(|l| !l.iter().all(u8::is_ascii_whitespace)).count();
    assert!(entries.len() <= lines, "{} entries from {lines} lines", entries.len());
    let mut again = proc_net_tcp_header().to_owned();
    for (i, e) in entries.iter().enumerate() {
        assert_eq!(e.local.is_ipv6(), v6);
        assert_eq!(e.remote.is_ipv6(), v6);
        again.push_str(&format_proc_net_tcp_line(i, e));
    }
    assert_eq!(proc_net_tcp(again.as_bytes(), v6).expect("formatted entries parse"), entries);
});
