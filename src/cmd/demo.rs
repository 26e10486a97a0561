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
            println!("\n== {} ({threat})", title);
        }
    }

    fn say(&self, line: &str) {
        if !self.out.json {
            println!("   {line}");
        }
    }

    fn record(&mut self, title: &str, threat: &str, held: bool, detail: String) {
        if !self.out.json {
            println!("   {} {}", if held { "✔" } else { "✘ FAILED:" }, detail);
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
        println!("gw demo — in {} (removed at the end)", base.display());
        println!("resolver: {:?}; the home below is a gw root, `outside/` holds a victim file", policy.resolver_kind());
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
                        Ok(v)
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
    let update = roles.update_value(|cur| Ok(cur.unwrap_or_default()));
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
        DeviceToken { role: "operator".into(), token: Secret::from("device-op-0001".to_owned()) },
        DeviceToken { role: "node".into(), token: Secret::from("device-node-0001".to_owned()) },
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
        "derived a `gw1.…` token of {} bytes (bound to scope, audience, expiry, loopback peers; never the root secret)",
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

    let failed = t.failed;
    if out.json {
        out.ok("", json!({ "ok": failed == 0, "held": t.steps.len() - failed, "failed": failed, "steps": t.steps }));
    } else {
        println!();
        if failed == 0 {
            println!("all {} checks held; removing {}", t.steps.len(), base.display());
        } else {
            println!("{failed} of {} checks FAILED", t.steps.len());
        }
    }
    drop(root);
    // `tmp` is removed when it drops, here.
    Ok(if failed == 0 { EXIT_OK } else { EXIT_FAILED })
}
