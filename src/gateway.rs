//! The reference gateway's credentials: what `gw serve` accepts on the
//! upgrade request, and the credentials it issued itself.
//!
//! Accepted, in `Authorization: Bearer <token>`:
//! - a scoped `gw2.` token (gw-token) granting [`GATEWAY_CONNECT_SCOPE`],
//!   verified with the profile's root secret, bound to no audience or to the
//!   gateway's canonical key, and — when it is `local` — only from a
//!   loopback peer, judged on the real peer address of the TCP connection
//!   (THREATS TOK-3);
//! - the gateway's shared token (read once at start from a file);
//! - a device (role) token the gateway issued;
//! - a bootstrap token the gateway issued, not expired and not yet retired.
//!
//! **Issued credentials** are remembered in the profile's
//! [`ISSUED_FILE`] (a gw-persist document, 0600, updated under its lock) as
//! SHA-256 digests, never as tokens: reading that file does not give a
//! credential. Secrets are compared as digests, in constant time (subtle).
//! A bootstrap token is issued by `gw serve --issue-bootstrap`: 32 random
//! bytes, stored in the profile's credential store (slot `bootstrap`) for
//! the gateway's own URL, valid for a bounded time. A client presenting it
//! receives fresh device tokens for every role in [`BOOTSTRAP_ROLES`] in
//! the hello-ok answer (`auth.deviceTokens[]`); the bootstrap token stays
//! valid (so a client that failed to persist them can retry, THREATS CRED-3)
//! until one of those device tokens is first used, which retires it.

use std::net::IpAddr;

use gw_anchor::Root;
use gw_cred::GATEWAY_CONNECT_SCOPE;
use gw_persist::Document;
use gw_token::{Secret, TokenKey, Verifier, hmac_sha256};
use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

/// The file in the profile directory where the gateway remembers what it issued.
pub(crate) const ISSUED_FILE: &str = "gateway-issued.json";
/// The roles a bootstrap client receives device tokens for.
pub(crate) const BOOTSTRAP_ROLES: [&str; 2] = ["operator", "node"];
/// The longest bearer token read from a request.
pub(crate) const MAX_BEARER_LEN: usize = gw_token::MAX_TOKEN_LEN;
/// The domain label of the digests kept in [`ISSUED_FILE`].
const DIGEST_LABEL: &[u8] = b"gw-serve/issued-credential/v1";

/// One issued bootstrap token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssuedBootstrap {
    /// Its digest.
    pub(crate) digest: String,
    /// Expiry (Unix seconds).
    pub(crate) expires: u64,
}

/// One issued device token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct IssuedDevice {
    /// Its role.
    pub(crate) role: String,
    /// Its digest.
    pub(crate) digest: String,
    /// The digest of the bootstrap token it was issued for (retired on first use).
    pub(crate) bootstrap: String,
}

/// The document in [`ISSUED_FILE`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Issued {
    /// Format version (1).
    pub(crate) version: u32,
    /// Live bootstrap tokens.
    pub(crate) bootstrap: Vec<IssuedBootstrap>,
    /// Device tokens.
    pub(crate) devices: Vec<IssuedDevice>,
}

/// How a connection authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Auth {
    /// A scoped gw token (`local` says whether it was local-only).
    Scoped { local: bool },
    /// The shared token.
    Shared,
    /// A device token of `role`.
    Device { role: String },
    /// A bootstrap token (its digest).
    Bootstrap { digest: String },
}

impl Auth {
    /// `scoped`, `shared`, `device` or `bootstrap`.
    pub(crate) fn method(&self) -> &'static str {
        match self {
            Auth::Scoped { .. } => "scoped",
            Auth::Shared => "shared",
            Auth::Device { .. } => "device",
            Auth::Bootstrap { .. } => "bootstrap",
        }
    }
}

/// Why a request was refused: for the gateway's log only (the client gets
/// a bare 401).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refusal(pub(crate) String);

/// The digest under which a credential is remembered (hex).
pub(crate) fn digest(token: &[u8]) -> String {
    hex(hmac_sha256(DIGEST_LABEL, &[token]).as_ref())
}

/// Lower-case hex (two lines; not worth a dependency).
pub(crate) fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A new random credential as printable text: `PREFIX` + 64 hex digits.
pub(crate) fn new_credential(prefix: &str) -> Result<Secret, gw_token::Error> {
    let raw = Secret::generate()?;
    Ok(Secret::from(format!("{prefix}{}", hex(raw.expose()))))
}

/// Constant-time equality of two digests.
fn same(a: &str, b: &str) -> bool {
    a.len() == b.len() && bool::from(a.as_bytes().ct_eq(b.as_bytes()))
}

/// What the gateway checks requests against.
#[derive(Debug)]
pub(crate) struct Gate<'r> {
    key: TokenKey,
    audience: String,
    shared: Option<String>,
    issued: Document<'r>,
}

