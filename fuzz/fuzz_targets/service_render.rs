//! Fuzz target: the service-definition loader and renderers
//! (`gw_persist::service`), structure-aware.
//!
//! Each input (decoded by `arbitrary`) is a systemd unit spec or a launchd
//! agent spec whose strings are built from hostile pieces (newlines, `\`,
//! quotes, `%`, `$`, XML markup, Unicode separators, any `char`, long runs),
//! optionally mangled at the JSON level (an unknown field, a duplicated key,
//! a value of the wrong type). The spec is written as JSON text and loaded
//! through `ServiceSpec::from_json`, then rendered. Properties:
//! - nothing panics;
//! - `from_json` gives exactly the spec the input describes, or the refusal
//!   it must give: `TooLarge` over `MAX_SPEC_BYTES`, `DuplicateKey` for a
//!   duplicated key, `InvalidSpec` for an unknown field, a wrong type, a
//!   missing required field or an unknown `restart` value; a loaded spec
//!   serializes and loads back to itself;
//! - `render` succeeds exactly when `validate` does; a value holding a
//!   control character or a line separator is always refused; a refusal is
//!   `Injection` or `InvalidSpec`, and `Injection` only for a value with a
//!   format-breaking character (or a trailing `\` on an unquoted systemd
//!   value);
//! - systemd: the rendered unit, read back by an independent parser
//!   (gw-test-support's `unit` module, shared with gw-persist's service suites), has exactly the expected sections and directives in
//!   order (no injected key or section), and `ExecStart=`, `Environment=`
//!   and every other value decode to exactly the spec's;
//! - launchd: `parse_plist` of the rendered bytes equals the property list
//!   the spec stands for (same keys, same values).
//!
//! `GW_FUZZ_DEBUG=1` prints the spec JSON and every result.
#![no_main]

use gw_test_support::launchd::expected_plist;
use gw_test_support::unit;

use std::cell::Cell;
use std::collections::BTreeMap;

use arbitrary::Arbitrary;
use gw_persist::service::{LaunchAgent, MAX_SPEC_BYTES, Restart, ServiceKind, ServiceSpec, SystemdUnit};
use gw_persist::{Error, ErrorKind, Limits, parse_plist};
use libfuzzer_sys::fuzz_target;
use serde_json::{Value, json};

// The pieces strings are made of. gen_seeds.py reads this list (one Rust
// string literal per line between the markers) to encode the seeds: append
// new tokens at the end so the committed seeds keep their meaning.
// BEGIN TOKENS
const TOKENS: &[&str] = &[
    "/usr/bin/gw",
    "serve",
    "--port",
    "18789",
    "/home/me/.gw",
    "ai.gw.serve",
    "a",
    " ",
    "/",
    ".",
    "..",
    "~",
    "é",
    "\"",
    "'",
    "\\",
    "\\\\",
    "%",
    "%%",
    "%h",
    "$",
    "$$",
    "$HOME",
    "${HOME}",
    ";",
    "=",
    "#",
    "[",
    "]",
    "\\x2d",
    "\\n",
    "\\s",
    "\n",
    "\r",
    "\r\n",
    "\0",
    "\t",
    "\u{7f}",
    "\u{85}",
    "\u{2028}",
    "\u{2029}",
    "\u{202e}",
    "\u{2066}",
    "\u{200f}",
    "\u{fffe}",
    "\u{ffff}",
    "\u{feff}",
    "\nExecStartPre=/bin/evil",
    "\n[Install]\nWantedBy=evil.target",
    "\\\nExecStartPre=/bin/evil",
    "<",
    ">",
    "&",
    "&amp;",
    "]]>",
    "<!--",
    "</string><key>Evil</key><string>",
    "<![CDATA[",
];
// END TOKENS

