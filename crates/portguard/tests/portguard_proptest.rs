//! Round-trips of gw-portguard's kernel-format parsers: what the encoder
//! (written to the kernel's format) produces, the parser reads back
//! exactly; truncations and corruptions are refused, never a panic.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

use gw_portguard::parse::{
    SockEntry, encode_done, encode_inet_diag_msg, format_proc_net_tcp_line, proc_net_tcp, proc_net_tcp_header,
    sock_diag_messages,
};
use proptest::prelude::*;

fn entry(v6: bool) -> impl Strategy<Value = SockEntry> {
    let ip = move || {
        if v6 {
            any::<[u8; 16]>().prop_map(|b| IpAddr::V6(Ipv6Addr::from(b))).boxed()
        } else {
            any::<[u8; 4]>().prop_map(|b| IpAddr::V4(Ipv4Addr::from(b))).boxed()
        }
    };
    (1u8..=12, ip(), any::<u16>(), ip(), any::<u16>(), any::<u32>(), any::<u32>()).prop_map(
        |(state, l, lp, r, rp, uid, inode)| SockEntry {
            state,
            local: SocketAddr::new(l, lp),
            remote: SocketAddr::new(r, rp),
            uid,
            inode: u64::from(inode),
        },
    )
}

fn entries() -> impl Strategy<Value = (bool, Vec<SockEntry>)> {
    any::<bool>().prop_flat_map(|v6| (Just(v6), proptest::collection::vec(entry(v6), 0..20)))
}

proptest! {
    #[test]
    fn proc_net_tcp_round_trips((v6, es) in entries()) {
        let mut text = proc_net_tcp_header().to_owned();
        for (i, e) in es.iter().enumerate() {
            text.push_str(&format_proc_net_tcp_line(i, e));
        }
        prop_assert_eq!(proc_net_tcp(text.as_bytes(), v6).unwrap(), es.clone());
        // The other family's parser refuses it (address widths differ).
        if !es.is_empty() {
            prop_assert!(proc_net_tcp(text.as_bytes(), !v6).is_err());
        }
    }

    #[test]
    fn sock_diag_round_trips((_v6, es) in entries(), seq in any::<u32>(), cut in any::<prop::sample::Index>()) {
        let mut buf = Vec::new();
        for e in &es {
            buf.extend_from_slice(&encode_inet_diag_msg(e, seq));
        }
        buf.extend_from_slice(&encode_done(seq));
        let batch = sock_diag_messages(&buf, seq).unwrap();
        prop_assert!(batch.done);
        prop_assert_eq!(&batch.entries, &es);
        // Another sequence number is refused; so is any truncation that cuts a message.
        prop_assert!(sock_diag_messages(&buf, seq.wrapping_add(1)).is_err());
        let at = cut.index(buf.len());
        let truncated = &buf[..at];
        let msg = 16 + 72;
        match sock_diag_messages(truncated, seq) {
            Ok(b) => {
                prop_assert_eq!(at % msg, 0, "only whole messages parse");
                prop_assert_eq!(&b.entries[..], &es[..at / msg]);
                prop_assert!(!b.done);
            }
            Err(_) => prop_assert!(at % msg != 0 || at / msg > es.len()),
        }
    }
}
