//! Property tests for gw-token (issue 4 §4):
//!
//! - **Round-trip**: any valid grant derives a token that verifies for each
//!   of its scopes over its whole validity window (± the skew), with exactly
//!   the effective claims granted, and no longer; the independent spec
//!   implementation (tests/token_support) re-signs its claims to the same
//!   token.
//! - **Any single-bit change is rejected**: every bit of every byte of a
//!   few tokens (exhaustively), and random bits of random tokens. A flip
//!   of bit 7 gives a byte that is not UTF-8 (no `&str` can carry it; its
//!   lossy decoding is refused too); any other flip is refused as
//!   `malformed` (not base64url, wrong part count, padding, trailing bits),
//!   `unknown_version` (`gw2` → `gw3`) or `signature` — never accepted, and
//!   never anything but those three (the MAC is checked before anything in
//!   the token is interpreted).
//! - **Attenuation never widens**: for arbitrary caveat chains the effective
//!   scopes are a subset of the base's (and of every caveat's), expiry is at
//!   most the base's (and every caveat's), locality is sticky, and the
//!   audience is never lifted; verification agrees with a small reference
//!   model for every scope, audience, peer and time probed — so a narrowed
//!   token never verifies for a scope outside a caveat's set or after a
//!   caveat's expiry (plus the skew). Each extra caveat only narrows.
//! - **Canonical encoding**: malformed or non-canonical records — truncated,
//!   trailing bytes, unknown flags, bad or unsorted scopes, out-of-range
//!   lengths and lifetimes — and non-canonical base64url (padding, non-zero
//!   trailing bits) are refused as `malformed` even when they carry a valid
//!   MAC made with the right key (built with the public
//!   `hmac_sha256`/`hkdf_sha256` and the domain constants); and for random
//!   mutations of real records, anything `inspect` accepts re-encodes (by the
//!   independent spec encoder) to exactly the bytes it was given: one
//!   encoding per value.
//!
//! Case counts stay at 256 or below.

mod token_support;

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::time::Duration;

use gw_token::{
    Caveat, Claims, DEFAULT_SKEW_SECS, ErrorKind, Grant, MAX_AUDIENCE_LEN, MAX_CAVEATS, MAX_LIFETIME_SECS,
    MAX_SCOPE_LEN, MAX_SCOPES, MAX_TOKEN_LEN, TokenKey, Verifier, attenuate, derive_with_id, expose, inspect,
};
use proptest::prelude::*;
use proptest::sample::Index;
use token_support::*;

const SKEW: u64 = DEFAULT_SKEW_SECS;
const LOOPBACK: &str = "127.0.0.1";
const REMOTE: &str = "10.0.0.1";

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

// ---- generators ----

/// A valid scope name: usually short, sometimes at the length limit.
fn arb_scope() -> impl Strategy<Value = String> {
    prop_oneof![
        6 => "[a-z0-9][a-z0-9._:-]{0,15}",
        1 => "[a-z0-9][a-z0-9._:-]{63}",
        1 => "[a-z0-9]",
    ]
}

/// A valid audience: printable ASCII without space (quotes, backslashes
/// and slashes included), sometimes at the length limit.
fn arb_audience() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "(ws|wss|http|https)://[a-z0-9.]{1,20}(:[0-9]{1,5})?",
        2 => "[!-~]{1,40}",
        1 => "[\"\\\\/]{1,8}",
        1 => "[!-~]{255}",
    ]
}

/// A clock reading: realistic, or at the ends of the range.
fn arb_now() -> impl Strategy<Value = u64> {
    prop_oneof![
        8 => 1_000_000_000u64..4_000_000_000,
        1 => 0u64..100,
        1 => (u64::MAX - 100)..=u64::MAX,
    ]
}

fn arb_grant() -> impl Strategy<Value = Grant> {
    (
        proptest::collection::vec(arb_scope(), 1..=MAX_SCOPES),
        proptest::option::of(arb_audience()),
        prop_oneof![4 => 1u64..100_000, 1 => 1u64..=MAX_LIFETIME_SECS, 1 => Just(MAX_LIFETIME_SECS)],
        any::<bool>(),
    )
        .prop_map(|(scopes, audience, ttl, local)| Grant {
            scopes,
            audience,
            ttl: Duration::from_secs(ttl),
            local,
        })
}

/// A fixed key per test run (the key does not matter to these properties;
/// the bit-flip test also uses several).
fn key() -> TokenKey {
    fixed_key()
}

/// The sorted, unique scopes of a grant.
fn sorted_unique(scopes: &[String]) -> Vec<String> {
    let mut s = scopes.to_vec();
    s.sort();
    s.dedup();
    s
}

/// A verifier that accepts the token described by `claims` (and
/// `caveats`): its first effective scope, the right audience, a loopback
/// peer, at `nbf`.
fn accepting_verifier<'k>(key: &'k TokenKey, token: &str) -> Verifier<'k> {
    let eff = inspect(token).expect("a valid token").effective;
    let mut v = Verifier::new(key, eff.scopes[0].clone()).peer(ip(LOOPBACK)).at(eff.not_before);
    if let Some(Some(a)) = eff.audience {
        v = v.audience(a);
    }
    v
}

