//! Deriving, attenuating, verifying and inspecting `gw1` tokens.
//!
//! Wire form (see `docs/token-format.md`):
//! `gw1.<claims>[.<caveat>]*.<tag>`, each part unpadded base64url
//! (canonical: no padding, no trailing bits), claims and caveats canonical
//! JSON, the tag 32 bytes (43 characters).

use std::net::IpAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use secrecy::{ExposeSecret, SecretString};

use crate::claims::{self, Caveat, Claims, Effective, VERSION};
use crate::error::{Error, ErrorKind, Result};
use crate::keys::{self, TokenKey};

/// The prefix of every version-1 token.
pub const PREFIX: &str = "gw1";
/// The longest token accepted, in bytes.
pub const MAX_TOKEN_LEN: usize = 4096;
/// The most caveats a token may carry.
pub const MAX_CAVEATS: usize = 16;
/// The clock skew a verifier tolerates, in seconds, on both `nbf` and `exp`.
pub const DEFAULT_SKEW_SECS: u64 = 30;

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
    let claims_b64 = URL_SAFE_NO_PAD.encode(claims::to_canonical(&claims));
    let tag = keys::chain_tag(key, &claims_b64, &[]);
    Ok(SecretString::from(format!("{PREFIX}.{claims_b64}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))))
}

/// The parts of a token, split and base64-checked but not trusted: each
/// part as sent (the MAC input) and decoded (decoded once, here).
struct Parts<'a> {
    claims_b64: &'a str,
    caveats_b64: Vec<&'a str>,
    claims: Vec<u8>,
    caveats: Vec<Vec<u8>>,
    tag: [u8; 32],
}

/// A byte of the token alphabet: base64url and `.`.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() | (b == b'-') | (b == b'_') | (b == b'.')
}

fn split<'t>(op: &'static str, token: &'t str) -> Result<Parts<'t>> {
    let bad = |why: &str| Error::new(ErrorKind::Malformed, op, format!("not a gw token: {why}"));
    if token.len() > MAX_TOKEN_LEN {
        return Err(bad(&format!("longer than {MAX_TOKEN_LEN} bytes")));
    }
    // Every byte is checked (no early exit), which lets the compiler
    // vectorize the loop; the length is bounded above.
    if !token.bytes().fold(true, |ok, b| ok & is_token_byte(b)) {
        return Err(bad("characters outside base64url and `.`"));
    }
    let parts: Vec<&str> = token.split('.').collect();
    match parts[0] {
        PREFIX => {}
        p if p.starts_with("gw") && p[2..].bytes().all(|b| b.is_ascii_digit()) && p.len() > 2 => {
            // Bounded: the first part may be thousands of digits.
            let shown: String = p.chars().take(12).collect();
            let more = if p.len() > 12 { "…" } else { "" };
            return Err(Error::new(
                ErrorKind::UnknownVersion,
                op,
                format!("token version `{shown}{more}` is not supported (only {PREFIX})"),
            ));
        }
        _ => return Err(bad("it does not start with `gw1.`")),
    }
    if parts.len() < 3 {
        return Err(bad("too few parts"));
    }
    if parts.len() - 3 > MAX_CAVEATS {
        return Err(bad(&format!("more than {MAX_CAVEATS} caveats")));
    }
    let tag_b64 = parts[parts.len() - 1];
    let tag: [u8; 32] = URL_SAFE_NO_PAD
        .decode(tag_b64)
        .ok()
        .and_then(|t| t.try_into().ok())
        .ok_or_else(|| bad("the tag is not 32 bytes of canonical base64url"))?;
    let decode = |p: &str| match URL_SAFE_NO_PAD.decode(p) {
        Ok(d) if !p.is_empty() => Ok(d),
        _ => Err(bad("a part is not canonical base64url")),
    };
    let claims = decode(parts[1])?;
    let caveats = parts[2..parts.len() - 1].iter().map(|p| decode(p)).collect::<Result<Vec<_>>>()?;
    Ok(Parts { claims_b64: parts[1], caveats_b64: parts[2..parts.len() - 1].to_vec(), claims, caveats, tag })
}

