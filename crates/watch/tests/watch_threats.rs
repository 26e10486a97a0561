//! Security-regression tests of gw-watch, named by threat id (WATCH-1 … 8):
//! real processes where the threat is about processes, virtual time where
//! it is about the schedule.

mod support;

use std::cell::RefCell;
use std::fs;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use gw_watch::{
    ApprovalConfig, ApprovalWatcher, CallReport, Clock, CommandLine, Event, OneShotLimits, Outcome, ProcessRunner,
    Rejection, Runner, Schedule, SystemClock, VirtualClock,
};
use support::{ms, never, s};

/// A shell script in `dir`, run as `sh PATH ARGS` (sh is the test's choice:
/// gw-watch itself never runs a shell).
fn script(dir: &Path, name: &str, body: &str) -> PathBuf {
    let p = dir.join(name);
    fs::write(&p, body).unwrap();
    p
}

fn cmd(words: &[&str]) -> CommandLine {
    CommandLine::from_argv(words.iter().map(|w| (*w).to_owned()).collect()).unwrap()
}

fn config(list: CommandLine, approve: CommandLine, allow: &[&str], timeout: Duration) -> ApprovalConfig {
    ApprovalConfig::new(list, approve, allow.iter().map(|a| (*a).to_owned()), timeout).unwrap()
}

fn lines(p: &Path) -> Vec<String> {
    fs::read_to_string(p).unwrap_or_default().lines().map(str::to_owned).collect()
}

/// Whether the process is gone (or a zombie waiting for its reaper).
fn gone(pid: u32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('Z')),
    }
}

fn wait_gone(pid: u32) -> bool {
    let until = Instant::now() + s(10);
    while Instant::now() < until {
        if gone(pid) {
            return true;
        }
        std::thread::sleep(ms(20));
    }
    false
}

/// A list command that hangs and forks a grandchild holding its stdout.
fn hanging_list(dir: &Path) -> CommandLine {
    let pidfile = dir.join("grandchild.pid");
    let sc = script(dir, "hang.sh", &format!("sleep 1000 &\necho $! > '{}'\nwait\n", pidfile.display()));
    cmd(&["sh", sc.to_str().unwrap()])
}

fn read_pid(dir: &Path) -> u32 {
    fs::read_to_string(dir.join("grandchild.pid")).unwrap().trim().parse().unwrap()
}

#[test]
fn watch_1_hanging_call_is_killed_with_its_whole_group() {
    let dir = tempfile::tempdir().unwrap();
    let list = hanging_list(dir.path());
    let t0 = Instant::now();
    let rep = ProcessRunner::default().run(list.argv(), s(1));
    let took = t0.elapsed();
    assert_eq!(rep.outcome, Outcome::Transient, "{}", rep.detail);
    assert!(rep.timed_out);
    // Not pinned by the grandchild holding the pipe (it sleeps 1000 s).
    assert!(took < s(60), "the call took {took:?}");
    let pid = read_pid(dir.path());
    assert!(wait_gone(pid), "grandchild {pid} of the timed-out call survived");
}

#[test]
fn watch_1_leftover_processes_of_a_finished_call_are_killed() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("grandchild.pid");
    // Exits at once, leaving a background grandchild that holds stdout.
    let sc = script(dir.path(), "leave.sh", &format!("sleep 1000 &\necho $! > '{}'\necho '[]'\n", pidfile.display()));
    let t0 = Instant::now();
    let rep = ProcessRunner::default().run(cmd(&["sh", sc.to_str().unwrap()]).argv(), s(100));
    assert!(t0.elapsed() < s(60));
    assert_eq!(rep.outcome, Outcome::Done, "{}", rep.detail);
    assert_eq!(rep.stdout, b"[]\n");
    let pid = read_pid(dir.path());
    assert!(wait_gone(pid), "grandchild {pid} left behind by the call survived");
}

