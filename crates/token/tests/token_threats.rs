//! Security-regression tests for the token threats of `audits/THREATS.md`,
//! named by threat id: TOK-1 (no raw root secret on the wire), TOK-3
//! (locality on the verifying side), TOK-4 (reading never creates the
//! secrets file), and that no error ever carries a secret or a token.
//!
//! TOK-2 (attaching runtime authority only to locally generated targets) is
//! a decision of the client side (gw-cred / the CLI), not of gw-token; its
//! tests live with that code.
//!
//! The suite runs as root, which bypasses permission checks: "another user"
//! is uid 65534 (files are chown-ed to it). The umask test re-executes this
//! test binary as a helper child (`helper_child`), because the umask is
//! process-wide and other tests run in parallel threads.
//!
//! Linux-only (inotify watches of the token directory): compiled to nothing on other targets;
//! `docs/platforms.md` lists what a Mac run still needs.
#![cfg(target_os = "linux")]

use gw_test_support as common;
mod token_support;

use std::net::IpAddr;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use common::modes::{self, ModeWatcher};
use common::{RESOLVERS, Sandbox, chmod, chown, helper_main, run_helper, snapshot, symlink};
use gw_anchor::{Policy, Resolver, Root};
use gw_token::{
    Caveat, ErrorKind, HKDF_SALT, INFO_MAC_KEY, OPENCLAW_APPROVAL_LABEL, ROOT_SECRET_LEN, Secret, TokenKey, Verifier,
    attenuate, derive, derive_with_id, expose, hkdf_sha256, init_secret_file, inspect, label_token, load_secret_file,
};
// The reader of another program's JSON key file lives in gw-cred (so that
// gw-token needs no JSON document parser); its errors are gw-cred's, with
// gw-token's kinds inside `Token(..)`.
use gw_cred::{ErrorKind as CredKind, read_json_secret};
use token_support::*;

const NOW: u64 = 1_800_000_000;
const AUD: &str = "ws://127.0.0.1:18789";
const SECRET_FILE: &str = "root.secret";

/// Not a test: the entry point of helper children (see `common::run_helper`).
#[test]
fn helper_child() {
    helper_main(dispatch_helper);
}

fn dispatch_helper(mode: &str, args: &[String]) -> Vec<String> {
    match mode {
        "init_umask" => child_init_umask(args),
        other => panic!("unknown helper mode {other}"),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap_or_else(|e| panic!("{s}: {e}"))
}

fn expect_kind<T: std::fmt::Debug>(res: gw_token::Result<T>, kind: ErrorKind, ctx: &str) -> gw_token::Error {
    match res {
        Ok(v) => panic!("{ctx}: expected {kind:?}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{ctx}: expected {kind:?}, got {:?}: {e}", e.kind());
            e
        }
    }
}

/// [`expect_kind`] for gw-cred's `read_json_secret`.
fn expect_cred_kind<T: std::fmt::Debug>(res: gw_cred::Result<T>, kind: CredKind, ctx: &str) -> gw_cred::Error {
    match res {
        Ok(v) => panic!("{ctx}: expected {kind:?}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{ctx}: expected {kind:?}, got {:?}: {e}", e.kind());
            e
        }
    }
}

fn open(sb: &Sandbox) -> Root {
    sb.open(Resolver::Auto)
}

// ---- TOK-1: raw root secret on the wire ----

/// TOK-1: what a client receives is a derived token. Neither the root secret
/// nor the token key appears in it, in any encoding, in the token text or in
/// any decoded part; and it is not a function an observer could invert to
/// either (the tag differs from both).
#[test]
fn tok_1_derived_token_is_not_the_root_secret_and_does_not_contain_it() {
    for byte in [0x00u8, 0x41, 0xff] {
        let root = root_of(byte);
        let key = TokenKey::from_root(&root);
        let k_token = hkdf_sha256(HKDF_SALT, root.expose(), INFO_MAC_KEY);
        let mut needles = renderings(root.expose());
        needles.extend(renderings(k_token.as_ref()));
        for local in [false, true] {
            let t = derive(&key, &grant(&["gateway.connect"], Some(AUD), 600, local), NOW).unwrap();
            let t = expose(&t).to_owned();
            assert_ne!(t.as_bytes(), root.expose());
            assert_no_leak(&t, &needles, "token text");
            let n = attenuate(&t, &Caveat { exp: Some(NOW + 60), ..Caveat::default() }).unwrap();
            assert_no_leak(expose(&n), &needles, "attenuated token text");
            for token in [t.as_str(), expose(&n)] {
                let (claims, caveats, tag) = parts(token);
                for part in std::iter::once(&claims).chain(&caveats).chain(std::iter::once(&tag)) {
                    let bytes = unb64(part).expect("canonical part");
                    for secret in [root.expose(), k_token.as_ref()] {
                        assert!(
                            !bytes.windows(secret.len()).any(|w| w == secret),
                            "a decoded token part contains a secret"
                        );
                    }
                }
            }
        }
        // The label token (the other thing sent to clients) is not its key either.
        let lt = label_token(&root, OPENCLAW_APPROVAL_LABEL);
        assert_no_leak(expose(&lt), &needles, "label token");
    }
}

