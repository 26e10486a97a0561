//! Label tokens: the compatibility derivation some gateways use for a
//! runtime token, `base64url_nopad(HMAC-SHA256(key = <socket token string>,
//! message = <label>))`.
//!
//! For OpenClaw's approval runtime the label is [`OPENCLAW_APPROVAL_LABEL`]
//! and the key is the `socket.token` string of its `exec-approvals.json`,
//! read here through gw-anchor (never created, THREATS TOK-4) and parsed
//! strictly (gw-persist).

use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gw_anchor::Root;
use gw_persist::{Limits, parse_json};
use secrecy::SecretString;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};
use crate::keys::hmac_sha256;
use crate::secret::Secret;

/// The label of OpenClaw's gateway approval runtime token.
pub const OPENCLAW_APPROVAL_LABEL: &str = "openclaw:gateway-approval-runtime-token:v1";

/// `base64url_nopad(HMAC-SHA256(key, label))`.
pub fn label_token(key: &Secret, label: &str) -> SecretString {
    let tag = hmac_sha256(key.expose(), &[label.as_bytes()]);
    SecretString::from(URL_SAFE_NO_PAD.encode(tag.as_ref()))
}

/// Reads the string at the dotted `field` path (e.g. `socket.token`) of the
/// JSON document `rel` beneath `root`. Never creates the file.
///
/// # Errors
/// gw-anchor and strict-parsing errors; [`ErrorKind::BadSecret`] if the
/// field is missing, not a string, or empty.
///
/// # Security
/// THREATS TOK-4 (reading never creates the secrets file), FS-1/FS-7.
pub fn read_json_secret(root: &Root, rel: impl AsRef<Path>, field: &str) -> Result<Secret> {
    const OP: &str = "read key";
    let rel = rel.as_ref();
    let path = root.path().join(rel);
    let bytes = Zeroizing::new(root.read(rel, Limits::DEFAULT_MAX_BYTES)?);
    let doc = parse_json(&bytes, &Limits::default()).map_err(|e| Error::from(e).relabel(OP, &path))?;
    let mut cur = &doc;
    for part in field.split('.') {
        cur = cur.get(part).ok_or_else(|| {
            Error::new(ErrorKind::BadSecret, OP, format!("the document has no field `{field}`")).at(&path)
        })?;
    }
    match cur.as_str() {
        Some(s) if !s.is_empty() => Ok(Secret::from(s.to_owned())),
        _ => Err(Error::new(ErrorKind::BadSecret, OP, format!("`{field}` is not a non-empty string")).at(&path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_token_is_base64url_of_hmac() {
        // HMAC-SHA256(key="key", msg="The quick brown fox jumps over the lazy dog")
        // = f7bc83f4...d8 (the well-known example), here base64url without padding.
        let t = label_token(&Secret::from("key".to_owned()), "The quick brown fox jumps over the lazy dog");
        assert_eq!(crate::token::expose(&t), "97yD9DBThCSxMpjmqm-xQ-9NWaFJRhdZl0edvC0aPNg");
    }
}
