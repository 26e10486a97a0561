//! Deriving, attenuating, verifying and inspecting `gw2` tokens.
//!
//! Wire form (see `docs/token-format.md`):
//! `gw2.<claims>[.<caveat>]*.<tag>`, each part unpadded base64url
//! (canonical: no padding, no trailing bits) of a binary record (see
//! `claims.rs`), the tag 32 bytes (43 characters).
//!
//! Verification allocates nothing until it succeeds (then only the returned
//! [`Effective`]): the parts are decoded into a stack buffer, the MAC starts
//! from the key's precomputed HMAC state, and the records are parsed into
//! borrowed views.

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};

use crate::b64;
use crate::claims::{self, Caveat, Claims, Effective, MAX_AUDIENCE_LEN, MAX_SCOPE_LEN, VERSION, Why};
use crate::error::{Error, ErrorKind, Result};
use crate::keys::{self, TokenKey};

/// The prefix of every version-2 token (the text before the first `.`).
pub const PREFIX: &str = "gw2";
/// The longest token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 4096;
/// The most caveats a token may carry.
pub const MAX_CAVEATS: usize = 16;
/// The clock skew a verifier tolerates, in seconds, on both `nbf` and `exp`.
pub const DEFAULT_SKEW_SECS: u64 = 30;

/// The length of the tag's text (32 bytes of unpadded base64url).
const TAG_B64_LEN: usize = 43;
/// Tokens up to this many bytes are decoded into a stack buffer.
const STACK_BUF: usize = 256;

/// What to grant when deriving a token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Grant {
    /// Scopes (any order; stored sorted and unique).
    pub scopes: Vec<String>,
    /// Bind to this audience (the gateway URL), or none.
    pub audience: Option<String>,
    /// Lifetime from `now`.
    pub ttl: Duration,
    /// Loopback peers only (THREATS TOK-3).
    pub local: bool,
}

/// The current Unix time in seconds.
pub fn unix_now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0)
}

/// Derives a token granting `grant` from `now`, signed with `key`.
///
/// # Errors
/// [`ErrorKind::InvalidInput`] for bad scopes, audience or lifetime.
///
/// # Security
/// THREATS TOK-1: clients receive a token bound to a purpose (scope,
/// audience, expiry, locality), never the root secret.
pub fn derive(key: &TokenKey, grant: &Grant, now: u64) -> Result<SecretString> {
    let mut id = [0u8; 16];
    getrandom::fill(&mut id)
        .map_err(|e| Error::new(ErrorKind::InvalidInput, "derive", format!("no randomness: {e}")))?;
    derive_with_id(key, grant, now, &id)
}

/// [`derive`] with a caller-chosen token id: for test vectors only (a
/// repeated id makes tokens linkable).
#[doc(hidden)]
pub fn derive_with_id(key: &TokenKey, grant: &Grant, now: u64, id: &[u8; 16]) -> Result<SecretString> {
    const OP: &str = "derive";
    let mut scopes = grant.scopes.clone();
    scopes.sort();
    scopes.dedup();
    let ttl = grant.ttl.as_secs();
    if ttl == 0 {
        return Err(Error::new(ErrorKind::InvalidInput, OP, "the lifetime must be at least one second"));
    }
    let claims = Claims {
        v: VERSION,
        scp: scopes,
        aud: grant.audience.clone(),
        nbf: now,
        exp: now.saturating_add(ttl),
        loc: grant.local,
        jti: URL_SAFE_NO_PAD.encode(id),
    };
    claims.check(OP)?;
    let record = claims.encode();
    let tag = keys::chain_tag(key, &record, std::iter::empty());
    let mut out = String::with_capacity(PREFIX.len() + 2 + record.len().div_ceil(3) * 4 + TAG_B64_LEN);
    out.push_str(PREFIX);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(&record, &mut out);
    out.push('.');
    URL_SAFE_NO_PAD.encode_string(tag.as_bytes(), &mut out);
    Ok(SecretString::from(out))
}

/// The parts of a token, split and base64-checked but not trusted: the
/// decoded claims and caveat records (the MAC inputs) and the tag.
struct Parts<'b> {
    claims: &'b [u8],
    /// The caveat records, one after the other, and each one's length
    /// (compact: no array of slices to copy around).
    caveats: &'b [u8],
    caveat_lens: [u16; MAX_CAVEATS],
    n_caveats: usize,
    tag: keys::Tag,
}

