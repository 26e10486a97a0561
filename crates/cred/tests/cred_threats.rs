//! Security-regression tests for the credential threats of
//! `audits/THREATS.md`, named by threat id: CRED-1 (precedence), CRED-2 (all
//! role tokens), CRED-3 (durable before destructive, with failures injected
//! at every step of a hand-off through a wrapping `Storage`), CRED-4
//! (validate before replace), CRED-5 (loopback-equivalent URLs), CRED-6
//! (stale generations: in-process, another store instance, a real child
//! process), CRED-7 (mirror keeps local), CRED-8 (profile isolation, the gw
//! home from the environment), and that no error message or `Debug` output
//! ever shows a stored secret.
//!
//! CRED-9 (the keyring backend's explicit fallback) has no backend to test
//! yet: gw-cred only has the file store.
//!
//! Environment variables are process-wide and the tests of a binary run in
//! parallel threads, so `home_path` is checked in helper children started
//! with a cleared environment (`helper_child`); the cross-process generation
//! tests use helper children too.

use gw_test_support as common;
mod cred_support;

use std::path::Path;

use common::{NOBODY, Snapshot, assert_same_tree, chown, snapshot};
use cred_support::*;
use gw_anchor::{Policy, Root};
use gw_cred::{CredStore, DeviceToken, ErrorKind, GatewayKey, GatewayRecord, Home, Profile, STORE_FILE, Slot, mirror};
use gw_persist::Document;
use serde_json::{Value, json};

const URL: &str = "ws://127.0.0.1:18789";
const BOOT: &str = "boot-SECRET-b00t";
const SHARED: &str = "shared-SECRET-5h4r";
const OP: &str = "operator-SECRET-0p";
const NODE: &str = "node-SECRET-n0d3";
const ALL: &[&str] = &[BOOT, SHARED, OP, NODE];

// ---- helper children --------------------------------------------------------

/// Not a test: the entry point of helper children (see `cred_support`).
#[test]
fn helper_child() {
    helper_main(dispatch_helper);
}

fn dispatch_helper(mode: &str, args: &[String], talk: &mut Talk) {
    match mode {
        "home_path" => match gw_cred::home_path() {
            Ok(p) => talk.say(&format!("ok {}", p.display())),
            Err(e) => talk.say(&format!("err {}", e.kind().as_str())),
        },
        "generation" => child_generation(args, talk),
        other => panic!("unknown helper mode {other}"),
    }
}

/// Another process using the same store: begins a connection, says its
/// generation, then on `write` writes the shared token in that generation
/// and says `ok` or `err KIND`.
fn child_generation(args: &[String], talk: &mut Talk) {
    let root = Root::open(&args[0], &Policy::new()).expect("open the store directory");
    let store = CredStore::new(Document::new(&root, STORE_FILE));
    let gateway = key(&args[1]);
    let generation = store.begin_connection(&gateway).expect("begin a connection");
    talk.say(&format!("began {}", generation.value()));
    let order = talk.hear();
    assert_eq!(order, "write");
    match store.set_in_generation(&gateway, &generation, &Slot::Shared, &s(&args[2])) {
        Ok(()) => talk.say("ok"),
        Err(e) => talk.say(&format!("err {}", e.kind().as_str())),
    }
}

fn tok(role: &str, token: &str) -> DeviceToken {
    DeviceToken::new(role, s(token))
}

fn get(store: &CredStore<impl gw_cred::Storage>, gateway: &GatewayKey, slot: &Slot) -> Option<String> {
    store.get(gateway, slot).unwrap().map(|x| text(&x))
}

fn resolved(store: &CredStore<impl gw_cred::Storage>, gateway: &GatewayKey, role: &str) -> Option<(Slot, String)> {
    store.resolve(gateway, role).unwrap().map(|r| (r.slot, text(&r.secret)))
}

fn expect_err<T: std::fmt::Debug>(res: gw_cred::Result<T>, kind: ErrorKind, ctx: &str) -> gw_cred::Error {
    match res {
        Ok(v) => panic!("{ctx}: expected {kind:?}, got Ok({v:?})"),
        Err(e) => {
            assert_eq!(e.kind(), kind, "{ctx}: expected {kind:?}, got {:?}: {e}", e.kind());
            assert_error_clean(&e, ALL, ctx);
            e
        }
    }
}

// ---- CRED-1 ----------------------------------------------------------------

#[test]
fn cred_1_device_for_the_role_then_shared_then_bootstrap() {
    let dir = Dir::new();
    let store = dir.store();
    // Every combination of: a device token for the role, one for another
    // role, the shared token, the bootstrap token — each on its own gateway.
    for combo in 0u16..16 {
        let (dev_role, dev_other, shared, boot) = (combo & 1 != 0, combo & 2 != 0, combo & 4 != 0, combo & 8 != 0);
        let gateway = key(&format!("ws://localhost:{}", 20000 + combo));
        if dev_role {
            store.set(&gateway, &Slot::Device("operator".into()), &s(OP)).unwrap();
        }
        if dev_other {
            store.set(&gateway, &Slot::Device("node".into()), &s(NODE)).unwrap();
        }
        if shared {
            store.set(&gateway, &Slot::Shared, &s(SHARED)).unwrap();
        }
        if boot {
            store.set(&gateway, &Slot::Bootstrap, &s(BOOT)).unwrap();
        }
        let want = if dev_role {
            Some((Slot::Device("operator".into()), OP.to_owned()))
        } else if shared {
            Some((Slot::Shared, SHARED.to_owned()))
        } else if boot {
            Some((Slot::Bootstrap, BOOT.to_owned()))
        } else {
            None
        };
        let ctx = format!("device(role)={dev_role} device(other)={dev_other} shared={shared} bootstrap={boot}");
        // Through this store, a fresh one (another process), and a
        // loopback-equivalent spelling of the URL.
        assert_eq!(resolved(&store, &gateway, "operator"), want, "{ctx}");
        assert_eq!(resolved(&dir.store(), &gateway, "operator"), want, "{ctx} (fresh store)");
        let alias = key(&format!("ws://[::1]:{}", 20000 + combo));
        assert_eq!(resolved(&store, &alias, "operator"), want, "{ctx} (via [::1])");
        // The slot reported is the slot the secret came from.
        if let Some((slot, secret)) = &want {
            assert_eq!(get(&store, &gateway, slot).as_ref(), Some(secret), "{ctx}");
        }
    }
}

