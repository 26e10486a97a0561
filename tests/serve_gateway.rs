//! `gw serve`, the reference gateway, as a real process on real sockets,
//! speaking OpenClaw's protocol 4: ready line, both loopback families on one
//! port, the pidfile (atomic, 0644, removed on SIGTERM/SIGINT), the
//! challenge and one `connect`, refusals with OpenClaw's detail codes and
//! close 1008 (nothing leaked), scoped tokens (TOK-1, TOK-3 by peer), the
//! shared token and password, signed devices and their device tokens per
//! device and role, challenge replay (GATE-2), the bootstrap hand-off
//! (CRED-3), hostile frames, the bounds (frame size, connection count,
//! handshake time) and logs without secrets.

mod serve_support;

use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use gw_gateway::DeviceIdentity;
use gw_token::Secret;
use serde_json::{Value, json};
use serve_support::{
    Conn, Env, connect, connect_params, connect_with, contains, device_proof, eventually, free_port, mode, open,
    send_connect,
};
use tungstenite::Message;
use tungstenite::protocol::frame::coding::CloseCode;

fn v4(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
fn v6(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv6Addr::LOCALHOST, port))
}

/// A raw upgrade request with `auth` as the Authorization header; returns
/// the response head.
fn raw_upgrade(addr: SocketAddr, auth: Option<&str>) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(serve_support::TIMEOUT)).unwrap();
    let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    // The server may answer and close before the whole request is written.
    let _ = write!(
        s,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{auth}\r\n"
    );
    // Up to the end of the response head (or EOF).
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while !contains(&out, b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn serve_listens_on_both_families_writes_pidfile_0644_and_sigterm_removes_it() {
    let env = Env::new();
    env.profile("p", free_port());
    let pidfile = env.profile_dir("p").join("serve.pid");
    // A reader polls the pidfile from before the start: with an atomic
    // write it never sees a partial file.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (p2, s2) = (pidfile.clone(), stop.clone());
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        while !s2.load(std::sync::atomic::Ordering::SeqCst) {
            if let Ok(b) = std::fs::read(&p2) {
                seen.push(b);
            }
        }
        seen
    });
    let mut serve = env.serve("p", &[]);
    eventually("the pidfile is read at least once", || pidfile.exists());
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.join().unwrap();
    assert!(!seen.is_empty());
    let expect_prefix = format!("{} ", serve.pid);
    for b in &seen {
        let t = String::from_utf8(b.clone()).unwrap();
        assert!(t.starts_with(&expect_prefix) && t.ends_with('\n') && t.lines().count() == 1, "partial pidfile {t:?}");
    }
    assert_eq!(serve.pidfile, pidfile);
    assert_eq!(mode(&pidfile), 0o644);
    // No temporary file left next to it.
    let names: Vec<_> = std::fs::read_dir(env.profile_dir("p")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(names.iter().all(|n| !gw_anchor::is_temp_name(n)), "{names:?}");
    // Both families, one port, one process.
    let token = env.derive("p", &["--scope", "gateway.connect", "--local"]);
    for addr in [v4(serve.port), v6(serve.port)] {
        let (_ws, _, hello) = connect(addr, Some(&token), None).hello();
        assert_eq!((&hello["type"], &hello["protocol"]), (&json!("hello-ok"), &json!(4)));
        assert_eq!(hello["auth"]["method"], "scoped-token", "{addr}");
    }
    // Its lease (LEASE-1) names this process and port while it runs.
    let leases = env.profile_dir("p").join("leases");
    let records = || -> Vec<serde_json::Value> {
        std::fs::read_dir(&leases)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap())
            .collect()
    };
    let live = records();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!((live[0]["pid"].as_u64(), live[0]["port"].as_u64()), (Some(serve.pid as u64), Some(serve.port as u64)));
    let st = serve.stop();
    assert_eq!(st.code(), Some(0), "clean exit on SIGTERM: {}", serve.log());
    assert!(!pidfile.exists(), "SIGTERM removes the pidfile");
    assert!(records().is_empty(), "SIGTERM removes the lease");
    assert!(!serve.log().contains(&token), "no token in the log");
}

