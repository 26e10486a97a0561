//! OpenClaw's own clients against `gw serve` (issue 10 item 7): the real
//! OpenClaw 2026.9.6 CLI (`openclaw gateway call health`) and its node
//! client (GatewayClient, signing with the device key it creates in its own
//! state directory), installed by `scripts/test`.
//!
//! What the real CLI sends, observed through a frame-logging relay: a
//! `connect` with `client {id:"cli", mode:"cli", platform:"linux",
//! deviceFamily:"Linux", version:"2026.9.6", instanceId}`, `role:"operator"`,
//! `scopes:["operator.read"]`, `caps:[]`, `auth:{token}` (or `{password}`),
//! and **no `device`**: for a loopback URL with a shared token or password
//! the CLI leaves its device identity out (`shouldOmitDeviceIdentityForGatewayCall`);
//! then a `health` request with `params:{}`. Without a credential it refuses
//! to connect at all. So the signed-device flow is driven through
//! OpenClaw's node client, which signs with its own key.

mod serve_support;
#[path = "../crates/gateway/tests/support/mod.rs"]
mod support;

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::{Value, json};
use serve_support::{Env, free_port};

const SHARED: &str = "oc-shared-token-0001";
const PASSWORD: &str = "oc-pass-word-0001";

fn serve_with_secrets(env: &Env, extra: &[&str]) -> serve_support::Serve {
    env.profile("p", free_port());
    let (tok, pw) = (env.tmp.path().join("shared.txt"), env.tmp.path().join("pw.txt"));
    std::fs::write(&tok, format!("{SHARED}\n")).unwrap();
    std::fs::write(&pw, format!("{PASSWORD}\n")).unwrap();
    let mut args = vec!["--shared-token-file", tok.to_str().unwrap(), "--password-file", pw.to_str().unwrap()];
    args.extend_from_slice(extra);
    env.serve("p", &args)
}

/// `openclaw ARGS` with its own HOME/state in `state`; (exit code, stdout, stderr).
fn openclaw(peer: &support::Peer, state: &Path, args: &[&str]) -> (i32, String, String) {
    let out = Command::new(&peer.node)
        .arg(peer.pkg.join("openclaw.mjs"))
        .args(args)
        .env("HOME", state)
        .env("OPENCLAW_STATE_DIR", state.join(".openclaw"))
        .env("PATH", format!("{}:/usr/bin:/bin", peer.node.parent().unwrap().display()))
        .env_remove("OPENCLAW_GATEWAY_TOKEN")
        .env_remove("OPENCLAW_GATEWAY_PASSWORD")
        .output()
        .expect("run openclaw");
    let s = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), s(&out.stdout), s(&out.stderr))
}

/// OpenClaw's node client (tests/support/openclaw_client.mjs) with its
/// state in `state`.
fn node_client(peer: &support::Peer, state: &Path, input: &Value) -> Value {
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("crates/gateway/tests/support/openclaw_client.mjs");
    let out = Command::new(&peer.node)
        .arg(&script)
        .arg(input.to_string())
        .env("OPENCLAW_PKG", &peer.pkg)
        .env("HOME", state)
        .env("OPENCLAW_STATE_DIR", state.join(".openclaw"))
        .output()
        .expect("run node");
    assert!(out.status.success(), "node: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("node output ({e}): {}", String::from_utf8_lossy(&out.stdout)))
}

fn state_dir(env: &Env, name: &str) -> PathBuf {
    let d = env.tmp.path().join(name);
    std::fs::create_dir_all(&d).unwrap();
    d
}

#[test]
fn openclaw_cli_gateway_call_health_against_gw_serve() {
    let peer = support::peer();
    let env = Env::new();
    let serve = serve_with_secrets(&env, &[]);
    let url = serve.url();
    let state = state_dir(&env, "oc-cli");
    for (flag, secret, method) in [("--token", SHARED, "token"), ("--password", PASSWORD, "password")] {
        let (code, out, err) =
            openclaw(&peer, &state, &["gateway", "call", "health", "--url", &url, flag, secret, "--json"]);
        assert_eq!(code, 0, "{flag}: stdout {out} stderr {err}; gw serve log:\n{}", serve.log());
        let v: Value = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out}"));
        assert_eq!(v["ok"], true, "{v}");
        assert!(v["ts"].as_u64().is_some(), "{v}");
        serve_support::eventually("the connect is logged", || {
            serve.log().contains(&format!("accepted ({method}, role operator)"))
        });
    }
    // The CLI sends no device on loopback with a shared secret: nothing was issued.
    assert!(!serve.log().contains(", device "), "{}", serve.log());
    // A wrong token: the CLI fails, naming the gateway's refusal.
    let (code, out, err) =
        openclaw(&peer, &state, &["gateway", "call", "health", "--url", &url, "--token", "oc-wrong", "--json"]);
    assert_ne!(code, 0);
    let all = format!("{out}{err}");
    assert!(all.contains("token mismatch"), "{all}");
    serve_support::eventually("refused", || serve.log().contains("refused (AUTH_TOKEN_MISMATCH)"));
    let log = serve.log();
    for s in [SHARED, PASSWORD, "oc-wrong"] {
        assert!(!log.contains(s), "{log}");
    }
}

