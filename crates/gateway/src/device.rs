//! Device identity: an Ed25519 key pair per profile, named and encoded as
//! OpenClaw expects, and the signature over the gateway's challenge.
//!
//! - `device.id` is the lowercase hex SHA-256 of the raw 32-byte public key;
//! - `device.publicKey` is the raw public key in unpadded base64url;
//! - `device.signature` is Ed25519 (RFC 8032, deterministic) over the UTF-8
//!   string `v3|deviceId|clientId|clientMode|role|scopes|signedAt|token|nonce|platform|deviceFamily`
//!   ([`v3_payload`]), unpadded base64url.
//!
//! The private key is the 32-byte Ed25519 seed, kept in a file beneath the
//! profile directory in the same format and under the same rules as gw's root
//! secrets (gw-token [`init_secret_file`] / [`load_secret_file`]): one line of
//! base64url, created exclusively with mode 0600 from the start, read only
//! when owned by the caller and closed to group and others, never created by
//! a read. In memory the key lives in ed25519-dalek's `SigningKey`, which
//! zeroizes itself on drop; `Debug` prints the device id only.
//!
//! [`init_secret_file`]: gw_token::init_secret_file
//! [`load_secret_file`]: gw_token::load_secret_file

use std::fmt;
use std::path::Path;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use ed25519_dalek::{Signer as _, SigningKey};
use gw_anchor::Root;
use gw_token::Secret;
use sha2::{Digest, Sha256};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};

/// The file name of a profile's device key.
pub const DEVICE_KEY_FILE: &str = "device.key";

/// An Ed25519 device identity.
pub struct DeviceIdentity {
    key: SigningKey,
    id: String,
}

impl fmt::Debug for DeviceIdentity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceIdentity").field("id", &self.id).finish_non_exhaustive()
    }
}

impl DeviceIdentity {
    /// The identity whose private key is the 32-byte Ed25519 `seed`.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidRequest`] if `seed` is not 32 bytes.
    pub fn from_seed(seed: &Secret) -> Result<Self> {
        let bytes: Zeroizing<[u8; 32]> = Zeroizing::new(seed.expose().try_into().map_err(|_| {
            Error::new(ErrorKind::InvalidRequest, "device key", "-", "an Ed25519 seed is exactly 32 bytes")
        })?);
        Ok(Self::from_key(SigningKey::from_bytes(&bytes)))
    }

    fn from_key(key: SigningKey) -> Self {
        let id = hex(&Sha256::digest(key.verifying_key().as_bytes()));
        Self { key, id }
    }

    /// Creates a new identity in the file `rel` beneath `root`: a fresh random
    /// seed, exclusive create (nothing there is ever replaced), mode 0600 from
    /// the start, durable.
    ///
    /// # Errors
    /// [`ErrorKind::Key`] with gw-token's kinds: something is at `rel`
    /// already, the directory is insecure, I/O, or the random source failed.
    ///
    /// # Security
    /// THREATS FS-1, FS-4, FS-6 (through gw-anchor's exclusive create).
    pub fn create(root: &Root, rel: impl AsRef<Path>) -> Result<Self> {
        let seed = gw_token::init_secret_file(root, rel)?;
        Self::from_seed(&seed)
    }

    /// Loads the identity kept in the file `rel` beneath `root`. Never
    /// creates anything.
    ///
    /// # Errors
    /// [`ErrorKind::Key`]: not found, a symlink, not a regular file, an
    /// insecure directory, a file owned by someone else or open to group or
    /// others (a security refusal, with the fix), or not one line of 32
    /// bytes of base64url.
    pub fn load(root: &Root, rel: impl AsRef<Path>) -> Result<Self> {
        let seed = gw_token::load_secret_file(root, rel)?;
        Self::from_seed(&seed)
    }

    /// Loads the identity at `rel`, or creates it when (and only when) the
    /// file does not exist. Returns whether it was created.
    ///
    /// # Errors
    /// As [`Self::load`] for anything but not-found, and as [`Self::create`].
    pub fn load_or_create(root: &Root, rel: impl AsRef<Path>) -> Result<(Self, bool)> {
        let rel = rel.as_ref();
        match Self::load(root, rel) {
            Ok(id) => Ok((id, false)),
            Err(e) if e.kind() == ErrorKind::Key(gw_token::ErrorKind::Fs(gw_anchor::ErrorKind::NotFound)) => {
                Ok((Self::create(root, rel)?, true))
            }
            Err(e) => Err(e),
        }
    }

    /// `device.id`: the lowercase hex SHA-256 of the raw public key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// `device.publicKey`: the raw 32-byte public key, unpadded base64url.
    pub fn public_key(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.key.verifying_key().as_bytes())
    }

    /// The signature of `payload` (normally [`v3_payload`]), unpadded base64url.
    pub fn sign(&self, payload: &[u8]) -> String {
        URL_SAFE_NO_PAD.encode(self.key.sign(payload).to_bytes())
    }
}

