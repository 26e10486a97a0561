//! Unit tests of token derivation, verification and attenuation.

use super::*;
use crate::claims::{MAX_LIFETIME_SECS, MAX_SCOPES};
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
    assert!(t.starts_with("gw2."));
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
    assert_eq!(v.verify("gw3.a.b").unwrap_err().kind(), ErrorKind::UnknownVersion);
    assert_eq!(v.verify("xyz").unwrap_err().kind(), ErrorKind::Malformed);
    assert_eq!(v.verify("gw2..").unwrap_err().kind(), ErrorKind::Malformed);
    assert_eq!(v.verify(&"a".repeat(5000)).unwrap_err().kind(), ErrorKind::Malformed);
    let t = derive(&k, &grant(false), NOW).unwrap();
    let t = expose(&t);
    assert_eq!(v.verify(&format!("{t}=")).unwrap_err().kind(), ErrorKind::Malformed);
    assert_eq!(v.verify(&format!(" {t}")).unwrap_err().kind(), ErrorKind::Malformed);
    let i = inspect(t).unwrap();
    assert_eq!(i.claims.aud.as_deref(), Some("ws://127.0.0.1:18789"));
}

/// The error `verify` gives `token`, as (kind, message).
fn refusal(token: &str) -> (ErrorKind, String) {
    let k = key();
    let e = verifier(&k, "gateway.connect").verify(token).unwrap_err();
    (e.kind(), e.to_string())
}

/// A tag-shaped last part: 43 characters of canonical base64url.
const TAG: &str = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";

/// Each malformed form is refused by the check meant for it, with its own
/// message: a check that stopped running would otherwise go unnoticed
/// behind a later one (base64 decoding, the MAC) that refuses the same
/// token for another reason.
#[test]
fn each_form_check_refuses_with_its_own_reason() {
    let cases: &[(String, ErrorKind, &str)] = &[
        (
            format!("gw2.{}.{TAG}", "A".repeat(MAX_TOKEN_LEN - 4 - 1 - TAG.len() + 1)),
            ErrorKind::Malformed,
            "longer than 4096 bytes",
        ),
        (format!("gw2.QUFB+.{TAG}"), ErrorKind::Malformed, "characters outside base64url and `.`"),
        (format!("gw2.QUFB=.{TAG}"), ErrorKind::Malformed, "characters outside base64url and `.`"),
        (format!("gw2.QUFBé.{TAG}"), ErrorKind::Malformed, "characters outside base64url and `.`"),
        (format!("gw.QUFB.{TAG}"), ErrorKind::Malformed, "it does not start with `gw2.`"),
        (format!("abc.QUFB.{TAG}"), ErrorKind::Malformed, "it does not start with `gw2.`"),
        (format!("gwx3.QUFB.{TAG}"), ErrorKind::Malformed, "it does not start with `gw2.`"),
        (format!("gw3.QUFB.{TAG}"), ErrorKind::UnknownVersion, "token version `gw3` is not supported (only gw2)"),
        (format!("gw1234567890.QUFB.{TAG}"), ErrorKind::UnknownVersion, "token version `gw1234567890` is"),
        (format!("gw12345678901.QUFB.{TAG}"), ErrorKind::UnknownVersion, "token version `gw1234567890…` is"),
        (format!("gw2.{}{TAG}", "QUFB.".repeat(MAX_CAVEATS + 2)), ErrorKind::Malformed, "more than 16 caveats"),
        ("gw2".to_string(), ErrorKind::Malformed, "it needs at least claims and a tag"),
        (format!("gw2.{TAG}"), ErrorKind::Malformed, "it needs at least claims and a tag"),
        (format!("gw2.QUFB.{}", &TAG[1..]), ErrorKind::Malformed, "the tag is not 32 bytes of canonical base64url"),
        (format!("gw2.QUFB.{}B", &TAG[1..]), ErrorKind::Malformed, "the tag is not 32 bytes of canonical base64url"),
        (format!("gw2..{TAG}"), ErrorKind::Malformed, "a part is not canonical base64url"),
        (format!("gw2.QUFB..{TAG}"), ErrorKind::Malformed, "a part is not canonical base64url"),
        (format!("gw2.QUFB.QUF.{TAG}"), ErrorKind::Malformed, "a part is not canonical base64url"),
    ];
    for (token, kind, why) in cases {
        let (k, msg) = refusal(token);
        assert_eq!(k, *kind, "{token:.60}: {msg}");
        assert!(msg.contains(why), "{token:.60}: wanted `{why}` in: {msg}");
        assert_eq!(inspect(token).unwrap_err().kind(), *kind, "inspect {token:.60}");
    }
    // At the limits and still well-formed: refused only by the MAC.
    for token in [
        format!("gw2.{}.{TAG}", "A".repeat(MAX_TOKEN_LEN - 4 - 1 - TAG.len())),
        format!("gw2.{}{TAG}", "QUFB.".repeat(MAX_CAVEATS + 1)),
    ] {
        assert!(token.len() <= MAX_TOKEN_LEN);
        assert_eq!(refusal(&token).0, ErrorKind::Signature, "{token:.60}");
    }
}

