//! The gw home, a profile's credential store configuration and its device
//! identity, as every command that uses them opens them (`gw cred`,
//! `gw profile`, `gw probe`, `gw watch health --hello`). Not a command:
//! commands import it, never each other.

use gw_anchor::Policy;
use gw_cred::{Home, KeyringKind, StoreConfig, StorePolicy, home_path};

use crate::cli::{KeyringArg, StoreArg};
use crate::output::CliError;

/// The store configuration of `--store` and `--keyring`. Notices (the
/// keyring-or-file fallback, delivered before anything is written; keyring
/// entries left behind) go to stderr as they happen (THREATS CRED-9).
pub(crate) fn store_config(store: StoreArg, keyring: KeyringArg) -> StoreConfig {
    let policy = match store {
        StoreArg::File => StorePolicy::File,
        StoreArg::Keyring => StorePolicy::Keyring,
        StoreArg::KeyringOrFile => StorePolicy::KeyringOrFile,
    };
    let kind = match keyring {
        KeyringArg::SecretService => KeyringKind::SecretService,
        KeyringArg::Keyutils => KeyringKind::Keyutils,
        KeyringArg::Keychain => KeyringKind::Keychain,
    };
    StoreConfig::new(policy).keyring_kind(kind).on_notice(|n| crate::output::eprint(&format!("gw: notice: {n}\n")))
}

/// The profile's device identity — its key in the file device.key, else in
/// the keyring device.keyring names — or `None` for a profile made before
/// device identities (no key). Only a missing key is "none": an exposed or
/// foreign key file is refused.
pub(crate) fn load_device(p: &gw_cred::Profile) -> Result<Option<gw_gateway::DeviceIdentity>, CliError> {
    match gw_gateway::DeviceIdentity::load(p.root(), gw_gateway::DEVICE_KEY_FILE) {
        Ok(d) => Ok(Some(d)),
        Err(e) if e.kind() == gw_gateway::ErrorKind::Key(gw_token::ErrorKind::Fs(gw_anchor::ErrorKind::NotFound)) => {
            // No file: the key may be in the keyring (`--store keyring`).
            match p.device_key_from_keyring()? {
                Some(seed) => Ok(Some(gw_gateway::DeviceIdentity::from_seed(&seed)?)),
                None => Ok(None),
            }
        }
        Err(e) => Err(e.into()),
    }
}

/// The device id of the profile's device key, if it has one.
pub(crate) fn device_id(p: &gw_cred::Profile) -> Result<Option<String>, CliError> {
    Ok(load_device(p)?.map(|d| d.id().to_owned()))
}

/// The gw home ($GW_HOME, else $XDG_CONFIG_HOME/gw, else ~/.config/gw),
/// opened and verified; not created.
pub(crate) fn home(policy: &Policy) -> Result<Home, CliError> {
    Ok(Home::open(&home_path()?, policy)?)
}
