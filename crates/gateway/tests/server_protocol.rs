//! The server side of protocol 4 (`gw_gateway::server`), over real sockets:
//! [`serve_connection`] runs for each connection a real `TcpListener`
//! accepts, as `gw serve` runs it, and a WebSocket client (gw-test-support's)
//! sends what a client, or a hostile one, would. Every answer is checked
//! frame by frame, with the server's log line for the connection.
//!
//! The gw binary's suites (`tests/serve_gateway.rs`, and OpenClaw's own
//! client in `tests/serve_openclaw.rs`) run the same server behind
//! `gw serve`; these make the library's server answer for itself, so a
//! change to it fails here first (and a mutation run of the crate sees it).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gw_anchor::{Policy, Root};
use gw_gateway::DeviceIdentity;
use gw_gateway::server::{BOOTSTRAP_OPERATOR_SCOPES, ConnectionOutcome, Gate, ServerConfig, serve_connection};
use gw_test_support::ws::{Conn, connect_params, device_proof, open, read_answer, send_connect};
use gw_token::{Grant, Secret, TokenKey, derive, expose, unix_now};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::{Message, WebSocket};

const SHARED: &str = "shared-token-0001";
const PASSWORD: &str = "password-0001";
const ROOT_SECRET: [u8; 32] = [5; 32];

/// A server on a free loopback port: each accepted connection is served on
/// its own thread; each outcome is sent back to the test when the
/// connection ends.
struct Server {
    addr: SocketAddr,
    outcomes: mpsc::Receiver<ConnectionOutcome>,
    bootstrap: Secret,
    version: String,
    _dir: tempfile::TempDir,
}

impl Server {
    fn start(cfg: ServerConfig) -> Self {
        Self::on("127.0.0.1:0", cfg)
    }

    /// Listening on `bind` (`[::]:0` for a dual-stack listener).
    fn on(bind: &str, cfg: ServerConfig) -> Self {
        let dir = tempfile::Builder::new().prefix("gw-server-").tempdir().unwrap();
        let path = dir.path().to_owned();
        let listener = TcpListener::bind(bind).unwrap();
        let addr = listener.local_addr().unwrap();
        let (out_tx, outcomes) = mpsc::channel();
        let (boot_tx, boot_rx) = mpsc::channel();
        let version = cfg.version.clone();
        std::thread::spawn(move || {
            let root = Root::open(&path, &Policy::default()).unwrap();
            let (shared, password) = (Secret::from(SHARED.to_owned()), Secret::from(PASSWORD.to_owned()));
            let audience = format!("ws://127.0.0.1:{}", addr.port());
            let gate = Gate::new(&root, &Secret::new(ROOT_SECRET.to_vec()), audience, Some(&shared), Some(&password));
            let now = unix_now();
            boot_tx.send(gate.issue_bootstrap(now, now + 600).unwrap()).unwrap();
            std::thread::scope(|s| {
                for stream in listener.incoming() {
                    let stream = stream.unwrap();
                    let peer = stream.peer_addr().unwrap();
                    let (gate, cfg, out) = (&gate, &cfg, out_tx.clone());
                    s.spawn(move || {
                        let _ = out.send(serve_connection(stream, peer, gate, cfg));
                    });
                }
            });
        });
        let bootstrap = boot_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let addr = if addr.ip().is_unspecified() { SocketAddr::from(([127, 0, 0, 1], addr.port())) } else { addr };
        Self { addr, outcomes, bootstrap, version, _dir: dir }
    }

    /// The log lines of the next connection to end.
    fn outcome(&self) -> ConnectionOutcome {
        self.outcomes.recv_timeout(Duration::from_secs(20)).expect("a connection's outcome")
    }

    fn open(&self) -> (WebSocket<TcpStream>, Value) {
        open(self.addr).unwrap()
    }

    /// A `connect` with `params` and the answer, signed by `dev` if given.
    fn connect(&self, params: Value, dev: Option<&DeviceIdentity>) -> Conn {
        let (ws, ch) = self.open();
        send_connect(ws, &ch, params, dev)
    }
}