#[test]
fn watch_1_hanging_list_does_not_pin_the_watcher_past_its_deadline() {
    let dir = tempfile::tempdir().unwrap();
    let approve = cmd(&["true", "{id}"]);
    // The call timeout (100 s) is longer than the deadline (1 s): the
    // deadline must cut the call.
    let mut w =
        ApprovalWatcher::new(config(hanging_list(dir.path()), approve, &["c"], s(100)), ProcessRunner::default());
    let schedule = Schedule::new(ms(100), s(10), s(30), s(1)).unwrap();
    let mut log: Vec<Event> = Vec::new();
    let t0 = Instant::now();
    let rep = w.run(&schedule, &SystemClock, &mut log, &never);
    let took = t0.elapsed();
    assert!(took < s(60), "the run took {took:?} with a 1 s deadline");
    assert!(!rep.stopped);
    assert!(log.iter().any(|e| matches!(e, Event::ListFailed { outcome: Outcome::Transient, .. })), "{log:?}");
    assert!(matches!(log.last(), Some(Event::Finished { reason: "deadline", .. })));
    let pid = read_pid(dir.path());
    assert!(wait_gone(pid), "grandchild {pid} survived the deadline");
}

/// The documented limit: a process that leaves the call's group (`setsid`)
/// cannot be killed with it, but it cannot pin the call either: its pipe is
/// abandoned after the grace and the call is a failure.
#[test]
fn watch_1_escaped_process_does_not_pin_the_call() {
    let dir = tempfile::tempdir().unwrap();
    let pidfile = dir.path().join("escaped.pid");
    // The escaped process writes its pid only once it is in its own
    // session, and the script waits for that before it exits.
    let body = format!(
        "setsid sh -c 'echo $$ > \"$1\"; exec sleep 1000' sh '{0}' &\nwhile [ ! -s '{0}' ]; do sleep 0.01; done\necho '[]'\n",
        pidfile.display()
    );
    let sc = script(dir.path(), "escape.sh", &body);
    let t0 = Instant::now();
    let rep = ProcessRunner::default().with_grace(ms(300)).run(cmd(&["sh", sc.to_str().unwrap()]).argv(), s(100));
    let took = t0.elapsed();
    let pid: i32 = fs::read_to_string(&pidfile).unwrap().trim().parse().unwrap();
    // Clean up the escaped process (this test started it).
    let _ = rustix::process::kill_process(rustix::process::Pid::from_raw(pid).unwrap(), rustix::process::Signal::KILL);
    assert!(took < s(60), "{took:?}");
    assert_eq!(rep.outcome, Outcome::Permanent, "{}", rep.detail);
    assert!(rep.detail.contains("left its group"), "{}", rep.detail);
}

