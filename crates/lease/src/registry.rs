//! [`Registry`]: an anchored directory of records, and the lock every
//! change is made under; [`Registration`] and the [`LeaseGuard`] it returns.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use gw_anchor::{Policy, Root};
use gw_persist::{FileLock, LockError};
use serde_json::Value;

use crate::error::{Error, ErrorKind, Result};
use crate::judge::{Context, Judgement, RemoveReason, Status, judge};
use crate::oracle::{ProcOracle, ProcessOracle, SystemWallClock, WallClock};
use crate::record::{self, FORMAT_VERSION, Record};
use crate::store::Store;
use crate::txn::{self, LOCK_FILE, Listed, Listing, PruneReport};

/// How long an operation waits for another holder of the registry lock:
/// at most this long for other threads of this process, then at most this
/// long for the `flock` of another process ([`gw_persist::FileLock`]).
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(30);

/// A registry: an anchored directory of `<id>.json` records.
///
/// Cheap to clone (shared inside); `Send + Sync`. Every change (register,
/// prune, release, renew) is made under the registry lock, a
/// [`gw_persist::FileLock`] on `DIR/.lock`: threads of this process (through
/// any `Registry` on this directory) queue in-process instead of polling
/// `flock`, then an exclusive `flock` excludes other processes.
#[derive(Debug, Clone)]
pub struct Registry {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    root: Root,
    oracle: Arc<dyn ProcessOracle>,
    clock: Arc<dyn WallClock>,
}

impl Registry {
    /// Opens the registry at `path` with the default [`Policy`], creating
    /// the directory (mode 0700, parents too) if it is missing, and judging
    /// processes through `/proc` with the system clock. For a registrar;
    /// readers use [`Registry::open_existing`], which never creates.
    ///
    /// # Errors
    /// The refusals of [`Root::open_or_create`] (kind [`ErrorKind::Fs`]): a
    /// directory on the way, or the registry itself, owned by another user
    /// or writable by group/other (`InsecureDirectory`), a symlink on the
    /// way (`Symlink`: nothing is created through it), ...
    ///
    /// # Security
    /// THREATS FS-5 through gw-anchor: an insecure registry is refused;
    /// FS-10: the directory is created beneath its verified nearest existing
    /// ancestor, never through a symlink.
    pub fn open(path: impl AsRef<Path>) -> Result<Self> {
        Self::open_with(path, &Policy::new())
    }

    /// [`Registry::open`] with a chosen policy.
    ///
    /// # Errors
    /// As [`Registry::open`].
    pub fn open_with(path: impl AsRef<Path>, policy: &Policy) -> Result<Self> {
        Ok(Self::from_root(Root::open_or_create(path, 0o700, policy)?))
    }

    /// Opens the existing registry at `path`; never creates anything (for
    /// listing, pruning and reading a record).
    ///
    /// # Errors
    /// `ErrorKind::Fs(NotFound)` if the directory does not exist (with the
    /// fix); the refusals of [`Root::open`].
    ///
    /// # Security
    /// THREATS FS-10 (a read-only operation creates nothing), FS-5.
    pub fn open_existing(path: impl AsRef<Path>, policy: &Policy) -> Result<Self> {
        let path = path.as_ref();
        match Root::open(path, policy) {
            Ok(root) => Ok(Self::from_root(root)),
            Err(e) if e.kind() == gw_anchor::ErrorKind::NotFound => Err(Error::new(
                ErrorKind::Fs(e.kind()),
                "open registry",
                path,
                format!("no lease registry here ({}: {})", e.path().display(), e.message()),
            )
            .with_fix("check the path; `gw lease register DIR --id ID` creates a registry")),
            Err(e) => Err(e.into()),
        }
    }

    /// A registry over an open root, with the real oracle and clock.
    pub fn from_root(root: Root) -> Self {
        Self::from_parts(root, Arc::new(ProcOracle), Arc::new(SystemWallClock))
    }

    /// A registry over an open root, with an injected process oracle and
    /// clock (tests run the registry without real processes this way).
    pub fn from_parts(root: Root, oracle: Arc<dyn ProcessOracle>, clock: Arc<dyn WallClock>) -> Self {
        Self { inner: Arc::new(Inner { root, oracle, clock }) }
    }

    /// The registry directory.
    pub fn path(&self) -> &Path {
        self.inner.root.path()
    }

    /// The directory handle.
    pub fn root(&self) -> &Root {
        &self.inner.root
    }

    fn context(&self) -> Context {
        Context {
            now_unix_ms: self.inner.clock.now_unix_ms(),
            boot_id: self.inner.oracle.boot_id(),
            pid_namespace: self.inner.oracle.pid_namespace(),
            has_pid_namespaces: self.inner.oracle.has_pid_namespaces(),
        }
    }

