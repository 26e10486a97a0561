//! `gw doc`: the command line over gw-persist documents.

use std::io::Read;

use gw_anchor::{Policy, Root};
use gw_persist::{Document, Error, ErrorKind, Format, Limits, merge_patch, parse_json, pointer};
use serde_json::{Value, json};

use crate::cli::{DocCommand, DocGetArgs, DocRmArgs, DocSetArgs, DocTarget, FormatArg};
use crate::output::{CliError, EXIT_NOT_FOUND, EXIT_OK, Output};

pub(crate) fn run(cmd: DocCommand, policy: &Policy, out: Output) -> Result<u8, CliError> {
    match cmd {
        DocCommand::Get(a) => get(a, policy, out),
        DocCommand::Set(a) => set(a, policy, out),
        DocCommand::Rm(a) => rm(a, policy, out),
        DocCommand::Merge(a) => merge(a, policy, out),
    }
}

fn open(t: &DocTarget, policy: &Policy) -> Result<Root, CliError> {
    Ok(Root::open(&t.dir, policy)?)
}

fn document<'r>(root: &'r Root, t: &DocTarget) -> Document<'r> {
    let doc = Document::new(root, &t.rel);
    match t.format {
        Some(FormatArg::Json) => doc.with_format(Format::Json),
        Some(FormatArg::Plist) => doc.with_format(Format::Plist),
        None => doc,
    }
}

fn missing(doc: &Document<'_>) -> CliError {
    CliError::from(gw_persist::Error::new(
        ErrorKind::Fs(gw_anchor::ErrorKind::NotFound),
        "load",
        doc.path(),
        "no such document",
    ))
}

/// A pointer given on the command line: malformed is a usage error.
fn check_pointer(ptr: &str) -> Result<(), CliError> {
    pointer::tokens(ptr).map(|_| ()).map_err(|e| CliError::input(e, "POINTER"))
}

fn nothing_at(doc: &Document<'_>, ptr: &str) -> CliError {
    let mut e = CliError::from(gw_persist::Error::new(
        ErrorKind::Pointer,
        "pointer",
        doc.path(),
        format!("nothing at JSON pointer `{ptr}`"),
    ));
    e.code = EXIT_NOT_FOUND;
    e
}

fn get(a: DocGetArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let root = open(&a.target, policy)?;
    let doc = document(&root, &a.target);
    let ptr = a.pointer.unwrap_or_default();
    check_pointer(&ptr)?;
    let value = doc.load_value()?.ok_or_else(|| missing(&doc))?;
    let found = value.pointer(&ptr).ok_or_else(|| nothing_at(&doc, &ptr))?;
    let pretty = serde_json::to_string_pretty(found).unwrap_or_default();
    out.ok(&pretty, json!({ "path": doc.path(), "pointer": ptr, "value": found }));
    Ok(EXIT_OK)
}

/// Reads stdin up to the document size limit.
fn stdin_text(what: &str) -> Result<Vec<u8>, CliError> {
    let max = Limits::DEFAULT_MAX_BYTES;
    let mut buf = Vec::new();
    std::io::stdin()
        .lock()
        .take(max + 1)
        .read_to_end(&mut buf)
        .map_err(|e| CliError::usage("read stdin", format!("cannot read {what} from stdin: {e}")))?;
    if buf.len() as u64 > max {
        return Err(CliError::usage(
            "read stdin",
            format!("{what} on stdin is larger than {max} bytes; nothing was written"),
        ));
    }
    Ok(buf)
}

fn set(a: DocSetArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    check_pointer(&a.pointer)?;
    let root = open(&a.target, policy)?;
    let doc = document(&root, &a.target);
    let raw = match &a.value {
        Some(v) => v.as_bytes().to_vec(),
        None => stdin_text("the value")?,
    };
    let value = if a.string {
        let mut text = String::from_utf8(raw).map_err(|_| CliError::usage("set", "the value is not valid UTF-8"))?;
        if text.ends_with('\n') {
            text.pop();
        }
        Value::String(text)
    } else {
        parse_json(&raw, &Limits::default()).map_err(|e| CliError::input(e, "VALUE"))?
    };
    // The value may be a secret: it is never printed, only where it went.
    let written = doc.update_value(|cur| {
        let mut d = cur.unwrap_or_else(|| json!({}));
        pointer::set(&mut d, &a.pointer, value)?;
        Ok(d)
    });
    let written = written.map_err(|e| relabel_pointer(e, &doc))?;
    let bytes = doc.format().render(&written).map(|b| b.len()).unwrap_or(0);
    out.ok(
        &format!("set {} in {} ({} bytes, written atomically)", show_ptr(&a.pointer), doc.path().display(), bytes),
        json!({ "path": doc.path(), "pointer": a.pointer, "bytes": bytes }),
    );
    Ok(EXIT_OK)
}

fn rm(a: DocRmArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    check_pointer(&a.pointer)?;
    let root = open(&a.target, policy)?;
    let doc = document(&root, &a.target);
    let mut absent = false;
    let result = doc.update_value(|cur| {
        let Some(mut d) = cur else {
            absent = true;
            return Err(Error::new(
                ErrorKind::Fs(gw_anchor::ErrorKind::NotFound),
                "rm",
                doc.path(),
                "no such document",
            ));
        };
        if d.pointer(&a.pointer).is_none() {
            return Err(Error::new(
                ErrorKind::Pointer,
                "rm",
                doc.path(),
                format!("nothing at JSON pointer `{}`", a.pointer),
            ));
        }
        pointer::remove(&mut d, &a.pointer)?;
        Ok(d)
    });
    match result {
        Ok(_) => {}
        Err(_) if absent => return Err(missing(&doc)),
        Err(e) if e.kind() == ErrorKind::Pointer => return Err(nothing_at(&doc, &a.pointer)),
        Err(e) => return Err(e.into()),
    }
    out.ok(
        &format!("removed {} from {}", show_ptr(&a.pointer), doc.path().display()),
        json!({ "path": doc.path(), "pointer": a.pointer }),
    );
    Ok(EXIT_OK)
}

fn merge(a: DocTarget, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let root = open(&a, policy)?;
    let doc = document(&root, &a);
    let patch =
        parse_json(&stdin_text("the merge patch")?, &Limits::default()).map_err(|e| CliError::input(e, "stdin"))?;
    doc.update_value(|cur| {
        let mut d = cur.unwrap_or_else(|| json!({}));
        merge_patch(&mut d, &patch);
        Ok(d)
    })?;
    out.ok(
        &format!("merged the patch into {} (written atomically)", doc.path().display()),
        json!({ "path": doc.path() }),
    );
    Ok(EXIT_OK)
}

fn relabel_pointer(e: Error, doc: &Document<'_>) -> CliError {
    let mut err = CliError::from(e);
    if err.kind == "pointer" {
        err.path = Some(doc.path().display().to_string());
    }
    err
}

fn show_ptr(p: &str) -> String {
    if p.is_empty() { "the whole document".into() } else { format!("`{p}`") }
}
