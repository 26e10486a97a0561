//! THREATS CLI-2 for service definitions: a hostile value never produces an
//! extra (or a lost, or a changed) directive. Every value is either refused —
//! `Injection` when it would break the format, `InvalidSpec` when it is
//! wrong — or accepted and then read back *exactly* by independent parsers:
//! this suite's systemd-style parser (crates/persist/tests/service_support), the real
//! systemd user manager (`systemd --test --user`), Python's `plistlib`, and
//! gw's strict plist parser.
//!
//! Needs the Debian packages `systemd` and `python3`.

mod service_support;

use std::collections::BTreeMap;

use gw_persist::service::{LaunchAgent, SystemdUnit};
use gw_persist::{ErrorKind, Limits, parse_plist};
use gw_test_support::launchd::expected_plist;
use proptest::prelude::*;
use service_support::{decode_unit, plistlib_load, systemd_load, unsubstitute};

/// What must happen to a value in a field.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Refused as a security refusal: it would break the format.
    Injection,
    /// Refused as a wrong value.
    Invalid,
    /// Accepted, and read back exactly.
    Exact,
}
use Outcome::{Exact, Injection, Invalid};

/// Values that would add a directive or break the format wherever they go.
const FORMAT_BREAKERS: &[&str] = &[
    "x\nExecStartPre=/bin/evil",
    "x\n[Service]\nExecStartPre=/bin/evil",
    "x\rExecStartPre=/bin/evil",
    "x\r\nExecStartPre=/bin/evil",
    "x\0ExecStartPre=/bin/evil",
    "x\u{b}y",
    "x\u{c}y",
    "\t",
    "x\u{7f}",
    "x\u{85}ExecStartPre=/bin/evil",
    "x\u{2028}ExecStartPre=/bin/evil",
    "x\u{2029}y",
    // Unicode noncharacters: systemd drops the whole directive ("not UTF-8
    // clean"); found by the real-systemd proptest below.
    "%;\u{fdd6}z",
    "x\u{1fffe}",
    "evil\u{202e}txt.",
    "x\u{2066}y",
    "\u{ffff}",
    "x\u{1b}[2Jy",
];

// ---------------------------------------------------------------- systemd

type SetUnit = fn(&mut SystemdUnit, &str);

fn base_unit() -> SystemdUnit {
    SystemdUnit {
        description: Some("gw".into()),
        after: vec!["network.target".into()],
        exec_start: vec!["/bin/true".into(), "serve".into()],
        environment: BTreeMap::from([("GW_A".into(), "1".into())]),
        working_directory: Some("/tmp".into()),
        wanted_by: vec!["default.target".into()],
        ..Default::default()
    }
}

/// Every text field of a unit, by its spec name.
fn unit_fields() -> Vec<(&'static str, SetUnit)> {
    vec![
        ("description", |u, v| u.description = Some(v.into())),
        ("after[0]", |u, v| u.after[0] = v.into()),
        ("exec_start[0]", |u, v| u.exec_start[0] = v.into()),
        ("exec_start[1]", |u, v| u.exec_start[1] = v.into()),
        ("environment", |u, v| {
            u.environment.insert(v.into(), "1".into());
        }),
        ("environment.GW_A", |u, v| {
            u.environment.insert("GW_A".into(), v.into());
        }),
        ("working_directory", |u, v| u.working_directory = Some(v.into())),
        ("wanted_by[0]", |u, v| u.wanted_by[0] = v.into()),
    ]
}

