//! `gw watch` end to end, in real time with small durations: the real
//! binary, real list/approve/recovery commands (scripts run with `sh`), a
//! real `gw serve` for the health watchdog.

mod serve_support;

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use serde_json::Value;
use serve_support::{Env, Run, Serve, TIMEOUT, free_port};

use gw_test_support::cli::{self, EXIT_USAGE, Gw};

fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, body).unwrap();
    p
}

fn lines(p: &Path) -> Vec<String> {
    fs::read_to_string(p).unwrap_or_default().lines().map(str::to_owned).collect()
}

/// A list command printing `dir/list.json` and an approve command logging
/// each id to `dir/approved`.
struct Fixture {
    env: Env,
    list: String,
    approve: String,
}

impl Fixture {
    fn new(list_json: &str) -> Self {
        let env = Env::new();
        let dir = env.tmp.path();
        fs::write(dir.join("list.json"), list_json).unwrap();
        let approve = script(dir, "approve.sh", "echo \"$1\" >> \"$(dirname \"$0\")/approved\"\n");
        Self {
            list: format!("cat '{}'", dir.join("list.json").display()),
            approve: format!("sh '{}' {{id}}", approve.display()),
            env,
        }
    }

    fn dir(&self) -> &Path {
        self.env.tmp.path()
    }

    fn approvals(&self, extra: &[&str]) -> Run {
        let mut args = vec!["watch", "approvals", "--list-cmd", &self.list, "--approve-cmd", &self.approve];
        args.extend_from_slice(extra);
        self.env.run(&args, None)
    }
}

const TWO: &str =
    r#"[{"id":"r1","client":"alice","scopes":["operator.pairing"]},{"id":"r2","client":"mallory","scopes":[]}]"#;

