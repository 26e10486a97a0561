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

/// Refuses the XML constructs the plist crate's reader would read
/// differently from a conforming XML parser, refuses documents that are not
/// well-formed XML or not a property list's structure, and normalizes line
/// ends (`\r\n` and a lone `\r` become `\n`, XML 1.0 §2.11; a carriage return
/// in a value is written `&#13;`).
///
/// Refused (as [`ErrorKind::Syntax`], with the line and column) because
/// readers disagree on them: a CDATA section; an entity reference other than
/// `&amp;` `&lt;` `&gt;` `&quot;` `&apos;` and character references; a DOCTYPE
/// with an internal subset (entity declarations); an XML declaration anywhere
/// but at the start, or one naming a version other than 1.0 or an encoding
/// other than UTF-8; a namespace-prefixed element; a tag with `<` or an
/// unbalanced quote in it; `]]>` in text.
///
/// Refused because a conforming reader (Python's `plistlib` on expat,
/// `plutil`) refuses them while the plist crate's event stream would read a
/// value (THREATS DOC-1): a character XML cannot hold, anywhere; a malformed
/// XML declaration, processing instruction, comment (`--` inside), attribute
/// (unquoted, without a value, duplicated, an unknown entity) or tag; a
/// DOCTYPE after the document element or twice; an element left open at the
/// end (a missing `</plist>`), an end tag that closes another element, a
/// second top-level element, text (even a reference, even Unicode
/// whitespace) outside the top-level element; and the plist grammar — a `<key>` anywhere but
/// at a dictionary's key position, a value at a key position, an element
/// inside a leaf value (`<true><false/></true>` is `[true, false]` to the
/// event stream and `[false, true]` to plistlib), a `<plist>` below the top,
/// an element plists do not have, and an `<integer>` other than `[+-]digits`
/// or `0x` and hex digits in plain text. Comments and processing
/// instructions are skipped (their content is not part of any value). gw's
/// own writer produces none of these.
fn check_xml(bytes: &[u8]) -> Result<Cow<'_, [u8]>> {
    let refuse = |at: usize, what: &str| {
        let (line, col) = line_col(bytes, at);
        Err(syntax(&format!("{what} is refused (XML readers disagree on it)")).at(line, col))
    };
    let malformed = |at: usize, what: &str| {
        let (line, col) = line_col(bytes, at);
        Err(syntax(&format!("refused: {what} (conforming readers such as plistlib refuse it)"))
            .at(line, col)
            .with_fix("correct the document at that position (`plutil -lint` or Python's plistlib report it too)"))
    };
    // The caller checked UTF-8 (a lossy view only guards a direct call).
    let text = String::from_utf8_lossy(bytes);
    if let Some((at, c)) = text.char_indices().find(|&(_, c)| not_xml(c)) {
        return malformed(at, &format!("the character {c:?}, which XML cannot hold"));
    }
    let find = |from: usize, pat: &[u8]| bytes[from.min(bytes.len())..].windows(pat.len()).position(|w| w == pat);
    let mut tree = Tree::default();
    let mut i = 0;
    while i < bytes.len() {
        let rest = &bytes[i..];
        match rest[0] {
            b'<' if rest.starts_with(b"<!--") => match find(i + 4, b"--") {
                Some(n) if bytes.get(i + 4 + n + 2) == Some(&b'>') => i += 4 + n + 3,
                Some(n) => return malformed(i + 4 + n, "`--` inside a comment"),
                None => break, // unterminated: the reader refuses it
            },
            b'<' if rest.starts_with(b"<![CDATA[") => return refuse(i, "a CDATA section"),
            b'<' if rest.starts_with(b"<?") => {
                let Some(n) = find(i + 2, b"?>") else { break };
                let pi = &rest[..2 + n];
                let target_len = pi[2..].iter().position(u8::is_ascii_whitespace).unwrap_or(n);
                let target = &pi[2..2 + target_len];
                if !is_name(target) {
                    return malformed(i, "a processing instruction without a target name");
                }
                if target.eq_ignore_ascii_case(b"xml") {
                    if i != 0 {
                        return refuse(i, "an XML declaration that is not at the start of the document");
                    }
                    if target != b"xml" {
                        return malformed(i, "an XML declaration not spelled `<?xml`");
                    }
                    if let Err(what) = xml_declaration(&pi[5..]) {
                        return if what.starts_with("an XML") { refuse(i, what) } else { malformed(i, what) };
                    }
                }
                i += 2 + n + 2;
            }
            b'<' if rest.starts_with(b"<!DOCTYPE") && rest.get(9).is_some_and(u8::is_ascii_whitespace) => {
                // Up to the first `>`, which with no `[` or `<` and balanced
                // quotes is its end for every reader.
                let end = rest.iter().position(|&b| b == b'>').unwrap_or(rest.len());
                let decl = &rest[..end];
                if decl.contains(&b'[') || decl[1..].contains(&b'<') || !quotes_balanced(decl) {
                    return refuse(i, "a DOCTYPE with an internal subset (entity declarations)");
                }
                if !doctype(&decl[9..]) {
                    return malformed(i, "a DOCTYPE other than a name and an optional SYSTEM or PUBLIC identifier");
                }
                if tree.root != Root::Before || tree.doctype {
                    return malformed(i, "a DOCTYPE after the document element or a second one");
                }
                tree.doctype = true;
                i += end + 1;
            }
            b'<' if rest.starts_with(b"<!") => return malformed(i, "a markup declaration outside a DOCTYPE"),
            b'<' => {
                // A start or end tag, up to the first `>`: with no `<` in it
                // and balanced quotes, no reader sees it end elsewhere.
                let Some(end) = rest.iter().position(|&b| b == b'>') else {
                    return malformed(i, "a tag that never ends");
                };
                let tag = &rest[1..end];
                let name = tag.strip_prefix(b"/").unwrap_or(tag);
                let name_len = name.iter().position(|&b| b.is_ascii_whitespace() || b == b'/').unwrap_or(name.len());
                if name[..name_len].contains(&b':') {
                    return refuse(i, "a namespace-prefixed element");
                }
                if tag.contains(&b'<') || !quotes_balanced(tag) {
                    return refuse(i, "a tag with `<` or an unbalanced quote in it");
                }
                let step = match parse_tag(tag) {
                    Ok(Tag::Start { name, empty }) => tree
                        .start(name, i, i + end + 1)
                        .and_then(|()| if empty { tree.end(name, bytes, i + end + 1) } else { Ok(()) }),
                    Ok(Tag::End { name }) => tree.end(name, bytes, i),
                    Err(what) => Err(what.to_owned()),
                };
                if let Err(what) = step {
                    return malformed(i, &what);
                }
                i += end + 1;
            }
            b' ' | b'\t' | b'\r' | b'\n' => i += 1,
            _ if tree.stack.is_empty() => return malformed(i, "text outside the top-level element"),
            b'&' => match reference(rest) {
                Some(len) => i += len,
                None => return refuse(i, "an entity reference other than &amp; &lt; &gt; &quot; &apos; or &#N;"),
            },
            b']' if rest.starts_with(b"]]>") => return refuse(i, "`]]>` in text"),
            _ => i += 1,
        }
    }
    if let Some(open) = tree.stack.last() {
        let name = String::from_utf8_lossy(open.name);
        return malformed(open.at, &format!("<{name}> never closed (the document ends before </{name}>)"));
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

/// Whether what follows `<!DOCTYPE` (up to `>`, no internal subset) is
/// whitespace, a name, and optionally `SYSTEM "uri"` or `PUBLIC "id" "uri"`
/// (the public id in the characters XML allows there).
fn doctype(decl: &[u8]) -> bool {
    fn space(r: &[u8]) -> Option<&[u8]> {
        let t = r.trim_ascii_start();
        (t.len() < r.len()).then_some(t)
    }
    fn literal(r: &[u8]) -> Option<(&[u8], &[u8])> {
        let (&quote, v) = space(r)?.split_first()?;
        let end = v.iter().position(|&b| b == quote).filter(|_| quote == b'"' || quote == b'\'')?;
        Some((&v[..end], &v[end + 1..]))
    }
    let pubid = |id: &[u8]| id.iter().all(|b| b.is_ascii_alphanumeric() || b" \r\n-'()+,./:=?;!*#@$_%".contains(b));
    let Some(r) = space(decl) else { return false };
    let n = r.iter().position(u8::is_ascii_whitespace).unwrap_or(r.len());
    if !is_name(&r[..n]) {
        return false;
    }
    let r = &r[n..];
    let after = match r.trim_ascii_start() {
        [] => return true,
        t if t.starts_with(b"SYSTEM") => literal(&t[6..]).map(|(_, rest)| rest),
        t if t.starts_with(b"PUBLIC") => {
            literal(&t[6..]).filter(|(id, _)| pubid(id)).and_then(|(_, rest)| literal(rest)).map(|(_, rest)| rest)
        }
        _ => None,
    };
    after.is_some_and(|rest| rest.trim_ascii_start().is_empty())
}

/// Checks what follows `<?xml` in an XML declaration: `version="1.0"`, then
/// optionally `encoding` (UTF-8 only) and `standalone` (`yes` or `no`), in
/// that order. A refusal starting "an XML" is one readers disagree on.
fn xml_declaration(rest: &[u8]) -> std::result::Result<(), &'static str> {
    let attrs = attributes(rest).map_err(|_| "a malformed XML declaration")?;
    let order = [&b"version"[..], b"encoding", b"standalone"];
    let mut last = None;
    for (n, &(name, value)) in attrs.iter().enumerate() {
        let at = order.iter().position(|o| *o == name);
        if at.is_none() || at <= last || (n == 0 && name != b"version") {
            return Err("an XML declaration other than version, then encoding and standalone");
        }
        last = at;
        match name {
            b"version" if value != b"1.0" => return Err("an XML version other than 1.0"),
            b"encoding" if !value.eq_ignore_ascii_case(b"utf-8") => return Err("an XML encoding other than UTF-8"),
            b"standalone" if value != b"yes" && value != b"no" => return Err("a standalone other than yes or no"),
            _ => {}
        }
    }
    if attrs.is_empty() {
        return Err("an XML declaration without a version");
    }
    Ok(())
}

