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

const OP: &str = "parse";

/// Parses `bytes` as one strict property list (XML, or binary `bplist00`).
///
/// # Errors
/// As [`crate::parse_json`], plus [`ErrorKind::Unsupported`] for value types
/// gw does not map.
pub fn parse_plist(bytes: &[u8], limits: &Limits) -> Result<Value> {
    if bytes.starts_with(b"bplist00") {
        check_size(bytes, limits)?;
        build(BinaryReader::new(Cursor::new(bytes)), limits, false)
    } else {
        check_size_and_encoding(bytes, limits)?;
        let bytes = check_xml(bytes)?;
        build(XmlReader::new(Cursor::new(bytes.as_ref())), limits, true)
    }
}

/// Refuses the XML constructs the plist crate's reader would read
/// differently from a conforming XML parser, and normalizes line ends
/// (`\r\n` and a lone `\r` become `\n`, XML 1.0 §2.11; a carriage return
/// in a value is written `&#13;`).
///
/// Refused (as [`ErrorKind::Syntax`], with the line and column): a CDATA
/// section; an entity reference other than `&amp;` `&lt;` `&gt;` `&quot;`
/// `&apos;` and character references; a DOCTYPE with an internal subset
/// (entity declarations); an XML declaration anywhere but at the start, or
/// one naming a version other than 1.0 or an encoding other than UTF-8; a
/// namespace-prefixed element; a tag with `<` or an unbalanced quote in it;
/// `]]>` in text. Comments and processing instructions are skipped (their
/// content is not part of any value). gw's own writer produces none of these.
fn check_xml(bytes: &[u8]) -> Result<Cow<'_, [u8]>> {
    let refuse = |at: usize, what: &str| {
        let (line, col) = line_col(bytes, at);
        Err(syntax(&format!("{what} is refused (XML readers disagree on it)")).at(line, col))
    };
    let find = |from: usize, pat: &[u8]| bytes[from.min(bytes.len())..].windows(pat.len()).position(|w| w == pat);
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        match rest[0] {
            b'<' if rest.starts_with(b"<!--") => match find(i + 4, b"-->") {
                Some(n) => i += 4 + n + 3,
                None => break, // unterminated: the reader refuses it
            },
            b'<' if rest.starts_with(b"<![CDATA[") => return refuse(i, "a CDATA section"),
            b'<' if rest.starts_with(b"<?") => {
                let Some(n) = find(i + 2, b"?>") else { break };
                let pi = &rest[..2 + n];
                let target = pi[2..].split(|b| b.is_ascii_whitespace()).next().unwrap_or_default();
                if target.eq_ignore_ascii_case(b"xml") {
                    if i != 0 {
                        return refuse(i, "an XML declaration that is not at the start of the document");
                    }
                    if pseudo_attr(pi, b"version").is_some_and(|v| v != b"1.0") {
                        return refuse(i, "an XML version other than 1.0");
                    }
                    if pseudo_attr(pi, b"encoding").is_some_and(|e| !e.eq_ignore_ascii_case(b"utf-8")) {
                        return refuse(i, "an encoding other than UTF-8");
                    }
                }
                i += 2 + n + 2;
            }
            b'<' if rest.starts_with(b"<!") => {
                // A DOCTYPE (or a stray declaration, which the reader refuses):
                // up to the first `>`, which with no `[` or `<` and balanced
                // quotes is its end for every reader.
                let end = rest.iter().position(|&b| b == b'>').unwrap_or(rest.len());
                let decl = &rest[..end];
                if decl.contains(&b'[') || decl[1..].contains(&b'<') || !quotes_balanced(decl) {
                    return refuse(i, "a DOCTYPE with an internal subset (entity declarations)");
                }
                i += end + 1;
            }
            b'<' => {
                // A start or end tag, up to the first `>`: with no `<` in it
                // and balanced quotes, no reader sees it end elsewhere.
                let end = rest.iter().position(|&b| b == b'>').unwrap_or(rest.len());
                let tag = &rest[1..end];
                let name = tag.strip_prefix(b"/").unwrap_or(tag);
                let name_len = name.iter().position(|&b| b.is_ascii_whitespace() || b == b'/').unwrap_or(name.len());
                if name[..name_len].contains(&b':') {
                    return refuse(i, "a namespace-prefixed element");
                }
                if tag.contains(&b'<') || !quotes_balanced(tag) {
                    return refuse(i, "a tag with `<` or an unbalanced quote in it");
                }
                i += end + 1;
            }
            b'&' => {
                let len = rest.iter().take(12).position(|&b| b == b';');
                let ok = len.is_some_and(|n| {
                    let name = &rest[1..n];
                    matches!(name, b"amp" | b"lt" | b"gt" | b"quot" | b"apos")
                        || name
                            .strip_prefix(b"#x")
                            .is_some_and(|h| !h.is_empty() && h.iter().all(u8::is_ascii_hexdigit))
                        || name.strip_prefix(b"#").is_some_and(|d| !d.is_empty() && d.iter().all(u8::is_ascii_digit))
                });
                if !ok {
                    return refuse(i, "an entity reference other than &amp; &lt; &gt; &quot; &apos; or &#N;");
                }
                i += len.unwrap_or(0) + 1;
            }
            b']' if rest.starts_with(b"]]>") => return refuse(i, "`]]>` in text"),
            _ => i += 1,
        }
    }
    if !bytes.contains(&b'\r') {
        return Ok(Cow::Borrowed(bytes));
    }
    let mut out = Vec::with_capacity(bytes.len());
    let mut it = bytes.iter().copied().peekable();
    while let Some(b) = it.next() {
        if b == b'\r' {
            it.next_if_eq(&b'\n');
            out.push(b'\n');
        } else {
            out.push(b);
        }
    }
    Ok(Cow::Owned(out))
}

