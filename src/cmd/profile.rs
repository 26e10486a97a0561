//! `gw profile rm`: the one profile command that destroys. The other
//! `gw profile` commands are in `cred.rs`, beside the store they show.

use std::path::{Path, PathBuf};

use gw_anchor::{FileKind, Root};
use gw_cred::{GatewayKey, Home};
use serde_json::json;

use crate::cli::cred::ProfileRmArgs;
use crate::cli::{KeyringArg, StoreArg};
use crate::output::{CliError, EXIT_OK, Output};

/// Removes profile `a.name`: first every credential record (so the keyring
/// entries they refer to are deleted by gw-cred) and the device key's
/// keyring entry (under `--store keyring`), then the directory tree,
/// entry by entry beneath the home's root, never following a symlink (a
/// symlink is removed itself, not its target).
pub(crate) fn rm(a: ProfileRmArgs, home: &Home, out: Output) -> Result<u8, CliError> {
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
    let store = profile.store_with(crate::cmd::cred::store_config(StoreArg::File, KeyringArg::SecretService));
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
