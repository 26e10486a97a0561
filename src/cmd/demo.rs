//! `gw demo`: a self-contained tour, run for real in a temporary directory
//! that is removed afterwards. Each step states what a careful tool must do,
//! does it through the gw crates, and checks the outcome (the demo fails if a
//! guarantee does not hold).

use std::fs;
use std::os::unix::fs::{PermissionsExt, symlink};

use gw_anchor::{ErrorKind, Policy, Root, WriteOptions};
use gw_cred::{DeviceToken, GatewayKey, Home, Slot};
use gw_persist::Document;
use gw_persist::service::{ServiceKind, ServiceSpec};
use gw_token::{Caveat, Grant, Secret, TokenKey, Verifier, attenuate, derive, expose, unix_now};
use serde_json::{Value, json};

use crate::output::{CliError, EXIT_FAILED, EXIT_OK, Output};

const VICTIM: &[u8] = b"victim's own file: must never change\n";

struct Tour {
    out: Output,
    steps: Vec<Value>,
    failed: usize,
}

impl Tour {
    fn step(&mut self, title: &str, threat: &str) {
        if !self.out.json {
            crate::output::print(format!("\n== {} ({threat})\n", title).as_bytes());
        }
    }

    fn say(&self, line: &str) {
        if !self.out.json {
            crate::output::print(format!("   {line}\n").as_bytes());
        }
    }

    fn record(&mut self, title: &str, threat: &str, held: bool, detail: String) {
        if !self.out.json {
            crate::output::print(format!("   {} {}\n", if held { "✔" } else { "✘ FAILED:" }, detail).as_bytes());
        }
        if !held {
            self.failed += 1;
        }
        self.steps.push(json!({ "step": title, "threat": threat, "held": held, "detail": detail }));
    }

    /// Expects `result` to be a refusal of `kind`; shows the user's error line.
    fn expect_refusal<T>(&mut self, title: &str, threat: &str, result: gw_anchor::Result<T>, kind: ErrorKind) {
        match result {
            Err(e) if e.kind() == kind => {
                let line = CliError::from(e).line();
                self.say(&format!("the error a user sees: {line}"));
                self.record(title, threat, true, format!("refused ({kind})"));
            }
            Err(e) => self.record(title, threat, false, format!("expected a {kind} refusal, got: {e}")),
            Ok(_) => self.record(title, threat, false, format!("expected a {kind} refusal, but it succeeded")),
        }
    }
}

