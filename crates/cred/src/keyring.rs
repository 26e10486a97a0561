//! The OS keyring backend and the storage policy (THREATS CRED-9).
//!
//! **Policy.** [`StorePolicy::File`] (the default) keeps secrets inline in
//! the profile's 0600 `credentials.json`. [`StorePolicy::Keyring`] writes
//! every new secret to the OS keyring and **fails closed**: when the keyring
//! is unavailable the write is refused ([`ErrorKind::FallbackRefused`]) and
//! nothing is written anywhere. [`StorePolicy::KeyringOrFile`] uses the
//! keyring when it is available and otherwise the file — but the caller is
//! told first: the decision is reported through [`StoreConfig::on_notice`]
//! (and returned by `CredStore::decide`) **before** anything is written.
//! There is no silent downgrade.
//!
//! **Availability** is decided by a round trip, not by a guess: a probe entry
//! is written, read back and deleted. A keyring that is absent, locked, or
//! refuses access is unavailable. The decision is made once per store,
//! before its first write; a keyring that fails after it was found available
//! is an error (the document is not changed), never a late fallback. Every
//! keyring call is bounded in time ([`DEFAULT_KEYRING_TIMEOUT`]).
//!
//! **Keyrings** (Linux): the Secret Service over D-Bus
//! ([`KeyringKind::SecretService`]; gnome-keyring, KeePassXC, KWallet's
//! bridge; durable, encrypted at rest) and the kernel's keyutils
//! ([`KeyringKind::Keyutils`]; the session keyring linked to the user's
//! persistent keyring: **kernel memory only**, gone at reboot and when the
//! persistent keyring expires, by default three days after its last use —
//! for ephemeral machines and sessions). Both come from the keyring-rs
//! project's stores (`keyring-core`), pure Rust.
//!
//! **References.** With a keyring, the document keeps a [`KeyringRef`] where
//! the secret would be: `{"keyring": "secret-service", "service": "gw-cred",
//! "account": "default/ws://127.0.0.1:18789/shared/<random>"}`. Every write
//! creates a new entry (a random suffix) and the document switches to it in
//! one atomic update, so the document never names a half-written entry;
//! entries the document no longer names are deleted afterwards. gw only reads
//! and deletes entries of its own service, [`KEYRING_SERVICE`].

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};

/// The keyring service name of every entry gw creates (the Secret Service
/// `service` attribute; part of the keyutils key description).
pub const KEYRING_SERVICE: &str = "gw-cred";

/// How long one keyring call may take before it is reported as unavailable
/// (a Secret Service waiting on an unlock prompt nobody answers would
/// otherwise block forever).
pub const DEFAULT_KEYRING_TIMEOUT: Duration = Duration::from_secs(30);

/// Where new secrets are written (THREATS CRED-9).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum StorePolicy {
    /// The profile's 0600 document (the default).
    #[default]
    File,
    /// The OS keyring; refused when it is unavailable (fail closed), and then
    /// nothing is written anywhere.
    Keyring,
    /// The OS keyring when it is available; otherwise the file, after the
    /// caller was told (before anything is written).
    KeyringOrFile,
}

impl StorePolicy {
    /// `file`, `keyring` or `keyring-or-file`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Keyring => "keyring",
            Self::KeyringOrFile => "keyring-or-file",
        }
    }

    /// Parses [`StorePolicy::as_str`]'s names.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`].
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "file" => Ok(Self::File),
            "keyring" => Ok(Self::Keyring),
            "keyring-or-file" => Ok(Self::KeyringOrFile),
            _ => Err(Error::new(
                ErrorKind::InvalidInput,
                "choose store",
                format!("`{}` is not a store policy (file, keyring, keyring-or-file)", s.escape_debug()),
            )),
        }
    }
}

/// The OS keyrings gw can use.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum KeyringKind {
    /// The freedesktop Secret Service on the D-Bus session bus (durable).
    #[default]
    SecretService,
    /// The kernel's keyutils: the session keyring, linked to the user's
    /// persistent keyring (kernel memory: lost at reboot or expiry).
    Keyutils,
    /// The macOS Keychain (the user's login keychain; durable), through
    /// keyring-rs's Apple store. macOS only.
    Keychain,
}