#[test]
fn serve_sigint_removes_pidfile_too_and_a_foreign_pidfile_is_left() {
    let env = Env::new();
    env.profile("p", free_port());
    let mut serve = env.serve("p", &[]);
    assert!(serve.pidfile.exists());
    serve.signal(rustix::process::Signal::INT);
    assert_eq!(serve.wait().code(), Some(0));
    assert!(!serve.pidfile.exists());
    // A pidfile that another gw serve replaced is not removed by the old one.
    let mut serve = env.serve("p", &["--port", "0"]);
    std::fs::write(&serve.pidfile, "1 1\n").unwrap();
    assert_eq!(serve.stop().code(), Some(0));
    assert_eq!(std::fs::read_to_string(&serve.pidfile).unwrap(), "1 1\n");
}

#[test]
fn serve_missing_or_wrong_credential_is_refused_with_openclaws_code_and_1008() {
    let env = Env::new();
    env.profile("p", free_port());
    env.profile("other", free_port());
    let serve = env.serve("p", &[]);
    let addr = v4(serve.port);
    let foreign = env.derive("other", &["--scope", "gateway.connect", "--local"]);
    let wrong_scope = env.derive("p", &["--scope", "approvals.read", "--local"]);
    let wrong_aud = env.derive("p", &["--scope", "gateway.connect", "--aud", "ws://127.0.0.1:1"]);
    let root_key = std::fs::read_to_string(env.profile_dir("p").join("root.key")).unwrap();
    let cases = [
        (json!({}), "AUTH_TOKEN_MISSING"),
        (json!({"token": "not-a-token"}), "AUTH_TOKEN_MISMATCH"),
        (json!({"token": foreign}), "AUTH_TOKEN_MISMATCH"),
        (json!({"token": wrong_scope}), "AUTH_TOKEN_MISMATCH"),
        (json!({"token": wrong_aud}), "AUTH_TOKEN_MISMATCH"),
        // The root secret itself is no credential (TOK-1).
        (json!({"token": root_key.trim_end()}), "AUTH_TOKEN_MISMATCH"),
        (json!({"password": "pw"}), "AUTH_PASSWORD_NOT_CONFIGURED"),
        (json!({"bootstrapToken": "gwboot_00"}), "AUTH_BOOTSTRAP_TOKEN_INVALID"),
        (json!({"deviceToken": "gwdev_00"}), "AUTH_DEVICE_TOKEN_MISMATCH"),
    ];
    for (auth, code) in &cases {
        let c = connect_with(addr, auth.clone(), None, None);
        assert_eq!(c.refused(), *code, "{auth}");
        let Conn::Refused(e, _) = &c else { unreachable!() };
        assert_eq!(e["code"], "INVALID_REQUEST");
        assert!(e["details"]["recommendedNextStep"].is_string() || *code == "AUTH_SCOPE_MISMATCH", "{e}");
        // Nothing about why beyond the code: no verifier message, no token echoed.
        let text = e.to_string().to_lowercase();
        for word in ["signature", "audience", "locality", "gw2.", "not-a-token"] {
            assert!(!text.contains(word), "{word} leaked: {e}");
        }
    }
    // The upgrade itself carries no credential: an Authorization header is ignored.
    let good = env.derive("p", &["--scope", "gateway.connect", "--aud", &serve.url(), "--local"]);
    assert!(raw_upgrade(addr, Some(&format!("Bearer {good}"))).starts_with("HTTP/1.1 101"));
    assert!(raw_upgrade(addr, None).starts_with("HTTP/1.1 101"));
    let (_ws, _, hello) = connect(addr, Some(&good), None).hello();
    assert_eq!(hello["auth"]["method"], "scoped-token");
    eventually("the refusals are logged", || serve.log().matches("refused (AUTH_").count() >= cases.len());
    let log = serve.log();
    for t in [&foreign, &wrong_scope, &wrong_aud, &good] {
        assert!(!log.contains(t.as_str()), "a token in the log: {log}");
    }
    assert!(!log.contains("not-a-token"), "{log}");
}

