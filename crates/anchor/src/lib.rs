//! # gw-anchor: capability-anchored, symlink-proof directory operations
//!
//! gw-anchor owns one problem: doing file operations inside a directory
//! without being redirected by anyone else on the machine. A [`Root`] is an
//! open directory handle, verified when opened (every directory from `/` is
//! owned by root or the caller and not writable by others, in the spirit of
//! OpenSSH's StrictModes and systemd's `chase()`). Every operation takes a
//! *relative* path and resolves it beneath that handle without following a
//! single symlink — with Linux `openat2(RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS
//! | RESOLVE_NO_MAGICLINKS)`, or a component-by-component `O_NOFOLLOW` walk
//! where openat2 is unavailable (both always tested, see [`Resolver`]).
//!
//! ```
//! use gw_anchor::{ErrorKind, Policy, Root, WriteOptions};
//!
//! # fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let dir = tempfile::tempdir()?;
//! // Verify the chain of directories once, then hold the handle.
//! let root = Root::open(dir.path(), &Policy::new())?;
//!
//! // Atomic, durable replace (a 0600 file, missing parents created 0700).
//! root.write_atomic("profiles/default.json", b"{\"port\":18789}", &WriteOptions::new().create_parents(true))?;
//! assert_eq!(root.read("profiles/default.json", 4096)?, b"{\"port\":18789}");
//!
//! // Another process plants a symlink: it is never followed (THREATS FS-1).
//! std::os::unix::fs::symlink("/etc", dir.path().join("profiles/evil"))?;
//! let err = root.read("profiles/evil/passwd", 4096).unwrap_err();
//! assert_eq!(err.kind(), ErrorKind::Symlink);
//! assert!(err.kind().is_security_refusal());
//!
//! // Nor does a path lead outside the root.
//! assert_eq!(root.read("../outside", 4096).unwrap_err().kind(), ErrorKind::Escape);
//! # Ok(()) }
//! ```
//!
//! **Guarantees.** Nothing is read or written outside the root, whatever
//! symlinks or renames another process plants or races (THREATS FS-1,
//! FS-2); files are replaced atomically and durably, created with their final
//! mode, through unpredictable exclusive temporaries (FS-3, FS-4, FS-6);
//! insecure directories are refused with an error that names the fix (FS-5);
//! only `ENOENT` is "not found" (FS-7); [`Root::verify`] re-checks the chain
//! before a hand-off (FS-8); a write that is published but not durable, or
//! whose random source failed, says so by its error kind, and the stale
//! temps a double fault leaves are removed by the next write in their
//! directory, never a live writer's (FS-11).
//!
//! **Not guaranteed.** gw-anchor does not protect against the caller's own
//! uid or root acting maliciously inside the root (they own it), does not
//! make reads atomic against writers that do not use [`Root::write_atomic`],
//! and on platforms other than Linux relies on the portable backend alone
//! ([`Resolver::Portable`]: built and linted for macOS, run on Linux in CI;
//! `docs/platforms.md` lists what only a Mac can confirm).
//! Advisory locks ([`Root::lock`]) bind only cooperating processes.
//!
//! The threat rationale lives in `audits/THREAT-MAP.md`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod chain;
mod error;
mod list;
mod lock;
mod metadata;
mod mkdir;
mod path;
mod policy;
mod read;
mod remove;
mod rename;
mod replace;
mod resolve;
mod root;
mod sync;
mod sys;

pub use chain::{ChainStep, audit_chain};
pub use error::{Error, ErrorKind, Result};
/// The class every error answers (gw-error): not found, refused, invalid, failed.
pub use gw_error::Class;
pub use list::DirEntry;
pub use lock::{LockGuard, LockMode};
pub use metadata::{FileKind, Metadata};
pub use path::{MAX_DEPTH, MAX_NAME_BYTES, MAX_PATH_BYTES, RelPath};
pub use policy::{Policy, Resolver};
pub use replace::{Durability, STALE_TEMP_AGE, TEMP_PREFIX, TempStrategy, WriteOptions, is_temp_name};
pub use root::Root;

// The README's example runs as a doc test too, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
