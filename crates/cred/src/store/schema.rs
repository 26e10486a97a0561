//! The document's schema: format versions, the slots a record holds, a
//! stored value (inline secret or keyring reference), per-gateway records
//! and their decoding.

use super::*;

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
pub struct GatewayRecord {
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

impl std::fmt::Debug for GatewayRecord {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayRecord")
            .field("generation", &self.generation)
            .field("devices", &self.devices)
            .field("device", &self.device.iter().map(|(k, v)| (k, v.location())).collect::<Vec<_>>())
            .field("shared", &self.shared.as_ref().map(Stored::location))
            .field("password", &self.password.as_ref().map(Stored::location))
            .field("bootstrap", &self.bootstrap.as_ref().map(Stored::location))
            .finish()
    }
}

impl GatewayRecord {
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
    pub(super) fn roles(&self) -> Vec<String> {
        let all: std::collections::BTreeSet<&String> =
            self.device.keys().chain(self.devices.values().flat_map(BTreeMap::keys)).collect();
        all.into_iter().cloned().collect()
    }
    pub(super) fn is_empty(&self) -> bool {
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
    pub(super) fn refs(&self) -> impl Iterator<Item = &KeyringRef> {
        self.slots().filter_map(|(_, v)| v.keyring_ref())
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct StoreDoc {
    pub(crate) version: u32,
    #[serde(default)]
    pub(crate) gateways: BTreeMap<String, GatewayRecord>,
}

impl StoreDoc {
    pub(super) fn refs(&self) -> impl Iterator<Item = &KeyringRef> {
        self.gateways.values().flat_map(GatewayRecord::refs)
    }
    pub(crate) fn has_refs(&self) -> bool {
        self.refs().next().is_some()
    }
}

impl<S: Storage> CredStore<S> {
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
}
