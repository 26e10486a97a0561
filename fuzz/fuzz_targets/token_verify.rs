//! Fuzz target: the `gw2` token parser and verifier (`gw_token::inspect`,
//! `Verifier::verify`), plus `derive_with_id` and `attenuate`, under one
//! fixed root secret (the doc's test-vector secret, bytes 00..1f).
//!
//! An input starting with `!` is a structure-aware **chain** (the rest
//! decoded by `arbitrary`); one starting with `#` is **signed records** (the
//! rest is a sequence of records, each one length byte and that many bytes,
//! the last one whatever is left: the claims record, then each caveat
//! record, base64url-encoded and signed with the key, so any bytes reach the
//! record parsers behind a valid MAC, as a gateway's own odd token would); any
//! other input is a **raw** token string (the bytes read as UTF-8, invalid
//! sequences replaced). Signed tokens are checked as raw ones.
//!
//! Raw: the token goes through `inspect` and through `verify` by nine
//! verifiers at a fixed time (no audience, the token's or the doc's, another
//! × no peer, a loopback one, a remote one), requiring the token's first
//! scope. Properties, against an independent model of
//! `docs/token-format.md` (its own base64url, MAC chain over
//! `hmac_sha256` with the HKDF-derived key over the decoded records, the
//! binary records written out by hand, effective claims, and verification
//! rules):
//! - nothing panics; `inspect` refuses only as `malformed` or
//!   `unknown_version`, `verify` only with a kind naming a failed check;
//! - a token `inspect` reads has canonical parts: writing its claims and
//!   caveats as records and base64url gives back exactly its parts,
//!   and its tag is canonical base64url of 32 bytes; its effective claims
//!   are the model's and lie within its base claims (scopes a subset,
//!   expiry no later, the same not-before, locality kept, an audience kept
//!   or turned into a conflict);
//! - when the form is right, `verify` gives `signature` iff the model's MAC
//!   chain differs from the tag, and otherwise exactly the model's outcome
//!   (`inspect`'s refusal, or the first failing check: time, scope,
//!   audience, locality); an accepted token re-verifies to the same claims;
//! - an error message never holds the token (13 bytes or more) or its tag
//!   (when no decoded part holds that text).
//!
//! Chain: a token is derived with `derive_with_id` from arbitrary grant
//! fields, attenuated with arbitrary caveats, verified by an arbitrary
//! verifier, then mutated step by step (bit flips, byte edits, parts
//! dropped, duplicated, swapped or replaced, and extensions a holder can
//! make without the root secret: a new part with the MAC chained from the
//! tag). Properties:
//! - `derive_with_id` succeeds exactly for a valid grant and gives exactly
//!   the spec's token; `attenuate` succeeds exactly for a valid caveat (at
//!   most 16, the token at most 4096 bytes) and gives exactly the spec's
//!   token; `inspect` reads back the grant and the caveats;
//! - `verify` of the attenuated token gives exactly the model's outcome;
//! - a mutated token that verifies still starts with every part of the
//!   unmutated one but its tag (no caveat lost or changed: THREATS TOK-1),
//!   grants no more than the unmutated chain did (same base claims; scopes
//!   a subset, expiry no later, locality kept, audience kept), the
//!   unmutated token verifies for the same verifier, and no error message
//!   holds the unmutated token's tag.
//!
//! `GW_FUZZ_DEBUG=1` prints the decoded chain and every result.
#![no_main]

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::LazyLock;
use std::time::Duration;

use arbitrary::{Arbitrary, Unstructured};
use gw_token::{
    CAVEAT_DOMAIN, CLAIMS_DOMAIN, Caveat, Claims, DEFAULT_SKEW_SECS, Effective, ErrorKind, Grant, HKDF_SALT,
    INFO_MAC_KEY, MAX_CAVEATS, MAX_LIFETIME_SECS, MAX_TOKEN_LEN, Secret, TokenKey, Verifier, attenuate, derive_with_id,
    expose, hkdf_sha256, hmac_sha256, inspect,
};
use libfuzzer_sys::fuzz_target;