/// The approve script of WATCH-2: its first run hangs, later runs succeed;
/// every run is counted, every success recorded.
fn flaky_approve(dir: &Path) -> CommandLine {
    let sc = script(
        dir,
        "approve.sh",
        r#"state="$1"; id="$2"
n=$(cat "$state/count" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "$state/count"
if [ "$n" -eq 1 ]; then sleep 1000; fi
echo "$id" >> "$state/approved"
"#,
    );
    cmd(&["sh", sc.to_str().unwrap(), dir.to_str().unwrap(), "{id}"])
}

fn printf_list(json: &str) -> CommandLine {
    cmd(&["printf", "%s", json])
}

#[test]
fn watch_2_timed_out_approval_is_retried_and_approved_exactly_once() {
    let dir = tempfile::tempdir().unwrap();
    // The request stays listed for the whole run, even after approval.
    let list = printf_list(r#"[{"id":"req-1","client":"alice","scopes":["operator.pairing"]}]"#);
    let mut w =
        ApprovalWatcher::new(config(list, flaky_approve(dir.path()), &["alice"], ms(300)), ProcessRunner::default());
    let schedule = Schedule::new(ms(50), s(10), s(30), ms(2500)).unwrap();
    let mut log: Vec<Event> = Vec::new();
    let rep = w.run(&schedule, &SystemClock, &mut log, &never);
    assert_eq!(lines(&dir.path().join("approved")), ["req-1"], "approved exactly once");
    assert_eq!(lines(&dir.path().join("count")), ["2"], "one timed-out attempt, one success, never again");
    assert_eq!(rep.approved.len(), 1);
    let failed: Vec<_> = log.iter().filter(|e| matches!(e, Event::ApproveFailed { .. })).collect();
    assert!(matches!(failed.as_slice(), [Event::ApproveFailed { outcome: Outcome::Transient, .. }]), "{log:?}");
    assert_eq!(log.iter().filter(|e| matches!(e, Event::Approved { .. })).count(), 1);
    assert!(wait_gone_all_sleepers(dir.path()));
}

/// No `sleep 1000` started by the test scripts in `dir` survives.
fn wait_gone_all_sleepers(dir: &Path) -> bool {
    let needle = dir.to_str().unwrap().to_owned();
    let until = Instant::now() + s(10);
    'outer: while Instant::now() < until {
        for e in fs::read_dir("/proc").unwrap().flatten() {
            let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else { continue };
            let Ok(cmdline) = fs::read(format!("/proc/{pid}/cmdline")) else { continue };
            if String::from_utf8_lossy(&cmdline).contains(&needle) && !gone(pid) {
                std::thread::sleep(ms(20));
                continue 'outer;
            }
        }
        return true;
    }
    false
}

/// A fake runner in virtual time: the list answers what `list` says at the
/// current virtual time; approvals answer `approve`; each call takes `cost`.
struct FakeRunner<'c, L, A> {
    clock: &'c VirtualClock,
    list: L,
    approve: A,
    cost: Duration,
    list_calls: RefCell<Vec<Duration>>,
    approve_calls: RefCell<Vec<(Duration, String)>>,
}

impl<'c, L: Fn(Duration) -> String, A: Fn(&str) -> Outcome> FakeRunner<'c, L, A> {
    fn new(clock: &'c VirtualClock, cost: Duration, list: L, approve: A) -> Self {
        Self { clock, list, approve, cost, list_calls: RefCell::default(), approve_calls: RefCell::default() }
    }
}

impl<L: Fn(Duration) -> String, A: Fn(&str) -> Outcome> Runner for FakeRunner<'_, L, A> {
    fn run(&self, argv: &[String], timeout: Duration) -> CallReport {
        let at = self.clock.elapsed();
        self.clock.advance(self.cost.min(timeout));
        let mut rep = CallReport { outcome: Outcome::Done, stdout: vec![], detail: String::new(), timed_out: false };
        if argv[0] == "list" {
            self.list_calls.borrow_mut().push(at);
            rep.stdout = (self.list)(at).into_bytes();
        } else {
            self.approve_calls.borrow_mut().push((at, argv[1].clone()));
            rep.outcome = (self.approve)(&argv[1]);
        }
        rep
    }
}

fn fake_config(allow: &[&str]) -> ApprovalConfig {
    config(cmd(&["list"]), cmd(&["approve", "{id}"]), allow, s(10))
}

#[test]
fn watch_3_sticky_pending_request_does_not_keep_the_fast_cadence() {
    let clock = VirtualClock::new();
    // One approvable-looking request whose approval always fails
    // transiently (never handled), one rejected one: both stay pending.
    let sticky = r#"[{"id":"stuck","client":"alice","scopes":[]},{"id":"evil","client":"mallory","scopes":[]}]"#;
    let runner = FakeRunner::new(&clock, ms(20), |_| sticky.to_owned(), |_| Outcome::Transient);
    let mut w = ApprovalWatcher::new(fake_config(&["alice"]), &runner);
    let (fast, window, slow, deadline) = (s(1), s(600), s(30), s(8 * 3600));
    let schedule = Schedule::new(fast, window, slow, deadline).unwrap();
    let rep = w.run(&schedule, &clock, &mut Vec::new(), &never);
    let polls = runner.list_calls.borrow();
    let after: Vec<_> = polls.windows(2).filter(|p| p[1] > window).map(|p| p[1] - p[0]).collect();
    assert!(!after.is_empty());
    let too_soon = after.iter().filter(|gap| **gap < slow).count();
    assert_eq!(too_soon, 0, "{too_soon} polls after the window came sooner than {slow:?}");
    assert!(rep.slow_polls as u128 <= (deadline - window).as_millis() / slow.as_millis() + 1);
    assert!(rep.fast_polls >= 500, "the fast window was used: {}", rep.fast_polls);
    assert!(polls.iter().all(|p| *p <= deadline));
}

