//! gw-portguard security regressions, named by THREATS id, with real
//! listeners in real processes (python3 helpers), on both socket-table
//! sources (netlink sock_diag and /proc/net/tcp{,6}).

use std::io::{Read, Write};
use std::net::SocketAddr;
use std::time::Duration;

use gw_portguard::{
    ConnectError, Expected, Listener, Verdict, connect_verified, connect_verified_with_verdict, listeners,
    start_time_of, verify, who,
};
use gw_test_support::portguard::{NOBODY, SOURCES, Spec, Svc, opts, record_dir};

fn owned_pids(v: &Verdict) -> Vec<u32> {
    match v {
        Verdict::Owned { listeners, .. } => listeners.iter().map(|l| l.pid.expect("holder pid")).collect(),
        other => panic!("expected Owned, got {other}"),
    }
}

fn assert_not_owned(v: &Verdict) -> &[gw_portguard::Listener] {
    match v {
        Verdict::NotOwned { foreign, .. } => foreign,
        other => panic!("expected NotOwned, got {other:?}"),
    }
}

#[test]
fn port_3_expected_process_listening_itself_is_owned() {
    for src in SOURCES {
        let svc = Svc::spawn(Spec::on(&["127.0.0.1", "::1"], 0));
        let v = verify(svc.port, &Expected::new(svc.root), &opts(src));
        assert_eq!(owned_pids(&v), vec![svc.root, svc.root], "{src:?}");
        // the same, with the uid and without descendants
        let v = verify(svc.port, &Expected::new(svc.root).with_uid(0).descendants(false), &opts(src));
        assert!(v.is_owned(), "{src:?}: {v}");
        // a wrong expected uid is a no
        let v = verify(svc.port, &Expected::new(svc.root).with_uid(NOBODY), &opts(src));
        assert!(matches!(v, Verdict::NotOwned { .. }), "{src:?}: {v}");
    }
}

#[test]
fn port_3_child_and_grandchild_listeners_are_owned_unless_descendants_excluded() {
    for src in SOURCES {
        for depth in [1, 2] {
            let svc = Svc::spawn(Spec { depth, ..Spec::on(&["127.0.0.1"], 0) });
            assert_ne!(svc.leaf, svc.root);
            let v = verify(svc.port, &Expected::new(svc.root), &opts(src));
            assert_eq!(owned_pids(&v), vec![svc.leaf], "{src:?} depth {depth}");
            let v = verify(svc.port, &Expected::new(svc.root).descendants(false), &opts(src));
            let foreign = assert_not_owned(&v);
            assert_eq!(foreign.len(), 1, "{src:?} depth {depth}: {v}");
            // The connection is accepted by the leaf, not the pinned root:
            // attributed by the full rule (a descendant holds it), and
            // refused when descendants are excluded.
            let addr: SocketAddr = format!("127.0.0.1:{}", svc.port).parse().unwrap();
            connect_verified(addr, &Expected::new(svc.root), &opts(src)).expect("accepted by a descendant");
            connect_verified(addr, &Expected::new(svc.leaf), &opts(src)).expect("accepted by the pinned leaf");
            let r = connect_verified(addr, &Expected::new(svc.root).descendants(false), &opts(src));
            assert!(matches!(r, Err(ConnectError::Refused(Verdict::NotOwned { .. }))), "{src:?} depth {depth}: {r:?}");
        }
    }
}

#[test]
fn port_3_unrelated_same_uid_process_is_not_owned() {
    for src in SOURCES {
        let service = Svc::spawn(Spec::on(&["127.0.0.1"], 0));
        let stranger = Svc::spawn(Spec::on(&["127.0.0.1"], 0));
        let v = verify(stranger.port, &Expected::new(service.root), &opts(src));
        let foreign = assert_not_owned(&v);
        assert_eq!(foreign.len(), 1);
        assert_eq!(foreign[0].pid, Some(stranger.leaf), "the foreign listener is named: {v}");
        assert_eq!(foreign[0].command.as_deref(), Some("python3"), "and its command: {v}");
        assert!(v.to_string().contains(&stranger.leaf.to_string()), "{v}");
        // and the stranger itself is not owned by the service's pid either way round
        assert!(verify(service.port, &Expected::new(stranger.root), &opts(src)).to_string().starts_with("not owned"));
    }
}

