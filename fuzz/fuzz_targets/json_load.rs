//! Fuzz target: the strict JSON loader, `gw_persist::parse_json`, on
//! arbitrary bytes, under four limits (the defaults; tiny size and depth;
//! depth 0; no size limit and a depth above the ceiling, which is clamped).
//!
//! Properties, checked against a model: serde_json's own parser driven into
//! a tree that keeps *every* object entry in order (so duplicates stay
//! visible), plus plain `serde_json::from_slice::<Value>` (with
//! `float_roundtrip`, as in gw-persist: see Cargo.toml):
//! - it never panics;
//! - it accepts exactly the documents the model parses that have no
//!   duplicate key at any depth, nest no deeper than the limit and fit the
//!   size limit (a BOM, invalid UTF-8 and trailing data fail the model too);
//! - an accepted value equals the model's and plain serde_json's, and
//!   `to_json_bytes` → `parse_json` gives it back unchanged (round trip);
//! - a refusal is `Syntax`, `DuplicateKey`, `TooDeep` or `TooLarge`, and the
//!   kind is one the model explains (`TooLarge` iff over the size limit; a
//!   duplicate / too deep / malformed document for the others); a position,
//!   when given, is 1-based and inside the document.
//!
//! `GW_FUZZ_DEBUG=1` prints each result.
#![no_main]

use std::fmt;

use gw_persist::{ErrorKind, Limits, parse_json, to_json_bytes};
use libfuzzer_sys::fuzz_target;
use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON document as written: objects keep every entry, in order.
#[derive(Debug)]
enum Tree {
    Null,
    Bool(bool),
    Num(Number),
    Str(String),
    Arr(Vec<Tree>),
    Obj(Vec<(String, Tree)>),
}

impl<'de> Deserialize<'de> for Tree {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(TreeVisitor)
    }
}

struct TreeVisitor;