impl<'b> Parts<'b> {
    fn caveats(&self) -> impl Iterator<Item = &'b [u8]> + 'b {
        let mut rest = self.caveats;
        let lens = self.caveat_lens;
        lens.into_iter().take(self.n_caveats).map(move |n| {
            let (c, tail) = rest.split_at(usize::from(n));
            rest = tail;
            c
        })
    }
}

/// A byte of the token alphabet: base64url and `.`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() | (b == b'-') | (b == b'_') | (b == b'.')
}

fn malformed(op: &'static str, why: &str) -> Error {
    Error::new(ErrorKind::Malformed, op, format!("not a gw token: {why}"))
}

/// Checks the form of `token` and decodes its parts into `buf` (at least
/// `decoded_bound(token.len())` bytes).
#[inline(always)]
fn split<'b>(op: &'static str, token: &str, buf: &'b mut [u8]) -> Result<Parts<'b>> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(malformed(op, &format!("longer than {MAX_TOKEN_LEN} bytes")));
    }
    // Every byte is checked (no early exit), which lets the compiler
    // vectorize the loop; the length is bounded above.
    if !token.bytes().fold(true, |ok, b| ok & is_token_byte(b)) {
        return Err(malformed(op, "characters outside base64url and `.`"));
    }
    match token.split('.').next().unwrap_or("") {
        PREFIX => {}
        p if p.len() > 2 && p.starts_with("gw") && p[2..].bytes().all(|b| b.is_ascii_digit()) => {
            // Bounded: the first part may be thousands of digits.
            let shown: String = p.chars().take(12).collect();
            let more = if p.len() > 12 { "…" } else { "" };
            return Err(Error::new(
                ErrorKind::UnknownVersion,
                op,
                format!("token version `{shown}{more}` is not supported (only {PREFIX})"),
            ));
        }
        _ => return Err(malformed(op, "it does not start with `gw2.`")),
    }
    // The remaining parts: claims, up to MAX_CAVEATS caveats, the tag, cut
    // at the dots. Eight bytes are tested at once for a dot (the classic
    // "has a zero byte" word test on the bytes XOR `.`, exact: no false
    // positive or negative), and only a word that has one is looked at byte
    // by byte; no allocation.
    const DOTS: u64 = u64::from_ne_bytes([b'.'; 8]);
    const LOW: u64 = u64::from_ne_bytes([0x01; 8]);
    const HIGH: u64 = u64::from_ne_bytes([0x80; 8]);
    let bytes = token.as_bytes();
    let mut texts: [&[u8]; MAX_CAVEATS + 2] = [&[]; MAX_CAVEATS + 2];
    let mut n = 0;
    let mut start = PREFIX.len() + 1;
    let mut cut = |i: usize, n: &mut usize| -> Result<()> {
        if i < start {
            return Ok(()); // the prefix's dot
        }
        if *n == texts.len() - 1 {
            return Err(malformed(op, &format!("more than {MAX_CAVEATS} caveats")));
        }
        texts[*n] = &bytes[start..i];
        *n += 1;
        start = i + 1;
        Ok(())
    };
    let mut words = bytes.chunks_exact(8);
    for (wi, w) in (&mut words).enumerate() {
        let x = u64::from_ne_bytes(w.try_into().expect("8 bytes")) ^ DOTS;
        if x.wrapping_sub(LOW) & !x & HIGH != 0 {
            for (j, &b) in w.iter().enumerate() {
                if b == b'.' {
                    cut(wi * 8 + j, &mut n)?;
                }
            }
        }
    }
    let base = bytes.len() - words.remainder().len();
    for (j, &b) in words.remainder().iter().enumerate() {
        if b == b'.' {
            cut(base + j, &mut n)?;
        }
    }
    texts[n] = &bytes[start.min(bytes.len())..];
    n += 1;
    if n < 2 {
        return Err(malformed(op, "it needs at least claims and a tag"));
    }
    let tag_text = texts[n - 1];
    let mut tag = [0u8; 32];
    if tag_text.len() != TAG_B64_LEN || b64::decode(tag_text, &mut tag) != Some(32) {
        return Err(malformed(op, "the tag is not 32 bytes of canonical base64url"));
    }
    let bad_part = || malformed(op, "a part is not canonical base64url");
    // Claims first, then the caveats one after the other, into `buf`.
    let claims_len = match b64::decode(texts[0], buf) {
        Some(len) if len > 0 => len,
        _ => return Err(bad_part()),
    };
    let (claims, rest) = buf.split_at_mut(claims_len);
    let mut caveat_lens = [0u16; MAX_CAVEATS];
    let mut total = 0;
    for (len, p) in caveat_lens.iter_mut().zip(&texts[1..n - 1]) {
        let c = match b64::decode(p, &mut rest[total..]) {
            Some(c) if c > 0 => c,
            _ => return Err(bad_part()),
        };
        // A part is at most MAX_TOKEN_LEN bytes of text, so this fits.
        *len = u16::try_from(c).expect("at most 4096 bytes");
        total += c;
    }
    Ok(Parts { claims, caveats: &rest[..total], caveat_lens, n_caveats: n - 2, tag: keys::Tag::from_bytes(tag) })
}

