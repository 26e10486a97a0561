//! The claims a token binds, the caveats that narrow them, and their
//! canonical binary encoding (exactly one valid encoding per value; see
//! `docs/token-format.md`, "Claims record" and "Caveat record").
//!
//! Claims record:
//! ```text
//! flags  u8      bit 0 local, bit 1 audience present, bits 2..7 zero
//! nbf    u64 BE  not before (Unix seconds)
//! life   u32 BE  exp - nbf, at most MAX_LIFETIME_SECS
//! jti    16 bytes
//! nscp   u8      1..=16, then nscp × (len u8 1..=64, scope bytes), sorted, unique
//! [aud]  len u8 1..=255, audience bytes              (if flags bit 1)
//! ```
//! Caveat record:
//! ```text
//! flags  u8      bit 0 scopes, bit 1 audience, bit 2 expiry, bit 3 local; bits 4..7 zero; not 0
//! [nscp u8, nscp × (len u8, scope)] [len u8, audience] [exp u64 BE]   (present fields, in this order)
//! ```
//! Every length is bounded, every reserved bit must be zero, scopes must be
//! sorted and unique, and a record must be consumed exactly: anything else
//! is malformed, so a value has one encoding and an encoding one value.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};

/// The token format version (the `gw2` prefix; `Claims::v`).
pub const VERSION: u8 = 2;
/// The most scopes a token may carry.
pub const MAX_SCOPES: usize = 16;
/// The longest scope name.
pub const MAX_SCOPE_LEN: usize = 64;
/// The longest audience.
pub const MAX_AUDIENCE_LEN: usize = 255;
/// The longest lifetime a token may have (366 days).
pub const MAX_LIFETIME_SECS: u64 = 366 * 24 * 3600;

const CLAIM_LOCAL: u8 = 0x01;
const CLAIM_AUD: u8 = 0x02;
const CAV_SCP: u8 = 0x01;
const CAV_AUD: u8 = 0x02;
const CAV_EXP: u8 = 0x04;
const CAV_LOC: u8 = 0x08;

/// What a token grants, as signed by the root secret's holder.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claims {
    /// Format version ([`VERSION`]; implied by the token's prefix).
    pub v: u8,
    /// Scopes granted: sorted, unique, each `[a-z0-9][a-z0-9._:-]*`.
    pub scp: Vec<String>,
    /// The audience the token is bound to (the gateway URL it may be sent
    /// to), or none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Not valid before (Unix seconds).
    pub nbf: u64,
    /// Expiry (Unix seconds).
    pub exp: u64,
    /// `true`: may only be presented from a loopback peer (THREATS TOK-3).
    pub loc: bool,
    /// A random token id (128 bits, as 22 characters of base64url), so
    /// equal grants give distinct tokens.
    pub jti: String,
}

/// A restriction added by a token holder (attenuation). Every present field
/// narrows; absent fields leave the token as it is.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Caveat {
    /// Keep only these scopes (the effective scopes are the intersection).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scp: Option<Vec<String>>,
    /// Bind the token to this audience.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aud: Option<String>,
    /// Expire no later than this (Unix seconds).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exp: Option<u64>,
    /// Require a loopback peer (only `true` is meaningful).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub loc: Option<bool>,
}

/// The claims in force after every caveat has been applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Effective {
    /// Scopes granted (the intersection of the base and every caveat).
    pub scopes: Vec<String>,
    /// `None`: any audience. `Some(Some(a))`: only `a`. `Some(None)`: the
    /// caveats named two different audiences, so none is acceptable.
    pub audience: Option<Option<String>>,
    /// Not valid before.
    pub not_before: u64,
    /// Expiry (the earliest of the base and the caveats).
    pub expires: u64,
    /// Loopback peers only (if the base or any caveat says so).
    pub local: bool,
}