#[test]
fn port_1_listener_of_another_uid_is_not_owned() {
    for src in SOURCES {
        let service = Svc::spawn(Spec::on(&["::1"], 0));
        let nobody = Svc::spawn(Spec { uid: Some(NOBODY), ..Spec::on(&["127.0.0.1"], service.port) });
        let v = verify(service.port, &Expected::new(service.root), &opts(src));
        let foreign = assert_not_owned(&v);
        assert_eq!(foreign.len(), 1, "{v}");
        assert_eq!((foreign[0].uid, foreign[0].pid), (NOBODY, Some(nobody.leaf)), "{v}");
        assert_eq!(foreign[0].addr, format!("127.0.0.1:{}", service.port).parse::<SocketAddr>().unwrap());
    }
}

#[test]
fn port_5_reuseport_second_listener_is_not_owned() {
    for src in SOURCES {
        let service = Svc::spawn(Spec { reuseport: true, ..Spec::on(&["127.0.0.1"], 0) });
        assert!(verify(service.port, &Expected::new(service.root), &opts(src)).is_owned());
        let second = Svc::spawn(Spec { reuseport: true, ..Spec::on(&["127.0.0.1"], service.port) });
        let ls = listeners(service.port, &opts(src)).unwrap();
        assert_eq!(ls.len(), 2, "both SO_REUSEPORT listeners are seen: {ls:?}");
        let v = verify(service.port, &Expected::new(service.root), &opts(src));
        let foreign = assert_not_owned(&v);
        assert_eq!(foreign.iter().map(|l| l.pid).collect::<Vec<_>>(), vec![Some(second.leaf)], "{v}");
    }
}

#[test]
fn port_5_other_process_on_ipv6_loopback_is_not_owned() {
    for src in SOURCES {
        let service = Svc::spawn(Spec::on(&["127.0.0.1"], 0));
        let v6 = Svc::spawn(Spec::on(&["::1"], service.port));
        let v = verify(service.port, &Expected::new(service.root), &opts(src));
        let foreign = assert_not_owned(&v);
        assert_eq!(foreign.len(), 1);
        assert!(foreign[0].addr.is_ipv6() && foreign[0].pid == Some(v6.leaf), "{v}");
    }
}

#[test]
fn port_1_no_listener_is_not_owned() {
    for src in SOURCES {
        let mut svc = Svc::spawn(Spec::on(&["127.0.0.1"], 0));
        let port = svc.port;
        let other = Svc::spawn(Spec::on(&["127.0.0.1"], 0));
        svc.kill();
        let v = verify(port, &Expected::new(other.root), &opts(src));
        assert!(matches!(&v, Verdict::NotOwned { foreign, .. } if foreign.is_empty()), "{v}");
    }
}

#[test]
fn port_1_service_dies_and_another_process_rebinds_is_refused() {
    for src in SOURCES {
        let mut service = Svc::spawn(Spec::on(&["127.0.0.1"], 0));
        let expected = Expected::new(service.root).record().unwrap();
        assert!(verify(service.port, &expected, &opts(src)).is_owned());
        let port = service.port;
        service.kill();
        let hijacker = Svc::spawn(Spec::on(&["127.0.0.1"], port));
        for e in [expected.clone(), Expected::new(service.root)] {
            let v = verify(port, &e, &opts(src));
            assert!(!v.is_owned(), "{src:?}: {v}");
        }
        // and the hijacker's pid is no help to a caller that knows the service's
        assert_eq!(hijacker.port, port);
    }
}

#[test]
fn port_1_reused_pid_start_time_mismatch_is_refused() {
    for src in SOURCES {
        let service = Svc::spawn(Spec::on(&["127.0.0.1"], 0));
        let real = start_time_of(service.root).unwrap();
        assert!(verify(service.port, &Expected::new(service.root).with_start_time(real), &opts(src)).is_owned());
        // A recorded start time that differs means the pid now names another
        // process (what pid reuse looks like): refused.
        let v = verify(service.port, &Expected::new(service.root).with_start_time(real + 1), &opts(src));
        match &v {
            Verdict::NotOwned { reason, .. } => assert!(reason.contains("reused"), "{reason}"),
            other => panic!("{other}"),
        }
    }
}

