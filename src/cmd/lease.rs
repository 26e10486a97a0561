//! `gw lease`: the command line over gw-lease (register / list / prune).
//! Every decision (what is alive, what is removed) is gw-lease's.

use gw_anchor::Policy;
use gw_lease::{Judgement, Listed, PruneReport, Record, Registration, Registry, SkipReason, Skipped};
use serde_json::json;

use crate::cli::lease::{LeaseCommand, ListArgs, PruneArgs, RegisterArgs};
use crate::output::{CliError, EXIT_OK, EXIT_REFUSED, Output};

pub(crate) fn run(cmd: LeaseCommand, policy: &Policy, out: Output) -> Result<u8, CliError> {
    match cmd {
        LeaseCommand::Register(a) => register(a, policy, out),
        LeaseCommand::List(a) => list(a, policy, out),
        LeaseCommand::Prune(a) => prune(a, policy, out),
    }
}

fn register(a: RegisterArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let mut reg = Registration::new(&a.id)?;
    let pid = match a.pid {
        Some(p) => p,
        None => rustix::process::getppid().map(|p| p.as_raw_nonzero().get() as u32).ok_or_else(|| {
            CliError::usage("register", "gw has no parent process to register").with_fix("pass --pid PID")
        })?,
    };
    reg = reg.pid(pid);
    if let Some(p) = a.port {
        reg = reg.port(p);
    }
    if let Some(t) = a.ttl {
        reg = reg.ttl(t);
    }
    if let Some(text) = &a.payload {
        let value = gw_persist::parse_json(text.as_bytes(), &gw_persist::Limits::default())
            .map_err(|e| CliError::input(e, "--payload"))?;
        reg = reg.payload(value)?;
    }
    let registry = Registry::open_with(&a.dir, policy)?;
    let (guard, report) = registry.register(&reg)?;
    let path = guard.path();
    let record = guard.persist();
    let mut human = format!("registered {} (pid {}) in {}", record.id, record.pid, path.display());
    if !report.removed.is_empty() {
        human.push('\n');
        human.push_str(&removed_lines(&report));
    }
    out.ok(&human, json!({ "path": path, "record": record, "pruned": report }));
    Ok(EXIT_OK)
}

fn list(a: ListArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let registry = Registry::open_existing(&a.dir, policy)?;
    let listing = registry.list()?;
    let shown: Vec<&Listed> =
        listing.records.iter().filter(|l| a.all || matches!(l.verdict, Judgement::Keep(_))).collect();
    let mut human = String::new();
    for l in &shown {
        human.push_str(&record_line(&l.record, &verdict_str(&l.verdict)));
        human.push('\n');
    }
    let refused: Vec<&Skipped> = listing.skipped.iter().filter(|s| is_refused(s)).collect();
    if a.all {
        human.push_str(&skipped_lines(&listing.skipped));
    } else {
        // Never silent: a record nobody can vouch for is always shown.
        human.push_str(&skipped_lines(refused.iter().copied()));
    }
    if human.is_empty() {
        human = format!("no live records in {}", registry.path().display());
    }
    let mut value =
        if a.all { json!({ "records": shown, "skipped": listing.skipped }) } else { json!({ "records": shown }) };
    value["refused"] = json!(refused);
    Ok(finish(out, "lease list", registry.path(), &human, value, refused.len()))
}

/// A record file refused for its owner or mode (THREATS FS-9).
fn is_refused(s: &Skipped) -> bool {
    matches!(s.reason, SkipReason::Insecure { .. })
}

/// Prints the result; with refused record files, also a refusal line on
/// stderr, `"ok": false`, and exit 3.
fn finish(
    out: Output,
    op: &'static str,
    dir: &std::path::Path,
    human: &str,
    mut value: serde_json::Value,
    refused: usize,
) -> u8 {
    if refused == 0 {
        out.ok(human, value);
        return EXIT_OK;
    }
    value["ok"] = json!(false);
    out.ok(human, value);
    let err = CliError {
        code: EXIT_REFUSED,
        kind: gw_anchor::ErrorKind::InsecureFile.as_str(),
        op,
        path: Some(dir.display().to_string()),
        message: format!(
            "{refused} record file(s) owned by another user or writable by group/other: refused, not trusted, left \
             alone"
        ),
        fix: Some("check each one listed above, then `chmod go-w FILE` / `chown` it, or remove it".to_owned()),
    };
    eprintln!("{}", err.line());
    EXIT_REFUSED
}

fn prune(a: PruneArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let registry = Registry::open_existing(&a.dir, policy)?;
    let report = registry.prune(a.dry_run)?;
    let mut human = removed_lines(&report);
    for k in &report.kept {
        human.push_str(&record_line(&k.record, &format!("kept: {}", k.status.as_str())));
        human.push('\n');
    }
    human.push_str(&skipped_lines(&report.skipped));
    human.push_str(&format!(
        "{} {} record(s), kept {}, left {} other entr{} alone",
        if a.dry_run { "would remove" } else { "removed" },
        report.removed.len(),
        report.kept.len(),
        report.skipped.len(),
        if report.skipped.len() == 1 { "y" } else { "ies" },
    ));
    let refused = report.skipped.iter().filter(|s| is_refused(s)).count();
    Ok(finish(out, "lease prune", registry.path(), &human, json!({ "report": report }), refused))
}

fn verdict_str(v: &Judgement) -> String {
    match v {
        Judgement::Keep(s) => format!("live: {}", s.as_str()),
        Judgement::Remove(r) => format!("stale: {}", r.as_str()),
    }
}

fn record_line(r: &Record, what: &str) -> String {
    let port = r.port.map(|p| format!(" port {p}")).unwrap_or_default();
    format!("{}\tpid {}{port}\t{what}", r.id, r.pid)
}

fn removed_lines(report: &PruneReport) -> String {
    let verb = if report.dry_run { "would remove" } else { "removed" };
    report.removed.iter().map(|r| format!("{}\tpid {}\t{verb}: {}\n", r.id, r.record.pid, r.reason.as_str())).collect()
}

fn skipped_lines<'a>(skipped: impl IntoIterator<Item = &'a Skipped>) -> String {
    skipped
        .into_iter()
        .map(|s| {
            let why = match &s.reason {
                SkipReason::NotRegular { kind } => format!("not a regular file ({kind}): left alone, not followed"),
                SkipReason::UnrecognisedName => "not a record name: left alone".to_owned(),
                SkipReason::Insecure { message } => format!("REFUSED, not trusted, left alone: {message}"),
                SkipReason::Malformed { message } => format!("malformed record, left alone: {message}"),
                SkipReason::Failed { message } => format!("left alone: {message}"),
            };
            format!("{}\t{why}\n", s.name)
        })
        .collect()
}
