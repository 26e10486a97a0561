//! Validation of relative paths given to a [`Root`](crate::Root).
//!
//! The rules, applied the same way for every operation and both resolvers:
//! - absolute paths and `..` components are refused as escapes;
//! - a NUL byte, an empty path (for file operations), more than
//!   [`MAX_PATH_BYTES`] bytes, a component longer than [`MAX_NAME_BYTES`], or
//!   more than [`MAX_DEPTH`] components are refused as invalid;
//! - `.` components and repeated slashes are normalised away (`a/./b//c` is
//!   `a/b/c`);
//! - a trailing slash is remembered: it names a directory, so file operations
//!   (read, write, create) refuse it.

use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use crate::error::{Error, Result};

/// The longest relative path accepted, in bytes (Linux `PATH_MAX` less the NUL).
pub const MAX_PATH_BYTES: usize = 4095;
/// The longest single component accepted, in bytes (Linux `NAME_MAX`).
pub const MAX_NAME_BYTES: usize = 255;
/// The most components a relative path may have.
pub const MAX_DEPTH: usize = 64;

/// A validated, normalised relative path: a list of plain names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RelPath {
    components: Vec<OsString>,
    trailing_slash: bool,
}

impl RelPath {
    /// Validates `path` by the rules in the module docs.
    ///
    /// # Errors
    /// [`ErrorKind::Escape`](crate::ErrorKind::Escape) for an absolute path or
    /// a `..` component; [`ErrorKind::InvalidPath`](crate::ErrorKind::InvalidPath)
    /// for NUL, length and depth violations. An empty path (or only `.`) is
    /// accepted here and means the root itself.
    ///
    /// # Security
    /// First line of defence against THREATS FS-2 (escapes); the resolvers do
    /// not rely on it alone (`RESOLVE_BENEATH`, no-follow walk).
    pub fn parse(path: &Path) -> Result<Self> {
        const OP: &str = "validate path";
        let bytes = path.as_os_str().as_bytes();
        // Escapes first, so an absolute or `..` path is always refused as an
        // escape (a security refusal), even when it is also malformed.
        let absolute = bytes.first() == Some(&b'/');
        if absolute || bytes.split(|&b| b == b'/').any(|c| c == b"..") {
            let why = if absolute {
                "an absolute path cannot be used beneath a root"
            } else {
                "a `..` component could lead outside the root"
            };
            if bytes.contains(&0) || bytes.len() > MAX_PATH_BYTES {
                return Err(Error::escape(OP, lossy(&bytes[..bytes.len().min(64)]), why));
            }
            return Err(Error::escape(OP, path, why));
        }
        if bytes.contains(&0) {
            return Err(Error::invalid_path(OP, lossy(bytes), "refused: the path contains a NUL byte"));
        }
        if bytes.len() > MAX_PATH_BYTES {
            return Err(Error::invalid_path(
                OP,
                lossy(&bytes[..64]),
                format!("the path is {} bytes long; the limit is {MAX_PATH_BYTES}", bytes.len()),
            ));
        }
        if bytes.first() == Some(&b'/') {
            return Err(Error::escape(OP, path, "an absolute path cannot be used beneath a root"));
        }
        let mut components = Vec::new();
        for comp in bytes.split(|&b| b == b'/') {
            match comp {
                b"" | b"." => continue,
                b".." => {
                    return Err(Error::escape(OP, path, "a `..` component could lead outside the root"));
                }
                name => {
                    if name.len() > MAX_NAME_BYTES {
                        return Err(Error::invalid_path(
                            OP,
                            path,
                            format!("a component is {} bytes long; the limit is {MAX_NAME_BYTES}", name.len()),
                        ));
                    }
                    components.push(OsStr::from_bytes(name).to_owned());
                }
            }
        }
        if components.len() > MAX_DEPTH {
            return Err(Error::invalid_path(
                OP,
                path,
                format!("the path has {} components; the limit is {MAX_DEPTH}", components.len()),
            ));
        }
        let trailing_slash = bytes.ends_with(b"/") || bytes.ends_with(b"/.");
        let trailing_slash = trailing_slash && !components.is_empty();
        Ok(Self { components, trailing_slash })
    }

    /// Validates a path that must name a file (not the root, no trailing slash).
    pub(crate) fn parse_file(op: &'static str, path: &Path) -> Result<Self> {
        let rel = Self::parse(path)?;
        if rel.components.is_empty() {
            return Err(Error::invalid_path(op, path, "the path names the root directory itself, not a file"));
        }
        if rel.trailing_slash {
            return Err(Error::invalid_path(op, path, "a trailing slash names a directory, not a file"));
        }
        Ok(rel)
    }

