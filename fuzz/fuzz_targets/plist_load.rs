//! Fuzz target: the strict plist loader, `gw_persist::parse_plist`, on
//! arbitrary bytes (XML and binary `bplist00`), under three limits (the
//! defaults; tiny size and depth; 64 KiB and a depth above the ceiling).
//!
//! Properties:
//! - it never panics;
//! - a refusal is `Syntax`, `DuplicateKey`, `TooDeep`, `TooLarge` or
//!   `Unsupported`; `TooLarge` when the input is over the size limit, and
//!   otherwise only for a binary plist whose expansion (an independent
//!   model of its object graph, `common/bplist_graph.rs`, counted without
//!   expanding it) holds more values and keys than a third of the size
//!   limit's bytes or more text than one and a half times it (THREATS
//!   DOC-2); a byte-order
//!   mark is always refused; a position, when given, is 1-based;
//! - binary plists, differential against that model and the plist crate's
//!   own `plist::Value` reader (independent of gw's checks): gw never
//!   accepts a graph with a cycle, a duplicate or non-string key, an ASCII
//!   string object holding a byte above 0x7F, or an expansion over the
//!   budget or the depth limit; a refusal naming a cycle, an ASCII string or
//!   the decoded size is backed by the model; and a document the model can
//!   read (no cycle, at most 2^16 values) that `plist::Value` reads to a
//!   value gw maps is refused only for one of those documented reasons (a
//!   duplicate key — `plist::Value` keeps the last —, a non-ASCII byte, the
//!   budget, the depth);
//! - an accepted value nests no deeper than the limit; for one of at most
//!   2^16 values and keys (larger ones come only from shared references,
//!   judged against the model above), the plist crate's
//!   own `plist::Value` reader (a different builder over the same events,
//!   given the same line-end normalized text; it keeps the last of duplicate
//!   keys, so it is only asked about documents gw accepted) reads the same
//!   value;
//! - an accepted XML document reads the same in an independent, conforming
//!   XML parser (roxmltree: entities, CDATA, line-end normalization, with a
//!   strict plist reading of its tree), and declares no encoding but UTF-8:
//!   no document may mean one thing to gw and another to plutil, launchd or
//!   plistlib (a CDATA section gw dropped once hid a duplicate key). gw
//!   accepts no document that parser refuses as XML or as a plist (a `<key>`
//!   outside a dictionary's key position, a value at a key position, an
//!   element inside a leaf: THREATS DOC-1). Allowed differences, one way
//!   only (gw refuses, the model reads): everything gw refuses as readers
//!   disagreeing on it, integers other than `[+-]digits` or `0x` and hex
//!   digits in plain text, text or markup inside `<true>`/`<false>`;
//! - round trip: `to_plist_bytes` → `parse_plist` gives the value back
//!   (refused as `Unsupported` only when a string holds a character XML
//!   cannot, which a binary plist can carry), and so does `to_json_bytes` →
//!   `parse_json`.
//!
//! `GW_FUZZ_DEBUG=1` prints each result.
#![no_main]

use std::io::Cursor;

use gw_persist::{ErrorKind, Limits, parse_json, parse_plist, to_json_bytes, to_plist_bytes};
use libfuzzer_sys::fuzz_target;
use serde_json::{Map, Number, Value};

#[path = "common/bplist_graph.rs"]
mod bplist_graph;

fn depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(depth).max().unwrap_or(0),
        _ => 0,
    }
}

/// Values and keys in `v`, `v` included.
fn nodes(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(nodes).sum::<usize>(),
        Value::Object(o) => 1 + o.values().map(|x| 1 + nodes(x)).sum::<usize>(),
        _ => 1,
    }
}

/// A character XML 1.0 cannot hold (the `Char` production).
fn not_xml(c: char) -> bool {
    (c < ' ' && !matches!(c, '\t' | '\n' | '\r')) || c == '\u{fffe}' || c == '\u{ffff}'
}

fn has_non_xml(v: &Value) -> bool {
    match v {
        Value::String(s) => s.chars().any(not_xml),
        Value::Array(a) => a.iter().any(has_non_xml),
        Value::Object(o) => o.iter().any(|(k, v)| k.chars().any(not_xml) || has_non_xml(v)),
        _ => false,
    }
}