impl Effective {
    /// Applies `caveats` to `base`. By construction the result can only be
    /// narrower than `base`: scopes intersect, expiry takes the minimum,
    /// audiences must agree, locality is sticky.
    pub fn of(base: &Claims, caveats: &[Caveat]) -> Self {
        let mut e = Effective {
            scopes: base.scp.clone(),
            audience: base.aud.clone().map(Some),
            not_before: base.nbf,
            expires: base.exp,
            local: base.loc,
        };
        for c in caveats {
            if let Some(s) = &c.scp {
                e.scopes.retain(|x| s.contains(x));
            }
            if let Some(a) = &c.aud {
                e.audience = match e.audience {
                    None => Some(Some(a.clone())),
                    Some(Some(cur)) if &cur == a => Some(Some(cur)),
                    Some(_) => Some(None),
                };
            }
            if let Some(x) = c.exp {
                e.expires = e.expires.min(x);
            }
            if c.loc == Some(true) {
                e.local = true;
            }
        }
        e
    }
}

/// `SCOPE_CHAR[b]`: 2 for `[a-z0-9]` (may start a scope name), 1 for
/// `. _ : -`, 0 otherwise. A table, because every verification checks every
/// scope byte of the token.
const SCOPE_CHAR: [u8; 256] = {
    let mut t = [0u8; 256];
    let mut b = 0;
    while b < 256 {
        let c = b as u8;
        if c.is_ascii_lowercase() || c.is_ascii_digit() {
            t[b] = 2;
        } else if matches!(c, b'.' | b'-' | b'_' | b':') {
            t[b] = 1;
        }
        b += 1;
    }
    t
};

fn scope_ok(s: &[u8]) -> bool {
    !s.is_empty()
        && s.len() <= MAX_SCOPE_LEN
        && SCOPE_CHAR[usize::from(s[0])] == 2
        && s.iter().fold(true, |ok, &b| ok & (SCOPE_CHAR[usize::from(b)] != 0))
}

fn audience_ok(a: &[u8]) -> bool {
    !a.is_empty() && a.len() <= MAX_AUDIENCE_LEN && a.iter().all(|b| b.is_ascii_graphic())
}

/// Checks one scope name.
pub(crate) fn check_scope(op: &'static str, s: &str) -> Result<()> {
    if scope_ok(s.as_bytes()) {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidInput,
            op,
            format!(
                "`{}` is not a scope name (lower-case letters, digits and . _ : -; at most {MAX_SCOPE_LEN})",
                s.escape_debug()
            ),
        ))
    }
}

/// Checks a scope list: non-empty, bounded, each valid, sorted and unique
/// (the canonical order).
pub(crate) fn check_scopes(op: &'static str, scopes: &[String]) -> Result<()> {
    if scopes.is_empty() || scopes.len() > MAX_SCOPES {
        return Err(Error::new(ErrorKind::InvalidInput, op, format!("a token needs 1 to {MAX_SCOPES} scopes")));
    }
    for s in scopes {
        check_scope(op, s)?;
    }
    if scopes.windows(2).any(|w| w[0] >= w[1]) {
        return Err(Error::new(ErrorKind::InvalidInput, op, "scopes must be sorted and unique"));
    }
    Ok(())
}

pub(crate) fn check_audience(op: &'static str, a: &str) -> Result<()> {
    if !audience_ok(a.as_bytes()) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            op,
            format!("an audience is 1 to {MAX_AUDIENCE_LEN} printable ASCII characters without spaces"),
        ));
    }
    Ok(())
}

impl Claims {
    /// Checks every field's form (not time: that is the verifier's job).
    pub(crate) fn check(&self, op: &'static str) -> Result<()> {
        if self.v != VERSION {
            return Err(Error::new(
                ErrorKind::UnknownVersion,
                op,
                format!("claims version {} is not supported", self.v),
            ));
        }
        check_scopes(op, &self.scp)?;
        if let Some(a) = &self.aud {
            check_audience(op, a)?;
        }
        if self.exp < self.nbf || self.exp - self.nbf > MAX_LIFETIME_SECS {
            return Err(Error::new(ErrorKind::InvalidInput, op, "the lifetime is negative or longer than 366 days"));
        }
        if jti_bytes(&self.jti).is_none() {
            return Err(Error::new(ErrorKind::InvalidInput, op, "the token id is not 128 bits of base64url"));
        }
        Ok(())
    }

