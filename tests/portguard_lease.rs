//! The expected owner from a gw-lease record (`--lease DIR --id ID`), end to
//! end with real processes: `gw port verify` and `gw probe` against a live
//! `gw serve` (its own lease in the profile's `leases/`), against the same
//! record once the gateway is dead and a hijacker holds its port (PORT-1:
//! nothing sent), against a record whose start time is not the live pid's
//! (a reused pid, LEASE-3) or of another boot, an insecure registry (FS-5)
//! and an unknown id (exit 4). The hijacker records every byte it receives.

mod serve_support;

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use gw_lease::{Record, parse_record};
use serde_json::{Value, json};
use serve_support::{EXIT_NOT_FOUND, EXIT_REFUSED, Env, Hijacker, Run, contains, free_port};

const SHARED: &str = "shared-secret-lease-do-not-leak-41d2";

fn perfect_hello() -> String {
    json!({
        "type": "hello-ok", "protocol": 4,
        "server": { "version": "0.1.0" },
        "auth": { "method": "token", "role": "operator", "scopes": [] }
    })
    .to_string()
}

fn json_of(r: &Run) -> Value {
    serde_json::from_str(r.stdout.trim()).unwrap_or_else(|e| panic!("not JSON ({e}): {r:?}"))
}

/// Rewrites record `id` in `dir` the way gw-lease writes records: a valid
/// record (strict parser), 0600, replaced by rename in the 0700 registry.
fn rewrite(dir: &Path, id: &str, f: impl FnOnce(&mut Record)) {
    let path = dir.join(format!("{id}.json"));
    let mut rec = parse_record(&std::fs::read(&path).unwrap()).unwrap();
    f(&mut rec);
    let tmp = dir.join(".gw-tmp.test");
    std::fs::write(&tmp, rec.to_bytes().unwrap()).unwrap();
    std::fs::set_permissions(&tmp, std::fs::Permissions::from_mode(0o600)).unwrap();
    std::fs::rename(&tmp, &path).unwrap();
    assert_eq!(std::fs::metadata(dir).unwrap().permissions().mode() & 0o777, 0o700);
}

