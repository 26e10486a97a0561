//! The frames of protocol 4 that a client reads and writes during the
//! handshake, parsed strictly.
//!
//! A server frame is one WebSocket text message holding one JSON object:
//! - `{"type":"event","event":NAME,"payload":{…}}` — the first one is
//!   `connect.challenge` with `{"nonce":STRING,"ts":INTEGER_MS}`;
//! - `{"type":"res","id":ID,"ok":true,"payload":{…}}` — for `connect`, the
//!   payload is the hello-ok;
//! - `{"type":"res","id":ID,"ok":false,"error":{"code","message","details":{"code","recommendedNextStep",…}}}`.
//!
//! Every frame is bounded ([`MAX_FRAME_BYTES`], nesting depth 32) and goes
//! through gw-persist's strict JSON reader, so a duplicate key is refused,
//! not resolved one way here and another way in the gateway. Messages about
//! a bad frame never quote a field that could hold a credential.

use std::net::IpAddr;

use gw_cred::MAX_SECRET_LEN;
use gw_persist::{Limits, parse_json};
use gw_token::Secret;
use serde_json::{Map, Value};

use crate::error::{Error, ErrorKind, Refusal, Result};

/// The protocol version gw speaks.
pub const PROTOCOL_VERSION: u64 = 4;
/// The largest server frame read during the handshake (the real hello-ok is
/// about 15 KiB).
pub const MAX_FRAME_BYTES: u64 = 1024 * 1024;
const MAX_DEPTH: usize = 32;
/// The longest challenge nonce accepted.
pub const MAX_NONCE_LEN: usize = 256;
const MAX_TEXT: usize = 512;

/// A frame the server sent.
#[derive(Debug)]
pub enum ServerFrame {
    /// An event.
    Event {
        /// Its name (`connect.challenge`, `tick`, ...).
        event: String,
        /// Its payload (`null` when absent).
        payload: Value,
    },
    /// A response to a request.
    Res {
        /// The request id it answers.
        id: String,
        /// The payload of a success, or the gateway's refusal.
        outcome: std::result::Result<Value, Refusal>,
    },
}

fn bad(at: &str, why: impl Into<String>) -> Error {
    Error::new(ErrorKind::Protocol, "read frame", at, why)
}

/// Parses one text frame from the server.
///
/// # Errors
/// [`ErrorKind::Protocol`]: over the size or depth limit, not JSON, a
/// duplicate key, not an object, an unknown `type`, or fields of the wrong
/// type.
pub fn parse_server_frame(bytes: &[u8], at: &str) -> Result<ServerFrame> {
    let v = parse_json(bytes, &Limits::new(MAX_FRAME_BYTES, MAX_DEPTH))
        .map_err(|e| bad(at, format!("the frame is not acceptable JSON: {}", e.message())))?;
    let Value::Object(mut o) = v else { return Err(bad(at, "the frame is not a JSON object")) };
    match o.get("type").and_then(Value::as_str) {
        Some("event") => {
            let event = short_str(&o, "event").ok_or_else(|| bad(at, "an event frame without a string `event`"))?;
            let payload = o.remove("payload").unwrap_or(Value::Null);
            Ok(ServerFrame::Event { event, payload })
        }
        Some("res") => {
            let id = short_str(&o, "id").ok_or_else(|| bad(at, "a res frame without a string `id`"))?;
            match o.get("ok") {
                Some(Value::Bool(true)) => {
                    let payload = o.remove("payload").ok_or_else(|| bad(at, "a successful res without `payload`"))?;
                    Ok(ServerFrame::Res { id, outcome: Ok(payload) })
                }
                Some(Value::Bool(false)) => {
                    let Some(Value::Object(err)) = o.get("error") else {
                        return Err(bad(at, "a failed res without an `error` object"));
                    };
                    Ok(ServerFrame::Res { id, outcome: Err(refusal_of(err)) })
                }
                _ => Err(bad(at, "a res frame without a boolean `ok`")),
            }
        }
        Some(_) => Err(bad(at, "a frame of an unknown `type` (expected event or res)")),
        None => Err(bad(at, "a frame without a string `type`")),
    }
}

