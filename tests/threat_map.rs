//! The audit map stays true: every threat id of the catalogue has a row in
//! `audits/THREAT-MAP.md`, every row names at least one test named by its id,
//! and every test or function the map names exists in the sources (a renamed
//! or deleted test fails here instead of leaving a stale claim in the audit).
//!
//! The catalogue is `audits/THREATS.md`. The ids below are a floor: an id may
//! be added to the catalogue, never dropped from it without this list changing
//! too. Nothing in the repository links outside it (a clone must be able to
//! look up every id the code cites).

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

const CATALOGUE: &[&str] = &[
    "FS-1", "FS-2", "FS-3", "FS-4", "FS-5", "FS-6", "FS-7", "FS-8", "PORT-1", "PORT-2", "PORT-3", "PORT-4", "PORT-5",
    "TOK-1", "TOK-2", "TOK-3", "TOK-4", "CRED-1", "CRED-2", "CRED-3", "CRED-4", "CRED-5", "CRED-6", "CRED-7", "CRED-8",
    "CRED-9", "LEASE-1", "LEASE-2", "LEASE-3", "LEASE-4", "LEASE-5", "CLI-1", "CLI-2", "WATCH-1", "WATCH-2", "WATCH-3",
    "WATCH-4", "WATCH-5", "WATCH-6", "FS-9", "FS-10", "DOC-3", "GATE-1", "GATE-4", "FS-11", "CLI-3", "CLI-4", "DOC-1",
    "DOC-2", "PORT-6", "TOK-5", "GATE-2", "GATE-3", "CRED-10", "WATCH-7", "PORT-7",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The ids of a THREATS.md: every `**ID-N` at the start of a bullet.
fn ids_of_catalogue(text: &str) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    for line in text.lines() {
        let Some(rest) = line.trim_start().strip_prefix("- **") else { continue };
        let id: String =
            rest.chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '-').collect();
        if id.contains('-') && id.ends_with(|c: char| c.is_ascii_digit()) {
            ids.insert(id);
        }
    }
    ids
}

/// Every identifier-like word of every Rust source of the workspace.
fn words_of_sources() -> BTreeSet<String> {
    fn walk(dir: &Path, words: &mut BTreeSet<String>) {
        let Ok(entries) = fs::read_dir(dir) else { return };
        for e in entries.flatten() {
            let p = e.path();
            let name = e.file_name();
            let name = name.to_string_lossy();
            if name == "target" || name.starts_with('.') {
                continue;
            }
            if p.is_dir() {
                walk(&p, words);
            } else if let Some(stem) = name.strip_suffix(".rs") {
                // A file is named by its stem too (fuzz targets, test files).
                words.insert(stem.to_string());
                let text = fs::read_to_string(&p).unwrap_or_default();
                for w in text.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')) {
                    if !w.is_empty() {
                        words.insert(w.to_string());
                    }
                }
            }
        }
    }
    let mut words = BTreeSet::new();
    for d in ["src", "crates", "tests", "benches", "examples", "fuzz/fuzz_targets"] {
        walk(&root().join(d), &mut words);
    }
    words
}

/// The backticked spans of a line.
fn code_spans(line: &str) -> Vec<&str> {
    line.split('`').skip(1).step_by(2).collect()
}

/// A span that names a test or function: lower-case words with underscores,
/// optionally a `module::` path, `{a,b}` alternatives and `*` wildcards.
fn as_name_pattern(span: &str) -> Option<&str> {
    let last = span.rsplit("::").next().unwrap_or(span);
    let ok = last.contains('_')
        && last.starts_with(|c: char| c.is_ascii_lowercase())
        && last.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "_{},*".contains(c));
    ok.then_some(last)
}

/// `a_{x,y}_b` → `a_x_b`, `a_y_b` (one level, repeated).
fn expand(pattern: &str) -> Vec<String> {
    let (Some(open), Some(close)) = (pattern.find('{'), pattern.find('}')) else { return vec![pattern.to_string()] };
    if close < open {
        return vec![pattern.to_string()];
    }
    let (head, tail) = (&pattern[..open], &pattern[close + 1..]);
    pattern[open + 1..close].split(',').flat_map(|alt| expand(&format!("{head}{alt}{tail}"))).collect()
}

