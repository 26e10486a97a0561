//! `remove`: delete a file or an empty directory beneath a root.

use std::path::Path;

use rustix::fs::AtFlags;
use rustix::io::Errno;

use crate::error::{Error, ErrorKind, Result};
use crate::root::Root;

impl Root {
    /// Removes the entry `rel`: a file (of any type, a symlink included: the
    /// link itself is removed, never what it points to) or an empty
    /// directory. With a trailing slash, only a directory is removed.
    ///
    /// # Errors
    /// [`ErrorKind::NotFound`], [`ErrorKind::Symlink`] for a link *on the
    /// way*, [`ErrorKind::InsecureDirectory`] if the parent is not private,
    /// an I/O error for a non-empty directory.
    pub fn remove(&self, rel: impl AsRef<Path>) -> Result<()> {
        const OP: &str = "remove";
        let rel = self.rel(OP, rel.as_ref())?;
        if rel.is_root() {
            return Err(Error::invalid_path(OP, &self.path, "refused: cannot remove the root itself"));
        }
        let shown = self.shown(&rel);
        let (dir, name) = self.open_parent_checked(OP, &shown, &rel)?;
        let res = if rel.has_trailing_slash() {
            rustix::fs::unlinkat(&dir, name, AtFlags::REMOVEDIR)
        } else {
            match rustix::fs::unlinkat(&dir, name, AtFlags::empty()) {
                Err(Errno::ISDIR) => rustix::fs::unlinkat(&dir, name, AtFlags::REMOVEDIR),
                other => other,
            }
        };
        res.map_err(|e| match e {
            Errno::NOTEMPTY | Errno::EXIST => {
                Error::new(ErrorKind::Io, OP, &shown, "the directory is not empty; gw removes only empty directories")
            }
            e => Error::from_errno(OP, &shown, e),
        })
    }
}