/// Names that pass validation, chosen by `Named::Known`.
const UNITS: &[&str] = &[
    "default.target",
    "network.target",
    "network-online.target",
    "gw@a.service",
    "a:b_c-d.socket",
    "graphical-session.target",
    "gw.service",
];
const ENV_NAMES: &[&str] = &["HOME", "GW_HOME", "PATH", "_", "A1", "LANG", "GW_TOKEN_FILE"];
const LABELS: &[&str] = &["ai.gw.serve", "a", "A-b_c.1", "com.example.agent"];
const RESTARTS: &[(&str, Restart)] = &[
    ("no", Restart::No),
    ("on-success", Restart::OnSuccess),
    ("on-failure", Restart::OnFailure),
    ("on-abnormal", Restart::OnAbnormal),
    ("on-watchdog", Restart::OnWatchdog),
    ("on-abort", Restart::OnAbort),
    ("always", Restart::Always),
];
const RESTART_NAMES: &[&str] = &["no", "on-success", "on-failure", "on-abnormal", "on-watchdog", "on-abort", "always"];

const SYSTEMD_FIELDS: &[&str] = &[
    "description",
    "after",
    "exec_start",
    "environment",
    "restart",
    "restart_sec",
    "watchdog_sec",
    "working_directory",
    "wanted_by",
];
const LAUNCHD_FIELDS: &[&str] = &[
    "label",
    "program_arguments",
    "environment_variables",
    "run_at_load",
    "keep_alive",
    "standard_out_path",
    "standard_error_path",
    "working_directory",
    "throttle_interval",
];

/// A string stops growing once it is this long (past every per-value limit).
const MAX_TEXT: usize = 70_000;
/// The bytes `Piece::Repeat` may add to one input's strings in all: enough
/// for the argv total and the spec size limits, small enough to keep runs
/// fast (past it, a repeat adds its token once).
const REPEAT_BUDGET: usize = 300_000;

thread_local! {
    static BUDGET: Cell<usize> = const { Cell::new(REPEAT_BUDGET) };
}

#[derive(Arbitrary, Debug)]
enum Piece {
    Tok(u8),
    Char(char),
    /// A token repeated (lengths past `MAX_VALUE_BYTES` and `MAX_ARGV_BYTES`).
    Repeat(u8, u16),
    Raw(String),
}

#[derive(Arbitrary, Debug)]
struct Text(Vec<Piece>);

fn tok(i: u8) -> &'static str {
    TOKENS[usize::from(i) % TOKENS.len()]
}

impl Text {
    fn build(&self) -> String {
        let mut s = String::new();
        for piece in &self.0 {
            if s.len() >= MAX_TEXT {
                break;
            }
            match piece {
                Piece::Tok(i) => s.push_str(tok(*i)),
                Piece::Char(c) => s.push(*c),
                Piece::Repeat(i, n) => {
                    let t = tok(*i);
                    let room = (MAX_TEXT - s.len()).min(BUDGET.get()) / t.len() + 1;
                    let add = t.repeat(usize::from(*n).min(room));
                    BUDGET.set(BUDGET.get().saturating_sub(add.len()));
                    s.push_str(&add);
                }
                Piece::Raw(r) => s.push_str(r),
            }
        }
        s
    }
}

/// A path: `/` and the parts joined by `/` (an empty part gives `//`), or
/// any text.
#[derive(Arbitrary, Debug)]
enum PathIn {
    Abs(Vec<Text>),
    Raw(Text),
}

impl PathIn {
    fn build(&self) -> String {
        match self {
            PathIn::Abs(parts) => format!("/{}", parts.iter().map(Text::build).collect::<Vec<_>>().join("/")),
            PathIn::Raw(t) => t.build(),
        }
    }
}

/// A name from a list of good ones, or any text.
#[derive(Arbitrary, Debug)]
enum Named {
    Known(u8),
    Raw(Text),
}

impl Named {
    fn build(&self, known: &[&str]) -> String {
        match self {
            Named::Known(i) => known[usize::from(*i) % known.len()].to_owned(),
            Named::Raw(t) => t.build(),
        }
    }
}

#[derive(Arbitrary, Debug)]
enum ArgvIn {
    Missing,
    Empty,
    Cmd(PathIn, Vec<Text>),
}

