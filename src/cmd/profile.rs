//! `gw profile`: create, list, show and remove profiles (gw-cred's `Home`),
//! each with its device identity (gw-gateway).

use std::path::{Path, PathBuf};

use gw_anchor::{FileKind, Policy, Root};
use gw_cred::{GatewayKey, Home, Keyring as _, StoreConfig, StorePolicy, home_path};
use serde_json::json;

use crate::cli::cred::{ProfileCommand, ProfileRmArgs};
use crate::cli::{KeyringArg, StoreArg};
use crate::home::{device_id, home, store_config};
use crate::output::{CliError, EXIT_OK, EXIT_REFUSED, Output};

pub(crate) fn run(cmd: ProfileCommand, store: StoreConfig, policy: &Policy, out: Output) -> Result<u8, CliError> {
    if let ProfileCommand::Init(a) = &cmd {
        // Every check on the arguments before the home is created: bad input
        // changes nothing (THREATS CLI-2).
        gw_cred::check_profile_name(&a.name)?;
        if a.port == 0 {
            return Err(CliError::usage("init profile", "the port must be 1-65535"));
        }
    }
    // Under a keyring policy the keyring is tried before anything is
    // created: `keyring` refuses when it is unavailable, `keyring-or-file`
    // says so before it falls back to the file (THREATS CRED-9).
    let keyring = match (&cmd, store.policy()) {
        (ProfileCommand::Init(_), StorePolicy::Keyring | StorePolicy::KeyringOrFile) => {
            let k = gw_cred::SystemKeyring::new(store.kind(), gw_cred::DEFAULT_KEYRING_TIMEOUT);
            match (k.probe(), store.policy()) {
                (Ok(()), _) => Some(k),
                (Err(e), StorePolicy::KeyringOrFile) => {
                    crate::output::eprint(&format!(
                        "gw: notice: {} is unavailable ({}): the device key goes to the file {} (mode 0600)\n",
                        store.kind().describe(),
                        e.message(),
                        gw_gateway::DEVICE_KEY_FILE
                    ));
                    None
                }
                (Err(e), _) => {
                    return Err(CliError {
                        code: EXIT_REFUSED,
                        kind: "fallback_refused",
                        op: "init profile",
                        path: Some(store.kind().as_str().to_owned()),
                        message: format!(
                            "refused: the device key goes to {} under --store keyring, which is unavailable ({}); \
                             nothing was written",
                            store.kind().describe(),
                            e.message()
                        ),
                        fix: Some(format!("{}, or use --store keyring-or-file or --store file", store.kind().fix())),
                    });
                }
            }
        }
        _ => None,
    };
    let home = match &cmd {
        ProfileCommand::Init(_) => Home::open_or_create(&home_path()?, policy)?,
        _ => home(policy)?,
    };
    match cmd {
        ProfileCommand::Rm(a) => return rm(a, &home, out),
        ProfileCommand::Init(a) => {
            let p = home.init_profile(&a.name, a.port)?;
            let c = p.config()?;
            // The profile's device identity (the key a gateway pairs): its
            // seed in the keyring (a reference beside it), or in a 0600 file.
            let dir = p.root().path().display();
            let (device, at, key_store) = match &keyring {
                Some(k) => {
                    let seed = p.create_device_key_in(k)?;
                    let at = format!(
                        "device key in {} (reference {dir}/{})",
                        k.kind().describe(),
                        gw_cred::DEVICE_KEYRING_FILE
                    );
                    (gw_gateway::DeviceIdentity::from_seed(&seed)?, at, k.name().to_owned())
                }
                None => (
                    gw_gateway::DeviceIdentity::create(p.root(), gw_gateway::DEVICE_KEY_FILE)?,
                    format!("device key {dir}/{} mode 0600", gw_gateway::DEVICE_KEY_FILE),
                    "file".to_owned(),
                ),
            };
            out.ok(
                &format!(
                    "created profile `{}` in {dir} (gateway {}, root secret {dir}/{} mode 0600, {at}, device id {})",
                    c.name,
                    c.gateway_url,
                    gw_cred::ROOT_KEY_FILE,
                    device.id(),
                ),
                json!({ "profile": c.name, "path": p.root().path(), "gateway_url": c.gateway_url, "port": c.port,
                        "device_id": device.id(), "device_key_store": key_store }),
            );
        }
        ProfileCommand::List => {
            let names = home.profiles()?;
            let human = if names.is_empty() {
                "no profiles (create one with `gw profile init NAME`)".to_owned()
            } else {
                names.join("\n")
            };
            out.ok(&human, json!({ "home": home.root().path(), "profiles": names }));
        }
        ProfileCommand::Show(a) => {
            let p = home.profile(&a.name)?;
            let c = p.config()?;
            let creds = p.store().list()?;
            // Only a missing key is "none"; an exposed or foreign one is refused.
            let device = device_id(&p)?;
            let human = format!(
                "profile `{}`\n  directory: {}\n  gateway:   {} (port {})\n  device id: {}\n  gateways with stored credentials: {}",
                c.name,
                p.root().path().display(),
                c.gateway_url,
                c.port,
                device.as_deref().unwrap_or("none (a profile made before device identities; no device key)"),
                creds.len()
            );
            out.ok(&human, json!({ "profile": c.name, "path": p.root().path(), "gateway_url": c.gateway_url, "port": c.port, "device_id": device, "credentials": creds }));
        }
    }
    Ok(EXIT_OK)
}