/// TOK-1: a token derived for one scope cannot be replayed for another —
/// not as it is (scope check), not by rewriting its claims (MAC), not by
/// appending a caveat that names the other scope (intersection), and not
/// against another audience.
#[test]
fn tok_1_token_for_one_scope_cannot_be_replayed_for_another() {
    let root = root_of(7);
    let key = TokenKey::from_root(&root);
    let t = derive_with_id(&key, &grant(&["approvals.read"], Some(AUD), 600, false), NOW, &[1; 16]).unwrap();
    let t = expose(&t).to_owned();
    let v = |scope: &str| Verifier::new(&key, scope).audience(AUD).at(NOW + 1);
    v("approvals.read").verify(&t).expect("the token is good for its own scope");

    for other in ["gateway.connect", "approvals.write", "approvals", "approvals.read.x", "admin", ""] {
        expect_kind(v(other).verify(&t), ErrorKind::Scope, &format!("replay for {other:?}"));
    }

    // Rewrite the claims to grant another scope, keeping the tag.
    let record = claims_record(&t);
    assert_eq!(record, spec_claims(&["approvals.read"], Some(AUD), NOW, NOW + 600, false, &[1; 16]));
    let forged_record = spec_claims(&["gateway.connect"], Some(AUD), NOW, NOW + 600, false, &[1; 16]);
    let (_, _, tag) = parts(&t);
    let forged = format!("gw2.{}.{tag}", b64(&forged_record));
    expect_kind(v("gateway.connect").verify(&forged), ErrorKind::Signature, "claims rewritten, tag kept");
    // Add the scope next to the granted one (still a canonical record).
    let widened = spec_claims(&["approvals.read", "gateway.connect"], Some(AUD), NOW, NOW + 600, false, &[1; 16]);
    let forged = format!("gw2.{}.{tag}", b64(&widened));
    expect_kind(v("gateway.connect").verify(&forged), ErrorKind::Signature, "scope added, tag kept");

    // A holder's caveat can name the other scope: it still grants nothing new.
    let n = attenuate(&t, &Caveat { scp: Some(vec!["gateway.connect".into()]), ..Caveat::default() }).unwrap();
    expect_kind(v("gateway.connect").verify(expose(&n)), ErrorKind::Scope, "caveat naming another scope");
    expect_kind(v("approvals.read").verify(expose(&n)), ErrorKind::Scope, "and the original scope is gone too");

    // Another audience (another gateway) refuses it.
    expect_kind(
        Verifier::new(&key, "approvals.read").audience("ws://127.0.0.1:9").at(NOW + 1).verify(&t),
        ErrorKind::Audience,
        "replay to another audience",
    );
}

/// TOK-1: tokens made with another root secret — derived or attenuated, even
/// with identical claims — are refused by the MAC.
#[test]
fn tok_1_tokens_from_another_root_secret_are_refused() {
    let mine = TokenKey::from_root(&root_of(1));
    let g = grant(&["gateway.connect"], Some(AUD), 600, false);
    let good = derive_with_id(&mine, &g, NOW, &[9; 16]).unwrap();
    let v = Verifier::new(&mine, "gateway.connect").audience(AUD).at(NOW);
    v.verify(expose(&good)).unwrap();
    for other in [
        root_of(2),
        Secret::new(vec![1u8; 31]),
        Secret::new(vec![1u8; 33]),
        Secret::new(Vec::new()),
        Secret::generate().unwrap(),
    ] {
        let theirs = TokenKey::from_root(&other);
        let t = derive_with_id(&theirs, &g, NOW, &[9; 16]).unwrap();
        assert_eq!(claims_record(expose(&t)), claims_record(expose(&good)), "identical claims");
        expect_kind(v.verify(expose(&t)), ErrorKind::Signature, "another root's token");
        let n = attenuate(expose(&t), &Caveat { loc: Some(true), ..Caveat::default() }).unwrap();
        expect_kind(v.verify(expose(&n)), ErrorKind::Signature, "another root's attenuated token");
    }
    // The label token of one socket token is not that of another.
    let a = label_token(&Secret::from("socket-token-a".to_owned()), OPENCLAW_APPROVAL_LABEL);
    let b = label_token(&Secret::from("socket-token-b".to_owned()), OPENCLAW_APPROVAL_LABEL);
    assert_ne!(expose(&a), expose(&b));
}