impl ArgvIn {
    fn build(&self) -> Option<Vec<String>> {
        match self {
            ArgvIn::Missing => None,
            ArgvIn::Empty => Some(Vec::new()),
            ArgvIn::Cmd(program, args) => {
                Some(std::iter::once(program.build()).chain(args.iter().map(Text::build)).collect())
            }
        }
    }
}

#[derive(Arbitrary, Debug)]
enum Interval {
    Small(u16),
    Any(u64),
}

impl Interval {
    fn secs(&self) -> u64 {
        match *self {
            Interval::Small(s) => u64::from(s),
            Interval::Any(s) => s,
        }
    }
}

/// A change to the spec's JSON text.
#[derive(Arbitrary, Debug)]
enum Mangle {
    None,
    /// A field the spec does not have (prefixed `x-` if it is one it has).
    Unknown(Text),
    /// The n-th field (modulo the count) written a second time.
    Duplicate(u8),
    /// The n-th field's value replaced by `[true]`, which no field accepts.
    WrongType(u8),
}

#[derive(Arbitrary, Debug)]
struct SystemdIn {
    description: Option<Text>,
    after: Vec<Named>,
    exec_start: ArgvIn,
    environment: Vec<(Named, Text)>,
    restart: Option<Named>,
    restart_sec: Option<Interval>,
    watchdog_sec: Option<Interval>,
    working_directory: Option<PathIn>,
    wanted_by: Vec<Named>,
    mangle: Mangle,
}

#[derive(Arbitrary, Debug)]
struct LaunchdIn {
    label: Named,
    program_arguments: ArgvIn,
    environment_variables: Vec<(Named, Text)>,
    run_at_load: Option<bool>,
    keep_alive: Option<bool>,
    standard_out_path: Option<PathIn>,
    standard_error_path: Option<PathIn>,
    working_directory: Option<PathIn>,
    throttle_interval: Option<Interval>,
    mangle: Mangle,
}

#[derive(Arbitrary, Debug)]
enum Input {
    Systemd(SystemdIn),
    Launchd(LaunchdIn),
}

/// A character no value may hold, whatever the field: the part of gw's
/// rule that is plainly necessary (a line break or control character, or a
/// Unicode noncharacter: U+FDD0..=U+FDEF and U+xFFFE/U+xFFFF, which systemd
/// refuses as not UTF-8 clean, dropping the whole directive).
fn must_refuse(c: char) -> bool {
    let u = u32::from(c);
    c.is_control() || matches!(c, '\u{2028}' | '\u{2029}') || (0xFDD0..=0xFDEF).contains(&u) || u & 0xFFFE == 0xFFFE
}

/// Every character gw may refuse as `Injection` (its documented set: the
/// above plus bidirectional-text controls).
fn may_refuse(c: char) -> bool {
    must_refuse(c)
        || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
}

/// The spec's JSON text, with the mangling applied, and the refusal the
/// mangling must cause.
fn spec_json(mut pairs: Vec<(String, Value)>, mangle: &Mangle, fields: &[&str]) -> (Vec<u8>, Option<ErrorKind>) {
    let mut expect = None;
    match mangle {
        Mangle::None => {}
        Mangle::Unknown(t) => {
            let mut name = t.build();
            if fields.contains(&name.as_str()) {
                name.insert_str(0, "x-");
            }
            pairs.push((name, json!("x")));
            expect = Some(ErrorKind::InvalidSpec);
        }
        Mangle::Duplicate(n) if !pairs.is_empty() => {
            let dup = pairs[usize::from(*n) % pairs.len()].clone();
            pairs.push(dup);
            expect = Some(ErrorKind::DuplicateKey);
        }
        Mangle::WrongType(n) if !pairs.is_empty() => {
            let i = usize::from(*n) % pairs.len();
            pairs[i].1 = json!([true]);
            expect = Some(ErrorKind::InvalidSpec);
        }
        Mangle::Duplicate(_) | Mangle::WrongType(_) => {}
    }
    let body: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}:{}", serde_json::to_string(k).unwrap(), serde_json::to_string(v).unwrap()))
        .collect();
    (format!("{{{}}}", body.join(",")).into_bytes(), expect)
}

