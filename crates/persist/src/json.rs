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
    let state = State { max_depth: limits.max_depth, violation: Cell::new(None) };
    let mut de = serde_json::Deserializer::from_str(text);
    let value = Seed { depth: 0, state: &state }.deserialize(&mut de).map_err(|e| convert(e, &state))?;
    de.end().map_err(|e| convert(e, &state))?;
    Ok(value)
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
    let mut out =
        serde_json::to_vec_pretty(value).map_err(|e| Error::new(ErrorKind::Type, "serialize", "-", e.to_string()))?;
    out.push(b'\n');
    Ok(out)
}

struct State {
    max_depth: usize,
    violation: Cell<Option<(ErrorKind, String)>>,
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
    fn output_is_pretty_with_trailing_newline() {
        let out = to_json_bytes(&serde_json::json!({"a": 1})).unwrap();
        assert_eq!(out, b"{\n  \"a\": 1\n}\n");
    }
}