    /// Runs `f` under the registry lock (each half waits at most
    /// [`LOCK_TIMEOUT`]).
    fn locked<T>(&self, f: impl FnOnce(&crate::store::FsStore<'_>) -> Result<T>) -> Result<T> {
        let _lock = FileLock::acquire(&self.inner.root, LOCK_FILE, LOCK_TIMEOUT).map_err(|e| match e {
            LockError::Fs(e) => Error::from(e),
            LockError::Threads { path, timeout } => Error::new(
                ErrorKind::Fs(gw_anchor::ErrorKind::LockTimeout),
                "lock",
                path,
                format!("another thread held the registry lock for longer than {timeout:?}"),
            ),
        })?;
        f(&crate::store::FsStore { root: &self.inner.root })
    }

    /// Registers a process: prunes the registry first (LEASE-1), then writes
    /// the record `<id>.json` atomically (mode 0600) and returns a guard
    /// that removes it when dropped, with the prune's report.
    ///
    /// The process is `registration`'s pid, or the calling process.
    ///
    /// # Errors
    /// [`ErrorKind::AlreadyRegistered`] if a kept record (another live
    /// process, or one that cannot be judged from here) holds the id — it is
    /// not overwritten; [`ErrorKind::Malformed`] if an unreadable entry
    /// holds the id's file name; [`ErrorKind::ProcessNotFound`] /
    /// [`ErrorKind::ProcessUnreadable`]; filesystem errors (lock timeout, ...).
    ///
    /// # Security
    /// LEASE-1 (prunes first), LEASE-2 (never overwrites a live record),
    /// LEASE-3 (records pid, start time, boot id), LEASE-5 (records the pid
    /// namespace).
    pub fn register(&self, registration: &Registration) -> Result<(LeaseGuard, PruneReport)> {
        let oracle = &self.inner.oracle;
        let pid = registration.pid.unwrap_or_else(|| oracle.current_pid());
        let identity = oracle.identify(pid).map_err(|e| e.relabel(format!("pid {pid}")))?;
        let ctx = self.context();
        let boot_id = ctx.boot_id.clone().ok_or_else(|| {
            Error::new(ErrorKind::ProcessUnreadable, "register", crate::oracle::BOOT_ID_SOURCE, "boot id unknown")
        })?;
        let record = Record {
            version: FORMAT_VERSION,
            id: registration.id.clone(),
            pid,
            start_time: identity.start_time,
            boot_id,
            pid_namespace: identity.pid_namespace,
            uid: identity.uid,
            port: registration.port,
            created_unix_ms: ctx.now_unix_ms,
            expires_unix_ms: registration.ttl.map(|t| ctx.now_unix_ms.saturating_add(t.as_millis() as u64)),
            nonce: record::new_nonce()?,
            payload: registration.payload.clone(),
        };
        let report = self.locked(|store| txn::register(store, &ctx, &|p| oracle.probe(p), &record))?;
        Ok((LeaseGuard { registry: self.clone(), record, armed: true }, report))
    }

    /// Every record with its verdict, and the entries that are not records.
    /// Changes nothing (no lock: records are replaced atomically).
    ///
    /// # Errors
    /// Filesystem errors listing the directory (a record that cannot be read
    /// is reported in [`Listing::skipped`], not an error).
    pub fn list(&self) -> Result<Listing> {
        let ctx = self.context();
        let store = crate::store::FsStore { root: &self.inner.root };
        let scanned = txn::scan(&store, &ctx, &|p| self.inner.oracle.probe(p))?;
        Ok(Listing { records: scanned.listed.into_iter().map(|(l, _)| l).collect(), skipped: scanned.skipped })
    }

    /// The records a prune would keep: live processes (LEASE-2, LEASE-4) and
    /// records that cannot be judged from here and have not expired (LEASE-5).
    ///
    /// # Errors
    /// As [`Registry::list`].
    pub fn list_live(&self) -> Result<Vec<Record>> {
        Ok(self
            .list()?
            .records
            .into_iter()
            .filter(|l| matches!(l.verdict, Judgement::Keep(_)))
            .map(|l| l.record)
            .collect())
    }

    /// Record `id` and the verdict on it, as [`Registry::list`] would give
    /// it: read without the lock (records are replaced atomically) and
    /// without following a symlink (gw-anchor); changes nothing.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidId`]; `ErrorKind::Fs(NotFound)` if no record has
    /// the id; [`ErrorKind::Malformed`] if the file is not a valid record of
    /// that id; gw-anchor's refusals (a symlink or other non-regular entry
    /// in the record's place, kind `Fs(..)`, a security refusal).
    pub fn get(&self, id: &str) -> Result<Listed> {
        record::check_id(id)?;
        let name = record::file_name(id);
        let at = self.path().join(&name);
        let store = crate::store::FsStore { root: &self.inner.root };
        let (bytes, _) = match store.read(&name) {
            Ok(x) => x,
            Err(e) if e.kind() == ErrorKind::Fs(gw_anchor::ErrorKind::NotFound) => {
                return Err(Error::new(e.kind(), "read lease", at, format!("no record with id `{id}`"))
                    .with_fix(format!("`gw lease list {}` shows the registered ids", self.path().display())));
            }
            Err(e) => return Err(e),
        };
        let record = parse_record_named(&bytes, id).map_err(|e| {
            Error::new(ErrorKind::Malformed, "read lease", &at, e.message().to_owned())
                .with_fix("inspect the file; `gw lease list` reports it, nothing removes it")
        })?;
        let verdict = judge(&record, &self.context(), |p| self.inner.oracle.probe(p));
        Ok(Listed { record, verdict })
    }

    /// The record `id` if it names a process running here now: same boot,
    /// same pid namespace, not expired, and its pid held by a process with
    /// the recorded start time (or one of another uid, `EPERM`, LEASE-4).
    /// Read-only, no lock ([`Registry::get`]).
    ///
    /// This is how a lease becomes an *expected owner* for gw-portguard:
    /// the caller passes the record's `pid` and `start_time` to
    /// `gw_portguard::Expected::new(pid).with_start_time(start_time)`, which
    /// pins the process and refuses it again if the pid is reused after this
    /// check. It lives here, and answers plain values, because judging a
    /// record (boot, namespace, expiry, start time) is gw-lease's job and
    /// proving a port is gw-portguard's: neither crate depends on the other,
    /// and the CLI composes them.
    ///
    /// # Errors
    /// Those of [`Registry::get`]; [`ErrorKind::NotRunning`] (gone, zombie,
    /// expired, pid reused — the fix names `gw lease prune`);
    /// [`ErrorKind::ForeignRecord`] (written in another boot or pid
    /// namespace: its pid cannot name a process here); [`ErrorKind::Unproven`]
    /// (nothing could be concluded). The last two are security refusals.
    ///
    /// # Security
    /// LEASE-3 (a reused pid, another boot), LEASE-5 (another namespace), and
    /// PORT-1 for its callers: a stale record never names the port's owner.
    pub fn live_owner(&self, id: &str) -> Result<Record> {
        let Listed { record, verdict } = self.get(id)?;
        let at = self.path().join(record::file_name(id));
        let pid = record.pid;
        let prune = format!(
            "`gw lease prune {}` removes the stale record; restart the process so it registers again",
            self.path().display()
        );
        let not_running = |msg: String| Error::new(ErrorKind::NotRunning, "read lease", &at, msg).with_fix(&prune);
        match verdict {
            Judgement::Keep(Status::Alive | Status::AliveNoPermission) => Ok(record),
            Judgement::Keep(Status::OtherPidNamespace) => Err(Error::new(
                ErrorKind::ForeignRecord,
                "read lease",
                &at,
                match record.pid_namespace {
                    Some(ns) => format!(
                        "the record was written in another pid namespace (ns {ns}): its pid {pid} cannot name a process \
                         here"
                    ),
                    None => format!(
                        "the record was written on a system without pid namespaces: its pid {pid} cannot name a process \
                         here"
                    ),
                },
            )
            .with_fix("verify from inside that pid namespace")),
            Judgement::Keep(Status::Unknown(why)) => Err(Error::new(
                ErrorKind::Unproven,
                "read lease",
                &at,
                format!("whether pid {pid} is the record's process cannot be proven: {why}"),
            )),
            Judgement::Remove(RemoveReason::BootIdDiffers) => Err(Error::new(
                ErrorKind::ForeignRecord,
                "read lease",
                &at,
                format!(
                    "the record was written in another boot (boot id {}): its pid {pid} cannot name a process in \
                     this boot",
                    record.boot_id
                ),
            )
            .with_fix(&prune)),
            Judgement::Remove(RemoveReason::ProcessGone) => {
                Err(not_running(format!("the record's process (pid {pid}) is not running")))
            }
            Judgement::Remove(RemoveReason::Zombie) => {
                Err(not_running(format!("the record's process (pid {pid}) is not running: it exited (zombie)")))
            }
            Judgement::Remove(RemoveReason::Expired) => Err(not_running(format!(
                "the record expired (its process, pid {pid}, stopped renewing it): not running"
            ))),
            Judgement::Remove(RemoveReason::StartTimeDiffers { recorded, found }) => Err(not_running(format!(
                "the record's process is not running: pid {pid} was reused (recorded start time {recorded}, the \
                 process with that pid now started at {found})"
            ))),
        }
    }

    /// Removes dead, expired and recycled records (with `dry_run`, only
    /// reports them) and says what was removed, kept and left alone, and why.
    ///
    /// # Errors
    /// Filesystem errors on the directory or its lock. A record that cannot
    /// be read or removed is reported, not an error.
    ///
    /// # Security
    /// LEASE-1 … LEASE-5; see [`crate::judge()`] for the order of the checks.
    pub fn prune(&self, dry_run: bool) -> Result<PruneReport> {
        let ctx = self.context();
        let oracle = &self.inner.oracle;
        if dry_run {
            let store = crate::store::FsStore { root: &self.inner.root };
            return txn::prune(&store, &ctx, &|p| oracle.probe(p), true);
        }
        self.locked(|store| txn::prune(store, &ctx, &|p| oracle.probe(p), false))
    }
}

/// Parses a record file that must be record `id`.
fn parse_record_named(bytes: &[u8], id: &str) -> Result<Record> {
    let r = record::parse_record(bytes)?;
    if r.id != id {
        return Err(Error::new(
            ErrorKind::Malformed,
            "parse record",
            "-",
            format!("the record's id {:?} is not its file name's", r.id),
        ));
    }
    Ok(r)
}

/// What to register.
#[derive(Debug, Clone, PartialEq)]
pub struct Registration {
    id: String,
    pid: Option<u32>,
    port: Option<u16>,
    ttl: Option<Duration>,
    payload: Value,
}

impl Registration {
    /// A registration of the calling process under `id`, without port,
    /// expiry or payload.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidId`] unless `id` is `[A-Za-z0-9][A-Za-z0-9._-]{0,63}`.
    pub fn new(id: impl Into<String>) -> Result<Self> {
        let id = id.into();
        record::check_id(&id)?;
        Ok(Self { id, pid: None, port: None, ttl: None, payload: Value::Null })
    }