#[test]
fn once_approves_allowlisted_and_rejects_others() {
    let f = Fixture::new(TWO);
    let r = f.approvals(&["--allow", "alice", "--once", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["ok"], true);
    assert_eq!(v["report"]["approved"], serde_json::json!(["r1"]));
    assert_eq!(v["report"]["rejected"], serde_json::json!(["r2"]));
    assert_eq!(lines(&f.dir().join("approved")), ["r1"]);
    // --json: every stderr line is one JSON event.
    let events: Vec<Value> = r.stderr.lines().map(|l| serde_json::from_str(l).expect(l)).collect();
    assert!(events.iter().any(|e| e["event"] == "rejected" && e["id"] == "r2" && e["client"] == "mallory"));
    assert!(events.iter().any(|e| e["event"] == "approved" && e["id"] == "r1"));
}

/// WATCH-8 from the command line: with `--allow-device`, a request is
/// approved only from a pinned device; the same client from another device
/// is rejected and the human log says which device and why. A malformed
/// device id is a usage error before anything runs.
#[test]
fn watch_8_allow_device_approves_only_the_pinned_device() {
    let f = Fixture::new(
        r#"{"pending":[{"requestId":"r1","clientId":"alice","deviceId":"dev-a"},{"requestId":"r2","clientId":"alice","deviceId":"dev-b"},{"requestId":"r3","clientId":"alice"}],"paired":[]}"#,
    );
    let r = f.approvals(&["--allow", "alice", "--allow-device", "dev-a", "--once", "--json"]);
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["report"]["approved"], serde_json::json!(["r1"]));
    assert_eq!(v["report"]["rejected"], serde_json::json!(["r2", "r3"]));
    assert_eq!(lines(&f.dir().join("approved")), ["r1"]);
    let events: Vec<Value> = r.stderr.lines().map(|l| serde_json::from_str(l).expect(l)).collect();
    assert!(events.iter().any(|e| e["event"] == "rejected" && e["id"] == "r2" && e["why"] == "device"), "{events:?}");
    assert!(events.iter().any(|e| e["event"] == "rejected" && e["id"] == "r3" && e["why"] == "no_device"));
    assert!(events.iter().any(|e| e["event"] == "approved" && e["id"] == "r1" && e["device"] == "dev-a"));

    // Human events: which device, and the flag that decided.
    let f = Fixture::new(r#"{"pending":[{"requestId":"r2","clientId":"alice","deviceId":"dev-b"}],"paired":[]}"#);
    let r = f.approvals(&["--allow", "alice", "--allow-device", "dev-a", "--once"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("rejected r2: device dev-b") && r.stderr.contains("--allow-device"), "{r:?}");
    assert!(!f.dir().join("approved").exists(), "nothing was approved");

    for bad in ["-x", "a b", ""] {
        let flag = format!("--allow-device={bad}");
        let r = f.approvals(&["--allow", "alice", &flag, "--once"]);
        assert_eq!(r.code, EXIT_USAGE, "{bad:?}: {r:?}");
        assert!(r.stderr.starts_with("gw: error: ") && r.stderr.contains("--allow-device"), "{r:?}");
    }
    assert!(!f.dir().join("approved").exists(), "nothing ran for a bad argument");
}

/// `-q`: no event for what went well (polls, approvals, rejections), the
/// report still on stdout; a failure is still told.
#[test]
fn quiet_approvals_print_only_failures() {
    let f = Fixture::new(TWO);
    let r = f.approvals(&["--allow", "alice", "--once", "-q"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.is_empty(), "{r:?}");
    assert!(r.stdout.contains("1 approved, 1 rejected"), "{r:?}");
    let r = f.env.run(
        &["watch", "approvals", "--list-cmd", "/nonexistent/gw-list", "--approve-cmd", &f.approve, "--allow", "alice"]
            .into_iter()
            .chain(["--once", "-q"])
            .collect::<Vec<_>>(),
        None,
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("list failed"), "{r:?}");
}

/// `-v`: every poll too; by default the polls are not printed, the
/// approvals and rejections are. (A `--once` pass reports no polls.)
#[test]
fn verbose_approvals_print_every_poll() {
    let f = Fixture::new(TWO);
    let watch = ["--allow", "alice", "--fast-interval", "50ms", "--fast-window", "200ms", "--slow-interval", "50ms"];
    let r = f.approvals(&[&watch[..], &["--deadline", "300ms"]].concat());
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("approved r1") && r.stderr.contains("rejected r2"), "{r:?}");
    assert!(!r.stderr.contains("poll at"), "no poll line by default: {r:?}");
    let r = f.approvals(&[&watch[..], &["--deadline", "300ms", "-v"]].concat());
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("poll at") && r.stderr.contains("pending"), "{r:?}");
    assert!(r.stderr.contains("approved r1"), "{r:?}");
    assert_eq!(f.approvals(&["--allow", "alice", "--once", "-v", "-q"]).code, 2, "-v and -q conflict");
}

#[test]
fn watch_5_once_never_fails_the_caller() {
    let f = Fixture::new(TWO);
    // A list command that cannot start, and one that hangs past --max-time.
    for list in ["/nonexistent/gw-list --json", "sleep 1000"] {
        let t0 = Instant::now();
        let r = f.env.run(
            &[
                "watch",
                "approvals",
                "--list-cmd",
                list,
                "--approve-cmd",
                &f.approve,
                "--allow",
                "alice",
                "--once",
                "--max-time",
                "500ms",
                "--json",
            ],
            None,
        );
        assert_eq!(r.code, 0, "a best-effort pass exits 0: {r:?}");
        assert!(t0.elapsed() < Duration::from_secs(25), "{list}: took {:?}", t0.elapsed());
        let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
        assert!(v["report"]["list_error"].is_string(), "{v}");
    }
    // The count cap.
    let reqs: Vec<String> = (1..=4).map(|i| format!(r#"{{"id":"q{i}","client":"alice","scopes":[]}}"#)).collect();
    fs::write(f.dir().join("list.json"), format!("[{}]", reqs.join(","))).unwrap();
    let r = f.approvals(&["--allow", "alice", "--once", "--max", "3"]);
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(lines(&f.dir().join("approved")), ["q1", "q2", "q3"]);
    assert!(r.stdout.contains("stopped at --max"), "{r:?}");
}

#[test]
fn watch_6_watcher_runs_to_its_deadline_and_approves_a_late_request() {
    let f = Fixture::new("[]");
    let cmd = f.env.command(&[
        "watch",
        "approvals",
        "--list-cmd",
        &f.list,
        "--approve-cmd",
        &f.approve,
        "--allow",
        "alice",
        "--fast-interval",
        "50ms",
        "--fast-window",
        "300ms",
        "--slow-interval",
        "200ms",
        "--deadline",
        "2s",
    ]);
    let t0 = Instant::now();
    let child = Gw::wrapping(cmd).spawn();
    // The request arrives after the fast window.
    std::thread::sleep(Duration::from_millis(800));
    fs::write(f.dir().join("list.json.tmp"), TWO).unwrap();
    fs::rename(f.dir().join("list.json.tmp"), f.dir().join("list.json")).unwrap();
    let out = cli::finish_output(child, TIMEOUT, "gw watch approvals");
    let took = t0.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // The last poll is the last one that fits before the deadline: at most
    // one slow interval (200 ms) before it.
    assert!(took >= Duration::from_millis(1800), "ran to the deadline: {took:?}");
    assert!(took < Duration::from_secs(25), "{took:?}");
    assert_eq!(lines(&f.dir().join("approved")), ["r1"], "{stderr}");
    assert!(stderr.contains("keepalive cadence"), "{stderr}");
    assert_eq!(stderr.matches("rejected r2").count(), 1, "{stderr}");
    assert!(String::from_utf8_lossy(&out.stdout).contains("deadline reached"));
}

#[test]
fn bad_arguments_are_usage_errors() {
    let f = Fixture::new("[]");
    let cases: [&[&str]; 5] = [
        &["watch", "approvals", "--list-cmd", "true", "--approve-cmd", "true no-placeholder", "--allow", "a"],
        &["watch", "approvals", "--list-cmd", "true", "--approve-cmd", "true {id}"],
        &["watch", "approvals", "--list-cmd", "'unbalanced", "--approve-cmd", "true {id}", "--allow", "a"],
        &["watch", "approvals", "--list-cmd", "true", "--approve-cmd", "true {id}", "--allow", "a", "--max", "3"],
        &[
            "watch",
            "approvals",
            "--list-cmd",
            "true",
            "--approve-cmd",
            "true {id}",
            "--allow",
            "a",
            "--deadline",
            "soon",
        ],
    ];
    for args in cases {
        let r = f.env.run(args, None);
        assert_eq!(r.code, EXIT_USAGE, "{args:?}: {r:?}");
        assert!(r.stderr.starts_with("gw: error: "), "{r:?}");
    }
    let r = f.env.run(&["watch", "health", "ws://127.0.0.1:1", "--on-fail", "true"], None);
    assert_eq!(r.code, EXIT_USAGE, "a URL without an owner: {r:?}");
    let r = f.env.run(&["watch", "health", "--on-fail", "true", "--max-restarts", "0/1m"], None);
    assert_eq!(r.code, EXIT_USAGE, "{r:?}");
}

#[test]
fn the_id_is_one_argument_and_no_shell_runs() {
    let f = Fixture::new(r#"[{"id":"x:1.a_b-c","client":"alice","scopes":[]}]"#);
    let out = f.dir().join("argv");
    // The approve command line carries shell syntax that must stay literal.
    let approve = script(f.dir(), "argv.sh", &format!("printf '%s\\n' \"$@\" > '{}'\n", out.display()));
    let approve_cmd = format!("sh '{}' --id={{id}} '$(touch pwned)' ';' {{id}}", approve.display());
    let r = f.env.run(
        &["watch", "approvals", "--list-cmd", &f.list, "--approve-cmd", &approve_cmd, "--allow", "alice", "--once"],
        None,
    );
    assert_eq!(r.code, 0, "{r:?}");
    assert_eq!(lines(&out), ["--id=x:1.a_b-c", "$(touch pwned)", ";", "x:1.a_b-c"]);
    assert!(!f.dir().join("pwned").exists());
}

/// A recovery command that counts its runs in `dir/recovered`.
fn recovery(dir: &Path) -> String {
    let sc = script(dir, "recover.sh", "echo run >> \"$(dirname \"$0\")/recovered\"\n");
    format!("sh '{}'", sc.display())
}

#[test]
fn health_of_a_profile_gateway_then_recovery_when_it_is_gone() {
    let env = Env::new();
    env.profile("p", free_port());
    let mut serve = env.serve("p", &[]);
    let on_fail = recovery(env.tmp.path());
    let args = [
        "--profile",
        "p",
        "watch",
        "health",
        "--on-fail",
        &on_fail,
        "--interval",
        "100ms",
        "--failures",
        "2",
        "--max-restarts",
        "1/1h",
        "--deadline",
        "1s",
        "--json",
    ];
    assert_healthy(&env, &args, &serve);

    serve.stop();
    let r = env.run(&args, None);
    assert_eq!(r.code, 1, "one recovery allowed, it did not help: gave up: {r:?}");
    assert!(r.stderr.contains("recovery did not restore health"), "{r:?}");
    assert_eq!(lines(&env.tmp.path().join("recovered")), ["run"]);
}

/// `gw ARGS` (a `watch health --json` of a gateway that serves) succeeds:
/// at least two probes, none failed, no recovery run.
#[track_caller]
fn assert_healthy(env: &Env, args: &[&str], serve: &Serve) {
    let r = env.run(args, None);
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert!(v["report"]["probes"].as_u64().unwrap() >= 2, "{v}");
    assert_eq!(v["report"]["probe_failures"], 0, "{v}; serve log: {}", serve.log());
    assert!(!env.tmp.path().join("recovered").exists());
}

/// The owner named by `gw serve`'s lease (pid + start time): healthy while
/// it serves; once it is gone and a hijacker holds the port, every probe is
/// a failure (PORT-1) and the recovery runs.
#[test]
fn port_1_health_by_lease_fails_once_the_leased_gateway_is_gone_and_the_port_hijacked() {
    let env = Env::new();
    let port = free_port();
    env.profile("p", port);
    let mut serve = env.serve("p", &[]);
    let leases = env.profile_dir("p").join("leases");
    let (url, id) = (format!("ws://127.0.0.1:{port}"), format!("serve-{port}"));
    let on_fail = recovery(env.tmp.path());
    let args = [
        "watch",
        "health",
        &url,
        "--lease",
        leases.to_str().unwrap(),
        "--id",
        &id,
        "--on-fail",
        &on_fail,
        "--interval",
        "100ms",
        "--failures",
        "2",
        "--max-restarts",
        "1/1h",
        "--deadline",
        "1s",
        "--json",
    ];
    assert_healthy(&env, &args, &serve);

    // The gateway dies without cleaning up (its lease stays) and another
    // process takes the port.
    serve.signal(rustix::process::Signal::KILL);
    serve.wait();
    let hijacker = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let r = env.run(&args, None);
    drop(hijacker);
    assert_eq!(r.code, 1, "one recovery allowed, it did not help: gave up: {r:?}");
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["report"]["probes"], v["report"]["probe_failures"], "every probe failed: {v}");
    assert_eq!(lines(&env.tmp.path().join("recovered")), ["run"]);
}

#[test]
fn health_counts_a_port_held_by_someone_else_as_a_failure() {
    let env = Env::new();
    // This test process listens (and accepts); the expected owner is an
    // innocent `sleep`: the port is not its, so every probe fails.
    let listener = std::net::TcpListener::bind(("127.0.0.1", 0)).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        // Accepted connections are kept open: the verified connect proves
        // the accepted socket belongs to the owner.
        let mut kept = Vec::new();
        for s in listener.incoming() {
            kept.push(s);
        }
    });
    let mut innocent = Command::new("sleep").arg("300").spawn().unwrap();
    let on_fail = recovery(env.tmp.path());
    let url = format!("ws://127.0.0.1:{port}");
    let pid = innocent.id().to_string();
    let r = env.run(
        &[
            "watch",
            "health",
            &url,
            "--pid",
            &pid,
            "--on-fail",
            &on_fail,
            "--interval",
            "50ms",
            "--failures",
            "1",
            "--max-restarts",
            "2/1h",
            "--json",
        ],
        None,
    );
    let _ = innocent.kill();
    let _ = innocent.wait();
    assert_eq!(r.code, 1, "{r:?}");
    assert_eq!(lines(&env.tmp.path().join("recovered")), ["run", "run"]);
    assert!(r.stderr.contains("\"event\":\"probe_failed\""), "{r:?}");
    assert!(r.stderr.contains("not owned"), "the probe says why: {r:?}");
    // The control: the same listener with its real owner is healthy.
    let me = std::process::id().to_string();
    let r = env.run(
        &[
            "watch",
            "health",
            &url,
            "--pid",
            &me,
            "--on-fail",
            &on_fail,
            "--interval",
            "50ms",
            "--deadline",
            "500ms",
            "--json",
        ],
        None,
    );
    assert_eq!(r.code, 0, "{r:?}");
    let v: Value = serde_json::from_str(r.stdout.trim()).unwrap();
    assert_eq!(v["report"]["probe_failures"], 0, "{v}");
}

#[test]
fn watch_1_hanging_list_is_killed_and_the_deadline_is_met() {
    let f = Fixture::new("[]");
    let pidfile = f.dir().join("grandchild.pid");
    let hang = script(f.dir(), "hang.sh", &format!("sleep 1000 &\necho $! > '{}'\nwait\n", pidfile.display()));
    let list = format!("sh '{}'", hang.display());
    let t0 = Instant::now();
    let r = f.env.run(
        &[
            "watch",
            "approvals",
            "--list-cmd",
            &list,
            "--approve-cmd",
            &f.approve,
            "--allow",
            "alice",
            "--call-timeout",
            "300ms",
            "--fast-interval",
            "100ms",
            "--deadline",
            "1s",
        ],
        None,
    );
    assert!(t0.elapsed() < Duration::from_secs(25), "{:?}", t0.elapsed());
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stderr.contains("did not finish within"), "{r:?}");
    let pid: u32 = fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    let until = Instant::now() + Duration::from_secs(10);
    let gone = |pid: u32| match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
    };
    while !gone(pid) && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(gone(pid), "the grandchild {pid} holding the list's stdout survived");
}