fn cfg() -> ServerConfig {
    ServerConfig { version: "9.9.9-test".into(), ..ServerConfig::default() }
}

fn shared() -> Value {
    connect_params(json!({"token": SHARED}), None, &[])
}

fn now_ms() -> u64 {
    u64::try_from(SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis()).unwrap()
}

fn is_hex(s: &str, len: usize) -> bool {
    s.len() == len && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
}

/// Closes a connection the way a client should and waits for its end.
fn close(mut ws: WebSocket<TcpStream>) {
    let _ = ws.close(None);
    while ws.read().is_ok() {}
}

/// Reads until the server's close frame: its code (None if the
/// connection ended without one) and every text frame before it.
fn until_close(ws: &mut WebSocket<TcpStream>) -> (Option<u16>, Vec<Value>) {
    let mut texts = Vec::new();
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => texts.push(serde_json::from_str(t.as_str()).unwrap()),
            Ok(Message::Close(c)) => return (c.map(|c| u16::from(c.code)), texts),
            Ok(_) => {}
            Err(_) => return (None, texts),
        }
    }
}

/// The refusal of a `connect`: `(details.code or error.code, message, close code)`.
#[track_caller]
fn refusal(c: Conn) -> (String, String, Option<u16>) {
    match c {
        Conn::Refused(e, close) => {
            let code = e["details"]["code"].as_str().or(e["code"].as_str()).unwrap_or("?").to_owned();
            (code, e["message"].as_str().unwrap_or("").to_owned(), close)
        }
        other => panic!("expected a refusal, got {other:?}"),
    }
}

#[test]
fn the_challenge_is_fresh_and_the_hello_ok_says_what_the_server_is() {
    let started = Instant::now() - Duration::from_secs(5);
    let server = Server::start(ServerConfig { max_payload: 12_345, started, ..cfg() });
    let before = now_ms();
    let (ws_a, ch_a) = server.open();
    let (ws_b, ch_b) = server.open();
    let after = now_ms();
    for ch in [&ch_a, &ch_b] {
        assert!(is_hex(ch["nonce"].as_str().unwrap(), 32), "a 16-byte random nonce in hex: {ch}");
        let ts = ch["ts"].as_u64().unwrap();
        assert!(
            (before..=after).contains(&ts),
            "the challenge's ts is the server's time in ms: {ts} not in {before}..={after}"
        );
    }
    assert_ne!(ch_a["nonce"], ch_b["nonce"], "each connection has its own nonce");
    let mut conn_ids = Vec::new();
    for (ws, ch) in [(ws_a, ch_a), (ws_b, ch_b)] {
        let params = connect_params(json!({"token": SHARED}), None, &["operator.read", "operator.write"]);
        let (ws, text, hello) = send_connect(ws, &ch, params, None).hello();
        let res: Value = serde_json::from_str(&text).unwrap();
        assert_eq!((&res["type"], &res["id"], &res["ok"]), (&json!("res"), &json!("c-1"), &json!(true)), "{res}");
        assert_eq!(hello["type"], "hello-ok");
        assert_eq!(hello["protocol"], 4);
        assert_eq!(hello["server"]["version"], server.version);
        conn_ids.push(hello["server"]["connId"].as_str().unwrap().to_owned());
        assert_eq!(hello["features"], json!({"methods": ["health"], "events": ["connect.challenge"]}));
        assert_eq!(
            hello["policy"],
            json!({"maxPayload": 12_345, "maxBufferedBytes": 1_048_576, "tickIntervalMs": 30_000})
        );
        let snap = &hello["snapshot"];
        assert!(snap["uptimeMs"].as_u64().unwrap() >= 5_000, "uptime counts from `started`: {snap}");
        assert!(snap["uptimeMs"].as_u64().unwrap() < 60_000, "{snap}");
        assert_eq!(snap["health"]["ok"], true);
        assert!(snap["health"]["ts"].as_u64().unwrap() >= before, "{snap}");
        // The shared token, no device: granted what was asked, nothing issued.
        assert_eq!(
            hello["auth"],
            json!({"method": "token", "role": "operator", "scopes": ["operator.read", "operator.write"]})
        );
        close(ws);
        let o = server.outcome();
        assert!(o.accepted);
        assert_eq!(o.lines, ["accepted (token, role operator)", "closed by the client"]);
    }
    assert!(conn_ids.iter().all(|c| is_hex(c, 32)), "{conn_ids:?}");
    assert_ne!(conn_ids[0], conn_ids[1]);
}

