//! `read`: the content of a regular file beneath a root, up to a limit.

use std::io::Read;
use std::path::Path;

use rustix::fs::{AtFlags, FileType, OFlags};
use rustix::io::Errno;

use crate::error::{Error, ErrorKind, Result};
use crate::metadata::FileKind;
use crate::path::RelPath;
use crate::resolve;
use crate::root::Root;

impl Root {
    /// Reads the regular file `rel`, refusing anything over `max_bytes`.
    ///
    /// The file is opened with `O_NOFOLLOW | O_NONBLOCK | O_NOCTTY`, so a
    /// FIFO planted at the target cannot block the caller; its type is then
    /// checked on the open descriptor, and anything but a regular file is
    /// refused.
    ///
    /// # Errors
    /// [`ErrorKind::Symlink`] (a link anywhere on the path, THREATS FS-1/FS-2),
    /// [`ErrorKind::NotRegularFile`] (FIFO, socket, device, directory),
    /// [`ErrorKind::TooLarge`], [`ErrorKind::NotFound`] (only for `ENOENT`,
    /// FS-7), and I/O errors.
    pub fn read(&self, rel: impl AsRef<Path>, max_bytes: u64) -> Result<Vec<u8>> {
        self.read_with_metadata(rel, max_bytes).map(|(bytes, _)| bytes)
    }

    /// [`Root::read`], also returning the metadata of the file that was read
    /// (from `fstat` on the open descriptor, so it describes exactly the file
    /// whose bytes were returned: no window between a check and the read).
    ///
    /// # Errors
    /// As [`Root::read`].
    ///
    /// # Security
    /// Lets callers check the owner and mode of a secret file race-free
    /// (like ssh refusing an unprotected key).
    pub fn read_with_metadata(&self, rel: impl AsRef<Path>, max_bytes: u64) -> Result<(Vec<u8>, crate::Metadata)> {
        const OP: &str = "read";
        let rel = self.rel_file(OP, rel.as_ref())?;
        let shown = self.shown(&rel);
        let flags = OFlags::RDONLY | OFlags::NONBLOCK | OFlags::NOCTTY;
        let fd = match self.open_beneath(OP, &shown, &rel, flags) {
            Ok(fd) => fd,
            // Opening a socket file fails with ENXIO: say what is there.
            Err(e) if e.raw_os_error() == Some(Errno::NXIO.raw_os_error()) => {
                return Err(self.not_regular_at(OP, &shown, &rel).unwrap_or(e));
            }
            Err(e) => return Err(e),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| Error::from_errno(OP, &shown, e))?;
        let kind = FileKind::from_file_type(FileType::from_raw_mode(st.st_mode));
        if kind != FileKind::File {
            return Err(Error::not_regular(OP, &shown, kind.noun()));
        }
        if st.st_size as u64 > max_bytes {
            return Err(too_large(OP, &shown, st.st_size as u64, max_bytes));
        }
        let mut out = Vec::with_capacity(st.st_size as usize);
        let mut file = std::fs::File::from(fd);
        file.by_ref()
            .take(max_bytes.saturating_add(1))
            .read_to_end(&mut out)
            .map_err(|e| Error::new(ErrorKind::Io, OP, &shown, e.to_string()))?;
        if out.len() as u64 > max_bytes {
            return Err(too_large(OP, &shown, out.len() as u64, max_bytes));
        }
        Ok((out, crate::Metadata::from_stat(&st)))
    }

    /// [`Root::read_with_metadata`] for a file whose content decides what gw
    /// trusts — who gets a secret (a pidfile, a lease record naming a port's
    /// owner, a shared token), what a document says: the file must also be
    /// owned by the caller or by root and not writable by group/other. The
    /// owner and mode checked are those of the descriptor whose bytes are
    /// returned (`fstat`), so nothing can be swapped in between.
    ///
    /// # Errors
    /// [`ErrorKind::InsecureFile`] (naming the owner, the mode and the fix);
    /// the errors of [`Root::read`].
    ///
    /// # Security
    /// THREATS FS-9: a verified directory chain does not protect a file that
    /// others can write (a 0666 pidfile in a root-owned 0755 directory) or
    /// that another user owns (its owner can rewrite it, or widen its mode,
    /// at will): anyone could have written its content.
    pub fn read_trusted(&self, rel: impl AsRef<Path>, max_bytes: u64) -> Result<(Vec<u8>, crate::Metadata)> {
        let rel = rel.as_ref();
        let (bytes, meta) = self.read_with_metadata(rel, max_bytes)?;
        if let Some(why) = self.policy.trusted_file_problem(meta.uid, meta.mode) {
            return Err(insecure_file(&self.path.join(rel), &why, &meta, self.policy.uid()));
        }
        Ok((bytes, meta))
    }

    /// If the final component of `rel` is not a regular file, the refusal
    /// that says what it is.
    fn not_regular_at(&self, op: &'static str, shown: &Path, rel: &RelPath) -> Option<Error> {
        let (dir, name) = resolve::open_parent(self.resolver(), op, shown, self.as_fd(), rel.components()).ok()?;
        let st = rustix::fs::statat(&dir, name, AtFlags::SYMLINK_NOFOLLOW).ok()?;
        let kind = FileKind::from_file_type(FileType::from_raw_mode(st.st_mode));
        (kind != FileKind::File).then(|| Error::not_regular(op, shown, kind.noun()))
    }
}

#[cold]
fn insecure_file(shown: &Path, why: &str, meta: &crate::Metadata, me: u32) -> Error {
    let p = shown.display();
    let mut fix = Vec::new();
    if meta.uid != me && meta.uid != 0 {
        fix.push(format!("`chown {me} {p}`"));
    }
    if meta.mode & 0o022 != 0 {
        fix.push(format!("`chmod go-w {p}`"));
    }
    Error::new(
        ErrorKind::InsecureFile,
        "read",
        shown,
        format!(
            "refused: the file {why} (owner uid {}, mode {:04o}), so anyone could have written its content",
            meta.uid, meta.mode
        ),
    )
    .with_fix(format!("check its content, then {} (or remove it and let its writer recreate it)", fix.join(" and ")))
}

#[cold]
fn too_large(op: &'static str, shown: &Path, size: u64, max: u64) -> Error {
    Error::new(ErrorKind::TooLarge, op, shown, format!("the file is {size} bytes or more; the limit is {max}"))
        .with_fix("raise the limit if the file is expected to be this large")
}
