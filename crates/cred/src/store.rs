//! The credential store: per-gateway records in one 0600 document, with
//! precedence, durable hand-off, validate-before-replace and generation
//! guards.
//!
//! Document (`credentials.json` in a profile directory, mode 0600):
//! ```json
//! { "version": 1,
//!   "gateways": { "ws://127.0.0.1:18789": {
//!       "generation": 3,
//!       "device": { "operator": "…", "node": "…" },
//!       "shared": "…",
//!       "bootstrap": "…" } } }
//! ```
//! Every change is one locked, atomic gw-persist update.

use std::collections::BTreeMap;

use gw_persist::Document;
use gw_token::Secret;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::generation::{Generation, Generations};
use crate::hello::DeviceToken;
use crate::key::GatewayKey;

/// The document format version.
pub const STORE_VERSION: u32 = 1;
/// The file name of the store in a profile directory.
pub const STORE_FILE: &str = "credentials.json";

/// Where a credential sits in a gateway's record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Slot {
    /// A device (role) token for this role.
    Device(String),
    /// The gateway's shared token.
    Shared,
    /// The bootstrap token (used once, to obtain device tokens).
    Bootstrap,
}

impl Slot {
    /// `device:ROLE`, `shared` or `bootstrap`.
    pub fn describe(&self) -> String {
        match self {
            Slot::Device(r) => format!("device:{r}"),
            Slot::Shared => "shared".into(),
            Slot::Bootstrap => "bootstrap".into(),
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
    /// Role → device token.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub device: BTreeMap<String, String>,
    /// The shared gateway token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shared: Option<String>,
    /// The bootstrap token.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bootstrap: Option<String>,
}

impl std::fmt::Debug for Record {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Record")
            .field("generation", &self.generation)
            .field("device", &self.device.keys().collect::<Vec<_>>())
            .field("shared", &self.shared.as_ref().map(|_| "[REDACTED]"))
            .field("bootstrap", &self.bootstrap.as_ref().map(|_| "[REDACTED]"))
            .finish()
    }
}

impl Record {
    fn get(&self, slot: &Slot) -> Option<&String> {
        match slot {
            Slot::Device(r) => self.device.get(r),
            Slot::Shared => self.shared.as_ref(),
            Slot::Bootstrap => self.bootstrap.as_ref(),
        }
    }
    fn is_empty(&self) -> bool {
        self.device.is_empty() && self.shared.is_none() && self.bootstrap.is_none()
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct StoreDoc {
    version: u32,
    #[serde(default)]
    gateways: BTreeMap<String, Record>,
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
    /// Roles with a device token.
    pub roles: Vec<String>,
    /// Whether a shared token is stored.
    pub shared: bool,
    /// Whether a bootstrap token is stored.
    pub bootstrap: bool,
    /// The record's generation.
    pub generation: u64,
}

/// What a hand-off did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HandoffReport {
    /// The roles persisted and read back.
    pub roles: Vec<String>,
    /// Whether a bootstrap token was cleared.
    pub bootstrap_cleared: bool,
}

/// The credential store over a [`Storage`].
#[derive(Debug)]
pub struct CredStore<S: Storage> {
    storage: S,
    generations: Generations,
}

/// A failure inside an update closure: a gw-cred error carried through
/// gw-persist's error type and recovered afterwards.
struct Carried(std::cell::RefCell<Option<Error>>);

impl Carried {
    fn new() -> Self {
        Self(std::cell::RefCell::new(None))
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
    /// A store over `storage`.
    pub fn new(storage: S) -> Self {
        Self { storage, generations: Generations::new() }
    }

    fn decode(v: Option<Value>) -> Result<StoreDoc> {
        match v {
            None => Ok(StoreDoc { version: STORE_VERSION, gateways: BTreeMap::new() }),
            Some(v) => {
                let doc = decode_value::<StoreDoc>(v)?;
                if doc.version != STORE_VERSION {
                    return Err(Error::new(
                        ErrorKind::InvalidInput,
                        "load credentials",
                        format!("credential store version {} is not supported", doc.version),
                    ));
                }
                Ok(doc)
            }
        }
    }

    fn load_doc(&self) -> Result<StoreDoc> {
        Self::decode(self.storage.load()?)
    }

    /// One locked update of the record of `key`; `f` may refuse with an error,
    /// and then nothing is written.
    fn update_record<T>(&self, key: &GatewayKey, mut f: impl FnMut(&mut Record) -> Result<T>) -> Result<T> {
        let carried = Carried::new();
        let mut out = None;
        let res = self.storage.update(&mut |cur| {
            let mut doc = Self::decode(cur).map_err(|e| carried.fail(e))?;
            let rec = doc.gateways.entry(key.as_str().to_owned()).or_default();
            let r = f(rec).map_err(|e| carried.fail(e))?;
            if rec.is_empty() && rec.generation == 0 {
                doc.gateways.remove(key.as_str());
            }
            out = Some(r);
            serde_json::to_value(&doc)
                .map_err(|e| carried.fail(Error::new(ErrorKind::InvalidInput, "save credentials", e.to_string())))
        });
        res.map_err(|e| carried.resolve(e))?;
        Ok(out.expect("the closure ran when the update succeeded"))
    }

    /// Stores `secret` in `slot` of the gateway `key`.
    ///
    /// # Errors
    /// Invalid role or secret text; storage errors.
    pub fn set(&self, key: &GatewayKey, slot: &Slot, secret: &Secret) -> Result<()> {
        if let Slot::Device(role) = slot {
            check_role(role)?;
        }
        let text = secret_text(secret)?;
        self.update_record(key, |rec| {
            put(rec, slot, text.clone());
            Ok(())
        })
    }

    /// The credential in `slot` of `key`, if any.
    ///
    /// # Errors
    /// Storage errors (a missing store is "nothing stored", not an error).
    pub fn get(&self, key: &GatewayKey, slot: &Slot) -> Result<Option<Secret>> {
        let doc = self.load_doc()?;
        Ok(doc.gateways.get(key.as_str()).and_then(|r| r.get(slot)).map(|s| Secret::from(s.clone())))
    }

    /// The credential to use for `key` and `role`: the device token for the
    /// role, else the shared token, else the bootstrap token — with the slot
    /// it came from.
    ///
    /// # Errors
    /// Storage errors.
    ///
    /// # Security
    /// THREATS CRED-1 (precedence).
    pub fn resolve(&self, key: &GatewayKey, role: &str) -> Result<Option<Resolved>> {
        let doc = self.load_doc()?;
        let Some(rec) = doc.gateways.get(key.as_str()) else { return Ok(None) };
        let order = [Slot::Device(role.to_owned()), Slot::Shared, Slot::Bootstrap];
        Ok(order
            .into_iter()
            .find_map(|slot| rec.get(&slot).map(|s| Resolved { secret: Secret::from(s.clone()), slot })))
    }

    /// Removes `slot` of `key`, or the whole record with `None`. Returns
    /// whether anything was removed.
    ///
    /// # Errors
    /// Storage errors.
    pub fn remove(&self, key: &GatewayKey, slot: Option<&Slot>) -> Result<bool> {
        if !self.load_doc()?.gateways.contains_key(key.as_str()) {
            return Ok(false);
        }
        self.update_record(key, |rec| {
            let removed = match slot {
                None => {
                    let had = !rec.is_empty();
                    // The generation stays: restarting the count would hand
                    // out numbers an old, stale connection still holds
                    // (THREATS CRED-6).
                    *rec = Record { generation: rec.generation, ..Record::default() };
                    had
                }
                Some(Slot::Device(r)) => rec.device.remove(r).is_some(),
                Some(Slot::Shared) => rec.shared.take().is_some(),
                Some(Slot::Bootstrap) => rec.bootstrap.take().is_some(),
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
                roles: r.device.keys().cloned().collect(),
                shared: r.shared.is_some(),
                bootstrap: r.bootstrap.is_some(),
                generation: r.generation,
            })
            .collect())
    }

    /// Hands off from the bootstrap token to the role tokens of a hello-ok
    /// answer: persists **all** of them in one atomic update, reads them back
    /// from storage and compares, and only then clears the bootstrap token.
    /// A failure at any step leaves the bootstrap token in place.
    ///
    /// # Errors
    /// [`ErrorKind::ReadBackMismatch`] when storage does not return what was
    /// written; storage errors.
    ///
    /// # Security
    /// THREATS CRED-2 (all role tokens), CRED-3 (durable before destructive).
    pub fn handoff(&self, key: &GatewayKey, tokens: &[DeviceToken]) -> Result<HandoffReport> {
        const OP: &str = "handoff";
        if tokens.is_empty() {
            return Err(Error::new(ErrorKind::InvalidInput, OP, "no role tokens to hand off").about(key));
        }
        let mut pairs = Vec::with_capacity(tokens.len());
        for t in tokens {
            check_role(&t.role)?;
            pairs.push((t.role.clone(), secret_text(&t.token)?));
        }
        // 1. Durable: every role token in one atomic, fsynced update.
        self.update_record(key, |rec| {
            for (role, tok) in &pairs {
                rec.device.insert(role.clone(), tok.clone());
            }
            Ok(())
        })?;
        // 2. Read back from storage, not from memory, and compare.
        let doc = self.load_doc()?;
        let rec = doc.gateways.get(key.as_str());
        for (role, tok) in &pairs {
            if rec.and_then(|r| r.device.get(role)) != Some(tok) {
                return Err(Error::new(
                    ErrorKind::ReadBackMismatch,
                    OP,
                    format!("the `{role}` token did not read back as written; the bootstrap token was kept"),
                )
                .about(key));
            }
        }
        // 3. Only now the destructive step, and only if the tokens are still
        // stored as written when the lock is held (another writer may have
        // removed them since the read-back).
        let cleared = self.update_record(key, |rec| {
            if let Some((role, _)) = pairs.iter().find(|(role, tok)| rec.device.get(role) != Some(tok)) {
                return Err(Error::new(
                    ErrorKind::ReadBackMismatch,
                    OP,
                    format!("the `{role}` token changed before the bootstrap token was cleared; it was kept"),
                )
                .about(key));
            }
            Ok(rec.bootstrap.take().is_some())
        })?;
        Ok(HandoffReport { roles: pairs.into_iter().map(|(r, _)| r).collect(), bootstrap_cleared: cleared })
    }

    /// Replaces the shared token of `key` with `new` after `validate` accepts
    /// it; device tokens are cleared in the same atomic update (they belonged
    /// to the old shared identity). A failed validation changes nothing.
    ///
    /// # Errors
    /// [`ErrorKind::ValidationFailed`] (nothing changed); storage errors.
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
        validate(new).map_err(|why| {
            Error::new(
                ErrorKind::ValidationFailed,
                "replace shared",
                format!("the new shared token was not accepted: {why}; nothing was changed"),
            )
            .about(key)
        })?;
        self.update_record(key, |rec| {
            rec.shared = Some(text.clone());
            let cleared: Vec<String> = rec.device.keys().cloned().collect();
            rec.device.clear();
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
            self.update_record(key, |rec| {
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
        if let Slot::Device(role) = slot {
            check_role(role)?;
        }
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
        self.generations.guard(generation, |current| {
            if current != generation.value() {
                return Err(stale(current));
            }
            self.update_record(key, |rec| {
                if rec.generation != generation.value() {
                    return Err(stale(rec.generation));
                }
                put(rec, slot, text.clone());
                Ok(())
            })
        })
    }
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
    const FIELDS: [&str; 6] = ["version", "gateways", "generation", "device", "shared", "bootstrap"];
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

fn put(rec: &mut Record, slot: &Slot, text: String) {
    match slot {
        Slot::Device(r) => {
            rec.device.insert(r.clone(), text);
        }
        Slot::Shared => rec.shared = Some(text),
        Slot::Bootstrap => rec.bootstrap = Some(text),
    }
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

fn secret_text(s: &Secret) -> Result<String> {
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
        DeviceToken { role: role.into(), token: s(t) }
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
