//! gw-procfs: the one door to Linux `/proc` for every gw crate.
//!
//! Everything gw decides about processes — who holds a port (gw-portguard),
//! whether a lease's holder is still alive (gw-lease), the kernel's link
//! protections (gw doctor) — is read from `/proc`. Read through string paths,
//! each read trusts whatever is mounted at `/proc` at that moment: a
//! filesystem mounted over it (a FUSE or tmpfs file tree shaped like
//! procfs) could answer "this pid holds the socket". [`Proc`] opens `/proc`
//! once, checks that what it opened is the root of a procfs mount
//! (`fstatfs` magic `PROC_SUPER_MAGIC`, root inode 1) and that it is the
//! procfs of our own pid namespace (`self` names our pid), and every read
//! after that is `openat` relative to that verified directory — the model
//! is libpathrs's `procfs.rs`. (The `procfs` crate reads by path from
//! `/proc` on every call and does not verify the mount, which is the point
//! here; its parsers would be the only part we used.)
//!
//! It also holds the one `/proc/PID/stat` parser ([`parse_stat`]), which
//! counts fields from the last `)` (a process names itself), and the fd
//! scan that finds which sockets a process holds ([`Proc::socket_inodes`]).
//!
//! ```
//! # #[cfg(target_os = "linux")] {
//! let proc = gw_procfs::Proc::get().expect("/proc is procfs");
//! let me = proc.stat(std::process::id()).unwrap().expect("we are alive");
//! assert_eq!(me.pid, std::process::id());
//! assert!(me.start_time > 0 || me.ppid == 0);
//! assert!(proc.pids().unwrap().contains(&std::process::id()));
//! # }
//! ```
//!
//! On other platforms the crate is empty: Darwin has no `/proc`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod stat;

pub use stat::{ParseError, ProcStat, format_stat, parse_stat};

#[cfg(any(target_os = "linux", target_os = "android"))]
mod linux;

#[cfg(any(target_os = "linux", target_os = "android"))]
pub use linux::{FdScanError, FdTable, Proc};

// The README's example runs as a doc test too, so it cannot drift from the API.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
