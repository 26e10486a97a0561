//! The client side of the handshake: wait for the challenge, send one
//! `connect` request (client identity, role, scopes, exactly one credential
//! and, when a device identity is given, its signature over the challenge),
//! read the `res`.
//!
//! This module speaks over a stream the caller has already proven: use it on
//! the stream gw-portguard's `connect_verified` returns, so that nothing —
//! not even the WebSocket upgrade — reaches a port whose owner is not the
//! expected gateway (THREATS PORT-1). Every wait is bounded: the upgrade and
//! the challenge by [`Bounds::challenge`], the whole exchange by
//! [`Bounds::handshake`]; frames by [`MAX_FRAME_BYTES`].

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use gw_cred::MAX_SECRET_LEN;
use gw_token::Secret;
use serde_json::{Map, Value, json};
use tungstenite::client::IntoClientRequest;
use tungstenite::protocol::WebSocketConfig;
use tungstenite::{Message, WebSocket};
use zeroize::Zeroizing;

use crate::device::{DeviceIdentity, SignedFields, v3_payload};
use crate::error::{Error, ErrorKind, Result};
use crate::frame::{
    Challenge, HelloOk, MAX_FRAME_BYTES, PROTOCOL_VERSION, ServerFrame, is_scope, parse_challenge, parse_hello_ok,
    parse_server_frame,
};

/// The credential a `connect` carries. Exactly one is sent.
///
/// When a caller holds several, [`Credential::choose`] picks one by gw's
/// precedence (THREATS CRED-1): the device token issued for this device and
/// role, else the shared token, else the password, else the bootstrap token.
#[derive(Debug)]
pub enum Credential {
    /// No credential (a gateway in `auth.mode: none`).
    None,
    /// The gateway's shared token: `auth.token`.
    Token(Secret),
    /// The gateway's password: `auth.password`.
    Password(Secret),
    /// A bootstrap (setup) token: `auth.bootstrapToken`.
    BootstrapToken(Secret),
    /// A device token issued to this device and role: `auth.deviceToken`.
    DeviceToken(Secret),
}

impl Credential {
    /// The first present of device token, shared token, password, bootstrap
    /// token (THREATS CRED-1), or [`Credential::None`].
    pub fn choose(
        device: Option<Secret>,
        token: Option<Secret>,
        password: Option<Secret>,
        bootstrap: Option<Secret>,
    ) -> Self {
        match (device, token, password, bootstrap) {
            (Some(d), ..) => Self::DeviceToken(d),
            (None, Some(t), ..) => Self::Token(t),
            (None, None, Some(p), _) => Self::Password(p),
            (None, None, None, Some(b)) => Self::BootstrapToken(b),
            (None, None, None, None) => Self::None,
        }
    }

    /// The credential of what gw-cred resolved for a gateway (its CRED-1
    /// precedence: device token, shared token, password, bootstrap token),
    /// in the `auth` field its slot names: a device token (bound to a device
    /// or not) as `deviceToken`, the shared token as `token`; `None` when
    /// nothing is stored.
    pub fn from_resolved(resolved: Option<gw_cred::Resolved>) -> Self {
        let Some(r) = resolved else { return Self::None };
        match r.slot {
            gw_cred::Slot::Device(_) | gw_cred::Slot::Issued { .. } => Self::DeviceToken(r.secret),
            gw_cred::Slot::Shared => Self::Token(r.secret),
            gw_cred::Slot::Password => Self::Password(r.secret),
            gw_cred::Slot::Bootstrap => Self::BootstrapToken(r.secret),
        }
    }

    /// The name of the `auth` field it goes in (`token`, `password`,
    /// `bootstrapToken`, `deviceToken`), or `none`.
    pub fn field(&self) -> &'static str {
        match self {
            Self::None => "none",
            Self::Token(_) => "token",
            Self::Password(_) => "password",
            Self::BootstrapToken(_) => "bootstrapToken",
            Self::DeviceToken(_) => "deviceToken",
        }
    }

    fn secret(&self) -> Option<&Secret> {
        match self {
            Self::None => None,
            Self::Token(s) | Self::Password(s) | Self::BootstrapToken(s) | Self::DeviceToken(s) => Some(s),
        }
    }

    /// What the device signs as `token`: the credential sent, except a
    /// password (OpenClaw signs an empty token then).
    fn signed(&self) -> &[u8] {
        match self {
            Self::None | Self::Password(_) => b"",
            Self::Token(s) | Self::BootstrapToken(s) | Self::DeviceToken(s) => s.expose(),
        }
    }
}