// ---- round-trip ----

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn derive_verify_round_trip(grant in arb_grant(), now in arb_now(), id in any::<[u8; 16]>()) {
        let key = key();
        let token = derive_with_id(&key, &grant, now, &id).expect("a valid grant derives");
        let token = expose(&token);
        prop_assert!(token.len() <= MAX_TOKEN_LEN);
        let scopes = sorted_unique(&grant.scopes);
        let exp = now.saturating_add(grant.ttl.as_secs());

        // What was signed is what was granted.
        let i = inspect(token).unwrap();
        prop_assert_eq!(&i.claims, &Claims {
            v: 2,
            scp: scopes.clone(),
            aud: grant.audience.clone(),
            nbf: now,
            exp,
            loc: grant.local,
            jti: b64(&id),
        });
        prop_assert!(i.caveats.is_empty());
        // The independent implementation of the spec signs those claims to the same token.
        let scope_refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
        let record = spec_claims(&scope_refs, grant.audience.as_deref(), now, exp, grant.local, &id);
        prop_assert_eq!(&claims_record(token), &record);
        prop_assert_eq!(sign_raw(&fixed_root_bytes(), &record, &[]), token);

        let peer = ip(if grant.local { "::1" } else { REMOTE });
        let verifier = |scope: &str, at: u64| {
            let v = Verifier::new(&key, scope).peer(peer).at(at);
            match &grant.audience { Some(a) => v.audience(a.clone()), None => v.audience("anything") }
        };
        let mid = now + (exp - now) / 2;
        for at in [now.saturating_sub(SKEW), now, mid, exp, exp.saturating_add(SKEW)] {
            for s in &scopes {
                let eff = verifier(s, at).verify(token);
                prop_assert!(eff.is_ok(), "scope {} at {}: {:?}", s, at, eff.err());
                let eff = eff.unwrap();
                prop_assert_eq!(&eff.scopes, &scopes);
                prop_assert_eq!(eff.audience, grant.audience.clone().map(Some));
                prop_assert_eq!((eff.not_before, eff.expires, eff.local), (now, exp, grant.local));
            }
        }
        if let Some(late) = exp.checked_add(SKEW + 1) {
            prop_assert_eq!(verifier(&scopes[0], late).verify(token).unwrap_err().kind(), ErrorKind::Expired);
        }
        if let Some(early) = now.checked_sub(SKEW + 1) {
            prop_assert_eq!(verifier(&scopes[0], early).verify(token).unwrap_err().kind(), ErrorKind::NotYetValid);
        }
        prop_assert_eq!(verifier("not-granted-scope!", now).verify(token).unwrap_err().kind(), ErrorKind::Scope);
    }
}

// ---- any single-bit change is rejected ----

/// Flips bit `bit` of byte `pos` of `token` and checks the result is refused
/// by `v`; returns the kind (or `None` for a non-UTF-8 result).
fn check_flip(v: &Verifier<'_>, token: &str, pos: usize, bit: u8) -> Result<Option<ErrorKind>, String> {
    let mut bytes = token.as_bytes().to_vec();
    bytes[pos] ^= 1 << bit;
    let flipped = match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            // Only a flip of bit 7 makes an ASCII byte non-UTF-8. No &str can
            // carry it; a caller decoding lossily gets U+FFFD, which is refused.
            if bit != 7 {
                return Err(format!("byte {pos} bit {bit}: not UTF-8 without bit 7"));
            }
            let lossy = String::from_utf8_lossy(e.as_bytes()).into_owned();
            return match v.verify(&lossy) {
                Ok(_) => Err(format!("byte {pos} bit {bit}: lossy variant accepted")),
                Err(e) if e.kind() == ErrorKind::Malformed => Ok(None),
                Err(e) => Err(format!("byte {pos} bit {bit}: lossy variant gave {:?}", e.kind())),
            };
        }
    };
    match v.verify(&flipped) {
        Ok(_) => Err(format!("byte {pos} bit {bit}: ACCEPTED {flipped}")),
        Err(e) => match e.kind() {
            k @ (ErrorKind::Malformed | ErrorKind::Signature | ErrorKind::UnknownVersion) => Ok(Some(k)),
            k => Err(format!("byte {pos} bit {bit}: refused as {k:?}, after the MAC should have failed")),
        },
    }
}

/// Tokens of every shape: plain, local with an audience, one caveat, three
/// caveats, the most caveats, and the largest claims.
fn flip_corpus(key: &TokenKey) -> Vec<String> {
    let base = |g: &Grant, id: u8| expose(&derive_with_id(key, g, 1_800_000_000, &[id; 16]).unwrap()).to_owned();
    let plain = base(&grant(&["gateway.connect"], None, 600, false), 1);
    let local = base(&grant(&["approvals.read", "gateway.connect"], Some("ws://127.0.0.1:18789"), 600, true), 2);
    let one = expose(&attenuate(&plain, &Caveat { exp: Some(1_800_000_060), ..Caveat::default() }).unwrap()).to_owned();
    let mut three = local.clone();
    for c in [
        Caveat { scp: Some(vec!["approvals.read".into()]), ..Caveat::default() },
        Caveat { aud: Some("ws://127.0.0.1:18789".into()), ..Caveat::default() },
        Caveat { loc: Some(true), exp: Some(1_800_000_300), ..Caveat::default() },
    ] {
        three = expose(&attenuate(&three, &c).unwrap()).to_owned();
    }
    let mut most = plain.clone();
    for i in 0..MAX_CAVEATS {
        most = expose(&attenuate(&most, &Caveat { exp: Some(1_800_000_600 - i as u64), ..Caveat::default() }).unwrap())
            .to_owned();
    }
    let big_scopes: Vec<String> = (0..MAX_SCOPES).map(|i| format!("{i:02}{}", "s".repeat(MAX_SCOPE_LEN - 2))).collect();
    let big_scopes: Vec<&str> = big_scopes.iter().map(String::as_str).collect();
    let big = base(&grant(&big_scopes, Some(&"a".repeat(MAX_AUDIENCE_LEN)), 600, true), 3);
    vec![plain, local, one, three, most, big]
}

