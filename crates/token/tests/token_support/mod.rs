//! Helpers shared by the gw-token tests: an independent, strict base64url
//! codec and hex, a token builder that follows `docs/token-format.md` from
//! the public primitives only (so tests can MAC arbitrary claims records with
//! the right key), fixed fixtures, and a "no secret in this text" check.
//!
//! Nothing here calls gw-token's own encoder: the builder is a second
//! implementation of the spec, so agreeing with it checks the spec too.
//!
//! Every test binary that includes this module uses a different subset of
//! it, hence the `dead_code` allowance.
#![allow(dead_code, unreachable_pub)]

use std::time::Duration;

use gw_token::{
    CAVEAT_DOMAIN, CLAIMS_DOMAIN, Grant, HKDF_SALT, INFO_MAC_KEY, PREFIX, Secret, TokenKey, hkdf_sha256, hmac_sha256,
};

/// A fixed root secret: bytes 0x00, 0x01, …, 0x1f.
pub fn fixed_root_bytes() -> Vec<u8> {
    (0u8..32).collect()
}

/// [`fixed_root_bytes`] as a [`Secret`].
pub fn fixed_root() -> Secret {
    Secret::new(fixed_root_bytes())
}

/// The token key of [`fixed_root`].
pub fn fixed_key() -> TokenKey {
    TokenKey::from_root(&fixed_root())
}

/// A root secret made of one repeated byte.
pub fn root_of(byte: u8) -> Secret {
    Secret::new(vec![byte; 32])
}

/// A grant for tests.
pub fn grant(scopes: &[&str], audience: Option<&str>, ttl_secs: u64, local: bool) -> Grant {
    Grant {
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        audience: audience.map(str::to_owned),
        ttl: Duration::from_secs(ttl_secs),
        local,
    }
}

// ---- base64url (RFC 4648 §5), no padding, canonical ----

