//! Round-trips of the `/proc/PID/stat` parser: what the kernel's format
//! (the encoder) produces, the parser reads back exactly; a line cut before
//! field 22 ends is refused, never a panic.

use gw_procfs::{ProcStat, format_stat, parse_stat};
use proptest::prelude::*;

proptest! {
    #[test]
    fn proc_stat_round_trips(
        pid in 1u32..4_194_304,
        comm in proptest::collection::vec(any::<u8>(), 0..64),
        state in prop::sample::select(b"RSDZTtXIK".to_vec()),
        ppid in 0u32..4_194_304,
        flags in any::<u32>(),
        start_time in any::<u64>(),
    ) {
        let s = ProcStat { pid, comm, state, ppid, flags, start_time };
        prop_assert_eq!(parse_stat(&format_stat(&s)).unwrap(), s.clone());
        // Cut before field 22 ends: refused.
        let line = format_stat(&s);
        let close = line.iter().rposition(|&b| b == b')').unwrap();
        prop_assert!(parse_stat(&line[..close + 20]).is_err());
    }
}
