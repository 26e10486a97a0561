//! Service definitions: a launchd agent ([`LaunchAgent`]) and a systemd user
//! unit ([`SystemdUnit`]) — typed, validated, rendered, written atomically,
//! and re-verified before they are handed to the service manager.
//!
//! A spec is loaded from strict JSON ([`ServiceSpec::from_json`]: duplicate
//! keys and unknown fields refused), validated field by field, and rendered
//! (a plist through gw-persist's own writer; a unit file with systemd's
//! quoting, see the `quote` module). Rendering always validates first, so
//! there is no way to render an unchecked spec.
//!
//! **What validation refuses.** [`ErrorKind::Injection`] (a security
//! refusal) for any value that would add a directive or break the format:
//! control characters (newline, carriage return, NUL, tab, DEL, C1), Unicode
//! line/paragraph separators and bidirectional overrides, the Unicode
//! noncharacters (U+FDD0–U+FDEF and U+xFFFE/U+xFFFF: systemd drops a
//! directive holding one, XML cannot hold U+FFFE/U+FFFF), and a trailing backslash on a value systemd reads unquoted
//! (line continuation). [`ErrorKind::InvalidSpec`] for wrong values:
//! relative or non-normalized paths (including `~`, `$HOME/…` and ExecStart
//! prefixes such as `-/bin/x`), an empty argv, a bad label, unit name or
//! variable name, an interval of 0 or more than a day, more than 256
//! entries, a value longer than 4096 bytes. Quotes, backslashes, `$`, `%`,
//! `;`, spaces and any other printable Unicode are *accepted* and escaped,
//! so the program receives exactly the argv and environment of the spec.
//!
//! **Writing.** [`ServiceSpec::write`] (or [`write_rendered`]) writes through
//! [`Root::write_atomic`] with mode [`SERVICE_FILE_MODE`] (0644) and returns a
//! [`WrittenService`]; call [`WrittenService::verify_before_handoff`] right
//! before `systemctl --user daemon-reload` / `launchctl bootstrap` and hand
//! over the path it returns (THREATS FS-8).
//!
//! Why 0644 and not gw's usual 0600: a unit or agent definition is
//! configuration, not a secret (and must never hold one, THREATS CLI-1 —
//! the service manager shows a unit's environment to anyone who asks it);
//! 0644 is the mode systemd and launchd units conventionally have, and what
//! matters for safety is that nobody else can *write* it (launchd refuses
//! group- or world-writable agents), which the mode and gw-anchor's private
//! directory checks ensure.

use std::path::{Path, PathBuf};

use gw_anchor::{FileKind, Root, WriteOptions};
use serde::de::DeserializeOwned;

use crate::error::{Error, ErrorKind, Result};
use crate::limits::Limits;

mod launchd;
mod quote;
mod systemd;
mod validate;

pub use launchd::LaunchAgent;
pub use systemd::{Restart, SystemdUnit};

/// The mode service files are written with (see the module docs for why).
pub const SERVICE_FILE_MODE: u32 = 0o644;

/// The largest spec accepted, in bytes.
pub const MAX_SPEC_BYTES: u64 = 256 * 1024;

/// Which service manager a definition is for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ServiceKind {
    /// A launchd agent, rendered as an XML property list.
    Launchd,
    /// A systemd user unit, rendered as a unit file.
    Systemd,
}

impl ServiceKind {
    /// `"launchd"` or `"systemd"`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Launchd => "launchd",
            Self::Systemd => "systemd",
        }
    }

    /// The file extension the service manager expects: `plist` or `service`.
    pub fn extension(self) -> &'static str {
        match self {
            Self::Launchd => "plist",
            Self::Systemd => "service",
        }
    }
}

impl std::str::FromStr for ServiceKind {
    type Err = String;
    fn from_str(s: &str) -> std::result::Result<Self, String> {
        match s {
            "launchd" => Ok(Self::Launchd),
            "systemd" => Ok(Self::Systemd),
            other => Err(format!("unknown service kind `{other}` (expected launchd or systemd)")),
        }
    }
}

