//! `gw probe` against hijackers, on real sockets with real processes: the
//! hijacker (a listener in this test process) records every byte it
//! receives; when the port's owner is not the expected process, `gw probe`
//! exits 3 naming the listener and the hijacker got **no byte at all** —
//! not the upgrade request, not the token (THREATS PORT-1), even when it
//! answers like a perfect gateway (PORT-2), and when the foreign listener
//! is only on ::1 (PORT-5) or runs as another uid (65534: this test binary
//! re-executed as a helper that prints what it receives). The controls (same hijacker, the expected owner
//! being this process) show the recording works: there the token arrives.

mod serve_support;

use std::net::{Ipv6Addr, SocketAddr, TcpListener};
use std::process::{Child, Command};

use serde_json::json;
use serve_support::{EXIT_REFUSED, Env, ForeignListener, Hijacker, contains, free_port};

/// An innocent, unrelated process (the "expected owner" that does not own the port).
struct Innocent(Child);
impl Innocent {
    fn new() -> Self {
        Self(Command::new("sleep").arg("300").spawn().unwrap())
    }
    fn pid(&self) -> String {
        self.0.id().to_string()
    }
}
impl Drop for Innocent {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

const SHARED: &str = "shared-secret-do-not-leak-7c1f";

/// A perfect protocol-4 hello-ok of a bootstrap connect (the `res`
/// payload), handing off two device tokens.
fn perfect_hello() -> String {
    json!({
        "type": "hello-ok", "protocol": 4,
        "server": { "version": "2026.9.6" },
        "auth": { "method": "bootstrap-token", "role": "operator", "scopes": [], "deviceToken": "evil-operator",
                  "deviceTokens": [{ "role": "node", "deviceToken": "evil-node", "scopes": [] }] }
    })
    .to_string()
}

#[test]
fn port_1_hijacker_never_receives_token() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let url = format!("ws://127.0.0.1:{port}");
    env.store("p", &url, "--shared", SHARED);
    let hijacker = Hijacker::start(TcpListener::bind(("127.0.0.1", port)).unwrap(), None);
    let innocent = Innocent::new();
    for u in [url.as_str(), &format!("ws://localhost:{port}"), &format!("ws://[::1]:{port}")] {
        let r = env.run(&["--profile", "p", "probe", u, "--pid", &innocent.pid()], None);
        assert_eq!(r.code, EXIT_REFUSED, "{u}: {r:?}");
        assert_eq!(r.stderr.lines().count(), 1, "{r:?}");
        assert!(r.stderr.starts_with("gw: refused: probe 127.0.0.1:"), "{r:?}");
        // The reason names the foreign listener, with its pid (this process).
        assert!(r.stderr.contains(&format!("127.0.0.1:{port}")), "{r:?}");
        assert!(r.stderr.contains(&std::process::id().to_string()), "the hijacker's pid is named: {r:?}");
        assert!(!r.stderr.contains(SHARED));
    }
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(hijacker.bytes().is_empty(), "the hijacker received {:?}", String::from_utf8_lossy(&hijacker.bytes()));
    // Control: the same listener with this process as the expected owner
    // gets the token (in the `connect` after its challenge).
    let r =
        env.run(&["--profile", "p", "probe", &url, "--timeout", "1s", "--pid", &std::process::id().to_string()], None);
    assert_eq!(r.code, 1, "the recorder answers no hello: {r:?}");
    assert!(r.stderr.contains("connect answer"), "a timeout waiting for the answer: {r:?}");
    serve_support::eventually("the control's request is recorded", || contains(&hijacker.bytes(), SHARED.as_bytes()));
}