    /// The canonical claims record. The claims must have passed
    /// [`Claims::check`].
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(64 + self.scp.iter().map(|s| s.len() + 1).sum::<usize>());
        let flags = if self.loc { CLAIM_LOCAL } else { 0 } | if self.aud.is_some() { CLAIM_AUD } else { 0 };
        out.push(flags);
        out.extend_from_slice(&self.nbf.to_be_bytes());
        let life = u32::try_from(self.exp - self.nbf).expect("checked: at most MAX_LIFETIME_SECS");
        out.extend_from_slice(&life.to_be_bytes());
        out.extend_from_slice(&jti_bytes(&self.jti).expect("checked"));
        put_scopes(&mut out, &self.scp);
        if let Some(a) = &self.aud {
            put_str(&mut out, a);
        }
        out
    }
}

/// The 16 bytes of a token id given as canonical base64url.
fn jti_bytes(jti: &str) -> Option<[u8; 16]> {
    if jti.len() != 22 {
        return None;
    }
    URL_SAFE_NO_PAD.decode(jti).ok()?.try_into().ok()
}

fn put_str(out: &mut Vec<u8>, s: &str) {
    out.push(u8::try_from(s.len()).expect("checked: at most 255 bytes"));
    out.extend_from_slice(s.as_bytes());
}

fn put_scopes(out: &mut Vec<u8>, scopes: &[String]) {
    out.push(u8::try_from(scopes.len()).expect("checked: at most 16 scopes"));
    for s in scopes {
        put_str(out, s);
    }
}

impl Caveat {
    /// Checks the caveat narrows something and each field's form.
    pub(crate) fn check(&self, op: &'static str) -> Result<()> {
        if *self == Caveat::default() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                op,
                "a caveat must narrow at least one of scope, audience, expiry, locality",
            ));
        }
        if let Some(s) = &self.scp {
            check_scopes(op, s)?;
        }
        if let Some(a) = &self.aud {
            check_audience(op, a)?;
        }
        if self.loc == Some(false) {
            return Err(Error::new(ErrorKind::InvalidInput, op, "a caveat can require locality, never lift it"));
        }
        Ok(())
    }

    /// The canonical caveat record. The caveat must have passed
    /// [`Caveat::check`].
    pub(crate) fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16);
        let mut flags = 0;
        if self.scp.is_some() {
            flags |= CAV_SCP;
        }
        if self.aud.is_some() {
            flags |= CAV_AUD;
        }
        if self.exp.is_some() {
            flags |= CAV_EXP;
        }
        if self.loc == Some(true) {
            flags |= CAV_LOC;
        }
        out.push(flags);
        if let Some(s) = &self.scp {
            put_scopes(&mut out, s);
        }
        if let Some(a) = &self.aud {
            put_str(&mut out, a);
        }
        if let Some(x) = self.exp {
            out.extend_from_slice(&x.to_be_bytes());
        }
        out
    }
}

// ---- strict parsing into borrowed views (no allocation) ----

/// The scopes of a record, checked (1 to 16, each valid, sorted, unique)
/// and borrowed as the record has them: `raw` is the length-prefixed
/// names, walked again by [`Scopes::iter`]. Small (no array of 16 slices
/// to copy around) and allocation-free.
#[derive(Clone, Copy)]
pub(crate) struct Scopes<'a> {
    raw: &'a [u8],
}

