//! The credential store: per-gateway records in one 0600 document, with
//! precedence, durable hand-off, validate-before-replace and generation
//! guards; secrets inline in the document (the file backend) or in an OS
//! keyring with only references in the document (THREATS CRED-9, see
//! [`crate::keyring`]).
//!
//! Document (`credentials.json` in a profile directory, mode 0600):
//! ```json
//! { "version": 2,
//!   "gateways": { "ws://127.0.0.1:18789": {
//!       "generation": 3,
//!       "devices": { "DEVICE-ID": {
//!           "node": { "token": "…", "scopes": [], "issuedAtMs": 1765000000000 },
//!           "operator": { "token": "…", "scopes": ["operator.read"] } } },
//!       "device": { "operator": "…" },
//!       "shared": "…",
//!       "password": "…",
//!       "bootstrap": "…" } } }
//! ```
//! `devices` holds the tokens a gateway issued to a device identity (its id,
//! OpenClaw's lowercase hex SHA-256 of the public key), per role, with the
//! scopes granted. `device` holds role tokens bound to no device identity:
//! every store of format 1 (before device identities) has them only there,
//! and `gw cred set --device ROLE` puts them there.
//!
//! Format 1 (no `devices`, no `password`) is read as it is and migrates on
//! the first write: the document is written as format 2 with every entry it
//! held, and a gw that predates format 2 refuses it as another version
//! rather than misreading it.
//! A slot holds either the secret (a string: the file backend, and every
//! store written before keyrings existed) or a reference to a keyring entry
//! (`{"keyring": "secret-service", "service": "gw-cred", "account": "…"}`).
//! The format version stays 1: a gw that predates references refuses a
//! store holding one as not in its format (an object where it expects a
//! string), it never misreads it.
//!
//! Every change is one locked, atomic gw-persist update. Keyring entries are
//! written before the update that names them (each write makes a new entry),
//! and entries the document no longer names are deleted after it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, OnceLock};

use gw_persist::Document;
use gw_token::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};
use crate::generation::{Generation, Generations};
use crate::key::GatewayKey;
use crate::keyring::{
    Decision, KEYRING_SERVICE, Keyring, KeyringKind, KeyringRef, Notice, StoreConfig, StorePolicy, SystemKeyring,
    random_hex,
};

mod backend;
mod handoff;
mod replace;
mod schema;
mod txn;
mod validate;

pub use backend::Storage;
pub(crate) use backend::WriteTarget;
pub use handoff::{DeviceToken, HandoffReport};
pub(crate) use schema::StoreDoc;
pub use schema::{GatewayRecord, Issued, STORE_FILE, STORE_VERSION, STORE_VERSION_MIN, Slot, Stored};
pub use validate::{MAX_SECRET_LEN, check_device_id, check_role, check_secret_text, is_scope};
pub(crate) use validate::{SecretText, check_store_value, save_refusal, secret_text};
use validate::{check_slot, decode_value, put, take};

/// Which credential [`CredStore::resolve`] picked, and the secret.
#[derive(Debug)]
pub struct Resolved {
    /// The slot the credential came from.
    pub slot: Slot,
    /// The credential.
    pub secret: Secret,
}

/// A gateway's record without secrets, for listing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// The canonical gateway key.
    pub gateway: String,
    /// Roles with a device token (bound to a device identity or not).
    pub roles: Vec<String>,
    /// The tokens issued to device identities: device id, role, scopes.
    pub issued: Vec<IssuedSummary>,
    /// Whether a shared token is stored.
    pub shared: bool,
    /// Whether a password is stored.
    pub password: bool,
    /// Whether a bootstrap token is stored.
    pub bootstrap: bool,
    /// The record's generation.
    pub generation: u64,
}

/// A token issued to a device identity, without the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct IssuedSummary {
    /// The device id.
    pub device: String,
    /// The role.
    pub role: String,
    /// The scopes granted.
    pub scopes: Vec<String>,
}

/// The credential store over a [`Storage`].
#[derive(Debug)]
pub struct CredStore<S: Storage> {
    storage: S,
    generations: Generations,
    config: StoreConfig,
    /// The write target, decided once (the notice is given once), and why
    /// `keyring-or-file` fell back, if it did.
    decided: OnceLock<(WriteTarget, Option<String>)>,
    /// Keyrings opened to resolve references.
    opened: Mutex<Vec<Arc<dyn Keyring>>>,
}

impl<S: Storage> CredStore<S> {
    /// A store over `storage` with the file policy: new secrets go inline
    /// into the document. (References already in the document are still
    /// resolved through their keyring.)
    pub fn new(storage: S) -> Self {
        Self::with_config(storage, StoreConfig::file())
    }

    /// A store over `storage` writing secrets as `config` says
    /// (THREATS CRED-9).
    pub fn with_config(storage: S, config: StoreConfig) -> Self {
        Self {
            storage,
            generations: Generations::new(),
            config,
            decided: OnceLock::new(),
            opened: Mutex::new(Vec::new()),
        }
    }

    /// The store's configuration.
    pub fn config(&self) -> &StoreConfig {
        &self.config
    }

