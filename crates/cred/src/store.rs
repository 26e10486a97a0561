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

use std::cell::RefCell;
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

/// The document format version written.
pub const STORE_VERSION: u32 = 2;
/// The oldest document format version read (migrated on the first write).
pub const STORE_VERSION_MIN: u32 = 1;
/// The file name of the store in a profile directory.
pub const STORE_FILE: &str = "credentials.json";

/// Where a credential sits in a gateway's record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// A role token bound to no device identity (format-1 stores, `gw cred
    /// set --device ROLE`).
    Device(String),
    /// The token the gateway issued to a device identity for a role.
    Issued {
        /// The device id.
        device: String,
        /// The role.
        role: String,
    },
    /// The gateway's shared token.
    Shared,
    /// The gateway's password.
    Password,
    /// The bootstrap token (used once, to obtain device tokens).
    Bootstrap,
}

impl Slot {
    /// `device:ROLE`, `shared` or `bootstrap`.
    pub fn describe(&self) -> String {
        match self {
            Slot::Device(r) => format!("device:{r}"),
            Slot::Issued { device, role } => format!("device:{role}@{device}"),
            Slot::Shared => "shared".into(),
            Slot::Password => "password".into(),
            Slot::Bootstrap => "bootstrap".into(),
        }
    }
}

/// A stored credential: the secret itself, or a reference to the keyring
/// entry that holds it. Its `Debug` never shows a secret.
#[derive(Clone, PartialEq, Eq)]
pub enum Stored {
    /// The secret, in the document (the file backend); wiped when dropped.
    Inline(Zeroizing<String>),
    /// A keyring entry holding the secret.
    Keyring(KeyringRef),
}

impl Stored {
    /// The keyring reference, if the secret is in a keyring.
    pub fn keyring_ref(&self) -> Option<&KeyringRef> {
        match self {
            Self::Keyring(r) => Some(r),
            Self::Inline(_) => None,
        }
    }
    /// `file` or the keyring's name.
    pub fn location(&self) -> &str {
        match self {
            Self::Inline(_) => "file",
            Self::Keyring(r) => &r.keyring,
        }
    }
}

impl std::fmt::Debug for Stored {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Inline(_) => f.write_str("Inline([REDACTED])"),
            Self::Keyring(r) => f.debug_tuple("Keyring").field(r).finish(),
        }
    }
}

impl Serialize for Stored {
    fn serialize<S: serde::Serializer>(&self, s: S) -> std::result::Result<S::Ok, S::Error> {
        match self {
            Self::Inline(t) => s.serialize_str(t),
            Self::Keyring(r) => r.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for Stored {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> std::result::Result<Self, D::Error> {
        use serde::de::Error as _;
        match Value::deserialize(d)? {
            Value::String(t) => Ok(Self::Inline(Zeroizing::new(t))),
            v @ Value::Object(_) => {
                let r: KeyringRef = serde_json::from_value(v).map_err(D::Error::custom)?;
                r.check().map_err(D::Error::custom)?;
                Ok(Self::Keyring(r))
            }
            other => {
                let kind = match other {
                    Value::Null => "null",
                    Value::Bool(_) => "a boolean",
                    Value::Number(_) => "a number",
                    _ => "an array",
                };
                Err(D::Error::custom(format!(
                    "invalid type: {kind}, expected a credential string or a keyring reference"
                )))
            }
        }
    }
}

/// One gateway's credentials, as stored. Its `Debug` shows which slots are
/// filled, never a credential.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Record {
    /// Connection generation (THREATS CRED-6).
    #[serde(default)]
    pub generation: u64,
    /// Device id → role → the token issued to that device for that role.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub devices: BTreeMap<String, BTreeMap<String, Issued>>,
    /// Role → device token bound to no device identity.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub device: BTreeMap<String, Stored>,
    /// The shared gateway token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<Stored>,
    /// The gateway's password.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password: Option<Stored>,
    /// The bootstrap token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<Stored>,
}

/// A token a gateway issued to a device identity: the token and the scopes
/// it grants. Its `Debug` never shows the token.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Issued {
    /// The token (or its keyring reference).
    pub token: Stored,
    /// The scopes granted with it.
    #[serde(default)]
    pub scopes: Vec<String>,
    /// When the gateway issued it (ms since the epoch), if it said.
    #[serde(default, rename = "issuedAtMs", skip_serializing_if = "Option::is_none")]
    pub issued_at_ms: Option<u64>,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("token", &self.token.location())
            .field("scopes", &self.scopes)
            .field("issued_at_ms", &self.issued_at_ms)
            .finish()
    }
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("generation", &self.generation)
            .field("devices", &self.devices)
            .field("device", &self.device.iter().map(|(k, v)| (k, v.location())).collect::<Vec<_>>())
            .field("shared", &self.shared.as_ref().map(Stored::location))
            .field("password", &self.password.as_ref().map(Stored::location))
            .field("bootstrap", &self.bootstrap.as_ref().map(Stored::location))
            .finish()
    }
}