#[test]
fn cred_1_precedence_follows_removals() {
    let dir = Dir::new();
    let store = dir.store();
    let gateway = key(URL);
    store.set(&gateway, &Slot::Bootstrap, &s(BOOT)).unwrap();
    store.set(&gateway, &Slot::Shared, &s(SHARED)).unwrap();
    store.set(&gateway, &Slot::Device("operator".into()), &s(OP)).unwrap();
    assert_eq!(resolved(&store, &gateway, "operator"), Some((Slot::Device("operator".into()), OP.into())));
    // A device token for another role does not count.
    assert_eq!(resolved(&store, &gateway, "node"), Some((Slot::Shared, SHARED.into())));
    assert!(store.remove(&gateway, Some(&Slot::Device("operator".into()))).unwrap());
    assert_eq!(resolved(&store, &gateway, "operator"), Some((Slot::Shared, SHARED.into())));
    assert!(store.remove(&gateway, Some(&Slot::Shared)).unwrap());
    assert_eq!(resolved(&store, &gateway, "operator"), Some((Slot::Bootstrap, BOOT.into())));
    assert!(store.remove(&gateway, Some(&Slot::Bootstrap)).unwrap());
    assert_eq!(resolved(&store, &gateway, "operator"), None);
    assert!(!store.remove(&gateway, Some(&Slot::Bootstrap)).unwrap());
}

// ---- CRED-2 ----------------------------------------------------------------

/// A protocol-4 hello-ok of a bootstrap connect handing off `extra` (its
/// `auth.deviceTokens`) and no primary token.
fn hello_ok(extra: Value) -> Value {
    json!({"type": "hello-ok", "protocol": 4,
           "auth": {"method": "bootstrap-token", "role": "node", "scopes": [], "deviceTokens": extra}})
}

/// The device tokens of a hello-ok, as gw-gateway hands them off after a
/// bootstrap connect on loopback.
fn parse_hello_ok(hello: &Value) -> Result<Vec<DeviceToken>, gw_gateway::Error> {
    gw_gateway::parse_handoff_input(hello.to_string().as_bytes(), URL)?.handoff(
        "bootstrapToken",
        std::net::Ipv4Addr::LOCALHOST.into(),
        URL,
    )
}

#[test]
fn cred_2_hello_ok_with_several_roles_persists_all_of_them() {
    let dir = Dir::new();
    let store = dir.store();
    let gateway = key("ws://localhost:18789");
    store.set(&gateway, &Slot::Bootstrap, &s(BOOT)).unwrap();
    let hello = json!({
        "type": "hello-ok",
        "protocol": 4,
        "server": {"version": "1.2.3"},
        "auth": {"method": "bootstrap-token", "role": "operator", "scopes": [], "deviceToken": OP, "deviceTokens": [
            {"role": "node", "deviceToken": NODE},
            {"role": "viewer", "deviceToken": "viewer-SECRET-v13w", "scopes": ["read"]}
        ]}
    });
    let tokens = parse_hello_ok(&hello).unwrap();
    assert_eq!(tokens.len(), 3);
    let report = store.handoff(&gateway, &tokens).unwrap();
    assert_eq!(report.roles, ["operator", "node", "viewer"]);
    assert!(report.bootstrap_cleared);
    let fresh = dir.store();
    for (role, token) in [("operator", OP), ("node", NODE), ("viewer", "viewer-SECRET-v13w")] {
        assert_eq!(resolved(&fresh, &gateway, role), Some((Slot::Device(role.into()), token.into())), "{role}");
    }
    let list = fresh.list().unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].roles, ["node", "operator", "viewer"]);
    assert!(!list[0].bootstrap);
}

#[test]
fn cred_2_a_hand_off_keeps_roles_it_does_not_mention() {
    let dir = Dir::new();
    let store = dir.store();
    let gateway = key(URL);
    store.set(&gateway, &Slot::Device("admin".into()), &s("admin-SECRET")).unwrap();
    store.set(&gateway, &Slot::Bootstrap, &s(BOOT)).unwrap();
    store.handoff(&gateway, &[tok("operator", OP), tok("node", NODE)]).unwrap();
    let list = dir.store().list().unwrap();
    assert_eq!(list[0].roles, ["admin", "node", "operator"]);
}

#[test]
fn cred_2_a_bad_hello_ok_hands_off_nothing() {
    for (bad, ctx) in [
        (
            hello_ok(json!([{"role": "operator", "deviceToken": OP}, {"role": "operator", "deviceToken": NODE}])),
            "duplicate role",
        ),
        (hello_ok(json!([{"role": "operator", "deviceToken": OP}, {"role": "node"}])), "a role without token"),
        (
            hello_ok(json!([{"role": "operator", "deviceToken": OP}, {"role": "Node!", "deviceToken": NODE}])),
            "a bad role name",
        ),
        (hello_ok(json!([])), "no tokens"),
        (
            json!({"type": "hello-error", "protocol": 4, "auth": {"method": "bootstrap-token", "role": "node",
                   "deviceTokens": [{"role": "operator", "deviceToken": OP}]}}),
            "not a hello-ok",
        ),
    ] {
        let err = match parse_hello_ok(&bad) {
            Ok(tokens) if ctx == "no tokens" => {
                assert!(tokens.is_empty(), "{ctx}");
                continue;
            }
            Ok(_) => panic!("{ctx}: accepted"),
            Err(e) => e,
        };
        assert_eq!(err.kind(), gw_gateway::ErrorKind::Protocol, "{ctx}: {err}");
        let all = format!("{err}\n{err:?}\n{}\n{}", err.message(), err.fix().unwrap_or_default());
        assert_no_secret(&all, ALL, ctx);
    }
}

// ---- CRED-3 ----------------------------------------------------------------

fn set_token(mut doc: Option<Value>, role: &str, value: Value) -> Option<Value> {
    let d = doc.as_mut().expect("a stored document");
    d["gateways"][URL]["device"][role] = value;
    doc
}

fn drop_node(mut doc: Option<Value>) -> Option<Value> {
    if let Some(dev) = doc.as_mut().and_then(|d| d["gateways"][URL]["device"].as_object_mut()) {
        dev.remove("node");
    }
    doc
}

/// A hand-off with `fault` injected fails, and a fresh store still has the
/// bootstrap token; returns the error.
fn handoff_with(fault: Fault, ctx: &str) -> (gw_cred::Error, Dir) {
    let dir = Dir::new();
    let gateway = key(URL);
    let (store, faults) = dir.faulty();
    store.set(&gateway, &Slot::Bootstrap, &s(BOOT)).unwrap();
    store.set(&gateway, &Slot::Shared, &s(SHARED)).unwrap();
    faults.arm(fault);
    let err = match store.handoff(&gateway, &[tok("operator", OP), tok("node", NODE)]) {
        Ok(r) => panic!("{ctx}: the hand-off succeeded despite the fault: {r:?}"),
        Err(e) => e,
    };
    assert_error_clean(&err, ALL, ctx);
    let fresh = dir.store();
    assert_eq!(get(&fresh, &gateway, &Slot::Bootstrap).as_deref(), Some(BOOT), "{ctx}: the bootstrap token was lost");
    assert_eq!(get(&fresh, &gateway, &Slot::Shared).as_deref(), Some(SHARED), "{ctx}");
    (err, dir)
}