pub(crate) fn run(policy: &Policy, out: Output) -> Result<u8, CliError> {
    let tmp = tempfile::Builder::new()
        .prefix("gw-demo-")
        .tempdir()
        .map_err(|e| CliError::usage("demo", format!("cannot create a temporary directory: {e}")))?;
    let base = tmp.path();
    let mut t = Tour { out, steps: Vec::new(), failed: 0 };
    if !out.json {
        crate::output::print(format!("gw demo — in {} (removed at the end)\n", base.display()).as_bytes());
        crate::output::print(
            format!(
                "resolver: {:?}; the home below is a gw root, `outside/` holds a victim file\n",
                policy.resolver_kind()
            )
            .as_bytes(),
        );
    }
    let io = |what: &str, e: std::io::Error| CliError::usage("demo", format!("setup failed ({what}): {e}"));
    let home = base.join("home");
    let outside = base.join("outside");
    fs::create_dir(&home).map_err(|e| io("mkdir home", e))?;
    fs::set_permissions(&home, fs::Permissions::from_mode(0o700)).map_err(|e| io("chmod home", e))?;
    fs::create_dir(&outside).map_err(|e| io("mkdir outside", e))?;
    fs::write(outside.join("victim.txt"), VICTIM).map_err(|e| io("write victim", e))?;

    let root = Root::open(&home, policy)?;

    // 1. Atomic write.
    let title = "atomic write";
    t.step(title, "FS-3, FS-4, FS-6");
    let doc = b"{\n  \"gateway\": \"ws://127.0.0.1:18789\",\n  \"profile\": \"default\"\n}\n";
    let opts = WriteOptions::new().mode(0o600).create_parents(true);
    root.write_atomic("profile/auth-profiles.json", doc, &opts)?;
    let meta = root.metadata("profile/auth-profiles.json")?;
    let back = root.read("profile/auth-profiles.json", 1 << 20)?;
    t.say("wrote profile/auth-profiles.json: temp in the same directory (O_TMPFILE or 128-bit random name),");
    t.say("mode set before the first byte, fsync, rename over the target, fsync of the directory");
    t.record(
        title,
        "FS-3, FS-4, FS-6",
        back == doc && meta.mode == 0o600,
        format!("{} bytes read back intact, mode {:04o}", back.len(), meta.mode),
    );

    // 2. A planted symlink at the target.
    let title = "symlink planted at the target";
    t.step(title, "FS-1");
    symlink(outside.join("victim.txt"), home.join("profile/token.json")).map_err(|e| io("plant link", e))?;
    t.say("an attacker planted profile/token.json -> ../../outside/victim.txt");
    let r = root.write_atomic("profile/token.json", b"{\"token\":\"s3cr3t\"}\n", &opts);
    t.expect_refusal(title, "FS-1", r, ErrorKind::Symlink);
    let intact = fs::read(outside.join("victim.txt")).map_err(|e| io("read victim", e))? == VICTIM;
    t.record(title, "FS-1", intact, "the victim file outside is unchanged".into());

    // 3. A symlinked parent directory.
    let title = "symlinked parent directory";
    t.step(title, "FS-2");
    symlink(&outside, home.join("cache")).map_err(|e| io("plant dir link", e))?;
    t.say("an attacker made cache/ a symlink to outside/");
    let r = root.write_atomic("cache/token.json", b"{\"token\":\"s3cr3t\"}\n", &opts);
    t.expect_refusal(title, "FS-2", r, ErrorKind::Symlink);
    let leaked = outside.join("token.json").exists();
    t.record(title, "FS-2", !leaked, "nothing was written outside".into());

    // 4. An insecure (world-writable) directory.
    let title = "insecure directory";
    t.step(title, "FS-5");
    let shared = base.join("shared");
    fs::create_dir(&shared).map_err(|e| io("mkdir shared", e))?;
    fs::set_permissions(&shared, fs::Permissions::from_mode(0o777)).map_err(|e| io("chmod shared", e))?;
    t.say("shared/ is mode 0777 (anyone could swap its entries)");
    let r = Root::open(&shared, policy);
    t.expect_refusal(title, "FS-5", r, ErrorKind::InsecureDirectory);

    // 5. Locked concurrent updates of one document.
    let title = "locked concurrent document updates";
    t.step(title, "FS-3, documents");
    let (threads, rounds) = (4u64, 25u64);
    t.say(&format!(
        "{threads} threads each increment a counter in profile/state.json {rounds} times (read-modify-write)"
    ));
    let doc = Document::new(&root, "profile/state.json");
    std::thread::scope(|s| {
        for _ in 0..threads {
            s.spawn(|| {
                for _ in 0..rounds {
                    let r = doc.update_value(|cur| {
                        let mut v = cur.unwrap_or_else(|| json!({ "count": 0 }));
                        v["count"] = json!(v["count"].as_u64().unwrap_or(0) + 1);
                        Ok::<_, gw_persist::Error>(v)
                    });
                    if r.is_err() {
                        break;
                    }
                }
            });
        }
    });
    let count = doc.load_value()?.and_then(|v| v["count"].as_u64()).unwrap_or(0);
    t.record(title, "FS-3", count == threads * rounds, format!("count = {count}: no update was lost"));

    // 6. A document with a duplicate key.
    let title = "duplicate-key document refused";
    t.step(title, "CLI-2");
    let hostile = b"{\n  \"admin\": false,\n  \"admin\": true\n}\n";
    root.write_atomic("profile/roles.json", hostile, &opts)?;
    t.say("profile/roles.json says \"admin\": false, then \"admin\": true (parsers disagree on which wins)");
    let roles = Document::new(&root, "profile/roles.json");
    match roles.load_value() {
        Err(e) if e.kind() == gw_persist::ErrorKind::DuplicateKey => {
            t.say(&format!("the error a user sees: {}", CliError::from(e).line()));
            t.record(title, "CLI-2", true, "refused (duplicate_key)".into());
        }
        other => t.record(title, "CLI-2", false, format!("expected a duplicate-key refusal, got {other:?}")),
    }
    let update = roles.update_value(|cur| Ok::<_, gw_persist::Error>(cur.unwrap_or_default()));
    let unchanged = root.read("profile/roles.json", 1 << 20)? == hostile;
    t.record(
        title,
        "CLI-2",
        update.is_err() && unchanged,
        "an update over it writes nothing: the file is byte-for-byte unchanged".into(),
    );

    // 7. A rendered service definition.
    let title = "service definition rendered and handed off";
    t.step(title, "FS-8, CLI-2");
    let spec = br#"{"description": "gw reference gateway", "exec_start": ["/usr/bin/gw", "serve", "--port", "18789"],
        "environment": {"GW_HOME": "%h/.gw $HOME"}, "restart": "on-failure", "restart_sec": 5, "wanted_by": ["default.target"]}"#;
    let unit = ServiceSpec::from_json(ServiceKind::Systemd, spec)?;
    let written = unit.write(&root, "gw-serve.service")?;
    t.say("rendered a systemd user unit from a JSON spec (specifiers `%` escaped, every argument quoted):");
    for line in
        String::from_utf8_lossy(written.bytes()).lines().filter(|l| l.starts_with("Exec") || l.starts_with("Env"))
    {
        t.say(&format!("    {line}"));
    }
    let handoff = written.verify_before_handoff();
    t.record(title, "FS-8", handoff.is_ok(), "written atomically (0644); chain re-verified before hand-off".into());
    let hostile = br#"{"description": "gw\nExecStartPre=/bin/sh -c evil", "exec_start": ["/usr/bin/gw"]}"#;
    t.say("a spec whose description hides a newline and an ExecStartPre= line:");
    match ServiceSpec::from_json(ServiceKind::Systemd, hostile).and_then(|s| s.render()) {
        Err(e) if e.kind() == gw_persist::ErrorKind::Injection => {
            t.say(&format!("the error a user sees: {}", CliError::from(e).line()));
            t.record(title, "CLI-2", true, "refused (injection); nothing rendered".into());
        }
        other => {
            t.record(title, "CLI-2", false, format!("expected an injection refusal, got {:?}", other.map(|b| b.len())))
        }
    }

    // 8. A profile with credentials: precedence and a durable hand-off.
    let title = "profile credentials: precedence and hand-off";
    t.step(title, "CRED-1, CRED-2, CRED-3, CRED-5");
    let gw_home = Home::open_or_create(&base.join("gw-home"), policy)?;
    let profile = gw_home.init_profile("demo", 18789)?;
    let store = profile.store();
    let gateway = profile.gateway()?;
    t.say(&format!("profile `demo` created (0700, root secret 0600); its gateway: {gateway}"));
    store.set(
        &GatewayKey::parse("ws://localhost:18789")?,
        &Slot::Bootstrap,
        &Secret::from("bootstrap-0001".to_owned()),
    )?;
    store.set(&GatewayKey::parse("ws://[::1]:18789")?, &Slot::Shared, &Secret::from("shared-0001".to_owned()))?;
    let picked = store.resolve(&gateway, "operator")?.map(|r| r.slot);
    t.say("stored a bootstrap token for ws://localhost:18789 and a shared token for ws://[::1]:18789 (one gateway)");
    t.record(
        title,
        "CRED-1, CRED-5",
        picked == Some(Slot::Shared),
        format!("resolve(operator) picks {}", picked.map(|s| s.describe()).unwrap_or_default()),
    );
    let hello = [
        DeviceToken::new("operator", Secret::from("device-op-0001".to_owned())),
        DeviceToken::new("node", Secret::from("device-node-0001".to_owned())),
    ];
    let report = store.handoff(&gateway, &hello)?;
    t.say(&format!(
        "hand-off of a hello-ok with roles {}: written, read back from disk, then the bootstrap token cleared",
        report.roles.join(", ")
    ));
    let now_picked = store.resolve(&gateway, "node")?.map(|r| r.slot);
    let boot_gone = store.get(&gateway, &Slot::Bootstrap)?.is_none();
    t.record(
        title,
        "CRED-2, CRED-3",
        report.roles.len() == 2
            && report.bootstrap_cleared
            && boot_gone
            && now_picked == Some(Slot::Device("node".into())),
        format!(
            "both role tokens stored; bootstrap cleared only after read-back; resolve(node) now picks {}",
            now_picked.map(|s| s.describe()).unwrap_or_default()
        ),
    );

    // 9. A scoped token: derived, attenuated, verified; a tampered one refused.
    let title = "scoped tokens";
    t.step(title, "TOK-1, TOK-3");
    let key = TokenKey::from_root(&profile.root_secret()?);
    let grant = Grant {
        scopes: vec!["gateway.connect".into(), "approvals.read".into()],
        audience: Some(gateway.as_str().to_owned()),
        ttl: std::time::Duration::from_secs(300),
        local: true,
    };
    let token = derive(&key, &grant, unix_now())?;
    let shown = expose(&token);
    t.say(&format!(
        "derived a `gw2.…` token of {} bytes (bound to scope, audience, expiry, loopback peers; never the root secret)",
        shown.len()
    ));
    let verifier = |scope: &str| {
        Verifier::new(&key, scope).audience(gateway.as_str()).peer("127.0.0.1".parse().expect("an address"))
    };
    let ok = verifier("gateway.connect").verify(shown).is_ok();
    t.record(title, "TOK-1", ok, "verified for gateway.connect from 127.0.0.1".into());
    let remote = verifier("gateway.connect").peer("192.0.2.7".parse().expect("an address")).verify(shown);
    t.record(
        title,
        "TOK-3",
        matches!(&remote, Err(e) if e.kind() == gw_token::ErrorKind::Locality),
        "the same token from 192.0.2.7 is refused (local only)".into(),
    );
    let narrow = attenuate(shown, &Caveat { scp: Some(vec!["approvals.read".into()]), ..Caveat::default() })?;
    let narrowed_ok = verifier("approvals.read").verify(expose(&narrow)).is_ok();
    let narrowed_wider = verifier("gateway.connect").verify(expose(&narrow)).is_err();
    t.record(
        title,
        "TOK-1",
        narrowed_ok && narrowed_wider,
        "attenuated without the secret to approvals.read: it no longer grants gateway.connect".into(),
    );
    let mut tampered = shown.as_bytes().to_vec();
    let i = tampered.len() / 2;
    tampered[i] = if tampered[i] == b'A' { b'B' } else { b'A' };
    let tampered = String::from_utf8(tampered).expect("ASCII");
    match verifier("gateway.connect").verify(&tampered) {
        Err(e) => {
            t.say(&format!("the error a user sees: {}", CliError::from(e).line()));
            t.record(title, "TOK-1", true, "a token with one character changed is refused".into());
        }
        Ok(_) => t.record(title, "TOK-1", false, "a tampered token verified".into()),
    }

    // 10. The directory swapped after it was opened.
    let title = "directory swapped after it was opened";
    t.step(title, "FS-2, FS-8");
    let moved = base.join("home.moved");
    fs::rename(&home, &moved).map_err(|e| io("move home", e))?;
    symlink(&outside, &home).map_err(|e| io("plant home link", e))?;
    t.say("home/ was renamed away and replaced by a symlink to outside/");
    root.write_atomic("after-swap.json", b"{}\n", &opts)?;
    let anchored = moved.join("after-swap.json").exists() && !outside.join("after-swap.json").exists();
    t.record(title, "FS-2", anchored, "a write through the open root still lands in the real directory".into());
    t.say("before handing a file to another program, the chain is re-verified:");
    let r = root.verify();
    t.expect_refusal(title, "FS-8", r, ErrorKind::RootChanged);

    if let Err(e) = gateway_tour(&mut t, base, policy) {
        t.record("gateway tour", "PORT-1", false, e.line());
    }
    if let Err(e) = lease_tour(&mut t, base, policy) {
        t.record("liveness records", "LEASE-1", false, e.line());
    }
    if let Err(e) = doctor_tour(&mut t, base, policy) {
        t.record("gw doctor", "FS-4", false, e.line());
    }
    let failed = t.failed;
    if out.json {
        out.ok("", json!({ "ok": failed == 0, "held": t.steps.len() - failed, "failed": failed, "steps": t.steps }));
    } else {
        crate::output::print(b"\n");
        if failed == 0 {
            crate::output::print(
                format!("all {} checks held; removing {}\n", t.steps.len(), base.display()).as_bytes(),
            );
        } else {
            crate::output::print(format!("{failed} of {} checks FAILED\n", t.steps.len()).as_bytes());
        }
    }
    drop(root);
    // `tmp` is removed when it drops, here.
    Ok(if failed == 0 { EXIT_OK } else { EXIT_FAILED })
}

