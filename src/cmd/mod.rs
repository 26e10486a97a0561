//! The commands: each parses nothing, decides nothing about security, and
//! only calls the crates and prints.

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