impl KeyringKind {
    /// `secret-service` or `keyutils`: the name stored in references.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::SecretService => "secret-service",
            Self::Keyutils => "keyutils",
            Self::Keychain => "keychain",
        }
    }

    /// Parses [`KeyringKind::as_str`]'s names.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`].
    pub fn parse(s: &str) -> Result<Self> {
        match s {
            "secret-service" => Ok(Self::SecretService),
            "keyutils" => Ok(Self::Keyutils),
            "keychain" => Ok(Self::Keychain),
            _ => Err(Error::new(
                ErrorKind::InvalidInput,
                "choose keyring",
                format!("`{}` is not a keyring gw knows (secret-service, keyutils, keychain)", s.escape_debug()),
            )),
        }
    }

    /// A human name: "the Secret Service (D-Bus)" or "the kernel keyutils keyring".
    pub fn describe(self) -> &'static str {
        match self {
            Self::SecretService => "the Secret Service (D-Bus)",
            Self::Keyutils => "the kernel keyutils keyring",
            Self::Keychain => "the macOS Keychain",
        }
    }

    /// How to make this keyring available.
    pub fn fix(self) -> &'static str {
        match self {
            Self::SecretService => {
                "start and unlock a Secret Service on your D-Bus session bus (a desktop login does this; \
                 headless: run gw inside `dbus-run-session` with `gnome-keyring-daemon --unlock \
                 --components=secrets` started, its password on stdin) and make sure \
                 DBUS_SESSION_BUS_ADDRESS names that bus; or choose the file with `--store file` \
                 (or `--store keyring-or-file` to accept it when the keyring is unavailable)"
            }
            Self::Keyutils => {
                "run gw in a session with its own kernel session keyring (a PAM login with pam_keyinit, \
                 or `keyctl session - gw ...`); or choose the file with `--store file` (or `--store \
                 keyring-or-file` to accept it when the keyring is unavailable)"
            }
            Self::Keychain => {
                "run gw on macOS in a session whose login keychain is unlocked (a GUI login does this; over \
                 SSH: `security unlock-keychain`); or choose the file with `--store file` (or `--store \
                 keyring-or-file` to accept it when the keyring is unavailable)"
            }
        }
    }

    /// The keyring `--keyring` defaults to here: the Keychain on macOS, the
    /// Secret Service elsewhere.
    pub const fn platform_default() -> Self {
        if cfg!(target_os = "macos") { Self::Keychain } else { Self::SecretService }
    }
}

/// What the document holds in place of a secret kept in a keyring: which
/// keyring, and the entry's service and account.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeyringRef {
    /// The keyring ([`Keyring::name`]): `secret-service` or `keyutils`.
    pub keyring: String,
    /// The entry's service ([`KEYRING_SERVICE`] for every entry gw writes).
    pub service: String,
    /// The entry's account.
    pub account: String,
}

impl KeyringRef {
    /// Checks the reference's shape (lengths and characters).
    pub(crate) fn check(&self) -> std::result::Result<(), String> {
        let ok = |s: &str, max: usize| !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_graphic());
        if !ok(&self.keyring, 64) || !ok(&self.service, 128) || !ok(&self.account, 1024) {
            return Err("a keyring reference needs a keyring, service and account of printable ASCII".into());
        }
        Ok(())
    }

    /// `keyring:service/account`, for messages.
    pub fn describe(&self) -> String {
        format!("{}:{}/{}", self.keyring, self.service, self.account)
    }
}

/// An OS keyring, as gw uses it: set, get and delete a secret by service
/// and account. Implementations must never put a secret in an error.
pub trait Keyring: Send + Sync + fmt::Debug {
    /// The name stored in references (`secret-service`, `keyutils`, ...).
    fn name(&self) -> &str;
    /// A human description, for messages.
    fn describe(&self) -> String;
    /// How to make the keyring available, for errors.
    fn fix(&self) -> String;
    /// Stores `secret` in the entry (creating or replacing it).
    ///
    /// # Errors
    /// [`ErrorKind::KeyringUnavailable`] and others; never the secret.
    fn set(&self, service: &str, account: &str, label: &str, secret: &[u8]) -> Result<()>;
    /// The entry's secret, `None` if there is no such entry.
    ///
    /// # Errors
    /// [`ErrorKind::KeyringUnavailable`] and others.
    fn get(&self, service: &str, account: &str) -> Result<Option<Zeroizing<Vec<u8>>>>;
    /// Deletes the entry; `false` if there was none.
    ///
    /// # Errors
    /// [`ErrorKind::KeyringUnavailable`] and others.
    fn delete(&self, service: &str, account: &str) -> Result<bool>;