/// The length of the reference `rest` starts with (`&name;` for the five
/// predefined entities, `&#N;` or `&#xH;` naming a character XML can hold),
/// or `None`.
fn reference(rest: &[u8]) -> Option<usize> {
    let len = rest.iter().take(12).position(|&b| b == b';')?;
    let name = &rest[1..len];
    let number = |digits: &[u8], radix: u32| {
        let digits = std::str::from_utf8(digits).ok().filter(|d| !d.is_empty() && !d.starts_with('+'))?;
        u32::from_str_radix(digits, radix).ok().and_then(char::from_u32).filter(|&c| !not_xml(c))
    };
    let ok = matches!(name, b"amp" | b"lt" | b"gt" | b"quot" | b"apos")
        || match name.strip_prefix(b"#x") {
            Some(hex) => number(hex, 16).is_some(),
            None => name.strip_prefix(b"#").is_some_and(|d| number(d, 10).is_some()),
        };
    ok.then_some(len + 1)
}

/// An XML name, ASCII only (stricter than XML, whose names may hold most
/// other letters: plist names are ASCII, and readers' Unicode name tables
/// differ): a letter, `_` or `:`, then letters, digits, `_`, `:`, `-`, `.`.
fn is_name(name: &[u8]) -> bool {
    name.first().is_some_and(|b| b.is_ascii_alphabetic() || matches!(b, b'_' | b':'))
        && name.iter().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b':' | b'-' | b'.'))
}

