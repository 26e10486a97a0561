//! `gw completions` and `gw man`: generated from the command definition
//! (clap_complete, clap_mangen), so they never drift from the real flags.

use clap::Command;
use serde_json::json;

use crate::output::{CliError, EXIT_NOT_FOUND, EXIT_OK, Output};

/// Prints the completion script for `shell` on stdout.
pub(crate) fn completions(shell: clap_complete::Shell) -> Result<u8, CliError> {
    let mut cmd = crate::cli::command();
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut cmd, "gw", &mut script);
    crate::output::print(&script);
    Ok(EXIT_OK)
}

/// Prints the man page (roff) of gw or of the command named by `words`.
pub(crate) fn man(words: &[String], out: Output) -> Result<u8, CliError> {
    let mut cmd = crate::cli::command();
    cmd.build();
    let mut name = String::from("gw");
    for w in words {
        let sub = cmd.find_subcommand(w).filter(|s| s.get_name() != "help").cloned().ok_or_else(|| {
            let known: Vec<&str> = cmd.get_subcommands().map(Command::get_name).filter(|n| *n != "help").collect();
            CliError {
                code: EXIT_NOT_FOUND,
                kind: "not_found",
                op: "man",
                path: Some(format!("{name} {w}")),
                message: format!("`{name}` has no command `{w}`"),
                fix: Some(format!("one of: {}", known.join(", "))),
            }
        })?;
        name = format!("{name}-{}", sub.get_name());
        // The page's title and synopsis name the whole command (gw-cred-set).
        cmd = sub.name(name.clone()).bin_name(name.replace('-', " "));
    }
    let mut page = Vec::new();
    clap_mangen::Man::new(cmd).render(&mut page).map_err(|e| CliError {
        code: 1,
        kind: "io",
        op: "man",
        path: None,
        message: e.to_string(),
        fix: None,
    })?;
    if out.json {
        out.ok("", json!({ "page": name, "roff": String::from_utf8_lossy(&page) }));
    } else {
        crate::output::print(&page);
    }
    Ok(EXIT_OK)
}