    /// Register process `pid` instead of the calling process.
    pub fn pid(mut self, pid: u32) -> Self {
        self.pid = Some(pid);
        self
    }

    /// The port the process serves.
    pub fn port(mut self, port: u16) -> Self {
        self.port = Some(port);
        self
    }

    /// Expire the record `ttl` after registering (renew with [`LeaseGuard::renew`]).
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = Some(ttl);
        self
    }

    /// The caller's payload.
    ///
    /// # Errors
    /// [`ErrorKind::InvalidPayload`] if it is over 16 KiB serialized or 16 levels deep.
    pub fn payload(mut self, payload: Value) -> Result<Self> {
        record::check_payload(&payload)?;
        self.payload = payload;
        Ok(self)
    }

    /// The id.
    pub fn id(&self) -> &str {
        &self.id
    }
}

/// A registration; removes its record when dropped, if the record is still
/// its own (same nonce: not replaced by another registration meanwhile).
#[derive(Debug)]
pub struct LeaseGuard {
    registry: Registry,
    record: Record,
    armed: bool,
}

impl LeaseGuard {
    /// The record as written.
    pub fn record(&self) -> &Record {
        &self.record
    }

    /// The record's path.
    pub fn path(&self) -> PathBuf {
        self.registry.path().join(record::file_name(&self.record.id))
    }

