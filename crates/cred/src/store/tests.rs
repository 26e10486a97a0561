//! The store's unit tests: format-1 migration, precedence, hand-off,
//! replace and generations.

use super::*;
use gw_anchor::{Policy, Root};

fn s(x: &str) -> Secret {
    Secret::from(x.to_owned())
}

fn tok(role: &str, t: &str) -> DeviceToken {
    DeviceToken::new(role, s(t))
}

const DEV_A: &str = "aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11";
const DEV_B: &str = "bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22";

fn private_dir() -> (tempfile::TempDir, Root) {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let root = Root::open(dir.path(), &Policy::new()).unwrap();
    (dir, root)
}

/// The one credential length limit: text of exactly [`MAX_SECRET_LEN`]
/// bytes is a credential and is stored; one byte more is refused, with the
/// limit in the message, and nothing is written.
#[test]
fn a_credential_is_at_most_max_secret_len_bytes() {
    let (_dir, root) = private_dir();
    let store = CredStore::new(Document::new(&root, STORE_FILE));
    let key = GatewayKey::parse("ws://localhost:18789").unwrap();
    let longest = "a".repeat(MAX_SECRET_LEN);
    store.set(&key, &Slot::Shared, &s(&longest)).unwrap();
    assert_eq!(store.get(&key, &Slot::Shared).unwrap().map(|x| x.expose().len()), Some(MAX_SECRET_LEN));
    let e = store.set(&key, &Slot::Password, &s(&format!("{longest}a"))).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.message().contains(&format!("1 to {MAX_SECRET_LEN} printable")), "{e}");
    assert!(store.get(&key, &Slot::Password).unwrap().is_none(), "nothing was stored");
}

/// A store of format 1 (role tokens as `{role: token}`, no device
/// identities) is read as it is; its first write makes it format 2 and
/// keeps every entry; a hand-off then stores per device and role with
/// the scopes, and only the bootstrap goes.
#[test]
fn cred_3_a_format_1_store_migrates_on_its_first_write_and_loses_nothing() {
    let (dir, root) = private_dir();
    let path = dir.path().join(STORE_FILE);
    std::fs::write(
        &path,
        r#"{"version":1,"gateways":{"ws://127.0.0.1:18789":{"generation":4,"device":{"operator":"old-op","node":"old-node"},"shared":"old-shared","bootstrap":"old-boot"},"ws://127.0.0.1:1":{"shared":"other"}}}"#,
    )
    .unwrap();
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let store = CredStore::new(Document::new(&root, STORE_FILE));
    let key = GatewayKey::parse("ws://localhost:18789").unwrap();
    // Read as it is.
    assert_eq!(store.resolve_for(&key, Some(DEV_A), "operator").unwrap().unwrap().secret.expose(), b"old-op");
    // The first write (a hand-off issued to device A) migrates it.
    let mut node = tok("node", "new-node");
    node.scopes = vec![];
    let mut op = tok("operator", "new-op");
    op.scopes = vec!["operator.read".into(), "operator.talk.secrets".into()];
    op.issued_at_ms = Some(1_765_000_000_000);
    let r = store.handoff_to(&key, Some(DEV_A), &[node, op]).unwrap();
    assert!(r.bootstrap_cleared);
    let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    assert_eq!(v["version"], 2);
    let rec = &v["gateways"]["ws://127.0.0.1:18789"];
    assert_eq!(rec["generation"], 4);
    assert_eq!(rec["device"]["operator"], "old-op", "format-1 entries stay");
    assert_eq!(rec["device"]["node"], "old-node");
    assert_eq!(rec["shared"], "old-shared");
    assert!(rec.get("bootstrap").is_none());
    assert_eq!(v["gateways"]["ws://127.0.0.1:1"]["shared"], "other", "other gateways stay");
    let issued = &rec["devices"][DEV_A]["operator"];
    assert_eq!(issued["token"], "new-op");
    assert_eq!(issued["scopes"], serde_json::json!(["operator.read", "operator.talk.secrets"]));
    assert_eq!(issued["issuedAtMs"], 1_765_000_000_000_u64);
    // Per device: A gets its own token, B (another key) never gets A's.
    let a = store.resolve_for(&key, Some(DEV_A), "operator").unwrap().unwrap();
    assert_eq!(
        (a.slot, a.secret.expose()),
        (Slot::Issued { device: DEV_A.into(), role: "operator".into() }, &b"new-op"[..])
    );
    let b = store.resolve_for(&key, Some(DEV_B), "operator").unwrap().unwrap();
    assert_eq!((b.slot, b.secret.expose()), (Slot::Device("operator".into()), &b"old-op"[..]));
    let list = store.list().unwrap();
    let l = list.iter().find(|s| s.gateway == "ws://127.0.0.1:18789").unwrap();
    assert_eq!(l.roles, ["node", "operator"]);
    assert_eq!(l.issued.len(), 2);
    // Removing a role's device tokens removes both kinds; the password
    // then comes before the bootstrap token.
    assert!(store.remove(&key, Some(&Slot::Device("operator".into()))).unwrap());
    store.set(&key, &Slot::Password, &s("pw-1")).unwrap();
    store.set(&key, &Slot::Bootstrap, &s("boot-2")).unwrap();
    assert_eq!(store.resolve_for(&key, Some(DEV_A), "operator").unwrap().unwrap().slot, Slot::Shared);
    assert!(store.remove(&key, Some(&Slot::Shared)).unwrap());
    assert_eq!(store.resolve_for(&key, Some(DEV_A), "operator").unwrap().unwrap().slot, Slot::Password);
    // Replacing the shared token clears the device tokens of both kinds.
    let cleared = store.replace_shared(&key, &s("new-shared"), |_| Ok(())).unwrap();
    assert_eq!(cleared, ["node"]);
    assert!(store.list().unwrap().iter().all(|s| s.issued.is_empty()));
    // A bad device id or scope is refused before anything is written.
    let before = std::fs::read_to_string(&path).unwrap();
    assert!(store.handoff_to(&key, Some("a|b"), &[tok("node", "x")]).is_err());
    let mut bad = tok("node", "x");
    bad.scopes = vec!["no spaces allowed".into()];
    assert!(store.handoff_to(&key, Some(DEV_A), &[bad]).is_err());
    assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
}

