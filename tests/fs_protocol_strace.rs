//! The atomic-replace protocol, pinned at the system-call level: the real
//! `gw fs write DIR REL` binary runs under `strace -f`, and the trace must
//! show, in order (THREATS FS-1, FS-3, FS-4, FS-6):
//!
//! 1. the new file created in the target's directory, exclusively and
//!    without following links — `openat(D, ".gw-tmp.<32 hex>",
//!    O_CREAT|O_EXCL|O_NOFOLLOW, MODE)` — or anonymous — `openat(D, ".",
//!    O_TMPFILE, MODE)` — with the final mode (FS-6, FS-4);
//! 2. `fchmod(T, MODE)` to exactly the final mode before the first `write`
//!    to that descriptor (FS-4: never readable by others, whatever the umask);
//! 3. every byte written to `T`, then `fsync(T)` — before the temp gets a
//!    name (`linkat`, for `O_TMPFILE`) and before the rename (FS-3);
//! 4. `renameat(D, <temp>, D, <target>)` — the same directory descriptor,
//!    the same temp name that was created or linked;
//! 5. `fsync(D)` after the rename (FS-3: the rename itself is durable);
//!
//! and, anywhere in the trace: the final path is never opened for writing
//! (no `O_WRONLY`/`O_RDWR`/`O_CREAT`/`O_TRUNC` open, no `creat`), never
//! truncated (`truncate`, or `ftruncate` of a descriptor opened on it),
//! never chmod-ed after the fact (FS-1, FS-4).
//!
//! Run for both temp strategies (the hidden `--temp tmpfile|named` flag),
//! both resolvers, creating and replacing. Needs `strace` (CI installs it);
//! without it the test fails and says so.

use std::collections::HashMap;
use std::os::unix::fs::PermissionsExt;
use std::process::{Command, Stdio};

use gw_test_support::cli::Gw;

const MODE: &str = "0640";
const DIR_NAME: &str = "conf";
const TARGET_NAME: &str = "app.json";
const TRACED: &str = "trace=openat,openat2,open,creat,fchmod,fchmodat,chmod,write,fsync,fdatasync,linkat,link,\
                      rename,renameat,renameat2,truncate,ftruncate,close";

/// One system call from the trace (unfinished/resumed pairs joined).
#[derive(Debug, Clone)]
struct Call {
    pid: u32,
    name: String,
    args: Vec<String>,
    /// The return value (`-1` on error).
    ret: i64,
    line: String,
}

/// A descriptor returned by an open, identified across fd-number reuse.
#[derive(Debug, Clone)]
struct Handle {
    /// Index of the opening call in the trace.
    call: usize,
    /// The handle of the directory fd it was opened relative to, if any.
    dir: Option<usize>,
    path: String,
    flags: Vec<String>,
    mode: Option<String>,
}

/// Splits `a, "b, c", {x=1, y=2}, d` at top-level commas, respecting quoted
/// strings (with escapes) and brackets.
fn split_args(s: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut depth = 0i32;
    for (_, c, outside) in scan(s) {
        match c {
            _ if !outside => cur.push(c),
            '{' | '[' | '(' => {
                depth += 1;
                cur.push(c);
            }
            '}' | ']' | ')' => {
                depth -= 1;
                cur.push(c);
            }
            ',' if depth == 0 => out.push(std::mem::take(&mut cur).trim().to_owned()),
            _ => cur.push(c),
        }
    }
    if !cur.trim().is_empty() {
        out.push(cur.trim().to_owned());
    }
    out
}

/// The index of the `)` closing the argument list that starts at `open`.
fn closing_paren(s: &str, open: usize) -> Option<usize> {
    let mut depth = 0i32;
    for (i, c, outside) in scan(&s[open..]) {
        match c {
            _ if !outside => {}
            '(' | '{' | '[' => depth += 1,
            ')' | '}' | ']' => {
                depth -= 1;
                if depth == 0 {
                    return Some(open + i);
                }
            }
            _ => {}
        }
    }
    None
}

