//! The gw home and its profiles.
//!
//! The home is `$GW_HOME`, else `$XDG_CONFIG_HOME/gw`, else
//! `$HOME/.config/gw` (absolute paths only). Each profile is a directory
//! `profiles/NAME` (0700) holding `config.json` (its port and the gateway URL
//! generated from it), `root.key` (its root secret, 0600) and
//! `credentials.json` (its credential store, 0600). A profile's operations
//! only ever touch its own directory (THREATS CRED-8) — and, with a keyring
//! policy, keyring entries named after the profile; mirroring one profile
//! into another keeps the target's own entries (CRED-7).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use gw_anchor::{FileKind, Policy, Root};
use gw_persist::{Document, ZeroizingValue, merge_keeping_local, zeroize_strings};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::key::GatewayKey;
use crate::keyring::{StoreConfig, StorePolicy};
use crate::store::{
    CredStore, STORE_FILE, STORE_VERSION, Slot, Stored, WriteTarget, check_store_value, save_refusal, secret_text,
};

/// The profile used when none is named.
pub const DEFAULT_PROFILE: &str = "default";
/// The default gateway port of a new profile.
pub const DEFAULT_PORT: u16 = 18789;
/// The root secret file in a profile directory.
pub const ROOT_KEY_FILE: &str = "root.key";
/// The configuration file in a profile directory.
pub const CONFIG_FILE: &str = "config.json";

/// Where the gw home is, from the environment (`GW_HOME`, `XDG_CONFIG_HOME`,
/// `HOME`, in that order; relative values are ignored as the XDG spec says).
///
/// # Errors
/// [`ErrorKind::InvalidInput`] when none is set to an absolute path.
pub fn home_path() -> Result<PathBuf> {
    let abs = |v: Option<OsString>| v.map(PathBuf::from).filter(|p| p.is_absolute());
    // GW_HOME is gw's own: a relative one is a mistake to report, never a
    // value to skip (gw would then write into another home). An empty one is
    // unset. (XDG_CONFIG_HOME and HOME keep the XDG rule: relative ones are
    // ignored.)
    if let Some(g) = std::env::var_os("GW_HOME").filter(|g| !g.is_empty()) {
        let p = PathBuf::from(&g);
        if !p.is_absolute() {
            let shown = p.display().to_string();
            let rest =
                shown.strip_prefix("~/").map(|r| format!("$HOME/{r}")).unwrap_or_else(|| format!("$PWD/{shown}"));
            return Err(Error::new(
                ErrorKind::InvalidInput,
                "find gw home",
                format!("GW_HOME is a relative path (`{shown}`): gw does not guess what it is relative to"),
            )
            .with_fix(format!("export GW_HOME=\"{rest}\"   # an absolute path")));
        }
        return Ok(p);
    }
    if let Some(p) = abs(std::env::var_os("XDG_CONFIG_HOME")) {
        return Ok(p.join("gw"));
    }
    if let Some(p) = abs(std::env::var_os("HOME")) {
        return Ok(p.join(".config").join("gw"));
    }
    Err(Error::new(
        ErrorKind::InvalidInput,
        "find gw home",
        "none of GW_HOME, XDG_CONFIG_HOME, HOME is an absolute path",
    )
    .with_fix("set GW_HOME to a directory you own"))
}

/// Checks a profile name: 1–32 of `[a-z0-9_-]`, starting with a letter or digit.
///
/// # Errors
/// [`ErrorKind::InvalidInput`].
pub fn check_profile_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 32
        && name.bytes().next().is_some_and(|b| b.is_ascii_lowercase() || b.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'_');
    if ok {
        Ok(())
    } else {
        Err(Error::new(
            ErrorKind::InvalidInput,
            "check profile",
            format!("`{}` is not a profile name (1-32 of a-z 0-9 - _)", name.escape_debug()),
        ))
    }
}

