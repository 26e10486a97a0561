//! `/proc/PID/stat` (proc(5)): `pid (comm) state ppid ... starttime ...`.
//!
//! `comm` is chosen by the process (prctl `PR_SET_NAME`) and may contain
//! spaces, parentheses and `)`; it ends at the *last* `)` of the line,
//! since no later field can contain one.

use std::fmt;

const WHAT: &str = "/proc/PID/stat";

/// The fields of `/proc/PID/stat` that gw uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcStat {
    /// Field 1: the process id.
    pub pid: u32,
    /// Field 2: the command name, without the parentheses (raw bytes).
    pub comm: Vec<u8>,
    /// Field 3: the state letter (`R`, `S`, `Z`, ...).
    pub state: u8,
    /// Field 4: the parent's pid (0 for pid 1 and kernel threads' parent).
    pub ppid: u32,
    /// Field 9: the kernel's `PF_*` flags of the process (include/linux/sched.h).
    pub flags: u32,
    /// Field 22: start time after boot, in clock ticks. With the pid it
    /// identifies one process across pid reuse.
    pub start_time: u64,
}

impl ProcStat {
    /// `PF_KTHREAD`: the process is a kernel thread. Only the kernel sets it.
    pub const PF_KTHREAD: u32 = 0x0020_0000;

    /// Whether this is a kernel thread (field 9 has `PF_KTHREAD`).
    pub fn is_kernel_thread(&self) -> bool {
        self.flags & Self::PF_KTHREAD != 0
    }

    /// The command name as text (lossy).
    pub fn comm_lossy(&self) -> String {
        String::from_utf8_lossy(&self.comm).into_owned()
    }
}

/// Why [`parse_stat`] refused its input: the byte offset and what was wrong.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset of the problem.
    pub at: usize,
    /// What was wrong there.
    pub message: String,
}

impl ParseError {
    #[cold]
    fn new(at: usize, message: impl Into<String>) -> Self {
        Self { at, message: message.into() }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{WHAT} at {}: {}", self.at, self.message)
    }
}

impl std::error::Error for ParseError {}

/// Parses `/proc/PID/stat`.
///
/// # Errors
/// A [`ParseError`] when the input is longer than 4096 bytes, lacks the
/// `pid (comm)` frame, has fewer than 22 fields, or a used field is not a
/// number.
pub fn parse_stat(buf: &[u8]) -> Result<ProcStat, ParseError> {
    if buf.len() > 4096 {
        return Err(ParseError::new(4096, "longer than 4096 bytes"));
    }
    let open = buf.iter().position(|&b| b == b'(').ok_or_else(|| ParseError::new(0, "no '('"))?;
    let close = buf.iter().rposition(|&b| b == b')').ok_or_else(|| ParseError::new(0, "no ')'"))?;
    if close < open || open < 2 || buf[open - 1] != b' ' {
        return Err(ParseError::new(open, "malformed 'pid (comm)'"));
    }
    let pid = num(&buf[..open - 1], 0)?;
    let comm = buf[open + 1..close].to_vec();
    let rest = &buf[close + 1..];
    if rest.first() != Some(&b' ') {
        return Err(ParseError::new(close + 1, "expected ' ' after comm"));
    }
    let fields: Vec<&[u8]> = rest[1..].split(|&b| b == b' ').collect();
    // fields[0] is field 3 (state); field N is fields[N - 3].
    if fields.len() < 20 {
        return Err(ParseError::new(close + 1, format!("{} fields after comm, need 20", fields.len())));
    }
    let state = match fields[0] {
        [s] if s.is_ascii_alphabetic() => *s,
        _ => return Err(ParseError::new(close + 2, "bad state")),
    };
    let ppid = num(fields[1], close + 2)?;
    let flags = num(fields[6], close + 2)?;
    let start_time = num(trim_nl(fields[19]), close + 2)?;
    Ok(ProcStat {
        pid: u32::try_from(pid).map_err(|_| ParseError::new(0, "pid too large"))?,
        comm,
        state,
        ppid: u32::try_from(ppid).map_err(|_| ParseError::new(close + 2, "ppid too large"))?,
        flags: u32::try_from(flags).map_err(|_| ParseError::new(close + 2, "flags too large"))?,
        start_time,
    })
}

fn trim_nl(b: &[u8]) -> &[u8] {
    b.strip_suffix(b"\n").unwrap_or(b)
}

fn num(b: &[u8], at: usize) -> Result<u64, ParseError> {
    if b.is_empty() || b.len() > 20 || !b.iter().all(u8::is_ascii_digit) {
        return Err(ParseError::new(at, format!("not a number: {:?}", String::from_utf8_lossy(b))));
    }
    std::str::from_utf8(b).ok().and_then(|s| s.parse().ok()).ok_or_else(|| ParseError::new(at, "number out of range"))
}