/// The plist crate's value as JSON, for the types gw maps (`None` for the
/// others: gw must have refused those).
fn plain_to_json(v: &plist::Value) -> Option<Value> {
    Some(match v {
        plist::Value::Array(a) => Value::Array(a.iter().map(plain_to_json).collect::<Option<_>>()?),
        plist::Value::Dictionary(d) => {
            Value::Object(d.iter().map(|(k, v)| Some((k.clone(), plain_to_json(v)?))).collect::<Option<Map<_, _>>>()?)
        }
        plist::Value::Boolean(b) => Value::Bool(*b),
        plist::Value::String(s) => Value::String(s.clone()),
        plist::Value::Real(r) => Value::Number(Number::from_f64(*r)?),
        plist::Value::Integer(i) => match (i.as_signed(), i.as_unsigned()) {
            (Some(s), _) => s.into(),
            (None, Some(u)) => u.into(),
            (None, None) => return None,
        },
        _ => return None,
    })
}

/// What a conforming XML reader makes of a document.
enum Model {
    /// Not well-formed XML (or not UTF-8), or a plist structure readers
    /// refuse (see [`Miss::Refused`]): no other reader sees a value.
    Refused,
    /// The value other readers see.
    Value(Value),
    /// Other readers see something gw must refuse (or cannot read the same
    /// way): a duplicate key, an unknown element, another encoding, ...
    Differs(String),
}

fn model(data: &[u8]) -> Model {
    let Ok(text) = std::str::from_utf8(data) else { return Model::Refused };
    let opts = roxmltree::ParsingOptions { allow_dtd: true, nodes_limit: 1_000_000 };
    let Ok(doc) = roxmltree::Document::parse_with_options(text, opts) else { return Model::Refused };
    // roxmltree reads UTF-8 whatever the declaration says; other readers
    // honour it.
    if let Some(enc) = declared_encoding(text).filter(|e| !e.eq_ignore_ascii_case("utf-8")) {
        return Model::Differs(format!("declares encoding {enc:?}, read by gw as UTF-8"));
    }
    let root = doc.root_element();
    let top = if qname(text, root) == Some("plist") {
        match elements(root) {
            Ok(children) if children.len() == 1 => children[0],
            Ok(children) => return Model::Differs(format!("<plist> holds {} values", children.len())),
            Err(e) => return Model::Differs(e),
        }
    } else {
        root
    };
    match node_value(text, top, 0) {
        Ok(v) => Model::Value(v),
        Err(Miss::Refused) => Model::Refused,
        Err(Miss::Differs(why)) => Model::Differs(why),
    }
}

/// The encoding named in the XML declaration (`<?xml` then whitespace, at
/// the start), if any.
fn declared_encoding(text: &str) -> Option<&str> {
    let after = text.strip_prefix("<?xml")?;
    if !after.starts_with([' ', '\t', '\n', '\r']) {
        return None;
    }
    let decl = &text[..after.find("?>")? + 5];
    let rest = decl.split_once("encoding")?.1.trim_start().strip_prefix('=')?.trim_start();
    let quote = rest.chars().next()?;
    rest[1..].split_once(quote).map(|(enc, _)| enc)
}

/// The element's name as written (with any prefix).
fn qname<'t>(text: &'t str, n: roxmltree::Node) -> Option<&'t str> {
    let tag = text.get(n.range().start + 1..)?;
    Some(&tag[..tag.find(|c: char| c.is_whitespace() || c == '>' || c == '/').unwrap_or(tag.len())])
}

/// The element children; text other than whitespace between them is an error.
fn elements<'a, 'i>(n: roxmltree::Node<'a, 'i>) -> Result<Vec<roxmltree::Node<'a, 'i>>, String> {
    let mut out = Vec::new();
    for c in n.children() {
        if c.is_element() {
            out.push(c);
        } else if c.is_text() && !c.text().unwrap_or("").trim_matches([' ', '\t', '\n', '\r']).is_empty() {
            return Err(format!("text {:?} between values", c.text()));
        }
    }
    Ok(out)
}

/// The text of a leaf element (text and CDATA; comments and PIs skipped).
fn leaf_text(n: roxmltree::Node) -> Result<String, String> {
    if n.children().any(|c| c.is_element()) {
        return Err("an element inside a leaf value".into());
    }
    Ok(n.children().filter(|c| c.is_text()).filter_map(|c| c.text()).collect())
}

/// Why the model has no value for a document.
enum Miss {
    /// plist readers refuse it: a `<key>` where a value belongs, a value
    /// where a key belongs (THREATS DOC-1: gw must refuse it too).
    Refused,
    /// Readers see something gw must refuse.
    Differs(String),
}