fn short_str(o: &Map<String, Value>, key: &str) -> Option<String> {
    o.get(key).and_then(Value::as_str).filter(|s| s.len() <= MAX_TEXT).map(str::to_owned)
}

/// The printable part of a gateway's text, bounded: what a refusal shows.
fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(MAX_TEXT).collect()
}

/// Whether `s` is printable text within [`MAX_TEXT`]: what gw keeps as
/// sent when it compares it (a method, a refusal's codes).
fn is_plain_text(s: &str) -> bool {
    s.chars().count() <= MAX_TEXT && !s.chars().any(char::is_control)
}

fn refusal_of(err: &Map<String, Value>) -> Refusal {
    // The codes and the next step are compared (the exit class, the
    // watcher's pairing wait, the fix shown), so each is kept as sent or,
    // when not printable text, becomes `?` (no known value): a cleaned copy
    // would read `UNAVAIL\u{1}ABLE` as UNAVAILABLE. The message is only shown.
    let compared = |v: Option<&Value>| {
        v.and_then(Value::as_str).map(|s| if is_plain_text(s) { s.to_owned() } else { "?".to_owned() })
    };
    let details = err.get("details").and_then(Value::as_object);
    Refusal {
        code: compared(err.get("code")).unwrap_or_else(|| "?".to_owned()),
        detail_code: details.and_then(|d| compared(d.get("code"))),
        next_step: details.and_then(|d| compared(d.get("recommendedNextStep"))),
        message: err.get("message").and_then(Value::as_str).map(printable).unwrap_or_default(),
    }
}

/// The server's `connect.challenge`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// The nonce to sign and send back.
    pub nonce: String,
    /// The server's time (ms), sent back as `device.signedAt`.
    pub ts: u64,
}

/// Reads a `connect.challenge` event's payload.
///
/// # Errors
/// [`ErrorKind::Protocol`]: no payload object; a nonce that is missing,
/// empty, longer than [`MAX_NONCE_LEN`] or not printable ASCII without `|`;
/// a `ts` that is missing or not a non-negative integer.
pub fn parse_challenge(payload: &Value, at: &str) -> Result<Challenge> {
    let o = payload.as_object().ok_or_else(|| bad(at, "the challenge has no payload object"))?;
    let nonce = o
        .get("nonce")
        .and_then(Value::as_str)
        .filter(|n| !n.is_empty() && n.len() <= MAX_NONCE_LEN && n.bytes().all(|b| b.is_ascii_graphic() && b != b'|'))
        .ok_or_else(|| bad(at, "the challenge's nonce is missing or malformed"))?;
    let ts = o
        .get("ts")
        .and_then(Value::as_u64)
        .ok_or_else(|| bad(at, "the challenge's ts is missing or not a non-negative integer"))?;
    Ok(Challenge { nonce: nonce.to_owned(), ts })
}

/// A token the gateway issued in its hello-ok: its role, scopes, token and
/// issue time — the very type gw-cred's hand-off stores.
pub use gw_cred::DeviceToken as IssuedToken;

/// The `auth` part of a hello-ok.
#[derive(Debug)]
pub struct HelloAuth {
    /// How the connect was authenticated (`token`, `bootstrap-token`, ...).
    pub method: Option<String>,
    /// The negotiated role.
    pub role: String,
    /// The connection's effective scopes.
    pub scopes: Vec<String>,
    /// `auth.deviceToken` (for [`Self::role`] and [`Self::scopes`]), if issued.
    pub device_token: Option<IssuedToken>,
    /// `auth.deviceTokens[]`: extra hand-off tokens (bootstrap only).
    pub device_tokens: Vec<IssuedToken>,
}