#[test]
fn serve_oversized_message_is_refused_with_1009() {
    let env = Env::new();
    env.profile("p", free_port());
    let serve = env.serve("p", &["--max-message-bytes", "1024"]);
    let token = env.derive("p", &["--scope", "gateway.connect", "--local"]);
    let (mut ws, _, hello) = connect(v4(serve.port), Some(&token), None).hello();
    assert_eq!(hello["policy"]["maxPayload"], 1024);
    let req =
        |pad: usize| json!({"type":"req","id":"h","method":"health","params":{"pad":"a".repeat(pad)}}).to_string();
    ws.send(Message::text(req(900))).unwrap();
    match ws.read().unwrap() {
        Message::Text(t) => {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            assert_eq!((&v["id"], &v["ok"], &v["payload"]["ok"]), (&json!("h"), &json!(true), &json!(true)), "{v}");
        }
        other => panic!("expected the health answer, got {other:?}"),
    }
    ws.send(Message::text(req(4096))).unwrap();
    let got = loop {
        match ws.read() {
            Ok(Message::Close(f)) => break f,
            Ok(_) => continue,
            Err(e) => panic!("expected a close frame, got {e}"),
        }
    };
    assert_eq!(got.map(|f| f.code), Some(CloseCode::Size), "{}", serve.log());
    eventually("the refusal is logged", || serve.log().contains("closed (1009)"));
}

#[test]
fn serve_connection_limit_answers_503() {
    let env = Env::new();
    env.profile("p", free_port());
    let serve = env.serve("p", &["--max-connections", "2"]);
    let token = env.derive("p", &["--scope", "gateway.connect", "--local"]);
    let (a, _, _) = connect(v4(serve.port), Some(&token), None).hello();
    let (b, _, _) = connect(v6(serve.port), Some(&token), None).hello();
    let resp = raw_upgrade(v4(serve.port), Some(&format!("Bearer {token}")));
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    drop(a);
    // The slot is given back when the connection ends.
    eventually("a slot is free again", || matches!(connect(v4(serve.port), Some(&token), None), Conn::Open(..)));
    drop(b);
}

#[test]
fn serve_handshake_timeout_drops_a_silent_client() {
    let env = Env::new();
    env.profile("p", free_port());
    let serve = env.serve("p", &["--handshake-timeout", "300ms"]);
    let mut s = TcpStream::connect(v4(serve.port)).unwrap();
    s.set_read_timeout(Some(serve_support::TIMEOUT)).unwrap();
    // Sends half a request, then nothing: the server hangs up.
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the server closed without answering");
    eventually("the drop is logged", || serve.log().contains("did not complete"));
    // Upgraded, challenged, then silent: dropped too (the bound covers the connect).
    let (mut ws, _) = open(v4(serve.port)).unwrap();
    let t0 = std::time::Instant::now();
    let end = loop {
        match ws.read() {
            Ok(Message::Close(c)) => break c.map(|c| c.code),
            Ok(_) => continue,
            Err(_) => break None,
        }
    };
    assert!(t0.elapsed() < Duration::from_secs(5), "dropped within the bound");
    assert_eq!(end, Some(CloseCode::Policy));
    eventually("the drop is logged", || serve.log().contains("no connect within"));
}

