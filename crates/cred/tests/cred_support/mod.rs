//! Helpers private to the gw-cred tests (`cred_threats.rs`, `cred_proptest.rs`):
//! a private store directory, a [`Storage`] wrapper that injects failures at
//! a chosen step (and records what storage held after each step), checks that
//! no secret appears in an error or a `Debug` output, and re-executing the
//! test binary as a helper child with a controlled environment.
#![allow(dead_code, unreachable_pub)]

use std::cell::{Cell, RefCell};
use std::io::{BufRead, BufReader, Write as _};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
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

const MODE_ENV: &str = "GW_CRED_TEST_HELPER";
const ARGS_ENV: &str = "GW_CRED_TEST_HELPER_ARGS";
const MARK: &str = "GW-CRED-HELPER ";

/// The body of a `helper_child` test: does nothing in a normal run; in a
/// child started by [`spawn_helper`] or [`run_helper_env`] runs `dispatch`
/// with the mode and the arguments, then exits.
pub fn helper_main(dispatch: fn(&str, &[String], &mut Talk)) {
    let Ok(mode) = std::env::var(MODE_ENV) else { return };
    let args: Vec<String> =
        std::env::var(ARGS_ENV).unwrap_or_default().split('\n').filter(|a| !a.is_empty()).map(str::to_owned).collect();
    let mut talk = Talk { input: std::io::stdin().lock() };
    dispatch(&mode, &args, &mut talk);
    std::io::stdout().flush().unwrap();
    std::process::exit(0);
}

/// The child's side of the conversation with its parent.
pub struct Talk {
    input: std::io::StdinLock<'static>,
}

impl Talk {
    /// Sends a line to the parent.
    pub fn say(&mut self, line: &str) {
        let mut out = std::io::stdout().lock();
        writeln!(out, "{MARK}{line}").unwrap();
        out.flush().unwrap();
    }
    /// Waits for a line from the parent.
    pub fn hear(&mut self) -> String {
        let mut line = String::new();
        self.input.read_line(&mut line).unwrap();
        line.trim().to_owned()
    }
}

fn helper_command(mode: &str, args: &[&str]) -> Command {
    let exe = std::env::current_exe().expect("current_exe");
    let mut cmd = Command::new(exe);
    cmd.args(["helper_child", "--exact", "--nocapture", "--test-threads=1", "-q"])
        .env(MODE_ENV, mode)
        .env(ARGS_ENV, args.join("\n"))
        .current_dir("/");
    cmd
}

/// A helper child the parent talks to line by line.
pub struct Helper {
    child: Child,
    input: ChildStdin,
    output: BufReader<ChildStdout>,
    seen: String,
}

/// Starts this binary's `helper_child` in `mode`.
pub fn spawn_helper(mode: &str, args: &[&str]) -> Helper {
    let mut child = helper_command(mode, args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn the helper child");
    let input = child.stdin.take().unwrap();
    let output = BufReader::new(child.stdout.take().unwrap());
    Helper { child, input, output, seen: String::new() }
}

impl Helper {
    /// The next line the child said.
    pub fn hear(&mut self) -> String {
        loop {
            let mut line = String::new();
            let n = self.output.read_line(&mut line).expect("read the helper's stdout");
            assert!(n != 0, "the helper ended early; its output was:\n{}", self.seen);
            if let Some(rest) = line.strip_prefix(MARK) {
                return rest.trim().to_owned();
            }
            self.seen.push_str(&line);
        }
    }
    /// Sends a line to the child.
    pub fn say(&mut self, line: &str) {
        writeln!(self.input, "{line}").unwrap();
        self.input.flush().unwrap();
    }
    /// Waits for the child to exit successfully.
    pub fn finish(mut self) {
        drop(self.input);
        let status = self.child.wait().unwrap();
        assert!(status.success(), "helper child failed: {status}; output:\n{}", self.seen);
    }
}

/// Runs the helper with **only** the environment `env` (plus the helper's
/// mode) and returns the lines it said.
pub fn run_helper_env(mode: &str, env: &[(&str, &str)]) -> Vec<String> {
    let mut cmd = helper_command(mode, &[]);
    cmd.env_clear().env(MODE_ENV, mode).envs(env.iter().copied());
    let out = cmd.stdin(Stdio::null()).output().expect("spawn the helper child");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "helper `{mode}` failed ({}):\n{stdout}\n{}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    stdout.lines().filter_map(|l| l.strip_prefix(MARK)).map(str::to_owned).collect()
}