impl<'r> Gate<'r> {
    /// A gate for the gateway `audience` (its canonical key), verifying
    /// scoped tokens with `root_secret`, accepting the shared token if one is
    /// given, and the credentials remembered in `profile_dir`'s [`ISSUED_FILE`].
    pub(crate) fn new(profile_dir: &'r Root, root_secret: &Secret, audience: String, shared: Option<&Secret>) -> Self {
        Self {
            key: TokenKey::from_root(root_secret),
            audience,
            shared: shared.map(|s| digest(s.expose())),
            issued: Document::new(profile_dir, ISSUED_FILE),
        }
    }

    /// Issues a bootstrap token valid until `expires`, remembering its digest
    /// (expired entries are dropped on the way).
    pub(crate) fn issue_bootstrap(&self, now: u64, expires: u64) -> Result<Secret, String> {
        let token = new_credential("gwboot_").map_err(|e| e.to_string())?;
        let d = digest(token.expose());
        self.issued
            .update::<Issued>(|cur| {
                let mut doc = cur.unwrap_or(Issued { version: 1, ..Issued::default() });
                doc.bootstrap.retain(|b| b.expires > now);
                doc.bootstrap.push(IssuedBootstrap { digest: d, expires });
                Ok(doc)
            })
            .map_err(|e| e.to_string())?;
        Ok(token)
    }

    /// Issues device tokens for every role of [`BOOTSTRAP_ROLES`] to the
    /// client of bootstrap token `bootstrap` (its digest), remembering them.
    pub(crate) fn issue_devices(&self, bootstrap: &str) -> Result<Vec<(String, Secret)>, String> {
        let mut out = Vec::new();
        for role in BOOTSTRAP_ROLES {
            out.push((role.to_owned(), new_credential("gwdev_").map_err(|e| e.to_string())?));
        }
        self.issued
            .update::<Issued>(|cur| {
                let mut doc = cur.unwrap_or(Issued { version: 1, ..Issued::default() });
                for (role, t) in &out {
                    doc.devices.push(IssuedDevice {
                        role: role.clone(),
                        digest: digest(t.expose()),
                        bootstrap: bootstrap.to_owned(),
                    });
                }
                Ok(doc)
            })
            .map_err(|e| e.to_string())?;
        Ok(out)
    }