/// A caveat that is an empty part is refused as a part, even with a tag
/// chained over it (which anyone holding the token can compute).
#[test]
fn an_empty_caveat_with_a_valid_chain_is_refused_as_malformed() {
    let k = key();
    let t = derive(&k, &grant(false), NOW).unwrap();
    let t = expose(&t);
    let (body, tag) = t.rsplit_once('.').unwrap();
    let mut old = [0u8; 32];
    assert_eq!(b64::decode(tag.as_bytes(), &mut old), Some(32));
    let chained = keys::caveat_step(&keys::Tag::from_bytes(old), b"");
    let forged = format!("{body}..{}", URL_SAFE_NO_PAD.encode(chained.as_bytes()));
    let e = verifier(&k, "gateway.connect").verify(&forged).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Malformed, "{e}");
    assert!(e.to_string().contains("a part is not canonical base64url"), "{e}");
}

/// A token whose parts decode past the stack buffer is verified from a heap
/// buffer of the right size, and attenuating it up to the length limit works
/// and past it says why.
#[test]
fn long_tokens_verify_and_attenuation_stops_at_the_length_limit() {
    let k = key();
    let scopes: Vec<String> =
        (0..crate::MAX_SCOPES).map(|i| format!("{i:02}{}", "s".repeat(MAX_SCOPE_LEN - 2))).collect();
    let g = Grant {
        scopes: scopes.clone(),
        audience: Some("a".repeat(MAX_AUDIENCE_LEN)),
        ttl: Duration::from_secs(600),
        local: false,
    };
    let t = derive(&k, &g, NOW).unwrap();
    let mut t = expose(&t).to_string();
    assert!(decoded_bound(t.len()) > STACK_BUF, "{} bytes is not a long token", t.len());
    let v = |scope: &str| Verifier::new(&k, scope).audience("a".repeat(MAX_AUDIENCE_LEN)).at(NOW + 10);
    assert_eq!(v(&scopes[15]).verify(&t).unwrap().scopes.len(), crate::MAX_SCOPES);
    assert_eq!(inspect(&t).unwrap().claims.scp, scopes);
    // Caveats keeping every scope, until the next one would pass the limit.
    let keep = Caveat { scp: Some(scopes.clone()), ..Caveat::default() };
    let step = URL_SAFE_NO_PAD.encode(keep.encode()).len() + 1;
    while t.len() + step <= MAX_TOKEN_LEN {
        t = expose(&attenuate(&t, &keep).unwrap()).to_string();
        assert_eq!(v(&scopes[0]).verify(&t).unwrap().scopes.len(), crate::MAX_SCOPES, "{} bytes", t.len());
    }
    let e = attenuate(&t, &keep).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.to_string().contains("the narrowed token would be longer than 4096 bytes"), "{e}");
    // A caveat that fills the token exactly to its limit still goes on;
    // one character more is refused. (base64url has no lengths of 4k+1, so
    // the token is first narrowed to leave a room that both fit.)
    let filler = |len: usize| {
        (0..crate::MAX_SCOPES)
            .flat_map(|j| (1..=MAX_SCOPE_LEN).map(move |n| (j, n)))
            .flat_map(|(j, n)| [None, Some(NOW + 60)].map(|exp| (j, n, exp)))
            .map(|(j, n, exp)| {
                let mut scp: Vec<String> = scopes[..j].to_vec();
                scp.push("x".repeat(n));
                Caveat { scp: Some(scp), exp, ..Caveat::default() }
            })
            .find(|c| URL_SAFE_NO_PAD.encode(c.encode()).len() == len)
    };
    let room = |t: &str| MAX_TOKEN_LEN - t.len() - 1;
    if !matches!(room(&t) % 4, 2 | 3) {
        let (r, want) = (room(&t), if room(&t) % 4 == 0 { 3 } else { 2 });
        let c = (1..r).filter(|l| (r - l - 1) % 4 == want).find_map(filler).expect("a caveat to shift the room");
        t = expose(&attenuate(&t, &c).unwrap()).to_string();
    }
    let exact = filler(room(&t)).expect("a caveat that fills the token to its limit");
    assert_eq!(attenuate(&t, &exact).unwrap().expose_secret().len(), MAX_TOKEN_LEN);
    let over = filler(room(&t) + 1).expect("a caveat one character longer");
    let e = attenuate(&t, &over).unwrap_err();
    assert!(e.to_string().contains("the narrowed token would be longer than 4096 bytes"), "{e}");
}

