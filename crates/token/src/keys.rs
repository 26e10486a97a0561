//! The key schedule and the MAC chain.
//!
//! ```text
//! PRK      = HKDF-Extract(salt = "gw-token/v1", IKM = root secret)
//! K_token  = HKDF-Expand(PRK, info = "gw-token/v1/mac-key", 32)
//! tag_0    = HMAC-SHA256(K_token, "gw1." || claims_b64)
//! tag_i    = HMAC-SHA256(tag_{i-1}, "gw1-caveat." || caveat_i_b64)   (i = 1..n)
//! ```
//! The final tag `tag_n` is the token's tag. A holder of a token knows
//! `tag_n` and can append a caveat (computing `tag_{n+1}`) but cannot remove
//! one (that needs `tag_{n-1}`, which HMAC does not reveal): attenuation
//! without the root secret, as in macaroons. Other uses of the root secret
//! must take other `info` labels (domain separation).

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// HKDF salt for every gw-token key.
pub const HKDF_SALT: &[u8] = b"gw-token/v1";
/// HKDF info for the token MAC key.
pub const INFO_MAC_KEY: &[u8] = b"gw-token/v1/mac-key";
/// Prefix of the first MAC input.
pub const CLAIMS_DOMAIN: &[u8] = b"gw1.";
/// Prefix of each caveat's MAC input.
pub const CAVEAT_DOMAIN: &[u8] = b"gw1-caveat.";

/// The key that signs and verifies tokens, derived from a root secret.
#[derive(Debug)]
pub struct TokenKey(Secret);

impl TokenKey {
    /// Derives the token MAC key from a root secret (HKDF-SHA256 with the
    /// versioned labels above).
    pub fn from_root(root: &Secret) -> Self {
        Self(Secret::new(hkdf_sha256(HKDF_SALT, root.expose(), INFO_MAC_KEY).to_vec()))
    }

    pub(crate) fn expose(&self) -> &[u8] {
        self.0.expose()
    }
}

/// HKDF-SHA256 (RFC 5869) with a 32-byte output.
pub fn hkdf_sha256(salt: &[u8], ikm: &[u8], info: &[u8]) -> Zeroizing<[u8; 32]> {
    let hk = Hkdf::<Sha256>::new(Some(salt), ikm);
    let mut okm = Zeroizing::new([0u8; 32]);
    hk.expand(info, okm.as_mut()).expect("32 bytes is a valid HKDF-SHA256 length");
    okm
}

/// HMAC-SHA256 (RFC 2104 / RFC 4231) of `parts` concatenated.
pub fn hmac_sha256(key: &[u8], parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
    let mut mac = <HmacSha256 as Mac>::new_from_slice(key).expect("HMAC takes keys of any length");
    for p in parts {
        mac.update(p);
    }
    Zeroizing::new(mac.finalize().into_bytes().into())
}

/// The chain up to (not including) the last step, and the last step's
/// key and message, so the final comparison can be done by `verify_slice`
/// (constant time).
pub(crate) fn chain_tag(key: &TokenKey, claims_b64: &str, caveats_b64: &[&str]) -> Zeroizing<[u8; 32]> {
    let mut tag = hmac_sha256(key.expose(), &[CLAIMS_DOMAIN, claims_b64.as_bytes()]);
    for c in caveats_b64 {
        tag = hmac_sha256(tag.as_ref(), &[CAVEAT_DOMAIN, c.as_bytes()]);
    }
    tag
}

/// One attenuation step: the next tag from the current one.
pub(crate) fn caveat_step(tag: &[u8], caveat_b64: &str) -> Zeroizing<[u8; 32]> {
    hmac_sha256(tag, &[CAVEAT_DOMAIN, caveat_b64.as_bytes()])
}

/// Compares `expected` to `got` in constant time (`subtle`, which the
/// RustCrypto MACs use for their own `verify`).
pub(crate) fn tags_equal(expected: &[u8; 32], got: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    expected.ct_eq(got).into()
}
