//! The verdict logic every platform shares: from what a source found — the
//! listeners on the port, every visible holder of each, the pinned process
//! and its tree — to [`Verdict`]. The sources (Linux: sock_diag or
//! `/proc/net` plus `/proc/PID/fd`; macOS: libproc and sysctl, see
//! `darwin.rs`) only observe; the rule "every listener held by the tree and
//! by nobody outside it, Unknown when a holder may be unseen" lives here
//! once, and is tested with a fake source on every platform.

use std::collections::{HashMap, HashSet};
use std::time::Instant;

use crate::verdict::Verdict;
use crate::{Expected, Listener, Options};

/// Why a check could not say "owned": a definite "no", or "cannot tell"
/// (which callers treat as "no").
#[derive(Debug)]
pub(crate) enum Fail {
    No(String),
    Unknown(String),
}

/// Who holds the wanted sockets, relative to the expected tree.
#[derive(Debug, Default)]
pub(crate) struct Attribution {
    /// socket id -> a pid of the tree holding it (the pinned process when it
    /// does).
    pub(crate) found: HashMap<u64, u32>,
    /// (socket id, pid): visible holders outside the tree.
    pub(crate) outside: Vec<(u64, u32)>,
    /// Why a holder may be invisible to us (a process whose fds cannot be
    /// read and that could hold the socket, hidepid, a descendant that
    /// changed during the check): then neither "held by the tree only" nor
    /// "held by nobody" is a proof.
    pub(crate) unseen: Option<String>,
}

/// What a platform's source observes. Each call is bounded by the deadline;
/// none decides anything.
pub(crate) trait Observer {
    /// The expected process, pinned (alive, with its start time).
    type Pin;

    /// Pins `pid` (and checks its start time, when one is expected).
    fn pin(&self, pid: u32, start_time: Option<u64>) -> Result<Self::Pin, Fail>;
    /// The pinned pid.
    fn pid_of(&self, pin: &Self::Pin) -> u32;
    /// Every TCP listener on `port`, each with its socket id and uid.
    fn listeners(&self, port: u16, opts: &Options, deadline: Instant) -> Result<Vec<Listener>, String>;
    /// Every visible holder of the `wanted` socket ids, attributed to the
    /// tree or the outside, and what may be unseen.
    fn attribute(
        &self,
        pin: &Self::Pin,
        descendants: bool,
        wanted: &HashSet<u64>,
        socket_uids: &HashSet<u32>,
        deadline: Instant,
    ) -> Result<Attribution, Fail>;
    /// Whether the pinned process is still alive with its start time.
    fn still_same(&self, pin: &Self::Pin) -> Result<(), Fail>;
    /// The command name of `pid`, empty when unreadable (messages only).
    fn command_of(&self, pid: u32) -> String;
    /// Runs between the search and the re-check (a test seam).
    fn after_search(&self) {}
}

pub(crate) fn from_fail(f: Fail) -> Verdict {
    match f {
        Fail::No(reason) => Verdict::NotOwned { reason, foreign: Vec::new() },
        Fail::Unknown(reason) => Verdict::Unknown { reason },
    }
}

pub(crate) fn whose(e: &Expected) -> String {
    if e.includes_descendants() {
        format!("pid {} or its descendants", e.pid())
    } else {
        format!("pid {} itself (descendants excluded)", e.pid())
    }
}

/// `l` as held by `pid`, with its command name when `opts` asks for it.
pub(crate) fn held_by(l: &Listener, pid: u32, opts: &Options, command_of: &dyn Fn(u32) -> String) -> Listener {
    let command = opts.identify_foreign.then(|| command_of(pid));
    Listener { pid: Some(pid), command, ..l.clone() }
}

