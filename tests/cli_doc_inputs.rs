//! Inputs documented where users look (issue 12 item 10): `doc render`'s
//! `--help` lists every spec field, `--example-spec` prints a spec that
//! renders as it is, and `cred handoff --help` gives OpenClaw's hand-off
//! format (a `res` frame or its hello-ok payload).

use gw_test_support as common;

use std::path::Path;

use serde_json::Value;

const GW: &str = env!("CARGO_BIN_EXE_gw");

fn gw(args: &[&str], stdin: &[u8]) -> (i32, String, String) {
    common::gw_in_with(GW, Path::new("/nonexistent/gw-home-unused"), args, Some(stdin))
}

#[test]
fn example_specs_render_and_every_field_is_in_help() {
    let (code, help, _) = gw(&["doc", "render", "--help"], b"");
    assert_eq!(code, 0);
    for kind in ["systemd", "launchd"] {
        let (code, example, err) = gw(&["doc", "render", kind, "--example-spec"], b"");
        assert_eq!(code, 0, "{err}");
        let spec: Value = serde_json::from_str(&example).expect("the example is JSON");
        let fields: Vec<&String> = spec.as_object().unwrap().keys().collect();
        assert!(fields.len() >= 9, "{kind}: every field: {fields:?}");
        for f in &fields {
            assert!(help.contains(f.as_str()), "`{f}` of {kind} is in `doc render --help`");
        }
        // The example renders as it is.
        let (code, rendered, err) = gw(&["doc", "render", kind, "--spec", "-"], example.as_bytes());
        assert_eq!(code, 0, "{kind}: {err}");
        let marker = if kind == "systemd" { "ExecStart=" } else { "<key>ProgramArguments</key>" };
        assert!(rendered.contains(marker), "{rendered}");
        // --json wraps it.
        let (_, out, _) = gw(&["--json", "doc", "render", kind, "--example-spec"], b"");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["spec"], spec);
    }
    // Without --spec or --example-spec it is a usage error naming both.
    let (code, _, err) = gw(&["doc", "render", "systemd"], b"");
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--spec"), "{err}");
    let (code, _, _) = gw(&["doc", "render", "systemd", "--example-spec", "--spec", "-"], b"");
    assert_eq!(code, 2);
}

#[test]
fn handoff_help_gives_openclaws_format() {
    let (code, help, _) = gw(&["cred", "handoff", "--help"], b"");
    assert_eq!(code, 0);
    for needle in
        ["\"type\":\"res\"", "hello-ok", "auth.deviceToken", "auth.deviceTokens", "issuedAtMs", "scopes", "role"]
    {
        assert!(help.contains(needle), "`{needle}` in cred handoff --help:\n{help}");
    }
    // The example in the help is valid JSON with that shape.
    let from = help.find("Example").expect("an example");
    let start = from + help[from..].find("{\"type\":\"hello-ok\"").expect("an example");
    let mut depth = 0;
    let mut end = start;
    for (i, c) in help[start..].char_indices() {
        match c {
            '{' => depth += 1,
            '}' => {
                depth -= 1;
                if depth == 0 {
                    end = start + i + 1;
                    break;
                }
            }
            _ => {}
        }
    }
    let example: Value = serde_json::from_str(&help[start..end]).expect("the example parses");
    let tokens = example["auth"]["deviceTokens"].as_array().unwrap();
    assert!(tokens.iter().all(|t| t["deviceToken"].is_string() && t["issuedAtMs"].is_u64() && t["scopes"].is_array()));
}