#[test]
fn cred_3_serve_bootstrap_hands_off_device_tokens_per_role_and_retires_on_first_use() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let serve = env.serve("p", &["--issue-bootstrap"]);
    let url = serve.url();
    assert_eq!(serve.ready["bootstrap_issued"], true);
    let boot = env.stored("p", &url, &["--bootstrap"]).expect("the bootstrap token was stored");
    // The gateway's own file keeps digests only, 0600.
    let issued = env.profile_dir("p").join("gateway-issued.json");
    assert_eq!(mode(&issued), 0o600);
    assert!(!std::fs::read_to_string(&issued).unwrap().contains(&boot));
    let dev = DeviceIdentity::from_seed(&Secret::new(vec![3; 32])).unwrap();
    let bauth = json!({"bootstrapToken": boot});
    let (_ws, text, hello) = connect_with(v4(port), bauth.clone(), Some("node"), Some(&dev)).hello();
    assert_eq!(hello["auth"]["method"], "bootstrap-token");
    // OpenClaw's shape: the primary token for the connect's role, the others in deviceTokens[].
    let parsed = gw_gateway::frame::parse_hello_ok(&hello, "test").expect("a hello-ok gw's client parses");
    let primary = parsed.auth.device_token.as_ref().unwrap();
    assert_eq!((primary.role.as_str(), primary.scopes.len()), ("node", 0));
    let others: Vec<_> = parsed.auth.device_tokens.iter().map(|t| (t.role.as_str(), t.scopes.clone())).collect();
    assert_eq!(others, [("operator", gw_gateway::server::BOOTSTRAP_OPERATOR_SCOPES.map(String::from).to_vec())]);
    assert!(primary.issued_at_ms.is_some() && parsed.auth.device_tokens[0].issued_at_ms.is_some());
    let node = String::from_utf8(primary.token.expose().to_vec()).unwrap();
    let first_op = String::from_utf8(parsed.auth.device_tokens[0].token.expose().to_vec()).unwrap();
    // The bootstrap token stays valid (a retry after a failed hand-off) ...
    let (_ws2, _, again) = connect_with(v4(port), bauth.clone(), Some("node"), Some(&dev)).hello();
    assert_eq!(again["auth"]["method"], "bootstrap-token");
    // (a retry issues fresh tokens for this device; the first ones are replaced)
    let first_node = node;
    let node = again["auth"]["deviceToken"].as_str().unwrap().to_owned();
    let op = again["auth"]["deviceTokens"][0]["deviceToken"].as_str().unwrap().to_owned();
    let replaced = connect_with(v4(port), json!({"deviceToken": first_node}), Some("node"), Some(&dev));
    assert_eq!(replaced.refused(), "AUTH_DEVICE_TOKEN_MISMATCH");
    // ... the tokens are bound to the device and role they were issued for ...
    let other_dev = DeviceIdentity::from_seed(&Secret::new(vec![4; 32])).unwrap();
    assert_eq!(
        connect_with(v4(port), json!({"deviceToken": node}), Some("node"), Some(&other_dev)).refused(),
        "AUTH_DEVICE_TOKEN_MISMATCH"
    );
    assert_eq!(
        connect_with(v4(port), json!({"deviceToken": node}), Some("node"), None).refused(),
        "AUTH_DEVICE_TOKEN_MISMATCH"
    );
    assert_eq!(
        connect_with(v4(port), json!({"deviceToken": op}), Some("node"), Some(&dev)).refused(),
        "AUTH_DEVICE_TOKEN_MISMATCH"
    );
    // ... and still valid after refused attempts; the first use of a device token retires it.
    let (_ws3, _, h) = connect_with(v4(port), json!({"deviceToken": node}), Some("node"), Some(&dev)).hello();
    assert_eq!((&h["auth"]["method"], &h["auth"]["role"]), (&json!("device-token"), &json!("node")));
    assert!(h["auth"].get("deviceToken").is_none() && h["auth"].get("deviceTokens").is_none(), "{}", h["auth"]);
    assert_eq!(connect_with(v4(port), bauth, Some("node"), Some(&dev)).refused(), "AUTH_BOOTSTRAP_TOKEN_INVALID");
    let (_ws4, _, h) = connect_with(v4(port), json!({"deviceToken": op}), None, Some(&dev)).hello();
    assert_eq!(h["auth"]["scopes"], json!(gw_gateway::server::BOOTSTRAP_OPERATOR_SCOPES));
    let log = serve.log();
    for t in [&boot, &node, &op, &first_node, &first_op] {
        assert!(!log.contains(t.as_str()), "a token in the log: {log}");
    }
    assert!(!contains(std::fs::read(&issued).unwrap().as_slice(), op.as_bytes()));
    drop(text);
}

#[test]
fn serve_shared_token_from_file() {
    let env = Env::new();
    env.profile("p", free_port());
    let file = env.tmp.path().join("shared.txt");
    std::fs::write(&file, "shared-token-0001\n").unwrap();
    let serve = env.serve("p", &["--shared-token-file", file.to_str().unwrap()]);
    let (_ws, _, hello) = connect(v4(serve.port), Some("shared-token-0001"), Some("node")).hello();
    assert_eq!((&hello["auth"]["method"], &hello["auth"]["role"]), (&"token".into(), &"node".into()));
    assert!(hello["auth"].get("deviceToken").is_none(), "no device, no device token");
    assert_eq!(connect(v4(serve.port), Some("shared-token-0002"), None).refused(), "AUTH_TOKEN_MISMATCH");
    assert!(!serve.log().contains("shared-token-000"));
}

#[test]
fn serve_password_from_file() {
    let env = Env::new();
    env.profile("p", free_port());
    let file = env.tmp.path().join("pw.txt");
    std::fs::write(&file, "pass-word-0001\n").unwrap();
    let serve = env.serve("p", &["--password-file", file.to_str().unwrap()]);
    assert_eq!(serve.ready["password"], true);
    let (_ws, _, hello) = connect_with(v4(serve.port), json!({"password": "pass-word-0001"}), None, None).hello();
    assert_eq!(hello["auth"]["method"], "password");
    let wrong = connect_with(v4(serve.port), json!({"password": "pass-word-0002"}), None, None);
    assert_eq!(wrong.refused(), "AUTH_PASSWORD_MISMATCH");
    // The password is not a token.
    assert_eq!(connect(v4(serve.port), Some("pass-word-0001"), None).refused(), "AUTH_TOKEN_MISMATCH");
    assert!(!serve.log().contains("pass-word-000"));
}