/// The gateway part of the tour: `gw serve` (this binary, re-executed) as a
/// background child, a verified `gw probe` that hands off the bootstrap
/// token, then hijackers — a second listener on the port's ::1 side, and a
/// process that re-binds the port after the gateway died — refused by
/// `gw probe` before a single byte (so no token) reaches them. Every step is
/// a real process on real sockets; the child is stopped at the end.
fn gateway_tour(t: &mut Tour, base: &std::path::Path, policy: &Policy) -> Result<(), CliError> {
    use std::io::{BufRead, Read, Write};
    use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, TcpListener, TcpStream};
    use std::process::{Child, Command, Stdio};
    use std::sync::{Arc, Mutex};
    use std::time::Duration;

    /// The background gateway, killed on every way out.
    struct Bg(Child);
    impl Drop for Bg {
        fn drop(&mut self) {
            let _ = self.0.kill();
            let _ = self.0.wait();
        }
    }
    /// A hijacker's connection: every byte read is recorded.
    struct Rec(TcpStream, Arc<Mutex<Vec<u8>>>);
    impl Read for Rec {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            let n = self.0.read(buf)?;
            self.1.lock().map_err(|_| std::io::Error::other("poisoned"))?.extend_from_slice(&buf[..n]);
            Ok(n)
        }
    }
    impl Write for Rec {
        fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
            self.0.write(buf)
        }
        fn flush(&mut self) -> std::io::Result<()> {
            self.0.flush()
        }
    }
    /// A listener that answers like a perfect gateway (upgrade, hello-ok
    /// with role tokens) and records everything it receives.
    fn hijack(listener: TcpListener) -> Arc<Mutex<Vec<u8>>> {
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        std::thread::spawn(move || {
            for s in listener.incoming().flatten() {
                let _ = s.set_read_timeout(Some(Duration::from_secs(5)));
                if let Ok(mut ws) = tungstenite::accept(Rec(s, g.clone())) {
                    let hello = json!({ "type": "hello-ok", "auth": { "method": "bootstrap",
                        "deviceTokens": [{ "role": "operator", "token": "hijacked-operator" }] } });
                    let _ = ws.send(tungstenite::Message::text(hello.to_string()));
                }
            }
        });
        got
    }
    let fail = |m: String| CliError::usage("demo", m);
    let exe = std::env::current_exe().map_err(|e| fail(format!("cannot find the gw binary: {e}")))?;
    let home = base.join("gw-gateway-home");
    let gw_home = Home::open_or_create(&home, policy)?;
    // A port free on both loopback addresses (the hijacker takes ::1 later).
    let port = (0..64)
        .find_map(|_| {
            let a = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).ok()?;
            let p = a.local_addr().ok()?.port();
            TcpListener::bind((Ipv6Addr::LOCALHOST, p)).ok().map(|_| p)
        })
        .ok_or_else(|| fail("no free loopback port".into()))?;
    let profile = gw_home.init_profile("gateway", port)?;
    let gw = |args: &[&str]| {
        let mut c = Command::new(&exe);
        c.args(["--json", "--profile", "gateway"]).args(args).env("GW_HOME", &home);
        c.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
        c
    };
    let run = |args: &[&str]| -> Result<(i32, Value, String), CliError> {
        let o = gw(args).output().map_err(|e| fail(format!("cannot run gw {args:?}: {e}")))?;
        let v = serde_json::from_slice(&o.stdout).unwrap_or(Value::Null);
        let err = String::from_utf8_lossy(&o.stderr).trim_end().to_owned();
        Ok((o.status.code().unwrap_or(-1), v, err))
    };

    // 11. The reference gateway, and a verified probe with a hand-off.
    let title = "gw serve + verified probe + hand-off";
    t.step(title, "PORT-1, TOK-2, CRED-2, CRED-3");
    let mut child = gw(&["serve", "--bind", "ipv4", "--issue-bootstrap"])
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| fail(format!("cannot start gw serve: {e}")))?;
    let stdout = child.stdout.take();
    let mut bg = Bg(child);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let mut line = String::new();
        if let Some(s) = stdout {
            let _ = std::io::BufReader::new(s).read_line(&mut line);
        }
        let _ = tx.send(line);
    });
    let ready: Value = rx
        .recv_timeout(Duration::from_secs(10))
        .ok()
        .and_then(|l| serde_json::from_str(&l).ok())
        .ok_or_else(|| fail("gw serve did not become ready".into()))?;
    t.say(&format!(
        "started `gw serve` (pid {}) on 127.0.0.1:{port}; it stored a bootstrap token for {}",
        ready["pid"], ready["url"]
    ));
    device_handshake(t, &profile, port, ready["pid"].as_u64().and_then(|p| u32::try_from(p).ok()))?;
    let title = "gw serve + verified probe + hand-off";
    t.step("verified probe + bootstrap hand-off", "PORT-1, TOK-2, CRED-2, CRED-3");
    let (code, v, _) = run(&["probe"])?;
    t.say("`gw probe` proved the port's owner (every listener held by the pidfile's process) before sending");
    t.record(
        title,
        "PORT-1, CRED-2, CRED-3",
        code == 0 && v["credential"] == "bootstrap" && v["handoff"]["bootstrap_cleared"] == true,
        format!(
            "verified; sent the bootstrap token; handed off role tokens {}; bootstrap cleared",
            v["handoff"]["roles"]
        ),
    );
    let (code, v, _) = run(&["probe"])?;
    t.record(
        title,
        "CRED-1",
        code == 0 && v["credential"].as_str().is_some_and(|c| c.starts_with("device:operator@")),
        "the next probe uses the device token issued to this device".into(),
    );
    let store = profile.store();
    let key = profile.gateway()?;
    let device = store.get(&key, &Slot::Device("operator".into()))?;

    // 12. A second listener on the port (::1) — a hijacker — is refused.
    let title = "hijacker on the port's ::1 side";
    t.step(title, "PORT-1, PORT-2, PORT-5");
    let h6 = TcpListener::bind(SocketAddr::from((Ipv6Addr::LOCALHOST, port)))
        .map_err(|e| fail(format!("cannot bind the hijacker: {e}")))?;
    let got6 = hijack(h6);
    t.say(&format!("a hijacker listens on [::1]:{port} and answers a perfect hello-ok"));
    let (code, _, err) = run(&["probe"])?;
    t.say(&format!("the error a user sees: {err}"));
    std::thread::sleep(Duration::from_millis(100));
    let n6 = got6.lock().map(|g| g.len()).unwrap_or(usize::MAX);
    t.record(title, "PORT-5", code == 3 && n6 == 0, format!("refused (exit {code}); the hijacker received {n6} bytes"));

    // 13. The gateway dies; a hijacker re-binds 127.0.0.1 too.
    let title = "gateway died, its port re-bound";
    t.step(title, "PORT-1, PORT-2");
    let _ = bg.0.kill();
    let _ = bg.0.wait();
    let got4 = match TcpListener::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, port))) {
        Ok(l) => hijack(l),
        Err(e) => return Err(fail(format!("cannot bind the hijacker: {e}"))),
    };
    t.say("gw serve was killed (its pidfile stays, stale); a hijacker took 127.0.0.1 as well");
    let (code, _, err) = run(&["probe"])?;
    t.say(&format!("the error a user sees: {err}"));
    std::thread::sleep(Duration::from_millis(100));
    let all: Vec<u8> = [&got4, &got6].iter().flat_map(|g| g.lock().map(|v| v.clone()).unwrap_or_default()).collect();
    let leaked = device.as_ref().is_some_and(|d| all.windows(d.len().max(1)).any(|w| w == d.expose()));
    t.record(
        title,
        "PORT-1, PORT-2",
        code == 3 && all.is_empty() && !leaked,
        format!("refused (exit {code}); the hijackers received {} bytes, no token", all.len()),
    );
    let unchanged = store.get(&key, &Slot::Device("operator".into()))?.map(|s| s.expose().to_vec())
        == device.map(|s| s.expose().to_vec());
    t.record(title, "PORT-2", unchanged, "the hijacker's \"role tokens\" were never stored".into());
    Ok(())
}