#[test]
fn watch_4_unknown_client_is_never_approved_and_not_retried() {
    let dir = tempfile::tempdir().unwrap();
    let log_file = dir.path().join("calls");
    let approve = script(dir.path(), "approve.sh", &format!("echo \"$1\" >> '{}'\n", log_file.display()));
    let list = printf_list(
        r#"[{"id":"evil-1","client":"mallory","scopes":["operator.admin"]},{"id":"ok-1","client":"alice","scopes":[]},{"id":"evil-2","client":"alice ","scopes":[]}]"#,
    );
    let approve = cmd(&["sh", approve.to_str().unwrap(), "{id}"]);
    let mut w = ApprovalWatcher::new(config(list, approve, &["alice"], s(10)), ProcessRunner::default());
    let schedule = Schedule::new(ms(50), s(10), s(30), ms(800)).unwrap();
    let mut log: Vec<Event> = Vec::new();
    let rep = w.run(&schedule, &SystemClock, &mut log, &never);
    assert!(rep.fast_polls >= 3, "several polls saw the requests: {}", rep.fast_polls);
    assert_eq!(lines(&log_file), ["ok-1"], "only the allowlisted client's request reached the approve command");
    let rejected: Vec<_> = log
        .iter()
        .filter_map(|e| match e {
            Event::Rejected { id, .. } => Some(id.as_str()),
            _ => None,
        })
        .collect();
    assert_eq!(rejected, ["evil-1", "evil-2"], "each rejected request is logged exactly once");
    assert_eq!(rep.rejected.len(), 2);
}