#[test]
fn cred_3_failed_first_update_keeps_bootstrap() {
    let (err, dir) = handoff_with(Fault::FailUpdate(1), "first update fails");
    assert_eq!(err.kind(), ErrorKind::Fs(gw_anchor::ErrorKind::Io));
    assert!(dir.store().list().unwrap()[0].roles.is_empty(), "nothing was written");
}

#[test]
fn cred_3_first_update_failing_after_its_write_keeps_bootstrap() {
    let (err, _) = handoff_with(Fault::FailUpdateAfterWrite(1), "first update fails after writing");
    assert_eq!(err.kind(), ErrorKind::Fs(gw_anchor::ErrorKind::Io));
}

#[test]
fn cred_3_lying_first_update_is_caught_by_the_read_back() {
    let (err, _) = handoff_with(Fault::LieUpdate(1), "first update writes nothing");
    assert_eq!(err.kind(), ErrorKind::ReadBackMismatch);
}

#[test]
fn cred_3_failed_read_back_keeps_bootstrap() {
    let (err, dir) = handoff_with(Fault::FailLoad(1), "read-back load fails");
    assert_eq!(err.kind(), ErrorKind::Fs(gw_anchor::ErrorKind::Io));
    // The role tokens were written (durable), only the clear was skipped.
    assert_eq!(dir.store().list().unwrap()[0].roles, ["node", "operator"]);
}

#[test]
fn cred_3_corrupted_read_back_keeps_bootstrap() {
    type Corrupt = fn(Option<Value>) -> Option<Value>;
    let cases: [(Corrupt, &str); 4] = [
        (|d| set_token(d, "operator", json!("operator-SECRET-0q")), "a token changed"),
        (drop_node, "a role missing"),
        (|_| None, "the store missing"),
        (|d| set_token(d, "node", json!(NODE.to_uppercase())), "a token's case changed"),
    ];
    for (corrupt, ctx) in cases {
        let (err, _) = handoff_with(Fault::CorruptLoad(1, corrupt), ctx);
        assert_eq!(err.kind(), ErrorKind::ReadBackMismatch, "{ctx}: {err}");
    }
}

#[test]
fn cred_3_undecodable_read_back_keeps_bootstrap_and_shows_no_secret() {
    // The read-back holds a token where a map belongs: a decode error whose
    // message must not quote the stored value.
    let (err, _) = handoff_with(
        Fault::CorruptLoad(1, |mut d| {
            d.as_mut().unwrap()["gateways"][URL]["device"] = json!(OP);
            d
        }),
        "device is a string",
    );
    assert_eq!(err.kind(), ErrorKind::InvalidInput, "{err}");
}

#[test]
fn cred_3_failed_final_clear_keeps_bootstrap() {
    let (err, dir) = handoff_with(Fault::FailUpdate(2), "the clearing update fails");
    assert_eq!(err.kind(), ErrorKind::Fs(gw_anchor::ErrorKind::Io));
    assert_eq!(dir.store().list().unwrap()[0].roles, ["node", "operator"]);
}

#[test]
fn cred_3_tokens_lost_before_the_clear_keep_bootstrap() {
    // Between the read-back and the clearing update another writer removes
    // the role tokens: the clear, decided under the lock, must not leave the
    // gateway without the bootstrap token it still needs.
    let (err, _) = handoff_with(
        Fault::Meddle(2, |mut d| {
            d["gateways"][URL].as_object_mut().unwrap().remove("device");
            d
        }),
        "role tokens removed before the clear",
    );
    assert_eq!(err.kind(), ErrorKind::ReadBackMismatch, "{err}");
}

#[test]
fn cred_3_bootstrap_is_cleared_only_after_a_read_back() {
    let dir = Dir::new();
    let gateway = key(URL);
    let (store, faults) = dir.faulty();
    store.set(&gateway, &Slot::Bootstrap, &s(BOOT)).unwrap();
    faults.arm(Fault::None);
    let report = store.handoff(&gateway, &[tok("operator", OP), tok("node", NODE)]).unwrap();
    assert!(report.bootstrap_cleared);
    let trace = faults.trace();
    let has = |st: &Option<Value>, what: &str| {
        st.as_ref().and_then(|d| record(d, &gateway)).and_then(|r| r.pointer(what)).is_some()
    };
    let tokens_stored = |st: &Option<Value>| has(st, "/device/operator") && has(st, "/device/node");
    let cleared_at = trace.iter().position(|st| !has(&st.stored, "/bootstrap")).expect("the bootstrap was cleared");
    let read_back_at = trace
        .iter()
        .position(|st| st.op == "load" && st.ok && tokens_stored(&st.stored))
        .expect("a read-back of the stored tokens");
    assert!(read_back_at < cleared_at, "the bootstrap was cleared before the read-back: {trace:#?}");
    assert!(trace[..read_back_at].iter().any(|st| st.op == "update" && st.ok), "{trace:#?}");
    for st in &trace[cleared_at..] {
        assert!(tokens_stored(&st.stored), "bootstrap gone without the role tokens: {trace:#?}");
    }
    assert_eq!(get(&dir.store(), &gateway, &Slot::Bootstrap), None);
}

#[test]
fn cred_3_hand_off_with_a_bad_token_writes_nothing() {
    let dir = Dir::new();
    let gateway = key(URL);
    let store = dir.store();
    store.set(&gateway, &Slot::Bootstrap, &s(BOOT)).unwrap();
    let before = snapshot(dir.path());
    for (tokens, ctx) in [
        (vec![tok("operator", OP), tok("node", "has space")], "a token with a space"),
        (vec![tok("operator", OP), tok("Bad Role", NODE)], "a bad role"),
        (vec![], "no tokens"),
    ] {
        expect_err(store.handoff(&gateway, &tokens), ErrorKind::InvalidInput, ctx);
        assert_same_tree(&before, &snapshot(dir.path()), ctx);
    }
}

// ---- CRED-4 ----------------------------------------------------------------

fn populated() -> (Dir, GatewayKey) {
    let dir = Dir::new();
    let gateway = key(URL);
    let store = dir.store();
    store.set(&gateway, &Slot::Device("operator".into()), &s(OP)).unwrap();
    store.set(&gateway, &Slot::Device("node".into()), &s(NODE)).unwrap();
    store.set(&gateway, &Slot::Shared, &s(SHARED)).unwrap();
    store.set(&gateway, &Slot::Bootstrap, &s(BOOT)).unwrap();
    (dir, gateway)
}

