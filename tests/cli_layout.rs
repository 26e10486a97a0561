//! The shape of the `gw` binary's sources (issue 13 item 5): every clap
//! type in `src/cli/`, which names no command; no command module imports
//! another (shared rules live in a module that is not a command, e.g.
//! `src/owner.rs`), so the modules form no cycle; no source file over 700
//! lines of non-test code. Read from the sources, as a reviewer would.

use std::fs;
use std::path::{Path, PathBuf};

fn src() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

/// Every .rs file beneath `dir`, sorted.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap_or_else(|e| panic!("read {}: {e}", dir.display())) {
        let p = e.expect("directory entry").path();
        if p.is_dir() {
            out.extend(rust_files(&p));
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
    out.sort();
    out
}

/// The code of a file without its unit tests and without comments.
fn code(path: &Path) -> String {
    let text = fs::read_to_string(path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()));
    let text = text.split("#[cfg(test)]").next().unwrap_or_default();
    text.lines().map(|l| l.split("//").next().unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

fn shown(p: &Path) -> String {
    p.strip_prefix(src()).unwrap_or(p).display().to_string()
}

#[test]
fn no_command_module_imports_another() {
    let mut found = Vec::new();
    for f in rust_files(&src().join("cmd")) {
        if f.ends_with("mod.rs") {
            continue;
        }
        let code = code(&f);
        for needle in ["crate::cmd::", "super::", "cmd::"] {
            if code.contains(needle) {
                found.push(format!("{} uses `{needle}`", shown(&f)));
            }
        }
    }
    assert!(
        found.is_empty(),
        "a command imports another command (move the shared part out of src/cmd/):\n  {}",
        found.join("\n  ")
    );
}

#[test]
fn the_argument_definitions_name_no_command() {
    let mut found = Vec::new();
    for f in rust_files(&src().join("cli")) {
        if code(&f).contains("cmd::") {
            found.push(shown(&f));
        }
    }
    assert!(found.is_empty(), "src/cli/ refers to a command module: {found:?}");
}

#[test]
fn every_clap_type_is_in_src_cli() {
    let mut found = Vec::new();
    let mut in_cli = 0;
    for f in rust_files(&src()) {
        for line in code(&f).lines().filter(|l| l.trim_start().starts_with("#[derive(")) {
            let clap = ["Parser", "Args", "Subcommand", "ValueEnum"]
                .iter()
                .any(|d| line.split(['(', ')', ',', ' ', ':']).any(|w| w == *d));
            match (clap, f.starts_with(src().join("cli"))) {
                (true, true) => in_cli += 1,
                (true, false) => found.push(format!("{}: {}", shown(&f), line.trim())),
                _ => {}
            }
        }
    }
    assert!(in_cli > 40, "only {in_cli} clap types found in src/cli/: the scan is out of date");
    assert!(found.is_empty(), "clap types outside src/cli/:\n  {}", found.join("\n  "));
}

#[test]
fn no_source_file_is_over_700_lines_of_code() {
    let long: Vec<String> = rust_files(&src())
        .iter()
        .map(|f| {
            let text = fs::read_to_string(f).expect("source");
            let lines = text.split("#[cfg(test)]").next().unwrap_or_default().lines().count();
            (shown(f), lines)
        })
        .filter(|(_, n)| *n > 700)
        .map(|(f, n)| format!("{f}: {n} lines"))
        .collect();
    assert!(long.is_empty(), "split these files: {long:?}");
}
