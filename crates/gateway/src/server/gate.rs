//! What a server accepts as a credential, and the credentials it issued.
//!
//! Accepted in `connect.params.auth`:
//! - `token`: the gateway's shared token (read once at start), or a scoped
//!   `gw2.` token (gw-token) granting [`GATEWAY_CONNECT_SCOPE`], verified
//!   with the profile's root secret, bound to no audience or to the
//!   gateway's canonical key, and — when it is `local` — only from a
//!   loopback peer, judged on the real TCP peer address (THREATS TOK-3);
//! - `password`: the gateway's password (read once at start);
//! - `bootstrapToken`: a bootstrap token the server issued, not expired and
//!   not yet retired;
//! - `deviceToken`: a device token the server issued, for the role asked
//!   and — when it was issued to a signed device — only to that device.
//!
//! **Issued credentials** are remembered in the profile's [`ISSUED_FILE`]
//! (a gw-persist document, 0600, updated under its lock) as keyed SHA-256
//! digests, never as tokens: reading that file gives no credential. Secrets
//! are compared as digests, in constant time (subtle), every entry compared.
//! A device token is kept per device id **and** role, with its scopes; a
//! new one for the same device and role replaces the old one. A bootstrap
//! token stays valid (a client that failed to persist its device tokens can
//! retry, THREATS CRED-3) until one of the device tokens issued for it is
//! first used, which retires it.

use std::net::IpAddr;

use gw_anchor::Root;
use gw_cred::GATEWAY_CONNECT_SCOPE;
use gw_persist::Document;
use gw_token::{Secret, TokenKey, Verifier, hmac_sha256};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::error::{Error, ErrorKind, Result};

/// The file in the profile directory where a server remembers what it issued.
pub const ISSUED_FILE: &str = "gateway-issued.json";
/// The roles a bootstrap client receives device tokens for.
pub const BOOTSTRAP_ROLES: [&str; 2] = ["node", "operator"];
/// The scopes of the operator token a bootstrap hands off: OpenClaw's
/// bounded set (no pairing mutation, no `operator.admin`).
pub const BOOTSTRAP_OPERATOR_SCOPES: [&str; 4] =
    ["operator.approvals", "operator.read", "operator.talk.secrets", "operator.write"];
/// The domain label of the digests kept in [`ISSUED_FILE`].
const DIGEST_LABEL: &[u8] = b"gw-serve/issued-credential/v1";

/// One issued bootstrap token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuedBootstrap {
    digest: String,
    /// Expiry (Unix seconds).
    expires: u64,
}

/// One issued device token. Version 1 files had no `device`, `scopes`,
/// `issued_at_ms`: they read as unbound, scope-less tokens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct IssuedDevice {
    role: String,
    digest: String,
    /// The digest of the bootstrap token it was issued for ("" if none).
    bootstrap: String,
    /// The device id it is bound to ("" if it was issued to no signed device).
    #[serde(default)]
    device: String,
    #[serde(default)]
    scopes: Vec<String>,
    #[serde(default)]
    issued_at_ms: u64,
}

/// The document in [`ISSUED_FILE`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Issued {
    version: u32,
    bootstrap: Vec<IssuedBootstrap>,
    devices: Vec<IssuedDevice>,
}

/// The credential fields of `connect.params.auth`.
#[derive(Debug, Default)]
pub(crate) struct Presented {
    pub(crate) token: Option<Secret>,
    pub(crate) password: Option<Secret>,
    pub(crate) bootstrap: Option<Secret>,
    pub(crate) device_token: Option<Secret>,
}

impl Presented {
    /// What the device signed as `token` (OpenClaw: token, else device
    /// token, else bootstrap token; nothing for a password).
    pub(crate) fn signed(&self) -> &[u8] {
        self.token.as_ref().or(self.device_token.as_ref()).or(self.bootstrap.as_ref()).map_or(&b""[..], Secret::expose)
    }
}

/// How a connection authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Method {
    /// The shared token.
    Token,
    /// A scoped gw token (`local`: it was local-only).
    Scoped { local: bool },
    /// The password.
    Password,
    /// A bootstrap token (its digest).
    Bootstrap { digest: String },
    /// A device token, with its scopes.
    Device { scopes: Vec<String> },
}

