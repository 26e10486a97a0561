//! gw-watch in virtual time: the schedule's invariants (proptest) and the
//! watchdog's backoff, rate limit and "one recovery at a time".

mod support;

use std::cell::{Cell, RefCell};
use std::fs;
use std::time::{Duration, Instant};

use gw_watch::{
    CallReport, CommandLine, Event, Outcome, ProcessRunner, RateLimit, Runner, Schedule, VirtualClock, Watchdog,
    WatchdogConfig, WatchdogExit,
};
use proptest::prelude::*;
use support::{ms, never, s};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    /// Simulates a run whose polls take arbitrary times: polls never come
    /// closer than the fast interval, never at fast spacing after the window
    /// (WATCH-3), never after the deadline, and keep coming until it (WATCH-6).
    #[test]
    fn schedule_invariants(
        fast in 1u64..5_000,
        window in 0u64..100_000,
        slow_extra in 0u64..60_000,
        deadline in 1u64..400_000,
        costs in prop::collection::vec(0u64..20_000, 1..64),
    ) {
        let (fast, window, slow, deadline) = (ms(fast), ms(window), ms(fast + slow_extra), ms(deadline));
        let sch = Schedule::new(fast, window, slow, deadline).unwrap();
        let mut polls = vec![Duration::ZERO];
        let mut i = 0;
        loop {
            let last = *polls.last().unwrap();
            let now = last + ms(costs[i % costs.len()]);
            i += 1;
            match sch.next_poll(last, now) {
                Some(next) => {
                    prop_assert!(next >= now, "a poll before the previous one finished");
                    prop_assert!(next <= deadline, "a poll after the deadline");
                    prop_assert!(next - last >= fast, "polls closer than the fast interval");
                    if next > window {
                        prop_assert!(next - last >= slow, "fast cadence after the window: {:?} -> {:?}", last, next);
                    }
                    polls.push(next);
                }
                None => {
                    // Stopping is only allowed when no legal slot is left: a
                    // legal slot is not before `now` nor `last + fast`, and is
                    // either within the window or `slow` after `last`.
                    let a = now.max(last + fast);
                    let earliest = if a <= window { a } else { a.max(last + slow) };
                    prop_assert!(earliest > deadline, "stopped early at {:?}", last);
                    break;
                }
            }
            prop_assert!(polls.len() < 1_000_000);
        }
    }
}

#[test]
fn schedule_refuses_nonsense() {
    assert!(Schedule::new(Duration::ZERO, s(1), s(1), s(1)).is_err());
    assert!(Schedule::new(s(2), s(1), s(1), s(10)).is_err(), "slow shorter than fast");
    assert!(Schedule::new(s(1), s(1), s(1), Duration::ZERO).is_err());
    let sch = Schedule::new(s(2), s(60), s(30), s(3600)).unwrap();
    assert_eq!(
        (sch.fast_interval(), sch.fast_window(), sch.slow_interval(), sch.deadline()),
        (s(2), s(60), s(30), s(3600))
    );
}

/// A recovery command in virtual time that takes `cost`.
struct FakeRecovery<'c> {
    clock: &'c VirtualClock,
    cost: Duration,
    calls: RefCell<Vec<Duration>>,
}

impl Runner for FakeRecovery<'_> {
    fn run(&self, _argv: &[String], timeout: Duration) -> CallReport {
        self.calls.borrow_mut().push(self.clock.elapsed());
        self.clock.advance(self.cost.min(timeout));
        CallReport { outcome: Outcome::Done, stdout: vec![], detail: "ok".into(), timed_out: false }
    }
}

fn wd_config(rate: RateLimit, deadline: Option<Duration>) -> WatchdogConfig {
    WatchdogConfig {
        interval: s(5),
        failures: 3,
        recovery: CommandLine::parse("restart-gateway").unwrap(),
        call_timeout: s(60),
        backoff_min: s(1),
        backoff_max: s(8),
        rate,
        deadline,
    }
}