/// Pin, list, attribute, re-check, decide: the verdict and, when Owned, the
/// pin (still valid) for a follow-up.
///
/// The search reads what had the pid: it is only valid if the pinned process
/// is still alive after it (its pid not reused: on Linux the pidfd says it
/// has not exited), so the re-check comes last, then the time bound.
pub(crate) fn verify_with<O: Observer>(
    obs: &O,
    port: u16,
    expected: &Expected,
    opts: &Options,
    deadline: Instant,
) -> (Verdict, Option<O::Pin>) {
    let pin = match obs.pin(expected.pid(), expected.start_time()) {
        Ok(p) => p,
        Err(f) => return (from_fail(f), None),
    };
    let ls = match obs.listeners(port, opts, deadline) {
        Ok(ls) => ls,
        Err(e) => return (Verdict::Unknown { reason: format!("cannot list the listeners: {e}") }, None),
    };
    if ls.is_empty() {
        let reason = format!("nothing listens on port {port}");
        return (Verdict::NotOwned { reason, foreign: Vec::new() }, None);
    }
    let wanted: HashSet<u64> = ls.iter().map(|l| l.inode).collect();
    let uids: HashSet<u32> = ls.iter().map(|l| l.uid).collect();
    let att = match obs.attribute(&pin, expected.includes_descendants(), &wanted, &uids, deadline) {
        Ok(a) => a,
        Err(f) => return (from_fail(f), None),
    };
    obs.after_search();
    if let Err(f) = obs.still_same(&pin) {
        return (from_fail(f), None);
    }
    if Instant::now() >= deadline {
        return (Verdict::Unknown { reason: format!("timed out after {:?}", opts.timeout) }, None);
    }
    let verdict = decide(port, expected, ls, &att, opts, obs.pid_of(&pin), &|p| obs.command_of(p));
    let pin = verdict.is_owned().then_some(pin);
    (verdict, pin)
}

/// The verdict from the listeners and who holds them (PORT-6): Owned
/// only when every listener is held by the tree, no visible outsider
/// holds one, and no unseen process could; a definite foreign holder or
/// wrong uid is NotOwned even when something is unseen.
pub(crate) fn decide(
    port: u16,
    expected: &Expected,
    mut ls: Vec<Listener>,
    att: &Attribution,
    opts: &Options,
    pid: u32,
    command_of: &dyn Fn(u32) -> String,
) -> Verdict {
    let mut shared = Vec::new(); // held by the tree and by an outsider
    let mut foreign = Vec::new(); // held by outsiders only
    let mut unheld = Vec::new(); // held by no process we can see
    let mut uid_problems = Vec::new();
    for l in &mut ls {
        l.pid = att.found.get(&l.inode).copied();
        if let Some(u) = expected.uid()
            && l.uid != u
        {
            uid_problems.push(format!("{} has uid {}, expected {u}", l.addr, l.uid));
        }
        let outsiders: Vec<Listener> =
            att.outside.iter().filter(|(i, _)| *i == l.inode).map(|(_, p)| held_by(l, *p, opts, command_of)).collect();
        match (l.pid, outsiders.is_empty()) {
            (Some(_), true) => {}
            (Some(_), false) => shared.extend(outsiders),
            (None, false) => foreign.extend(outsiders),
            (None, true) => unheld.push(l.clone()),
        }
    }
    let definite = !shared.is_empty() || !foreign.is_empty() || !uid_problems.is_empty();
    if !definite && let Some(unseen) = &att.unseen {
        let what = if unheld.is_empty() {
            format!("{} held by {}, but other holders cannot be ruled out", addrs(&ls), whose(expected))
        } else {
            format!("{} not found in {}", addrs(&unheld), whose(expected))
        };
        return Verdict::Unknown { reason: format!("port {port}: {what}: {unseen}") };
    }
    if !definite && unheld.is_empty() {
        return Verdict::Owned { pid, listeners: ls };
    }
    let mut parts = Vec::new();
    if !foreign.is_empty() || !unheld.is_empty() {
        let list: Vec<String> = foreign.iter().chain(&unheld).map(Listener::to_string).collect();
        parts.push(format!("listener {} not held by {}", list.join("; "), whose(expected)));
    }
    for s in &shared {
        parts.push(format!(
            "listener {} is also held by a process outside {} (it can accept the connections): {s}",
            s.addr,
            whose(expected)
        ));
    }
    parts.extend(uid_problems);
    let reason = format!("port {port}: {}", parts.join("; "));
    foreign.extend(shared);
    foreign.extend(unheld);
    Verdict::NotOwned { reason, foreign }
}

