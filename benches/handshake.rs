//! A verified connect to `gw serve` — gw-portguard's `connect_verified`
//! (the port-ownership proof: the kernel's socket table and the process
//! tree say the expected pid holds every listener, then the connect and the
//! proof of the accepted socket) followed by the protocol-4 handshake
//! (upgrade, challenge, `connect`, hello-ok) and a clean close — beside the
//! same handshake over a plain `TcpStream::connect` (no proof), against the
//! same `gw serve` process, in one run. Two handshakes, each its own pair:
//!
//! - `gateway_handshake`: the shared token, unsigned;
//! - `gateway_handshake_device`: as `gw probe` reconnects to a gateway that
//!   paired its device — the device token `gw serve` issued to this device,
//!   in a `connect` signed by the device's Ed25519 key (the pairing itself
//!   happens once, before timing).
//!
//! Output: the criterion groups, then a paired, interleaved run of each pair
//! (101 rounds, medians) printing the ratio verified / unverified (the
//! issue's target: ≤ 2.0, i.e. the proof adds at most the bare handshake's
//! time). Every round checks the hello-ok and its `auth.method`, so no
//! contender can win by failing. Quote the ratios (benches/README.md).
//! Last, on Linux, what this machine charges for the system call the proof
//! makes most, a `readlinkat` of a `/proc/PID/fd` entry, as a share of the
//! unverified handshake: the ratio moves with it from machine to machine.
//!
//! `cargo bench --bench handshake -- --test`: smoke run (a few rounds).

use std::io::{BufRead, BufReader};
use std::net::{SocketAddr, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::Criterion;
use gw_gateway::{Bounds, ClientInfo, Connect, Credential, DeviceIdentity};
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
        // `gw serve` runs under a shell that kills it, then removes the
        // private home, when this process's end of the shell's stdin closes:
        // on drop, and also when the bench dies without dropping (a signal,
        // `cargo bench | head`), which a kill in `Drop` alone would leave
        // running.
        let mut child = Command::new("/bin/sh")
            .args(["-c", "\"$@\" & p=$!; cat >/dev/null; kill $p; wait $p; rm -rf -- \"$GW_BENCH_HOME\"", "sh", GW])
            .args(["--json", "--profile", "b", "serve", "--port", "0", "--bind", "ipv4", "--max-connections", "256"])
            .arg("--shared-token-file")
            .arg(&file)
            .env("GW_HOME", &gw_home)
            .env("GW_BENCH_HOME", home.path())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("gw serve");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).expect("ready line");
        let v: serde_json::Value = serde_json::from_str(&line).expect("ready JSON");
        let port = v["port"].as_u64().expect("port") as u16;
        let pid = v["pid"].as_u64().expect("pid") as u32;
        Self { pid, child, addr: SocketAddr::from(([127, 0, 0, 1], port)), _home: home }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        // Closing the shell's stdin makes it kill `gw serve` and wait for it.
        drop(self.child.stdin.take());
        let _ = self.child.wait();
    }
}

/// How a contender authenticates: the shared token (unsigned), or as
/// `gw probe` reconnects once paired — the device token `gw serve` issued
/// to this device, in a `connect` signed by its Ed25519 key.
enum Auth {
    Shared,
    Device { id: Box<DeviceIdentity>, token: Secret },
}

impl Auth {
    /// Pairs a fresh device with `s` (a shared-token connect signed by the
    /// device: `gw serve` issues it a device token), for [`Auth::Device`].
    fn paired(s: &Serve, url: &str) -> Self {
        let id = DeviceIdentity::from_seed(&Secret::generate().expect("seed")).expect("device");
        let req = Connect {
            client: ClientInfo::default(),
            role: "operator".into(),
            scopes: vec!["operator.read".into()],
            credential: Credential::Token(Secret::from(SHARED.to_owned())),
            device: Some(&id),
        };
        let stream = TcpStream::connect(s.addr).expect("connect");
        let (mut ws, h) = gw_gateway::connect(stream, url, &req, &Bounds::default()).expect("pairing handshake");
        gw_gateway::close(&mut ws, Duration::from_secs(2));
        let issued = h.hello.auth.device_token.expect("a device token for the signed connect");
        Self::Device { id: Box::new(id), token: issued.token }
    }

    fn request(&self) -> Connect<'_> {
        let (credential, device) = match self {
            Self::Shared => (Credential::Token(Secret::from(SHARED.to_owned())), None),
            Self::Device { id, token } => (Credential::DeviceToken(Secret::new(token.expose().to_vec())), Some(&**id)),
        };
        Connect {
            client: ClientInfo::default(),
            role: "operator".into(),
            scopes: vec!["operator.read".into()],
            credential,
            device,
        }
    }
}

