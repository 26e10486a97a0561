//! `gw`: the hardened command line for local gateways. Thin by design: it
//! parses arguments, calls the gw crates, and prints. Every security decision
//! lives in the crates (see crates/anchor).
#![forbid(unsafe_code)]

mod cli;
mod cmd;
mod doctor;
mod gateway;
mod input;
mod output;

use std::process::ExitCode;

use clap::parser::ValueSource;
use clap::{CommandFactory, FromArgMatches};
use gw_anchor::{Policy, Resolver};

use crate::cli::{Cli, Command, ResolverArg};
use crate::output::{CliError, EXIT_USAGE, Output};

fn main() -> ExitCode {
    // Parsed through ArgMatches (not `Cli::try_parse`) so a command can tell a
    // global flag given on the command line from its default.
    let parsed = Cli::command().try_get_matches().and_then(|m| Cli::from_arg_matches(&m).map(|cli| (cli, m)));
    let (cli, matches) = match parsed {
        Ok(parsed) => parsed,
        Err(e) if !e.use_stderr() || e.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
            // --help and --version are not errors. On stdout, what failed to
            // be written is reported like any output (CLI-3).
            if let Err(failed) = e.print()
                && !e.use_stderr()
            {
                output::stdout_failed(failed);
            }
            return ExitCode::from(output::finish(if e.use_stderr() { EXIT_USAGE } else { 0 }));
        }
        Err(e) => {
            // One line, like every gw error: clap's first line, and where to look.
            let rendered = e.render().to_string();
            let mut lines = rendered.lines().map(str::trim).skip_while(|l| l.is_empty());
            let first = lines.next().unwrap_or("invalid arguments");
            let mut msg = first.strip_prefix("error: ").unwrap_or(first).to_owned();
            let rest: Vec<&str> = lines.collect();
            if msg.ends_with(':') {
                // "the following required arguments were not provided:" — name them.
                let listed: Vec<&str> = rest.iter().copied().take_while(|l| !l.is_empty()).collect();
                msg = format!("{msg} {}", listed.join(", "));
            }
            // Keep what clap knows beyond the first line: a similar
            // subcommand or flag ("tip: a similar subcommand exists: 'profile'")
            // and the values a flag takes ("[possible values: file, ...]").
            for l in &rest {
                if let Some(tip) = l.strip_prefix("tip: ") {
                    msg = format!("{msg}; {tip}");
                } else if l.starts_with("[possible values:") {
                    msg = format!("{msg} {l}");
                }
            }
            // The arguments did not parse, so `--json` is looked for by hand
            // (up to a `--`): scripts get the usage error as JSON too.
            let json = std::env::args_os().skip(1).take_while(|a| a != "--").any(|a| a == "--json");
            let err = CliError::usage("usage", msg).with_fix("see `gw --help`, or `--help` after the subcommand");
            return ExitCode::from(output::finish(Output { json }.error(&err)));
        }
    };
    let out = Output { json: cli.json };
    let policy = Policy::new().resolver(match cli.resolver {
        ResolverArg::Auto => Resolver::Auto,
        ResolverArg::Openat2 => Resolver::Openat2,
        ResolverArg::Walk => Resolver::Walk,
        ResolverArg::Portable => Resolver::Portable,
    });
    let result = match cli.command {
        Command::Demo => cmd::demo::run(&policy, out),
        Command::Fs(fs) => cmd::fs::run(fs, &policy, out),
        Command::Doc(doc) => cmd::doc::run(doc, &policy, out),
        Command::Token(t) => cmd::token::run(t, &policy, out),
        Command::Cred(c) => {
            let store = cmd::cred::store_config(cli.store, cli.keyring);
            cmd::cred::run(c, &cli.profile, store, &policy, out)
        }
        Command::Profile(p) => cmd::cred::profile(p, &policy, out),
        Command::Lease(l) => cmd::lease::run(l, &policy, out),
        Command::Watch(w) => cmd::watch::run(w, &cli.profile, &policy, out),
        Command::Doctor(d) => {
            // The doctor audits every profile unless one is named.
            let named = matches.value_source("profile") == Some(ValueSource::CommandLine);
            cmd::doctor::run(d, named.then_some(cli.profile.as_str()), &policy, out)
        }
        Command::Serve(s) => cmd::serve::run(s, &cli.profile, &policy, out),
        Command::Probe(p) => {
            let store = cmd::cred::store_config(cli.store, cli.keyring);
            cmd::probe::run(p, &cli.profile, store, &policy, out)
        }
        Command::Port(p) => cmd::port::run(p, &policy, out),
    };
    ExitCode::from(output::finish(match result {
        Ok(code) => code,
        Err(e) => out.error(&e),
    }))
}
