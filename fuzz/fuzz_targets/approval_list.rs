//! Fuzz target: the approval watcher's list parser,
//! `gw_watch::parse_pending`, on arbitrary bytes (the list command's stdout
//! is untrusted: THREATS WATCH-4, WATCH-8).
//!
//! Properties:
//! - it never panics; input over `MAX_LIST_BYTES` is always refused;
//! - an accepted input is, read independently with serde_json as a value,
//!   either gw's shape — an array of objects with exactly the keys `id`,
//!   `client`, `scopes` (strings, strings, array of strings) and optionally
//!   `device` (a string) — or OpenClaw's — an object whose `pending` array
//!   holds objects with `requestId`, `clientId`, optionally `scopes` and
//!   `deviceId`, and any other keys —; at most `MAX_REQUESTS` requests, in
//!   the same order and with the same values as the parser returned;
//! - every accepted id and device id is 1 to 128 of `[A-Za-z0-9._:-]` and
//!   does not start with `-`, and ids are unique; clients and scopes are 1
//!   to 256 bytes without control characters, at most 64 scopes;
//! - substituted into an approve command, an accepted id is exactly one
//!   whole argument (no splitting, nothing else changed);
//! - the accepted list serialises back (gw's shape) to JSON that parses to
//!   the same list.
//!
//! `GW_FUZZ_DEBUG=1` prints each input and result.
#![no_main]

use std::collections::BTreeSet;

use gw_watch::{CommandLine, MAX_LIST_BYTES, MAX_REQUESTS, parse_pending};
use libfuzzer_sys::fuzz_target;
use serde_json::Value;

fuzz_target!(|data: &[u8]| {
    let got = parse_pending(data);
    if std::env::var_os("GW_FUZZ_DEBUG").is_some() {
        eprintln!("input {:?}\n  -> {got:?}", String::from_utf8_lossy(data));
    }
    let Ok(list) = got else {
        return;
    };
    assert!(data.len() <= MAX_LIST_BYTES);
    assert!(list.len() <= MAX_REQUESTS);

    // Independent reading: the field names of the shape the first byte
    // chose.
    let v: Value = serde_json::from_slice(data).expect("accepted input is JSON");
    let (arr, names, openclaw) = match &v {
        Value::Array(a) => (a, ["id", "client", "scopes", "device"], false),
        Value::Object(o) => {
            let a = o["pending"].as_array().expect("OpenClaw's shape has a pending array");
            (a, ["requestId", "clientId", "scopes", "deviceId"], true)
        }
        other => panic!("accepted input is neither an array nor an object: {other}"),
    };
    let [id_key, client_key, scopes_key, device_key] = names;
    assert_eq!(arr.len(), list.len());
    let mut ids = BTreeSet::new();
    let approve = CommandLine::parse("approve --yes {id} tail").unwrap();
    for (obj, req) in arr.iter().zip(&list) {
        let obj = obj.as_object().expect("each request is an object");
        if !openclaw {
            let keys: BTreeSet<&str> = obj.keys().map(String::as_str).collect();
            let known = BTreeSet::from(["id", "client", "scopes", "device"]);
            assert!(keys.is_subset(&known) && keys.len() >= 3 && keys.contains("scopes"), "{keys:?}");
        }
        assert_eq!(obj[id_key].as_str(), Some(req.id.as_str()));
        assert_eq!(obj[client_key].as_str(), Some(req.client.as_str()));
        let scopes: Vec<&str> = match obj.get(scopes_key) {
            Some(s) => s.as_array().unwrap().iter().map(|s| s.as_str().unwrap()).collect(),
            None => {
                assert!(openclaw, "gw's shape requires scopes");
                Vec::new()
            }
        };
        assert_eq!(scopes, req.scopes);
        match obj.get(device_key) {
            None | Some(Value::Null) => assert_eq!(req.device, None),
            Some(d) => assert_eq!(d.as_str(), req.device.as_deref()),
        }

        // Request and device ids: one rule (each becomes an argv word).
        let argv_safe = |s: &str| {
            assert!((1..=128).contains(&s.len()), "{s:?}");
            assert!(!s.starts_with('-'), "{s:?}");
            assert!(s.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | ':' | '-')), "{s:?}");
        };
        let id = req.id.as_str();
        argv_safe(id);
        assert!(ids.insert(id.to_owned()), "duplicate id accepted");
        if let Some(d) = &req.device {
            argv_safe(d);
        }
        for name in std::iter::once(&req.client).chain(&req.scopes) {
            assert!((1..=256).contains(&name.len()));
            assert!(!name.chars().any(char::is_control));
        }
        assert!(req.scopes.len() <= 64);

        let argv = approve.substitute(id);
        assert_eq!(argv, ["approve", "--yes", id, "tail"]);
    }

    let again = serde_json::to_vec(&list).unwrap();
    assert_eq!(parse_pending(&again).expect("re-serialised list parses"), list);
});
