//! # gw-token: secrets and scoped tokens
//!
//! gw-token owns one problem: a gateway must hand clients credentials that
//! are good for one purpose only, never its root secret (THREATS TOK-1).
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
pub use keys::{CAVEAT_DOMAIN, CLAIMS_DOMAIN, HKDF_SALT, INFO_MAC_KEY, TokenKey, hkdf_sha256, hmac_sha256};
pub use label::{OPENCLAW_APPROVAL_LABEL, label_token, read_json_secret};
pub use secret::{ROOT_SECRET_LEN, Secret, init_secret_file, load_secret_file};
pub use token::{
    DEFAULT_SKEW_SECS, Grant, Inspection, MAX_CAVEATS, MAX_TOKEN_LEN, PREFIX, Verifier, attenuate, derive,
    derive_with_id, expose, inspect, is_loopback, unix_now,
};