/// TOK-5: the tag is compared over all 256 bits. A tag with the same bit
/// flipped in two of its four 64-bit words (which an XOR-accumulating
/// compare would let through), in all four words, or in one byte is refused
/// (also after attenuation), and the untouched token is accepted.
#[test]
fn tok_5_tag_with_the_same_bit_flipped_in_two_words_is_refused() {
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let key = TokenKey::from_root(&root_of(5));
    let g = grant(&["gateway.connect"], Some(AUD), 600, false);
    let v = Verifier::new(&key, "gateway.connect").audience(AUD).at(NOW).peer(ip("127.0.0.1"));
    let plain = derive_with_id(&key, &g, NOW, &[5; 16]).unwrap();
    let narrowed = attenuate(expose(&plain), &Caveat { loc: Some(true), ..Caveat::default() }).unwrap();
    for token in [expose(&plain), expose(&narrowed)] {
        v.verify(token).unwrap();
        let (body, tag_text) = token.rsplit_once('.').unwrap();
        let tag = URL_SAFE_NO_PAD.decode(tag_text).unwrap();
        assert_eq!(tag.len(), 32);
        for bit in [0usize, 7, 33, 63] {
            for words in [&[0usize, 1][..], &[1, 3], &[0, 1, 2, 3], &[2]] {
                let mut t = tag.clone();
                for w in words {
                    t[w * 8 + bit / 8] ^= 1 << (bit % 8);
                }
                let forged = format!("{body}.{}", URL_SAFE_NO_PAD.encode(&t));
                expect_kind(v.verify(&forged), ErrorKind::Signature, &format!("bit {bit} of words {words:?}"));
            }
        }
    }
}

// ---- TOK-3: locality on the verifying side ----

const NON_LOOPBACK: &[&str] = &[
    "10.0.0.1",
    "192.168.1.10",
    "172.16.0.1",
    "100.64.0.1",
    "169.254.1.1",
    "8.8.8.8",
    "0.0.0.0",
    "255.255.255.255",
    "128.0.0.1",
    "2001:4860:4860::8888",
    "2a00:1450:4001:81c::200e",
    "fe80::1",
    "fd00::1",
    "::",
    "::2",
    "::ffff:10.0.0.1",
    "::ffff:8.8.8.8",
    "::127.0.0.1",
    "64:ff9b::7f00:1",
    "2002:7f00:1::1",
];

const LOOPBACK: &[&str] = &["127.0.0.1", "127.5.6.7", "127.255.255.254", "::1", "::ffff:127.0.0.1", "::ffff:127.1.2.3"];

/// TOK-3: a `local` token presented from a non-loopback peer is refused —
/// private and public IPv4, IPv6 global/link-local/ULA, the unspecified
/// addresses, IPv4-mapped non-loopback, and the IPv4-compatible / NAT64 /
/// 6to4 spellings of 127.0.0.1 (they are not loopback on the wire).
#[test]
fn tok_3_local_token_from_non_loopback_peer_is_refused() {
    let key = TokenKey::from_root(&root_of(3));
    let t = derive(&key, &grant(&["gateway.connect"], None, 600, true), NOW).unwrap();
    for peer in NON_LOOPBACK {
        let e = expect_kind(
            Verifier::new(&key, "gateway.connect").peer(ip(peer)).at(NOW).verify(expose(&t)),
            ErrorKind::Locality,
            &format!("local token from {peer}"),
        );
        assert!(e.kind().is_invalid_token() && e.kind().is_security_refusal());
        assert!(e.to_string().contains("non-loopback"), "{e}");
    }
}

/// TOK-3: the same token from loopback peers (all of 127/8, ::1, and
/// IPv4-mapped loopback) is accepted.
#[test]
fn tok_3_local_token_from_loopback_peer_is_accepted() {
    let key = TokenKey::from_root(&root_of(3));
    let t = derive(&key, &grant(&["gateway.connect"], None, 600, true), NOW).unwrap();
    for peer in LOOPBACK {
        let eff = Verifier::new(&key, "gateway.connect")
            .peer(ip(peer))
            .at(NOW)
            .verify(expose(&t))
            .unwrap_or_else(|e| panic!("local token from {peer}: {e}"));
        assert!(eff.local);
        assert!(gw_token::is_loopback(ip(peer)), "{peer}");
    }
    for peer in NON_LOOPBACK {
        assert!(!gw_token::is_loopback(ip(peer)), "{peer} is not loopback");
    }
}

