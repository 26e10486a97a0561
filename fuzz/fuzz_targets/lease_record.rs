//! Fuzz target: the gw-lease record parser, `gw_lease::parse_record`, and
//! the `/proc/PID/stat` parser, `gw_lease::parse_proc_stat`, on arbitrary
//! bytes.
//!
//! Properties:
//! - neither parser panics;
//! - an accepted record validates, its id is a valid record id (so its file
//!   name matches the record pattern), its pid is in 1..=PID_MAX, and it
//!   round-trips: `to_bytes` → `parse_record` gives it back unchanged;
//! - an accepted record is a JSON object that plain serde_json reads with the
//!   same fields (the strict parser never invents or drops a field), and
//!   every refusal is `Malformed` (never an I/O or other kind);
//! - `parse_proc_stat` (gw-procfs's parser) accepts only a line with `(`
//!   before the last `)`, and its state and start time are fields 3 and 22
//!   counted by single spaces from that `)` (a `comm` holding `) Z 1 (`
//!   cannot shift the fields).
//!
//! `GW_FUZZ_DEBUG=1` prints each result.
#![no_main]

use gw_lease::{ErrorKind, PID_MAX, is_valid_id, parse_proc_stat, parse_record};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let result = parse_record(data);
    if std::env::var_os("GW_FUZZ_DEBUG").is_some() {
        eprintln!("{result:?}");
    }
    match result {
        Ok(rec) => {
            rec.validate().expect("an accepted record validates");
            assert!(is_valid_id(&rec.id) && rec.pid >= 1 && rec.pid <= PID_MAX);
            let bytes = rec.to_bytes().expect("render an accepted record");
            assert_eq!(parse_record(&bytes).expect("the rendered record re-parses"), rec);
            let plain: serde_json::Value = serde_json::from_slice(data).expect("plain serde_json reads it");
            let obj = plain.as_object().expect("a record is an object");
            assert_eq!(obj.get("id").and_then(|v| v.as_str()), Some(rec.id.as_str()));
            assert_eq!(obj.get("pid").and_then(|v| v.as_u64()), Some(u64::from(rec.pid)));
            assert_eq!(obj.get("start_time").and_then(|v| v.as_u64()), Some(rec.start_time));
            assert_eq!(obj.get("nonce").and_then(|v| v.as_str()), Some(rec.nonce.as_str()));
        }
        Err(e) => assert_eq!(e.kind(), ErrorKind::Malformed, "{e}"),
    }

    if let Some(st) = parse_proc_stat(data) {
        let close = data.iter().rposition(|&b| b == b')').expect("accepted without `)`");
        let open = data.iter().position(|&b| b == b'(').expect("accepted without `(`");
        assert!(open < close);
        // The kernel separates fields by one space (proc(5)).
        let after = data[close + 1..].strip_prefix(b" ").expect("a space after `)`");
        let fields: Vec<&[u8]> = after.split(|&b| b == b' ').collect();
        assert_eq!(fields[0], [st.state]);
        let start = fields[19].strip_suffix(b"\n").unwrap_or(fields[19]);
        assert_eq!(std::str::from_utf8(start).ok().and_then(|f| f.parse().ok()), Some(st.start_time));
    }
});
