//! Rendered service definitions, checked by independent parsers: Python's
//! `plistlib` for launchd plists; `systemd-analyze verify --user` (no
//! warnings) and the real systemd user manager's own load (`systemd --test
//! --user`, whose dump shows the argv and environment it would run with)
//! for systemd units; and this suite's own unit-file parser
//! (crates/persist/tests/service_support).
//!
//! Needs the Debian packages `systemd` and `python3`.

mod service_support;

use std::collections::BTreeMap;

use gw_persist::service::{LaunchAgent, Restart, ServiceKind, ServiceSpec, SystemdUnit};
use gw_persist::{ErrorKind, Limits, parse_plist};
use serde_json::json;
use service_support::{
    decode_unit, plistlib_load, split_words, systemd_analyze_verify, systemd_load, unspecify, unsubstitute,
};

/// Values that must pass through exactly: quotes, backslashes, `$`, `%`,
/// `;`, XML specials, spaces at the ends, Unicode.
const TRICKY: &[&str] = &[
    "",
    " ",
    "  leading and trailing  ",
    "plain",
    "two words",
    "\"double\"",
    "'single'",
    "unbalanced \" quote",
    "unbalanced ' quote",
    "back\\slash",
    "ends with backslash\\",
    "\\",
    "\\\\",
    "\\n is not a newline",
    "$HOME",
    "${HOME}",
    "$$",
    "100%",
    "%h %u %%",
    ";",
    "\\;",
    "&& || | > < &amp; ]]> <!-- -->",
    "ExecStartPre=/bin/evil",
    "[Service]",
    "#not a comment",
    "é ü 日本語 🦀",
    "=",
    "a=b=c",
];

fn full_agent() -> LaunchAgent {
    LaunchAgent {
        label: "ai.gw.test-agent_1".into(),
        program_arguments: std::iter::once("/usr/local/bin/gw serve")
            .chain(TRICKY.iter().copied())
            .map(String::from)
            .collect(),
        environment_variables: TRICKY.iter().enumerate().map(|(i, v)| (format!("GW_VAR_{i}"), v.to_string())).collect(),
        run_at_load: Some(true),
        keep_alive: Some(false),
        standard_out_path: Some("/tmp/gw logs/out & <stdout>.log".into()),
        standard_error_path: Some("/tmp/gw logs/err \"%h\" $HOME.log".into()),
        working_directory: Some("/Users/me/My Gateway".into()),
        throttle_interval: Some(30),
    }
}

fn full_unit(program: &str) -> SystemdUnit {
    SystemdUnit {
        description: Some("gw test \"unit\" 100% $HOME 'x' \\ é 🦀 \\n ;".into()),
        after: vec!["network.target".into(), "gw-helper@default.service".into()],
        exec_start: std::iter::once(program).chain(TRICKY.iter().copied()).map(String::from).collect(),
        environment: TRICKY.iter().enumerate().map(|(i, v)| (format!("GW_VAR_{i}"), v.to_string())).collect(),
        restart: Some(Restart::OnFailure),
        restart_sec: Some(5),
        watchdog_sec: Some(30),
        working_directory: Some("/tmp/gw dir \"q\" 'q' %% $x é".into()),
        wanted_by: vec!["default.target".into()],
    }
}

fn minimal_unit() -> SystemdUnit {
    SystemdUnit { exec_start: vec!["/bin/true".into()], ..Default::default() }
}

// ---------------------------------------------------------------- launchd

