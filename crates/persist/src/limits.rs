//! Parsing limits, with safe defaults.

/// Limits applied before and during parsing.
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