/// Each character of `s` with its index and whether it is outside strace's
/// quoted strings (a string's quotes and escapes count as inside).
fn scan(s: &str) -> impl Iterator<Item = (usize, char, bool)> + '_ {
    let (mut in_str, mut esc) = (false, false);
    s.char_indices().map(move |(i, c)| {
        if in_str {
            if esc {
                esc = false;
            } else if c == '\\' {
                esc = true;
            } else if c == '"' {
                in_str = false;
            }
            (i, c, false)
        } else {
            in_str = c == '"';
            (i, c, !in_str)
        }
    })
}

/// A quoted strace string, unescaped (enough for path names).
fn unquote(s: &str) -> String {
    let s = s.trim();
    let inner = s.strip_prefix('"').and_then(|r| r.rfind('"').map(|end| &r[..end])).unwrap_or(s);
    let mut out = String::new();
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('n') => out.push('\n'),
            Some('t') => out.push('\t'),
            Some(other) => out.push(other),
            None => {}
        }
    }
    out
}

fn parse_trace(text: &str) -> Vec<Call> {
    let mut pending: HashMap<u32, String> = HashMap::new();
    let mut calls = Vec::new();
    for raw in text.lines() {
        let raw = raw.trim_end();
        let Some((pid, rest)) = raw.split_once(char::is_whitespace) else { continue };
        let Ok(pid) = pid.parse::<u32>() else { continue };
        let rest = rest.trim_start();
        if rest.starts_with("+++") || rest.starts_with("---") {
            continue;
        }
        let line = if let Some(head) = rest.strip_suffix("<unfinished ...>") {
            pending.insert(pid, head.trim_end().to_owned());
            continue;
        } else if rest.starts_with("<...") {
            let Some(after) = rest.split_once("resumed>").map(|(_, a)| a) else { continue };
            let head = pending.remove(&pid).unwrap_or_default();
            let sep = if head.ends_with('(') || after.starts_with(')') || after.starts_with(',') { "" } else { ", " };
            format!("{head}{sep}{after}")
        } else {
            rest.to_owned()
        };
        let Some(open) = line.find('(') else { continue };
        let name = line[..open].to_owned();
        let Some(close) = closing_paren(&line, open) else { continue };
        let args = split_args(&line[open + 1..close]);
        let ret_text = line[close + 1..].trim_start().trim_start_matches('=').trim();
        let ret = ret_text.split_whitespace().next().and_then(|r| r.parse::<i64>().ok()).unwrap_or(-1);
        calls.push(Call { pid, name, args, ret, line: format!("{pid} {line}") });
    }
    calls
}

/// What an open-like call opened.
#[derive(Debug)]
struct OpenParts {
    path: String,
    flags: Vec<String>,
    mode: Option<String>,
    dirfd: Option<String>,
}

