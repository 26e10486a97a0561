//! Fuzz target: gw-gateway's frame readers on arbitrary bytes — the server
//! frame (`parse_server_frame`), then, by what it is, the challenge
//! (`parse_challenge`) or the hello-ok (`parse_hello_ok`).
//!
//! Properties, checked against a model (serde_json driven into a tree that
//! keeps every object entry, so duplicate keys stay visible):
//! - nothing panics; a refusal is `Protocol`, or `VersionMismatch` for a
//!   hello-ok whose `protocol` is a number other than 4;
//! - a frame is accepted exactly when the model accepts it: at most
//!   `MAX_FRAME_BYTES`, no duplicate key at any depth, nested at most 32
//!   deep, an object whose `type` is `event` (with a string `event` of at
//!   most 512 bytes) or `res` (a string `id` of at most 512 bytes, `ok`
//!   true with a `payload`, or false with an `error` object);
//! - a challenge is accepted exactly when its nonce is 1–256 printable ASCII
//!   characters without `|` and its `ts` a non-negative integer, and gives
//!   them back unchanged;
//! - a refusal's code, `details.code` and `details.recommendedNextStep`
//!   (what gw compares) are the input's strings when printable text of at
//!   most 512 characters, else `?`; its message is printable;
//! - an accepted hello-ok has protocol 4, a valid role, valid scopes, valid
//!   tokens equal to the input's strings, no role issued twice, and the
//!   input's `auth.method` exactly (one that is not printable text is
//!   refused);
//! - no error message holds a string value of the input that has a
//!   character no message text has (`! # $ % & * + < = > ? @ ^ ~`) and is
//!   not an object key: tokens, roles and scopes are never quoted.
#![no_main]

#[path = "common/json_tree.rs"]
mod json_tree;

use gw_gateway::ErrorKind;
use gw_gateway::frame::{
    MAX_FRAME_BYTES, MAX_NONCE_LEN, ServerFrame, parse_challenge, parse_hello_ok, parse_server_frame,
};
use json_tree::{Tree, has_wide_integer};
use libfuzzer_sys::fuzz_target;

const MAX_DEPTH: usize = 32;
const DISTINCT: &[u8] = b"!#$%&*+<=>?@^~";

impl Tree {
    /// Every key and every string value, at any depth.
    fn strings<'a>(&'a self, keys: &mut Vec<&'a str>, values: &mut Vec<&'a str>) {
        match self {
            Tree::Str(s) => values.push(s),
            Tree::Arr(a) => a.iter().for_each(|v| v.strings(keys, values)),
            Tree::Obj(o) => {
                for (k, v) in o {
                    keys.push(k);
                    v.strings(keys, values);
                }
            }
            _ => {}
        }
    }
}

#[derive(Debug, PartialEq)]
enum Kind {
    Event,
    ResOk,
    ResErr,
}

fn model_frame(data: &[u8], tree: Option<&Tree>) -> Option<Kind> {
    let tree = tree?;
    // gw reads frames as gw-persist reads JSON: an integer it would round is
    // refused (CI's smoke met a 41-digit `protocol`).
    if data.len() as u64 > MAX_FRAME_BYTES
        || tree.has_duplicate_key()
        || tree.depth() > MAX_DEPTH
        || std::str::from_utf8(data).is_ok_and(has_wide_integer)
    {
        return None;
    }
    let short = |t: Option<&Tree>| t.and_then(Tree::str).is_some_and(|s| s.len() <= 512);
    match tree.get("type")?.str()? {
        "event" => short(tree.get("event")).then_some(Kind::Event),
        "res" => {
            if !short(tree.get("id")) {
                return None;
            }
            match tree.get("ok")? {
                Tree::Bool(true) => tree.get("payload").map(|_| Kind::ResOk),
                Tree::Bool(false) => matches!(tree.get("error")?, Tree::Obj(_)).then_some(Kind::ResErr),
                _ => None,
            }
        }
        _ => None,
    }
}