/// (field, value, outcome) beyond the format breakers, which are
/// `Injection` in every field.
fn unit_table() -> Vec<(&'static str, &'static str, Outcome)> {
    let mut t = Vec::new();
    // A trailing backslash continues the line in a unit file: refused where
    // the value is written unquoted; quoted, it is an ordinary character.
    for v in ["x\\", "x\\\\", "\\"] {
        t.push(("description", v, Injection));
        t.push(("working_directory", v, Injection));
        t.push(("exec_start[1]", v, Exact));
        t.push(("environment.GW_A", v, Exact));
        t.push(("after[0]", v, Invalid));
    }
    t.push(("working_directory", "/tmp/x\\", Injection));
    // Specifiers, variables, quotes, separators, spaces, Unicode: escaped.
    for v in [
        "%h",
        "%%",
        "100%",
        "$HOME",
        "${HOME}",
        "$$",
        "\"",
        "'",
        "\"unbalanced",
        "un'balanced",
        "a \"b\" 'c'",
        ";",
        "\\;",
        "x ; /bin/evil",
        "ExecStartPre=/bin/evil",
        "[Install]",
        "é 日本 🦀",
        "a=b",
        "\\n",
    ] {
        t.push(("description", v, Exact));
        t.push(("exec_start[1]", v, Exact));
        t.push(("environment.GW_A", v, Exact));
        t.push(("after[0]", v, Invalid));
        t.push(("wanted_by[0]", v, Invalid));
        t.push(("environment", v, Invalid));
    }
    for v in ["", " x", "x "] {
        t.push(("description", v, Invalid));
    }
    for v in ["", " ", "  spaced  ", "x ", "a\\b"] {
        t.push(("exec_start[1]", v, Exact));
        t.push(("environment.GW_A", v, Exact));
    }
    // The program: absolute, normalized, no prefix, nothing systemd refuses.
    for v in [
        "",
        "true",
        "bin/true",
        "./true",
        "~/bin/gw",
        "~",
        "-/bin/true",
        "@/bin/true",
        ":/bin/true",
        "+/bin/true",
        "!/bin/true",
        "!!/bin/true",
        "$HOME/bin/gw",
        "${HOME}/bin/gw",
        "%h/bin/gw",
        "/bin/../bin/true",
        "/bin/./true",
        "//bin/true",
        "/bin/",
        "/opt/a\"b",
        "/opt/a'b",
        "/opt/a\\b",
        "/opt/$x",
        "\"/bin/true\"",
    ] {
        t.push(("exec_start[0]", v, Invalid));
    }
    for v in ["/opt/my gw/gw", "/opt/%h/gw", "/opt/é/gw", "/opt/;/gw", "/opt/a*b?[c]"] {
        t.push(("exec_start[0]", v, Exact));
    }
    for v in ["~", "~/x", "-/tmp", "tmp", "/tmp/", "/tmp/../etc", "%h", "$HOME", "", " /tmp", "/tmp "] {
        t.push(("working_directory", v, Invalid));
    }
    for v in ["/tmp/a b", "/tmp/%h", "/tmp/$HOME", "/tmp/\"q\"", "/tmp/'q", "/tmp/a\\b"] {
        t.push(("working_directory", v, Exact));
    }
    for v in ["", "1A", "A-B", "A B", "A=B", "é", "A.B"] {
        t.push(("environment", v, Invalid));
    }
    for v in ["", "x", "a b.service", "%i.service", "a\\x2d.target", ".service", "x.nope", "a@.service", "a/b.service"]
    {
        t.push(("after[0]", v, Invalid));
        t.push(("wanted_by[0]", v, Invalid));
    }
    t
}

fn check_unit_exact(unit: &SystemdUnit, what: &str) {
    let text = unit.render().unwrap_or_else(|e| panic!("{what}: refused: {e}"));
    let d = decode_unit(&text).unwrap_or_else(|e| panic!("{what}: {e}\n{text}"));
    assert_eq!(d.keys, expected_keys(unit), "{what}: the set of directives changed\n{text}");
    assert_eq!(d.description, unit.description, "{what}");
    assert_eq!(d.after, unit.after, "{what}");
    assert_eq!(d.argv, unit.exec_start, "{what}");
    assert_eq!(d.env, unit.environment, "{what}");
    assert_eq!(d.working_directory, unit.working_directory, "{what}");
    assert_eq!(d.wanted_by, unit.wanted_by, "{what}");
}