    /// Whether the keyring is usable now: a probe entry (no secret) is
    /// written, read back and deleted.
    ///
    /// # Errors
    /// Why it is not.
    fn probe(&self) -> Result<()> {
        let nonce = random_hex()?;
        let account = format!("probe/{nonce}");
        let value = format!("gw-probe-{nonce}");
        self.set(KEYRING_SERVICE, &account, "gw keyring probe (no secret)", value.as_bytes())?;
        let got = self.get(KEYRING_SERVICE, &account);
        let deleted = self.delete(KEYRING_SERVICE, &account);
        match got? {
            Some(v) if v.as_slice() == value.as_bytes() => {}
            _ => {
                return Err(Error::new(
                    ErrorKind::KeyringUnavailable,
                    "probe keyring",
                    format!("{} did not return the probe entry it had just stored", self.describe()),
                )
                .about(self.name())
                .with_fix(self.fix()));
            }
        }
        deleted.map(drop)
    }
}

/// 128 random bits, hex.
pub(crate) fn random_hex() -> Result<String> {
    let mut b = [0u8; 16];
    getrandom::fill(&mut b).map_err(|e| {
        Error::new(ErrorKind::KeyringUnavailable, "name keyring entry", format!("no randomness for an entry name: {e}"))
    })?;
    Ok(b.iter().map(|x| format!("{x:02x}")).collect())
}

/// A notice for the user, delivered through [`StoreConfig::on_notice`].
#[non_exhaustive]
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notice {
    /// [`StorePolicy::KeyringOrFile`]: the keyring is unavailable, so secrets
    /// will go to the 0600 file. Delivered **before** anything is written.
    FallbackToFile {
        /// The keyring that was tried.
        keyring: String,
        /// Why it is unavailable.
        reason: String,
    },
    /// A keyring entry the document no longer names could not be deleted;
    /// the secret is still in the keyring.
    EntryLeft {
        /// The entry.
        entry: KeyringRef,
        /// Why it was not deleted.
        reason: String,
    },
}

impl fmt::Display for Notice {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::FallbackToFile { keyring, reason } => write!(
                f,
                "the {keyring} keyring is unavailable ({reason}); as --store keyring-or-file allows, \
                 the secret will be stored in the profile's 0600 credentials file instead (--store keyring \
                 would refuse, and say how to make the keyring available)"
            ),
            Self::EntryLeft { entry, reason } => write!(
                f,
                "the keyring entry {} is no longer used but could not be deleted ({reason}); delete it \
                 with your keyring's tools",
                entry.describe()
            ),
        }
    }
}

/// What a [`StorePolicy`] decided for the writes of a store.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Secrets go to the file, as the policy says (`file`).
    File,
    /// Secrets go to this keyring.
    Keyring {
        /// The keyring's name.
        keyring: String,
    },
    /// `keyring-or-file` with the keyring unavailable: secrets go to the
    /// file, and the caller was told through [`Notice::FallbackToFile`].
    FileFallback {
        /// The keyring that was tried.
        keyring: String,
        /// Why it is unavailable.
        reason: String,
    },
}

type NoticeFn = dyn Fn(&Notice) + Send + Sync;

/// How a credential store writes secrets: the policy, the keyring, the
/// namespace of its entries, and where notices go.
#[derive(Clone, Default)]
pub struct StoreConfig {
    pub(crate) policy: StorePolicy,
    pub(crate) kind: KeyringKind,
    pub(crate) keyring: Option<Arc<dyn Keyring>>,
    pub(crate) namespace: Option<String>,
    pub(crate) notify: Option<Arc<NoticeFn>>,
    pub(crate) timeout: Option<Duration>,
}