/// An attribute's name and (raw) value.
type Attribute<'a> = (&'a [u8], &'a [u8]);

/// `name="value"` pairs (or `'value'`), each after whitespace, each name
/// once, each value with valid references only.
fn attributes(mut s: &[u8]) -> std::result::Result<Vec<Attribute<'_>>, &'static str> {
    let mut out: Vec<Attribute<'_>> = Vec::new();
    // A set, not a scan of `out`: a tag may hold a hundred thousand names.
    let mut seen = std::collections::HashSet::new();
    loop {
        let t = s.trim_ascii_start();
        if t.is_empty() {
            return Ok(out);
        }
        if t.len() == s.len() {
            return Err("attributes not separated by whitespace");
        }
        let n = t.iter().position(|&b| b == b'=' || b.is_ascii_whitespace()).unwrap_or(t.len());
        let name = &t[..n];
        if !is_name(name) {
            return Err("an attribute without a valid name");
        }
        if !seen.insert(name) {
            return Err("a duplicate attribute");
        }
        let v = t[n..].trim_ascii_start().strip_prefix(b"=").ok_or("an attribute without a value")?.trim_ascii_start();
        let (&quote, v) = v.split_first().ok_or("an attribute without a value")?;
        if quote != b'"' && quote != b'\'' {
            return Err("an unquoted attribute value");
        }
        let end = v.iter().position(|&b| b == quote).ok_or("an unterminated attribute value")?;
        let value = &v[..end];
        let mut j = 0;
        while let Some(amp) = value[j..].iter().position(|&b| b == b'&') {
            j += amp + reference(&value[j + amp..]).ok_or("an attribute value with an unknown reference")?;
        }
        out.push((name, value));
        s = &v[end + 1..];
    }
}

