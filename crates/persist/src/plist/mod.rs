//! Strict Apple property lists: XML (written and read) and binary (read).
//!
//! The plist crate's event stream is turned into a JSON value here, with the
//! same rules as [`crate::json`]: size limit first, depth limit, duplicate
//! dictionary keys refused, no byte-order mark, valid UTF-8 for XML, and
//! exactly one top-level value. The value types gw maps are those launchd
//! property lists use (dictionaries, arrays, strings, integers, reals,
//! booleans); `<data>`, `<date>` and UID values are refused as unsupported
//! rather than converted lossily. Old-style ASCII plists are not read.
//!
//! The XML reader underneath (the plist crate's, on quick-xml) does not read
//! every well-formed document the way a conforming XML parser (`plutil`,
//! launchd, Python's `plistlib`) does: it drops CDATA sections and unknown
//! entity references, keeps carriage returns, ignores the declared encoding
//! and strips namespace prefixes. Any of these lets one document mean two
//! things — a key spelled `<key><![CDATA[a]]></key>` is an empty key to it
//! and a second `a` to everyone else, which defeats the duplicate-key
//! refusal. So XML documents go through [`check_xml`] first: line ends are
//! normalized as XML 1.0 §2.11 requires, and those constructs are refused.
//! The same pass refuses what a conforming reader refuses and the event
//! stream would read anyway (THREATS DOC-1): the stream does not tell a
//! `<key>` from a `<string>`, never asks for `</plist>`, and ignores a second
//! top-level element, so `check_xml` checks well-formedness and the plist
//! grammar itself. A binary plist's ASCII strings are checked the same way,
//! and its decoded value is held to a budget (shared references, THREATS
//! DOC-2; see `Budget`).
//!
//! Writing never uses the plist crate's `to_file_*` helpers (they open the
//! final path with `File::create`, following symlinks and truncating in
//! place): the document is serialized to bytes and written through
//! gw-anchor's atomic replace.

use std::borrow::Cow;
use std::io::Cursor;

use plist::stream::{BinaryReader, Event, XmlReader};
use serde_json::{Map, Number, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::json::{check_size, check_size_and_encoding, line_col};
use crate::limits::Limits;

mod xml;

use xml::check_xml;

const OP: &str = "parse";

/// Parses `bytes` as one strict property list (XML, or binary `bplist00`).
///
/// # Errors
/// As [`crate::parse_json`], plus [`ErrorKind::Unsupported`] for value types
/// gw does not map, [`ErrorKind::Syntax`] for what a conforming reader
/// refuses (see `check_xml`; in a binary plist, an ASCII string object
/// holding another byte, or an object that contains itself), and
/// [`ErrorKind::TooLarge`] for a decoded value larger than a document of
/// the size limit can hold (see `Budget`).
///
/// # Security
/// THREATS DOC-1 (a structure a reference reader refuses is refused, so no
/// document means one thing to gw and another to plistlib, plutil or
/// launchd) and DOC-2 (a binary plist's shared references cannot expand
/// without bound: a few hundred bytes that reference one array from every
/// slot of another, nested, would otherwise decode to gigabytes).
pub fn parse_plist(bytes: &[u8], limits: &Limits) -> Result<Value> {
    if bytes.starts_with(b"bplist00") {
        check_size(bytes, limits)?;
        check_binary_strings(bytes)?;
        build(BinaryReader::new(Cursor::new(bytes)), limits, false)
    } else {
        check_size_and_encoding(bytes, limits)?;
        let bytes = check_xml(bytes)?;
        build(XmlReader::new(Cursor::new(bytes.as_ref())), limits, true)
    }
}

/// A character XML 1.0 cannot hold, raw or as a character reference (`Char`
/// production: controls other than tab, newline and carriage return, and
/// U+FFFE/U+FFFF). Other parsers (`plutil`, Python's `plistlib`) refuse a
/// plist with one, so gw neither writes nor accepts it.
fn not_xml_char(s: &str) -> Option<char> {
    s.chars().find(|&c| not_xml(c))
}

fn not_xml(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{fffe}' || c == '\u{ffff}'
}

/// The document as an XML property list, as `plutil` and launchd accept it.
///
/// # Errors
/// [`ErrorKind::Unsupported`] for `null` anywhere (a plist has no null).
pub fn to_plist_bytes(value: &Value) -> Result<Vec<u8>> {
    if let Some(at) = find_null(value, String::new()) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "serialize",
            "-",
            format!("a property list cannot hold null (at JSON pointer `{at}`)"),
        )
        .with_fix("remove the null or use a JSON document"));
    }
    if let Some((at, c)) = find_non_xml(value, String::new()) {
        return Err(Error::new(
            ErrorKind::Unsupported,
            "serialize",
            "-",
            format!("an XML property list cannot hold the character {c:?} (at JSON pointer `{at}`)"),
        )
        .with_fix("remove the control character or use a JSON document"));
    }
    let mut out = Vec::new();
    plist::to_writer_xml(&mut out, value)
        .map_err(|e| Error::new(ErrorKind::Type, "serialize", "-", format!("cannot write the plist: {e}")))?;
    if !out.ends_with(b"\n") {
        out.push(b'\n');
    }
    // The writer leaves a carriage return in a string raw, and every XML
    // reader (gw's too) turns a raw one into a newline: write it as a
    // character reference. Only strings and keys can hold one.
    if out.contains(&b'\r') {
        let mut escaped = Vec::with_capacity(out.len() + 16);
        for b in out {
            match b {
                b'\r' => escaped.extend_from_slice(b"&#13;"),
                b => escaped.push(b),
            }
        }
        out = escaped;
    }
    Ok(out)
}