/// A parsed hello-ok.
#[derive(Debug)]
pub struct HelloOk {
    /// The protocol the server chose.
    pub protocol: u64,
    /// `server.version`, if given.
    pub server_version: Option<String>,
    /// The negotiated authorization.
    pub auth: HelloAuth,
}

/// A copy of an issued token (the secret copied into a new wiped buffer).
fn copy(t: &IssuedToken) -> IssuedToken {
    IssuedToken {
        role: t.role.clone(),
        scopes: t.scopes.clone(),
        token: Secret::new(t.token.expose().to_vec()),
        issued_at_ms: t.issued_at_ms,
    }
}

/// The `auth.method` of a hello-ok for a bootstrap-token connect.
pub const BOOTSTRAP_METHOD: &str = "bootstrap-token";

impl HelloOk {
    /// The device tokens of this hello-ok that may be handed off into the
    /// credential store: the primary `auth.deviceToken` and every
    /// `auth.deviceTokens[]` entry — **only** when the connect was
    /// authenticated with a bootstrap token (`sent` is `bootstrapToken` and
    /// the gateway says `auth.method` `bootstrap-token`) and the peer is
    /// loopback. Empty when the hello-ok issued none.
    ///
    /// # Errors
    /// [`ErrorKind::HandoffRefused`] when tokens were offered otherwise:
    /// after a connect with any other credential, or by a peer that is not
    /// loopback. Nothing of them is to be stored.
    ///
    /// # Security
    /// THREATS GATE-3: a gateway (or whoever answers in its place) must not
    /// plant device tokens into gw's store through a connect that was not
    /// a bootstrap on this machine.
    pub fn handoff(&self, sent: &str, peer: IpAddr, at: &str) -> Result<Vec<gw_cred::DeviceToken>> {
        let offered: Vec<&IssuedToken> = self.auth.device_token.iter().chain(&self.auth.device_tokens).collect();
        if offered.is_empty() {
            return Ok(Vec::new());
        }
        let refuse = |why: String| Error::new(ErrorKind::HandoffRefused, "handoff", at, why);
        if sent != "bootstrapToken" || self.auth.method.as_deref() != Some(BOOTSTRAP_METHOD) {
            return Err(refuse(format!(
                "the gateway offered {} device token(s) after a connect that was not a bootstrap (gw sent `{sent}`, \
                 the gateway says auth method `{}`): only a bootstrap connect hands off device tokens; nothing was \
                 stored",
                offered.len(),
                self.auth.method.as_deref().unwrap_or("none"),
            )));
        }
        if !peer.to_canonical().is_loopback() {
            return Err(refuse(format!(
                "the peer {peer} is not loopback: device tokens are handed off only from a gateway on this machine; \
                 nothing was stored"
            )));
        }
        Ok(offered.into_iter().map(copy).collect())
    }
}

/// Reads what `gw cred handoff` takes: a whole `res` frame of a successful
/// `connect` (`{"type":"res","ok":true,"payload":{hello-ok}}`) or its
/// payload (`{"type":"hello-ok",…}`), strictly (size, depth, duplicate keys)
/// and then as [`parse_hello_ok`].
///
/// # Errors
/// [`ErrorKind::Protocol`] for anything else (a refusal `res` too);
/// [`ErrorKind::VersionMismatch`].
pub fn parse_handoff_input(bytes: &[u8], at: &str) -> Result<HelloOk> {
    let v = parse_json(bytes, &Limits::new(MAX_FRAME_BYTES, MAX_DEPTH))
        .map_err(|e| bad(at, format!("the input is not acceptable JSON: {}", e.message())))?;
    match v.get("type").and_then(Value::as_str) {
        Some("res") => match parse_server_frame(bytes, at)? {
            ServerFrame::Res { outcome: Ok(payload), .. } => parse_hello_ok(&payload, at),
            ServerFrame::Res { outcome: Err(r), .. } => {
                Err(bad(at, format!("the res frame is a refusal ({}), not a hello-ok: it hands off nothing", r.code)))
            }
            ServerFrame::Event { .. } => Err(bad(at, "not a res frame")),
        },
        Some("hello-ok") => parse_hello_ok(&v, at),
        _ => Err(bad(at, "the input is neither a `res` frame nor a hello-ok (its `type` is not res or hello-ok)")),
    }
}