/// What lies between a tag's `<` and `>`.
enum Tag<'a> {
    Start { name: &'a [u8], empty: bool },
    End { name: &'a [u8] },
}

fn parse_tag(tag: &[u8]) -> std::result::Result<Tag<'_>, &'static str> {
    if let Some(rest) = tag.strip_prefix(b"/") {
        let name = rest.trim_ascii_end();
        if !is_name(name) {
            return Err("an end tag without a name, or with attributes");
        }
        return Ok(Tag::End { name });
    }
    let (body, empty) = match tag.strip_suffix(b"/") {
        Some(body) => (body, true),
        None => (tag, false),
    };
    let name_len = body.iter().position(u8::is_ascii_whitespace).unwrap_or(body.len());
    let name = &body[..name_len];
    if !is_name(name) {
        return Err("a tag that does not start with an element name");
    }
    attributes(&body[name_len..])?;
    Ok(Tag::Start { name, empty })
}

/// Where the document is relative to its top-level element.
#[derive(Default, PartialEq, Eq)]
enum Root {
    #[default]
    Before,
    Inside,
    After,
}

/// The kinds of plist element.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Elem {
    Plist,
    Dict,
    Array,
    Key,
    /// `<string>`, `<integer>`, `<real>`, `<true>`, `<false>`, `<data>`, `<date>`.
    Leaf,
}

struct Open<'a> {
    name: &'a [u8],
    elem: Elem,
    /// Where its start tag begins.
    at: usize,
    /// Where its content begins.
    content: usize,
    /// A dictionary: the next child is a key. A `<plist>`: its value was seen.
    flag: bool,
}

/// The open elements, checked against XML well-formedness and the plist
/// grammar as tags go by.
#[derive(Default)]
struct Tree<'a> {
    stack: Vec<Open<'a>>,
    root: Root,
    doctype: bool,
}

