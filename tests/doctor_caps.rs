//! CLI-4: an audit that stops early at a cap must not pass. `gw doctor`
//! walks the home up to a number of entries (`--max-entries`, default
//! 10,000) and a depth; it audits the secrets, configs and documents of
//! every profile before any debris or lease, and reaching a cap is itself a
//! high finding (exit 3) that names the cap, where it was reached, and how to
//! audit the rest.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde_json::Value;

const GW: &str = env!("CARGO_BIN_EXE_gw");

struct Env {
    _tmp: tempfile::TempDir,
    home: PathBuf,
}

impl Env {
    /// A home with profiles `a` and `b` (made by `gw profile init`).
    fn two_profiles() -> Self {
        let tmp = gw_test_support::private_tempdir("gw-doctor-caps-");
        let home = tmp.path().join("home");
        let env = Self { _tmp: tmp, home };
        for (name, port) in [("a", "40001"), ("b", "40002")] {
            let out = env.gw(&["profile", "init", name, "--port", port]);
            assert_eq!(out.status.code(), Some(0), "profile init {name}: {}", String::from_utf8_lossy(&out.stderr));
        }
        env
    }

    fn profile(&self, name: &str) -> PathBuf {
        self.home.join("profiles").join(name)
    }

    fn gw(&self, args: &[&str]) -> std::process::Output {
        gw_test_support::cli::Gw::new(GW).args(args).home(&self.home).output()
    }

    /// `gw --json doctor --no-keyring-probe --skip-kernel ARGS`: (code, report).
    fn doctor(&self, args: &[&str]) -> (i32, Value) {
        let mut all = vec!["--json", "doctor", "--no-keyring-probe", "--skip-kernel"];
        all.extend_from_slice(args);
        let out = self.gw(&all);
        let v: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
            panic!("doctor --json is not JSON ({e}): stderr: {}", String::from_utf8_lossy(&out.stderr))
        });
        (out.status.code().unwrap_or(-1), v)
    }
}

/// `n` lease files in `dir` (what a flood of registrations, or an attacker
/// with write access to the registry, leaves).
fn flood(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    for i in 0..n {
        std::fs::write(dir.join(format!("flood-{i:05}.json")), b"{}").unwrap();
    }
}

fn findings(v: &Value) -> &Vec<Value> {
    v["findings"].as_array().expect("findings[]")
}

fn cap_findings(v: &Value) -> Vec<&Value> {
    findings(v).iter().filter(|f| f["check"] == "cap").collect()
}

#[test]
fn cli_4_a_flood_of_leases_in_one_profile_does_not_hide_a_readable_root_key_in_another() {
    // The auditor's scenario: 10,050 lease files in profile A, a 0644
    // root.key in profile B.
    let env = Env::two_profiles();
    flood(&env.profile("a").join("leases"), 10_050);
    let key = env.profile("b").join("root.key");
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();

    let (code, v) = env.doctor(&[]);
    let subject = key.display().to_string();
    let about_key: Vec<&Value> = findings(&v).iter().filter(|f| f["subject"] == subject.as_str()).collect();
    assert_eq!(about_key.len(), 1, "the 0644 root.key of profile b got no finding:\n{:#}", v["checked"]);
    assert_eq!(about_key[0]["severity"], "high", "{:#}", about_key[0]);
    assert_eq!(about_key[0]["threat"], "FS-4", "{:#}", about_key[0]);
    assert_ne!(code, 0, "a home with a readable root secret must not pass");
    // The flood reached the entry cap: that is reported too.
    let caps = cap_findings(&v);
    assert_eq!(caps.len(), 1, "the entry cap was reached: {:#}", v["findings"]);
}

#[test]
fn cli_4_reaching_the_entry_cap_is_a_high_finding_naming_the_cap_where_and_how_to_audit_the_rest() {
    // Nothing else is wrong with the home: the cap alone makes it fail.
    let env = Env::two_profiles();
    let leases = env.profile("a").join("leases");
    flood(&leases, 150);
    let (code, clean) = env.doctor(&[]);
    assert_eq!(code, 0, "150 lease files are under the default cap: {:#}", clean["findings"]);
    assert!(cap_findings(&clean).is_empty());

    let (code, v) = env.doctor(&["--max-entries", "100"]);
    assert_eq!(code, 3, "an audit stopped at a cap must not pass: {:#}", v["findings"]);
    assert_eq!(v["summary"]["exit_code"], 3);
    let caps = cap_findings(&v);
    assert_eq!(caps.len(), 1, "{:#}", v["findings"]);
    let f = caps[0];
    assert_eq!(f["severity"], "high", "{f:#}");
    assert_eq!(f["threat"], "CLI-4", "{f:#}");
    let what = f["what"].as_str().unwrap();
    assert!(what.contains("100 entries"), "names the cap: {what}");
    assert_eq!(f["subject"], leases.display().to_string(), "names where it was reached: {f:#}");
    let fix = f["fix"].as_str().unwrap();
    assert!(fix.contains("--max-entries"), "says how to audit the rest: {fix}");

    // The fix works: a cap above the home's size audits everything.
    let (code, v) = env.doctor(&["--max-entries", "100000"]);
    assert_eq!(code, 0, "{:#}", v["findings"]);
    assert!(cap_findings(&v).is_empty());
}

#[test]
fn cli_4_reaching_the_depth_cap_is_a_high_finding() {
    let env = Env::two_profiles();
    let mut deep = env.profile("a").join("extra");
    for i in 0..10 {
        deep = deep.join(format!("d{i}"));
    }
    std::fs::create_dir_all(&deep).unwrap();
    let mut p = deep.clone();
    while p != env.profile("a") {
        std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o700)).unwrap();
        p.pop();
    }
    let (code, v) = env.doctor(&[]);
    assert_eq!(code, 3, "{:#}", v["findings"]);
    let caps = cap_findings(&v);
    assert_eq!(caps.len(), 1, "{:#}", v["findings"]);
    assert!(caps[0]["what"].as_str().unwrap().contains("deep"), "{:#}", caps[0]);
}