/// WATCH-8: a client id is whatever the asking device declares, so a
/// second device can ask as `alice` too. With `alice`'s device pinned, only
/// its request reaches the approve command: another device declaring the
/// same client, and a request the list names no device for, are rejected
/// once (with why) and never approved; an unlisted client stays rejected
/// for its client first.
#[test]
fn watch_8_pinned_devices_approve_only_their_own_requests() {
    let dir = tempfile::tempdir().unwrap();
    let log_file = dir.path().join("calls");
    let approve = script(dir.path(), "approve.sh", &format!("echo \"$1\" >> '{}'\n", log_file.display()));
    let alice = "5c29b78f10a35a49a6231d08ee840a04bcc3a37a4f9d46df327dec56b8a9b7c9";
    let spoof = "fe812c12f3ab4ce6ac5db69ac352f906cb1b11ef43fb33e252ef7ff552263889";
    let list = printf_list(&format!(
        r#"{{"pending":[{{"requestId":"spoof-1","clientId":"alice","deviceId":"{spoof}","scopes":["operator.admin"]}},{{"requestId":"ok-1","clientId":"alice","deviceId":"{alice}"}},{{"requestId":"bare-1","clientId":"alice"}},{{"requestId":"other-1","clientId":"mallory","deviceId":"{alice}"}}],"paired":[]}}"#
    ));
    let approve = cmd(&["sh", approve.to_str().unwrap(), "{id}"]);
    let config = config(list, approve, &["alice"], s(10)).with_devices([alice.to_owned()]).unwrap();
    let mut w = ApprovalWatcher::new(config, ProcessRunner::default());
    let schedule = Schedule::new(ms(50), s(10), s(30), ms(800)).unwrap();
    let mut log: Vec<Event> = Vec::new();
    let rep = w.run(&schedule, &SystemClock, &mut log, &never);
    assert!(rep.fast_polls >= 3, "several polls saw the requests: {}", rep.fast_polls);
    assert_eq!(lines(&log_file), ["ok-1"], "only the pinned device's request reached the approve command");
    let rejected: Vec<_> = log
        .iter()
        .filter_map(|e| match e {
            Event::Rejected { id, device, why, .. } => Some((id.as_str(), device.as_deref(), *why)),
            _ => None,
        })
        .collect();
    assert_eq!(
        rejected,
        [
            ("spoof-1", Some(spoof), Rejection::Device),
            ("bare-1", None, Rejection::NoDevice),
            ("other-1", Some(alice), Rejection::Client),
        ],
        "each rejected request is logged exactly once, with why"
    );
    let approved: Vec<_> = log
        .iter()
        .filter_map(|e| match e {
            Event::Approved { id, device, .. } => Some((id.as_str(), device.as_deref())),
            _ => None,
        })
        .collect();
    assert_eq!(approved, [("ok-1", Some(alice))]);
    // What the log says, and what it says in JSON.
    let shown: Vec<String> =
        log.iter().filter(|e| matches!(e, Event::Rejected { .. })).map(ToString::to_string).collect();
    assert!(shown[0].contains(spoof) && shown[0].contains("--allow-device"), "{}", shown[0]);
    assert!(shown[1].contains("names no device"), "{}", shown[1]);
    assert!(shown[2].contains("is not allowlisted"), "{}", shown[2]);
    let json = serde_json::to_value(log.iter().find(|e| matches!(e, Event::Rejected { .. })).unwrap()).unwrap();
    assert_eq!(json["why"], "device");
    assert_eq!(json["device"], spoof);
}

/// WATCH-8: a pinned device id is checked like a request id (it could
/// otherwise never match, or smuggle an option into a log line).
#[test]
fn watch_8_a_malformed_pinned_device_is_refused_up_front() {
    for bad in ["", "-x", "a b", "é", &"d".repeat(129)] {
        let e = config(cmd(&["true"]), cmd(&["true", "{id}"]), &["alice"], s(1))
            .with_devices([bad.to_owned()])
            .unwrap_err();
        assert_eq!(e.kind(), gw_watch::ErrorKind::InvalidConfig, "{bad:?}");
        assert_eq!(e.subject(), "--allow-device", "{bad:?}");
    }
}

