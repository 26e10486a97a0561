//! The server side of protocol 4, as OpenClaw's gateway speaks it: what
//! `gw serve` runs for each accepted TCP connection.
//!
//! One connection, in order, every step bounded:
//! 1. the WebSocket upgrade (at most [`ServerConfig::max_upgrade_bytes`],
//!    within [`ServerConfig::handshake`]); no credential is read from it;
//! 2. the server sends `connect.challenge` with a fresh random nonce and its
//!    time in ms;
//! 3. it reads **one** frame, within the same deadline: a text frame of one
//!    JSON object (strict: duplicate keys refused, size and depth bounded),
//!    a `req` whose `method` is `connect`. Anything else — a binary frame, a
//!    `res`, an event, another method, wrong types — ends the connection
//!    (close 1008; an `ok:false` res first when the frame had a request id);
//! 4. it checks the protocol range (must include 4, else `PROTOCOL_MISMATCH`
//!    naming both and close 1002), the client id and mode (OpenClaw's
//!    lists), the role (`operator` or `node`) and scopes;
//! 5. a `device`, when sent, must be proven: id = hex
//!    SHA-256 of the public key, the nonce **this** connection's challenge
//!    nonce, `signedAt` within [`ServerConfig::max_skew_ms`] of the
//!    challenge's `ts`, an Ed25519 signature over OpenClaw's v3 payload
//!    (THREATS GATE-2: a signature captured on one connection is refused on
//!    any other);
//! 6. the credential is checked by the [`Gate`]; a refusal is an `ok:false`
//!    res with OpenClaw's `details.code` and close 1008;
//! 7. the hello-ok, with device tokens: a signed device gets one for its
//!    role; a bootstrap connect gets the primary `auth.deviceToken` for its
//!    role plus `auth.deviceTokens[]` for the other bootstrap roles;
//! 8. then requests ([`METHODS`]) until close, idleness or a frame over the
//!    limit (close 1009).
//!
//! Nothing logged or sent back quotes a credential.

mod auth;
mod gate;

use std::io::{self, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signature, VerifyingKey};
use gw_persist::{Limits, parse_json};
use gw_token::Secret;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};
use tungstenite::protocol::frame::coding::CloseCode;
use tungstenite::protocol::{CloseFrame, WebSocketConfig};
use tungstenite::{Message, WebSocket};
use zeroize::Zeroizing;

use auth::{presented, verify_device};
pub use gate::{BOOTSTRAP_OPERATOR_SCOPES, BOOTSTRAP_ROLES, Gate, ISSUED_FILE};
use gate::{Denied, Method, Presented};

use crate::device::{SignedFields, v3_payload};
use crate::frame::{MAX_NONCE_LEN, PROTOCOL_VERSION, is_scope};

/// The methods a server answers after the hello.
pub const METHODS: [&str; 1] = ["health"];
/// The events a server may send.
pub const EVENTS: [&str; 1] = ["connect.challenge"];
/// OpenClaw 2026.9.6's client ids (`GATEWAY_CLIENT_IDS`).
pub const CLIENT_IDS: [&str; 17] = [
    "webchat-ui",
    "openclaw-control-ui",
    "openclaw-browser-copilot",
    "openclaw-tui",
    "webchat",
    "cli",
    "gateway-client",
    "openclaw-macos",
    "openclaw-linux",
    "openclaw-ios",
    "openclaw-watchos",
    "openclaw-android",
    "node-host",
    "openclaw-worker",
    "test",
    "fingerprint",
    "openclaw-probe",
];
/// OpenClaw 2026.9.6's client modes (`GATEWAY_CLIENT_MODES`).
pub const CLIENT_MODES: [&str; 8] = ["webchat", "cli", "ui", "backend", "node", "worker", "probe", "test"];
/// The roles a client may ask for.
pub const ROLES: [&str; 2] = ["operator", "node"];
const MAX_DEPTH: usize = 32;
const MAX_TEXT: usize = 256;

/// The bounds and identity of a server.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// `hello-ok.server.version`.
    pub version: String,
    /// The largest frame read (and `policy.maxPayload`); bigger ends the
    /// connection with close 1009.
    pub max_payload: usize,
    /// The upgrade plus the `connect` must arrive within this.
    pub handshake: Duration,
    /// A connection idle this long after the hello is closed.
    pub idle: Duration,
    /// The most bytes the upgrade request may take.
    pub max_upgrade_bytes: u64,
    /// How far `device.signedAt` may be from the challenge's `ts` (ms).
    pub max_skew_ms: u64,
    /// When the server started (the snapshot's `uptimeMs`).
    pub started: Instant,
}

