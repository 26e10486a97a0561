//! The gw home and its profiles.
//!
//! The home is `$GW_HOME`, else `$XDG_CONFIG_HOME/gw`, else
//! `$HOME/.config/gw` (absolute paths only). Each profile is a directory
//! `profiles/NAME` (0700) holding `config.json` (its port and the gateway URL
//! generated from it), `root.key` (its root secret, 0600) and
//! `credentials.json` (its credential store, 0600). A profile's operations
//! only ever touch its own directory (THREATS CRED-8); mirroring one profile
//! into another keeps the target's own entries (CRED-7).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

use gw_anchor::{FileKind, Policy, Root};
use gw_persist::{Document, merge_keeping_local};
use serde::{Deserialize, Serialize};

use crate::error::{Error, ErrorKind, Result};
use crate::key::GatewayKey;
use crate::store::{CredStore, STORE_FILE, check_store_value};

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
    if let Some(p) = abs(std::env::var_os("GW_HOME")) {
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
    /// [`ErrorKind::InvalidInput`] for a bad name or an existing profile;
    /// filesystem errors.
    pub fn init_profile(&self, name: &str, port: u16) -> Result<Profile> {
        check_profile_name(name)?;
        if port == 0 {
            return Err(Error::new(ErrorKind::InvalidInput, "init profile", "the port must be 1-65535"));
        }
        let rel = Path::new("profiles").join(name);
        match self.root.metadata(&rel) {
            Ok(_) => {
                return Err(Error::new(
                    ErrorKind::InvalidInput,
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
    /// The profile's credential store.
    pub fn store(&self) -> CredStore<Document<'_>> {
        CredStore::new(Document::new(&self.root, STORE_FILE))
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
}

/// Mirrors the credentials of `primary` into `secondary`, keeping every
/// entry the secondary already has (its values win); one locked, atomic
/// update of the secondary's store. The primary is only read.
///
/// # Errors
/// Storage errors of either store.
///
/// # Security
/// THREATS CRED-7 (merge keeps local), CRED-8 (the primary is not changed).
pub fn mirror(primary: &Profile, secondary: &Profile) -> Result<MirrorReport> {
    if primary.root.path() == secondary.root.path() {
        return Err(Error::new(ErrorKind::InvalidInput, "mirror", "a profile cannot be mirrored into itself"));
    }
    let from = Document::new(&primary.root, STORE_FILE).load_value()?;
    let Some(from) = from else {
        return Ok(MirrorReport { added: Vec::new(), merged: Vec::new() });
    };
    // Both stores must be in gw's format: merging a store of another version
    // or shape would leave the secondary unreadable or mixed (CRED-8).
    check_store_value(&from).map_err(|e| e.about(primary.root.path().join(STORE_FILE).display()))?;
    let carried = std::cell::RefCell::new(None);
    let refuse = |e: Error| {
        let msg = e.message().to_owned();
        *carried.borrow_mut() = Some(e);
        gw_persist::Error::new(gw_persist::ErrorKind::InvalidSpec, "mirror", "-", msg)
    };
    let mut report = MirrorReport { added: Vec::new(), merged: Vec::new() };
    let target = secondary.root.path().join(STORE_FILE);
    let res = Document::new(&secondary.root, STORE_FILE).update_value(|to| {
        let to = to.unwrap_or_else(|| serde_json::json!({ "version": crate::store::STORE_VERSION, "gateways": {} }));
        check_store_value(&to).map_err(|e| refuse(e.about(target.display())))?;
        report = MirrorReport { added: Vec::new(), merged: Vec::new() };
        if let (Some(p), Some(s)) =
            (from.get("gateways").and_then(|g| g.as_object()), to.get("gateways").and_then(|g| g.as_object()))
        {
            for k in p.keys() {
                if s.contains_key(k) { report.merged.push(k.clone()) } else { report.added.push(k.clone()) }
            }
        }
        let merged = merge_keeping_local(&from, &to);
        check_store_value(&merged).map_err(|e| refuse(e.about(target.display())))?;
        Ok(merged)
    });
    if let Err(e) = res {
        return Err(carried.borrow_mut().take().unwrap_or_else(|| Error::from(e)));
    }
    Ok(report)
}