#[test]
fn watch_5_one_shot_respects_its_count_cap() {
    let dir = tempfile::tempdir().unwrap();
    let log_file = dir.path().join("calls");
    let approve = script(dir.path(), "approve.sh", &format!("echo \"$1\" >> '{}'\n", log_file.display()));
    let reqs: Vec<String> = (1..=5).map(|i| format!(r#"{{"id":"r{i}","client":"alice","scopes":[]}}"#)).collect();
    let list = printf_list(&format!("[{}]", reqs.join(",")));
    let approve = cmd(&["sh", approve.to_str().unwrap(), "{id}"]);
    let mut w = ApprovalWatcher::new(config(list, approve, &["alice"], s(10)), ProcessRunner::default());
    let rep = w.one_shot(OneShotLimits { max_approvals: 2, max_time: s(60) }, &SystemClock, &mut Vec::new());
    assert_eq!(lines(&log_file), ["r1", "r2"]);
    assert_eq!((rep.listed, rep.attempts, rep.capped_count), (5, 2, true));
}

#[test]
fn watch_5_one_shot_respects_its_time_cap_and_never_fails_the_caller() {
    let dir = tempfile::tempdir().unwrap();
    // Every approval hangs; the call timeout (100 s) is longer than the cap.
    let approve = script(dir.path(), "approve.sh", "sleep 1000\n");
    let list = printf_list(r#"[{"id":"r1","client":"alice","scopes":[]},{"id":"r2","client":"alice","scopes":[]}]"#);
    let approve = cmd(&["sh", approve.to_str().unwrap(), "{id}"]);
    let mut w = ApprovalWatcher::new(config(list, approve, &["alice"], s(100)), ProcessRunner::default());
    let t0 = Instant::now();
    let rep = w.one_shot(OneShotLimits { max_approvals: 10, max_time: ms(700) }, &SystemClock, &mut Vec::new());
    assert!(t0.elapsed() < s(60), "the pass took {:?}", t0.elapsed());
    assert!(rep.approved.is_empty());
    assert!(rep.capped_time, "{rep:?}");
    assert!(wait_gone_all_sleepers(dir.path()));

    // A list command that cannot even start: reported, not an error.
    let mut w = ApprovalWatcher::new(
        config(cmd(&["/nonexistent/gw-list"]), cmd(&["true", "{id}"]), &["alice"], s(5)),
        ProcessRunner::default(),
    );
    let rep = w.one_shot(OneShotLimits { max_approvals: 1, max_time: s(5) }, &SystemClock, &mut Vec::new());
    assert!(rep.list_error.as_deref().is_some_and(|e| e.contains("could not be started")), "{rep:?}");
}

#[test]
fn watch_6_keepalive_polls_continue_and_a_late_request_is_approved() {
    let clock = VirtualClock::new();
    let late_at = s(3 * 3600);
    let runner = FakeRunner::new(
        &clock,
        ms(20),
        move |at| {
            if at >= late_at { r#"[{"id":"late","client":"alice","scopes":[]}]"#.to_owned() } else { "[]".to_owned() }
        },
        |_| Outcome::Done,
    );
    let mut w = ApprovalWatcher::new(fake_config(&["alice"]), &runner);
    let (window, slow, deadline) = (s(600), s(30), s(8 * 3600));
    let schedule = Schedule::new(s(1), window, slow, deadline).unwrap();
    let rep = w.run(&schedule, &clock, &mut Vec::new(), &never);
    let approvals = runner.approve_calls.borrow();
    assert_eq!(approvals.len(), 1, "approved once: {approvals:?}");
    assert_eq!(approvals[0].1, "late");
    assert!(approvals[0].0 >= late_at && approvals[0].0 < late_at + slow + s(1), "approved within one slow interval");
    let last = *runner.list_calls.borrow().last().unwrap();
    assert!(last > deadline - slow - s(1) && last <= deadline, "polls go on until the deadline: last at {last:?}");
    assert!(rep.slow_polls > 900, "keepalive cadence for the rest of the deadline: {}", rep.slow_polls);
    assert!(clock.elapsed() <= deadline + s(1));
}

/// The ids of a report's list or a watcher's set, as text.
fn names<'a>(ids: impl IntoIterator<Item = &'a gw_watch::RequestId>) -> Vec<&'a str> {
    ids.into_iter().map(|r| r.as_str()).collect()
}

/// What a run did is what it reports and what the watcher holds, and it polls
/// on its schedule until its deadline: in virtual time with calls that take
/// none, fast polls at 0, 1, 2 and 3 s (the window's end is still fast), then
/// a slow one at 8 s. The next is due at 13 s, the deadline, when no time is
/// left for a list call: the run ends there, and logs no poll for it. The
/// switch to the slow cadence is logged once, at the first slow poll.
#[test]
fn a_run_reports_what_it_did_and_polls_up_to_its_deadline() {
    let clock = VirtualClock::new();
    let list = r#"[{"id":"ok","client":"alice","scopes":[]},{"id":"evil","client":"mallory","scopes":[]},
                   {"id":"broken","client":"alice","scopes":[]}]"#;
    let approve = |id: &str| if id == "broken" { Outcome::Permanent } else { Outcome::Done };
    let runner = FakeRunner::new(&clock, Duration::ZERO, |_| list.to_owned(), approve);
    let mut w = ApprovalWatcher::new(fake_config(&["alice"]), &runner);
    let schedule = Schedule::new(s(1), s(3), s(5), s(13)).unwrap();
    let mut log: Vec<Event> = Vec::new();
    let rep = w.run(&schedule, &clock, &mut log, &never);

    assert_eq!(*runner.list_calls.borrow(), [s(0), s(1), s(2), s(3), s(8)]);
    assert_eq!((rep.fast_polls, rep.slow_polls), (4, 1));
    assert_eq!(
        (names(&rep.approved), names(&rep.rejected), names(&rep.failed)),
        (vec!["ok"], vec!["evil"], vec!["broken"])
    );
    assert_eq!(
        (names(w.approved()), names(w.rejected()), names(w.failed())),
        (vec!["ok"], vec!["evil"], vec!["broken"])
    );
    let approvals: Vec<String> = runner.approve_calls.borrow().iter().map(|(_, id)| id.clone()).collect();
    assert_eq!(approvals, ["ok", "broken"], "each approved once, the permanent failure not retried");

    let slow: Vec<&Event> = log.iter().filter(|e| matches!(e, Event::SlowPhase { .. })).collect();
    assert_eq!(slow, [&Event::SlowPhase { at_ms: 8000 }]);
    let polls: Vec<u64> =
        log.iter().filter_map(|e| if let Event::Polled { at_ms, .. } = e { Some(*at_ms) } else { None }).collect();
    assert_eq!(polls, [0, 1000, 2000, 3000, 8000]);
    assert_eq!(log.last(), Some(&Event::Finished { at_ms: 13_000, reason: "deadline" }));
}

/// A runner whose list call takes `took` of virtual time and fails,
/// timed out or not.
struct SlowList<'c> {
    clock: &'c VirtualClock,
    took: Duration,
    timed_out: bool,
}