/// Audience caveats: the same audience twice stays that audience; two
/// different ones leave no audience the token can be presented to.
#[test]
fn audience_caveats_agree_or_leave_none() {
    let k = key();
    let t = derive(&k, &Grant { audience: None, ..grant(false) }, NOW).unwrap();
    let aud = |t: &str, a: &str| attenuate(t, &Caveat { aud: Some(a.into()), ..Caveat::default() }).unwrap();
    let at = |a: &str| Verifier::new(&k, "gateway.connect").audience(a).at(NOW + 10);
    let one = aud(expose(&t), "ws://a");
    let same = aud(expose(&one), "ws://a");
    assert_eq!(at("ws://a").verify(expose(&same)).unwrap().audience, Some(Some("ws://a".into())));
    assert_eq!(at("ws://b").verify(expose(&same)).unwrap_err().kind(), ErrorKind::Audience);
    let two = aud(expose(&one), "ws://b");
    for a in ["ws://a", "ws://b"] {
        assert_eq!(at(a).verify(expose(&two)).unwrap_err().kind(), ErrorKind::Audience, "{a}");
    }
    assert_eq!(inspect(expose(&two)).unwrap().effective.audience, Some(None));
    // A base audience and a different caveat: none either.
    let based = derive(&k, &grant(false), NOW).unwrap();
    let other = aud(expose(&based), "ws://b");
    assert_eq!(at("ws://127.0.0.1:18789").verify(expose(&other)).unwrap_err().kind(), ErrorKind::Audience);
    assert_eq!(at("ws://b").verify(expose(&other)).unwrap_err().kind(), ErrorKind::Audience);
}

/// A scope refusal names the scope asked for, or says it was too long to
/// be any token's.
#[test]
fn a_scope_refusal_names_the_scope() {
    let k = key();
    let t = derive(&k, &grant(false), NOW).unwrap();
    let e = verifier(&k, "admin\n").verify(expose(&t)).unwrap_err();
    assert!(e.to_string().contains("the token does not grant scope `admin\\n`"), "{e}");
    let long = "s".repeat(MAX_SCOPE_LEN + 1);
    let e = verifier(&k, &long).verify(expose(&t)).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::Scope);
    assert!(e.to_string().contains("(a name longer than 64 bytes)"), "{e}");
    assert!(unix_now() > 1_700_000_000, "the clock reads the real time");
}