    /// Removes the record now if it is still ours; `Ok(false)` if it was
    /// already gone or replaced.
    ///
    /// # Errors
    /// Filesystem errors (lock timeout, ...).
    pub fn release(mut self) -> Result<bool> {
        self.armed = false;
        let (id, nonce) = (&self.record.id, &self.record.nonce);
        self.registry.locked(|store| txn::release(store, id, nonce))
    }

    /// Moves the expiry to `ttl` from now (if the record is still ours).
    ///
    /// # Errors
    /// [`ErrorKind::NotOurs`] if it was pruned or replaced; filesystem errors.
    pub fn renew(&mut self, ttl: Duration) -> Result<()> {
        let expires = self.registry.inner.clock.now_unix_ms().saturating_add(ttl.as_millis() as u64);
        let (id, nonce) = (&self.record.id, &self.record.nonce);
        let rec = self.registry.locked(|store| txn::renew(store, id, nonce, Some(expires)))?;
        self.record = rec;
        Ok(())
    }

    /// Leaves the record in place after the guard is gone (for a process
    /// that registers another, like `gw lease register`). Returns the record.
    pub fn persist(mut self) -> Record {
        self.armed = false;
        self.record.clone()
    }
}

impl Drop for LeaseGuard {
    fn drop(&mut self) {
        if self.armed {
            let (id, nonce) = (&self.record.id, &self.record.nonce);
            // Nothing to report to in a destructor; a record left behind is
            // pruned as dead once this process exits (LEASE-1).
            let _ = self.registry.locked(|store| txn::release(store, id, nonce));
        }
    }
}