impl Default for ServerConfig {
    fn default() -> Self {
        Self {
            version: env!("CARGO_PKG_VERSION").to_owned(),
            max_payload: 64 * 1024,
            handshake: Duration::from_secs(5),
            idle: Duration::from_secs(60),
            max_upgrade_bytes: 16 * 1024,
            max_skew_ms: 120_000,
            started: Instant::now(),
        }
    }
}

/// How one connection ended, for the caller's log (never a credential).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConnectionOutcome {
    /// `accepted (METHOD, role ROLE)…` or `refused (CODE): reason` or
    /// `dropped: …`, followed by how the session ended.
    pub lines: Vec<String>,
    /// The connection completed the hello.
    pub accepted: bool,
}

/// A stream with a deadline and a byte budget during the handshake, then
/// the idle timeout per read.
struct Timed {
    stream: TcpStream,
    deadline: Option<Instant>,
    budget: u64,
}

impl Read for Timed {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if let Some(d) = self.deadline {
            let left = d.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "the handshake took too long"));
            }
            self.stream.set_read_timeout(Some(left))?;
            if self.budget == 0 {
                return Err(io::Error::new(io::ErrorKind::InvalidData, "the upgrade request is too large"));
            }
            let cap = buf.len().min(usize::try_from(self.budget).unwrap_or(usize::MAX));
            let n = self.stream.read(&mut buf[..cap])?;
            self.budget -= n as u64;
            return Ok(n);
        }
        self.stream.read(buf)
    }
}

impl Write for Timed {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.stream.write(buf)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.stream.flush()
    }
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

