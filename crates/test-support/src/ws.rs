//! A WebSocket client for protocol-4 gateways, for tests that drive a
//! gateway frame by frame (gw-gateway's server suite, the gw binary's
//! `gw serve` and OpenClaw suites): open a connection and read the
//! challenge, send a `connect` (signed by a device when asked), and read
//! the answer as an open connection, a refusal and its close code, an HTTP
//! refusal, or a failure.

use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use serde_json::Value;
use tungstenite::client::IntoClientRequest;
use tungstenite::{Message, WebSocket};

/// The longest a connect or a read of these helpers waits.
pub const TIMEOUT: Duration = Duration::from_secs(30);

/// What a WebSocket connection attempt got.
#[derive(Debug)]
pub enum Conn {
    /// Connected: the hello-ok `res` frame (raw text) and its payload.
    Open(Box<WebSocket<TcpStream>>, String, Value),
    /// The gateway answered the `connect` with `ok:false`: its `error`
    /// object and the close code that followed.
    Refused(Value, Option<u16>),
    /// Refused with this HTTP status (and body) before the upgrade.
    Http(u16, String),
    /// Anything else.
    Failed(String),
}

impl Conn {
    #[track_caller]
    pub fn hello(self) -> (WebSocket<TcpStream>, String, Value) {
        match self {
            Conn::Open(ws, text, v) => (*ws, text, v),
            other => panic!("expected an open connection, got {other:?}"),
        }
    }
    #[track_caller]
    pub fn status(&self) -> u16 {
        match self {
            Conn::Http(s, _) => *s,
            other => panic!("expected an HTTP refusal, got {other:?}"),
        }
    }
    /// The refusal's `error.details.code` (`AUTH_TOKEN_MISMATCH`, ...),
    /// after checking that close 1008 followed it.
    #[track_caller]
    pub fn refused(&self) -> String {
        match self {
            Conn::Refused(e, close) => {
                assert_eq!(*close, Some(1008), "a refusal is followed by close 1008: {e}");
                e["details"]["code"].as_str().unwrap_or("?").to_owned()
            }
            other => panic!("expected a refused connect, got {other:?}"),
        }
    }
}

/// A device proof of `dev` for `connect` params `p` over the challenge
/// (`nonce`, `ts`), signed over OpenClaw's v3 payload (the token signed
/// is `p.auth`'s token, device token or bootstrap token).
pub fn device_proof(dev: &gw_gateway::DeviceIdentity, p: &Value, nonce: &str, ts: u64) -> Value {
    let auth = &p["auth"];
    let token = ["token", "deviceToken", "bootstrapToken"].iter().find_map(|k| auth[*k].as_str()).unwrap_or("");
    let scopes: Vec<String> =
        p["scopes"].as_array().map(|a| a.iter().map(|s| s.as_str().unwrap().to_owned()).collect()).unwrap_or_default();
    let payload = gw_gateway::v3_payload(&gw_gateway::SignedFields {
        device_id: dev.id(),
        client_id: p["client"]["id"].as_str().unwrap(),
        client_mode: p["client"]["mode"].as_str().unwrap(),
        role: p["role"].as_str().unwrap(),
        scopes: &scopes,
        signed_at_ms: ts,
        token: token.as_bytes(),
        nonce,
        platform: p["client"]["platform"].as_str().unwrap_or(""),
        device_family: p["client"]["deviceFamily"].as_str().unwrap_or(""),
    })
    .unwrap();
    serde_json::json!({"id": dev.id(), "publicKey": dev.public_key(), "signature": dev.sign(&payload),
        "signedAt": ts, "nonce": nonce})
}

/// `connect` params as OpenClaw's CLI sends them (client cli/cli/linux),
/// with `auth` and `role` (operator if `None`).
pub fn connect_params(auth: Value, role: Option<&str>, scopes: &[&str]) -> Value {
    serde_json::json!({
        "minProtocol": 4, "maxProtocol": 4,
        "client": {"id": "cli", "version": "test", "platform": "linux", "mode": "cli"},
        "role": role.unwrap_or("operator"), "scopes": scopes, "caps": [], "auth": auth,
    })
}

/// Upgrades a connection to `addr` and reads the challenge (its payload).
pub fn open(addr: SocketAddr) -> Result<(WebSocket<TcpStream>, Value), Conn> {
    let stream = TcpStream::connect_timeout(&addr, TIMEOUT).map_err(|e| Conn::Failed(format!("connect: {e}")))?;
    open_over(stream)
}

