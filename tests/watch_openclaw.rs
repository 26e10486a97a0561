//! `gw watch health --hello` and `gw watch approvals` against the real
//! OpenClaw 2026.9.6 gateway and its real CLI (`openclaw devices list
//! --json`, `openclaw devices approve`), one gateway for the whole binary,
//! configured with `gateway.nodes.pairing.autoApproveLocal: false` so that
//! new devices connecting from loopback wait for approval.

#[path = "../crates/gateway/tests/support/mod.rs"]
mod support;

use gw_test_support::cli::Gw;

use std::collections::BTreeSet;
use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt as _;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use gw_gateway::{Bounds, ClientInfo, Connect, Credential, DeviceIdentity, ErrorKind};
use gw_token::Secret;
use serde_json::Value;

const GW: &str = env!("CARGO_BIN_EXE_gw");
const SHARED: &str = "gw-watch-shared-token-4c2e81";
const CONFIG: &str = r#"{"gateway":{"nodes":{"pairing":{"autoApproveLocal":false}}}}"#;

fn private_dir(prefix: &str) -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix(prefix).tempdir().unwrap();
    std::fs::set_permissions(d.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
    d
}

/// The environment OpenClaw's CLI needs to reach this gateway: its state
/// dir, token and port (no secret in argv), node first on PATH.
fn openclaw_env<'c>(c: &'c mut Command, peer: &support::Peer, g: &support::Gateway) -> &'c mut Command {
    c.env("HOME", g.dir.path().join("home"))
        .env("OPENCLAW_STATE_DIR", g.dir.path().join("home/.openclaw"))
        .env("OPENCLAW_GATEWAY_TOKEN", SHARED)
        .env("OPENCLAW_GATEWAY_PORT", g.port.to_string())
        .env("PATH", format!("{}:/usr/bin:/bin", peer.node.parent().unwrap().display()))
}

/// `gw` with its home in `home`, and the environment the real OpenClaw CLI
/// (run by the watcher) needs to reach this gateway: its state dir, token
/// and port, node first on PATH.
fn gw(home: &Path, peer: &support::Peer, g: &support::Gateway, args: &[&str], stdin: Option<&str>) -> Output {
    let mut c = Command::new(GW);
    openclaw_env(&mut c, peer, g);
    Gw::wrapping(c)
        .args(args)
        .home(home.join("gw"))
        .stdin(Some(stdin.unwrap_or_default().as_bytes()))
        .timeout(Duration::from_secs(300))
        .output()
}

fn text(o: &Output) -> String {
    format!(
        "exit {:?}\nstdout: {}\nstderr: {}",
        o.status.code(),
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    )
}

