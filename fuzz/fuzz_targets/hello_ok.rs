//! Fuzz target: the hand-off message parser, `gw_cred::parse_hello_ok`, on
//! arbitrary bytes.
//!
//! Properties, checked against a model: serde_json's own parser driven into
//! a tree that keeps *every* object entry (so duplicate keys stay visible,
//! as in `json_load`), plus plain `serde_json::from_slice::<Value>` on
//! accepted input:
//! - it never panics; a refusal is `InvalidInput` or one of gw-persist's
//!   document kinds;
//! - it accepts exactly the messages the model accepts: at most
//!   `MAX_HELLO_BYTES`, JSON without a duplicate key at any depth, nested at
//!   most 32 deep, an object whose `type` is `"hello-ok"` and whose
//!   `auth.deviceTokens` is a non-empty array of objects, each with a
//!   `role` (1–64 of `a-z 0-9 . _ -`, starting with a letter or digit) and a
//!   `token` (1–4096 printable ASCII characters, no space), the roles unique;
//! - an accepted message gives every `{role, token}` in order, exactly the
//!   JSON strings of the input (the model's and plain serde_json's); every
//!   role passes `check_role`, every token `check_secret_text`, no role
//!   appears twice (THREATS CRED-2: all of them, none invented);
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

use gw_cred::{ErrorKind, MAX_HELLO_BYTES, check_role, check_secret_text, parse_hello_ok};
use json_tree::Tree;
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

/// The nesting limit `parse_hello_ok` gives gw-persist.
const MAX_DEPTH: usize = 32;
/// Characters in no error message text (see the header).
const DISTINCT: &[u8] = b"!#$%&*+<=>?@^|~";

/// What only this target asks of the model tree.
impl Tree {
    /// Every object key, every string under a `role` key and every string
    /// under a `token` key, at any depth.
    fn collect<'a>(&'a self, keys: &mut Vec<&'a str>, roles: &mut Vec<&'a str>, tokens: &mut Vec<&'a str>) {
        match self {
            Tree::Arr(a) => a.iter().for_each(|v| v.collect(keys, roles, tokens)),
            Tree::Obj(o) => {
                for (k, v) in o {
                    keys.push(k);
                    match (k.as_str(), v) {
                        ("role", Tree::Str(s)) => roles.push(s),
                        ("token", Tree::Str(s)) => tokens.push(s),
                        _ => v.collect(keys, roles, tokens),
                    }
                }
            }
            _ => {}
        }
    }
}

/// The rules for a role and a token, written out again.
fn role_ok(r: &str) -> bool {
    (1..=64).contains(&r.len())
        && r.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && r.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-".contains(&b))
}

fn token_ok(t: &str) -> bool {
    (1..=4096).contains(&t.len()) && t.bytes().all(|b| (0x21..=0x7e).contains(&b))
}

/// What the model accepts: the role tokens, in order.
fn model(data: &[u8], tree: Option<&Tree>) -> Option<Vec<(String, String)>> {
    let tree = tree?;
    if data.len() as u64 > MAX_HELLO_BYTES || tree.has_duplicate_key() || tree.depth() > MAX_DEPTH {
        return None;
    }
    if tree.get("type")?.str()? != "hello-ok" {
        return None;
    }
    let Tree::Arr(list) = tree.get("auth")?.get("deviceTokens")? else { return None };
    if list.is_empty() {
        return None;
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for entry in list {
        let role = entry.get("role")?.str()?;
        let token = entry.get("token")?.str()?;
        if !role_ok(role) || !token_ok(token) || out.iter().any(|(r, _)| r == role) {
            return None;
        }
        out.push((role.to_owned(), token.to_owned()));
    }
    Some(out)
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

fuzz_target!(|data: &[u8]| {
    // Over the size limit nothing is read (and the refusal names no value).
    let too_large = data.len() as u64 > MAX_HELLO_BYTES;
    let tree = if too_large { None } else { serde_json::from_slice::<Tree>(data).ok() };
    let expect = model(data, tree.as_ref());
    let result = parse_hello_ok(data);
    if std::env::var_os("GW_FUZZ_DEBUG").is_some() {
        eprintln!("{result:?}\nmodel: {expect:?}");
    }
    match result {
        Ok(list) => {
            let Some(expect) = expect else { panic!("accepted, but the model refuses: {data:?}") };
            let got: Vec<(String, String)> = list
                .iter()
                .map(|d| {
                    let token = std::str::from_utf8(d.token.expose()).expect("a token is text");
                    (d.role.clone(), token.to_owned())
                })
                .collect();
            assert_eq!(got, expect, "the role tokens differ from the model's: {data:?}");
            for (i, (role, token)) in got.iter().enumerate() {
                assert!(check_role(role).is_ok(), "accepted role {role:?}");
                assert!(check_secret_text(token).is_ok(), "accepted a bad token for {role:?}");
                assert!(!got[..i].iter().any(|(r, _)| r == role), "role {role:?} twice");
            }
            // Plain serde_json reads the same strings.
            let plain: Value = serde_json::from_slice(data).expect("plain serde_json refuses what gw accepted");
            let plain: Vec<(String, String)> = plain["auth"]["deviceTokens"]
                .as_array()
                .expect("serde_json sees no deviceTokens array")
                .iter()
                .map(|e| (e["role"].as_str().unwrap().to_owned(), e["token"].as_str().unwrap().to_owned()))
                .collect();
            assert_eq!(got, plain, "the role tokens differ from plain serde_json's: {data:?}");
            check_no_token(&format!("{list:?}"), tree.as_ref(), "the Debug of the result");
        }
        Err(err) => {
            assert!(expect.is_none(), "refused, but the model accepts ({err}): {data:?}");
            assert!(
                matches!(err.kind(), ErrorKind::InvalidInput | ErrorKind::Doc(_)),
                "refused as {:?}: {err}",
                err.kind()
            );
            if too_large {
                assert_eq!(err.kind(), ErrorKind::Doc(gw_persist::ErrorKind::TooLarge), "{err}");
            }
            check_no_token(err.message(), tree.as_ref(), "the error message");
            check_no_token(&err.to_string(), tree.as_ref(), "the error");
        }
    }
});
