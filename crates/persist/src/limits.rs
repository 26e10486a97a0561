//! Parsing limits, with safe defaults, and the nesting depth they bound.
//!
//! The same [`Limits`] bound what a document's loader accepts and what its
//! writer saves ([`crate::Format::render_within`]): a save whose result the
//! loader would refuse is itself refused (THREATS DOC-3).

use serde_json::Value;

/// Limits applied before and during parsing, and to every save.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The largest document accepted, in bytes (checked before parsing).
    pub max_bytes: u64,
    /// The deepest nesting of arrays/objects accepted (at most
    /// [`Limits::MAX_DEPTH_CEILING`]).
    pub max_depth: usize,
}

impl Limits {
    /// 1 MiB.
    pub const DEFAULT_MAX_BYTES: u64 = 1 << 20;
    /// 64 levels.
    pub const DEFAULT_MAX_DEPTH: usize = 64;
    /// The parser's own recursion ceiling: a deeper `max_depth` is clamped.
    pub const MAX_DEPTH_CEILING: usize = 120;

    /// Limits with the given size and depth (depth clamped to the ceiling).
    pub fn new(max_bytes: u64, max_depth: usize) -> Self {
        Self { max_bytes, max_depth: max_depth.min(Self::MAX_DEPTH_CEILING) }
    }
}

impl Default for Limits {
    fn default() -> Self {
        Self::new(Self::DEFAULT_MAX_BYTES, Self::DEFAULT_MAX_DEPTH)
    }
}

/// The nesting depth of `value` as the strict parsers count it against
/// [`Limits::max_depth`]: 0 for a scalar, 1 for an array or object of
/// scalars (or an empty one), one more per level of nesting.
pub fn nesting_depth(value: &Value) -> usize {
    match value {
        Value::Array(a) => 1 + a.iter().map(nesting_depth).max().unwrap_or(0),
        Value::Object(m) => 1 + m.values().map(nesting_depth).max().unwrap_or(0),
        _ => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Format, parse_json};

    /// `depth` counts as the parser does: a document of depth `max_depth`
    /// parses, one level more does not.
    #[test]
    fn depth_counts_as_the_parser_does() {
        assert_eq!(nesting_depth(&serde_json::json!(1)), 0);
        assert_eq!(nesting_depth(&serde_json::json!({})), 1);
        assert_eq!(nesting_depth(&serde_json::json!({"a": [1, [2]], "b": {}})), 3);
        let limits = Limits::new(1 << 20, 8);
        for d in 1..=9 {
            let text = format!("{}{}", "[".repeat(d), "]".repeat(d));
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(nesting_depth(&v), d);
            assert_eq!(parse_json(text.as_bytes(), &limits).is_ok(), d <= limits.max_depth);
            assert_eq!(Format::Json.render_within(&v, &limits).is_ok(), d <= limits.max_depth);
            assert_eq!(Format::Plist.render_within(&v, &limits).is_ok(), d <= limits.max_depth);
        }
    }
}