/// The handshake and a clean close over `stream`; panics unless hello-ok
/// with the expected method.
fn hello(stream: TcpStream, url: &str, auth: &Auth) {
    let (mut ws, h) = gw_gateway::connect(stream, url, &auth.request(), &Bounds::default()).expect("handshake");
    let method = if matches!(auth, Auth::Shared) { "token" } else { "device-token" };
    assert_eq!(h.hello.auth.method.as_deref(), Some(method));
    gw_gateway::close(&mut ws, Duration::from_secs(2));
}

fn unverified(s: &Serve, url: &str, auth: &Auth) {
    hello(TcpStream::connect(s.addr).expect("connect"), url, auth);
}

fn verified(s: &Serve, url: &str, auth: &Auth) {
    let stream = gw_portguard::connect_verified(s.addr, &Expected::new(s.pid), &Options::default()).expect("verified");
    hello(stream, url, auth);
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

/// Alternates the two contenders `rounds` times (which goes first
/// alternating too), prints their medians and ratio, and returns the
/// unverified median.
fn paired(serve: &Serve, url: &str, auth: &Auth, name: &str, rounds: usize) -> Duration {
    let (mut u, mut v) = (Vec::new(), Vec::new());
    for i in 0..rounds {
        let order: [bool; 2] = if i % 2 == 0 { [false, true] } else { [true, false] };
        for ver in order {
            let t = Instant::now();
            if ver {
                verified(serve, url, auth)
            } else {
                unverified(serve, url, auth)
            }
            let d = t.elapsed();
            if ver { v.push(d) } else { u.push(d) }
        }
    }
    let (mu, mv) = (median(u), median(v));
    println!(
        "paired, {name} ({rounds} rounds, medians): unverified {:?}, verified {:?}, ratio verified/unverified {:.2}",
        mu,
        mv,
        mv.as_secs_f64() / mu.as_secs_f64()
    );
    mu
}

/// The proof is mostly procfs system calls (one `readlinkat` per fd of every
/// process, ~50–80 a scan), the handshake mostly user-space crypto and JSON:
/// how many of those readlinks the handshake `unverified` is worth says how
/// dear this machine's system calls are (kernel mitigations differ between
/// machines). A null system call (`getppid`) is measured beside them.
/// Interleaved, `rounds` rounds of 2000 calls each, medians.
#[cfg(target_os = "linux")]
fn procfs_price(unverified: Duration, rounds: usize) {
    use std::os::fd::AsRawFd;
    let socket = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let dir = rustix::fs::open("/proc/self/fd", rustix::fs::OFlags::RDONLY | rustix::fs::OFlags::DIRECTORY, 0.into())
        .expect("open /proc/self/fd");
    let name = socket.as_raw_fd().to_string();
    let mut link = [0u8; 64];
    let (mut null, mut readlink) = (Vec::new(), Vec::new());
    const CALLS: u32 = 2000;
    for _ in 0..rounds {
        let t = Instant::now();
        for _ in 0..CALLS {
            std::hint::black_box(rustix::process::getppid());
        }
        null.push(t.elapsed() / CALLS);
        let t = Instant::now();
        for _ in 0..CALLS {
            let n = rustix::fs::readlinkat_raw(&dir, name.as_str(), &mut link[..]).expect("readlinkat");
            assert!(link[..n].starts_with(b"socket:["));
        }
        readlink.push(t.elapsed() / CALLS);
    }
    let (n, r) = (median(null), median(readlink));
    println!(
        "machine ({rounds} rounds of {CALLS} calls, medians): a procfs readlinkat {r:?}, a null system call {n:?}; \
         the unverified shared-token handshake is worth {:.0} procfs readlinkats",
        unverified.as_secs_f64() / r.as_secs_f64()
    );
}

fn main() {
    let smoke = std::env::args().any(|a| a == "--test");
    let serve = Serve::start();
    let url = format!("ws://{}", serve.addr);
    let contenders = [("shared token", Auth::Shared), ("device token", Auth::paired(&serve, &url))];
    // Warm up every path (and prove each works) before timing.
    for (_, auth) in &contenders {
        for _ in 0..5 {
            unverified(&serve, &url, auth);
            verified(&serve, &url, auth);
        }
    }
    if !smoke {
        let mut c = Criterion::default().configure_from_args().measurement_time(Duration::from_secs(5));
        for (group, (_, auth)) in ["gateway_handshake", "gateway_handshake_device"].into_iter().zip(&contenders) {
            let mut g = c.benchmark_group(group);
            g.bench_function("unverified", |b| b.iter(|| unverified(&serve, &url, auth)));
            g.bench_function("verified", |b| b.iter(|| verified(&serve, &url, auth)));
            g.finish();
        }
    }
    let rounds = if smoke { 3 } else { 101 };
    let bare: Vec<Duration> = contenders.iter().map(|(name, auth)| paired(&serve, &url, auth, name, rounds)).collect();
    #[cfg(target_os = "linux")]
    procfs_price(bare[0], if smoke { 3 } else { 31 });
    #[cfg(not(target_os = "linux"))]
    let _ = bare;
}
