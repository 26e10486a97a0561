//! `gw serve`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Which loopback addresses `gw serve` listens on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum Bind {
    /// 127.0.0.1 and ::1 (the default: `localhost` may resolve to either).
    Both,
    /// 127.0.0.1 only.
    Ipv4,
    /// ::1 only.
    Ipv6,
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The port (default: the profile's config.json). 0 picks a free port;
    /// the ready line says which.
    #[arg(long)]
    pub(crate) port: Option<u16>,
    /// The loopback addresses to listen on (both by default, on one port).
    #[arg(long, value_enum, default_value_t = Bind::Both)]
    pub(crate) bind: Bind,
    /// Issue a fresh bootstrap token at start and store it in the profile's
    /// credential store (slot `bootstrap`) for this gateway's URL; the gateway
    /// keeps only its digest (in gateway-issued.json, 0600). A client using
    /// it (`auth.bootstrapToken`) gets device tokens for the roles node and
    /// operator in its hello-ok (the role it asked for first).
    #[arg(long)]
    pub(crate) issue_bootstrap: bool,
    /// How long an issued bootstrap token is valid (it is also retired when
    /// a device token issued for it is first used).
    #[arg(long, default_value = "10m", value_parser = parse_duration)]
    pub(crate) bootstrap_ttl: Duration,
    /// A file holding the gateway's shared token (read once at start; its
    /// directory is verified like any gw directory, and the file must be
    /// yours or root's and not writable by group/other, else refused with
    /// exit 3; one trailing newline dropped).
    #[arg(long, value_name = "FILE")]
    pub(crate) shared_token_file: Option<PathBuf>,
    /// A file holding the gateway's password (`connect.params.auth.password`),
    /// read like --shared-token-file.
    #[arg(long, value_name = "FILE")]
    pub(crate) password_file: Option<PathBuf>,
    /// The most connections served at once; more are answered HTTP 503.
    #[arg(long, default_value_t = 64, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub(crate) max_connections: u32,
    /// The largest WebSocket message accepted, in bytes; a bigger one is
    /// answered with close code 1009 and ends the connection.
    #[arg(long, default_value_t = 64 * 1024, value_parser = clap::value_parser!(u32).range(1024..=(16 << 20)))]
    pub(crate) max_message_bytes: u32,
    /// The time a client has to complete the upgrade and send its `connect`.
    #[arg(long, default_value = "5s", value_parser = parse_duration)]
    pub(crate) handshake_timeout: Duration,
    /// Idle connections are closed after this long.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub(crate) idle_timeout: Duration,
    /// Log every connection as it is accepted, besides how it ended.
    #[arg(short, long, conflicts_with = "quiet")]
    pub(crate) verbose: bool,
    /// Log only connections that were refused or dropped, and errors (not
    /// the ones that completed the hello).
    #[arg(short, long)]
    pub(crate) quiet: bool,
}

fn parse_duration(s: &str) -> Result<Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration like 5s or 10m: {e}"))?;
    if d.is_zero() {
        return Err(format!("`{s}` is zero"));
    }
    Ok(d)
}