/// Runs `f` with a zeroed buffer of at least `len` bytes: on the stack for
/// ordinary tokens, on the heap for long ones.
fn with_buf<T>(len: usize, f: impl FnOnce(&mut [u8]) -> T) -> T {
    if len <= STACK_BUF { f(&mut [0u8; STACK_BUF]) } else { f(&mut vec![0u8; len]) }
}

/// The most bytes the parts of a token of `len` bytes can decode to (every
/// 4 characters give at most 3 bytes, a shorter end at most as many).
/// Longer-than-allowed tokens are refused by `split` before any decoding,
/// so the buffer never grows with an attacker's input.
fn decoded_bound(len: usize) -> usize {
    len.min(MAX_TOKEN_LEN) / 4 * 3 + 3
}

fn record_error(op: &'static str, what: &str, why: Why) -> Error {
    Error::new(ErrorKind::Malformed, op, format!("{what} is not valid: {why}"))
}

fn decode_claims(op: &'static str, parts: &Parts<'_>) -> Result<(Claims, Vec<Caveat>)> {
    let c = claims::parse_claims(parts.claims).map_err(|w| record_error(op, "the claims record", w))?;
    let caveats = parts
        .caveats()
        .map(|b| {
            claims::parse_caveat(b).map(|v| v.to_owned_caveat()).map_err(|w| record_error(op, "a caveat record", w))
        })
        .collect::<Result<Vec<_>>>()?;
    Ok((c.to_owned_claims(), caveats))
}

/// Narrows `token` with `caveat`, without the root secret: the caveat is
/// appended and the tag chained (`tag' = HMAC(tag, caveat)`). The result can
/// only grant less (see [`Effective::of`]).
///
/// # Errors
/// [`ErrorKind::Malformed`] if `token` is not a well-formed token
/// ([`ErrorKind::UnknownVersion`] for another version),
/// [`ErrorKind::InvalidInput`] for a caveat that narrows nothing or is
/// malformed, when the token already has the most caveats, or when the
/// narrowed token would be longer than [`MAX_TOKEN_LEN`].
pub fn attenuate(token: &str, caveat: &Caveat) -> Result<SecretString> {
    const OP: &str = "attenuate";
    caveat.check(OP)?;
    let record = caveat.encode();
    let tag = with_buf(decoded_bound(token.len()), |buf| {
        let parts = split(OP, token, buf)?;
        if parts.n_caveats >= MAX_CAVEATS {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                OP,
                format!("the token already has {MAX_CAVEATS} caveats"),
            ));
        }
        Ok(keys::caveat_step(&parts.tag, &record))
    })?;
    let cav_b64 = URL_SAFE_NO_PAD.encode(&record);
    let body = &token[..token.len() - TAG_B64_LEN];
    // A longer token would be refused by every verifier (`split`): say so now.
    if body.len() + cav_b64.len() + 1 + TAG_B64_LEN > MAX_TOKEN_LEN {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            OP,
            format!("the narrowed token would be longer than {MAX_TOKEN_LEN} bytes"),
        ));
    }
    Ok(SecretString::from(format!("{body}{cav_b64}.{}", URL_SAFE_NO_PAD.encode(tag.as_bytes()))))
}

