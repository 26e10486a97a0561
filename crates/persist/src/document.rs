//! [`Document`]: a typed JSON or plist file beneath a gw-anchor [`Root`]:
//! strict load, atomic save, and locked read-modify-write with an optional
//! generation counter.

use std::path::{Path, PathBuf};
use std::time::Duration;

use gw_anchor::{Durability, Root, WriteOptions};
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};
use crate::format::Format;
use crate::json::JsonStyle;
use crate::limits::Limits;
use crate::lock::{FileLock, LockError};
use crate::pointer;

/// A document: a file beneath a root, with a format, a mode and limits.
///
/// ```no_run
/// # fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use gw_anchor::{Policy, Root};
/// use gw_persist::Document;
/// let root = Root::open("/home/me/.gw", &Policy::new())?;
/// let doc = Document::new(&root, "profiles/default.json");
/// let next = doc.update_value(|cur| {
///     let mut v = cur.unwrap_or_else(|| serde_json::json!({"count": 0}));
///     v["count"] = (v["count"].as_u64().unwrap_or(0) + 1).into();
///     Ok::<_, gw_persist::Error>(v)
/// })?;
/// # let _ = next; Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct Document<'r> {
    root: &'r Root,
    rel: PathBuf,
    format: Format,
    mode: u32,
    limits: Limits,
    durability: Durability,
    lock_timeout: Duration,
    generation: Option<String>,
}

impl<'r> Document<'r> {
    /// The document `rel` beneath `root`: plist if it ends in `.plist`, else
    /// JSON; mode 0600; default [`Limits`]; durable writes; 10 s lock timeout.
    pub fn new(root: &'r Root, rel: impl Into<PathBuf>) -> Self {
        let rel = rel.into();
        Self {
            format: Format::from_path(&rel),
            root,
            rel,
            mode: 0o600,
            limits: Limits::default(),
            durability: Durability::Sync,
            lock_timeout: Duration::from_secs(10),
            generation: None,
        }
    }

    /// Overrides the format chosen from the extension.
    pub fn with_format(mut self, format: Format) -> Self {
        self.format = format;
        self
    }
    /// The file mode written (default 0600).
    pub fn mode(mut self, mode: u32) -> Self {
        self.mode = mode;
        self
    }
    /// The parsing limits.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }
    /// Durable (fsync) or not.
    pub fn durability(mut self, durability: Durability) -> Self {
        self.durability = durability;
        self
    }
    /// How long `update` waits for the lock.
    pub fn lock_timeout(mut self, timeout: Duration) -> Self {
        self.lock_timeout = timeout;
        self
    }
    /// Keeps a generation counter at the JSON pointer `field` (an unsigned
    /// integer, absent = 0): every `update` increments it, and
    /// [`Document::update_if_generation`] refuses to write over a document
    /// whose generation moved on.
    pub fn generation_field(mut self, field: impl Into<String>) -> Self {
        self.generation = Some(field.into());
        self
    }

    /// The document's format.
    pub fn format(&self) -> Format {
        self.format
    }

    /// The full path, for messages.
    pub fn path(&self) -> PathBuf {
        self.root.path().join(&self.rel)
    }

    /// Re-verifies the root's directory chain now: call it right before
    /// handing the file to another program (THREATS FS-8).
    ///
    /// # Errors
    /// As [`Root::verify`].
    pub fn verify(&self) -> Result<()> {
        self.root.verify().map_err(Error::from)
    }

    /// Loads and strictly parses the document. `Ok(None)` **only** when the
    /// file does not exist.
    ///
    /// # Errors
    /// Every other failure, as it is: refusals (symlink, FIFO, insecure
    /// directory, a document others can write — [`ErrorKind::InsecureFile`]),
    /// I/O and permission errors, and parse errors with the line and column.
    ///
    /// # Security
    /// THREATS FS-7 (errors are never mistaken for "missing"), CLI-2, FS-5
    /// (the document's directory must be one only the caller can change, and
    /// the document writable by the caller alone).
    pub fn load_value(&self) -> Result<Option<Value>> {
        Ok(self.load_styled()?.map(|(v, _)| v))
    }

