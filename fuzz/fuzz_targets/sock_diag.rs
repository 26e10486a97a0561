//! Fuzz target: the NETLINK_SOCK_DIAG reply parser,
//! `gw_portguard::parse::sock_diag_messages`.
//!
//! Input: 4 bytes of sequence number (little-endian), then the reply bytes.
//! Properties:
//! - it never panics, whatever the lengths, types and families claim;
//! - an accepted reply holds at most one entry per 88 bytes (header +
//!   inet_diag_msg), and `done` only if an NLMSG_DONE/ERROR was present;
//! - every entry re-encodes (as the kernel would) to a message that parses
//!   back to the same entry (ports, addresses, uid, inode, state, family);
//! - a reply accepted for `seq` is refused for any other sequence number,
//!   unless it holds no message at all.
#![no_main]

use gw_portguard::parse::{encode_done, encode_inet_diag_msg, sock_diag_messages};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if data.len() < 4 {
        return;
    }
    let seq = u32::from_le_bytes([data[0], data[1], data[2], data[3]]);
    let buf = &data[4..];
    let Ok(batch) = sock_diag_messages(buf, seq) else { return };
    assert!(batch.entries.len() <= buf.len() / 88, "more entries than room for them");
    if batch.done {
        assert!(buf.len() >= 16);
    }
    for e in &batch.entries {
        assert_eq!(e.local.is_ipv4(), e.remote.is_ipv4(), "one family per socket");
        assert!(e.inode <= u64::from(u32::MAX));
        let mut again = encode_inet_diag_msg(e, seq);
        again.extend_from_slice(&encode_done(seq));
        let b = sock_diag_messages(&again, seq).expect("re-encoded entry parses");
        assert_eq!(b.entries, vec![*e]);
        assert!(b.done);
    }
    if !buf.is_empty() {
        assert!(sock_diag_messages(buf, seq.wrapping_add(1)).is_err(), "foreign sequence accepted");
    }
});
