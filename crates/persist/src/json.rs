//! Strict JSON: size limit before parsing, depth limit, duplicate keys
//! refused, invalid UTF-8, a byte-order mark and trailing data refused; errors
//! carry the line and column.
//!
//! serde_json alone keeps the *last* of two equal keys silently; a document
//! that two parsers read differently is a known attack (one checks the first
//! `"admin": false`, the other acts on the second `"admin": true`). The
//! parser here is serde_json's, driven by a visitor that refuses duplicates
//! and counts depth while it builds the value (one pass, no second parser).

use std::cell::Cell;
use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limits;

const OP: &str = "parse";
const BOM: &[u8] = b"\xEF\xBB\xBF";

/// Parses `bytes` as one strict JSON document.
///
/// # Errors
/// [`ErrorKind::TooLarge`] (checked before parsing), [`ErrorKind::Syntax`]
/// (malformed, invalid UTF-8, byte-order mark, trailing data),
/// [`ErrorKind::DuplicateKey`], [`ErrorKind::TooDeep`] — each with the line and
/// column. The path in the error is `-`; [`crate::Document`] names the file.
///
/// # Security
/// THREATS CLI-2 (hostile input is refused, never half-accepted).
pub fn parse_json(bytes: &[u8], limits: &Limits) -> Result<Value> {
    let text = check_size_and_encoding(bytes, limits)?;
    let state = State { max_depth: limits.max_depth, violation: Cell::new(None), big_float: Cell::new(false) };
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Seed { depth: 0, state: &state }.deserialize(&mut de).map_err(|e| convert(e, &state))?;
    de.end().map_err(|e| convert(e, &state))?;
    if state.big_float.get() {
        refuse_inexact_integers(text)?;
    }
    Ok(value)
}

/// The largest magnitude below which every integer is an exact `f64`: an
/// integer literal that fits neither `i64` nor `u64` (which serde_json turns
/// into an `f64`) is at least this large.
const EXACT_F64: f64 = 9_007_199_254_740_992.0; // 2^53

/// Refuses an integer literal outside `i64`/`u64`: serde_json would keep it
/// as the nearest `f64`, and the next save would write a different number
/// (`12345678901234567890123` as `1.2345678901234568e+22`). Refused, with
/// its position, rather than silently rounded. Called only when the parse
/// saw an integral float of 2^53 or more, on text the parser accepted (so
/// strings and numbers are where a scan finds them).
///
/// Hand-written: serde_json's `arbitrary_precision` would keep such numbers,
/// but it hands numbers to a visitor as a map with a magic key that a real
/// object can also carry (a parser differential this strict parser exists to
/// prevent), and it would change every `Number` in the workspace.
fn refuse_inexact_integers(text: &str) -> Result<()> {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'"' => {
                i += 1;
                while i < b.len() && b[i] != b'"' {
                    i += if b[i] == b'\\' { 2 } else { 1 };
                }
                i += 1;
            }
            b'-' | b'0'..=b'9' => {
                let start = i;
                while i < b.len() && matches!(b[i], b'-' | b'+' | b'.' | b'e' | b'E' | b'0'..=b'9') {
                    i += 1;
                }
                let lit = &text[start..i];
                let integer = !lit.contains(['.', 'e', 'E']);
                if integer && lit.parse::<i64>().is_err() && lit.parse::<u64>().is_err() {
                    let (line, col) = line_col(b, start);
                    return Err(Error::new(
                        ErrorKind::Unsupported,
                        OP,
                        "-",
                        format!(
                            "the integer {lit} does not fit in 64 bits; it would be rounded to {} on the next \
                             save, so it is refused",
                            lit.parse::<f64>()
                                .ok()
                                .and_then(Number::from_f64)
                                .map(|n| n.to_string())
                                .unwrap_or_default()
                        ),
                    )
                    .at(line, col)
                    .with_fix(format!("keep it as a string, in quotes: \"{lit}\" (`gw doc set --string`)")));
                }
            }
            _ => i += 1,
        }
    }
    Ok(())
}

/// The size limit, checked before any parsing.
pub(crate) fn check_size(bytes: &[u8], limits: &Limits) -> Result<()> {
    if bytes.len() as u64 > limits.max_bytes {
        return Err(Error::new(
            ErrorKind::TooLarge,
            OP,
            "-",
            format!("the document is {} bytes; the limit is {}", bytes.len(), limits.max_bytes),
        ));
    }
    Ok(())
}