fn decode_claims(op: &'static str, parts: &Parts<'_>) -> Result<(Claims, Vec<Caveat>)> {
    let c: Claims = claims::from_canonical(op, &parts.claims, "claims")?;
    c.check(op).map_err(|e| {
        if e.kind() == ErrorKind::InvalidInput {
            Error::new(ErrorKind::Malformed, op, e.message().to_owned())
        } else {
            e
        }
    })?;
    let mut caveats = Vec::with_capacity(parts.caveats_b64.len());
    for b in &parts.caveats {
        let cav: Caveat = claims::from_canonical(op, b, "caveat")?;
        cav.check(op).map_err(|e| Error::new(ErrorKind::Malformed, op, e.message().to_owned()))?;
        caveats.push(cav);
    }
    Ok((c, caveats))
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
    let parts = split(OP, token)?;
    if parts.caveats_b64.len() >= MAX_CAVEATS {
        return Err(Error::new(ErrorKind::InvalidInput, OP, format!("the token already has {MAX_CAVEATS} caveats")));
    }
    let cav_b64 = URL_SAFE_NO_PAD.encode(claims::to_canonical(caveat));
    let body = &token[..token.len() - 43];
    // A longer token would be refused by every verifier (`split`): say so now.
    if body.len() + cav_b64.len() + 1 + 43 > MAX_TOKEN_LEN {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            OP,
            format!("the narrowed token would be longer than {MAX_TOKEN_LEN} bytes"),
        ));
    }
    let tag = keys::caveat_step(&parts.tag, &cav_b64);
    Ok(SecretString::from(format!("{body}{cav_b64}.{}", URL_SAFE_NO_PAD.encode(tag.as_ref()))))
}

/// What a verifier requires.
#[derive(Debug)]
pub struct Verifier<'k> {
    key: &'k TokenKey,
    scope: String,
    audience: Option<String>,
    peer: Option<IpAddr>,
    now: u64,
    skew: u64,
}

impl<'k> Verifier<'k> {
    /// A verifier requiring `scope`, at the current time, with the default
    /// skew, no audience and no known peer (so `local` tokens fail closed
    /// until [`Verifier::peer`] is given).
    pub fn new(key: &'k TokenKey, scope: impl Into<String>) -> Self {
        Self { key, scope: scope.into(), audience: None, peer: None, now: unix_now(), skew: DEFAULT_SKEW_SECS }
    }
    /// The audience this verifier serves (tokens bound to another are refused).
    pub fn audience(mut self, aud: impl Into<String>) -> Self {
        self.audience = Some(aud.into());
        self
    }
    /// The address the token came from (THREATS TOK-3).
    pub fn peer(mut self, peer: IpAddr) -> Self {
        self.peer = Some(peer);
        self
    }
    /// Verify as of `now` (Unix seconds): the injectable clock.
    pub fn at(mut self, now: u64) -> Self {
        self.now = now;
        self
    }
    /// The tolerated clock skew in seconds.
    pub fn skew(mut self, secs: u64) -> Self {
        self.skew = secs;
        self
    }

    /// Verifies `token`: form, MAC (constant time, before anything in the
    /// token is interpreted), version, time, scope, audience, locality.
    /// Returns the effective claims.
    ///
    /// # Errors
    /// The first check that failed, as its [`ErrorKind`]; the message names
    /// the check, never the token or a secret.
    ///
    /// # Security
    /// THREATS TOK-1 (scope), TOK-3 (locality: a `local` token from a
    /// non-loopback or unknown peer is refused).
    pub fn verify(&self, token: &str) -> Result<Effective> {
        const OP: &str = "verify";
        let parts = split(OP, token)?;
        let expected = keys::chain_tag(self.key, parts.claims_b64, &parts.caveats_b64);
        if !keys::tags_equal(&expected, &parts.tag) {
            return Err(Error::new(
                ErrorKind::Signature,
                OP,
                "the signature does not match (the token was altered, or made with another secret)",
            ));
        }
        let (base, caveats) = decode_claims(OP, &parts)?;
        let eff = Effective::of(&base, &caveats);
        if self.now.saturating_add(self.skew) < eff.not_before {
            return Err(Error::new(ErrorKind::NotYetValid, OP, "the token is not valid yet"));
        }
        if self.now > eff.expires.saturating_add(self.skew) {
            return Err(Error::new(ErrorKind::Expired, OP, "the token has expired"));
        }
        if !eff.scopes.iter().any(|s| s == &self.scope) {
            return Err(Error::new(ErrorKind::Scope, OP, format!("the token does not grant scope `{}`", self.scope)));
        }
        match (&eff.audience, &self.audience) {
            (None, _) => {}
            (Some(Some(a)), Some(mine)) if a == mine => {}
            _ => return Err(Error::new(ErrorKind::Audience, OP, "the token is bound to another audience")),
        }
        if eff.local {
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
        Ok(eff)
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
    let parts = split(OP, token)?;
    let (claims, caveats) = decode_claims(OP, &parts)?;
    let effective = Effective::of(&claims, &caveats);
    Ok(Inspection { claims, caveats, effective })
}

/// Exposes a token string (an explicit, greppable call).
pub fn expose(token: &SecretString) -> &str {
    token.expose_secret()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::secret::Secret;
    use std::net::Ipv4Addr;

    const NOW: u64 = 1_800_000_000;

    fn key() -> TokenKey {
        TokenKey::from_root(&Secret::new(vec![7u8; 32]))
    }

    fn grant(local: bool) -> Grant {
        Grant {
            scopes: vec!["gateway.connect".into(), "approvals.read".into()],
            audience: Some("ws://127.0.0.1:18789".into()),
            ttl: Duration::from_secs(600),
            local,
        }
    }

    fn verifier<'k>(k: &'k TokenKey, scope: &str) -> Verifier<'k> {
        Verifier::new(k, scope).audience("ws://127.0.0.1:18789").peer(IpAddr::V4(Ipv4Addr::LOCALHOST)).at(NOW + 10)
    }