#[test]
fn each_credential_in_auth_is_taken_by_its_name() {
    // A dual-stack listener: a client on 127.0.0.1 is seen as
    // ::ffff:127.0.0.1, which must count as loopback (the scoped token
    // below may be used only from loopback).
    let server = Server::on("[::]:0", cfg());
    let dev = DeviceIdentity::from_seed(&Secret::new(vec![3; 32])).unwrap();
    // A device token, issued to a signed device connecting with the shared token.
    let (ws, _, hello) = server.connect(shared(), Some(&dev)).hello();
    assert_eq!(hello["auth"]["method"], "token");
    let device_token = hello["auth"]["deviceToken"].as_str().unwrap().to_owned();
    assert!(device_token.starts_with("gwdev_"), "{hello}");
    assert!(hello["auth"]["issuedAtMs"].as_u64().unwrap() > 0);
    assert!(hello["auth"].get("deviceTokens").is_none(), "one role, one token: {hello}");
    close(ws);
    let o = server.outcome();
    assert_eq!(o.lines[0], format!("accepted (token, role operator, device {}); issued 1 device token(s)", dev.id()));
    // A scoped gw token that may be used only from loopback.
    let key = TokenKey::from_root(&Secret::new(ROOT_SECRET.to_vec()));
    let grant = Grant {
        scopes: vec!["gateway.connect".into()],
        audience: Some(format!("ws://127.0.0.1:{}", server.addr.port())),
        ttl: Duration::from_secs(60),
        local: true,
    };
    let scoped = expose(&derive(&key, &grant, unix_now()).unwrap()).to_owned();
    let cases = [
        (json!({"password": PASSWORD}), "password", None),
        (json!({"token": scoped}), "scoped-token", None),
        (json!({"deviceToken": device_token}), "device-token", Some(&dev)),
        (json!({"token": null, "password": PASSWORD}), "password", None),
    ];
    for (auth, method, dev) in cases {
        let (ws, _, hello) = server.connect(connect_params(auth.clone(), None, &[]), dev).hello();
        assert_eq!(hello["auth"]["method"], method, "{auth}");
        close(ws);
        assert!(server.outcome().lines[0].starts_with(&format!("accepted ({method}, role operator")));
    }
    // Not credential text, or a field the protocol does not have: invalid, nothing checked.
    for auth in [json!({"token": 7}), json!({"token": "a b"}), json!({"tokn": SHARED}), json!("token")] {
        let (code, message, close) = refusal(server.connect(connect_params(auth.clone(), None, &[]), None));
        assert_eq!((code.as_str(), close), ("INVALID_REQUEST", Some(1008)), "{auth}");
        assert!(message.starts_with("invalid connect params: "), "{auth}: {message}");
        assert!(!server.outcome().accepted);
    }
}

