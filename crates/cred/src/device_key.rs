//! A profile's device key kept in the OS keyring (`--store keyring`).
//!
//! The key is the 32-byte Ed25519 seed of the profile's device identity
//! (gw-gateway's `DeviceIdentity::from_seed` makes the identity from it). In
//! the keyring it is one entry of gw's service ([`KEYRING_SERVICE`]), account
//! `PROFILE/device-key/RANDOM`; the profile directory keeps only a reference
//! to it, [`DEVICE_KEYRING_FILE`]: one line of JSON (`{"keyring", "service",
//! "account"}`), created exclusively with mode 0600 and read only when it is
//! the caller's and not writable by group or others (whoever could rewrite it
//! would choose which of the caller's keyring entries becomes the device key).
//! The seed is wiped from memory when dropped and never printed.

use gw_anchor::WriteOptions;
use gw_token::Secret;

use crate::error::{Error, ErrorKind, Result};
use crate::keyring::{KEYRING_SERVICE, Keyring, KeyringRef, random_hex};
use crate::profile::Profile;
use crate::store::Stored;

/// The file, in the profile directory, naming the keyring entry that holds
/// the profile's device key.
pub const DEVICE_KEYRING_FILE: &str = "device.keyring";

/// The length of an Ed25519 seed.
const SEED_BYTES: usize = 32;

impl Profile {
    /// Creates a new device key (a random 32-byte seed) in `keyring` and the
    /// reference [`DEVICE_KEYRING_FILE`] naming it. Nothing is replaced: an
    /// existing reference is an error, and the entry is deleted again if the
    /// reference cannot be written.
    ///
    /// # Errors
    /// The keyring's errors ([`ErrorKind::KeyringUnavailable`], ...), the
    /// reference file's (already exists, insecure directory, I/O), the
    /// random source.
    pub fn create_device_key_in(&self, keyring: &dyn Keyring) -> Result<Secret> {
        const OP: &str = "create device key in keyring";
        let seed = Secret::generate()?;
        let account = format!("{}/device-key/{}", self.name(), random_hex()?);
        let label = format!("gw device key of profile {}", self.name());
        keyring.set(KEYRING_SERVICE, &account, &label, seed.expose())?;
        let r = KeyringRef { keyring: keyring.name().to_owned(), service: KEYRING_SERVICE.to_owned(), account };
        let mut line = serde_json::to_string(&r)
            .map_err(|e| Error::new(ErrorKind::InvalidInput, OP, format!("encoding the reference: {e}")))?;
        line.push('\n');
        if let Err(e) = self.root().create_new(DEVICE_KEYRING_FILE, line.as_bytes(), &WriteOptions::new().mode(0o600)) {
            // Best effort: the entry is named nowhere, so it must not stay.
            let _ = keyring.delete(&r.service, &r.account);
            return Err(e.into());
        }
        Ok(seed)
    }

    /// The device key named by [`DEVICE_KEYRING_FILE`], read from its
    /// keyring; `None` if the profile has no such file.
    ///
    /// # Errors
    /// A reference file owned by someone else or writable by group/others
    /// (a security refusal), malformed, or naming an entry outside gw's
    /// service; the keyring unavailable; the entry missing or not 32 bytes.
    pub fn device_key_from_keyring(&self) -> Result<Option<Secret>> {
        const OP: &str = "load device key from keyring";
        let Some(r) = self.device_key_ref(OP)? else { return Ok(None) };
        let path = self.root().path().join(DEVICE_KEYRING_FILE);
        let seed = self.store().reveal(&Stored::Keyring(r))?;
        if seed.expose().len() != SEED_BYTES {
            return Err(Error::new(
                ErrorKind::InvalidInput,
                OP,
                format!("the keyring entry does not hold a device key ({SEED_BYTES} bytes)"),
            )
            .about(path.display()));
        }
        Ok(Some(seed))
    }

