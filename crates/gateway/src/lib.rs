//! gw-gateway — the local-gateway protocol as a library: OpenClaw's gateway
//! protocol (version 4), so that a tool can talk to a real local gateway
//! safely.
//!
//! A client and a server on a loopback port, in one process (the server is
//! the one `gw serve` runs; a real client talks to OpenClaw's the same way):
//!
//! ```
//! use std::net::TcpListener;
//! use gw_anchor::{Policy, Root};
//! use gw_gateway::server::{Gate, ServerConfig, serve_connection};
//! use gw_gateway::{Bounds, Connect, Credential, ErrorKind, close, connect};
//! use gw_portguard::{Expected, Options, connect_verified};
//! use gw_token::Secret;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let profile = Root::open(dir.path(), &Policy::new())?;
//! let listener = TcpListener::bind("127.0.0.1:0")?;
//! let addr = listener.local_addr()?;
//! let url = format!("ws://{addr}");
//! let shared = Secret::from("a-shared-token".to_owned());
//! let gate = Gate::new(&profile, &Secret::generate()?, url.clone(), Some(&shared), None);
//!
//! std::thread::scope(|s| -> Result<(), Box<dyn std::error::Error>> {
//!     // The gateway: serves two connections.
//!     s.spawn(|| {
//!         for _ in 0..2 {
//!             let (stream, peer) = listener.accept().expect("accept");
//!             serve_connection(stream, peer, &gate, &ServerConfig::default());
//!         }
//!     });
//!     let hello = |secret: &str| -> gw_gateway::Result<_> {
//!         // Prove who owns the port before anything is sent (THREATS PORT-1).
//!         let stream = connect_verified(addr, &Expected::new(std::process::id()), &Options::default())
//!             .expect("this process owns the port");
//!         let req = Connect {
//!             client: Default::default(),
//!             role: "operator".into(),
//!             scopes: vec!["operator.read".into()],
//!             credential: Credential::Token(Secret::from(secret.to_owned())),
//!             device: None,
//!         };
//!         connect(stream, &url, &req, &Bounds::default())
//!     };
//!     // The right shared token: a hello-ok, protocol 4.
//!     let (mut session, ok) = hello("a-shared-token")?;
//!     assert_eq!((ok.hello.protocol, ok.sent), (4, "token"));
//!     assert_eq!(ok.hello.auth.role, "operator");
//!     close(&mut session, std::time::Duration::from_secs(1));
//!     // A wrong one: the gateway's refusal, with its code, never the token.
//!     let err = hello("a-wrong-token").unwrap_err();
//!     assert_eq!(err.kind(), ErrorKind::AuthRefused);
//!     assert!(!err.to_string().contains("a-wrong-token"));
//!     Ok(())
//! })?;
//! # Ok(()) }
//! ```
//!
//! What it owns:
//! - **frames** ([`frame`]): the `connect.challenge` event, `res` frames with
//!   a hello-ok or the gateway's refusal (its `details.code` and recommended
//!   next step), all parsed strictly and bounded in size and depth;
//! - **device identity** ([`device`]): an Ed25519 key pair per profile, its
//!   private key in a 0600 file created exclusively, the device id and
//!   public key encoded as OpenClaw expects, and the signature over
//!   OpenClaw's v3 payload, which binds the challenge's nonce and time;
//! - **the client handshake** ([`client`]): challenge, one `connect` with
//!   exactly one credential (device token, else shared token, else
//!   password, else bootstrap token — THREATS CRED-1), the answer, every
//!   wait bounded.
//!
//! What it guarantees: nothing is sent before the caller's stream exists,
//! and the caller is expected to create it with gw-portguard's
//! `connect_verified` (the port-ownership proof, THREATS PORT-1) — the
//! upgrade itself is the first byte; no error message quotes a credential,
//! a role or anything else a gateway sent that could be one; a refusal by
//! the gateway is a security refusal ([`ErrorKind::AuthRefused`]), a
//! protocol version other than 4 is [`ErrorKind::VersionMismatch`] naming
//! both.
//!
//! - **the server side** ([`server`]): what `gw serve` runs per connection —
//!   the challenge, one strict `connect`, the device proof bound to that
//!   connection's nonce and time (THREATS GATE-2), the credentials of a
//!   [`server::Gate`], the hello-ok with device tokens per device and role.
//!
//! What it does not do: storing what a hello-ok hands off (gw-cred does;
//! which tokens may be handed off at all — only after a bootstrap connect to
//! a loopback peer, THREATS GATE-3 — is decided here, by
//! [`HelloOk::handoff`]). The protocol
//! as gw implements it is described in `docs/gateway-protocol.md`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod client;
pub mod device;
mod error;
pub mod frame;
pub mod openclaw;
pub mod server;

pub use client::{Bounds, ClientInfo, Connect, Credential, Hello, Session, close, connect, handshake};
pub use device::{DEVICE_KEY_FILE, DeviceIdentity, SignedFields, normalize_metadata, v3_payload};
pub use error::{Error, ErrorKind, Refusal, Result};
pub use frame::{
    BOOTSTRAP_METHOD, Challenge, HelloAuth, HelloOk, IssuedToken, MAX_FRAME_BYTES, PROTOCOL_VERSION,
    parse_handoff_input,
};
/// The class every error answers (gw-error): not found, refused, invalid, failed.
pub use gw_error::Class;

// The README's example runs as a doc test too, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