    /// [`Document::load_value`], with the layout of the JSON as read (an
    /// update writes it back the same way).
    fn load_styled(&self) -> Result<Option<(Value, JsonStyle)>> {
        let path = self.path();
        let Some(bytes) = self.read_trusted(&path)? else { return Ok(None) };
        let value = self.format.parse(&bytes, &self.limits).map_err(|e| e.relabel("load", &path))?;
        Ok(Some((value, JsonStyle::detect(&bytes))))
    }

    /// The document's bytes, read from its directory opened (and checked, as
    /// gw-anchor checks directories it changes) as a root of its own, with
    /// gw-anchor's rule for files gw trusts ([`Root::read_trusted`]: the
    /// owner and mode of the very descriptor read). `None` only for not-found.
    /// The bytes are wiped when dropped (a document may hold secrets).
    fn read_trusted(&self, path: &Path) -> Result<Option<Zeroizing<Vec<u8>>>> {
        let anchor = |e: gw_anchor::Error| match e.kind() {
            gw_anchor::ErrorKind::NotFound => Ok(None),
            gw_anchor::ErrorKind::TooLarge => {
                Err(Error::new(ErrorKind::TooLarge, "load", path, e.message().to_owned()))
            }
            _ => Err(e.into()),
        };
        let (dir, name) = match (self.rel.parent(), self.rel.file_name()) {
            // A path ending in `/`, `.` or `..` has no file name once split
            // here: let gw-anchor's path validation report it.
            (_, None) => {
                return self
                    .root
                    .read(&self.rel, self.limits.max_bytes)
                    .map(|b| Some(Zeroizing::new(b)))
                    .or_else(anchor);
            }
            _ if self.rel.as_os_str().as_encoded_bytes().ends_with(b"/") => {
                return self
                    .root
                    .read(&self.rel, self.limits.max_bytes)
                    .map(|b| Some(Zeroizing::new(b)))
                    .or_else(anchor);
            }
            (parent, Some(name)) => {
                let parent = parent.filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
                match self.root.open_dir(parent) {
                    Ok(dir) => (dir, name),
                    Err(e) => return anchor(e),
                }
            }
        };
        // The owner and mode rule is gw-anchor's (THREATS FS-9), checked on
        // the descriptor that was read.
        let bytes = match dir.read_trusted(name, self.limits.max_bytes) {
            Ok((b, _)) => b,
            Err(e) if e.kind() == gw_anchor::ErrorKind::InsecureFile => {
                let fix = e.fix().unwrap_or_default().to_owned();
                return Err(Error::new(ErrorKind::InsecureFile, "load", path, e.message().to_owned())
                    .with_fix(format!("{fix}; or save a new document over it")));
            }
            Err(e) => return anchor(e),
        };
        Ok(Some(Zeroizing::new(bytes)))
    }

    /// Loads the document as `T`.
    ///
    /// # Errors
    /// As [`Document::load_value`], plus [`ErrorKind::Type`] if the document
    /// does not match `T`.
    pub fn load<T: DeserializeOwned>(&self) -> Result<Option<T>> {
        self.load_value()?.map(|v| self.decode(v)).transpose()
    }

    /// Atomically replaces the document with `value` (gw-anchor's protocol:
    /// unpredictable temp, final mode, fsync, rename, fsync directory) — if
    /// [`Document::load_value`] would read the result back: the bytes
    /// rendered are checked against the document's [`Limits`] (the ones its
    /// loads use) first, and a refused save leaves the file as it was.
    ///
    /// # Errors
    /// Serialization errors (e.g. `null` in a plist); [`ErrorKind::TooLarge`]
    /// / [`ErrorKind::TooDeep`] when the result as written would exceed the
    /// limits (the message names the size or depth and the limit); and
    /// gw-anchor's errors.
    ///
    /// # Security
    /// THREATS FS-1, FS-3, FS-4 (through gw-anchor); DOC-3 (nothing is saved
    /// that the loader refuses: [`Format::render_within`]).
    pub fn save_value(&self, value: &Value) -> Result<()> {
        self.save_styled(value, JsonStyle::default())
    }