pub fn open_over(stream: TcpStream) -> Result<(WebSocket<TcpStream>, Value), Conn> {
    let addr = stream.peer_addr().unwrap();
    stream.set_read_timeout(Some(TIMEOUT)).unwrap();
    let req = format!("ws://{addr}").into_client_request().unwrap();
    let mut ws = match tungstenite::client::client(req, stream) {
        Ok((ws, _)) => ws,
        Err(tungstenite::HandshakeError::Failure(tungstenite::Error::Http(r))) => {
            let body = r.body().as_ref().map(|b| String::from_utf8_lossy(b).into_owned()).unwrap_or_default();
            return Err(Conn::Http(r.status().as_u16(), body));
        }
        Err(e) => return Err(Conn::Failed(e.to_string())),
    };
    match ws.read() {
        Ok(Message::Text(t)) => {
            let v: Value = serde_json::from_str(t.as_str()).unwrap();
            assert_eq!(v["event"], "connect.challenge", "the first frame is the challenge: {v}");
            Ok((ws, v["payload"].clone()))
        }
        other => Err(Conn::Failed(format!("no challenge: {other:?}"))),
    }
}

/// Sends a `connect` with `params` (and, with `dev`, a device proof over
/// the challenge) and reads the answer.
pub fn send_connect(
    mut ws: WebSocket<TcpStream>,
    challenge: &Value,
    mut params: Value,
    dev: Option<&gw_gateway::DeviceIdentity>,
) -> Conn {
    if let Some(d) = dev {
        let nonce = challenge["nonce"].as_str().unwrap();
        params["device"] = device_proof(d, &params, nonce, challenge["ts"].as_u64().unwrap());
    }
    let frame = serde_json::json!({"type": "req", "id": "c-1", "method": "connect", "params": params});
    if let Err(e) = ws.send(Message::text(frame.to_string())) {
        return Conn::Failed(format!("send connect: {e}"));
    }
    read_answer(ws)
}

/// Reads the `res` to the `connect` (and, for a refusal, the close).
pub fn read_answer(mut ws: WebSocket<TcpStream>) -> Conn {
    match ws.read() {
        Ok(Message::Text(t)) => {
            let text = t.as_str().to_owned();
            let v: Value = serde_json::from_str(&text).unwrap();
            assert_eq!(v["type"], "res", "{v}");
            if v["ok"] == true {
                return Conn::Open(Box::new(ws), text, v["payload"].clone());
            }
            let close = loop {
                match ws.read() {
                    Ok(Message::Close(c)) => break c.map(|c| u16::from(c.code)),
                    Ok(_) => continue,
                    Err(_) => break None,
                }
            };
            Conn::Refused(v["error"].clone(), close)
        }
        Ok(Message::Close(c)) => Conn::Failed(format!("closed: {c:?}")),
        other => Conn::Failed(format!("no answer: {other:?}")),
    }
}

/// Connects to `addr` with `token` in `auth.token` (no credential if
/// `None`), asking for `role` (operator if `None`), and reads the answer.
pub fn connect(addr: SocketAddr, token: Option<&str>, role: Option<&str>) -> Conn {
    connect_with(addr, token_auth(token), role, None)
}

pub fn connect_over(stream: TcpStream, token: Option<&str>, role: Option<&str>) -> Conn {
    connect_with_over(stream, token_auth(token), role, None)
}

fn token_auth(token: Option<&str>) -> Value {
    token.map_or(serde_json::json!({}), |t| serde_json::json!({"token": t}))
}

/// Connects with `auth` as `params.auth`, signed by `dev` if given.
pub fn connect_with(
    addr: SocketAddr,
    auth: Value,
    role: Option<&str>,
    dev: Option<&gw_gateway::DeviceIdentity>,
) -> Conn {
    let stream = match TcpStream::connect_timeout(&addr, TIMEOUT) {
        Ok(s) => s,
        Err(e) => return Conn::Failed(format!("connect: {e}")),
    };
    connect_with_over(stream, auth, role, dev)
}

pub fn connect_with_over(
    stream: TcpStream,
    auth: Value,
    role: Option<&str>,
    dev: Option<&gw_gateway::DeviceIdentity>,
) -> Conn {
    let (ws, challenge) = match open_over(stream) {
        Ok(x) => x,
        Err(c) => return c,
    };
    send_connect(ws, &challenge, connect_params(auth, role, &[]), dev)
}
