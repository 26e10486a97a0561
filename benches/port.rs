//! `gw port verify` (gw-portguard's `verify`, as a library call and as the
//! whole CLI process) beside `ss -Hltnp 'sport = :P'` and
//! `lsof -nP -iTCP:P -sTCP:LISTEN` answering the same question — who holds
//! the listeners of port P — while N extra processes each hold M listening
//! sockets (M = 10; N = 0, 100, 500, 1000).
//!
//! The service (benches/port_load.py `service`) listens on 127.0.0.1:P and
//! [::1]:P itself; the load (`port_load.py load N M`) is N forked python
//! processes with M listening sockets each on ephemeral 127.0.0.1 ports.
//! Every contender's answer is checked (gw: Owned; ss and lsof: output
//! names the port) so none can win by failing fast.
//!
//! Output, for each N: a criterion group `port_verify_n{N}` (gw_lib, gw_cli,
//! ss, lsof), then a paired, interleaved run (31 rounds, medians) printing
//! ratios: how many times faster gw is than ss and lsof, and each
//! contender's time relative to its own N = 0 time (flatness). At N = 500,
//! peak RSS of each process via `/usr/bin/time -v` (Debian `time`).
//! Absolute times are criterion's; quote ratios (benches/README.md).
//!
//! `cargo bench --bench port -- --test`: smoke run (N = 0 and 20, one
//! round). Without `lsof` (or `ss`) that comparison is skipped with a
//! message. GW_PORT_BENCH_SERIES="0,100" overrides the series;
//! GW_PORT_BENCH_LOAD=bound makes the load's sockets bound but not
//! listening (default `listen`): the kernel's listening table then does not
//! grow with N, only the number of processes and fds does.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use criterion::Criterion;
use gw_portguard::{Expected, Options};

const M: usize = 10;

/// A helper process that exits when its stdin closes (drop).
struct Helper {
    child: Child,
}

impl Helper {
    fn spawn(args: &[&str]) -> (Self, String) {
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("benches/port_load.py");
        let mut child = Command::new("python3")
            .arg(script)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("python3");
        let mut line = String::new();
        BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("helper line");
        (Self { child }, line.trim().to_owned())
    }
}

