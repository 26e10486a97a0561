//! The client's handshake against a scripted peer (what the real gateway
//! cannot be made to do: answer slowly, or never, or out of turn, or reset
//! the connection): each wait ends at its own deadline — a late upgrade is
//! waited for until the challenge bound, an answer after the challenge
//! bound but within the handshake bound is taken, silence is a timeout at
//! its bound, not before and not much after; only the challenge may come
//! first; events before the answer are skipped up to a bound; only the
//! answer to this connect's request id is taken; a reset is reported as
//! one; `close` sends a close and waits for the answer within its bound.

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use gw_gateway::{Bounds, ClientInfo, Connect, Credential, ErrorKind, connect};
use gw_token::Secret;
use tungstenite::{Message, WebSocket};

/// A peer that sends the challenge at once, then answers the connect after
/// `delay` (or never, for `None`).
fn peer(delay: Option<Duration>) -> (u16, std::thread::JoinHandle<()>) {
    challenging_peer(Some(Duration::ZERO), move |mut ws| {
        let req: serde_json::Value = match ws.read().unwrap() {
            Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
            other => panic!("{other:?}"),
        };
        match delay {
            Some(d) => {
                std::thread::sleep(d);
                ws.send(Message::text(hello_ok(&req["id"], "scripted").to_string())).unwrap();
                let _ = ws.read();
            }
            None => std::thread::sleep(Duration::from_secs(8)),
        }
    })
}

fn req() -> Connect<'static> {
    Connect {
        client: ClientInfo::default(),
        role: "operator".into(),
        scopes: vec![],
        credential: Credential::Token(Secret::from("scripted-token".to_owned())),
        device: None,
    }
}

const BOUNDS: Bounds = Bounds { challenge: Duration::from_secs(1), handshake: Duration::from_secs(4), max_events: 8 };

#[test]
fn an_answer_after_the_challenge_bound_but_within_the_handshake_bound_is_taken() {
    let (port, h) = peer(Some(Duration::from_millis(2000)));
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (_ws, hello) = connect(s, &format!("ws://127.0.0.1:{port}"), &req(), &BOUNDS).unwrap();
    assert_eq!(hello.hello.server_version.as_deref(), Some("scripted"));
    drop(_ws);
    h.join().unwrap();
}

#[test]
fn silence_after_the_connect_is_a_timeout_at_the_handshake_bound() {
    let (port, _h) = peer(None);
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let started = Instant::now();
    let e = connect(s, &format!("ws://127.0.0.1:{port}"), &req(), &BOUNDS).unwrap_err();
    let took = started.elapsed();
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(took >= BOUNDS.handshake, "gave up after {took:?}, before the handshake bound");
    assert!(took < BOUNDS.handshake + Duration::from_secs(2), "took {took:?}, far past the handshake bound");
}

/// A peer that answers the WebSocket upgrade only after `delay` (never, for
/// `None`: it holds the TCP connection open and says nothing), then runs a
/// whole handshake.
fn slow_upgrade_peer(delay: Option<Duration>) -> u16 {
    scripted(delay, |req| vec![hello_ok(&req["id"], "slow-upgrade")])
}

/// `connect` on another thread, bounded by `limit`, with how long it took.
fn connect_bounded(port: u16, limit: Duration) -> (gw_gateway::Result<String>, Duration) {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let started = Instant::now();
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let r = connect(s, &format!("ws://127.0.0.1:{port}"), &req(), &BOUNDS)
            .map(|(_ws, hello)| hello.hello.server_version.unwrap_or_default());
        let _ = tx.send((r, started.elapsed()));
    });
    rx.recv_timeout(limit).expect("connect did not return in time")
}

/// The upgrade has the challenge bound: an answer a few read ticks late is
/// waited for, a peer that accepts the TCP connection but never answers
/// the upgrade is a timeout at the bound (a gateway that accepts TCP and
/// hangs, which the liveness check must catch).
#[test]
fn the_upgrade_waits_for_a_late_answer_and_ends_at_the_challenge_bound() {
    let (got, _) = connect_bounded(slow_upgrade_peer(Some(Duration::from_millis(300))), Duration::from_secs(10));
    assert_eq!(got.expect("a late upgrade is waited for"), "slow-upgrade");

    let (got, took) = connect_bounded(slow_upgrade_peer(None), Duration::from_secs(10));
    let e = got.expect_err("a silent peer");
    assert_eq!(e.kind(), ErrorKind::Timeout, "{e}");
    assert!(e.to_string().contains("the WebSocket upgrade did not finish in time"), "{e}");
    assert!(took >= BOUNDS.challenge, "gave up after {took:?}, before the challenge bound");
    assert!(took < BOUNDS.challenge + Duration::from_secs(2), "took {took:?}, far past the challenge bound");
}

