//! Fuzz target: the hand-off input of `gw cred handoff` — gw-gateway's
//! `parse_handoff_input` (a whole `res` frame or its hello-ok payload) and
//! then `HelloOk::handoff` as after a bootstrap connect on loopback — on
//! arbitrary bytes.
//!
//! Properties (serde_json's own parser driven into a tree that keeps every
//! object entry, as in `json_load`, and plain `serde_json` on accepted
//! input):
//! - it never panics; a refusal is `Protocol`, `VersionMismatch` or
//!   `HandoffRefused`;
//! - input over `MAX_FRAME_BYTES`, with a duplicate key at any depth, or
//!   nested deeper than 32 is refused;
//! - an accepted input is an object whose `type` is `res` (with `ok: true`,
//!   the hello-ok in `payload`) or `hello-ok`; the hello-ok's `protocol` is
//!   4; when tokens are handed off, its `auth.method` is `bootstrap-token`
//!   (THREATS GATE-3);
//! - the tokens handed off are exactly the primary `auth.deviceToken` (for
//!   `auth.role`) followed by every `auth.deviceTokens[]` entry, in order,
//!   with the very strings plain serde_json reads (THREATS CRED-2: all of
//!   them, none invented); every role passes `check_role`, every token
//!   `check_secret_text`, no role appears twice;
//! - no error message (nor the `Debug` of an accepted result) holds a token
//!   value of the input. Checked for the values with a character no message
//!   text has (`! # $ % & * + < = > ? @ ^ | ~`, none of which a role can
//!   hold), that are not part of a key (gw-persist names a duplicated key)
//!   or a `role` value (a refused role is named).
//!
//! `GW_FUZZ_DEBUG=1` prints each result.
#![no_main]

#[path = "common/json_tree.rs"]
mod json_tree;

use gw_cred::{check_role, check_secret_text};
use gw_gateway::{ErrorKind, MAX_FRAME_BYTES, parse_handoff_input};
use json_tree::Tree;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The nesting limit gw-gateway gives gw-persist.
const MAX_DEPTH: usize = 32;
/// Characters in no error message text (see the header).
const DISTINCT: &[u8] = b"!#$%&*+<=>?@^|~";

/// What only this target asks of the model tree.
impl Tree {
    /// Every object key, every string under a `role` key and every string
    /// under a `deviceToken` key, at any depth.
    fn collect<'a>(&'a self, keys: &mut Vec<&'a str>, roles: &mut Vec<&'a str>, tokens: &mut Vec<&'a str>) {
        match self {
            Tree::Arr(a) => a.iter().for_each(|v| v.collect(keys, roles, tokens)),
            Tree::Obj(o) => {
                for (k, v) in o {
                    keys.push(k);
                    match (k.as_str(), v) {
                        ("role", Tree::Str(s)) => roles.push(s),
                        ("deviceToken", Tree::Str(s)) => tokens.push(s),
                        _ => v.collect(keys, roles, tokens),
                    }
                }
            }
            _ => {}
        }
    }
}

/// `text` holds none of the token values that must never be shown.
fn check_no_token(text: &str, tree: Option<&Tree>, what: &str) {
    let Some(tree) = tree else { return };
    let (mut keys, mut roles, mut tokens) = (Vec::new(), Vec::new(), Vec::new());
    tree.collect(&mut keys, &mut roles, &mut tokens);
    for t in tokens {
        if t.bytes().any(|b| DISTINCT.contains(&b))
            && !keys.iter().any(|k| k.contains(t))
            && !roles.iter().any(|r| r.contains(t))
        {
            assert!(!text.contains(t), "{what} holds the token value {t:?}: {text}");
        }
    }
}

/// The hello-ok of an accepted input, as plain serde_json reads it.
fn hello_of(v: &Value) -> &Value {
    match v["type"].as_str() {
        Some("res") => {
            assert_eq!(v["ok"], Value::Bool(true), "accepted a res that is not ok");
            &v["payload"]
        }
        Some("hello-ok") => v,
        other => panic!("accepted an input of type {other:?}"),
    }
}

fuzz_target!(|data: &[u8]| {
    let too_large = data.len() as u64 > MAX_FRAME_BYTES;
    let tree = if too_large { None } else { serde_json::from_slice::<Tree>(data).ok() };
    let result = parse_handoff_input(data, "fuzz")
        .and_then(|h| h.handoff("bootstrapToken", std::net::Ipv4Addr::LOCALHOST.into(), "fuzz"));
    if std::env::var_os("GW_FUZZ_DEBUG").is_some() {
        eprintln!("{result:?}");
    }
    match result {
        Ok(list) => {
            assert!(!too_large, "accepted over the size limit");
            let tree = tree.as_ref().expect("accepted what serde_json does not parse");
            assert!(!tree.has_duplicate_key(), "accepted a duplicate key: {data:?}");
            assert!(tree.depth() <= MAX_DEPTH, "accepted nesting deeper than {MAX_DEPTH}");
            let plain: Value = serde_json::from_slice(data).expect("plain serde_json refuses what gw accepted");
            let hello = hello_of(&plain);
            assert_eq!(hello["type"], "hello-ok");
            assert_eq!(hello["protocol"].as_u64(), Some(4), "accepted another protocol");
            let auth = &hello["auth"];
            let mut expect: Vec<(String, String)> = Vec::new();
            if let Some(t) = auth["deviceToken"].as_str() {
                expect.push((auth["role"].as_str().expect("a primary token without a role").to_owned(), t.to_owned()));
            }
            for e in auth["deviceTokens"].as_array().map(Vec::as_slice).unwrap_or_default() {
                let role = e["role"].as_str().expect("an entry without a role");
                expect.push((role.to_owned(), e["deviceToken"].as_str().expect("an entry without a token").to_owned()));
            }
            if !expect.is_empty() {
                assert_eq!(auth["method"], "bootstrap-token", "tokens handed off after another method (GATE-3)");
            }
            let got: Vec<(String, String)> = list
                .iter()
                .map(|d| (d.role.clone(), std::str::from_utf8(d.token.expose()).expect("a token is text").to_owned()))
                .collect();
            assert_eq!(got, expect, "the tokens differ from plain serde_json's: {data:?}");
            for (i, (role, token)) in got.iter().enumerate() {
                assert!(check_role(role).is_ok(), "accepted role {role:?}");
                assert!(check_secret_text(token).is_ok(), "accepted a bad token for {role:?}");
                assert!(!got[..i].iter().any(|(r, _)| r == role), "role {role:?} twice");
            }
            check_no_token(&format!("{list:?}"), Some(tree), "the Debug of the result");
        }
        Err(err) => {
            assert!(
                matches!(err.kind(), ErrorKind::Protocol | ErrorKind::VersionMismatch | ErrorKind::HandoffRefused),
                "refused as {:?}: {err}",
                err.kind()
            );
            if tree.as_ref().is_some_and(|t| t.has_duplicate_key() || t.depth() > MAX_DEPTH) || too_large {
                assert_eq!(err.kind(), ErrorKind::Protocol, "{err}");
            }
            check_no_token(err.message(), tree.as_ref(), "the error message");
            check_no_token(&err.to_string(), tree.as_ref(), "the error");
        }
    }
});