/// A profile's configuration.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// Format version (1).
    pub version: u32,
    /// The profile's name.
    pub name: String,
    /// The port its gateway listens on.
    pub port: u16,
    /// The gateway URL, generated locally from the port (never taken from
    /// the environment or a flag).
    pub gateway_url: String,
}

/// The gw home directory, opened and verified.
#[derive(Debug)]
pub struct Home {
    root: Root,
}

impl Home {
    /// Opens the home at `path`, creating it (and missing parents, 0700)
    /// beneath its nearest existing ancestor, which must be a trusted
    /// directory of the caller's.
    ///
    /// # Errors
    /// gw-anchor's refusals (an insecure ancestor is named with its fix).
    pub fn open_or_create(path: &Path, policy: &Policy) -> Result<Self> {
        match Root::open(path, policy) {
            Ok(root) => return Ok(Self { root }),
            Err(e) if e.kind() == gw_anchor::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        let mut base = path.to_path_buf();
        let mut missing = Vec::new();
        while !base.exists() {
            match (base.file_name(), base.parent()) {
                (Some(n), Some(p)) => {
                    missing.push(n.to_owned());
                    base = p.to_path_buf();
                }
                _ => break,
            }
        }
        let anchor = Root::open(&base, policy)?;
        let rel: PathBuf = missing.iter().rev().collect();
        anchor.mkdir_all(&rel, 0o700)?;
        Ok(Self { root: anchor.open_dir(&rel)? })
    }

    /// Opens the existing home at `path` (never creates it).
    ///
    /// # Errors
    /// Not found (with the fix: create a profile), refusals.
    pub fn open(path: &Path, policy: &Policy) -> Result<Self> {
        Root::open(path, policy).map(|root| Self { root }).map_err(|e| {
            let missing = e.kind() == gw_anchor::ErrorKind::NotFound;
            let err = Error::from(e);
            if missing { err.with_fix("create a profile first: `gw profile init default`") } else { err }
        })
    }

    /// The home's root.
    pub fn root(&self) -> &Root {
        &self.root
    }

    /// Creates profile `name` with its directory, configuration and a new
    /// root secret. Refuses an existing profile.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidInput`] for a bad name, `Fs(AlreadyExists)` for an
    /// existing profile; filesystem errors.
    pub fn init_profile(&self, name: &str, port: u16) -> Result<Profile> {
        check_profile_name(name)?;
        if port == 0 {
            return Err(Error::new(ErrorKind::InvalidInput, "init profile", "the port must be 1-65535"));
        }
        let rel = Path::new("profiles").join(name);
        match self.root.metadata(&rel) {
            Ok(_) => {
                // Like every "already exists" in gw: an operational error
                // (exit 1 in the CLI), not a usage error.
                return Err(Error::new(
                    ErrorKind::Fs(gw_anchor::ErrorKind::AlreadyExists),
                    "init profile",
                    format!("profile `{name}` already exists"),
                )
                .about(self.root.path().join(&rel).display()));
            }
            Err(e) if e.kind() == gw_anchor::ErrorKind::NotFound => {}
            Err(e) => return Err(e.into()),
        }
        self.root.mkdir_all(&rel, 0o700)?;
        let root = self.root.open_dir(&rel)?;
        let config =
            ProfileConfig { version: 1, name: name.to_owned(), port, gateway_url: format!("ws://127.0.0.1:{port}") };
        Document::new(&root, CONFIG_FILE).save(&config)?;
        gw_token::init_secret_file(&root, ROOT_KEY_FILE)?;
        Ok(Profile { name: name.to_owned(), root })
    }

    /// Opens the existing profile `name`.
    ///
    /// # Errors
    /// Not found (with the fix), refusals.
    pub fn profile(&self, name: &str) -> Result<Profile> {
        check_profile_name(name)?;
        let rel = Path::new("profiles").join(name);
        let root = self.root.open_dir(&rel).map_err(|e| {
            let missing = e.kind() == gw_anchor::ErrorKind::NotFound;
            let err = Error::from(e);
            if missing { err.with_fix(format!("create it with `gw profile init {name}`")) } else { err }
        })?;
        Ok(Profile { name: name.to_owned(), root })
    }

    /// The names of every profile.
    ///
    /// # Errors
    /// Filesystem errors (no profiles directory is an empty list).
    pub fn profiles(&self) -> Result<Vec<String>> {
        match self.root.list("profiles") {
            Ok(entries) => Ok(entries
                .into_iter()
                .filter(|e| e.kind == FileKind::Dir)
                .filter_map(|e| e.name.into_string().ok())
                .filter(|n| check_profile_name(n).is_ok())
                .collect()),
            Err(e) if e.kind() == gw_anchor::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e.into()),
        }
    }
}

