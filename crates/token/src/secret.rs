//! [`Secret`]: bytes that never print and are zeroized on drop; root secrets
//! and their files.
//!
//! A root secret file holds 32 random bytes as unpadded base64url and a
//! newline. It is created only by [`init_secret_file`] (exclusive create,
//! mode 0600 from the first byte); [`load_secret_file`] never creates
//! anything (THREATS TOK-4) and refuses a file that others could read or that
//! belongs to someone else, the way ssh refuses an unprotected private key.

use std::fmt;
use std::path::Path;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use gw_anchor::{Root, WriteOptions};
use secrecy::{ExposeSecret, SecretSlice};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};

/// The length of a root secret, in bytes.
pub const ROOT_SECRET_LEN: usize = 32;

/// Secret bytes: no `Debug`/`Display` of the value, zeroized on drop, read
/// only through [`Secret::expose`].
pub struct Secret(SecretSlice<u8>);

impl Secret {
    /// Wraps `bytes` (they are moved, not copied).
    pub fn new(bytes: Vec<u8>) -> Self {
        Self(SecretSlice::from(bytes))
    }

    /// 32 fresh random bytes from the operating system.
    ///
    /// # Errors
    /// [`ErrorKind::BadSecret`] if the OS random source fails.
    pub fn generate() -> Result<Self> {
        let mut bytes = vec![0u8; ROOT_SECRET_LEN];
        getrandom::fill(&mut bytes)
            .map_err(|e| Error::new(ErrorKind::BadSecret, "generate secret", format!("no randomness: {e}")))?;
        Ok(Self::new(bytes))
    }

    /// The secret bytes. Every use is an explicit, greppable call.
    pub fn expose(&self) -> &[u8] {
        self.0.expose_secret()
    }

    /// Its length in bytes (not secret).
    pub fn len(&self) -> usize {
        self.expose().len()
    }

    /// `true` if empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret([REDACTED; {} bytes])", self.len())
    }
}

impl From<String> for Secret {
    fn from(s: String) -> Self {
        Self::new(s.into_bytes())
    }
}

/// Creates a new root secret file `rel` beneath `root`: 32 random bytes,
/// exclusive create (an existing file is never replaced), mode 0600 from the
/// start, durable.
///
/// # Errors
/// [`ErrorKind::Fs`] with `AlreadyExists` if anything is at `rel` (a
/// symlink included, as a `Symlink` refusal), and gw-anchor's other errors.
///
/// # Security
/// THREATS TOK-4 (only this explicit call creates a secret), FS-4, FS-6.
pub fn init_secret_file(root: &Root, rel: impl AsRef<Path>) -> Result<Secret> {
    let secret = Secret::generate()?;
    let mut text = Zeroizing::new(URL_SAFE_NO_PAD.encode(secret.expose()));
    text.push('\n');
    root.create_new(rel, text.as_bytes(), &WriteOptions::new().mode(0o600))?;
    Ok(secret)
}

/// Loads the root secret file `rel` beneath `root`. Never creates anything.
///
/// # Errors
/// [`ErrorKind::InsecureSecret`] if the file is readable or writable by
/// group/other or not owned by the caller (with the fix); [`ErrorKind::BadSecret`]
/// if it does not hold exactly 32 bytes of canonical base64url;
/// gw-anchor's errors (not found, symlink, FIFO, insecure directory).
///
/// # Security
/// THREATS TOK-4 (reading never creates), FS-1/FS-5 (through gw-anchor).
pub fn load_secret_file(root: &Root, rel: impl AsRef<Path>) -> Result<Secret> {
    const OP: &str = "load secret";
    let rel = rel.as_ref();
    let path = root.path().join(rel);
    let (bytes, meta) = root.read_with_metadata(rel, 1024)?;
    let bytes = Zeroizing::new(bytes);
    let me = rustix::process::geteuid().as_raw();
    if meta.uid != me {
        return Err(Error::new(
            ErrorKind::InsecureSecret,
            OP,
            format!("refused: the secret file is owned by uid {}, not by you (uid {me})", meta.uid),
        )
        .at(&path)
        .with_fix(format!("`chown {me} {}`, or create your own with `gw token init`", path.display())));
    }
    if meta.mode & 0o077 != 0 {
        return Err(Error::new(
            ErrorKind::InsecureSecret,
            OP,
            format!("refused: the secret file is accessible by group/others (mode {:04o})", meta.mode),
        )
        .at(&path)
        .with_fix(format!("`chmod 600 {}` (and consider the secret leaked: rotate it)", path.display())));
    }
    let text = bytes.strip_suffix(b"\n").unwrap_or(&bytes);
    let decoded = URL_SAFE_NO_PAD.decode(text).ok().filter(|d| d.len() == ROOT_SECRET_LEN);
    match decoded {
        Some(d) => Ok(Secret::new(d)),
        None => Err(Error::new(
            ErrorKind::BadSecret,
            OP,
            format!("the file does not hold a gw root secret ({ROOT_SECRET_LEN} bytes, base64url, one line)"),
        )
        .at(&path)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn is_empty_and_len_tell_the_length_only() {
        for (secret, len) in [
            (Secret::new(Vec::new()), 0),
            (Secret::from(String::new()), 0),
            (Secret::new(vec![0]), 1),
            (Secret::from("x".repeat(40)), 40),
            (Secret::generate().unwrap(), ROOT_SECRET_LEN),
        ] {
            assert_eq!(secret.len(), len);
            assert_eq!(secret.is_empty(), len == 0, "{secret:?}");
        }
    }
}