/// Connects with `params`, signing with `dev` over what `sign` gives from
/// the challenge (nonce, ts) — the way a replaying attacker would.
fn connect_signed_as(
    port: u16,
    params: Value,
    dev: &DeviceIdentity,
    sign: impl FnOnce(&str, u64) -> (String, u64),
) -> Conn {
    let (ws, ch) = open(v4(port)).unwrap();
    let (nonce, ts) = sign(ch["nonce"].as_str().unwrap(), ch["ts"].as_u64().unwrap());
    let mut params = params;
    params["device"] = device_proof(dev, &params, &nonce, ts);
    send_connect(ws, &json!({}), params, None)
}

#[test]
fn gate_2_replayed_device_signature_is_refused_on_another_connection() {
    let env = Env::new();
    env.profile("p", free_port());
    let file = env.tmp.path().join("shared.txt");
    std::fs::write(&file, "shared-token-0001\n").unwrap();
    let serve = env.serve("p", &["--shared-token-file", file.to_str().unwrap()]);
    let dev = DeviceIdentity::from_seed(&Secret::new(vec![9; 32])).unwrap();
    let params = connect_params(json!({"token": "shared-token-0001"}), None, &["operator.read"]);
    // Connection A: a valid signed connect, captured whole.
    let (ws, ch) = open(v4(serve.port)).unwrap();
    let mut captured = params.clone();
    captured["device"] = device_proof(&dev, &params, ch["nonce"].as_str().unwrap(), ch["ts"].as_u64().unwrap());
    let (_a, _, hello) = send_connect(ws, &json!({}), captured.clone(), None).hello();
    assert_eq!(hello["auth"]["method"], "token");
    assert!(
        hello["auth"]["deviceToken"].as_str().unwrap().starts_with("gwdev_"),
        "a signed device gets a device token"
    );
    // Connection B: the very same frame, replayed, is refused (its nonce is A's).
    let (ws, _) = open(v4(serve.port)).unwrap();
    assert_eq!(send_connect(ws, &json!({}), captured, None).refused(), "DEVICE_AUTH_NONCE_MISMATCH");
    eventually("logged", || serve.log().contains("refused (DEVICE_AUTH_NONCE_MISMATCH)"));
}

#[test]
fn gate_2_wrong_nonce_stale_signed_at_and_forged_fields_are_refused() {
    let env = Env::new();
    env.profile("p", free_port());
    let file = env.tmp.path().join("shared.txt");
    std::fs::write(&file, "shared-token-0001\n").unwrap();
    let serve = env.serve("p", &["--shared-token-file", file.to_str().unwrap()]);
    let port = serve.port;
    let dev = DeviceIdentity::from_seed(&Secret::new(vec![9; 32])).unwrap();
    let params = connect_params(json!({"token": "shared-token-0001"}), None, &["operator.read"]);
    // A nonce of its own choosing.
    let c = connect_signed_as(port, params.clone(), &dev, |_, ts| ("attacker-nonce".into(), ts));
    assert_eq!(c.refused(), "DEVICE_AUTH_NONCE_MISMATCH");
    // The right nonce, signed more than two minutes away from the challenge, either way.
    let c = connect_signed_as(port, params.clone(), &dev, |n, ts| (n.into(), ts - 120_001));
    assert_eq!(c.refused(), "DEVICE_AUTH_SIGNATURE_EXPIRED");
    let c = connect_signed_as(port, params.clone(), &dev, |n, ts| (n.into(), ts + 120_001));
    assert_eq!(c.refused(), "DEVICE_AUTH_SIGNATURE_EXPIRED");
    // Within the bound: accepted.
    let c = connect_signed_as(port, params.clone(), &dev, |n, ts| (n.into(), ts - 1_000));
    assert_eq!(c.hello().2["auth"]["method"], "token");
    // A signature over other fields (another role) than those sent.
    let (ws, ch) = open(v4(port)).unwrap();
    let mut p = params.clone();
    let node = connect_params(json!({"token": "shared-token-0001"}), Some("node"), &["operator.read"]);
    p["device"] = device_proof(&dev, &node, ch["nonce"].as_str().unwrap(), ch["ts"].as_u64().unwrap());
    assert_eq!(send_connect(ws, &json!({}), p, None).refused(), "DEVICE_AUTH_SIGNATURE_INVALID");
    // A device id that is not the key's.
    let (ws, ch) = open(v4(port)).unwrap();
    let mut p = params.clone();
    p["device"] = device_proof(&dev, &params, ch["nonce"].as_str().unwrap(), ch["ts"].as_u64().unwrap());
    p["device"]["id"] = json!("0".repeat(64));
    assert_eq!(send_connect(ws, &json!({}), p, None).refused(), "DEVICE_AUTH_DEVICE_ID_MISMATCH");
    // Nothing was issued to any refused connect: one device token, for the accepted one.
    let issued = std::fs::read_to_string(env.profile_dir("p").join("gateway-issued.json")).unwrap();
    assert_eq!(issued.matches("\"digest\"").count(), 1, "{issued}");
}