/// One profile: its directory and what is in it.
#[derive(Debug)]
pub struct Profile {
    name: String,
    root: Root,
}

impl Profile {
    /// The profile's name.
    pub fn name(&self) -> &str {
        &self.name
    }
    /// The profile directory.
    pub fn root(&self) -> &Root {
        &self.root
    }
    /// The profile's configuration.
    ///
    /// # Errors
    /// Missing or invalid `config.json`.
    pub fn config(&self) -> Result<ProfileConfig> {
        Document::new(&self.root, CONFIG_FILE).load::<ProfileConfig>()?.ok_or_else(|| {
            Error::new(ErrorKind::InvalidInput, "load profile", "the profile has no config.json")
                .about(self.root.path().display())
                .with_fix(format!("recreate the profile with `gw profile init {}`", self.name))
        })
    }
    /// The profile's gateway, from its own configuration.
    ///
    /// # Errors
    /// As [`Profile::config`], and an invalid URL.
    pub fn gateway(&self) -> Result<GatewayKey> {
        GatewayKey::parse(&self.config()?.gateway_url)
    }
    /// The profile's credential store, with the file policy.
    pub fn store(&self) -> CredStore<Document<'_>> {
        CredStore::new(Document::new(&self.root, STORE_FILE))
    }
    /// The profile's credential store, writing secrets as `config` says;
    /// keyring entries are named after the profile (unless `config` names
    /// a namespace).
    pub fn store_with(&self, config: StoreConfig) -> CredStore<Document<'_>> {
        let config = if config.namespace.is_some() { config } else { config.namespace(self.name.clone()) };
        CredStore::with_config(Document::new(&self.root, STORE_FILE), config)
    }
    /// The profile's root secret (never created by reading, TOK-4).
    ///
    /// # Errors
    /// gw-token's load errors.
    pub fn root_secret(&self) -> Result<gw_token::Secret> {
        Ok(gw_token::load_secret_file(&self.root, ROOT_KEY_FILE)?)
    }
}

/// What a mirror did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MirrorReport {
    /// Gateways copied in from the primary.
    pub added: Vec<String>,
    /// Gateways both had: merged, the secondary's own entries kept.
    pub merged: Vec<String>,
    /// Secrets the primary keeps in a keyring that were copied (read from
    /// the keyring and stored as the secondary's store policy says).
    pub from_keyring: usize,
}

/// Mirrors the credentials of `primary` into `secondary` with the file
/// policy: as [`mirror_with`] and [`StoreConfig::file`]. Secrets the primary
/// keeps in a keyring are refused rather than copied into the file.
///
/// # Errors
/// As [`mirror_with`].
///
/// # Security
/// THREATS CRED-7, CRED-8, CRED-9.
pub fn mirror(primary: &Profile, secondary: &Profile) -> Result<MirrorReport> {
    mirror_with(primary, secondary, StoreConfig::file())
}

