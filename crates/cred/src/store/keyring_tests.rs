//! The keyring backend and its policy over an in-memory keyring (the real
//! Secret Service and keyutils are exercised by tests/cred_keyring.rs).

use std::sync::atomic::Ordering::SeqCst;

use super::*;
use crate::keyring::MemoryKeyring;
use gw_anchor::{Policy, Root};

fn s(x: &str) -> Secret {
    Secret::from(x.to_owned())
}

fn tok(role: &str, t: &str) -> DeviceToken {
    DeviceToken::new(role, s(t))
}

struct Fixture {
    dir: tempfile::TempDir,
    root: Root,
    mem: Arc<MemoryKeyring>,
    notices: Arc<Mutex<Vec<(Notice, bool)>>>,
}

impl Fixture {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let root = Root::open(dir.path(), &Policy::new()).unwrap();
        Self { dir, root, mem: Arc::new(MemoryKeyring::default()), notices: Arc::default() }
    }
    fn path(&self) -> std::path::PathBuf {
        self.dir.path().join(STORE_FILE)
    }
    fn file(&self) -> Option<String> {
        std::fs::read_to_string(self.path()).ok()
    }
    fn store(&self, policy: StorePolicy) -> CredStore<Document<'_>> {
        let notices = Arc::clone(&self.notices);
        let path = self.path();
        let config = StoreConfig::new(policy).keyring(self.mem.clone()).namespace("t").on_notice(move |n| {
            // Whether anything was written when the notice came.
            notices.lock().unwrap().push((n.clone(), path.exists()));
        });
        CredStore::with_config(Document::new(&self.root, STORE_FILE), config)
    }
    fn assert_no_secret_in_file(&self, secrets: &[&str]) {
        let text = self.file().unwrap_or_default();
        for sec in secrets {
            assert!(!text.contains(sec), "the store file holds the secret {sec}: {text}");
        }
    }
}

#[test]
fn cred_9_keyring_round_trips_keep_only_references_in_the_document() {
    let f = Fixture::new();
    let store = f.store(StorePolicy::Keyring);
    let key = GatewayKey::parse("ws://localhost:18789").unwrap();
    store.set(&key, &Slot::Bootstrap, &s("boot-SECRET-1")).unwrap();
    store.set(&key, &Slot::Shared, &s("shared-SECRET-2")).unwrap();
    assert_eq!(store.decide().unwrap(), Decision::Keyring { keyring: "memory".into() });
    assert_eq!(store.resolve(&key, "operator").unwrap().unwrap().slot, Slot::Shared);
    let r = store.handoff(&key, &[tok("operator", "op-SECRET-3"), tok("node", "node-SECRET-4")]).unwrap();
    assert!(r.bootstrap_cleared);
    let got = store.resolve(&key, "node").unwrap().unwrap();
    assert_eq!((got.slot, got.secret.expose()), (Slot::Device("node".into()), &b"node-SECRET-4"[..]));
    // The hand-off read the tokens back from the keyring.
    assert!(f.mem.calls.lock().unwrap().contains(&"read from keyring"));
    // Bootstrap's entry was deleted with the slot; shared + 2 device remain.
    assert_eq!(f.mem.len(), 3);
    let all = ["boot-SECRET-1", "shared-SECRET-2", "op-SECRET-3", "node-SECRET-4", "new-SECRET-5"];
    f.assert_no_secret_in_file(&all);
    let v: Value = serde_json::from_str(&f.file().unwrap()).unwrap();
    let shared = &v["gateways"]["ws://127.0.0.1:18789"]["shared"];
    assert_eq!(shared["keyring"], "memory");
    assert_eq!(shared["service"], KEYRING_SERVICE);
    assert!(shared["account"].as_str().unwrap().starts_with("t/ws://127.0.0.1:18789/shared/"));
    // Replace-shared: validated first; a refusal changes nothing, anywhere.
    let before = (f.file(), f.mem.values());
    let e = store.replace_shared(&key, &s("new-SECRET-5"), |_| Err("no".into())).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::ValidationFailed);
    assert_eq!((f.file(), f.mem.values()), before);
    let cleared = store.replace_shared(&key, &s("new-SECRET-5"), |_| Ok(())).unwrap();
    assert_eq!(cleared, vec!["node", "operator"]);
    // The old shared and both device entries are gone from the keyring.
    assert_eq!(f.mem.values(), vec![b"new-SECRET-5".to_vec()]);
    assert_eq!(store.get(&key, &Slot::Shared).unwrap().unwrap().expose(), b"new-SECRET-5");
    f.assert_no_secret_in_file(&all);
    // Generations: a stale writer does not reach the keyring.
    let g1 = store.begin_connection(&key).unwrap();
    let _g2 = store.begin_connection(&key).unwrap();
    let n = f.mem.calls.lock().unwrap().len();
    let e = store.set_in_generation(&key, &g1, &Slot::Shared, &s("stale-SECRET")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StaleGeneration);
    assert_eq!(f.mem.calls.lock().unwrap().len(), n);
    let other = f.store(StorePolicy::Keyring);
    let g3 = other.begin_connection(&key).unwrap();
    let e = store.set_in_generation(&key, &_g2, &Slot::Shared, &s("stale-SECRET")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::StaleGeneration);
    other.set_in_generation(&key, &g3, &Slot::Shared, &s("fresh-SECRET")).unwrap();
    assert_eq!(f.mem.values(), vec![b"fresh-SECRET".to_vec()]);
    // Removing the record deletes its entries.
    assert!(store.remove(&key, None).unwrap());
    assert_eq!(f.mem.len(), 0);
    assert!(f.notices.lock().unwrap().is_empty());
}