/// The directives a unit must have: exactly one per set field (one
/// `Environment=` per variable), in order.
fn expected_keys(u: &SystemdUnit) -> Vec<(String, String)> {
    let mut k = Vec::new();
    let mut add = |s: &str, key: &str, n: usize| {
        for _ in 0..n {
            k.push((s.to_owned(), key.to_owned()));
        }
    };
    add("Unit", "Description", usize::from(u.description.is_some()));
    add("Unit", "After", usize::from(!u.after.is_empty()));
    add("Service", "ExecStart", 1);
    add("Service", "Environment", u.environment.len());
    add("Service", "Restart", usize::from(u.restart.is_some()));
    add("Service", "RestartSec", usize::from(u.restart_sec.is_some()));
    add("Service", "WatchdogSec", usize::from(u.watchdog_sec.is_some()));
    add("Service", "WorkingDirectory", usize::from(u.working_directory.is_some()));
    add("Install", "WantedBy", usize::from(!u.wanted_by.is_empty()));
    k
}

#[test]
fn cli_2_systemd_hostile_values_per_field_are_refused_or_read_back_exactly() {
    let fields = unit_fields();
    let mut cases: Vec<(&str, &str, Outcome)> = Vec::new();
    for (field, _) in &fields {
        cases.extend(FORMAT_BREAKERS.iter().map(|v| (*field, *v, Injection)));
    }
    cases.extend(unit_table());
    let mut accepted = Vec::new();
    for (field, value, outcome) in cases {
        let set = fields.iter().find(|(f, _)| *f == field).unwrap().1;
        let mut unit = base_unit();
        set(&mut unit, value);
        let what = format!("{field} = {value:?}");
        match (outcome, unit.render()) {
            (Exact, _) => {
                check_unit_exact(&unit, &what);
                accepted.push((format!("gw-exact-{}.service", accepted.len()), unit));
            }
            (want, Ok(text)) => panic!("{what}: expected {want:?}, but it was rendered:\n{text}"),
            (want, Err(e)) => {
                let kind = if want == Injection { ErrorKind::Injection } else { ErrorKind::InvalidSpec };
                assert_eq!(e.kind(), kind, "{what}: {e}");
                assert_eq!(e.kind().is_security_refusal(), want == Injection, "{what}");
                let field_name = field.split('.').next().unwrap();
                assert!(e.to_string().contains(field_name), "{what}: the error must name the field: {e}");
                assert!(!e.to_string().contains(['\n', '\r', '\0']), "{what}: the error echoes raw control characters");
                assert_eq!(unit.validate().unwrap_err().kind(), kind);
            }
        }
    }
    // The accepted ones, loaded by the real systemd: exactly the spec, and
    // not one warning.
    let rendered: Vec<(String, String)> = accepted.iter().map(|(n, u)| (n.clone(), u.render().unwrap())).collect();
    let (loaded, stderr) = systemd_load(&rendered);
    assert_eq!(stderr, "", "systemd warned");
    for (name, unit) in &accepted {
        assert_real_systemd_agrees(&loaded[name], unit, name);
    }
}

fn assert_real_systemd_agrees(got: &service_support::Loaded, unit: &SystemdUnit, name: &str) {
    assert_eq!(got.command_line.len(), 1, "{name}");
    let argv: Vec<String> = got.command_line[0].iter().map(|w| unsubstitute(w).unwrap()).collect();
    assert_eq!(argv, unit.exec_start, "{name}");
    let env: Vec<String> = unit.environment.iter().map(|(k, v)| format!("{k}={v}")).collect();
    assert_eq!(got.env, env, "{name}");
    if let Some(d) = &unit.description {
        assert_eq!(got.description.as_ref(), Some(d), "{name}");
    }
    if let Some(w) = &unit.working_directory {
        assert_eq!(got.working_directory.as_ref(), Some(w), "{name}");
    }
}