    #[test]
    fn derive_verify_round_trip_and_checks() {
        let k = key();
        let t = derive(&k, &grant(true), NOW).unwrap();
        let t = expose(&t);
        assert!(t.starts_with("gw1."));
        let eff = verifier(&k, "gateway.connect").verify(t).unwrap();
        assert_eq!(eff.scopes, vec!["approvals.read", "gateway.connect"]);
        let kind = |v: Verifier<'_>| v.verify(t).unwrap_err().kind();
        assert_eq!(kind(verifier(&k, "admin")), ErrorKind::Scope);
        assert_eq!(kind(verifier(&k, "gateway.connect").audience("ws://127.0.0.1:1")), ErrorKind::Audience);
        assert_eq!(kind(verifier(&k, "gateway.connect").at(NOW + 600 + 31)), ErrorKind::Expired);
        assert!(verifier(&k, "gateway.connect").at(NOW + 600 + 30).verify(t).is_ok(), "skew is tolerated");
        assert_eq!(kind(verifier(&k, "gateway.connect").at(NOW - 31)), ErrorKind::NotYetValid);
        assert_eq!(kind(verifier(&k, "gateway.connect").peer("10.0.0.1".parse().unwrap())), ErrorKind::Locality);
        assert_eq!(
            kind(Verifier::new(&k, "gateway.connect").audience("ws://127.0.0.1:18789").at(NOW)),
            ErrorKind::Locality
        );
        let other = TokenKey::from_root(&Secret::new(vec![8u8; 32]));
        assert_eq!(kind(verifier(&other, "gateway.connect")), ErrorKind::Signature);
    }

    #[test]
    fn attenuation_narrows_and_cannot_be_undone() {
        let k = key();
        let t = derive(&k, &grant(false), NOW).unwrap();
        let narrowed = attenuate(
            expose(&t),
            &Caveat { scp: Some(vec!["approvals.read".into()]), exp: Some(NOW + 60), ..Caveat::default() },
        )
        .unwrap();
        let n = expose(&narrowed);
        assert!(verifier(&k, "approvals.read").verify(n).is_ok());
        assert_eq!(verifier(&k, "gateway.connect").verify(n).unwrap_err().kind(), ErrorKind::Scope);
        assert_eq!(verifier(&k, "approvals.read").at(NOW + 100).verify(n).unwrap_err().kind(), ErrorKind::Expired);
        // Dropping the caveat (keeping the narrowed tag) breaks the MAC.
        let parts: Vec<&str> = n.split('.').collect();
        let stripped = format!("{}.{}.{}", parts[0], parts[1], parts[3]);
        assert_eq!(verifier(&k, "gateway.connect").verify(&stripped).unwrap_err().kind(), ErrorKind::Signature);
        // A caveat that would widen (a scope not granted) grants nothing new.
        let wider = attenuate(expose(&t), &Caveat { scp: Some(vec!["admin".into()]), ..Caveat::default() }).unwrap();
        assert_eq!(verifier(&k, "admin").verify(expose(&wider)).unwrap_err().kind(), ErrorKind::Scope);
        assert!(attenuate(expose(&t), &Caveat::default()).is_err(), "an empty caveat is refused");
        assert!(attenuate(expose(&t), &Caveat { loc: Some(false), ..Caveat::default() }).is_err());
    }

    #[test]
    fn malformed_and_unknown_versions() {
        let k = key();
        let v = verifier(&k, "gateway.connect");
        assert_eq!(v.verify("gw2.a.b").unwrap_err().kind(), ErrorKind::UnknownVersion);
        assert_eq!(v.verify("xyz").unwrap_err().kind(), ErrorKind::Malformed);
        assert_eq!(v.verify("gw1..").unwrap_err().kind(), ErrorKind::Malformed);
        assert_eq!(v.verify(&"a".repeat(5000)).unwrap_err().kind(), ErrorKind::Malformed);
        let t = derive(&k, &grant(false), NOW).unwrap();
        let t = expose(&t);
        assert_eq!(v.verify(&format!("{t}=")).unwrap_err().kind(), ErrorKind::Malformed);
        assert_eq!(v.verify(&format!(" {t}")).unwrap_err().kind(), ErrorKind::Malformed);
        let i = inspect(t).unwrap();
        assert_eq!(i.claims.aud.as_deref(), Some("ws://127.0.0.1:18789"));
    }
}