#[test]
fn cred_9_keyring_policy_fails_closed_and_writes_nothing() {
    let f = Fixture::new();
    f.mem.down.store(true, SeqCst);
    let store = f.store(StorePolicy::Keyring);
    let key = GatewayKey::parse("ws://127.0.0.1:1").unwrap();
    let e = store.set(&key, &Slot::Shared, &s("SECRET-x")).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::FallbackRefused);
    assert!(e.kind().is_security_refusal());
    assert!(e.message().contains("nothing was written"), "{e}");
    assert_eq!(e.fix(), Some("bring it up"));
    assert_eq!(store.handoff(&key, &[tok("operator", "SECRET-y")]).unwrap_err().kind(), ErrorKind::FallbackRefused);
    let mut ran = false;
    let e = store
        .replace_shared(&key, &s("SECRET-z"), |_| {
            ran = true;
            Ok(())
        })
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::FallbackRefused);
    assert!(!ran, "the token went to the validator although it could not be stored");
    assert!(store.decide().is_err());
    assert_eq!(f.file(), None, "nothing may be written to the file");
    assert_eq!(f.mem.len(), 0);
    assert!(f.notices.lock().unwrap().is_empty());
    // Operations that write no secret still work (and read-only ones).
    assert!(store.list().unwrap().is_empty());
}

#[test]
fn cred_9_keyring_or_file_tells_before_writing_the_file() {
    let f = Fixture::new();
    f.mem.down.store(true, SeqCst);
    let store = f.store(StorePolicy::KeyringOrFile);
    let key = GatewayKey::parse("ws://127.0.0.1:1").unwrap();
    store.set(&key, &Slot::Shared, &s("SECRET-f")).unwrap();
    store.set(&key, &Slot::Bootstrap, &s("SECRET-g")).unwrap();
    let notices = f.notices.lock().unwrap().clone();
    assert_eq!(notices.len(), 1, "one notice per store: {notices:?}");
    let (Notice::FallbackToFile { keyring, reason }, existed) = &notices[0] else { panic!("{notices:?}") };
    assert!(!existed, "the notice came after the file was written");
    assert_eq!(keyring, "memory");
    assert!(reason.contains("down"), "{reason}");
    assert!(matches!(store.decide().unwrap(), Decision::FileFallback { .. }));
    assert!(f.file().unwrap().contains("SECRET-f"));
    assert_eq!(store.get(&key, &Slot::Shared).unwrap().unwrap().expose(), b"SECRET-f");
    // With the keyring up, keyring-or-file uses it.
    f.mem.down.store(false, SeqCst);
    let up = f.store(StorePolicy::KeyringOrFile);
    up.set(&key, &Slot::Shared, &s("SECRET-h")).unwrap();
    assert_eq!(up.decide().unwrap(), Decision::Keyring { keyring: "memory".into() });
    f.assert_no_secret_in_file(&["SECRET-h", "SECRET-f"]);
    assert!(f.file().unwrap().contains("SECRET-g"), "the inline bootstrap stays as it was");
    assert_eq!(f.notices.lock().unwrap().len(), 1);
}