/// Glob with `*` only.
fn glob(pattern: &str, word: &str) -> bool {
    let parts: Vec<&str> = pattern.split('*').collect();
    if parts.len() == 1 {
        return pattern == word;
    }
    let mut rest = word;
    for (i, part) in parts.iter().enumerate() {
        if i == 0 {
            let Some(r) = rest.strip_prefix(part) else { return false };
            rest = r;
        } else if i == parts.len() - 1 {
            return rest.ends_with(part);
        } else {
            let Some(at) = rest.find(part) else { return false };
            rest = &rest[at + part.len()..];
        }
    }
    true
}

fn resolves(pattern: &str, words: &BTreeSet<String>) -> bool {
    expand(pattern).iter().all(|p| if p.contains('*') { words.iter().any(|w| glob(p, w)) } else { words.contains(p) })
}

#[test]
fn every_threat_id_has_a_row_with_a_test_named_by_its_id() {
    let map = fs::read_to_string(root().join("audits/THREAT-MAP.md")).expect("audits/THREAT-MAP.md");
    let mut ids: BTreeSet<String> = CATALOGUE.iter().map(|s| s.to_string()).collect();
    let text = fs::read_to_string(root().join("audits/THREATS.md")).expect("audits/THREATS.md");
    let live = ids_of_catalogue(&text);
    let dropped: Vec<&String> = ids.iter().filter(|id| !live.contains(*id)).collect();
    assert!(dropped.is_empty(), "audits/THREATS.md lost the ids {dropped:?}");
    ids.extend(live);
    let words = words_of_sources();
    let mut problems = Vec::new();
    for id in &ids {
        let rows: Vec<&str> =
            map.lines().filter(|l| l.starts_with(&format!("| {id} ")) || l.starts_with(&format!("| {id}|"))).collect();
        if rows.is_empty() {
            problems.push(format!("{id}: no row in audits/THREAT-MAP.md"));
            continue;
        }
        let prefix = format!("{}_", id.to_ascii_lowercase().replace('-', "_"));
        let named = rows
            .iter()
            .flat_map(|r| code_spans(r))
            .filter_map(as_name_pattern)
            .any(|p| expand(p).iter().any(|e| e.contains(&prefix)) && resolves(p, &words));
        if !named {
            problems.push(format!("{id}: no existing test whose name contains `{prefix}` in its row"));
        }
    }
    assert!(problems.is_empty(), "THREAT-MAP gaps:\n  {}", problems.join("\n  "));
}

#[test]
fn every_test_the_map_names_exists() {
    let map = fs::read_to_string(root().join("audits/THREAT-MAP.md")).expect("audits/THREAT-MAP.md");
    let words = words_of_sources();
    let mut checked = 0;
    let mut missing = BTreeSet::new();
    for line in map.lines() {
        for span in code_spans(line) {
            let Some(pattern) = as_name_pattern(span) else { continue };
            checked += 1;
            if !resolves(pattern, &words) {
                missing.insert(span.to_string());
            }
        }
    }
    assert!(checked > 100, "only {checked} names found in THREAT-MAP.md: the span parser is out of date");
    assert!(missing.is_empty(), "THREAT-MAP.md names what the sources do not define:\n  {:?}", missing);
}

#[test]
fn the_checker_itself_catches_a_missing_name() {
    let words: BTreeSet<String> = ["fs_1_a_openat2", "fs_1_a_walk", "tok_2_x"].iter().map(|s| s.to_string()).collect();
    assert!(resolves("fs_1_a_{openat2,walk}", &words));
    assert!(!resolves("fs_1_a_{openat2,walk,other}", &words));
    assert!(resolves("tok_2_*", &words));
    assert!(!resolves("tok_3_*", &words));
    assert_eq!(as_name_pattern("target::tests::tok_2_*"), Some("tok_2_*"));
    assert_eq!(as_name_pattern("resolve.rs"), None);
    assert_eq!(ids_of_catalogue("- **PORT-1 Port hijack.** x\n- other").into_iter().collect::<Vec<_>>(), ["PORT-1"]);
}