/// Every bit of every byte of each corpus token, under three keys.
#[test]
fn every_single_bit_flip_is_rejected_exhaustively() {
    let mut kinds: BTreeMap<&'static str, usize> = BTreeMap::new();
    let mut failures = Vec::new();
    let mut total = 0usize;
    for key in [key(), TokenKey::from_root(&root_of(0)), TokenKey::from_root(&root_of(0xff))] {
        for token in flip_corpus(&key) {
            let v = accepting_verifier(&key, &token);
            v.verify(&token).expect("the unflipped token is accepted");
            for pos in 0..token.len() {
                for bit in 0..8 {
                    total += 1;
                    match check_flip(&v, &token, pos, bit) {
                        Ok(Some(k)) => *kinds.entry(k.as_str()).or_default() += 1,
                        Ok(None) => *kinds.entry("not_utf8").or_default() += 1,
                        Err(e) => failures.push(e),
                    }
                }
            }
        }
    }
    assert!(failures.is_empty(), "{} of {total} flips not properly rejected:\n{}", failures.len(), failures.join("\n"));
    // Each way of failing is exercised (the prefix flip gw2 → gw3 included).
    for k in ["malformed", "signature", "unknown_version", "not_utf8"] {
        assert!(kinds.get(k).is_some_and(|&n| n > 0), "no flip failed as {k}: {kinds:?}");
    }
    eprintln!("{total} single-bit variants rejected: {kinds:?}");
}

/// An arbitrary caveat (valid: non-empty, `loc` only `true`).
fn arb_caveat(now: u64) -> impl Strategy<Value = Caveat> {
    (
        proptest::option::of(proptest::collection::btree_set(arb_scope(), 1..=4)),
        proptest::option::of(arb_audience()),
        proptest::option::of(now.saturating_sub(1000)..now.saturating_add(200_000)),
        any::<bool>(),
    )
        .prop_filter_map("a caveat narrows something", |(scp, aud, exp, loc)| {
            let c = Caveat { scp: scp.map(|s| s.into_iter().collect()), aud, exp, loc: loc.then_some(true) };
            (c != Caveat::default()).then_some(c)
        })
}

fn arb_token() -> impl Strategy<Value = (Grant, u64, Vec<Caveat>)> {
    (arb_grant(), 1_000_000_000u64..4_000_000_000)
        .prop_flat_map(|(g, now)| (Just(g), Just(now), proptest::collection::vec(arb_caveat(now), 0..4)))
}

/// Builds the token, stopping at the first caveat `attenuate` refuses (a
/// token at the length limit).
fn build(key: &TokenKey, g: &Grant, now: u64, caveats: &[Caveat]) -> (String, usize) {
    let mut t = expose(&derive_with_id(key, g, now, &[0x42; 16]).unwrap()).to_owned();
    for (i, c) in caveats.iter().enumerate() {
        match attenuate(&t, c) {
            Ok(n) => t = expose(&n).to_owned(),
            Err(_) => return (t, i),
        }
    }
    (t, caveats.len())
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn random_single_bit_flips_are_rejected(
        (g, now, caveats) in arb_token(),
        flips in proptest::collection::vec((any::<Index>(), 0u8..8), 16),
    ) {
        let key = key();
        let (token, _) = build(&key, &g, now, &caveats);
        // A verifier that accepts the original whenever anything can (the
        // caveats may have emptied the scopes, made the audience conflict or
        // expired the token). Either way a flip must fail at the form or the
        // MAC: `check_flip` refuses any later kind of failure.
        let eff = inspect(&token).unwrap().effective;
        let mut v = Verifier::new(&key, eff.scopes.first().cloned().unwrap_or_default())
            .peer(ip(LOOPBACK))
            .at(eff.not_before);
        if let Some(Some(a)) = &eff.audience {
            v = v.audience(a.clone());
        }
        for (pos, bit) in flips {
            let pos = pos.index(token.len());
            if let Err(e) = check_flip(&v, &token, pos, bit) {
                prop_assert!(false, "{}", e);
            }
        }
    }
}

// ---- attenuation never widens ----

/// A small universe of scopes and audiences, so caveats and probes collide
/// with the base often.
const UNIVERSE: &[&str] = &["a", "b", "c.read", "d:write", "e-f", "z"];
const AUDS: &[&str] = &["ws://127.0.0.1:1", "ws://127.0.0.1:2", "ws://[::1]:3"];

fn arb_small_grant() -> impl Strategy<Value = Grant> {
    (
        proptest::sample::subsequence(&UNIVERSE[..5], 1..=5),
        proptest::option::of(proptest::sample::select(AUDS)),
        1u64..10_000,
        any::<bool>(),
    )
        .prop_map(|(s, a, ttl, local)| grant(&s, a, ttl, local))
}

