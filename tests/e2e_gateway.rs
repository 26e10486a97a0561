//! End to end, real processes on real sockets: `gw serve` issues a
//! bootstrap token; the hand-off of its hello-ok role tokens is done by
//! `gw probe` (verified connect) or by `gw cred handoff`; afterwards
//! `gw probe` connects with the device token (CRED-1, CRED-2, CRED-3).
//! `gw cred replace-shared --validate-with-probe` validates the new shared
//! token against the verified gateway and changes nothing when it is
//! refused or when the port's owner is not proven (CRED-4, PORT-1). A probe
//! for profile B reads only B's configuration whatever the environment
//! says for profile A (PORT-4).

mod serve_support;

use std::net::{SocketAddr, TcpListener};

use serde_json::Value;
use serde_json::json;
use serve_support::{EXIT_REFUSED, Env, Hijacker, connect_with, free_port};

fn json(s: &str) -> Value {
    serde_json::from_str(s).unwrap_or_else(|e| panic!("not JSON ({e}): {s}"))
}

#[test]
fn e2e_serve_probe_handoff_then_probe_with_the_device_token() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let serve = env.serve("p", &["--issue-bootstrap"]);
    let url = serve.url();
    let boot = env.stored("p", &url, &["--bootstrap"]).unwrap();
    // 1. The verified probe sends the bootstrap token and hands off.
    let first = env.run(&["--profile", "p", "--json", "probe"], None);
    let v = json(&first.stdout);
    assert_eq!(v["credential"], "bootstrap", "{first:?}");
    assert_eq!(v["hello"]["method"], "bootstrap-token");
    assert_eq!(v["handoff"]["stored"], true, "{v}");
    assert_eq!(v["handoff"]["roles"], serde_json::json!(["operator", "node"]), "{v}");
    assert_eq!(v["handoff"]["bootstrap_cleared"], true);
    assert_eq!(v["owner"]["pid"], serve.pid);
    assert_eq!(env.stored("p", &url, &["--bootstrap"]), None, "bootstrap cleared after read-back");
    let op = env.stored("p", &url, &["--role", "operator"]).unwrap();
    let node = env.stored("p", &url, &["--role", "node"]).unwrap();
    assert_ne!(op, node);
    // 2. The next probe uses the device token (precedence), by URL with the pidfile too.
    let device = v["device_id"].as_str().expect("the profile's device id").to_owned();
    let v = json(&env.ok(&["--profile", "p", "--json", "probe"], None));
    assert_eq!(
        (&v["credential"], &v["hello"]["method"]),
        (&format!("device:operator@{device}").into(), &"device-token".into())
    );
    let pidfile = serve.pidfile.to_str().unwrap().to_owned();
    let v = json(&env.ok(
        &[
            "--profile",
            "p",
            "--json",
            "probe",
            &format!("ws://localhost:{port}"),
            "--pidfile",
            &pidfile,
            "--role",
            "node",
        ],
        None,
    ));
    assert_eq!((&v["credential"], &v["hello"]["role"]), (&format!("device:node@{device}").into(), &"node".into()));
    assert_eq!(v["target"], "given");
    // The gateway retired the bootstrap token on the device token's first use.
    let again =
        connect_with(SocketAddr::from(([127, 0, 0, 1], port)), json!({"bootstrapToken": boot}), Some("node"), None);
    assert_eq!(again.refused(), "AUTH_BOOTSTRAP_TOKEN_INVALID");
    // CLI-1: no secret in the gateway's log, nor in what the probe printed
    // (the hand-off stored the role tokens; it never shows them).
    for t in [&boot, &op, &node] {
        assert!(!serve.log().contains(t.as_str()));
        assert!(!first.stdout.contains(t.as_str()) && !first.stderr.contains(t.as_str()), "{first:?}");
    }
}

#[test]
fn e2e_serve_cred_handoff_then_probe() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let serve = env.serve("p", &["--issue-bootstrap"]);
    let url = format!("ws://localhost:{port}");
    let boot = env.stored("p", &url, &["--bootstrap"]).unwrap();
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    // A client holding the profile's device key connects with the bootstrap
    // token; `gw cred handoff` stores what the gateway issued to that device.
    let root = gw_anchor::Root::open(env.profile_dir("p"), &gw_anchor::Policy::new()).unwrap();
    let device = gw_gateway::DeviceIdentity::load(&root, gw_gateway::DEVICE_KEY_FILE).unwrap();
    let (_ws, hello, _) = connect_with(addr, json!({"bootstrapToken": boot}), Some("node"), Some(&device)).hello();
    let v = json(&env.ok(&["--profile", "p", "--json", "cred", "handoff", &url], Some(hello.as_bytes())));
    assert_eq!(v["roles"], serde_json::json!(["node", "operator"]));
    let v = json(&env.ok(&["--profile", "p", "--json", "probe"], None));
    assert_eq!(v["credential"], format!("device:operator@{}", device.id()));
    assert_eq!(v["hello"]["method"], "device-token");
    drop(serve);
}