/// Checks what `from_json` must give; returns the spec when it loads.
fn load(kind: ServiceKind, bytes: &[u8], mangled: Option<ErrorKind>, shape_ok: bool) -> Option<ServiceSpec> {
    let expect = if bytes.len() as u64 > MAX_SPEC_BYTES {
        Some(ErrorKind::TooLarge)
    } else if mangled.is_some() {
        mangled
    } else if !shape_ok {
        Some(ErrorKind::InvalidSpec)
    } else {
        None
    };
    let r = ServiceSpec::from_json(kind, bytes);
    if debug() {
        eprintln!("spec: {}\nfrom_json -> {:?}", String::from_utf8_lossy(bytes), r.as_ref().map(|_| ()));
    }
    match (r, expect) {
        (Ok(spec), None) => Some(spec),
        (Err(e), Some(k)) if e.kind() == k => None,
        (Ok(spec), Some(k)) => panic!("from_json accepted a spec it must refuse as {k:?}: {spec:?}"),
        (Err(e), k) => panic!("from_json refused as {:?} ({e}), expected {k:?}", e.kind()),
    }
}

/// Checks a refusal from `render`.
fn check_refusal(e: &Error, strings: &[&str], unquoted: &[&str]) {
    match e.kind() {
        ErrorKind::InvalidSpec => {}
        ErrorKind::Injection => assert!(
            strings.iter().any(|s| s.chars().any(may_refuse)) || unquoted.iter().any(|s| s.ends_with('\\')),
            "Injection refusal without a format-breaking character: {e}"
        ),
        other => panic!("render refused as {other:?}: {e}"),
    }
}

fn debug() -> bool {
    std::env::var_os("GW_FUZZ_DEBUG").is_some()
}