impl From<String> for Miss {
    fn from(why: String) -> Self {
        Miss::Differs(why)
    }
}

fn node_value(text: &str, n: roxmltree::Node, depth: usize) -> Result<Value, Miss> {
    if depth > Limits::MAX_DEPTH_CEILING {
        return Err(Miss::Differs("deeper than any limit".into()));
    }
    let name = qname(text, n).ok_or_else(|| "an element without a name in the source".to_owned())?;
    Ok(match name {
        "dict" => {
            let mut m = Map::new();
            let children = elements(n)?;
            for pair in children.chunks(2) {
                if qname(text, pair[0]) != Some("key") || pair.len() < 2 {
                    return Err(Miss::Refused);
                }
                let key = leaf_text(pair[0])?;
                if m.insert(key.clone(), node_value(text, pair[1], depth + 1)?).is_some() {
                    return Err(Miss::Differs(format!("duplicate key {key:?}")));
                }
            }
            Value::Object(m)
        }
        "array" => {
            Value::Array(elements(n)?.into_iter().map(|c| node_value(text, c, depth + 1)).collect::<Result<_, _>>()?)
        }
        "string" => Value::String(leaf_text(n)?),
        "integer" => {
            // plist's own integer syntax (decimal, or `0x` hex), on the text
            // this parser read.
            let s = leaf_text(n)?;
            let v = match s.strip_prefix("0x") {
                Some(hex) if hex.bytes().all(|b| b.is_ascii_hexdigit()) => {
                    u64::from_str_radix(hex, 16).ok().map(Value::from)
                }
                Some(_) => None,
                None => s.parse::<i64>().ok().map(Value::from).or_else(|| s.parse::<u64>().ok().map(Value::from)),
            };
            v.ok_or_else(|| format!("integer {s:?}"))?
        }
        "real" => {
            let s = leaf_text(n)?;
            s.parse::<f64>().ok().and_then(Number::from_f64).map(Value::Number).ok_or_else(|| format!("real {s:?}"))?
        }
        "true" | "false" => {
            if !leaf_text(n)?.trim().is_empty() {
                return Err(Miss::Differs(format!("text inside <{name}>")));
            }
            Value::Bool(name == "true")
        }
        "key" => return Err(Miss::Refused),
        other => return Err(Miss::Differs(format!("element <{other}>"))),
    })
}

fn check(data: &[u8], limits: Limits) {
    let too_large = data.len() as u64 > limits.max_bytes;
    let result = parse_plist(data, &limits);
    if std::env::var_os("GW_FUZZ_DEBUG").is_some() {
        eprintln!("{limits:?} -> {result:?}");
    }
    if data.starts_with(b"bplist00") {
        check_binary(data, limits, &result);
    }
    match result {
        Ok(value) => {
            assert!(!too_large, "accepted over the size limit");
            assert!(!data.starts_with(b"\xEF\xBB\xBF"), "accepted a document that starts with a BOM");
            assert!(depth(&value) <= limits.max_depth, "accepted deeper than the limit {}", limits.max_depth);
            assert!(!value.is_null(), "a plist has no null");

            if !data.starts_with(b"bplist00") {
                match model(data) {
                    Model::Refused => panic!("accepted XML a conforming reader refuses (DOC-1): {data:?} as {value:?}"),
                    Model::Value(v) => assert_eq!(value, v, "an XML reader sees another value in {data:?}"),
                    Model::Differs(why) => panic!("accepted, but an XML reader sees: {why}; gw read {value:?}"),
                }
            }

            // The cross-checks below copy and re-render the whole value; past
            // 2^16 values and keys (what the graph model expands too) they
            // would take longer than the fuzzer's timeout under ASan for one
            // input. Such values come only from shared references, which
            // check_binary has judged against the model already.
            if nodes(&value) > 1 << 16 {
                return;
            }
            let plain = if data.starts_with(b"bplist00") {
                plist::Value::from_reader(Cursor::new(data))
            } else {
                // gw normalizes XML line ends first (XML 1.0 §2.11); the
                // plist crate's reader does not.
                let text = String::from_utf8_lossy(data).replace("\r\n", "\n").replace('\r', "\n");
                plist::Value::from_reader_xml(text.as_bytes())
            };
            let plain = plain.unwrap_or_else(|e| panic!("plist::Value refuses what gw accepted: {e}: {data:?}"));
            let plain = plain_to_json(&plain).expect("plist::Value holds a type gw refuses");
            assert_eq!(value, plain, "gw and plist::Value read different values from {data:?}");

            match to_plist_bytes(&value) {
                Ok(xml) => {
                    assert!(!has_non_xml(&value), "rendered a character XML cannot hold");
                    let again = parse_plist(&xml, &Limits::new(u64::MAX, limits.max_depth))
                        .unwrap_or_else(|e| panic!("the rendered plist does not re-parse: {e}: {xml:?}"));
                    assert_eq!(again, value, "plist round trip changed the value of {data:?}");
                }
                Err(e) => {
                    assert_eq!(e.kind(), ErrorKind::Unsupported, "{e}");
                    assert!(has_non_xml(&value), "render refused a value XML can hold: {e}: {value:?}");
                }
            }

            let json = to_json_bytes(&value).expect("render as JSON");
            let again = parse_json(&json, &Limits::new(u64::MAX, limits.max_depth))
                .unwrap_or_else(|e| panic!("the value as JSON does not re-parse: {e}"));
            assert_eq!(again, value, "JSON round trip changed the value of {data:?}");
        }
        Err(err) => {
            let kind = err.kind();
            assert!(
                matches!(
                    kind,
                    ErrorKind::Syntax
                        | ErrorKind::DuplicateKey
                        | ErrorKind::TooDeep
                        | ErrorKind::TooLarge
                        | ErrorKind::Unsupported
                ),
                "unexpected refusal kind {kind:?}: {err}"
            );
            if too_large || !data.starts_with(b"bplist00") {
                assert_eq!(kind == ErrorKind::TooLarge, too_large, "TooLarge iff over the size limit: {err}");
            }
            if data.starts_with(b"\xEF\xBB\xBF") && !too_large {
                assert_eq!(kind, ErrorKind::Syntax, "a BOM refused as {kind:?}: {err}");
            }
            if let Some((line, col)) = err.position() {
                assert!(line >= 1 && col >= 1, "position {line}:{col} is not 1-based: {err}");
            }
        }
    }
}