#[test]
fn sigterm_stops_a_watcher_at_its_next_step() {
    let f = Fixture::new("[]");
    let cmd = f.env.command(&[
        "watch",
        "approvals",
        "--list-cmd",
        &f.list,
        "--approve-cmd",
        &f.approve,
        "--allow",
        "alice",
        "--fast-interval",
        "100ms",
        "--deadline",
        "8h",
        "--json",
    ]);
    let child = Gw::wrapping(cmd).spawn();
    std::thread::sleep(Duration::from_millis(500));
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let t0 = Instant::now();
    let out = cli::finish_output(child, TIMEOUT, "gw watch approvals (SIGTERM)");
    assert!(t0.elapsed() < Duration::from_secs(25));
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let v: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["report"]["stopped"], true, "{v}");
}

/// `gw watch health --once`: one TCP check; a port held by this process is
/// healthy for its pid and refused (exit 3, nothing sent) for another pid;
/// a port nobody holds is unhealthy (exit 1).
#[test]
fn health_once_is_one_check_with_one_exit_code_per_outcome() {
    let f = Fixture::new("[]");
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let url = format!("ws://127.0.0.1:{}", l.local_addr().unwrap().port());
    // Accepted connections are what gw-portguard attributes to a process.
    let acceptor = l.try_clone().unwrap();
    std::thread::spawn(move || {
        let mut held = Vec::new();
        while let Ok((s, _)) = acceptor.accept() {
            held.push(s);
        }
    });
    let me = std::process::id().to_string();
    let r = f.env.run(&["watch", "health", &url, "--pid", &me, "--once"], None);
    assert_eq!(r.code, 0, "{r:?}");
    assert!(r.stdout.contains("is healthy") && r.stderr.is_empty(), "{r:?}");
    let r = f.env.run(&["watch", "health", &url, "--pid", "1", "--once"], None);
    assert_eq!(r.code, 3, "{r:?}");
    assert!(r.stderr.contains("nothing was sent"), "{r:?}");
    // A port nobody holds (a fresh one, closed again).
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let url = format!("ws://127.0.0.1:{port}");
    let r = f.env.run(&["watch", "health", &url, "--pid", &me, "--once"], None);
    assert_eq!(r.code, 1, "{r:?}");
    assert!(r.stderr.contains("unhealthy"), "{r:?}");
}
