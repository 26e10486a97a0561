//! Validation of what goes into the store (slots, roles, device ids,
//! scopes, secret text) and errors that never quote a stored value.

use super::*;

/// Decodes a stored value as `T`. The error names what is wrong but never
/// quotes a stored value (serde quotes the value it found, and here that can
/// be a credential).
pub(super) fn decode_value<T: serde::de::DeserializeOwned>(v: Value) -> Result<T> {
    serde_json::from_value(v).map_err(|e| {
        Error::new(
            ErrorKind::InvalidInput,
            "load credentials",
            format!("the credential store is not in gw's format: {}", redact_quoted(&e.to_string())),
        )
    })
}

/// A save of the credential store that gw-persist refused because the store
/// as written would be larger than its loader reads (THREATS DOC-3), said
/// for the store and with the fix; other errors as they are. Neither
/// message quotes a credential (gw-persist's names sizes and the file).
pub(crate) fn save_refusal(e: Error) -> Error {
    if e.kind() != ErrorKind::Doc(gw_persist::ErrorKind::TooLarge) || e.op() != "save" {
        return e;
    }
    let mib = gw_persist::Limits::DEFAULT_MAX_BYTES >> 20;
    let message = format!("the credential store would exceed {mib} MiB: {}", e.message());
    e.reworded(message).with_fix(
        "remove unused gateways with `gw cred rm URL` (`gw cred list` shows them), or keep new secrets in the OS \
             keyring (`--store keyring`)",
    )
}

/// Checks that `v` is a credential store in gw's format (version and shape).
///
/// # Errors
/// [`ErrorKind::InvalidInput`], without quoting stored values.
pub(crate) fn check_store_value(v: &Value) -> Result<()> {
    CredStore::<Document<'_>>::decode(Some(v.clone())).map(drop)
}

/// `text` with every `"..."` and `` `...` `` span replaced by `…`, except
/// the names of the store's own fields. If the spans cannot be told apart
/// (an unbalanced quote), only the text before the first quote is kept.
pub(super) fn redact_quoted(text: &str) -> String {
    const FIELDS: [&str; 14] = [
        "version",
        "gateways",
        "generation",
        "devices",
        "device",
        "shared",
        "password",
        "bootstrap",
        "token",
        "scopes",
        "issuedAtMs",
        "keyring",
        "service",
        "account",
    ];
    let mut out = String::with_capacity(text.len());
    let mut chars = text.char_indices();
    while let Some((at, c)) = chars.next() {
        if c != '"' && c != '`' {
            out.push(c);
            continue;
        }
        let mut end = None;
        let mut escaped = false;
        for (i, d) in chars.by_ref() {
            if c == '"' && !escaped && d == '\\' {
                escaped = true;
                continue;
            }
            if d == c && !escaped {
                end = Some(i);
                break;
            }
            escaped = false;
        }
        let Some(end) = end else {
            let first = text.find(['"', '`']).unwrap_or(text.len());
            return format!("{}…", &text[..first]);
        };
        let inner = &text[at + 1..end];
        out.push(c);
        out.push_str(if c == '`' && FIELDS.contains(&inner) { inner } else { "…" });
        out.push(c);
    }
    out
}

/// Puts `v` in `slot`; returns the keyring reference it replaced, if any.
pub(super) fn put(rec: &mut GatewayRecord, slot: &Slot, v: Stored) -> Option<KeyringRef> {
    let old = match slot {
        Slot::Device(r) => rec.device.insert(r.clone(), v),
        Slot::Issued { device, role } => {
            let roles = rec.devices.entry(device.clone()).or_default();
            match roles.get_mut(role) {
                Some(i) => Some(std::mem::replace(&mut i.token, v)),
                None => {
                    roles.insert(role.clone(), Issued { token: v, scopes: Vec::new(), issued_at_ms: None });
                    None
                }
            }
        }
        Slot::Shared => rec.shared.replace(v),
        Slot::Password => rec.password.replace(v),
        Slot::Bootstrap => rec.bootstrap.replace(v),
    };
    old.and_then(|o| o.keyring_ref().cloned())
}

/// Whether something was taken; its keyring reference goes to `dropped`.
pub(super) fn take(v: Option<Stored>, dropped: &mut Vec<KeyringRef>) -> bool {
    match v {
        Some(v) => {
            dropped.extend(v.keyring_ref().cloned());
            true
        }
        None => false,
    }
}

/// Checks the role and device id a slot names.
pub(super) fn check_slot(slot: &Slot) -> Result<()> {
    match slot {
        Slot::Device(role) => check_role(role),
        Slot::Issued { device, role } => check_device_id(device).and_then(|()| check_role(role)),
        _ => Ok(()),
    }
}

/// Checks a device id: 1–128 of `[A-Za-z0-9._:-]` (OpenClaw's is 64
/// lowercase hex digits).
///
/// # Errors
/// [`ErrorKind::InvalidInput`] (the value is not quoted).
pub fn check_device_id(id: &str) -> Result<()> {
    if is_scope(id) {
        return Ok(());
    }
    Err(Error::new(ErrorKind::InvalidInput, "check device id", "a device id is 1-128 of a-z A-Z 0-9 . _ : -"))
}

/// A scope name: 1–128 of `[A-Za-z0-9._:-]`.
pub fn is_scope(s: &str) -> bool {
    !s.is_empty() && s.len() <= 128 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b"._:-".contains(&b))
}

/// Checks a role name: 1–64 of `[a-z0-9._-]`, starting with a letter or digit.
///
/// # Errors
/// [`ErrorKind::InvalidInput`].
pub fn check_role(role: &str) -> Result<()> {
    let ok = !role.is_empty()
        && role.len() <= 64
        && role.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && role.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b".-_".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidInput,
            "check role",
            format!("`{}` is not a role name (1-64 of a-z 0-9 . _ -)", role.escape_debug()),
        ))
    }
}

/// The longest credential text gw stores, presents or accepts, in bytes:
/// the one limit of the store, the gateway protocol (both sides) and the
/// `gw` command line.
pub const MAX_SECRET_LEN: usize = 4096;

// A gw2 token is presented as a credential, so it must fit in one.
const _: () = assert!(gw_token::MAX_TOKEN_LEN <= MAX_SECRET_LEN);

/// Checks a credential's text: 1 to [`MAX_SECRET_LEN`] bytes of printable
/// ASCII (no spaces, no control characters). The message never includes the
/// value.
///
/// # Errors
/// [`ErrorKind::InvalidInput`].
pub fn check_secret_text(s: &str) -> Result<()> {
    if s.is_empty() || s.len() > MAX_SECRET_LEN || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "check credential",
            format!("a credential is 1 to {MAX_SECRET_LEN} printable ASCII characters without spaces"),
        ));
    }
    Ok(())
}

/// A credential's text on its way into the store: wiped when dropped, never
/// a plain `String` (the test `staged_secret_text_wipes_itself` holds every
/// staging step to that).
pub(crate) type SecretText = Zeroizing<String>;

/// The checked text of `s` ([`check_secret_text`]), as [`SecretText`].
pub(crate) fn secret_text(s: &Secret) -> Result<SecretText> {
    let text = std::str::from_utf8(s.expose())
        .map_err(|_| Error::new(ErrorKind::InvalidInput, "check credential", "a credential must be text"))?;
    check_secret_text(text)?;
    Ok(Zeroizing::new(text.to_owned()))
}
