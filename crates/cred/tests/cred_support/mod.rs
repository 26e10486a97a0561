//! Helpers private to the gw-cred tests (`cred_threats.rs`, `cred_proptest.rs`):
//! a private store directory, a [`Storage`] wrapper that injects failures at
//! a chosen step (and records what storage held after each step), checks that
//! no secret appears in an error or a `Debug` output, and re-executing the
//! test binary as a helper child with a controlled environment.
#![allow(dead_code, unreachable_pub)]

use std::cell::{Cell, RefCell};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use gw_anchor::{Durability, Policy, Root};
use gw_cred::{CredStore, GatewayKey, STORE_FILE, Storage};
use gw_persist::Document;
use gw_token::Secret;
use serde_json::Value;

/// A secret from text.
pub fn s(x: &str) -> Secret {
    Secret::from(x.to_owned())
}

/// A gateway key (panics on a bad URL).
pub fn key(url: &str) -> GatewayKey {
    GatewayKey::parse(url).unwrap_or_else(|e| panic!("{url}: {e}"))
}

/// The secret's text.
pub fn text(secret: &Secret) -> String {
    String::from_utf8(secret.expose().to_vec()).expect("a text secret")
}

/// A private (0700) temp directory opened as a root, for one store.
#[derive(Debug)]
pub struct Dir {
    /// The temp dir (removed on drop).
    pub tmp: tempfile::TempDir,
    /// The root opened on it.
    pub root: Root,
}

impl Dir {
    /// A new private directory.
    pub fn new() -> Self {
        let tmp = tempfile::tempdir().expect("tempdir");
        std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let root = Root::open(tmp.path(), &Policy::new()).expect("open the temp dir as a root");
        Self { tmp, root }
    }
    /// The directory's path.
    pub fn path(&self) -> &Path {
        self.tmp.path()
    }
    /// The store file's path.
    pub fn store_path(&self) -> PathBuf {
        self.tmp.path().join(STORE_FILE)
    }
    /// The store file's bytes (`None` if it does not exist).
    pub fn bytes(&self) -> Option<Vec<u8>> {
        match std::fs::read(self.store_path()) {
            Ok(b) => Some(b),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => panic!("read the store: {e}"),
        }
    }
    /// The document of the store (durable writes).
    pub fn doc(&self) -> Document<'_> {
        Document::new(&self.root, STORE_FILE)
    }
    /// The document without fsync (for the long randomised runs).
    pub fn fast_doc(&self) -> Document<'_> {
        Document::new(&self.root, STORE_FILE).durability(Durability::NoSync)
    }
    /// A fresh store over the document: what another process would see.
    pub fn store(&self) -> CredStore<Document<'_>> {
        CredStore::new(self.doc())
    }
    /// A store over a failure-injecting wrapper, and the handle to arm it.
    pub fn faulty(&self) -> (CredStore<Faulty<'_>>, Rc<Faults>) {
        let faults = Rc::new(Faults::default());
        (CredStore::new(Faulty { doc: self.doc(), faults: Rc::clone(&faults) }), faults)
    }
    /// As [`Dir::faulty`], without fsync.
    pub fn fast_faulty(&self) -> (CredStore<Faulty<'_>>, Rc<Faults>) {
        let faults = Rc::new(Faults::default());
        (CredStore::new(Faulty { doc: self.fast_doc(), faults: Rc::clone(&faults) }), faults)
    }
}

/// One failure to inject. Steps are counted from when it is armed, 1-based.
#[derive(Debug, Clone, Copy, Default)]
pub enum Fault {
    /// Nothing injected.
    #[default]
    None,
    /// The nth update fails before anything is written.
    FailUpdate(usize),
    /// The nth update writes, then reports a failure (e.g. the directory
    /// fsync after the rename failed).
    FailUpdateAfterWrite(usize),
    /// The nth update reports success but writes nothing (lying storage).
    LieUpdate(usize),
    /// The nth load fails.
    FailLoad(usize),
    /// The nth load returns what is stored, altered by the function.
    CorruptLoad(usize, fn(Option<Value>) -> Option<Value>),
    /// Just before the nth update, another writer changes the stored
    /// document with the function (a concurrent process).
    Meddle(usize, fn(Value) -> Value),
}

/// What storage did, step by step.
#[derive(Debug, Clone)]
pub struct Step {
    /// `update` or `load`.
    pub op: &'static str,
    /// Whether the step reported success.
    pub ok: bool,
    /// What the file held after the step (read directly).
    pub stored: Option<Value>,
}