#[test]
fn a_bootstrap_connect_gets_a_device_token_for_each_bootstrap_role() {
    let server = Server::start(cfg());
    let boot = String::from_utf8(server.bootstrap.expose().to_vec()).unwrap();
    let dev = DeviceIdentity::from_seed(&Secret::new(vec![4; 32])).unwrap();
    let (ws, _, hello) =
        server.connect(connect_params(json!({"bootstrapToken": boot}), None, &["operator.read"]), Some(&dev)).hello();
    let auth = &hello["auth"];
    assert_eq!((&auth["method"], &auth["role"]), (&json!("bootstrap-token"), &json!("operator")), "{auth}");
    assert_eq!(auth["scopes"], json!(BOOTSTRAP_OPERATOR_SCOPES), "the bootstrap operator's scopes, not those asked");
    assert!(auth["deviceToken"].as_str().unwrap().starts_with("gwdev_"));
    let others = auth["deviceTokens"].as_array().unwrap();
    assert_eq!(others.len(), 1, "one more token, for the other bootstrap role: {auth}");
    assert_eq!((&others[0]["role"], &others[0]["scopes"]), (&json!("node"), &json!([])));
    assert!(others[0]["deviceToken"].as_str().unwrap().starts_with("gwdev_"));
    assert_ne!(others[0]["deviceToken"], auth["deviceToken"]);
    assert_eq!(others[0]["issuedAtMs"], auth["issuedAtMs"]);
    close(ws);
    assert_eq!(
        server.outcome().lines[0],
        format!("accepted (bootstrap-token, role operator, device {}); issued 2 device token(s)", dev.id())
    );
}

#[test]
fn the_role_the_client_fields_the_request_id_and_the_scopes_are_checked_at_their_limits() {
    let server = Server::start(cfg());
    let accepted = |params: Value| -> Value {
        let (ws, _, hello) = server.connect(params, None).hello();
        close(ws);
        assert!(server.outcome().accepted);
        hello
    };
    let refused = |params: Value, want: &str| {
        let (code, message, close) = refusal(server.connect(params.clone(), None));
        assert_eq!((code.as_str(), close), ("INVALID_REQUEST", Some(1008)), "{params}");
        assert!(message.contains(want), "{want} in {message:?}");
        let o = server.outcome();
        assert!(!o.accepted && o.lines[0].starts_with("refused (INVALID_REQUEST)"), "{o:?}");
    };
    let mut p = shared();
    p.as_object_mut().unwrap().remove("role");
    assert_eq!(accepted(p)["auth"]["role"], "operator", "no role is the operator's");
    assert_eq!(accepted(connect_params(json!({"token": SHARED}), Some("node"), &[]))["auth"]["role"], "node");
    refused(connect_params(json!({"token": SHARED}), Some("admin"), &[]), "invalid role");
    for (field, ok) in [("platform", "linux"), ("deviceFamily", "desktop")] {
        let mut p = shared();
        p["client"][field] = json!("p".repeat(256));
        accepted(p);
        let mut p = shared();
        p["client"][field] = json!("p".repeat(257));
        refused(p, &format!("client.{field}"));
        let mut p = shared();
        p["client"][field] = json!(7);
        refused(p, &format!("client.{field}"));
        let mut p = shared();
        p["client"][field] = json!(ok);
        accepted(p);
    }
    let mut p = shared();
    p["client"]["deviceFamily"] = Value::Null;
    accepted(p);
    for (field, bad) in [("id", "evil"), ("mode", "evil"), ("id", ""), ("mode", "")] {
        let mut p = shared();
        p["client"][field] = json!(bad);
        refused(p, "client.id or client.mode");
    }
    let scopes = |n: usize| (0..n).map(|i| format!("operator.s{i}")).collect::<Vec<_>>();
    let mut p = shared();
    p["scopes"] = json!(scopes(64));
    assert_eq!(accepted(p)["auth"]["scopes"].as_array().unwrap().len(), 64);
    let mut p = shared();
    p["scopes"] = json!(scopes(65));
    refused(p, "scopes is not an array of at most 64");
    let mut p = shared();
    p["scopes"] = Value::Null;
    assert_eq!(accepted(p)["auth"]["scopes"], json!([]));
    // The request id: 1 to 256 visible ASCII characters, echoed in the answer.
    for id in ["i".repeat(256), "x".into()] {
        let (ws, _) = server.open();
        let conn = send_req(ws, json!({"type":"req","id": id,"method":"connect","params": shared()}));
        let (ws, text, _) = conn.hello();
        assert_eq!(serde_json::from_str::<Value>(&text).unwrap()["id"], json!(id));
        close(ws);
        assert!(server.outcome().accepted);
    }
    for id in [json!("i".repeat(257)), json!(""), json!("a b"), json!(7)] {
        let (mut ws, _) = server.open();
        ws.send(Message::text(json!({"type":"req","id": id,"method":"connect","params": shared()}).to_string()))
            .unwrap();
        let (close, texts) = until_close(&mut ws);
        assert_eq!((close, texts.len()), (Some(1008), 0), "no answer to a request without a usable id ({id})");
        assert_eq!(server.outcome().lines, ["refused (INVALID_REQUEST): the req has no string id"], "{id}");
    }
}