#[test]
fn invalid_spec_systemd_counts_intervals_and_lengths() {
    let cases: Vec<(&str, SystemdUnit)> = vec![
        ("exec_start", SystemdUnit { exec_start: vec![], ..base_unit() }),
        ("exec_start", SystemdUnit { exec_start: vec!["/bin/true".into(); 257], ..base_unit() }),
        ("exec_start[1]", SystemdUnit { exec_start: vec!["/bin/true".into(), "a".repeat(4097)], ..base_unit() }),
        ("exec_start[0]", SystemdUnit { exec_start: vec![format!("/{}", "a".repeat(256))], ..base_unit() }),
        (
            "exec_start",
            SystemdUnit {
                exec_start: std::iter::once("/bin/true".to_string()).chain(vec!["%".repeat(4000); 17]).collect(),
                ..base_unit()
            },
        ),
        ("restart_sec", SystemdUnit { restart_sec: Some(0), ..base_unit() }),
        ("restart_sec", SystemdUnit { restart_sec: Some(86_401), ..base_unit() }),
        ("restart_sec", SystemdUnit { restart_sec: Some(u64::MAX), ..base_unit() }),
        ("watchdog_sec", SystemdUnit { watchdog_sec: Some(0), ..base_unit() }),
        ("watchdog_sec", SystemdUnit { watchdog_sec: Some(1 << 40), ..base_unit() }),
        (
            "environment",
            SystemdUnit { environment: (0..257).map(|i| (format!("V{i}"), String::new())).collect(), ..base_unit() },
        ),
    ];
    for (field, unit) in cases {
        let e = unit.render().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidSpec, "{field}: {e}");
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
    let ok = SystemdUnit { restart_sec: Some(1), watchdog_sec: Some(86_400), ..base_unit() };
    ok.render().unwrap();
}

// ---------------------------------------------------------------- launchd

type SetAgent = fn(&mut LaunchAgent, &str);

fn base_agent() -> LaunchAgent {
    LaunchAgent {
        label: "ai.gw.test".into(),
        program_arguments: vec!["/usr/local/bin/gw".into(), "serve".into()],
        environment_variables: BTreeMap::from([("GW_A".into(), "1".into())]),
        standard_out_path: Some("/tmp/out.log".into()),
        standard_error_path: Some("/tmp/err.log".into()),
        working_directory: Some("/tmp".into()),
        ..Default::default()
    }
}

fn agent_fields() -> Vec<(&'static str, SetAgent)> {
    vec![
        ("label", |a, v| a.label = v.into()),
        ("program_arguments[0]", |a, v| a.program_arguments[0] = v.into()),
        ("program_arguments[1]", |a, v| a.program_arguments[1] = v.into()),
        ("environment_variables", |a, v| {
            a.environment_variables.insert(v.into(), "1".into());
        }),
        ("environment_variables.GW_A", |a, v| {
            a.environment_variables.insert("GW_A".into(), v.into());
        }),
        ("standard_out_path", |a, v| a.standard_out_path = Some(v.into())),
        ("standard_error_path", |a, v| a.standard_error_path = Some(v.into())),
        ("working_directory", |a, v| a.working_directory = Some(v.into())),
    ]
}

fn agent_table() -> Vec<(&'static str, &'static str, Outcome)> {
    let mut t = Vec::new();
    for v in [
        "</string><key>Program</key><string>/bin/evil",
        "</string></array><key>KeepAlive</key><true/><array><string>",
        "]]><!-- & &amp; <",
        "\"'\\ $HOME %h ;",
        "é 日本 🦀",
        "",
        "  ",
    ] {
        t.push(("program_arguments[1]", v, Exact));
        t.push(("environment_variables.GW_A", v, Exact));
        t.push(("label", v, Invalid));
        t.push(("environment_variables", v, Invalid));
    }
    for v in ["/tmp/a b", "/tmp/<x>&y", "/tmp/\"q\" 'q' \\ $HOME %h", "/tmp/é"] {
        for f in ["program_arguments[0]", "standard_out_path", "standard_error_path", "working_directory"] {
            t.push((f, v, Exact));
        }
    }
    for v in ["", "gw", "~/gw", "~", "$HOME/gw", "./gw", "/tmp/../gw", "/tmp//gw", "/tmp/"] {
        for f in ["program_arguments[0]", "standard_out_path", "standard_error_path", "working_directory"] {
            t.push((f, v, Invalid));
        }
    }
    for v in ["", "a/b", "../evil", "..", ".hidden", "-x", "a b", "é", "a\\b", "a:b"] {
        t.push(("label", v, Invalid));
    }
    t
}

