//! Label tokens: the compatibility derivation some gateways use for a
//! runtime token, `base64url_nopad(HMAC-SHA256(key = <socket token string>,
//! message = <label>))`.
//!
//! For OpenClaw's approval runtime the label is [`OPENCLAW_APPROVAL_LABEL`]
//! and the key is the `socket.token` string of its `exec-approvals.json`
//! (gw-cred's `read_json_secret` reads it: never created, THREATS TOK-4,
//! parsed strictly).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::SecretString;

use crate::keys::hmac_sha256;
use crate::secret::Secret;

/// The label of OpenClaw's gateway approval runtime token.
pub const OPENCLAW_APPROVAL_LABEL: &str = "openclaw:gateway-approval-runtime-token:v1";

/// `base64url_nopad(HMAC-SHA256(key, label))`.
pub fn label_token(key: &Secret, label: &str) -> SecretString {
    let tag = hmac_sha256(key.expose(), &[label.as_bytes()]);
    SecretString::from(URL_SAFE_NO_PAD.encode(tag.as_ref()))
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
