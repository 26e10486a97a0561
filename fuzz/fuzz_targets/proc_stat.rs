//! Fuzz target: the `/proc/PID/stat` parser, `gw_procfs::parse_stat` (the
//! one parser gw-portguard and gw-lease share).
//!
//! Properties, against a model of proc(5):
//! - it never panics;
//! - an accepted line's comm is exactly the bytes between the first `(` and
//!   the last `)` (comm may hold spaces and parentheses);
//! - the pid is the decimal number before ` (`;
//! - formatting the result the way the kernel does parses back to it.
#![no_main]

use gw_procfs::{format_stat, parse_stat};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(s) = parse_stat(data) else { return };
    let open = data.iter().position(|&b| b == b'(').expect("accepted without '('");
    let close = data.iter().rposition(|&b| b == b')').expect("accepted without ')'");
    assert_eq!(&data[open + 1..close], &s.comm[..]);
    assert_eq!(std::str::from_utf8(&data[..open - 1]).ok().and_then(|p| p.parse::<u32>().ok()), Some(s.pid));
    assert!(s.state.is_ascii_alphabetic());
    assert_eq!(parse_stat(&format_stat(&s)).expect("formatted stat parses"), s);
});