#[test]
fn cred_4_replace_shared_validated_by_a_verified_probe() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let file = env.tmp.path().join("gateway-shared.txt");
    std::fs::write(&file, "new-shared-token-42\n").unwrap();
    let serve = env.serve("p", &["--shared-token-file", file.to_str().unwrap()]);
    let url = serve.url();
    let pidfile = serve.pidfile.to_str().unwrap().to_owned();
    env.store("p", &url, "--shared", "old-shared-token");
    env.store("p", &url, "--device=operator", "old-device-token");
    let store = env.profile_dir("p").join("credentials.json");
    let before = std::fs::read(&store).unwrap();
    let replace = |token: &str, owner: &[&str]| {
        let mut args = vec!["--profile", "p", "cred", "replace-shared", url.as_str(), "--validate-with-probe"];
        args.extend_from_slice(owner);
        env.run(&args, Some(token.as_bytes()))
    };
    // A token the gateway refuses: nothing changes.
    let r = replace("wrong-shared-token", &["--pidfile", &pidfile]);
    assert_eq!(r.code, EXIT_REFUSED, "{r:?}");
    assert!(r.stderr.contains("AUTH_TOKEN_MISMATCH"), "{r:?}");
    assert!(!r.stderr.contains("wrong-shared-token"));
    assert_eq!(std::fs::read(&store).unwrap(), before);
    // The right token but an owner that is not proven: refused, nothing sent or changed.
    let innocent = std::process::Command::new("sleep").arg("300").spawn().unwrap();
    let r = replace("new-shared-token-42", &["--pid", &innocent.id().to_string()]);
    assert_eq!(r.code, EXIT_REFUSED, "{r:?}");
    assert!(r.stderr.contains("not owned"), "{r:?}");
    assert_eq!(std::fs::read(&store).unwrap(), before);
    // No owner at all: a usage error before anything.
    let r = env.run(&["--profile", "p", "cred", "replace-shared", &url, "--validate-with-probe"], Some(b"x"));
    assert_eq!(r.code, 2, "{r:?}");
    // The right token, proven owner: stored, device tokens cleared.
    let r = replace("new-shared-token-42", &["--pidfile", &pidfile]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(env.stored("p", &url, &["--shared"]).as_deref(), Some("new-shared-token-42"));
    assert_eq!(env.stored("p", &url, &["--role", "operator"]), None);
    let mut innocent = innocent;
    let _ = innocent.kill();
    let _ = innocent.wait();
}

#[test]
fn port_1_replace_shared_validation_never_sends_to_a_hijacker() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let url = format!("ws://127.0.0.1:{port}");
    env.store("p", &url, "--device=operator", "device-1");
    let hijacker = Hijacker::start(TcpListener::bind(("127.0.0.1", port)).unwrap(), None);
    let mut innocent = std::process::Command::new("sleep").arg("300").spawn().unwrap();
    let r = env.run(
        &[
            "--profile",
            "p",
            "cred",
            "replace-shared",
            &url,
            "--validate-with-probe",
            "--pid",
            &innocent.id().to_string(),
        ],
        Some(b"candidate-shared-token"),
    );
    assert_eq!(r.code, EXIT_REFUSED, "{r:?}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(hijacker.bytes().is_empty(), "received {:?}", String::from_utf8_lossy(&hijacker.bytes()));
    assert_eq!(env.stored("p", &url, &["--role", "operator"]).as_deref(), Some("device-1"));
    let _ = innocent.kill();
    let _ = innocent.wait();
}