fn arb_small_caveat(now: u64) -> impl Strategy<Value = Caveat> {
    (
        proptest::option::of(proptest::sample::subsequence(UNIVERSE, 1..=4)),
        proptest::option::of(proptest::sample::select(AUDS)),
        proptest::option::of(now.saturating_sub(100)..now + 12_000),
        any::<bool>(),
    )
        .prop_filter_map("a caveat narrows something", |(scp, aud, exp, loc)| {
            let c = Caveat {
                scp: scp.map(|s| s.iter().map(|x| (*x).to_owned()).collect()),
                aud: aud.map(str::to_owned),
                exp,
                loc: loc.then_some(true),
            };
            (c != Caveat::default()).then_some(c)
        })
}

/// The reference model of verification: what the spec says the outcome is.
fn model(
    base: &Claims,
    caveats: &[Caveat],
    scope: &str,
    aud: Option<&str>,
    peer: Option<&str>,
    now: u64,
    skew: u64,
) -> Result<(), ErrorKind> {
    let exp = caveats.iter().filter_map(|c| c.exp).fold(base.exp, u64::min);
    let granted = base.scp.iter().any(|s| s == scope)
        && caveats.iter().all(|c| c.scp.as_ref().is_none_or(|s| s.iter().any(|x| x == scope)));
    let mut auds: Vec<&str> = base.aud.iter().map(String::as_str).collect();
    auds.extend(caveats.iter().filter_map(|c| c.aud.as_deref()));
    auds.sort();
    auds.dedup();
    let local = base.loc || caveats.iter().any(|c| c.loc == Some(true));
    if now.saturating_add(skew) < base.nbf {
        return Err(ErrorKind::NotYetValid);
    }
    if now > exp.saturating_add(skew) {
        return Err(ErrorKind::Expired);
    }
    if !granted {
        return Err(ErrorKind::Scope);
    }
    match auds[..] {
        [] => {}
        [only] if aud == Some(only) => {}
        _ => return Err(ErrorKind::Audience),
    }
    if local && !peer.is_some_and(|p| gw_token::is_loopback(ip(p))) {
        return Err(ErrorKind::Locality);
    }
    Ok(())
}

proptest! {
    // 128 cases: each probes 576 verifications of a chain of up to 6 caveats.
    #![proptest_config(ProptestConfig { cases: 128, ..ProptestConfig::default() })]

    #[test]
    fn attenuation_never_widens(
        (g, now, caveats) in (arb_small_grant(), 1_000_000_000u64..4_000_000_000)
            .prop_flat_map(|(g, now)| (Just(g), Just(now), proptest::collection::vec(arb_small_caveat(now), 1..=6))),
        skew in prop_oneof![Just(SKEW), Just(0u64)],
    ) {
        let key = key();
        let base_token = expose(&derive_with_id(&key, &g, now, &[7; 16]).unwrap()).to_owned();
        let base = inspect(&base_token).unwrap().claims;
        let mut token = base_token.clone();
        let mut wider = base_token.clone();
        let mut prev = inspect(&token).unwrap().effective;
        for (n, c) in caveats.iter().enumerate() {
            token = expose(&attenuate(&token, c).unwrap()).to_owned();
            let i = inspect(&token).unwrap();
            prop_assert_eq!(&i.caveats[..], &caveats[..=n]);
            let eff = i.effective;

            // Narrower than the base, than the previous step, and than every caveat.
            prop_assert!(eff.scopes.iter().all(|s| prev.scopes.contains(s) && base.scp.contains(s)));
            prop_assert!(caveats[..=n].iter().all(|c| c.scp.as_ref().is_none_or(|cs| eff.scopes.iter().all(|s| cs.contains(s)))));
            prop_assert!(eff.expires <= prev.expires && eff.expires <= base.exp);
            prop_assert!(caveats[..=n].iter().all(|c| c.exp.is_none_or(|x| eff.expires <= x)));
            prop_assert_eq!(eff.not_before, base.nbf);
            prop_assert!(eff.local >= prev.local && eff.local >= base.loc);
            if prev.audience.is_some() {
                prop_assert!(eff.audience.is_some(), "an audience binding is never lifted");
            }
            if let (Some(Some(p)), Some(Some(e))) = (&prev.audience, &eff.audience) {
                prop_assert_eq!(p, e, "a bound audience never changes");
            }

            prev = eff;
            if n + 1 < caveats.len() {
                wider = token.clone();
                continue;
            }

            // At the end of the chain: verification agrees with the model
            // everywhere probed, and the token verifies only where the token
            // one caveat shorter does.
            let times = [
                now.saturating_sub(skew + 1), now, now + 1, prev.expires, prev.expires + skew,
                prev.expires + skew + 1, base.exp + skew, base.exp + skew + 1,
            ];
            for scope in UNIVERSE {
                for aud in std::iter::once(None).chain(AUDS.iter().copied().map(Some)) {
                    for peer in [Some(LOOPBACK), Some(REMOTE), None] {
                        for at in times {
                            let mut v = Verifier::new(&key, *scope).at(at).skew(skew);
                            if let Some(a) = aud { v = v.audience(a); }
                            if let Some(p) = peer { v = v.peer(ip(p)); }
                            let res = v.verify(&token);
                            if let Ok(granted) = &res {
                                // What `inspect` says is in force (worked out
                                // from the decoded records) is what the
                                // verifier grants (worked out as it parses).
                                prop_assert_eq!(granted, &prev, "inspect and verify disagree");
                            }
                            let got = res.map(|_| ()).map_err(|e| e.kind());
                            let want = model(&base, &caveats, scope, aud, peer, at, skew);
                            prop_assert_eq!(got, want, "scope {} aud {:?} peer {:?} at {}", scope, aud, peer, at);
                            if got.is_ok() {
                                // Never for a scope outside a caveat's set, never after a caveat's expiry.
                                prop_assert!(caveats.iter().all(|c| c.scp.as_ref().is_none_or(|s| s.iter().any(|x| x == scope))));
                                prop_assert!(caveats.iter().all(|c| c.exp.is_none_or(|x| at <= x + skew)));
                                prop_assert!(base.scp.iter().any(|s| s == scope) && at <= base.exp + skew);
                                prop_assert!(v.verify(&wider).is_ok(), "narrower accepted where wider is not");
                            }
                        }
                    }
                }
            }
        }
    }
}

