//! The record: what a registration says about its process, its file name,
//! and the strict parser for record files.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

/// The record format version this crate writes and reads.
pub const FORMAT_VERSION: u32 = 1;
/// The largest record file read (checked before parsing).
pub const MAX_RECORD_BYTES: u64 = 64 * 1024;
/// The largest caller payload, serialized.
pub const MAX_PAYLOAD_BYTES: usize = 16 * 1024;
/// The deepest payload nesting accepted.
pub const MAX_PAYLOAD_DEPTH: usize = 16;
/// The longest id.
pub const MAX_ID_LEN: usize = 64;
/// Linux's `PID_MAX_LIMIT` (2^22): no pid is larger.
pub const PID_MAX: u32 = 1 << 22;
/// The suffix of record file names.
pub const RECORD_SUFFIX: &str = ".json";

/// A liveness record, as stored in `<id>.json`.
///
/// The process is named by `pid` **and** `start_time` **and** `boot_id`, so
/// a recycled pid or a reboot is recognised (LEASE-3); `pid_namespace` says
/// in which pid namespace `pid` means something (LEASE-5), or is `null`
/// where the platform has no pid namespaces (macOS).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Format version ([`FORMAT_VERSION`]).
    pub version: u32,
    /// The record's id (also its file name, `<id>.json`).
    pub id: String,
    /// The process id, in the pid namespace `pid_namespace`.
    pub pid: u32,
    /// The process start time: on Linux clock ticks after boot
    /// (`/proc/PID/stat` field 22), on macOS microseconds since the Unix
    /// epoch (`kinfo_proc` `p_starttime`); compared only within one boot.
    pub start_time: u64,
    /// The kernel boot id when registered: Linux
    /// `/proc/sys/kernel/random/boot_id`, macOS `kern.bootsessionuuid`
    /// (lowercased).
    pub boot_id: String,
    /// The inode of the pid namespace the pid belongs to (`/proc/PID/ns/pid`),
    /// or `null` where the platform has no pid namespaces (macOS). Always
    /// present in the file: a missing field is malformed, never taken for
    /// "no namespace".
    #[serde(deserialize_with = "present_option")]
    pub pid_namespace: Option<u64>,
    /// The process's real uid.
    pub uid: u32,
    /// An optional port the process serves.
    #[serde(default)]
    pub port: Option<u16>,
    /// When the record was written (ms since the Unix epoch).
    pub created_unix_ms: u64,
    /// When the record expires (ms since the Unix epoch); `None`: never.
    #[serde(default)]
    pub expires_unix_ms: Option<u64>,
    /// 128 random bits in hex: which registration wrote this record (a guard
    /// removes a record only if the nonce is its own).
    pub nonce: String,
    /// The caller's payload (any JSON, at most [`MAX_PAYLOAD_BYTES`]).
    #[serde(default)]
    pub payload: Value,
}

/// An `Option` field that must be present (`null` allowed): serde fills a
/// missing `Option` with `None` unless it is deserialized by a function.
fn present_option<'de, D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Option<u64>, D::Error> {
    Option::<u64>::deserialize(d)
}

/// Whether `id` is a valid record id: `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`.
///
/// The first character is never `.`, so temporaries (`.gw-tmp.*`) and the
/// lock file (`.lock`) can never be taken for records.
pub fn is_valid_id(id: &str) -> bool {
    let b = id.as_bytes();
    !b.is_empty()
        && b.len() <= MAX_ID_LEN
        && b[0].is_ascii_alphanumeric()
        && b.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'.' | b'_' | b'-'))
}

/// Checks `id`.
///
/// # Errors
/// [`ErrorKind::InvalidId`] naming the rule.
pub fn check_id(id: &str) -> Result<()> {
    if is_valid_id(id) {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::InvalidId,
        "check id",
        "-",
        format!(
            "invalid record id {:?}: ids are 1-{MAX_ID_LEN} characters of A-Z a-z 0-9 . _ -, starting with a \
             letter or digit",
            id.chars().take(80).collect::<String>()
        ),
    ))
}

/// The file name of record `id`.
pub fn file_name(id: &str) -> String {
    format!("{id}{RECORD_SUFFIX}")
}