#[test]
fn port_1_dead_gateway_port_rebound_by_hijacker_gets_nothing() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let mut serve = env.serve("p", &[]);
    // Works while the real gateway runs (a runtime token: the profile's own gateway).
    let r = env.run(&["--profile", "p", "--json", "probe"], None);
    assert_eq!(r.code, 0, "{r:?}");
    let v: serde_json::Value = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(v["credential"], "runtime");
    // The gateway dies without removing its pidfile; a hijacker takes the port.
    serve.signal(rustix::process::Signal::KILL);
    serve.wait();
    assert!(serve.pidfile.exists(), "the stale pidfile stays");
    let hijacker = Hijacker::start(TcpListener::bind(("127.0.0.1", port)).unwrap(), Some(perfect_hello()));
    let r = env.run(&["--profile", "p", "probe"], None);
    assert_eq!(r.code, EXIT_REFUSED, "{r:?}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(hijacker.bytes().is_empty(), "received {:?}", String::from_utf8_lossy(&hijacker.bytes()));
}

#[test]
fn port_2_hijacker_answering_perfect_hello_ok_is_still_refused() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let url = format!("ws://127.0.0.1:{port}");
    env.store("p", &url, "--bootstrap", "bootstrap-do-not-leak-99");
    let store_before = std::fs::read(env.profile_dir("p").join("credentials.json")).unwrap();
    let hijacker = Hijacker::start(TcpListener::bind(("127.0.0.1", port)).unwrap(), Some(perfect_hello()));
    let innocent = Innocent::new();
    let r = env.run(&["--profile", "p", "probe", &url, "--pid", &innocent.pid()], None);
    assert_eq!(r.code, EXIT_REFUSED, "{r:?}");
    assert!(r.stderr.contains("nothing was sent"), "{r:?}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(hijacker.bytes().is_empty(), "received {:?}", String::from_utf8_lossy(&hijacker.bytes()));
    // Its "device tokens" were never taken: the store is byte-for-byte unchanged.
    assert_eq!(std::fs::read(env.profile_dir("p").join("credentials.json")).unwrap(), store_before);
    // Control: with this process as the expected owner the hello is believed
    // and handed off — the test's recorder and checks would see a leak.
    let r = env.run(&["--profile", "p", "--json", "probe", &url, "--pid", &std::process::id().to_string()], None);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(contains(&hijacker.bytes(), b"bootstrap-do-not-leak-99"));
    assert_eq!(env.stored("p", &url, &["--role", "node"]).as_deref(), Some("evil-node"));
}

#[test]
fn port_5_foreign_listener_on_ipv6_loopback_is_refused() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let serve = env.serve("p", &["--bind", "ipv4"]);
    // Control: the real gateway alone is proven and answers.
    let r = env.run(&["--profile", "p", "probe"], None);
    assert_eq!(r.code, 0, "{r:?}");
    let hijacker = Hijacker::start(
        TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port))).unwrap(),
        Some(perfect_hello()),
    );
    let r = env.run(&["--profile", "p", "probe"], None);
    assert_eq!(r.code, EXIT_REFUSED, "{r:?}");
    assert!(r.stderr.contains(&format!("[::1]:{port}")), "the foreign listener is named: {r:?}");
    std::thread::sleep(std::time::Duration::from_millis(200));
    assert!(hijacker.bytes().is_empty());
    assert_eq!(hijacker.accepted(), 0);
    drop(serve);
}

/// The uid of the other user.
const NOBODY: u32 = 65534;

/// Helper entry point (not a test of its own): when started by
/// [`port_1_hijacker_of_another_uid_never_receives_token`] with
/// `GW_TEST_HIJACK_PORT` set, this test binary, running as uid 65534, listens
/// on that port, plays a protocol-4 gateway up to the challenge (so that a
/// client proceeds to its `connect`), and prints every chunk it receives as
/// a `GOT:` line.
#[test]
fn hijacker_child() {
    serve_support::listener_child("GW_TEST_HIJACK_PORT", || {});
}