impl<'a> Tree<'a> {
    fn start(&mut self, name: &'a [u8], at: usize, content: usize) -> std::result::Result<(), String> {
        let shown = String::from_utf8_lossy(name);
        let elem = match name {
            b"plist" => Elem::Plist,
            b"dict" => Elem::Dict,
            b"array" => Elem::Array,
            b"key" => Elem::Key,
            b"string" | b"integer" | b"real" | b"true" | b"false" | b"data" | b"date" => Elem::Leaf,
            _ => return Err(format!("an element <{shown}>, which property lists do not have")),
        };
        match self.stack.last_mut() {
            None if self.root == Root::After => return Err(format!("a second top-level element <{shown}>")),
            None if elem == Elem::Key => return Err("a <key> outside a dictionary".into()),
            None => self.root = Root::Inside,
            Some(_) if elem == Elem::Plist => return Err("a <plist> inside the document".into()),
            Some(parent) => match parent.elem {
                Elem::Key | Elem::Leaf => {
                    let outer = String::from_utf8_lossy(parent.name);
                    return Err(format!("an element <{shown}> inside <{outer}>, which holds only text"));
                }
                Elem::Plist if elem == Elem::Key => return Err("a <key> outside a dictionary".into()),
                Elem::Plist if parent.flag => return Err("a second value in <plist>".into()),
                Elem::Plist => parent.flag = true,
                Elem::Array if elem == Elem::Key => return Err("a <key> in an array".into()),
                Elem::Array => {}
                Elem::Dict if parent.flag && elem != Elem::Key => {
                    return Err(format!("a <{shown}> where a dictionary <key> belongs"));
                }
                Elem::Dict if !parent.flag && elem == Elem::Key => {
                    return Err("a <key> where the previous key's value belongs".into());
                }
                Elem::Dict => parent.flag = !parent.flag,
            },
        }
        self.stack.push(Open { name, elem, at, content, flag: elem == Elem::Dict });
        Ok(())
    }