#[test]
fn cli_2_launchd_hostile_values_per_field_are_refused_or_read_back_exactly() {
    let fields = agent_fields();
    let mut cases: Vec<(&str, &str, Outcome)> = Vec::new();
    for (field, _) in &fields {
        cases.extend(FORMAT_BREAKERS.iter().map(|v| (*field, *v, Injection)));
    }
    cases.extend(agent_table());
    let dir = tempfile::tempdir().unwrap();
    let mut accepted = Vec::new();
    for (field, value, outcome) in cases {
        let set = fields.iter().find(|(f, _)| *f == field).unwrap().1;
        let mut agent = base_agent();
        set(&mut agent, value);
        let what = format!("{field} = {value:?}");
        match (outcome, agent.render()) {
            (Exact, Ok(bytes)) => {
                let parsed = parse_plist(&bytes, &Limits::default()).unwrap();
                assert_eq!(parsed, expected_plist(&agent), "{what}");
                let p = dir.path().join(format!("{}.plist", accepted.len()));
                std::fs::write(&p, &bytes).unwrap();
                accepted.push((p, agent));
            }
            (Exact, Err(e)) => panic!("{what}: refused: {e}"),
            (want, Ok(bytes)) => panic!("{what}: expected {want:?}, rendered:\n{}", String::from_utf8_lossy(&bytes)),
            (want, Err(e)) => {
                let kind = if want == Injection { ErrorKind::Injection } else { ErrorKind::InvalidSpec };
                assert_eq!(e.kind(), kind, "{what}: {e}");
                let field_name = field.split('.').next().unwrap();
                assert!(e.to_string().contains(field_name), "{what}: the error must name the field: {e}");
                assert!(!e.to_string().contains(['\n', '\r', '\0']), "{what}");
            }
        }
    }
    let paths: Vec<_> = accepted.iter().map(|(p, _)| p.clone()).collect();
    let loaded = plistlib_load(&paths);
    for ((p, agent), got) in accepted.iter().zip(loaded) {
        assert_eq!(got, expected_plist(agent), "plistlib read {} differently", p.display());
    }
}

#[test]
fn invalid_spec_launchd_counts_and_intervals() {
    let cases: Vec<(&str, LaunchAgent)> = vec![
        ("program_arguments", LaunchAgent { program_arguments: vec![], ..base_agent() }),
        ("program_arguments", LaunchAgent { program_arguments: vec!["/bin/true".into(); 257], ..base_agent() }),
        (
            "program_arguments",
            LaunchAgent {
                program_arguments: std::iter::once("/bin/true".to_string()).chain(vec!["a".repeat(4000); 17]).collect(),
                ..base_agent()
            },
        ),
        ("throttle_interval", LaunchAgent { throttle_interval: Some(0), ..base_agent() }),
        ("throttle_interval", LaunchAgent { throttle_interval: Some(86_401), ..base_agent() }),
        ("label", LaunchAgent { label: "a".repeat(256), ..base_agent() }),
    ];
    for (field, agent) in cases {
        let e = agent.render().unwrap_err();
        assert_eq!(e.kind(), ErrorKind::InvalidSpec, "{field}: {e}");
        assert!(e.to_string().contains(field), "{field}: {e}");
    }
}

// ---------------------------------------------------------------- proptest