fn find_null(v: &Value, at: String) -> Option<String> {
    match v {
        Value::Null => Some(at),
        Value::Array(a) => a.iter().enumerate().find_map(|(i, x)| find_null(x, format!("{at}/{i}"))),
        Value::Object(m) => {
            m.iter().find_map(|(k, x)| find_null(x, format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"))))
        }
        _ => None,
    }
}

/// The first string or key (by JSON pointer) holding a character XML cannot.
fn find_non_xml(v: &Value, at: String) -> Option<(String, char)> {
    match v {
        Value::String(s) => not_xml_char(s).map(|c| (at, c)),
        Value::Array(a) => a.iter().enumerate().find_map(|(i, x)| find_non_xml(x, format!("{at}/{i}"))),
        Value::Object(m) => m.iter().find_map(|(k, x)| {
            let at = format!("{at}/{}", k.replace('~', "~0").replace('/', "~1"));
            match not_xml_char(k) {
                Some(c) => Some((at, c)),
                None => find_non_xml(x, at),
            }
        }),
        _ => None,
    }
}

/// A binary plist may reference one object from many places (writers share
/// equal strings and numbers), so its decoded value can be far larger than
/// the file: nested arrays that each reference the next one twice double at
/// every level (THREATS DOC-2, a "billion laughs"). The decoded value is
/// held to what a document of the size limit can hold without shared
/// references: one value or key per three bytes — in a binary plist every
/// value or key not shared takes at least a byte of object, a byte of offset
/// table and a byte of reference in its container (`<true/>` takes seven in
/// XML) —, and one and a half bytes of text per byte (UTF-16 text in a
/// binary plist takes 2 bytes for what UTF-8 writes in up to 3). Reference
/// cycles never reach this budget: the plist crate refuses an object that
/// contains itself. With no size limit (`u64::MAX`) there is no budget
/// either.
struct Budget {
    nodes: u64,
    text: u64,
    max_nodes: u64,
    max_text: u64,
    max_bytes: u64,
}

impl Budget {
    fn new(limits: &Limits) -> Self {
        let max_bytes = limits.max_bytes;
        let max_text = max_bytes.saturating_add(max_bytes / 2);
        Self { nodes: 0, text: 0, max_nodes: max_bytes / 3, max_text, max_bytes }
    }

    /// Counts one value or key holding `text` bytes of text.
    fn spend(&mut self, text: usize) -> Result<()> {
        self.nodes += 1;
        self.text = self.text.saturating_add(text as u64);
        if self.nodes > self.max_nodes {
            return Err(self.refuse(format!("more than {} values and keys", self.max_nodes)));
        }
        if self.text > self.max_text {
            return Err(self.refuse(format!("more than {} bytes of text", self.max_text)));
        }
        Ok(())
    }

    #[cold]
    fn refuse(&self, what: String) -> Error {
        Error::new(
            ErrorKind::TooLarge,
            OP,
            "-",
            format!(
                "refused: the decoded value holds {what}, more than a document of the size limit ({} bytes) can \
                 hold (shared references in a binary plist expand it)",
                self.max_bytes
            ),
        )
        .with_fix("write the document without shared references (e.g. `plutil -convert xml1`) within the size limit")
    }
}

/// Refuses an ASCII string object (marker `0x5_`) holding a byte above
/// 0x7F: the plist crate reads it as UTF-8, `plistlib` refuses it and
/// CoreFoundation reads it as another string (THREATS DOC-1). Every object
/// in the offset table is checked, reachable or not. Anything malformed is
/// left for the plist crate's reader to refuse.
fn check_binary_strings(bytes: &[u8]) -> Result<()> {
    let Some(trailer) = bytes.len().checked_sub(32).filter(|&t| t >= 8) else { return Ok(()) };
    let be = |s: &[u8]| s.iter().fold(0u64, |acc, &b| (acc << 8) | u64::from(b));
    let at = |s: &[u8]| usize::try_from(be(s)).ok();
    let offset_size = usize::from(bytes[trailer + 6]);
    if !matches!(offset_size, 1 | 2 | 3 | 4 | 8) {
        return Ok(());
    }
    let (Some(count), Some(table)) = (at(&bytes[trailer + 8..trailer + 16]), at(&bytes[trailer + 24..trailer + 32]))
    else {
        return Ok(());
    };
    let Some(table_end) = count.checked_mul(offset_size).and_then(|len| table.checked_add(len)) else { return Ok(()) };
    if table_end > trailer {
        return Ok(());
    }
    for entry in bytes[table..table_end].chunks_exact(offset_size) {
        let Some(offset) = at(entry).filter(|&o| o < trailer) else { continue };
        let marker = bytes[offset];
        if marker >> 4 != 0x5 {
            continue;
        }
        let (len, start) = if marker & 0x0f == 0x0f {
            let Some(&size) = bytes.get(offset + 1) else { continue };
            let width = 1usize << (size & 0x03);
            let Some(len) = bytes.get(offset + 2..offset + 2 + width).and_then(at) else { continue };
            (len, offset + 2 + width)
        } else {
            (usize::from(marker & 0x0f), offset + 1)
        };
        // A string running into the trailer is the crate's to refuse.
        let Some(end) = start.checked_add(len).filter(|&end| end <= trailer) else { continue };
        if let Some(bad) = bytes[start..end].iter().find(|b| !b.is_ascii()) {
            return Err(syntax(&format!(
                "refused: an ASCII string object (at byte {offset}) holds the byte 0x{bad:02x} \
                 (plistlib refuses it; other readers decode it differently)"
            ))
            .with_fix(
                "rewrite the file with a conforming writer (`plutil -convert binary1` stores such text as UTF-16)",
            ));
        }
    }
    Ok(())
}

enum Frame {
    Array(Vec<Value>),
    Dict(Map<String, Value>, Option<String>),
}

fn build<I>(events: I, limits: &Limits, xml: bool) -> Result<Value>
where
    I: Iterator<Item = std::result::Result<plist::stream::OwnedEvent, plist::Error>>,
{
    let mut stack: Vec<Frame> = Vec::new();
    let mut result: Option<Value> = None;
    let mut budget = Budget::new(limits);
    for event in events {
        let event = event.map_err(|e| {
            // The crate's error names its kind first (plist is pinned: a
            // unit test holds this spelling).
            if e.to_string().starts_with("RecursiveObject") {
                syntax(&format!("refused: a binary plist object contains itself (a reference cycle): {e}"))
                    .with_fix("the file is corrupt or hostile: restore it from a copy you trust")
            } else {
                Error::new(ErrorKind::Syntax, OP, "-", format!("not a valid plist: {e}"))
            }
        })?;
        if result.is_some() {
            return Err(syntax("data after the end of the property list"));
        }
        match &event {
            Event::EndCollection => {}
            Event::String(s) => budget.spend(s.len())?,
            _ => budget.spend(0)?,
        }
        let value = match event {
            Event::StartArray(_) | Event::StartDictionary(_) => {
                if stack.len() + 1 > limits.max_depth {
                    return Err(Error::new(
                        ErrorKind::TooDeep,
                        OP,
                        "-",
                        format!("nesting is deeper than the limit of {}", limits.max_depth),
                    ));
                }
                if let Some(Frame::Dict(_, None)) = stack.last() {
                    return Err(syntax("a dictionary key must be a string"));
                }
                stack.push(if matches!(event, Event::StartArray(_)) {
                    Frame::Array(Vec::new())
                } else {
                    Frame::Dict(Map::new(), None)
                });
                continue;
            }
            Event::EndCollection => match stack.pop() {
                Some(Frame::Array(a)) => Value::Array(a),
                Some(Frame::Dict(m, None)) => Value::Object(m),
                Some(Frame::Dict(_, Some(k))) => return Err(syntax(&format!("key `{k}` has no value"))),
                None => return Err(syntax("a collection ends that never started")),
            },
            Event::String(s) => {
                if let Some(c) = not_xml_char(&s).filter(|_| xml) {
                    return Err(syntax(&format!("the character {c:?} is not allowed in XML")));
                }
                if let Some(Frame::Dict(map, pending @ None)) = stack.last_mut() {
                    if map.contains_key(s.as_ref()) {
                        return Err(Error::new(
                            ErrorKind::DuplicateKey,
                            OP,
                            "-",
                            format!("refused: duplicate key `{s}` (parsers disagree on which copy wins)"),
                        ));
                    }
                    *pending = Some(s.into_owned());
                    continue;
                }
                Value::String(s.into_owned())
            }
            Event::Boolean(b) => Value::Bool(b),
            Event::Integer(i) => match (i.as_signed(), i.as_unsigned()) {
                (Some(s), _) => Value::Number(s.into()),
                (None, Some(u)) => Value::Number(u.into()),
                (None, None) => return Err(unsupported("an integer out of range")),
            },
            Event::Real(r) => Number::from_f64(r).map(Value::Number).ok_or_else(|| unsupported("a non-finite real"))?,
            Event::Data(_) => return Err(unsupported("a <data> value")),
            Event::Date(_) => return Err(unsupported("a <date> value")),
            _ => return Err(unsupported("a UID or unknown value")),
        };
        match stack.last_mut() {
            None => result = Some(value),
            Some(Frame::Array(a)) => a.push(value),
            Some(Frame::Dict(m, pending)) => match pending.take() {
                Some(k) => {
                    m.insert(k, value);
                }
                None => return Err(syntax("a dictionary key must be a string")),
            },
        }
    }
    if !stack.is_empty() {
        return Err(syntax("the property list ends inside a collection"));
    }
    result.ok_or_else(|| syntax("the property list is empty"))
}

#[cold]
fn syntax(msg: &str) -> Error {
    Error::new(ErrorKind::Syntax, OP, "-", format!("not a valid plist: {msg}"))
}

#[cold]
fn unsupported(what: &str) -> Error {
    Error::new(ErrorKind::Unsupported, OP, "-", format!("{what} is not supported in gw documents"))
        .with_fix("use strings, numbers, booleans, arrays and dictionaries only")
}

#[cfg(test)]
mod tests;
