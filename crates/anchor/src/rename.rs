//! `rename`: move an entry beneath a root to another name beneath it.

use std::ffi::OsStr;
use std::path::Path;

use rustix::fd::{AsFd, BorrowedFd};
use rustix::fs::{AtFlags, FileType, RenameFlags};
use rustix::io::Errno;

use crate::error::{Error, ErrorKind, Result};
use crate::metadata::FileKind;
use crate::root::Root;

impl Root {
    /// Renames `from` to `to`, both beneath this root. With `no_replace`, an
    /// existing `to` is an error (`renameat2(RENAME_NOREPLACE)`).
    ///
    /// A symlink is neither moved nor replaced (refused), and only a regular
    /// file (or an empty directory, by a directory) is replaced.
    ///
    /// # Errors
    /// [`ErrorKind::Symlink`], [`ErrorKind::NotRegularFile`],
    /// [`ErrorKind::AlreadyExists`] (with `no_replace`),
    /// [`ErrorKind::InsecureDirectory`] (either parent not private),
    /// not-found and I/O errors.
    pub fn rename(&self, from: impl AsRef<Path>, to: impl AsRef<Path>, no_replace: bool) -> Result<()> {
        const OP: &str = "rename";
        let from = self.rel_file(OP, from.as_ref())?;
        let to = self.rel_file(OP, to.as_ref())?;
        let from_shown = self.shown(&from);
        let to_shown = self.shown(&to);
        let (from_dir, from_name) = self.open_parent_checked(OP, &from_shown, &from)?;
        let (to_dir, to_name) = self.open_parent_checked(OP, &to_shown, &to)?;

        let from_kind = match kind_at(from_dir.as_fd(), from_name) {
            Ok(Some(k)) => k,
            Ok(None) => return Err(Error::from_errno(OP, &from_shown, Errno::NOENT)),
            Err(e) => return Err(Error::from_errno(OP, &from_shown, e)),
        };
        if from_kind == FileKind::Symlink {
            return Err(Error::symlink(OP, &from_shown));
        }
        match kind_at(to_dir.as_fd(), to_name).map_err(|e| Error::from_errno(OP, &to_shown, e))? {
            None | Some(FileKind::File) => {}
            Some(FileKind::Dir) if from_kind == FileKind::Dir => {}
            Some(FileKind::Symlink) => return Err(Error::symlink(OP, &to_shown)),
            Some(other) => return Err(Error::not_regular(OP, &to_shown, other.noun())),
        }
        let flags = if no_replace { RenameFlags::NOREPLACE } else { RenameFlags::empty() };
        rustix::fs::renameat_with(&from_dir, from_name, &to_dir, to_name, flags).map_err(|e| match e {
            Errno::EXIST if no_replace => {
                Error::new(ErrorKind::AlreadyExists, OP, &to_shown, "the target exists and --no-replace was given")
            }
            e => Error::from_errno(OP, &to_shown, e),
        })
    }
}

fn kind_at(dir: BorrowedFd<'_>, name: &OsStr) -> rustix::io::Result<Option<FileKind>> {
    match rustix::fs::statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(Some(FileKind::from_file_type(FileType::from_raw_mode(st.st_mode)))),
        Err(Errno::NOENT) => Ok(None),
        Err(e) => Err(e),
    }
}