    fn save_styled(&self, value: &Value, style: JsonStyle) -> Result<()> {
        // Wiped once written (a document may hold secrets).
        let bytes = Zeroizing::new(
            self.format
                .render_within_styled(value, style, &self.limits)
                .map_err(|e| e.relabel("save", &self.path()))?,
        );
        let opts = WriteOptions::new().mode(self.mode).durability(self.durability);
        self.root.write_atomic(&self.rel, &bytes, &opts)?;
        Ok(())
    }

    /// Saves `doc` (serialized through a JSON value, so what is written is
    /// exactly what [`Document::load`] reads back: no duplicate keys, no
    /// non-finite numbers).
    ///
    /// # Errors
    /// As [`Document::save_value`], plus [`ErrorKind::Type`].
    pub fn save<T: Serialize>(&self, doc: &T) -> Result<()> {
        let value = self.encode(doc)?;
        self.save_value(&value)
    }

    /// Read-modify-write under an exclusive [`FileLock`] on `.NAME.lock`
    /// beside the document (threads of this process queue in-process, then
    /// the file is `flock`ed against other processes); the current document
    /// is loaded, `f` computes the new one, which is written atomically
    /// before the lock is released. With a generation field, it is
    /// incremented. Returns the document written.
    ///
    /// `f` fails with its own error type `E` (the caller's, e.g. a
    /// `gw_cred::Error`), which this call returns as it is; this crate's own
    /// errors reach the caller through `E: From<Error>`.
    ///
    /// # Errors
    /// Lock timeout, load and save errors, and whatever `f` returns (then
    /// nothing is written).
    pub fn update_value<E: From<Error>>(
        &self,
        f: impl FnOnce(Option<Value>) -> std::result::Result<Value, E>,
    ) -> std::result::Result<Value, E> {
        self.locked_update(None, f)
    }

    /// [`Document::update_value`], but only if the document's generation is
    /// `expected` (compare-and-swap).
    ///
    /// # Errors
    /// [`ErrorKind::Conflict`] when the generation differs (nothing is
    /// written); [`ErrorKind::InvalidSpec`] if no generation field was set.
    pub fn update_if_generation<E: From<Error>>(
        &self,
        expected: u64,
        f: impl FnOnce(Option<Value>) -> std::result::Result<Value, E>,
    ) -> std::result::Result<Value, E> {
        if self.generation.is_none() {
            return Err(Error::new(
                ErrorKind::InvalidSpec,
                "update",
                self.path(),
                "compare-and-swap needs a generation field (Document::generation_field)",
            )
            .into());
        }
        self.locked_update(Some(expected), f)
    }

    /// Typed [`Document::update_value`].
    ///
    /// # Errors
    /// As [`Document::update_value`], plus [`ErrorKind::Type`].
    pub fn update<T: Serialize + DeserializeOwned>(&self, f: impl FnOnce(Option<T>) -> Result<T>) -> Result<T> {
        let written = self.locked_update(None, |cur| {
            let cur = cur.map(|v| self.decode(v)).transpose()?;
            self.encode(&f(cur)?)
        })?;
        self.decode(written)
    }

    /// The current generation (0 when the document or the field is absent).
    ///
    /// # Errors
    /// As [`Document::load_value`]; [`ErrorKind::Type`] if the field is not
    /// an unsigned integer.
    pub fn generation(&self) -> Result<u64> {
        match self.load_value()? {
            Some(v) => self.generation_of(&v),
            None => Ok(0),
        }
    }

