//! `metadata`: what an entry beneath a root is, without following it.

use std::path::Path;
use std::time::{Duration, SystemTime};

use rustix::fs::{AtFlags, FileType, Stat};

use crate::error::{Error, Result};
use crate::resolve;
use crate::root::Root;

/// The type of a directory entry.
#[non_exhaustive]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum FileKind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link (never followed beneath a root).
    Symlink,
    /// A named pipe.
    Fifo,
    /// A Unix domain socket.
    Socket,
    /// A character device.
    CharDevice,
    /// A block device.
    BlockDevice,
    /// Something else.
    Unknown,
}

impl FileKind {
    pub(crate) fn from_file_type(t: FileType) -> Self {
        match t {
            FileType::RegularFile => Self::File,
            FileType::Directory => Self::Dir,
            FileType::Symlink => Self::Symlink,
            FileType::Fifo => Self::Fifo,
            FileType::Socket => Self::Socket,
            FileType::CharacterDevice => Self::CharDevice,
            FileType::BlockDevice => Self::BlockDevice,
            _ => Self::Unknown,
        }
    }

    /// A short name: `file`, `dir`, `symlink`, `fifo`, `socket`,
    /// `char-device`, `block-device`, `unknown`.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::File => "file",
            Self::Dir => "dir",
            Self::Symlink => "symlink",
            Self::Fifo => "fifo",
            Self::Socket => "socket",
            Self::CharDevice => "char-device",
            Self::BlockDevice => "block-device",
            Self::Unknown => "unknown",
        }
    }

    /// A phrase for messages ("a FIFO", "a directory", ...).
    pub(crate) fn noun(self) -> &'static str {
        match self {
            Self::File => "regular file",
            Self::Dir => "directory",
            Self::Symlink => "symbolic link",
            Self::Fifo => "FIFO (named pipe)",
            Self::Socket => "socket",
            Self::CharDevice => "character device",
            Self::BlockDevice => "block device",
            Self::Unknown => "file of unknown type",
        }
    }
}

/// Metadata of an entry, as `lstat` sees it (links are not followed).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Metadata {
    /// The entry's type.
    pub kind: FileKind,
    /// Permission bits including setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    /// Owner uid.
    pub uid: u32,
    /// Owner gid.
    pub gid: u32,
    /// Size in bytes.
    pub size: u64,
    /// Number of hard links.
    pub nlink: u64,
    /// Device and inode: the identity of the entry.
    pub dev: u64,
    /// Inode number.
    pub ino: u64,
    /// Last modification time.
    pub modified: SystemTime,
}

impl Metadata {
    pub(crate) fn from_stat(st: &Stat) -> Self {
        let modified = if st.st_mtime >= 0 {
            SystemTime::UNIX_EPOCH + Duration::new(st.st_mtime as u64, st.st_mtime_nsec as u32)
        } else {
            SystemTime::UNIX_EPOCH
        };
        Self {
            kind: FileKind::from_file_type(FileType::from_raw_mode(st.st_mode)),
            mode: crate::sys::mode_of(st),
            uid: st.st_uid,
            gid: st.st_gid,
            size: st.st_size as u64,
            nlink: crate::sys::nlink_of(st),
            dev: crate::sys::dev_of(st),
            ino: st.st_ino,
            modified,
        }
    }
}

impl Root {
    /// The metadata of `rel` (the root itself for `.`), without following a
    /// symlink at the final component.
    ///
    /// # Errors
    /// [`ErrorKind::Symlink`](crate::ErrorKind::Symlink) for a link *on the
    /// way* (a link at the final component is reported as
    /// [`FileKind::Symlink`], not followed — unless the path ends in a slash,
    /// which names a directory: then a link is refused and a non-directory is
    /// [`ErrorKind::NotADirectory`](crate::ErrorKind::NotADirectory));
    /// not-found and I/O errors.
    pub fn metadata(&self, rel: impl AsRef<Path>) -> Result<Metadata> {
        const OP: &str = "stat";
        let rel = self.rel(OP, rel.as_ref())?;
        let shown = self.shown(&rel);
        if rel.is_root() {
            let st = rustix::fs::fstat(&self.fd).map_err(|e| Error::from_errno(OP, &shown, e))?;
            return Ok(Metadata::from_stat(&st));
        }
        let (dir, name) = resolve::open_parent(self.resolver(), OP, &shown, self.as_fd(), rel.components())?;
        let st =
            rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).map_err(|e| Error::from_errno(OP, &shown, e))?;
        let meta = Metadata::from_stat(&st);
        // A trailing slash names a directory (as for `list`, `mkdir_all` and
        // `remove`): a file there is not one, and a link there would have to
        // be followed to reach one.
        if rel.has_trailing_slash() {
            match meta.kind {
                FileKind::Dir => {}
                FileKind::Symlink => return Err(Error::symlink(OP, &shown)),
                _ => return Err(Error::from_errno(OP, &shown, rustix::io::Errno::NOTDIR)),
            }
        }
        Ok(meta)
    }
}
