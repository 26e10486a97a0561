//! The key schedule and the MAC chain.
//!
//! ```text
//! PRK      = HKDF-Extract(salt = "gw-token/v2", IKM = root secret)
//! K_token  = HKDF-Expand(PRK, info = "gw-token/v2/mac-key", 32)
//! tag_0    = HMAC-SHA256(K_token, "gw2.claims." || claims)
//! tag_i    = HMAC-SHA256(tag_{i-1}, "gw2.caveat." || caveat_i)   (i = 1..n)
//! ```
//! `claims` and `caveat_i` are the decoded binary records (see `claims.rs`).
//! The final tag `tag_n` is the token's tag. A holder of a token knows
//! `tag_n` and can append a caveat (computing `tag_{n+1}`) but cannot remove
//! one (that needs `tag_{n-1}`, which HMAC does not reveal): attenuation
//! without the root secret, as in macaroons. Other uses of the root secret
//! must take other `info` labels (domain separation).

use hkdf::Hkdf;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use sha2::digest::generic_array::GenericArray;
use zeroize::{Zeroize, Zeroizing};

use crate::secret::Secret;

type HmacSha256 = Hmac<Sha256>;

/// HKDF salt for every gw-token key (format version 2).
pub const HKDF_SALT: &[u8] = b"gw-token/v2";
/// HKDF info for the token MAC key.
pub const INFO_MAC_KEY: &[u8] = b"gw-token/v2/mac-key";
/// Prefix of the first MAC input (the claims record).
pub const CLAIMS_DOMAIN: &[u8] = b"gw2.claims.";
/// Prefix of each caveat's MAC input.
pub const CAVEAT_DOMAIN: &[u8] = b"gw2.caveat.";

/// SHA-256's initial state (FIPS 180-4 §5.3.3).
const SHA256_IV: [u32; 8] =
    [0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a, 0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19];

/// An HMAC-SHA256 key with its two padded key blocks already absorbed: the
/// SHA-256 states after `K ^ ipad` and after `K ^ opad` (RFC 2104).
///
/// Hand-written on top of `sha2::compress256` (the `hmac` crate does the same
/// precomputation inside `Hmac::new_from_slice`) for two reasons: a verifier
/// keeps this state for the life of its key, so it must be zeroized on drop,
/// which `hmac`/`sha2` 0.10 types are not; and a MAC from a kept state then
/// costs only the message blocks plus one outer block, with no per-call key
/// setup. Checked against the `hmac` crate and RFC 4231 by the tests.
pub(crate) struct MacState {
    inner: [u32; 8],
    outer: [u32; 8],
}

impl Drop for MacState {
    fn drop(&mut self) {
        self.inner.zeroize();
        self.outer.zeroize();
    }
}

fn compress(state: &mut [u32; 8], block: &[u8; 64]) {
    sha2::compress256(state, std::slice::from_ref(GenericArray::from_slice(block)));
}

impl MacState {
    /// The state for a key of at most 64 bytes (every key gw-token uses is
    /// 32 bytes: the token key and tags).
    pub(crate) fn new(key: &[u8; 32]) -> Self {
        let mut block = Zeroizing::new([0x36u8; 64]);
        let mut inner = SHA256_IV;
        let mut outer = SHA256_IV;
        for (b, k) in block[..32].iter_mut().zip(key) {
            *b ^= k;
        }
        compress(&mut inner, &block);
        for b in block.iter_mut() {
            *b ^= 0x36 ^ 0x5c;
        }
        compress(&mut outer, &block);
        Self { inner, outer }
    }

    /// HMAC-SHA256 of `parts` concatenated.
    pub(crate) fn mac(&self, parts: &[&[u8]]) -> Zeroizing<[u8; 32]> {
        let mut h = Stream { state: self.inner, buf: [0; 64], len: 0, total: 64 };
        for p in parts {
            h.update(p);
        }
        let inner = h.finish();
        let mut o = Stream { state: self.outer, buf: [0; 64], len: 0, total: 64 };
        o.update(inner.as_ref());
        o.finish()
    }
}

/// SHA-256 continued from a state (the message so far: `total` bytes, a
/// multiple of 64, already compressed).
struct Stream {
    state: [u32; 8],
    buf: [u8; 64],
    len: usize,
    total: u64,
}

/// The state is zeroized: at the end of an outer hash it is the MAC itself
/// (a valid tag for whatever was hashed). The buffer is not: it only ever
/// holds message bytes (public token parts) and, in an outer hash, the
/// inner hash, from which nothing follows without the key state.
impl Drop for Stream {
    fn drop(&mut self) {
        self.state.zeroize();
    }
}

impl Stream {
    fn update(&mut self, mut data: &[u8]) {
        self.total += data.len() as u64;
        if self.len > 0 {
            let n = (64 - self.len).min(data.len());
            self.buf[self.len..self.len + n].copy_from_slice(&data[..n]);
            self.len += n;
            data = &data[n..];
            if self.len < 64 {
                return;
            }
            compress(&mut self.state, &self.buf);
            self.len = 0;
        }
        let mut blocks = data.chunks_exact(64);
        for b in &mut blocks {
            compress(&mut self.state, b.try_into().expect("64 bytes"));
        }
        let rest = blocks.remainder();
        self.buf[..rest.len()].copy_from_slice(rest);
        self.len = rest.len();
    }

    /// FIPS 180-4 §5.1.1 padding, then the state as big-endian bytes.
    fn finish(mut self) -> Zeroizing<[u8; 32]> {
        let bits = self.total * 8;
        self.buf[self.len] = 0x80;
        self.buf[self.len + 1..].fill(0);
        if self.len >= 56 {
            compress(&mut self.state, &self.buf);
            self.buf.fill(0);
        }
        self.buf[56..].copy_from_slice(&bits.to_be_bytes());
        compress(&mut self.state, &self.buf);
        let mut out = Zeroizing::new([0u8; 32]);
        for (o, w) in out.chunks_exact_mut(4).zip(self.state.iter()) {
            o.copy_from_slice(&w.to_be_bytes());
        }
        out
    }
}