fn addrs(ls: &[Listener]) -> String {
    ls.iter().map(|l| l.addr.to_string()).collect::<Vec<_>>().join(", ")
}

#[cfg(test)]
mod tests {
    //! The shared logic against a fake source: what each platform's source
    //! may report, and the verdict it must give.

    use std::cell::Cell;
    use std::net::SocketAddr;
    use std::time::Duration;

    use super::*;
    use crate::Source;

    /// A fake source: a fixed world, plus what goes wrong and when.
    #[derive(Default)]
    struct Fake {
        listeners: Vec<Listener>,
        /// socket id -> holders (the tree is `tree`).
        holders: HashMap<u64, Vec<u32>>,
        tree: Vec<u32>,
        unseen: Option<String>,
        pin_fails: Option<fn() -> Fail>,
        list_fails: bool,
        replaced_after_search: bool,
        searched: Cell<bool>,
    }

    impl Observer for Fake {
        type Pin = u32;
        fn pin(&self, pid: u32, _: Option<u64>) -> Result<u32, Fail> {
            self.pin_fails.map_or(Ok(pid), |f| Err(f()))
        }
        fn pid_of(&self, pin: &u32) -> u32 {
            *pin
        }
        fn listeners(&self, _: u16, _: &Options, _: Instant) -> Result<Vec<Listener>, String> {
            if self.list_fails { Err("the table could not be read".into()) } else { Ok(self.listeners.clone()) }
        }
        fn attribute(
            &self,
            pin: &u32,
            descendants: bool,
            wanted: &HashSet<u64>,
            _: &HashSet<u32>,
            _: Instant,
        ) -> Result<Attribution, Fail> {
            self.searched.set(true);
            let mut a = Attribution { unseen: self.unseen.clone(), ..Attribution::default() };
            let mut ids: Vec<&u64> = self.holders.keys().filter(|i| wanted.contains(i)).collect();
            ids.sort();
            for id in ids {
                for &p in &self.holders[id] {
                    if p == *pin || (descendants && self.tree.contains(&p)) {
                        a.found.entry(*id).or_insert(p);
                    } else {
                        a.outside.push((*id, p));
                    }
                }
            }
            Ok(a)
        }
        fn still_same(&self, pin: &u32) -> Result<(), Fail> {
            if self.replaced_after_search && self.searched.get() {
                return Err(Fail::No(format!("expected process {pin} exited or was replaced during the check")));
            }
            Ok(())
        }
        fn command_of(&self, pid: u32) -> String {
            format!("cmd{pid}")
        }
    }

    fn l(id: u64, addr: &str, uid: u32) -> Listener {
        Listener { addr: addr.parse::<SocketAddr>().unwrap(), inode: id, uid, pid: None, command: None }
    }

    fn run(f: &Fake, e: &Expected) -> Verdict {
        let opts = Options { source: Source::Auto, timeout: Duration::from_secs(5), identify_foreign: true };
        verify_with(f, 8080, e, &opts, Instant::now() + opts.timeout).0
    }

    fn world() -> Fake {
        Fake {
            listeners: vec![l(1, "127.0.0.1:8080", 501), l(2, "[::1]:8080", 501)],
            holders: HashMap::from([(1, vec![10]), (2, vec![10])]),
            tree: vec![11, 12],
            ..Fake::default()
        }
    }

