//! `list`: the entries of a directory beneath a root.

use std::ffi::OsString;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, OFlags};

use crate::error::{Error, Result};
use crate::metadata::FileKind;
use crate::root::Root;

/// One entry of a listed directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DirEntry {
    /// The entry's name.
    pub name: OsString,
    /// Its type, as the directory reports it (links are not followed).
    pub kind: FileKind,
}

impl Root {
    /// Lists the directory `rel` (`.` for the root), sorted by name, without
    /// `.` and `..`.
    ///
    /// # Errors
    /// [`ErrorKind::Symlink`](crate::ErrorKind::Symlink) if `rel` is or passes
    /// through a symlink; not-found, not-a-directory and I/O errors.
    pub fn list(&self, rel: impl AsRef<Path>) -> Result<Vec<DirEntry>> {
        const OP: &str = "list";
        let rel = self.rel(OP, rel.as_ref())?;
        let shown = self.shown(&rel);
        let fd = self.open_beneath(OP, &shown, &rel, OFlags::RDONLY | OFlags::DIRECTORY)?;
        let mut dir = rustix::fs::Dir::read_from(&fd).map_err(|e| Error::from_errno(OP, &shown, e))?;
        let mut out = Vec::new();
        for entry in &mut dir {
            let entry = entry.map_err(|e| Error::from_errno(OP, &shown, e))?;
            let name = entry.file_name().to_bytes();
            if name == b"." || name == b".." {
                continue;
            }
            let mut kind = FileKind::from_file_type(entry.file_type());
            if entry.file_type() == FileType::Unknown {
                // Some filesystems do not fill d_type: ask without following.
                let st = rustix::fs::statat(&fd, entry.file_name(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| Error::from_errno(OP, &shown, e))?;
                kind = FileKind::from_file_type(FileType::from_raw_mode(st.st_mode));
            }
            out.push(DirEntry { name: std::ffi::OsStr::from_bytes(name).to_owned(), kind });
        }
        out.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(out)
    }
}
