//! A model JSON reader shared by the `json_load` and `hello_ok` targets:
//! serde_json's own parser driven into a tree that keeps *every* object
//! entry, in order, so duplicate keys stay visible (a `serde_json::Value`
//! keeps only the last one). Each target uses part of it.
#![allow(dead_code)]

use std::fmt;

use serde::de::{self, Deserialize, Deserializer, MapAccess, SeqAccess, Visitor};
use serde_json::{Map, Number, Value};

/// A JSON document as written: objects keep every entry, in order.
#[derive(Debug)]
pub(crate) enum Tree {
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
    /// The (first) value of `key` in an object.
    pub(crate) fn get(&self, key: &str) -> Option<&Tree> {
        match self {
            Tree::Obj(o) => o.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// The string, if this is one.
    pub(crate) fn str(&self) -> Option<&str> {
        match self {
            Tree::Str(s) => Some(s),
            _ => None,
        }
    }

    /// Arrays and objects on the deepest path (a scalar is 0, `[]` is 1).
    pub(crate) fn depth(&self) -> usize {
        match self {
            Tree::Arr(a) => 1 + a.iter().map(Tree::depth).max().unwrap_or(0),
            Tree::Obj(o) => 1 + o.iter().map(|(_, v)| v.depth()).max().unwrap_or(0),
            _ => 0,
        }
    }

    pub(crate) fn has_duplicate_key(&self) -> bool {
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
    pub(crate) fn to_value(&self) -> Value {
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

/// Whether `text` (a document the model parsed) holds an integer literal
/// (no fraction, no exponent) outside `i64 ∪ u64`, which gw-persist refuses
/// rather than round to an `f64`. A model written apart from gw-persist's
/// scan: strings are found by counting the backslashes before each quote,
/// and the range is checked in `i128`.
pub(crate) fn has_wide_integer(text: &str) -> bool {
    let chars: Vec<char> = text.chars().collect();
    let mut in_string = false;
    let mut token = String::new();
    let wide = |t: &str| {
        !t.is_empty()
            && !t.contains(['.', 'e', 'E'])
            && t.parse::<i128>().map_or(true, |n| n < i128::from(i64::MIN) || n > i128::from(u64::MAX))
    };
    for (i, &c) in chars.iter().enumerate() {
        if in_string {
            let backslashes = chars[..i].iter().rev().take_while(|&&b| b == '\\').count();
            if c == '"' && backslashes % 2 == 0 {
                in_string = false;
            }
            continue;
        }
        if c.is_ascii_digit() || matches!(c, '-' | '+' | '.' | 'e' | 'E') {
            token.push(c);
            continue;
        }
        if wide(&token) {
            return true;
        }
        token.clear();
        in_string = c == '"';
    }
    wide(&token)
}