/// The size limit, then no byte-order mark, then valid UTF-8 (with the
/// position of the first invalid byte). Returns the text, validated once.
pub(crate) fn check_size_and_encoding<'b>(bytes: &'b [u8], limits: &Limits) -> Result<&'b str> {
    check_size(bytes, limits)?;
    if bytes.starts_with(BOM) {
        return Err(Error::new(ErrorKind::Syntax, OP, "-", "refused: a byte-order mark (BOM) starts the document")
            .at(1, 1)
            .with_fix("save the file as UTF-8 without a BOM"));
    }
    std::str::from_utf8(bytes).map_err(|e| {
        let (line, col) = line_col(bytes, e.valid_up_to());
        Error::new(ErrorKind::Syntax, OP, "-", "invalid UTF-8").at(line, col)
    })
}

/// 1-based line and column of byte `offset`.
pub(crate) fn line_col(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let col = offset - before.iter().rposition(|&b| b == b'\n').map_or(0, |p| p + 1) + 1;
    (line, col)
}

/// Pretty-printed JSON with a trailing newline.
///
/// # Errors
/// Only if the value cannot be serialized (never for a `Value`).
pub fn to_json_bytes(value: &Value) -> Result<Vec<u8>> {
    to_json_bytes_styled(value, JsonStyle::default())
}

/// How a JSON document is laid out, so that an edit writes it back the way
/// it was: indented (two spaces, four, a tab...) or compact, with or without
/// a trailing newline.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct JsonStyle {
    /// `None`: compact (one line); `Some((byte, n))`: `n` times `byte`
    /// (a space or a tab) per level.
    indent: Option<(u8, usize)>,
    trailing_newline: bool,
}

impl Default for JsonStyle {
    /// Two spaces per level and a trailing newline (what gw writes new).
    fn default() -> Self {
        Self { indent: Some((b' ', 2)), trailing_newline: true }
    }
}

impl JsonStyle {
    /// Compact, on one line.
    pub const COMPACT: Self = Self { indent: None, trailing_newline: true };

    /// Indented by `n` (1 to 16) spaces per level.
    pub fn spaces(n: usize) -> Self {
        Self { indent: Some((b' ', n.clamp(1, 16))), trailing_newline: true }
    }

    /// Indented by one tab per level.
    pub const TAB: Self = Self { indent: Some((b'\t', 1)), trailing_newline: true };

    /// The layout of `bytes` (a document as read): the indentation of its
    /// first indented line (tab, or 1 to 16 spaces); compact when an object
    /// or array with members is on a single line; the default layout when
    /// nothing says otherwise (`{}`, a scalar).
    pub fn detect(bytes: &[u8]) -> Self {
        let trailing_newline = bytes.ends_with(b"\n");
        let body = bytes.strip_suffix(b"\n").unwrap_or(bytes);
        let base = Self { trailing_newline, ..Self::default() };
        if !body.contains(&b'\n') {
            let has_members = body.len() > 2 && matches!(body.first(), Some(b'{' | b'['));
            return if has_members { Self { indent: None, trailing_newline } } else { base };
        }
        for line in body.split(|&b| b == b'\n').skip(1) {
            match line.first() {
                Some(b'\t') => return Self { indent: Some((b'\t', 1)), trailing_newline },
                Some(b' ') => {
                    let n = line.iter().take_while(|&&b| b == b' ').count();
                    return Self { indent: Some((b' ', n.min(16))), trailing_newline };
                }
                _ => {}
            }
        }
        base
    }
}

/// `value` as JSON laid out as `style` says.
///
/// # Errors
/// Only if the value cannot be serialized (never for a `Value`).
pub fn to_json_bytes_styled(value: &Value, style: JsonStyle) -> Result<Vec<u8>> {
    use serde::Serialize;
    let err = |e: serde_json::Error| Error::new(ErrorKind::Type, "serialize", "-", e.to_string());
    let mut out = Vec::new();
    match style.indent {
        None => serde_json::to_writer(&mut out, value).map_err(err)?,
        Some((byte, n)) => {
            let indent = vec![byte; n];
            let fmt = serde_json::ser::PrettyFormatter::with_indent(&indent);
            value.serialize(&mut serde_json::Serializer::with_formatter(&mut out, fmt)).map_err(err)?;
        }
    }
    if style.trailing_newline {
        out.push(b'\n');
    }
    Ok(out)
}

struct State {
    max_depth: usize,
    violation: Cell<Option<(ErrorKind, String)>>,
    /// An integral float of 2^53 or more was seen: perhaps an integer
    /// literal too large for 64 bits ([`refuse_inexact_integers`]).
    big_float: Cell<bool>,
}