/// A peer that answers the connect request with the frames `answer` makes
/// of it, then waits for the client to close.
fn answering_peer(answer: impl FnOnce(&serde_json::Value) -> Vec<serde_json::Value> + Send + 'static) -> u16 {
    scripted(Some(Duration::ZERO), answer)
}

/// A peer that upgrades after `upgrade` (never, for `None`), sends the
/// challenge, and answers the connect request with `answer`'s frames.
fn scripted(
    upgrade: Option<Duration>,
    answer: impl FnOnce(&serde_json::Value) -> Vec<serde_json::Value> + Send + 'static,
) -> u16 {
    challenging_peer(upgrade, move |mut ws| {
        let Ok(Message::Text(t)) = ws.read() else { return };
        let req: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
        for frame in answer(&req) {
            if ws.send(Message::text(frame.to_string())).is_err() {
                return;
            }
        }
        let _ = ws.read();
    })
    .0
}

/// A listener whose first connection is upgraded after `upgrade` (never,
/// for `None`: the TCP connection is held open in silence), sent the
/// challenge, and handed to `then`.
fn challenging_peer(
    upgrade: Option<Duration>,
    then: impl FnOnce(WebSocket<TcpStream>) + Send + 'static,
) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let Some(delay) = upgrade else {
            std::thread::sleep(Duration::from_secs(8));
            return;
        };
        std::thread::sleep(delay);
        let mut ws = tungstenite::accept(s).unwrap();
        ws.send(Message::text(r#"{"type":"event","event":"connect.challenge","payload":{"nonce":"n-1","ts":5}}"#))
            .unwrap();
        then(ws);
    });
    (port, h)
}

/// A hello-ok `res` for request `id`.
fn hello_ok(id: &serde_json::Value, version: &str) -> serde_json::Value {
    serde_json::json!({"type": "res", "id": id, "ok": true, "payload": {
        "type": "hello-ok", "protocol": 4, "server": {"version": version},
        "auth": {"method": "token", "role": "operator", "scopes": []}}})
}

/// `events` events (ticks: what a gateway may send between the connect and
/// its answer), then the answer.
fn chatty(events: usize) -> u16 {
    answering_peer(move |req| {
        let mut frames: Vec<serde_json::Value> =
            (0..events).map(|n| serde_json::json!({"type": "event", "event": "tick", "payload": {"n": n}})).collect();
        frames.push(hello_ok(&req["id"], "chatty"));
        frames
    })
}

/// Events before the connect answer are skipped up to `max_events`; one
/// more is a protocol error, so a peer cannot keep the client reading.
#[test]
fn events_before_the_answer_are_skipped_up_to_the_bound() {
    let (got, _) = connect_bounded(chatty(BOUNDS.max_events), Duration::from_secs(10));
    assert_eq!(got.expect("max_events events, then the answer"), "chatty");
    let (got, _) = connect_bounded(chatty(BOUNDS.max_events + 1), Duration::from_secs(10));
    let e = got.expect_err("one event too many");
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(e.to_string().contains("too many events before the connect answer"), "{e}");
}

/// Only the answer to this connect's request id is taken: a hello-ok for
/// another id is a protocol error, not a session.
#[test]
fn an_answer_to_another_request_id_is_refused() {
    let port = answering_peer(|_| vec![hello_ok(&serde_json::json!("someone-else"), "wrong-id")]);
    let (got, _) = connect_bounded(port, Duration::from_secs(10));
    let e = got.expect_err("another request's answer");
    assert_eq!(e.kind(), ErrorKind::Protocol, "{e}");
    assert!(e.to_string().contains("a res for another request id"), "{e}");
}

/// A peer that sends the challenge, lets the client's connect arrive, and
/// drops the connection without reading it (the kernel answers with a
/// reset).
fn resetting_peer() -> u16 {
    challenging_peer(Some(Duration::ZERO), |ws| {
        std::thread::sleep(Duration::from_millis(300));
        drop(ws);
    })
    .0
}

/// Only a read that timed out is tried again: a connection reset while the
/// client waits for the answer is reported at once, as the reset it was
/// (not as whatever a second read of the dead socket says, nor as a
/// timeout at the handshake bound).
#[test]
fn a_reset_while_waiting_is_an_error_at_once() {
    let (got, took) = connect_bounded(resetting_peer(), Duration::from_secs(10));
    let e = got.expect_err("a reset connection");
    assert_eq!(e.kind(), ErrorKind::Io, "{e}");
    assert!(e.to_string().contains("Connection reset by peer"), "the reset is reported as what it was: {e}");
    assert!(took < BOUNDS.handshake, "took {took:?}: the reset was waited on as a timeout");
}

