//! Real listeners in real process trees for the gw-portguard tests, from
//! `helper.py` (python3): spawned in their own process group, killed (the
//! whole group) on drop. Shared by gw-portguard's own suites and the root's
//! `gw port` CLI tests (feature `portguard`).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use gw_portguard::{Options, Source};

/// The uid of the "other user".
pub use crate::NOBODY;

/// Both socket-table sources: every case runs on each.
pub const SOURCES: [Source; 2] = [Source::Netlink, Source::ProcNet];

/// Options for tests: the given source, a generous bound (2 noisy cores).
pub fn opts(source: Source) -> Options {
    Options { source, timeout: Duration::from_secs(10), identify_foreign: true }
}

/// The `--source` value for the CLI.
pub fn source_arg(source: Source) -> &'static str {
    match source {
        Source::Netlink => "netlink",
        Source::ProcNet => "procnet",
        Source::Auto => "auto",
    }
}

fn helper_py() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/portguard/helper.py")
}

/// A helper process tree holding listeners.
#[derive(Debug)]
pub struct Svc {
    child: Child,
    /// The pid we spawned (root of the tree).
    pub root: u32,
    /// The pid of the process that listens (the leaf).
    pub leaf: u32,
    /// The port.
    pub port: u16,
    /// The leaf left the process group (--setsid): kill it by pid.
    own_group: bool,
}

/// What to spawn.
#[derive(Debug, Clone, Default)]
pub struct Spec {
    pub binds: Vec<&'static str>,
    pub port: u16,
    pub reuseport: bool,
    pub depth: u32,
    pub escape: bool,
    pub setsid: bool,
    pub escape_uid: Option<u32>,
    pub nondumpable: bool,
    pub record: Option<PathBuf>,
    pub greeting: Option<&'static str>,
    pub uid: Option<u32>,
    /// Hold every accept(2) this long between the new socket's inode and
    /// its descriptor (helper.py `--stall-accept`; negative: forever).
    pub stall_accept: Option<f64>,
    /// Close every accepted connection at once (`--close-on-accept`).
    pub close_on_accept: bool,
}

impl Spec {
    pub fn on(binds: &[&'static str], port: u16) -> Self {
        Self { binds: binds.to_vec(), port, ..Self::default() }
    }
}

impl Svc {
    pub fn spawn(spec: Spec) -> Self {
        let mut cmd = Command::new("python3");
        cmd.arg(helper_py());
        for b in &spec.binds {
            cmd.args(["--bind", b]);
        }
        cmd.args(["--port", &spec.port.to_string(), "--depth", &spec.depth.to_string()]);
        if spec.reuseport {
            cmd.arg("--reuseport");
        }
        if spec.escape {
            cmd.arg("--escape");
        }
        if spec.setsid {
            cmd.arg("--setsid");
        }
        if let Some(u) = spec.escape_uid {
            cmd.args(["--escape-uid", &u.to_string()]);
        }
        if spec.nondumpable {
            cmd.arg("--nondumpable");
        }
        if let Some(r) = &spec.record {
            cmd.arg("--record").arg(r);
        }
        if let Some(g) = spec.greeting {
            cmd.args(["--greeting", g]);
        }
        if spec.close_on_accept {
            cmd.arg("--close-on-accept");
        }
        if let Some(secs) = spec.stall_accept {
            cmd.args(["--stall-accept", &secs.to_string()]);
        }
        if let Some(uid) = spec.uid {
            cmd.uid(uid).gid(uid);
        }
        cmd.process_group(0).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawn python3 helper");
        let stdout = child.stdout.take().expect("stdout");
        let mut line = String::new();
        BufReader::new(stdout).read_line(&mut line).expect("read helper line");
        let v: serde_json::Value =
            serde_json::from_str(line.trim()).unwrap_or_else(|e| panic!("helper did not start ({e}): {line:?}"));
        let root = child.id();
        Self {
            child,
            root,
            leaf: v["pid"].as_u64().expect("pid") as u32,
            port: v["port"].as_u64().expect("port") as u16,
            own_group: spec.setsid,
        }
    }

    /// Kills the whole process group and reaps the root.
    pub fn kill(&mut self) {
        if let Some(pgid) = rustix::process::Pid::from_raw(self.root as i32) {
            let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        }
        let _ = self.child.wait();
        // An escaped leaf (--setsid) is in another process group.
        if self.own_group
            && let Some(leaf) = rustix::process::Pid::from_raw(self.leaf as i32)
        {
            let _ = rustix::process::kill_process(leaf, rustix::process::Signal::KILL);
        }
        // The leaf may be a grandchild: wait until it is gone.
        for _ in 0..500 {
            if !Path::new(&format!("/proc/{}", self.leaf)).exists() {
                break;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Svc {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A private temp dir for record files (0700 under /tmp), readable by the
/// helper even when it runs as another uid (then the dir is chowned).
pub fn record_dir(owner: Option<u32>) -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    if let Some(uid) = owner {
        std::os::unix::fs::chown(d.path(), Some(uid), Some(uid)).expect("chown");
    }
    d
}
