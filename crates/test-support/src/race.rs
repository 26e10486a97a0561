//! Helpers shared by the race and crash tests (`fs_race`, `fs_crash`, `doc_crash`, `doc_lost_updates`):
//! re-executing the current test binary as a helper process, a small seeded
//! random number generator, directory snapshots, and a lock that runs the
//! heavy tests of one binary one at a time (they need both cores to race).
//!

use std::collections::BTreeMap;
use std::ffi::OsString;
use std::io::{BufRead, BufReader};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{ChildStdout, Command};
use std::sync::{Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

/// Serialises the tests of one binary that need the whole machine (a racing
/// attacker spins one core, the victim the other).
pub fn serial() -> MutexGuard<'static, ()> {
    static SERIAL: Mutex<()> = Mutex::new(());
    SERIAL.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// A command that re-runs `exe` (a copy of, or, the current test binary)
/// with only the `#[ignore]`d helper test `helper` selected, and `env_key`
/// set to `env_val` (the helper returns at once when it is unset).
pub fn helper_command(exe: &Path, helper: &str, env_key: &str, env_val: &str) -> Command {
    let mut cmd = Command::new(exe);
    cmd.args(["--exact", helper, "--ignored", "--nocapture", "--test-threads=1"]).env(env_key, env_val);
    cmd
}

/// The current test binary.
pub fn current_exe() -> PathBuf {
    std::env::current_exe().expect("the path of the running test binary")
}

/// Reads the helper's stdout until a line containing `marker`; returns the
/// text after the marker. Panics (with what was read) on EOF.
pub fn wait_for_line(out: &mut BufReader<ChildStdout>, marker: &str) -> String {
    let mut seen = String::new();
    loop {
        let mut line = String::new();
        let n = out.read_line(&mut line).expect("read the helper's stdout");
        if n == 0 {
            panic!("the helper process ended before printing `{marker}`; its output was:\n{seen}");
        }
        if let Some(at) = line.find(marker) {
            return line[at + marker.len()..].trim().to_owned();
        }
        seen.push_str(&line);
    }
}

/// xorshift64*: small, seeded, reproducible (the seed is printed by callers).
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator seeded from `GW_TEST_SEED` if set, else from the clock and pid.
    pub fn from_env_or_clock() -> (Self, u64) {
        let seed = std::env::var("GW_TEST_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            let t = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos() as u64).unwrap_or(1);
            t ^ (u64::from(std::process::id()) << 32)
        });
        (Self::new(seed), seed)
    }

    pub fn new(seed: u64) -> Self {
        Self(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// Uniform-ish in `lo..hi` (`hi > lo`).
    pub fn range(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next_u64() % (hi - lo)
    }

    pub fn fill(&mut self, buf: &mut [u8]) {
        for chunk in buf.chunks_mut(8) {
            let v = self.next_u64().to_le_bytes();
            chunk.copy_from_slice(&v[..chunk.len()]);
        }
    }
}

/// What one directory entry looked like, for before/after comparisons.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Snap {
    File { mode: u32, uid: u32, ino: u64, content: Vec<u8> },
    Dir { mode: u32, uid: u32, ino: u64 },
    Link { uid: u32, target: PathBuf },
    Other { mode: u32 },
}

/// A recursive snapshot of `dir` (links are recorded, never followed):
/// relative path -> what is there.
pub fn snapshot(dir: &Path) -> BTreeMap<PathBuf, Snap> {
    fn walk(base: &Path, rel: &Path, out: &mut BTreeMap<PathBuf, Snap>) {
        let here = base.join(rel);
        let mut names: Vec<OsString> =
            std::fs::read_dir(&here).expect("list a snapshotted directory").map(|e| e.unwrap().file_name()).collect();
        names.sort();
        for name in names {
            let r = rel.join(&name);
            let p = base.join(&r);
            let md = std::fs::symlink_metadata(&p).expect("lstat a snapshotted entry");
            let ft = md.file_type();
            let mode = md.permissions().mode() & 0o7777;
            let snap = if ft.is_symlink() {
                Snap::Link { uid: md.uid(), target: std::fs::read_link(&p).unwrap() }
            } else if ft.is_file() {
                Snap::File { mode, uid: md.uid(), ino: md.ino(), content: std::fs::read(&p).unwrap() }
            } else if ft.is_dir() {
                out.insert(r.clone(), Snap::Dir { mode, uid: md.uid(), ino: md.ino() });
                walk(base, &r, out);
                continue;
            } else {
                Snap::Other { mode: md.mode() }
            };
            out.insert(r, snap);
        }
    }
    let mut out = BTreeMap::new();
    walk(dir, Path::new(""), &mut out);
    out
}

/// The names in `dir`, sorted.
pub fn names(dir: &Path) -> Vec<String> {
    let mut v: Vec<String> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("list {}: {e}", dir.display()))
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    v.sort();
    v
}

/// Sets the permission bits of `path` exactly (`chmod`, not umask-dependent).
pub fn chmod(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .unwrap_or_else(|e| panic!("chmod {mode:o} {}: {e}", path.display()));
}

/// `mkdir` with an exact mode.
pub fn mkdir(path: &Path, mode: u32) {
    std::fs::create_dir(path).unwrap_or_else(|e| panic!("mkdir {}: {e}", path.display()));
    chmod(path, mode);
}

/// Writes a file with an exact mode.
pub fn write_file(path: &Path, content: &[u8], mode: u32) {
    std::fs::write(path, content).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    chmod(path, mode);
}