    #[test]
    fn every_listener_held_by_the_pinned_process_is_owned() {
        match run(&world(), &Expected::new(10).with_uid(501)) {
            Verdict::Owned { pid, listeners } => {
                assert_eq!(pid, 10);
                assert!(listeners.iter().all(|l| l.pid == Some(10)), "{listeners:?}");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn a_descendant_counts_only_when_descendants_are_included() {
        let mut f = world();
        f.holders.insert(2, vec![11]);
        assert!(run(&f, &Expected::new(10)).is_owned());
        let v = run(&f, &Expected::new(10).descendants(false));
        assert!(matches!(&v, Verdict::NotOwned { foreign, .. } if foreign[0].pid == Some(11)), "{v:?}");
    }

    #[test]
    fn port_5_second_listener_held_by_a_stranger_is_not_owned() {
        let mut f = world();
        f.listeners.push(l(3, "127.0.0.1:8080", 501));
        f.holders.insert(3, vec![66]);
        match run(&f, &Expected::new(10)) {
            Verdict::NotOwned { reason, foreign } => {
                assert_eq!(foreign.len(), 1);
                assert_eq!((foreign[0].pid, foreign[0].command.as_deref()), (Some(66), Some("cmd66")));
                assert!(reason.contains("not held by pid 10"), "{reason}");
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn port_6_listener_also_held_by_an_outsider_is_not_owned_even_with_unseen() {
        let mut f = world();
        f.holders.insert(1, vec![10, 77]);
        f.unseen = Some("process 5 could hold it".into());
        match run(&f, &Expected::new(10)) {
            Verdict::NotOwned { reason, foreign } => {
                assert!(reason.contains("also held by a process outside"), "{reason}");
                // Every listener is held by pid 10: none is "not held".
                assert!(!reason.contains("not held by"), "{reason}");
                assert_eq!(foreign[0].pid, Some(77));
            }
            v => panic!("{v:?}"),
        }
    }

    #[test]
    fn unseen_holders_make_unknown_never_owned() {
        let mut f = world();
        f.unseen = Some("process 99 (uid 501) could hold it".into());
        let v = run(&f, &Expected::new(10));
        let held = "port 8080: 127.0.0.1:8080, [::1]:8080 held by pid 10 or its descendants, but other holders cannot be ruled out";
        assert!(matches!(&v, Verdict::Unknown { reason } if reason.starts_with(held)), "{v:?}");
        // a listener nobody visible holds, with something unseen: Unknown
        f.holders.remove(&2);
        let v = run(&f, &Expected::new(10));
        let missing = "port 8080: [::1]:8080 not found in pid 10 or its descendants: process 99";
        assert!(matches!(&v, Verdict::Unknown { reason } if reason.starts_with(missing)), "{v:?}");
        // ...and with nothing unseen: NotOwned, naming it with no pid
        f.unseen = None;
        let v = run(&f, &Expected::new(10));
        assert!(matches!(&v, Verdict::NotOwned { foreign, .. } if foreign[0].pid.is_none()), "{v:?}");
        assert!(
            matches!(&v, Verdict::NotOwned { reason, .. } if reason.contains("[::1]:8080") && reason.contains("not held by pid 10")),
            "{v:?}"
        );
    }

    #[test]
    fn wrong_uid_no_listener_listing_failure_and_pin_failures() {
        let v = run(&world(), &Expected::new(10).with_uid(0));
        assert!(matches!(&v, Verdict::NotOwned { reason, .. } if reason.contains("has uid 501, expected 0")), "{v:?}");
        let v = run(&Fake { listeners: Vec::new(), ..world() }, &Expected::new(10));
        assert!(matches!(&v, Verdict::NotOwned { reason, .. } if reason.contains("nothing listens")), "{v:?}");
        let v = run(&Fake { list_fails: true, ..world() }, &Expected::new(10));
        assert!(matches!(&v, Verdict::Unknown { .. }), "{v:?}");
        let v = run(&Fake { pin_fails: Some(|| Fail::No("gone".into())), ..world() }, &Expected::new(10));
        assert!(matches!(&v, Verdict::NotOwned { .. }), "{v:?}");
        let v = run(&Fake { pin_fails: Some(|| Fail::Unknown("denied".into())), ..world() }, &Expected::new(10));
        assert!(matches!(&v, Verdict::Unknown { .. }), "{v:?}");
    }

    #[test]
    fn pinned_process_replaced_during_the_search_is_not_owned() {
        let v = run(&Fake { replaced_after_search: true, ..world() }, &Expected::new(10));
        assert!(matches!(&v, Verdict::NotOwned { reason, .. } if reason.contains("replaced")), "{v:?}");
    }

    #[test]
    fn past_the_deadline_is_unknown() {
        let opts = Options { source: Source::Auto, timeout: Duration::ZERO, identify_foreign: false };
        let (v, pin) = verify_with(&world(), 8080, &Expected::new(10), &opts, Instant::now());
        assert!(matches!(v, Verdict::Unknown { .. }), "{v:?}");
        assert!(pin.is_none());
    }
}