fn systemd(i: &SystemdIn) {
    let description = i.description.as_ref().map(Text::build);
    let after: Vec<String> = i.after.iter().map(|n| n.build(UNITS)).collect();
    let exec_start = i.exec_start.build();
    let environment: BTreeMap<String, String> =
        i.environment.iter().map(|(n, v)| (n.build(ENV_NAMES), v.build())).collect();
    let restart_text = i.restart.as_ref().map(|r| r.build(RESTART_NAMES));
    let restart = restart_text.as_ref().map(|t| RESTARTS.iter().find(|(n, _)| n == t).map(|(_, r)| *r));
    let restart_sec = i.restart_sec.as_ref().map(Interval::secs);
    let watchdog_sec = i.watchdog_sec.as_ref().map(Interval::secs);
    let working_directory = i.working_directory.as_ref().map(PathIn::build);
    let wanted_by: Vec<String> = i.wanted_by.iter().map(|n| n.build(UNITS)).collect();

    let mut pairs: Vec<(String, Value)> = Vec::new();
    let mut put = |k: &str, v: Value| pairs.push((k.to_owned(), v));
    if let Some(d) = &description {
        put("description", json!(d));
    }
    if !after.is_empty() {
        put("after", json!(after));
    }
    if let Some(a) = &exec_start {
        put("exec_start", json!(a));
    }
    if !environment.is_empty() {
        put("environment", json!(environment));
    }
    if let Some(r) = &restart_text {
        put("restart", json!(r));
    }
    if let Some(s) = restart_sec {
        put("restart_sec", json!(s));
    }
    if let Some(s) = watchdog_sec {
        put("watchdog_sec", json!(s));
    }
    if let Some(w) = &working_directory {
        put("working_directory", json!(w));
    }
    if !wanted_by.is_empty() {
        put("wanted_by", json!(wanted_by));
    }
    let (bytes, mangled) = spec_json(pairs, &i.mangle, SYSTEMD_FIELDS);
    let shape_ok = exec_start.is_some() && restart.is_none_or(|r| r.is_some());
    let Some(spec) = load(ServiceKind::Systemd, &bytes, mangled, shape_ok) else { return };

    let expected = SystemdUnit {
        description,
        after,
        exec_start: exec_start.unwrap_or_default(),
        environment,
        restart: restart.flatten(),
        restart_sec,
        watchdog_sec,
        working_directory,
        wanted_by,
    };
    let ServiceSpec::Systemd(u) = &spec else { panic!("from_json(Systemd) gave {spec:?}") };
    assert_eq!(u, &expected, "from_json loaded a different spec");
    reload(&spec);

    let mut strings: Vec<&str> = Vec::new();
    strings.extend(u.description.as_deref());
    strings.extend(u.after.iter().map(String::as_str));
    strings.extend(u.exec_start.iter().map(String::as_str));
    strings.extend(u.environment.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]));
    strings.extend(u.working_directory.as_deref());
    strings.extend(u.wanted_by.iter().map(String::as_str));
    let unquoted: Vec<&str> = u.description.iter().chain(&u.working_directory).map(String::as_str).collect();

    let rendered = spec.render();
    if debug() {
        eprintln!("render -> {:?}", rendered.as_ref().map(|b| String::from_utf8_lossy(b)));
    }
    assert_eq!(rendered.is_ok(), spec.validate().is_ok(), "render and validate disagree");
    let bytes = match rendered {
        Err(e) => return check_refusal(&e, &strings, &unquoted),
        Ok(b) => b,
    };
    assert!(!strings.iter().any(|s| s.chars().any(must_refuse)), "rendered a value with a control character");
    let text = String::from_utf8(bytes).expect("a rendered unit is UTF-8");
    let d = unit::decode_unit(&text).unwrap_or_else(|e| panic!("the independent parser refuses the unit: {e}\n{text}"));

    let mut sections = Vec::new();
    let mut keys = Vec::new();
    let mut key = |s: &str, k: &str| keys.push((s.to_owned(), k.to_owned()));
    if u.description.is_some() || !u.after.is_empty() {
        sections.push("Unit");
        if u.description.is_some() {
            key("Unit", "Description");
        }
        if !u.after.is_empty() {
            key("Unit", "After");
        }
    }
    sections.push("Service");
    key("Service", "ExecStart");
    for _ in &u.environment {
        key("Service", "Environment");
    }
    if u.restart.is_some() {
        key("Service", "Restart");
    }
    if u.restart_sec.is_some() {
        key("Service", "RestartSec");
    }
    if u.watchdog_sec.is_some() {
        key("Service", "WatchdogSec");
    }
    if u.working_directory.is_some() {
        key("Service", "WorkingDirectory");
    }
    if !u.wanted_by.is_empty() {
        sections.push("Install");
        key("Install", "WantedBy");
    }
    assert_eq!(d.sections, sections, "sections differ (injected section?)\n{text}");
    assert_eq!(d.keys, keys, "directives differ (injected directive?)\n{text}");
    assert_eq!(d.argv, u.exec_start, "ExecStart= decodes to a different argv\n{text}");
    assert_eq!(d.env, u.environment, "Environment= decodes to a different environment\n{text}");
    assert_eq!(d.description, u.description, "Description= differs\n{text}");
    assert_eq!(d.after, u.after, "After= differs\n{text}");
    assert_eq!(d.restart.as_deref(), u.restart.map(|r| r.as_str()), "Restart= differs\n{text}");
    assert_eq!(d.restart_sec, u.restart_sec.map(|s| s.to_string()), "RestartSec= differs\n{text}");
    assert_eq!(d.watchdog_sec, u.watchdog_sec.map(|s| s.to_string()), "WatchdogSec= differs\n{text}");
    assert_eq!(d.working_directory, u.working_directory, "WorkingDirectory= differs\n{text}");
    assert_eq!(d.wanted_by, u.wanted_by, "WantedBy= differs\n{text}");
}