    /// The normalised components.
    pub fn components(&self) -> &[OsString] {
        &self.components
    }

    /// `true` when the path is the root itself (empty or `.`).
    pub fn is_root(&self) -> bool {
        self.components.is_empty()
    }

    /// `true` when the original path ended in a slash.
    pub fn has_trailing_slash(&self) -> bool {
        self.trailing_slash
    }

    /// The normalised path as a relative `Path` (`.` for the root).
    pub fn to_path_buf(&self) -> std::path::PathBuf {
        if self.components.is_empty() {
            return ".".into();
        }
        self.components.iter().collect()
    }
}

fn lossy(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).replace('\0', "\\0")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn kind(p: &str) -> Option<ErrorKind> {
        RelPath::parse(Path::new(p)).err().map(|e| e.kind())
    }

    #[test]
    fn normalises_dots_and_slashes() {
        let r = RelPath::parse(Path::new("a/./b//c")).unwrap();
        assert_eq!(r.to_path_buf(), Path::new("a/b/c"));
        assert!(!r.has_trailing_slash());
        assert!(RelPath::parse(Path::new("a/b/")).unwrap().has_trailing_slash());
        assert!(RelPath::parse(Path::new(".")).unwrap().is_root());
        assert!(RelPath::parse(Path::new("")).unwrap().is_root());
    }

    #[test]
    fn refuses_escapes_and_invalid() {
        assert_eq!(kind("/etc/passwd"), Some(ErrorKind::Escape));
        assert_eq!(kind("a/../b"), Some(ErrorKind::Escape));
        assert_eq!(kind(".."), Some(ErrorKind::Escape));
        assert_eq!(kind("a\0b"), Some(ErrorKind::InvalidPath));
        assert_eq!(kind(&"x".repeat(256)), Some(ErrorKind::InvalidPath));
        assert_eq!(kind(&"x".repeat(255)), None);
        assert_eq!(kind(&"a/".repeat(65)), Some(ErrorKind::InvalidPath));
        assert_eq!(kind(&"a/".repeat(64)), None);
        assert_eq!(kind(&"abcdefgh/".repeat(460)), Some(ErrorKind::InvalidPath));
        assert_eq!(kind("..."), None, "`...` is an ordinary name");
        // An escape is an escape even when the path is also malformed.
        assert_eq!(kind("/a\0b"), Some(ErrorKind::Escape));
        assert_eq!(kind(&format!("{}/..", "x".repeat(256))), Some(ErrorKind::Escape));
        assert_eq!(kind(&format!("a/..{}", "/a".repeat(3000))), Some(ErrorKind::Escape));
    }

    /// The path an error names is printed: a NUL byte in it is shown as
    /// `\0`, and a path past the length limit by its first 64 bytes, escape
    /// or not. A path at the limit is shown whole.
    #[test]
    fn a_refused_path_is_shown_safely() {
        let shown = |p: &[u8]| {
            let e = RelPath::parse(Path::new(OsStr::from_bytes(p))).unwrap_err();
            (e.kind(), e.path().as_os_str().as_bytes().to_vec())
        };
        assert_eq!(shown(b"/a\0b"), (ErrorKind::Escape, b"/a\\0b".to_vec()));
        assert_eq!(shown(b"../a\0b"), (ErrorKind::Escape, b"../a\\0b".to_vec()));
        assert_eq!(shown(b"a\0b"), (ErrorKind::InvalidPath, b"a\\0b".to_vec()));
        let at_limit = format!("../{}", "x".repeat(MAX_PATH_BYTES - 3));
        assert_eq!(shown(at_limit.as_bytes()), (ErrorKind::Escape, at_limit.clone().into_bytes()));
        let over = format!("../{}", "x".repeat(MAX_PATH_BYTES - 2));
        assert_eq!(shown(over.as_bytes()), (ErrorKind::Escape, over.as_bytes()[..64].to_vec()));
        let over = "abcdefgh/".repeat(460);
        assert_eq!(shown(over.as_bytes()), (ErrorKind::InvalidPath, over.as_bytes()[..64].to_vec()));
    }

    #[test]
    fn file_paths_refuse_root_and_trailing_slash() {
        assert_eq!(RelPath::parse_file("t", Path::new(".")).unwrap_err().kind(), ErrorKind::InvalidPath);
        assert_eq!(RelPath::parse_file("t", Path::new("a/")).unwrap_err().kind(), ErrorKind::InvalidPath);
        assert!(RelPath::parse_file("t", Path::new("a/b")).is_ok());
    }
}
