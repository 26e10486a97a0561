//! A secret another program keeps in a JSON document: the string at a
//! dotted field path (OpenClaw's approval runtime keeps its socket token at
//! `socket.token` of `exec-approvals.json`, the key of gw-token's
//! [`label_token`](gw_token::label_token)).
//!
//! Here rather than in gw-token, which would otherwise depend on gw-persist
//! for this one reader: the document is read through gw-anchor (never
//! created, THREATS TOK-4) and parsed by gw-persist's strict parser (the
//! duplicate-key, depth and size refusals must not fork into a second copy).

use std::path::Path;

use gw_anchor::Root;
use gw_persist::{Limits, parse_json};
use gw_token::Secret;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};

/// Reads the string at the dotted `field` path (e.g. `socket.token`) of the
/// JSON document `rel` beneath `root`. Never creates the file.
///
/// # Errors
/// gw-anchor's errors as [`ErrorKind::Fs`], strict-parsing errors as
/// [`ErrorKind::Doc`] (a duplicate key is a security refusal), and
/// `Token(BadSecret)` if the field is missing, not a string, or empty; each
/// with the operation `read key` and the document's path. No message
/// quotes the document.
///
/// # Security
/// THREATS TOK-4 (reading never creates the file), FS-1/FS-7.
pub fn read_json_secret(root: &Root, rel: impl AsRef<Path>, field: &str) -> Result<Secret> {
    const OP: &str = "read key";
    let rel = rel.as_ref();
    let path = root.path().join(rel);
    let bytes = Zeroizing::new(root.read(rel, Limits::DEFAULT_MAX_BYTES)?);
    let doc = parse_json(&bytes, &Limits::default()).map_err(|e| {
        let kind = match e.kind() {
            gw_persist::ErrorKind::Fs(k) => ErrorKind::Fs(k),
            k => ErrorKind::Doc(k),
        };
        let err = Error::new(kind, OP, e.message()).about(path.display());
        match e.fix() {
            Some(fix) => err.with_fix(fix),
            None => err,
        }
    })?;
    let bad = |why: String| Error::new(ErrorKind::Token(gw_token::ErrorKind::BadSecret), OP, why).about(path.display());
    let mut cur = &doc;
    for part in field.split('.') {
        cur = cur.get(part).ok_or_else(|| bad(format!("the document has no field `{field}`")))?;
    }
    match cur.as_str() {
        Some(s) if !s.is_empty() => Ok(Secret::from(s.to_owned())),
        _ => Err(bad(format!("`{field}` is not a non-empty string"))),
    }
}