/// The root secret (the doc's test vectors use the same) and the clock.
const ROOT: [u8; 32] = {
    let mut r = [0u8; 32];
    let mut i = 0;
    while i < 32 {
        r[i] = i as u8;
        i += 1;
    }
    r
};
const NOW: u64 = 1_700_000_000;
/// The raw verifiers' time and audiences.
const RAW_AT: u64 = NOW + 60;
const AUD: &str = "ws://127.0.0.1:18789";
const OTHER_AUD: &str = "ws://127.0.0.1:1";

static KEY: LazyLock<TokenKey> = LazyLock::new(|| TokenKey::from_root(&Secret::new(ROOT.to_vec())));
/// K_token, computed from the spec's key schedule (not through `TokenKey`).
static K_TOKEN: LazyLock<[u8; 32]> = LazyLock::new(|| *hkdf_sha256(HKDF_SALT, &ROOT, INFO_MAC_KEY));

/// Scopes that pass the rules, audiences, peers (`Text::Known`,
/// `Peer::Known`). gen_seeds.py reads these lists (one string literal per
/// line) to encode the seeds: append new entries at the end.
const SCOPES: &[&str] = &[
    "gateway.connect",
    "approvals.read",
    "admin",
    "a",
    "0",
    "a.b:c_d-e",
    "zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz",
];
const AUDIENCES: &[&str] = &[
    "ws://127.0.0.1:18789",
    "ws://127.0.0.1:1",
    "wss://gw.example:443",
    "!",
    "a\"b\\c",
    "~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~~",
];
const PEERS: &[&str] = &[
    "127.0.0.1",
    "127.255.255.254",
    "::1",
    "::ffff:127.0.0.1",
    "::ffff:127.1.2.3",
    "10.0.0.1",
    "0.0.0.0",
    "::",
    "::127.0.0.1",
    "::ffff:10.0.0.1",
    "192.168.1.10",
    "fe80::1",
    "::2",
];

// ---------------------------------------------------------------- the model

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Unpadded base64url.
fn b64(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        for i in 0..=chunk.len() {
            out.push(B64[(n >> (18 - 6 * i) & 63) as usize] as char);
        }
    }
    out
}

/// Canonical unpadded base64url only (no padding, no other character, no
/// length ≡ 1 mod 4, zero trailing bits).
fn unb64(s: &str) -> Option<Vec<u8>> {
    let vals: Vec<u32> =
        s.bytes().map(|c| B64.iter().position(|&b| b == c).map(|v| v as u32)).collect::<Option<_>>()?;
    if vals.len() % 4 == 1 {
        return None;
    }
    let mut out = Vec::new();
    for chunk in vals.chunks(4) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &v)| n | v << (18 - 6 * i));
        let bytes = chunk.len() - 1;
        if n & ((1 << (24 - 8 * bytes)) - 1) != 0 {
            return None;
        }
        out.extend((0..bytes).map(|i| (n >> (16 - 8 * i)) as u8));
    }
    Some(out)
}

/// A length-prefixed string (one length byte, truncated as a careless
/// encoder would: the model writes whatever it is given).
fn put_str(out: &mut Vec<u8>, s: &str) {
    out.push(s.len() as u8);
    out.extend_from_slice(s.as_bytes());
}

fn put_scopes(out: &mut Vec<u8>, v: &[String]) {
    out.push(v.len() as u8);
    for s in v {
        put_str(out, s);
    }
}

/// The claims record of docs/token-format.md: flags (bit 0 local, bit 1
/// audience), nbf u64 BE, lifetime u32 BE, the jti's 16 bytes, scopes,
/// audience.
fn claims_rec(c: &Claims) -> Vec<u8> {
    let mut out = vec![u8::from(c.loc) | u8::from(c.aud.is_some()) << 1];
    out.extend_from_slice(&c.nbf.to_be_bytes());
    out.extend_from_slice(&(c.exp.wrapping_sub(c.nbf) as u32).to_be_bytes());
    out.extend_from_slice(&unb64(&c.jti).unwrap_or_default());
    put_scopes(&mut out, &c.scp);
    if let Some(a) = &c.aud {
        put_str(&mut out, a);
    }
    out
}

