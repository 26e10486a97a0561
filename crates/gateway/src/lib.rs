//! gw-gateway — the local-gateway protocol as a library: OpenClaw's gateway
//! protocol (version 4), so that a tool can talk to a real local gateway
//! safely.
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