/// A verified handshake with a device identity against `gw serve`, through
/// the gw-gateway library: the port-ownership proof (gw-portguard), then
/// protocol 4 — challenge, `connect` with a scoped token and the profile's
/// Ed25519 device key signing the challenge — and the device token the
/// gateway issues for this device and role; then a second connection with
/// that device token (signed again over its own challenge).
fn device_handshake(t: &mut Tour, profile: &gw_cred::Profile, port: u16, pid: Option<u32>) -> Result<(), CliError> {
    use std::net::SocketAddr;
    use std::time::Duration;

    use gw_gateway::{Bounds, ClientInfo, Connect, Credential, DEVICE_KEY_FILE, DeviceIdentity};

    let title = "verified handshake with a device identity";
    t.step(title, "PORT-1, GATE-2, CRED-1");
    let fail = |m: String| CliError::usage("demo", m);
    let pid = pid.ok_or_else(|| fail("gw serve's ready line has no pid".into()))?;
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let url = format!("ws://127.0.0.1:{port}");
    let (device, created) = DeviceIdentity::load_or_create(profile.root(), DEVICE_KEY_FILE)?;
    t.say(&format!(
        "device key {} ({}), device id {}",
        profile.root().path().join(DEVICE_KEY_FILE).display(),
        if created { "created 0600" } else { "loaded" },
        device.id()
    ));
    let key = TokenKey::from_root(&profile.root_secret()?);
    let grant = Grant {
        scopes: vec![gw_cred::GATEWAY_CONNECT_SCOPE.into()],
        audience: Some(url.clone()),
        ttl: Duration::from_secs(60),
        local: true,
    };
    let token = derive(&key, &grant, unix_now()).map_err(|e| fail(format!("derive: {e}")))?;
    let connect = |credential: Credential| -> Result<gw_gateway::Hello, CliError> {
        let stream = gw_portguard::connect_verified(addr, &gw_portguard::Expected::new(pid), &Default::default())
            .map_err(|e| fail(format!("the port-ownership proof failed: {e}")))?;
        let req = Connect {
            client: ClientInfo::default(),
            role: "operator".into(),
            scopes: vec!["operator.read".into()],
            credential,
            device: Some(&device),
        };
        let (mut ws, hello) = gw_gateway::connect(stream, &url, &req, &Bounds::default())?;
        gw_gateway::close(&mut ws, Duration::from_secs(2));
        Ok(hello)
    };
    let first = connect(Credential::Token(Secret::from(expose(&token).to_owned())))?;
    let issued = first.hello.auth.device_token.as_ref().map(|d| Secret::new(d.token.expose().to_vec()));
    t.say(&format!(
        "proved pid {pid} holds the port, then connect (scoped token, signed challenge): {} as {}, device token {}",
        first.hello.auth.method.as_deref().unwrap_or("?"),
        first.hello.auth.role,
        if issued.is_some() { "issued" } else { "NOT issued" }
    ));
    t.record(
        title,
        "PORT-1, GATE-2",
        first.signed && issued.is_some(),
        "signed connect; a device token issued for this device and role".into(),
    );
    let Some(dev_token) = issued else { return Ok(()) };
    let second = connect(Credential::DeviceToken(dev_token))?;
    t.record(
        title,
        "CRED-1",
        second.hello.auth.method.as_deref() == Some("device-token"),
        "reconnected with the device token alone (signed again, over the new challenge)".into(),
    );
    Ok(())
}