/// TOK-3: when the verifier does not know the peer, a `local` token fails
/// closed.
#[test]
fn tok_3_local_token_from_unknown_peer_is_refused() {
    let key = TokenKey::from_root(&root_of(3));
    let t = derive(&key, &grant(&["gateway.connect"], None, 600, true), NOW).unwrap();
    let e = expect_kind(
        Verifier::new(&key, "gateway.connect").at(NOW).verify(expose(&t)),
        ErrorKind::Locality,
        "unknown peer",
    );
    assert!(e.to_string().contains("unknown"), "{e}");
}

/// TOK-3: locality added by a holder's caveat binds exactly like a derived
/// one, a later caveat cannot lift it, and a token that is not local is
/// accepted from any peer.
#[test]
fn tok_3_locality_from_a_caveat_is_sticky() {
    let key = TokenKey::from_root(&root_of(3));
    let t = derive(&key, &grant(&["gateway.connect"], None, 600, false), NOW).unwrap();
    let v = |peer: Option<&str>| {
        let v = Verifier::new(&key, "gateway.connect").at(NOW);
        match peer {
            Some(p) => v.peer(ip(p)),
            None => v,
        }
    };
    for peer in NON_LOOPBACK {
        v(Some(peer)).verify(expose(&t)).unwrap_or_else(|e| panic!("non-local token from {peer}: {e}"));
    }
    v(None).verify(expose(&t)).expect("a non-local token needs no peer");

    let local = attenuate(expose(&t), &Caveat { loc: Some(true), ..Caveat::default() }).unwrap();
    let later = attenuate(expose(&local), &Caveat { exp: Some(NOW + 300), ..Caveat::default() }).unwrap();
    for token in [expose(&local), expose(&later)] {
        for peer in NON_LOOPBACK {
            expect_kind(v(Some(peer)).verify(token), ErrorKind::Locality, &format!("caveat-local from {peer}"));
        }
        expect_kind(v(None).verify(token), ErrorKind::Locality, "caveat-local, unknown peer");
        for peer in LOOPBACK {
            v(Some(peer)).verify(token).unwrap_or_else(|e| panic!("caveat-local from {peer}: {e}"));
        }
    }
    // A caveat that would lift locality is refused when made …
    expect_kind(
        attenuate(expose(&local), &Caveat { loc: Some(false), ..Caveat::default() }),
        ErrorKind::InvalidInput,
        "loc:false caveat",
    );
    // … and cannot be smuggled in by hand (correctly chained, so only the
    // record rules stop it): the format has no encoding that lifts locality;
    // an empty caveat (flags 0) and one with an undefined flag (as a
    // would-be "not local" bit) are malformed.
    let (claims, caveats, tag) = parts(expose(&local));
    for lift in [vec![0x00u8], vec![0x10], vec![0x80], vec![0x18]] {
        let tag2 = *gw_token::hmac_sha256(&unb64(&tag).unwrap(), &[gw_token::CAVEAT_DOMAIN, &lift]);
        let smuggled = format!("gw2.{claims}.{}.{}.{}", caveats[0], b64(&lift), b64(&tag2));
        expect_kind(
            v(Some("10.0.0.1")).verify(&smuggled),
            ErrorKind::Malformed,
            &format!("smuggled caveat {lift:02x?}"),
        );
    }
}

// ---- TOK-4: side effects on read ----

/// TOK-4: loading a missing secret file fails with NotFound and creates
/// nothing: not the file, not its directory, nothing next to it (with both
/// of gw-anchor's resolvers).
#[test]
fn tok_4_loading_a_missing_secret_creates_nothing() {
    let sb = Sandbox::new();
    common::mkdir(&sb.root.join("sub"), 0o700);
    let before = snapshot(sb.tmp());
    for (resolver, rel) in RESOLVERS
        .into_iter()
        .flat_map(|r| [SECRET_FILE, "sub/root.secret", "missing-dir/root.secret", "a/b/c/root.secret"].map(|p| (r, p)))
    {
        let root = sb.open(resolver);
        let e = expect_kind(
            load_secret_file(&root, rel),
            ErrorKind::Fs(gw_anchor::ErrorKind::NotFound),
            &format!("load {rel} ({resolver:?})"),
        );
        assert!(!e.kind().is_invalid_token());
        common::assert_same_tree(&before, &snapshot(sb.tmp()), &format!("load missing {rel}"));
    }
}

