//! [`zeroize_strings`] and [`ZeroizingValue`]: wiping the strings of a JSON
//! value that held secrets (`serde_json::Value` has no zeroizing drop of
//! its own).

use std::fmt;
use std::ops::{Deref, DerefMut};

use serde_json::Value;
use zeroize::{Zeroize, ZeroizeOnDrop};

/// Overwrites every string in `value` with zeros and empties it (the
/// strings of arrays and object values, at any depth; the shape and the
/// other scalars stay): for a document that held secrets, before it is
/// dropped. Object keys are left as they are (a map cannot change its keys
/// in place): keep secrets out of keys.
///
/// ```
/// let mut v = serde_json::json!({"token": "s3cret", "list": ["a", 1]});
/// gw_persist::zeroize_strings(&mut v);
/// assert_eq!(v, serde_json::json!({"token": "", "list": ["", 1]}));
/// ```
///
/// # Security
/// Wipes what it reaches: copies made earlier (a buffer that grew and was
/// moved, a string that was cloned) are not reached.
pub fn zeroize_strings(value: &mut Value) {
    // An explicit stack, not recursion: a value built in memory has no
    // depth limit.
    let mut todo = vec![value];
    while let Some(v) = todo.pop() {
        match v {
            Value::String(s) => s.zeroize(),
            Value::Array(items) => todo.extend(items.iter_mut()),
            Value::Object(map) => todo.extend(map.values_mut()),
            Value::Null | Value::Bool(_) | Value::Number(_) => {}
        }
    }
}

/// A JSON value whose strings are wiped ([`zeroize_strings`]) when it is
/// dropped, on every path out of a function; its `Debug` shows no string.
///
/// ```
/// use gw_persist::ZeroizingValue;
/// let doc = ZeroizingValue::new(serde_json::json!({"token": "s3cret"}));
/// assert_eq!(doc["token"], "s3cret"); // a `Value` through `Deref`
/// assert_eq!(format!("{doc:?}"), "ZeroizingValue([REDACTED])");
/// let plain = doc.into_value(); // the caller wipes it from here on
/// # let _ = plain;
/// ```
#[derive(Clone, PartialEq, Default)]
pub struct ZeroizingValue(Value);

impl ZeroizingValue {
    /// Takes `value` in.
    pub fn new(value: Value) -> Self {
        Self(value)
    }

    /// The value, no longer wiped on drop (to hand it to an API that takes a
    /// `Value`).
    pub fn into_value(mut self) -> Value {
        std::mem::take(&mut self.0)
    }
}

impl From<Value> for ZeroizingValue {
    fn from(value: Value) -> Self {
        Self(value)
    }
}

impl Deref for ZeroizingValue {
    type Target = Value;
    fn deref(&self) -> &Value {
        &self.0
    }
}

impl DerefMut for ZeroizingValue {
    fn deref_mut(&mut self) -> &mut Value {
        &mut self.0
    }
}

impl Drop for ZeroizingValue {
    fn drop(&mut self) {
        zeroize_strings(&mut self.0);
    }
}

impl ZeroizeOnDrop for ZeroizingValue {}

impl fmt::Debug for ZeroizingValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ZeroizingValue([REDACTED])")
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    #[test]
    fn every_string_at_any_depth_is_emptied_and_nothing_else_changes() {
        let mut deep = Value::String("innermost".into());
        for _ in 0..1_000 {
            deep = Value::Array(vec![deep]);
        }
        let mut v = serde_json::json!({"a": "one", "b": {"c": ["two", 3, true, null]}, "deep": deep});
        zeroize_strings(&mut v);
        let mut cur = &v["deep"];
        while let Value::Array(items) = cur {
            cur = &items[0];
        }
        assert_eq!(cur, &Value::String(String::new()));
        v["deep"] = Value::Null;
        assert_eq!(v, serde_json::json!({"a": "", "b": {"c": ["", 3, true, null]}, "deep": null}));
    }
}