/// The key that signs and verifies tokens, derived from a root secret. It
/// keeps the HMAC key state ready (precomputed once, zeroized on drop).
pub struct TokenKey(MacState);

impl std::fmt::Debug for TokenKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("TokenKey([REDACTED])")
    }
}

impl TokenKey {
    /// Derives the token MAC key from a root secret (HKDF-SHA256 with the
    /// versioned labels above) and precomputes its HMAC state.
    pub fn from_root(root: &Secret) -> Self {
        let k = hkdf_sha256(HKDF_SALT, root.expose(), INFO_MAC_KEY);
        Self(MacState::new(&k))
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

/// A token's MAC tag: 32 bytes, zeroized on drop.
///
/// Deliberately without `PartialEq`/`Eq`: the only way to compare two tags
/// is [`Tag::matches`], constant time over all 256 bits (THREATS TOK-5), so
/// an `==` that would compare byte by byte and stop at the first
/// difference does not compile.
pub(crate) struct Tag(Zeroizing<[u8; 32]>);

impl Tag {
    /// The tag read from a token.
    pub(crate) fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(Zeroizing::new(bytes))
    }

    /// The bytes, for encoding and for the next caveat step (never for a
    /// comparison: use [`Tag::matches`]).
    pub(crate) fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Whether `self` and `other` are the same tag, in constant time
    /// ([`tags_equal`]).
    pub(crate) fn matches(&self, other: &Tag) -> bool {
        tags_equal(&self.0, &other.0)
    }
}

/// The MAC chain over the claims record and the caveat records.
pub(crate) fn chain_tag<'a>(key: &TokenKey, claims: &[u8], caveats: impl Iterator<Item = &'a [u8]>) -> Tag {
    let mut tag = key.0.mac(&[CLAIMS_DOMAIN, claims]);
    for c in caveats {
        tag = MacState::new(&tag).mac(&[CAVEAT_DOMAIN, c]);
    }
    Tag(tag)
}

/// One attenuation step: the next tag from the current one.
pub(crate) fn caveat_step(tag: &Tag, caveat: &[u8]) -> Tag {
    Tag(MacState::new(tag.as_bytes()).mac(&[CAVEAT_DOMAIN, caveat]))
}

/// Compares `expected` to `got` in constant time: the XOR of the two as
/// four words, OR-ed together with no data-dependent branch, then `subtle`'s
/// constant-time comparison with zero (the one branch is on its `Choice`).
/// `subtle`'s byte-slice `ct_eq` does the same per byte, eight times the work.
/// OR, not XOR, accumulates: with XOR the same bit flipped in two words
/// would cancel out (TOK-5).
fn tags_equal(expected: &[u8; 32], got: &[u8; 32]) -> bool {
    use subtle::ConstantTimeEq;
    let word = |t: &[u8; 32], i: usize| u64::from_ne_bytes(t[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
    let diff = (0..4).fold(0u64, |acc, i| acc | (word(expected, i) ^ word(got, i)));
    diff.ct_eq(&0).into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// TOK-5: any difference in any bit of any word is a mismatch, including
    /// the same bit flipped in two (or all four) words, which an XOR
    /// accumulator would cancel out.
    #[test]
    fn tok_5_tags_differing_in_the_same_bit_of_several_words_do_not_match() {
        let base: [u8; 32] = std::array::from_fn(|i| (i as u8).wrapping_mul(37) ^ 0xa5);
        let t = Tag::from_bytes(base);
        assert!(t.matches(&Tag::from_bytes(base)));
        for bit in 0..64 {
            let flip = |words: &[usize]| {
                let mut b = base;
                for &w in words {
                    b[w * 8 + bit / 8] ^= 1 << (bit % 8);
                }
                Tag::from_bytes(b)
            };
            for w in 0..4 {
                assert!(!t.matches(&flip(&[w])), "bit {bit} of word {w}");
                for v in w + 1..4 {
                    assert!(!t.matches(&flip(&[w, v])), "bit {bit} of words {w} and {v}");
                }
            }
            assert!(!t.matches(&flip(&[0, 1, 2, 3])), "bit {bit} of every word");
        }
    }

    /// The kept-state HMAC equals the `hmac` crate's for every message
    /// length around the block boundaries, split anywhere.
    #[test]
    fn mac_state_matches_the_hmac_crate() {
        for key_byte in [0u8, 0x36, 0x5c, 0xff] {
            let key = [key_byte; 32];
            let st = MacState::new(&key);
            for len in (0..200).chain([255, 256, 257, 1000]) {
                let msg: Vec<u8> = (0..len).map(|i| (i * 31 + 7) as u8).collect();
                let want = hmac_sha256(&key, &[&msg]);
                assert_eq!(*st.mac(&[&msg]), *want, "len {len}");
                let cut = len / 3;
                assert_eq!(*st.mac(&[&msg[..cut], &[], &msg[cut..]]), *want, "len {len} split");
            }
        }
    }

    /// RFC 4231 test case 2 (a short key, padded to 32 bytes is NOT the
    /// same key, so use case 1's 20-byte key zero-padded: HMAC pads keys
    /// with zeros, so a 20-byte key and the same key zero-padded to 32 give
    /// the same MAC).
    #[test]
    fn mac_state_rfc4231_case_1() {
        let mut key = [0u8; 32];
        key[..20].fill(0x0b);
        let t = MacState::new(&key).mac(&[b"Hi There"]);
        let hex: String = t.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    }
}
