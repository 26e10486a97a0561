//! JSON pointers (RFC 6901): get, set and remove one value in a document.
//!
//! Resolution uses serde_json's own `Value::pointer`/`pointer_mut`; what is
//! added here is strict syntax (a pointer is empty or starts with `/`; `~` is
//! only `~0` or `~1`) and the last step of set/remove. [`set`] creates no
//! missing parent (setting `/a/b` needs `/a` to exist); [`set_creating`]
//! creates missing objects on the way, as jq's `setpath` does.

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};

const OP: &str = "pointer";

fn bad(ptr: &str, why: impl Into<String>) -> Error {
    Error::new(ErrorKind::Pointer, OP, "-", format!("JSON pointer `{ptr}`: {}", why.into()))
}

/// Splits and unescapes `ptr` into reference tokens.
///
/// # Errors
/// [`ErrorKind::Pointer`] for a pointer that does not start with `/` (and is
/// not empty) or has a `~` not followed by `0` or `1`.
pub fn tokens(ptr: &str) -> Result<Vec<String>> {
    if ptr.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = ptr.strip_prefix('/') else {
        return Err(bad(ptr, "must be empty or start with `/`"));
    };
    rest.split('/')
        .map(|t| {
            let mut out = String::with_capacity(t.len());
            let mut chars = t.chars();
            while let Some(c) = chars.next() {
                match (c, c == '~') {
                    (_, false) => out.push(c),
                    (_, true) => match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => return Err(bad(ptr, "`~` must be followed by 0 or 1")),
                    },
                }
            }
            Ok(out)
        })
        .collect()
}

fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// The value at `ptr`.
///
/// # Errors
/// [`ErrorKind::Pointer`] if malformed or nothing is there.
pub fn get<'a>(doc: &'a Value, ptr: &str) -> Result<&'a Value> {
    tokens(ptr)?;
    doc.pointer(ptr).ok_or_else(|| bad(ptr, "nothing at this location"))
}

/// Sets the value at `ptr` (the whole document for `""`). The parent must
/// exist and be an object (any key) or an array (an index up to its length,
/// or `-` to append).
///
/// # Errors
/// [`ErrorKind::Pointer`] if malformed, the parent is missing or not a
/// container, or an index is out of range.
pub fn set(doc: &mut Value, ptr: &str, value: Value) -> Result<()> {
    let toks = tokens(ptr)?;
    let Some((last, parents)) = toks.split_last() else {
        *doc = value;
        return Ok(());
    };
    let parent_ptr: String = parents.iter().map(|t| format!("/{}", escape(t))).collect();
    let parent = doc.pointer_mut(&parent_ptr).ok_or_else(|| bad(ptr, "the parent does not exist"))?;
    match parent {
        Value::Object(map) => {
            map.insert(last.clone(), value);
            Ok(())
        }
        Value::Array(arr) => {
            let index = if last == "-" { arr.len() } else { array_index(ptr, last)? };
            match index.cmp(&arr.len()) {
                std::cmp::Ordering::Less => arr[index] = value,
                std::cmp::Ordering::Equal => arr.push(value),
                std::cmp::Ordering::Greater => return Err(bad(ptr, format!("index {index} is past the end"))),
            }
            Ok(())
        }
        _ => Err(bad(ptr, "the parent is not an object or an array")),
    }
}

/// [`set`], creating each missing parent as an empty object (as jq's
/// `setpath` does for keys): `/a/b/c` in `{}` gives `{"a": {"b": {"c": V}}}`.
/// An existing parent is never replaced, and an array is not extended on
/// the way (its index must exist).
///
/// # Errors
/// [`ErrorKind::Pointer`] if malformed, a parent on the way is neither an
/// object nor an array, or an array index on the way is past its end.
pub fn set_creating(doc: &mut Value, ptr: &str, value: Value) -> Result<()> {
    let toks = tokens(ptr)?;
    if let Some((_, parents)) = toks.split_last() {
        let mut at = &mut *doc;
        for (i, tok) in parents.iter().enumerate() {
            let here: String = parents[..=i].iter().map(|t| format!("/{}", escape(t))).collect();
            at = match at {
                Value::Object(map) => map.entry(tok.clone()).or_insert_with(|| Value::Object(Default::default())),
                Value::Array(arr) => {
                    let index = array_index(ptr, tok)?;
                    let len = arr.len();
                    arr.get_mut(index).ok_or_else(|| {
                        bad(
                            ptr,
                            format!("`{here}`: index {index} is past the end ({len} items); arrays are not extended"),
                        )
                    })?
                }
                _ => return Err(bad(ptr, format!("`{here}` is not an object or an array"))),
            };
        }
    }
    set(doc, ptr, value)
}

