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
//! - an integer literal outside `i64 ∪ u64` is refused (`Unsupported`), not
//!   rounded to an `f64` that the next save would write differently;
//! - a refusal is `Syntax`, `DuplicateKey`, `TooDeep`, `TooLarge` or `Unsupported`, and the
//!   kind is one the model explains (`TooLarge` iff over the size limit; a
//!   duplicate / too deep / malformed document for the others); a position,
//!   when given, is 1-based and inside the document.
//!
//! `GW_FUZZ_DEBUG=1` prints each result.
#![no_main]

#[path = "common/json_tree.rs"]
mod json_tree;

use gw_persist::{ErrorKind, Limits, parse_json, to_json_bytes};
use json_tree::{Tree, has_wide_integer};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

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
        Ok(t) => {
            !too_large
                && !t.has_duplicate_key()
                && t.depth() <= max_depth
                && !std::str::from_utf8(data).is_ok_and(has_wide_integer)
        }
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
                ErrorKind::Unsupported => assert!(
                    model.is_ok() && std::str::from_utf8(data).is_ok_and(has_wide_integer),
                    "Unsupported for a document without a wide integer: {err}"
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