    /// Decides on the `Authorization` header value of a request from `peer`
    /// at `now`.
    ///
    /// # Security
    /// THREATS TOK-1 (scope), TOK-3 (a `local` token from a non-loopback
    /// peer is refused: `peer` is the TCP peer address, never a header).
    pub(crate) fn authorize(&self, header: Option<&[u8]>, peer: IpAddr, now: u64) -> Result<Auth, Refusal> {
        let header = header.ok_or_else(|| Refusal("no Authorization header".into()))?;
        let token = header
            .strip_prefix(b"Bearer ")
            .ok_or_else(|| Refusal("the Authorization header is not `Bearer <token>`".into()))?;
        if token.is_empty() || token.len() > MAX_BEARER_LEN {
            return Err(Refusal(format!("the bearer token is empty or longer than {MAX_BEARER_LEN} bytes")));
        }
        if token.starts_with(gw_token::PREFIX.as_bytes()) && token.get(gw_token::PREFIX.len()) == Some(&b'.') {
            let text = std::str::from_utf8(token).map_err(|_| Refusal("the scoped token is not UTF-8".into()))?;
            let eff = Verifier::new(&self.key, GATEWAY_CONNECT_SCOPE)
                .audience(self.audience.clone())
                .peer(peer)
                .at(now)
                .verify(text)
                .map_err(|e| Refusal(format!("scoped token refused ({}): {}", e.kind().as_str(), e.message())))?;
            return Ok(Auth::Scoped { local: eff.local });
        }
        let d = digest(token);
        if let Some(shared) = &self.shared
            && same(shared, &d)
        {
            return Ok(Auth::Shared);
        }
        let doc = self
            .issued
            .load::<Issued>()
            .map_err(|e| Refusal(format!("the issued-credentials file cannot be read: {e}")))?
            .unwrap_or_default();
        // Every entry is compared (no early exit on a match).
        let mut device = None;
        for dev in &doc.devices {
            if same(&dev.digest, &d) {
                device = Some(dev.clone());
            }
        }
        if let Some(dev) = device {
            if doc.bootstrap.iter().any(|b| same(&b.digest, &dev.bootstrap)) {
                // First use of a device token: its bootstrap is retired.
                self.issued
                    .update::<Issued>(|cur| {
                        let mut doc = cur.unwrap_or_default();
                        doc.bootstrap.retain(|b| !same(&b.digest, &dev.bootstrap));
                        Ok(doc)
                    })
                    .map_err(|e| Refusal(format!("retiring the bootstrap token failed: {e}")))?;
            }
            return Ok(Auth::Device { role: dev.role });
        }
        let mut boot = None;
        for b in &doc.bootstrap {
            if same(&b.digest, &d) {
                boot = Some(b.clone());
            }
        }
        match boot {
            Some(b) if b.expires > now => Ok(Auth::Bootstrap { digest: b.digest }),
            Some(_) => Err(Refusal("the bootstrap token has expired".into())),
            None => Err(Refusal("the token is not one this gateway accepts".into())),
        }
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

    fn bearer(t: &str) -> Vec<u8> {
        format!("Bearer {t}").into_bytes()
    }

    #[test]
    fn tok_3_local_scoped_token_from_non_loopback_peer_is_refused() {
        let (_d, root) = dir();
        let secret = Secret::generate().unwrap();
        let gate = Gate::new(&root, &secret, AUD.into(), None);
        let now = unix_now();
        let local = scoped(&secret, true, GATEWAY_CONNECT_SCOPE, Some(AUD));
        let lo: IpAddr = "127.0.0.1".parse().unwrap();
        let lo6: IpAddr = "::1".parse().unwrap();
        let remote: IpAddr = "192.0.2.7".parse().unwrap();
        let mapped_remote: IpAddr = "::ffff:192.0.2.7".parse().unwrap();
        assert_eq!(gate.authorize(Some(&bearer(&local)), lo, now), Ok(Auth::Scoped { local: true }));
        assert_eq!(gate.authorize(Some(&bearer(&local)), lo6, now), Ok(Auth::Scoped { local: true }));
        for peer in [remote, mapped_remote] {
            let e = gate.authorize(Some(&bearer(&local)), peer, now).unwrap_err();
            assert!(e.0.contains("locality"), "{e:?}");
        }
        // The same grant without `local` passes from that peer: the refusal is locality.
        let anywhere = scoped(&secret, false, GATEWAY_CONNECT_SCOPE, Some(AUD));
        assert_eq!(gate.authorize(Some(&bearer(&anywhere)), remote, now), Ok(Auth::Scoped { local: false }));
    }

    #[test]
    fn tok_1_scope_audience_and_secret_are_checked() {
        let (_d, root) = dir();
        let secret = Secret::generate().unwrap();
        let gate = Gate::new(&root, &secret, AUD.into(), None);
        let (now, lo) = (unix_now(), "127.0.0.1".parse().unwrap());
        let other = Secret::generate().unwrap();
        for (t, why) in [
            (scoped(&secret, true, "approvals.read", Some(AUD)), "scope"),
            (scoped(&secret, true, GATEWAY_CONNECT_SCOPE, Some("ws://127.0.0.1:1")), "audience"),
            (scoped(&other, true, GATEWAY_CONNECT_SCOPE, Some(AUD)), "signature"),
        ] {
            let e = gate.authorize(Some(&bearer(&t)), lo, now).unwrap_err();
            assert!(e.0.contains(why), "{why}: {e:?}");
            assert!(!e.0.contains(&t), "the refusal names no token");
        }
        assert!(gate.authorize(None, lo, now).is_err());
        assert!(gate.authorize(Some(b"Basic abc"), lo, now).is_err());
        assert!(gate.authorize(Some(b"Bearer "), lo, now).is_err());
        // The root secret itself is never a credential (TOK-1).
        let raw = String::from_utf8_lossy(secret.expose()).into_owned();
        assert!(gate.authorize(Some(&bearer(&raw)), lo, now).is_err());
    }

    #[test]
    fn bootstrap_issues_devices_and_is_retired_on_first_device_use() {
        let (_d, root) = dir();
        let secret = Secret::generate().unwrap();
        let shared = Secret::from("shared-token-1".to_owned());
        let gate = Gate::new(&root, &secret, AUD.into(), Some(&shared));
        let (now, lo) = (unix_now(), "127.0.0.1".parse().unwrap());
        assert_eq!(gate.authorize(Some(b"Bearer shared-token-1"), lo, now), Ok(Auth::Shared));
        assert!(gate.authorize(Some(b"Bearer shared-token-2"), lo, now).is_err());
        let boot = gate.issue_bootstrap(now, now + 600).unwrap();
        let boot_text = String::from_utf8(boot.expose().to_vec()).unwrap();
        // The file holds digests, never a token.
        let file = std::fs::read_to_string(root.path().join(ISSUED_FILE)).unwrap();
        assert!(!file.contains(&boot_text));
        let Ok(Auth::Bootstrap { digest: d }) = gate.authorize(Some(&bearer(&boot_text)), lo, now) else {
            panic!("bootstrap refused")
        };
        // Expired: refused.
        assert!(gate.authorize(Some(&bearer(&boot_text)), lo, now + 601).is_err());
        let devices = gate.issue_devices(&d).unwrap();
        assert_eq!(devices.len(), 2);
        // Still valid until a device token is used.
        assert!(gate.authorize(Some(&bearer(&boot_text)), lo, now).is_ok());
        let node = String::from_utf8(devices[1].1.expose().to_vec()).unwrap();
        assert_eq!(gate.authorize(Some(&bearer(&node)), lo, now), Ok(Auth::Device { role: "node".into() }));
        assert!(gate.authorize(Some(&bearer(&boot_text)), lo, now).is_err(), "retired");
        let op = String::from_utf8(devices[0].1.expose().to_vec()).unwrap();
        assert_eq!(gate.authorize(Some(&bearer(&op)), lo, now), Ok(Auth::Device { role: "operator".into() }));
        let file = std::fs::read_to_string(root.path().join(ISSUED_FILE)).unwrap();
        assert!(!file.contains(&op) && !file.contains(&node));
    }
}
