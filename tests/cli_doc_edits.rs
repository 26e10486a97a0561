//! `gw doc set/rm/merge` keep the document as it was except the change
//! (issue 12 item 7): key order, integers, indentation; a tightened mode is
//! reported; `--parents`, `--string` hints, negative numbers, `get --raw`.

use gw_test_support as common;

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use common::gw_in;
use serde_json::Value;

const GW: &str = env!("CARGO_BIN_EXE_gw");

fn dir() -> tempfile::TempDir {
    let d = tempfile::tempdir().expect("tempdir");
    fs::set_permissions(d.path(), fs::Permissions::from_mode(0o700)).expect("chmod");
    d
}

fn put(dir: &Path, name: &str, text: &str, mode: u32) {
    let p = dir.join(name);
    fs::write(&p, text).expect("write");
    fs::set_permissions(&p, fs::Permissions::from_mode(mode)).expect("chmod");
}

fn gw(dir: &Path, args: &[&str]) -> (i32, String, String) {
    gw_in(GW, dir, args)
}

fn read(dir: &Path, name: &str) -> String {
    fs::read_to_string(dir.join(name)).expect("read")
}

#[test]
fn set_keeps_key_order_numbers_and_indentation() {
    let d = dir();
    let p = d.path();
    let home = p.to_str().unwrap();
    for (name, before, after) in [
        (
            "four.json",
            "{\n    \"z\": 1,\n    \"m\": 18446744073709551615,\n    \"a\": {\n        \"y\": 0.1\n    }\n}\n",
            "{\n    \"z\": 1,\n    \"m\": 18446744073709551615,\n    \"a\": {\n        \"y\": 0.1,\n        \"new\": -5\n    }\n}\n",
        ),
        (
            "tab.json",
            "{\n\t\"z\": 1,\n\t\"a\": {\n\t\t\"y\": -9223372036854775808\n\t}\n}\n",
            "{\n\t\"z\": 1,\n\t\"a\": {\n\t\t\"y\": -9223372036854775808,\n\t\t\"new\": -5\n\t}\n}\n",
        ),
        ("compact.json", "{\"z\":1,\"a\":{\"y\":2}}", "{\"z\":1,\"a\":{\"y\":2,\"new\":-5}}"),
        ("two.json", "{\n  \"z\": 1,\n  \"a\": {}\n}\n", "{\n  \"z\": 1,\n  \"a\": {\n    \"new\": -5\n  }\n}\n"),
    ] {
        put(p, name, before, 0o600);
        // A negative number is a value, not an option.
        let (code, _, err) = gw(p, &["doc", "set", home, name, "/a/new", "-5"]);
        assert_eq!(code, 0, "{name}: {err}");
        assert_eq!(read(p, name), after, "{name}: only the change");
        assert!(err.is_empty(), "{name}: no notice for a 0600 file: {err}");
    }
    // rm and merge keep the other keys in place too.
    put(p, "order.json", "{\n  \"z\": 1,\n  \"y\": 2,\n  \"x\": 3,\n  \"w\": 4\n}\n", 0o600);
    assert_eq!(gw(p, &["doc", "rm", home, "order.json", "/z"]).0, 0);
    assert_eq!(read(p, "order.json"), "{\n  \"y\": 2,\n  \"x\": 3,\n  \"w\": 4\n}\n");
}