/// `name="value"` (or `'value'`) in an XML declaration.
fn pseudo_attr<'a>(decl: &'a [u8], name: &[u8]) -> Option<&'a [u8]> {
    let at = decl.windows(name.len()).position(|w| w == name)?;
    let rest = decl[at + name.len()..].trim_ascii_start().strip_prefix(b"=")?.trim_ascii_start();
    let (&quote, rest) = rest.split_first()?;
    rest.iter().position(|&b| b == quote).map(|end| &rest[..end])
}

fn quotes_balanced(tag: &[u8]) -> bool {
    let mut open: Option<u8> = None;
    for &b in tag {
        match open {
            None if b == b'"' || b == b'\'' => open = Some(b),
            Some(q) if b == q => open = None,
            _ => {}
        }
    }
    open.is_none()
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
    fn refuses_xml_that_readers_disagree_on() {
        let kind = |body: &str| parse_plist(&doc(body), &Limits::default()).unwrap_err().kind();
        // The plist crate's reader would drop the CDATA key: one `a` to gw,
        // two to plutil and plistlib.
        let cdata_dup = "<dict><key>a</key><string>1</string><key><![CDATA[a]]></key><string>2</string></dict>";
        assert_eq!(kind(cdata_dup), ErrorKind::Syntax);
        assert_eq!(kind("<string><![CDATA[<x>]]></string>"), ErrorKind::Syntax);
        assert_eq!(kind("<string>a&x;b</string>"), ErrorKind::Syntax);
        assert_eq!(kind("<string>a]]>b</string>"), ErrorKind::Syntax);
        assert_eq!(kind("<array><x:string xmlns:x=\"u\">a</x:string></array>"), ErrorKind::Syntax);
        let subset =
            b"<?xml version=\"1.0\"?>\n<!DOCTYPE plist [<!ENTITY x \"y\">]>\n<plist><string>x</string></plist>";
        assert_eq!(parse_plist(subset, &Limits::default()).unwrap_err().kind(), ErrorKind::Syntax);
        let latin1 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?><plist><string>x</string></plist>";
        assert_eq!(parse_plist(latin1, &Limits::default()).unwrap_err().kind(), ErrorKind::Syntax);
        let late = b"<plist><string>x</string><?xml version=\"1.0\"?></plist>";
        assert_eq!(parse_plist(late, &Limits::default()).unwrap_err().kind(), ErrorKind::Syntax);
        // What stays accepted: comments, processing instructions, the five
        // entities and character references, CRLF line ends.
        let ok = doc("<string>&amp;&lt;&gt;&quot;&apos;&#233;&#xE9;<!-- & <![CDATA[ -->x<?pi & ?></string>");
        assert_eq!(parse_plist(&ok, &Limits::default()).unwrap(), json!("&<>\"'ééx"));
    }

    #[test]
    fn carriage_returns_read_and_write_as_xml_readers_do() {
        let crlf = doc("<array>\r\n<string>a\r\nb\rc&#13;</string>\r\n</array>");
        assert_eq!(parse_plist(&crlf, &Limits::default()).unwrap(), json!(["a\nb\nc\r"]));
        let v = json!({"k\r": "a\r\nb\r"});
        let bytes = to_plist_bytes(&v).unwrap();
        assert!(!bytes.contains(&b'\r'), "{}", String::from_utf8_lossy(&bytes));
        assert_eq!(parse_plist(&bytes, &Limits::default()).unwrap(), v);
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