// ---- canonical encoding ----

const NOW: u64 = 1_800_000_000;

fn canonical_token(aud: Option<&str>) -> String {
    expose(
        &derive_with_id(&key(), &grant(&["approvals.read", "gateway.connect"], aud, 600, false), NOW, &[0x5e; 16])
            .unwrap(),
    )
    .to_owned()
}

fn verifier_for<'k>(key: &'k TokenKey, aud: Option<&str>) -> Verifier<'k> {
    let v = Verifier::new(key, "approvals.read").peer(ip(LOOPBACK)).at(NOW + 1);
    match aud {
        Some(a) => v.audience(a),
        None => v,
    }
}

fn sign(claims: &[u8], caveats: &[&[u8]]) -> String {
    sign_raw(&fixed_root_bytes(), claims, caveats)
}

/// Claims records that are not the canonical encoding (or not valid), each
/// with a correct MAC, are refused as `malformed` by `verify` and `inspect`.
#[test]
fn non_canonical_claims_with_a_valid_mac_are_malformed() {
    let key = key();
    const AUD: &str = "ws://127.0.0.1:18789/x";
    let t = canonical_token(Some(AUD));
    let c = claims_record(&t);
    let jti = [0x5e; 16];
    // The spec encoder writes exactly what gw-token wrote; the helper signs
    // exactly like gw-token.
    assert_eq!(c, spec_claims(&["approvals.read", "gateway.connect"], Some(AUD), NOW, NOW + 600, false, &jti));
    assert_eq!(sign(&c, &[]), t);
    verifier_for(&key, Some(AUD)).verify(&t).unwrap();
    let claims =
        |scopes: &[&str], aud: Option<&str>, nbf: u64, exp: u64| spec_claims(scopes, aud, nbf, exp, false, &jti);
    let two = ["approvals.read", "gateway.connect"];
    let with = |f: &dyn Fn(&mut Vec<u8>)| {
        let mut b = c.clone();
        f(&mut b);
        b
    };
    // Offsets in the record: flags 0, nbf 1..9, lifetime 9..13, jti 13..29,
    // scope count 29, first scope length 30.
    let mut variants: Vec<(String, Vec<u8>)> = vec![
        ("trailing zero".into(), with(&|b| b.push(0))),
        ("trailing audience".into(), with(&|b| b.extend_from_slice(&[1, b'x']))),
        ("audience flag cleared (audience becomes trailing)".into(), with(&|b| b[0] &= !0x02)),
        (
            "audience flag without audience".into(),
            claims(&two, None, NOW, NOW + 600)
                .iter()
                .enumerate()
                .map(|(i, &x)| if i == 0 { x | 2 } else { x })
                .collect(),
        ),
        ("empty".into(), Vec::new()),
        ("scopes unsorted".into(), claims(&["gateway.connect", "approvals.read"], Some(AUD), NOW, NOW + 600)),
        ("scopes duplicated".into(), claims(&["approvals.read", "approvals.read"], Some(AUD), NOW, NOW + 600)),
        ("no scopes".into(), claims(&[], Some(AUD), NOW, NOW + 600)),
        ("bad scope (upper case)".into(), claims(&["Approvals.read"], Some(AUD), NOW, NOW + 600)),
        ("bad scope (leading dot)".into(), claims(&[".approvals"], Some(AUD), NOW, NOW + 600)),
        ("bad scope (space)".into(), claims(&["approvals read"], Some(AUD), NOW, NOW + 600)),
        ("bad scope (NUL)".into(), claims(&["approvals\0"], Some(AUD), NOW, NOW + 600)),
        ("empty scope".into(), claims(&["", "approvals.read"], Some(AUD), NOW, NOW + 600)),
        ("scope too long".into(), claims(&[&"g".repeat(MAX_SCOPE_LEN + 1)], Some(AUD), NOW, NOW + 600)),
        ("17 scopes".into(), {
            let s: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("s{i:02}")).collect();
            let r: Vec<&str> = s.iter().map(String::as_str).collect();
            claims(&r, Some(AUD), NOW, NOW + 600)
        }),
        ("scope count says 3".into(), with(&|b| b[29] = 3)),
        ("scope length past the end".into(), with(&|b| b[30] = 200)),
        ("empty audience".into(), claims(&two, Some(""), NOW, NOW + 600)),
        ("audience with space".into(), claims(&two, Some("ws://a b"), NOW, NOW + 600)),
        ("audience non-ASCII".into(), claims(&two, Some("ws://ä"), NOW, NOW + 600)),
        ("audience with DEL".into(), claims(&two, Some("ws://a\x7f"), NOW, NOW + 600)),
        (
            "audience length past the end".into(),
            with(&|b| {
                let at = b.len() - AUD.len() - 1;
                b[at] += 1;
            }),
        ),
        ("lifetime over 366 days".into(), claims(&two, Some(AUD), NOW, NOW + MAX_LIFETIME_SECS + 1)),
        ("lifetime u32::MAX".into(), with(&|b| b[9..13].copy_from_slice(&[0xff; 4]))),
        ("expiry overflows".into(), claims(&two, Some(AUD), u64::MAX - 10, (u64::MAX - 10).wrapping_add(600))),
    ];
    for bit in 2..8 {
        variants.push((format!("claim flag bit {bit}"), with(&|b| b[0] |= 1 << bit)));
    }
    for n in 0..c.len() {
        variants.push((format!("truncated to {n}"), c[..n].to_vec()));
    }

    let mut failures = Vec::new();
    for (what, bytes) in &variants {
        assert_ne!(bytes, &c, "{what}: the variant must differ");
        let forged = sign(bytes, &[]);
        for v in [verifier_for(&key, Some(AUD)), verifier_for(&key, None)] {
            match v.verify(&forged) {
                Err(e) if e.kind() == ErrorKind::Malformed => {}
                other => failures.push(format!("{what}: want Malformed, got {:?}", other.map_err(|e| e.to_string()))),
            }
        }
        match inspect(&forged) {
            Err(e) if e.kind() == ErrorKind::Malformed => {}
            other => {
                failures.push(format!("inspect {what}: want Malformed, got {:?}", other.map_err(|e| e.to_string())))
            }
        }
    }
    assert!(failures.is_empty(), "non-canonical claims accepted or misclassified:\n{}", failures.join("\n"));
}