/// Parses the payload of a successful `connect` response.
///
/// # Errors
/// [`ErrorKind::VersionMismatch`] if `protocol` is not [`PROTOCOL_VERSION`]
/// (naming both); [`ErrorKind::Protocol`] if `type` is not `hello-ok`, `auth`
/// is missing, a role is not a role name, a scope is not a scope name, a
/// token is not 1 to [`MAX_SECRET_LEN`] printable ASCII characters, or a role appears twice
/// among the issued tokens. No message quotes a role or a token (a gateway
/// that swapped them would otherwise print a token).
pub fn parse_hello_ok(payload: &Value, at: &str) -> Result<HelloOk> {
    let o = payload.as_object().ok_or_else(|| bad(at, "the hello-ok is not an object"))?;
    if o.get("type").and_then(Value::as_str) != Some("hello-ok") {
        return Err(bad(at, "the connect answer is not a hello-ok (its `type` is not \"hello-ok\")"));
    }
    let protocol = o.get("protocol").and_then(Value::as_u64).ok_or_else(|| bad(at, "the hello-ok has no protocol"))?;
    if protocol != PROTOCOL_VERSION {
        return Err(Error::new(
            ErrorKind::VersionMismatch,
            "handshake",
            at,
            format!("the gateway speaks protocol {protocol}; gw speaks protocol {PROTOCOL_VERSION}"),
        ));
    }
    let server_version = o.get("server").and_then(|s| s.get("version")).and_then(Value::as_str).map(printable);
    let a = o.get("auth").and_then(Value::as_object).ok_or_else(|| bad(at, "the hello-ok has no `auth` object"))?;
    let role = role_at(a.get("role"), at, "auth.role")?;
    let scopes = scopes_at(a.get("scopes"), at, "auth.scopes")?;
    let issued_at_ms = a.get("issuedAtMs").and_then(Value::as_u64);
    let device_token = match a.get("deviceToken") {
        None | Some(Value::Null) => None,
        Some(t) => Some(IssuedToken {
            role: role.clone(),
            scopes: scopes.clone(),
            token: token_at(t, at, "auth.deviceToken")?,
            issued_at_ms,
        }),
    };
    let mut device_tokens: Vec<IssuedToken> = Vec::new();
    match a.get("deviceTokens") {
        None | Some(Value::Null) => {}
        Some(Value::Array(list)) => {
            for (i, e) in list.iter().enumerate() {
                let field = format!("auth.deviceTokens[{i}]");
                let e = e.as_object().ok_or_else(|| bad(at, format!("{field} is not an object")))?;
                let t = IssuedToken {
                    role: role_at(e.get("role"), at, &field)?,
                    scopes: scopes_at(e.get("scopes"), at, &field)?,
                    token: token_at(e.get("deviceToken").unwrap_or(&Value::Null), at, &field)?,
                    issued_at_ms: e.get("issuedAtMs").and_then(Value::as_u64),
                };
                let primary = device_token.as_ref().map(|d| d.role.as_str());
                if primary == Some(t.role.as_str()) || device_tokens.iter().any(|d| d.role == t.role) {
                    return Err(bad(at, format!("{field}: a role is issued twice")));
                }
                device_tokens.push(t);
            }
        }
        Some(_) => return Err(bad(at, "auth.deviceTokens is not an array")),
    }
    // The method decides the hand-off (GATE-3), so it is kept exactly as
    // sent, and refused when it is not printable text: cleaned for display
    // instead, `bootstr\u{7f}ap-token` read as the bootstrap method.
    let method = match a.get("method").and_then(Value::as_str) {
        Some(m) if !is_plain_text(m) => {
            return Err(bad(at, "auth.method is not printable text"));
        }
        m => m.map(str::to_owned),
    };
    Ok(HelloOk { protocol, server_version, auth: HelloAuth { method, role, scopes, device_token, device_tokens } })
}