#[test]
fn integers_beyond_64_bits_are_refused_not_rounded() {
    let d = dir();
    let p = d.path();
    let home = p.to_str().unwrap();
    let doc = "{\"id\": 12345678901234567890123}\n";
    put(p, "big.json", doc, 0o600);
    let (code, out, err) = gw(p, &["--json", "doc", "set", home, "big.json", "/a", "1"]);
    assert_ne!(code, 0, "{out}");
    assert!(err.contains("big.json:1:8") && err.contains("12345678901234567890123"), "{err}");
    assert_eq!(read(p, "big.json"), doc, "nothing rewritten");
    let (code, _, err) = gw(p, &["doc", "set", home, "big.json", "/b", "98765432109876543210987"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--string"), "the fix names --string: {err}");
    // As a string it is kept exactly.
    put(p, "s.json", "{}\n", 0o600);
    assert_eq!(gw(p, &["doc", "set", home, "s.json", "/n", "98765432109876543210987", "--string"]).0, 0);
    let (code, out, _) = gw(p, &["doc", "get", home, "s.json", "/n", "--raw"]);
    assert_eq!((code, out.as_str()), (0, "98765432109876543210987\n"));
}

#[test]
fn a_tightened_mode_is_reported() {
    let d = dir();
    let p = d.path();
    let home = p.to_str().unwrap();
    put(p, "shared.json", "{}\n", 0o644);
    let (code, out, err) = gw(p, &["--json", "doc", "set", home, "shared.json", "/a", "1"]);
    assert_eq!(code, 0, "{err}");
    let v: Value = serde_json::from_str(&out).expect("one JSON object");
    assert_eq!(v["mode_before"], "0644");
    assert_eq!(v["mode"], "0600");
    assert!(err.contains("was mode 0644") && err.contains("0600"), "{err}");
    let mode = fs::metadata(p.join("shared.json")).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    // Already 0600: nothing to say.
    let (code, out, err) = gw(p, &["--json", "doc", "set", home, "shared.json", "/b", "2"]);
    assert_eq!(code, 0);
    assert!(err.is_empty(), "{err}");
    assert!(serde_json::from_str::<Value>(&out).unwrap().get("mode_before").is_none());
    // merge and rm say it too.
    fs::set_permissions(p.join("shared.json"), fs::Permissions::from_mode(0o640)).unwrap();
    let (code, _, err) = gw(p, &["doc", "rm", home, "shared.json", "/b"]);
    assert_eq!(code, 0);
    assert!(err.contains("was mode 0640"), "{err}");
}

#[test]
fn parents_value_hints_and_raw() {
    let d = dir();
    let p = d.path();
    let home = p.to_str().unwrap();
    put(p, "c.json", "{\"keep\": 1}\n", 0o600);
    let (code, _, err) = gw(p, &["doc", "set", home, "c.json", "/a/b/c", "true"]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--parents"), "a missing parent suggests --parents: {err}");
    assert_eq!(read(p, "c.json"), "{\"keep\": 1}\n");
    let (code, _, err) = gw(p, &["doc", "set", home, "c.json", "/a/b/c", "true", "--parents"]);
    assert_eq!(code, 0, "{err}");
    let (_, out, _) = gw(p, &["--json", "doc", "get", home, "c.json"]);
    let v: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["value"], serde_json::json!({"keep": 1, "a": {"b": {"c": true}}}));
    // A parent that is not a container is never replaced.
    let (code, _, _) = gw(p, &["doc", "set", home, "c.json", "/keep/x", "1", "--parents"]);
    assert_eq!(code, 2);
    // A value that is not JSON suggests --string.
    let (code, _, err) = gw(p, &["doc", "set", home, "c.json", "/name", "hello"]);
    assert_eq!(code, 2);
    assert!(err.contains("--string"), "{err}");
    assert_eq!(gw(p, &["doc", "set", home, "c.json", "/name", "say \"hi\"\tnow", "--string"]).0, 0);
    let (_, quoted, _) = gw(p, &["doc", "get", home, "c.json", "/name"]);
    assert_eq!(quoted, "\"say \\\"hi\\\"\\tnow\"\n");
    let (_, raw, _) = gw(p, &["doc", "get", home, "c.json", "/name", "-r"]);
    assert_eq!(raw, "say \"hi\"\tnow\n");
    // --raw prints non-strings as JSON.
    let (_, raw, _) = gw(p, &["doc", "get", home, "c.json", "/keep", "--raw"]);
    assert_eq!(raw, "1\n");
}