/// The id a file name stands for, if it matches the record name pattern
/// `<id>.json`.
pub fn id_from_file_name(name: &str) -> Option<&str> {
    let id = name.strip_suffix(RECORD_SUFFIX)?;
    is_valid_id(id).then_some(id)
}

/// Checks a payload: JSON of at most [`MAX_PAYLOAD_BYTES`] serialized and
/// [`MAX_PAYLOAD_DEPTH`] deep.
///
/// # Errors
/// [`ErrorKind::InvalidPayload`].
pub fn check_payload(payload: &Value) -> Result<()> {
    let len = serde_json::to_vec(payload).map(|v| v.len()).unwrap_or(usize::MAX);
    if len > MAX_PAYLOAD_BYTES {
        return Err(Error::new(
            ErrorKind::InvalidPayload,
            "check payload",
            "-",
            format!("the payload is {len} bytes serialized; the limit is {MAX_PAYLOAD_BYTES}"),
        )
        .with_fix("store a reference (a path, a URL) in the payload rather than the data"));
    }
    if gw_persist::nesting_depth(payload) > MAX_PAYLOAD_DEPTH {
        return Err(Error::new(
            ErrorKind::InvalidPayload,
            "check payload",
            "-",
            format!("the payload nests deeper than {MAX_PAYLOAD_DEPTH} levels"),
        ));
    }
    Ok(())
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
}

/// Whether `s` looks like a kernel boot id (a lowercase UUID, 36 characters).
pub fn is_valid_boot_id(s: &str) -> bool {
    s.len() == 36
        && s.bytes().enumerate().all(|(i, c)| {
            if matches!(i, 8 | 13 | 18 | 23) { c == b'-' } else { c.is_ascii_hexdigit() && !c.is_ascii_uppercase() }
        })
}

impl Record {
    /// Checks every field's range and charset.
    ///
    /// # Errors
    /// [`ErrorKind::Malformed`] naming the field.
    pub fn validate(&self) -> Result<()> {
        let bad = |field: &str, why: &str| {
            Err(Error::new(ErrorKind::Malformed, "parse record", "-", format!("field `{field}`: {why}")))
        };
        if self.version != FORMAT_VERSION {
            return bad("version", &format!("unsupported version {} (this gw reads {FORMAT_VERSION})", self.version));
        }
        if !is_valid_id(&self.id) {
            return bad("id", "not a valid record id");
        }
        if self.pid == 0 || self.pid > PID_MAX {
            return bad("pid", &format!("out of range (1..={PID_MAX})"));
        }
        if !is_valid_boot_id(&self.boot_id) {
            return bad("boot_id", "not a boot id (a lowercase UUID)");
        }
        if !is_hex(&self.nonce, 32) {
            return bad("nonce", "not 32 lowercase hex digits");
        }
        if check_payload(&self.payload).is_err() {
            return bad("payload", "too large or too deep");
        }
        Ok(())
    }

    /// The record as the bytes of its file (pretty JSON, trailing newline),
    /// refused if [`parse_record`] would refuse them: a payload within
    /// [`MAX_PAYLOAD_BYTES`] compact can exceed [`MAX_RECORD_BYTES`] once
    /// pretty-printed at depth.
    ///
    /// # Errors
    /// [`ErrorKind::Malformed`] if the record does not validate;
    /// [`ErrorKind::InvalidPayload`] if the file would be larger than its
    /// reader reads (nothing is written).
    ///
    /// # Security
    /// THREATS DOC-3 (nothing is written that the reader refuses).
    pub fn to_bytes(&self) -> Result<Vec<u8>> {
        self.validate()?;
        let render = |e: serde_json::Error| Error::new(ErrorKind::Malformed, "render record", "-", e.to_string());
        let mut out = serde_json::to_vec_pretty(self).map_err(render)?;
        out.push(b'\n');
        let value = serde_json::to_value(self).map_err(render)?;
        gw_persist::Format::Json.check_loadable(&value, &out, &record_limits()).map_err(|e| {
            Error::new(ErrorKind::InvalidPayload, "render record", "-", e.message().to_owned())
                .with_fix("store a reference (a path, a URL) in the payload rather than the data, or nest it less")
        })?;
        Ok(out)
    }