fn send_req(mut ws: WebSocket<TcpStream>, frame: Value) -> Conn {
    ws.send(Message::text(frame.to_string())).unwrap();
    read_answer(ws)
}

#[test]
fn the_protocol_range_must_include_4() {
    let server = Server::start(cfg());
    for (min, max) in [(4, 4), (3, 5), (1, 4), (4, 9)] {
        let mut p = shared();
        p["minProtocol"] = json!(min);
        p["maxProtocol"] = json!(max);
        let (ws, _, hello) = server.connect(p, None).hello();
        assert_eq!(hello["protocol"], 4);
        close(ws);
        assert!(server.outcome().accepted, "{min}-{max}");
    }
    for (min, max) in [(5, 6), (2, 3), (5, 3)] {
        let mut p = shared();
        p["minProtocol"] = json!(min);
        p["maxProtocol"] = json!(max);
        let Conn::Refused(e, close) = server.connect(p, None) else { panic!("{min}-{max} accepted") };
        assert_eq!(close, Some(1002), "a protocol mismatch closes with 1002");
        assert_eq!(
            e["details"],
            json!({"code": "PROTOCOL_MISMATCH", "clientMinProtocol": min, "clientMaxProtocol": max, "expectedProtocol": 4})
        );
        assert_eq!(e["message"], format!("protocol mismatch: the client speaks {min}-{max}, this gateway 4"));
        assert_eq!(
            server.outcome().lines,
            [format!("refused (PROTOCOL_MISMATCH): protocol mismatch: the client speaks {min}-{max}, this gateway 4")]
        );
    }
    let mut p = shared();
    p["minProtocol"] = json!(-4);
    let (code, message, _) = refusal(server.connect(p, None));
    assert_eq!(code, "INVALID_REQUEST");
    assert!(message.contains("minProtocol/maxProtocol"), "{message}");
    let _ = server.outcome();
}

/// A device object for `params` over the challenge, edited by `edit`
/// before it is sent.
fn signed_connect(server: &Server, dev: &DeviceIdentity, edit: impl FnOnce(&mut Value, &str, u64)) -> Conn {
    let (ws, ch) = server.open();
    let (nonce, ts) = (ch["nonce"].as_str().unwrap().to_owned(), ch["ts"].as_u64().unwrap());
    let mut p = shared();
    p["device"] = device_proof(dev, &p, &nonce, ts);
    edit(&mut p, &nonce, ts);
    send_connect(ws, &ch, p, None)
}