#[test]
fn cred_4_failed_validation_changes_nothing() {
    let (dir, gateway) = populated();
    let before = snapshot(dir.path());
    let bytes = dir.bytes();
    let (store, faults) = dir.faulty();
    faults.arm(Fault::None);
    let mut seen = None;
    let err = expect_err(
        store.replace_shared(&gateway, &s("new-SECRET-shared"), |candidate| {
            seen = Some(text(candidate));
            Err("the gateway refused it".into())
        }),
        ErrorKind::ValidationFailed,
        "failing validator",
    );
    assert_no_secret(&format!("{err} {err:?}"), &["new-SECRET-shared"], "validation error");
    assert_eq!(seen.as_deref(), Some("new-SECRET-shared"), "the validator was given the new token");
    assert_eq!(faults.updates(), 0, "storage was written");
    assert_eq!(dir.bytes(), bytes, "the store file changed");
    assert_same_tree(&before, &snapshot(dir.path()), "failing validator");
    let fresh = dir.store();
    assert_eq!(resolved(&fresh, &gateway, "operator"), Some((Slot::Device("operator".into()), OP.into())));
    assert_eq!(get(&fresh, &gateway, &Slot::Shared).as_deref(), Some(SHARED));
}

#[test]
fn cred_4_invalid_replacement_is_refused_before_validation() {
    let (dir, gateway) = populated();
    let before = snapshot(dir.path());
    let store = dir.store();
    for bad in ["", "two words", "tab\there", "\u{e9}t\u{e9}"] {
        let mut called = false;
        expect_err(
            store.replace_shared(&gateway, &s(bad), |_| {
                called = true;
                Ok(())
            }),
            ErrorKind::InvalidInput,
            bad,
        );
        assert!(!called, "{bad:?}: validated a token that cannot be stored");
        assert_same_tree(&before, &snapshot(dir.path()), bad);
    }
}

#[test]
fn cred_4_passing_validation_sets_shared_and_clears_device_tokens_in_one_update() {
    let (dir, gateway) = populated();
    let (store, faults) = dir.faulty();
    faults.arm(Fault::None);
    let cleared = store
        .replace_shared(&gateway, &s("new-SECRET-shared"), |_| {
            // Validation happens while the device tokens are still stored.
            let now = dir.store();
            assert_eq!(now.list().unwrap()[0].roles, ["node", "operator"], "device tokens cleared before validation");
            assert_eq!(get(&now, &gateway, &Slot::Shared).as_deref(), Some(SHARED));
            Ok(())
        })
        .unwrap();
    assert_eq!(cleared, ["node", "operator"]);
    let trace = faults.trace();
    let updates: Vec<_> = trace.iter().filter(|st| st.op == "update").collect();
    assert_eq!(updates.len(), 1, "one atomic update: {trace:#?}");
    let rec = record(updates[0].stored.as_ref().unwrap(), &gateway).unwrap();
    assert_eq!(rec["shared"], json!("new-SECRET-shared"));
    assert!(rec.get("device").is_none(), "device tokens left: {rec}");
    let fresh = dir.store();
    assert_eq!(resolved(&fresh, &gateway, "operator"), Some((Slot::Shared, "new-SECRET-shared".into())));
    assert_eq!(get(&fresh, &gateway, &Slot::Bootstrap).as_deref(), Some(BOOT));
}

// ---- CRED-5 ----------------------------------------------------------------

const LOOPBACK_ALIASES: &[&str] = &[
    "ws://localhost:18789",
    "ws://127.0.0.1:18789",
    "ws://127.0.0.1:18789/",
    "ws://127.0.0.2:18789",
    "ws://127.255.255.254:18789",
    "ws://127.1:18789",
    "ws://2130706433:18789",
    "ws://0x7f.0.0.1:18789",
    "ws://[::1]:18789",
    "ws://[0:0:0:0:0:0:0:1]:18789",
    "ws://[::ffff:127.0.0.1]:18789",
    "ws://[::ffff:127.9.8.7]:18789",
    "ws://[::ffff:7f00:1]:18789",
    "ws://localhost.:18789",
    "ws://LOCALHOST:18789",
    "WS://LocalHost.:18789",
    "ws://127.0.0.1.:18789",
];

#[test]
fn cred_5_loopback_equivalents_are_one_record() {
    let dir = Dir::new();
    let store = dir.store();
    for (i, alias) in LOOPBACK_ALIASES.iter().enumerate() {
        let k = key(alias);
        assert!(k.is_loopback(), "{alias}");
        assert_eq!(k.as_str(), URL, "{alias}");
        store.set(&k, &Slot::Device(format!("r{i}")), &s(&format!("tok-{i}"))).unwrap();
    }
    let list = dir.store().list().unwrap();
    assert_eq!(list.len(), 1, "{list:?}");
    assert_eq!(list[0].gateway, URL);
    assert_eq!(list[0].roles.len(), LOOPBACK_ALIASES.len());
    for (i, alias) in LOOPBACK_ALIASES.iter().enumerate() {
        for (j, other) in LOOPBACK_ALIASES.iter().enumerate() {
            assert_eq!(
                resolved(&store, &key(other), &format!("r{i}")),
                Some((Slot::Device(format!("r{i}")), format!("tok-{i}"))),
                "set via {alias}, read via {other} ({j})"
            );
        }
    }
}

const LOOK_ALIKES: &[&str] = &[
    "ws://localhost.example:18789",
    "ws://localhost.localdomain:18789",
    "ws://127.0.0.1.nip.io:18789",
    "ws://localhost-1:18789",
    "ws://l0calhost:18789",
    "ws://foo.localhost:18789",
    "ws://128.0.0.1:18789",
    "ws://126.255.255.255:18789",
    "ws://10.0.0.1:18789",
    "ws://0.0.0.0:18789",
    "ws://[::]:18789",
    "ws://[::2]:18789",
    "ws://[::1:0]:18789",
    "ws://[fe80::1]:18789",
    "ws://[::127.0.0.1]:18789",
    "ws://[::ffff:128.0.0.1]:18789",
    "ws://[::ffff:10.0.0.1]:18789",
    "ws://[64:ff9b::127.0.0.1]:18789",
    "ws://[2002:7f00:1::]:18789",
];