#[test]
fn non_canonical_caveats_with_a_valid_mac_are_malformed() {
    let key = key();
    let t = canonical_token(None);
    let c = claims_record(&t);
    let v = verifier_for(&key, None);
    let good = spec_caveat(Some(&["approvals.read"]), None, Some(NOW + 60), false);
    let via_attenuate =
        attenuate(&t, &Caveat { scp: Some(vec!["approvals.read".into()]), exp: Some(NOW + 60), ..Caveat::default() })
            .unwrap();
    assert_eq!(caveat_records(expose(&via_attenuate)), std::slice::from_ref(&good));
    assert_eq!(sign(&c, &[&good]), expose(&via_attenuate), "the helper chains like attenuate");
    v.verify(expose(&via_attenuate)).unwrap();

    let mut variants: Vec<(String, Vec<u8>)> = vec![
        ("empty record".into(), Vec::new()),
        ("flags 0 (narrows nothing)".into(), vec![0]),
        ("trailing byte".into(), [&good[..], &[0]].concat()),
        ("expiry truncated".into(), good[..good.len() - 1].to_vec()),
        ("expiry flag without expiry".into(), vec![0x04]),
        ("scope flag without scopes".into(), vec![0x01]),
        ("no scopes".into(), vec![0x01, 0]),
        ("unsorted scopes".into(), spec_caveat(Some(&["gateway.connect", "approvals.read"]), None, None, false)),
        ("duplicate scopes".into(), spec_caveat(Some(&["approvals.read", "approvals.read"]), None, None, false)),
        ("bad scope".into(), spec_caveat(Some(&["Approvals"]), None, None, false)),
        ("aud empty".into(), spec_caveat(None, Some(""), None, false)),
        ("aud with space".into(), spec_caveat(None, Some("ws://a b"), None, false)),
        ("local with a trailing byte".into(), vec![0x08, 0x01]),
    ];
    for bit in 4..8 {
        variants.push((format!("caveat flag bit {bit}"), vec![0x08 | (1 << bit)]));
    }
    let mut failures = Vec::new();
    for (what, cav) in &variants {
        for chain in [vec![&cav[..]], vec![&good[..], &cav[..]], vec![&cav[..], &good[..]]] {
            let forged = sign(&c, &chain);
            match v.verify(&forged) {
                Err(e) if e.kind() == ErrorKind::Malformed => {}
                other => failures.push(format!("{what}: got {:?}", other.map_err(|e| e.to_string()))),
            }
        }
    }
    assert!(failures.is_empty(), "non-canonical caveats accepted:\n{}", failures.join("\n"));
}

/// Sets the lowest unused trailing bit of a base64url text whose length is
/// not a multiple of 4 (a second spelling of the same bytes for a lax
/// decoder).
fn with_trailing_bit(text: &str) -> String {
    assert!(!text.len().is_multiple_of(4), "no trailing bits in {text}");
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let last = text.as_bytes()[text.len() - 1];
    let v = ALPHABET.iter().position(|&a| a == last).unwrap();
    assert_eq!(v & 1, 0, "trailing bits are zero in a canonical text");
    format!("{}{}", &text[..text.len() - 1], ALPHABET[v | 1] as char)
}

