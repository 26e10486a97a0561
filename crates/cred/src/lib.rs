//! # gw-cred: the credential store of a local gateway client
//!
//! gw-cred owns one problem: keeping a client's gateway credentials right —
//! which one is used, when a bootstrap token may be thrown away, when a
//! shared token may replace device tokens, and who may still write.
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
//! **Not yet.** The OS keyring backend and its explicit fallback policy
//! (CRED-9) are not built: the file store is the only backend.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod error;
mod generation;
mod hello;
mod key;
mod profile;
mod store;
mod sync;

pub use error::{Error, ErrorKind, Result};
pub use generation::Generation;
pub use hello::{DeviceToken, MAX_HELLO_BYTES, parse_hello_ok};
pub use key::GatewayKey;
pub use profile::{
    CONFIG_FILE, DEFAULT_PORT, DEFAULT_PROFILE, Home, MirrorReport, Profile, ProfileConfig, ROOT_KEY_FILE,
    check_profile_name, home_path, mirror,
};
pub use store::{
    CredStore, HandoffReport, Record, Resolved, STORE_FILE, STORE_VERSION, Slot, Storage, Summary, check_role,
    check_secret_text,
};