/// Who the client says it is (`connect.params.client`).
#[derive(Debug, Clone)]
pub struct ClientInfo {
    /// `client.id`: one of the ids the gateway knows (`cli` for gw).
    pub id: String,
    /// `client.version`.
    pub version: String,
    /// `client.platform` (`linux`, `darwin`, ...).
    pub platform: String,
    /// `client.mode`: `cli`, `backend`, `node`, `probe`, ...
    pub mode: String,
    /// `client.deviceFamily`, if any.
    pub device_family: Option<String>,
}

impl Default for ClientInfo {
    /// gw as a command-line client: id and mode `cli`, this platform.
    fn default() -> Self {
        let platform = match std::env::consts::OS {
            "macos" => "darwin",
            other => other,
        };
        Self {
            id: "cli".to_owned(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            platform: platform.to_owned(),
            mode: "cli".to_owned(),
            device_family: None,
        }
    }
}

/// One `connect` request.
#[derive(Debug)]
pub struct Connect<'a> {
    /// The client's identity.
    pub client: ClientInfo,
    /// The role asked for (`operator`, `node`).
    pub role: String,
    /// The scopes asked for.
    pub scopes: Vec<String>,
    /// The credential.
    pub credential: Credential,
    /// The device identity that signs the challenge, if any.
    pub device: Option<&'a DeviceIdentity>,
}

/// Time and size bounds of a handshake.
#[derive(Debug, Clone, Copy)]
pub struct Bounds {
    /// The longest wait for the WebSocket upgrade and then the challenge.
    pub challenge: Duration,
    /// The longest the whole handshake may take.
    pub handshake: Duration,
    /// The most events read while waiting for the `res` (ticks, presence).
    pub max_events: usize,
}

impl Default for Bounds {
    fn default() -> Self {
        Self { challenge: Duration::from_secs(5), handshake: Duration::from_secs(15), max_events: 64 }
    }
}

/// The outcome of a successful handshake.
#[derive(Debug)]
pub struct Hello {
    /// The parsed hello-ok.
    pub hello: HelloOk,
    /// The `auth` field the credential was sent in.
    pub sent: &'static str,
    /// Whether the connect was signed with a device identity.
    pub signed: bool,
}

/// A WebSocket to a gateway, after its handshake.
pub type Session = WebSocket<TcpStream>;

/// Upgrades `stream` (already proven to reach the right gateway) to a
/// WebSocket at `url` and runs the handshake.
///
/// # Errors
/// [`ErrorKind::AuthRefused`] when the gateway refuses (its code and
/// recommended next step are in [`Error::refusal`]); [`ErrorKind::VersionMismatch`];
/// [`ErrorKind::Protocol`] for a malformed or out-of-order frame;
/// [`ErrorKind::Timeout`]; [`ErrorKind::Io`]; [`ErrorKind::InvalidRequest`].
pub fn connect(stream: TcpStream, url: &str, req: &Connect<'_>, bounds: &Bounds) -> Result<(Session, Hello)> {
    let start = Instant::now();
    let io =
        |what: &str, e: io::Error| Error::new(ErrorKind::Io, "handshake", url, format!("{what}: {e}")).with_source(e);
    // Reads wake up every TICK so that each wait ends at its own deadline
    // (the challenge bound, then the handshake bound), not at a fixed
    // per-read timeout.
    stream.set_read_timeout(Some(TICK)).map_err(|e| io("socket setup", e))?;
    stream.set_write_timeout(Some(bounds.challenge)).map_err(|e| io("socket setup", e))?;
    let request = url
        .into_client_request()
        .map_err(|e| Error::new(ErrorKind::InvalidRequest, "handshake", url, format!("not a WebSocket URL: {e}")))?;
    let config = WebSocketConfig::default()
        .max_message_size(Some(MAX_FRAME_BYTES as usize))
        .max_frame_size(Some(MAX_FRAME_BYTES as usize));
    let mut upgrade = tungstenite::client::client_with_config(request, stream, Some(config));
    let (mut ws, _) = loop {
        match upgrade {
            Ok(done) => break done,
            Err(tungstenite::HandshakeError::Interrupted(mid)) if start.elapsed() < bounds.challenge => {
                upgrade = mid.handshake();
            }
            Err(tungstenite::HandshakeError::Interrupted(_)) => {
                return Err(Error::new(
                    ErrorKind::Timeout,
                    "handshake",
                    url,
                    "the WebSocket upgrade did not finish in time",
                ));
            }
            Err(tungstenite::HandshakeError::Failure(e)) => return Err(ws_error(url, "the WebSocket upgrade", e)),
        }
    };
    let hello = handshake(&mut ws, url, req, bounds, start)?;
    Ok((ws, hello))
}