/// `gw doctor` on a home of its own with two planted problems — a root
/// secret made world-readable and a temp file left by an interrupted write —
/// shows the report and checks both were found with their fixes. Kernel
/// findings (this machine's fs.protected_*) are shown but never decide
/// whether the demo passed.
fn doctor_tour(t: &mut Tour, base: &std::path::Path, policy: &Policy) -> Result<(), CliError> {
    use crate::audit::{Options, Severity};
    let title = "gw doctor";
    t.step(title, "FS-4, FS-3, LEASE-1");
    let io = |what: &str, e: std::io::Error| CliError::usage("demo", format!("setup failed ({what}): {e}"));
    let home_path = base.join("doctor-home");
    fs::create_dir(&home_path).map_err(|e| io("mkdir doctor-home", e))?;
    fs::set_permissions(&home_path, fs::Permissions::from_mode(0o700)).map_err(|e| io("chmod doctor-home", e))?;
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map_err(|e| io("pick a port", e))?
        .port();
    let profile = Home::open(&home_path, policy)?.init_profile("demo", port)?;
    let dir = profile.root().path().to_path_buf();
    let key = dir.join(gw_cred::ROOT_KEY_FILE);
    let temp = dir.join(".gw-tmp.00112233445566778899aabbccddeeff");
    fs::set_permissions(&key, fs::Permissions::from_mode(0o644)).map_err(|e| io("chmod root.key", e))?;
    fs::write(&temp, b"{\"half\": ").map_err(|e| io("plant temp", e))?;
    // A lease of a process that has since died (registered while it ran).
    let leases = dir.join("leases");
    let mut child = std::process::Command::new("sleep").arg("30").spawn().map_err(|e| io("spawn sleep", e))?;
    let lease = gw_lease::Registry::open(&leases)
        .and_then(|reg| reg.register(&gw_lease::Registration::new("demo-worker")?.pid(child.id())))
        .map(|(guard, _)| guard.persist());
    let _ = child.kill();
    let _ = child.wait();
    if let Err(e) = lease {
        return Err(CliError::usage("demo", format!("setup failed (register a lease): {e}")));
    }
    let dead = leases.join("demo-worker.json");
    t.say("planted: root.key made 0644, a temp file of an interrupted write, a lease of a dead process");
    let opts = Options {
        openclaw: None,
        home: Some(home_path),
        home_error: None,
        profile: None,
        keyring_probe: false,
        kernel: true,
        max_entries: crate::audit::MAX_ENTRIES,
    };
    let report = crate::audit::audit(&opts, policy);
    let mut shown: Vec<_> = report.findings.iter().collect();
    shown.sort_by_key(|f| std::cmp::Reverse(f.severity));
    for f in shown {
        t.say(&format!("[{}] {}: {}", f.severity.as_str(), f.subject, f.what));
        t.say(&format!("       fix: {}", f.fix));
    }
    let found = |path: &std::path::Path, severity: Severity| {
        report.findings.iter().any(|f| f.subject == path.display().to_string() && f.severity == severity)
    };
    let key_found = found(&key, Severity::High) && report.exit_code() == 3;
    t.record(title, "FS-4", key_found, "the world-readable root secret is a high finding (`chmod 600`), exit 3".into());
    let temp_found = found(&temp, Severity::Info) || found(&temp, Severity::Low);
    t.record(title, "FS-3", temp_found, "the leftover temp file is reported with `rm --` (and left in place)".into());
    t.record(
        title,
        "LEASE-1",
        found(&dead, Severity::Low),
        "the dead process's lease is reported (`gw lease prune`)".into(),
    );
    t.record(
        title,
        "CLI-2",
        temp.exists() && dead.exists(),
        "the doctor changed nothing: the temp file and the stale lease are still there".into(),
    );
    Ok(())
}