#[test]
fn gate_2_a_device_proof_is_checked_field_by_field() {
    let server = Server::start(ServerConfig { max_skew_ms: 1_000, ..cfg() });
    let dev = DeviceIdentity::from_seed(&Secret::new(vec![6; 32])).unwrap();
    let accepted = |c: Conn| {
        let (ws, _, hello) = c.hello();
        close(ws);
        assert!(server.outcome().lines[0].contains(&format!("device {}", dev.id())));
        hello
    };
    let refused = |c: Conn, want: &str, log: &str| {
        let (code, message, close) = refusal(c);
        assert_eq!((code.as_str(), close), (want, Some(1008)), "{message}");
        let o = server.outcome();
        assert_eq!(o.lines, [format!("refused ({want}): {log}")]);
    };
    let resign = |p: &mut Value, nonce: &str, at: u64| p["device"] = device_proof(&dev, p, nonce, at);
    // signedAt within the skew bound, to the millisecond, either way.
    for d in [-1_000i64, 1_000, 0] {
        let hello = accepted(signed_connect(&server, &dev, |p, n, ts| resign(p, n, ts.checked_add_signed(d).unwrap())));
        assert!(hello["auth"]["deviceToken"].is_string());
    }
    for d in [-1_001i64, 1_001] {
        let c = signed_connect(&server, &dev, |p, n, ts| resign(p, n, ts.checked_add_signed(d).unwrap()));
        refused(c, "DEVICE_AUTH_SIGNATURE_EXPIRED", "signedAt is not near the challenge");
    }
    let c = signed_connect(&server, &dev, |p, _, ts| p["device"]["signedAt"] = json!(ts.to_string()));
    refused(c, "DEVICE_AUTH_SIGNATURE_EXPIRED", "signedAt is not an integer");
    // The nonce: required, at most 256 bytes, trimmed, this connection's.
    let c = signed_connect(&server, &dev, |p, _, _| {
        p["device"].as_object_mut().unwrap().remove("nonce");
    });
    refused(c, "DEVICE_AUTH_NONCE_REQUIRED", "no nonce");
    let c = signed_connect(&server, &dev, |p, _, _| p["device"]["nonce"] = json!("   "));
    refused(c, "DEVICE_AUTH_NONCE_REQUIRED", "no nonce");
    let c = signed_connect(&server, &dev, |p, _, _| p["device"]["nonce"] = json!("n".repeat(257)));
    refused(c, "DEVICE_AUTH_NONCE_REQUIRED", "no nonce");
    let c = signed_connect(&server, &dev, |p, _, _| p["device"]["nonce"] = json!("n".repeat(256)));
    refused(c, "DEVICE_AUTH_NONCE_MISMATCH", "not this connection's challenge nonce");
    accepted(signed_connect(&server, &dev, |p, n, _| p["device"]["nonce"] = json!(format!(" {n} "))));
    // The key and the id.
    let c =
        signed_connect(&server, &dev, |p, _, _| p["device"]["publicKey"] = json!(URL_SAFE_NO_PAD.encode([1u8; 31])));
    refused(c, "DEVICE_AUTH_PUBLIC_KEY_INVALID", "not 32 bytes of base64url");
    let not_a_point = (0u8..=255)
        .map(|b| [b; 32])
        .find(|k| ed25519_dalek::VerifyingKey::from_bytes(k).is_err())
        .expect("some 32-byte string is not an Ed25519 point");
    let c = signed_connect(&server, &dev, |p, _, _| {
        p["device"]["publicKey"] = json!(URL_SAFE_NO_PAD.encode(not_a_point));
        p["device"]["id"] = json!(Sha256::digest(not_a_point).iter().map(|b| format!("{b:02x}")).collect::<String>());
    });
    refused(c, "DEVICE_AUTH_PUBLIC_KEY_INVALID", "not an Ed25519 point");
    let c = signed_connect(&server, &dev, |p, _, _| p["device"]["id"] = json!("0".repeat(64)));
    refused(c, "DEVICE_AUTH_DEVICE_ID_MISMATCH", "the id is not sha256(publicKey)");
    for edit in ["id", "publicKey", "signature"] {
        let c = signed_connect(&server, &dev, |p, _, _| {
            p["device"].as_object_mut().unwrap().remove(edit);
        });
        refused(c, "DEVICE_AUTH_INVALID", "the device object is malformed");
    }
    let c = signed_connect(&server, &dev, |p, _, _| p["device"] = json!("device"));
    refused(c, "DEVICE_AUTH_INVALID", "the device object is malformed");
    // The signature: base64url of 64 bytes, over exactly what was sent.
    let c = signed_connect(&server, &dev, |p, _, _| p["device"]["signature"] = json!("!!"));
    refused(c, "DEVICE_AUTH_SIGNATURE_INVALID", "bad signature");
    let c = signed_connect(&server, &dev, |p, n, ts| {
        resign(p, n, ts);
        p["device"]["signedAt"] = json!(ts - 1);
    });
    refused(c, "DEVICE_AUTH_SIGNATURE_INVALID", "bad signature");
    let c = signed_connect(&server, &dev, |p, n, ts| {
        resign(p, n, ts);
        p["client"]["platform"] = json!("darwin");
    });
    refused(c, "DEVICE_AUTH_SIGNATURE_INVALID", "bad signature");
}

