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
//! Writing never uses the plist crate's `to_file_*` helpers (they open the
//! final path with `File::create`, following symlinks and truncating in
//! place): the document is serialized to bytes and written through
//! gw-anchor's atomic replace.

use std::io::Cursor;

use plist::stream::{BinaryReader, Event, XmlReader};
use serde_json::{Map, Number, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::json::check_size_and_encoding;
use crate::limits::Limits;

const OP: &str = "parse";

/// Parses `bytes` as one strict property list (XML, or binary `bplist00`).
///
/// # Errors
/// As [`crate::parse_json`], plus [`ErrorKind::Unsupported`] for value types
/// gw does not map.
pub fn parse_plist(bytes: &[u8], limits: &Limits) -> Result<Value> {
    if bytes.starts_with(b"bplist00") {
        if bytes.len() as u64 > limits.max_bytes {
            return Err(Error::new(
                ErrorKind::TooLarge,
                OP,
                "-",
                format!("the document is {} bytes; the limit is {}", bytes.len(), limits.max_bytes),
            ));
        }
        build(BinaryReader::new(Cursor::new(bytes)), limits, false)
    } else {
        check_size_and_encoding(bytes, limits)?;
        build(XmlReader::new(Cursor::new(bytes)), limits, true)
    }
}

/// A character XML 1.0 cannot hold, raw or as a character reference (`Char`
/// production: controls other than tab, newline and carriage return, and
/// U+FFFE/U+FFFF). Other parsers (`plutil`, Python's `plistlib`) refuse a
/// plist with one, so gw neither writes nor accepts it.
fn not_xml_char(s: &str) -> Option<char> {
    s.chars().find(|&c| (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{fffe}' || c == '\u{ffff}')
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
    for event in events {
        let event = event.map_err(|e| Error::new(ErrorKind::Syntax, OP, "-", format!("not a valid plist: {e}")))?;
        if result.is_some() {
            return Err(syntax("data after the end of the property list"));
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
mod tests {
    use super::*;
    use serde_json::json;

    const HEAD: &str = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n";

    fn doc(body: &str) -> Vec<u8> {
        format!("{HEAD}{body}\n</plist>\n").into_bytes()
    }

    #[test]
    fn round_trips_through_xml() {
        let v = json!({"Label": "ai.gw.serve", "ProgramArguments": ["/usr/bin/gw", "serve"], "RunAtLoad": true, "ThrottleInterval": 10, "Ratio": 0.5});
        let bytes = to_plist_bytes(&v).unwrap();
        assert_eq!(parse_plist(&bytes, &Limits::default()).unwrap(), v);
    }

    #[test]
    fn refuses_duplicate_keys_and_unsupported_values() {
        let dup = doc("<dict><key>a</key><string>1</string><key>a</key><string>2</string></dict>");
        assert_eq!(parse_plist(&dup, &Limits::default()).unwrap_err().kind(), ErrorKind::DuplicateKey);
        let data = doc("<dict><key>a</key><data>AAAA</data></dict>");
        assert_eq!(parse_plist(&data, &Limits::default()).unwrap_err().kind(), ErrorKind::Unsupported);
        assert_eq!(to_plist_bytes(&json!({"a": null})).unwrap_err().kind(), ErrorKind::Unsupported);
    }

    #[test]
    fn refuses_depth_and_garbage() {
        let deep = doc(&format!("{}{}", "<array>".repeat(9), "</array>".repeat(9)));
        assert_eq!(parse_plist(&deep, &Limits::new(1 << 20, 8)).unwrap_err().kind(), ErrorKind::TooDeep);
        assert_eq!(parse_plist(b"not a plist", &Limits::default()).unwrap_err().kind(), ErrorKind::Syntax);
        let mut bom = b"\xEF\xBB\xBF".to_vec();
        bom.extend(doc("<dict/>"));
        assert_eq!(parse_plist(&bom, &Limits::default()).unwrap_err().kind(), ErrorKind::Syntax);
    }
}