/// Base64url-level re-encodings: padding, trailing bits, the standard
/// alphabet, wrong tag lengths, empty parts, stray dots and whitespace, too
/// many caveats, too long — each with a MAC that is valid for the text (or
/// the right MAC bytes under a non-canonical spelling).
#[test]
fn non_canonical_base64_and_framing_are_malformed() {
    let key = key();
    let root = fixed_root_bytes();
    // A token whose claims text has trailing bits (length not a multiple of 4).
    let t = (0u8..=255)
        .map(|id| {
            expose(&derive_with_id(&key, &grant(&["approvals.read"], None, 600, false), NOW, &[id; 16]).unwrap())
                .to_owned()
        })
        .chain((1..40).map(|n| {
            let s = format!("approvals.read{}", "x".repeat(n));
            expose(&derive_with_id(&key, &grant(&["approvals.read", &s], None, 600, false), NOW, &[1; 16]).unwrap())
                .to_owned()
        }))
        .find(|t| !parts(t).0.len().is_multiple_of(4))
        .expect("some claims text has trailing bits");
    let v = verifier_for(&key, None);
    v.verify(&t).unwrap();
    let (claims, _, tag) = parts(&t);
    let cav = ["a", "ab", "abc"]
        .iter()
        .map(|s| b64(&spec_caveat(Some(&[s]), None, None, false)))
        .find(|c| !c.len().is_multiple_of(4))
        .expect("some caveat text has trailing bits");
    let tag_bytes = unb64(&tag).unwrap();

    let mut variants: Vec<(&str, String)> = vec![
        ("claims padded", sign_b64(&root, &format!("{claims}{}", "=".repeat(4 - claims.len() % 4)), &[])),
        ("claims trailing bit", sign_b64(&root, &with_trailing_bit(&claims), &[])),
        ("claims standard alphabet", sign_b64(&root, &format!("{claims}+"), &[])),
        ("caveat trailing bit", sign_b64(&root, &claims, &[&with_trailing_bit(&cav)])),
        ("caveat padded", sign_b64(&root, &claims, &[&format!("{cav}{}", "=".repeat(4 - cav.len() % 4))])),
        ("caveat empty", sign_b64(&root, &claims, &[""])),
        (
            "caveat impossible length",
            sign_b64(&root, &claims, &[&format!("{cav}AAAAA")[..cav.len() + 1 + (3 - cav.len() % 4)]]),
        ),
        ("tag trailing bit (right MAC bytes)", format!("gw2.{claims}.{}", with_trailing_bit(&tag))),
        ("tag padded (right MAC bytes)", format!("gw2.{claims}.{tag}=")),
        ("tag 31 bytes", format!("gw2.{claims}.{}", b64(&tag_bytes[..31]))),
        ("tag 33 bytes", format!("gw2.{claims}.{}", b64(&[&tag_bytes[..], &[0]].concat()))),
        ("tag empty", format!("gw2.{claims}.")),
        ("no tag", format!("gw2.{claims}")),
        ("upper-case prefix", t.replacen("gw2", "GW2", 1)),
        ("no prefix", t["gw2.".len()..].to_owned()),
        ("prefix only", "gw2".to_owned()),
        ("leading dot", format!(".{t}")),
        ("trailing dot", format!("{t}.")),
        ("double dot", t.replacen('.', "..", 1)),
        ("trailing newline", format!("{t}\n")),
        ("leading space", format!(" {t}")),
        ("inner space", t.replacen('.', ". ", 1)),
        ("NUL", format!("{t}\0")),
        ("non-ASCII", format!("{t}é")),
        ("empty", String::new()),
        ("too long", format!("{t}{}", "A".repeat(MAX_TOKEN_LEN))),
    ];
    // More caveats than allowed, each correctly chained.
    let cavs: Vec<String> =
        (0..=MAX_CAVEATS).map(|i| b64(&spec_caveat(None, None, Some(NOW + 600 - i as u64), false))).collect();
    let refs: Vec<&str> = cavs.iter().map(String::as_str).collect();
    let most = sign_b64(&root, &claims, &refs[..MAX_CAVEATS]);
    v.verify(&most).expect("MAX_CAVEATS caveats are fine");
    variants.push(("too many caveats", sign_b64(&root, &claims, &refs)));

    let mut failures = Vec::new();
    for (what, forged) in &variants {
        match v.verify(forged) {
            Err(e) if e.kind() == ErrorKind::Malformed => {}
            other => failures.push(format!("{what}: got {:?}", other.map_err(|e| e.to_string()))),
        }
    }
    assert!(failures.is_empty(), "non-canonical framing accepted or misclassified:\n{}", failures.join("\n"));
    // Another version number in the prefix is `unknown_version`, never
    // accepted — including spellings a lax parser might read as 2.
    for p in ["gw1", "gw3", "gw0", "gw02", "gw20", "gw99999999999999999999"] {
        let forged = t.replacen("gw2", p, 1);
        assert_eq!(v.verify(&forged).unwrap_err().kind(), ErrorKind::UnknownVersion, "{p}");
    }
}