/// How often a waiting read wakes up to check its deadline.
const TICK: Duration = Duration::from_millis(100);

/// Runs the handshake on an open WebSocket: challenge, `connect`, `res`.
/// `start` is when the bounds began (the connect, normally). The deadlines
/// are checked whenever a read returns, so the stream must have a short read
/// timeout (or be non-blocking); [`connect`] sets one.
///
/// # Errors
/// As [`connect`].
pub fn handshake<S: Read + Write>(
    ws: &mut WebSocket<S>,
    at: &str,
    req: &Connect<'_>,
    bounds: &Bounds,
    start: Instant,
) -> Result<Hello> {
    check_request(req, at)?;
    let challenge_by = start + bounds.challenge;
    let challenge = match next_frame(ws, at, challenge_by, "the challenge")? {
        ServerFrame::Event { event, payload } if event == "connect.challenge" => parse_challenge(&payload, at)?,
        ServerFrame::Event { .. } => {
            return Err(Error::new(ErrorKind::Protocol, "handshake", at, "an event came before the challenge"));
        }
        ServerFrame::Res { .. } => {
            return Err(Error::new(ErrorKind::Protocol, "handshake", at, "a res came before the challenge"));
        }
    };
    let id = request_id()?;
    let frame = connect_frame(&id, req, &challenge)?;
    ws.send(Message::text(frame.as_str())).map_err(|e| ws_error(at, "sending connect", e))?;
    drop(frame);
    let by = start + bounds.handshake;
    let mut events = 0;
    loop {
        match next_frame(ws, at, by, "the connect answer")? {
            ServerFrame::Event { .. } if events < bounds.max_events => events += 1,
            ServerFrame::Event { .. } => {
                return Err(Error::new(
                    ErrorKind::Protocol,
                    "handshake",
                    at,
                    "too many events before the connect answer",
                ));
            }
            ServerFrame::Res { id: got, .. } if got != id => {
                return Err(Error::new(ErrorKind::Protocol, "handshake", at, "a res for another request id"));
            }
            ServerFrame::Res { outcome: Err(refusal), .. } => return Err(Error::refused("handshake", at, refusal)),
            ServerFrame::Res { outcome: Ok(payload), .. } => {
                let hello = parse_hello_ok(&payload, at)?;
                return Ok(Hello { hello, sent: req.credential.field(), signed: req.device.is_some() });
            }
        }
    }
}

/// Closes the session: a close frame, then reads until the gateway closes
/// too (bounded by the stream's read timeout), so the gateway logs a clean
/// close, not a dropped socket.
pub fn close(ws: &mut Session, bound: Duration) {
    let _ = ws.get_ref().set_read_timeout(Some(bound));
    let _ = ws.close(None);
    let until = Instant::now() + bound;
    while Instant::now() < until && ws.read().is_ok() {}
}

