//! `gw`: the hardened command line for local gateways. Thin by design: it
//! parses arguments, calls the gw crates, and prints. Every security decision
//! lives in the crates (see crates/anchor).
#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod output;

use std::process::ExitCode;

use clap::Parser;
use gw_anchor::{Policy, Resolver};

use crate::cli::{Cli, Command, ResolverArg};
use crate::output::{EXIT_USAGE, Output};

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version are not errors.
            let code = if e.use_stderr() { EXIT_USAGE } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    let out = Output { json: cli.json };
    let policy = Policy::new().resolver(match cli.resolver {
        ResolverArg::Auto => Resolver::Auto,
        ResolverArg::Openat2 => Resolver::Openat2,
        ResolverArg::Walk => Resolver::Walk,
    });
    let result = match cli.command {
        Command::Demo => cmd::demo::run(&policy, out),
        Command::Fs(fs) => cmd::fs::run(fs, &policy, out),
    };
    ExitCode::from(match result {
        Ok(code) => code,
        Err(e) => out.error(&e),
    })
}