impl Drop for Helper {
    fn drop(&mut self) {
        drop(self.child.stdin.take());
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

use std::os::unix::process::CommandExt;

fn have(tool: &str) -> bool {
    Command::new(tool).arg("-v").stdout(Stdio::null()).stderr(Stdio::null()).status().is_ok()
}

type Run = Box<dyn FnMut()>;

fn contenders(port: u16, pid: u32) -> Vec<(&'static str, Run)> {
    let p = port.to_string();
    let pid_s = pid.to_string();
    let mut v: Vec<(&'static str, Run)> = Vec::new();
    let expected = Expected::new(pid);
    let opts = Options { timeout: Duration::from_secs(5), ..Options::default() };
    v.push((
        "gw_lib",
        Box::new(move || {
            let verdict = gw_portguard::verify(port, &expected, &opts);
            assert!(verdict.is_owned(), "{verdict}");
        }),
    ));
    let (p1, pid1) = (p.clone(), pid_s.clone());
    v.push((
        "gw_cli",
        Box::new(move || {
            let o = Command::new(env!("CARGO_BIN_EXE_gw"))
                .args(["port", "verify", &p1, "--pid", &pid1, "--timeout", "5s"])
                .output()
                .expect("gw");
            assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
        }),
    ));
    if have("ss") {
        let (filter, needle) = (format!("sport = :{p}"), format!(":{p}"));
        v.push((
            "ss",
            Box::new(move || {
                let o = Command::new("ss").args(["-Hltnp", &filter]).output().expect("ss");
                assert!(o.status.success() && String::from_utf8_lossy(&o.stdout).contains(&needle));
            }),
        ));
    } else {
        eprintln!("port bench: `ss` not found (Debian package iproute2): ss comparison skipped");
    }
    if have("lsof") {
        let (sel, needle) = (format!("-iTCP:{p}"), format!(":{p}"));
        v.push((
            "lsof",
            Box::new(move || {
                let o = Command::new("lsof").args(["-nP", &sel, "-sTCP:LISTEN"]).output().expect("lsof");
                assert!(String::from_utf8_lossy(&o.stdout).contains(&needle));
            }),
        ));
    } else {
        eprintln!("port bench: `lsof` not found (Debian package lsof): lsof comparison skipped");
    }
    v
}

fn median(mut xs: Vec<f64>) -> f64 {
    xs.sort_by(f64::total_cmp);
    xs[xs.len() / 2]
}

/// Interleaved rounds: each round times every contender once, in turn.
fn paired(cs: &mut [(&'static str, Run)], rounds: usize) -> Vec<(&'static str, f64)> {
    let mut times = vec![Vec::with_capacity(rounds); cs.len()];
    for _ in 0..rounds {
        for (i, (_, f)) in cs.iter_mut().enumerate() {
            let t = Instant::now();
            f();
            times[i].push(t.elapsed().as_secs_f64());
        }
    }
    cs.iter().map(|(n, _)| *n).zip(times.into_iter().map(median)).collect()
}

fn peak_rss(args: &[&str]) -> Option<u64> {
    let o = Command::new("/usr/bin/time").arg("-v").args(args).stdout(Stdio::null()).output().ok()?;
    let err = String::from_utf8_lossy(&o.stderr);
    err.lines().find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes): ")?.parse().ok())
}

fn main() {
    let test_mode = std::env::args().any(|a| a == "--test");
    let series: Vec<usize> = match std::env::var("GW_PORT_BENCH_SERIES") {
        Ok(s) => s.split(',').map(|n| n.trim().parse().expect("GW_PORT_BENCH_SERIES: numbers")).collect(),
        Err(_) if test_mode => vec![0, 20],
        Err(_) => vec![0, 100, 500, 1000],
    };
    let rounds = if test_mode { 1 } else { 31 };
    let kind = std::env::var("GW_PORT_BENCH_LOAD").unwrap_or_else(|_| "listen".to_owned());
    assert!(kind == "listen" || kind == "bound", "GW_PORT_BENCH_LOAD: listen or bound");
    let mut c = Criterion::default()
        .sample_size(20)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(3))
        .configure_from_args();
    let (service, port) = Helper::spawn(&["service"]);
    let port: u16 = port.parse().expect("service port");
    let pid = service.child.id();
    let mut rows: Vec<(usize, Vec<(&'static str, f64)>)> = Vec::new();
    let mut rss = Vec::new();
    for &n in &series {
        let (load, ready) = Helper::spawn(&["load", &n.to_string(), &M.to_string(), &kind]);
        assert_eq!(ready, format!("ready {n}"), "load did not start");
        let mut cs = contenders(port, pid);
        let suffix = if kind == "listen" { String::new() } else { format!("_{kind}") };
        let mut group = c.benchmark_group(format!("port_verify_n{n}{suffix}"));
        for (name, f) in cs.iter_mut() {
            group.bench_function(*name, |b| b.iter(&mut *f));
        }
        group.finish();
        rows.push((n, paired(&mut cs, rounds)));
        if n == 500 && !test_mode && Path::new("/usr/bin/time").exists() {
            let (p, pid_s) = (port.to_string(), pid.to_string());
            let gw = env!("CARGO_BIN_EXE_gw");
            let filter = format!("sport = :{p}");
            let sel = format!("-iTCP:{p}");
            rss.push(("gw port verify", peak_rss(&[gw, "port", "verify", &p, "--pid", &pid_s])));
            rss.push(("ss -Hltnp", peak_rss(&["ss", "-Hltnp", &filter])));
            rss.push(("lsof -nP -iTCP -sTCP:LISTEN", peak_rss(&["lsof", "-nP", &sel, "-sTCP:LISTEN"])));
        }
        drop(load);
    }
    drop(service);
    c.final_summary();

    println!("\nport bench: paired medians of {rounds} interleaved rounds, M = {M} {kind} sockets per load process");
    println!("ratios: contender time / gw time (higher = gw faster); 'vs N=0': time / own time at N = 0");
    let base: Vec<(&str, f64)> = rows.first().map(|r| r.1.clone()).unwrap_or_default();
    for (n, meds) in &rows {
        let t = |name: &str| meds.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let t0 = |name: &str| base.iter().find(|(k, _)| *k == name).map(|(_, v)| *v);
        let ratio = |a: Option<f64>, b: Option<f64>| match (a, b) {
            (Some(a), Some(b)) => format!("{:.1}x", a / b),
            _ => "n/a".to_owned(),
        };
        println!(
            "N={n:5}: ss/gw_cli {} lsof/gw_cli {} ss/gw_lib {} lsof/gw_lib {} | vs N=0: gw_lib {} gw_cli {} ss {} lsof {}",
            ratio(t("ss"), t("gw_cli")),
            ratio(t("lsof"), t("gw_cli")),
            ratio(t("ss"), t("gw_lib")),
            ratio(t("lsof"), t("gw_lib")),
            ratio(t("gw_lib"), t0("gw_lib")),
            ratio(t("gw_cli"), t0("gw_cli")),
            ratio(t("ss"), t0("ss")),
            ratio(t("lsof"), t0("lsof")),
        );
    }
    for (what, kib) in rss {
        println!("peak RSS at N=500: {what}: {}", kib.map_or_else(|| "n/a".to_owned(), |k| format!("{k} KiB")));
    }
}