    /// Whether the record has expired at `now_unix_ms`.
    pub fn is_expired(&self, now_unix_ms: u64) -> bool {
        self.expires_unix_ms.is_some_and(|e| e <= now_unix_ms)
    }
}

/// Parses a record file strictly: gw-persist's JSON parser (size limit
/// before parsing, depth limit, duplicate keys refused, invalid UTF-8, BOM
/// and trailing data refused), then no unknown or missing field, then every
/// field's range ([`Record::validate`]).
///
/// # Errors
/// [`ErrorKind::Malformed`] with what is wrong (and the line and column for
/// syntax errors).
///
/// # Security
/// THREATS CLI-2: a hostile record file is reported, never half-understood.
pub fn parse_record(bytes: &[u8]) -> Result<Record> {
    let value = gw_persist::parse_json(bytes, &record_limits()).map_err(|e| {
        let at = e.position().map(|(l, c)| format!(" at line {l} column {c}")).unwrap_or_default();
        Error::new(ErrorKind::Malformed, "parse record", "-", format!("{}{at}", e.message()))
    })?;
    let record: Record = serde_json::from_value(value)
        .map_err(|e| Error::new(ErrorKind::Malformed, "parse record", "-", e.to_string()))?;
    record.validate()?;
    Ok(record)
}

/// What [`parse_record`] reads, and so what [`Record::to_bytes`] writes: at
/// most [`MAX_RECORD_BYTES`], the payload nested at most
/// [`MAX_PAYLOAD_DEPTH`] inside the record.
fn record_limits() -> gw_persist::Limits {
    gw_persist::Limits::new(MAX_RECORD_BYTES, MAX_PAYLOAD_DEPTH + 2)
}

