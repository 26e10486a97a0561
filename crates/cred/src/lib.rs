//! # gw-cred: the credential store of a local gateway client
//!
//! gw-cred owns one problem: keeping a client's gateway credentials right —
//! which one is used, when a bootstrap token may be thrown away, when a
//! shared token may replace device tokens, and who may still write.
//!
//! ```
//! use gw_anchor::Policy;
//! use gw_cred::{DeviceToken, GatewayKey, Home, Slot};
//! use gw_token::Secret;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let home = Home::open_or_create(&dir.path().join("gw"), &Policy::new())?;
//! let profile = home.init_profile("default", 18789)?;
//! let store = profile.store(); // a 0600 file in the profile directory
//!
//! // Every loopback spelling of a gateway is one key (THREATS CRED-5).
//! let gateway = GatewayKey::parse("ws://localhost:18789")?;
//! assert_eq!(gateway, GatewayKey::parse("ws://[::1]:18789")?);
//!
//! // A bootstrap token, used once to obtain device tokens.
//! store.set(&gateway, &Slot::Bootstrap, &Secret::from("bootstrap-secret".to_owned()))?;
//! assert_eq!(store.resolve(&gateway, "operator")?.map(|r| r.slot), Some(Slot::Bootstrap));
//!
//! // The gateway's answer: its role tokens are stored and read back before
//! // the bootstrap token is cleared (CRED-2, CRED-3) ...
//! let report = store.handoff(&gateway, &[DeviceToken::new("operator", Secret::from("op-token".to_owned()))])?;
//! assert!(report.bootstrap_cleared);
//!
//! // ... and from now on the device token is the one used (CRED-1).
//! let used = store.resolve(&gateway, "operator")?.expect("a credential");
//! assert_eq!(used.slot, Slot::Device("operator".into()));
//! assert_eq!(used.secret.expose(), b"op-token");
//! # Ok(()) }
//! ```
//!
//! **Guarantees.** Gateways are keyed by a canonical URL where every
//! loopback-equivalent host is one key (THREATS CRED-5). [`CredStore::resolve`]
//! picks the device token for the role, else the shared token, else the
//! bootstrap token, and says which (CRED-1). [`CredStore::handoff`] persists
//! **all** role tokens of a hello-ok answer, reads them back from storage
//! and only then clears the bootstrap token (CRED-2, CRED-3).
//! [`CredStore::replace_shared`] validates before it clears anything (CRED-4).
//! Connection generations refuse writes from stale clients, in-process
//! (loom-checked) and across processes (stored compare-and-swap) (CRED-6).
//! Profiles are isolated directories; [`mirror`] keeps the target's own
//! entries (CRED-7, CRED-8). The store is a 0600 gw-persist document,
//! written atomically under a lock.
//!
//! **Backends** (CRED-9). By default secrets are inline in that document
//! ([`StorePolicy::File`]). The OS keyring is opt-in through a
//! [`StoreConfig`]: the Secret Service (D-Bus) or the
//! kernel's keyutils, via the keyring-rs stores. With a keyring, the
//! document holds only [`KeyringRef`]s (which keyring, service, account),
//! never a secret, and reading resolves them; stores of inline secrets keep
//! loading as they are. [`StorePolicy::Keyring`] fails closed: a keyring that
//! is unavailable is a refusal ([`ErrorKind::FallbackRefused`]) and nothing
//! is written anywhere. [`StorePolicy::KeyringOrFile`] falls back to the file
//! only after telling the caller — [`Notice::FallbackToFile`] through
//! [`StoreConfig::on_notice`], or [`CredStore::decide`] — before anything is
//! written. Precedence, hand-off (read back from the keyring), replace-shared
//! and generations work the same with both backends; [`mirror_with`] copies
//! keyring-held secrets as the target's policy says and refuses to copy
//! them into a file under the file policy.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod device_key;
mod error;
mod generation;
mod json_secret;
mod key;
mod keyring;
mod profile;
mod store;
mod sync;
mod target;

pub use device_key::DEVICE_KEYRING_FILE;
pub use error::{Error, ErrorKind, Result};
pub use generation::Generation;
/// The class every error answers (gw-error): not found, refused, invalid, failed.
pub use gw_error::Class;
pub use json_secret::read_json_secret;
pub use key::GatewayKey;
pub use keyring::{
    DEFAULT_KEYRING_TIMEOUT, Decision, KEYRING_SERVICE, Keyring, KeyringKind, KeyringRef, Notice, StoreConfig,
    StorePolicy, SystemKeyring,
};
pub use profile::{
    CONFIG_FILE, DEFAULT_PORT, DEFAULT_PROFILE, Home, MirrorReport, Profile, ProfileConfig, ROOT_KEY_FILE,
    check_profile_name, home_path, mirror, mirror_with,
};
pub use store::{
    CredStore, DeviceToken, HandoffReport, IssuedSummary, MAX_SECRET_LEN, Resolved, STORE_FILE, STORE_VERSION,
    STORE_VERSION_MIN, Slot, Storage, Summary, check_device_id, check_role, check_secret_text, is_scope,
};
// The stored schema (one gateway's record, an issued token, an inline secret
// or a keyring reference): public only for tests that decode a store file
// and check that its `Debug` shows no secret (tests/cred_threats.rs). Callers
// use `CredStore`'s operations and `Summary`. Hidden rather than behind a
// feature so those tests run against the same build the CLI uses.
#[doc(hidden)]
pub use store::{GatewayRecord, Issued, Stored};
pub use target::{Allowed, ChosenCredential, GATEWAY_CONNECT_SCOPE, Origin, RUNTIME_TOKEN_TTL, Target, credential_for};

// The README's example runs as a doc test too, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