/// A scope or audience a verifier requires, kept inline (no allocation per
/// request). A name longer than `N` bytes is recorded as such: no token can
/// carry it, so it never matches.
#[derive(Clone, Copy)]
struct Name<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Name<N> {
    #[inline]
    fn new(s: &str) -> Self {
        let mut bytes = [0u8; N];
        if let Some(b) = bytes.get_mut(..s.len()) {
            b.copy_from_slice(s.as_bytes());
        }
        Self { bytes, len: s.len() }
    }
    /// The name, or `None` if it was longer than `N` bytes.
    fn get(&self) -> Option<&[u8]> {
        self.bytes.get(..self.len)
    }
    fn show(&self) -> String {
        match self.get() {
            Some(b) => String::from_utf8_lossy(b).escape_debug().to_string(),
            None => format!("(a name longer than {N} bytes)"),
        }
    }
}

/// What a verifier requires. Build one per request: it keeps a reference
/// to the key and copies of the (short) scope and audience, and allocates
/// nothing.
#[derive(Clone)]
pub struct Verifier<'k> {
    key: &'k TokenKey,
    scope: Name<MAX_SCOPE_LEN>,
    audience: Option<Name<MAX_AUDIENCE_LEN>>,
    peer: Option<IpAddr>,
    now: u64,
    skew: u64,
}

impl std::fmt::Debug for Verifier<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Verifier")
            .field("key", self.key)
            .field("scope", &self.scope.show())
            .field("audience", &self.audience.map(|a| a.show()))
            .field("peer", &self.peer)
            .field("now", &self.now)
            .field("skew", &self.skew)
            .finish()
    }
}

/// The effective audience while caveats are applied.
#[derive(Clone, Copy)]
enum Aud<'a> {
    Any,
    One(&'a [u8]),
    Conflict,
}

impl<'k> Verifier<'k> {
    /// A verifier requiring `scope`, at the current time, with the default
    /// skew, no audience and no known peer (so `local` tokens fail closed
    /// until [`Verifier::peer`] is given).
    #[inline]
    pub fn new(key: &'k TokenKey, scope: impl AsRef<str>) -> Self {
        Self {
            key,
            scope: Name::new(scope.as_ref()),
            audience: None,
            peer: None,
            now: unix_now(),
            skew: DEFAULT_SKEW_SECS,
        }
    }
    /// The audience this verifier serves (tokens bound to another are refused).
    #[inline]
    pub fn audience(mut self, aud: impl AsRef<str>) -> Self {
        self.audience = Some(Name::new(aud.as_ref()));
        self
    }
    /// The address the token came from (THREATS TOK-3).
    #[inline]
    pub fn peer(mut self, peer: IpAddr) -> Self {
        self.peer = Some(peer);
        self
    }
    /// Verify as of `now` (Unix seconds): the injectable clock.
    #[inline]
    pub fn at(mut self, now: u64) -> Self {
        self.now = now;
        self
    }
    /// The tolerated clock skew in seconds.
    #[inline]
    pub fn skew(mut self, secs: u64) -> Self {
        self.skew = secs;
        self
    }

    /// Verifies `token`: form, MAC (constant time, before anything in the
    /// token is interpreted), claims and caveats (canonical records), time,
    /// scope, audience, locality. Returns the effective claims.
    ///
    /// # Errors
    /// The first check that failed, as its [`ErrorKind`]; the message names
    /// the check, never the token or a secret.
    ///
    /// # Security
    /// THREATS TOK-1 (scope), TOK-3 (locality: a `local` token from a
    /// non-loopback or unknown peer is refused).
    pub fn verify(&self, token: &str) -> Result<Effective> {
        with_buf(decoded_bound(token.len()), |buf| self.verify_in(token, buf))
    }