impl<'de> Visitor<'de> for TreeVisitor {
    type Value = Tree;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("any JSON value")
    }
    fn visit_bool<E>(self, v: bool) -> Result<Tree, E> {
        Ok(Tree::Bool(v))
    }
    fn visit_i64<E>(self, v: i64) -> Result<Tree, E> {
        Ok(Tree::Num(v.into()))
    }
    fn visit_u64<E>(self, v: u64) -> Result<Tree, E> {
        Ok(Tree::Num(v.into()))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Tree, E> {
        Number::from_f64(v).map(Tree::Num).ok_or_else(|| E::custom("not finite"))
    }
    fn visit_str<E>(self, v: &str) -> Result<Tree, E> {
        Ok(Tree::Str(v.to_owned()))
    }
    fn visit_unit<E>(self) -> Result<Tree, E> {
        Ok(Tree::Null)
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Tree, A::Error> {
        let mut out = Vec::new();
        while let Some(v) = seq.next_element()? {
            out.push(v);
        }
        Ok(Tree::Arr(out))
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Tree, A::Error> {
        let mut out = Vec::new();
        while let Some((k, v)) = map.next_entry::<String, Tree>()? {
            out.push((k, v));
        }
        Ok(Tree::Obj(out))
    }
}

impl Tree {
    /// Arrays and objects on the deepest path (a scalar is 0, `[]` is 1).
    fn depth(&self) -> usize {
        match self {
            Tree::Arr(a) => 1 + a.iter().map(Tree::depth).max().unwrap_or(0),
            Tree::Obj(o) => 1 + o.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }

    fn has_duplicate_key(&self) -> bool {
        match self {
            Tree::Arr(a) => a.iter().any(Tree::has_duplicate_key),
            Tree::Obj(o) => {
                let mut keys: Vec<&str> = o.iter().map(|(k, _)| k.as_str()).collect();
                keys.sort_unstable();
                keys.windows(2).any(|w| w[0] == w[1]) || o.iter().any(|(_, v)| v.has_duplicate_key())
            }
            _ => false,
        }
    }

    /// The value, for a tree without duplicate keys.
    fn to_value(&self) -> Value {
        match self {
            Tree::Null => Value::Null,
            Tree::Bool(b) => Value::Bool(*b),
            Tree::Num(n) => Value::Number(n.clone()),
            Tree::Str(s) => Value::String(s.clone()),
            Tree::Arr(a) => Value::Array(a.iter().map(Tree::to_value).collect()),
            Tree::Obj(o) => Value::Object(o.iter().map(|(k, v)| (k.clone(), v.to_value())).collect::<Map<_, _>>()),
        }
    }
}

fn value_depth(v: &Value) -> usize {
    match v {
        Value::Array(a) => 1 + a.iter().map(value_depth).max().unwrap_or(0),
        Value::Object(o) => 1 + o.values().map(value_depth).max().unwrap_or(0),
        _ => 0,
    }
}

fn check(data: &[u8], limits: Limits, model: &Result<Tree, serde_json::Error>) {
    let max_depth = limits.max_depth.min(Limits::MAX_DEPTH_CEILING);
    let too_large = data.len() as u64 > limits.max_bytes;
    let result = parse_json(data, &limits);
    if std::env::var_os("GW_FUZZ_DEBUG").is_some() {
        eprintln!("{limits:?} -> {result:?}");
    }
    let model_accepts = match model {
        Ok(t) => !too_large && !t.has_duplicate_key() && t.depth() <= max_depth,
        Err(_) => false,
    };
    match result {
        Ok(value) => {
            assert!(model_accepts, "accepted, but the model refuses ({limits:?}, model: {model:?}): {data:?}");
            let tree = model.as_ref().unwrap();
            assert_eq!(value, tree.to_value(), "the value differs from the model's: {data:?}");
            let plain: Value = serde_json::from_slice(data).expect("plain serde_json refuses what gw accepted");
            assert_eq!(value, plain, "the value differs from plain serde_json's: {data:?}");
            assert!(value_depth(&value) <= max_depth);

            let bytes = to_json_bytes(&value).expect("render an accepted value");
            assert!(bytes.ends_with(b"\n"), "rendered JSON has no trailing newline");
            let again = parse_json(&bytes, &Limits::new(u64::MAX, max_depth))
                .unwrap_or_else(|e| panic!("the rendered value does not re-parse: {e}: {bytes:?}"));
            assert_eq!(again, value, "round trip changed the value of {data:?}");
        }
        Err(err) => {
            assert!(!model_accepts, "refused, but the model accepts ({limits:?}): {err}: {data:?}");
            let kind = err.kind();
            match kind {
                ErrorKind::TooLarge => assert!(too_large, "TooLarge within the limit: {err}"),
                ErrorKind::Syntax => assert!(model.is_err(), "Syntax error for a document serde_json reads: {err}"),
                ErrorKind::DuplicateKey => assert!(
                    model.as_ref().map_or(true, Tree::has_duplicate_key),
                    "DuplicateKey for a document without one: {err}"
                ),
                ErrorKind::TooDeep => assert!(
                    model.as_ref().map_or(true, |t| t.depth() > max_depth),
                    "TooDeep for a document within the depth limit: {err}"
                ),
                other => panic!("unexpected refusal kind {other:?}: {err}"),
            }
            if kind != ErrorKind::TooLarge {
                assert!(!too_large, "a document over the size limit was refused as {kind:?}, not TooLarge");
            }
            if let Some((line, col)) = err.position() {
                let lines = data.iter().filter(|&&b| b == b'\n').count() + 1;
                assert!(line >= 1 && col >= 1, "position {line}:{col} is not 1-based: {err}");
                assert!(line <= lines && col <= data.len() + 1, "position {line}:{col} is outside the document: {err}");
            }
            assert_eq!(err.kind().is_security_refusal(), kind == ErrorKind::DuplicateKey);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let model = serde_json::from_slice::<Tree>(data);
    check(data, Limits::default(), &model);
    check(data, Limits::new(256, 2), &model);
    check(data, Limits::new(32, 0), &model);
    check(data, Limits::new(u64::MAX, usize::MAX), &model);
});