#[test]
fn launchd_plist_loads_in_plistlib_and_equals_the_spec() {
    let minimal = LaunchAgent {
        label: "ai.gw.min".into(),
        program_arguments: vec!["/usr/bin/true".into()],
        ..Default::default()
    };
    let cases = [full_agent(), minimal];
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (i, agent) in cases.iter().enumerate() {
        let p = dir.path().join(format!("{i}.plist"));
        std::fs::write(&p, agent.render().unwrap()).unwrap();
        paths.push(p);
    }
    let loaded = plistlib_load(&paths);
    let full = &cases[0];
    // Written by hand from Apple's key names, not from gw's mapping.
    let expected_full = json!({
        "Label": full.label,
        "ProgramArguments": full.program_arguments,
        "EnvironmentVariables": full.environment_variables,
        "RunAtLoad": true,
        "KeepAlive": false,
        "StandardOutPath": full.standard_out_path,
        "StandardErrorPath": full.standard_error_path,
        "WorkingDirectory": full.working_directory,
        "ThrottleInterval": 30,
    });
    assert_eq!(loaded[0], expected_full);
    assert_eq!(loaded[1], json!({"Label": "ai.gw.min", "ProgramArguments": ["/usr/bin/true"]}));
    // gw's own strict parser reads the same.
    for (agent, want) in cases.iter().zip(&loaded) {
        assert_eq!(&parse_plist(&agent.render().unwrap(), &Limits::default()).unwrap(), want);
    }
}

#[test]
fn launchd_plist_is_an_xml_plist_with_apples_doctype() {
    let xml = String::from_utf8(full_agent().render().unwrap()).unwrap();
    assert!(xml.starts_with("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE plist PUBLIC \"-//Apple//DTD PLIST 1.0//EN\" \"http://www.apple.com/DTDs/PropertyList-1.0.dtd\">\n<plist version=\"1.0\">\n"), "{xml}");
    assert!(xml.ends_with("</plist>\n"));
    assert!(!xml.contains("]]>"), "XML specials must be escaped");
    let keys: Vec<&str> = xml.lines().filter_map(|l| l.trim().strip_prefix("<key>")?.strip_suffix("</key>")).collect();
    for k in [
        "Label",
        "ProgramArguments",
        "EnvironmentVariables",
        "RunAtLoad",
        "KeepAlive",
        "StandardOutPath",
        "StandardErrorPath",
        "WorkingDirectory",
        "ThrottleInterval",
    ] {
        assert!(keys.contains(&k), "missing key {k}");
    }
}

// ---------------------------------------------------------------- systemd

#[test]
fn systemd_unit_passes_systemd_analyze_verify_without_warnings() {
    let dir = tempfile::tempdir().unwrap();
    let mut paths = Vec::new();
    for (name, unit) in [("gw-full.service", full_unit("/bin/true")), ("gw-min.service", minimal_unit())] {
        let p = dir.path().join(name);
        std::fs::write(&p, unit.render().unwrap()).unwrap();
        paths.push(p);
    }
    let (ok, output) = systemd_analyze_verify(&paths);
    assert!(ok, "systemd-analyze verify failed:\n{output}");
    assert_eq!(output, "", "systemd-analyze verify printed warnings");
}

#[test]
fn systemd_analyze_harness_does_report_a_broken_unit() {
    // The "no warnings" check above is only worth something if the harness
    // sees warnings: an unknown key, unbalanced quoting, a missing binary.
    let dir = tempfile::tempdir().unwrap();
    let p = dir.path().join("gw-broken.service");
    std::fs::write(&p, "[Service]\nExecStart=/bin/true \"a\n").unwrap();
    let (ok, output) = systemd_analyze_verify(&[p]);
    assert!(!ok, "{output}");
    assert!(output.contains("Unbalanced quoting"), "{output}");
    let p = dir.path().join("gw-unknown.service");
    std::fs::write(&p, "[Service]\nExecStart=/bin/true\nFoo=bar\n").unwrap();
    let (_, output) = systemd_analyze_verify(&[p]);
    assert!(output.contains("Unknown key"), "{output}");
    let p = dir.path().join("gw-missing.service");
    let unit = SystemdUnit { exec_start: vec!["/nonexistent/gw".into()], ..Default::default() };
    std::fs::write(&p, unit.render().unwrap()).unwrap();
    let (_, output) = systemd_analyze_verify(&[p]);
    assert!(output.contains("/nonexistent/gw"), "{output}");
}