fn convert(e: serde_json::Error, state: &State) -> Error {
    let (kind, message) = match state.violation.take() {
        Some(v) => v,
        None => {
            let text = e.to_string();
            // serde_json appends " at line L column C"; the position is kept
            // separately.
            let text = match text.rfind(" at line ") {
                Some(i) => text[..i].to_owned(),
                None => text,
            };
            let kind = if text.contains("recursion limit") { ErrorKind::TooDeep } else { ErrorKind::Syntax };
            (kind, text)
        }
    };
    let err = Error::new(kind, OP, "-", message);
    // serde_json says column 0 for an error before the first character of a
    // line (at the end of input after a newline); positions here are 1-based.
    if e.line() > 0 { err.at(e.line(), e.column().max(1)) } else { err }
}

#[derive(Clone, Copy)]
struct Seed<'a> {
    depth: usize,
    state: &'a State,
}

impl Seed<'_> {
    fn enter<E: de::Error>(self) -> std::result::Result<Self, E> {
        let depth = self.depth + 1;
        if depth > self.state.max_depth {
            let msg = format!("nesting is deeper than the limit of {}", self.state.max_depth);
            self.state.violation.set(Some((ErrorKind::TooDeep, msg.clone())));
            return Err(E::custom(msg));
        }
        Ok(Seed { depth, state: self.state })
    }
}