#[test]
fn cred_5_non_loopback_look_alikes_are_separate_records() {
    let dir = Dir::new();
    let store = dir.store();
    let home = key(URL);
    store.set(&home, &Slot::Shared, &s(SHARED)).unwrap();
    for (i, alike) in LOOK_ALIKES.iter().enumerate() {
        let k = key(alike);
        assert!(!k.is_loopback(), "{alike} was taken for loopback");
        assert_ne!(k.as_str(), URL, "{alike}");
        assert_eq!(resolved(&store, &k, "operator"), None, "{alike} sees the loopback gateway's token");
        store.set(&k, &Slot::Shared, &s(&format!("alike-{i}"))).unwrap();
        assert_eq!(resolved(&store, &home, "operator"), Some((Slot::Shared, SHARED.into())), "{alike}");
    }
    // The same loopback host on another port or scheme is another gateway.
    for other in ["ws://127.0.0.1:18790", "wss://127.0.0.1:18789", "http://localhost:18789"] {
        let k = key(other);
        assert!(k.is_loopback());
        assert_eq!(resolved(&store, &k, "operator"), None, "{other}");
        store.set(&k, &Slot::Shared, &s("other")).unwrap();
    }
    assert_eq!(dir.store().list().unwrap().len(), 1 + LOOK_ALIKES.len() + 3);
}

// ---- CRED-6 ----------------------------------------------------------------

fn expect_stale(
    store: &CredStore<impl gw_cred::Storage>,
    dir: &Dir,
    gateway: &GatewayKey,
    generation: &gw_cred::Generation,
    ctx: &str,
) {
    let before = snapshot(dir.path());
    for slot in [Slot::Shared, Slot::Bootstrap, Slot::Device("operator".into())] {
        expect_err(
            store.set_in_generation(gateway, generation, &slot, &s("stale-SECRET")),
            ErrorKind::StaleGeneration,
            ctx,
        );
    }
    assert_same_tree(&before, &snapshot(dir.path()), ctx);
}

#[test]
fn cred_6_stale_in_process_generation_writes_nothing() {
    let dir = Dir::new();
    let store = dir.store();
    let gateway = key(URL);
    store.set(&gateway, &Slot::Shared, &s(SHARED)).unwrap();
    let g1 = store.begin_connection(&gateway).unwrap();
    let g2 = store.begin_connection(&gateway).unwrap();
    assert!(g2.value() > g1.value());
    assert_eq!(g1.gateway(), URL);
    expect_stale(&store, &dir, &gateway, &g1, "in-process stale generation");
    store.set_in_generation(&gateway, &g2, &Slot::Shared, &s("fresh")).unwrap();
    assert_eq!(get(&dir.store(), &gateway, &Slot::Shared).as_deref(), Some("fresh"));
    // A loopback-equivalent spelling is the same gateway and the same generation.
    let g3 = store.begin_connection(&key("ws://[::1]:18789")).unwrap();
    expect_stale(&store, &dir, &gateway, &g2, "stale after a begin via [::1]");
    store.set_in_generation(&gateway, &g3, &Slot::Shared, &s("fresher")).unwrap();
}

#[test]
fn cred_6_stale_generation_after_another_store_instance_began() {
    let dir = Dir::new();
    let gateway = key(URL);
    let mine = dir.store();
    let theirs = dir.store();
    let g1 = mine.begin_connection(&gateway).unwrap();
    let g2 = theirs.begin_connection(&gateway).unwrap();
    assert!(g2.value() > g1.value());
    expect_stale(&mine, &dir, &gateway, &g1, "stale after another instance began");
    theirs.set_in_generation(&gateway, &g2, &Slot::Shared, &s("theirs")).unwrap();
    expect_stale(&mine, &dir, &gateway, &g1, "stale after another instance wrote");
}

#[test]
fn cred_6_stale_generation_after_another_process_began() {
    let dir = Dir::new();
    let gateway = key(URL);
    let store = dir.store();
    let g1 = store.begin_connection(&gateway).unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let mut child = spawn_helper("generation", &[dir_arg, URL, "child-fresh"]);
    let began = child.hear();
    assert_eq!(began, format!("began {}", g1.value() + 1));
    child.say("write");
    assert_eq!(child.hear(), "ok");
    child.finish();
    expect_stale(&store, &dir, &gateway, &g1, "stale after a child process began");
    assert_eq!(get(&dir.store(), &gateway, &Slot::Shared).as_deref(), Some("child-fresh"));
}

#[test]
fn cred_6_stale_child_process_writes_nothing() {
    let dir = Dir::new();
    let gateway = key(URL);
    let store = dir.store();
    store.set(&gateway, &Slot::Shared, &s(SHARED)).unwrap();
    let dir_arg = dir.path().to_str().unwrap();
    let mut child = spawn_helper("generation", &[dir_arg, URL, "child-stale"]);
    assert_eq!(child.hear(), "began 1");
    let g2 = store.begin_connection(&gateway).unwrap();
    assert_eq!(g2.value(), 2);
    let before = snapshot(dir.path());
    child.say("write");
    assert_eq!(child.hear(), "err stale_generation");
    child.finish();
    assert_same_tree(&before, &snapshot(dir.path()), "a stale child process");
    store.set_in_generation(&gateway, &g2, &Slot::Shared, &s("parent-fresh")).unwrap();
}

#[test]
fn cred_6_removing_a_record_does_not_revive_old_generations() {
    // Removing a gateway's record must not restart its generation count:
    // the next connection would get a number an old, stale connection still
    // holds, and that connection could write again.
    let dir = Dir::new();
    let gateway = key(URL);
    let store = dir.store();
    store.set(&gateway, &Slot::Bootstrap, &s(BOOT)).unwrap();
    let old = store.begin_connection(&gateway).unwrap();
    let other = dir.store();
    assert!(other.remove(&gateway, None).unwrap());
    let new = other.begin_connection(&gateway).unwrap();
    assert!(new.value() > old.value(), "generation {} handed out again", new.value());
    expect_stale(&store, &dir, &gateway, &old, "stale after rm and a new connection (other instance)");

    // The same within one instance.
    let old = store.begin_connection(&gateway).unwrap();
    assert!(store.remove(&gateway, None).is_ok());
    let new = store.begin_connection(&gateway).unwrap();
    assert_ne!(old, new);
    expect_stale(&store, &dir, &gateway, &old, "stale after rm and a new connection (same instance)");
}

#[test]
fn cred_6_generation_of_another_gateway_is_refused() {
    let dir = Dir::new();
    let store = dir.store();
    let (a, b) = (key("ws://127.0.0.1:1111"), key("ws://127.0.0.1:2222"));
    let ga = store.begin_connection(&a).unwrap();
    let gb = store.begin_connection(&b).unwrap();
    assert_eq!(ga.value(), gb.value(), "both gateways are at their first generation");
    let before = snapshot(dir.path());
    let err = store.set_in_generation(&b, &ga, &Slot::Shared, &s("cross-SECRET")).unwrap_err();
    assert_error_clean(&err, &["cross-SECRET"], "cross-gateway generation");
    assert_same_tree(&before, &snapshot(dir.path()), "a generation of another gateway");
    store.set_in_generation(&b, &gb, &Slot::Shared, &s("b")).unwrap();
}

