//! `gw probe`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;

/// Whose port it must be: the expected owner of the gateway's listeners.
#[derive(Debug, Args)]
pub(crate) struct OwnerArgs {
    /// The gateway's pid: every listener on the port must belong to it or its descendants.
    #[arg(long, group = "probe_owner")]
    pub(crate) pid: Option<u32>,
    /// A pidfile naming the gateway's pid ("PID" or "PID STARTTIME"); its
    /// directory is verified like any gw directory, and the pidfile must be
    /// yours or root's and not writable by group/other (else refused, exit 3:
    /// whoever can write it picks who receives the credential).
    #[arg(long, value_name = "PATH", group = "probe_owner")]
    pub(crate) pidfile: Option<PathBuf>,
    /// A gw-lease registry directory (`gw serve` keeps one in its profile
    /// directory: `~/.config/gw/profiles/NAME/leases`); with --id, the gateway is
    /// the record's process, named by pid and start time. Refused (exit 3,
    /// nothing sent) if the directory is insecure or the record's process is
    /// not running (dead, expired, pid reused) or was registered in another
    /// boot or pid namespace; exit 4 if no record has the id.
    #[arg(long, value_name = "DIR", group = "probe_owner", requires = "id")]
    pub(crate) lease: Option<PathBuf>,
    /// The lease record's id (`gw serve` registers `serve-PORT`).
    #[arg(long, value_name = "ID", requires = "lease")]
    pub(crate) id: Option<String>,
    /// Every listener must also be owned by this uid.
    #[arg(long)]
    pub(crate) uid: Option<u32>,
}

#[derive(Debug, Args)]
pub(crate) struct ProbeArgs {
    /// The gateway URL (ws://, loopback). It gets only the credential stored
    /// for it, never a runtime token, and needs --pid, --pidfile or --lease
    /// DIR --id ID. Without URL: the --profile's own gateway (URL generated
    /// from its config.json, owner from its serve.pid unless --pid, --pidfile
    /// or --lease is given), which may get a runtime token.
    pub(crate) url: Option<String>,
    #[command(flatten)]
    pub(crate) owner: OwnerArgs,
    /// The role to connect as (the device token of this role is preferred).
    #[arg(long, default_value = "operator")]
    pub(crate) role: String,
    /// A scope to ask for (repeatable). Default: `operator.read` for the
    /// role operator, none for other roles.
    #[arg(long = "scope", value_name = "SCOPE")]
    pub(crate) scopes: Vec<String>,
    /// How long the connection and the hello may take.
    #[arg(long, default_value = "5s", value_parser = parse_timeout)]
    pub(crate) timeout: Duration,
    /// Print each step on stderr as it happens: the owner expected, the
    /// credential chosen (which one, never its value), the proof and the
    /// answer with their timing.
    #[arg(short, long, conflicts_with = "quiet")]
    pub(crate) verbose: bool,
    /// Print nothing when the probe succeeds (the exit code says so); errors
    /// are still printed, and --json output is unchanged.
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

fn parse_timeout(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration like 5s: {e}"))?;
    if d.is_zero() || d > Duration::from_secs(300) {
        return Err(format!("`{s}` must be between 1ms and 5m"));
    }
    Ok(d)
}
