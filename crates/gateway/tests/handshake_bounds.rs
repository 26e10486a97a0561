//! The handshake's time bounds, against a scripted peer (what the real
//! gateway cannot be made to do: answer slowly, or never): each wait ends at
//! its own deadline — an answer after the challenge bound but within the
//! handshake bound is taken, silence is a timeout at the handshake bound,
//! not before and not much after.

use std::net::{TcpListener, TcpStream};
use std::time::{Duration, Instant};

use gw_gateway::{Bounds, ClientInfo, Connect, Credential, ErrorKind, connect};
use gw_token::Secret;
use tungstenite::Message;

/// A peer that sends the challenge at once, then answers the connect after
/// `delay` (or never, for `None`).
fn peer(delay: Option<Duration>) -> (u16, std::thread::JoinHandle<()>) {
    let l = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = l.local_addr().unwrap().port();
    let h = std::thread::spawn(move || {
        let (s, _) = l.accept().unwrap();
        let mut ws = tungstenite::accept(s).unwrap();
        ws.send(Message::text(r#"{"type":"event","event":"connect.challenge","payload":{"nonce":"n-1","ts":5}}"#))
            .unwrap();
        let req: serde_json::Value = match ws.read().unwrap() {
            Message::Text(t) => serde_json::from_str(t.as_str()).unwrap(),
            other => panic!("{other:?}"),
        };
        match delay {
            Some(d) => {
                std::thread::sleep(d);
                let res = serde_json::json!({"type": "res", "id": req["id"], "ok": true, "payload": {
                    "type": "hello-ok", "protocol": 4, "server": {"version": "scripted"},
                    "auth": {"method": "token", "role": "operator", "scopes": []}}});
                ws.send(Message::text(res.to_string())).unwrap();
                let _ = ws.read();
            }
            None => std::thread::sleep(Duration::from_secs(8)),
        }
    });
    (port, h)
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