/// A service definition of either kind.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServiceSpec {
    /// A launchd agent.
    Launchd(LaunchAgent),
    /// A systemd user unit.
    Systemd(SystemdUnit),
}

impl ServiceSpec {
    /// Loads a spec of `kind` from strict JSON (at most [`MAX_SPEC_BYTES`];
    /// duplicate keys, unknown fields, trailing data refused).
    ///
    /// # Errors
    /// The strict parser's errors (with line and column);
    /// [`ErrorKind::InvalidSpec`] when the JSON does not have the spec's
    /// shape (the message names the field).
    ///
    /// # Security
    /// THREATS CLI-2.
    pub fn from_json(kind: ServiceKind, bytes: &[u8]) -> Result<Self> {
        Ok(match kind {
            ServiceKind::Launchd => Self::Launchd(LaunchAgent::from_json(bytes)?),
            ServiceKind::Systemd => Self::Systemd(SystemdUnit::from_json(bytes)?),
        })
    }

    /// The kind of this spec.
    pub fn kind(&self) -> ServiceKind {
        match self {
            Self::Launchd(_) => ServiceKind::Launchd,
            Self::Systemd(_) => ServiceKind::Systemd,
        }
    }

    /// Checks every field ([`LaunchAgent::validate`], [`SystemdUnit::validate`]).
    ///
    /// # Errors
    /// [`ErrorKind::Injection`] or [`ErrorKind::InvalidSpec`], naming the field.
    ///
    /// # Security
    /// THREATS CLI-2.
    pub fn validate(&self) -> Result<()> {
        match self {
            Self::Launchd(a) => a.validate(),
            Self::Systemd(u) => u.validate(),
        }
    }

    /// Validates, then renders the file's bytes (plist XML or unit text).
    ///
    /// # Errors
    /// As [`ServiceSpec::validate`].
    ///
    /// # Security
    /// THREATS CLI-2: nothing is rendered from a refused spec.
    pub fn render(&self) -> Result<Vec<u8>> {
        match self {
            Self::Launchd(a) => a.render(),
            Self::Systemd(u) => u.render().map(String::into_bytes),
        }
    }

    /// Validates, renders and writes the file `rel` beneath `root`
    /// atomically (mode [`SERVICE_FILE_MODE`]); `rel` must end in
    /// `.plist` / `.service`.
    ///
    /// # Errors
    /// As [`ServiceSpec::render`] (then nothing is written), an
    /// [`ErrorKind::InvalidSpec`] for a wrong extension, and
    /// [`write_rendered`]'s.
    ///
    /// # Security
    /// THREATS CLI-2 (a refused spec writes nothing), FS-1, FS-2, FS-3, FS-4,
    /// FS-6 (gw-anchor's atomic replace); FS-8 through the result.
    pub fn write<'r>(&self, root: &'r Root, rel: impl AsRef<Path>) -> Result<WrittenService<'r>> {
        let rel = rel.as_ref();
        let ext = self.kind().extension();
        if rel.extension().is_none_or(|e| e != ext) {
            return Err(Error::new(
                ErrorKind::InvalidSpec,
                "write",
                root.path().join(rel),
                format!("a {} definition must be written to a `.{ext}` file", self.kind().as_str()),
            )
            .with_fix(format!("name the file NAME.{ext}")));
        }
        let bytes = self.render()?;
        write_rendered(root, rel, bytes)
    }
}

/// Writes already-rendered service file `bytes` to `rel` beneath `root`
/// atomically, mode [`SERVICE_FILE_MODE`], and records what was written
/// (file identity and bytes) for [`WrittenService::verify_before_handoff`].
///
/// # Errors
/// gw-anchor's: a symlink at the target or on the way, a non-regular file
/// at the target, an insecure parent directory, I/O. Nothing is written
/// outside the root, and a failed write leaves the old file as it was.
///
/// # Security
/// THREATS FS-1, FS-2, FS-3, FS-4, FS-6.
pub fn write_rendered(root: &Root, rel: impl AsRef<Path>, bytes: Vec<u8>) -> Result<WrittenService<'_>> {
    let rel = rel.as_ref().to_path_buf();
    root.write_atomic(&rel, &bytes, &WriteOptions::new().mode(SERVICE_FILE_MODE))?;
    let meta = root.metadata(&rel)?;
    Ok(WrittenService { root, rel, bytes, dev: meta.dev, ino: meta.ino })
}