/// Mirrors the credentials of `primary` into `secondary`, keeping every
/// entry the secondary already has (its values win); one locked, atomic
/// update of the secondary's store. The primary is only read.
///
/// Every secret copied is stored for the secondary as `config` says: under
/// a keyring policy in new keyring entries of the secondary's (or, under
/// `keyring-or-file` with the keyring unavailable, in its file after the
/// notice). A secret the primary keeps in a keyring is never shared by
/// reference (the two profiles would then delete each other's entries): it
/// is read from the keyring and stored anew. Under the `file` policy such
/// secrets are **refused** ([`ErrorKind::FallbackRefused`], nothing
/// changed): copying them into a file would silently downgrade their
/// storage (THREATS CRED-9); inline secrets are copied as they are.
///
/// # Errors
/// Storage and keyring errors of either store; the refusal above.
///
/// # Security
/// THREATS CRED-7 (merge keeps local), CRED-8 (the primary is not changed),
/// CRED-9 (no downgrade without the policy saying so).
pub fn mirror_with(primary: &Profile, secondary: &Profile, config: StoreConfig) -> Result<MirrorReport> {
    if primary.root.path() == secondary.root.path() {
        return Err(Error::new(ErrorKind::InvalidInput, "mirror", "a profile cannot be mirrored into itself"));
    }
    let from = Document::new(&primary.root, STORE_FILE).load_value()?;
    let Some(from) = from else {
        return Ok(MirrorReport { added: Vec::new(), merged: Vec::new(), from_keyring: 0 });
    };
    // Both documents and their merge hold every inline secret as a plain
    // JSON string: each is wiped when dropped, on every path.
    let from = ZeroizingValue::new(from);
    // Both stores must be in gw's format: merging a store of another version
    // or shape would leave the secondary unreadable or mixed (CRED-8).
    let source_path = primary.root.path().join(STORE_FILE);
    check_store_value(&from).map_err(|e| e.about(source_path.display()))?;
    let target = secondary.root.path().join(STORE_FILE);
    let to_store = secondary.store_with(config);
    let mut created = Vec::new();
    // Keyring references of the primary that the copy must not carry:
    // slots the secondary has (its own value stays) are left out, the others
    // are copied as secrets.
    let mut left_out: Vec<(String, Slot)> = Vec::new();
    let mut from_keyring = 0;
    let from_doc = CredStore::<Document<'_>>::decode(Some((*from).clone()))?;
    let from = if from_doc.has_refs() || to_store.config().policy() != StorePolicy::File {
        let copied = copy_keyring_secrets(primary, &to_store, from_doc, &mut created, &mut left_out, &mut from_keyring)
            .and_then(|copied| {
                serde_json::to_value(&copied)
                    .map_err(|e| Error::new(ErrorKind::InvalidInput, "mirror", format!("cannot encode the copy: {e}")))
            });
        match copied {
            Ok(v) => ZeroizingValue::new(v),
            Err(e) => {
                // Entries already made for the copy are deleted again.
                to_store.dispose(created);
                return Err(e);
            }
        }
    } else {
        from
    };
    let mut report = MirrorReport { added: Vec::new(), merged: Vec::new(), from_keyring };
    let res = Document::new(&secondary.root, STORE_FILE).update_value(|to| {
        let to =
            ZeroizingValue::new(to.unwrap_or_else(|| serde_json::json!({ "version": STORE_VERSION, "gateways": {} })));
        check_store_value(&to).map_err(|e| e.about(target.display()))?;
        if !left_out.is_empty() {
            // The secondary must still have every slot whose keyring
            // reference was left out of the copy.
            let now = CredStore::<Document<'_>>::decode(Some((*to).clone()))?;
            if let Some((gw, slot)) =
                left_out.iter().find(|(gw, slot)| now.gateways.get(gw).and_then(|r| r.get(slot)).is_none())
            {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
                    "mirror",
                    format!(
                        "the {} credential of {gw} was removed from the target while mirroring; nothing was \
                         changed, run the mirror again",
                        slot.describe()
                    ),
                )
                .about(target.display()));
            }
        }
        report = MirrorReport { added: Vec::new(), merged: Vec::new(), from_keyring };
        if let (Some(p), Some(s)) =
            (from.get("gateways").and_then(|g| g.as_object()), to.get("gateways").and_then(|g| g.as_object()))
        {
            for k in p.keys() {
                if s.contains_key(k) { report.merged.push(k.clone()) } else { report.added.push(k.clone()) }
            }
        }
        let merged = ZeroizingValue::new(merge_keeping_local(&from, &to));
        check_store_value(&merged).map_err(|e| e.about(target.display()))?;
        // Written, then handed back below and wiped there (or wiped by
        // gw-persist if the save fails).
        Ok(merged.into_value())
    });
    // Entries made for the copy that the secondary does not name (its own
    // value was kept, or the update failed) are deleted again.
    to_store.dispose(created);
    match res {
        Ok(mut written) => zeroize_strings(&mut written),
        // A refusal of the closure is returned as it is; only a save that
        // would make the store too large is reworded.
        Err(e) => return Err(save_refusal(e)),
    }
    Ok(report)
}

