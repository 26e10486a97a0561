//! `gw fs`: the command line over gw-anchor.

use std::path::Path;

use gw_anchor::{Durability, Policy, Root, TempStrategy, WriteOptions, audit_chain};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cli::fs::{CheckArgs, FsCommand, LsArgs, MkdirArgs, MvArgs, ReadArgs, TempArg, WriteArgs};
use crate::input::read_stdin;
use crate::output::{CliError, EXIT_OK, EXIT_REFUSED, Output};

pub(crate) fn run(cmd: FsCommand, policy: &Policy, out: Output) -> Result<u8, CliError> {
    match cmd {
        FsCommand::Write(a) => write(a, policy, out),
        FsCommand::Read(a) => read(a, policy, out),
        FsCommand::Mkdir(a) => mkdir(a, policy, out),
        FsCommand::Rm(a) => {
            let root = Root::open(&a.dir, policy)?;
            root.remove(&a.rel)?;
            let path = root.path().join(&a.rel);
            out.ok(&format!("removed {}", path.display()), json!({ "removed": path }));
            Ok(EXIT_OK)
        }
        FsCommand::Mv(a) => mv(a, policy, out),
        FsCommand::Ls(a) => ls(a, policy, out),
        FsCommand::Check(a) => check(a, policy, out),
    }
}

fn write(a: WriteArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    // Open (and verify) the directory before consuming stdin: a refused
    // directory fails fast, and nothing is read that will not be written.
    let root = Root::open(&a.target.dir, policy)?;
    let content = read_stdin_limited(a.max_bytes)?;
    let options = WriteOptions::new()
        .mode(a.mode)
        .durability(if a.no_sync { Durability::NoSync } else { Durability::Sync })
        .create_parents(a.parents)
        .temp_strategy(match a.temp {
            TempArg::Auto => TempStrategy::Auto,
            TempArg::Tmpfile => TempStrategy::Tmpfile,
            TempArg::Named => TempStrategy::Named,
        });
    root.write_atomic(&a.target.rel, &content, &options).map_err(|e| CliError::from(e).missing_parent(a.parents))?;
    let path = root.path().join(&a.target.rel);
    out.ok(
        &format!("wrote {} bytes to {} (mode {:04o}{})", content.len(), path.display(), a.mode, sync_note(a.no_sync)),
        json!({ "path": path, "bytes": content.len(), "mode": format!("{:04o}", a.mode), "durable": !a.no_sync }),
    );
    Ok(EXIT_OK)
}

fn sync_note(no_sync: bool) -> &'static str {
    if no_sync { ", not synced" } else { ", durable" }
}

/// Reads stdin, refusing more than `max` bytes.
fn read_stdin_limited(max: u64) -> Result<Zeroizing<Vec<u8>>, CliError> {
    read_stdin("the content", max)?.ok_or_else(|| {
        CliError::usage(
            "read stdin",
            format!("stdin is larger than the --max-bytes limit of {max} bytes; nothing was written"),
        )
        .with_fix("raise --max-bytes if this size is expected")
    })
}

fn read(a: ReadArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let root = Root::open(&a.target.dir, policy)?;
    let content = root.read(&a.target.rel, a.max_bytes)?;
    if out.json {
        let path = root.path().join(&a.target.rel);
        // One key scheme whatever the bytes: `content` always, and
        // `encoding` saying how to read it ("utf-8" text, or "hex" for
        // bytes that are not UTF-8), so a consumer never guesses the key.
        let (encoding, text) = match std::str::from_utf8(&content) {
            Ok(s) => ("utf-8", s.to_owned()),
            Err(_) => ("hex", content.iter().map(|b| format!("{b:02x}")).collect()),
        };
        out.ok("", json!({ "path": path, "bytes": content.len(), "encoding": encoding, "content": text }));
    } else {
        // A failed write is reported once, at exit (CLI-3).
        crate::output::print(&content);
    }
    Ok(EXIT_OK)
}

fn mkdir(a: MkdirArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let root = Root::open(&a.target.dir, policy)?;
    root.mkdir_all(&a.target.rel, a.mode)?;
    let path = root.path().join(&a.target.rel);
    out.ok(&format!("directory {} is ready", path.display()), json!({ "path": path }));
    Ok(EXIT_OK)
}

fn mv(a: MvArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let root = Root::open(&a.dir, policy)?;
    root.rename(&a.from, &a.to, a.no_replace)?;
    let (from, to) = (root.path().join(&a.from), root.path().join(&a.to));
    out.ok(&format!("moved {} to {}", from.display(), to.display()), json!({ "from": from, "to": to }));
    Ok(EXIT_OK)
}

fn ls(a: LsArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let root = Root::open(&a.dir, policy)?;
    let rel = a.rel.unwrap_or_else(|| ".".into());
    let entries = root.list(&rel)?;
    let mut human = String::new();
    let mut list = Vec::new();
    for e in &entries {
        let name = e.name.to_string_lossy();
        human.push_str(&format!("{:<12} {}\n", e.kind.as_str(), name));
        list.push(json!({ "name": name, "kind": e.kind.as_str() }));
    }
    out.ok(&human, json!({ "path": root.path().join(&rel), "entries": list }));
    Ok(EXIT_OK)
}

fn check(a: CheckArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let steps = audit_chain(&a.dir, policy)?;
    let mut human = String::new();
    let mut list = Vec::new();
    let mut bad = 0usize;
    for s in &steps {
        let verdict = match &s.problem {
            None => "ok".to_owned(),
            Some(p) => {
                bad += 1;
                format!("UNSAFE: {p}")
            }
        };
        let what = match &s.link_target {
            Some(t) => format!("{} -> {}", s.path.display(), t.display()),
            None => s.path.display().to_string(),
        };
        let role = if s.is_root {
            "root"
        } else if s.link_target.is_some() {
            "link"
        } else {
            "dir"
        };
        human.push_str(&format!("{role:<4} {:04o} uid={:<6} {what}: {verdict}\n", s.mode, s.uid));
        list.push(json!({
            "path": s.path, "link_target": s.link_target, "role": role,
            "uid": s.uid, "mode": format!("{:04o}", s.mode), "problem": s.problem,
        }));
    }
    let dir = Path::new(&a.dir);
    if bad == 0 {
        human.push_str(&format!("{}: every component is trusted\n", dir.display()));
    } else {
        human.push_str(&format!("{}: {bad} unsafe component(s); gw refuses to use this directory\n", dir.display()));
    }
    let code = if bad == 0 { EXIT_OK } else { EXIT_REFUSED };
    if out.json {
        out.ok("", json!({ "ok": bad == 0, "path": dir, "trusted": bad == 0, "exit_code": code, "components": list }));
    } else if bad == 0 {
        out.ok(&human, Value::Null);
    } else {
        // The audit itself is the answer: print it, and say why on stderr.
        crate::output::print(human.as_bytes());
        crate::output::eprint(&format!(
            "gw: refused: check {}: {bad} unsafe component(s) on the way to the directory\n",
            dir.display()
        ));
    }
    Ok(code)
}