/// A caveat record: flags (bit 0 scopes, 1 audience, 2 expiry, 3 local),
/// then the present fields. `loc: Some(false)` has no encoding (no flag).
fn caveat_rec(c: &Caveat) -> Vec<u8> {
    let flags = u8::from(c.scp.is_some())
        | u8::from(c.aud.is_some()) << 1
        | u8::from(c.exp.is_some()) << 2
        | u8::from(c.loc == Some(true)) << 3;
    let mut out = vec![flags];
    if let Some(s) = &c.scp {
        put_scopes(&mut out, s);
    }
    if let Some(a) = &c.aud {
        put_str(&mut out, a);
    }
    if let Some(e) = c.exp {
        out.extend_from_slice(&e.to_be_bytes());
    }
    out
}

/// The spec's MAC chain over the decoded records.
fn chain_tag(claims: &[u8], caveats: &[Vec<u8>]) -> [u8; 32] {
    let mut tag = *hmac_sha256(&*K_TOKEN, &[CLAIMS_DOMAIN, claims]);
    for c in caveats {
        tag = step(&tag, c);
    }
    tag
}

fn step(tag: &[u8], caveat: &[u8]) -> [u8; 32] {
    *hmac_sha256(tag, &[CAVEAT_DOMAIN, caveat])
}

fn scope_ok(s: &str) -> bool {
    (1..=64).contains(&s.len())
        && s.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && s.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._:-".contains(&b))
}

fn scopes_ok(v: &[String]) -> bool {
    (1..=16).contains(&v.len()) && v.iter().all(|s| scope_ok(s)) && v.windows(2).all(|w| w[0] < w[1])
}

fn aud_ok(a: &str) -> bool {
    (1..=255).contains(&a.len()) && a.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

fn caveat_ok(c: &Caveat) -> bool {
    (c.scp.is_some() || c.aud.is_some() || c.exp.is_some() || c.loc.is_some())
        && c.scp.as_deref().is_none_or(scopes_ok)
        && c.aud.as_deref().is_none_or(aud_ok)
        && c.loc != Some(false)
}

/// The effective claims, folded the way the spec's table says.
fn effective(base: &Claims, caveats: &[Caveat]) -> Effective {
    let mut scopes: Vec<String> = base.scp.clone();
    let mut audience: Option<Option<String>> = base.aud.clone().map(Some);
    let mut expires = base.exp;
    let mut local = base.loc;
    for c in caveats {
        if let Some(s) = &c.scp {
            scopes = scopes.into_iter().filter(|x| s.contains(x)).collect();
        }
        if let Some(a) = &c.aud {
            audience = match audience {
                None => Some(Some(a.clone())),
                Some(Some(cur)) if &cur == a => Some(Some(cur)),
                Some(_) => Some(None),
            };
        }
        expires = expires.min(c.exp.unwrap_or(u64::MAX));
        local |= c.loc == Some(true);
    }
    Effective { scopes, audience, not_before: base.nbf, expires, local }
}

/// `narrow` grants nothing `wide` does not.
fn within(narrow: &Effective, wide: &Effective) -> bool {
    narrow.scopes.iter().all(|s| wide.scopes.contains(s))
        && narrow.expires <= wide.expires
        && narrow.not_before == wide.not_before
        && narrow.local >= wide.local
        && match (&wide.audience, &narrow.audience) {
            (None, _) | (Some(_), Some(None)) => true,
            (Some(Some(a)), Some(Some(b))) => a == b,
            (Some(_), None) | (Some(None), Some(Some(_))) => false,
        }
}

fn loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(a) => a.octets()[0] == 127,
        IpAddr::V6(a) => {
            let s = a.segments();
            a == Ipv6Addr::LOCALHOST || (s[..6] == [0, 0, 0, 0, 0, 0xffff] && s[6] >> 8 == 127)
        }
    }
}