/// Characters a value may hold (independent of gw's own list): printable,
/// not a line separator, bidirectional control or XML noncharacter.
fn allowed(c: char) -> bool {
    let noncharacter = (0xFDD0..=0xFDEF).contains(&u32::from(c)) || u32::from(c) & 0xFFFE == 0xFFFE;
    !(c.is_control()
        || matches!(c, '\u{2028}' | '\u{2029}' | '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}')
        || matches!(c, '\u{200E}' | '\u{200F}' | '\u{061C}')
        || noncharacter)
}

/// A character biased towards the ones quoting must get right.
fn tricky_char() -> impl Strategy<Value = char> {
    prop_oneof![
        3 => prop::sample::select(vec!['"', '\'', '\\', '$', '%', ' ', ';', '{', '}', '=', '#', '[', ']', '<', '>', '&', 'n', 'x', '@', '-', '~']),
        2 => any::<char>().prop_filter("printable", |c| allowed(*c)),
        1 => prop::char::range('a', 'z'),
    ]
}

fn printable(max: usize) -> impl Strategy<Value = String> {
    prop::collection::vec(tricky_char(), 0..max).prop_map(|v| v.into_iter().collect())
}

fn env_name() -> impl Strategy<Value = String> {
    "[A-Za-z_][A-Za-z0-9_]{0,12}"
}

/// An absolute path whose components avoid `/`, `.`/`..` and (for systemd
/// programs) the characters systemd refuses in an executable name.
fn abs_path(exec: bool) -> impl Strategy<Value = String> {
    let comp = printable(12).prop_filter("component", move |c| {
        !c.is_empty() && c != "." && c != ".." && !c.contains('/') && !(exec && c.contains(['"', '\'', '\\', '$']))
    });
    prop::collection::vec(comp, 1..4).prop_map(|v| format!("/{}", v.join("/")))
}

/// A value written unquoted: no leading/trailing space, no trailing backslash.
fn raw_value() -> impl Strategy<Value = String> {
    printable(24).prop_filter("raw", |v| !v.is_empty() && !v.starts_with(' ') && !v.ends_with([' ', '\\']))
}

fn unit_strategy() -> impl Strategy<Value = SystemdUnit> {
    (
        prop::option::of(raw_value()),
        abs_path(true),
        prop::collection::vec(printable(24), 0..8),
        prop::collection::btree_map(env_name(), printable(24), 0..6),
        prop::option::of(abs_path(false).prop_filter("raw", |p| !p.ends_with([' ', '\\']))),
    )
        .prop_map(|(description, program, args, environment, working_directory)| SystemdUnit {
            description,
            exec_start: std::iter::once(program).chain(args).collect(),
            environment,
            working_directory,
            ..Default::default()
        })
}

fn agent_strategy() -> impl Strategy<Value = LaunchAgent> {
    (
        "[A-Za-z0-9_][A-Za-z0-9._-]{0,20}",
        abs_path(false),
        prop::collection::vec(printable(24), 0..8),
        prop::collection::btree_map(env_name(), printable(24), 0..6),
        prop::option::of(abs_path(false)),
        prop::option::of(any::<bool>()),
        prop::option::of(1u64..=86_400),
    )
        .prop_map(|(label, program, args, environment_variables, out, keep_alive, throttle_interval)| {
            LaunchAgent {
                label,
                program_arguments: std::iter::once(program).chain(args).collect(),
                environment_variables,
                standard_out_path: out,
                keep_alive,
                throttle_interval,
                ..Default::default()
            }
        })
}