    fn generation_of(&self, v: &Value) -> Result<u64> {
        let Some(field) = &self.generation else { return Ok(0) };
        match v.pointer(field) {
            None => Ok(0),
            Some(g) => g.as_u64().ok_or_else(|| {
                Error::new(
                    ErrorKind::Type,
                    "update",
                    self.path(),
                    format!("generation `{field}` is not an unsigned integer"),
                )
            }),
        }
    }

    fn locked_update<E: From<Error>>(
        &self,
        expected: Option<u64>,
        f: impl FnOnce(Option<Value>) -> std::result::Result<Value, E>,
    ) -> std::result::Result<Value, E> {
        let path = self.path();
        // Refuse a target that can never be a document (a symlink, FIFO,
        // directory...) before the lock file is created, so refused input
        // leaves nothing behind. The load under the lock checks again.
        match self.root.metadata(&self.rel) {
            Ok(m) if m.kind == gw_anchor::FileKind::File => {}
            Ok(_) => {
                self.load_value()?;
            }
            Err(e) if e.kind() == gw_anchor::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::from(e).into()),
        }
        let _lock = FileLock::acquire(self.root, self.lock_rel()?, self.lock_timeout).map_err(|e| match e {
            LockError::Threads { timeout, .. } => Error::new(
                ErrorKind::Fs(gw_anchor::ErrorKind::LockTimeout),
                "update",
                &path,
                format!("another thread held the document for longer than {timeout:?}"),
            ),
            LockError::Fs(e) => Error::from(e),
        })?;
        // The document is written back laid out as it was (indentation,
        // compact or not, trailing newline), so an edit changes only itself.
        let (current, style) = match self.load_styled()? {
            Some((v, style)) => (Some(v), style),
            None => (None, JsonStyle::default()),
        };
        let current_gen = current.as_ref().map(|v| self.generation_of(v)).transpose()?.unwrap_or(0);
        if let Some(want) = expected
            && want != current_gen
        {
            return Err(Error::new(
                ErrorKind::Conflict,
                "update",
                &path,
                format!("the document is at generation {current_gen}, not {want}: another writer updated it"),
            )
            .with_fix("reload the document and apply the change again")
            .into());
        }
        let mut next = f(current)?;
        let saved = match &self.generation {
            Some(field) => pointer::set(&mut next, field, Value::from(current_gen + 1))
                .map_err(|e| e.relabel("update", &path))
                .and_then(|()| self.save_styled(&next, style)),
            None => self.save_styled(&next, style),
        };
        if let Err(e) = saved {
            // Not handed back: wiped here, as the caller wipes what is
            // returned when it held secrets.
            crate::wipe::zeroize_strings(&mut next);
            return Err(e.into());
        }
        Ok(next)
    }

    /// `.NAME.lock` beside the document.
    fn lock_rel(&self) -> Result<PathBuf> {
        let name = self.rel.file_name().ok_or_else(|| {
            Error::new(ErrorKind::Fs(gw_anchor::ErrorKind::InvalidPath), "update", self.path(), "no file name")
        })?;
        let mut lock_name = std::ffi::OsString::from(".");
        lock_name.push(name);
        lock_name.push(".lock");
        Ok(self.rel.parent().unwrap_or(Path::new("")).join(lock_name))
    }

    fn decode<T: DeserializeOwned>(&self, v: Value) -> Result<T> {
        serde_json::from_value(v).map_err(|e| {
            Error::new(
                ErrorKind::Type,
                "load",
                self.path(),
                format!("the document does not have the expected shape: {e}"),
            )
        })
    }

    fn encode<T: Serialize>(&self, doc: &T) -> Result<Value> {
        serde_json::to_value(doc).map_err(|e| {
            Error::new(ErrorKind::Type, "save", self.path(), format!("cannot serialize the document: {e}"))
        })
    }
}
