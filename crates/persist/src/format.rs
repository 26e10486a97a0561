//! Document formats and their strict parsers and writers.

use std::path::Path;

use serde_json::Value;

use crate::error::Result;
use crate::limits::Limits;

/// How a document is stored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    /// JSON, pretty-printed with a trailing newline.
    Json,
    /// Apple property list: written as XML; read as XML or binary.
    Plist,
}

impl Format {
    /// `Plist` for a `.plist` extension, `Json` otherwise.
    pub fn from_path(path: &Path) -> Self {
        match path.extension() {
            Some(ext) if ext.eq_ignore_ascii_case("plist") => Self::Plist,
            _ => Self::Json,
        }
    }

    /// Parses `bytes` strictly (see [`crate::parse_json`], [`crate::parse_plist`]).
    ///
    /// # Errors
    /// Size, syntax, encoding, depth, duplicate-key and unsupported-value errors.
    pub fn parse(self, bytes: &[u8], limits: &Limits) -> Result<Value> {
        match self {
            Self::Json => crate::json::parse_json(bytes, limits),
            Self::Plist => crate::plist::parse_plist(bytes, limits),
        }
    }

    /// Renders `value` in this format.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Unsupported`] for a `null` in a plist.
    pub fn render(self, value: &Value) -> Result<Vec<u8>> {
        match self {
            Self::Json => crate::json::to_json_bytes(value),
            Self::Plist => crate::plist::to_plist_bytes(value),
        }
    }

    /// `"json"` or `"plist"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Plist => "plist",
        }
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "json" => Ok(Self::Json),
            "plist" => Ok(Self::Plist),
            other => Err(format!("unknown format `{other}` (expected json or plist)")),
        }
    }
}
