//! THREATS TOK-2 on the sending side, asserted on what a server received:
//! a recording gateway in this test process (so its ownership is proven:
//! this process is the expected owner) listens on the profile's own port
//! and records every byte of every request. `gw probe --profile` (the URL
//! the profile generated) may carry a runtime token derived from the root
//! secret; the same gateway named by a URL on the command line — in every
//! loopback spelling, on the profile's own port — gets only the stored
//! credential, or nothing at all when none is stored.

mod serve_support;

use std::net::TcpListener;

use serde_json::json;
use serve_support::{EXIT_NOT_FOUND, Env, Hijacker, contains, eventually, free_port};

fn hello() -> String {
    json!({ "type": "hello-ok", "protocol": 4, "auth": { "method": "token", "role": "operator", "scopes": [] } })
        .to_string()
}

/// A `connect` whose `auth.token` is `gw…` followed by the token prefix's
/// dot: a runtime token.
fn runtime_marker() -> Vec<u8> {
    format!(r#""token":"{}."#, gw_token::PREFIX).into_bytes()
}

#[test]
fn tok_2_url_given_for_the_profiles_own_loopback_gateway_gets_only_the_stored_credential() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let me = std::process::id().to_string();
    let recorder = Hijacker::start(TcpListener::bind(("127.0.0.1", port)).unwrap(), Some(hello()));
    let spellings = [format!("ws://127.0.0.1:{port}"), format!("ws://localhost:{port}"), format!("ws://[::1]:{port}")];
    // Nothing stored: a given URL gets nothing — not even a connection.
    for url in &spellings {
        let r = env.run(&["--profile", "p", "probe", url, "--pid", &me], None);
        assert_eq!(r.code, EXIT_NOT_FOUND, "{url}: {r:?}");
        assert!(r.stderr.contains("never a runtime token"), "{r:?}");
    }
    assert_eq!(recorder.accepted(), 0);
    assert!(recorder.bytes().is_empty());
    // Control: the generated URL of the same profile carries a runtime token.
    let v: serde_json::Value =
        serde_json::from_str(&env.ok(&["--profile", "p", "--json", "probe", "--pid", &me], None)).unwrap();
    assert_eq!(v["credential"], "runtime");
    assert_eq!(v["target"], "generated");
    eventually("the runtime token is recorded", || contains(&recorder.bytes(), &runtime_marker()));
    let seen = recorder.bytes().len();
    // With a stored shared token, every given spelling sends exactly it.
    env.store("p", &spellings[0], "--shared", "stored-shared-token-5");
    for url in &spellings {
        let v: serde_json::Value =
            serde_json::from_str(&env.ok(&["--profile", "p", "--json", "probe", url, "--pid", &me], None)).unwrap();
        assert_eq!(v["credential"], "shared", "{url}");
    }
    let after = recorder.bytes()[seen..].to_vec();
    let requests = after.windows(b"GET / HTTP/1.1".len()).filter(|w| *w == b"GET / HTTP/1.1").count();
    assert_eq!(requests, spellings.len(), "{}", String::from_utf8_lossy(&after));
    let sent = br#""token":"stored-shared-token-5""#;
    let shared = after.windows(sent.len()).filter(|w| w == sent);
    assert_eq!(shared.count(), spellings.len());
    assert!(!contains(&after, &runtime_marker()), "a runtime token went to a given URL");
    assert!(!contains(&after, format!(r#""token":"{}"#, gw_token::PREFIX).as_bytes()));
}
