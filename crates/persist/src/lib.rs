//! # gw-persist: typed documents beneath a gw-anchor root
//!
//! gw-persist owns one problem: keeping small configuration and credential
//! documents (JSON, Apple plist) correct on disk when several processes and
//! threads read and write them, and when the bytes on disk are hostile.
//!
//! ```
//! use gw_anchor::{Policy, Root};
//! use gw_persist::{Document, ErrorKind, Limits, parse_json};
//! use serde_json::json;
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! let root = Root::open(dir.path(), &Policy::new())?;
//! let doc = Document::new(&root, "state.json");
//! assert_eq!(doc.load_value()?, None); // absent: only when the file does not exist
//!
//! // Read-modify-write under a lock held across threads and processes.
//! for _ in 0..2 {
//!     doc.update_value(|cur| {
//!         let mut v = cur.unwrap_or_else(|| json!({"count": 0}));
//!         v["count"] = (v["count"].as_u64().unwrap_or(0) + 1).into();
//!         Ok::<_, gw_persist::Error>(v)
//!     })?;
//! }
//! assert_eq!(doc.load_value()?, Some(json!({"count": 2})));
//!
//! // Strict parsing: a duplicate key is refused, not silently resolved.
//! let err = parse_json(br#"{"token":"a","token":"b"}"#, &Limits::default()).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::DuplicateKey);
//! # Ok(()) }
//! ```
//!
//! **Guarantees.** [`Document::load_value`] returns `None` only for a file
//! that does not exist (THREATS FS-7); parsing is strict — size limit before
//! parsing, depth limit, duplicate keys refused, invalid UTF-8, byte-order
//! marks and trailing data refused — with the line and column in the error.
//! Saves go through gw-anchor's atomic replace (FS-1, FS-3, FS-4, FS-6),
//! and a save whose result the same strict loader would refuse (too large
//! or too deep as written) is refused before anything is written (DOC-3).
//! [`Document::update_value`] is a read-modify-write under a lock that holds
//! across threads and processes, optionally guarded by a generation counter
//! (compare-and-swap); [`FileLock`] is that lock, for any file beneath a
//! root. [`merge_keeping_local`] mirrors a primary document
//! into a secondary without dropping the secondary's own entries (CRED-7).
//! [`service`] renders launchd agents and systemd user units from typed,
//! validated specs (values that would inject a directive are refused),
//! writes them atomically and re-verifies the chain before hand-off (FS-8).
//!
//! **Not guaranteed.** Locks are advisory: a writer that bypasses
//! gw-persist is not excluded (its writes are still atomic if it uses
//! gw-anchor). plist `<data>`, `<date>` and UID values are refused, not
//! mapped.
//!
//! The threat rationale lives in `audits/THREAT-MAP.md`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod document;
mod error;
mod format;
mod inproc;
mod json;
mod limits;
mod lock;
mod merge;
mod plist;
pub mod pointer;
pub mod service;
mod sync;
mod wipe;

pub use document::Document;
pub use error::{Error, ErrorKind, Result};
pub use format::Format;
/// The class every error answers (gw-error): not found, refused, invalid, failed.
pub use gw_error::Class;
pub use json::{JsonStyle, parse_json, to_json_bytes, to_json_bytes_styled};
pub use limits::{Limits, nesting_depth};
pub use lock::{FileLock, LockError};
// The in-process half of `FileLock`, for other crates' loom models only
// (gw-lease runs its registry transactions under it).
#[cfg(loom)]
#[doc(hidden)]
pub use inproc::{KeyGuard, KeyedLocks};
pub use merge::{merge_keeping_local, merge_patch};
pub use plist::{parse_plist, to_plist_bytes};
pub use wipe::{ZeroizingValue, zeroize_strings};

// The README's example runs as a doc test too, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