    /// The keyring entry [`DEVICE_KEYRING_FILE`] names, checked (owner,
    /// mode, gw's service); `None` if the profile has no such file.
    fn device_key_ref(&self, op: &'static str) -> Result<Option<KeyringRef>> {
        let path = self.root().path().join(DEVICE_KEYRING_FILE);
        let (bytes, meta) = match self.root().read_with_metadata(DEVICE_KEYRING_FILE, 4096) {
            Ok(x) => x,
            Err(e) if e.kind() == gw_anchor::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(e.into()),
        };
        let me = self.root().policy().uid();
        if meta.uid != me || meta.mode & 0o022 != 0 {
            return Err(Error::new(
                ErrorKind::Fs(gw_anchor::ErrorKind::InsecureFile),
                op,
                format!(
                    "refused: the device key reference is owned by uid {} (you are {me}) with mode {:04o}: whoever \
                     can rewrite it chooses which keyring entry is your device key",
                    meta.uid, meta.mode
                ),
            )
            .about(path.display())
            .with_fix(format!(
                "`chown {me} {p} && chmod 600 {p}` if it is yours, else remove it",
                p = path.display()
            )));
        }
        let r: KeyringRef = serde_json::from_slice(&bytes).map_err(|e| {
            Error::new(ErrorKind::InvalidInput, op, format!("the device key reference is not a keyring reference: {e}"))
                .about(path.display())
        })?;
        r.check().map_err(|m| Error::new(ErrorKind::InvalidInput, op, m).about(path.display()))?;
        Ok(Some(r))
    }

    /// Deletes the keyring entry holding the device key (the reference file
    /// [`DEVICE_KEYRING_FILE`] is left for the caller, e.g. `gw profile rm`,
    /// to remove). Returns `false` if the profile has no reference file, or
    /// the entry was already gone.
    ///
    /// # Errors
    /// As [`Profile::device_key_from_keyring`] for the reference; the
    /// keyring's errors.
    pub fn delete_device_key_from_keyring(&self) -> Result<bool> {
        let Some(r) = self.device_key_ref("delete device key from keyring")? else { return Ok(false) };
        self.store().keyring_named(&r.keyring)?.delete(&r.service, &r.account)
    }
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::os::unix::fs::PermissionsExt as _;
    use std::sync::Arc;

    use gw_anchor::Policy;

    use super::*;
    use crate::keyring::MemoryKeyring;
    use crate::keyring::StoreConfig;
    use crate::profile::Home;

    #[test]
    fn cred_10_device_key_in_the_keyring_behind_a_reference_only_its_owner_can_write() {
        let d = tempfile::tempdir().unwrap();
        std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let home = Home::open_or_create(&d.path().join("gw"), &Policy::default()).unwrap();
        let p = home.init_profile("default", 18789).unwrap();
        assert!(p.device_key_from_keyring().unwrap().is_none());
        let k = Arc::new(MemoryKeyring::default());
        let seed = p.create_device_key_in(k.as_ref()).unwrap();
        let on_disk = std::fs::read_to_string(p.root().path().join(DEVICE_KEYRING_FILE)).unwrap();
        assert!(on_disk.contains("device-key"), "{on_disk}");
        let mode = std::fs::metadata(p.root().path().join(DEVICE_KEYRING_FILE)).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        // Read back through a store that knows the memory keyring.
        let store = p.store_with(StoreConfig::file().keyring(k.clone()));
        let r: KeyringRef = serde_json::from_str(&on_disk).unwrap();
        assert_eq!(store.reveal(&Stored::Keyring(r)).unwrap().expose(), seed.expose());
        // Nothing is replaced.
        assert!(p.create_device_key_in(k.as_ref()).is_err());
        // A reference open to others is refused.
        std::fs::set_permissions(p.root().path().join(DEVICE_KEYRING_FILE), std::fs::Permissions::from_mode(0o622))
            .unwrap();
        let e = p.device_key_from_keyring().unwrap_err();
        assert!(e.kind().is_security_refusal(), "{e:?}");
    }
}