/// Removes and returns the value at `ptr`.
///
/// # Errors
/// [`ErrorKind::Pointer`] if malformed or nothing is there; removing the
/// whole document (`""`) is refused.
pub fn remove(doc: &mut Value, ptr: &str) -> Result<Value> {
    let toks = tokens(ptr)?;
    let Some((last, parents)) = toks.split_last() else {
        return Err(bad(ptr, "cannot remove the whole document"));
    };
    let parent_ptr: String = parents.iter().map(|t| format!("/{}", escape(t))).collect();
    let parent = doc.pointer_mut(&parent_ptr).ok_or_else(|| bad(ptr, "nothing at this location"))?;
    match parent {
        // shift_remove: the other keys keep their order (preserve_order).
        Value::Object(map) => map.shift_remove(last).ok_or_else(|| bad(ptr, "nothing at this location")),
        Value::Array(arr) => {
            let index = array_index(ptr, last)?;
            if index < arr.len() { Ok(arr.remove(index)) } else { Err(bad(ptr, "nothing at this location")) }
        }
        _ => Err(bad(ptr, "nothing at this location")),
    }
}

fn array_index(ptr: &str, token: &str) -> Result<usize> {
    let canonical = token == "0" || (!token.starts_with('0') && token.bytes().all(|b| b.is_ascii_digit()));
    if token.is_empty() || !canonical {
        return Err(bad(ptr, format!("`{token}` is not an array index")));
    }
    token.parse().map_err(|_| bad(ptr, format!("`{token}` is not an array index")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn get_set_remove() {
        let mut d = json!({"a": {"b/c": 1, "m~n": [1, 2]}});
        assert_eq!(get(&d, "/a/b~1c").unwrap(), &json!(1));
        assert_eq!(get(&d, "/a/m~0n/1").unwrap(), &json!(2));
        set(&mut d, "/a/m~0n/-", json!(3)).unwrap();
        set(&mut d, "/a/new", json!("x")).unwrap();
        assert_eq!(d["a"]["m~n"], json!([1, 2, 3]));
        assert_eq!(remove(&mut d, "/a/new").unwrap(), json!("x"));
        assert_eq!(set(&mut d, "/missing/x", json!(1)).unwrap_err().kind(), ErrorKind::Pointer);
        assert_eq!(set(&mut d, "/a/m~0n/9", json!(1)).unwrap_err().kind(), ErrorKind::Pointer);
        assert_eq!(set(&mut d, "/a/m~0n/01", json!(1)).unwrap_err().kind(), ErrorKind::Pointer);
        assert_eq!(get(&d, "a").unwrap_err().kind(), ErrorKind::Pointer);
        assert_eq!(get(&d, "/a~2").unwrap_err().kind(), ErrorKind::Pointer);
        assert_eq!(remove(&mut d, "").unwrap_err().kind(), ErrorKind::Pointer);
        set(&mut d, "", json!([])).unwrap();
        assert_eq!(d, json!([]));
    }

    #[test]
    fn set_creating_makes_missing_objects_only() {
        let mut d = json!({"keep": 1, "arr": [{}]});
        set_creating(&mut d, "/a/b/c", json!(5)).unwrap();
        assert_eq!(d["a"], json!({"b": {"c": 5}}));
        set_creating(&mut d, "/arr/0/x/y", json!(true)).unwrap();
        assert_eq!(d["arr"], json!([{"x": {"y": true}}]));
        assert_eq!(set_creating(&mut d, "/arr/3/x", json!(1)).unwrap_err().kind(), ErrorKind::Pointer);
        assert_eq!(set_creating(&mut d, "/keep/x", json!(1)).unwrap_err().kind(), ErrorKind::Pointer);
        assert_eq!(d["keep"], json!(1), "an existing value is never replaced by a parent");
    }

    #[test]
    fn remove_keeps_the_order_of_the_other_keys() {
        let mut d: Value = serde_json::from_str(r#"{"z": 1, "y": 2, "x": 3}"#).unwrap();
        remove(&mut d, "/z").unwrap();
        assert_eq!(d.as_object().unwrap().keys().collect::<Vec<_>>(), ["y", "x"]);
    }
}