#[test]
fn cred_9_inline_stores_still_load_and_mix_with_references() {
    let f = Fixture::new();
    let key = GatewayKey::parse("ws://127.0.0.1:18789").unwrap();
    // A store written before keyrings existed.
    std::fs::write(
        f.path(),
        r#"{"version":1,"gateways":{"ws://127.0.0.1:18789":{"generation":2,"device":{"node":"old-node"},"shared":"old-shared","bootstrap":"old-boot"}}}"#,
    )
    .unwrap();
    std::fs::set_permissions(f.path(), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let store = f.store(StorePolicy::Keyring);
    assert_eq!(store.get(&key, &Slot::Shared).unwrap().unwrap().expose(), b"old-shared");
    assert_eq!(store.resolve(&key, "node").unwrap().unwrap().secret.expose(), b"old-node");
    store.handoff(&key, &[tok("operator", "SECRET-op")]).unwrap();
    let text = f.file().unwrap();
    assert!(!text.contains("old-boot") && !text.contains("SECRET-op"), "{text}");
    assert!(text.contains("old-node") && text.contains("old-shared"), "inline secrets stay: {text}");
    let locs = store.locations(&key).unwrap();
    assert!(locs.contains(&(Slot::Device("operator".into()), "memory".into())), "{locs:?}");
    assert!(locs.contains(&(Slot::Shared, "file".into())), "{locs:?}");
    // Overwriting a referenced slot with the file policy deletes the entry.
    let file = f.store(StorePolicy::File);
    file.set(&key, &Slot::Device("operator".into()), &s("inline-op")).unwrap();
    assert_eq!(f.mem.len(), 0);
}

#[test]
fn cred_9_keyring_failures_leave_no_entry_and_keep_the_bootstrap() {
    let f = Fixture::new();
    let store = f.store(StorePolicy::Keyring);
    let key = GatewayKey::parse("ws://127.0.0.1:18789").unwrap();
    store.set(&key, &Slot::Bootstrap, &s("boot")).unwrap();
    let before = (f.file(), f.mem.values());
    // The second entry of a hand-off cannot be written.
    f.mem.fail_set_at.store(2, SeqCst);
    let e = store.handoff(&key, &[tok("operator", "op"), tok("node", "node")]).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyringUnavailable);
    assert!(e.message().contains("nothing was written"), "{e}");
    assert_eq!((f.file(), f.mem.values()), before, "the first entry was not deleted again");
    // An entry deleted behind gw's back: an error, never the next slot.
    store.set(&key, &Slot::Shared, &s("shared")).unwrap();
    let entries: Vec<(String, String)> = f.mem.entries.lock().unwrap().keys().cloned().collect();
    for (svc, acct) in &entries {
        if acct.contains("/shared/") {
            f.mem.delete(svc, acct).unwrap();
        }
    }
    let e = store.resolve(&key, "operator").unwrap_err();
    assert_eq!(e.kind(), ErrorKind::KeyringEntryMissing);
    assert!(e.fix().unwrap().contains("gw cred set"));
    // The keyring going away: reads fail, they do not fall back.
    f.mem.down.store(true, SeqCst);
    assert_eq!(store.get(&key, &Slot::Bootstrap).unwrap_err().kind(), ErrorKind::KeyringUnavailable);
    // Removing works; the entry left behind is reported.
    assert!(store.remove(&key, Some(&Slot::Bootstrap)).unwrap());
    let notices = f.notices.lock().unwrap().clone();
    assert!(matches!(&notices[..], [(Notice::EntryLeft { .. }, true)]), "{notices:?}");
}

#[test]
fn cred_9_foreign_references_are_never_read_or_deleted() {
    let f = Fixture::new();
    let key = GatewayKey::parse("ws://127.0.0.1:18789").unwrap();
    f.mem.set("login", "alice", "", b"alice-password").unwrap();
    std::fs::write(
        f.path(),
        r#"{"version":1,"gateways":{"ws://127.0.0.1:18789":{"shared":{"keyring":"memory","service":"login","account":"alice"}}}}"#,
    )
    .unwrap();
    std::fs::set_permissions(f.path(), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
    let store = f.store(StorePolicy::Keyring);
    let e = store.get(&key, &Slot::Shared).unwrap_err();
    assert!(e.message().contains("only reads and deletes its own"), "{e}");
    store.set(&key, &Slot::Shared, &s("mine")).unwrap();
    assert_eq!(f.mem.get("login", "alice").unwrap().unwrap().as_slice(), b"alice-password");
    assert!(matches!(&f.notices.lock().unwrap()[..], [(Notice::EntryLeft { .. }, true)]));
    // A reference of the wrong shape is a format error that names no value.
    for bad in [
        r#"{"version":1,"gateways":{"ws://127.0.0.1:1":{"shared":{"keyring":"memory","service":"gw-cred"}}}}"#,
        r#"{"version":1,"gateways":{"ws://127.0.0.1:1":{"shared":{"keyring":"m","service":"s","account":"a","SECRETX":1}}}}"#,
        r#"{"version":1,"gateways":{"ws://127.0.0.1:1":{"shared":{"keyring":"","service":"s","account":"a"}}}}"#,
        r#"{"version":3,"gateways":{}}"#,
    ] {
        let e = CredStore::<Document<'_>>::decode(Some(serde_json::from_str(bad).unwrap())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidInput);
        assert!(!e.to_string().contains("SECRETX"), "{e}");
    }
}