impl fmt::Debug for StoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoreConfig")
            .field("policy", &self.policy)
            .field("kind", &self.kind)
            .field("keyring", &self.keyring)
            .field("namespace", &self.namespace)
            .field("notify", &self.notify.is_some())
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl StoreConfig {
    /// A configuration with `policy`, the Secret Service as the keyring.
    pub fn new(policy: StorePolicy) -> Self {
        Self { policy, ..Self::default() }
    }
    /// The file policy (what `CredStore::new` uses).
    pub fn file() -> Self {
        Self::new(StorePolicy::File)
    }
    /// Use the system keyring of `kind` for writes.
    pub fn keyring_kind(mut self, kind: KeyringKind) -> Self {
        self.kind = kind;
        self
    }
    /// Use this keyring for writes (and for references naming it).
    pub fn keyring(mut self, keyring: Arc<dyn Keyring>) -> Self {
        self.keyring = Some(keyring);
        self
    }
    /// The first part of the account of every entry written (the profile
    /// name, so entries can be told apart in keyring tools).
    pub fn namespace(mut self, namespace: impl Into<String>) -> Self {
        self.namespace = Some(namespace.into());
        self
    }
    /// Where notices go: the fallback decision ([`Notice::FallbackToFile`],
    /// delivered before anything is written) and entries left behind.
    pub fn on_notice(mut self, f: impl Fn(&Notice) + Send + Sync + 'static) -> Self {
        self.notify = Some(Arc::new(f));
        self
    }
    /// How long one system keyring call may take (default
    /// [`DEFAULT_KEYRING_TIMEOUT`]).
    pub fn timeout(mut self, timeout: Duration) -> Self {
        self.timeout = Some(timeout);
        self
    }
    /// The policy.
    pub fn policy(&self) -> StorePolicy {
        self.policy
    }
    /// The keyring kind used for writes.
    pub fn kind(&self) -> KeyringKind {
        self.kind
    }
    pub(crate) fn notify(&self, n: &Notice) {
        if let Some(f) = &self.notify {
            f(n);
        }
    }
    pub(crate) fn call_timeout(&self) -> Duration {
        self.timeout.unwrap_or(DEFAULT_KEYRING_TIMEOUT)
    }
}

/// A system keyring through the keyring-rs stores: connected on first use,
/// every call bounded in time.
pub struct SystemKeyring {
    kind: KeyringKind,
    timeout: Duration,
    store: Mutex<Option<Arc<keyring_core::CredentialStore>>>,
}

impl fmt::Debug for SystemKeyring {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SystemKeyring").field("kind", &self.kind).field("timeout", &self.timeout).finish()
    }
}

impl SystemKeyring {
    /// The system keyring of `kind` (nothing is connected yet).
    pub fn new(kind: KeyringKind, timeout: Duration) -> Self {
        Self { kind, timeout, store: Mutex::new(None) }
    }

    /// Its kind.
    pub fn kind(&self) -> KeyringKind {
        self.kind
    }

    fn unavailable(&self, op: &'static str, message: String) -> Error {
        Error::new(ErrorKind::KeyringUnavailable, op, message).about(self.kind.as_str()).with_fix(self.kind.fix())
    }

    /// Runs `f` on a worker thread and waits at most the timeout.
    fn bounded<T: Send + 'static>(&self, op: &'static str, f: impl FnOnce() -> T + Send + 'static) -> Result<T> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        std::thread::Builder::new()
            .name("gw-keyring".into())
            .spawn(move || {
                let _ = tx.send(f());
            })
            .map_err(|e| self.unavailable(op, format!("cannot start a thread for the keyring call: {e}")))?;
        rx.recv_timeout(self.timeout).map_err(|e| match e {
            std::sync::mpsc::RecvTimeoutError::Timeout => self.unavailable(
                op,
                format!(
                    "{} did not answer within {}s (is it waiting for an unlock prompt?)",
                    self.kind.describe(),
                    self.timeout.as_secs()
                ),
            ),
            std::sync::mpsc::RecvTimeoutError::Disconnected => {
                self.unavailable(op, format!("the call to {} failed unexpectedly", self.kind.describe()))
            }
        })
    }

    fn store(&self, op: &'static str) -> Result<Arc<keyring_core::CredentialStore>> {
        let mut cur = self.store.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(s) = cur.as_ref() {
            return Ok(s.clone());
        }
        let kind = self.kind;
        let store = self.bounded(op, move || open_store(kind))?.map_err(|e| self.map_err(op, e))?;
        *cur = Some(store.clone());
        Ok(store)
    }

    /// A keyring-core error as a gw-cred error; never quotes data the
    /// keyring returned.
    fn map_err(&self, op: &'static str, e: keyring_core::Error) -> Error {
        use keyring_core::Error as E;
        let what = self.kind.describe();
        match e {
            E::NoStorageAccess(inner) => self.unavailable(
                op,
                match self.kind {
                    KeyringKind::SecretService => {
                        format!("{what} refused access ({inner}): it is locked, or access was denied")
                    }
                    KeyringKind::Keyutils => format!(
                        "{what} refused access ({inner}): this process has no session keyring of its own, or \
                         access was denied"
                    ),
                    KeyringKind::Keychain => {
                        format!("{what} refused access ({inner}): the login keychain is locked, or access was denied")
                    }
                },
            ),
            E::PlatformFailure(inner) => self.unavailable(op, format!("{what} is unavailable: {inner}")),
            E::NoDefaultStore | E::NotSupportedByStore(_) => {
                self.unavailable(op, format!("{what} is not supported here: {e}"))
            }
            E::Ambiguous(items) => self.unavailable(
                op,
                format!("{what} holds {} entries with this service and account; gw expects one", items.len()),
            ),
            E::BadEncoding(_) | E::BadDataFormat(..) | E::BadStoreFormat(_) => {
                self.unavailable(op, format!("{what} returned data in an unexpected format"))
            }
            E::TooLong(..) | E::Invalid(..) => Error::new(ErrorKind::InvalidInput, op, format!("{what}: {e}")),
            E::NoEntry => self.unavailable(op, format!("{what} has no such entry")),
            _ => self.unavailable(op, format!("{what} failed: {e}")),
        }
    }

    fn entry(
        store: &keyring_core::CredentialStore,
        kind: KeyringKind,
        service: &str,
        account: &str,
        label: Option<&str>,
    ) -> keyring_core::Result<keyring_core::Entry> {
        let mut mods = std::collections::HashMap::new();
        if let (KeyringKind::SecretService, Some(label)) = (kind, label) {
            mods.insert("label", label);
        }
        store.build(service, account, if mods.is_empty() { None } else { Some(&mods) })
    }
}