// ---- CRED-7 / CRED-8 -------------------------------------------------------

struct HomeDir {
    dir: Dir,
    home: Home,
}

impl HomeDir {
    fn new(profiles: &[(&str, u16)]) -> Self {
        let dir = Dir::new();
        let home = Home::open_or_create(&dir.path().join("config/gw"), &Policy::new()).unwrap();
        for (name, port) in profiles {
            home.init_profile(name, *port).unwrap();
        }
        Self { dir, home }
    }
    fn profile(&self, name: &str) -> Profile {
        self.home.profile(name).unwrap()
    }
    fn path(&self, name: &str) -> std::path::PathBuf {
        self.dir.path().join("config/gw/profiles").join(name)
    }
    /// Everything under the home except profile `except`.
    fn snapshot_except(&self, except: &str) -> Snapshot {
        let skip = Path::new("profiles").join(except);
        snapshot(&self.dir.path().join("config/gw")).into_iter().filter(|(p, _)| !p.starts_with(&skip)).collect()
    }
}

#[test]
fn cred_7_mirror_keeps_the_secondary_and_adds_the_primary() {
    let h = HomeDir::new(&[("main", 18789), ("rescue", 18790), ("bystander", 18791)]);
    let (main, rescue) = (h.profile("main"), h.profile("rescue"));
    let (x, y, z) = (key("ws://127.0.0.1:18789"), key("wss://gw.example:443"), key("ws://127.0.0.1:9999"));
    let p = main.store();
    p.set(&x, &Slot::Device("operator".into()), &s("P-op")).unwrap();
    p.set(&x, &Slot::Shared, &s("P-shared")).unwrap();
    p.set(&x, &Slot::Bootstrap, &s("P-boot")).unwrap();
    p.set(&y, &Slot::Bootstrap, &s("P-y-boot")).unwrap();
    let r = rescue.store();
    r.set(&x, &Slot::Shared, &s("S-shared")).unwrap();
    r.set(&x, &Slot::Device("node".into()), &s("S-node")).unwrap();
    r.set(&z, &Slot::Device("operator".into()), &s("S-z-op")).unwrap();
    let primary_before = snapshot(&h.path("main"));
    let bystander_before = snapshot(&h.path("bystander"));

    let report = mirror(&main, &rescue).unwrap();
    assert_eq!(report.added, [y.as_str()]);
    assert_eq!(report.merged, [x.as_str()]);
    assert_same_tree(&primary_before, &snapshot(&h.path("main")), "the primary");
    assert_same_tree(&bystander_before, &snapshot(&h.path("bystander")), "another profile");

    let rescue = h.profile("rescue");
    let r = rescue.store();
    // The secondary's own credentials are kept...
    assert_eq!(get(&r, &x, &Slot::Shared).as_deref(), Some("S-shared"));
    assert_eq!(get(&r, &x, &Slot::Device("node".into())).as_deref(), Some("S-node"));
    assert_eq!(get(&r, &z, &Slot::Device("operator".into())).as_deref(), Some("S-z-op"));
    // ...and the primary's are added.
    assert_eq!(get(&r, &x, &Slot::Device("operator".into())).as_deref(), Some("P-op"));
    assert_eq!(get(&r, &x, &Slot::Bootstrap).as_deref(), Some("P-boot"));
    assert_eq!(get(&r, &y, &Slot::Bootstrap).as_deref(), Some("P-y-boot"));
    assert_eq!(r.list().unwrap().len(), 3);
    // The primary still reads as before.
    assert_eq!(get(&main.store(), &x, &Slot::Shared).as_deref(), Some("P-shared"));

    // Mirroring again changes nothing more; into itself is refused.
    let again = mirror(&main, &rescue).unwrap();
    assert!(again.added.is_empty());
    assert!(mirror(&main, &h.profile("main")).is_err());
    assert_same_tree(&primary_before, &snapshot(&h.path("main")), "the primary, after mirroring into itself");
}

#[test]
fn cred_7_mirror_from_an_empty_primary_changes_nothing() {
    let h = HomeDir::new(&[("main", 18789), ("rescue", 18790)]);
    h.profile("rescue").store().set(&key(URL), &Slot::Shared, &s("S")).unwrap();
    let before = snapshot(&h.path("rescue"));
    let report = mirror(&h.profile("main"), &h.profile("rescue")).unwrap();
    assert!(report.added.is_empty() && report.merged.is_empty());
    assert_same_tree(&before, &snapshot(&h.path("rescue")), "the secondary");
}

#[test]
fn cred_7_mirror_into_a_profile_without_a_store_creates_a_private_one() {
    use std::os::unix::fs::MetadataExt;
    let h = HomeDir::new(&[("main", 18789), ("rescue", 18790)]);
    let gateway = key(URL);
    h.profile("main").store().set(&gateway, &Slot::Device("operator".into()), &s(OP)).unwrap();
    let primary_before = snapshot(&h.path("main"));
    let report = mirror(&h.profile("main"), &h.profile("rescue")).unwrap();
    assert_eq!(report.added, [URL]);
    assert_same_tree(&primary_before, &snapshot(&h.path("main")), "the primary");
    let meta = std::fs::metadata(h.path("rescue").join(STORE_FILE)).unwrap();
    assert_eq!(meta.mode() & 0o777, 0o600);
    let rescue = h.profile("rescue");
    assert_eq!(resolved(&rescue.store(), &gateway, "operator"), Some((Slot::Device("operator".into()), OP.into())));
}

#[test]
fn cred_7_mirror_refuses_a_store_not_in_gw_format() {
    // A primary (or secondary) store gw cannot read must not be merged: the
    // secondary would end up unreadable, or holding records of another format.
    for (which, bad) in [
        ("main", json!({"version": 3, "gateways": {URL: {"shared": "x"}}})),
        ("main", json!({"version": 1, "gateways": {URL: {"shared": "x", "unknown": 1}}})),
        ("main", json!({"version": 1, "gateways": {URL: {"device": "P-SECRET"}}})),
        ("rescue", json!({"version": 3, "gateways": {}})),
    ] {
        let h = HomeDir::new(&[("main", 18789), ("rescue", 18790)]);
        h.profile("main").store().set(&key("ws://127.0.0.1:1"), &Slot::Shared, &s("P")).unwrap();
        h.profile("rescue").store().set(&key("ws://127.0.0.1:2"), &Slot::Shared, &s("S")).unwrap();
        let target = h.profile(which);
        Document::new(target.root(), STORE_FILE).save_value(&bad).unwrap();
        let before = h.snapshot_except("none");
        let err = mirror(&h.profile("main"), &h.profile("rescue")).expect_err(&format!("{which}: {bad}"));
        assert_error_clean(&err, &["P-SECRET"], "mirror of a foreign store");
        assert_same_tree(&before, &h.snapshot_except("none"), &format!("{which}: {bad}"));
    }
}