impl Runner for SlowList<'_> {
    fn run(&self, _argv: &[String], timeout: Duration) -> CallReport {
        self.clock.advance(self.took.min(timeout));
        CallReport { outcome: Outcome::Transient, stdout: vec![], detail: "failed".into(), timed_out: self.timed_out }
    }
}

/// A pass says it hit its time cap only when its list call timed out at
/// the cap: a list that fails early, or times out on its own shorter
/// timeout, leaves time for the next pass.
#[test]
fn a_pass_is_capped_only_when_its_time_is_up() {
    let clock = VirtualClock::new();
    let cases = [
        (s(60), true, s(2), true),  // ran into the pass's cap
        (s(0), false, s(2), false), // failed at once
        (s(0), true, s(2), false),  // its own timeout, before the cap (a runner that says so)
        (s(1), false, s(2), false), // failed within the cap
    ];
    for (took, timed_out, cap, capped) in cases {
        let runner = SlowList { clock: &clock, took, timed_out };
        let mut w = ApprovalWatcher::new(fake_config(&["alice"]), &runner);
        let rep = w.pass(&clock, &mut Vec::new(), Clock::now(&clock) + cap, 10);
        assert_eq!(rep.capped_time, capped, "took {took:?}, timed out {timed_out}, cap {cap:?}");
        assert_eq!(rep.list_error.as_deref(), Some("failed"));
    }
}

/// A failed approval says in the log whether it will be tried again
/// (WATCH-2): a transient failure is, a permanent one is not.
#[test]
fn watch_2_a_failed_approval_says_whether_it_is_retried() {
    let e = |outcome| {
        Event::ApproveFailed { id: "r1".into(), client: "alice".into(), outcome, detail: "exit 75".into() }.to_string()
    };
    assert_eq!(e(Outcome::Transient), "approval of r1 for \"alice\" failed (transient, will retry): exit 75");
    assert_eq!(e(Outcome::Permanent), "approval of r1 for \"alice\" failed (permanent, not retried): exit 75");
}