#[cfg(all(target_os = "linux", not(loom)))]
fn open_store(kind: KeyringKind) -> keyring_core::Result<Arc<keyring_core::CredentialStore>> {
    Ok(match kind {
        KeyringKind::SecretService => zbus_secret_service_keyring_store::Store::new()?,
        KeyringKind::Keyutils => linux_keyutils_keyring_store::Store::new()?,
        KeyringKind::Keychain => return Err(only_elsewhere(kind, "macOS")),
    })
}

#[cfg(all(target_os = "macos", not(loom)))]
fn open_store(kind: KeyringKind) -> keyring_core::Result<Arc<keyring_core::CredentialStore>> {
    Ok(match kind {
        KeyringKind::Keychain => apple_native_keyring_store::keychain::Store::new()?,
        KeyringKind::SecretService | KeyringKind::Keyutils => return Err(only_elsewhere(kind, "Linux")),
    })
}

/// A keyring of another platform: unavailable, saying where it exists.
#[cfg(all(any(target_os = "linux", target_os = "macos"), not(loom)))]
fn only_elsewhere(kind: KeyringKind, platform: &str) -> keyring_core::Error {
    keyring_core::Error::NotSupportedByStore(format!("{} exists only on {platform}", kind.describe()))
}

#[cfg(not(all(any(target_os = "linux", target_os = "macos"), not(loom))))]
fn open_store(kind: KeyringKind) -> keyring_core::Result<Arc<keyring_core::CredentialStore>> {
    Err(keyring_core::Error::NotSupportedByStore(format!(
        "gw uses {} on Linux and macOS only (and not in loom builds)",
        kind.describe()
    )))
}

impl Keyring for SystemKeyring {
    fn name(&self) -> &str {
        self.kind.as_str()
    }
    fn describe(&self) -> String {
        self.kind.describe().to_owned()
    }
    fn fix(&self) -> String {
        self.kind.fix().to_owned()
    }

    fn set(&self, service: &str, account: &str, label: &str, secret: &[u8]) -> Result<()> {
        const OP: &str = "store in keyring";
        let store = self.store(OP)?;
        let (kind, service, account, label) = (self.kind, service.to_owned(), account.to_owned(), label.to_owned());
        let secret = Zeroizing::new(secret.to_vec());
        self.bounded(OP, move || {
            Self::entry(store.as_ref(), kind, &service, &account, Some(&label))?.set_secret(&secret)
        })?
        .map_err(|e| self.map_err(OP, e))
    }

