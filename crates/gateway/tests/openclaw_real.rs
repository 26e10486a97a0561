//! gw-gateway against the real OpenClaw 2026.9.6 (installed from the npm
//! registry by `scripts/test`): device signatures checked byte for byte by
//! OpenClaw's own code, and handshakes with its real gateway, each over a
//! stream gw-portguard proved to reach the gateway's process first.

mod support;

use std::path::PathBuf;
use std::time::{Duration, Instant};

use gw_anchor::{Policy, Root};
use gw_gateway::{
    Bounds, ClientInfo, Connect, Credential, DeviceIdentity, ErrorKind, SignedFields, close, connect, v3_payload,
};
use gw_portguard::{Expected, Options};
use gw_token::Secret;
use serde_json::{Value, json};

const SHARED: &str = "gw-test-shared-token-7f3a9c";

fn script() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/openclaw_vectors.mjs")
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// OpenClaw's own device id, public key, v3 payload and signature for a seed
/// and the fields, against gw's, byte for byte.
#[test]
fn device_identity_and_v3_signature_match_openclaws_own_code() {
    let peer = support::peer();
    /// (token, role, clientMode, scopes, platform, deviceFamily, nonce)
    type Case<'a> = (&'a [u8], &'a str, &'a str, &'a [&'a str], &'a str, &'a str, &'a str);
    let cases: &[Case<'_>] = &[
        (b"shared-token-1", "operator", "cli", &["operator.read", "operator.write"], "linux", "", "n-0001"),
        (b"", "operator", "cli", &[], "  Darwin ", "MacBookPro", "nonce-with-dashes"),
        (
            b"boot.strap_tok-9",
            "node",
            "node",
            &["node.exec"],
            "iOS",
            " iPhone ",
            "8f4e2b1a-0c3d-4e5f-9a8b-7c6d5e4f3a2b",
        ),
    ];
    for (i, (token, role, mode, scopes, platform, family, nonce)) in cases.iter().enumerate() {
        let seed: Vec<u8> = (0..32u8).map(|b| b.wrapping_mul(7).wrapping_add(i as u8 * 31 + 1)).collect();
        let id = DeviceIdentity::from_seed(&Secret::new(seed.clone())).unwrap();
        let scopes: Vec<String> = scopes.iter().map(|s| s.to_string()).collect();
        let signed_at = 1_796_550_391_597 + i as u64;
        let fields = SignedFields {
            device_id: id.id(),
            client_id: "cli",
            client_mode: mode,
            role,
            scopes: &scopes,
            signed_at_ms: signed_at,
            token,
            nonce,
            platform,
            device_family: family,
        };
        let payload = v3_payload(&fields).unwrap();
        let input = json!({
            "seedHex": hex(&seed),
            "fields": {
                "clientId": "cli", "clientMode": mode, "role": role, "scopes": scopes, "signedAtMs": signed_at,
                "token": String::from_utf8(token.to_vec()).unwrap(), "nonce": nonce, "platform": platform,
                "deviceFamily": family,
            }
        });
        let out = peer.node(&script(), &[&input.to_string()]);
        assert!(out.status.success(), "node: {}", String::from_utf8_lossy(&out.stderr));
        let theirs: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(theirs["deviceId"], json!(id.id()), "case {i}: device id");
        assert_eq!(theirs["publicKey"], json!(id.public_key()), "case {i}: public key");
        assert_eq!(theirs["payload"].as_str().unwrap().as_bytes(), &payload[..], "case {i}: v3 payload");
        assert_eq!(theirs["signature"], json!(id.sign(&payload)), "case {i}: signature");
    }
}

fn bounds() -> Bounds {
    // The machines are small and shared: generous, but bounded.
    Bounds { challenge: Duration::from_secs(30), handshake: Duration::from_secs(60), ..Bounds::default() }
}

fn req<'a>(credential: Credential, device: Option<&'a DeviceIdentity>, scopes: &[&str]) -> Connect<'a> {
    Connect {
        client: ClientInfo::default(),
        role: "operator".into(),
        scopes: scopes.iter().map(|s| s.to_string()).collect(),
        credential,
        device,
    }
}

fn secret(s: &str) -> Secret {
    Secret::from(s.to_owned())
}