fn registry(env: &Env) -> PathBuf {
    let dir = env.tmp.path().join("reg");
    std::fs::create_dir(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    dir
}

#[test]
fn port_1_dead_gateway_lease_and_hijacked_port_get_nothing() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let mut serve = env.serve("p", &[]);
    let leases = env.profile_dir("p").join("leases");
    let (l, id) = (leases.to_str().unwrap(), format!("serve-{port}"));
    let p = port.to_string();

    // The live gateway, named by its own lease: owned, and the probe answers.
    let r = env.run(&["--json", "port", "verify", &p, "--lease", l, "--id", &id], None);
    assert_eq!(r.code, 0, "{r:?}");
    let v = json_of(&r);
    assert_eq!(v["verdict"], "owned", "{v}");
    assert_eq!(v["pid"], serve.pid, "{v}");
    let r = env.run(&["--profile", "p", "--json", "probe", "--lease", l, "--id", &id], None);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(json_of(&r)["owner"]["pid"], serve.pid, "{r:?}");

    // The gateway dies (its lease stays behind); a hijacker takes the port.
    serve.signal(rustix::process::Signal::KILL);
    serve.wait();
    assert!(leases.join(format!("{id}.json")).exists(), "the stale lease stays");
    let hijacker = Hijacker::start(TcpListener::bind(("127.0.0.1", port)).unwrap(), Some(perfect_hello()));

    let r = env.run(&["--json", "port", "verify", &p, "--lease", l, "--id", &id], None);
    assert_eq!(r.code, EXIT_REFUSED, "{r:?}");
    let v = json_of(&r);
    assert_eq!(v["error"]["kind"], "not_running", "{v}");
    assert!(v["error"]["fix"].as_str().unwrap().contains(&format!("gw lease prune {l}")), "{v}");
    assert!(r.stderr.starts_with("gw: refused: read lease ") && r.stderr.contains("not running"), "{r:?}");
    let r = env.run(&["--profile", "p", "probe", "--lease", l, "--id", &id], None);
    assert_eq!(r.code, EXIT_REFUSED, "{r:?}");
    assert!(r.stderr.contains("not running"), "{r:?}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(hijacker.bytes().is_empty(), "received {:?}", String::from_utf8_lossy(&hijacker.bytes()));
    assert_eq!(hijacker.accepted(), 0, "not even a connection");
    // Read only: the stale record is reported, not pruned.
    assert!(leases.join(format!("{id}.json")).exists());
}

#[test]
fn port_1_lease_3_reused_pid_or_other_boot_record_is_refused_and_hijacker_gets_nothing() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let url = format!("ws://127.0.0.1:{port}");
    env.store("p", &url, "--shared", SHARED);
    let reg = registry(&env);
    let (d, p) = (reg.to_str().unwrap(), port.to_string());
    // The "hijacker" is this process: the record names its pid, so only the
    // start time (or boot id) in the record tells it apart from the owner.
    let hijacker = Hijacker::start(TcpListener::bind(("127.0.0.1", port)).unwrap(), Some(perfect_hello()));
    let me = std::process::id().to_string();
    for id in ["reused", "old-boot"] {
        env.ok(&["lease", "register", d, "--id", id, "--pid", &me, "--port", &p], None);
    }
    // As registered, the record names the port's owner.
    let r = env.run(&["port", "verify", &p, "--lease", d, "--id", "reused"], None);
    assert_eq!(r.code, 0, "{r:?}");

    let mut real_start = 0;
    rewrite(&reg, "reused", |r| {
        real_start = r.start_time;
        r.start_time = r.start_time.saturating_sub(1);
    });
    rewrite(&reg, "old-boot", |r| r.boot_id = "00000000-0000-4000-8000-000000000000".into());
    let r = env.run(&["--json", "port", "verify", &p, "--lease", d, "--id", "reused"], None);
    assert_eq!(r.code, EXIT_REFUSED, "{r:?}");
    let v = json_of(&r);
    assert_eq!(v["error"]["kind"], "not_running", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("was reused"), "{v}");
    let r = env.run(&["--json", "port", "verify", &p, "--lease", d, "--id", "old-boot"], None);
    assert_eq!(r.code, EXIT_REFUSED, "{r:?}");
    let v = json_of(&r);
    assert_eq!(v["error"]["kind"], "foreign_record", "{v}");
    assert!(v["error"]["message"].as_str().unwrap().contains("another boot"), "{v}");
    for id in ["reused", "old-boot"] {
        let r = env.run(&["--profile", "p", "probe", &url, "--lease", d, "--id", id], None);
        assert_eq!(r.code, EXIT_REFUSED, "{id}: {r:?}");
        assert!(!r.stderr.contains(SHARED));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(hijacker.bytes().is_empty(), "received {:?}", String::from_utf8_lossy(&hijacker.bytes()));

    // Control: the true start time back, and the same probe sends the token
    // to this process (the recorder works; only the start time differed).
    rewrite(&reg, "reused", |r| r.start_time = real_start);
    let r = env.run(&["--profile", "p", "probe", &url, "--lease", d, "--id", "reused"], None);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(contains(&hijacker.bytes(), SHARED.as_bytes()));
}

#[test]
fn fs_5_world_writable_lease_registry_is_refused() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let serve = env.serve("p", &[]);
    let leases = env.profile_dir("p").join("leases");
    let (l, id, p) = (leases.to_str().unwrap(), format!("serve-{port}"), port.to_string());
    // Control: the registry as gw serve made it.
    assert_eq!(env.run(&["port", "verify", &p, "--lease", l, "--id", &id], None).code, 0);
    std::fs::set_permissions(&leases, std::fs::Permissions::from_mode(0o777)).unwrap();
    let r = env.run(&["--json", "port", "verify", &p, "--lease", l, "--id", &id], None);
    assert_eq!(r.code, EXIT_REFUSED, "{r:?}");
    assert_eq!(json_of(&r)["error"]["kind"], "insecure_directory", "{r:?}");
    let r = env.run(&["--profile", "p", "probe", "--lease", l, "--id", &id], None);
    assert_eq!(r.code, EXIT_REFUSED, "{r:?}");
    assert!(r.stderr.contains("writable"), "{r:?}");
    std::fs::set_permissions(&leases, std::fs::Permissions::from_mode(0o700)).unwrap();
    drop(serve);
}

#[test]
fn lease_owner_unknown_id_or_registry_is_not_found_and_nothing_is_created() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let reg = registry(&env);
    let (d, p) = (reg.to_str().unwrap(), port.to_string());
    let r = env.run(&["--json", "port", "verify", &p, "--lease", d, "--id", "nobody"], None);
    assert_eq!(r.code, EXIT_NOT_FOUND, "{r:?}");
    assert!(json_of(&r)["error"]["fix"].as_str().unwrap().contains("gw lease list"), "{r:?}");
    let r = env.run(&["--profile", "p", "probe", "--lease", d, "--id", "nobody"], None);
    assert_eq!(r.code, EXIT_NOT_FOUND, "{r:?}");
    // A missing registry is not created by a read.
    let missing = env.tmp.path().join("no-such-registry");
    let r = env.run(&["port", "verify", &p, "--lease", missing.to_str().unwrap(), "--id", "x"], None);
    assert_eq!(r.code, EXIT_NOT_FOUND, "{r:?}");
    assert!(!missing.exists());
    // Usage: --lease needs --id, and excludes --pid.
    assert_eq!(env.run(&["port", "verify", &p, "--lease", d], None).code, 2);
    assert_eq!(env.run(&["port", "verify", &p, "--lease", d, "--id", "x", "--pid", "1"], None).code, 2);
    assert_eq!(env.run(&["port", "verify", &p, "--lease", d, "--id", "../x"], None).code, 2);
}