/// What a device signs when it connects (OpenClaw's v3 payload).
#[derive(Debug, Clone, Copy)]
pub struct SignedFields<'a> {
    /// `device.id`.
    pub device_id: &'a str,
    /// `client.id`.
    pub client_id: &'a str,
    /// `client.mode`.
    pub client_mode: &'a str,
    /// The role asked for.
    pub role: &'a str,
    /// The scopes asked for, in the order sent.
    pub scopes: &'a [String],
    /// The challenge's `ts` (milliseconds), sent as `device.signedAt`.
    pub signed_at_ms: u64,
    /// The credential sent in `auth` (token, device token or bootstrap
    /// token); empty when none or a password is sent.
    pub token: &'a [u8],
    /// The challenge's nonce.
    pub nonce: &'a str,
    /// `client.platform`.
    pub platform: &'a str,
    /// `client.deviceFamily` (empty when not sent).
    pub device_family: &'a str,
}

/// The v3 signature payload:
/// `v3|deviceId|clientId|clientMode|role|scopes,joined|signedAt|token|nonce|platform|deviceFamily`,
/// with platform and device family trimmed and ASCII-lowercased
/// ([`normalize_metadata`]). It holds the credential, so it is wiped when
/// dropped.
///
/// # Errors
/// [`ErrorKind::InvalidRequest`] if a field other than the token holds `|`
/// (or a scope holds `,`): the fields would no longer be separable, and two
/// different requests could share one signature.
pub fn v3_payload(f: &SignedFields<'_>) -> Result<Zeroizing<Vec<u8>>> {
    let named = [
        ("device id", f.device_id),
        ("client id", f.client_id),
        ("client mode", f.client_mode),
        ("role", f.role),
        ("nonce", f.nonce),
        ("platform", f.platform),
        ("device family", f.device_family),
    ];
    for (name, v) in named {
        if v.contains('|') {
            return Err(Error::new(ErrorKind::InvalidRequest, "sign connect", "-", format!("the {name} holds `|`")));
        }
    }
    if f.scopes.iter().any(|s| s.contains(['|', ','])) {
        return Err(Error::new(ErrorKind::InvalidRequest, "sign connect", "-", "a scope holds `|` or `,`"));
    }
    let mut out = Zeroizing::new(Vec::with_capacity(256 + f.token.len()));
    let mut push = |b: &[u8]| {
        if !out.is_empty() {
            out.push(b'|');
        }
        out.extend_from_slice(b);
    };
    push(b"v3");
    push(f.device_id.as_bytes());
    push(f.client_id.as_bytes());
    push(f.client_mode.as_bytes());
    push(f.role.as_bytes());
    push(f.scopes.join(",").as_bytes());
    push(f.signed_at_ms.to_string().as_bytes());
    push(f.token);
    push(f.nonce.as_bytes());
    push(normalize_metadata(f.platform).as_bytes());
    push(normalize_metadata(f.device_family).as_bytes());
    Ok(out)
}

/// Platform and device family as signed: trimmed of whitespace, `A`–`Z`
/// lowered (no other case mapping, as OpenClaw does it).
pub fn normalize_metadata(s: &str) -> String {
    s.trim().to_ascii_lowercase()
}

fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    bytes.iter().flat_map(|b| [DIGITS[usize::from(b >> 4)] as char, DIGITS[usize::from(b & 15)] as char]).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fields<'a>(scopes: &'a [String]) -> SignedFields<'a> {
        SignedFields {
            device_id: "d",
            client_id: "cli",
            client_mode: "cli",
            role: "operator",
            scopes,
            signed_at_ms: 1_700_000_000_000,
            token: b"tok",
            nonce: "n-1",
            platform: " Linux ",
            device_family: "",
        }
    }

    #[test]
    fn payload_is_the_v3_layout() {
        let scopes = vec!["operator.read".to_owned(), "operator.write".to_owned()];
        let p = v3_payload(&fields(&scopes)).unwrap();
        assert_eq!(&p[..], b"v3|d|cli|cli|operator|operator.read,operator.write|1700000000000|tok|n-1|linux|");
    }

    #[test]
    fn separators_in_fields_are_refused() {
        let scopes = vec!["a,b".to_owned()];
        assert_eq!(v3_payload(&fields(&scopes)).unwrap_err().kind(), ErrorKind::InvalidRequest);
        let none: Vec<String> = Vec::new();
        let mut f = fields(&none);
        f.role = "operator|admin";
        assert_eq!(v3_payload(&f).unwrap_err().kind(), ErrorKind::InvalidRequest);
    }

    #[test]
    fn id_is_the_hex_sha256_of_the_public_key_and_debug_shows_only_it() {
        // RFC 8032 test 1: the public key of this seed is d75a9801…
        let seed = Secret::new(
            (0..32)
                .map(|i| {
                    u8::from_str_radix(
                        &"9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60"[2 * i..2 * i + 2],
                        16,
                    )
                    .unwrap()
                })
                .collect(),
        );
        let d = DeviceIdentity::from_seed(&seed).unwrap();
        assert_eq!(d.public_key(), "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
        assert_eq!(d.id(), hex(&Sha256::digest(URL_SAFE_NO_PAD.decode(d.public_key()).unwrap())));
        // RFC 8032 test 1 signature of the empty message.
        let sig = URL_SAFE_NO_PAD.decode(d.sign(b"")).unwrap();
        assert_eq!(hex(&sig[..8]), "e5564300c360ac72");
        let dbg = format!("{d:?}");
        assert!(dbg.contains(d.id()) && !dbg.contains("9d61b1"), "{dbg}");
        assert!(DeviceIdentity::from_seed(&Secret::new(vec![1; 31])).is_err());
    }
}