/// Formats a stat line as the kernel would (for round-trip tests and seeds).
pub fn format_stat(s: &ProcStat) -> Vec<u8> {
    let mut out = format!("{} (", s.pid).into_bytes();
    out.extend_from_slice(&s.comm);
    out.extend_from_slice(
        format!(
            ") {} {} {} {} 0 -1 {} 120 0 0 0 3 1 0 0 20 0 1 0 {} 12345678 345 18446744073709551615 1 1 0 0 0 0 0 0 0 0 0 0 17 1 0 0 0 0 0\n",
            s.state as char, s.ppid, s.pid, s.pid, s.flags, s.start_time
        )
        .as_bytes(),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kernel_threads_are_told_by_their_flag_and_names_are_shown_lossily() {
        let s = ProcStat {
            pid: 2,
            comm: b"kthreadd".to_vec(),
            state: b'S',
            ppid: 0,
            flags: ProcStat::PF_KTHREAD | 0x40,
            start_time: 0,
        };
        assert!(s.is_kernel_thread());
        assert!(!ProcStat { flags: 0x0040_0140, ..s.clone() }.is_kernel_thread(), "PF_KTHREAD's neighbours");
        assert_eq!(s.comm_lossy(), "kthreadd");
        assert_eq!(ProcStat { comm: b"a\xffb".to_vec(), ..s }.comm_lossy(), "a\u{fffd}b");
    }

    /// Each malformed line is refused with the byte offset and the reason.
    #[test]
    fn malformed_lines_are_refused_saying_where_and_why() {
        let s = ProcStat { pid: 42, comm: b"sh".to_vec(), state: b'S', ppid: 7, flags: 64, start_time: 99 };
        let good = String::from_utf8(format_stat(&s)).unwrap();
        assert!(good.starts_with("42 (sh) S 7 "), "{good}");
        // The line with field `n` (1-based, after the comm) set to `v`.
        let with_field = |n: usize, v: &str| -> String {
            let (head, tail) = good.split_once(") ").unwrap();
            let mut fields: Vec<&str> = tail.split(' ').collect();
            fields[n - 3] = v;
            format!("{head}) {}", fields.join(" "))
        };
        let first_21: String = good.split(' ').take(21).collect::<Vec<_>>().join(" ");
        let too_long = |len: usize| {
            let comm = "c".repeat(len - good.len() + 2);
            good.replacen("(sh)", &format!("({comm})"), 1)
        };
        let cases: Vec<(String, usize, &str)> = vec![
            (good.replacen('(', "", 1), 0, "no '('"),
            (good.replacen(')', "", 1), 0, "no ')'"),
            (good.replacen("(sh)", ") (sh", 1), 5, "malformed 'pid (comm)'"),
            (good.replacen("42 (", "42(", 1), 2, "malformed 'pid (comm)'"),
            (good.replacen("42 (", "(", 1), 0, "malformed 'pid (comm)'"),
            (good.replacen("(sh) ", "(sh)", 1), 7, "expected ' ' after comm"),
            (first_21, 7, "19 fields after comm, need 20"),
            (with_field(3, "SS"), 8, "bad state"),
            (with_field(3, "1"), 8, "bad state"),
            (with_field(4, "x"), 8, "not a number: \"x\""),
            (with_field(4, ""), 8, "not a number: \"\""),
            (with_field(4, &"1".repeat(21)), 8, "not a number"),
            (with_field(4, &"9".repeat(20)), 8, "number out of range"),
            (with_field(4, "4294967296"), 8, "ppid too large"),
            (with_field(9, "-1"), 8, "not a number: \"-1\""),
            (with_field(9, "4294967296"), 8, "flags too large"),
            (with_field(22, "+99"), 8, "not a number: \"+99\""),
            (good.replacen("42 (", "4294967296 (", 1), 0, "pid too large"),
            (good.replacen("42 (", "x (", 1), 0, "not a number: \"x\""),
            (too_long(4097), 4096, "longer than 4096 bytes"),
        ];
        for (line, at, why) in cases {
            let e = parse_stat(line.as_bytes()).expect_err(&line);
            assert!(e.at == at && e.message.starts_with(why), "{line:?}: {e:?}, want {why} at {at}");
            assert_eq!(e.to_string(), format!("/proc/PID/stat at {at}: {}", e.message));
        }
        let first_22: String = good.split(' ').take(22).collect::<Vec<_>>().join(" ");
        assert_eq!(parse_stat(first_22.as_bytes()).unwrap().start_time, 99, "a line ending at field 22");
        let at_limit = too_long(4096);
        assert_eq!(at_limit.len(), 4096);
        assert_eq!(parse_stat(at_limit.as_bytes()).unwrap().ppid, 7, "4096 bytes are read");
        assert_eq!(parse_stat(with_field(4, &"9".repeat(10)).as_bytes()).unwrap_err().message, "ppid too large");
        assert_eq!(parse_stat(with_field(22, &u64::MAX.to_string()).as_bytes()).unwrap().start_time, u64::MAX);
    }

    #[test]
    fn comm_with_parens_and_spaces() {
        let s =
            ProcStat { pid: 42, comm: b"a) (b ) c".to_vec(), state: b'S', ppid: 7, flags: 4194560, start_time: 123456 };
        assert_eq!(parse_stat(&format_stat(&s)).unwrap(), s);
        assert_eq!(parse_stat(&std::fs::read("/proc/self/stat").unwrap()).unwrap().pid, std::process::id());
    }
}