#[test]
fn port_1_port_2_connect_verified_to_hijacker_is_refused_before_any_byte() {
    const GREETING: &str = "{\"type\":\"hello\",\"gateway\":\"gw\"}\n";
    for src in SOURCES {
        let dir = record_dir(None);
        // The real service: connect_verified succeeds and what we write arrives.
        let rec = dir.path().join("service.bin");
        let service =
            Svc::spawn(Spec { record: Some(rec.clone()), greeting: Some(GREETING), ..Spec::on(&["127.0.0.1"], 0) });
        let addr: SocketAddr = format!("127.0.0.1:{}", service.port).parse().unwrap();
        let mut s = connect_verified(addr, &Expected::new(service.root), &opts(src)).expect("owned service");
        s.write_all(b"TOKEN-FOR-SERVICE").unwrap();
        let mut greet = vec![0u8; GREETING.len()];
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.read_exact(&mut greet).unwrap();
        drop(s);
        wait_for(|| std::fs::read(&rec).unwrap_or_default() == b"TOKEN-FOR-SERVICE");

        // A hijacker alone on another port, answering exactly like the service.
        let hrec = dir.path().join("hijacker.bin");
        let hijacker =
            Svc::spawn(Spec { record: Some(hrec.clone()), greeting: Some(GREETING), ..Spec::on(&["127.0.0.1"], 0) });
        let haddr: SocketAddr = format!("127.0.0.1:{}", hijacker.port).parse().unwrap();
        let r = connect_verified(haddr, &Expected::new(service.root), &opts(src));
        assert!(matches!(r, Err(ConnectError::Refused(Verdict::NotOwned { .. }))), "{r:?}");

        // The listener is held by the service's tree and by a process that
        // left the tree (inherited the listening socket, reparented away) and
        // accepts the connections: not owned (PORT-6), refused before the
        // connect, nothing written.
        let erec = dir.path().join("escaped.bin");
        let escaped = Svc::spawn(Spec {
            escape: true,
            record: Some(erec.clone()),
            greeting: Some(GREETING),
            ..Spec::on(&["127.0.0.1"], 0)
        });
        let eaddr: SocketAddr = format!("127.0.0.1:{}", escaped.port).parse().unwrap();
        let foreign = assert_not_owned(&verify(escaped.port, &Expected::new(escaped.root), &opts(src))).to_vec();
        assert_eq!(foreign.iter().map(|l| l.pid).collect::<Vec<_>>(), vec![Some(escaped.leaf)]);
        let r = connect_verified(eaddr, &Expected::new(escaped.root), &opts(src));
        match r {
            Err(ConnectError::Refused(Verdict::NotOwned { reason, foreign })) => {
                assert!(reason.contains("also held by"), "{reason}");
                assert_eq!(foreign[0].pid, Some(escaped.leaf), "{reason}");
            }
            other => panic!("{src:?}: expected refusal, got {other:?}"),
        }
        std::thread::sleep(Duration::from_millis(200));
        assert_eq!(std::fs::read(&hrec).unwrap_or_default(), b"", "the hijacker received nothing");
        assert_eq!(std::fs::read(&erec).unwrap_or_default(), b"", "the escaped acceptor received nothing");
    }
}

/// The ppid of `pid` (field 4 of /proc/PID/stat).
fn ppid_of(pid: u32) -> u32 {
    let stat = std::fs::read(format!("/proc/{pid}/stat")).unwrap();
    gw_procfs::parse_stat(&stat).unwrap().ppid
}