#[test]
fn port_4_probe_for_profile_b_reads_only_b_config() {
    let env = Env::new();
    let (pa, pb) = (free_port(), free_port());
    env.profile("a", pa);
    env.profile("b", pb);
    let serve_a = env.serve("a", &[]);
    let serve_b = env.serve("b", &[]);
    // Overrides meant for profile a, in the environment of a probe for b.
    let a_url = format!("ws://127.0.0.1:{pa}");
    let mut cmd = env.command(&["--profile", "b", "--json", "probe"]);
    for (k, v) in [
        ("GW_PORT", pa.to_string()),
        ("GW_GATEWAY_PORT", pa.to_string()),
        ("GW_GATEWAY_URL", a_url.clone()),
        ("GW_URL", a_url.clone()),
        ("GW_PROFILE", "a".to_owned()),
        ("OPENCLAW_GATEWAY_PORT", pa.to_string()),
        ("OPENCLAW_GATEWAY_URL", a_url.clone()),
    ] {
        cmd.env(k, v);
    }
    let r = env.run_cmd(cmd, None, "gw --profile b probe");
    assert_eq!(r.code, 0, "{r:?}");
    let v = json(&r.stdout);
    assert_eq!(v["gateway"], format!("ws://127.0.0.1:{pb}"));
    assert_eq!(v["owner"]["pid"], serve_b.pid);
    serve_support::eventually("b's gateway logs the probe", || serve_b.log().contains("accepted (scoped"));
    assert!(!serve_a.log().contains("accepted"), "profile a's gateway saw nothing: {}", serve_a.log());
    // Profile a's own config pointing at b's port does not move b's probe either.
    let cfg = env.profile_dir("a").join("config.json");
    let text = std::fs::read_to_string(&cfg).unwrap().replace(&pa.to_string(), &pb.to_string());
    std::fs::write(&cfg, text).unwrap();
    let v = json(&env.ok(&["--profile", "b", "--json", "probe"], None));
    assert_eq!(v["gateway"], format!("ws://127.0.0.1:{pb}"));
    // And a's probe follows a's (edited) config to b's port, where b's owner
    // is not a's gateway: refused (the pidfile is a's).
    let r = env.run(&["--profile", "a", "probe"], None);
    assert_eq!(r.code, EXIT_REFUSED, "{r:?}");
}

/// Waits (bounded) until `serve`'s log holds `needle`; returns the log.
fn log_with(serve: &serve_support::Serve, needle: &str) -> String {
    let until = std::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let log = serve.log();
        if log.contains(needle) || std::time::Instant::now() > until {
            return log;
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Issue 12 item 9: the commands that talk have `-v` and `-q`. `gw probe -v`
/// says each step (which credential, never its value), `-q` prints nothing
/// on success; `gw serve -v` logs each connection as it comes, `-q` only
/// what did not complete the hello.
#[test]
fn probe_and_serve_speak_up_with_v_and_keep_quiet_with_q() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let serve = env.serve("p", &["--issue-bootstrap", "-v"]);
    let boot = env.stored("p", &serve.url(), &["--bootstrap"]).unwrap();

    let r = env.run(&["--profile", "p", "probe", "-v"], None);
    assert_eq!(r.code, 0, "{r:?}");
    for step in [
        format!("every listener of the port must be held by pid {}", serve.pid),
        "gw probe: sending the stored bootstrap token, signed by device".to_owned(),
        "hello-ok after".to_owned(),
    ] {
        assert!(r.stderr.contains(&step), "missing step `{step}`: {r:?}");
    }
    assert!(!r.stdout.is_empty(), "-v keeps the result line: {r:?}");
    assert!(!r.stderr.contains(&boot) && !r.stdout.contains(&boot), "the credential is never shown: {r:?}");
    let log = log_with(&serve, ": connected");
    assert!(log.contains(": connected") && log.contains("accepted"), "{log}");

    let r = env.run(&["--profile", "p", "probe", "-q"], None);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "", ""), "-q: nothing on success");
    let r = env.run(&["--profile", "p", "--json", "probe", "-q"], None);
    assert_eq!(json(&r.stdout)["ok"], true, "--json output is unchanged by -q: {r:?}");
    let r = env.run(&["--profile", "p", "probe", "-q", "-v"], None);
    assert_eq!(r.code, 2, "-q and -v conflict: {r:?}");

    // gw serve -q: a completed hello is not logged, a refusal is.
    let port = free_port();
    env.profile("q", port);
    let quiet = env.serve("q", &["-q"]);
    env.ok(&["--profile", "q", "probe"], None);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    assert_eq!(connect_with(addr, json!({"token": "not-the-token"}), None, None).refused(), "AUTH_TOKEN_MISMATCH");
    let log = log_with(&quiet, "refused");
    assert!(log.contains("refused"), "the refusal is logged: {log}");
    assert!(!log.contains("accepted") && !log.contains(": connected"), "-q logs no completed hello: {log}");
}