/// TOK-4: reading the socket token of a missing `exec-approvals.json`
/// fails with NotFound and creates nothing; an existing one is left
/// byte-for-byte as it was, whatever is wrong with it.
#[test]
fn tok_4_read_json_secret_never_creates_or_changes_the_file() {
    let sb = Sandbox::new();
    let root = open(&sb);
    let before = snapshot(sb.tmp());
    for rel in ["exec-approvals.json", ".openclaw/exec-approvals.json"] {
        expect_cred_kind(
            read_json_secret(&root, rel, "socket.token"),
            CredKind::Fs(gw_anchor::ErrorKind::NotFound),
            &format!("read {rel}"),
        );
        common::assert_same_tree(&before, &snapshot(sb.tmp()), &format!("read missing {rel}"));
    }
    for (doc, kind) in [
        (r#"{"socket":{"token":"tok-0123456789"}}"#, None),
        (r#"{"socket":{}}"#, Some(CredKind::Token(ErrorKind::BadSecret))),
        (r#"{"socket":{"token":""}}"#, Some(CredKind::Token(ErrorKind::BadSecret))),
        (r#"{"socket":{"token":42}}"#, Some(CredKind::Token(ErrorKind::BadSecret))),
        (r#"{"socket":"#, Some(CredKind::Doc(gw_persist::ErrorKind::Syntax))),
        (r#"{"socket":{"token":"a","token":"b"}}"#, Some(CredKind::Doc(gw_persist::ErrorKind::DuplicateKey))),
    ] {
        std::fs::write(sb.root.join("exec-approvals.json"), doc).unwrap();
        chmod(&sb.root.join("exec-approvals.json"), 0o600);
        let before = snapshot(sb.tmp());
        let res = read_json_secret(&root, "exec-approvals.json", "socket.token");
        match kind {
            None => assert_eq!(res.unwrap().expose(), b"tok-0123456789"),
            Some(k) => {
                expect_cred_kind(res, k, doc);
            }
        }
        common::assert_same_tree(&before, &snapshot(sb.tmp()), doc);
    }
}

/// TOK-4 / FS-1: a symlinked `exec-approvals.json` is refused, not followed.
#[test]
fn tok_4_read_json_secret_refuses_a_symlink() {
    let sb = Sandbox::new();
    std::fs::write(sb.outside.join("approvals.json"), r#"{"socket":{"token":"planted-token-value"}}"#).unwrap();
    symlink(sb.outside.join("approvals.json"), &sb.root.join("exec-approvals.json"));
    let before = snapshot(sb.tmp());
    for resolver in RESOLVERS {
        expect_cred_kind(
            read_json_secret(&sb.open(resolver), "exec-approvals.json", "socket.token"),
            CredKind::Fs(gw_anchor::ErrorKind::Symlink),
            &format!("symlinked exec-approvals.json ({resolver:?})"),
        );
    }
    common::assert_same_tree(&before, &snapshot(sb.tmp()), "symlinked exec-approvals.json");
}

fn write_secret_file(sb: &Sandbox, secret: &Secret, mode: u32) {
    let path = sb.root.join(SECRET_FILE);
    std::fs::write(&path, format!("{}\n", b64(secret.expose()))).unwrap();
    chmod(&path, mode);
}

/// TOK-4: a secret file others can read or write is refused with
/// InsecureSecret, a message naming the mode, and a fix with `chmod`; the
/// file is left as it is.
#[test]
fn tok_4_secret_file_readable_by_others_is_refused() {
    let secret = root_of(0x5a);
    for mode in [0o640, 0o604, 0o660, 0o644, 0o620, 0o602, 0o606, 0o610, 0o601, 0o666, 0o777] {
        assert_ne!(mode & 0o077, 0, "only modes giving group/other some access are listed");
        let sb = Sandbox::new();
        write_secret_file(&sb, &secret, mode);
        let root = open(&sb);
        let before = snapshot(sb.tmp());
        let e = expect_kind(load_secret_file(&root, SECRET_FILE), ErrorKind::InsecureSecret, &format!("{mode:o}"));
        assert!(e.kind().is_security_refusal());
        assert!(e.to_string().contains(&format!("{mode:04o}")), "the message names the mode: {e}");
        let fix = e.fix().unwrap_or_else(|| panic!("no fix for {mode:o}: {e}"));
        assert!(fix.contains("chmod 600"), "{fix}");
        assert_eq!(e.path(), Some(sb.root.join(SECRET_FILE).as_path()));
        assert_error_clean(&e, &renderings(secret.expose()), &format!("mode {mode:o}"));
        common::assert_same_tree(&before, &snapshot(sb.tmp()), &format!("mode {mode:o}"));
    }
    // Owner-only modes are fine.
    for mode in [0o600, 0o400, 0o700] {
        let sb = Sandbox::new();
        write_secret_file(&sb, &secret, mode);
        let loaded = load_secret_file(&open(&sb), SECRET_FILE).unwrap_or_else(|e| panic!("{mode:o}: {e}"));
        assert_eq!(loaded.expose(), secret.expose());
    }
}

/// TOK-4: a secret file owned by another user (uid 65534) is refused with
/// InsecureSecret and a fix with `chown`, even with mode 0600.
#[test]
fn tok_4_secret_file_owned_by_another_user_is_refused() {
    let secret = root_of(0x5b);
    let sb = Sandbox::new();
    write_secret_file(&sb, &secret, 0o600);
    chown(&sb.root.join(SECRET_FILE), common::NOBODY);
    let root = open(&sb);
    let before = snapshot(sb.tmp());
    let e = expect_kind(load_secret_file(&root, SECRET_FILE), ErrorKind::InsecureSecret, "owned by 65534");
    assert!(e.to_string().contains("65534"), "the message names the owner: {e}");
    assert!(e.fix().is_some_and(|f| f.contains("chown")), "{e}");
    assert_error_clean(&e, &renderings(secret.expose()), "owned by 65534");
    common::assert_same_tree(&before, &snapshot(sb.tmp()), "owned by 65534");
}

/// TOK-4 / FS-1: a symlink at the secret file's name is refused, even when
/// it points at a perfectly good secret file — also a symlinked directory
/// on the way.
#[test]
fn tok_4_symlinked_secret_file_is_refused() {
    let secret = root_of(0x5c);
    let sb = Sandbox::new();
    let target = sb.outside.join("real.secret");
    std::fs::write(&target, format!("{}\n", b64(secret.expose()))).unwrap();
    chmod(&target, 0o600);
    symlink(&target, &sb.root.join(SECRET_FILE));
    symlink(&sb.outside, &sb.root.join("linkdir"));
    std::fs::copy(&target, sb.outside.join(SECRET_FILE)).unwrap();
    let before = snapshot(sb.tmp());
    for (resolver, rel) in
        RESOLVERS.into_iter().flat_map(|r| [(r, SECRET_FILE.to_owned()), (r, format!("linkdir/{SECRET_FILE}"))])
    {
        let e = expect_kind(
            load_secret_file(&sb.open(resolver), &rel),
            ErrorKind::Fs(gw_anchor::ErrorKind::Symlink),
            &format!("symlinked {rel} ({resolver:?})"),
        );
        assert!(e.kind().is_security_refusal());
        assert_error_clean(&e, &renderings(secret.expose()), &rel);
    }
    common::assert_same_tree(&before, &snapshot(sb.tmp()), "symlinked secret");
}

/// TOK-4: init refuses to overwrite an existing secret file (the old secret
/// survives byte-for-byte), a planted symlink (followed nowhere, the target
/// untouched), and a dangling symlink (nothing created at its target).
#[test]
fn tok_4_init_refuses_to_overwrite_or_follow() {
    let sb = Sandbox::new();
    let root = open(&sb);
    let first = init_secret_file(&root, SECRET_FILE).unwrap();
    let before = snapshot(sb.tmp());
    let e = expect_kind(
        init_secret_file(&root, SECRET_FILE),
        ErrorKind::Fs(gw_anchor::ErrorKind::AlreadyExists),
        "init over an existing secret",
    );
    assert_error_clean(&e, &renderings(first.expose()), "init over existing");
    common::assert_same_tree(&before, &snapshot(sb.tmp()), "init over an existing secret");
    assert_eq!(load_secret_file(&root, SECRET_FILE).unwrap().expose(), first.expose());

    symlink(sb.outside.join("secret"), &sb.root.join("planted"));
    symlink(sb.outside.join("does-not-exist"), &sb.root.join("dangling"));
    let before = snapshot(sb.tmp());
    for rel in ["planted", "dangling"] {
        let e = init_secret_file(&root, rel).expect_err(rel);
        assert!(
            matches!(
                e.kind(),
                ErrorKind::Fs(gw_anchor::ErrorKind::Symlink) | ErrorKind::Fs(gw_anchor::ErrorKind::AlreadyExists)
            ),
            "{rel}: {e}"
        );
        common::assert_same_tree(&before, &snapshot(sb.tmp()), &format!("init over {rel}"));
    }
    assert!(!sb.outside.join("does-not-exist").exists());
}

/// TOK-4 / FS-4: init creates the file with mode 0600 even under umask 000,
/// never visible with a wider mode (watched with inotify in the child), and
/// what it wrote loads back.
#[test]
fn tok_4_init_creates_mode_0600_under_umask_000() {
    for umask in ["000", "022", "077"] {
        let sb = Sandbox::new();
        let out = run_helper("init_umask", &[sb.root.display().to_string(), umask.to_owned()], None);
        let [widest, seen] = &out[..] else { panic!("helper output {out:?}") };
        assert_eq!(widest, "0600", "umask {umask}: the widest mode seen while creating");
        assert_ne!(seen, "0", "umask {umask}: the watcher saw the file appear");
        let md = std::fs::symlink_metadata(sb.root.join(SECRET_FILE)).unwrap();
        assert_eq!(md.mode() & 0o7777, 0o600, "umask {umask}");
        assert!(md.file_type().is_file());
        assert_eq!(md.uid(), rustix::process::geteuid().as_raw());
        let text = std::fs::read_to_string(sb.root.join(SECRET_FILE)).unwrap();
        assert_eq!(text.len(), 44, "43 base64url characters and a newline");
        assert!(text.ends_with('\n'));
        let loaded = load_secret_file(&open(&sb), SECRET_FILE).unwrap();
        assert_eq!(loaded.len(), ROOT_SECRET_LEN);
        assert_eq!(b64(loaded.expose()), text.trim_end());
        // Only the secret file: no temp left behind.
        let names: Vec<_> = std::fs::read_dir(&sb.root).unwrap().map(|e| e.unwrap().file_name()).collect();
        assert_eq!(names, vec![std::ffi::OsString::from(SECRET_FILE)], "umask {umask}");
    }
}

/// Child: set the umask, watch the directory, init a secret, report the
/// widest mode any new entry had and how many were seen.
fn child_init_umask(args: &[String]) -> Vec<String> {
    let [dir, umask] = args else { panic!("init_umask args: {args:?}") };
    rustix::process::umask(rustix::fs::Mode::from_raw_mode(u32::from_str_radix(umask, 8).unwrap()));
    let watcher = ModeWatcher::start(Path::new(dir), true);
    let root = Root::open(dir, &Policy::new()).unwrap();
    init_secret_file(&root, SECRET_FILE).unwrap();
    std::fs::create_dir(Path::new(dir).join(modes::STOP)).unwrap();
    let (widest, seen) = watcher.finish();
    std::fs::remove_dir(Path::new(dir).join(modes::STOP)).unwrap();
    vec![format!("{widest:04o}"), seen.to_string()]
}

// ---- no secret, no token in errors ----

/// Errors never contain the secret or the token: the Display and Debug of
/// every error provoked here (each verification failure, bad input, secret
/// files with each kind of problem, the label-token key file) are checked
/// against the root secret, the token key, the token and its tag in every
/// rendering; and the secret types print redacted.
#[test]
fn errors_never_contain_the_secret_or_the_token() {
    let root = root_of(0x3c);
    let key = TokenKey::from_root(&root);
    let k_token = hkdf_sha256(HKDF_SALT, root.expose(), INFO_MAC_KEY);
    let mut needles = renderings(root.expose());
    needles.extend(renderings(k_token.as_ref()));

    // Secret types print redacted.
    for (what, dbg) in [
        ("Secret", format!("{root:?}")),
        ("Secret alt", format!("{root:#?}")),
        ("TokenKey", format!("{key:?}")),
        ("Verifier", format!("{:?}", Verifier::new(&key, "x"))),
    ] {
        assert_no_leak(&dbg, &needles, what);
        assert!(dbg.contains("REDACTED"), "{what}: {dbg}");
    }
    let short = Secret::from("hunter2-is-my-password".to_owned());
    assert_no_leak(&format!("{short:?}"), &renderings(short.expose()), "Secret from a string");

    let t = derive(&key, &grant(&["approvals.read", "gateway.connect"], Some(AUD), 600, true), NOW).unwrap();
    let t = expose(&t).to_owned();
    let n = attenuate(&t, &Caveat { scp: Some(vec!["approvals.read".into()]), ..Caveat::default() }).unwrap();
    let n = expose(&n).to_owned();
    assert!(!format!("{:?}", derive(&key, &grant(&["x"], None, 1, false), NOW).unwrap()).contains("gw2."));
    let lt = label_token(&root, "label");
    assert!(!format!("{lt:?}").contains(expose(&lt)), "label token Debug is redacted");

    let mut token_needles = needles.clone();
    for tok in [&t, &n] {
        let (claims, caveats, tag) = parts(tok);
        token_needles.push(tok.clone());
        token_needles.push(tag.clone());
        token_needles.push(claims);
        token_needles.extend(caveats);
        token_needles.push(hex(&unb64(&tag).unwrap()));
    }

    let mut errors: Vec<(String, gw_token::Error)> = Vec::new();
    let base = || Verifier::new(&key, "approvals.read").audience(AUD).peer(ip("127.0.0.1")).at(NOW + 1);
    base().verify(&t).unwrap();
    let mut flipped = t.clone().into_bytes();
    let last = flipped.len() - 2;
    flipped[last] ^= 1;
    let flipped = String::from_utf8(flipped).unwrap();
    let other = TokenKey::from_root(&root_of(0x3d));
    let cases: Vec<(&str, gw_token::Result<gw_token::Effective>)> = vec![
        ("signature", base().verify(&flipped)),
        ("another root", Verifier::new(&other, "approvals.read").audience(AUD).at(NOW).verify(&t)),
        ("scope", Verifier::new(&key, "admin").audience(AUD).peer(ip("::1")).at(NOW).verify(&n)),
        ("audience", base().audience("ws://x").verify(&t)),
        ("expired", base().at(NOW + 10_000).verify(&n)),
        ("not yet", base().at(NOW - 10_000).verify(&t)),
        ("locality", base().peer(ip("10.0.0.1")).verify(&n)),
        ("unknown peer", Verifier::new(&key, "approvals.read").audience(AUD).at(NOW).verify(&t)),
        ("malformed", base().verify(&format!("{t}="))),
        ("malformed space", base().verify(&format!("{t} "))),
        ("unknown version", base().verify(&t.replacen("gw2", "gw9", 1))),
        ("too long", base().verify(&format!("{t}.{}", "A".repeat(5000)))),
    ];
    for (what, res) in cases {
        errors.push((what.to_owned(), res.expect_err(what)));
    }
    errors.push(("inspect".into(), inspect(&format!("{n}.")).unwrap_err()));
    errors.push(("attenuate empty".into(), attenuate(&t, &Caveat::default()).unwrap_err()));
    errors.push((
        "attenuate bad token".into(),
        attenuate(&format!("{t}="), &Caveat { loc: Some(true), ..Caveat::default() }).unwrap_err(),
    ));

    // Secret files: insecure, foreign, malformed, symlinked.
    let sb = Sandbox::new();
    let r = open(&sb);
    write_secret_file(&sb, &root, 0o644);
    errors.push(("insecure secret".into(), load_secret_file(&r, SECRET_FILE).unwrap_err()));
    write_secret_file(&sb, &root, 0o600);
    chown(&sb.root.join(SECRET_FILE), common::NOBODY);
    errors.push(("foreign secret".into(), load_secret_file(&r, SECRET_FILE).unwrap_err()));
    std::fs::remove_file(sb.root.join(SECRET_FILE)).unwrap();
    for (what, content) in [
        ("31 bytes", b64(&root.expose()[..31])),
        ("padded", format!("{}=", b64(root.expose()))),
        ("two newlines", format!("{}\n\n", b64(root.expose()))),
        ("hex", hex(root.expose())),
        ("standard alphabet", format!("{}+", &b64(root.expose())[..42])),
    ] {
        std::fs::write(sb.root.join(SECRET_FILE), &content).unwrap();
        chmod(&sb.root.join(SECRET_FILE), 0o600);
        let e = load_secret_file(&r, SECRET_FILE).expect_err(what);
        assert_eq!(e.kind(), ErrorKind::BadSecret, "{what}: {e}");
        errors.push((format!("bad secret {what}"), e));
        std::fs::remove_file(sb.root.join(SECRET_FILE)).unwrap();
    }
    // Label-token key files: the socket token must not show up either.
    let socket_token = "socket-token-value-that-must-never-print";
    let mut label_needles = renderings(socket_token.as_bytes());
    label_needles.push(socket_token.to_owned());
    for (what, doc) in [
        ("syntax after the token", format!(r#"{{"socket":{{"token":"{socket_token}" "#)),
        ("duplicate", format!(r#"{{"socket":{{"token":"{socket_token}","token":"{socket_token}"}}}}"#)),
        ("wrong field", format!(r#"{{"socket":{{"tok":"{socket_token}"}}}}"#)),
        ("control character", format!("{{\"socket\":{{\"token\":\"{socket_token}\u{1}\"}}}}")),
    ] {
        std::fs::write(sb.root.join("exec-approvals.json"), &doc).unwrap();
        chmod(&sb.root.join("exec-approvals.json"), 0o600);
        let e = read_json_secret(&r, "exec-approvals.json", "socket.token").expect_err(what);
        assert_error_clean(&e, &label_needles, what);
    }

    for (what, e) in &errors {
        assert_error_clean(e, &token_needles, what);
        assert!(!e.message().is_empty(), "{what}: the message names the check");
    }
}