#[test]
fn watchdog_backs_off_exponentially_with_jitter_then_hits_the_start_limit() {
    let clock = VirtualClock::new();
    let runner = FakeRecovery { clock: &clock, cost: s(2), calls: RefCell::default() };
    let mut wd = Watchdog::new(wd_config(RateLimit { burst: 5, window: s(600) }, None), &runner).unwrap();
    let probes = RefCell::new(Vec::new());
    let mut probe = || {
        probes.borrow_mut().push(clock.elapsed());
        Err("connection refused".to_owned())
    };
    let mut log: Vec<Event> = Vec::new();
    let rep = wd.run(&mut probe, &clock, &mut log, &never);
    assert_eq!(rep.exit, WatchdogExit::StartLimitHit);
    // The first probe after each recovery waits out its backoff: recovery
    // calls start at `calls` and take 2 s; the probe after the i-th comes
    // at least its backoff after it ended.
    let calls = runner.calls.borrow();
    let probes = probes.borrow();
    for (i, call) in calls.iter().enumerate() {
        let after = probes.iter().find(|p| *p > call).expect("a probe after each recovery");
        let waited = *after - (*call + s(2));
        assert!(waited >= ms(rep.backoffs_ms[i]), "recovery {i}: the next probe came {waited:?} after it");
    }
    assert_eq!(rep.recoveries, 5, "burst 5 within the window");
    // K = 3 failures before each recovery, and before the refused sixth.
    assert_eq!(rep.probe_failures, 18);
    // Bases 1, 2, 4, 8, 8 s; jitter adds [0, base).
    let bases = [1000u64, 2000, 4000, 8000, 8000];
    assert_eq!(rep.backoffs_ms.len(), 5);
    for (got, base) in rep.backoffs_ms.iter().zip(bases) {
        assert!(*got >= base && *got < 2 * base, "backoff {got} ms for base {base} ms");
    }
    assert!(log.iter().any(|e| matches!(e, Event::StartLimitHit { restarts: 5, .. })));
    assert!(matches!(log.last(), Some(Event::Finished { reason: "start_limit", .. })));
}

#[test]
fn watchdog_jitter_varies_between_runs() {
    let run = |seed| {
        let clock = VirtualClock::new();
        let runner = FakeRecovery { clock: &clock, cost: s(1), calls: RefCell::default() };
        let mut wd = Watchdog::new(wd_config(RateLimit { burst: 4, window: s(3600) }, None), &runner)
            .unwrap()
            .with_jitter_seed(seed);
        wd.run(&mut || Err("down".to_owned()), &clock, &mut Vec::new(), &never).backoffs_ms
    };
    assert_eq!(run(7), run(7), "a fixed seed is reproducible");
    assert_ne!(run(7), run(8), "different seeds jitter differently");
}

#[test]
fn watchdog_rate_limit_counts_only_recoveries_within_the_window() {
    let clock = VirtualClock::new();
    let runner = FakeRecovery { clock: &clock, cost: s(1), calls: RefCell::default() };
    let deadline = s(4 * 3600);
    let mut wd = Watchdog::new(wd_config(RateLimit { burst: 2, window: s(600) }, Some(deadline)), &runner).unwrap();
    // Down for 3 probes, then healthy until the next 20-minute mark.
    let clock_ref = &clock;
    let mut probe = move || {
        let t = clock_ref.elapsed().as_secs() % 1200;
        if t < 15 { Err("down".to_owned()) } else { Ok(()) }
    };
    let rep = wd.run(&mut probe, &clock, &mut Vec::new(), &never);
    assert_eq!(rep.exit, WatchdogExit::Deadline, "one recovery per 20 min never reaches 2 per 10 min");
    assert!(rep.recoveries >= 10, "recovered each outage: {}", rep.recoveries);
    let calls = runner.calls.borrow();
    assert!(calls.windows(2).all(|w| w[1] - w[0] >= s(600)), "{calls:?}");
    assert!(clock.elapsed() <= deadline + s(1));
}

#[test]
fn watchdog_healthy_probe_resets_failures_and_backoff() {
    let clock = VirtualClock::new();
    let runner = FakeRecovery { clock: &clock, cost: s(1), calls: RefCell::default() };
    let mut wd = Watchdog::new(wd_config(RateLimit { burst: 100, window: s(60) }, Some(s(600))), &runner)
        .unwrap()
        .with_jitter_seed(1);
    // fail, fail, ok, fail, fail, ok, ...: never K = 3 in a row.
    let n = Cell::new(0u32);
    let mut probe = || {
        n.set(n.get() + 1);
        if n.get().is_multiple_of(3) { Ok(()) } else { Err("flaky".to_owned()) }
    };
    let mut log: Vec<Event> = Vec::new();
    let rep = wd.run(&mut probe, &clock, &mut log, &never);
    assert_eq!(rep.recoveries, 0, "two failures then a success never trigger a recovery");
    assert!(rep.probes > 100);
    // Each success after failures is logged as the return to health.
    let healthy = log.iter().filter(|e| matches!(e, Event::Healthy { .. })).count();
    assert_eq!(healthy, rep.probes as usize / 3, "{} probes", rep.probes);

    // A probe that never fails is never "healthy again"; the log here is a
    // closure, as a caller's may be.
    let clock = VirtualClock::new();
    let runner = FakeRecovery { clock: &clock, cost: s(1), calls: RefCell::default() };
    let mut wd = Watchdog::new(wd_config(RateLimit { burst: 100, window: s(60) }, Some(s(600))), &runner).unwrap();
    let mut seen: Vec<Event> = Vec::new();
    let mut log = |e: &Event| seen.push(e.clone());
    let rep = wd.run(&mut || Ok(()), &clock, &mut log, &never);
    assert!(rep.probes > 100);
    assert!(!seen.is_empty(), "the closure got the events");
    assert!(!seen.iter().any(|e| matches!(e, Event::Healthy { .. })), "{seen:?}");
}