#[test]
fn systemd_loads_exactly_the_spec_argv_and_environment() {
    let specs: Vec<(String, SystemdUnit)> = vec![
        ("gw-full.service".into(), full_unit("/bin/true")),
        ("gw-min.service".into(), minimal_unit()),
        ("gw-path.service".into(), full_unit("/opt/my gw/bin/gw %h é;*?[~@!-+:=&<#")),
    ];
    let rendered: Vec<(String, String)> = specs.iter().map(|(n, u)| (n.clone(), u.render().unwrap())).collect();
    let (loaded, stderr) = systemd_load(&rendered);
    assert_eq!(stderr, "", "systemd warned while loading the units");
    for (name, unit) in &specs {
        let got = &loaded[name];
        assert_eq!(got.command_line.len(), 1, "{name}: one ExecStart command");
        // What systemd stored, then its run-time `$$` → `$` substitution.
        let argv: Vec<String> = got.command_line[0].iter().map(|w| unsubstitute(w).unwrap()).collect();
        assert_eq!(argv, unit.exec_start, "{name}: argv");
        let env: Vec<String> = unit.environment.iter().map(|(k, v)| format!("{k}={v}")).collect();
        assert_eq!(got.env, env, "{name}: environment");
        assert_eq!(got.description, unit.description.clone().or(Some(name.clone())), "{name}: description");
        if unit.working_directory.is_some() {
            assert_eq!(got.working_directory, unit.working_directory, "{name}: working directory");
        }
        assert_eq!(got.restart.as_deref(), Some(unit.restart.map_or("no", Restart::as_str)), "{name}: restart");
        if unit.restart_sec.is_some() {
            assert_eq!(got.restart_sec.as_deref(), Some("5s"));
            assert_eq!(got.watchdog_sec.as_deref(), Some("30s"));
        }
        for a in &unit.after {
            assert!(got.after.contains(a), "{name}: After={a} missing from {:?}", got.after);
        }
    }
}

#[test]
fn systemd_unit_decodes_to_exactly_the_spec_with_exactly_the_expected_directives() {
    let unit = full_unit("/bin/true");
    let text = unit.render().unwrap();
    let d = decode_unit(&text).unwrap();
    let mut keys = vec![("Unit", "Description"), ("Unit", "After"), ("Service", "ExecStart")];
    keys.extend(std::iter::repeat_n(("Service", "Environment"), unit.environment.len()));
    keys.extend([
        ("Service", "Restart"),
        ("Service", "RestartSec"),
        ("Service", "WatchdogSec"),
        ("Service", "WorkingDirectory"),
        ("Install", "WantedBy"),
    ]);
    let want: Vec<(String, String)> = keys.into_iter().map(|(s, k)| (s.into(), k.into())).collect();
    assert_eq!(d.keys, want);
    assert_eq!(d.description, unit.description);
    assert_eq!(d.after, unit.after);
    assert_eq!(d.argv, unit.exec_start);
    assert_eq!(d.env, unit.environment);
    assert_eq!(d.restart.as_deref(), Some("on-failure"));
    assert_eq!(d.restart_sec.as_deref(), Some("5"));
    assert_eq!(d.watchdog_sec.as_deref(), Some("30"));
    assert_eq!(d.working_directory, unit.working_directory);
    assert_eq!(d.wanted_by, unit.wanted_by);
    // And the helpers the decoder is built on agree with systemd's rules.
    assert_eq!(split_words("\"a\\\\b\" \"\" x").unwrap(), ["a\\b", "", "x"]);
    assert_eq!(unspecify("%%h").unwrap(), "%h");
}