/// 128 random bits as 32 lowercase hex digits.
pub(crate) fn new_nonce() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| {
        Error::new(ErrorKind::Fs(gw_anchor::ErrorKind::Io), "register", "-", format!("no randomness: {e}"))
    })?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    fn sample() -> Record {
        Record {
            version: 1,
            id: "gw-1".into(),
            pid: 42,
            start_time: 7,
            boot_id: "0123abcd-0000-4000-8000-00000000beef".into(),
            pid_namespace: Some(4026531836),
            uid: 1000,
            port: Some(8080),
            created_unix_ms: 1,
            expires_unix_ms: None,
            nonce: "00112233445566778899aabbccddeeff".into(),
            payload: serde_json::json!({"url": "ws://127.0.0.1:8080"}),
        }
    }

    #[test]
    fn roundtrip() {
        let r = sample();
        assert_eq!(parse_record(&r.to_bytes().unwrap()).unwrap(), r);
    }

    #[test]
    fn ids() {
        for ok in ["a", "A9", "gw.serve_1-x", &"a".repeat(64)] {
            assert!(is_valid_id(ok), "{ok}");
        }
        for bad in ["", ".lock", "-a", "a/b", "a b", "é", &"a".repeat(65), "..", "a\0"] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
        assert_eq!(id_from_file_name("x.json"), Some("x"));
        assert_eq!(id_from_file_name(".gw-tmp.abc.json"), None);
        assert_eq!(id_from_file_name("x.json.bak"), None);
    }

    #[test]
    fn strict() {
        let good = String::from_utf8(sample().to_bytes().unwrap()).unwrap();
        let dup = good.replacen("\"pid\": 42,", "\"pid\": 42, \"pid\": 43,", 1);
        assert!(parse_record(dup.as_bytes()).is_err());
        let unknown = good.replacen("\"pid\": 42,", "\"pid\": 42, \"admin\": true,", 1);
        assert!(parse_record(unknown.as_bytes()).is_err());
        let v2 = good.replacen("\"version\": 1", "\"version\": 2", 1);
        assert!(parse_record(v2.as_bytes()).is_err());
        let pid0 = good.replacen("\"pid\": 42", "\"pid\": 0", 1);
        assert!(parse_record(pid0.as_bytes()).is_err());
        let missing = good.replacen("\"start_time\": 7,", "", 1);
        assert!(parse_record(missing.as_bytes()).is_err());
        // No pid namespace must be said (null), never left out.
        let no_ns = good.replacen("\"pid_namespace\": 4026531836,", "", 1);
        assert_ne!(no_ns, good);
        assert!(parse_record(no_ns.as_bytes()).is_err());
        let null_ns = good.replacen("\"pid_namespace\": 4026531836,", "\"pid_namespace\": null,", 1);
        assert_eq!(parse_record(null_ns.as_bytes()).unwrap().pid_namespace, None);
        let bad_ns = good.replacen("\"pid_namespace\": 4026531836,", "\"pid_namespace\": \"x\",", 1);
        assert!(parse_record(bad_ns.as_bytes()).is_err());
        let big = serde_json::json!({"x": "y".repeat(MAX_PAYLOAD_BYTES)});
        assert!(check_payload(&big).is_err());
    }

    /// `check_id` refuses what `is_valid_id` refuses, naming the rule.
    #[test]
    fn check_id_refuses_bad_ids_with_the_rule() {
        check_id(&"a".repeat(MAX_ID_LEN)).unwrap();
        for bad in ["", "../x", "a/b", &"a".repeat(MAX_ID_LEN + 1)] {
            let e = check_id(bad).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidId, "{bad:?}");
            assert!(e.to_string().contains("ids are 1-64 characters of A-Z a-z 0-9 . _ -"), "{e}");
        }
    }

    /// Each field's range and charset, at its edges: a record read from
    /// disk is judged only if every field is what gw writes.
    #[test]
    fn validate_checks_each_field_at_its_edges() {
        let with = |f: &dyn Fn(&mut Record)| {
            let mut r = sample();
            f(&mut r);
            r.validate()
        };
        with(&|r| r.pid = PID_MAX).unwrap();
        with(&|r| r.pid = 1).unwrap();
        type Edit<'a> = &'a dyn Fn(&mut Record);
        let bad: [(&str, Edit<'_>); 11] = [
            ("pid", &|r| r.pid = PID_MAX + 1),
            ("pid", &|r| r.pid = 0),
            ("nonce", &|r| r.nonce = "0".repeat(31)),
            ("nonce", &|r| r.nonce = "0".repeat(33)),
            ("nonce", &|r| r.nonce = format!("{}A", "0".repeat(31))),
            ("nonce", &|r| r.nonce = format!("{}g", "0".repeat(31))),
            ("boot_id", &|r| r.boot_id = "0123abcd-0000-4000-8000-00000000BEEF".into()),
            ("boot_id", &|r| r.boot_id = "0123abcd-0000-4000-8000-00000000beeg".into()),
            ("boot_id", &|r| r.boot_id = "0123abcd0-000-4000-8000-00000000beef".into()),
            ("boot_id", &|r| r.boot_id = "0123abcd-0000-4000-8000-00000000bee".into()),
            ("payload", &|r| r.payload = Value::String("x".repeat(MAX_PAYLOAD_BYTES))),
        ];
        for (field, f) in bad {
            let e = with(f).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Malformed, "{field}: {e}");
            assert!(e.to_string().contains(&format!("field `{field}`")), "{field}: {e}");
        }
    }

    /// The payload limits hold at their edges: exactly
    /// [`MAX_PAYLOAD_BYTES`] serialized and [`MAX_PAYLOAD_DEPTH`] deep are
    /// accepted, one more of either is refused.
    #[test]
    fn payload_limits_at_their_edges() {
        check_payload(&Value::String("x".repeat(MAX_PAYLOAD_BYTES - 2))).unwrap();
        let e = check_payload(&Value::String("x".repeat(MAX_PAYLOAD_BYTES - 1))).unwrap_err();
        assert!(e.to_string().contains("the payload is 16385 bytes serialized; the limit is 16384"), "{e}");
        let nested = |n: usize| (0..n).fold(Value::Null, |v, _| Value::Array(vec![v]));
        let deepest = (1..64).find(|&n| gw_persist::nesting_depth(&nested(n)) == MAX_PAYLOAD_DEPTH).unwrap();
        check_payload(&nested(deepest)).unwrap();
        let e = check_payload(&nested(deepest + 1)).unwrap_err();
        assert!(e.to_string().contains("the payload nests deeper than 16 levels"), "{e}");
    }
}