#[test]
fn openclaw_node_client_signed_device_gets_device_tokens_per_device_and_role() {
    let peer = support::peer();
    let env = Env::new();
    let serve = serve_with_secrets(&env, &["--issue-bootstrap"]);
    let url = serve.url();
    let state = state_dir(&env, "oc-node");
    let mut tokens = Vec::new();
    let mut device = String::new();
    for (role, scopes) in [("operator", json!(["operator.read"])), ("node", json!([]))] {
        // With the shared token and its own device key: a device token for this role.
        let v = node_client(&peer, &state, &json!({"url": url, "role": role, "scopes": scopes, "token": SHARED}));
        assert_eq!(v["health"]["ok"], true, "{v}");
        assert_eq!((&v["auth"]["method"], &v["auth"]["role"]), (&json!("token"), &json!(role)), "{v}");
        let t = v["auth"]["deviceToken"].as_str().unwrap_or_else(|| panic!("no device token: {v}")).to_owned();
        assert!(v["auth"]["issuedAtMs"].as_u64().is_some());
        device = v["deviceId"].as_str().unwrap().to_owned();
        assert!(
            serve.log().contains(&format!("role {role}, device {device}); issued 1 device token")),
            "{}",
            serve.log()
        );
        // Without any credential: OpenClaw's client reconnects with the device
        // token it stored for this device and role.
        let v = node_client(&peer, &state, &json!({"url": url, "role": role, "scopes": scopes}));
        assert_eq!((&v["auth"]["method"], &v["auth"]["role"]), (&json!("device-token"), &json!(role)), "{v}");
        assert_eq!(v["auth"]["scopes"], scopes);
        assert_eq!(v["health"]["ok"], true);
        tokens.push(t);
    }
    assert_ne!(tokens[0], tokens[1], "one token per role");
    // Another OpenClaw device (another state directory) cannot use them.
    let other = state_dir(&env, "oc-other");
    let v = node_client(&peer, &other, &json!({"url": url, "role": "node", "scopes": [], "deviceToken": tokens[1]}));
    assert_eq!(v["error"]["details"]["code"], "AUTH_DEVICE_TOKEN_MISMATCH", "{v}");
    // A bootstrap connect from a fresh OpenClaw device: the primary node token
    // and the operator token in deviceTokens[], as OpenClaw's gateway hands off.
    let boot = env.stored("p", &url, &["--bootstrap"]).unwrap();
    let fresh = state_dir(&env, "oc-boot");
    let v = node_client(&peer, &fresh, &json!({"url": url, "role": "node", "scopes": [], "bootstrapToken": boot}));
    assert_eq!(v["auth"]["method"], "bootstrap-token", "{v}");
    assert!(v["auth"]["deviceToken"].is_string(), "{v}");
    let extra = v["auth"]["deviceTokens"].as_array().unwrap();
    assert_eq!((extra.len(), &extra[0]["role"]), (1, &json!("operator")), "{v}");
    assert_ne!(v["deviceId"].as_str().unwrap(), device);
    // The node reconnects with its stored device token, which retires the bootstrap token.
    let v = node_client(&peer, &fresh, &json!({"url": url, "role": "node", "scopes": []}));
    assert_eq!(v["auth"]["method"], "device-token", "{v}");
    let again = serve_support::connect_with(serve.port_addr(), json!({"bootstrapToken": boot}), Some("node"), None);
    assert_eq!(again.refused(), "AUTH_BOOTSTRAP_TOKEN_INVALID");
    let log = serve.log();
    for t in tokens.iter().chain([&boot]) {
        assert!(!log.contains(t.as_str()), "{log}");
    }
}