/// Liveness records: a registry with a record of a process that has
/// crashed (a `sleep` child, killed and reaped) and one of this live
/// process; a prune removes the stale one (LEASE-1) and keeps the live one
/// (LEASE-2), and the live one's guard removes it on drop.
fn lease_tour(t: &mut Tour, base: &std::path::Path, policy: &Policy) -> Result<(), CliError> {
    let title = "liveness records";
    t.step(title, "LEASE-1, LEASE-2");
    let lease_err = |e: gw_lease::Error| CliError::usage("demo", format!("lease step failed: {e}"));
    let registry = gw_lease::Registry::open_with(base.join("leases"), policy).map_err(lease_err)?;
    let live = gw_lease::Registration::new("live-gateway").map_err(lease_err)?;
    let (guard, _) = registry.register(&live).map_err(lease_err)?;
    t.say(&format!("registered live-gateway (this process, pid {})", std::process::id()));
    let mut crashed = std::process::Command::new("sleep")
        .arg("30")
        .spawn()
        .map_err(|e| CliError::usage("demo", format!("setup failed (spawn sleep): {e}")))?;
    let stale = gw_lease::Registration::new("crashed-gateway").map_err(lease_err)?.pid(crashed.id());
    registry.register(&stale).map_err(lease_err)?.0.persist();
    let _ = crashed.kill();
    let _ = crashed.wait();
    t.say(&format!("registered crashed-gateway (pid {}), then that process died without cleaning up", crashed.id()));
    let report = registry.prune(false).map_err(lease_err)?;
    let removed = report.removed.iter().any(|r| r.id == "crashed-gateway");
    let kept = report.kept.iter().any(|k| k.id == "live-gateway") && guard.path().exists();
    let why = report.removed.first().map(|r| r.reason.as_str()).unwrap_or("nothing removed");
    t.record(title, "LEASE-1", removed, format!("the stale record was pruned ({why})"));
    t.record(title, "LEASE-2", kept, "the live record was kept".into());
    let path = guard.path();
    drop(guard);
    t.record(title, "LEASE-1", !path.exists(), "the live record was removed when its guard dropped".into());
    Ok(())
}