#[test]
fn cred_8_one_profile_never_touches_another() {
    let h = HomeDir::new(&[("alpha", 18789), ("beta", 18790), ("gamma", 18791)]);
    for name in ["beta", "gamma"] {
        let p = h.profile(name);
        let st = p.store();
        let gw = p.gateway().unwrap();
        st.set(&gw, &Slot::Shared, &s(&format!("{name}-shared"))).unwrap();
        st.set(&gw, &Slot::Bootstrap, &s(&format!("{name}-boot"))).unwrap();
    }
    let before = h.snapshot_except("alpha");
    let alpha = h.profile("alpha");
    let gateway = alpha.gateway().unwrap();
    assert_eq!(gateway.as_str(), "ws://127.0.0.1:18789");
    let st = alpha.store();
    st.set(&gateway, &Slot::Bootstrap, &s(BOOT)).unwrap();
    st.set(&gateway, &Slot::Shared, &s(SHARED)).unwrap();
    st.handoff(&gateway, &[tok("operator", OP), tok("node", NODE)]).unwrap();
    st.replace_shared(&gateway, &s("x-shared"), |_| Err("no".into())).unwrap_err();
    st.replace_shared(&gateway, &s("y-shared"), |_| Ok(())).unwrap();
    let g = st.begin_connection(&gateway).unwrap();
    st.set_in_generation(&gateway, &g, &Slot::Device("operator".into()), &s(OP)).unwrap();
    st.remove(&gateway, Some(&Slot::Shared)).unwrap();
    st.list().unwrap();
    alpha.config().unwrap();
    alpha.root_secret().unwrap();
    // Mirroring another profile into alpha only reads that profile.
    mirror(&h.profile("beta"), &alpha).unwrap();
    st.remove(&gateway, None).unwrap();
    h.home.profiles().unwrap();
    assert_same_tree(&before, &h.snapshot_except("alpha"), "other profiles after work on alpha");
    // Each profile still reads its own.
    for name in ["beta", "gamma"] {
        let p = h.profile(name);
        let got = resolved(&p.store(), &p.gateway().unwrap(), "operator");
        assert_eq!(got, Some((Slot::Shared, format!("{name}-shared"))), "{name}");
        assert_ne!(p.root_secret().unwrap().expose(), alpha.root_secret().unwrap().expose(), "{name}");
    }
}

#[test]
fn cred_8_profile_names_cannot_reach_outside_their_directory() {
    let h = HomeDir::new(&[("alpha", 18789)]);
    let before = snapshot(h.dir.path());
    let long = "a".repeat(33);
    for bad in ["..", ".", "../alpha", "alpha/../beta", "/etc", "Alpha", "", "a b", "-x", long.as_str()] {
        let e = h.home.profile(bad).expect_err(bad);
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{bad}: {e}");
        assert!(h.home.init_profile(bad, 1).is_err(), "{bad}");
    }
    assert_same_tree(&before, &snapshot(h.dir.path()), "bad profile names");
}

fn home_for(env: &[(&str, &str)]) -> String {
    let lines = run_helper_env("home_path", env);
    assert_eq!(lines.len(), 1, "{lines:?}");
    lines[0].clone()
}

#[test]
fn cred_8_home_path_follows_gw_home_then_xdg_then_home() {
    let all = [("GW_HOME", "/g/home"), ("XDG_CONFIG_HOME", "/x/config"), ("HOME", "/h/user")];
    assert_eq!(home_for(&all), "ok /g/home");
    assert_eq!(home_for(&all[1..]), "ok /x/config/gw");
    assert_eq!(home_for(&all[2..]), "ok /h/user/.config/gw");
    assert_eq!(home_for(&[("GW_HOME", "/g/home"), ("HOME", "/h/user")]), "ok /g/home");
    // A relative XDG_CONFIG_HOME or HOME, and an empty GW_HOME, are ignored
    // (the XDG rule), never resolved against the cwd.
    // A relative GW_HOME is an error (issue 12), never skipped for another home.
    assert_eq!(
        home_for(&[("GW_HOME", "rel/gw"), ("XDG_CONFIG_HOME", "/x/config"), ("HOME", "/h")]),
        "err invalid_input"
    );
    assert_eq!(home_for(&[("GW_HOME", ""), ("XDG_CONFIG_HOME", "./cfg"), ("HOME", "/h")]), "ok /h/.config/gw");
    assert_eq!(home_for(&[("GW_HOME", "~/gw"), ("XDG_CONFIG_HOME", "cfg"), ("HOME", "/h")]), "err invalid_input");
    assert_eq!(home_for(&[("GW_HOME", "gw"), ("XDG_CONFIG_HOME", "cfg"), ("HOME", "h")]), "err invalid_input");
    assert_eq!(home_for(&[]), "err invalid_input");
}

// ---- no secret in errors or Debug output ------------------------------------

#[test]
fn no_error_or_debug_output_shows_a_stored_secret() {
    let dir = Dir::new();
    let gateway = key(URL);
    let store = dir.store();
    store.set(&gateway, &Slot::Bootstrap, &s(BOOT)).unwrap();
    store.set(&gateway, &Slot::Shared, &s(SHARED)).unwrap();
    let report = store.handoff(&gateway, &[tok("operator", OP), tok("node", NODE)]).unwrap();
    let resolved = store.resolve(&gateway, "operator").unwrap().unwrap();
    let got = store.get(&gateway, &Slot::Shared).unwrap();
    let list = store.list().unwrap();
    let tokens = parse_hello_ok(&hello_ok(json!([{"role": "operator", "deviceToken": OP}]))).unwrap();
    let stored = Document::new(&dir.root, STORE_FILE).load_value().unwrap().unwrap();
    let rec: GatewayRecord = serde_json::from_value(record(&stored, &gateway).unwrap().clone()).unwrap();
    let debug = format!("{report:?} {resolved:?} {got:?} {list:?} {tokens:?} {store:?} {rec:?} {rec:#?}");
    assert_no_secret(&debug, ALL, "Debug output");
}