    fn get(&self, service: &str, account: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        const OP: &str = "read from keyring";
        let store = self.store(OP)?;
        let (kind, service, account) = (self.kind, service.to_owned(), account.to_owned());
        let got = self.bounded(OP, move || {
            Self::entry(store.as_ref(), kind, &service, &account, None)?.get_secret().map(Zeroizing::new)
        })?;
        match got {
            Ok(v) => Ok(Some(v)),
            Err(keyring_core::Error::NoEntry) => Ok(None),
            Err(e) => Err(self.map_err(OP, e)),
        }
    }

    fn delete(&self, service: &str, account: &str) -> Result<bool> {
        const OP: &str = "delete from keyring";
        let store = self.store(OP)?;
        let (kind, service, account) = (self.kind, service.to_owned(), account.to_owned());
        let done =
            self.bounded(OP, move || Self::entry(store.as_ref(), kind, &service, &account, None)?.delete_credential())?;
        match done {
            Ok(()) => Ok(true),
            Err(keyring_core::Error::NoEntry) => Ok(false),
            Err(e) => Err(self.map_err(OP, e)),
        }
    }
}

/// An in-memory keyring for unit tests, with an "unavailable" switch.
#[cfg(all(test, not(loom)))]
#[derive(Debug, Default)]
pub(crate) struct MemoryKeyring {
    /// Every call, by operation.
    pub(crate) calls: Mutex<Vec<&'static str>>,
    pub(crate) entries: Mutex<std::collections::BTreeMap<(String, String), Vec<u8>>>,
    pub(crate) down: std::sync::atomic::AtomicBool,
    /// Fail the n-th `set` from now (1 = the next one); 0 = never.
    pub(crate) fail_set_at: std::sync::atomic::AtomicUsize,
}

#[cfg(all(test, not(loom)))]
impl MemoryKeyring {
    fn check(&self, op: &'static str) -> Result<()> {
        self.calls.lock().unwrap().push(op);
        if self.down.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(Error::new(ErrorKind::KeyringUnavailable, op, "the memory keyring is down").about("memory"));
        }
        Ok(())
    }
    pub(crate) fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
    pub(crate) fn values(&self) -> Vec<Vec<u8>> {
        self.entries.lock().unwrap().values().cloned().collect()
    }
}

#[cfg(all(test, not(loom)))]
impl Keyring for MemoryKeyring {
    fn name(&self) -> &str {
        "memory"
    }
    fn describe(&self) -> String {
        "the memory keyring".into()
    }
    fn fix(&self) -> String {
        "bring it up".into()
    }
    fn set(&self, service: &str, account: &str, _label: &str, secret: &[u8]) -> Result<()> {
        use std::sync::atomic::Ordering::SeqCst;
        self.check("store in keyring")?;
        let n = self.fail_set_at.load(SeqCst);
        if n > 0 {
            self.fail_set_at.store(n - 1, SeqCst);
            if n == 1 {
                return Err(Error::new(ErrorKind::KeyringUnavailable, "store in keyring", "injected failure"));
            }
        }
        self.entries.lock().unwrap().insert((service.into(), account.into()), secret.to_vec());
        Ok(())
    }
    fn get(&self, service: &str, account: &str) -> Result<Option<Zeroizing<Vec<u8>>>> {
        self.check("read from keyring")?;
        Ok(self.entries.lock().unwrap().get(&(service.into(), account.into())).cloned().map(Zeroizing::new))
    }
    fn delete(&self, service: &str, account: &str) -> Result<bool> {
        self.check("delete from keyring")?;
        Ok(self.entries.lock().unwrap().remove(&(service.into(), account.into())).is_some())
    }
}

#[cfg(all(test, not(loom), target_os = "linux"))]
mod platform_tests {
    use super::*;

    /// The Keychain is a known keyring everywhere (references naming it
    /// parse), and on Linux it is unavailable with a reason that names where
    /// it exists: never another store in its place.
    #[test]
    fn keychain_is_known_and_refused_off_macos() {
        assert_eq!(KeyringKind::parse("keychain").unwrap(), KeyringKind::Keychain);
        assert_eq!(KeyringKind::Keychain.as_str(), "keychain");
        assert_eq!(KeyringKind::platform_default(), KeyringKind::SecretService);
        let e = SystemKeyring::new(KeyringKind::Keychain, Duration::from_secs(3)).probe().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::KeyringUnavailable, "{e}");
        assert!(e.message().contains("exists only on macOS"), "{e}");
    }
}