impl Record {
    pub(crate) fn get(&self, slot: &Slot) -> Option<&Stored> {
        match slot {
            Slot::Device(r) => self.device.get(r),
            Slot::Issued { device, role } => self.devices.get(device).and_then(|d| d.get(role)).map(|i| &i.token),
            Slot::Shared => self.shared.as_ref(),
            Slot::Password => self.password.as_ref(),
            Slot::Bootstrap => self.bootstrap.as_ref(),
        }
    }
    /// The roles with a device token (bound to a device or not), sorted, once each.
    fn roles(&self) -> Vec<String> {
        let all: std::collections::BTreeSet<&String> =
            self.device.keys().chain(self.devices.values().flat_map(BTreeMap::keys)).collect();
        all.into_iter().cloned().collect()
    }
    fn is_empty(&self) -> bool {
        self.devices.is_empty()
            && self.device.is_empty()
            && self.shared.is_none()
            && self.password.is_none()
            && self.bootstrap.is_none()
    }
    pub(crate) fn remove_slot(&mut self, slot: &Slot) -> Option<Stored> {
        match slot {
            Slot::Device(r) => self.device.remove(r),
            Slot::Issued { device, role } => {
                let d = self.devices.get_mut(device)?;
                let out = d.remove(role).map(|i| i.token);
                if d.is_empty() {
                    self.devices.remove(device);
                }
                out
            }
            Slot::Shared => self.shared.take(),
            Slot::Password => self.password.take(),
            Slot::Bootstrap => self.bootstrap.take(),
        }
    }
    pub(crate) fn put_slot(&mut self, slot: &Slot, v: Stored) -> Option<KeyringRef> {
        put(self, slot, v)
    }
    /// Every slot with its stored value.
    pub(crate) fn slots(&self) -> impl Iterator<Item = (Slot, &Stored)> {
        self.devices
            .iter()
            .flat_map(|(d, roles)| {
                roles.iter().map(|(r, i)| (Slot::Issued { device: d.clone(), role: r.clone() }, &i.token))
            })
            .chain(self.device.iter().map(|(r, v)| (Slot::Device(r.clone()), v)))
            .chain(self.shared.iter().map(|v| (Slot::Shared, v)))
            .chain(self.password.iter().map(|v| (Slot::Password, v)))
            .chain(self.bootstrap.iter().map(|v| (Slot::Bootstrap, v)))
    }
    fn refs(&self) -> impl Iterator<Item = &KeyringRef> {
        self.slots().filter_map(|(_, v)| v.keyring_ref())
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreDoc {
    pub(crate) version: u32,
    #[serde(default)]
    pub(crate) gateways: BTreeMap<String, Record>,
}

impl StoreDoc {
    fn refs(&self) -> impl Iterator<Item = &KeyringRef> {
        self.gateways.values().flat_map(Record::refs)
    }
    pub(crate) fn has_refs(&self) -> bool {
        self.refs().next().is_some()
    }
}

/// Where the store's document lives. [`Document`] implements it; tests
/// wrap it to inject failures.
pub trait Storage {
    /// Loads the document (`None` if it does not exist).
    ///
    /// # Errors
    /// Any load error (never "absent" for anything but a missing file).
    fn load(&self) -> std::result::Result<Option<Value>, gw_persist::Error>;
    /// Locked read-modify-write of the document.
    ///
    /// # Errors
    /// Lock, load, save errors, or the closure's.
    fn update(
        &self,
        f: &mut dyn FnMut(Option<Value>) -> std::result::Result<Value, gw_persist::Error>,
    ) -> std::result::Result<Value, gw_persist::Error>;
}

impl Storage for Document<'_> {
    fn load(&self) -> std::result::Result<Option<Value>, gw_persist::Error> {
        self.load_value()
    }
    fn update(
        &self,
        f: &mut dyn FnMut(Option<Value>) -> std::result::Result<Value, gw_persist::Error>,
    ) -> std::result::Result<Value, gw_persist::Error> {
        self.update_value(f)
    }
}

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

/// Where new secrets go, once decided.
#[derive(Debug, Clone)]
pub(crate) enum Target {
    File,
    Keyring(Arc<dyn Keyring>),
}

/// The credential store over a [`Storage`].
#[derive(Debug)]
pub struct CredStore<S: Storage> {
    storage: S,
    generations: Generations,
    config: StoreConfig,
    /// The write target, decided once (the notice is given once), and why
    /// `keyring-or-file` fell back, if it did.
    decided: OnceLock<(Target, Option<String>)>,
    /// Keyrings opened to resolve references.
    opened: Mutex<Vec<Arc<dyn Keyring>>>,
}

/// A failure inside an update closure: a gw-cred error carried through
/// gw-persist's error type and recovered afterwards.
struct Carried(RefCell<Option<Error>>);

impl Carried {
    fn new() -> Self {
        Self(RefCell::new(None))
    }
    fn fail(&self, e: Error) -> gw_persist::Error {
        let msg = e.message().to_owned();
        *self.0.borrow_mut() = Some(e);
        gw_persist::Error::new(gw_persist::ErrorKind::InvalidSpec, "credential store", "-", msg)
    }
    fn resolve(&self, e: gw_persist::Error) -> Error {
        self.0.borrow_mut().take().unwrap_or_else(|| Error::from(e))
    }
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