/// Every text file of the repository that git tracks, as (path, contents).
fn tracked_texts() -> Vec<(String, String)> {
    let out =
        std::process::Command::new("git").args(["ls-files", "-z"]).current_dir(root()).output().expect("git ls-files");
    assert!(out.status.success(), "git ls-files failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout)
        .split('\0')
        .filter(|p| !p.is_empty() && !p.ends_with(".lock"))
        .filter_map(|p| Some((p.to_string(), fs::read_to_string(root().join(p)).ok()?)))
        .collect()
}

#[test]
fn nothing_in_the_repository_points_outside_it() {
    // The project is read from a clone: a link to the drafts beside it (dot-dot,
    // then `shared/`) or to the machine it was written on (absolute paths of
    // the work tree) would be dead there. Spelled in pieces so this file does
    // not match itself.
    let needles = [
        ["..", "/shared/"].concat(),
        ["/work", "/shared"].concat(),
        ["/work", "/wt/"].concat(),
        ["/work", "/main"].concat(),
    ];
    let bad: Vec<String> = tracked_texts()
        .into_iter()
        .flat_map(|(path, text)| {
            text.lines()
                .enumerate()
                .filter(|(_, l)| needles.iter().any(|n| l.contains(n.as_str())))
                .map(|(i, _)| format!("{path}:{}", i + 1))
                .collect::<Vec<_>>()
        })
        .collect();
    assert!(bad.is_empty(), "links outside the repository: {bad:?}");
}

/// The threat ids a text cites: `FAMILY-N` where FAMILY is one of the
/// catalogue's families (`FS`, `TOK`, ...) and not glued to a longer word.
fn cited_ids(text: &str, families: &BTreeSet<String>) -> BTreeSet<String> {
    let mut ids = BTreeSet::new();
    let b = text.as_bytes();
    let word = |c: u8| c.is_ascii_alphanumeric() || c == b'_' || c == b'-';
    for (at, _) in text.match_indices('-') {
        let start = b[..at].iter().rposition(|c| !c.is_ascii_uppercase()).map_or(0, |p| p + 1);
        let end = b[at + 1..].iter().position(|c| !c.is_ascii_digit()).map_or(b.len(), |p| at + 1 + p);
        let (family, number) = (&text[start..at], &text[at + 1..end]);
        let glued =
            (start > 0 && word(b[start - 1])) || (end < b.len() && (b[end].is_ascii_alphabetic() || b[end] == b'_'));
        if !number.is_empty() && !glued && families.contains(family) {
            ids.insert(text[start..end].to_string());
        }
    }
    ids
}

#[test]
fn every_threat_id_the_repository_cites_is_in_the_catalogue() {
    let text = fs::read_to_string(root().join("audits/THREATS.md")).expect("audits/THREATS.md");
    let live = ids_of_catalogue(&text);
    let families: BTreeSet<String> = live.iter().filter_map(|id| Some(id.rsplit_once('-')?.0.to_string())).collect();
    let mut cited = 0;
    let mut unknown = BTreeSet::new();
    for (path, text) in tracked_texts() {
        for id in cited_ids(&text, &families) {
            cited += 1;
            if !live.contains(&id) {
                unknown.insert(format!("{id} ({path})"));
            }
        }
    }
    assert!(cited > 200, "only {cited} citations found: the id scanner is out of date");
    assert!(unknown.is_empty(), "ids cited but not in audits/THREATS.md: {unknown:?}");
}

#[test]
fn the_id_scanner_finds_citations_and_skips_other_words() {
    let families: BTreeSet<String> = ["FS", "TOK"].iter().map(|s| s.to_string()).collect();
    let got = cited_ids("THREATS FS-1/FS-7, (TOK-4). XFS-3 FS-2a fs-5 TOK-", &families);
    assert_eq!(got.into_iter().collect::<Vec<_>>(), ["FS-1", "FS-7", "TOK-4"]);
}