/// A daemon's double fork: A listens, forks; the child calls setsid(2) and
/// forks again and exits; the grandchild (re-parented to init, or the
/// nearest subreaper, outside A's tree) keeps A's listening socket and
/// accepts on it. A and the grandchild hold one listener: not owned by A.
#[test]
fn port_6_listener_inherited_by_a_double_forked_outsider_is_not_owned() {
    const GREETING: &str = "{\"type\":\"hello\"}\n";
    for src in SOURCES {
        for escape_uid in [None, Some(NOBODY)] {
            let dir = record_dir(None);
            let rec = dir.path().join("outsider.bin");
            let svc = Svc::spawn(Spec {
                escape: true,
                setsid: true,
                escape_uid,
                record: Some(rec.clone()),
                greeting: Some(GREETING),
                ..Spec::on(&["127.0.0.1", "::1"], 0)
            });
            assert_ne!(ppid_of(svc.leaf), svc.root, "the grandchild left A's tree");
            let ls = listeners(svc.port, &opts(src)).unwrap();
            assert_eq!(ls.len(), 2, "one socket per address, each held by A and the outsider: {ls:?}");

            let v = verify(svc.port, &Expected::new(svc.root), &opts(src));
            let foreign = assert_not_owned(&v);
            assert_eq!(foreign.len(), 2, "{src:?} {escape_uid:?}: {v}");
            assert!(foreign.iter().all(|l| l.pid == Some(svc.leaf)), "{v}");
            let text = v.to_string();
            assert!(text.contains(&format!("pid {}", svc.leaf)) && text.contains("also held by"), "{text}");
            // the same without descendants, with the uid, with the start time
            let strict = Expected::new(svc.root).descendants(false).with_uid(0).record().unwrap();
            assert!(matches!(verify(svc.port, &strict, &opts(src)), Verdict::NotOwned { .. }));
            // and the outsider does not own it either: A holds it
            let v = verify(svc.port, &Expected::new(svc.leaf), &opts(src));
            assert!(assert_not_owned(&v).iter().all(|l| l.pid == Some(svc.root)), "{v}");

            // connect_verified applies the same rule: refused before any byte
            let addr: SocketAddr = format!("127.0.0.1:{}", svc.port).parse().unwrap();
            let r = connect_verified(addr, &Expected::new(svc.root), &opts(src));
            match &r {
                Err(ConnectError::Refused(Verdict::NotOwned { foreign, .. })) => {
                    assert!(foreign.iter().any(|l| l.pid == Some(svc.leaf)), "{r:?}");
                }
                other => panic!("{src:?}: expected refusal, got {other:?}"),
            }
            std::thread::sleep(Duration::from_millis(200));
            assert_eq!(std::fs::read(&rec).unwrap_or_default(), b"", "the outsider received nothing");
        }
    }
}

#[test]
fn port_5_hijacker_that_never_accepts_is_unknown_within_the_bound() {
    // A listener held by the expected process that never accepts: the
    // connection cannot be attributed, the answer is a bounded "no".
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = l.local_addr().unwrap();
    for src in SOURCES {
        let o = gw_portguard::Options { timeout: Duration::from_millis(300), ..opts(src) };
        let start = std::time::Instant::now();
        let r = connect_verified(addr, &Expected::new(std::process::id()), &o);
        assert!(matches!(r, Err(ConnectError::Refused(Verdict::Unknown { .. }))), "{r:?}");
        assert!(start.elapsed() < Duration::from_secs(5), "bounded");
    }
}

/// accept(2) gives the new socket its inode before it installs the
/// descriptor (and copies the peer's address in between): a server seen in
/// that window holds nothing yet. The service here is held there for half a
/// second on every accept; `connect_verified` waits for the descriptor, as
/// for the accept, and then proves it the service's (it refused the service
/// as a foreign, holder-less acceptor before).
#[test]
fn connect_verified_waits_for_the_descriptor_of_a_socket_being_accepted() {
    const GREETING: &str = "{\"type\":\"hello\"}\n";
    const STALL: Duration = Duration::from_millis(500);
    let dir = record_dir(None);
    let rec = dir.path().join("service.bin");
    let svc = Svc::spawn(Spec {
        stall_accept: Some(STALL.as_secs_f64()),
        record: Some(rec.clone()),
        greeting: Some(GREETING),
        ..Spec::on(&["127.0.0.1"], 0)
    });
    let addr: SocketAddr = format!("127.0.0.1:{}", svc.port).parse().unwrap();
    let mut sent = Vec::new();
    for src in SOURCES {
        let start = std::time::Instant::now();
        let r = connect_verified(addr, &Expected::new(svc.root), &opts(src));
        let mut s = r.unwrap_or_else(|e| panic!("{src:?}: the service was refused: {e:?}"));
        assert!(start.elapsed() >= STALL - Duration::from_millis(50), "{src:?}: the accept was not held");
        s.write_all(b"FOR-THE-SERVICE").unwrap();
        sent.extend_from_slice(b"FOR-THE-SERVICE");
        let mut greet = vec![0u8; GREETING.len()];
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        s.read_exact(&mut greet).unwrap();
        assert_eq!(greet, GREETING.as_bytes());
        wait_for(|| std::fs::read(&rec).unwrap_or_default() == sent);
    }
}

