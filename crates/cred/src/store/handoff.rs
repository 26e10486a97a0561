//! The hand-off of device tokens after a bootstrap connect (THREATS CRED-2,
//! CRED-3): persisted, read back, and only then the bootstrap cleared.

use super::*;

/// One role token of a hand-off: the role, the scopes it grants, the token.
#[derive(Debug)]
pub struct DeviceToken {
    /// The role (`operator`, `node`, ...).
    pub role: String,
    /// The scopes granted with it (kept for tokens bound to a device).
    pub scopes: Vec<String>,
    /// The token.
    pub token: Secret,
    /// When it was issued (ms since the epoch), if the gateway said.
    pub issued_at_ms: Option<u64>,
}

impl DeviceToken {
    /// A role token without scopes or issue time.
    pub fn new(role: impl Into<String>, token: Secret) -> Self {
        Self { role: role.into(), scopes: Vec::new(), token, issued_at_ms: None }
    }
}

/// What a hand-off did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffReport {
    /// The roles persisted and read back.
    pub roles: Vec<String>,
    /// Whether a bootstrap token was cleared.
    pub bootstrap_cleared: bool,
}

impl<S: Storage> CredStore<S> {
    /// Hands off from the bootstrap token to the role tokens of a hello-ok
    /// answer: persists **all** of them in one atomic update, reads them back
    /// from storage (from the keyring, for tokens kept there) and compares,
    /// and only then clears the bootstrap token. A failure at any step leaves
    /// the bootstrap token in place.
    ///
    /// # Errors
    /// [`ErrorKind::ReadBackMismatch`] when storage does not return what was
    /// written; [`ErrorKind::FallbackRefused`]; keyring and storage errors.
    ///
    /// # Security
    /// THREATS CRED-2 (all role tokens), CRED-3 (durable before destructive).
    pub fn handoff(&self, key: &GatewayKey, tokens: &[DeviceToken]) -> Result<HandoffReport> {
        self.handoff_to(key, None, tokens)
    }

    /// [`CredStore::handoff`] of tokens issued to the device identity
    /// `device` (stored per gateway, device and role, with their scopes), or
    /// bound to no device with `None`.
    ///
    /// # Errors
    /// As [`CredStore::handoff`]; an invalid device id, role or scope.
    ///
    /// # Security
    /// THREATS CRED-2, CRED-3. Whether the tokens may be handed off at all
    /// (a bootstrap connect to a loopback peer, THREATS GATE-3) is the
    /// caller's check (gw-gateway's `HelloOk::handoff`).
    pub fn handoff_to(&self, key: &GatewayKey, device: Option<&str>, tokens: &[DeviceToken]) -> Result<HandoffReport> {
        const OP: &str = "handoff";
        if tokens.is_empty() {
            return Err(Error::new(ErrorKind::InvalidInput, OP, "no role tokens to hand off").about(key));
        }
        if let Some(d) = device {
            check_device_id(d)?;
        }
        let mut items = Vec::with_capacity(tokens.len());
        for (i, t) in tokens.iter().enumerate() {
            check_role(&t.role)?;
            if tokens[..i].iter().any(|o| o.role == t.role) {
                return Err(Error::new(ErrorKind::InvalidInput, OP, format!("role `{}` is handed off twice", t.role))
                    .about(key));
            }
            if t.scopes.len() > 64 || !t.scopes.iter().all(|s| is_scope(s)) {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    OP,
                    format!("the `{}` token's scopes are not scope names (1-128 of a-z A-Z 0-9 . _ : -)", t.role),
                )
                .about(key));
            }
            let slot = match device {
                Some(d) => Slot::Issued { device: d.to_owned(), role: t.role.clone() },
                None => Slot::Device(t.role.clone()),
            };
            items.push((slot, secret_text(&t.token)?));
        }
        let target = self.target()?;
        let (values, created) = self.stage_all(&target, key.as_str(), &items)?;
        let roles: Vec<String> = tokens.iter().map(|t| t.role.clone()).collect();
        let pairs: Vec<(&Slot, &Stored)> = items.iter().map(|(slot, _)| slot).zip(&values).collect();
        // 1. Durable: every role token in one atomic, fsynced update (after
        // the keyring entries it names were written), with its scopes.
        self.update_record(key, created.clone(), |rec, dropped| {
            for ((slot, v), t) in pairs.iter().zip(tokens) {
                dropped.extend(put(rec, slot, (*v).clone()));
                if let Slot::Issued { device, role } = slot
                    && let Some(i) = rec.devices.get_mut(device).and_then(|d| d.get_mut(role))
                {
                    i.scopes.clone_from(&t.scopes);
                    i.issued_at_ms = t.issued_at_ms;
                }
            }
            Ok(())
        })?;
        // 2. Read back from storage, not from memory, and compare: the
        // document must name what was written, and the keyring must return
        // the token for every reference.
        let mismatch = |role: &str| {
            Error::new(
                ErrorKind::ReadBackMismatch,
                OP,
                format!("the `{role}` token did not read back as written; the bootstrap token was kept"),
            )
            .about(key)
        };
        let read_back = || -> Result<()> {
            let doc = self.load_doc()?;
            let rec = doc.gateways.get(key.as_str());
            for (((slot, v), (_, text)), role) in pairs.iter().zip(&items).zip(&roles) {
                let stored = rec.and_then(|r| r.get(slot));
                if stored != Some(*v) {
                    return Err(mismatch(role));
                }
                if let Stored::Keyring(_) = v {
                    let got = self.reveal(v).map_err(|e| {
                        let msg = format!("{}; the bootstrap token was kept", e.message());
                        Error::new(e.kind(), OP, msg).about(key).with_fix(e.fix().unwrap_or("").to_owned())
                    })?;
                    if got.expose() != text.as_bytes() {
                        return Err(mismatch(role));
                    }
                }
            }
            Ok(())
        };
        if let Err(e) = read_back() {
            // Entries the document does not name are not left behind.
            self.dispose(created);
            return Err(e);
        }
        // 3. Only now the destructive step, and only if the tokens are still
        // stored as written when the lock is held (another writer may have
        // removed them since the read-back).
        let cleared = self.update_record(key, Vec::new(), |rec, dropped| {
            if let Some((slot, _)) = pairs.iter().find(|(slot, v)| rec.get(slot) != Some(*v)) {
                let role = match slot {
                    Slot::Device(r) | Slot::Issued { role: r, .. } => r.as_str(),
                    _ => "?",
                };
                return Err(Error::new(
                    ErrorKind::ReadBackMismatch,
                    OP,
                    format!("the `{role}` token changed before the bootstrap token was cleared; it was kept"),
                )
                .about(key));
            }
            Ok(take(rec.bootstrap.take(), dropped))
        })?;
        Ok(HandoffReport { roles, bootstrap_cleared: cleared })
    }
}