fn role_at(v: Option<&Value>, at: &str, field: &str) -> Result<String> {
    let r = v.and_then(Value::as_str).ok_or_else(|| bad(at, format!("{field}: no role")))?;
    gw_cred::check_role(r)
        .map_err(|_| bad(at, format!("{field}: the role is not a role name (1-64 of a-z 0-9 . _ -)")))?;
    Ok(r.to_owned())
}

fn scopes_at(v: Option<&Value>, at: &str, field: &str) -> Result<Vec<String>> {
    let list = match v {
        None => return Ok(Vec::new()),
        Some(Value::Array(l)) if l.len() <= 64 => l,
        Some(_) => return Err(bad(at, format!("{field}: scopes is not an array of at most 64"))),
    };
    list.iter()
        .map(|s| {
            s.as_str()
                .filter(|s| is_scope(s))
                .map(str::to_owned)
                .ok_or_else(|| bad(at, format!("{field}: a scope is not a scope name (1-128 of a-z A-Z 0-9 . _ : -)")))
        })
        .collect()
}

pub(crate) use gw_cred::is_scope;

fn token_at(v: &Value, at: &str, field: &str) -> Result<Secret> {
    let t = v.as_str().ok_or_else(|| bad(at, format!("{field}: the token is not a string")))?;
    gw_cred::check_secret_text(t)
        .map_err(|_| bad(at, format!("{field}: the token is not 1 to {MAX_SECRET_LEN} printable ASCII characters")))?;
    Ok(Secret::from(t.to_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn challenge_needs_a_nonce_and_an_integer_ts() {
        let ok = parse_challenge(&json!({"nonce": "abc-1", "ts": 17, "capabilities": []}), "g").unwrap();
        assert_eq!(ok, Challenge { nonce: "abc-1".into(), ts: 17 });
        for p in [
            json!({"nonce": "abc"}),
            json!({"nonce": "abc", "ts": -1}),
            json!({"nonce": "abc", "ts": 1.5}),
            json!({"nonce": "abc", "ts": "17"}),
            json!({"nonce": "", "ts": 1}),
            json!({"nonce": "a|b", "ts": 1}),
            json!({"ts": 1}),
            json!(null),
        ] {
            assert_eq!(parse_challenge(&p, "g").unwrap_err().kind(), ErrorKind::Protocol, "{p}");
        }
    }

    #[test]
    fn frames_are_parsed_strictly() {
        for bad_frame in [
            &br#"{"type":"res","id":"1","ok":true,"ok":false,"payload":{}}"#[..],
            br#"{"type":"res","id":"1","payload":{}}"#,
            br#"{"type":"res","id":"1","ok":false}"#,
            br#"{"type":"hello-ok"}"#,
            br#"[1]"#,
            b"not json",
        ] {
            let e = parse_server_frame(bad_frame, "g").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol, "{}", String::from_utf8_lossy(bad_frame));
        }
        let big = format!(r#"{{"type":"event","event":"x","payload":"{}"}}"#, "a".repeat(MAX_FRAME_BYTES as usize));
        assert_eq!(parse_server_frame(big.as_bytes(), "g").unwrap_err().kind(), ErrorKind::Protocol);
    }

    #[test]
    fn refusal_keeps_the_gateways_code_and_next_step() {
        let f = br#"{"type":"res","id":"1","ok":false,"error":{"code":"INVALID_REQUEST","message":"unauthorized: gateway token mismatch","details":{"code":"AUTH_TOKEN_MISMATCH","recommendedNextStep":"update_auth_credentials"}}}"#;
        let ServerFrame::Res { outcome: Err(r), .. } = parse_server_frame(f, "g").unwrap() else { panic!() };
        assert_eq!(r.detail_code.as_deref(), Some("AUTH_TOKEN_MISMATCH"));
        assert_eq!(r.next_step.as_deref(), Some("update_auth_credentials"));
    }

    #[test]
    fn refusal_codes_that_only_look_known_are_compared_as_sent() {
        // Cleaned, each of these read as a code gw acts on: UNAVAILABLE (a
        // busy gateway, not an auth refusal), PAIRING_REQUIRED (the
        // watcher waits for approval), a next step that picks the fix.
        let f = json!({"type":"res","id":"1","ok":false,"error":{
            "code":"UNAVAIL\u{1}ABLE","message":"busy\u{7}",
            "details":{"code":"PAIRING\u{7f}_REQUIRED","recommendedNextStep":"wait_then_\nretry"}}});
        let ServerFrame::Res { outcome: Err(r), .. } = parse_server_frame(f.to_string().as_bytes(), "g").unwrap()
        else {
            panic!()
        };
        assert_eq!(r.code, "?");
        assert_eq!(r.detail_code.as_deref(), Some("?"));
        assert_eq!(r.next_step.as_deref(), Some("?"));
        assert_eq!(r.message, "busy");
        let e = Error::refused("connect", "g", r);
        assert_eq!(e.kind(), ErrorKind::AuthRefused, "{e}");
        assert_eq!(e.fix().as_deref(), Some("check the credential and the device pairing on the gateway"));
        let long = json!({"type":"res","id":"1","ok":false,"error":{"code": "A".repeat(MAX_TEXT + 1)}});
        let ServerFrame::Res { outcome: Err(r), .. } = parse_server_frame(long.to_string().as_bytes(), "g").unwrap()
        else {
            panic!()
        };
        assert_eq!(r.code, "?");
    }

    #[test]
    fn hello_ok_errors_never_quote_a_role_or_token() {
        let secret = "SECRET-token-value-0123";
        let cases = [
            json!({"type":"hello-ok","protocol":4,"auth":{"role": secret, "scopes":[]}}),
            json!({"type":"hello-ok","protocol":4,"auth":{"role":"node","scopes":[secret.to_ascii_uppercase() + " x"]}}),
            json!({"type":"hello-ok","protocol":4,"auth":{"role":"node","deviceToken": format!("{secret} with space")}}),
            json!({"type":"hello-ok","protocol":4,"auth":{"role":"node","deviceTokens":[{"role": format!("{secret}!"), "deviceToken": "t"}]}}),
        ];
        for c in cases {
            let e = parse_hello_ok(&c, "g").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol);
            assert!(!e.to_string().to_ascii_lowercase().contains("secret"), "{e}");
        }
    }

    fn bootstrap_hello(method: &str) -> HelloOk {
        parse_hello_ok(
            &json!({"type":"hello-ok","protocol":4,"auth":{
                "method":method,"role":"node","scopes":[],"deviceToken":"n-tok","issuedAtMs":5,
                "deviceTokens":[{"deviceToken":"o-tok","role":"operator","scopes":["operator.read"],"issuedAtMs":6}]}}),
            "g",
        )
        .unwrap()
    }

    #[test]
    fn gate_3_tokens_after_a_bootstrap_connect_on_loopback_are_handed_off() {
        let h = bootstrap_hello(BOOTSTRAP_METHOD);
        for peer in ["127.0.0.1", "::1", "::ffff:127.0.0.1"] {
            let t = h.handoff("bootstrapToken", peer.parse().unwrap(), "g").unwrap();
            assert_eq!(t.len(), 2);
            assert_eq!((t[0].role.as_str(), t[0].token.expose()), ("node", &b"n-tok"[..]));
            assert_eq!((t[1].role.as_str(), &t[1].scopes[..]), ("operator", &["operator.read".to_owned()][..]));
            assert_eq!(t[1].issued_at_ms, Some(6));
        }
    }

    #[test]
    fn gate_3_tokens_after_a_non_bootstrap_connect_are_refused() {
        for (sent, method) in [
            ("token", "token"),
            ("token", BOOTSTRAP_METHOD),
            ("password", BOOTSTRAP_METHOD),
            ("deviceToken", "device-token"),
            ("bootstrapToken", "token"),
        ] {
            let e = bootstrap_hello(method).handoff(sent, "127.0.0.1".parse().unwrap(), "g").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::HandoffRefused, "{sent} {method}");
            assert!(e.is_security_refusal());
            assert!(!e.to_string().contains("tok\""), "{e}");
        }
    }

    /// Found by the `hello_ok` fuzz target: a method that reads as the
    /// bootstrap method only once its control characters are dropped.
    #[test]
    fn gate_3_a_method_that_only_looks_like_bootstrap_hands_off_nothing() {
        let long = format!("{BOOTSTRAP_METHOD}{}", " ".repeat(MAX_TEXT));
        for method in ["bootstr\u{7f}ap-token", "bootstrap-token\u{0}", "\u{1b}[0mbootstrap-token", long.as_str()] {
            let hello = json!({"type":"hello-ok","protocol":4,"auth":{
                "method":method,"role":"node","scopes":[],"deviceToken":"n-tok"}});
            let e = parse_hello_ok(&hello, "g").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::Protocol, "{method:?}");
            assert!(!e.to_string().contains("n-tok"), "{e}");
        }
        // A printable method other than the bootstrap one is kept as sent.
        let h = bootstrap_hello("bootstrap-token ");
        assert_eq!(h.auth.method.as_deref(), Some("bootstrap-token "));
        let e = h.handoff("bootstrapToken", "127.0.0.1".parse().unwrap(), "g").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::HandoffRefused);
    }

    #[test]
    fn gate_3_tokens_from_a_non_loopback_peer_are_refused() {
        for peer in ["192.0.2.7", "10.0.0.1", "2001:db8::1", "::ffff:192.0.2.7"] {
            let e =
                bootstrap_hello(BOOTSTRAP_METHOD).handoff("bootstrapToken", peer.parse().unwrap(), "g").unwrap_err();
            assert_eq!(e.kind(), ErrorKind::HandoffRefused, "{peer}");
        }
    }

    /// CLI-1: a gateway that swapped `role` and `token` puts a token where
    /// a role goes — in `auth.role` or in an `auth.deviceTokens[]` entry of
    /// a hand-off. The refusal names the field and the rule, never the
    /// value: not in the message, the `Display`, the `Debug` or the fix.
    #[test]
    fn cli_1_a_role_that_is_a_secret_is_not_echoed() {
        let secret = "Swapped-Tok3n_Kp9Lm2Zq7Wx4";
        let cases = [
            (
                json!({"type":"hello-ok","protocol":4,"auth":{"method":"bootstrap-token","role": secret,"deviceToken":"node"}}),
                "auth.role",
            ),
            (
                json!({"type":"hello-ok","protocol":4,"auth":{"method":"bootstrap-token","role":"node","deviceToken":"n-1",
                    "deviceTokens":[{"role":"operator","deviceToken":"o-1"},{"role": format!("{secret}\n"),"deviceToken":"operator"}]}}),
                "auth.deviceTokens[1]",
            ),
        ];
        for (hello, field) in cases {
            let frame = json!({"type":"res","id":"1","ok":true,"payload":hello.clone()});
            for input in [hello.to_string(), frame.to_string()] {
                let e = parse_handoff_input(input.as_bytes(), "g").expect_err("a token is not a role name");
                assert_eq!(e.kind(), ErrorKind::Protocol);
                for shown in [e.message().to_owned(), e.to_string(), format!("{e:?}"), e.fix().unwrap_or_default()] {
                    assert!(!shown.contains("Kp9Lm2"), "the role was echoed: {shown}");
                }
                assert!(e.message().contains(field), "the field is named: {e}");
            }
        }
    }

    #[test]
    fn handoff_input_is_a_res_frame_or_its_payload() {
        let payload =
            json!({"type":"hello-ok","protocol":4,"auth":{"method":"bootstrap-token","role":"node","deviceToken":"n"}});
        let frame = json!({"type":"res","id":"1","ok":true,"payload":payload});
        for input in [payload.to_string(), frame.to_string()] {
            let h = parse_handoff_input(input.as_bytes(), "g").unwrap();
            assert_eq!(h.auth.device_token.unwrap().token.expose(), b"n");
        }
        for bad_input in [
            r#"{"type":"res","id":"1","ok":false,"error":{"code":"INVALID_REQUEST","message":"x"}}"#,
            r#"{"type":"event","event":"tick"}"#,
            r#"{"type":"hello-ok","type":"hello-ok","protocol":4,"auth":{"role":"node"}}"#,
            r#"{"auth":{"deviceTokens":[{"role":"operator","token":"t"}]}}"#,
            "not json",
        ] {
            assert!(parse_handoff_input(bad_input.as_bytes(), "g").is_err(), "{bad_input}");
        }
    }

    #[test]
    fn hello_ok_version_and_tokens() {
        let e = parse_hello_ok(&json!({"type":"hello-ok","protocol":3,"auth":{"role":"node"}}), "g").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::VersionMismatch);
        assert!(e.message().contains('3') && e.message().contains('4'), "{e}");
        assert_eq!(
            parse_hello_ok(&json!({"type":"hello-ok","protocol":4}), "g").unwrap_err().kind(),
            ErrorKind::Protocol
        );
        let h = parse_hello_ok(
            &json!({"type":"hello-ok","protocol":4,"server":{"version":"2026.9.6"},"auth":{
                "method":"bootstrap-token","role":"node","scopes":[],"deviceToken":"n-tok","issuedAtMs":5,
                "deviceTokens":[{"deviceToken":"o-tok","role":"operator","scopes":["operator.read"],"issuedAtMs":5}]}}),
            "g",
        )
        .unwrap();
        assert_eq!(h.server_version.as_deref(), Some("2026.9.6"));
        assert_eq!(h.auth.device_token.as_ref().unwrap().token.expose(), b"n-tok");
        assert_eq!(h.auth.device_tokens[0].role, "operator");
        assert_eq!(h.auth.device_tokens[0].scopes, ["operator.read"]);
        let dup = json!({"type":"hello-ok","protocol":4,"auth":{"role":"node","deviceToken":"a",
            "deviceTokens":[{"deviceToken":"b","role":"node"}]}});
        assert_eq!(parse_hello_ok(&dup, "g").unwrap_err().kind(), ErrorKind::Protocol);
        // Two hand-off tokens for one role: which would be stored is a guess.
        let twice = json!({"type":"hello-ok","protocol":4,"auth":{"role":"node","deviceTokens":[
            {"deviceToken":"b","role":"operator"},{"deviceToken":"c","role":"operator"}]}});
        let e = parse_hello_ok(&twice, "g").unwrap_err();
        assert!(e.message().contains("auth.deviceTokens[1]: a role is issued twice"), "{e}");
    }

    #[test]
    fn scopes_are_at_most_64() {
        let with = |n: usize| {
            let scopes: Vec<String> = (0..n).map(|i| format!("s.{i}")).collect();
            parse_hello_ok(&json!({"type":"hello-ok","protocol":4,"auth":{"role":"node","scopes":scopes}}), "g")
        };
        assert_eq!(with(64).unwrap().auth.scopes.len(), 64);
        let e = with(65).unwrap_err();
        assert!(e.message().contains("scopes is not an array of at most 64"), "{e}");
    }
}