/// What a verifier is asked.
#[derive(Debug, Clone)]
struct Check {
    scope: String,
    audience: Option<String>,
    peer: Option<IpAddr>,
    at: u64,
    skew: u64,
}

impl Check {
    fn verifier(&self) -> Verifier<'static> {
        let mut v = Verifier::new(&KEY, self.scope.clone()).at(self.at);
        if self.skew != DEFAULT_SKEW_SECS {
            v = v.skew(self.skew);
        }
        if let Some(a) = &self.audience {
            v = v.audience(a.clone());
        }
        if let Some(p) = self.peer {
            v = v.peer(p);
        }
        v
    }

    /// The spec's checks 4–7 on claims that passed 1–3.
    fn decide(&self, e: &Effective) -> Result<(), ErrorKind> {
        let (now, skew) = (u128::from(self.at), u128::from(self.skew));
        if now + skew < u128::from(e.not_before) {
            return Err(ErrorKind::NotYetValid);
        }
        if now > u128::from(e.expires) + skew {
            return Err(ErrorKind::Expired);
        }
        if !e.scopes.contains(&self.scope) {
            return Err(ErrorKind::Scope);
        }
        match (&e.audience, &self.audience) {
            (None, _) => {}
            (Some(Some(a)), Some(mine)) if a == mine => {}
            _ => return Err(ErrorKind::Audience),
        }
        if e.local && !self.peer.is_some_and(loopback) {
            return Err(ErrorKind::Locality);
        }
        Ok(())
    }
}

fn debug() -> bool {
    std::env::var_os("GW_FUZZ_DEBUG").is_some()
}

// ---------------------------------------------------------------- any token

/// The form rules (step 1) as the model reads them: the parts, when right.
fn form(token: &str) -> Option<(Vec<&str>, [u8; 32])> {
    if token.len() > MAX_TOKEN_LEN || !token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return None;
    }
    let parts: Vec<&str> = token.split('.').collect();
    if parts[0] != "gw2" || parts.len() < 3 || parts.len() - 3 > MAX_CAVEATS {
        return None;
    }
    let tag: [u8; 32] = unb64(parts[parts.len() - 1])?.try_into().ok()?;
    if parts[1..parts.len() - 1].iter().any(|p| p.is_empty() || unb64(p).is_none()) {
        return None;
    }
    Some((parts, tag))
}

/// The model's MAC chain over a well-formed token's decoded parts.
fn model_mac(parts: &[&str]) -> [u8; 32] {
    let dec = |p: &str| unb64(p).expect("form checked");
    let caveats: Vec<Vec<u8>> = parts[2..parts.len() - 1].iter().map(|p| dec(p)).collect();
    chain_tag(&dec(parts[1]), &caveats)
}

/// No error message holds the token or (unless a decoded part has that
/// text) its tag.
fn check_message(token: &str, msg: &str) {
    if !token.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b)) {
        return;
    }
    assert!(token.len() <= 12 || !msg.contains(token), "the message holds the token: {msg}");
    let parts: Vec<&str> = token.split('.').collect();
    let tag = parts[parts.len() - 1];
    let decoded: Vec<String> =
        parts.iter().filter_map(|p| unb64(p)).map(|b| String::from_utf8_lossy(&b).into()).collect();
    if parts.len() > 1 && tag.len() >= 20 && !decoded.iter().any(|d| d.contains(tag)) {
        assert!(!msg.contains(tag), "the message holds the tag: {msg}");
    }
}