#[test]
fn watchdog_never_runs_two_recoveries_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let trace = dir.path().join("trace");
    let sc = dir.path().join("recover.sh");
    fs::write(&sc, format!("echo start >> '{0}'\nsleep 0.3\necho end >> '{0}'\n", trace.display())).unwrap();
    let config = WatchdogConfig {
        interval: ms(10),
        failures: 1,
        recovery: CommandLine::from_argv(vec!["sh".into(), sc.to_str().unwrap().into()]).unwrap(),
        call_timeout: s(30),
        backoff_min: ms(10),
        backoff_max: ms(20),
        rate: RateLimit { burst: 3, window: s(3600) },
        deadline: Some(s(60)),
    };
    let mut wd = Watchdog::new(config, ProcessRunner::default()).unwrap();
    let t0 = Instant::now();
    let rep = wd.run(&mut || Err("down".to_owned()), &gw_watch::SystemClock, &mut Vec::new(), &never);
    assert!(t0.elapsed() < s(60));
    assert_eq!(rep.exit, WatchdogExit::StartLimitHit);
    let got = fs::read_to_string(&trace).unwrap();
    assert_eq!(got, "start\nend\n".repeat(3), "recoveries overlapped or were cut short");
}

#[test]
fn watchdog_hanging_recovery_is_killed_at_its_timeout() {
    let config = WatchdogConfig {
        interval: ms(10),
        failures: 1,
        recovery: CommandLine::parse("sleep 1000").unwrap(),
        call_timeout: ms(200),
        backoff_min: ms(10),
        backoff_max: ms(10),
        rate: RateLimit { burst: 2, window: s(3600) },
        deadline: Some(s(60)),
    };
    let mut wd = Watchdog::new(config, ProcessRunner::default()).unwrap();
    let t0 = Instant::now();
    let mut log: Vec<Event> = Vec::new();
    let rep = wd.run(&mut || Err("down".to_owned()), &gw_watch::SystemClock, &mut log, &never);
    assert!(t0.elapsed() < s(30), "{:?}", t0.elapsed());
    assert_eq!(rep.recoveries, 2);
    let killed =
        log.iter().filter(|e| matches!(e, Event::RecoveryFinished { outcome: Outcome::Transient, .. })).count();
    assert_eq!(killed, 2, "{log:?}");
}

#[test]
fn watchdog_refuses_nonsense() {
    let base = wd_config(RateLimit { burst: 1, window: s(1) }, None);
    let bad = [
        WatchdogConfig { failures: 0, ..base.clone() },
        WatchdogConfig { interval: Duration::ZERO, ..base.clone() },
        WatchdogConfig { rate: RateLimit { burst: 0, window: s(1) }, ..base.clone() },
        WatchdogConfig { backoff_min: s(9), ..base.clone() },
    ];
    for c in bad {
        assert!(Watchdog::new(c, ProcessRunner::default()).is_err());
    }
}

/// A probe that raises the stop itself (gw watch health on an auth refusal:
/// no restart mends a refused credential) ends the watchdog before any
/// recovery, even at the failure that would trigger one.
#[test]
fn watch_7_a_refused_check_ends_the_watchdog_without_a_recovery() {
    let clock = VirtualClock::new();
    let runner = FakeRecovery { clock: &clock, cost: s(1), calls: RefCell::default() };
    let mut config = wd_config(RateLimit { burst: 5, window: s(600) }, Some(s(600)));
    config.failures = 1;
    let mut wd = Watchdog::new(config, &runner).unwrap();
    let fatal = Cell::new(false);
    let n = Cell::new(0u32);
    let mut probe = || {
        n.set(n.get() + 1);
        fatal.set(true);
        Err("the gateway refused the connect: AUTH_TOKEN_MISMATCH".to_owned())
    };
    let stop = || fatal.get();
    let mut log: Vec<Event> = Vec::new();
    let rep = wd.run(&mut probe, &clock, &mut log, &stop);
    assert_eq!(rep.exit, WatchdogExit::Stopped);
    assert_eq!((n.get(), rep.recoveries), (1, 0));
    assert!(runner.calls.borrow().is_empty(), "no recovery ran");
    assert!(log.iter().any(|e| matches!(e, Event::ProbeFailed { consecutive: 1, .. })));
}
