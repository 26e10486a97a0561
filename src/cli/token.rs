//! `gw token`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Subcommand};

use super::parse_duration;

#[derive(Debug, Subcommand)]
pub(crate) enum TokenCommand {
    /// Create a new root secret file (32 random bytes, mode 0600). Never
    /// replaces an existing file.
    Init(SecretFileArg),
    /// Derive a token from the root secret and print it on stdout.
    Derive(DeriveArgs),
    /// Narrow the token on stdin (no secret needed) and print the narrower
    /// token on stdout. A caveat can only narrow.
    Attenuate(AttenuateArgs),
    /// Verify the token on stdin. Exit 0 if valid, 3 if not (the failed check
    /// on stderr). Clocks may differ by up to 30 s: a token is accepted until
    /// 30 s after it expires (and from 30 s before its not-before), and a
    /// token accepted within that skew says so.
    Verify(VerifyArgs),
    /// Print the claims of the token on stdin, times as RFC 3339 (UTC) and
    /// relative to now. Verifies nothing.
    Inspect(InspectArgs),
    /// Compatibility derivation: base64url(HMAC-SHA256(key, LABEL)), the key
    /// being a string field of a JSON file (e.g. OpenClaw's legacy
    /// exec-approvals.json) or OpenClaw's exec-approvals socket token in its
    /// state database (--openclaw-state). The key is trimmed as OpenClaw
    /// trims it (JavaScript's String.trim).
    Label(LabelArgs),
}

#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Never used: a secret is read from stdin. Present so that a secret
    /// given here gets its own error (it is now in the shell history).
    #[arg(hide = true, value_name = "SECRET", num_args = 0..)]
    pub(crate) stray: Vec<OsString>,
}

#[derive(Debug, Args)]
pub(crate) struct SecretFileArg {
    /// The root secret file (its directory is verified like any gw directory).
    #[arg(long)]
    pub(crate) secret_file: PathBuf,
}

#[derive(Debug, Args)]
pub(crate) struct DeriveArgs {
    #[command(flatten)]
    pub(crate) secret: SecretFileArg,
    /// A scope to grant (repeat for several), e.g. gateway.connect.
    #[arg(long = "scope", required = true)]
    pub(crate) scopes: Vec<String>,
    /// Bind the token to this audience (the gateway URL it may be sent to).
    #[arg(long)]
    pub(crate) aud: Option<String>,
    /// Lifetime, e.g. 90s, 5m, 8h.
    #[arg(long, default_value = "5m", value_parser = parse_duration)]
    pub(crate) ttl: std::time::Duration,
    /// Only valid when presented from a loopback peer.
    #[arg(long)]
    pub(crate) local: bool,
}

#[derive(Debug, Args)]
pub(crate) struct AttenuateArgs {
    /// Never used: a secret is read from stdin. Present so that a secret
    /// given here gets its own error (it is now in the shell history).
    #[arg(hide = true, value_name = "SECRET", num_args = 0..)]
    pub(crate) stray: Vec<OsString>,
    /// Keep only this scope (repeat for several); each must be one the token
    /// grants.
    #[arg(long = "scope")]
    pub(crate) scopes: Vec<String>,
    /// Bind to this audience.
    #[arg(long)]
    pub(crate) aud: Option<String>,
    /// Expire at most this long from now, e.g. 30s.
    #[arg(long, value_parser = parse_duration)]
    pub(crate) ttl: Option<std::time::Duration>,
    /// Require a loopback peer.
    #[arg(long)]
    pub(crate) local: bool,
}

#[derive(Debug, Args)]
pub(crate) struct VerifyArgs {
    #[command(flatten)]
    pub(crate) secret: SecretFileArg,
    /// Never used: a secret is read from stdin. Present so that a secret
    /// given here gets its own error (it is now in the shell history).
    #[arg(hide = true, value_name = "SECRET", num_args = 0..)]
    pub(crate) stray: Vec<OsString>,
    /// The scope the token must grant.
    #[arg(long)]
    pub(crate) scope: String,
    /// The audience this verifier serves (required for a token bound to one).
    #[arg(long)]
    pub(crate) aud: Option<String>,
    /// The address the token was presented from, as ADDR or ADDR:PORT
    /// (`127.0.0.1`, `127.0.0.1:5123`, `::1`, `[::1]:5123`); required for local tokens.
    #[arg(long, value_parser = parse_peer)]
    pub(crate) peer: Option<std::net::IpAddr>,
}

/// `--peer`: an IP address, or a socket address whose port is dropped
/// (what `ss` and server logs show).
fn parse_peer(s: &str) -> Result<std::net::IpAddr, String> {
    s.parse::<std::net::IpAddr>()
        .or_else(|_| s.parse::<std::net::SocketAddr>().map(|a| a.ip()))
        .map_err(|_| format!("`{s}` is not ADDR or ADDR:PORT (e.g. 127.0.0.1, 127.0.0.1:5123, ::1, [::1]:5123)"))
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("key").required(true).args(["key_file", "openclaw_state"])))]
pub(crate) struct LabelArgs {
    /// The JSON file holding the key (read, never created).
    #[arg(long)]
    pub(crate) key_file: Option<PathBuf>,
    /// An OpenClaw state directory (its $OPENCLAW_STATE_DIR, e.g. ~/.openclaw):
    /// the key is `socket.token` of the exec-approvals configuration in
    /// state/openclaw.sqlite, read through a private copy (the database must
    /// be a regular file owned by you or root and writable by no one else;
    /// nothing in the directory is written).
    #[arg(long, value_name = "DIR")]
    pub(crate) openclaw_state: Option<PathBuf>,
    /// The dotted path of the key's string field.
    #[arg(long, default_value = "socket.token")]
    pub(crate) json_field: String,
    /// The label, e.g. openclaw:gateway-approval-runtime-token:v1.
    #[arg(long)]
    pub(crate) label: String,
}