/// The real `openclaw devices list --json`.
fn devices(peer: &support::Peer, g: &support::Gateway) -> Value {
    let mut c = Command::new(&peer.node);
    let out = openclaw_env(&mut c, peer, g)
        .arg(peer.pkg.join("openclaw.mjs"))
        .args(["devices", "list", "--json"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(out.status.success(), "openclaw devices list: {}", text(&out));
    serde_json::from_slice(&out.stdout).unwrap()
}

fn pending_clients(v: &Value) -> Vec<(String, String)> {
    v["pending"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["clientId"].as_str().unwrap().to_owned(), p["deviceId"].as_str().unwrap().to_owned()))
        .collect()
}

/// A device (its key from `seed`) of another client (`node-host`, role
/// node) asks to pair: the real gateway answers PAIRING_REQUIRED and records
/// a pending request. Returns the device id.
fn node_host_asks(g: &support::Gateway, seed: u8) -> String {
    let device = DeviceIdentity::from_seed(&Secret::new(vec![seed; 32])).unwrap();
    let client = ClientInfo { id: "node-host".into(), ..ClientInfo::default() };
    let req = Connect {
        client,
        role: "node".into(),
        scopes: vec![],
        credential: Credential::Token(Secret::from(SHARED.to_owned())),
        device: Some(&device),
    };
    let bounds = Bounds { challenge: Duration::from_secs(30), handshake: Duration::from_secs(60), ..Bounds::default() };
    let stream = std::net::TcpStream::connect(g.addr()).unwrap();
    let e = gw_gateway::connect(stream, &g.url(), &req, &bounds).map(drop).unwrap_err();
    assert_eq!(e.kind(), ErrorKind::AuthRefused, "{e}");
    assert_eq!(e.refusal().unwrap().detail_code.as_deref(), Some("PAIRING_REQUIRED"), "{e}");
    device.id().to_owned()
}

/// The connections to or from `port` in TIME_WAIT (`ss`): the peers'
/// addresses of those whose client side closed first, and of those whose
/// server side (the gateway, local port `port`) closed first.
fn time_wait(port: u16) -> (BTreeSet<String>, BTreeSet<String>) {
    let out = Command::new("ss").args(["-tanH", "state", "time-wait"]).output().expect("run ss (iproute2)");
    assert!(out.status.success(), "ss: {out:?}");
    let (mut client, mut server) = (BTreeSet::new(), BTreeSet::new());
    let gateway = format!(":{port}");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let cols: Vec<&str> = line.split_whitespace().collect();
        let (local, peer) = match cols.as_slice() {
            [.., local, peer] => (*local, *peer),
            _ => continue,
        };
        if local.ends_with(&gateway) {
            server.insert(peer.to_owned());
        } else if peer.ends_with(&gateway) {
            client.insert(local.to_owned());
        }
    }
    (client, server)
}