#[test]
fn after_the_hello_requests_are_answered_until_the_connection_ends() {
    let server = Server::start(ServerConfig { max_payload: 2048, idle: Duration::from_millis(400), ..cfg() });
    let req = |ws: &mut WebSocket<TcpStream>, frame: Value| -> Value {
        ws.send(Message::text(frame.to_string())).unwrap();
        match ws.read().unwrap() {
            Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
            other => panic!("{other:?}"),
        }
    };
    let (mut ws, _, _) = server.connect(shared(), None).hello();
    let before = now_ms();
    let r = req(&mut ws, json!({"type":"req","id":"h1","method":"health"}));
    assert_eq!(
        (&r["type"], &r["id"], &r["ok"], &r["payload"]["ok"]),
        (&json!("res"), &json!("h1"), &json!(true), &json!(true))
    );
    assert!(r["payload"]["ts"].as_u64().unwrap() >= before, "{r}");
    let r = req(&mut ws, json!({"type":"req","id":"c2","method":"connect","params": shared()}));
    assert_eq!((&r["ok"], &r["error"]["message"]), (&json!(false), &json!("already connected")), "{r}");
    let long = "m".repeat(100);
    let r = req(&mut ws, json!({"type":"req","id":"u","method": long}));
    assert_eq!(r["error"]["code"], "INVALID_REQUEST");
    assert_eq!(r["error"]["details"]["method"], "m".repeat(64), "an unknown method is named, cut to 64 characters");
    // A frame that is not a request ends the session.
    ws.send(Message::text(json!({"type":"res","id":"x","ok":true}).to_string())).unwrap();
    assert_eq!(until_close(&mut ws), (Some(1008), vec![]));
    assert_eq!(server.outcome().lines, ["accepted (token, role operator)", "closed (1008): an invalid frame"]);
    // A binary frame: 1003.
    let (mut ws, _, _) = server.connect(shared(), None).hello();
    ws.send(Message::binary(b"{}".to_vec())).unwrap();
    assert_eq!(until_close(&mut ws).0, Some(u16::from(CloseCode::Unsupported)));
    assert_eq!(server.outcome().lines[1], "closed (1003): a binary frame");
    // A frame over the limit: 1009.
    let (mut ws, _, _) = server.connect(shared(), None).hello();
    ws.send(Message::text(json!({"type":"req","id":"b","method":"health","pad":"p".repeat(4096)}).to_string()))
        .unwrap();
    assert_eq!(until_close(&mut ws).0, Some(1009));
    assert!(server.outcome().lines[1].starts_with("closed (1009): "));
    // Idle past the bound: 1001, not before.
    let (mut ws, _, _) = server.connect(shared(), None).hello();
    let t0 = Instant::now();
    assert_eq!(until_close(&mut ws).0, Some(1001));
    assert!(t0.elapsed() >= Duration::from_millis(350), "closed after {:?}", t0.elapsed());
    assert_eq!(server.outcome().lines[1], "closed: idle for 400ms");
}