/// The same window held past the bound: the socket is held by no process,
/// which proves nothing either way — Unknown within the bound, and the
/// stream is not handed out.
#[test]
fn connect_verified_socket_held_by_nobody_past_the_bound_is_unknown() {
    for src in SOURCES {
        // A service each: its first accept stays held.
        let svc = Svc::spawn(Spec { stall_accept: Some(-1.0), ..Spec::on(&["127.0.0.1"], 0) });
        let addr: SocketAddr = format!("127.0.0.1:{}", svc.port).parse().unwrap();
        let o = gw_portguard::Options { timeout: Duration::from_secs(1), ..opts(src) };
        let start = std::time::Instant::now();
        match connect_verified(addr, &Expected::new(svc.root), &o) {
            // The bound ends the wait, or a scan it falls inside.
            Err(ConnectError::Refused(Verdict::Unknown { reason })) => assert!(
                reason.contains("no process we can see held its socket")
                    || reason.contains("timed out reading the processes' file descriptors"),
                "{src:?}: {reason}"
            ),
            other => panic!("{src:?}: expected Unknown, got {other:?}"),
        }
        assert!(start.elapsed() < Duration::from_secs(5), "bounded");
    }
}

/// A service that closes a connection as soon as it accepts it (overloaded,
/// or refusing the client): the connection is proven the service's if it is
/// seen in the service's hands before the close (and then reads its end);
/// seen after it, there is nothing left to attribute — refused (Unknown)
/// when the close comes, not at the end of the bound.
#[test]
fn connect_verified_to_a_service_that_closes_at_once_answers_promptly() {
    let svc = Svc::spawn(Spec { close_on_accept: true, ..Spec::on(&["127.0.0.1"], 0) });
    let addr: SocketAddr = format!("127.0.0.1:{}", svc.port).parse().unwrap();
    let mut refused = 0;
    for src in SOURCES {
        for _ in 0..10 {
            let start = std::time::Instant::now();
            match connect_verified(addr, &Expected::new(svc.root), &opts(src)) {
                Ok(mut s) => {
                    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
                    assert_eq!(s.read(&mut [0u8; 16]).unwrap_or(0), 0, "{src:?}: the service closed it");
                }
                Err(ConnectError::Refused(Verdict::Unknown { reason })) => {
                    assert!(reason.contains("closed"), "{src:?}: {reason}");
                    refused += 1;
                }
                other => panic!("{src:?}: expected the stream or Unknown, got {other:?}"),
            }
            let took = start.elapsed();
            assert!(took < Duration::from_secs(3), "{src:?}: {took:?} (the bound is 10 s)");
        }
    }
    eprintln!("{refused} of 20 connects refused, the rest proven before the close");
}

fn wait_for(cond: impl Fn() -> bool) {
    for _ in 0..500 {
        if cond() {
            return;
        }
        std::thread::sleep(Duration::from_millis(10));
    }
    panic!("condition not met in 5 s");
}

#[test]
fn port_5_every_inspection_is_bounded_and_out_of_time_is_unknown() {
    let svc = Svc::spawn(Spec::on(&["127.0.0.1"], 0));
    for src in SOURCES {
        let o = gw_portguard::Options { timeout: Duration::ZERO, ..opts(src) };
        let v = verify(svc.port, &Expected::new(svc.root), &o);
        assert!(matches!(&v, Verdict::Unknown { reason } if reason.contains("time")), "{src:?}: {v}");
        assert!(listeners(svc.port, &o).is_err());
        let addr: SocketAddr = format!("127.0.0.1:{}", svc.port).parse().unwrap();
        let r = connect_verified(addr, &Expected::new(svc.root), &o);
        assert!(matches!(r, Err(ConnectError::Refused(Verdict::Unknown { .. }))), "{r:?}");
        // and with time, the same check is owned
        assert!(verify(svc.port, &Expected::new(svc.root), &opts(src)).is_owned());
    }
}