#[test]
fn precedence_handoff_replace_and_generations() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let root = Root::open(dir.path(), &Policy::new()).unwrap();
    let store = CredStore::new(Document::new(&root, STORE_FILE));
    let key = GatewayKey::parse("ws://localhost:18789").unwrap();
    let same = GatewayKey::parse("ws://[::1]:18789").unwrap();
    assert!(store.resolve(&key, "operator").unwrap().is_none());
    store.set(&key, &Slot::Bootstrap, &s("boot")).unwrap();
    assert_eq!(store.resolve(&same, "operator").unwrap().unwrap().slot, Slot::Bootstrap);
    store.set(&key, &Slot::Shared, &s("shared")).unwrap();
    assert_eq!(store.resolve(&key, "operator").unwrap().unwrap().slot, Slot::Shared);
    let report = store.handoff(&key, &[tok("operator", "op-t"), tok("node", "node-t")]).unwrap();
    assert_eq!(report.roles, vec!["operator", "node"]);
    assert!(report.bootstrap_cleared);
    let r = store.resolve(&key, "node").unwrap().unwrap();
    assert_eq!((r.slot, r.secret.expose()), (Slot::Device("node".into()), &b"node-t"[..]));
    assert!(store.get(&key, &Slot::Bootstrap).unwrap().is_none());
    // A failed validation changes nothing.
    let before = std::fs::read(dir.path().join(STORE_FILE)).unwrap();
    let err = store.replace_shared(&key, &s("new"), |_| Err("refused by the gateway".into())).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::ValidationFailed);
    assert_eq!(std::fs::read(dir.path().join(STORE_FILE)).unwrap(), before);
    let cleared = store.replace_shared(&key, &s("new"), |_| Ok(())).unwrap();
    assert_eq!(cleared, vec!["node", "operator"]);
    assert_eq!(store.resolve(&key, "operator").unwrap().unwrap().slot, Slot::Shared);
    // Generations: the older connection may not write once a newer began.
    let g1 = store.begin_connection(&key).unwrap();
    let g2 = store.begin_connection(&key).unwrap();
    let e = store.set_in_generation(&key, &g1, &Slot::Shared, &s("stale")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StaleGeneration);
    store.set_in_generation(&key, &g2, &Slot::Shared, &s("fresh")).unwrap();
    assert_eq!(store.get(&key, &Slot::Shared).unwrap().unwrap().expose(), b"fresh");
    // Another store (another process's view) with an old generation is refused by the stored check.
    let other = CredStore::new(Document::new(&root, STORE_FILE));
    let g3 = other.begin_connection(&key).unwrap();
    assert_eq!(
        store.set_in_generation(&key, &g2, &Slot::Shared, &s("stale2")).unwrap_err().kind(),
        ErrorKind::StaleGeneration
    );
    other.set_in_generation(&key, &g3, &Slot::Shared, &s("x")).unwrap();
    assert_eq!(store.list().unwrap().len(), 1);
}