/// One edit of a record: overwrite, insert or remove a byte, or truncate.
fn mutate(r: &mut Vec<u8>, op: u8, at: Index, byte: u8) {
    match op {
        0 if !r.is_empty() => {
            let i = at.index(r.len());
            r[i] = byte;
        }
        1 => r.insert(at.index(r.len() + 1), byte),
        2 if !r.is_empty() => {
            r.remove(at.index(r.len()));
        }
        _ => r.truncate(at.index(r.len() + 1)),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    /// One encoding per value: random edits of a real claims or caveat
    /// record, re-signed with the right key, are either refused as
    /// `malformed` (by `inspect` and `verify` alike) or are the canonical
    /// encoding of what they decode to — the independent spec encoder,
    /// given the decoded values, writes exactly the edited bytes back. A
    /// record that parses is never refused as malformed by `verify`.
    #[test]
    fn edited_records_are_canonical_or_malformed(
        (g, now, caveats) in arb_token(),
        target in any::<Index>(),
        edits in proptest::collection::vec((0u8..4, any::<Index>(), any::<u8>()), 1..4),
    ) {
        let key = key();
        let (token, _) = build(&key, &g, now, &caveats);
        let (claims, cavs, _) = parts(&token);
        let mut records: Vec<Vec<u8>> = std::iter::once(&claims).chain(&cavs).map(|p| unb64(p).unwrap()).collect();
        let original = records.clone();
        let t = target.index(records.len());
        for (op, at, byte) in edits {
            mutate(&mut records[t], op, at, byte);
        }
        prop_assume!(records != original);
        let refs: Vec<&[u8]> = records.iter().map(Vec::as_slice).collect();
        let forged = sign(refs[0], &refs[1..]);
        let verdict = Verifier::new(&key, g.scopes[0].clone()).at(now).verify(&forged).map(|_| ()).map_err(|e| e.kind());
        match inspect(&forged) {
            Err(e) => {
                prop_assert_eq!(e.kind(), ErrorKind::Malformed);
                prop_assert_eq!(verdict, Err(ErrorKind::Malformed));
            }
            Ok(i) => {
                let c = &i.claims;
                let jti: [u8; 16] = unb64(&c.jti).unwrap().try_into().unwrap();
                let scp: Vec<&str> = c.scp.iter().map(String::as_str).collect();
                prop_assert_eq!(&spec_claims(&scp, c.aud.as_deref(), c.nbf, c.exp, c.loc, &jti), &records[0]);
                for (cv, bytes) in i.caveats.iter().zip(&records[1..]) {
                    let s: Option<Vec<&str>> = cv.scp.as_ref().map(|v| v.iter().map(String::as_str).collect());
                    prop_assert_eq!(&spec_caveat(s.as_deref(), cv.aud.as_deref(), cv.exp, cv.loc == Some(true)), bytes);
                }
                prop_assert_eq!(i.caveats.len(), records.len() - 1);
                prop_assert!(!matches!(verdict, Err(ErrorKind::Malformed | ErrorKind::Signature)), "{:?}", verdict);
            }
        }
    }

    /// What `attenuate` returns is always a token verifiers can parse: never
    /// longer than the limit or otherwise malformed. When the chain would
    /// grow past the limit, attenuation is refused instead.
    #[test]
    fn attenuate_never_returns_an_unverifiable_token(
        (g, now, caveats) in arb_token(),
        extra in proptest::collection::vec(
            (proptest::collection::btree_set("[a-z][a-z0-9]{63}", 1..=MAX_SCOPES), proptest::option::of("[!-~]{255}")),
            0..6,
        ),
    ) {
        let key = key();
        let mut token = expose(&derive_with_id(&key, &g, now, &[3; 16]).unwrap()).to_owned();
        let big = extra.into_iter().map(|(s, a)| Caveat { scp: Some(s.into_iter().collect()), aud: a, ..Caveat::default() });
        for c in caveats.into_iter().chain(big) {
            match attenuate(&token, &c) {
                Ok(n) => {
                    let n = expose(&n).to_owned();
                    prop_assert!(n.len() <= MAX_TOKEN_LEN, "attenuate returned {} bytes (limit {})", n.len(), MAX_TOKEN_LEN);
                    let res = Verifier::new(&key, "x").at(now).verify(&n);
                    prop_assert!(
                        !matches!(res.as_ref().map_err(|e| e.kind()), Err(ErrorKind::Malformed | ErrorKind::Signature)),
                        "an attenuated token failed to parse/verify: {:?}", res.err().map(|e| e.to_string())
                    );
                    token = n;
                }
                Err(e) => {
                    prop_assert_eq!(e.kind(), ErrorKind::InvalidInput, "{}", e);
                }
            }
        }
    }
}

/// Regression: `attenuate` used to return tokens longer than
/// `MAX_TOKEN_LEN` (two caveats of 16 long scopes on a large token), which
/// every verifier then refused as malformed. It now refuses to make them,
/// and what it does make at the limit still verifies.
#[test]
fn attenuate_refuses_to_exceed_the_length_limit() {
    let key = key();
    let scopes: Vec<String> = (0..MAX_SCOPES).map(|i| format!("{i:02}{}", "s".repeat(MAX_SCOPE_LEN - 2))).collect();
    let refs: Vec<&str> = scopes.iter().map(String::as_str).collect();
    let mut token = expose(
        &derive_with_id(&key, &grant(&refs, Some(&"a".repeat(MAX_AUDIENCE_LEN)), 600, false), NOW, &[1; 16]).unwrap(),
    )
    .to_owned();
    let v = Verifier::new(&key, scopes[0].clone()).audience("a".repeat(MAX_AUDIENCE_LEN)).at(NOW);
    let caveat = Caveat { scp: Some(scopes.clone()), ..Caveat::default() };
    let mut refused = false;
    for _ in 0..MAX_CAVEATS {
        match attenuate(&token, &caveat) {
            Ok(n) => {
                token = expose(&n).to_owned();
                assert!(token.len() <= MAX_TOKEN_LEN, "{} bytes", token.len());
                v.verify(&token).expect("every token attenuate returns verifies");
            }
            Err(e) => {
                assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
                assert!(e.to_string().contains(&MAX_TOKEN_LEN.to_string()), "{e}");
                refused = true;
                break;
            }
        }
    }
    assert!(refused, "the chain reached the length limit");
}
