//! Helpers of the gateway tests (tests/serve_*.rs, probe_*.rs, e2e_*.rs):
//! a private gw home, `gw serve` as a real child process (waited for on its
//! ready line, stopped with SIGTERM), a WebSocket client, and hijackers that
//! record every byte they receive.
//!
//! Each test binary uses a different subset, hence the allowance.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::Value;
use tungstenite::Message;

pub const GW: &str = env!("CARGO_BIN_EXE_gw");
#[allow(unused_imports)] // each test binary uses a subset
pub use gw_test_support::cli::{EXIT_NOT_FOUND, EXIT_REFUSED, Run};
/// The WebSocket client of the gateway tests; its `TIMEOUT` is also the
/// longest any single `gw` run (or wait) may take.
#[allow(unused_imports)] // each test binary uses a subset
pub use gw_test_support::ws::{
    Conn, TIMEOUT, connect, connect_over, connect_params, connect_with, connect_with_over, device_proof, open,
    open_over, read_answer, send_connect,
};

/// A private (0700) temp dir whose `home` is the `GW_HOME` of every child.
#[derive(Debug)]
pub struct Env {
    pub tmp: tempfile::TempDir,
    pub home: PathBuf,
}

impl Default for Env {
    fn default() -> Self {
        Self::new()
    }
}

impl Env {
    pub fn new() -> Self {
        let tmp = gw_test_support::private_tempdir("gw-gateway-");
        let home = tmp.path().join("home");
        Self { tmp, home }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(GW);
        cmd.args(args).env("GW_HOME", &self.home).current_dir(self.tmp.path());
        cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        cmd
    }

    /// Runs `gw ARGS` with `stdin`, bounded in time.
    pub fn run(&self, args: &[&str], stdin: Option<&[u8]>) -> Run {
        self.run_cmd(self.command(args), stdin, &format!("gw {args:?}"))
    }

    pub fn run_cmd(&self, cmd: Command, stdin: Option<&[u8]>, ctx: &str) -> Run {
        gw_test_support::cli::Gw::wrapping(cmd).named(ctx).stdin(stdin).timeout(TIMEOUT).run()
    }

    /// `gw ARGS` that must succeed; returns stdout.
    #[track_caller]
    pub fn ok(&self, args: &[&str], stdin: Option<&[u8]>) -> String {
        let r = self.run(args, stdin);
        assert_eq!(r.code, 0, "gw {args:?}: {r:?}");
        r.stdout
    }

    /// Creates profile `name` on `port`.
    pub fn profile(&self, name: &str, port: u16) {
        self.ok(&["profile", "init", name, "--port", &port.to_string()], None);
    }

    pub fn profile_dir(&self, name: &str) -> PathBuf {
        self.home.join("profiles").join(name)
    }

    /// Stores `secret` in `slot` (`--shared`, `--bootstrap`, `--device=R`) for `url`.
    pub fn store(&self, profile: &str, url: &str, slot: &str, secret: &str) {
        self.ok(&["--profile", profile, "cred", "set", url, slot], Some(secret.as_bytes()));
    }

    /// The stored secret of `slot` for `url`, if any.
    pub fn stored(&self, profile: &str, url: &str, slot: &[&str]) -> Option<String> {
        let mut args = vec!["--profile", profile, "cred", "get", url, "--reveal"];
        args.extend_from_slice(slot);
        let r = self.run(&args, None);
        (r.code == 0).then(|| r.stdout.trim_end().to_owned())
    }

    /// A scoped token of profile `name`'s root secret.
    pub fn derive(&self, name: &str, extra: &[&str]) -> String {
        let key = self.profile_dir(name).join("root.key");
        let mut args = vec!["token", "derive", "--secret-file", key.to_str().unwrap()];
        args.extend_from_slice(extra);
        self.ok(&args, None).trim_end().to_owned()
    }

    /// Starts `gw --json --profile NAME serve ARGS` and waits for its ready line.
    pub fn serve(&self, profile: &str, args: &[&str]) -> Serve {
        let mut full = vec!["--json", "--profile", profile, "serve"];
        full.extend_from_slice(args);
        Serve::start(self.command(&full), &format!("gw {full:?}"))
    }
}

/// A port free on both 127.0.0.1 and ::1 (when this returns).
pub fn free_port() -> u16 {
    for _ in 0..64 {
        let a = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let p = a.local_addr().unwrap().port();
        if TcpListener::bind((Ipv6Addr::LOCALHOST, p)).is_ok() {
            return p;
        }
    }
    panic!("no port free on both loopback addresses");
}

