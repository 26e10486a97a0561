//! Helpers for the service-definition tests: an independent systemd
//! unit-file parser (written from systemd.syntax(7) and systemd.service(5),
//! not from gw's renderer), and runners for the real tools — Python's
//! `plistlib`, `systemd-analyze verify --user`, and `systemd --test --user`,
//! whose dump shows the argv and environment systemd actually loaded.
//!
//! Debian packages: `systemd` (systemd-analyze, /lib/systemd/systemd) and
//! `python3`. When a tool is missing the tests fail with what to install:
//! they never skip silently.
//!
//! Every test binary that includes this module uses a different subset of
//! it, hence the `dead_code` allowance.
#![allow(dead_code, unreachable_pub)]

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use gw_anchor::{Policy, Root};

/// The uid/gid `systemd --test` runs as (it refuses to run as root).
pub const NOBODY: u32 = 65534;

/// A private temporary directory (0700, owned by the caller) and a
/// gw-anchor root opened on it.
pub fn temp_root() -> (tempfile::TempDir, Root) {
    let dir = tempfile::Builder::new().prefix("gw-service-").tempdir().unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let root = Root::open(dir.path(), &Policy::new()).unwrap();
    (dir, root)
}

// ------------------------------------------------------------------------
// An independent unit-file parser: gw-test-support's, which the
// `service_render` fuzz target shares.

pub use gw_test_support::unit::{Directive, decode_unit, split_words, unspecify, unsubstitute};

/// The directives of a unit, as systemd's `config_parse()` splits it.
pub fn parse_unit(text: &str) -> Result<Vec<Directive>, String> {
    gw_test_support::unit::parse_unit(text).map(|p| p.directives)
}

// ------------------------------------------------------------------------
// The real tools.

fn need(tool: &str, package: &str) {
    let found = Command::new("sh").args(["-c", &format!("command -v {tool}")]).output().unwrap();
    assert!(found.status.success(), "`{tool}` is missing: install the Debian package `{package}`");
}

/// Loads each file with Python's `plistlib` and returns what it read, as
/// JSON values (one per file).
pub fn plistlib_load(paths: &[PathBuf]) -> Vec<serde_json::Value> {
    need("python3", "python3");
    let script = "import json, plistlib, sys\n\
                  out = []\n\
                  for p in sys.argv[1:]:\n\
                  \x20   with open(p, 'rb') as f:\n\
                  \x20       out.append(plistlib.load(f, fmt=plistlib.FMT_XML))\n\
                  print(json.dumps(out, ensure_ascii=True))\n";
    let out = Command::new("python3").arg("-c").arg(script).args(paths).output().unwrap();
    assert!(out.status.success(), "plistlib refused: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice::<Vec<serde_json::Value>>(&out.stdout).unwrap()
}

/// Runs `systemd-analyze verify --user --man=no` on unit files; returns
/// (success, stdout + stderr).
pub fn systemd_analyze_verify(units: &[PathBuf]) -> (bool, String) {
    need("systemd-analyze", "systemd");
    let runtime = tempfile::Builder::new().prefix("gw-sd-rt-").tempdir().unwrap();
    std::fs::set_permissions(runtime.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = Command::new("systemd-analyze")
        .args(["verify", "--user", "--man=no", "--recursive-errors=no"])
        .args(units)
        .env("XDG_RUNTIME_DIR", runtime.path())
        .env("SYSTEMD_LOG_LEVEL", "info")
        .env("SYSTEMD_COLORS", "0")
        .output()
        .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    (out.status.success(), text)
}

/// What `systemd --test --user` loaded for one unit.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Loaded {
    pub description: Option<String>,
    /// The stored argv (`$$` still doubled: substitution happens at exec).
    pub command_line: Vec<Vec<String>>,
    pub env: Vec<String>,
    pub working_directory: Option<String>,
    pub restart: Option<String>,
    pub restart_sec: Option<String>,
    pub watchdog_sec: Option<String>,
    pub after: Vec<String>,
}

/// Loads `units` (name → text) with the real systemd user manager in test
/// mode (`systemd --test --user`, as uid 65534 since it refuses root), with
/// a target that wants them all, and parses its dump. Also returns the
/// manager's stderr at log level `warning` (parse warnings show there).
pub fn systemd_load(units: &[(String, String)]) -> (BTreeMap<String, Loaded>, String) {
    let systemd = ["/lib/systemd/systemd", "/usr/lib/systemd/systemd"]
        .into_iter()
        .find(|p| Path::new(p).exists())
        .unwrap_or_else(|| panic!("/lib/systemd/systemd is missing: install the Debian package `systemd`"));
    let dir = tempfile::Builder::new().prefix("gw-sd-load-").tempdir().unwrap();
    let unit_dir = dir.path().join("units");
    let runtime = dir.path().join("runtime");
    std::fs::create_dir(&unit_dir).unwrap();
    std::fs::create_dir(&runtime).unwrap();
    let mut wants = String::new();
    for (name, text) in units {
        std::fs::write(unit_dir.join(name), text).unwrap();
        wants.push(' ');
        wants.push_str(name);
    }
    std::fs::write(unit_dir.join("gw-all.target"), format!("[Unit]\nWants={wants}\n")).unwrap();
    for p in [dir.path(), &unit_dir, &runtime] {
        std::os::unix::fs::chown(p, Some(NOBODY), Some(NOBODY)).unwrap();
    }
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    for entry in std::fs::read_dir(&unit_dir).unwrap() {
        std::os::unix::fs::chown(entry.unwrap().path(), Some(NOBODY), Some(NOBODY)).unwrap();
    }
    let out = Command::new(systemd)
        .args(["--test", "--user", "--unit=gw-all.target", "--no-pager", "--log-level=warning", "--log-target=console"])
        .env_clear()
        .env("HOME", dir.path())
        .env("XDG_RUNTIME_DIR", &runtime)
        .env("SYSTEMD_UNIT_PATH", format!("{}:", unit_dir.display()))
        .env("SYSTEMD_COLORS", "0")
        .current_dir(dir.path())
        .uid(NOBODY)
        .gid(NOBODY)
        .output()
        .unwrap();
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "systemd --test failed: {stderr}");
    let mut loaded = BTreeMap::new();
    for (name, _) in units {
        let header = format!("\t-> Unit {name}:\n");
        let start = stdout.find(&header).unwrap_or_else(|| panic!("{name} is not in the dump; stderr: {stderr}"));
        let body = &stdout[start + header.len()..];
        let end = body.find("\n\t-> ").map_or(body.len(), |i| i + 1);
        loaded.insert(name.clone(), parse_dump(&body[..end]));
    }
    (loaded, stderr)
}

