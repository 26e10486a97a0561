//! The well-formedness and plist-grammar check every XML property list
//! passes before the plist crate's event stream reads it (THREATS DOC-1):
//! what a conforming reader (`plutil`, launchd, Python's `plistlib`) refuses,
//! and what the event stream would read differently from them, is refused.

use super::*;

/// Refuses the XML constructs the plist crate's reader would read
/// differently from a conforming XML parser, refuses documents that are not
/// well-formed XML or not a property list's structure, and normalizes line
/// ends (`\r\n` and a lone `\r` become `\n`, XML 1.0 §2.11; a carriage return
/// in a value is written `&#13;`).
///
/// Refused (as [`ErrorKind::Syntax`], with the line and column) because
/// readers disagree on them: a CDATA section; an entity reference other than
/// `&amp;` `&lt;` `&gt;` `&quot;` `&apos;` and character references; a DOCTYPE
/// with an internal subset (entity declarations), or with `<` or an
/// unbalanced quote in it; an XML declaration anywhere
/// but at the start, or one naming a version other than 1.0 or an encoding
/// other than UTF-8; a namespace-prefixed element or attribute, or a
/// namespace declaration (`xmlns`, `xmlns:x`); a tag with `<` or an
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
pub(super) fn check_xml(bytes: &[u8]) -> Result<Cow<'_, [u8]>> {
    let refuse = |at: usize, what: &str| {
        let (line, col) = line_col(bytes, at);
        Err(syntax(&format!("{what} is refused (XML readers disagree on it)")).at(line, col).with_fix(
            "if the file is yours, re-save it with a plist writer (`plutil -convert xml1 FILE`, or Python's \
             plistlib.load then plistlib.dump) and review the result; gw's writer produces none of these",
        ))
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
                if decl.contains(&b'[') {
                    return refuse(i, "a DOCTYPE with an internal subset (entity declarations)");
                }
                if decl[1..].contains(&b'<') || !quotes_balanced(decl) {
                    return refuse(i, "a DOCTYPE with `<` or an unbalanced quote (readers disagree where it ends)");
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
                let parsed = parse_tag(tag);
                if let Ok(Tag::Start { attributes, .. }) = &parsed {
                    // Namespace-aware readers refuse an undeclared prefix, a
                    // reserved name bound or rebound, two prefixes naming one
                    // attribute; plistlib (expat without namespaces) reads
                    // them all. Plists use no namespaces, so gw refuses every
                    // namespace attribute rather than judge which are valid.
                    if attributes.iter().any(|&(n, _)| n.contains(&b':') || n == b"xmlns") {
                        return refuse(i, "a namespace declaration or namespace-prefixed attribute");
                    }
                }
                let step = match parsed {
                    Ok(Tag::Start { name, empty, .. }) => tree
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
    Start { name: &'a [u8], empty: bool, attributes: Vec<Attribute<'a>> },
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
    let attributes = attributes(&body[name_len..])?;
    Ok(Tag::Start { name, empty, attributes })
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
            // Digits only: no reference, comment or CDATA can hide in it.
            let raw = &bytes[open.content..at.max(open.content)];
            let valid = match raw.strip_prefix(b"0x") {
                Some(hex) => !hex.is_empty() && hex.iter().all(u8::is_ascii_hexdigit),
                None => {
                    let digits = raw.strip_prefix(b"-").or_else(|| raw.strip_prefix(b"+")).unwrap_or(raw);
                    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
                }
            };
            if !valid {
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