#[test]
fn port_1_hijacker_of_another_uid_never_receives_token() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let url = format!("ws://127.0.0.1:{port}");
    env.store("p", &url, "--shared", SHARED);
    let port_arg = port.to_string();
    let hijacker =
        ForeignListener::start("hijacker_child", &[("GW_TEST_HIJACK_PORT", std::ffi::OsStr::new(&port_arg))], NOBODY);
    let rx = &hijacker.lines;
    let innocent = Innocent::new();
    for args in [
        vec!["probe", url.as_str(), "--pid", &innocent.pid()],
        vec!["probe", url.as_str(), "--pid", &innocent.pid(), "--uid", "0"],
    ] {
        let mut full = vec!["--profile", "p"];
        full.extend_from_slice(&args);
        let r = env.run(&full, None);
        assert_eq!(r.code, EXIT_REFUSED, "{r:?}");
        assert!(r.stderr.contains(&format!("uid {NOBODY}")), "the listener's uid is named: {r:?}");
    }
    // Control: naming the hijacker itself as the owner sends the credential.
    let r = env.run(&["--profile", "p", "probe", &url, "--timeout", "1s", "--pid", &hijacker.pid().to_string()], None);
    assert_eq!(r.code, 1, "{r:?}");
    let mut got = Vec::new();
    while let Ok(line) = rx.recv_timeout(std::time::Duration::from_secs(2)) {
        got.push(line);
        if got.iter().any(|l| l.contains(SHARED)) {
            break;
        }
    }
    drop(hijacker);
    let gots: Vec<_> = got.iter().filter(|l| l.contains("GOT:")).collect();
    assert!(!gots.is_empty() && gots.iter().any(|l| l.contains(SHARED)), "the control reached it: {got:?}");
    // Everything it got came from the control: one request, after the refusals.
    let requests = gots.iter().filter(|l| l.contains("GET / HTTP/1.1")).count();
    assert_eq!(requests, 1, "{gots:?}");
}

/// CLI-1: a gateway (proven owner: this process) that swapped `role` and
/// `token` — in `auth.role`, or in a `deviceTokens` entry handed off for a
/// bootstrap credential — makes `gw probe` print neither: the value is not
/// a role name, so gw-gateway refuses the hello-ok (exit 1) without echoing
/// it, and nothing is handed off.
#[test]
fn cli_1_probe_never_prints_a_role_that_is_a_secret() {
    const SWAPPED: &str = "Swapped-Tok3n_Qz8Vb4Nm1";
    let me = std::process::id().to_string();
    let hellos = [
        ("--shared", json!({ "type": "hello-ok", "protocol": 4, "auth": { "method": "token", "role": SWAPPED } })),
        (
            "--bootstrap",
            json!({ "type": "hello-ok", "protocol": 4, "auth": { "method": "bootstrap-token", "role": "operator",
                    "deviceTokens": [{ "role": SWAPPED, "deviceToken": "operator" }] } }),
        ),
    ];
    for (slot, hello) in hellos {
        let env = Env::new();
        let port = free_port();
        env.profile("p", port);
        let url = format!("ws://127.0.0.1:{port}");
        env.store("p", &url, slot, "cred-do-not-leak-5d2e");
        let _gateway = Hijacker::start(TcpListener::bind(("127.0.0.1", port)).unwrap(), Some(hello.to_string()));
        for json_flag in [false, true] {
            let mut args = vec!["--profile", "p", "probe", &url, "--pid", &me];
            if json_flag {
                args.insert(0, "--json");
            }
            let r = env.run(&args, None);
            assert!(!r.stdout.contains(SWAPPED) && !r.stderr.contains(SWAPPED), "{slot}: the role was printed: {r:?}");
            assert!(!r.stdout.contains("Qz8Vb4") && !r.stderr.contains("Qz8Vb4"), "{r:?}");
            assert_eq!(r.code, 1, "{slot}: a hello-ok with a bad role is refused: {r:?}");
            assert!(r.stderr.contains("not a role name"), "{slot}: {r:?}");
            assert!(env.stored("p", &url, &["--role", "operator"]).is_none(), "nothing handed off");
        }
    }
}