/// A service file just written: what it is, where, and a way to prove it is
/// still that right before the hand-off.
#[derive(Debug)]
pub struct WrittenService<'r> {
    root: &'r Root,
    rel: PathBuf,
    bytes: Vec<u8>,
    dev: u64,
    ino: u64,
}

impl WrittenService<'_> {
    /// The file's full path (not re-verified: use
    /// [`WrittenService::verify_before_handoff`] for the hand-off).
    pub fn path(&self) -> PathBuf {
        self.root.path().join(&self.rel)
    }

    /// The path relative to the root.
    pub fn rel(&self) -> &Path {
        &self.rel
    }

    /// The bytes written.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Re-verifies, right now, that the path a service manager will open
    /// leads to the file gw wrote, and returns that path.
    ///
    /// Checks: the root's directory chain from `/` is still trusted and
    /// still leads to the very directory opened ([`Root::verify`]); the
    /// file's parent is still private; the entry at `rel` (resolved beneath
    /// the root, no symlink followed) is still the same regular file (device
    /// and inode) with mode [`SERVICE_FILE_MODE`], owned by the caller, and
    /// holds exactly the bytes written.
    ///
    /// # Errors
    /// [`Root::verify`]'s ([`gw_anchor::ErrorKind::RootChanged`],
    /// [`gw_anchor::ErrorKind::InsecureDirectory`], ...); a symlink on the
    /// way; `RootChanged` when the file was replaced, changed or re-moded.
    ///
    /// # Security
    /// THREATS FS-8 (re-check before hand-off). What remains is the window
    /// between this call and the service manager's own `open` of the path;
    /// only the caller (or root) can act in it, since every directory on the
    /// chain was just checked to be writable by no one else.
    pub fn verify_before_handoff(&self) -> Result<PathBuf> {
        const OP: &str = "verify before hand-off";
        self.root.verify()?;
        if let Some(parent) = self.rel.parent().filter(|p| !p.as_os_str().is_empty()) {
            self.root.open_dir(parent)?;
        }
        let path = self.path();
        let changed = |what: String| {
            Error::new(ErrorKind::Fs(gw_anchor::ErrorKind::RootChanged), OP, &path, format!("refused: {what}"))
                .with_fix("find out who changed it; render and write the service file again")
        };
        let meta = self.root.metadata(&self.rel)?;
        if meta.kind != FileKind::File || meta.dev != self.dev || meta.ino != self.ino {
            return Err(changed("the service file was replaced since gw wrote it".into()));
        }
        if meta.size != self.bytes.len() as u64 {
            return Err(changed("the service file's content changed since gw wrote it".into()));
        }
        if meta.mode != SERVICE_FILE_MODE || meta.uid != self.root.policy().uid() {
            return Err(changed(format!(
                "the service file's owner or mode changed since gw wrote it (uid {}, mode {:04o})",
                meta.uid, meta.mode
            )));
        }
        let now = self.root.read(&self.rel, self.bytes.len() as u64 + 1)?;
        if now != self.bytes {
            return Err(changed("the service file's content changed since gw wrote it".into()));
        }
        Ok(path)
    }
}

/// Strict JSON → a spec type, shape errors as [`ErrorKind::InvalidSpec`].
fn from_json<T: DeserializeOwned>(bytes: &[u8], kind: &'static str) -> Result<T> {
    const OP: &str = "load spec";
    let limits = Limits::new(MAX_SPEC_BYTES, 8);
    let value = crate::json::parse_json(bytes, &limits).map_err(|e| e.relabel(OP, Path::new("-")))?;
    serde_json::from_value(value).map_err(|e| {
        Error::new(ErrorKind::InvalidSpec, OP, "-", format!("not a valid {kind} service spec: {e}"))
            .with_fix(format!("see the gw_persist::service docs for the {kind} spec fields"))
    })
}