/// A peer that completes the handshake, reports whether the client's next
/// frame was a close, and answers the close after `reply_after` (never,
/// for `None`).
fn closing_peer(reply_after: Option<Duration>) -> (u16, std::sync::mpsc::Receiver<bool>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let (port, _) = challenging_peer(Some(Duration::ZERO), move |mut ws| {
        let Ok(Message::Text(t)) = ws.read() else { return };
        let req: serde_json::Value = serde_json::from_str(t.as_str()).unwrap();
        ws.send(Message::text(hello_ok(&req["id"], "closing").to_string())).unwrap();
        let _ = tx.send(matches!(ws.read(), Ok(Message::Close(_))));
        match reply_after {
            Some(d) => {
                std::thread::sleep(d);
                // tungstenite queued the close reply when it read the close.
                let _ = ws.flush();
                while ws.read().is_ok() {}
            }
            None => std::thread::sleep(Duration::from_secs(8)),
        }
    });
    (port, rx)
}

/// `close` sends a close frame (so the gateway logs a clean close) and
/// waits for the gateway's answer, but not past its bound.
#[test]
fn close_sends_a_close_and_waits_for_the_answer_within_its_bound() {
    let open = |port: u16| {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        connect(s, &format!("ws://127.0.0.1:{port}"), &req(), &BOUNDS).unwrap().0
    };
    let (port, saw_close) = closing_peer(Some(Duration::from_millis(300)));
    let mut ws = open(port);
    let started = Instant::now();
    gw_gateway::close(&mut ws, Duration::from_secs(6));
    let took = started.elapsed();
    assert!(saw_close.recv_timeout(Duration::from_secs(5)).unwrap(), "the peer's next frame was not a close");
    assert!(took >= Duration::from_millis(250), "returned after {took:?}, before the peer's answer");
    assert!(took < Duration::from_secs(4), "took {took:?}: the answer ended the wait, not the bound");

    let (port, saw_close) = closing_peer(None);
    let mut ws = open(port);
    let started = Instant::now();
    gw_gateway::close(&mut ws, Duration::from_millis(800));
    let took = started.elapsed();
    assert!(saw_close.recv_timeout(Duration::from_secs(5)).unwrap(), "the peer's next frame was not a close");
    assert!(took >= Duration::from_millis(800), "gave up after {took:?}, before the bound");
    assert!(took < Duration::from_millis(800) + Duration::from_secs(1), "took {took:?}, far past the bound");
}

/// A peer whose first frame after the upgrade is `first`; it reports
/// whether the client then sent it a text frame (a `connect`).
fn first_frame_peer(first: Message) -> (u16, std::sync::mpsc::Receiver<bool>) {
    let (tx, rx) = std::sync::mpsc::channel();
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut ws = tungstenite::accept(s).unwrap();
        let _ = ws.send(first);
        let mut texts = false;
        loop {
            match ws.read() {
                Ok(Message::Text(_)) => texts = true,
                Ok(_) => {}
                Err(_) => break,
            }
        }
        let _ = tx.send(texts);
    });
    (port, rx)
}

/// Only the challenge may come first: another event — even one whose
/// payload looks like a challenge —, a `res` or a binary frame is a
/// protocol error, a close an I/O error naming it, and no `connect` (no
/// credential) is sent.
#[test]
fn only_the_challenge_may_come_first() {
    let cases = [
        (
            Message::text(r#"{"type":"event","event":"tick","payload":{"nonce":"n-1","ts":5}}"#),
            ErrorKind::Protocol,
            "an event came before the challenge",
        ),
        (
            Message::text(r#"{"type":"res","id":"x","ok":true,"payload":{}}"#),
            ErrorKind::Protocol,
            "a res came before the challenge",
        ),
        (Message::binary(b"{}".to_vec()), ErrorKind::Protocol, "a binary frame"),
        (Message::Close(None), ErrorKind::Io, "the gateway closed before the challenge"),
    ];
    for (first, kind, why) in cases {
        let ctx = format!("{first:?}");
        let (port, sent_text) = first_frame_peer(first);
        let (got, _) = connect_bounded(port, Duration::from_secs(10));
        let e = got.expect_err(&ctx);
        assert_eq!(e.kind(), kind, "{ctx}: {e}");
        assert!(e.to_string().contains(why), "{ctx}: {e}");
        assert!(!sent_text.recv_timeout(Duration::from_secs(10)).unwrap(), "{ctx}: a connect was sent");
    }
}
