//! `gw`: the hardened command line for local gateways. Thin by design: it
//! parses arguments, calls the gw crates, and prints. Every security decision
//! lives in the crates (see crates/anchor).
#![forbid(unsafe_code)]

mod audit;
mod cli;
mod cmd;
mod home;
mod input;
mod output;
mod owner;
mod verified;

use std::process::ExitCode;

use clap::FromArgMatches;
use gw_anchor::{Policy, Resolver};

use crate::cli::{Cli, Command, ResolverArg};
use crate::output::{CliError, EXIT_USAGE, Output};

fn main() -> ExitCode {
    // The standard library draws its hash keys from the random source the
    // first time a thread builds a `RandomState`, and panics if that fails.
    // JSON objects (serde_json with `preserve_order`) are hash maps, and the
    // output builds them after a failed operation too: drawn here, first, a
    // random source that fails later fails only the operation that needs
    // it (THREATS FS-11: reported as `random_source`, nothing written),
    // not the report of its failure.
    drop(std::collections::hash_map::RandomState::new());
    // Parsed through the built command (`cli::command`: examples and one-line
    // summaries added to the derived definition).
    let parsed = cli::command().try_get_matches().and_then(|m| Cli::from_arg_matches(&m));
    let cli = match parsed {
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
    if let Some(e) = cli.command.secret_in_argv() {
        return ExitCode::from(output::finish(out.error(&e)));
    }
    let (top_profile, top_store) = (&cli.profile, &cli.store);
    let result = match cli.command {
        Command::Demo => cmd::demo::run(&policy, out),
        Command::Fs(fs) => cmd::fs::run(fs, &policy, out),
        Command::Doc(doc) => cmd::doc::run(doc, &policy, out),
        Command::Token(t) => cmd::token::run(t, &policy, out),
        Command::Cred(c) => {
            let (store, keyring) = cli::store_args(top_store, &c.store);
            let (profile, _) = cli::profile_name(top_profile, &c.profile);
            cmd::cred::run(c.command, &profile, home::store_config(store, keyring), &policy, out)
        }
        Command::Profile(p) => {
            // Only `profile init` writes a secret (the device key).
            let (store, keyring) = match &p {
                cli::cred::ProfileCommand::Init(a) => cli::store_args(top_store, &a.store),
                _ => cli::store_args(top_store, &cli::StoreOpts { store: None, keyring: None }),
            };
            cmd::profile::run(p, home::store_config(store, keyring), &policy, out)
        }
        Command::Lease(l) => cmd::lease::run(l, &policy, out),
        Command::Watch(w) => {
            // Only `watch health` takes --profile after the command.
            let sub = match &w {
                cli::watch::WatchCommand::Health(h) => h.profile.clone(),
                _ => cli::ProfileOpt { name: None },
            };
            cmd::watch::run(w, &cli::profile_name(top_profile, &sub).0, &policy, out)
        }
        Command::Doctor(d) => {
            // The doctor audits every profile unless one is named.
            let (profile, named) = cli::profile_name(top_profile, &d.profile);
            cmd::doctor::run(d.args, named.then_some(profile.as_str()), &policy, out)
        }
        Command::Serve(s) => cmd::serve::run(s.args, &cli::profile_name(top_profile, &s.profile).0, &policy, out),
        Command::Probe(p) => {
            let (store, keyring) = cli::store_args(top_store, &p.store);
            let (profile, _) = cli::profile_name(top_profile, &p.profile);
            cmd::probe::run(p.args, &profile, home::store_config(store, keyring), &policy, out)
        }
        Command::Port(p) => cmd::port::run(p, &policy, out),
        Command::Completions(a) => cmd::manual::completions(a.shell),
        Command::Man(a) => cmd::manual::man(&a.command, out),
    };
    ExitCode::from(output::finish(match result {
        Ok(code) => code,
        Err(e) => out.error(&e),
    }))
}
