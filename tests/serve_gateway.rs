//! `gw serve`, the reference gateway, as a real process on real sockets:
//! ready line, both loopback families on one port, the pidfile (atomic,
//! 0644, removed on SIGTERM/SIGINT), 401 before the upgrade for a missing
//! or wrong credential (nothing leaked), scoped tokens (TOK-1, TOK-3 by
//! peer), the bootstrap → device hand-off with `gw cred handoff`, the
//! bounds (message size, connection count, handshake time) and logs without
//! secrets.

mod serve_support;

use std::io::{Read, Write};
use std::net::{Ipv6Addr, SocketAddr, TcpStream};
use std::time::Duration;

use serve_support::{Conn, Env, connect, contains, eventually, free_port, mode};
use tungstenite::Message;
use tungstenite::protocol::frame::coding::CloseCode;

fn v4(port: u16) -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], port))
}
fn v6(port: u16) -> SocketAddr {
    SocketAddr::from((Ipv6Addr::LOCALHOST, port))
}

/// A raw upgrade request with `auth` as the Authorization header; returns
/// the whole response.
fn raw_upgrade(addr: SocketAddr, auth: Option<&str>) -> String {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(serve_support::TIMEOUT)).unwrap();
    let auth = auth.map(|a| format!("Authorization: {a}\r\n")).unwrap_or_default();
    // The server may answer and close before the whole request is written.
    let _ = write!(
        s,
        "GET / HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n{auth}\r\n"
    );
    // Up to the end of the response head (or EOF).
    let mut out = Vec::new();
    let mut buf = [0u8; 1024];
    while !contains(&out, b"\r\n\r\n") {
        match s.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn serve_listens_on_both_families_writes_pidfile_0644_and_sigterm_removes_it() {
    let env = Env::new();
    env.profile("p", free_port());
    let pidfile = env.profile_dir("p").join("serve.pid");
    // A reader polls the pidfile from before the start: with an atomic
    // write it never sees a partial file.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let (p2, s2) = (pidfile.clone(), stop.clone());
    let reader = std::thread::spawn(move || {
        let mut seen = Vec::new();
        while !s2.load(std::sync::atomic::Ordering::SeqCst) {
            if let Ok(b) = std::fs::read(&p2) {
                seen.push(b);
            }
        }
        seen
    });
    let mut serve = env.serve("p", &[]);
    eventually("the pidfile is read at least once", || pidfile.exists());
    std::thread::sleep(Duration::from_millis(50));
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let seen = reader.join().unwrap();
    assert!(!seen.is_empty());
    let expect_prefix = format!("{} ", serve.pid);
    for b in &seen {
        let t = String::from_utf8(b.clone()).unwrap();
        assert!(t.starts_with(&expect_prefix) && t.ends_with('\n') && t.lines().count() == 1, "partial pidfile {t:?}");
    }
    assert_eq!(serve.pidfile, pidfile);
    assert_eq!(mode(&pidfile), 0o644);
    // No temporary file left next to it.
    let names: Vec<_> = std::fs::read_dir(env.profile_dir("p")).unwrap().map(|e| e.unwrap().file_name()).collect();
    assert!(names.iter().all(|n| !gw_anchor::is_temp_name(n)), "{names:?}");
    // Both families, one port, one process.
    let token = env.derive("p", &["--scope", "gateway.connect", "--local"]);
    for addr in [v4(serve.port), v6(serve.port)] {
        let (_ws, _, hello) = connect(addr, Some(&token), None).hello();
        assert_eq!(hello["type"], "hello-ok");
        assert_eq!(hello["auth"]["method"], "scoped", "{addr}");
    }
    // Its lease (LEASE-1) names this process and port while it runs.
    let leases = env.profile_dir("p").join("leases");
    let records = || -> Vec<serde_json::Value> {
        std::fs::read_dir(&leases)
            .unwrap()
            .map(|e| e.unwrap())
            .filter(|e| !e.file_name().to_string_lossy().starts_with('.'))
            .map(|e| serde_json::from_slice(&std::fs::read(e.path()).unwrap()).unwrap())
            .collect()
    };
    let live = records();
    assert_eq!(live.len(), 1, "{live:?}");
    assert_eq!((live[0]["pid"].as_u64(), live[0]["port"].as_u64()), (Some(serve.pid as u64), Some(serve.port as u64)));
    let st = serve.stop();
    assert_eq!(st.code(), Some(0), "clean exit on SIGTERM: {}", serve.log());
    assert!(!pidfile.exists(), "SIGTERM removes the pidfile");
    assert!(records().is_empty(), "SIGTERM removes the lease");
    assert!(!serve.log().contains(&token), "no token in the log");
}

#[test]
fn serve_sigint_removes_pidfile_too_and_a_foreign_pidfile_is_left() {
    let env = Env::new();
    env.profile("p", free_port());
    let mut serve = env.serve("p", &[]);
    assert!(serve.pidfile.exists());
    serve.signal(rustix::process::Signal::INT);
    assert_eq!(serve.wait().code(), Some(0));
    assert!(!serve.pidfile.exists());
    // A pidfile that another gw serve replaced is not removed by the old one.
    let mut serve = env.serve("p", &["--port", "0"]);
    std::fs::write(&serve.pidfile, "1 1\n").unwrap();
    assert_eq!(serve.stop().code(), Some(0));
    assert_eq!(std::fs::read_to_string(&serve.pidfile).unwrap(), "1 1\n");
}

#[test]
fn serve_missing_or_wrong_credential_is_401_before_the_upgrade() {
    let env = Env::new();
    env.profile("p", free_port());
    env.profile("other", free_port());
    let serve = env.serve("p", &[]);
    let addr = v4(serve.port);
    let foreign = env.derive("other", &["--scope", "gateway.connect", "--local"]);
    let wrong_scope = env.derive("p", &["--scope", "approvals.read", "--local"]);
    let wrong_aud = env.derive("p", &["--scope", "gateway.connect", "--aud", "ws://127.0.0.1:1"]);
    let root_key = std::fs::read(env.profile_dir("p").join("root.key")).unwrap();
    let cases = [
        None,
        Some("Basic dXNlcjpwdw==".to_owned()),
        Some("Bearer ".to_owned()),
        Some("Bearer not-a-token".to_owned()),
        Some(format!("Bearer {foreign}")),
        Some(format!("Bearer {wrong_scope}")),
        Some(format!("Bearer {wrong_aud}")),
        Some(format!("Bearer {}", "x".repeat(5000))),
    ];
    for auth in &cases {
        let resp = raw_upgrade(addr, auth.as_deref());
        assert!(resp.starts_with("HTTP/1.1 401"), "{auth:?}: {resp}");
        assert!(!resp.contains("101"), "no upgrade: {resp}");
        // Nothing about why: no verifier message, no token echoed.
        for word in ["signature", "scope", "audience", "expired", "Bearer", "locality"] {
            assert!(!resp.to_lowercase().contains(&word.to_lowercase()), "{word} leaked: {resp}");
        }
    }
    // The right one upgrades (the 401s are the credential's fault).
    let good = env.derive("p", &["--scope", "gateway.connect", "--aud", &serve.url(), "--local"]);
    assert!(raw_upgrade(addr, Some(&format!("Bearer {good}"))).starts_with("HTTP/1.1 101"));
    // The root secret itself is no credential (TOK-1).
    let text = String::from_utf8(root_key).unwrap();
    let resp = raw_upgrade(addr, Some(&format!("Bearer {}", text.trim_end())));
    assert!(resp.starts_with("HTTP/1.1 401"), "{resp}");
    eventually("the refusals are logged", || serve.log().matches("refused (401)").count() > cases.len());
    let log = serve.log();
    for t in [&foreign, &wrong_scope, &wrong_aud, &good] {
        assert!(!log.contains(t.as_str()), "a token in the log: {log}");
    }
    assert!(!log.contains("not-a-token"), "{log}");
}

#[test]
fn serve_oversized_message_is_refused_with_1009() {
    let env = Env::new();
    env.profile("p", free_port());
    let serve = env.serve("p", &["--max-message-bytes", "1024"]);
    let token = env.derive("p", &["--scope", "gateway.connect", "--local"]);
    let (mut ws, _, _) = connect(v4(serve.port), Some(&token), None).hello();
    ws.send(Message::text("a".repeat(1000))).unwrap();
    match ws.read().unwrap() {
        Message::Text(t) => assert!(t.as_str().contains("\"bytes\":1000"), "{t}"),
        other => panic!("expected an ack, got {other:?}"),
    }
    ws.send(Message::text("b".repeat(4096))).unwrap();
    let got = loop {
        match ws.read() {
            Ok(Message::Close(f)) => break f,
            Ok(_) => continue,
            Err(e) => panic!("expected a close frame, got {e}"),
        }
    };
    assert_eq!(got.map(|f| f.code), Some(CloseCode::Size), "{}", serve.log());
    eventually("the refusal is logged", || serve.log().contains("closed (1009)"));
}

#[test]
fn serve_connection_limit_answers_503() {
    let env = Env::new();
    env.profile("p", free_port());
    let serve = env.serve("p", &["--max-connections", "2"]);
    let token = env.derive("p", &["--scope", "gateway.connect", "--local"]);
    let (a, _, _) = connect(v4(serve.port), Some(&token), None).hello();
    let (b, _, _) = connect(v6(serve.port), Some(&token), None).hello();
    let resp = raw_upgrade(v4(serve.port), Some(&format!("Bearer {token}")));
    assert!(resp.starts_with("HTTP/1.1 503"), "{resp}");
    drop(a);
    // The slot is given back when the connection ends.
    eventually("a slot is free again", || matches!(connect(v4(serve.port), Some(&token), None), Conn::Open(..)));
    drop(b);
}

#[test]
fn serve_handshake_timeout_drops_a_silent_client() {
    let env = Env::new();
    env.profile("p", free_port());
    let serve = env.serve("p", &["--handshake-timeout", "300ms"]);
    let mut s = TcpStream::connect(v4(serve.port)).unwrap();
    s.set_read_timeout(Some(serve_support::TIMEOUT)).unwrap();
    // Sends half a request, then nothing: the server hangs up.
    s.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
    let mut buf = [0u8; 64];
    let n = s.read(&mut buf).unwrap_or(0);
    assert_eq!(n, 0, "the server closed without answering");
    eventually("the drop is logged", || serve.log().contains("did not complete"));
}

#[test]
fn serve_bootstrap_issues_device_tokens_that_gw_cred_handoff_persists() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let serve = env.serve("p", &["--issue-bootstrap"]);
    let url = serve.url();
    assert_eq!(serve.ready["bootstrap_issued"], true);
    let boot = env.stored("p", &url, &["--bootstrap"]).expect("the bootstrap token was stored");
    // The gateway's own file keeps digests only, 0600.
    let issued = env.profile_dir("p").join("gateway-issued.json");
    assert_eq!(mode(&issued), 0o600);
    assert!(!std::fs::read_to_string(&issued).unwrap().contains(&boot));
    let (_ws, text, hello) = connect(v4(port), Some(&boot), None).hello();
    assert_eq!(hello["auth"]["method"], "bootstrap");
    // (The old private hello-ok: `auth.deviceTokens[]` of `{role, token}`.)
    let tokens: Vec<(String, String)> = hello["auth"]["deviceTokens"]
        .as_array()
        .expect("deviceTokens")
        .iter()
        .map(|t| (t["role"].as_str().unwrap().to_owned(), t["token"].as_str().unwrap().to_owned()))
        .collect();
    let roles: Vec<_> = tokens.iter().map(|t| t.0.as_str()).collect();
    assert_eq!(roles, ["operator", "node"]);
    // `gw cred handoff` on that very message: all roles stored, bootstrap cleared.
    let out = env.ok(&["--profile", "p", "--json", "cred", "handoff", &url], Some(text.as_bytes()));
    let v: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(v["bootstrap_cleared"], true);
    assert_eq!(env.stored("p", &url, &["--bootstrap"]), None);
    let node = env.stored("p", &url, &["--role", "node"]).unwrap();
    let (_ws2, _, hello) = connect(v4(port), Some(&node), None).hello();
    assert_eq!((&hello["auth"]["method"], &hello["auth"]["role"]), (&"device".into(), &"node".into()));
    assert!(hello["auth"].get("deviceTokens").is_none(), "device tokens only for a bootstrap client");
    // The first use of a device token retired the bootstrap token.
    assert_eq!(connect(v4(port), Some(&boot), None).status(), 401);
    let log = serve.log();
    for t in [&boot, &node] {
        assert!(!log.contains(t.as_str()), "a token in the log: {log}");
    }
    for t in &tokens {
        assert!(!contains(log.as_bytes(), t.1.as_bytes()));
    }
}

#[test]
fn serve_shared_token_from_file() {
    let env = Env::new();
    env.profile("p", free_port());
    let file = env.tmp.path().join("shared.txt");
    std::fs::write(&file, "shared-token-0001\n").unwrap();
    let serve = env.serve("p", &["--shared-token-file", file.to_str().unwrap()]);
    let (_ws, _, hello) = connect(v4(serve.port), Some("shared-token-0001"), Some("node")).hello();
    assert_eq!((&hello["auth"]["method"], &hello["auth"]["role"]), (&"shared".into(), &"node".into()));
    assert_eq!(connect(v4(serve.port), Some("shared-token-0002"), None).status(), 401);
    assert!(!serve.log().contains("shared-token-000"));
}