#[test]
fn watch_7_health_hello_and_approvals_against_the_real_openclaw() {
    let peer = support::peer();
    let g = peer.start_gateway_with("token", &[("OPENCLAW_GATEWAY_TOKEN", SHARED)], Some(CONFIG));
    let home = private_dir("gw-watch-home.");
    let pid = g.pid().to_string();
    let url = g.url();
    let port = g.port.to_string();
    let run = |args: &[&str], stdin: Option<&str>| gw(home.path(), &peer, &g, args, stdin);

    let o = run(&["profile", "init", "default", "--port", &port, "--json"], None);
    assert!(o.status.success(), "{}", text(&o));
    let our_device = serde_json::from_slice::<Value>(&o.stdout).unwrap()["device_id"].as_str().unwrap().to_owned();
    let o = run(&["cred", "set", "--shared", &url], Some(SHARED));
    assert!(o.status.success(), "{}", text(&o));

    // 1. The profile's device is new and the gateway does not pair loopback
    //    devices silently: --hello reports the gateway's code, exit 3.
    let health_once = ["watch", "health", &url, "--pid", &pid, "--hello", "--once", "--probe-timeout", "30s"];
    // A gateway just started answers UNAVAILABLE ("gateway starting") for a
    // while: unhealthy (exit 1), not a refusal. Ask again, bounded.
    let until = Instant::now() + Duration::from_secs(90);
    let o = loop {
        let o = run(&health_once, None);
        if o.status.code() == Some(1)
            && String::from_utf8_lossy(&o.stderr).contains("UNAVAILABLE")
            && Instant::now() < until
        {
            std::thread::sleep(Duration::from_millis(500));
            continue;
        }
        break o;
    };
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("PAIRING_REQUIRED") && err.contains("openclaw devices approve"), "{err}");
    assert!(!err.contains(SHARED), "{err}");
    // ... while the TCP check alone cannot see it.
    let o = run(&["watch", "health", &url, "--pid", &pid, "--once"], None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));

    // 2. Another client's device asks too. Both requests are really pending.
    let unknown_device = node_host_asks(&g, 0x5a);
    let before = pending_clients(&devices(&peer, &g));
    assert!(before.contains(&("cli".to_owned(), our_device.clone())), "{before:?}");
    assert!(before.contains(&("node-host".to_owned(), unknown_device.clone())), "{before:?}");

    // 3. The watcher over the real CLI approves only the allowlisted client.
    let node = peer.node.display().to_string();
    let cli = format!("{node} {}", peer.pkg.join("openclaw.mjs").display());
    let list_cmd = format!("{cli} devices list --json");
    let approve_cmd = format!("{cli} devices approve {{id}}");
    // One bounded pass of the watcher over the real CLI, allowing `allow`.
    let approvals = |allow: &[&str]| {
        let mut a = vec!["watch", "approvals", "--once", "--json", "--list-cmd", &list_cmd];
        a.extend(["--approve-cmd", &approve_cmd, "--call-timeout", "90s", "--max-time", "300s"]);
        a.extend(allow);
        run(&a, None)
    };
    let o = approvals(&["--allow", "cli"]);
    assert!(o.status.success(), "{}", text(&o));
    let rep: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rep["report"]["list_error"], Value::Null, "{}", text(&o));
    assert_eq!(rep["report"]["approved"].as_array().unwrap().len(), 1, "{}", text(&o));
    assert_eq!(rep["report"]["rejected"].as_array().unwrap().len(), 1, "{}", text(&o));
    // The real list afterwards: ours is paired, the unknown client still pending.
    let after = devices(&peer, &g);
    let pending = pending_clients(&after);
    assert_eq!(pending, [("node-host".to_owned(), unknown_device.clone())], "{after}");
    let paired: Vec<&str> = after["paired"].as_array().unwrap().iter().filter_map(|d| d["deviceId"].as_str()).collect();
    assert!(paired.contains(&our_device.as_str()) && !paired.contains(&unknown_device.as_str()), "{after}");

    // 3b. WATCH-8: a second device declares the same client, `node-host`
    //     (a client id is whatever the device says). With the first
    //     device pinned by --allow-device, only its request is approved;
    //     the second stays pending although its client is allowlisted.
    let second_device = node_host_asks(&g, 0x6b);
    let listed = devices(&peer, &g);
    let request_of = |device: &str| {
        let pending = listed["pending"].as_array().unwrap();
        let p = pending.iter().find(|p| p["deviceId"] == device).unwrap_or_else(|| panic!("{device}: {listed}"));
        p["requestId"].as_str().unwrap().to_owned()
    };
    let (pinned_request, second_request) = (request_of(&unknown_device), request_of(&second_device));
    let o = approvals(&["--allow", "node-host", "--allow-device", &unknown_device]);
    assert!(o.status.success(), "{}", text(&o));
    let rep: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(rep["report"]["approved"], serde_json::json!([pinned_request]), "{}", text(&o));
    assert_eq!(rep["report"]["rejected"], serde_json::json!([second_request]), "{}", text(&o));
    let after = devices(&peer, &g);
    assert_eq!(pending_clients(&after), [("node-host".to_owned(), second_device.clone())], "{after}");
    let paired: Vec<&str> = after["paired"].as_array().unwrap().iter().filter_map(|d| d["deviceId"].as_str()).collect();
    assert!(paired.contains(&unknown_device.as_str()) && !paired.contains(&second_device.as_str()), "{after}");

    // 4. Healthy now: the handshake completes; a watch with -v prints a start
    //    line and each check; -q prints nothing. The gateway logs nothing
    //    about these connections (each closed cleanly).
    //    The close is the WebSocket's: gw sends a close frame and waits for
    //    the gateway's, so the gateway closes the TCP connection first and
    //    the TIME_WAIT is on its side (a client that just dropped the
    //    socket would leave it on the client's side).
    let log_before = g.log().len();
    let (client_side, server_side) = time_wait(g.port);
    let o = run(&health_once, None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("hello-ok"), "{}", text(&o));
    let (client_after, server_after) = time_wait(g.port);
    assert!(client_after.is_subset(&client_side), "gw closed the TCP connection first: {client_after:?}");
    assert!(!server_after.is_subset(&server_side), "the gateway did not close first: {server_after:?}");
    let watch = |extra: &str| {
        let mut a = vec!["watch", "health", url.as_str(), "--pid", pid.as_str(), "--hello", "--on-fail", "false"];
        a.extend(["--interval", "1s", "--deadline", "3500ms", "--probe-timeout", "30s", extra]);
        run(&a, None)
    };
    let o = watch("-v");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.lines().next().unwrap_or("").contains("watching") && err.contains("verified handshake"), "{err}");
    assert!(err.matches("healthy: hello-ok").count() >= 2, "{err}");
    let o = watch("-q");
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    assert!(o.stderr.is_empty(), "{}", text(&o));
    let o = run(&["watch", "health", &url, "--pid", &pid, "--once"], None);
    assert_eq!(o.status.code(), Some(0), "{}", text(&o));
    std::thread::sleep(Duration::from_secs(1));
    let log = g.log();
    let new = &log[log_before..];
    // Any line of its WebSocket layer, or a warning (yellow) or error (red)
    // naming a connection, is about us: nothing else connects to it. (Its
    // other warnings, such as a model catalog it cannot refresh offline,
    // are not.)
    for line in new.lines() {
        let warning = line.contains("\x1b[33m") || line.contains("\x1b[31m");
        let about_a_connection = ["conn=", "peer=", "127.0.0.1", "::1"].iter().any(|n| line.contains(n));
        assert!(
            !(line.contains("[ws]") || (warning && about_a_connection)),
            "the gateway logged about a healthy check: {line}\n(all new lines:\n{new})"
        );
    }

    // 5. A wrong shared token: the watch ends at once with exit 3 naming the
    //    gateway's code, and runs no recovery (a restart cannot mend it).
    let wrong = "not-the-gateway-token-93d1";
    let o = run(&["cred", "set", "--shared", &url], Some(wrong));
    assert!(o.status.success(), "{}", text(&o));
    let marker = home.path().join("recovered");
    let on_fail = format!("touch {}", marker.display());
    let started = Instant::now();
    let o = run(
        &[
            "watch",
            "health",
            &url,
            "--pid",
            &pid,
            "--hello",
            "--on-fail",
            &on_fail,
            "--failures",
            "1",
            "--interval",
            "1s",
            "--deadline",
            "60s",
            "--probe-timeout",
            "30s",
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(3), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("AUTH_TOKEN_MISMATCH") && err.contains("no recovery"), "{err}");
    assert!(!err.contains(wrong) && !err.contains(SHARED), "{err}");
    assert!(!marker.exists(), "a recovery ran");
    assert!(started.elapsed() < Duration::from_secs(30), "it did not end at the refusal");

    // 6. A listener that accepts TCP and never answers (owned by this test
    //    process): unhealthy within the probe timeout, exit 1.
    let silent = TcpListener::bind("127.0.0.1:0").unwrap();
    // It accepts (so gw-portguard can attribute the connection to this
    // process) and keeps every connection open without a byte.
    let acceptor = silent.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((s, _)) = acceptor.accept() {
            held.push(s);
        }
    });
    let silent_url = format!("ws://127.0.0.1:{}", silent.local_addr().unwrap().port());
    let me = std::process::id().to_string();
    let started = Instant::now();
    let o = run(&["watch", "health", &silent_url, "--pid", &me, "--hello", "--once", "--probe-timeout", "2s"], None);
    let took = started.elapsed();
    assert_eq!(o.status.code(), Some(1), "{}", text(&o));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("unhealthy") && err.contains("the WebSocket upgrade did not finish in time"), "{}", text(&o));
    assert!(took >= Duration::from_secs(2) && took < Duration::from_secs(10), "took {took:?}");
    drop(silent);
    drop(g);
}