#[test]
fn every_restart_value_is_spelled_as_systemd_spells_it() {
    let all = [
        (Restart::No, "no"),
        (Restart::OnSuccess, "on-success"),
        (Restart::OnFailure, "on-failure"),
        (Restart::OnAbnormal, "on-abnormal"),
        (Restart::OnWatchdog, "on-watchdog"),
        (Restart::OnAbort, "on-abort"),
        (Restart::Always, "always"),
    ];
    let mut units = Vec::new();
    for (r, s) in all {
        assert_eq!(r.as_str(), s);
        let spec = format!(r#"{{"exec_start": ["/bin/true"], "restart": "{s}"}}"#);
        let unit = SystemdUnit::from_json(spec.as_bytes()).unwrap();
        assert_eq!(unit.restart, Some(r));
        units.push((format!("gw-restart-{s}.service"), unit.render().unwrap()));
    }
    let (loaded, stderr) = systemd_load(&units);
    assert_eq!(stderr, "");
    for (r, s) in all {
        assert_eq!(loaded[&format!("gw-restart-{s}.service")].restart.as_deref(), Some(r.as_str()));
    }
}

// ---------------------------------------------------------------- specs

#[test]
fn specs_load_from_strict_json_with_documented_field_names() {
    let unit = br#"{
        "description": "gw", "after": ["network.target"], "exec_start": ["/bin/true", "x"],
        "environment": {"A": "1"}, "restart": "always", "restart_sec": 3, "watchdog_sec": 9,
        "working_directory": "/tmp", "wanted_by": ["default.target"]
    }"#;
    let u = SystemdUnit::from_json(unit).unwrap();
    assert_eq!(u.exec_start, ["/bin/true", "x"]);
    assert_eq!(u.environment, BTreeMap::from([("A".to_string(), "1".to_string())]));
    let agent = br#"{
        "label": "ai.gw.x", "program_arguments": ["/bin/true"], "environment_variables": {"A": "1"},
        "run_at_load": true, "keep_alive": true, "standard_out_path": "/tmp/o", "standard_error_path": "/tmp/e",
        "working_directory": "/tmp", "throttle_interval": 10
    }"#;
    let a = LaunchAgent::from_json(agent).unwrap();
    assert_eq!(a.throttle_interval, Some(10));
    assert_eq!(ServiceSpec::from_json(ServiceKind::Launchd, agent).unwrap(), ServiceSpec::Launchd(a));
    assert_eq!(ServiceSpec::from_json(ServiceKind::Systemd, unit).unwrap(), ServiceSpec::Systemd(u));
    assert_eq!("systemd".parse::<ServiceKind>().unwrap(), ServiceKind::Systemd);
    assert!("upstart".parse::<ServiceKind>().is_err());
}

#[test]
fn cli_2_spec_json_with_unknown_fields_duplicate_keys_or_wrong_types_is_refused() {
    let cases: &[(&[u8], ErrorKind)] = &[
        (br#"{"exec_start": ["/bin/true"], "ExecStartPre": ["/bin/evil"]}"#, ErrorKind::InvalidSpec),
        (br#"{"exec_start": ["/bin/true"], "exec_start": ["/bin/evil"]}"#, ErrorKind::DuplicateKey),
        (br#"{"exec_start": ["/bin/true"], "environment": {"A": "1", "A": "2"}}"#, ErrorKind::DuplicateKey),
        (br#"{"exec_start": "/bin/true"}"#, ErrorKind::InvalidSpec),
        (br#"{"exec_start": ["/bin/true"], "restart": "sometimes"}"#, ErrorKind::InvalidSpec),
        (br#"{"exec_start": ["/bin/true"], "restart_sec": -1}"#, ErrorKind::InvalidSpec),
        (br#"{"exec_start": ["/bin/true"]} {}"#, ErrorKind::Syntax),
        (br#"{}"#, ErrorKind::InvalidSpec),
    ];
    for (json, kind) in cases {
        let e = SystemdUnit::from_json(json).unwrap_err();
        assert_eq!(e.kind(), *kind, "{}: {e}", String::from_utf8_lossy(json));
    }
    let e = LaunchAgent::from_json(br#"{"label": "a", "program_arguments": ["/bin/true"], "Program": "/bin/evil"}"#)
        .unwrap_err();
    assert_eq!(e.kind(), ErrorKind::InvalidSpec);
    assert!(e.to_string().contains("Program"), "the error names the field: {e}");
    let huge = format!(r#"{{"exec_start": ["/bin/true", "{}"]}}"#, "a".repeat(300 * 1024));
    assert_eq!(SystemdUnit::from_json(huge.as_bytes()).unwrap_err().kind(), ErrorKind::TooLarge);
}