const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url.
pub fn b64(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &b)| acc | (u32::from(b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

/// Strict unpadded base64url decoding: only the alphabet, no padding, no
/// impossible length, and the unused trailing bits zero (the one canonical
/// encoding). `None` otherwise.
pub fn unb64(text: &str) -> Option<Vec<u8>> {
    let vals: Vec<u32> =
        text.bytes().map(|c| ALPHABET.iter().position(|&a| a == c).map(|p| p as u32)).collect::<Option<Vec<u32>>>()?;
    if vals.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::with_capacity(vals.len() * 3 / 4);
    for chunk in vals.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &v)| acc | (v << (18 - 6 * i)));
        let bytes = chunk.len() - 1;
        let unused_bits = 24 - 8 * bytes as u32;
        if chunk.len() < 4 && n & ((1 << unused_bits) - 1) != 0 {
            return None;
        }
        for i in 0..bytes {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// Lower-case hex.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Hex (either case, no separators) to bytes. Panics on bad input.
pub fn unhex(text: &str) -> Vec<u8> {
    let text: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    assert!(text.len().is_multiple_of(2), "odd hex length: {text}");
    (0..text.len()).step_by(2).map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex")).collect()
}

// ---- the spec, re-implemented from the public primitives ----

/// `K_token = HKDF-SHA256(salt = HKDF_SALT, IKM = root, info = INFO_MAC_KEY, L = 32)`.
pub fn spec_key(root: &[u8]) -> [u8; 32] {
    *hkdf_sha256(HKDF_SALT, root, INFO_MAC_KEY)
}

/// The MAC chain over the decoded claims and caveat records:
/// `tag_0 = HMAC(K, "gw2.claims." || claims)`,
/// `tag_i = HMAC(tag_{i-1}, "gw2.caveat." || caveat_i)`.
pub fn spec_tag(key: &[u8; 32], claims: &[u8], caveats: &[&[u8]]) -> [u8; 32] {
    let mut tag = *hmac_sha256(key, &[CLAIMS_DOMAIN, claims]);
    for c in caveats {
        tag = *hmac_sha256(&tag, &[CAVEAT_DOMAIN, c]);
    }
    tag
}

/// A length-prefixed string (one length byte).
fn put_str(out: &mut Vec<u8>, s: &str) {
    out.push(u8::try_from(s.len()).expect("at most 255 bytes"));
    out.extend_from_slice(s.as_bytes());
}

fn put_scopes(out: &mut Vec<u8>, scopes: &[&str]) {
    out.push(u8::try_from(scopes.len()).expect("at most 255 scopes"));
    for s in scopes {
        put_str(out, s);
    }
}

/// A claims record as `docs/token-format.md` lays it out, from the given
/// values exactly as given (valid or not: scopes are NOT sorted here):
/// flags (bit 0 local, bit 1 audience), nbf u64 BE, lifetime u32 BE
/// (`exp - nbf`, truncated to 32 bits), jti, scopes, audience.
pub fn spec_claims(scopes: &[&str], aud: Option<&str>, nbf: u64, exp: u64, local: bool, jti: &[u8; 16]) -> Vec<u8> {
    let mut out = vec![u8::from(local) | (u8::from(aud.is_some()) << 1)];
    out.extend_from_slice(&nbf.to_be_bytes());
    out.extend_from_slice(&(exp.wrapping_sub(nbf) as u32).to_be_bytes());
    out.extend_from_slice(jti);
    put_scopes(&mut out, scopes);
    if let Some(a) = aud {
        put_str(&mut out, a);
    }
    out
}

/// A caveat record: flags (bit 0 scopes, bit 1 audience, bit 2 expiry,
/// bit 3 local), then the present fields in that order.
pub fn spec_caveat(scopes: Option<&[&str]>, aud: Option<&str>, exp: Option<u64>, local: bool) -> Vec<u8> {
    let flags = u8::from(scopes.is_some())
        | (u8::from(aud.is_some()) << 1)
        | (u8::from(exp.is_some()) << 2)
        | (u8::from(local) << 3);
    let mut out = vec![flags];
    if let Some(s) = scopes {
        put_scopes(&mut out, s);
    }
    if let Some(a) = aud {
        put_str(&mut out, a);
    }
    if let Some(x) = exp {
        out.extend_from_slice(&x.to_be_bytes());
    }
    out
}

/// Lenient base64url / base64 decoding, for building tokens whose text is
/// NOT canonical but whose MAC is right for the bytes a lenient decoder
/// would see: padding and whitespace dropped, `+ /` read as `- _`, unused
/// trailing bits ignored. `None` for other characters.
pub fn unb64_lenient(text: &str) -> Option<Vec<u8>> {
    let vals: Vec<u32> = text
        .bytes()
        .filter(|c| !c.is_ascii_whitespace() && *c != b'=')
        .map(|c| match c {
            b'+' => Some(62),
            b'/' => Some(63),
            c => ALPHABET.iter().position(|&a| a == c).map(|p| p as u32),
        })
        .collect::<Option<Vec<u32>>>()?;
    let mut out = Vec::new();
    for chunk in vals.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |acc, (i, &v)| acc | (v << (18 - 6 * i)));
        for i in 0..chunk.len().saturating_sub(1) {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

/// A token from base64url texts exactly as given (canonical or not), with
/// the MAC right for `root` over what a lenient decoder reads from them:
/// `gw2.<claims>[.<caveat>]*.<tag>`.
pub fn sign_b64(root: &[u8], claims_b64: &str, caveats_b64: &[&str]) -> String {
    let claims = unb64_lenient(claims_b64).expect("decodable claims text");
    let cav: Vec<Vec<u8>> = caveats_b64.iter().map(|c| unb64_lenient(c).expect("decodable caveat text")).collect();
    let cav: Vec<&[u8]> = cav.iter().map(Vec::as_slice).collect();
    let tag = spec_tag(&spec_key(root), &claims, &cav);
    let mut out = format!("{PREFIX}.{claims_b64}");
    for c in caveats_b64 {
        out.push('.');
        out.push_str(c);
    }
    out.push('.');
    out.push_str(&b64(&tag));
    out
}

/// A token carrying arbitrary claims and caveat *bytes* (canonical records
/// or not), correctly MAC-ed for `root`.
pub fn sign_raw(root: &[u8], claims: &[u8], caveats: &[&[u8]]) -> String {
    let cav: Vec<String> = caveats.iter().map(|c| b64(c)).collect();
    let cav: Vec<&str> = cav.iter().map(String::as_str).collect();
    sign_b64(root, &b64(claims), &cav)
}

/// The parts of a token string: claims text, caveat texts, tag text.
pub fn parts(token: &str) -> (String, Vec<String>, String) {
    let mut p: Vec<&str> = token.split('.').collect();
    assert!(p.len() >= 3 && p[0] == PREFIX, "not a token: {} parts", p.len());
    let tag = p.pop().unwrap().to_owned();
    let claims = p[1].to_owned();
    let caveats = p[2..].iter().map(|s| (*s).to_owned()).collect();
    (claims, caveats, tag)
}

/// The decoded claims record of a token.
pub fn claims_record(token: &str) -> Vec<u8> {
    unb64(&parts(token).0).expect("canonical claims")
}

/// The decoded caveat records of a token.
pub fn caveat_records(token: &str) -> Vec<Vec<u8>> {
    parts(token).1.iter().map(|c| unb64(c).expect("canonical caveat")).collect()
}

// ---- leak checks ----

/// The ways a secret could show up in text: raw (if UTF-8), hex (both
/// cases), base64url, standard base64 without padding, and Rust's `{:?}` of
/// the byte slice (`[0, 1, 2`…).
pub fn renderings(secret: &[u8]) -> Vec<String> {
    let mut out = vec![hex(secret), hex(secret).to_uppercase(), b64(secret)];
    out.push(b64(secret).replace('-', "+").replace('_', "/"));
    let dbg = format!("{secret:?}");
    // The first few elements are enough to recognise a dump.
    out.push(dbg.split(", ").take(6).collect::<Vec<_>>().join(", "));
    if let Ok(s) = std::str::from_utf8(secret)
        && s.len() >= 8
    {
        out.push(s.to_owned());
    }
    out
}

/// Panics if `text` contains any of `needles` (each at least 8 characters,
/// so a coincidence is not reported).
#[track_caller]
pub fn assert_no_leak(text: &str, needles: &[String], ctx: &str) {
    for n in needles {
        assert!(n.len() >= 8, "{ctx}: needle too short to be meaningful: {n:?}");
        assert!(!text.contains(n.as_str()), "{ctx}: {text:?} contains a secret rendering {n:?}");
    }
}

/// Checks the `Display` and `Debug` of `err` against `needles`.
#[track_caller]
pub fn assert_error_clean(err: &(impl std::fmt::Display + std::fmt::Debug), needles: &[String], ctx: &str) {
    assert_no_leak(&err.to_string(), needles, &format!("{ctx} (Display)"));
    assert_no_leak(&format!("{err:?}"), needles, &format!("{ctx} (Debug)"));
    assert_no_leak(&format!("{err:#?}"), needles, &format!("{ctx} (Debug alt)"));
}