impl<'a> Scopes<'a> {
    /// The scope names, in order (ASCII bytes).
    pub(crate) fn iter(&self) -> impl Iterator<Item = &'a [u8]> + 'a {
        let mut rest = self.raw;
        std::iter::from_fn(move || {
            let (&len, tail) = rest.split_first()?;
            let (name, tail) = tail.split_at(usize::from(len));
            rest = tail;
            Some(name)
        })
    }
}

/// An ASCII name checked by the parser, as a `String`.
pub(crate) fn ascii_string(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("checked: ASCII")
}

/// The claims record, parsed and checked, borrowing its strings.
pub(crate) struct ClaimsView<'a> {
    pub(crate) local: bool,
    pub(crate) nbf: u64,
    pub(crate) exp: u64,
    pub(crate) jti: [u8; 16],
    pub(crate) scopes: Scopes<'a>,
    pub(crate) aud: Option<&'a [u8]>,
}

/// One caveat record, parsed and checked.
pub(crate) struct CaveatView<'a> {
    pub(crate) scopes: Option<Scopes<'a>>,
    pub(crate) aud: Option<&'a [u8]>,
    pub(crate) exp: Option<u64>,
    pub(crate) local: bool,
}

/// A cursor over a record; every read is bounds-checked.
struct Reader<'a> {
    b: &'a [u8],
}

/// Why a record is malformed (turned into an [`Error`] by the caller, off
/// the hot path).
pub(crate) type Why = &'static str;

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> std::result::Result<&'a [u8], Why> {
        if self.b.len() < n {
            return Err("the record is truncated");
        }
        let (h, t) = self.b.split_at(n);
        self.b = t;
        Ok(h)
    }
    fn u8(&mut self) -> std::result::Result<u8, Why> {
        Ok(self.take(1)?[0])
    }
    fn u32(&mut self) -> std::result::Result<u32, Why> {
        Ok(u32::from_be_bytes(self.take(4)?.try_into().expect("4 bytes")))
    }
    fn u64(&mut self) -> std::result::Result<u64, Why> {
        Ok(u64::from_be_bytes(self.take(8)?.try_into().expect("8 bytes")))
    }
    fn scopes(&mut self) -> std::result::Result<Scopes<'a>, Why> {
        let n = usize::from(self.u8()?);
        if n == 0 || n > MAX_SCOPES {
            return Err("the scope count is not 1 to 16");
        }
        let all = self.b;
        let mut prev: &[u8] = &[];
        for i in 0..n {
            let len = usize::from(self.u8()?);
            let s = self.take(len)?;
            if !scope_ok(s) {
                return Err("a scope name is not valid");
            }
            if i > 0 && prev >= s {
                return Err("the scopes are not sorted and unique");
            }
            prev = s;
        }
        Ok(Scopes { raw: &all[..all.len() - self.b.len()] })
    }
    fn audience(&mut self) -> std::result::Result<&'a [u8], Why> {
        let len = usize::from(self.u8()?);
        let a = self.take(len)?;
        if !audience_ok(a) {
            return Err("the audience is not 1 to 255 printable ASCII characters");
        }
        Ok(a)
    }
    fn end(&self) -> std::result::Result<(), Why> {
        if self.b.is_empty() { Ok(()) } else { Err("the record has trailing bytes") }
    }
}

/// Parses a claims record strictly (canonical form only).
pub(crate) fn parse_claims(b: &[u8]) -> std::result::Result<ClaimsView<'_>, Why> {
    let mut r = Reader { b };
    let flags = r.u8()?;
    if flags & !(CLAIM_LOCAL | CLAIM_AUD) != 0 {
        return Err("unknown claim flags are set");
    }
    let nbf = r.u64()?;
    let life = u64::from(r.u32()?);
    if life > MAX_LIFETIME_SECS {
        return Err("the lifetime is longer than 366 days");
    }
    let exp = nbf.checked_add(life).ok_or("the expiry is out of range")?;
    let jti: [u8; 16] = r.take(16)?.try_into().expect("16 bytes");
    let scopes = r.scopes()?;
    let aud = if flags & CLAIM_AUD != 0 { Some(r.audience()?) } else { None };
    r.end()?;
    Ok(ClaimsView { local: flags & CLAIM_LOCAL != 0, nbf, exp, jti, scopes, aud })
}