impl<'de> DeserializeSeed<'de> for Seed<'_> {
    type Value = Value;
    fn deserialize<D: de::Deserializer<'de>>(self, d: D) -> std::result::Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Seed<'_> {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> std::result::Result<Value, E> {
        Ok(Value::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> std::result::Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> std::result::Result<Value, E> {
        Ok(Value::Number(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> std::result::Result<Value, E> {
        if v.fract() == 0.0 && v.abs() >= EXACT_F64 {
            self.state.big_float.set(true);
        }
        Number::from_f64(v).map(Value::Number).ok_or_else(|| E::custom("a number that is not finite"))
    }
    fn visit_str<E>(self, v: &str) -> std::result::Result<Value, E> {
        Ok(Value::String(v.to_owned()))
    }
    fn visit_string<E>(self, v: String) -> std::result::Result<Value, E> {
        Ok(Value::String(v))
    }
    fn visit_unit<E>(self) -> std::result::Result<Value, E> {
        Ok(Value::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> std::result::Result<Value, A::Error> {
        let inner = self.enter()?;
        let mut out = Vec::new();
        while let Some(v) = seq.next_element_seed(inner)? {
            out.push(v);
        }
        Ok(Value::Array(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> std::result::Result<Value, A::Error> {
        let inner = self.enter()?;
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            if out.contains_key(&key) {
                let msg = format!("refused: duplicate key `{key}` (parsers disagree on which copy wins)");
                self.state.violation.set(Some((ErrorKind::DuplicateKey, msg.clone())));
                return Err(de::Error::custom(msg));
            }
            let value = map.next_value_seed(inner)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kind(s: &str) -> Option<ErrorKind> {
        parse_json(s.as_bytes(), &Limits::default()).err().map(|e| e.kind())
    }

    #[test]
    fn accepts_plain_documents() {
        let v = parse_json(br#"{"a": [1, -2, 3.5, true, null, "x"], "b": {}}"#, &Limits::default()).unwrap();
        assert_eq!(v["a"][1], serde_json::json!(-2));
        assert_eq!(v["a"][2], serde_json::json!(3.5));
    }

    #[test]
    fn refuses_duplicates_at_any_depth() {
        assert_eq!(kind(r#"{"a": 1, "a": 2}"#), Some(ErrorKind::DuplicateKey));
        assert_eq!(kind(r#"{"x": [{"k": 1, "k": 1}]}"#), Some(ErrorKind::DuplicateKey));
        assert_eq!(kind(r#"{"a\u0041": 1, "aA": 2}"#), Some(ErrorKind::DuplicateKey), "escapes are decoded first");
    }

    #[test]
    fn refuses_bom_garbage_utf8_depth_size() {
        assert_eq!(parse_json(b"\xEF\xBB\xBF{}", &Limits::default()).unwrap_err().kind(), ErrorKind::Syntax);
        assert_eq!(kind("{} x"), Some(ErrorKind::Syntax));
        assert_eq!(kind("{}{}"), Some(ErrorKind::Syntax));
        assert_eq!(parse_json(b"{\"a\": \"\xff\"}", &Limits::default()).unwrap_err().kind(), ErrorKind::Syntax);
        let deep = format!("{}{}", "[".repeat(65), "]".repeat(65));
        assert_eq!(kind(&deep), Some(ErrorKind::TooDeep));
        let ok = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert_eq!(kind(&ok), None);
        let big = vec![b' '; 100];
        assert_eq!(parse_json(&big, &Limits::new(99, 8)).unwrap_err().kind(), ErrorKind::TooLarge);
    }

    #[test]
    fn errors_carry_line_and_column() {
        let e = parse_json(b"{\n  \"a\": 1,\n  \"a\": 2\n}", &Limits::default()).unwrap_err();
        assert_eq!(e.position().map(|p| p.0), Some(3));
        let e = parse_json(b"{\n\n  \"a\": \xff}", &Limits::default()).unwrap_err();
        assert_eq!(e.position(), Some((3, 8)));
    }

    #[test]
    fn integers_beyond_64_bits_are_refused_not_rounded() {
        let e =
            parse_json(b"{\"a\": \"123456789012345678901234\",\n \"b\": 12345678901234567890123}", &Limits::default())
                .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::Unsupported);
        assert_eq!(e.position(), Some((2, 7)));
        assert!(e.message().contains("12345678901234567890123"), "{}", e.message());
        assert_eq!(kind("-9223372036854775809"), Some(ErrorKind::Unsupported));
        // The edges of i64 and u64, and floats of any size, are kept.
        assert_eq!(kind("[-9223372036854775808, 18446744073709551615, 1e22, 1.5e300]"), None);
        assert_eq!(kind("[\"18446744073709551616\", 9007199254740993.0]"), None);
    }

    #[test]
    fn key_order_is_kept() {
        let v = parse_json(br#"{"z": 1, "a": {"y": 2, "b": 3}}"#, &Limits::default()).unwrap();
        assert_eq!(
            String::from_utf8(to_json_bytes_styled(&v, JsonStyle::COMPACT).unwrap()).unwrap(),
            "{\"z\":1,\"a\":{\"y\":2,\"b\":3}}\n"
        );
    }

    #[test]
    fn styles_are_detected_and_written_back() {
        for text in [
            "{\n  \"a\": [\n    1\n  ]\n}\n",
            "{\n    \"a\": [\n        1\n    ]\n}\n",
            "{\n\t\"a\": [\n\t\t1\n\t]\n}\n",
            "{\"a\":[1]}",
            "{\"a\":[1]}\n",
        ] {
            let v = parse_json(text.as_bytes(), &Limits::default()).unwrap();
            let out = to_json_bytes_styled(&v, JsonStyle::detect(text.as_bytes())).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), text);
        }
        assert_eq!(JsonStyle::detect(b"{}\n"), JsonStyle::default());
        // A document with nothing to indent keeps its last line as it was.
        for text in ["{}", "[]", "42", "\"x\"", "{}\n", "null\n"] {
            let v = parse_json(text.as_bytes(), &Limits::default()).unwrap();
            let out = to_json_bytes_styled(&v, JsonStyle::detect(text.as_bytes())).unwrap();
            assert_eq!(String::from_utf8(out).unwrap(), text);
        }
    }

    #[test]
    fn styles_indent_as_they_say() {
        let v = serde_json::json!({"a": [1]});
        let styled = |style| String::from_utf8(to_json_bytes_styled(&v, style).unwrap()).unwrap();
        assert_eq!(styled(JsonStyle::spaces(4)), "{\n    \"a\": [\n        1\n    ]\n}\n");
        assert_eq!(styled(JsonStyle::spaces(0)), styled(JsonStyle::spaces(1)), "at least one space");
        assert_eq!(styled(JsonStyle::spaces(40)), styled(JsonStyle::spaces(16)), "at most sixteen");
        assert_eq!(styled(JsonStyle::spaces(1)), "{\n \"a\": [\n  1\n ]\n}\n");
        assert_eq!(styled(JsonStyle::TAB), "{\n\t\"a\": [\n\t\t1\n\t]\n}\n");
        assert_eq!(styled(JsonStyle::COMPACT), "{\"a\":[1]}\n");
    }

    #[test]
    fn output_is_pretty_with_trailing_newline() {
        let out = to_json_bytes(&serde_json::json!({"a": 1})).unwrap();
        assert_eq!(out, b"{\n  \"a\": 1\n}\n");
    }
}