#[test]
fn no_error_shows_a_secret_from_a_damaged_store() {
    // Stores damaged in ways that put a secret where gw's decoder reports
    // the value it found.
    for bad in [
        json!({"version": 1, "gateways": {URL: {"device": OP}}}),
        json!({"version": 1, "gateways": {URL: {"shared": [SHARED]}}}),
        json!({"version": 1, "gateways": {URL: {"bootstrap": {BOOT: 1}}}}),
        json!({"version": 1, "gateways": {URL: {"generation": SHARED}}}),
        json!({"version": 1, "gateways": {URL: {"device": {"operator": 7}, "shared": SHARED}}}),
        json!({"version": 1, "gateways": {URL: {"shared": SHARED, "bootstrap": false}}}),
        json!({"version": 1, "gateways": {URL: {"shared": SHARED}}, OP: 1}),
        json!({"version": 1, "gateways": {URL: {"shared": SHARED, NODE: 1}}}),
        json!({"version": 1, "gateways": [SHARED]}),
        json!({"version": SHARED, "gateways": {}}),
        json!([BOOT]),
        json!(BOOT),
    ] {
        let dir = Dir::new();
        Document::new(&dir.root, STORE_FILE).save_value(&bad).unwrap();
        let store = dir.store();
        let gateway = key(URL);
        let ctx = bad.to_string();
        let errs = [
            store.get(&gateway, &Slot::Shared).map(|_| ()),
            store.resolve(&gateway, "operator").map(|_| ()),
            store.list().map(|_| ()),
            store.set(&gateway, &Slot::Shared, &s("z")),
            store.handoff(&gateway, &[tok("operator", "z")]).map(|_| ()),
            store.begin_connection(&gateway).map(|_| ()),
            store.remove(&gateway, None).map(|_| ()),
        ];
        for e in errs {
            let e = e.expect_err(&ctx);
            assert_eq!(e.kind(), ErrorKind::InvalidInput, "{ctx}: {e}");
            assert_error_clean(&e, ALL, &ctx);
        }
    }
}

#[test]
fn no_error_shows_a_secret_from_bad_input() {
    let hellos: Vec<Vec<u8>> = vec![
        format!(r#"{{"type":"hello-ok","protocol":4,"auth":{{"method":"bootstrap-token","role":"node","deviceTokens":[{{"role":"operator","deviceToken":"{OP} x"}}]}}}}"#).into(),
        format!(r#"{{"type":"hello-ok","protocol":4,"auth":{{"method":"bootstrap-token","role":"node","deviceTokens":[{{"role":"operator","deviceToken":"{OP}\u0001"}}]}}}}"#)
            .into(),
        format!(r#"{{"type":"hello-ok","protocol":4,"auth":{{"method":"bootstrap-token","role":"node","deviceTokens":[{{"role":"operator","deviceToken":"{OP}{}"}}]}}}}"#, "x".repeat(5000)).into(),
        format!(r#"{{"type":"hello-ok","protocol":4,"auth":{{"method":"bootstrap-token","role":"node","deviceTokens":[{{"role":"operator","deviceToken":"{OP}"}}"#).into(),
        format!(r#"{{"type":"hello-ok","protocol":4,"auth":{{"method":"bootstrap-token","role":"node","deviceTokens":[{{"role":"operator","deviceToken":"{OP}","deviceToken":"{NODE}"}}]}}}}"#)
            .into(),
        format!(r#"{{"type":"hello-ok","protocol":4,"auth":{{"method":"bootstrap-token","role":"node","deviceTokens":[{{"role":"operator","deviceToken":"{OP}"}}]}}}} {NODE}"#).into(),
        format!(r#"{{"type":"hello-ok","protocol":4,"auth":{{"method":"bootstrap-token","role":"node","deviceTokens":[{{"role":"operator","deviceToken":"{OP}"}},{{"role":"operator","deviceToken":"{NODE}"}}]}}}}"#).into(),
        format!(r#"{{"type":"hello-ok","protocol":4,"auth":{{"method":"bootstrap-token","role":"node","deviceTokens":[{{"role":"operator","deviceToken":["{OP}"]}}]}}}}"#).into(),
        format!(r#"{{"type":"hello-ok","protocol":4,"auth":{{"method":"bootstrap-token","role":"node","deviceTokens":[{{"role":"operator","deviceToken":"{OP}","#).into(),
        // Invalid UTF-8 right after the token.
        format!(r#"{{"type":"hello-ok","protocol":4,"auth":{{"method":"bootstrap-token","role":"node","deviceTokens":[{{"role":"operator","deviceToken":"{OP}~"}}]}}}}"#)
            .into_bytes()
            .into_iter()
            .map(|b| if b == b'~' { 0xff } else { b })
            .collect(),
    ];
    for (i, hello) in hellos.iter().enumerate() {
        let e = gw_gateway::parse_handoff_input(hello, URL)
            .and_then(|h| h.handoff("bootstrapToken", std::net::Ipv4Addr::LOCALHOST.into(), URL))
            .expect_err(&format!("hello #{i}"));
        let all = format!("{e}\n{e:?}\n{}\n{}", e.message(), e.fix().unwrap_or_default());
        assert_no_secret(&all, ALL, &format!("hello #{i}: {}", String::from_utf8_lossy(hello)));
    }
    // A URL with user info is refused without repeating the password.
    for url in
        ["ws://user:pw-SECRET-url@127.0.0.1:1", "ftp://user:pw-SECRET-url@127.0.0.1:1", "ws://u:pw-SECRET-url@h/x"]
    {
        let e = GatewayKey::parse(url).expect_err(url);
        assert_eq!(e.kind(), ErrorKind::InvalidUrl);
        assert_error_clean(&e, &["pw-SECRET-url"], url);
    }
    // Secrets that cannot be stored are refused without being repeated.
    let dir = Dir::new();
    let store = dir.store();
    let gateway = key(URL);
    for bad in [format!("{OP} {NODE}"), format!("{OP}\n"), format!("{OP}{}", "y".repeat(5000))] {
        let e = store.set(&gateway, &Slot::Shared, &s(&bad)).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert_error_clean(&e, ALL, "an unstorable secret");
    }
    assert_eq!(dir.bytes(), None, "nothing was written");
}

#[test]
fn store_owned_by_another_user_is_refused_without_showing_it() {
    let dir = Dir::new();
    let gateway = key(URL);
    dir.store().set(&gateway, &Slot::Shared, &s(SHARED)).unwrap();
    chown(&dir.store_path(), NOBODY);
    let before = snapshot(dir.path());
    let store = dir.store();
    for e in [
        store.resolve(&gateway, "operator").map(|_| ()).unwrap_err(),
        store.set(&gateway, &Slot::Bootstrap, &s(BOOT)).unwrap_err(),
        store.handoff(&gateway, &[tok("operator", OP)]).map(|_| ()).unwrap_err(),
    ] {
        assert!(e.kind().is_security_refusal(), "{e}");
        assert_error_clean(&e, ALL, "a store of another user");
    }
    assert_same_tree(&before, &snapshot(dir.path()), "a store of another user");
}