    pub(crate) fn decode(v: Option<Value>) -> Result<StoreDoc> {
        match v {
            None => Ok(StoreDoc { version: STORE_VERSION, gateways: BTreeMap::new() }),
            Some(v) => {
                let doc = decode_value::<StoreDoc>(v)?;
                if !(STORE_VERSION_MIN..=STORE_VERSION).contains(&doc.version) {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        "load credentials",
                        format!(
                            "credential store version {} is not supported (this gw reads {STORE_VERSION_MIN} to \
                             {STORE_VERSION})",
                            doc.version
                        ),
                    ));
                }
                for (gateway, rec) in &doc.gateways {
                    for (device, roles) in &rec.devices {
                        check_device_id(device)?;
                        for role in roles.keys() {
                            check_role(role).map_err(|_| {
                                Error::new(
                                    ErrorKind::InvalidInput,
                                    "load credentials",
                                    format!("the credential store holds a role for {gateway} that is not a role name"),
                                )
                            })?;
                        }
                    }
                }
                Ok(doc)
            }
        }
    }

    pub(crate) fn load_doc(&self) -> Result<StoreDoc> {
        Self::decode(self.storage.load()?)
    }

    // ---- keyrings and the write policy ---------------------------------

    /// The keyring new secrets go to under a keyring policy.
    fn write_keyring(&self) -> Result<Arc<dyn Keyring>> {
        match &self.config.keyring {
            Some(k) => Ok(k.clone()),
            None => self.keyring_named(self.config.kind.as_str()),
        }
    }

    /// The keyring a reference names.
    pub(crate) fn keyring_named(&self, name: &str) -> Result<Arc<dyn Keyring>> {
        if let Some(k) = self.config.keyring.as_ref().filter(|k| k.name() == name) {
            return Ok(k.clone());
        }
        let mut opened = self.opened.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(k) = opened.iter().find(|k| k.name() == name) {
            return Ok(k.clone());
        }
        let kind = KeyringKind::parse(name).map_err(|_| {
            Error::new(
                ErrorKind::InvalidInput,
                "open keyring",
                format!("the credential store refers to the keyring `{}`, which gw does not know", name.escape_debug()),
            )
        })?;
        let k: Arc<dyn Keyring> = Arc::new(SystemKeyring::new(kind, self.config.call_timeout()));
        opened.push(k.clone());
        Ok(k)
    }

    /// Decides where this store writes secrets, as its policy says, and
    /// tells the caller through the notice callback when `keyring-or-file`
    /// falls back to the file. Decided once per store; every write calls it
    /// before anything is written, and a caller may call it first itself
    /// (the two-step form).
    ///
    /// # Errors
    /// [`ErrorKind::FallbackRefused`] under the `keyring` policy when the
    /// keyring is unavailable (nothing is written, anywhere).
    ///
    /// # Security
    /// THREATS CRED-9 (no silent downgrade; told before anything is written).
    pub fn decide(&self) -> Result<Decision> {
        self.target()?;
        let (target, fallback) = self.decided.get().expect("decided by target()");
        Ok(match (target, fallback) {
            (Target::Keyring(k), _) => Decision::Keyring { keyring: k.name().to_owned() },
            (Target::File, None) => Decision::File,
            (Target::File, Some(reason)) => Decision::FileFallback {
                keyring: self
                    .config
                    .keyring
                    .as_ref()
                    .map(|k| k.name().to_owned())
                    .unwrap_or_else(|| self.config.kind.as_str().into()),
                reason: reason.clone(),
            },
        })
    }

    pub(crate) fn target(&self) -> Result<Target> {
        if let Some((t, _)) = self.decided.get() {
            return Ok(t.clone());
        }
        let mut fallback = None;
        let t = match self.config.policy {
            StorePolicy::File => Target::File,
            StorePolicy::Keyring => {
                let k = self.write_keyring()?;
                match k.probe() {
                    Ok(()) => Target::Keyring(k),
                    Err(e) => {
                        return Err(Error::new(
                            ErrorKind::FallbackRefused,
                            "store credential",
                            format!(
                                "{}; the `keyring` store policy does not fall back to the file: nothing was \
                                 written",
                                e.message()
                            ),
                        )
                        .about(k.name())
                        .with_fix(e.fix().map(str::to_owned).unwrap_or_else(|| k.fix())));
                    }
                }
            }
            StorePolicy::KeyringOrFile => {
                let k = self.write_keyring()?;
                match k.probe() {
                    Ok(()) => Target::Keyring(k),
                    Err(e) => {
                        let reason = e.message().to_owned();
                        fallback = Some(reason.clone());
                        // Told before anything is written (CRED-9).
                        self.config.notify(&Notice::FallbackToFile { keyring: k.name().to_owned(), reason });
                        Target::File
                    }
                }
            }
        };
        Ok(self.decided.get_or_init(|| (t, fallback)).0.clone())
    }

    /// Puts `text` where the decided target says: inline, or into a new
    /// keyring entry (recorded in `created`).
    pub(crate) fn stage(
        &self,
        target: &Target,
        gateway: &str,
        slot: &Slot,
        text: &str,
        created: &mut Vec<KeyringRef>,
    ) -> Result<Stored> {
        let Target::Keyring(k) = target else { return Ok(Stored::Inline(Zeroizing::new(text.to_owned()))) };
        let ns = self.config.namespace.as_deref().unwrap_or("store");
        let r = KeyringRef {
            keyring: k.name().to_owned(),
            service: KEYRING_SERVICE.to_owned(),
            account: format!("{ns}/{gateway}/{}/{}", slot.describe(), random_hex()?),
        };
        let label = format!("gw credential: {} for {gateway} (profile {ns})", slot.describe());
        k.set(&r.service, &r.account, &label, text.as_bytes()).map_err(|e| {
            let msg = format!("{}; nothing was written to the credential file", e.message());
            Error::new(e.kind(), e.op(), msg).about(slot.describe()).with_fix(e.fix().unwrap_or(&k.fix()).to_owned())
        })?;
        created.push(r.clone());
        Ok(Stored::Keyring(r))
    }

    /// Stages every `(slot, text)`; on a failure, the entries already made
    /// are deleted again.
    fn stage_all(
        &self,
        target: &Target,
        gateway: &str,
        items: &[(Slot, String)],
    ) -> Result<(Vec<Stored>, Vec<KeyringRef>)> {
        let mut created = Vec::new();
        let mut out = Vec::with_capacity(items.len());
        for (slot, text) in items {
            match self.stage(target, gateway, slot, text, &mut created) {
                Ok(v) => out.push(v),
                Err(e) => {
                    self.dispose(created);
                    return Err(e);
                }
            }
        }
        Ok((out, created))
    }

    /// The secret a stored value stands for: inline, or read from its
    /// keyring.
    ///
    /// # Errors
    /// [`ErrorKind::KeyringUnavailable`], [`ErrorKind::KeyringEntryMissing`],
    /// a reference outside gw's keyring service.
    pub(crate) fn reveal(&self, v: &Stored) -> Result<Secret> {
        const OP: &str = "read credential";
        let r = match v {
            Stored::Inline(t) => return Ok(Secret::from(String::clone(t))),
            Stored::Keyring(r) => r,
        };
        check_own(r, OP)?;
        let k = self.keyring_named(&r.keyring)?;
        match k.get(&r.service, &r.account)? {
            Some(bytes) => Ok(Secret::new(bytes.to_vec())),
            None => Err(Error::new(
                ErrorKind::KeyringEntryMissing,
                OP,
                format!(
                    "the credential store refers to the keyring entry {}, which {} does not hold{}",
                    r.describe(),
                    k.describe(),
                    if r.keyring == KeyringKind::Keyutils.as_str() {
                        " (keyutils entries do not survive a reboot or the expiry of the persistent keyring)"
                    } else {
                        ""
                    }
                ),
            )
            .with_fix("store the credential again with `gw cred set`, or remove the reference with `gw cred rm`")),
        }
    }

    /// Deletes the keyring entries in `refs` that the stored document does
    /// not name (any more). Failures are reported as notices: the document
    /// is already right, only a secret is left in the keyring.
    pub(crate) fn dispose(&self, refs: Vec<KeyringRef>) {
        if refs.is_empty() {
            return;
        }
        let named: Vec<KeyringRef> = match self.load_doc() {
            Ok(doc) => doc.refs().cloned().collect(),
            Err(e) => {
                for entry in refs {
                    let reason = format!("the credential store could not be read to check it: {}", e.message());
                    self.config.notify(&Notice::EntryLeft { entry, reason });
                }
                return;
            }
        };
        for entry in refs {
            if named.contains(&entry) {
                continue;
            }
            let res = check_own(&entry, "delete keyring entry")
                .and_then(|()| self.keyring_named(&entry.keyring))
                .and_then(|k| k.delete(&entry.service, &entry.account));
            if let Err(e) = res {
                self.config.notify(&Notice::EntryLeft { entry, reason: e.message().to_owned() });
            }
        }
    }

    /// One locked update of the record of `key`; `f` may refuse with an error,
    /// and then nothing is written. `f` collects the keyring references its
    /// change drops; they are deleted after the update. `created` are the
    /// entries staged for this update: deleted again if it fails.
    fn update_record<T>(
        &self,
        key: &GatewayKey,
        created: Vec<KeyringRef>,
        mut f: impl FnMut(&mut Record, &mut Vec<KeyringRef>) -> Result<T>,
    ) -> Result<T> {
        let carried = Carried::new();
        let mut out = None;
        let mut dropped = Vec::new();
        let res = self.storage.update(&mut |cur| {
            dropped.clear();
            let mut doc = Self::decode(cur).map_err(|e| carried.fail(e))?;
            // A format-1 store migrates here, on its first write: every entry
            // stays as it was (THREATS CRED-3: nothing stored is lost).
            doc.version = STORE_VERSION;
            let rec = doc.gateways.entry(key.as_str().to_owned()).or_default();
            let r = f(rec, &mut dropped).map_err(|e| carried.fail(e))?;
            if rec.is_empty() && rec.generation == 0 {
                doc.gateways.remove(key.as_str());
            }
            out = Some(r);
            serde_json::to_value(&doc)
                .map_err(|e| carried.fail(Error::new(ErrorKind::InvalidInput, "save credentials", e.to_string())))
        });
        match res {
            Ok(_) => {
                self.dispose(dropped);
                Ok(out.expect("the closure ran when the update succeeded"))
            }
            Err(e) => {
                // What this update staged is deleted unless the document
                // names it after all (a failure reported after the write).
                self.dispose(created);
                Err(save_refusal(carried.resolve(e)))
            }
        }
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
                    *rec = Record { generation: rec.generation, ..Record::default() };
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

    /// Replaces the shared token of `key` with `new` after `validate` accepts
    /// it; device tokens are cleared in the same atomic update (they belonged
    /// to the old shared identity). A failed validation changes nothing.
    ///
    /// # Errors
    /// [`ErrorKind::ValidationFailed`] (nothing changed);
    /// [`ErrorKind::FallbackRefused`]; keyring and storage errors.
    ///
    /// # Security
    /// THREATS CRED-4 (validate before replace).
    pub fn replace_shared(
        &self,
        key: &GatewayKey,
        new: &Secret,
        validate: impl FnOnce(&Secret) -> std::result::Result<(), String>,
    ) -> Result<Vec<String>> {
        let text = secret_text(new)?;
        // Where it would go is decided (and a fallback told) first; a
        // refusal under the `keyring` policy does not send the token to the
        // validator.
        let target = self.target()?;
        validate(new).map_err(|why| {
            Error::new(
                ErrorKind::ValidationFailed,
                "replace shared",
                format!("the new shared token was not accepted: {why}; nothing was changed"),
            )
            .about(key)
        })?;
        let (values, created) = self.stage_all(&target, key.as_str(), &[(Slot::Shared, text)])?;
        let v = &values[0];
        self.update_record(key, created, |rec, dropped| {
            dropped.extend(put(rec, &Slot::Shared, v.clone()));
            let cleared = rec.roles();
            dropped.extend(rec.device.values().filter_map(Stored::keyring_ref).cloned());
            dropped
                .extend(rec.devices.values().flat_map(BTreeMap::values).filter_map(|i| i.token.keyring_ref()).cloned());
            rec.device.clear();
            rec.devices.clear();
            Ok(cleared)
        })
    }

    /// Starts a connection to `key`: increments the stored generation (a
    /// locked compare-and-swap across processes) and makes it the current one
    /// in this process. Writes tagged with an older generation are refused.
    ///
    /// # Errors
    /// Storage errors.
    ///
    /// # Security
    /// THREATS CRED-6 (stale generations).
    pub fn begin_connection(&self, key: &GatewayKey) -> Result<Generation> {
        self.generations.begin(key.as_str(), || {
            self.update_record(key, Vec::new(), |rec, _| {
                rec.generation += 1;
                Ok(rec.generation)
            })
        })
    }

    /// [`CredStore::set`] on behalf of the connection `gen`: refused if a
    /// newer connection began since, in this process or (by the stored
    /// generation) in another.
    ///
    /// # Errors
    /// [`ErrorKind::StaleGeneration`] (nothing written); as [`CredStore::set`].
    ///
    /// # Security
    /// THREATS CRED-6.
    pub fn set_in_generation(
        &self,
        key: &GatewayKey,
        generation: &Generation,
        slot: &Slot,
        secret: &Secret,
    ) -> Result<()> {
        check_slot(slot)?;
        let text = secret_text(secret)?;
        if generation.gateway() != key.as_str() {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "set credential",
                format!("refused: the connection generation belongs to {}, not to this gateway", generation.gateway()),
            )
            .about(key));
        }
        let stale = |stored: u64| {
            Error::new(
                ErrorKind::StaleGeneration,
                "set credential",
                format!(
                    "refused: this connection is generation {} but generation {stored} is current; a stale client must not change credentials",
                    generation.value()
                ),
            )
            .about(key)
        };
        let target = self.target()?;
        self.generations.guard(generation, |current| {
            if current != generation.value() {
                return Err(stale(current));
            }
            if let Target::Keyring(_) = target {
                // A stale writer does not even reach the keyring (checked
                // again under the lock below).
                let stored = self.load_doc()?.gateways.get(key.as_str()).map_or(0, |r| r.generation);
                if stored != generation.value() {
                    return Err(stale(stored));
                }
            }
            let (values, created) = self.stage_all(&target, key.as_str(), &[(slot.clone(), text.clone())])?;
            let v = &values[0];
            self.update_record(key, created, |rec, dropped| {
                if rec.generation != generation.value() {
                    return Err(stale(rec.generation));
                }
                dropped.extend(put(rec, slot, v.clone()));
                Ok(())
            })
        })
    }
}