/// The parts of an `open`, `creat`, `openat` or `openat2` call.
fn open_parts(call: &Call) -> Option<OpenParts> {
    let flags = |s: &str| s.split('|').map(|f| f.trim().to_owned()).collect::<Vec<_>>();
    let arg = |i: usize| call.args.get(i).cloned();
    let parts = |path: &str, flags: Vec<String>, mode: Option<String>, dirfd: Option<String>| {
        Some(OpenParts { path: unquote(path), flags, mode, dirfd })
    };
    match call.name.as_str() {
        "open" => parts(&call.args[0], flags(&call.args[1]), arg(2), None),
        "creat" => parts(&call.args[0], flags("O_CREAT|O_WRONLY|O_TRUNC"), arg(1), None),
        "openat" => parts(&call.args[1], flags(&call.args[2]), arg(3), arg(0)),
        "openat2" => {
            let how = &call.args[2];
            let field = |key: &str| {
                how.trim_matches(|c| c == '{' || c == '}')
                    .split(", ")
                    .find_map(|kv| kv.strip_prefix(key))
                    .map(str::to_owned)
            };
            let f = field("flags=").unwrap_or_default();
            parts(&call.args[1], flags(&f), field("mode="), arg(0))
        }
        _ => None,
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

fn is_temp_name(name: &str) -> bool {
    gw_anchor::is_temp_name(std::ffi::OsStr::new(name))
}

/// The trace with descriptors resolved to handles.
struct Trace {
    calls: Vec<Call>,
    handles: Vec<Handle>,
    /// For each call, the handle of each fd argument that refers to one
    /// (`(arg index, handle)`), as the fd table stood at that call.
    fd_args: Vec<Vec<(usize, usize)>>,
}

impl Trace {
    fn new(calls: Vec<Call>) -> Self {
        let mut tables: HashMap<u32, HashMap<i64, usize>> = HashMap::new();
        let mut handles = Vec::new();
        let mut fd_args = Vec::with_capacity(calls.len());
        for (i, call) in calls.iter().enumerate() {
            let table = tables.entry(call.pid).or_default();
            let fd_positions: &[usize] = match call.name.as_str() {
                "openat" | "openat2" | "fchmod" | "write" | "fsync" | "fdatasync" | "ftruncate" | "close"
                | "fchmodat" => &[0],
                "linkat" | "renameat" | "renameat2" => &[0, 2],
                _ => &[],
            };
            let mut here = Vec::new();
            for &pos in fd_positions {
                if let Some(h) = call.args.get(pos).and_then(|a| a.parse::<i64>().ok()).and_then(|fd| table.get(&fd)) {
                    here.push((pos, *h));
                }
            }
            fd_args.push(here.clone());
            if let Some(OpenParts { path, flags, mode, .. }) = open_parts(call) {
                if call.ret >= 0 {
                    let dir = here.iter().find(|(pos, _)| *pos == 0).map(|(_, h)| *h);
                    handles.push(Handle { call: i, dir, path, flags, mode });
                    table.insert(call.ret, handles.len() - 1);
                }
            } else if call.name == "close"
                && let Ok(fd) = call.args[0].parse::<i64>()
            {
                table.remove(&fd);
            }
        }
        Self { calls, handles, fd_args }
    }

    fn handle_at(&self, call: usize, pos: usize) -> Option<usize> {
        self.fd_args[call].iter().find(|(p, _)| *p == pos).map(|(_, h)| *h)
    }

    /// Indices of calls named `name` whose fd argument 0 is `handle`.
    fn on(&self, name: &str, handle: usize) -> Vec<usize> {
        (0..self.calls.len()).filter(|&i| self.calls[i].name == name && self.handle_at(i, 0) == Some(handle)).collect()
    }

    fn show(&self, i: usize) -> &str {
        &self.calls[i].line
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strategy {
    Tmpfile,
    Named,
}

fn strace_available() {
    match Command::new("strace").arg("-V").stdout(Stdio::null()).stderr(Stdio::null()).status() {
        Ok(s) if s.success() => {}
        other => panic!(
            "this test needs `strace` (Debian: `apt-get install strace`; .ci/run installs it), and running it \
             failed: {other:?}"
        ),
    }
}

/// Runs `gw fs write` under strace and checks the protocol in its trace;
/// returns the trace.
fn check_protocol(strategy: Strategy, resolver: &str, replace: bool) -> String {
    strace_available();
    let tmp = tempfile::Builder::new().prefix("gw-strace-").tempdir().unwrap();
    let dir = tmp.path().join("dir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::fs::create_dir(dir.join(DIR_NAME)).unwrap();
    std::fs::set_permissions(dir.join(DIR_NAME), std::fs::Permissions::from_mode(0o700)).unwrap();
    let target = dir.join(DIR_NAME).join(TARGET_NAME);
    if replace {
        std::fs::write(&target, b"{\"old\": true}\n").unwrap();
        std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
    // Content with commas, quotes and a newline: the trace parser must cope.
    let mut content = b"{\"k\": \"a, b\", \"v\": \"(x)\"}\n".to_vec();
    content.extend((0..8192u32).map(|i| b"0123456789abcdef, \"{}"[(i % 21) as usize]));
    let trace_file = tmp.path().join("trace.txt");
    let rel = format!("{DIR_NAME}/{TARGET_NAME}");
    let temp = match strategy {
        Strategy::Tmpfile => "tmpfile",
        Strategy::Named => "named",
    };

    let mut strace = Command::new("strace");
    strace.args(["-f", "-qq", "-e", TRACED, "-o"]).arg(&trace_file).arg(env!("CARGO_BIN_EXE_gw"));
    let out = Gw::wrapping(strace)
        .args(["--resolver", resolver, "fs", "write"])
        .arg(&dir)
        .args([rel.as_str(), "--mode", &MODE[1..], "--temp", temp])
        .stdin(Some(&content))
        .output();
    let what =
        format!("gw fs write --temp {temp} --resolver {resolver} ({})", if replace { "replace" } else { "create" });
    assert!(
        out.status.success(),
        "{what} under strace failed ({}): stdout {} stderr {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(std::fs::read(&target).unwrap(), content, "{what}: the file holds what was written");
    let mode = std::fs::metadata(&target).unwrap().permissions().mode() & 0o7777;
    assert_eq!(format!("{mode:04o}"), MODE, "{what}: final mode");

    let text = std::fs::read_to_string(&trace_file).unwrap();
    let trace = Trace::new(parse_trace(&text));
    if let Err(why) = check_trace(&trace, strategy, content.len() as i64) {
        panic!("{what}: {why}\n--- trace ---\n{text}");
    }
    let names: Vec<_> = std::fs::read_dir(dir.join(DIR_NAME)).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert_eq!(names, [TARGET_NAME], "{what}: no temp left behind");
    text
}

fn check_trace(trace: &Trace, strategy: Strategy, len: i64) -> Result<(), String> {
    let calls = &trace.calls;
    let is_rename = |c: &Call| matches!(c.name.as_str(), "rename" | "renameat" | "renameat2");

    // 4. The rename that publishes the target (exactly one).
    // `rename(2)` names the target at argument 1, the `*at` forms at 3.
    let new_name = |c: &Call| c.args.get(if c.name == "rename" { 1 } else { 3 }).map(|a| unquote(a));
    let renames: Vec<usize> = (0..calls.len())
        .filter(|&i| is_rename(&calls[i]) && calls[i].ret == 0)
        .filter(|&i| new_name(&calls[i]).is_some_and(|n| base_name(&n) == TARGET_NAME))
        .collect();
    let [rename] = renames[..] else {
        return Err(format!("expected one renameat onto {TARGET_NAME}, found {renames:?}"));
    };
    let rc = &calls[rename];
    if rc.name == "rename" {
        return Err(format!(
            "the publish used rename(2) with path strings, not renameat on the directory fd: {}",
            rc.line
        ));
    }
    if rc.name == "renameat2" && rc.args.get(4).is_some_and(|f| f.trim() != "0") {
        return Err(format!("the replace must be a plain rename (no flags): {}", rc.line));
    }
    let (Some(dir), Some(dir2)) = (trace.handle_at(rename, 0), trace.handle_at(rename, 2)) else {
        return Err(format!("the rename's directory fds were not opened in the trace: {}", rc.line));
    };
    if dir != dir2 {
        return Err(format!("the rename crosses directories: {}", rc.line));
    }
    if !trace.handles[dir].flags.iter().any(|f| f == "O_DIRECTORY") {
        return Err(format!("the rename's fd is not a directory opened with O_DIRECTORY: {:?}", trace.handles[dir]));
    }
    let tmp_name = unquote(&rc.args[1]);
    if !is_temp_name(&tmp_name) || unquote(&rc.args[3]) != TARGET_NAME {
        return Err(format!("renameat must move a `.gw-tmp.<32 hex>` name onto `{TARGET_NAME}` in D: {}", rc.line));
    }

    // 1. The temp: exclusive + no-follow named create, or O_TMPFILE, in D, with the final mode.
    let created: Vec<usize> = (0..trace.handles.len())
        .filter(|&h| trace.handles[h].dir == Some(dir))
        .filter(|&h| trace.handles[h].flags.iter().any(|f| f == "O_CREAT" || f == "O_TMPFILE"))
        .collect();
    let [tmp] = created[..] else { return Err(format!("expected exactly one file created in D, found {created:?}")) };
    let th = &trace.handles[tmp];
    let has = |f: &str| th.flags.iter().any(|x| x == f);
    let link_call = match strategy {
        Strategy::Named => {
            if !(has("O_CREAT") && has("O_EXCL") && has("O_NOFOLLOW")) || th.path != tmp_name {
                return Err(format!(
                    "the named temp must be created O_CREAT|O_EXCL|O_NOFOLLOW under the name renamed later: {}",
                    trace.show(th.call)
                ));
            }
            None
        }
        Strategy::Tmpfile => {
            if !has("O_TMPFILE") || has("O_CREAT") || th.path != "." {
                return Err(format!("expected openat(D, \".\", O_TMPFILE, ...): {}", trace.show(th.call)));
            }
            // linkat(T, "", D, tmp, AT_EMPTY_PATH), or linkat via /proc/self/fd/T.
            let links: Vec<usize> = (0..calls.len())
                .filter(|&i| calls[i].name == "linkat" && calls[i].ret == 0)
                .filter(|&i| trace.handle_at(i, 2) == Some(dir) && unquote(&calls[i].args[3]) == tmp_name)
                .collect();
            let [link] = links[..] else { return Err(format!("expected one linkat of the O_TMPFILE to {tmp_name}")) };
            let lc = &calls[link];
            let empty_path = trace.handle_at(link, 0) == Some(tmp) && unquote(&lc.args[1]).is_empty();
            let proc_fd = unquote(&lc.args[1]).starts_with("/proc/self/fd/");
            if !(empty_path || proc_fd) {
                return Err(format!("the linkat does not link the O_TMPFILE descriptor: {}", lc.line));
            }
            Some(link)
        }
    };
    if th.mode.as_deref() != Some(MODE) {
        return Err(format!("the temp must be created with the final mode {MODE}: {}", trace.show(th.call)));
    }
    if th.call > rename {
        return Err("the temp was created after the rename".into());
    }

    // 2. fchmod(T, MODE) before the first write to T.
    let writes = trace.on("write", tmp);
    let Some(&first_write) = writes.first() else { return Err("nothing was written to the temp".into()) };
    let fchmods = trace.on("fchmod", tmp);
    if !fchmods.iter().any(|&i| i < first_write && calls[i].args.get(1).map(String::as_str) == Some(MODE)) {
        return Err(format!("no fchmod(T, {MODE}) before the first write to T ({})", trace.show(first_write)));
    }

    // 3. All bytes written, then fsync(T), before the link and the rename.
    let written: i64 = writes.iter().map(|&i| calls[i].ret.max(0)).sum();
    if written != len {
        return Err(format!("{written} bytes written to the temp, expected {len}"));
    }
    let last_write = *writes.last().unwrap();
    let publish = link_call.unwrap_or(rename);
    let syncs = trace.on("fsync", tmp);
    if !syncs.iter().any(|&i| i > last_write && i < publish && calls[i].ret == 0) {
        return Err(format!("no fsync(T) between the last write and {}", trace.show(publish)));
    }
    if writes.iter().any(|&i| i > publish) {
        return Err("the temp was written after it was published".into());
    }

    // 5. fsync(D) after the rename.
    if !trace.on("fsync", dir).iter().any(|&i| i > rename && calls[i].ret == 0) {
        return Err("no fsync of the directory after the rename".into());
    }

    // Anywhere: the final path is never opened for writing, truncated or chmod-ed.
    for (i, c) in calls.iter().enumerate() {
        if let Some(OpenParts { path, flags, .. }) = open_parts(c) {
            let writes = flags.iter().any(|f| matches!(f.as_str(), "O_WRONLY" | "O_RDWR" | "O_CREAT" | "O_TRUNC"));
            if base_name(&path) == TARGET_NAME && (writes || c.name == "creat") {
                return Err(format!("the final path was opened for writing: {}", trace.show(i)));
            }
        }
        let names_target = |pos: usize| c.args.get(pos).is_some_and(|a| base_name(&unquote(a)) == TARGET_NAME);
        match c.name.as_str() {
            "truncate" if names_target(0) => return Err(format!("the final path was truncated: {}", c.line)),
            "chmod" if names_target(0) => {
                return Err(format!("the final path was chmod-ed after the fact: {}", c.line));
            }
            "fchmodat" if names_target(1) => {
                return Err(format!("the final path was chmod-ed after the fact: {}", c.line));
            }
            "ftruncate" | "fchmod" | "write" => {
                if let Some(h) = trace.handle_at(i, 0)
                    && base_name(&trace.handles[h].path) == TARGET_NAME
                {
                    return Err(format!("{} on a descriptor of the final path: {}", c.name, c.line));
                }
                if c.name == "fchmod" && trace.handle_at(i, 0) != Some(tmp) {
                    return Err(format!("fchmod of something other than the temp: {}", c.line));
                }
            }
            _ => {}
        }
    }
    Ok(())
}

fn all_cases(strategy: Strategy) {
    for resolver in ["openat2", "walk"] {
        for replace in [false, true] {
            check_protocol(strategy, resolver, replace);
        }
    }
}

/// The portable backend (what macOS runs, `--resolver portable` here):
/// the same protocol with a named temp, and none of Linux's own facilities
/// anywhere in the trace — no `O_PATH` (the root's chain and the walk open
/// directories `O_RDONLY|O_DIRECTORY|O_NOFOLLOW`), no `O_TMPFILE`, no
/// `openat2`, no `AT_EMPTY_PATH`, no `/proc/self/fd` — so the code Darwin
/// runs is the code traced here. `--temp tmpfile` is refused, nothing
/// written.
#[test]
fn fs_3_4_6_write_protocol_under_strace_portable() {
    for replace in [false, true] {
        let text = check_protocol(Strategy::Named, "portable", replace);
        for linux_only in ["O_PATH", "O_TMPFILE", "openat2(", "AT_EMPTY_PATH", "/proc/self/fd"] {
            let hit = text.lines().find(|l| l.contains(linux_only));
            assert!(hit.is_none(), "portable backend (replace {replace}) used {linux_only}: {hit:?}\n{text}");
        }
        let walked =
            |l: &&str| l.contains("openat(") && ["O_RDONLY", "O_DIRECTORY", "O_NOFOLLOW"].iter().all(|f| l.contains(f));
        assert!(text.lines().any(|l| walked(&l)), "the walk's directory opens are in the trace:\n{text}");
    }
    let tmp = tempfile::Builder::new().prefix("gw-portable-").tempdir().unwrap();
    let dir = tmp.path().join("dir");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = gw_test_support::gw!()
        .args(["--resolver", "portable", "fs", "write"])
        .arg(&dir)
        .args([TARGET_NAME, "--temp", "tmpfile"])
        .stdin(Some(b"x"))
        .output();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "--temp tmpfile on the portable backend: {stderr}");
    assert!(stderr.contains("O_TMPFILE"), "the refusal says why: {stderr}");
    assert_eq!(std::fs::read_dir(&dir).unwrap().count(), 0, "nothing written");
}

/// THREATS FS-3/FS-4/FS-6 (and FS-1's "never open the final path"), with an
/// anonymous `O_TMPFILE` temp linked under an unpredictable name.
#[test]
fn fs_3_4_6_write_protocol_under_strace_tmpfile() {
    all_cases(Strategy::Tmpfile);
}

/// THREATS FS-3/FS-4/FS-6 (and FS-1's "never open the final path"), with a
/// named temp created `O_CREAT|O_EXCL|O_NOFOLLOW`.
#[test]
fn fs_3_4_6_write_protocol_under_strace_named() {
    all_cases(Strategy::Named);
}

/// The trace parser itself, on lines in strace's format (including a split
/// `<unfinished ...>` call and strings with commas and parentheses).
#[test]
fn strace_parser_handles_strings_and_resumed_calls() {
    let text = "\
10  openat(6, \".gw-tmp.0123456789abcdef0123456789abcdef\", O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0640) = 3
10  write(3, \"a, b) = 7, \\\"c\\\"\"..., 9000 <unfinished ...>
11  close(4)                          = 0
10  <... write resumed>)              = 9000
10  openat2(3, \"x/y\", {flags=O_RDONLY|O_CLOEXEC|O_DIRECTORY, resolve=RESOLVE_BENEATH}, 24) = 5
10  fsync(3) = -1 EIO (Input/output error)
10  +++ exited with 0 +++
";
    let calls = parse_trace(text);
    assert_eq!(calls.len(), 5, "{calls:#?}");
    assert_eq!(calls[0].name, "openat");
    assert_eq!(unquote(&calls[0].args[1]), ".gw-tmp.0123456789abcdef0123456789abcdef");
    assert_eq!(calls[0].args[3], "0640");
    assert_eq!(calls[1].name, "close");
    assert_eq!(calls[2].name, "write");
    assert_eq!(calls[2].args.len(), 3, "{:?}", calls[2].args);
    assert_eq!(calls[2].ret, 9000);
    let parts = open_parts(&calls[3]).unwrap();
    assert_eq!((parts.path.as_str(), parts.dirfd.as_deref()), ("x/y", Some("3")));
    assert!(parts.flags.iter().any(|f| f == "O_DIRECTORY"));
    assert_eq!(calls[4].ret, -1);
    let trace = Trace::new(calls);
    assert_eq!(trace.on("write", 0), [2], "the write is on the handle opened first");
}

/// A well-formed trace (the shape `gw fs write` produces) for the checker's
/// own tests; `T` is the temp fd (3), `D` the directory fd (6).
fn good_trace(strategy: Strategy) -> String {
    const TMP: &str = ".gw-tmp.19bd67a5bde3b2ef23de2adae361af49";
    let head = "\
7  open(\"/\", O_RDONLY|O_CLOEXEC|O_PATH|O_DIRECTORY) = 3
7  openat(3, \"tmp\", O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_PATH|O_DIRECTORY) = 4
7  openat(4, \"dir\", O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_DIRECTORY) = 5
7  close(3) = 0
7  close(4) = 0
7  openat2(5, \"conf\", {flags=O_RDONLY|O_NOFOLLOW|O_CLOEXEC|O_DIRECTORY, resolve=RESOLVE_BENEATH}, 24) = 6
";
    let body = match strategy {
        Strategy::Tmpfile => format!(
            "7  openat(6, \".\", O_WRONLY|O_CLOEXEC|O_TMPFILE, 0640) = 3
7  fchmod(3, 0640) = 0
7  write(3, \"hello\\n\", 6) = 6
7  fsync(3) = 0
7  linkat(3, \"\", 6, \"{TMP}\", AT_EMPTY_PATH) = 0
7  renameat(6, \"{TMP}\", 6, \"app.json\") = 0
7  close(3) = 0
7  fsync(6) = 0
"
        ),
        Strategy::Named => format!(
            "7  openat(6, \"{TMP}\", O_WRONLY|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0640) = 3
7  fchmod(3, 0640) = 0
7  write(3, \"hello\\n\", 6) = 6
7  fsync(3) = 0
7  close(3) = 0
7  renameat(6, \"{TMP}\", 6, \"app.json\") = 0
7  fsync(6) = 0
"
        ),
    };
    format!("{head}{body}7  close(6) = 0\n7  +++ exited with 0 +++\n")
}

fn check_text(text: &str, strategy: Strategy) -> Result<(), String> {
    check_trace(&Trace::new(parse_trace(text)), strategy, 6)
}

/// The checker bites: each protocol violation, spliced into a good trace,
/// is reported (so a passing trace test means the protocol was followed).
#[test]
fn strace_checker_rejects_protocol_violations() {
    for strategy in [Strategy::Tmpfile, Strategy::Named] {
        let good = good_trace(strategy);
        check_text(&good, strategy).unwrap_or_else(|e| panic!("{strategy:?}: the good trace is rejected: {e}"));
        let fchmod = "7  fchmod(3, 0640) = 0\n";
        let write = "7  write(3, \"hello\\n\", 6) = 6\n";
        let fsync_t = "7  fsync(3) = 0\n";
        let fsync_d = "7  fsync(6) = 0\n";
        let mut bad: Vec<(&str, String)> = vec![
            ("write before fchmod", good.replace(&format!("{fchmod}{write}"), &format!("{write}{fchmod}"))),
            ("fchmod to another mode", good.replace(fchmod, "7  fchmod(3, 0644) = 0\n")),
            ("no fsync of the temp", good.replace(fsync_t, "")),
            ("no fsync of the directory", good.replace(fsync_d, "")),
            ("short write", good.replace(write, "7  write(3, \"hel\", 3) = 3\n")),
            (
                "final path opened for writing",
                good.replace(fchmod, &format!("7  openat(6, \"app.json\", O_WRONLY|O_TRUNC|O_CLOEXEC) = 9\n{fchmod}")),
            ),
            ("final path truncated", good.replace(fchmod, &format!("7  truncate(\"/x/app.json\", 0) = 0\n{fchmod}"))),
            ("chmod after publish", good.replace("7  close(6)", "7  fchmodat(6, \"app.json\", 0640) = 0\n7  close(6)")),
            (
                "rename by path",
                good.replace("renameat(6, ", "rename(").replace(", 6, \"app.json\")", ", \"app.json\")"),
            ),
        ];
        match strategy {
            Strategy::Named => {
                bad.push(("temp not exclusive", good.replace("O_CREAT|O_EXCL|", "O_CREAT|")));
                bad.push(("temp follows links", good.replace("|O_NOFOLLOW|O_CLOEXEC, 0640", "|O_CLOEXEC, 0640")));
                bad.push((
                    "predictable temp name",
                    good.replace(".gw-tmp.19bd67a5bde3b2ef23de2adae361af49", ".app.json.tmp"),
                ));
                bad.push(("fsync after rename", {
                    let moved = good.replace(fsync_t, "");
                    moved.replace(fsync_d, &format!("{fsync_t}{fsync_d}"))
                }));
            }
            Strategy::Tmpfile => {
                bad.push(("created with a wider mode", good.replace("O_TMPFILE, 0640", "O_TMPFILE, 0666")));
                bad.push(("linked before fsync", {
                    let link = good.lines().find(|l| l.contains("linkat(")).unwrap().to_owned() + "\n";
                    good.replace(&link, "").replace(fsync_t, &format!("{link}{fsync_t}"))
                }));
            }
        }
        for (what, text) in bad {
            assert_ne!(text, good, "{strategy:?}: the mutation `{what}` did not change the trace");
            assert!(check_text(&text, strategy).is_err(), "{strategy:?}: the checker accepted `{what}`:\n{text}");
        }
    }
}
