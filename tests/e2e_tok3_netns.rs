//! THREATS TOK-3 end to end, with a real non-loopback peer: a network
//! namespace (`ip netns`) whose loopback interface also carries
//! 198.51.100.7; `gw serve` runs in it, and a client thread that entered
//! the namespace (setns) connects to 127.0.0.1:PORT from source address
//! 198.51.100.7. The gateway judges locality on that real peer address:
//! a `local` scoped token is refused (AUTH_TOKEN_MISMATCH, close 1008) from it and accepted from
//! 127.0.0.1; the same grant without `local` is accepted from it (so the
//! refusal is locality, nothing else).
//!
//! Needs root and `ip` (iproute2). Where `ip netns add` is not possible the
//! test says so and returns; the verifier-level test with a non-loopback
//! peer address (`gateway::tests::tok_3_local_scoped_token_from_non_loopback_peer_is_refused`
//! in src/gateway.rs) runs everywhere.
//!
//! Linux-only (network namespaces (`ip netns`, setns)): compiled to nothing on other targets;
//! `docs/platforms.md` lists what a Mac run still needs.
#![cfg(target_os = "linux")]

mod serve_support;

use std::net::{SocketAddr, TcpStream};
use std::os::fd::AsFd;
use std::process::Command;

use serve_support::{Conn, Env, Serve, connect_over, free_port};

const PEER: [u8; 4] = [198, 51, 100, 7];

struct Netns(String);
impl Netns {
    fn create() -> Option<Self> {
        let name = format!("gwtok3-{}", std::process::id());
        let ok = |args: &[&str]| Command::new("ip").args(args).status().is_ok_and(|s| s.success());
        if !ok(&["netns", "add", &name]) {
            return None;
        }
        let ns = Self(name);
        let addr = format!("{}.{}.{}.{}/32", PEER[0], PEER[1], PEER[2], PEER[3]);
        assert!(ok(&["-n", &ns.0, "link", "set", "lo", "up"]));
        assert!(ok(&["-n", &ns.0, "addr", "add", &addr, "dev", "lo"]));
        Some(ns)
    }
}
impl Drop for Netns {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

/// Connects from `source` to 127.0.0.1:`port` inside the namespace and connects with `token`.
fn from(ns: &str, source: [u8; 4], port: u16, token: &str) -> Conn {
    let (ns, token) = (ns.to_owned(), token.to_owned());
    std::thread::spawn(move || {
        let f = std::fs::File::open(format!("/run/netns/{ns}")).unwrap();
        rustix::thread::move_into_link_name_space(f.as_fd(), Some(rustix::thread::LinkNameSpaceType::Network)).unwrap();
        let fd = rustix::net::socket(rustix::net::AddressFamily::INET, rustix::net::SocketType::STREAM, None).unwrap();
        rustix::net::bind(&fd, &SocketAddr::from((source, 0))).unwrap();
        rustix::net::connect(&fd, &SocketAddr::from(([127, 0, 0, 1], port))).unwrap();
        let stream = TcpStream::from(fd);
        assert_eq!(stream.local_addr().unwrap().ip(), std::net::IpAddr::from(source));
        connect_over(stream, Some(&token), None)
    })
    .join()
    .unwrap()
}

#[test]
fn tok_3_local_token_from_a_non_loopback_peer_is_refused() {
    let Some(ns) = Netns::create() else {
        eprintln!("SKIPPED: `ip netns add` is not possible here (needs root and iproute2); see the module doc");
        return;
    };
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let url = format!("ws://127.0.0.1:{port}");
    let local = env.derive("p", &["--scope", "gateway.connect", "--aud", &url, "--local"]);
    let anywhere = env.derive("p", &["--scope", "gateway.connect", "--aud", &url]);
    let mut cmd = Command::new("ip");
    cmd.args(["netns", "exec", &ns.0, serve_support::GW, "--json", "--profile", "p", "serve"])
        .env("GW_HOME", &env.home)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let serve = Serve::start(cmd, "gw serve in a netns");
    // From 127.0.0.1: accepted.
    let (_ws, _, hello) = from(&ns.0, [127, 0, 0, 1], serve.port, &local).hello();
    assert_eq!(hello["auth"]["method"], "scoped-token");
    // From 198.51.100.7: refused (OpenClaw's token-mismatch code, close 1008).
    assert_eq!(from(&ns.0, PEER, serve.port, &local).refused(), "AUTH_TOKEN_MISMATCH");
    // The same grant without `local`, from the same peer: accepted.
    let (_ws, _, hello) = from(&ns.0, PEER, serve.port, &anywhere).hello();
    assert_eq!(hello["auth"]["method"], "scoped-token");
    serve_support::eventually("the refusal is logged with the peer", || {
        let log = serve.log();
        log.contains("198.51.100.7") && log.contains("locality")
    });
    let log = serve.log();
    assert!(!log.contains(&local) && !log.contains(&anywhere));
    drop(serve);
}