impl Method {
    /// `hello-ok.auth.method`: OpenClaw's names, `scoped-token` for gw's own.
    pub(crate) fn name(&self) -> &'static str {
        match self {
            Self::Token => "token",
            Self::Scoped { .. } => "scoped-token",
            Self::Password => "password",
            Self::Bootstrap { .. } => "bootstrap-token",
            Self::Device { .. } => "device-token",
        }
    }
}

/// A refusal: OpenClaw's detail code and message, the recommended next
/// step, and a reason for the server's log only.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Denied {
    pub(crate) code: &'static str,
    pub(crate) message: &'static str,
    pub(crate) next_step: Option<&'static str>,
    pub(crate) log: String,
}

fn denied(code: &'static str, message: &'static str, next: Option<&'static str>, log: impl Into<String>) -> Denied {
    Denied { code, message, next_step: next, log: log.into() }
}

/// A device token just issued.
#[derive(Debug)]
pub(crate) struct NewToken {
    pub(crate) role: String,
    pub(crate) scopes: Vec<String>,
    pub(crate) token: Secret,
    pub(crate) issued_at_ms: u64,
}

/// The digest under which a credential is remembered (hex).
fn digest(token: &[u8]) -> String {
    hex(hmac_sha256(DIGEST_LABEL, &[token]).as_ref())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random credential as printable text: `PREFIX` + 64 hex digits.
fn new_credential(prefix: &str) -> Result<Secret> {
    let raw = Secret::generate()?;
    Ok(Secret::from(format!("{prefix}{}", hex(raw.expose()))))
}

/// Constant-time equality of two digests.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

fn state_error(e: &gw_persist::Error) -> Error {
    Error::new(ErrorKind::State, "update issued credentials", ISSUED_FILE, e.to_string())
}

/// What a server checks credentials against: its shared token and password,
/// gw's scoped tokens, and what it issued (kept in a profile directory).
#[derive(Debug)]
pub struct Gate<'r> {
    key: TokenKey,
    audience: String,
    shared: Option<String>,
    password: Option<String>,
    issued: Document<'r>,
}

impl<'r> Gate<'r> {
    /// A gate for the gateway `audience` (its canonical key, e.g.
    /// `ws://127.0.0.1:18789`), verifying scoped tokens with `root_secret`,
    /// accepting `shared` as the shared token and `password` as the
    /// password when given, and the credentials remembered in
    /// `profile_dir`'s [`ISSUED_FILE`]. Only digests of the secrets are kept.
    pub fn new(
        profile_dir: &'r Root,
        root_secret: &Secret,
        audience: String,
        shared: Option<&Secret>,
        password: Option<&Secret>,
    ) -> Self {
        Self {
            key: TokenKey::from_root(root_secret),
            audience,
            shared: shared.map(|s| digest(s.expose())),
            password: password.map(|s| digest(s.expose())),
            issued: Document::new(profile_dir, ISSUED_FILE),
        }
    }

    /// Issues a bootstrap token valid until `expires` (Unix seconds),
    /// remembering only its digest; expired entries are dropped on the way.
    ///
    /// # Errors
    /// [`ErrorKind::Key`] if the random source fails, [`ErrorKind::State`]
    /// if the issued-credentials file cannot be updated.
    pub fn issue_bootstrap(&self, now: u64, expires: u64) -> Result<Secret> {
        let token = new_credential("gwboot_")?;
        let d = digest(token.expose());
        self.issued
            .update::<Issued>(|cur| {
                let mut doc = cur.unwrap_or_default();
                doc.version = 2;
                doc.bootstrap.retain(|b| b.expires > now);
                doc.bootstrap.push(IssuedBootstrap { digest: d, expires });
                Ok(doc)
            })
            .map_err(|e| state_error(&e))?;
        Ok(token)
    }