/// Runs `inspect` and each verifier on `token` and checks them against the
/// model; returns what each verifier gave.
fn check_token(token: &str, checks: &[Check]) -> Vec<Result<Effective, ErrorKind>> {
    let inspected = inspect(token);
    if debug() {
        eprintln!("inspect -> {inspected:?}");
    }
    let parts = form(token);
    let mut mac_ok = false;
    match &inspected {
        Err(e) => {
            assert!(matches!(e.kind(), ErrorKind::Malformed | ErrorKind::UnknownVersion), "inspect: {e}");
            check_message(token, e.message());
        }
        Ok(i) => {
            let (parts, tag) = parts.as_ref().expect("inspect read a token the model's form rules refuse");
            assert_eq!(parts.len(), i.caveats.len() + 3, "part count");
            assert_eq!(parts[1], b64(&claims_rec(&i.claims)), "claims part not canonical");
            for (p, c) in parts[2..].iter().zip(&i.caveats) {
                assert_eq!(*p, b64(&caveat_rec(c)), "caveat part not canonical");
                assert!(caveat_ok(c), "inspect read a caveat the rules refuse: {c:?}");
            }
            assert_eq!(parts[parts.len() - 1], b64(tag), "tag not canonical");
            let c = &i.claims;
            assert!(c.v == 2 && scopes_ok(&c.scp) && c.aud.as_deref().is_none_or(aud_ok), "claims: {c:?}");
            assert!(c.nbf <= c.exp && c.exp - c.nbf <= MAX_LIFETIME_SECS, "lifetime: {c:?}");
            // 16 bytes, shown as 22 characters of canonical base64url.
            assert!(c.jti.len() == 22 && unb64(&c.jti).is_some_and(|j| j.len() == 16), "jti: {c:?}");
            let model = effective(c, &i.caveats);
            assert_eq!(i.effective, model, "effective claims differ from the model's");
            assert_eq!(Effective::of(c, &i.caveats), model);
            let base = effective(c, &[]);
            assert!(within(&i.effective, &base), "effective claims wider than the base: {i:?}");
            mac_ok = model_mac(parts) == *tag;
        }
    }
    // With the form right, the MAC decides before anything is interpreted.
    if inspected.is_err() {
        if let Some((parts, tag)) = &parts {
            mac_ok = model_mac(parts) == *tag;
        }
    }

    // Refused before any claim is read: one verifier says it all.
    let checks = if parts.is_none() || !mac_ok { &checks[..1] } else { checks };
    let mut out = Vec::new();
    for check in checks {
        let v = check.verifier();
        let got = v.verify(token);
        if debug() {
            eprintln!("verify {check:?} -> {got:?}");
        }
        let expect = match (&parts, &inspected) {
            (None, Err(e)) => Err(e.kind()),
            (None, Ok(_)) => unreachable!(),
            (Some(_), _) if !mac_ok => Err(ErrorKind::Signature),
            (Some(_), Err(e)) => Err(e.kind()),
            (Some(_), Ok(i)) => check.decide(&i.effective).map(|()| i.effective.clone()),
        };
        let got = match got {
            Ok(e) => {
                let again = v.verify(token).expect("an accepted token does not verify again");
                assert_eq!(again, e, "verifying twice gives different claims");
                Ok(e)
            }
            Err(e) => {
                assert!(e.kind().is_invalid_token(), "verify refused as {:?}: {e}", e.kind());
                check_message(token, e.message());
                check_message(token, &e.to_string());
                Err(e.kind())
            }
        };
        assert_eq!(got, expect, "verify {check:?} differs from the model");
        out.push(got);
    }
    out
}

fn raw(token: &str) {
    // The scope and audience the token names, when it can be read (so a
    // good token can pass), else the doc's.
    let (scope, aud) = match inspect(token) {
        Ok(i) => (
            i.effective.scopes.first().or(i.claims.scp.first()).cloned().unwrap_or_default(),
            i.effective.audience.flatten().unwrap_or_else(|| AUD.to_owned()),
        ),
        Err(_) => ("gateway.connect".to_owned(), AUD.to_owned()),
    };
    let mut checks = Vec::new();
    for audience in [None, Some(aud.as_str()), Some(OTHER_AUD)] {
        for peer in [None, Some(IpAddr::V4(Ipv4Addr::LOCALHOST)), Some(IpAddr::V4(Ipv4Addr::new(10, 0, 0, 1)))] {
            checks.push(Check {
                scope: scope.clone(),
                audience: audience.map(str::to_owned),
                peer,
                at: RAW_AT,
                skew: DEFAULT_SKEW_SECS,
            });
        }
    }
    check_token(token, &checks);
}