/// `derive` and `attenuate` check what they are given before they make
/// anything: each grant or caveat out of form is refused as invalid input
/// with its own reason (a token made from it would fail every verifier, or
/// not be made at all), and each bound is accepted at its limit. Without
/// these checks nothing else refuses the bad grants below: the verifier
/// would, but only later, and as a malformed token.
#[test]
fn grants_and_caveats_out_of_form_are_refused_with_their_reason() {
    let k = key();
    let g = |scopes: &[&str], audience: Option<&str>, ttl: u64| Grant {
        scopes: scopes.iter().map(|s| (*s).to_owned()).collect(),
        audience: audience.map(str::to_owned),
        ttl: Duration::from_secs(ttl),
        local: false,
    };
    let names: Vec<String> = (0..=MAX_SCOPES).map(|i| format!("s{i:02}")).collect();
    let seventeen: Vec<&str> = names.iter().map(String::as_str).collect();
    let long_scope = "a".repeat(MAX_SCOPE_LEN + 1);
    let long_aud = "a".repeat(MAX_AUDIENCE_LEN + 1);
    const COUNT: &str = "a token needs 1 to 16 scopes";
    const NAME: &str = "is not a scope name";
    const AUD: &str = "an audience is 1 to 255 printable ASCII characters";
    let bad_grants = [
        (g(&[], None, 600), COUNT),
        (g(&seventeen, None, 600), COUNT),
        (g(&[""], None, 600), NAME),
        (g(&["Admin"], None, 600), NAME),
        (g(&["-admin"], None, 600), NAME),
        (g(&["a b"], None, 600), NAME),
        (g(&["ok", &long_scope], None, 600), NAME),
        (g(&["ok"], Some(""), 600), AUD),
        (g(&["ok"], Some("ws://a b"), 600), AUD),
        (g(&["ok"], Some("ws://é"), 600), AUD),
        (g(&["ok"], Some(&long_aud), 600), AUD),
        (g(&["ok"], None, MAX_LIFETIME_SECS + 1), "longer than 366 days"),
        (g(&["ok"], None, 0), "at least one second"),
    ];
    for (grant, why) in &bad_grants {
        let e = derive(&k, grant, NOW).expect_err(why);
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains(why), "{why}: {e}");
    }

    // Every bound at its limit: 16 scopes (one of them 64 bytes), a 255-byte
    // audience, 366 days.
    let at_limit_scope = "z".repeat(MAX_SCOPE_LEN);
    let mut sixteen = seventeen[..MAX_SCOPES - 1].to_vec();
    sixteen.push(&at_limit_scope);
    let aud = "a".repeat(MAX_AUDIENCE_LEN);
    let t = derive(&k, &g(&sixteen, Some(&aud), MAX_LIFETIME_SECS), NOW).unwrap();
    let eff = Verifier::new(&k, at_limit_scope.as_str()).audience(aud.as_str()).at(NOW).verify(expose(&t)).unwrap();
    assert_eq!(eff.scopes.len(), MAX_SCOPES);
    assert_eq!(eff.expires, NOW + MAX_LIFETIME_SECS);

    // A caveat is checked the same way, and its scopes must already be in
    // the canonical order (derive sorts a grant's; a caveat is taken as
    // given).
    let base = derive(&k, &grant(false), NOW).unwrap();
    let cav = |scp: Option<&[&str]>, aud: Option<&str>| Caveat {
        scp: scp.map(|s| s.iter().map(|x| (*x).to_owned()).collect()),
        aud: aud.map(str::to_owned),
        ..Caveat::default()
    };
    let bad_caveats = [
        (cav(Some(&[]), None), COUNT),
        (cav(Some(&seventeen), None), COUNT),
        (cav(Some(&["Admin"]), None), NAME),
        (cav(Some(&["b", "a"]), None), "scopes must be sorted and unique"),
        (cav(Some(&["a", "a"]), None), "scopes must be sorted and unique"),
        (cav(None, Some("")), AUD),
        (cav(None, Some(&long_aud)), AUD),
    ];
    for (caveat, why) in &bad_caveats {
        let e = attenuate(expose(&base), caveat).expect_err(why);
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{e}");
        assert!(e.to_string().contains(why), "{why}: {e}");
    }
    let narrowed = attenuate(expose(&base), &cav(Some(&sixteen), Some(&aud))).unwrap();
    let i = inspect(expose(&narrowed)).unwrap();
    assert_eq!(i.caveats[0].scp.as_ref().map(Vec::len), Some(MAX_SCOPES));
    assert_eq!(i.caveats[0].aud.as_deref(), Some(aud.as_str()));
}
