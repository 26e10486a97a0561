//! What a `connect` request presents: the credentials of its `auth` object
//! and the proof of its device identity (THREATS GATE-2).

use super::*;

/// The refusal of a credential that is not credential text (a static
/// message: the server answers with it as it is).
const NOT_A_CREDENTIAL: &str = "a credential in auth is not 1-4096 printable ASCII";
// The message names the limit.
const _: () = assert!(gw_cred::MAX_SECRET_LEN == 4096);

/// The `auth` object's credentials: only known fields, each a credential
/// text (1 to [`MAX_SECRET_LEN`](gw_cred::MAX_SECRET_LEN) printable ASCII).
pub(super) fn presented(auth: Option<&Value>) -> Result<Presented, &'static str> {
    let mut p = Presented::default();
    let o = match auth {
        None | Some(Value::Null) => return Ok(p),
        Some(Value::Object(o)) => o,
        Some(_) => return Err("auth is not an object"),
    };
    for (k, v) in o {
        if v.is_null() {
            continue;
        }
        let s = v.as_str().filter(|s| gw_cred::check_secret_text(s).is_ok()).ok_or(NOT_A_CREDENTIAL)?;
        let s = Some(Secret::from(s.to_owned()));
        match k.as_str() {
            "token" => p.token = s,
            "password" => p.password = s,
            "bootstrapToken" => p.bootstrap = s,
            "deviceToken" => p.device_token = s,
            _ => return Err("auth holds an unknown field"),
        }
    }
    Ok(p)
}

/// A refusal of a device proof: OpenClaw's detail code, its message, the reason.
pub(super) type DeviceRefusal = (&'static str, &'static str, &'static str);

/// Verifies `connect.params.device` against this connection's challenge
/// (`nonce`, `ts`): the device id is the hex SHA-256 of the public key, the
/// nonce is the challenge's, `signedAt` is within `max_skew_ms` of `ts`,
/// and the signature is Ed25519 (strict verification) over the v3 payload
/// of `fields` with the device's id, nonce and `signedAt`.
///
/// # Security
/// THREATS GATE-2: the nonce is fresh per connection, so a captured
/// signature is refused on any other connection; the skew bound refuses an
/// old one even against a predictable nonce.
pub(super) fn verify_device(
    d: &Value,
    fields: &SignedFields<'_>,
    nonce: &str,
    ts: u64,
    max_skew_ms: u64,
) -> Result<Device, DeviceRefusal> {
    let bad: DeviceRefusal = ("DEVICE_AUTH_INVALID", "device auth invalid", "the device object is malformed");
    let o = d.as_object().ok_or(bad)?;
    let id = text(o, "id").ok_or(bad)?;
    let pk = text(o, "publicKey").ok_or(bad)?;
    let sig = text(o, "signature").ok_or(bad)?;
    let key: [u8; 32] = URL_SAFE_NO_PAD.decode(pk).ok().and_then(|k| k.try_into().ok()).ok_or((
        "DEVICE_AUTH_PUBLIC_KEY_INVALID",
        "device public key invalid",
        "not 32 bytes of base64url",
    ))?;
    let derived: String = Sha256::digest(key).iter().map(|b| format!("{b:02x}")).collect();
    if derived != id {
        return Err(("DEVICE_AUTH_DEVICE_ID_MISMATCH", "device identity mismatch", "the id is not sha256(publicKey)"));
    }
    let signed_at = o.get("signedAt").and_then(Value::as_u64).ok_or((
        "DEVICE_AUTH_SIGNATURE_EXPIRED",
        "device signature expired",
        "signedAt is not an integer",
    ))?;
    if signed_at.abs_diff(ts) > max_skew_ms {
        return Err((
            "DEVICE_AUTH_SIGNATURE_EXPIRED",
            "device signature expired",
            "signedAt is not near the challenge",
        ));
    }
    let sent_nonce = o.get("nonce").and_then(Value::as_str).map(str::trim).unwrap_or("");
    if sent_nonce.is_empty() || sent_nonce.len() > MAX_NONCE_LEN {
        return Err(("DEVICE_AUTH_NONCE_REQUIRED", "device nonce required", "no nonce"));
    }
    if sent_nonce != nonce {
        return Err(("DEVICE_AUTH_NONCE_MISMATCH", "device nonce mismatch", "not this connection's challenge nonce"));
    }
    let sig_invalid: DeviceRefusal = ("DEVICE_AUTH_SIGNATURE_INVALID", "device signature invalid", "bad signature");
    let vk = VerifyingKey::from_bytes(&key)
        .map_err(|_| ("DEVICE_AUTH_PUBLIC_KEY_INVALID", "device public key invalid", "not an Ed25519 point"))?;
    let sig: [u8; 64] = URL_SAFE_NO_PAD.decode(sig).ok().and_then(|s| s.try_into().ok()).ok_or(sig_invalid)?;
    let payload = v3_payload(&SignedFields { device_id: id, signed_at_ms: signed_at, nonce, ..*fields })
        .map_err(|_| sig_invalid)?;
    vk.verify_strict(&payload, &Signature::from_bytes(&sig)).map_err(|_| sig_invalid)?;
    Ok(Device { id: id.to_owned() })
}