/// Removes profile `a.name`: first every credential record (so the keyring
/// entries they refer to are deleted by gw-cred) and the device key's
/// keyring entry (under `--store keyring`), then the directory tree,
/// entry by entry beneath the home's root, never following a symlink (a
/// symlink is removed itself, not its target).
fn rm(a: ProfileRmArgs, home: &Home, out: Output) -> Result<u8, CliError> {
    gw_cred::check_profile_name(&a.name)?;
    let profile = home.profile(&a.name)?;
    // As gh does: at a terminal, typing the name confirms; elsewhere --yes.
    let confirmed = a.yes
        || crate::input::ask(&format!(
            "gw: this deletes profile `{}` for good: its root secret, device key and credentials. Type its name to \
             confirm: ",
            a.name
        ))?
        .is_some_and(|typed| typed == a.name);
    if !confirmed {
        return Err(CliError::usage(
            "remove profile",
            format!(
                "this deletes profile `{}` for good ({}: its root secret, device key and credentials, and their keyring \
                 entries); nothing was removed",
                a.name,
                profile.root().path().display()
            ),
        )
        .with_fix(format!("confirm with `gw profile rm {} --yes`, or type the name when asked at a terminal", a.name)));
    }
    // Notices (a keyring entry that could not be deleted) go to stderr.
    let store = profile.store_with(store_config(StoreArg::File, KeyringArg::SecretService));
    let mut gateways = Vec::new();
    for s in store.list()? {
        store.remove(&GatewayKey::parse(&s.gateway)?, None)?;
        gateways.push(s.gateway);
    }
    // The device key, if it is in a keyring (device.keyring names it).
    let device_key_in_keyring = profile.delete_device_key_from_keyring()?;
    let shown = profile.root().path().to_path_buf();
    drop(profile);
    let rel = Path::new("profiles").join(&a.name);
    let removed = remove_tree(home.root(), &rel)?;
    out.ok(
        &format!(
            "removed profile `{}` ({}: {removed} entries; the credentials of {} gateway(s), keyring entries included)",
            a.name,
            shown.display(),
            gateways.len()
        ),
        json!({ "profile": a.name, "path": shown, "entries_removed": removed, "gateways": gateways,
                "device_key_keyring_entry_removed": device_key_in_keyring }),
    );
    Ok(EXIT_OK)
}

/// Removes `rel` beneath `root` and everything in it, depth first. Every
/// step is resolved beneath `root` by gw-anchor (no symlink followed, no
/// `..`); a symlink is an entry like a file. Returns how many entries went.
fn remove_tree(root: &Root, rel: &Path) -> Result<usize, CliError> {
    let mut count = 0;
    for e in root.list(rel)? {
        let child: PathBuf = rel.join(&e.name);
        if e.kind == FileKind::Dir {
            count += remove_tree(root, &child)?;
        } else {
            root.remove(&child)?;
            count += 1;
        }
    }
    root.remove(rel)?;
    Ok(count + 1)
}