fn role_ok(r: &str) -> bool {
    (1..=64).contains(&r.len())
        && r.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

fn scope_ok(s: &str) -> bool {
    (1..=128).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

fn token_ok(t: &str) -> bool {
    (1..=4096).contains(&t.len()) && t.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// Printable text of at most 512 characters: kept as sent where gw compares it.
fn plain(s: &str) -> bool {
    s.chars().count() <= 512 && !s.chars().any(char::is_control)
}

/// What gw keeps of a compared string field: the string, or `?`.
fn compared(t: Option<&Tree>) -> Option<&str> {
    t.and_then(Tree::str).map(|s| if plain(s) { s } else { "?" })
}

fn check_quiet(text: &str, tree: Option<&Tree>, what: &str) {
    let Some(tree) = tree else { return };
    let (mut keys, mut values) = (Vec::new(), Vec::new());
    tree.strings(&mut keys, &mut values);
    for v in values {
        if v.bytes().any(|b| DISTINCT.contains(&b)) && !keys.iter().any(|k| k.contains(v)) {
            assert!(!text.contains(v), "{what} quotes the input value {v:?}: {text}");
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let too_large = data.len() as u64 > MAX_FRAME_BYTES;
    let tree = if too_large { None } else { serde_json::from_slice::<Tree>(data).ok() };
    let expect = model_frame(data, tree.as_ref());
    let frame = match parse_server_frame(data, "fuzz") {
        Ok(f) => f,
        Err(e) => {
            assert!(expect.is_none(), "refused ({e}), the model accepts as {expect:?}: {data:?}");
            assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
            check_quiet(&e.to_string(), tree.as_ref(), "the frame error");
            return;
        }
    };
    let tree = tree.expect("accepted, but not JSON for the model");
    match frame {
        ServerFrame::Event { event, payload } => {
            assert_eq!(expect, Some(Kind::Event), "{data:?}");
            assert_eq!(Some(event.as_str()), tree.get("event").and_then(Tree::str));
            let p = tree.get("payload");
            let nonce = p.and_then(|p| p.get("nonce")).and_then(Tree::str);
            let nonce_ok = nonce.is_some_and(|n| {
                (1..=MAX_NONCE_LEN).contains(&n.len()) && n.bytes().all(|b| b.is_ascii_graphic() && b != b'|')
            });
            let ts = p.and_then(|p| p.get("ts")).and_then(|t| match t {
                Tree::Num(n) => n.as_u64(),
                _ => None,
            });
            match parse_challenge(&payload, "fuzz") {
                Ok(c) => {
                    assert!(nonce_ok && ts.is_some(), "accepted a bad challenge: {data:?}");
                    assert_eq!(Some(c.nonce.as_str()), nonce);
                    assert_eq!(Some(c.ts), ts);
                }
                Err(e) => {
                    assert!(!(nonce_ok && ts.is_some()), "refused a good challenge ({e}): {data:?}");
                    assert_eq!(e.kind(), ErrorKind::Protocol);
                    check_quiet(&e.to_string(), Some(&tree), "the challenge error");
                }
            }
        }
        ServerFrame::Res { outcome: Err(r), .. } => {
            assert_eq!(expect, Some(Kind::ResErr), "{data:?}");
            assert!(r.message.len() <= 4 * 512 && !r.message.chars().any(char::is_control));
            let err = tree.get("error");
            let details = err.and_then(|e| e.get("details")).filter(|d| matches!(d, Tree::Obj(_)));
            assert_eq!(Some(r.code.as_str()), compared(err.and_then(|e| e.get("code"))).or(Some("?")), "{data:?}");
            assert_eq!(r.detail_code.as_deref(), compared(details.and_then(|d| d.get("code"))), "{data:?}");
            let next = details.and_then(|d| d.get("recommendedNextStep"));
            assert_eq!(r.next_step.as_deref(), compared(next), "{data:?}");
        }
        ServerFrame::Res { outcome: Ok(payload), .. } => {
            assert_eq!(expect, Some(Kind::ResOk), "{data:?}");
            match parse_hello_ok(&payload, "fuzz") {
                Ok(h) => {
                    assert_eq!(h.protocol, 4);
                    let auth = tree.get("payload").and_then(|p| p.get("auth")).expect("auth in the model");
                    assert_eq!(Some(h.auth.role.as_str()), auth.get("role").and_then(Tree::str));
                    assert!(role_ok(&h.auth.role) && h.auth.scopes.iter().all(|s| scope_ok(s)));
                    let method = auth.get("method").and_then(Tree::str);
                    assert!(method.is_none_or(plain), "accepted a method that is not printable text: {data:?}");
                    assert_eq!(h.auth.method.as_deref(), method, "the method is not the input's: {data:?}");
                    if let Some(t) = &h.auth.device_token {
                        let text = std::str::from_utf8(t.token.expose()).unwrap();
                        assert!(token_ok(text));
                        assert_eq!(Some(text), auth.get("deviceToken").and_then(Tree::str));
                    }
                    let mut roles: Vec<&str> = h.auth.device_token.iter().map(|t| t.role.as_str()).collect();
                    for t in &h.auth.device_tokens {
                        assert!(role_ok(&t.role) && t.scopes.iter().all(|s| scope_ok(s)));
                        assert!(token_ok(std::str::from_utf8(t.token.expose()).unwrap()));
                        assert!(!roles.contains(&t.role.as_str()), "role {:?} issued twice", t.role);
                        roles.push(&t.role);
                    }
                }
                Err(e) => {
                    assert!(matches!(e.kind(), ErrorKind::Protocol | ErrorKind::VersionMismatch), "{e}");
                    check_quiet(&e.to_string(), Some(&tree), "the hello-ok error");
                }
            }
        }
    }
});