    /// Stores `secret` in `slot` of the gateway `key`, where the store's
    /// policy says.
    ///
    /// # Errors
    /// Invalid role or secret text; [`ErrorKind::FallbackRefused`] (nothing
    /// written); keyring and storage errors.
    pub fn set(&self, key: &GatewayKey, slot: &Slot, secret: &Secret) -> Result<()> {
        check_slot(slot)?;
        let text = secret_text(secret)?;
        let target = self.target()?;
        let (values, created) = self.stage_all(&target, key.as_str(), &[(slot.clone(), text)])?;
        let v = &values[0];
        self.update_record(key, created, |rec, dropped| {
            dropped.extend(put(rec, slot, v.clone()));
            Ok(())
        })
    }

    /// The credential in `slot` of `key`, if any (read from its keyring if
    /// it is kept there).
    ///
    /// # Errors
    /// Storage and keyring errors (a missing store is "nothing stored", not
    /// an error).
    pub fn get(&self, key: &GatewayKey, slot: &Slot) -> Result<Option<Secret>> {
        let doc = self.load_doc()?;
        match doc.gateways.get(key.as_str()).and_then(|r| r.get(slot)) {
            Some(v) => self.reveal(v).map(Some),
            None => Ok(None),
        }
    }

    /// Where each stored credential of `key` is kept: `file` or the
    /// keyring's name. No secret is read.
    ///
    /// # Errors
    /// Storage errors.
    pub fn locations(&self, key: &GatewayKey) -> Result<Vec<(Slot, String)>> {
        let doc = self.load_doc()?;
        Ok(doc
            .gateways
            .get(key.as_str())
            .map(|r| r.slots().map(|(s, v)| (s, v.location().to_owned())).collect())
            .unwrap_or_default())
    }

    /// The credential to use for `key` and `role`: the device token for the
    /// role, else the shared token, else the bootstrap token — with the slot
    /// it came from. A credential kept in a keyring that cannot be read is an
    /// error, never a reason to pick the next one.
    ///
    /// # Errors
    /// Storage and keyring errors.
    ///
    /// # Security
    /// THREATS CRED-1 (precedence).
    pub fn resolve(&self, key: &GatewayKey, role: &str) -> Result<Option<Resolved>> {
        self.resolve_for(key, None, role)
    }

    /// [`CredStore::resolve`] for a client with the device identity
    /// `device`: the token issued to that device for the role comes first,
    /// then the role token bound to no device, the shared token, the
    /// password and the bootstrap token.
    ///
    /// # Errors
    /// Storage and keyring errors.
    ///
    /// # Security
    /// THREATS CRED-1 (precedence; a token issued to another device is never
    /// picked).
    pub fn resolve_for(&self, key: &GatewayKey, device: Option<&str>, role: &str) -> Result<Option<Resolved>> {
        let doc = self.load_doc()?;
        let Some(rec) = doc.gateways.get(key.as_str()) else { return Ok(None) };
        let issued = device.map(|d| Slot::Issued { device: d.to_owned(), role: role.to_owned() });
        let order =
            issued.into_iter().chain([Slot::Device(role.to_owned()), Slot::Shared, Slot::Password, Slot::Bootstrap]);
        let Some((slot, v)) = order.into_iter().find_map(|slot| rec.get(&slot).map(|v| (slot, v))) else {
            return Ok(None);
        };
        Ok(Some(Resolved { secret: self.reveal(v)?, slot }))
    }

    /// Removes `slot` of `key`, or the whole record with `None`. Returns
    /// whether anything was removed. Keyring entries of removed credentials
    /// are deleted after the document no longer names them.
    ///
    /// # Errors
    /// Storage errors.
    pub fn remove(&self, key: &GatewayKey, slot: Option<&Slot>) -> Result<bool> {
        if !self.load_doc()?.gateways.contains_key(key.as_str()) {
            return Ok(false);
        }
        self.update_record(key, Vec::new(), |rec, dropped| {
            let removed = match slot {
                None => {
                    let had = !rec.is_empty();
                    dropped.extend(rec.refs().cloned());
                    // The generation stays: restarting the count would hand
                    // out numbers an old, stale connection still holds
                    // (THREATS CRED-6).
                    *rec = GatewayRecord { generation: rec.generation, ..GatewayRecord::default() };
                    had
                }
                // A role's device tokens: bound to no device and issued to
                // any device identity.
                Some(Slot::Device(r)) => {
                    let mut any = take(rec.device.remove(r), dropped);
                    let devices: Vec<String> = rec.devices.keys().cloned().collect();
                    for d in devices {
                        let slot = Slot::Issued { device: d, role: r.clone() };
                        any |= take(rec.remove_slot(&slot), dropped);
                    }
                    any
                }
                Some(s) => take(rec.remove_slot(s), dropped),
            };
            Ok(removed)
        })
    }

    /// Every gateway's record, without secrets.
    ///
    /// # Errors
    /// Storage errors.
    pub fn list(&self) -> Result<Vec<Summary>> {
        let doc = self.load_doc()?;
        Ok(doc
            .gateways
            .iter()
            .map(|(k, r)| Summary {
                gateway: k.clone(),
                roles: r.roles(),
                issued: r
                    .devices
                    .iter()
                    .flat_map(|(d, roles)| {
                        roles.iter().map(|(role, i)| IssuedSummary {
                            device: d.clone(),
                            role: role.clone(),
                            scopes: i.scopes.clone(),
                        })
                    })
                    .collect(),
                shared: r.shared.is_some(),
                password: r.password.is_some(),
                bootstrap: r.bootstrap.is_some(),
                generation: r.generation,
            })
            .collect())
    }
}

#[cfg(all(test, not(loom)))]
mod tests;

#[cfg(all(test, not(loom)))]
mod keyring_tests;