#[test]
fn the_upgrade_and_the_connect_are_bounded() {
    let server =
        Server::start(ServerConfig { handshake: Duration::from_millis(600), max_upgrade_bytes: 1024, ..cfg() });
    let raw = |bytes: &[u8]| -> Vec<u8> {
        let mut s = TcpStream::connect(server.addr).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.write_all(bytes).unwrap();
        let mut got = Vec::new();
        let _ = s.read_to_end(&mut got);
        got
    };
    let upgrade = |pad: usize| {
        format!(
            "GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nX-Pad: {}\r\n\r\n",
            "p".repeat(pad)
        )
    };
    // Under the budget: upgraded (then silent, so dropped at the bound).
    let got = raw(upgrade(700).as_bytes());
    assert!(got.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&got));
    assert_eq!(server.outcome().lines, ["dropped: no connect within 600ms"]);
    // Over it: no upgrade, whatever comes after.
    let got = raw(upgrade(2000).as_bytes());
    assert!(!got.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&got));
    let o = server.outcome();
    assert_eq!(o.lines.len(), 1);
    assert!(
        o.lines[0].starts_with("dropped: the upgrade failed: ")
            && o.lines[0].contains("the upgrade request is too large"),
        "{o:?}"
    );
    // Half a request, then nothing: dropped at the bound.
    let t0 = Instant::now();
    let got = raw(b"GET / HTTP/1.1\r\nHost: x\r\n");
    assert!(got.is_empty());
    assert!(t0.elapsed() >= Duration::from_millis(500), "dropped after {:?}", t0.elapsed());
    assert_eq!(server.outcome().lines, ["dropped: the upgrade did not complete within 600ms"]);
    // Upgraded and challenged, then silent: close 1008 at the bound.
    let (mut ws, _) = server.open();
    let t0 = Instant::now();
    assert_eq!(until_close(&mut ws), (Some(1008), vec![]));
    let took = t0.elapsed();
    assert!(took >= Duration::from_millis(400) && took < Duration::from_secs(5), "closed after {took:?}");
    assert_eq!(server.outcome().lines, ["dropped: no connect within 600ms"]);
    // A frame the WebSocket layer refuses (a client frame must be masked): close 1002.
    let (ws, _) = server.open();
    let mut s = ws.into_inner();
    s.write_all(&[0x81, 0x02, b'{', b'}']).unwrap();
    let mut ws = WebSocket::from_raw_socket(s, tungstenite::protocol::Role::Client, None);
    assert_eq!(until_close(&mut ws).0, Some(1002));
    let o = server.outcome();
    assert!(o.lines[0].starts_with("dropped: ") && !o.lines[0].contains("within"), "{o:?}");
}

#[test]
fn a_refusal_reaches_a_client_that_sent_more_after_its_connect() {
    let server = Server::start(cfg());
    for _ in 0..5 {
        let (mut ws, _) = server.open();
        let p = connect_params(json!({"token": "wrong"}), None, &[]);
        ws.send(Message::text(json!({"type":"req","id":"c","method":"connect","params": p}).to_string())).unwrap();
        for i in 0..8 {
            ws.send(Message::text(
                json!({"type":"req","id": i.to_string(),"method":"health","pad":"p".repeat(4000)}).to_string(),
            ))
            .unwrap();
        }
        let (close, texts) = until_close(&mut ws);
        assert_eq!(close, Some(1008), "the close after the refusal is read: {texts:?}");
        assert_eq!(texts.len(), 1);
        assert_eq!(texts[0]["error"]["details"]["code"], "AUTH_TOKEN_MISMATCH");
        let _ = server.outcome();
    }
}

/// Resets the connection (SO_LINGER 0, then close): the peer sees ECONNRESET.
fn reset(ws: WebSocket<TcpStream>) {
    let s = ws.into_inner();
    rustix::net::sockopt::set_socket_linger(&s, Some(Duration::ZERO)).unwrap();
    drop(s);
}

#[test]
fn a_client_that_resets_is_logged_as_a_reset_not_as_a_timeout() {
    let server = Server::start(cfg());
    // Before the connect.
    let (ws, _) = server.open();
    reset(ws);
    let o = server.outcome();
    assert!(!o.accepted);
    assert!(o.lines[0].starts_with("dropped: ") && o.lines[0].contains("reset"), "{o:?}");
    // After the hello.
    let (ws, _, _) = server.connect(shared(), None).hello();
    reset(ws);
    let o = server.outcome();
    assert!(o.accepted);
    assert!(o.lines[1].starts_with("closed: ") && o.lines[1].contains("reset"), "{o:?}");
}