/// The verified client: gw-portguard proves the gateway's process owns the
/// port (every listener, both families) before the upgrade is sent.
/// A gateway still starting answers UNAVAILABLE: connect again (bounded).
fn verified(g: &support::Gateway, r: &Connect<'_>) -> gw_gateway::Result<gw_gateway::Hello> {
    let opts = Options { timeout: Duration::from_secs(5), ..Options::default() };
    let until = Instant::now() + Duration::from_secs(90);
    loop {
        let stream =
            gw_portguard::connect_verified(g.addr(), &Expected::new(g.pid()), &opts).expect("the port is owned");
        match connect(stream, &g.url(), r, &bounds()) {
            Ok((mut ws, hello)) => {
                close(&mut ws, Duration::from_secs(5));
                return Ok(hello);
            }
            Err(e) if e.kind() == ErrorKind::Unavailable && Instant::now() < until => {
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e),
        }
    }
}

#[test]
fn real_openclaw_gateway_handshakes() {
    let peer = support::peer();
    let started = Instant::now();
    let g = peer.start_gateway(SHARED);
    eprintln!("OpenClaw gateway ready on port {} after {:?}", g.port, started.elapsed());

    // 1. The shared token, no device: accepted, no device token issued.
    let h = verified(&g, &req(Credential::Token(secret(SHARED)), None, &["operator.read"])).unwrap();
    assert_eq!(h.hello.protocol, 4);
    assert_eq!(h.hello.server_version.as_deref(), Some(support::OPENCLAW_VERSION));
    assert_eq!(h.hello.auth.method.as_deref(), Some("token"));
    assert_eq!(h.hello.auth.role, "operator");
    assert!(h.hello.auth.device_token.is_none());
    assert_eq!((h.sent, h.signed), ("token", false));

    // 2. A wrong token: the gateway's own refusal, as a security refusal
    //    naming its code and next step; the token is not in the message.
    let wrong = "wrong-token-5d1e";
    let e = verified(&g, &req(Credential::Token(secret(wrong)), None, &["operator.read"])).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthRefused, "{e}");
    assert!(e.is_security_refusal());
    let r = e.refusal().unwrap();
    assert_eq!(r.detail_code.as_deref(), Some("AUTH_TOKEN_MISMATCH"), "{e}");
    assert_eq!(r.next_step.as_deref(), Some("update_auth_credentials"), "{e}");
    assert!(e.to_string().contains("AUTH_TOKEN_MISMATCH") && !e.to_string().contains(wrong), "{e}");
    assert!(!e.to_string().contains(SHARED), "{e}");

    // 3. The shared token with a device identity (key in a 0600 file created
    //    exclusively): loopback devices are paired silently and get a device
    //    token for the role and scopes asked.
    let keys = tempfile::Builder::new().prefix("gw-device.").tempdir().unwrap();
    std::fs::set_permissions(keys.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
    let root = Root::open(keys.path(), &Policy::default()).unwrap();
    let (device, created) = DeviceIdentity::load_or_create(&root, "device.key").unwrap();
    assert!(created);
    let h = verified(&g, &req(Credential::Token(secret(SHARED)), Some(&device), &["operator.read"])).unwrap();
    assert!(h.signed);
    let issued = h.hello.auth.device_token.expect("a device token for a signed loopback device");
    assert_eq!(issued.role, "operator");
    assert_eq!(issued.scopes, ["operator.read"]);
    assert!(issued.issued_at_ms.is_some());

    // 4. Reconnect with that device token alone (same device, reloaded from
    //    its file): accepted.
    let (device, created) = DeviceIdentity::load_or_create(&root, "device.key").unwrap();
    assert!(!created);
    let h = verified(&g, &req(Credential::DeviceToken(issued.token), Some(&device), &["operator.read"])).unwrap();
    assert_eq!(h.sent, "deviceToken");
    assert_eq!(h.hello.auth.role, "operator");

    // 5. That device token presented by another device identity: refused.
    let other = DeviceIdentity::from_seed(&Secret::new(vec![42; 32])).unwrap();
    let h = verified(&g, &req(Credential::Token(secret(SHARED)), Some(&device), &["operator.read"])).unwrap();
    let token = h.hello.auth.device_token.map(|t| t.token).unwrap_or_else(|| secret("none"));
    let e = verified(&g, &req(Credential::DeviceToken(token), Some(&other), &["operator.read"])).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthRefused, "{e}");

    // The gateway logged no protocol error for gw's clean closes.
    let log = g.log();
    assert!(!log.contains(SHARED), "the shared token is in the gateway's log");
    drop(g);
}
