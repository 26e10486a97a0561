//! The server's unit tests.

use super::*;
use crate::device::DeviceIdentity;

fn identity() -> DeviceIdentity {
    DeviceIdentity::from_seed(&Secret::new(vec![7; 32])).unwrap()
}

fn signed(dev: &DeviceIdentity, nonce: &str, at: u64, token: &[u8]) -> Value {
    let scopes = vec!["operator.read".to_owned()];
    let f = SignedFields {
        device_id: dev.id(),
        client_id: "cli",
        client_mode: "cli",
        role: "operator",
        scopes: &scopes,
        signed_at_ms: at,
        token,
        nonce,
        platform: "linux",
        device_family: "",
    };
    let p = v3_payload(&f).unwrap();
    json!({"id": dev.id(), "publicKey": dev.public_key(), "signature": dev.sign(&p), "signedAt": at, "nonce": nonce})
}

fn fields<'a>(scopes: &'a [String], token: &'a [u8]) -> SignedFields<'a> {
    SignedFields {
        device_id: "",
        client_id: "cli",
        client_mode: "cli",
        role: "operator",
        scopes,
        signed_at_ms: 0,
        token,
        nonce: "",
        platform: "linux",
        device_family: "",
    }
}

#[test]
fn device_proof_binds_nonce_time_and_fields() {
    let dev = identity();
    let scopes = vec!["operator.read".to_owned()];
    let ts = 1_800_000_000_000;
    let ok = signed(&dev, "n-1", ts, b"tok");
    assert!(verify_device(&ok, &fields(&scopes, b"tok"), "n-1", ts, 120_000).is_ok());
    // Another connection's nonce.
    let e = verify_device(&ok, &fields(&scopes, b"tok"), "n-2", ts, 120_000).err().unwrap();
    assert_eq!(e.0, "DEVICE_AUTH_NONCE_MISMATCH");
    // Another credential, another role: the signature no longer holds.
    let e = verify_device(&ok, &fields(&scopes, b"other"), "n-1", ts, 120_000).err().unwrap();
    assert_eq!(e.0, "DEVICE_AUTH_SIGNATURE_INVALID");
    // Stale.
    let old = signed(&dev, "n-1", ts - 120_001, b"tok");
    let e = verify_device(&old, &fields(&scopes, b"tok"), "n-1", ts, 120_000).err().unwrap();
    assert_eq!(e.0, "DEVICE_AUTH_SIGNATURE_EXPIRED");
    // An id that is not the key's.
    let mut wrong = ok.clone();
    wrong["id"] = json!("00".repeat(32));
    let e = verify_device(&wrong, &fields(&scopes, b"tok"), "n-1", ts, 120_000).err().unwrap();
    assert_eq!(e.0, "DEVICE_AUTH_DEVICE_ID_MISMATCH");
}

#[test]
fn auth_fields_are_strict() {
    assert!(presented(Some(&json!({"token": "a", "deviceToken": "b"}))).is_ok());
    assert!(presented(Some(&json!({"tokn": "a"}))).is_err());
    assert!(presented(Some(&json!({"token": 5}))).is_err());
    assert!(presented(Some(&json!({"token": "a b"}))).is_err());
    assert!(presented(Some(&json!("token"))).is_err());
    assert_eq!(presented(Some(&json!({"password": "p"}))).unwrap().signed(), b"");
}

#[test]
fn after_the_hello_unknown_methods_get_an_error() {
    let l = Limits::new(1024, 8);
    let r: Value = serde_json::from_str(&answer(br#"{"type":"req","id":"1","method":"health"}"#, &l).unwrap()).unwrap();
    assert_eq!((r["ok"].as_bool(), r["payload"]["ok"].as_bool()), (Some(true), Some(true)));
    let r: Value = serde_json::from_str(&answer(br#"{"type":"req","id":"2","method":"x.y"}"#, &l).unwrap()).unwrap();
    assert_eq!(r["ok"], json!(false));
    assert!(answer(br#"{"type":"req","id":"1","id":"2","method":"health"}"#, &l).is_none(), "duplicate keys");
    assert!(answer(br#"{"type":"res","id":"1","ok":true}"#, &l).is_none());
}