#[test]
fn serve_signed_device_gets_device_tokens_per_role_bound_to_it() {
    let env = Env::new();
    env.profile("p", free_port());
    let file = env.tmp.path().join("shared.txt");
    std::fs::write(&file, "shared-token-0001\n").unwrap();
    let serve = env.serve("p", &["--shared-token-file", file.to_str().unwrap()]);
    let a = DeviceIdentity::from_seed(&Secret::new(vec![1; 32])).unwrap();
    let b = DeviceIdentity::from_seed(&Secret::new(vec![2; 32])).unwrap();
    let shared = json!({"token": "shared-token-0001"});
    let mut tokens = Vec::new();
    for role in ["operator", "node"] {
        let (_ws, _, h) = connect_with(v4(serve.port), shared.clone(), Some(role), Some(&a)).hello();
        assert_eq!(h["auth"]["role"], role);
        tokens.push(h["auth"]["deviceToken"].as_str().unwrap().to_owned());
    }
    assert_ne!(tokens[0], tokens[1]);
    for (t, role) in tokens.iter().zip(["operator", "node"]) {
        let (_ws, _, h) = connect_with(v4(serve.port), json!({"deviceToken": t}), Some(role), Some(&a)).hello();
        assert_eq!(h["auth"]["method"], "device-token");
        let stolen = connect_with(v4(serve.port), json!({"deviceToken": t}), Some(role), Some(&b));
        assert_eq!(stolen.refused(), "AUTH_DEVICE_TOKEN_MISMATCH", "bound to device a");
    }
    // Scopes beyond those granted with the token: refused.
    let (ws, ch) = open(v4(serve.port)).unwrap();
    let p = connect_params(json!({"deviceToken": tokens[0]}), None, &["operator.admin"]);
    assert_eq!(send_connect(ws, &ch, p, Some(&a)).refused(), "AUTH_SCOPE_MISMATCH");
    // A new device token for the same device and role replaces the old one.
    let (_ws, _, _) = connect_with(v4(serve.port), shared, Some("node"), Some(&a)).hello();
    assert_eq!(
        connect_with(v4(serve.port), json!({"deviceToken": tokens[1]}), Some("node"), Some(&a)).refused(),
        "AUTH_DEVICE_TOKEN_MISMATCH"
    );
    let log = serve.log();
    assert!(log.contains(&format!("device {}", a.id())), "{log}");
    for t in &tokens {
        assert!(!log.contains(t.as_str()), "{log}");
    }
}

/// Sends `first` as the client's first message after the challenge; returns
/// the `res` (if any) and the close code.
fn first_frame(port: u16, first: Message) -> (Option<Value>, Option<u16>) {
    let (mut ws, _) = open(v4(port)).unwrap();
    ws.send(first).unwrap();
    let mut res = None;
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => res = Some(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Message::Close(c)) => return (res, c.map(|c| u16::from(c.code))),
            Ok(_) => {}
            Err(_) => return (res, None),
        }
    }
}