fn check_request(req: &Connect<'_>, at: &str) -> Result<()> {
    let invalid = |why: &str| Error::new(ErrorKind::InvalidRequest, "handshake", at, why.to_owned());
    gw_cred::check_role(&req.role).map_err(|_| invalid("the role is not a role name (1-64 of a-z 0-9 . _ -)"))?;
    if req.scopes.len() > 64 || !req.scopes.iter().all(|s| is_scope(s)) {
        return Err(invalid("a scope is not a scope name (1-128 of a-z A-Z 0-9 . _ : -), or more than 64 scopes"));
    }
    if let Some(s) = req.credential.secret() {
        let text = std::str::from_utf8(s.expose()).map_err(|_| invalid("the credential is not text"))?;
        gw_cred::check_secret_text(text)
            .map_err(|_| invalid(&format!("the credential is not 1 to {MAX_SECRET_LEN} printable ASCII characters")))?;
    }
    Ok(())
}

fn request_id() -> Result<String> {
    let mut b = [0u8; 12];
    getrandom::fill(&mut b)
        .map_err(|e| Error::new(ErrorKind::Io, "handshake", "-", format!("the random source failed: {e}")))?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// The `connect` frame. It holds the credential, so it is wiped when dropped.
fn connect_frame(id: &str, req: &Connect<'_>, ch: &Challenge) -> Result<Zeroizing<String>> {
    let mut client = Map::new();
    client.insert("id".into(), json!(req.client.id));
    client.insert("version".into(), json!(req.client.version));
    client.insert("platform".into(), json!(req.client.platform));
    client.insert("mode".into(), json!(req.client.mode));
    if let Some(f) = &req.client.device_family {
        client.insert("deviceFamily".into(), json!(f));
    }
    let mut params = Map::new();
    params.insert("minProtocol".into(), json!(PROTOCOL_VERSION));
    params.insert("maxProtocol".into(), json!(PROTOCOL_VERSION));
    params.insert("client".into(), Value::Object(client));
    params.insert("role".into(), json!(req.role));
    params.insert("scopes".into(), json!(req.scopes));
    params.insert("caps".into(), json!([]));
    if let Some(device) = req.device {
        let payload = v3_payload(&SignedFields {
            device_id: device.id(),
            client_id: &req.client.id,
            client_mode: &req.client.mode,
            role: &req.role,
            scopes: &req.scopes,
            signed_at_ms: ch.ts,
            token: req.credential.signed(),
            nonce: &ch.nonce,
            platform: &req.client.platform,
            device_family: req.client.device_family.as_deref().unwrap_or(""),
        })?;
        params.insert(
            "device".into(),
            json!({
                "id": device.id(),
                "publicKey": device.public_key(),
                "signature": device.sign(&payload),
                "signedAt": ch.ts,
                "nonce": ch.nonce,
            }),
        );
    }
    // The credential is spliced in as text last, so that no `Value` (which
    // cannot be wiped) ever holds it.
    let enc = |v: &Value| {
        serde_json::to_string(v)
            .map_err(|e| Error::new(ErrorKind::InvalidRequest, "handshake", "-", format!("encoding connect: {e}")))
    };
    let params = enc(&Value::Object(params))?;
    let mut out = Zeroizing::new(String::with_capacity(params.len() + 4200));
    out.push_str("{\"type\":\"req\",\"id\":");
    out.push_str(&enc(&json!(id))?);
    out.push_str(",\"method\":\"connect\",\"params\":");
    match req.credential.secret() {
        None => out.push_str(&params),
        Some(secret) => {
            // `params` is an object that is not empty: reopen it for `auth`.
            out.push_str(&params[..params.len() - 1]);
            out.push_str(",\"auth\":{\"");
            out.push_str(req.credential.field());
            out.push_str("\":\"");
            // check_request proved it printable ASCII; only `"` and `\` need escaping.
            for &b in secret.expose() {
                if b == b'"' || b == b'\\' {
                    out.push('\\');
                }
                out.push(char::from(b));
            }
            out.push_str("\"}}");
        }
    }
    out.push('}');
    Ok(out)
}

fn next_frame<S: Read + Write>(ws: &mut WebSocket<S>, at: &str, by: Instant, what: &str) -> Result<ServerFrame> {
    loop {
        if Instant::now() >= by {
            return Err(Error::new(ErrorKind::Timeout, "handshake", at, format!("no {what} in time")));
        }
        let msg = match ws.read() {
            Ok(m) => m,
            // The read timed out: look at the deadline again.
            Err(tungstenite::Error::Io(ref io))
                if matches!(io.kind(), io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut) =>
            {
                continue;
            }
            Err(other) => return Err(ws_error(at, &format!("waiting for {what}"), other)),
        };
        match msg {
            Message::Text(t) => return parse_server_frame(t.as_bytes(), at),
            Message::Binary(_) => {
                return Err(Error::new(ErrorKind::Protocol, "handshake", at, "a binary frame (the protocol is text)"));
            }
            Message::Close(c) => {
                let why = c.map(|c| format!(" (close code {})", u16::from(c.code))).unwrap_or_default();
                return Err(Error::new(
                    ErrorKind::Io,
                    "handshake",
                    at,
                    format!("the gateway closed before {what}{why}"),
                ));
            }
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => {}
        }
    }
}

fn ws_error(at: &str, what: &str, e: tungstenite::Error) -> Error {
    let (kind, text) = match &e {
        tungstenite::Error::Http(r) => (ErrorKind::Io, format!("{what}: the gateway answered HTTP {}", r.status())),
        tungstenite::Error::Capacity(c) => (ErrorKind::Protocol, format!("{what}: a frame over the limit ({c})")),
        other => (ErrorKind::Io, format!("{what}: {other}")),
    };
    Error::new(kind, "handshake", at, text).with_source(e)
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;

    use super::*;

    #[test]
    fn precedence_is_device_then_token_then_password_then_bootstrap() {
        let s = |t: &str| Some(Secret::from(t.to_owned()));
        assert_eq!(Credential::choose(s("d"), s("t"), s("p"), s("b")).field(), "deviceToken");
        assert_eq!(Credential::choose(None, s("t"), s("p"), s("b")).field(), "token");
        assert_eq!(Credential::choose(None, None, s("p"), s("b")).field(), "password");
        assert_eq!(Credential::choose(None, None, None, s("b")).field(), "bootstrapToken");
        assert_eq!(Credential::choose(None, None, None, None).field(), "none");
    }

    #[test]
    fn a_resolved_slot_goes_in_its_own_auth_field() {
        let r = |slot: gw_cred::Slot| Some(gw_cred::Resolved { slot, secret: Secret::from("s".to_owned()) });
        let issued = gw_cred::Slot::Issued { device: "dev".into(), role: "operator".into() };
        assert_eq!(Credential::from_resolved(r(issued)).field(), "deviceToken");
        assert_eq!(Credential::from_resolved(r(gw_cred::Slot::Device("node".into()))).field(), "deviceToken");
        assert_eq!(Credential::from_resolved(r(gw_cred::Slot::Shared)).field(), "token");
        assert_eq!(Credential::from_resolved(r(gw_cred::Slot::Password)).field(), "password");
        assert_eq!(Credential::from_resolved(r(gw_cred::Slot::Bootstrap)).field(), "bootstrapToken");
        assert_eq!(Credential::from_resolved(None).field(), "none");
    }

    #[test]
    fn connect_frame_is_json_with_exactly_one_credential() {
        let req = Connect {
            client: ClientInfo::default(),
            role: "operator".into(),
            scopes: vec!["operator.read".into()],
            credential: Credential::Token(Secret::from("ab\"c\\d".to_owned())),
            device: None,
        };
        let f = connect_frame("i1", &req, &Challenge { nonce: "n".into(), ts: 1 }).unwrap();
        let v: Value = serde_json::from_str(&f).unwrap();
        assert_eq!(v["params"]["auth"], json!({"token": "ab\"c\\d"}));
        assert_eq!(v["params"]["minProtocol"], json!(4));
        assert_eq!(v["method"], json!("connect"));
        let none = Connect { credential: Credential::None, ..req };
        let f = connect_frame("i1", &none, &Challenge { nonce: "n".into(), ts: 1 }).unwrap();
        let v: Value = serde_json::from_str(&f).unwrap();
        assert!(v["params"].get("auth").is_none());
    }

    /// The credential is spliced into the frame as text (so that no `Value`
    /// holds it): the request's check is what keeps it printable ASCII, and
    /// the role and scopes names.
    #[test]
    fn a_request_is_checked_before_anything_is_sent() {
        let base = || Connect {
            client: ClientInfo::default(),
            role: "operator".into(),
            scopes: vec!["operator.read".into()],
            credential: Credential::Token(Secret::from("t".to_owned())),
            device: None,
        };
        let scopes = |n: usize| (0..n).map(|i| format!("s.{i}")).collect::<Vec<_>>();
        let token = |b: &[u8]| Credential::Token(Secret::new(b.to_vec()));
        assert!(check_request(&base(), "at").is_ok());
        assert!(check_request(&Connect { scopes: scopes(64), ..base() }, "at").is_ok());
        assert!(check_request(&Connect { credential: token(&[b'x'; MAX_SECRET_LEN]), ..base() }, "at").is_ok());
        assert!(check_request(&Connect { credential: Credential::None, ..base() }, "at").is_ok());
        let refused = [
            (Connect { role: "Operator!".into(), ..base() }, "the role is not a role name"),
            (Connect { scopes: scopes(65), ..base() }, "or more than 64 scopes"),
            (Connect { scopes: vec!["a scope".into()], ..base() }, "a scope is not a scope name"),
            (Connect { credential: token(b"\xff\xfe"), ..base() }, "the credential is not text"),
            (Connect { credential: token(b"a\nb"), ..base() }, "printable ASCII"),
            (Connect { credential: token(b""), ..base() }, "printable ASCII"),
            (Connect { credential: token(&[b'x'; MAX_SECRET_LEN + 1]), ..base() }, "printable ASCII"),
        ];
        for (req, why) in refused {
            let e = check_request(&req, "at").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidRequest, "{e}");
            assert!(e.to_string().contains(why), "{why}: {e}");
        }
    }

    /// A device signs the credential it sends (OpenClaw's v3 payload), but
    /// an empty token with a password; the signature in the frame verifies
    /// over exactly that payload.
    #[test]
    fn a_device_signs_the_credential_sent_but_never_a_password() {
        let s = |t: &str| Secret::from(t.to_owned());
        assert_eq!(Credential::Token(s("tok")).signed(), b"tok");
        assert_eq!(Credential::DeviceToken(s("dev")).signed(), b"dev");
        assert_eq!(Credential::BootstrapToken(s("boot")).signed(), b"boot");
        assert_eq!(Credential::Password(s("pw")).signed(), b"");
        assert_eq!(Credential::None.signed(), b"");

        let device = DeviceIdentity::from_seed(&Secret::new(vec![7; 32])).unwrap();
        let req = Connect {
            client: ClientInfo::default(),
            role: "operator".into(),
            scopes: vec!["operator.read".into()],
            credential: Credential::DeviceToken(s("dev-token")),
            device: Some(&device),
        };
        let ch = Challenge { nonce: "nonce-1".into(), ts: 1_700_000_000_000 };
        let v: Value = serde_json::from_str(&connect_frame("i1", &req, &ch).unwrap()).unwrap();
        let payload = v3_payload(&SignedFields {
            device_id: device.id(),
            client_id: &req.client.id,
            client_mode: &req.client.mode,
            role: "operator",
            scopes: &req.scopes,
            signed_at_ms: ch.ts,
            token: b"dev-token",
            nonce: "nonce-1",
            platform: &req.client.platform,
            device_family: "",
        })
        .unwrap();
        let sig = URL_SAFE_NO_PAD.decode(v["params"]["device"]["signature"].as_str().unwrap()).unwrap();
        let key: [u8; 32] =
            URL_SAFE_NO_PAD.decode(v["params"]["device"]["publicKey"].as_str().unwrap()).unwrap().try_into().unwrap();
        let key = ed25519_dalek::VerifyingKey::from_bytes(&key).unwrap();
        let sig = ed25519_dalek::Signature::from_bytes(&sig.try_into().unwrap());
        key.verify_strict(&payload, &sig).expect("the frame's signature is over the credential sent");
        assert_eq!(v["params"]["device"]["nonce"], json!("nonce-1"));
        assert_eq!(v["params"]["device"]["signedAt"], json!(ch.ts));
    }

    #[test]
    fn request_ids_are_fresh_random_hex() {
        let a = request_id().unwrap();
        let b = request_id().unwrap();
        assert_eq!(a.len(), 24, "{a}");
        assert!(a.bytes().all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c)), "{a}");
        assert_ne!(a, b);
    }
}