/// The shared control of a [`Faulty`] storage.
#[derive(Debug, Default)]
pub struct Faults {
    fault: Cell<Fault>,
    updates: Cell<usize>,
    loads: Cell<usize>,
    trace: RefCell<Vec<Step>>,
}

impl Faults {
    /// Arms `fault` and restarts the step counts and the trace.
    pub fn arm(&self, fault: Fault) {
        self.fault.set(fault);
        self.updates.set(0);
        self.loads.set(0);
        self.trace.borrow_mut().clear();
    }
    /// Updates since arming.
    pub fn updates(&self) -> usize {
        self.updates.get()
    }
    /// Loads since arming.
    pub fn loads(&self) -> usize {
        self.loads.get()
    }
    /// The steps since arming.
    pub fn trace(&self) -> Vec<Step> {
        self.trace.borrow().clone()
    }
}

/// A [`Storage`] over a real document that fails where it is told to.
#[derive(Debug)]
pub struct Faulty<'r> {
    doc: Document<'r>,
    faults: Rc<Faults>,
}

fn injected(what: &str) -> gw_persist::Error {
    gw_persist::Error::io("injected", "-", std::io::Error::other(format!("injected failure: {what}")))
}

impl Faulty<'_> {
    fn record(&self, op: &'static str, ok: bool) {
        let stored = self.doc.load_value().expect("read the store directly");
        self.faults.trace.borrow_mut().push(Step { op, ok, stored });
    }
}

impl Storage for Faulty<'_> {
    fn load(&self) -> Result<Option<Value>, gw_persist::Error> {
        let n = self.faults.loads.get() + 1;
        self.faults.loads.set(n);
        let res = match self.faults.fault.get() {
            Fault::FailLoad(k) if k == n => Err(injected("load")),
            Fault::CorruptLoad(k, f) if k == n => self.doc.load_value().map(f),
            _ => self.doc.load_value(),
        };
        self.record("load", res.is_ok());
        res
    }

    fn update(&self, f: &mut dyn FnMut(Option<Value>) -> gw_cred::Result<Value>) -> gw_cred::Result<Value> {
        let n = self.faults.updates.get() + 1;
        self.faults.updates.set(n);
        let res = match self.faults.fault.get() {
            Fault::FailUpdate(k) if k == n => Err(injected("update before writing").into()),
            Fault::FailUpdateAfterWrite(k) if k == n => {
                self.doc.update_value(f).and_then(|_| Err(injected("update after writing").into()))
            }
            Fault::LieUpdate(k) if k == n => {
                let cur = self.doc.load_value()?;
                f(cur)
            }
            Fault::Meddle(k, g) if k == n => {
                self.doc
                    .update_value(|cur| Ok::<_, gw_persist::Error>(g(cur.expect("a document to meddle with"))))
                    .expect("the concurrent writer's update");
                self.doc.update_value(f)
            }
            _ => self.doc.update_value(f),
        };
        self.record("update", res.is_ok());
        res
    }
}

/// The record of `gateway` in a stored document, if any.
pub fn record<'v>(doc: &'v Value, gateway: &GatewayKey) -> Option<&'v Value> {
    doc.get("gateways").and_then(|g| g.get(gateway.as_str()))
}

/// Panics if any of `secrets` appears in `shown` (an error's Display or
/// Debug, or any Debug output).
pub fn assert_no_secret(shown: &str, secrets: &[&str], ctx: &str) {
    for secret in secrets {
        assert!(!shown.contains(secret), "{ctx}: the secret `{secret}` appears in:\n{shown}");
    }
}

/// Panics if a gw-cred error shows any of `secrets` anywhere.
pub fn assert_error_clean(e: &gw_cred::Error, secrets: &[&str], ctx: &str) {
    let all = format!("{e}\n{e:?}\n{}\n{}\n{}\n{}", e.message(), e.subject(), e.fix().unwrap_or(""), e.kind().as_str());
    assert_no_secret(&all, secrets, ctx);
}

// ---- helper children -------------------------------------------------------

/// The conversational helper children (gw-test-support's): `helper_main` is
/// the body of this binary's `helper_child` test.
#[allow(unused_imports)] // each suite uses a part
pub use gw_test_support::helper::{Helper, Talk, run_helper_env, spawn_helper, talk_main as helper_main};