/// A character that must never reach a service file.
fn forbidden_char() -> impl Strategy<Value = char> {
    prop_oneof![
        prop::sample::select(vec![
            '\n',
            '\r',
            '\0',
            '\t',
            '\u{7f}',
            '\u{85}',
            '\u{2028}',
            '\u{2029}',
            '\u{202E}',
            '\u{FFFF}',
            '\u{FDD0}',
            '\u{FDD6}',
            '\u{FDEF}',
            '\u{1FFFE}',
            '\u{10FFFF}'
        ]),
        any::<char>().prop_filter("control", |c| c.is_control()),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// CLI-2: arbitrary printable ExecStart arguments, environment values,
    /// descriptions and directories come back exactly, and the unit has
    /// exactly the expected directives.
    #[test]
    fn cli_2_proptest_systemd_values_round_trip_with_exactly_the_expected_directives(unit in unit_strategy()) {
        check_unit_exact(&unit, "proptest");
    }

    /// CLI-2: plists read back (gw's strict parser) exactly as the spec.
    #[test]
    fn cli_2_proptest_launchd_values_round_trip(agent in agent_strategy()) {
        let bytes = agent.render().unwrap();
        prop_assert_eq!(parse_plist(&bytes, &Limits::default()).unwrap(), expected_plist(&agent));
    }

    /// CLI-2: a forbidden character anywhere in any text field is refused as
    /// an injection, whatever surrounds it; nothing is rendered.
    #[test]
    fn cli_2_proptest_a_forbidden_character_anywhere_is_an_injection_refusal(
        unit in unit_strategy(),
        agent in agent_strategy(),
        field in 0usize..8,
        at in any::<prop::sample::Index>(),
        bad in forbidden_char(),
    ) {
        let poison = |s: &str| -> String {
            let mut chars: Vec<char> = s.chars().collect();
            chars.insert(at.index(chars.len() + 1), bad);
            chars.into_iter().collect()
        };
        let (ufield, set_unit) = unit_fields()[field];
        let current = match ufield {
            "description" => unit.description.clone().unwrap_or_default(),
            "exec_start[0]" => unit.exec_start[0].clone(),
            "working_directory" => unit.working_directory.clone().unwrap_or_else(|| "/tmp".into()),
            _ => "x".into(),
        };
        let mut u = SystemdUnit { after: vec!["network.target".into()], wanted_by: vec!["default.target".into()], ..unit };
        if u.exec_start.len() < 2 { u.exec_start.push(String::new()); }
        set_unit(&mut u, &poison(&current));
        let e = u.render().unwrap_err();
        prop_assert_eq!(e.kind(), ErrorKind::Injection, "{}: {}", ufield, e);

        let (_, set_agent) = agent_fields()[field];
        let mut a = agent;
        if a.program_arguments.len() < 2 { a.program_arguments.push(String::new()); }
        set_agent(&mut a, &poison("/x"));
        let e = a.render().unwrap_err();
        prop_assert_eq!(e.kind(), ErrorKind::Injection, "{}", e);
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 4, ..ProptestConfig::default() })]

    /// The same round trip, judged by the real tools on batches of arbitrary
    /// specs: the systemd user manager loads exactly the argv and
    /// environment, without a warning; plistlib reads exactly the spec.
    #[test]
    fn cli_2_proptest_real_systemd_and_plistlib_read_back_arbitrary_specs(
        units in prop::collection::vec(unit_strategy(), 24),
        agents in prop::collection::vec(agent_strategy(), 24),
    ) {
        let rendered: Vec<(String, String)> =
            units.iter().enumerate().map(|(i, u)| (format!("gw-prop-{i}.service"), u.render().unwrap())).collect();
        let (loaded, stderr) = systemd_load(&rendered);
        prop_assert_eq!(stderr, "");
        for (i, unit) in units.iter().enumerate() {
            let name = format!("gw-prop-{i}.service");
            assert_real_systemd_agrees(&loaded[&name], unit, &name);
        }
        let dir = tempfile::tempdir().unwrap();
        let paths: Vec<_> = agents.iter().enumerate().map(|(i, a)| {
            let p = dir.path().join(format!("{i}.plist"));
            std::fs::write(&p, a.render().unwrap()).unwrap();
            p
        }).collect();
        for (agent, got) in agents.iter().zip(plistlib_load(&paths)) {
            prop_assert_eq!(got, expected_plist(agent));
        }
    }
}