/// A running `gw serve`: stopped with SIGTERM (then SIGKILL) on drop.
#[derive(Debug)]
pub struct Serve {
    pub child: Child,
    pub ready: Value,
    pub port: u16,
    pub pid: u32,
    pub pidfile: PathBuf,
    stderr: Arc<Mutex<String>>,
}

impl Serve {
    pub fn start(mut cmd: Command, ctx: &str) -> Self {
        let mut child = cmd.spawn().expect("spawn gw serve");
        let stdout = child.stdout.take().unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let l2 = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                l2.lock().unwrap().push_str(&line);
                l2.lock().unwrap().push('\n');
            }
        });
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let first = lines.next();
            let _ = tx.send(first);
            for _ in lines {}
        });
        let line = match rx.recv_timeout(TIMEOUT) {
            Ok(Some(Ok(l))) => l,
            other => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{ctx}: no ready line ({other:?}); stderr: {}", log.lock().unwrap());
            }
        };
        let ready: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{ctx}: ready line {line:?}: {e}"));
        assert_eq!(ready["event"], "ready", "{ctx}: {ready}");
        let port = ready["port"].as_u64().unwrap() as u16;
        let pid = ready["pid"].as_u64().unwrap() as u32;
        assert_eq!(pid, child.id(), "{ctx}: the ready line names the process");
        let pidfile = PathBuf::from(ready["pidfile"].as_str().unwrap());
        Self { child, ready, port, pid, pidfile, stderr: log }
    }

    pub fn url(&self) -> String {
        format!("ws://127.0.0.1:{}", self.port)
    }

    /// 127.0.0.1:PORT.
    pub fn port_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.port))
    }

    /// Everything logged on stderr so far.
    pub fn log(&self) -> String {
        self.stderr.lock().unwrap().clone()
    }

    pub fn signal(&self, sig: rustix::process::Signal) {
        rustix::process::kill_process(rustix::process::Pid::from_raw(self.pid as i32).unwrap(), sig).unwrap();
    }

    /// SIGTERM, then the exit status (bounded wait).
    pub fn stop(&mut self) -> std::process::ExitStatus {
        let _ = rustix::process::kill_process(
            rustix::process::Pid::from_raw(self.pid as i32).unwrap(),
            rustix::process::Signal::TERM,
        );
        self.wait()
    }

    pub fn wait(&mut self) -> std::process::ExitStatus {
        let deadline = Instant::now() + TIMEOUT;
        loop {
            if let Some(st) = self.child.try_wait().unwrap() {
                return st;
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("gw serve did not exit within {TIMEOUT:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Serve {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// A fake gateway on a port: accepts every connection and records every
/// byte it receives. With `hello`, it answers like a real gateway: a
/// WebSocket upgrade (whatever the credential) and that hello-ok text.
#[derive(Debug, Clone)]
pub struct Hijacker {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<u8>>>,
    pub connections: Arc<Mutex<usize>>,
}

impl Hijacker {
    /// Listens on `listener` in a thread.
    pub fn start(listener: TcpListener, hello: Option<String>) -> Self {
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let connections = Arc::new(Mutex::new(0));
        let (r2, c2) = (received.clone(), connections.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(stream) = stream else { continue };
                *c2.lock().unwrap() += 1;
                let (r3, hello) = (r2.clone(), hello.clone());
                std::thread::spawn(move || record(stream, &r3, hello));
            }
        });
        Self { addr, received, connections }
    }

    pub fn bytes(&self) -> Vec<u8> {
        self.received.lock().unwrap().clone()
    }
    pub fn accepted(&self) -> usize {
        *self.connections.lock().unwrap()
    }
}

/// A stream that copies every byte read into a log.
struct Recording {
    s: TcpStream,
    log: Arc<Mutex<Vec<u8>>>,
}
impl Read for Recording {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.s.read(buf)?;
        self.log.lock().unwrap().extend_from_slice(&buf[..n]);
        Ok(n)
    }
}
impl Write for Recording {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.s.write(buf)
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.s.flush()
    }
}