/// Secret text on its way into the store is never a plain `String`: what
/// `secret_text` returns, what `stage` and `stage_all` take and what an
/// inline `Stored` holds all wipe themselves when dropped. A compile-level
/// check: this test stops building if any of them becomes a plain `String`
/// (which is not `ZeroizeOnDrop`).
#[test]
fn staged_secret_text_wipes_itself() {
    fn wipes_on_drop<T: zeroize::ZeroizeOnDrop>(_: &T) {}
    type Staging<'r> =
        fn(&CredStore<Document<'r>>, &WriteTarget, &str, &Slot, &SecretText, &mut Vec<KeyringRef>) -> Result<Stored>;
    type StagingAll<'r> = fn(
        &CredStore<Document<'r>>,
        &WriteTarget,
        &str,
        &[(Slot, SecretText)],
    ) -> Result<(Vec<Stored>, Vec<KeyringRef>)>;
    let _: Staging<'_> = CredStore::stage;
    let _: StagingAll<'_> = CredStore::stage_all;

    let text = secret_text(&s("tok-1")).unwrap();
    wipes_on_drop(&text);
    let (_dir, root) = private_dir();
    let store = CredStore::new(Document::new(&root, STORE_FILE));
    let (values, created) = store.stage_all(&WriteTarget::File, "ws://127.0.0.1:1", &[(Slot::Shared, text)]).unwrap();
    assert!(created.is_empty());
    match &values[..] {
        [Stored::Inline(t)] => {
            wipes_on_drop(t);
            assert_eq!(t.as_str(), "tok-1");
        }
        other => panic!("expected one inline value, got {other:?}"),
    }
}

/// Error text from serde about a stored value is redacted: every quoted
/// span becomes `…` except the store's own field names in backticks; an
/// escaped quote does not end a span; with an unbalanced quote only the text
/// before the first quote is kept.
#[test]
fn decode_errors_never_quote_a_stored_value() {
    let cases = [
        ("invalid type: string \"s3cr3t\", expected u64", "invalid type: string \"…\", expected u64"),
        (
            "unknown field `t0ken`, expected one of `version`, `gateways`",
            "unknown field `…`, expected one of `version`, `gateways`",
        ),
        ("a \"x\\\"s3cr3t\" b \"y\" c", "a \"…\" b \"…\" c"),
        ("`a\\` s3cr3t `shared`", "`…` s3cr3t `shared`"),
        ("before \"s3cr3t", "before …"),
        ("before `s3cr3t", "before …"),
        ("ok \"a\" then \"s3cr3t", "ok …"),
        ("no quotes at all", "no quotes at all"),
        ("é\"s3cr3t\"é", "é\"…\"é"),
    ];
    for (text, want) in cases {
        assert_eq!(validate::redact_quoted(text), want, "{text}");
    }
    // Through the store's loader: a credential where a number belongs.
    let v = serde_json::json!({"version": 2, "gateways": {"ws://127.0.0.1:18789": {"generation": "s3cr3t-t0ken"}}});
    let e = validate::check_store_value(&v).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidInput);
    assert!(e.message().contains("the credential store is not in gw's format: invalid type: string \"…\""), "{e}");
    assert!(!e.to_string().contains("s3cr3t"), "{e}");
}

/// The store checks the role and device id a slot names itself (the
/// command line is not the only caller): nothing is written for a bad one.
#[test]
fn slots_with_a_bad_role_or_device_id_write_nothing() {
    let (dir, root) = private_dir();
    let store = CredStore::new(Document::new(&root, STORE_FILE));
    let key = GatewayKey::parse("ws://localhost:18789").unwrap();
    let longest = "r".repeat(64);
    store.set(&key, &Slot::Device(longest.clone()), &s("t-1")).unwrap();
    store.set(&key, &Slot::Issued { device: DEV_A.into(), role: "node".into() }, &s("t-2")).unwrap();
    let before = std::fs::read(dir.path().join(STORE_FILE)).unwrap();
    for slot in [
        Slot::Device(format!("{longest}r")),
        Slot::Device("Operator".into()),
        Slot::Device(String::new()),
        Slot::Device("-node".into()),
        Slot::Issued { device: DEV_A.into(), role: "no spaces".into() },
        Slot::Issued { device: "a|b".into(), role: "node".into() },
        Slot::Issued { device: "d".repeat(129), role: "node".into() },
    ] {
        let e = store.set(&key, &slot, &s("t-3")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput, "{slot:?}: {e}");
    }
    assert_eq!(std::fs::read(dir.path().join(STORE_FILE)).unwrap(), before, "a refused slot changed the store");
    store.set(&key, &Slot::Issued { device: "d".repeat(128), role: "0.a_b-c".into() }, &s("t-4")).unwrap();
}

/// A handed-off token carries at most 64 scopes.
#[test]
fn a_handed_off_token_has_at_most_64_scopes() {
    let (dir, root) = private_dir();
    let store = CredStore::new(Document::new(&root, STORE_FILE));
    let key = GatewayKey::parse("ws://localhost:18789").unwrap();
    store.set(&key, &Slot::Bootstrap, &s("boot-1")).unwrap();
    let with = |n: usize| DeviceToken { scopes: (0..n).map(|i| format!("s.{i}")).collect(), ..tok("node", "dt-1") };
    let before = std::fs::read(dir.path().join(STORE_FILE)).unwrap();
    let e = store.handoff_to(&key, Some(DEV_A), &[with(65)]).unwrap_err();
    assert!(e.message().contains("the `node` token's scopes are not scope names"), "{e}");
    assert_eq!(std::fs::read(dir.path().join(STORE_FILE)).unwrap(), before);
    assert!(store.handoff_to(&key, Some(DEV_A), &[with(64)]).unwrap().bootstrap_cleared);
}