fn launchd(i: &LaunchdIn) {
    let label = i.label.build(LABELS);
    let program_arguments = i.program_arguments.build();
    let environment_variables: BTreeMap<String, String> =
        i.environment_variables.iter().map(|(n, v)| (n.build(ENV_NAMES), v.build())).collect();
    let standard_out_path = i.standard_out_path.as_ref().map(PathIn::build);
    let standard_error_path = i.standard_error_path.as_ref().map(PathIn::build);
    let working_directory = i.working_directory.as_ref().map(PathIn::build);
    let throttle_interval = i.throttle_interval.as_ref().map(Interval::secs);

    let mut pairs: Vec<(String, Value)> = vec![("label".to_owned(), json!(label))];
    let mut put = |k: &str, v: Value| pairs.push((k.to_owned(), v));
    if let Some(a) = &program_arguments {
        put("program_arguments", json!(a));
    }
    if !environment_variables.is_empty() {
        put("environment_variables", json!(environment_variables));
    }
    if let Some(b) = i.run_at_load {
        put("run_at_load", json!(b));
    }
    if let Some(b) = i.keep_alive {
        put("keep_alive", json!(b));
    }
    for (k, v) in [
        ("standard_out_path", &standard_out_path),
        ("standard_error_path", &standard_error_path),
        ("working_directory", &working_directory),
    ] {
        if let Some(p) = v {
            put(k, json!(p));
        }
    }
    if let Some(s) = throttle_interval {
        put("throttle_interval", json!(s));
    }
    let (bytes, mangled) = spec_json(pairs, &i.mangle, LAUNCHD_FIELDS);
    let Some(spec) = load(ServiceKind::Launchd, &bytes, mangled, program_arguments.is_some()) else { return };

    let expected = LaunchAgent {
        label,
        program_arguments: program_arguments.unwrap_or_default(),
        environment_variables,
        run_at_load: i.run_at_load,
        keep_alive: i.keep_alive,
        standard_out_path,
        standard_error_path,
        working_directory,
        throttle_interval,
    };
    let ServiceSpec::Launchd(a) = &spec else { panic!("from_json(Launchd) gave {spec:?}") };
    assert_eq!(a, &expected, "from_json loaded a different spec");
    reload(&spec);

    let mut strings: Vec<&str> = vec![a.label.as_str()];
    strings.extend(a.program_arguments.iter().map(String::as_str));
    strings.extend(a.environment_variables.iter().flat_map(|(k, v)| [k.as_str(), v.as_str()]));
    for p in [&a.standard_out_path, &a.standard_error_path, &a.working_directory] {
        strings.extend(p.as_deref());
    }

    let rendered = spec.render();
    if debug() {
        eprintln!("render -> {:?}", rendered.as_ref().map(|b| String::from_utf8_lossy(b)));
    }
    assert_eq!(rendered.is_ok(), spec.validate().is_ok(), "render and validate disagree");
    let bytes = match rendered {
        Err(e) => return check_refusal(&e, &strings, &[]),
        Ok(b) => b,
    };
    assert!(!strings.iter().any(|s| s.chars().any(must_refuse)), "rendered a value with a control character");

    // The property list the spec stands for, built here from the spec.
    let want = expected_plist(a);
    let got = parse_plist(&bytes, &Limits::default())
        .unwrap_or_else(|e| panic!("the rendered plist does not parse: {e}\n{}", String::from_utf8_lossy(&bytes)));
    assert_eq!(got, want, "the rendered plist holds other keys or values\n{}", String::from_utf8_lossy(&bytes));
}

/// A loaded spec serializes to JSON that loads back to the same spec.
fn reload(spec: &ServiceSpec) {
    let json = match spec {
        ServiceSpec::Systemd(u) => serde_json::to_vec(u),
        ServiceSpec::Launchd(a) => serde_json::to_vec(a),
    }
    .unwrap();
    if json.len() as u64 <= MAX_SPEC_BYTES {
        let again = ServiceSpec::from_json(spec.kind(), &json).expect("a serialized spec loads");
        assert_eq!(&again, spec, "serialize → from_json changed the spec");
    }
}

fuzz_target!(|input: Input| {
    BUDGET.set(REPEAT_BUDGET);
    if debug() {
        eprintln!("{input:?}");
    }
    match &input {
        Input::Systemd(i) => systemd(i),
        Input::Launchd(i) => launchd(i),
    }
});