fn random_hex(n: usize) -> io::Result<String> {
    let mut b = vec![0u8; n];
    getrandom::fill(&mut b).map_err(|e| io::Error::other(format!("the random source failed: {e}")))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// An IPv4-mapped IPv6 peer as its IPv4 address.
fn canonical_peer(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// An error for the log: HTTP errors can echo the request; never printed.
fn scrub(e: &tungstenite::Error) -> String {
    match e {
        tungstenite::Error::Http(r) => format!("HTTP {}", r.status()),
        tungstenite::Error::HttpFormat(_) => "malformed HTTP".into(),
        tungstenite::Error::Url(_) => "bad URL".into(),
        other => other.to_string(),
    }
}

/// Serves one accepted TCP connection from `peer` to its end: the
/// handshake of the module documentation, then requests. Returns what
/// happened, for the caller's log.
pub fn serve_connection(stream: TcpStream, peer: SocketAddr, gate: &Gate<'_>, cfg: &ServerConfig) -> ConnectionOutcome {
    let mut out = ConnectionOutcome { lines: Vec::new(), accepted: false };
    let _ = stream.set_write_timeout(Some(cfg.handshake));
    let timed = Timed { stream, deadline: Some(Instant::now() + cfg.handshake), budget: cfg.max_upgrade_bytes };
    let wsc = WebSocketConfig::default()
        .max_message_size(Some(cfg.max_payload))
        .max_frame_size(Some(cfg.max_payload))
        .read_buffer_size(16 * 1024)
        .write_buffer_size(16 * 1024)
        .max_write_buffer_size(1 << 20);
    let mut ws = match tungstenite::accept_with_config(timed, Some(wsc)) {
        Ok(ws) => ws,
        Err(tungstenite::HandshakeError::Interrupted(_)) => {
            out.lines.push(format!("dropped: the upgrade did not complete within {:?}", cfg.handshake));
            return out;
        }
        Err(tungstenite::HandshakeError::Failure(e)) => {
            out.lines.push(format!("dropped: the upgrade failed: {}", scrub(&e)));
            return out;
        }
    };
    // The handshake budget was for the upgrade request; frames are bounded
    // by the WebSocket limits from here, the deadline still holds.
    ws.get_mut().budget = u64::MAX;
    let (nonce, conn_id) = match (random_hex(16), random_hex(16)) {
        (Ok(n), Ok(c)) => (n, c),
        (Err(e), _) | (_, Err(e)) => {
            out.lines.push(format!("dropped: {e}"));
            return out;
        }
    };
    let ts = now_ms();
    let challenge = json!({"type":"event","event":"connect.challenge","payload":{"nonce": nonce, "ts": ts}});
    if let Err(e) = ws.send(Message::text(challenge.to_string())) {
        out.lines.push(format!("dropped: sending the challenge: {}", scrub(&e)));
        return out;
    }
    let hs = Handshake { gate, cfg, peer: canonical_peer(peer.ip()), nonce: &nonce, ts, conn_id: &conn_id };
    match hs.run(&mut ws) {
        Ok(line) => {
            out.accepted = true;
            out.lines.push(line);
        }
        Err(Stop { res, close, line }) => {
            out.lines.push(line);
            if let Some(res) = res {
                let _ = ws.send(Message::text(res));
            }
            let _ = ws.close(Some(CloseFrame { code: close.0, reason: close.1.into() }));
            drain(&mut ws);
            return out;
        }
    }
    ws.get_mut().deadline = None;
    let _ = ws.get_ref().stream.set_read_timeout(Some(cfg.idle));
    let _ = ws.get_ref().stream.set_write_timeout(Some(cfg.idle));
    out.lines.push(talk(&mut ws, cfg));
    out
}

/// Flushes a close and waits briefly for the peer's, so the refusal is read.
fn drain(ws: &mut WebSocket<Timed>) {
    ws.get_mut().deadline = None;
    let _ = ws.get_ref().stream.set_read_timeout(Some(Duration::from_millis(500)));
    let until = Instant::now() + Duration::from_millis(500);
    while Instant::now() < until && ws.read().is_ok() {}
}

/// Why the handshake stopped: the `res` to send (if the frame had an id),
/// the close code and reason, the log line.
struct Stop {
    res: Option<String>,
    close: (CloseCode, &'static str),
    line: String,
}

fn error_res(id: &str, code: &str, message: &str, details: Option<Value>) -> String {
    let mut error = json!({"code": code, "message": message});
    if let Some(d) = details {
        error["details"] = d;
    }
    json!({"type":"res","id": id,"ok": false,"error": error}).to_string()
}

fn invalid(id: Option<&str>, why: impl Into<String>) -> Stop {
    let why = why.into();
    Stop {
        res: id.map(|id| error_res(id, "INVALID_REQUEST", &format!("invalid connect params: {why}"), None)),
        close: (CloseCode::Policy, "invalid handshake"),
        line: format!("refused (INVALID_REQUEST): {why}"),
    }
}

fn denied(id: &str, d: &Denied) -> Stop {
    let mut details = json!({"code": d.code});
    if let Some(n) = d.next_step {
        details["recommendedNextStep"] = json!(n);
    }
    Stop {
        res: Some(error_res(id, "INVALID_REQUEST", d.message, Some(details))),
        close: (CloseCode::Policy, d.message),
        line: format!("refused ({}): {}", d.code, d.log),
    }
}

fn text<'a>(o: &'a Map<String, Value>, key: &str) -> Option<&'a str> {
    o.get(key).and_then(Value::as_str).filter(|s| !s.is_empty() && s.len() <= MAX_TEXT)
}

/// A proven device: its id.
struct Device {
    id: String,
}

struct Handshake<'a, 'r> {
    gate: &'a Gate<'r>,
    cfg: &'a ServerConfig,
    peer: IpAddr,
    nonce: &'a str,
    ts: u64,
    conn_id: &'a str,
}

impl Handshake<'_, '_> {
    fn run(&self, ws: &mut WebSocket<Timed>) -> Result<String, Stop> {
        let frame = read_first(ws, self.cfg)?;
        let limits = Limits::new(self.cfg.max_payload as u64, MAX_DEPTH);
        let v =
            parse_json(frame.as_bytes(), &limits).map_err(|e| invalid(None, format!("not JSON: {}", e.message())))?;
        drop(frame);
        let Value::Object(f) = v else { return Err(invalid(None, "the frame is not a JSON object")) };
        let id = text(&f, "id").filter(|s| s.bytes().all(|b| b.is_ascii_graphic()));
        if f.get("type").and_then(Value::as_str) != Some("req") {
            return Err(invalid(None, "the first frame is not a req"));
        }
        let id = id.ok_or_else(|| invalid(None, "the req has no string id"))?;
        if f.get("method").and_then(Value::as_str) != Some("connect") {
            return Err(Stop {
                res: Some(error_res(id, "INVALID_REQUEST", "invalid handshake: first request must be connect", None)),
                close: (CloseCode::Policy, "invalid handshake"),
                line: "refused (INVALID_REQUEST): the first request is not connect".into(),
            });
        }
        let p = f.get("params").and_then(Value::as_object).ok_or_else(|| invalid(Some(id), "no params object"))?;
        let min = p.get("minProtocol").and_then(Value::as_u64);
        let max = p.get("maxProtocol").and_then(Value::as_u64);
        let (Some(min), Some(max)) = (min, max) else {
            return Err(invalid(Some(id), "minProtocol/maxProtocol are not non-negative integers"));
        };
        if !(min <= PROTOCOL_VERSION && PROTOCOL_VERSION <= max) {
            let message = format!("protocol mismatch: the client speaks {min}-{max}, this gateway {PROTOCOL_VERSION}");
            let details = json!({"code": "PROTOCOL_MISMATCH", "clientMinProtocol": min, "clientMaxProtocol": max,
                "expectedProtocol": PROTOCOL_VERSION});
            return Err(Stop {
                res: Some(error_res(id, "INVALID_REQUEST", &message, Some(details))),
                close: (CloseCode::Protocol, "protocol mismatch"),
                line: format!("refused (PROTOCOL_MISMATCH): {message}"),
            });
        }
        let client = p.get("client").and_then(Value::as_object).ok_or_else(|| invalid(Some(id), "no client object"))?;
        let client_id = text(client, "id").filter(|c| CLIENT_IDS.contains(c));
        let mode = text(client, "mode").filter(|m| CLIENT_MODES.contains(m));
        let (Some(client_id), Some(mode)) = (client_id, mode) else {
            return Err(invalid(Some(id), "client.id or client.mode is not one OpenClaw defines"));
        };
        let platform = match client.get("platform") {
            None => "",
            Some(v) => {
                v.as_str().filter(|s| s.len() <= MAX_TEXT).ok_or_else(|| invalid(Some(id), "client.platform"))?
            }
        };
        let family = match client.get("deviceFamily") {
            None | Some(Value::Null) => "",
            Some(v) => {
                v.as_str().filter(|s| s.len() <= MAX_TEXT).ok_or_else(|| invalid(Some(id), "client.deviceFamily"))?
            }
        };
        let role = match p.get("role") {
            None => "operator",
            Some(r) => r.as_str().filter(|r| ROLES.contains(r)).ok_or_else(|| Stop {
                res: Some(error_res(id, "INVALID_REQUEST", "invalid role", None)),
                close: (CloseCode::Policy, "invalid role"),
                line: "refused (INVALID_REQUEST): invalid role".into(),
            })?,
        };
        let scopes: Vec<String> = match p.get("scopes") {
            None | Some(Value::Null) => Vec::new(),
            Some(Value::Array(l)) if l.len() <= 64 => l
                .iter()
                .map(|s| s.as_str().filter(|s| is_scope(s)).map(str::to_owned))
                .collect::<Option<_>>()
                .ok_or_else(|| invalid(Some(id), "a scope is not a scope name"))?,
            Some(_) => return Err(invalid(Some(id), "scopes is not an array of at most 64")),
        };
        let presented = presented(p.get("auth")).map_err(|why| invalid(Some(id), why))?;
        let device = match p.get("device") {
            None | Some(Value::Null) => None,
            Some(d) => {
                let fields = SignedFields {
                    device_id: "",
                    client_id,
                    client_mode: mode,
                    role,
                    scopes: &scopes,
                    signed_at_ms: 0,
                    token: presented.signed(),
                    nonce: "",
                    platform,
                    device_family: family,
                };
                let dev = verify_device(d, &fields, self.nonce, self.ts, self.cfg.max_skew_ms).map_err(
                    |(code, message, why)| {
                        let d = Denied { code, message, next_step: None, log: why.to_owned() };
                        denied(id, &d)
                    },
                )?;
                Some(dev)
            }
        };
        let device_id = device.as_ref().map(|d| d.id.as_str());
        let method = self
            .gate
            .authorize(&presented, self.peer, gw_token::unix_now(), device_id, role, &scopes)
            .map_err(|d| denied(id, &d))?;
        drop(presented);
        self.hello(ws, id, &method, role, scopes, device_id)
    }

    /// Issues what the connect earns and sends the hello-ok.
    fn hello(
        &self,
        ws: &mut WebSocket<Timed>,
        id: &str,
        method: &Method,
        role: &str,
        scopes: Vec<String>,
        device: Option<&str>,
    ) -> Result<String, Stop> {
        let now = now_ms();
        let bootstrap_scopes = |r: &str| -> Vec<String> {
            if r == "operator" {
                BOOTSTRAP_OPERATOR_SCOPES.iter().map(|s| (*s).to_owned()).collect()
            } else {
                Vec::new()
            }
        };
        let (granted, grants, boot) = match method {
            Method::Bootstrap { digest } => {
                let mut grants = vec![(role.to_owned(), bootstrap_scopes(role))];
                for r in BOOTSTRAP_ROLES.iter().filter(|r| **r != role) {
                    grants.push(((*r).to_owned(), bootstrap_scopes(r)));
                }
                (bootstrap_scopes(role), grants, Some(digest.as_str()))
            }
            Method::Device { scopes } => (scopes.clone(), Vec::new(), None),
            Method::Token | Method::Scoped { .. } | Method::Password => {
                let grants = if device.is_some() { vec![(role.to_owned(), scopes.clone())] } else { Vec::new() };
                (scopes, grants, None)
            }
        };
        let issued = if grants.is_empty() {
            Vec::new()
        } else {
            self.gate.issue(device, &grants, boot, now).map_err(|e| Stop {
                res: Some(error_res(id, "UNAVAILABLE", "issuing device tokens failed", None)),
                close: (CloseCode::Error, "internal error"),
                line: format!("dropped: issuing device tokens failed: {e}"),
            })?
        };
        // The tokens are spliced in as text (they are `gwdev_` + hex: no
        // escaping), so that no `Value`, which cannot be wiped, holds them.
        let mut auth = Zeroizing::new(String::with_capacity(512));
        auth.push_str(&format!(
            "{{\"method\":{},\"role\":{},\"scopes\":{}",
            json!(method.name()),
            json!(role),
            json!(granted)
        ));
        let token_text = |t: &gate::NewToken| String::from_utf8_lossy(t.token.expose()).into_owned();
        if let Some(primary) = issued.first() {
            let t = Zeroizing::new(token_text(primary));
            auth.push_str(&format!(",\"deviceToken\":\"{}\",\"issuedAtMs\":{}", t.as_str(), primary.issued_at_ms));
        }
        if issued.len() > 1 {
            auth.push_str(",\"deviceTokens\":[");
            for (i, t) in issued[1..].iter().enumerate() {
                let text = Zeroizing::new(token_text(t));
                auth.push_str(&format!(
                    "{}{{\"deviceToken\":\"{}\",\"role\":{},\"scopes\":{},\"issuedAtMs\":{}}}",
                    if i > 0 { "," } else { "" },
                    text.as_str(),
                    json!(t.role),
                    json!(t.scopes),
                    t.issued_at_ms
                ));
            }
            auth.push(']');
        }
        auth.push('}');
        let uptime = u64::try_from(self.cfg.started.elapsed().as_millis()).unwrap_or(u64::MAX);
        let payload = json!({
            "type": "hello-ok",
            "protocol": PROTOCOL_VERSION,
            "server": {"version": self.cfg.version, "connId": self.conn_id},
            "features": {"methods": METHODS, "events": EVENTS},
            "snapshot": {
                "presence": [],
                "health": health(now),
                "stateVersion": {"presence": 0, "health": 0},
                "uptimeMs": uptime,
            },
            "policy": {
                "maxPayload": self.cfg.max_payload,
                "maxBufferedBytes": 1 << 20,
                "tickIntervalMs": 30_000,
            },
        })
        .to_string();
        let mut frame = Zeroizing::new(String::with_capacity(payload.len() + auth.len() + 64));
        frame.push_str(&format!("{{\"type\":\"res\",\"id\":{},\"ok\":true,\"payload\":", json!(id)));
        frame.push_str(&payload[..payload.len() - 1]);
        frame.push_str(",\"auth\":");
        frame.push_str(&auth);
        frame.push_str("}}");
        ws.send(Message::text(frame.as_str())).map_err(|e| Stop {
            res: None,
            close: (CloseCode::Error, "send failed"),
            line: format!("dropped: sending the hello-ok: {}", scrub(&e)),
        })?;
        let signed = device.map_or(String::new(), |d| format!(", device {d}"));
        let n = issued.len();
        Ok(format!(
            "accepted ({}, role {role}{signed}){}",
            method.name(),
            if n > 0 { format!("; issued {n} device token(s)") } else { String::new() }
        ))
    }
}

/// `health`'s answer (and the snapshot's `health`).
fn health(now: u64) -> Value {
    json!({"ok": true, "ts": now, "durationMs": 0})
}

/// Reads the first message: one text frame within the deadline.
fn read_first(ws: &mut WebSocket<Timed>, cfg: &ServerConfig) -> Result<Zeroizing<String>, Stop> {
    let stop = |line: String, code: CloseCode| Stop { res: None, close: (code, "invalid handshake"), line };
    loop {
        match ws.read() {
            Ok(Message::Text(t)) => return Ok(Zeroizing::new(t.as_str().to_owned())),
            Ok(Message::Binary(_)) => {
                return Err(stop("refused: a binary frame (the protocol is text)".into(), CloseCode::Policy));
            }
            Ok(Message::Close(_)) => return Err(stop("dropped: closed before connect".into(), CloseCode::Normal)),
            Ok(_) => {}
            Err(tungstenite::Error::Capacity(e)) => {
                return Err(Stop {
                    res: None,
                    close: (CloseCode::Size, "frame too large"),
                    line: format!("refused: {e} (limit {} bytes)", cfg.max_payload),
                });
            }
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
            {
                return Err(stop(format!("dropped: no connect within {:?}", cfg.handshake), CloseCode::Policy));
            }
            Err(e) => return Err(stop(format!("dropped: {}", scrub(&e)), CloseCode::Protocol)),
        }
    }
}

/// After the hello: answers requests until close, idleness, a frame over
/// the limit (1009) or an error. Returns how it ended.
fn talk(ws: &mut WebSocket<Timed>, cfg: &ServerConfig) -> String {
    let limits = Limits::new(cfg.max_payload as u64, MAX_DEPTH);
    loop {
        let reply = match ws.read() {
            Ok(Message::Text(t)) => answer(t.as_bytes(), &limits),
            Ok(Message::Binary(_)) => {
                let _ = ws.close(Some(CloseFrame { code: CloseCode::Unsupported, reason: "binary frame".into() }));
                drain(ws);
                return "closed (1003): a binary frame".into();
            }
            Ok(Message::Close(_)) => {
                let _ = ws.flush();
                return "closed by the client".into();
            }
            Ok(_) => continue,
            Err(tungstenite::Error::Capacity(e)) => {
                let reason = format!("message larger than {} bytes", cfg.max_payload);
                let _ = ws.close(Some(CloseFrame { code: CloseCode::Size, reason: reason.into() }));
                let _ = ws.flush();
                return format!("closed (1009): {e} (limit {} bytes)", cfg.max_payload);
            }
            Err(tungstenite::Error::Io(e))
                if matches!(e.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
            {
                let _ = ws.close(Some(CloseFrame { code: CloseCode::Away, reason: "idle".into() }));
                let _ = ws.flush();
                return format!("closed: idle for {:?}", cfg.idle);
            }
            Err(tungstenite::Error::ConnectionClosed | tungstenite::Error::AlreadyClosed) => {
                return "closed".into();
            }
            Err(e) => return format!("closed: {}", scrub(&e)),
        };
        match reply {
            Some(r) => {
                if ws.send(Message::text(r)).is_err() {
                    return "closed: the client stopped reading".into();
                }
            }
            None => {
                let _ = ws.close(Some(CloseFrame { code: CloseCode::Policy, reason: "invalid frame".into() }));
                drain(ws);
                return "closed (1008): an invalid frame".into();
            }
        }
    }
}

/// The answer to one frame after the hello: a `res` for a request (the
/// method's payload, or an error for an unknown method), `None` for a frame
/// that is not a well-formed request (the connection ends).
fn answer(frame: &[u8], limits: &Limits) -> Option<String> {
    let Ok(Value::Object(f)) = parse_json(frame, limits) else { return None };
    if f.get("type").and_then(Value::as_str) != Some("req") {
        return None;
    }
    let id = text(&f, "id")?;
    let method = f.get("method").and_then(Value::as_str)?;
    Some(match method {
        "health" => json!({"type":"res","id": id,"ok": true,"payload": health(now_ms())}).to_string(),
        "connect" => error_res(id, "INVALID_REQUEST", "already connected", None),
        _ => error_res(
            id,
            "INVALID_REQUEST",
            "unknown method",
            Some(json!({"method": method.chars().take(64).collect::<String>()})),
        ),
    })
}

#[cfg(test)]
mod tests;