    fn end(&mut self, name: &[u8], bytes: &[u8], at: usize) -> std::result::Result<(), String> {
        let shown = String::from_utf8_lossy(name);
        let Some(open) = self.stack.pop() else {
            return Err(format!("</{shown}> without a start tag"));
        };
        if open.name != name {
            return Err(format!("</{shown}> where </{}> belongs", String::from_utf8_lossy(open.name)));
        }
        if name == b"integer" {
            let raw = &bytes[open.content..at.max(open.content)];
            let plain = !raw.contains(&b'<') && !raw.contains(&b'&');
            let valid = match raw.strip_prefix(b"0x") {
                Some(hex) => !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit),
                None => {
                    let digits = raw.strip_prefix(b"-").or_else(|| raw.strip_prefix(b"+")).unwrap_or(raw);
                    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
                }
            };
            if !plain || !valid {
                return Err(format!(
                    "the integer {:?} (only [+-]digits or 0x and hex digits, as plain text)",
                    String::from_utf8_lossy(raw)
                ));
            }
        }
        if self.stack.is_empty() {
            self.root = Root::After;
        }
        Ok(())
    }
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
/// references: one value or key per byte (every value takes at least one
/// byte of a document: a reference in a binary plist, `<true/>` in XML), and
/// one and a half bytes of text per byte (UTF-16 text in a binary plist
/// takes 2 bytes for what UTF-8 writes in up to 3). Reference cycles never
/// reach this budget: the plist crate refuses an object that contains
/// itself. With no size limit (`u64::MAX`) there is no budget either.
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
        Self { nodes: 0, text: 0, max_nodes: max_bytes, max_text, max_bytes }
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

    /// A binary plist (`bplist00`) from its objects, the first at the top
    /// (2-byte offsets, 1-byte references).
    fn bplist(objects: &[Vec<u8>]) -> Vec<u8> {
        let mut out = b"bplist00".to_vec();
        let mut offsets = Vec::new();
        for o in objects {
            offsets.extend_from_slice(&u16::try_from(out.len()).unwrap().to_be_bytes());
            out.extend_from_slice(o);
        }
        let table = out.len() as u64;
        out.extend_from_slice(&offsets);
        out.extend_from_slice(&[0, 0, 0, 0, 0, 0, 2, 1]);
        out.extend_from_slice(&(objects.len() as u64).to_be_bytes());
        out.extend_from_slice(&0u64.to_be_bytes());
        out.extend_from_slice(&table.to_be_bytes());
        out
    }

    /// A "billion laughs": `depth` arrays, each referencing the next one
    /// `width` times (at most 14), then `leaf`: (width^(depth+1) - 1) /
    /// (width - 1) values from a file of a few dozen bytes.
    fn laughs(depth: u8, width: u8, leaf: &[u8]) -> Vec<u8> {
        let mut objects: Vec<Vec<u8>> =
            (0..depth).map(|i| [vec![0xA0 | width], vec![i + 1; width.into()]].concat()).collect();
        objects.push(leaf.to_vec());
        bplist(&objects)
    }

    #[track_caller]
    fn refused(bytes: &[u8], limits: &Limits, kind: ErrorKind, needle: &str) -> Error {
        let e = parse_plist(bytes, limits).expect_err(&format!("accepted {:?}", String::from_utf8_lossy(bytes)));
        assert_eq!(e.kind(), kind, "{e}: {:?}", String::from_utf8_lossy(bytes));
        assert!(e.to_string().contains(needle), "expected {needle:?} in: {e}");
        e
    }

    /// THREATS DOC-1: the plist grammar. The plist crate's event stream
    /// reads `<key>` as a string wherever it stands and a leaf's child
    /// elements as the next values; plistlib refuses all of these (or, for
    /// an element inside `<true>`, reads another order).
    #[test]
    fn doc_1_keys_and_values_only_where_the_grammar_puts_them() {
        let limits = Limits::default();
        for (body, needle, col) in [
            ("<dict><key>a</key><key>b</key></dict>", "a <key> where the previous key's value belongs", 19),
            ("<array><key>a</key></array>", "a <key> in an array", 8),
            ("<key>a</key>", "a <key> outside a dictionary", 1),
            ("<dict><string>a</string><string>b</string></dict>", "a <string> where a dictionary <key> belongs", 7),
            ("<dict><dict/><true/></dict>", "a <dict> where a dictionary <key> belongs", 7),
            ("<dict><key>a</key><true/><true/></dict>", "a <true> where a dictionary <key> belongs", 26),
            ("<array><true><false/></true></array>", "an element <false> inside <true>", 14),
            ("<string>a<b/>c</string>", "an element <b>, which property lists do not have", 10),
            ("<key>a<string>b</string></key>", "a <key> outside a dictionary", 1),
            ("<array><plist><true/></plist></array>", "a <plist> inside the document", 8),
            ("<true/><key>a</key>", "a <key> outside a dictionary", 8),
            ("<true/><false/>", "a second value in <plist>", 8),
        ] {
            let e = refused(&doc(body), &limits, ErrorKind::Syntax, needle);
            assert_eq!(e.position(), Some((4, col)), "{body}: {e}");
            assert!(e.to_string().contains("plistlib refuse"), "{e}");
        }
        // What the grammar allows.
        let ok = doc("<dict><key>a</key><array><true/><string/></array><key></key><dict/></dict>");
        assert_eq!(parse_plist(&ok, &limits).unwrap(), json!({"a": [true, ""], "": {}}));
    }

    /// THREATS DOC-1: XML that is not well-formed, which expat (plistlib)
    /// refuses and the plist crate's reader read as a value.
    #[test]
    fn doc_1_xml_that_is_not_well_formed_is_refused() {
        let limits = Limits::default();
        let head = HEAD.as_bytes();
        let cases: [(&[u8], &str); 24] = [
            (&[head, b"<dict/>\n"].concat(), "<plist> never closed (the document ends before </plist>)"),
            (b"<plist><true>", "<true> never closed"),
            (b"<plist><array><true/></plist>", "</plist> where </array> belongs"),
            (b"<plist><true/></plist><plist/>", "a second top-level element <plist>"),
            (b"<plist><true/></plist>\xc2\xa0", "text outside the top-level element"),
            (b"&#32;<plist><true/></plist>", "text outside the top-level element"),
            (b"<plist version=\"1\" version=\"2\"><true/></plist>", "a duplicate attribute"),
            (b"<plist version><true/></plist>", "an attribute without a value"),
            (b"<plist version=1><true/></plist>", "an unquoted attribute value"),
            (b"<plist version=\"&x;\"><true/></plist>", "an attribute value with an unknown reference"),
            (b"<plist version=\"&#1;\"><true/></plist>", "an attribute value with an unknown reference"),
            (b"<plist a=\"1\"b=\"2\"><true/></plist>", "attributes not separated by whitespace"),
            (b"<plist><!-- a -- b --><true/></plist>", "`--` inside a comment"),
            (b"<plist><!-- a ---><true/></plist>", "`--` inside a comment"),
            (b"<plist><!-- \x01 --><true/></plist>", "the character '\\u{1}', which XML cannot hold"),
            (b"<plist><? a?><true/></plist>", "a processing instruction without a target name"),
            (b"<plist><true/><!DOCTYPE plist></plist>", "a DOCTYPE after the document element"),
            (b"<!DOCTYPE plist><!DOCTYPE plist><plist><true/></plist>", "or a second one"),
            (b"<!doctype plist><plist><true/></plist>", "a markup declaration outside a DOCTYPE"),
            (b"<!DOCTYPE plist PUBLIC \"x\"><plist><true/></plist>", "a DOCTYPE other than a name"),
            (b"<?xml version=\"1.0\" foo=\"bar\"?><plist><true/></plist>", "version, then encoding and standalone"),
            (b"<?xml encoding=\"UTF-8\"?><plist><true/></plist>", "version, then encoding and standalone"),
            (b"<plist><integer>0x0x10</integer></plist>", "the integer \"0x0x10\""),
            (b"<plist><integer>0x+10</integer></plist>", "the integer \"0x+10\""),
        ];
        for (bytes, needle) in cases {
            let e = refused(bytes, &limits, ErrorKind::Syntax, needle);
            assert!(e.position().is_some(), "{e}");
        }
        // Controls: what XML allows stays accepted.
        for (bytes, value) in [
            (&b"<?xml version = '1.0' encoding='utf-8' standalone='no' ?>\n<!DOCTYPE plist SYSTEM \"x.dtd\">\n<plist a=\"&amp;&#65;\" b='\"'>\n<true/>\n</plist>\n"[..], json!(true)),
            (b"<?xml-stylesheet href=\"x\"?><!-- c --> <array><integer>+5</integer><integer>0xFF</integer></array> <?pi?>\n", json!([5, 255])),
            (b"<plist><dict><key>a<!-- c -->b</key><string>x<?pi y?>z</string></dict></plist>", json!({"ab": "xz"})),
            (&doc("<string>\u{a0}</string>"), json!("\u{a0}")),
        ] {
            assert_eq!(parse_plist(bytes, &limits).unwrap(), value, "{:?}", String::from_utf8_lossy(bytes));
        }
    }

    /// THREATS DOC-1: the well-formedness checks stay linear: a tag with
    /// 100,000 attributes (and a duplicate at the end) is read in moments.
    #[test]
    fn doc_1_many_attributes_are_checked_in_linear_time() {
        let attrs: String = (0..100_000).map(|i| format!(" a{i}=\"\"")).collect();
        let ok = format!("<plist{attrs}><true/></plist>");
        let start = std::time::Instant::now();
        assert_eq!(parse_plist(ok.as_bytes(), &Limits::new(1 << 21, 8)).unwrap(), json!(true));
        let dup = format!("<plist{attrs} a7=\"\"><true/></plist>");
        refused(dup.as_bytes(), &Limits::new(1 << 21, 8), ErrorKind::Syntax, "a duplicate attribute");
        assert!(start.elapsed() < std::time::Duration::from_secs(10), "{:?}", start.elapsed());
    }

    /// THREATS DOC-1: an ASCII string object in a binary plist holding a
    /// byte above 0x7F (here the UTF-8 of "é", which the plist crate reads as
    /// "é" and plistlib refuses), even in an object the top does not reach.
    #[test]
    fn doc_1_binary_ascii_string_must_be_ascii() {
        let limits = Limits::default();
        refused(&bplist(&[b"\x52\xc3\xa9".to_vec()]), &limits, ErrorKind::Syntax, "holds the byte 0xc3");
        let long = [&b"\x5f\x10\x12"[..], &[b'a'; 17], b"\xff"].concat();
        refused(&bplist(&[long]), &limits, ErrorKind::Syntax, "holds the byte 0xff");
        refused(&bplist(&[b"\x09".to_vec(), b"\x51\x80".to_vec()]), &limits, ErrorKind::Syntax, "at byte 9");
        // UTF-16 strings carry any text; ASCII ones ASCII.
        let ok = bplist(&[b"\xa2\x01\x02".to_vec(), b"\x52ab".to_vec(), b"\x61\x00\xe9".to_vec()]);
        assert_eq!(parse_plist(&ok, &limits).unwrap(), json!(["ab", "é"]));
    }

    /// THREATS DOC-2: shared references expand no further than a document
    /// of the size limit can hold — at most one value per byte of the limit
    /// and one and a half bytes of text per byte — whatever the nesting.
    #[test]
    fn doc_2_shared_references_are_bounded_by_the_size_limit() {
        // 2^41 - 1 values from 243 bytes: refused once past the budget.
        let bomb = laughs(40, 2, b"\x09");
        assert_eq!(bomb.len(), 243);
        let start = std::time::Instant::now();
        let e = refused(&bomb, &Limits::default(), ErrorKind::TooLarge, "more than 1048576 values and keys");
        assert!(e.to_string().contains("size limit (1048576 bytes)"), "{e}");
        assert!(start.elapsed() < std::time::Duration::from_secs(20), "{:?}", start.elapsed());
        // Exactly at the budget: 1 + 8 + 64 + 512 + 4096 = 4681 values.
        let wide = laughs(4, 8, b"\x09");
        assert_eq!(parse_plist(&wide, &Limits::new(4681, 64)).unwrap()[7][7][7].as_array().unwrap().len(), 8);
        refused(&wide, &Limits::new(4680, 64), ErrorKind::TooLarge, "more than 4680 values and keys");
        // Text: one 100-byte string in 14 × 14 places is 19,600 bytes; a
        // limit of 13,067 bytes allows 19,600, one byte less allows 19,599.
        let text = laughs(2, 14, &[&b"\x5f\x10\x64"[..], &[b'x'; 100]].concat());
        assert_eq!(parse_plist(&text, &Limits::new(13_067, 64)).unwrap()[13][13].as_str().unwrap().len(), 100);
        refused(&text, &Limits::new(13_066, 64), ErrorKind::TooLarge, "more than 19599 bytes of text");
        // A document without shared references never reaches the budget:
        // every value takes at least a byte, so a size-limit document fits.
        let flat = bplist(&[[vec![0xAF, 0x10, 200], vec![1; 200]].concat(), b"\x09".to_vec()]);
        assert_eq!(parse_plist(&flat, &Limits::new(flat.len() as u64, 8)).unwrap().as_array().unwrap().len(), 200);
    }

    /// THREATS DOC-2: an object that contains itself — directly, through
    /// another array, or as a dictionary's value — is refused, and named.
    #[test]
    fn doc_2_reference_cycles_are_refused() {
        let limits = Limits::default();
        for objects in [
            vec![b"\xa1\x00".to_vec()],
            vec![b"\xa1\x01".to_vec(), b"\xa2\x02\x00".to_vec(), b"\x09".to_vec()],
            vec![b"\xd1\x01\x00".to_vec(), b"\x51k".to_vec()],
        ] {
            refused(&bplist(&objects), &limits, ErrorKind::Syntax, "contains itself (a reference cycle)");
        }
    }
}