/// Plays a protocol-4 gateway on `s`, recording every byte received: the
/// upgrade, a `connect.challenge`, then — with `hello` (a hello-ok payload)
/// — a `res` answering the `connect` with it; without, no answer at all
/// (the client's `connect`, credential included, is still recorded). A
/// client's frames are masked on the wire, so every text message is also
/// appended to the log unmasked.
fn record(s: TcpStream, log: &Arc<Mutex<Vec<u8>>>, hello: Option<String>) {
    let _ = s.set_read_timeout(Some(TIMEOUT));
    let rec = Recording { s, log: log.clone() };
    let Ok(mut ws) = tungstenite::accept(rec) else { return };
    let ts = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_millis() as u64;
    let challenge = serde_json::json!({"type": "event", "event": "connect.challenge", "payload": {"nonce": "hijack-nonce-1", "ts": ts}});
    if ws.send(Message::text(challenge.to_string())).is_err() {
        return;
    }
    if let Some(h) = hello {
        let Ok(Message::Text(req)) = ws.read() else { return };
        log.lock().unwrap().extend_from_slice(req.as_bytes());
        let id = serde_json::from_str::<Value>(req.as_str()).ok().and_then(|v| v["id"].as_str().map(str::to_owned));
        let payload: Value = serde_json::from_str(&h).expect("the hello-ok is JSON");
        let res = serde_json::json!({"type": "res", "id": id.unwrap_or_default(), "ok": true, "payload": payload});
        let _ = ws.send(Message::text(res.to_string()));
    }
    while let Ok(m) = ws.read() {
        if let Message::Text(t) = m {
            log.lock().unwrap().extend_from_slice(t.as_bytes());
        }
    }
}

/// For attacker children (another uid): plays a protocol-4 gateway on `s`
/// up to the challenge, so that a client proceeds to its `connect`, and
/// prints every chunk received as a `GOT:` line — raw bytes, then each text
/// message unmasked (a client's frames are masked on the wire).
pub fn print_received(s: TcpStream) {
    /// Prints what it reads.
    struct Printing(TcpStream);
    impl Read for Printing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            if n > 0 {
                println!("GOT:{}", String::from_utf8_lossy(&buf[..n]).escape_debug());
                let _ = std::io::stdout().flush();
            }
            Ok(n)
        }
    }
    impl Write for Printing {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.0.flush()
        }
    }
    let Ok(mut ws) = tungstenite::accept(Printing(s)) else { return };
    let challenge =
        serde_json::json!({"type": "event", "event": "connect.challenge", "payload": {"nonce": "n-1", "ts": 1}});
    let _ = ws.send(Message::text(challenge.to_string()));
    while let Ok(m) = ws.read() {
        if let Message::Text(t) = m {
            println!("GOT:{}", t.as_str().escape_debug());
            let _ = std::io::stdout().flush();
        }
    }
}

/// `true` if `hay` contains `needle`.
pub fn contains(hay: &[u8], needle: &[u8]) -> bool {
    !needle.is_empty() && hay.windows(needle.len()).any(|w| w == needle)
}

/// Waits until `f` holds (bounded).
#[track_caller]
pub fn eventually(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + TIMEOUT;
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for: {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The file's mode bits.
pub fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

/// Helper-child body (a `#[test]` that is no test of its own): when
/// `port_var` is set, listens on that port, runs `before_ready` (e.g. an
/// attacker's rewrite of a pidfile), prints `READY uid N`, then serves every
/// connection with [`print_received`]. Without `port_var` it returns at once.
pub fn listener_child(port_var: &str, before_ready: impl FnOnce()) {
    let Ok(port) = std::env::var(port_var) else { return };
    let l = TcpListener::bind(("127.0.0.1", port.parse::<u16>().unwrap())).unwrap();
    before_ready();
    println!("READY uid {}", rustix::process::getuid().as_raw());
    std::io::stdout().flush().unwrap();
    for s in l.incoming() {
        let Ok(s) = s else { continue };
        std::thread::spawn(move || print_received(s));
    }
}

/// A [`listener_child`] of this test binary, running as `uid` (its test
/// named `test`, its environment `env`): its stdout lines arrive on `lines`
/// once it printed `READY uid {uid}` (checked). Killed on drop.
pub struct ForeignListener {
    pub child: Child,
    pub lines: mpsc::Receiver<String>,
}

impl ForeignListener {
    pub fn start(test: &str, env: &[(&str, &std::ffi::OsStr)], uid: u32) -> Self {
        use std::os::unix::process::CommandExt;
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([test, "--exact", "--nocapture", "--test-threads=1"])
            .current_dir("/")
            .envs(env.iter().copied())
            .uid(uid)
            .gid(uid)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let (tx, rx) = mpsc::channel();
        let out = child.stdout.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(out).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        // The harness prints `test NAME ... ` before the helper's first line.
        let ready = loop {
            let line = rx.recv_timeout(TIMEOUT).unwrap_or_else(|e| panic!("{test} did not start: {e}"));
            if let Some(at) = line.find("READY") {
                break line[at..].to_owned();
            }
        };
        assert_eq!(ready, format!("READY uid {uid}"));
        Self { child, lines: rx }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ForeignListener {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