// ---------------------------------------------------------------- chains

/// A string: one from a list of good ones, or any text.
#[derive(Arbitrary, Debug)]
enum Text {
    Known(u8),
    Raw(String),
}

impl Text {
    fn build(&self, known: &[&str]) -> String {
        match self {
            Text::Known(i) => known[usize::from(*i) % known.len()].to_owned(),
            Text::Raw(s) => s.clone(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Ttl {
    Small(u16),
    Any(u64),
}

/// A time: `NOW` plus or minus seconds, or any.
#[derive(Arbitrary, Debug)]
enum Time {
    Rel(i32),
    Any(u64),
}

impl Time {
    fn at(&self) -> u64 {
        match *self {
            Time::Rel(d) => NOW.saturating_add_signed(i64::from(d)),
            Time::Any(t) => t,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct CaveatIn {
    /// Scopes, sorted and deduplicated first when the flag is set.
    scp: Option<(bool, Vec<Text>)>,
    aud: Option<Text>,
    exp: Option<Time>,
    loc: Option<bool>,
}

impl CaveatIn {
    fn build(&self) -> Caveat {
        Caveat {
            scp: self.scp.as_ref().map(|(sort, v)| {
                let mut v: Vec<String> = v.iter().map(|t| t.build(SCOPES)).collect();
                if *sort {
                    v.sort();
                    v.dedup();
                }
                v
            }),
            aud: self.aud.as_ref().map(|a| a.build(AUDIENCES)),
            exp: self.exp.as_ref().map(Time::at),
            loc: self.loc,
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Peer {
    Unknown,
    Known(u8),
    V4([u8; 4]),
    V6([u8; 16]),
}

#[derive(Arbitrary, Debug)]
struct VerifyIn {
    scope: Text,
    audience: Option<Text>,
    peer: Peer,
    at: Time,
    skew: Option<u16>,
}

impl VerifyIn {
    fn build(&self) -> Check {
        Check {
            scope: self.scope.build(SCOPES),
            audience: self.audience.as_ref().map(|a| a.build(AUDIENCES)),
            peer: match &self.peer {
                Peer::Unknown => None,
                Peer::Known(i) => Some(PEERS[usize::from(*i) % PEERS.len()].parse().unwrap()),
                Peer::V4(a) => Some(IpAddr::from(*a)),
                Peer::V6(a) => Some(IpAddr::from(*a)),
            },
            at: self.at.at(),
            skew: self.skew.map_or(DEFAULT_SKEW_SECS, u64::from),
        }
    }
}

/// A part a holder appends (chaining the MAC from the current tag).
#[derive(Arbitrary, Debug)]
enum Extension {
    /// A caveat written as a record (valid or not).
    Caveat(CaveatIn),
    /// Any record bytes, base64url-encoded.
    Record(Vec<u8>),
    /// Any part text (chained over its canonical decoding, or over the text
    /// itself when it has none).
    Part(String),
}

#[derive(Arbitrary, Debug)]
enum Mutation {
    FlipBit(u16, u8),
    SetByte(u16, u8),
    Insert(u16, u8),
    Delete(u16, u8),
    Truncate(u16),
    DropPart(u8),
    DupPart(u8),
    SwapParts(u8, u8),
    ReplacePart(u8, String),
    Extend(Extension),
}

#[derive(Arbitrary, Debug)]
struct Chain {
    scopes: Vec<Text>,
    audience: Option<Text>,
    ttl: Ttl,
    local: bool,
    id: [u8; 16],
    caveats: Vec<CaveatIn>,
    verify: VerifyIn,
    mutations: Vec<Mutation>,
}

fn mutate(token: &str, m: &Mutation) -> String {
    let mut b = token.as_bytes().to_vec();
    let at = |pos: u16, len: usize| usize::from(pos) % len.max(1);
    let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
    let n = parts.len();
    match m {
        Mutation::FlipBit(pos, bit) if !b.is_empty() => {
            let i = at(*pos, b.len());
            b[i] ^= 1 << (bit % 8);
        }
        Mutation::SetByte(pos, v) if !b.is_empty() => {
            let i = at(*pos, b.len());
            b[i] = *v;
        }
        Mutation::Insert(pos, v) => b.insert(at(*pos, b.len() + 1), *v),
        Mutation::Delete(pos, len) if !b.is_empty() => {
            let i = at(*pos, b.len());
            b.drain(i..(i + usize::from(*len) + 1).min(b.len()));
        }
        Mutation::Truncate(len) => b.truncate(usize::from(*len)),
        Mutation::DropPart(i) => {
            parts.remove(usize::from(*i) % n);
            return parts.join(".");
        }
        Mutation::DupPart(i) => {
            let i = usize::from(*i) % n;
            parts.insert(i, parts[i].clone());
            return parts.join(".");
        }
        Mutation::SwapParts(i, j) => {
            parts.swap(usize::from(*i) % n, usize::from(*j) % n);
            return parts.join(".");
        }
        Mutation::ReplacePart(i, s) => {
            parts[usize::from(*i) % n] = s.clone();
            return parts.join(".");
        }
        Mutation::Extend(e) => {
            let Some(tag) = unb64(&parts[n - 1]) else { return token.to_owned() };
            let (part, rec) = match e {
                Extension::Caveat(c) => {
                    let r = caveat_rec(&c.build());
                    (b64(&r), r)
                }
                Extension::Record(r) => (b64(r), r.clone()),
                Extension::Part(p) => (p.clone(), unb64(p).unwrap_or_else(|| p.as_bytes().to_vec())),
            };
            let tag = step(&tag, &rec);
            parts[n - 1] = part;
            parts.push(b64(&tag));
            return parts.join(".");
        }
        Mutation::FlipBit(..) | Mutation::SetByte(..) | Mutation::Delete(..) => {}
    }
    String::from_utf8_lossy(&b).into_owned()
}

fn chain(c: &Chain) {
    // Derive.
    let mut scopes: Vec<String> = c.scopes.iter().map(|t| t.build(SCOPES)).collect();
    let grant = Grant {
        scopes: scopes.clone(),
        audience: c.audience.as_ref().map(|a| a.build(AUDIENCES)),
        ttl: Duration::from_secs(match c.ttl {
            Ttl::Small(s) => u64::from(s),
            Ttl::Any(s) => s,
        }),
        local: c.local,
    };
    scopes.sort();
    scopes.dedup();
    let ttl = grant.ttl.as_secs();
    let claims = Claims {
        v: 2,
        scp: scopes,
        aud: grant.audience.clone(),
        nbf: NOW,
        exp: NOW + ttl.min(MAX_LIFETIME_SECS + 1),
        loc: grant.local,
        jti: b64(&c.id),
    };
    let valid =
        scopes_ok(&claims.scp) && claims.aud.as_deref().is_none_or(aud_ok) && (1..=MAX_LIFETIME_SECS).contains(&ttl);
    let derived = derive_with_id(&KEY, &grant, NOW, &c.id);
    if debug() {
        eprintln!("derive {grant:?} -> {:?}", derived.as_ref().map(|t| expose(t).to_owned()));
    }
    let mut token = match derived {
        Ok(t) => {
            assert!(valid, "derive accepted an invalid grant: {grant:?}");
            expose(&t).to_owned()
        }
        Err(e) => {
            assert!(!valid, "derive refused a valid grant ({e}): {grant:?}");
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "derive: {e}");
            return;
        }
    };
    let claims_r = claims_rec(&claims);
    let mut tag = chain_tag(&claims_r, &[]);
    assert_eq!(token, format!("gw2.{}.{}", b64(&claims_r), b64(&tag)), "derive differs from the spec");

    // Attenuate.
    let mut applied: Vec<Caveat> = Vec::new();
    for ci in &c.caveats {
        let cav = ci.build();
        let cav_r = caveat_rec(&cav);
        let body = &token[..token.len() - 43];
        let spec = format!("{body}{}.{}", b64(&cav_r), b64(&step(&tag, &cav_r)));
        let ok = caveat_ok(&cav) && applied.len() < MAX_CAVEATS && spec.len() <= MAX_TOKEN_LEN;
        let r = attenuate(&token, &cav);
        if debug() {
            eprintln!("attenuate {cav:?} -> {:?}", r.as_ref().map(|t| expose(t).to_owned()));
        }
        match r {
            Ok(t) => {
                assert!(ok, "attenuate accepted {cav:?} ({} caveats, {} bytes)", applied.len(), spec.len());
                assert_eq!(expose(&t), spec, "attenuate differs from the spec");
                tag = step(&tag, &cav_r);
                token = spec;
                applied.push(cav);
            }
            Err(e) => {
                assert!(!ok, "attenuate refused {cav:?} ({e})");
                assert_eq!(e.kind(), ErrorKind::InvalidInput, "attenuate: {e}");
            }
        }
    }
    let i = inspect(&token).unwrap_or_else(|e| panic!("inspect refuses a derived token: {e}"));
    assert_eq!(i.claims, claims, "inspect reads other claims");
    assert_eq!(i.caveats, applied, "inspect reads other caveats");
    let granted = effective(&claims, &applied);

    // Verify, then mutate.
    let check = c.verify.build();
    let verdict = check_token(&token, std::slice::from_ref(&check)).remove(0);
    assert_eq!(verdict.as_ref().err().copied(), check.decide(&granted).err(), "verify differs from the model");
    let v = check.verifier();
    let kept: Vec<&str> = token.split('.').collect();
    let kept = &kept[..kept.len() - 1];
    let tag_text = b64(&tag);
    let mut m = token.clone();
    for mu in &c.mutations {
        m = mutate(&m, mu);
        let r = v.verify(&m);
        if debug() {
            eprintln!("{mu:?}: {m}\n  -> {r:?}");
        }
        match r {
            Ok(e) => {
                let parts: Vec<&str> = m.split('.').collect();
                assert!(
                    parts.len() > kept.len() && parts[..kept.len()] == *kept,
                    "a mutated token verifies without every part of the original: {m}"
                );
                assert!(within(&e, &granted), "a mutated token grants more: {e:?} > {granted:?}");
                assert!(verdict.is_ok(), "a mutated token verifies where the original does not: {m}");
            }
            Err(e) => {
                assert!(!e.message().contains(&tag_text) && !e.to_string().contains(&tag_text), "{e}");
            }
        }
    }
    if m != token {
        check_token(&m, &[check]);
    }
}

fuzz_target!(|data: &[u8]| {
    match data.split_first() {
        Some((b'!', rest)) => {
            let Ok(c) = Unstructured::new(rest).arbitrary::<Chain>() else { return };
            if debug() {
                eprintln!("{c:?}");
            }
            chain(&c);
        }
        Some((b'#', rest)) => {
            // Length-prefixed records; the last takes what is left.
            let mut records: Vec<Vec<u8>> = Vec::new();
            let mut rest = rest;
            while let Some((&n, tail)) = rest.split_first() {
                let n = usize::from(n).min(tail.len());
                records.push(tail[..n].to_vec());
                rest = &tail[n..];
            }
            if records.is_empty() {
                records.push(Vec::new());
            }
            let tag = chain_tag(&records[0], &records[1..]);
            let texts: Vec<String> = records.iter().map(|r| b64(r)).collect();
            let token: String = std::iter::once("gw2")
                .chain(texts.iter().map(String::as_str))
                .chain(std::iter::once(b64(&tag).as_str()))
                .collect::<Vec<_>>()
                .join(".");
            if debug() {
                eprintln!("{token}");
            }
            raw(&token);
        }
        _ => {
            let token = String::from_utf8_lossy(data);
            if debug() {
                eprintln!("{token:?}");
            }
            raw(&token);
        }
    }
});