/// The primary's document prepared for the merge: a keyring reference is
/// left out where the secondary has the slot (its own value stays); every
/// secret the secondary lacks is stored as the secondary's policy says —
/// read from the primary's keyring where it is kept there, into a new entry
/// of the secondary's under a keyring policy. Inline secrets stay inline
/// when the target is the file.
fn copy_keyring_secrets(
    primary: &Profile,
    to_store: &CredStore<Document<'_>>,
    mut doc: crate::store::StoreDoc,
    created: &mut Vec<crate::keyring::KeyringRef>,
    left_out: &mut Vec<(String, Slot)>,
    copied: &mut usize,
) -> Result<crate::store::StoreDoc> {
    let local = to_store.load_doc()?;
    // The target's keyring configuration also resolves the primary's
    // references (the keyring a reference names is found by its name).
    let source = primary.store_with(to_store.config().clone());
    let mut needed: Vec<(String, Slot, Stored)> = Vec::new();
    for (gw, rec) in &doc.gateways {
        for (slot, v) in rec.slots() {
            if local.gateways.get(gw).and_then(|r| r.get(&slot)).is_none() {
                needed.push((gw.clone(), slot, v.clone()));
            } else if v.keyring_ref().is_some() {
                left_out.push((gw.clone(), slot));
            }
        }
    }
    for (gw, slot) in left_out.iter() {
        if let Some(rec) = doc.gateways.get_mut(gw) {
            rec.remove_slot(slot);
        }
    }
    let in_keyring = needed.iter().filter(|(_, _, v)| v.keyring_ref().is_some()).count();
    if needed.is_empty() || (in_keyring == 0 && to_store.config().policy() == StorePolicy::File) {
        return Ok(doc);
    }
    let target = to_store.target()?;
    if in_keyring > 0 && matches!(target, WriteTarget::File) && to_store.config().policy() == StorePolicy::File {
        return Err(Error::new(
            ErrorKind::FallbackRefused,
            "mirror",
            format!(
                "profile `{}` keeps {} credential(s) in a keyring; the file store policy would copy them into \
                 profile `{}`'s credentials file, a downgrade of their storage; nothing was changed",
                primary.name,
                in_keyring,
                to_store.config().namespace.as_deref().unwrap_or("?"),
            ),
        )
        .with_fix("mirror with `--store keyring` (or `--store keyring-or-file` to accept the file when the keyring is unavailable)"));
    }
    for (gw, slot, v) in needed {
        if matches!((&target, &v), (WriteTarget::File, Stored::Inline(_))) {
            continue;
        }
        let secret = source.reveal(&v)?;
        let text = secret_text(&secret)?;
        let nv = to_store.stage(&target, &gw, &slot, &text, created)?;
        if let Some(rec) = doc.gateways.get_mut(&gw) {
            rec.put_slot(&slot, nv);
        }
        if v.keyring_ref().is_some() {
            *copied += 1;
        }
    }
    Ok(doc)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use std::sync::Arc;

    use super::*;
    use crate::keyring::MemoryKeyring;
    use gw_token::Secret;

    #[test]
    fn cred_9_mirror_copies_keyring_secrets_or_refuses_a_downgrade() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::set_permissions(dir.path(), std::os::unix::fs::PermissionsExt::from_mode(0o700)).unwrap();
        let home = Home::open_or_create(&dir.path().join("gw"), &Policy::new()).unwrap();
        let (main, rescue) = (home.init_profile("main", 1).unwrap(), home.init_profile("rescue", 2).unwrap());
        let mem = Arc::new(MemoryKeyring::default());
        let kr = || StoreConfig::new(StorePolicy::Keyring).keyring(mem.clone());
        let (a, b) = (GatewayKey::parse("ws://127.0.0.1:1").unwrap(), GatewayKey::parse("ws://127.0.0.1:2").unwrap());
        let m = main.store_with(kr());
        m.set(&a, &Slot::Shared, &Secret::from("main-a-shared".to_owned())).unwrap();
        m.set(&b, &Slot::Shared, &Secret::from("main-b-shared".to_owned())).unwrap();
        main.store().set(&b, &Slot::Bootstrap, &Secret::from("main-b-boot".to_owned())).unwrap();
        rescue.store().set(&b, &Slot::Shared, &Secret::from("rescue-b-own".to_owned())).unwrap();
        let rescue_file = rescue.root().path().join(STORE_FILE);
        let before = std::fs::read(&rescue_file).unwrap();
        // The file policy would put main's keyring secrets into rescue's file: refused.
        let e = mirror(&main, &rescue).unwrap_err();
        assert_eq!(e.kind(), ErrorKind::FallbackRefused);
        assert!(e.fix().unwrap().contains("--store keyring"), "{e}");
        assert_eq!(std::fs::read(&rescue_file).unwrap(), before);
        assert_eq!(mem.len(), 2);
        // With the keyring policy: copied into rescue's own new entries; its own shared kept.
        let r = mirror_with(&main, &rescue, kr()).unwrap();
        assert_eq!((r.added.len(), r.merged.len(), r.from_keyring), (1, 1, 1));
        // main-a-shared copied; main-b-boot (inline in main) went to rescue's keyring too.
        assert_eq!(mem.len(), 4);
        let text = std::fs::read_to_string(&rescue_file).unwrap();
        assert!(!text.contains("main-a-shared") && text.contains("rescue/ws://127.0.0.1:1/shared/"), "{text}");
        assert!(!text.contains("main-b-boot") && text.contains("rescue/ws://127.0.0.1:2/bootstrap/"), "{text}");
        assert!(text.contains("rescue-b-own"), "the rescue's own inline secret stays: {text}");
        let rs = rescue.store_with(kr());
        assert_eq!(rs.get(&a, &Slot::Shared).unwrap().unwrap().expose(), b"main-a-shared");
        assert_eq!(rs.get(&b, &Slot::Shared).unwrap().unwrap().expose(), b"rescue-b-own");
        assert_eq!(rs.get(&b, &Slot::Bootstrap).unwrap().unwrap().expose(), b"main-b-boot");
        // The two profiles do not share an entry: removing rescue's leaves main's.
        assert!(rs.remove(&a, None).unwrap());
        assert_eq!(m.get(&a, &Slot::Shared).unwrap().unwrap().expose(), b"main-a-shared");
        assert_eq!(mem.len(), 3);
        // Mirroring again copies nothing: the rescue has every slot (its own
        // entries kept, none created and left behind).
        mirror_with(&main, &rescue, kr()).unwrap();
        assert_eq!(mem.len(), 4);
        mirror_with(&main, &rescue, kr()).unwrap();
        assert_eq!(mem.len(), 4);
    }
}
