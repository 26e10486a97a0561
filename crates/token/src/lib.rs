//! # gw-token: secrets and scoped tokens
//!
//! gw-token owns one problem: a gateway must hand clients credentials that
//! are good for one purpose only, never its root secret (THREATS TOK-1).
//!
//! ```
//! use std::net::{IpAddr, Ipv4Addr};
//! use std::time::Duration;
//! use gw_token::{Caveat, ErrorKind, Grant, Secret, TokenKey, Verifier, attenuate, derive, expose};
//!
//! # fn main() -> Result<(), gw_token::Error> {
//! let root = Secret::generate()?; // the gateway's root secret (never handed out)
//! let key = TokenKey::from_root(&root);
//! let now = 1_700_000_000;
//! let grant = Grant {
//!     scopes: vec!["gateway.connect".into(), "approvals.read".into()],
//!     audience: Some("ws://127.0.0.1:18789".into()),
//!     ttl: Duration::from_secs(300),
//!     local: true,
//! };
//! let token = derive(&key, &grant, now)?;
//!
//! let loopback = IpAddr::V4(Ipv4Addr::LOCALHOST);
//! let verifier = Verifier::new(&key, "gateway.connect").audience("ws://127.0.0.1:18789").peer(loopback).at(now);
//! assert_eq!(verifier.verify(expose(&token))?.expires, now + 300);
//!
//! // A holder narrows its token without the root secret: approvals only.
//! let narrow = attenuate(expose(&token), &Caveat { scp: Some(vec!["approvals.read".into()]), ..Caveat::default() })?;
//! let err = verifier.verify(expose(&narrow)).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Scope);
//!
//! // A local token presented from another host is refused (THREATS TOK-3).
//! let remote = IpAddr::V4(Ipv4Addr::new(192, 0, 2, 7));
//! let from_afar = Verifier::new(&key, "gateway.connect").audience("ws://127.0.0.1:18789").peer(remote).at(now);
//! assert_eq!(from_afar.verify(expose(&token)).unwrap_err().kind(), ErrorKind::Locality);
//! # Ok(()) }
//! ```
//!
//! **What it provides.** [`Secret`] (never printed, zeroized on drop, read
//! only through an explicit call); root secret files created only by an
//! explicit [`init_secret_file`] and loaded by [`load_secret_file`], which
//! never creates anything (TOK-4) and refuses a file others can read; `gw2`
//! tokens [`derive`](fn@derive)d from the root secret through HKDF-SHA256 with
//! versioned labels, binding scope, audience, not-before/expiry and
//! locality; holder-side [`attenuate`] (macaroon-style chained HMAC, a
//! caveat can only narrow); strict, constant-time verification
//! ([`Verifier`]) with an injectable clock and a documented skew, refusing a
//! local-only token from a non-loopback peer (TOK-3); and the label-token
//! compatibility derivation ([`label_token`]).
//!
//! **Not provided.** Revocation (tokens are valid until they expire: keep
//! lifetimes short), encryption (claims are readable by anyone holding the
//! token: never put a secret in a claim), and key rotation policy.
//!
//! The format, key schedule, attenuation rule and test vectors are in
//! `docs/token-format.md`; the threat rationale in `audits/THREAT-MAP.md`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod b64;
mod claims;
mod error;
mod keys;
mod label;
mod secret;
mod token;

pub use claims::{Caveat, Claims, Effective, MAX_AUDIENCE_LEN, MAX_LIFETIME_SECS, MAX_SCOPE_LEN, MAX_SCOPES, VERSION};
pub use error::{Error, ErrorKind, Result};
/// The class every error answers (gw-error): not found, refused, invalid, failed.
pub use gw_error::Class;
// The key schedule's labels and raw HKDF: what docs/token-format.md
// specifies, exported for the test vectors, property tests, benches and fuzz
// targets that recompute a token independently (tests/token_*.rs,
// fuzz/fuzz_targets/token_verify.rs). Not an API for gateways: derive and
// verify through `TokenKey`, `derive` and `Verifier`. Hidden rather than
// behind a feature so the separate fuzz workspace and the root tests link the
// same build as the CLI.
#[doc(hidden)]
pub use keys::{CAVEAT_DOMAIN, CLAIMS_DOMAIN, HKDF_SALT, INFO_MAC_KEY, hkdf_sha256};
pub use keys::{TokenKey, hmac_sha256};
pub use label::{OPENCLAW_APPROVAL_LABEL, label_token};
pub use secret::{ROOT_SECRET_LEN, Secret, init_secret_file, load_secret_file};
pub use token::{
    DEFAULT_SKEW_SECS, Grant, Inspection, MAX_CAVEATS, MAX_TOKEN_LEN, PREFIX, Verifier, attenuate, derive,
    derive_with_id, expose, inspect, is_loopback, unix_now,
};

// The README's example runs as a doc test too, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
