//! The commands: each parses nothing (its arguments are defined in
//! `src/cli/`), decides nothing about security, and only calls the crates
//! and prints. No command imports another: what two commands share lives in
//! a module that is not a command (`src/owner.rs`: whose port it must be;
//! `src/verified.rs`: the verified connection; `src/home.rs`: the home,
//! store and device identity). tests/cli_layout.rs keeps it so.

pub(crate) mod cred;
pub(crate) mod demo;
pub(crate) mod doc;
pub(crate) mod doctor;
pub(crate) mod fs;
pub(crate) mod lease;
pub(crate) mod manual;
pub(crate) mod port;
pub(crate) mod probe;
pub(crate) mod profile;
pub(crate) mod serve;
pub(crate) mod token;
pub(crate) mod watch;