#[test]
fn serve_hostile_first_frames_are_refused_without_a_hello() {
    let env = Env::new();
    env.profile("p", free_port());
    let serve = env.serve("p", &["--max-message-bytes", "4096"]);
    let token = env.derive("p", &["--scope", "gateway.connect", "--local"]);
    let good = connect_params(json!({"token": token}), None, &[]);
    let req = |params: &Value| json!({"type":"req","id":"x","method":"connect","params":params}).to_string();
    let text = |s: String| Message::text(s);
    let with = |k: &str, v: Value| {
        let mut p = good.clone();
        p[k] = v;
        Message::text(req(&p))
    };
    let good_text = req(&good);
    let cases: Vec<(&str, Message, Option<&str>, u16)> = vec![
        ("a res before the connect", text(r#"{"type":"res","id":"x","ok":true,"payload":{}}"#.into()), None, 1008),
        ("an event", text(r#"{"type":"event","event":"connect.challenge","payload":{}}"#.into()), None, 1008),
        ("a binary frame", Message::binary(good_text.clone().into_bytes()), None, 1008),
        ("not JSON", text("connect please".into()), None, 1008),
        (
            "duplicate keys",
            text(good_text.replacen("\"type\":\"req\"", "\"type\":\"req\",\"type\":\"req\"", 1)),
            None,
            1008,
        ),
        (
            "another method first",
            text(r#"{"type":"req","id":"x","method":"health","params":{}}"#.into()),
            Some("INVALID_REQUEST"),
            1008,
        ),
        ("a string protocol", with("minProtocol", json!("4")), Some("INVALID_REQUEST"), 1008),
        (
            "an unknown client id",
            with("client", json!({"id":"evil","version":"1","platform":"linux","mode":"cli"})),
            Some("INVALID_REQUEST"),
            1008,
        ),
        ("an unknown role", with("role", json!("admin")), Some("INVALID_REQUEST"), 1008),
        ("a scope that is not a name", with("scopes", json!(["a b"])), Some("INVALID_REQUEST"), 1008),
        ("an unknown auth field", with("auth", json!({"tokn": "x"})), Some("INVALID_REQUEST"), 1008),
        (
            "protocol 5-6",
            {
                let mut p = good.clone();
                p["minProtocol"] = json!(5);
                p["maxProtocol"] = json!(6);
                text(req(&p))
            },
            Some("PROTOCOL_MISMATCH"),
            1002,
        ),
        (
            "protocol 3",
            {
                let mut p = good.clone();
                p["minProtocol"] = json!(3);
                p["maxProtocol"] = json!(3);
                text(req(&p))
            },
            Some("PROTOCOL_MISMATCH"),
            1002,
        ),
        ("over the frame limit", with("pad", json!("a".repeat(8192))), None, 1009),
    ];
    for (what, msg, code, close) in cases {
        let (res, got) = first_frame(serve.port, msg);
        assert_eq!(got, Some(close), "{what}: {res:?}");
        match code {
            None => assert!(res.is_none(), "{what}: no answer without a request id: {res:?}"),
            Some(c) => {
                let r = res.unwrap_or_else(|| panic!("{what}: an error res"));
                assert_eq!(r["ok"], false, "{what}");
                let got = r["error"]["details"]["code"].as_str().or(r["error"]["code"].as_str()).unwrap();
                assert_eq!(got, c, "{what}: {r}");
                if c == "PROTOCOL_MISMATCH" {
                    let m = r["error"]["message"].as_str().unwrap();
                    assert!(
                        m.contains('4') && m.contains(&r["error"]["details"]["clientMinProtocol"].to_string()),
                        "{m}"
                    );
                    assert_eq!(r["error"]["details"]["expectedProtocol"], 4);
                }
            }
        }
    }
    // A protocol range that includes 4 is accepted; after the hello, an
    // unknown method gets an error res and the connection stays.
    let mut p = good.clone();
    p["minProtocol"] = json!(3);
    p["maxProtocol"] = json!(9);
    let (ws, ch) = open(v4(serve.port)).unwrap();
    let (mut ws, _, _) = send_connect(ws, &ch, p, None).hello();
    ws.send(Message::text(r#"{"type":"req","id":"u","method":"sessions.list","params":{}}"#)).unwrap();
    let Message::Text(t) = ws.read().unwrap() else { panic!() };
    let v: Value = serde_json::from_str(t.as_str()).unwrap();
    assert_eq!((&v["id"], &v["ok"]), (&json!("u"), &json!(false)), "{v}");
    ws.send(Message::text(r#"{"type":"req","id":"h","method":"health"}"#)).unwrap();
    let Message::Text(t) = ws.read().unwrap() else { panic!() };
    assert!(t.as_str().contains("\"ok\":true"), "{t}");
    assert!(!serve.log().contains(&token));
}