fn parse_dump(block: &str) -> Loaded {
    let mut l = Loaded::default();
    for line in block.lines() {
        let Some(rest) = line.strip_prefix("\t\t") else { continue };
        if let Some(cmd) = rest.strip_prefix("\tCommand Line: ") {
            l.command_line.push(split_shell_quoted(cmd));
            continue;
        }
        let Some((k, v)) = rest.split_once(": ") else { continue };
        match k {
            "Description" => l.description = Some(v.to_owned()),
            "Environment" => l.env.push(v.to_owned()),
            "WorkingDirectory" => l.working_directory = Some(v.to_owned()),
            "Restart" => l.restart = Some(v.to_owned()),
            "RestartSec" => l.restart_sec = Some(v.to_owned()),
            "WatchdogSec" => l.watchdog_sec = Some(v.to_owned()),
            "After" => {
                if let Some(unit) = v.strip_suffix(" (origin-file)") {
                    l.after.push(unit.to_owned());
                }
            }
            _ => {}
        }
    }
    l
}

/// Splits systemd's dump of a command line (`quote_command_line()`: words
/// joined by one space; a word with special characters in `"…"` with `"`,
/// `\`, `` ` `` and `$` backslash-escaped).
fn split_shell_quoted(s: &str) -> Vec<String> {
    let mut words = Vec::new();
    let mut chars = s.chars().peekable();
    while chars.peek().is_some() {
        let mut w = String::new();
        if chars.next_if_eq(&'"').is_some() {
            loop {
                match chars.next().expect("unterminated quoted word in the dump") {
                    '"' => break,
                    '\\' => w.push(chars.next().expect("dangling escape in the dump")),
                    c => w.push(c),
                }
            }
            assert!(matches!(chars.next(), None | Some(' ')), "junk after a quoted word in {s:?}");
        } else {
            for c in chars.by_ref() {
                if c == ' ' {
                    break;
                }
                w.push(c);
            }
        }
        words.push(w);
    }
    words
}

#[cfg(test)]
mod self_tests {
    use super::*;

    #[test]
    fn parser_sees_continuations_and_injected_lines() {
        let d = parse_unit("[Service]\nDescription=a\\\nExecStartPre=/bin/evil\nExecStart=/bin/x\r\nFoo=1").unwrap();
        let keys: Vec<_> = d.iter().map(|d| d.key.as_str()).collect();
        assert_eq!(keys, ["Description", "ExecStart", "Foo"]);
        assert_eq!(split_words(r#""a b" c\sd 'e"f'"#).unwrap(), ["a b", "c d", "e\"f"]);
        assert!(unspecify("%h").is_err());
        assert!(unsubstitute("$HOME").is_err());
        assert_eq!(split_shell_quoted(r#"/bin/true "" "a\$\$b" x"#), ["/bin/true", "", "a$$b", "x"]);
    }
}
