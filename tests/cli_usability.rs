//! Everyday use (issue 12): clap's suggestions and possible values survive
//! gw's one-line usage errors (also as one JSON object with `--json`), and a
//! relative `GW_HOME` is an error, never silently replaced by another home.

use std::path::Path;

const GW: &str = env!("CARGO_BIN_EXE_gw");

use gw_test_support as common;

fn gw(home: &Path, args: &[&str]) -> (i32, String, String) {
    common::gw_in(GW, home, args)
}

#[test]
fn typos_get_clap_suggestions_and_possible_values() {
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    let cases: &[(&[&str], &[&str])] = &[
        (&["profle", "list"], &["unrecognized subcommand 'profle'", "similar", "'profile'"]),
        (&["cred", "lst"], &["'lst'", "a similar subcommand exists: 'list'"]),
        (&["--store", "kering", "cred", "list"], &["[possible values: file, keyring, keyring-or-file]", "'keyring'"]),
        (&["fs", "write", "--mod", "600", "d", "f"], &["'--mod'", "a similar argument exists: '--mode'"]),
    ];
    for (args, wanted) in cases {
        let (code, out, err) = gw(&home, args);
        assert_eq!(code, 2, "{args:?}: {err}");
        assert_eq!(err.lines().count(), 1, "one line: {err}");
        for w in *wanted {
            assert!(err.contains(w), "{args:?}: `{w}` missing in: {err}");
        }
        assert!(out.is_empty(), "{out}");
        // With --json: one object on stdout, the suggestion inside it.
        let mut json_args = vec!["--json"];
        json_args.extend_from_slice(args);
        let (code, out, _) = gw(&home, &json_args);
        assert_eq!(code, 2);
        let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
        let msg = v["error"]["message"].as_str().unwrap();
        for w in *wanted {
            assert!(msg.contains(w), "{args:?}: `{w}` missing in the JSON message: {msg}");
        }
    }
    assert!(!home.exists(), "a usage error created the home");
}

#[test]
fn a_relative_gw_home_is_an_error_that_names_the_fix_and_touches_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let real_home = tmp.path().join("user");
    std::fs::create_dir(&real_home).unwrap();
    for (value, fix) in [("rel/home", "$PWD/rel/home"), ("~/gw", "$HOME/gw")] {
        for args in [&["profile", "init", "work"][..], &["cred", "list"], &["profile", "list"]] {
            let out = common::gw!()
                .args(args)
                .env("GW_HOME", value)
                .env("HOME", &real_home)
                .env_remove("XDG_CONFIG_HOME")
                .current_dir(tmp.path())
                .output();
            let err = String::from_utf8_lossy(&out.stderr);
            assert_eq!(out.status.code(), Some(2), "{value} {args:?}: {err}");
            assert!(err.contains("GW_HOME is a relative path") && err.contains(fix), "{err}");
        }
    }
    // Neither the relative path nor the real ~/.config/gw was created.
    assert!(!tmp.path().join("rel").exists());
    assert!(!real_home.join(".config").exists(), "gw wrote into the real home");
}

#[test]
fn a_shared_sticky_directory_gets_a_safe_fix_not_a_chmod() {
    let tmp = tempfile::tempdir().unwrap();
    let (code, _, err) = gw(&tmp.path().join("home"), &["fs", "ls", "/tmp"]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains("mkdir -m 700 /tmp/NAME"), "{err}");
    assert!(!err.contains("chmod go-w /tmp"), "a fix that breaks /tmp for everyone: {err}");
    // A plain group/other-writable directory keeps the chmod fix.
    let open = tmp.path().join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::os::unix::fs::PermissionsExt::from_mode(0o777)).unwrap();
    let (code, _, err) = gw(&tmp.path().join("home"), &["fs", "ls", open.to_str().unwrap()]);
    assert_eq!(code, 3, "{err}");
    assert!(err.contains(&format!("chmod go-w {}", open.display())), "{err}");
}

#[test]
fn a_file_given_as_the_directory_gets_a_fix_naming_its_directory_and_name() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("cfg");
    std::fs::create_dir(&dir).unwrap();
    let file = dir.join("config.json");
    std::fs::write(&file, "{\"a\": 1}\n").unwrap();
    let file_arg = file.to_str().unwrap();
    let want =
        format!("give the directory that holds it (`{}`) and `config.json` as the path beneath it", dir.display());
    for args in [&["doc", "get", file_arg, "x.json"][..], &["fs", "read", file_arg, "x"], &["fs", "ls", file_arg]] {
        let (code, out, err) = gw(&tmp.path().join("home"), args);
        assert_eq!(code, 1, "{args:?}: {err}");
        assert!(err.contains("is not a directory") && err.contains(&want), "{args:?}: {err}");
        assert!(out.is_empty(), "{out}");
    }
    // A file in the middle of the path is not the root's last component: no
    // such fix (it would name the wrong directory).
    let deeper = file.join("more");
    let (code, _, err) = gw(&tmp.path().join("home"), &["fs", "ls", deeper.to_str().unwrap()]);
    assert_eq!(code, 1, "{err}");
    assert!(err.contains("is not a directory") && !err.contains("fix:"), "{err}");
    // The fix is in the JSON error too.
    let (_, out, _) = gw(&tmp.path().join("home"), &["--json", "doc", "get", file_arg, "x.json"]);
    let v: serde_json::Value = serde_json::from_str(out.trim()).expect("one JSON object");
    assert!(v["error"]["fix"].as_str().unwrap().contains(&want), "{v}");
}
