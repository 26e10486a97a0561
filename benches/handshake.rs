//! A verified connect to `gw serve` — gw-portguard's `connect_verified`
//! (the port-ownership proof: the kernel's socket table and the process
//! tree say the expected pid holds every listener, then the connect and the
//! proof of the accepted socket) followed by the protocol-4 handshake
//! (upgrade, challenge, `connect` with the shared token, hello-ok) and a
//! clean close — beside the same handshake over a plain `TcpStream::connect`
//! (no proof), against the same `gw serve` process, in one run.
//!
//! Output: a criterion group `gateway_handshake` (unverified, verified),
//! then a paired, interleaved run (101 rounds, medians) printing the ratio
//! verified / unverified (the target: ≤ 2.0, i.e. the proof adds at
//! most the bare handshake's time). Every round checks the hello-ok, so no
//! contender can win by failing. Quote the ratio (benches/README.md).
//!
//! `cargo bench --bench handshake -- --test`: smoke run (a few rounds).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::Criterion;
use gw_gateway::{Bounds, ClientInfo, Connect, Credential};
use gw_portguard::{Expected, Options};
use gw_token::Secret;

const GW: &str = env!("CARGO_BIN_EXE_gw");
const SHARED: &str = "bench-shared-token-0001";

/// `gw serve` in a private home; killed on drop.
struct Serve {
    child: Child,
    addr: SocketAddr,
    pid: u32,
    _home: tempfile::TempDir,
}

impl Serve {
    fn start() -> Self {
        let home = tempfile::Builder::new().prefix("gw-bench-hs.").tempdir().expect("tempdir");
        std::fs::set_permissions(home.path(), std::fs::Permissions::from_mode(0o700)).unwrap();
        let gw_home = home.path().join("home");
        let run = |args: &[&str]| {
            let st = Command::new(GW).args(args).env("GW_HOME", &gw_home).stdout(Stdio::null()).status().unwrap();
            assert!(st.success(), "gw {args:?}");
        };
        run(&["profile", "init", "b", "--port", "18789"]);
        let file = home.path().join("shared.txt");
        std::fs::write(&file, format!("{SHARED}\n")).unwrap();
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600)).unwrap();
        let mut child = Command::new(GW)
            .args(["--json", "--profile", "b", "serve", "--port", "0", "--bind", "ipv4", "--max-connections", "256"])
            .arg("--shared-token-file")
            .arg(&file)
            .env("GW_HOME", &gw_home)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("gw serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("ready line");
        let v: serde_json::Value = serde_json::from_str(&line).expect("ready JSON");
        let port = v["port"].as_u64().expect("port") as u16;
        Self { pid: child.id(), child, addr: SocketAddr::from(([127, 0, 0, 1], port)), _home: home }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The handshake and a clean close over `stream`; panics unless hello-ok.
fn hello(stream: TcpStream, url: &str) {
    let req = Connect {
        client: ClientInfo::default(),
        role: "operator".into(),
        scopes: vec!["operator.read".into()],
        credential: Credential::Token(Secret::from(SHARED.to_owned())),
        device: None,
    };
    let (mut ws, h) = gw_gateway::connect(stream, url, &req, &Bounds::default()).expect("handshake");
    assert_eq!(h.hello.auth.method.as_deref(), Some("token"));
    gw_gateway::close(&mut ws, Duration::from_secs(2));
}

fn unverified(s: &Serve, url: &str) {
    hello(TcpStream::connect(s.addr).expect("connect"), url);
}

fn verified(s: &Serve, url: &str) {
    let stream = gw_portguard::connect_verified(s.addr, &Expected::new(s.pid), &Options::default()).expect("verified");
    hello(stream, url);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--test");
    let serve = Serve::start();
    let url = format!("ws://{}", serve.addr);
    // Warm up both paths (and prove both work) before timing.
    for _ in 0..5 {
        unverified(&serve, &url);
        verified(&serve, &url);
    }
    if !smoke {
        let mut c = Criterion::default().configure_from_args().measurement_time(Duration::from_secs(5));
        let mut g = c.benchmark_group("gateway_handshake");
        g.bench_function("unverified", |b| b.iter(|| unverified(&serve, &url)));
        g.bench_function("verified", |b| b.iter(|| verified(&serve, &url)));
        g.finish();
    }
    let rounds = if smoke { 3 } else { 101 };
    let (mut u, mut v) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        // Interleaved, alternating which goes first.
        let order: [bool; 2] = if i % 2 == 0 { [false, true] } else { [true, false] };
        for ver in order {
            let t = Instant::now();
            if ver {
                verified(&serve, &url)
            } else {
                unverified(&serve, &url)
            }
            let d = t.elapsed();
            if ver { v.push(d) } else { u.push(d) }
        }
    }
    let (mu, mv) = (median(u), median(v));
    println!(
        "paired ({rounds} rounds, medians): unverified {:?}, verified {:?}, ratio verified/unverified {:.2}",
        mu,
        mv,
        mv.as_secs_f64() / mu.as_secs_f64()
    );
}
