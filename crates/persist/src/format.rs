//! Document formats and their strict parsers and writers.

use std::path::Path;

use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::json::JsonStyle;
use crate::limits::{Limits, nesting_depth};

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

    /// Renders `value` in this format, and refuses the result if the strict
    /// loader would refuse it under `limits` ([`Format::check_loadable`]):
    /// what is returned is what a save may write.
    ///
    /// # Errors
    /// As [`Format::render`] and [`Format::check_loadable`].
    ///
    /// # Security
    /// THREATS DOC-3 (a writer saves nothing its own reader refuses).
    pub fn render_within(self, value: &Value, limits: &Limits) -> Result<Vec<u8>> {
        self.render_within_styled(value, JsonStyle::default(), limits)
    }

    /// [`Format::render_within`], a JSON document laid out as `style` says
    /// (a plist is always written as XML).
    ///
    /// # Errors
    /// As [`Format::render_within`].
    pub fn render_within_styled(self, value: &Value, style: JsonStyle, limits: &Limits) -> Result<Vec<u8>> {
        let bytes = match self {
            Self::Json => crate::json::to_json_bytes_styled(value, style)?,
            Self::Plist => self.render(value)?,
        };
        self.check_loadable(value, &bytes, limits)?;
        Ok(bytes)
    }

    /// Checks that `bytes`, the rendering of `value` in this format, loads
    /// back under `limits`: `value` nests at most `max_depth` levels
    /// ([`nesting_depth`], counted as the parsers count) and `bytes` is at
    /// most `max_bytes` long; a property list is also parsed back with the
    /// strict parser every load uses ([`Format::parse`], the same limits).
    /// Call it on the bytes about to be written, before anything is written.
    ///
    /// The size is the size *as written*: a compact JSON or a binary plist
    /// that loaded within the limit can exceed it once written
    /// pretty-printed or as XML (shared references in a binary plist are
    /// written out in full).
    ///
    /// JSON is not parsed back: serde_json's rendering of a `Value` is valid
    /// UTF-8 JSON with no byte-order mark, unique keys, finite numbers and
    /// nothing after the document, so size and depth are all the strict
    /// parser could refuse in it (the property test
    /// `doc_3_every_successful_save_loads_back_equal` holds it to that), and
    /// a JSON save stays one render and one write. A plist's writer (the
    /// plist crate's) and reader (gw's checked one) are different code, and
    /// plists are small and rarely written: the parse back costs little and
    /// covers any check the reader has that the writer does not know of.
    ///
    /// # Errors
    /// [`ErrorKind::TooDeep`] naming the depth reached and the limit;
    /// [`ErrorKind::TooLarge`] naming the size and the limit; for a plist,
    /// the parser's kind for anything else it refuses. Operation
    /// `"serialize"`, path `-` ([`crate::Document`] names the file).
    ///
    /// # Security
    /// THREATS DOC-3.
    pub fn check_loadable(self, value: &Value, bytes: &[u8], limits: &Limits) -> Result<()> {
        let depth = nesting_depth(value);
        if depth > limits.max_depth {
            return Err(too_deep(depth, limits.max_depth));
        }
        if bytes.len() as u64 > limits.max_bytes {
            return Err(too_large(self, bytes.len(), limits.max_bytes));
        }
        if self == Self::Json {
            return Ok(());
        }
        self.parse(bytes, limits).map(drop).map_err(|e| {
            Error::new(
                e.kind(),
                "serialize",
                "-",
                format!(
                    "refused to save: the document as written would not load back ({}); nothing was written",
                    e.message()
                ),
            )
        })
    }

    /// `"json"` or `"plist"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Json => "json",
            Self::Plist => "plist",
        }
    }
}

#[cold]
fn too_deep(depth: usize, max: usize) -> Error {
    Error::new(
        ErrorKind::TooDeep,
        "serialize",
        "-",
        format!(
            "refused to save: the document would nest {depth} levels deep; the loader's limit is {max}, so it \
             could not be read back; nothing was written"
        ),
    )
    .with_fix(format!("keep the document within {max} levels: set the value at a shallower pointer, or flatten it"))
}

#[cold]
fn too_large(format: Format, len: usize, max: u64) -> Error {
    let written = match format {
        Format::Json => "pretty-printed JSON",
        Format::Plist => "an XML property list",
    };
    Error::new(
        ErrorKind::TooLarge,
        "serialize",
        "-",
        format!(
            "refused to save: the document would be {len} bytes as written ({written}); the loader's limit is \
             {max} bytes, so it could not be read back; nothing was written"
        ),
    )
    .with_fix("remove entries from the document or split it into several documents")
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