/// Parses a caveat record strictly (canonical form only).
pub(crate) fn parse_caveat(b: &[u8]) -> std::result::Result<CaveatView<'_>, Why> {
    let mut r = Reader { b };
    let flags = r.u8()?;
    if flags & !(CAV_SCP | CAV_AUD | CAV_EXP | CAV_LOC) != 0 {
        return Err("unknown caveat flags are set");
    }
    if flags == 0 {
        return Err("the caveat narrows nothing");
    }
    let scopes = if flags & CAV_SCP != 0 { Some(r.scopes()?) } else { None };
    let aud = if flags & CAV_AUD != 0 { Some(r.audience()?) } else { None };
    let exp = if flags & CAV_EXP != 0 { Some(r.u64()?) } else { None };
    r.end()?;
    Ok(CaveatView { scopes, aud, exp, local: flags & CAV_LOC != 0 })
}

impl ClaimsView<'_> {
    pub(crate) fn to_owned_claims(&self) -> Claims {
        Claims {
            v: VERSION,
            scp: self.scopes.iter().map(ascii_string).collect(),
            aud: self.aud.map(ascii_string),
            nbf: self.nbf,
            exp: self.exp,
            loc: self.local,
            jti: URL_SAFE_NO_PAD.encode(self.jti),
        }
    }
}

impl CaveatView<'_> {
    pub(crate) fn to_owned_caveat(&self) -> Caveat {
        Caveat {
            scp: self.scopes.map(|s| s.iter().map(ascii_string).collect()),
            aud: self.aud.map(ascii_string),
            exp: self.exp,
            loc: self.local.then_some(true),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims() -> Claims {
        Claims {
            v: VERSION,
            scp: vec!["approvals.read".into(), "gateway.connect".into()],
            aud: Some("ws://127.0.0.1:18789".into()),
            nbf: 1_700_000_000,
            exp: 1_700_003_600,
            loc: true,
            jti: URL_SAFE_NO_PAD.encode([0xa5u8; 16]),
        }
    }

    #[test]
    fn claims_round_trip_and_every_truncation_or_extension_is_refused() {
        let c = claims();
        c.check("t").unwrap();
        let enc = c.encode();
        assert_eq!(parse_claims(&enc).unwrap().to_owned_claims(), c);
        for n in 0..enc.len() {
            assert!(parse_claims(&enc[..n]).is_err(), "truncated to {n}");
        }
        let mut longer = enc.clone();
        longer.push(0);
        assert_eq!(parse_claims(&longer).err(), Some("the record has trailing bytes"));
        let mut bad_flag = enc.clone();
        bad_flag[0] |= 0x04;
        assert!(parse_claims(&bad_flag).is_err());
        let mut unsorted = c.clone();
        unsorted.scp.reverse();
        assert_eq!(parse_claims(&unsorted.encode()).err(), Some("the scopes are not sorted and unique"));
    }

    #[test]
    fn caveat_round_trip_and_refusals() {
        let cav = Caveat { scp: Some(vec!["a".into()]), aud: Some("x".into()), exp: Some(5), loc: Some(true) };
        cav.check("t").unwrap();
        let enc = cav.encode();
        assert_eq!(parse_caveat(&enc).unwrap().to_owned_caveat(), cav);
        assert_eq!(parse_caveat(&[0]).err(), Some("the caveat narrows nothing"));
        assert!(parse_caveat(&[0x10]).is_err());
        for n in 0..enc.len() {
            assert!(parse_caveat(&enc[..n]).is_err(), "truncated to {n}");
        }
    }
}