/// THREATS DOC-1/DOC-2 on a binary plist: gw's verdict against the
/// independent graph model and `plist::Value` (see the module doc).
fn check_binary(data: &[u8], limits: Limits, result: &gw_persist::Result<Value>) {
    let Some(m) = bplist_graph::expansion(data) else { return };
    let max_nodes = u128::from(limits.max_bytes / 3);
    let max_text = u128::from(limits.max_bytes) * 3 / 2;
    let over = m.nodes > max_nodes || m.text > max_text;
    let depth_limit = limits.max_depth.min(Limits::MAX_DEPTH_CEILING);
    match result {
        Ok(value) => {
            assert!(!m.cycle, "accepted a binary plist with a reference cycle: {data:?}");
            assert!(!m.duplicate_key && !m.non_string_key, "accepted a dictionary key gw refuses: {m:?}");
            assert!(!m.non_ascii, "accepted an ASCII string object with a byte above 0x7F: {data:?}");
            assert!(!over, "accepted an expansion over the budget ({max_nodes} values): {m:?}");
            assert_eq!(depth(value), m.depth, "gw and the model nest differently: {m:?}");
        }
        Err(e) => {
            let text = e.to_string();
            if e.kind() == ErrorKind::TooLarge && data.len() as u64 <= limits.max_bytes {
                assert!(over, "refused as too large, but the model expands to {m:?}: {text}");
                assert!(text.contains("decoded value"), "{text}");
            }
            if text.contains("reference cycle") {
                assert!(m.cycle, "refused a cycle the model does not see: {text}");
            }
            if text.contains("ASCII string object") {
                assert!(m.non_ascii, "refused an ASCII string the model finds ASCII: {text}");
            }
            if !m.cycle && m.nodes <= 1 << 16 && data.len() as u64 <= limits.max_bytes {
                let plain = plist::Value::from_reader(Cursor::new(data)).ok();
                if let Some(json) = plain.as_ref().and_then(plain_to_json) {
                    let explained = m.duplicate_key || m.non_ascii || over || depth(&json) > depth_limit;
                    assert!(explained, "refused ({text}) a binary plist plist::Value reads as {json}: {m:?}");
                }
            }
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, Limits::default());
    check(data, Limits::new(512, 2));
    // A size limit (without one, a binary plist's expansion has no bound
    // either, by design) and a depth above the ceiling.
    check(data, Limits::new(1 << 16, usize::MAX));
});