    fn verify_in(&self, token: &str, buf: &mut [u8]) -> Result<Effective> {
        const OP: &str = "verify";
        let parts = split(OP, token, buf)?;
        let expected = keys::chain_tag(self.key, parts.claims, parts.caveats());
        if !expected.matches(&parts.tag) {
            return Err(Error::new(
                ErrorKind::Signature,
                OP,
                "the signature does not match (the token was altered, or made with another secret)",
            ));
        }
        // Only now is anything in the token interpreted.
        let base = claims::parse_claims(parts.claims).map_err(|w| record_error(OP, "the claims record", w))?;
        let scopes = base.scopes;
        // Bit i: base scope i is still granted.
        let mut mask: u32 = (1u32 << scopes.iter().count()) - 1;
        let mut aud = base.aud.map_or(Aud::Any, Aud::One);
        let mut expires = base.exp;
        let mut local = base.local;
        for c in parts.caveats() {
            let cav = claims::parse_caveat(c).map_err(|w| record_error(OP, "a caveat record", w))?;
            if let Some(keep) = &cav.scopes {
                for (i, s) in scopes.iter().enumerate() {
                    if !keep.iter().any(|k| k == s) {
                        mask &= !(1 << i);
                    }
                }
            }
            if let Some(a) = cav.aud {
                aud = match aud {
                    Aud::Any => Aud::One(a),
                    Aud::One(cur) if cur == a => Aud::One(cur),
                    _ => Aud::Conflict,
                };
            }
            if let Some(x) = cav.exp {
                expires = expires.min(x);
            }
            local |= cav.local;
        }
        if self.now.saturating_add(self.skew) < base.nbf {
            return Err(Error::new(ErrorKind::NotYetValid, OP, "the token is not valid yet"));
        }
        if self.now > expires.saturating_add(self.skew) {
            return Err(Error::new(ErrorKind::Expired, OP, "the token has expired"));
        }
        let granted = |i: usize| mask & (1 << i) != 0;
        let wanted = self.scope.get();
        if !scopes.iter().enumerate().any(|(i, s)| granted(i) && Some(s) == wanted) {
            return Err(Error::new(
                ErrorKind::Scope,
                OP,
                format!("the token does not grant scope `{}`", self.scope.show()),
            ));
        }
        match (aud, &self.audience) {
            (Aud::Any, _) => {}
            (Aud::One(a), Some(mine)) if Some(a) == mine.get() => {}
            _ => return Err(Error::new(ErrorKind::Audience, OP, "the token is bound to another audience")),
        }
        if local {
            match self.peer {
                Some(p) if is_loopback(p) => {}
                Some(_) => {
                    return Err(Error::new(
                        ErrorKind::Locality,
                        OP,
                        "a local-only token was presented from a non-loopback peer",
                    ));
                }
                None => {
                    return Err(Error::new(
                        ErrorKind::Locality,
                        OP,
                        "a local-only token needs the peer address, which is unknown",
                    ));
                }
            }
        }
        Ok(Effective {
            scopes: scopes
                .iter()
                .enumerate()
                .filter(|(i, _)| granted(*i))
                .map(|(_, s)| claims::ascii_string(s))
                .collect(),
            audience: match aud {
                Aud::Any => None,
                Aud::One(a) => Some(Some(claims::ascii_string(a))),
                Aud::Conflict => Some(None),
            },
            not_before: base.nbf,
            expires,
            local,
        })
    }
}

/// `true` for 127.0.0.0/8, ::1 and IPv4-mapped loopback.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

/// A token's contents, read without verification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inspection {
    /// The base claims.
    pub claims: Claims,
    /// The caveats, in order.
    pub caveats: Vec<Caveat>,
    /// The claims in force after the caveats.
    pub effective: Effective,
}

/// Decodes `token` **without verifying it** (for display: nothing in the
/// result may be trusted).
///
/// # Errors
/// [`ErrorKind::Malformed`] / [`ErrorKind::UnknownVersion`].
pub fn inspect(token: &str) -> Result<Inspection> {
    const OP: &str = "inspect";
    let (claims, caveats) = with_buf(decoded_bound(token.len()), |buf| decode_claims(OP, &split(OP, token, buf)?))?;
    let effective = Effective::of(&claims, &caveats);
    Ok(Inspection { claims, caveats, effective })
}

/// Exposes a token string (an explicit, greppable call).
pub fn expose(token: &SecretString) -> &str {
    token.expose_secret()
}

#[cfg(test)]
mod tests;
