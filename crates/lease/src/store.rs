//! Where records live: the [`Store`] seam between the registry's
//! transactions (`txn.rs`) and the directory. The real store is a gw-anchor
//! [`Root`]; the loom model uses an in-memory store with the same
//! operation granularity (identity check and removal are two steps, as
//! `fstatat` and `unlinkat` are).

use std::ffi::OsString;

use gw_anchor::{Durability, FileKind, Root, WriteOptions};

use crate::error::Result;
use crate::record::MAX_RECORD_BYTES;

/// The identity of a stored file version (device and inode for the
/// directory store): a rewrite gets a new one.
pub(crate) type Ident = (u64, u64);

/// The operations the registry's transactions need.
pub(crate) trait Store {
    /// Every entry, with its type as the directory reports it (no link followed).
    fn entries(&self) -> Result<Vec<(OsString, FileKind)>>;
    /// The bytes of the regular file `name` and their identity; refused
    /// (`Fs(InsecureFile)`) if another user owns it or can write it.
    fn read(&self, name: &str) -> Result<(Vec<u8>, Ident)>;
    /// Replaces (or creates) `name` atomically.
    fn write(&self, name: &str, bytes: &[u8]) -> Result<()>;
    /// The identity of `name` if it is a regular file; `None` if it is
    /// absent or something else.
    fn identity(&self, name: &str) -> Result<Option<Ident>>;
    /// Removes `name`; `false` if it was already gone.
    fn remove(&self, name: &str) -> Result<bool>;
}

/// A registry directory.
#[derive(Debug)]
pub(crate) struct FsStore<'a> {
    pub(crate) root: &'a Root,
}

fn not_found(e: &gw_anchor::Error) -> bool {
    e.kind() == gw_anchor::ErrorKind::NotFound
}

impl Store for FsStore<'_> {
    fn entries(&self) -> Result<Vec<(OsString, FileKind)>> {
        Ok(self.root.list(".")?.into_iter().map(|e| (e.name, e.kind)).collect())
    }

    fn read(&self, name: &str) -> Result<(Vec<u8>, Ident)> {
        // A record names the process taken for a port's owner: one that
        // another user owns or can write is refused (THREATS FS-9).
        let (bytes, meta) = self.root.read_trusted(name, MAX_RECORD_BYTES)?;
        Ok((bytes, (meta.dev, meta.ino)))
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        // Atomic (a reader sees the old record or the new one, a crash
        // leaves one of them) but not fsynced: a record only means something
        // until the next boot (its boot id), and a power loss ends that boot,
        // so durability would buy nothing and cost a disk flush per register.
        let opts = WriteOptions::new().mode(0o600).durability(Durability::NoSync);
        Ok(self.root.write_atomic(name, bytes, &opts)?)
    }

    fn identity(&self, name: &str) -> Result<Option<Ident>> {
        match self.root.metadata(name) {
            Ok(m) if m.kind == FileKind::File => Ok(Some((m.dev, m.ino))),
            Ok(_) => Ok(None),
            Err(e) if not_found(&e) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    fn remove(&self, name: &str) -> Result<bool> {
        match self.root.remove(name) {
            Ok(()) => Ok(true),
            Err(e) if not_found(&e) => Ok(false),
            Err(e) => Err(e.into()),
        }
    }
}

/// An in-memory store for the loom model.
#[cfg(loom)]
#[derive(Debug, Default)]
pub(crate) struct MemStore {
    files: crate::sync::Mutex<(u64, std::collections::BTreeMap<String, (Vec<u8>, u64)>)>,
}

#[cfg(loom)]
impl MemStore {
    pub(crate) fn snapshot(&self) -> std::collections::BTreeMap<String, Vec<u8>> {
        self.files.lock().unwrap().1.iter().map(|(k, v)| (k.clone(), v.0.clone())).collect()
    }
}

#[cfg(loom)]
impl Store for MemStore {
    fn entries(&self) -> Result<Vec<(OsString, FileKind)>> {
        Ok(self.files.lock().unwrap().1.keys().map(|k| (OsString::from(k), FileKind::File)).collect())
    }

    fn read(&self, name: &str) -> Result<(Vec<u8>, Ident)> {
        let g = self.files.lock().unwrap();
        match g.1.get(name) {
            Some((b, gen_)) => Ok((b.clone(), (0, *gen_))),
            None => Err(crate::error::Error::new(
                crate::error::ErrorKind::Fs(gw_anchor::ErrorKind::NotFound),
                "read",
                name,
                "no such file",
            )),
        }
    }

    fn write(&self, name: &str, bytes: &[u8]) -> Result<()> {
        let mut g = self.files.lock().unwrap();
        g.0 += 1;
        let gen_ = g.0;
        g.1.insert(name.to_owned(), (bytes.to_vec(), gen_));
        Ok(())
    }

    fn identity(&self, name: &str) -> Result<Option<Ident>> {
        Ok(self.files.lock().unwrap().1.get(name).map(|(_, g)| (0, *g)))
    }

    fn remove(&self, name: &str) -> Result<bool> {
        Ok(self.files.lock().unwrap().1.remove(name).is_some())
    }
}
