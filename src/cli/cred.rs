//! `gw cred` and `gw profile`.

use std::ffi::OsString;

use clap::{Args, Subcommand};

use super::{StoreOpts, parse_duration};

#[derive(Debug, Subcommand)]
pub(crate) enum CredCommand {
    /// Store the secret on stdin in one slot of the gateway URL.
    Set(CredSetArgs),
    /// Show which credentials are stored for URL (the secret only with
    /// --reveal and one slot).
    Get(CredGetArgs),
    /// Which credential would be used for URL and ROLE, and why: the device
    /// token for the role, else the shared token, else the password, else
    /// the bootstrap token.
    Resolve(CredResolveArgs),
    /// Persist every role token of the hello-ok answer on stdin, read them
    /// back, and only then clear the bootstrap token.
    #[command(long_about = HANDOFF_HELP)]
    Handoff(CredUrl),
    /// Replace the shared token with the one on stdin after --validate-cmd
    /// accepts it (it gets the token on its stdin; exit 0 = valid), or after
    /// a verified probe of URL with it (--validate-with-probe). Device
    /// tokens are cleared only then; a refusal changes nothing.
    ReplaceShared(ReplaceSharedArgs),
    /// List every gateway's stored credentials (no secrets).
    List,
    /// Remove one slot, or the whole record of URL.
    Rm(CredRmArgs),
    /// Mirror the credentials of one profile into another, keeping the
    /// target's own entries.
    Mirror(MirrorArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CredUrl {
    /// The gateway URL (ws, wss, http, https; loopback hosts are one gateway).
    pub(crate) url: String,
}

#[derive(Debug, Args)]
#[group(id = "slot", required = true, multiple = false)]
pub(crate) struct SlotArgs {
    /// The device token of this role.
    #[arg(long, value_name = "ROLE", group = "slot")]
    pub(crate) device: Option<String>,
    /// The shared gateway token.
    #[arg(long, group = "slot")]
    pub(crate) shared: bool,
    /// The bootstrap token.
    #[arg(long, group = "slot")]
    pub(crate) bootstrap: bool,
    /// The gateway's password (sent when no device token and no shared
    /// token is stored).
    #[arg(long, group = "slot")]
    pub(crate) password: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CredSetArgs {
    #[command(flatten)]
    pub(crate) url: CredUrl,
    #[command(flatten)]
    pub(crate) slot: SlotArgs,
    /// Never used: a secret is read from stdin. Present so that a secret
    /// given here gets its own error (it is now in the shell history).
    #[arg(hide = true, value_name = "SECRET", num_args = 0..)]
    pub(crate) stray: Vec<OsString>,
}

#[derive(Debug, Args)]
pub(crate) struct OptSlotArgs {
    /// The device tokens of this role (issued to this profile's device, or
    /// bound to none).
    #[arg(long = "role", value_name = "ROLE", conflicts_with_all = ["shared", "bootstrap", "password"])]
    pub(crate) role: Option<String>,
    /// The shared gateway token.
    #[arg(long, conflicts_with_all = ["bootstrap", "password"])]
    pub(crate) shared: bool,
    /// The bootstrap token.
    #[arg(long, conflicts_with = "password")]
    pub(crate) bootstrap: bool,
    /// The gateway's password.
    #[arg(long)]
    pub(crate) password: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CredGetArgs {
    #[command(flatten)]
    pub(crate) url: CredUrl,
    #[command(flatten)]
    pub(crate) slot: OptSlotArgs,
    /// Print the secret of the one selected slot on stdout.
    #[arg(long)]
    pub(crate) reveal: bool,
}

#[derive(Debug, Args)]
pub(crate) struct CredResolveArgs {
    #[command(flatten)]
    pub(crate) url: CredUrl,
    /// The role the connection is for.
    #[arg(long, default_value = "operator")]
    pub(crate) role: String,
    /// Print the chosen secret on stdout (the explanation goes to stderr).
    #[arg(long)]
    pub(crate) reveal: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ReplaceSharedArgs {
    #[command(flatten)]
    pub(crate) url: CredUrl,
    /// Never used: a secret is read from stdin. Present so that a secret
    /// given here gets its own error (it is now in the shell history).
    #[arg(hide = true, value_name = "SECRET", num_args = 0..)]
    pub(crate) stray: Vec<OsString>,
    /// The validator: a program and its arguments, split into words like a
    /// shell would (quotes group words) but run without a shell; it reads the
    /// new token on stdin and exits 0 if valid. Bounded by
    /// --validate-timeout: its whole process group is killed then.
    #[arg(long, required_unless_present = "validate_with_probe", conflicts_with = "validate_with_probe")]
    pub(crate) validate_cmd: Option<String>,
    /// Validate by a verified probe instead: the gateway at URL, proven to
    /// belong to --pid/--pidfile before anything is sent, must answer
    /// hello-ok to the new token as its shared token.
    #[arg(long, requires = "probe_owner")]
    pub(crate) validate_with_probe: bool,
    #[command(flatten)]
    pub(crate) owner: super::probe::OwnerArgs,
    /// How long the validator may run.
    #[arg(long, default_value = "30s", value_parser = parse_duration)]
    pub(crate) validate_timeout: std::time::Duration,
}

#[derive(Debug, Args)]
pub(crate) struct CredRmArgs {
    #[command(flatten)]
    pub(crate) url: CredUrl,
    #[command(flatten)]
    pub(crate) slot: OptSlotArgs,
}

#[derive(Debug, Args)]
pub(crate) struct MirrorArgs {
    /// The primary profile (only read).
    #[arg(long)]
    pub(crate) from: String,
    /// The secondary profile (its own entries are kept).
    #[arg(long)]
    pub(crate) to: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum ProfileCommand {
    /// Create a profile: directory 0700, config.json (port and the gateway URL
    /// generated from it), a new root secret (0600) and a new device identity
    /// (an Ed25519 key, 0600; `gw profile show` prints its device id).
    Init(ProfileInitArgs),
    /// List the profiles.
    List,
    /// Show a profile's configuration and stored credentials (no secrets).
    Show(ProfileName),
    /// Remove a profile: its directory (config, root secret, device key,
    /// credentials, leases) and the keyring entries its credentials refer
    /// to. Asks for --yes; never follows a symlink.
    Rm(ProfileRmArgs),
}

#[derive(Debug, Args)]
pub(crate) struct ProfileRmArgs {
    /// The profile name.
    pub(crate) name: String,
    /// Remove without asking (required: the root secret and the credentials
    /// are gone for good).
    #[arg(long)]
    pub(crate) yes: bool,
}

#[derive(Debug, Args)]
pub(crate) struct ProfileInitArgs {
    /// The profile name (a-z 0-9 - _).
    pub(crate) name: String,
    /// The port of the profile's gateway.
    #[arg(long, default_value_t = 18789)]
    pub(crate) port: u16,
    /// Where the device key goes.
    #[command(flatten)]
    pub(crate) store: StoreOpts,
}

#[derive(Debug, Args)]
pub(crate) struct ProfileName {
    /// The profile name.
    pub(crate) name: String,
}

const HANDOFF_HELP: &str = "\
Persist every role token of the hello-ok answer on stdin, read them back, and only then \
clear the bootstrap token.

Input (stdin, strict JSON: duplicate keys refused) is what OpenClaw's gateway answers a \
`connect` request: the whole `res` frame
  {\"type\":\"res\",\"id\":...,\"ok\":true,\"payload\":{\"type\":\"hello-ok\",...}}
or just its hello-ok payload. gw reads its `auth` object:
  auth.deviceToken   string    the device token of the role connected as
  auth.role          string    that role (e.g. \"node\", \"operator\")
  auth.scopes        [string]  its scopes
  auth.issuedAtMs    integer   when it was issued (Unix milliseconds)
  auth.deviceTokens  array     the other roles' tokens, optional:
                               [{deviceToken, role, scopes, issuedAtMs}, ...]
Other keys (protocol, server, features, snapshot, policy, auth.method, ...) are ignored.

Example (a bootstrap connect that hands off a node and an operator token):
  {\"type\":\"hello-ok\",\"protocol\":4,
   \"auth\":{\"method\":\"bootstrap-token\",\"role\":\"node\",\"scopes\":[],
           \"deviceToken\":\"<node token>\",\"issuedAtMs\":1796000000000,
           \"deviceTokens\":[{\"deviceToken\":\"<operator token>\",\"role\":\"operator\",
                            \"scopes\":[\"operator.read\"],\"issuedAtMs\":1796000000000}]}}

The tokens are secrets: pipe the answer in (`gw cred handoff URL < hello.json`), never \
put it in an argument. An error answer (`\"ok\":false`) or one without a device token \
stores nothing and keeps the bootstrap token. Only the hello-ok of a bootstrap connect \
(`auth.method` `bootstrap-token`) to a loopback gateway is accepted: any other is refused \
(exit 3) and nothing is stored.";