    /// Issues one device token per `(role, scopes)` of `grants`, bound to
    /// `device` when given, for the bootstrap token of digest `bootstrap`
    /// when given; replaces what was issued before for the same device and
    /// role.
    pub(crate) fn issue(
        &self,
        device: Option<&str>,
        grants: &[(String, Vec<String>)],
        bootstrap: Option<&str>,
        now_ms: u64,
    ) -> Result<Vec<NewToken>> {
        let mut out = Vec::new();
        for (role, scopes) in grants {
            out.push(NewToken {
                role: role.clone(),
                scopes: scopes.clone(),
                token: new_credential("gwdev_")?,
                issued_at_ms: now_ms,
            });
        }
        let device = device.unwrap_or("");
        self.issued
            .update::<Issued>(|cur| {
                let mut doc = cur.unwrap_or_default();
                doc.version = 2;
                for t in &out {
                    if !device.is_empty() {
                        doc.devices.retain(|d| !(d.device == device && d.role == t.role));
                    }
                    doc.devices.push(IssuedDevice {
                        role: t.role.clone(),
                        digest: digest(t.token.expose()),
                        bootstrap: bootstrap.unwrap_or("").to_owned(),
                        device: device.to_owned(),
                        scopes: t.scopes.clone(),
                        issued_at_ms: now_ms,
                    });
                }
                Ok(doc)
            })
            .map_err(|e| state_error(&e))?;
        Ok(out)
    }

    /// Decides on the credentials of a `connect` from `peer` at `now`
    /// (Unix seconds) asking for `role` and `scopes`, from the verified
    /// device `device` (if any).
    ///
    /// Order: `token` (shared, then scoped), `password`, `bootstrapToken`,
    /// `deviceToken`; a `deviceToken` sent beside a `token` that does not
    /// match is tried as OpenClaw's client's fallback.
    ///
    /// # Security
    /// THREATS TOK-1 (scope), TOK-3 (a `local` token from a non-loopback
    /// peer is refused: `peer` is the TCP peer address), CRED-3.
    pub(crate) fn authorize(
        &self,
        p: &Presented,
        peer: IpAddr,
        now: u64,
        device: Option<&str>,
        role: &str,
        scopes: &[String],
    ) -> std::result::Result<Method, Denied> {
        if let Some(t) = &p.token {
            match self.token(t.expose(), peer, now) {
                Ok(m) => return Ok(m),
                Err(e) if p.device_token.is_none() => return Err(e),
                Err(_) => {}
            }
        } else if let Some(pw) = &p.password {
            return match &self.password {
                Some(d) if same(d, &digest(pw.expose())) => Ok(Method::Password),
                Some(_) => Err(denied(
                    "AUTH_PASSWORD_MISMATCH",
                    "unauthorized: gateway password mismatch",
                    Some("update_auth_credentials"),
                    "wrong password",
                )),
                None => Err(denied(
                    "AUTH_PASSWORD_NOT_CONFIGURED",
                    "unauthorized: gateway password not configured on gateway",
                    Some("review_auth_configuration"),
                    "a password was sent; none is configured",
                )),
            };
        } else if let Some(b) = &p.bootstrap {
            return self.bootstrap(b.expose(), now);
        }
        match &p.device_token {
            Some(t) => self.device_token(t.expose(), device, role, scopes),
            None => Err(denied(
                "AUTH_TOKEN_MISSING",
                "unauthorized: gateway token missing",
                Some("update_auth_credentials"),
                "no credential",
            )),
        }
    }

    fn token(&self, token: &[u8], peer: IpAddr, now: u64) -> std::result::Result<Method, Denied> {
        let mismatch = |why: String| {
            denied("AUTH_TOKEN_MISMATCH", "unauthorized: gateway token mismatch", Some("update_auth_credentials"), why)
        };
        if token.starts_with(gw_token::PREFIX.as_bytes()) && token.get(gw_token::PREFIX.len()) == Some(&b'.') {
            let text = std::str::from_utf8(token).map_err(|_| mismatch("the scoped token is not UTF-8".into()))?;
            let eff = Verifier::new(&self.key, GATEWAY_CONNECT_SCOPE)
                .audience(self.audience.clone())
                .peer(peer)
                .at(now)
                .verify(text)
                .map_err(|e| mismatch(format!("scoped token refused ({}): {}", e.kind().as_str(), e.message())))?;
            return Ok(Method::Scoped { local: eff.local });
        }
        match &self.shared {
            Some(s) if same(s, &digest(token)) => Ok(Method::Token),
            _ => Err(mismatch("the token is not one this gateway accepts".into())),
        }
    }

    fn load(&self) -> std::result::Result<Issued, Denied> {
        self.issued.load::<Issued>().map(Option::unwrap_or_default).map_err(|e| {
            denied(
                "AUTH_UNAUTHORIZED",
                "unauthorized",
                None,
                format!("the issued-credentials file cannot be read: {e}"),
            )
        })
    }

