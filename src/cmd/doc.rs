//! `gw doc`: the command line over gw-persist documents.

use std::path::Path;

use gw_anchor::{Policy, Root};
use gw_persist::service::{MAX_SPEC_BYTES, ServiceKind, ServiceSpec};
use gw_persist::{Document, Error, ErrorKind, Format, Limits, merge_patch, parse_json, pointer};
use serde_json::{Value, json};
use zeroize::Zeroizing;

use crate::cli::doc::{DocCommand, DocGetArgs, DocRmArgs, DocSetArgs, DocTarget, FormatArg, RenderArgs, ServiceArg};
use crate::input::read_stdin;
use crate::output::{CliError, EXIT_NOT_FOUND, EXIT_OK, Output};

pub(crate) fn run(cmd: DocCommand, policy: &Policy, out: Output) -> Result<u8, CliError> {
    match cmd {
        DocCommand::Get(a) => get(a, policy, out),
        DocCommand::Set(a) => set(a, policy, out),
        DocCommand::Rm(a) => rm(a, policy, out),
        DocCommand::Merge(a) => merge(a, policy, out),
        DocCommand::Render(a) => render(a, policy, out),
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
    let human = match found {
        // --raw: the text itself, as `jq -r` prints it.
        Value::String(text) if a.raw => text.clone(),
        _ => serde_json::to_string_pretty(found).unwrap_or_default(),
    };
    out.ok(&human, json!({ "path": doc.path(), "pointer": ptr, "value": found }));
    Ok(EXIT_OK)
}

/// Reads stdin up to the document size limit.
fn stdin_text(what: &str) -> Result<Zeroizing<Vec<u8>>, CliError> {
    stdin_limited(what, Limits::DEFAULT_MAX_BYTES)
}

fn stdin_limited(what: &str, max: u64) -> Result<Zeroizing<Vec<u8>>, CliError> {
    read_stdin(what, max)?.ok_or_else(|| {
        CliError::usage("read stdin", format!("{what} on stdin is larger than {max} bytes; nothing was written"))
    })
}

fn set(a: DocSetArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    check_pointer(&a.pointer)?;
    let root = open(&a.target, policy)?;
    let doc = document(&root, &a.target);
    let mut raw = match &a.value {
        Some(v) => Zeroizing::new(v.as_bytes().to_vec()),
        None => stdin_text("the value")?,
    };
    let value = if a.string {
        let mut text = String::from_utf8(std::mem::take(&mut *raw))
            .map_err(|_| CliError::usage("set", "the value is not valid UTF-8"))?;
        if text.ends_with('\n') {
            text.pop();
        }
        Value::String(text)
    } else {
        let from = if a.value.is_some() { "VALUE" } else { "stdin" };
        parse_json(&raw, &Limits::default()).map_err(|e| {
            let syntax = e.kind() == ErrorKind::Syntax;
            let err = CliError::input(e, from);
            if syntax && err.fix.is_none() {
                // `gw doc set f /name hello`: text meant as a string.
                err.with_fix("the value is JSON text; to store it as a string, add --string (or quote it: '\"text\"')")
            } else {
                err
            }
        })?
    };
    let before = mode_before(&root, &a.target)?;
    // The value may be a secret: it is never printed, only where it went.
    let written = doc.update_value(|cur| {
        let mut d = cur.unwrap_or_else(|| json!({}));
        if a.parents {
            pointer::set_creating(&mut d, &a.pointer, value)?;
        } else {
            pointer::set(&mut d, &a.pointer, value)?;
        }
        Ok(d)
    });
    let written = written.map_err(|e| {
        let missing_parent = e.kind() == ErrorKind::Pointer && e.message().contains("parent does not exist");
        let err = relabel_pointer(e, &doc);
        if missing_parent { err.with_fix("add --parents to create the missing objects on the way") } else { err }
    })?;
    let bytes = doc.format().render(&written).map(|b| b.len()).unwrap_or(0);
    let mut result = json!({ "path": doc.path(), "pointer": a.pointer, "bytes": bytes });
    tightened(&doc, before, &mut result);
    out.ok(
        &format!("set {} in {} ({} bytes, written atomically)", show_ptr(&a.pointer), doc.path().display(), bytes),
        result,
    );
    Ok(EXIT_OK)
}

/// The mode the document has now, if it exists (before an update rewrites
/// it as 0600).
fn mode_before(root: &Root, t: &DocTarget) -> Result<Option<u32>, CliError> {
    match root.metadata(&t.rel) {
        Ok(m) => Ok(Some(m.mode & 0o7777)),
        Err(e) if e.kind() == gw_anchor::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Says so when an update tightened the document's mode (documents are
/// written 0600): a notice on stderr, and `mode` / `mode_before` in JSON.
fn tightened(doc: &Document<'_>, before: Option<u32>, result: &mut Value) {
    const WRITTEN: u32 = 0o600;
    let Some(before) = before.filter(|m| m & !WRITTEN != 0) else { return };
    crate::output::eprint(&format!(
        "gw: note: {} was mode {before:04o}; documents are written {WRITTEN:04o}, so it is now readable by its \
         owner only (`chmod {:o} {}` to share it again)\n",
        doc.path().display(),
        before & 0o644 | WRITTEN,
        doc.path().display(),
    ));
    result["mode"] = json!(format!("{WRITTEN:04o}"));
    result["mode_before"] = json!(format!("{before:04o}"));
}

fn rm(a: DocRmArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    check_pointer(&a.pointer)?;
    if a.pointer.is_empty() {
        // Something is there (the document): "nothing at ``" would be wrong.
        return Err(CliError::usage(
            "rm",
            "the empty JSON pointer names the whole document, which `doc rm` does not remove",
        )
        .with_fix("give the pointer of a value inside it; to delete the file use `gw fs rm DIR REL`"));
    }
    let root = open(&a.target, policy)?;
    let doc = document(&root, &a.target);
    // A missing document is reported before the lock file is created.
    if doc.load_value()?.is_none() {
        return Err(missing(&doc));
    }
    let before = mode_before(&root, &a.target)?;
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
    let mut result = json!({ "path": doc.path(), "pointer": a.pointer });
    tightened(&doc, before, &mut result);
    out.ok(&format!("removed {} from {}", show_ptr(&a.pointer), doc.path().display()), result);
    Ok(EXIT_OK)
}

fn merge(a: DocTarget, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let root = open(&a, policy)?;
    let doc = document(&root, &a);
    let patch =
        parse_json(&stdin_text("the merge patch")?, &Limits::default()).map_err(|e| CliError::input(e, "stdin"))?;
    let before = mode_before(&root, &a)?;
    doc.update_value(|cur| {
        let mut d = cur.unwrap_or_else(|| json!({}));
        merge_patch(&mut d, &patch);
        Ok(d)
    })?;
    let mut result = json!({ "path": doc.path() });
    tightened(&doc, before, &mut result);
    out.ok(&format!("merged the patch into {} (written atomically)", doc.path().display()), result);
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

/// Reads the spec: stdin for `-`, else the file through an anchored root of
/// its directory (a spec in an insecure directory could be swapped).
fn read_spec(spec: &Path, policy: &Policy) -> Result<Zeroizing<Vec<u8>>, CliError> {
    if spec == Path::new("-") {
        return stdin_limited("the spec", MAX_SPEC_BYTES);
    }
    let (dir, name) = match (spec.parent(), spec.file_name()) {
        (Some(d), Some(n)) => (if d.as_os_str().is_empty() { Path::new(".") } else { d }, n),
        _ => return Err(CliError::usage("render", format!("--spec {}: not a file path", spec.display()))),
    };
    let root = Root::open(dir, policy).map_err(|e| {
        let insecure = e.kind() == gw_anchor::ErrorKind::InsecureDirectory;
        let err = CliError::from(e);
        if insecure {
            // `chmod go-w /tmp` is not the fix for a spec left in /tmp.
            err.with_fix("keep the spec in a directory only you can write, or pipe it in with `--spec -`")
        } else {
            err
        }
    })?;
    Ok(Zeroizing::new(root.read(name, MAX_SPEC_BYTES)?))
}

fn render(a: RenderArgs, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let kind = match a.kind {
        ServiceArg::Launchd => ServiceKind::Launchd,
        ServiceArg::Systemd => ServiceKind::Systemd,
    };
    // Refused before anything is read or written.
    if a.bootstrap && !matches!(kind, ServiceKind::Launchd) {
        return Err(CliError::usage("render", "--bootstrap loads a launchd agent; it does not apply to systemd")
            .with_fix("load the unit with `systemctl --user daemon-reload` and `systemctl --user enable --now`"));
    }
    if a.bootstrap && !cfg!(target_os = "macos") {
        return Err(CliError::usage("render", "--bootstrap runs `launchctl bootstrap`, which exists only on macOS")
            .with_fix("drop --bootstrap: the plist is still rendered and written"));
    }
    let Some(spec_path) = a.spec else {
        // --example-spec (clap requires one of the two).
        let example = example_spec(kind);
        if out.json {
            let spec: Value = serde_json::from_str(example).unwrap_or_default();
            out.ok("", json!({ "kind": kind.as_str(), "spec": spec }));
        } else {
            crate::output::print(example.as_bytes());
        }
        return Ok(EXIT_OK);
    };
    let bytes = read_spec(&spec_path, policy)?;
    let spec_name = spec_path.display().to_string();
    let spec = ServiceSpec::from_json(kind, &bytes).map_err(|e| spec_error(e, &spec_name))?;
    let rendered = spec.render().map_err(|e| spec_error(e, &spec_name))?;
    let Some(target) = a.write else {
        if out.json {
            let text = String::from_utf8_lossy(&rendered).into_owned();
            out.ok("", json!({ "kind": kind.as_str(), "rendered": text }));
        } else {
            // A failed write is reported once, at exit (CLI-3).
            crate::output::print(&rendered);
        }
        return Ok(EXIT_OK);
    };
    let [dir, rel] = <[std::ffi::OsString; 2]>::try_from(target)
        .map_err(|_| CliError::usage("render", "--write takes DIR and REL"))?;
    let root = Root::open(&dir, policy)?;
    if let Some(parent) = std::path::Path::new(&rel).parent().filter(|p| a.parents && !p.as_os_str().is_empty()) {
        root.mkdir_all(parent, 0o700)?;
    }
    let written = spec.write(&root, &rel).map_err(|e| CliError::from(e).missing_parent(a.parents))?;
    let handoff = written.verify_before_handoff()?;
    if a.bootstrap {
        bootstrap_agent(&handoff)?;
        out.ok(
            &format!("wrote {} ({} bytes, mode 0644); directory chain re-verified; loaded with launchctl bootstrap", handoff.display(), written.bytes().len()),
            json!({ "kind": kind.as_str(), "path": handoff, "bytes": written.bytes().len(), "verified": true, "bootstrapped": true }),
        );
        return Ok(EXIT_OK);
    }
    out.ok(
        &format!(
            "wrote {} ({} bytes, mode 0644); directory chain re-verified: hand {} to {}",
            handoff.display(),
            written.bytes().len(),
            handoff.display(),
            match kind {
                ServiceKind::Launchd => "launchctl",
                _ => "systemctl --user",
            }
        ),
        json!({ "kind": kind.as_str(), "path": handoff, "bytes": written.bytes().len(), "verified": true }),
    );
    Ok(EXIT_OK)
}

/// The spec `doc render KIND --example-spec` prints: every field, valid as
/// it is (tests/cli_doc_inputs.rs renders each).
fn example_spec(kind: ServiceKind) -> &'static str {
    match kind {
        ServiceKind::Launchd => {
            r#"{
  "label": "ai.gw.serve",
  "program_arguments": ["/usr/local/bin/gw", "serve", "--port", "18789"],
  "environment_variables": {"GW_HOME": "/Users/me/.config/gw"},
  "run_at_load": true,
  "keep_alive": true,
  "standard_out_path": "/Users/me/Library/Logs/gw-serve.log",
  "standard_error_path": "/Users/me/Library/Logs/gw-serve.err",
  "working_directory": "/Users/me",
  "throttle_interval": 10
}
"#
        }
        _ => {
            r#"{
  "description": "gw reference gateway",
  "after": ["network.target"],
  "exec_start": ["/usr/local/bin/gw", "serve", "--port", "18789"],
  "environment": {"GW_HOME": "/home/me/.config/gw"},
  "restart": "on-failure",
  "restart_sec": 5,
  "watchdog_sec": 30,
  "working_directory": "/home/me",
  "wanted_by": ["default.target"]
}
"#
        }
    }
}

/// `launchctl bootstrap gui/UID PATH` for a plist just written and
/// re-verified (macOS; the caller refuses `--bootstrap` elsewhere).
#[cfg(target_os = "macos")]
fn bootstrap_agent(path: &Path) -> Result<(), CliError> {
    let domain = format!("gui/{}", rustix::process::getuid().as_raw());
    let out = std::process::Command::new("/bin/launchctl")
        .arg("bootstrap")
        .arg(&domain)
        .arg(path)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| launchctl_error(path, format!("cannot run /bin/launchctl: {e}")))?;
    if !out.status.success() {
        // launchctl's own message (it names the plist and the reason, such as
        // "Bootstrap failed: 5: Input/output error" when already loaded).
        let why = String::from_utf8_lossy(&out.stderr).trim().to_owned();
        return Err(launchctl_error(
            path,
            format!("launchctl bootstrap {domain} {} failed ({}): {why}", path.display(), out.status),
        )
        .with_fix(format!("if the agent is already loaded: `launchctl bootout {domain} {}` first", path.display())));
    }
    Ok(())
}

#[cfg(target_os = "macos")]
fn launchctl_error(path: &Path, message: String) -> CliError {
    CliError {
        code: crate::output::EXIT_FAILED,
        kind: "io",
        op: "launchctl bootstrap",
        path: Some(path.display().to_string()),
        message,
        fix: None,
    }
}

#[cfg(not(target_os = "macos"))]
fn bootstrap_agent(_path: &Path) -> Result<(), CliError> {
    // Unreachable: `render` refuses --bootstrap off macOS before writing.
    Err(CliError::usage("render", "--bootstrap runs `launchctl bootstrap`, which exists only on macOS"))
}

/// A spec error: it names the spec and the field; injections stay exit 3.
fn spec_error(e: Error, spec: &str) -> CliError {
    let field = e.path().display().to_string();
    let mut err = CliError::input(e, spec);
    if !field.is_empty() && field != "-" {
        err.path = Some(format!("{spec} field {field}"));
    }
    err
}