/// Refuses a reference outside gw's own keyring service: gw never reads or
/// deletes another program's entries, whatever the document says.
fn check_own(r: &KeyringRef, op: &'static str) -> Result<()> {
    if r.service == KEYRING_SERVICE {
        return Ok(());
    }
    Err(Error::new(
        ErrorKind::InvalidInput,
        op,
        format!(
            "refused: the credential store names a keyring entry of the service `{}`, not gw's `{KEYRING_SERVICE}`; \
             gw only reads and deletes its own entries",
            r.service.escape_debug()
        ),
    ))
}

/// Decodes a stored value as `T`. The error names what is wrong but never
/// quotes a stored value (serde quotes the value it found, and here that can
/// be a credential).
fn decode_value<T: serde::de::DeserializeOwned>(v: Value) -> Result<T> {
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
    Error::new(e.kind(), e.op(), format!("the credential store would exceed {mib} MiB: {}", e.message()))
        .about(e.subject())
        .with_fix(
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
fn redact_quoted(text: &str) -> String {
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
fn put(rec: &mut Record, slot: &Slot, v: Stored) -> Option<KeyringRef> {
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
fn take(v: Option<Stored>, dropped: &mut Vec<KeyringRef>) -> bool {
    match v {
        Some(v) => {
            dropped.extend(v.keyring_ref().cloned());
            true
        }
        None => false,
    }
}

/// Checks the role and device id a slot names.
fn check_slot(slot: &Slot) -> Result<()> {
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

/// Checks a credential's text: 1–4096 bytes of printable ASCII (no spaces,
/// no control characters). The message never includes the value.
///
/// # Errors
/// [`ErrorKind::InvalidInput`].
pub fn check_secret_text(s: &str) -> Result<()> {
    if s.is_empty() || s.len() > 4096 || !s.bytes().all(|b| b.is_ascii_graphic()) {
        return Err(Error::new(
            ErrorKind::InvalidInput,
            "check credential",
            "a credential is 1 to 4096 printable ASCII characters without spaces",
        ));
    }
    Ok(())
}

pub(crate) fn secret_text(s: &Secret) -> Result<String> {
    let text = std::str::from_utf8(s.expose())
        .map_err(|_| Error::new(ErrorKind::InvalidInput, "check credential", "a credential must be text"))?;
    check_secret_text(text)?;
    Ok(text.to_owned())
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;
    use gw_anchor::{Policy, Root};

    fn s(x: &str) -> Secret {
        Secret::from(x.to_owned())
    }

    fn tok(role: &str, t: &str) -> DeviceToken {
        DeviceToken::new(role, s(t))
    }

    const DEV_A: &str = "aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11aa11";
    const DEV_B: &str = "bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22bb22";

    fn private_dir() -> (tempfile::TempDir, Root) {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let root = Root::open(dir.path(), &Policy::new()).unwrap();
        (dir, root)
    }

    /// A store of format 1 (role tokens as `{role: token}`, no device
    /// identities) is read as it is; its first write makes it format 2 and
    /// keeps every entry; a hand-off then stores per device and role with
    /// the scopes, and only the bootstrap goes.
    #[test]
    fn cred_3_a_format_1_store_migrates_on_its_first_write_and_loses_nothing() {
        let (dir, root) = private_dir();
        let path = dir.path().join(STORE_FILE);
        std::fs::write(
            &path,
            r#"{"version":1,"gateways":{"ws://127.0.0.1:18789":{"generation":4,"device":{"operator":"old-op","node":"old-node"},"shared":"old-shared","bootstrap":"old-boot"},"ws://127.0.0.1:1":{"shared":"other"}}}"#,
        )
        .unwrap();
        std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let store = CredStore::new(Document::new(&root, STORE_FILE));
        let key = GatewayKey::parse("ws://localhost:18789").unwrap();
        // Read as it is.
        assert_eq!(store.resolve_for(&key, Some(DEV_A), "operator").unwrap().unwrap().secret.expose(), b"old-op");
        // The first write (a hand-off issued to device A) migrates it.
        let mut node = tok("node", "new-node");
        node.scopes = vec![];
        let mut op = tok("operator", "new-op");
        op.scopes = vec!["operator.read".into(), "operator.talk.secrets".into()];
        op.issued_at_ms = Some(1_765_000_000_000);
        let r = store.handoff_to(&key, Some(DEV_A), &[node, op]).unwrap();
        assert!(r.bootstrap_cleared);
        let v: Value = serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
        assert_eq!(v["version"], 2);
        let rec = &v["gateways"]["ws://127.0.0.1:18789"];
        assert_eq!(rec["generation"], 4);
        assert_eq!(rec["device"]["operator"], "old-op", "format-1 entries stay");
        assert_eq!(rec["device"]["node"], "old-node");
        assert_eq!(rec["shared"], "old-shared");
        assert!(rec.get("bootstrap").is_none());
        assert_eq!(v["gateways"]["ws://127.0.0.1:1"]["shared"], "other", "other gateways stay");
        let issued = &rec["devices"][DEV_A]["operator"];
        assert_eq!(issued["token"], "new-op");
        assert_eq!(issued["scopes"], serde_json::json!(["operator.read", "operator.talk.secrets"]));
        assert_eq!(issued["issuedAtMs"], 1_765_000_000_000_u64);
        // Per device: A gets its own token, B (another key) never gets A's.
        let a = store.resolve_for(&key, Some(DEV_A), "operator").unwrap().unwrap();
        assert_eq!(
            (a.slot, a.secret.expose()),
            (Slot::Issued { device: DEV_A.into(), role: "operator".into() }, &b"new-op"[..])
        );
        let b = store.resolve_for(&key, Some(DEV_B), "operator").unwrap().unwrap();
        assert_eq!((b.slot, b.secret.expose()), (Slot::Device("operator".into()), &b"old-op"[..]));
        let list = store.list().unwrap();
        let l = list.iter().find(|s| s.gateway == "ws://127.0.0.1:18789").unwrap();
        assert_eq!(l.roles, ["node", "operator"]);
        assert_eq!(l.issued.len(), 2);
        // Removing a role's device tokens removes both kinds; the password
        // then comes before the bootstrap token.
        assert!(store.remove(&key, Some(&Slot::Device("operator".into()))).unwrap());
        store.set(&key, &Slot::Password, &s("pw-1")).unwrap();
        store.set(&key, &Slot::Bootstrap, &s("boot-2")).unwrap();
        assert_eq!(store.resolve_for(&key, Some(DEV_A), "operator").unwrap().unwrap().slot, Slot::Shared);
        assert!(store.remove(&key, Some(&Slot::Shared)).unwrap());
        assert_eq!(store.resolve_for(&key, Some(DEV_A), "operator").unwrap().unwrap().slot, Slot::Password);
        // Replacing the shared token clears the device tokens of both kinds.
        let cleared = store.replace_shared(&key, &s("new-shared"), |_| Ok(())).unwrap();
        assert_eq!(cleared, ["node"]);
        assert!(store.list().unwrap().iter().all(|s| s.issued.is_empty()));
        // A bad device id or scope is refused before anything is written.
        let before = std::fs::read_to_string(&path).unwrap();
        assert!(store.handoff_to(&key, Some("a|b"), &[tok("node", "x")]).is_err());
        let mut bad = tok("node", "x");
        bad.scopes = vec!["no spaces allowed".into()];
        assert!(store.handoff_to(&key, Some(DEV_A), &[bad]).is_err());
        assert_eq!(std::fs::read_to_string(&path).unwrap(), before);
    }

    #[test]
    fn precedence_handoff_replace_and_generations() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let root = Root::open(dir.path(), &Policy::new()).unwrap();
        let store = CredStore::new(Document::new(&root, STORE_FILE));
        let key = GatewayKey::parse("ws://localhost:18789").unwrap();
        let same = GatewayKey::parse("ws://[::1]:18789").unwrap();
        assert!(store.resolve(&key, "operator").unwrap().is_none());
        store.set(&key, &Slot::Bootstrap, &s("boot")).unwrap();
        assert_eq!(store.resolve(&same, "operator").unwrap().unwrap().slot, Slot::Bootstrap);
        store.set(&key, &Slot::Shared, &s("shared")).unwrap();
        assert_eq!(store.resolve(&key, "operator").unwrap().unwrap().slot, Slot::Shared);
        let report = store.handoff(&key, &[tok("operator", "op-t"), tok("node", "node-t")]).unwrap();
        assert_eq!(report.roles, vec!["operator", "node"]);
        assert!(report.bootstrap_cleared);
        let r = store.resolve(&key, "node").unwrap().unwrap();
        assert_eq!((r.slot, r.secret.expose()), (Slot::Device("node".into()), &b"node-t"[..]));
        assert!(store.get(&key, &Slot::Bootstrap).unwrap().is_none());
        // A failed validation changes nothing.
        let before = std::fs::read(dir.path().join(STORE_FILE)).unwrap();
        let err = store.replace_shared(&key, &s("new"), |_| Err("refused by the gateway".into())).unwrap_err();
        assert_eq!(err.kind(), ErrorKind::ValidationFailed);
        assert_eq!(std::fs::read(dir.path().join(STORE_FILE)).unwrap(), before);
        let cleared = store.replace_shared(&key, &s("new"), |_| Ok(())).unwrap();
        assert_eq!(cleared, vec!["node", "operator"]);
        assert_eq!(store.resolve(&key, "operator").unwrap().unwrap().slot, Slot::Shared);
        // Generations: the older connection may not write once a newer began.
        let g1 = store.begin_connection(&key).unwrap();
        let g2 = store.begin_connection(&key).unwrap();
        let e = store.set_in_generation(&key, &g1, &Slot::Shared, &s("stale")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::StaleGeneration);
        store.set_in_generation(&key, &g2, &Slot::Shared, &s("fresh")).unwrap();
        assert_eq!(store.get(&key, &Slot::Shared).unwrap().unwrap().expose(), b"fresh");
        // Another store (another process's view) with an old generation is refused by the stored check.
        let other = CredStore::new(Document::new(&root, STORE_FILE));
        let g3 = other.begin_connection(&key).unwrap();
        assert_eq!(
            store.set_in_generation(&key, &g2, &Slot::Shared, &s("stale2")).unwrap_err().kind(),
            ErrorKind::StaleGeneration
        );
        other.set_in_generation(&key, &g3, &Slot::Shared, &s("x")).unwrap();
        assert_eq!(store.list().unwrap().len(), 1);
    }
}

/// The keyring backend and its policy over an in-memory keyring (the real
/// Secret Service and keyutils are exercised by tests/cred_keyring.rs).
#[cfg(all(test, not(loom)))]
mod keyring_tests {
    use std::sync::atomic::Ordering::SeqCst;

    use super::*;
    use crate::keyring::MemoryKeyring;
    use gw_anchor::{Policy, Root};

    fn s(x: &str) -> Secret {
        Secret::from(x.to_owned())
    }

    fn tok(role: &str, t: &str) -> DeviceToken {
        DeviceToken::new(role, s(t))
    }

    struct Fixture {
        dir: tempfile::TempDir,
        root: Root,
        mem: Arc<MemoryKeyring>,
        notices: Arc<Mutex<Vec<(Notice, bool)>>>,
    }

    impl Fixture {
        fn new() -> Self {
            let dir = tempfile::tempdir().unwrap();
            std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
            let root = Root::open(dir.path(), &Policy::new()).unwrap();
            Self { dir, root, mem: Arc::new(MemoryKeyring::default()), notices: Arc::default() }
        }
        fn path(&self) -> std::path::PathBuf {
            self.dir.path().join(STORE_FILE)
        }
        fn file(&self) -> Option<String> {
            std::fs::read_to_string(self.path()).ok()
        }
        fn store(&self, policy: StorePolicy) -> CredStore<Document<'_>> {
            let notices = Arc::clone(&self.notices);
            let path = self.path();
            let config = StoreConfig::new(policy).keyring(self.mem.clone()).namespace("t").on_notice(move |n| {
                // Whether anything was written when the notice came.
                notices.lock().unwrap().push((n.clone(), path.exists()));
            });
            CredStore::with_config(Document::new(&self.root, STORE_FILE), config)
        }
        fn assert_no_secret_in_file(&self, secrets: &[&str]) {
            let text = self.file().unwrap_or_default();
            for sec in secrets {
                assert!(!text.contains(sec), "the store file holds the secret {sec}: {text}");
            }
        }
    }

    #[test]
    fn cred_9_keyring_round_trips_keep_only_references_in_the_document() {
        let f = Fixture::new();
        let store = f.store(StorePolicy::Keyring);
        let key = GatewayKey::parse("ws://localhost:18789").unwrap();
        store.set(&key, &Slot::Bootstrap, &s("boot-SECRET-1")).unwrap();
        store.set(&key, &Slot::Shared, &s("shared-SECRET-2")).unwrap();
        assert_eq!(store.decide().unwrap(), Decision::Keyring { keyring: "memory".into() });
        assert_eq!(store.resolve(&key, "operator").unwrap().unwrap().slot, Slot::Shared);
        let r = store.handoff(&key, &[tok("operator", "op-SECRET-3"), tok("node", "node-SECRET-4")]).unwrap();
        assert!(r.bootstrap_cleared);
        let got = store.resolve(&key, "node").unwrap().unwrap();
        assert_eq!((got.slot, got.secret.expose()), (Slot::Device("node".into()), &b"node-SECRET-4"[..]));
        // The hand-off read the tokens back from the keyring.
        assert!(f.mem.calls.lock().unwrap().contains(&"read from keyring"));
        // Bootstrap's entry was deleted with the slot; shared + 2 device remain.
        assert_eq!(f.mem.len(), 3);
        let all = ["boot-SECRET-1", "shared-SECRET-2", "op-SECRET-3", "node-SECRET-4", "new-SECRET-5"];
        f.assert_no_secret_in_file(&all);
        let v: Value = serde_json::from_str(&f.file().unwrap()).unwrap();
        let shared = &v["gateways"]["ws://127.0.0.1:18789"]["shared"];
        assert_eq!(shared["keyring"], "memory");
        assert_eq!(shared["service"], KEYRING_SERVICE);
        assert!(shared["account"].as_str().unwrap().starts_with("t/ws://127.0.0.1:18789/shared/"));
        // Replace-shared: validated first; a refusal changes nothing, anywhere.
        let before = (f.file(), f.mem.values());
        let e = store.replace_shared(&key, &s("new-SECRET-5"), |_| Err("no".into())).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::ValidationFailed);
        assert_eq!((f.file(), f.mem.values()), before);
        let cleared = store.replace_shared(&key, &s("new-SECRET-5"), |_| Ok(())).unwrap();
        assert_eq!(cleared, vec!["node", "operator"]);
        // The old shared and both device entries are gone from the keyring.
        assert_eq!(f.mem.values(), vec![b"new-SECRET-5".to_vec()]);
        assert_eq!(store.get(&key, &Slot::Shared).unwrap().unwrap().expose(), b"new-SECRET-5");
        f.assert_no_secret_in_file(&all);
        // Generations: a stale writer does not reach the keyring.
        let g1 = store.begin_connection(&key).unwrap();
        let _g2 = store.begin_connection(&key).unwrap();
        let n = f.mem.calls.lock().unwrap().len();
        let e = store.set_in_generation(&key, &g1, &Slot::Shared, &s("stale-SECRET")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::StaleGeneration);
        assert_eq!(f.mem.calls.lock().unwrap().len(), n);
        let other = f.store(StorePolicy::Keyring);
        let g3 = other.begin_connection(&key).unwrap();
        let e = store.set_in_generation(&key, &_g2, &Slot::Shared, &s("stale-SECRET")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::StaleGeneration);
        other.set_in_generation(&key, &g3, &Slot::Shared, &s("fresh-SECRET")).unwrap();
        assert_eq!(f.mem.values(), vec![b"fresh-SECRET".to_vec()]);
        // Removing the record deletes its entries.
        assert!(store.remove(&key, None).unwrap());
        assert_eq!(f.mem.len(), 0);
        assert!(f.notices.lock().unwrap().is_empty());
    }

    #[test]
    fn cred_9_keyring_policy_fails_closed_and_writes_nothing() {
        let f = Fixture::new();
        f.mem.down.store(true, SeqCst);
        let store = f.store(StorePolicy::Keyring);
        let key = GatewayKey::parse("ws://127.0.0.1:1").unwrap();
        let e = store.set(&key, &Slot::Shared, &s("SECRET-x")).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FallbackRefused);
        assert!(e.kind().is_security_refusal());
        assert!(e.message().contains("nothing was written"), "{e}");
        assert_eq!(e.fix(), Some("bring it up"));
        assert_eq!(store.handoff(&key, &[tok("operator", "SECRET-y")]).unwrap_err().kind(), ErrorKind::FallbackRefused);
        let mut ran = false;
        let e = store
            .replace_shared(&key, &s("SECRET-z"), |_| {
                ran = true;
                Ok(())
            })
            .unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FallbackRefused);
        assert!(!ran, "the token went to the validator although it could not be stored");
        assert!(store.decide().is_err());
        assert_eq!(f.file(), None, "nothing may be written to the file");
        assert_eq!(f.mem.len(), 0);
        assert!(f.notices.lock().unwrap().is_empty());
        // Operations that write no secret still work (and read-only ones).
        assert!(store.list().unwrap().is_empty());
    }

    #[test]
    fn cred_9_keyring_or_file_tells_before_writing_the_file() {
        let f = Fixture::new();
        f.mem.down.store(true, SeqCst);
        let store = f.store(StorePolicy::KeyringOrFile);
        let key = GatewayKey::parse("ws://127.0.0.1:1").unwrap();
        store.set(&key, &Slot::Shared, &s("SECRET-f")).unwrap();
        store.set(&key, &Slot::Bootstrap, &s("SECRET-g")).unwrap();
        let notices = f.notices.lock().unwrap().clone();
        assert_eq!(notices.len(), 1, "one notice per store: {notices:?}");
        let (Notice::FallbackToFile { keyring, reason }, existed) = &notices[0] else { panic!("{notices:?}") };
        assert!(!existed, "the notice came after the file was written");
        assert_eq!(keyring, "memory");
        assert!(reason.contains("down"), "{reason}");
        assert!(matches!(store.decide().unwrap(), Decision::FileFallback { .. }));
        assert!(f.file().unwrap().contains("SECRET-f"));
        assert_eq!(store.get(&key, &Slot::Shared).unwrap().unwrap().expose(), b"SECRET-f");
        // With the keyring up, keyring-or-file uses it.
        f.mem.down.store(false, SeqCst);
        let up = f.store(StorePolicy::KeyringOrFile);
        up.set(&key, &Slot::Shared, &s("SECRET-h")).unwrap();
        assert_eq!(up.decide().unwrap(), Decision::Keyring { keyring: "memory".into() });
        f.assert_no_secret_in_file(&["SECRET-h", "SECRET-f"]);
        assert!(f.file().unwrap().contains("SECRET-g"), "the inline bootstrap stays as it was");
        assert_eq!(f.notices.lock().unwrap().len(), 1);
    }

    #[test]
    fn cred_9_inline_stores_still_load_and_mix_with_references() {
        let f = Fixture::new();
        let key = GatewayKey::parse("ws://127.0.0.1:18789").unwrap();
        // A store written before keyrings existed.
        std::fs::write(
            f.path(),
            r#"{"version":1,"gateways":{"ws://127.0.0.1:18789":{"generation":2,"device":{"node":"old-node"},"shared":"old-shared","bootstrap":"old-boot"}}}"#,
        )
        .unwrap();
        std::fs::set_permissions(f.path(), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let store = f.store(StorePolicy::Keyring);
        assert_eq!(store.get(&key, &Slot::Shared).unwrap().unwrap().expose(), b"old-shared");
        assert_eq!(store.resolve(&key, "node").unwrap().unwrap().secret.expose(), b"old-node");
        store.handoff(&key, &[tok("operator", "SECRET-op")]).unwrap();
        let text = f.file().unwrap();
        assert!(!text.contains("old-boot") && !text.contains("SECRET-op"), "{text}");
        assert!(text.contains("old-node") && text.contains("old-shared"), "inline secrets stay: {text}");
        let locs = store.locations(&key).unwrap();
        assert!(locs.contains(&(Slot::Device("operator".into()), "memory".into())), "{locs:?}");
        assert!(locs.contains(&(Slot::Shared, "file".into())), "{locs:?}");
        // Overwriting a referenced slot with the file policy deletes the entry.
        let file = f.store(StorePolicy::File);
        file.set(&key, &Slot::Device("operator".into()), &s("inline-op")).unwrap();
        assert_eq!(f.mem.len(), 0);
    }

    #[test]
    fn cred_9_keyring_failures_leave_no_entry_and_keep_the_bootstrap() {
        let f = Fixture::new();
        let store = f.store(StorePolicy::Keyring);
        let key = GatewayKey::parse("ws://127.0.0.1:18789").unwrap();
        store.set(&key, &Slot::Bootstrap, &s("boot")).unwrap();
        let before = (f.file(), f.mem.values());
        // The second entry of a hand-off cannot be written.
        f.mem.fail_set_at.store(2, SeqCst);
        let e = store.handoff(&key, &[tok("operator", "op"), tok("node", "node")]).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::KeyringUnavailable);
        assert!(e.message().contains("nothing was written"), "{e}");
        assert_eq!((f.file(), f.mem.values()), before, "the first entry was not deleted again");
        // An entry deleted behind gw's back: an error, never the next slot.
        store.set(&key, &Slot::Shared, &s("shared")).unwrap();
        let entries: Vec<(String, String)> = f.mem.entries.lock().unwrap().keys().cloned().collect();
        for (svc, acct) in &entries {
            if acct.contains("/shared/") {
                f.mem.delete(svc, acct).unwrap();
            }
        }
        let e = store.resolve(&key, "operator").unwrap_err();
        assert_eq!(e.kind(), ErrorKind::KeyringEntryMissing);
        assert!(e.fix().unwrap().contains("gw cred set"));
        // The keyring going away: reads fail, they do not fall back.
        f.mem.down.store(true, SeqCst);
        assert_eq!(store.get(&key, &Slot::Bootstrap).unwrap_err().kind(), ErrorKind::KeyringUnavailable);
        // Removing works; the entry left behind is reported.
        assert!(store.remove(&key, Some(&Slot::Bootstrap)).unwrap());
        let notices = f.notices.lock().unwrap().clone();
        assert!(matches!(&notices[..], [(Notice::EntryLeft { .. }, true)]), "{notices:?}");
    }

    #[test]
    fn cred_9_foreign_references_are_never_read_or_deleted() {
        let f = Fixture::new();
        let key = GatewayKey::parse("ws://127.0.0.1:18789").unwrap();
        f.mem.set("login", "alice", "", b"alice-password").unwrap();
        std::fs::write(
            f.path(),
            r#"{"version":1,"gateways":{"ws://127.0.0.1:18789":{"shared":{"keyring":"memory","service":"login","account":"alice"}}}}"#,
        )
        .unwrap();
        std::fs::set_permissions(f.path(), std::os::unix::fs::PermissionsExt::from_mode(0o600)).unwrap();
        let store = f.store(StorePolicy::Keyring);
        let e = store.get(&key, &Slot::Shared).unwrap_err();
        assert!(e.message().contains("only reads and deletes its own"), "{e}");
        store.set(&key, &Slot::Shared, &s("mine")).unwrap();
        assert_eq!(f.mem.get("login", "alice").unwrap().unwrap().as_slice(), b"alice-password");
        assert!(matches!(&f.notices.lock().unwrap()[..], [(Notice::EntryLeft { .. }, true)]));
        // A reference of the wrong shape is a format error that names no value.
        for bad in [
            r#"{"version":1,"gateways":{"ws://127.0.0.1:1":{"shared":{"keyring":"memory","service":"gw-cred"}}}}"#,
            r#"{"version":1,"gateways":{"ws://127.0.0.1:1":{"shared":{"keyring":"m","service":"s","account":"a","SECRETX":1}}}}"#,
            r#"{"version":1,"gateways":{"ws://127.0.0.1:1":{"shared":{"keyring":"","service":"s","account":"a"}}}}"#,
            r#"{"version":3,"gateways":{}}"#,
        ] {
            let e = CredStore::<Document<'_>>::decode(Some(serde_json::from_str(bad).unwrap())).unwrap_err();
            assert_eq!(e.kind(), ErrorKind::InvalidInput);
            assert!(!e.to_string().contains("SECRETX"), "{e}");
        }
    }
}