    fn bootstrap(&self, token: &[u8], now: u64) -> std::result::Result<Method, Denied> {
        let doc = self.load()?;
        let d = digest(token);
        let mut found = None;
        for b in &doc.bootstrap {
            if same(&b.digest, &d) {
                found = Some(b.clone());
            }
        }
        let refuse = |why: &str| {
            denied(
                "AUTH_BOOTSTRAP_TOKEN_INVALID",
                "unauthorized: setup code invalid, expired, revoked, or already used",
                Some("update_auth_credentials"),
                why,
            )
        };
        match found {
            Some(b) if b.expires > now => Ok(Method::Bootstrap { digest: b.digest }),
            Some(_) => Err(refuse("the bootstrap token has expired")),
            None => Err(refuse("not a live bootstrap token of this gateway")),
        }
    }

    fn device_token(
        &self,
        token: &[u8],
        device: Option<&str>,
        role: &str,
        scopes: &[String],
    ) -> std::result::Result<Method, Denied> {
        let doc = self.load()?;
        let d = digest(token);
        let mut found = None;
        for dev in &doc.devices {
            if same(&dev.digest, &d) {
                found = Some(dev.clone());
            }
        }
        let mismatch = |why: &str| {
            denied(
                "AUTH_DEVICE_TOKEN_MISMATCH",
                "unauthorized: device token mismatch (rotate/reissue device token)",
                Some("update_auth_credentials"),
                why,
            )
        };
        let dev = found.ok_or_else(|| mismatch("not a device token of this gateway"))?;
        if dev.role != role {
            return Err(mismatch("the device token is for another role"));
        }
        if !dev.device.is_empty() && device != Some(dev.device.as_str()) {
            return Err(mismatch("the device token is bound to another device (or the connect is not signed)"));
        }
        if !scopes.iter().all(|s| dev.scopes.contains(s)) {
            return Err(denied(
                "AUTH_SCOPE_MISMATCH",
                "unauthorized: device token scope mismatch (re-pair or approve scope upgrade)",
                None,
                "scopes beyond the device token's",
            ));
        }
        if !dev.bootstrap.is_empty() && doc.bootstrap.iter().any(|b| same(&b.digest, &dev.bootstrap)) {
            // First use of a device token: its bootstrap token is retired.
            self.issued
                .update::<Issued>(|cur| {
                    let mut doc = cur.unwrap_or_default();
                    doc.bootstrap.retain(|b| !same(&b.digest, &dev.bootstrap));
                    Ok(doc)
                })
                .map_err(|e| {
                    denied(
                        "AUTH_UNAUTHORIZED",
                        "unauthorized",
                        None,
                        format!("retiring the bootstrap token failed: {e}"),
                    )
                })?;
        }
        let granted = if scopes.is_empty() { dev.scopes } else { scopes.to_vec() };
        Ok(Method::Device { scopes: granted })
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;
    use std::time::Duration;

    use gw_anchor::Policy;
    use gw_token::{Grant, derive, expose, unix_now};

    use super::*;

    const AUD: &str = "ws://127.0.0.1:18789";

    fn dir() -> (tempfile::TempDir, Root) {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let r = Root::open(d.path(), &Policy::new()).unwrap();
        (d, r)
    }

    fn scoped(root: &Secret, local: bool, scope: &str, aud: Option<&str>) -> String {
        let g =
            Grant { scopes: vec![scope.into()], audience: aud.map(str::to_owned), ttl: Duration::from_secs(60), local };
        expose(&derive(&TokenKey::from_root(root), &g, unix_now()).unwrap()).to_owned()
    }

    fn token(t: &str) -> Presented {
        Presented { token: Some(Secret::from(t.to_owned())), ..Presented::default() }
    }

    fn auth(g: &Gate<'_>, p: &Presented, peer: IpAddr, now: u64) -> std::result::Result<Method, Denied> {
        g.authorize(p, peer, now, None, "operator", &[])
    }

    #[test]
    fn tok_3_local_scoped_token_from_non_loopback_peer_is_refused() {
        let (_d, root) = dir();
        let secret = Secret::generate().unwrap();
        let gate = Gate::new(&root, &secret, AUD.into(), None, None);
        let now = unix_now();
        let local = scoped(&secret, true, GATEWAY_CONNECT_SCOPE, Some(AUD));
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let lo6: IpAddr = "::1".parse().unwrap();
        let remote: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped_remote: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(auth(&gate, &token(&local), lo, now), Ok(Method::Scoped { local: true }));
        assert_eq!(auth(&gate, &token(&local), lo6, now), Ok(Method::Scoped { local: true }));
        for peer in [remote, mapped_remote] {
            let e = auth(&gate, &token(&local), peer, now).unwrap_err();
            assert!(e.log.contains("locality"), "{e:?}");
            assert_eq!(e.code, "AUTH_TOKEN_MISMATCH");
        }
        // The same grant without `local` passes from that peer: the refusal is locality.
        let anywhere = scoped(&secret, false, GATEWAY_CONNECT_SCOPE, Some(AUD));
        assert_eq!(auth(&gate, &token(&anywhere), remote, now), Ok(Method::Scoped { local: false }));
    }

    #[test]
    fn tok_1_scope_audience_and_secret_are_checked() {
        let (_d, root) = dir();
        let secret = Secret::generate().unwrap();
        let gate = Gate::new(&root, &secret, AUD.into(), None, None);
        let (now, lo) = (unix_now(), "127.0.0.1".parse().unwrap());
        let other = Secret::generate().unwrap();
        for (t, why) in [
            (scoped(&secret, true, "approvals.read", Some(AUD)), "scope"),
            (scoped(&secret, true, GATEWAY_CONNECT_SCOPE, Some("ws://127.0.0.1:1")), "audience"),
            (scoped(&other, true, GATEWAY_CONNECT_SCOPE, Some(AUD)), "signature"),
        ] {
            let e = auth(&gate, &token(&t), lo, now).unwrap_err();
            assert!(e.log.contains(why), "{why}: {e:?}");
            assert!(!e.log.contains(&t), "the refusal names no token");
        }
        assert_eq!(auth(&gate, &Presented::default(), lo, now).unwrap_err().code, "AUTH_TOKEN_MISSING");
        // The root secret itself is never a credential (TOK-1).
        let raw = String::from_utf8_lossy(secret.expose()).into_owned();
        assert!(auth(&gate, &token(&raw), lo, now).is_err());
    }

    #[test]
    fn password_and_shared_token() {
        let (_d, root) = dir();
        let secret = Secret::generate().unwrap();
        let (shared, pw) = (Secret::from("shared-1".to_owned()), Secret::from("pass-1".to_owned()));
        let gate = Gate::new(&root, &secret, AUD.into(), Some(&shared), Some(&pw));
        let (now, lo) = (unix_now(), "127.0.0.1".parse().unwrap());
        assert_eq!(auth(&gate, &token("shared-1"), lo, now), Ok(Method::Token));
        assert_eq!(auth(&gate, &token("shared-2"), lo, now).unwrap_err().code, "AUTH_TOKEN_MISMATCH");
        let p = |s: &str| Presented { password: Some(Secret::from(s.to_owned())), ..Presented::default() };
        assert_eq!(auth(&gate, &p("pass-1"), lo, now), Ok(Method::Password));
        assert_eq!(auth(&gate, &p("shared-1"), lo, now).unwrap_err().code, "AUTH_PASSWORD_MISMATCH");
        // The password is not a token, nor the token a password.
        assert!(auth(&gate, &token("pass-1"), lo, now).is_err());
    }

    #[test]
    fn device_tokens_are_per_device_and_role_and_retire_the_bootstrap_on_first_use() {
        let (_d, root) = dir();
        let secret = Secret::generate().unwrap();
        let gate = Gate::new(&root, &secret, AUD.into(), None, None);
        let (now, lo) = (unix_now(), "127.0.0.1".parse().unwrap());
        let boot = gate.issue_bootstrap(now, now + 600).unwrap();
        let boot_text = String::from_utf8(boot.expose().to_vec()).unwrap();
        let file = std::fs::read_to_string(root.path().join(ISSUED_FILE)).unwrap();
        assert!(!file.contains(&boot_text), "digests only");
        let bp = Presented { bootstrap: Some(Secret::from(boot_text.clone())), ..Presented::default() };
        let Ok(Method::Bootstrap { digest: d }) = auth(&gate, &bp, lo, now) else { panic!("bootstrap refused") };
        assert_eq!(auth(&gate, &bp, lo, now + 601).unwrap_err().code, "AUTH_BOOTSTRAP_TOKEN_INVALID");
        let grants = vec![("node".to_owned(), vec![]), ("operator".to_owned(), vec!["operator.read".to_owned()])];
        let issued = gate.issue(Some("dev-a"), &grants, Some(&d), 5).unwrap();
        assert!(auth(&gate, &bp, lo, now).is_ok(), "still valid until a device token is used");
        let dt = |t: &NewToken| Presented {
            device_token: Some(Secret::new(t.token.expose().to_vec())),
            ..Presented::default()
        };
        // Another device, no device, another role: refused.
        for (dev, role) in [(Some("dev-b"), "node"), (None, "node"), (Some("dev-a"), "operator")] {
            let e = gate.authorize(&dt(&issued[0]), lo, now, dev, role, &[]).unwrap_err();
            assert_eq!(e.code, "AUTH_DEVICE_TOKEN_MISMATCH", "{dev:?} {role}");
        }
        // Scopes beyond the token's: refused.
        let e = gate.authorize(&dt(&issued[1]), lo, now, Some("dev-a"), "operator", &["operator.admin".into()]);
        assert_eq!(e.unwrap_err().code, "AUTH_SCOPE_MISMATCH");
        assert!(auth(&gate, &bp, lo, now).is_ok(), "refused attempts do not retire it");
        let ok = gate.authorize(&dt(&issued[0]), lo, now, Some("dev-a"), "node", &[]);
        assert_eq!(ok, Ok(Method::Device { scopes: vec![] }));
        assert!(auth(&gate, &bp, lo, now).is_err(), "retired on first use");
        let ok = gate.authorize(&dt(&issued[1]), lo, now, Some("dev-a"), "operator", &[]);
        assert_eq!(ok, Ok(Method::Device { scopes: vec!["operator.read".into()] }));
        // A new token for the same device and role replaces the old one.
        let again = gate.issue(Some("dev-a"), &grants[..1], None, 6).unwrap();
        assert!(gate.authorize(&dt(&issued[0]), lo, now, Some("dev-a"), "node", &[]).is_err());
        assert!(gate.authorize(&dt(&again[0]), lo, now, Some("dev-a"), "node", &[]).is_ok());
        let file = std::fs::read_to_string(root.path().join(ISSUED_FILE)).unwrap();
        for t in issued.iter().chain(&again) {
            assert!(!file.contains(std::str::from_utf8(t.token.expose()).unwrap()));
        }
    }

    #[test]
    fn bootstrap_tokens_expire_at_their_time_and_issuing_drops_only_the_expired() {
        let (_d, root) = dir();
        let secret = Secret::generate().unwrap();
        let gate = Gate::new(&root, &secret, AUD.into(), None, None);
        let lo = "127.0.0.1".parse().unwrap();
        let now = 1_000_000;
        let present =
            |b: &Secret| Presented { bootstrap: Some(Secret::new(b.expose().to_vec())), ..Presented::default() };
        let short = gate.issue_bootstrap(now, now + 10).unwrap();
        let long = gate.issue_bootstrap(now + 5, now + 600).unwrap();
        // Issuing the second kept the first, still live.
        assert!(auth(&gate, &present(&short), lo, now + 9).is_ok());
        // At its expiry time it is expired, not live for one more second.
        let e = auth(&gate, &present(&short), lo, now + 10).unwrap_err();
        assert_eq!((e.code, e.log.as_str()), ("AUTH_BOOTSTRAP_TOKEN_INVALID", "the bootstrap token has expired"));
        // Issuing at that time drops it from the file, and keeps the live one.
        let file = |r: &Root| std::fs::read_to_string(r.path().join(ISSUED_FILE)).unwrap();
        assert!(file(&root).contains(&digest(short.expose())));
        gate.issue_bootstrap(now + 10, now + 20).unwrap();
        assert!(!file(&root).contains(&digest(short.expose())), "an expired bootstrap token is dropped");
        assert!(file(&root).contains(&digest(long.expose())), "a live one is kept");
        assert!(auth(&gate, &present(&long), lo, now + 10).is_ok());
    }

    #[test]
    fn a_wrong_token_beside_a_device_token_falls_back_to_the_device_token() {
        let (_d, root) = dir();
        let secret = Secret::generate().unwrap();
        let shared = Secret::from("shared-1".to_owned());
        let gate = Gate::new(&root, &secret, AUD.into(), Some(&shared), None);
        let (now, lo) = (unix_now(), "127.0.0.1".parse().unwrap());
        let issued = gate.issue(Some("dev-a"), &[("node".to_owned(), vec![])], None, 5).unwrap();
        let p = |tok: &str, dev: Option<&[u8]>| Presented {
            token: Some(Secret::from(tok.to_owned())),
            device_token: dev.map(|d| Secret::new(d.to_vec())),
            ..Presented::default()
        };
        let dev = issued[0].token.expose();
        // OpenClaw's client sends its stale shared token and its device token.
        let ok = gate.authorize(&p("shared-old", Some(dev)), lo, now, Some("dev-a"), "node", &[]);
        assert_eq!(ok, Ok(Method::Device { scopes: vec![] }));
        // The right shared token wins; a wrong one alone stays a mismatch.
        assert_eq!(gate.authorize(&p("shared-1", Some(dev)), lo, now, Some("dev-a"), "node", &[]), Ok(Method::Token));
        let e = gate.authorize(&p("shared-old", None), lo, now, Some("dev-a"), "node", &[]).unwrap_err();
        assert_eq!(e.code, "AUTH_TOKEN_MISMATCH");
        // Both wrong: the device token's refusal.
        let e = gate.authorize(&p("shared-old", Some(b"gwdev_nope")), lo, now, Some("dev-a"), "node", &[]).unwrap_err();
        assert_eq!(e.code, "AUTH_DEVICE_TOKEN_MISMATCH");
    }

    #[test]
    fn a_shared_token_that_starts_like_a_scoped_one_is_still_the_shared_token() {
        let (_d, root) = dir();
        let secret = Secret::generate().unwrap();
        let shared = Secret::from(format!("{}xyz-shared", gw_token::PREFIX));
        let gate = Gate::new(&root, &secret, AUD.into(), Some(&shared), None);
        let lo = "127.0.0.1".parse().unwrap();
        let p = token(std::str::from_utf8(shared.expose()).unwrap());
        assert_eq!(auth(&gate, &p, lo, unix_now()), Ok(Method::Token));
    }

    #[test]
    fn methods_are_named_as_openclaw_names_them_and_the_signed_credential_follows_its_order() {
        let names = [
            (Method::Token, "token"),
            (Method::Scoped { local: true }, "scoped-token"),
            (Method::Password, "password"),
            (Method::Bootstrap { digest: String::new() }, "bootstrap-token"),
            (Method::Device { scopes: vec![] }, "device-token"),
        ];
        for (m, name) in names {
            assert_eq!(m.name(), name);
        }
        let s = |v: &str| Some(Secret::from(v.to_owned()));
        let all = Presented { token: s("t"), password: s("p"), bootstrap: s("b"), device_token: s("d") };
        assert_eq!(all.signed(), b"t");
        let no_token = Presented { token: None, ..all };
        assert_eq!(no_token.signed(), b"d");
        let boot = Presented { device_token: None, ..no_token };
        assert_eq!(boot.signed(), b"b");
        let password = Presented { bootstrap: None, ..boot };
        assert_eq!(password.signed(), b"", "a password is never signed");
    }

    #[test]
    fn version_1_files_still_read() {
        let (_d, root) = dir();
        let secret = Secret::generate().unwrap();
        let tok = "gwdev_0123";
        let v1 = format!(
            r#"{{"version":1,"bootstrap":[],"devices":[{{"role":"node","digest":"{}","bootstrap":"x"}}]}}"#,
            digest(tok.as_bytes())
        );
        root.write_atomic(ISSUED_FILE, v1.as_bytes(), &gw_anchor::WriteOptions::new().mode(0o600)).unwrap();
        let gate = Gate::new(&root, &secret, AUD.into(), None, None);
        let p = Presented { device_token: Some(Secret::from(tok.to_owned())), ..Presented::default() };
        let lo = "127.0.0.1".parse().unwrap();
        assert_eq!(gate.authorize(&p, lo, unix_now(), None, "node", &[]), Ok(Method::Device { scopes: vec![] }));
    }
}