/// What a verdict and a refusal say, which `gw port verify`, `gw port who`
/// and `gw probe` print: the owner's pid and listeners, the reason, the fix
/// for each kind of verdict; a refused connect's verdict, its text and no
/// source; `who`'s holder and command. An expected uid that matches lets
/// the connection through (the accepted socket's uid is checked as the
/// listeners' was).
#[test]
fn port_1_verdicts_and_refusals_say_who_holds_what_and_how_to_fix_it() {
    let svc = Svc::spawn(Spec::on(&["127.0.0.1"], 0));
    let addr: SocketAddr = format!("127.0.0.1:{}", svc.port).parse().unwrap();
    for src in SOURCES {
        let v = verify(svc.port, &Expected::new(svc.root), &opts(src));
        let Verdict::Owned { pid, listeners } = &v else { panic!("{src:?}: {v:?}") };
        assert_eq!((*pid, listeners.len(), listeners[0].pid), (svc.root, 1, Some(svc.root)), "{src:?}");
        assert_eq!(v.reason(), format!("owned by pid {}: {addr}", svc.root));
        assert_eq!(v.to_string(), v.reason());
        assert_eq!((v.as_str(), v.fix_hint()), ("owned", None));
        let (_stream, v) = connect_verified_with_verdict(addr, &Expected::new(svc.root).with_uid(0), &opts(src))
            .expect("the expected uid holds the listener and the accepted socket");
        assert!(v.is_owned(), "{src:?}");
        let ours = Expected::new(std::process::id()).descendants(false);
        let e = connect_verified(addr, &ours, &opts(src)).expect_err("held by our child, not by us");
        let v = e.verdict().expect("a refusal carries its verdict");
        assert_eq!(v.as_str(), "not_owned");
        assert_eq!(e.to_string(), format!("refused: not owned: {}", v.reason()));
        assert!(std::error::Error::source(&e).is_none());
        assert!(v.fix_hint().unwrap().starts_with("stop the process holding the foreign listener"), "{v:?}");
        let who = who(svc.port, &opts(src)).unwrap();
        assert_eq!(who.len(), 1, "{src:?}: {who:?}");
        assert_eq!((who[0].pid, who[0].command.as_deref()), (Some(svc.root), Some("python3")));
        assert_eq!(who[0].to_string(), format!("{addr} uid 0 pid {} (python3)", svc.root));
    }
    let l = |pid: Option<u32>, command: Option<&str>| {
        Listener { addr, inode: 1, uid: 7, pid, command: command.map(str::to_owned) }.to_string()
    };
    assert_eq!(l(Some(9), Some("")), format!("{addr} uid 7 pid 9"), "an empty command is not shown");
    assert_eq!(l(Some(9), None), format!("{addr} uid 7 pid 9"));
    assert_eq!(l(None, Some("x")), format!("{addr} uid 7 pid ?"));
    let nobody = Verdict::NotOwned { reason: "nothing listens".into(), foreign: Vec::new() };
    assert!(nobody.fix_hint().unwrap().starts_with("start the service"), "{nobody:?}");
    assert_eq!(nobody.reason(), "nothing listens");
    let unknown = Verdict::Unknown { reason: "hidden".into() };
    assert!(unknown.fix_hint().unwrap().contains("without hidepid"));
    assert_eq!((unknown.to_string().as_str(), unknown.reason().as_str()), ("unknown: hidden", "hidden"));
    let io = ConnectError::Io { op: "connect", addr, source: std::io::ErrorKind::ConnectionRefused.into() };
    assert!(io.verdict().is_none());
    assert!(std::error::Error::source(&io).is_some());
    assert!(io.to_string().starts_with(&format!("connect {addr}: ")), "{io}");
}
