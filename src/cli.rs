//! The command line: argument definitions only (clap derive).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::output::CliError;

/// gw — a hardened toolkit for local gateways: anchored, symlink-proof files
/// and documents, scoped tokens and credentials, proven port ownership before
/// a secret is sent, liveness records, supervised watchers, and an audit.
///
/// Exit codes (every command, one per condition; docs/exit-codes.md): 0 ok,
/// 1 operational error (an existing target included), 2 usage error (an
/// absolute path where a relative one is needed, a directory where a file
/// is), 3 refused for security (symlink, `..`, insecure directory, FIFO or
/// device, root changed, a port not proven to be owned by the expected
/// process, a high doctor finding), 4 not found (a missing pidfile
/// included). Output that cannot be written is exit 1 with the reason on
/// stderr, except a closed stdout pipe (the reader stopped reading:
/// `gw ... | head`), which ends quietly.
///
/// Secrets are never taken from arguments or the environment: they come
/// from stdin, and at a terminal they are prompted for with echo off.
#[derive(Debug, Parser)]
#[command(name = "gw", version, propagate_version = true, max_term_width = 100)]
pub(crate) struct Cli {
    /// Print the result (or the error) as JSON on stdout.
    #[arg(long, global = true)]
    pub(crate) json: bool,

    /// How paths beneath a directory are resolved; both never follow symlinks.
    /// `auto` uses openat2 where the kernel allows it, else the walk.
    #[arg(long, global = true, value_enum, default_value_t = ResolverArg::Auto)]
    pub(crate) resolver: ResolverArg,

    /// The profile, for the commands that use one (cred, probe, serve,
    /// watch health, doctor); also accepted after those commands.
    #[command(flatten)]
    pub(crate) profile: TopProfileOpt,

    /// The credential store, for the commands that write secrets (cred,
    /// probe, profile init); also accepted after those commands.
    #[command(flatten)]
    pub(crate) store: TopStoreOpts,

    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The help of `--profile`, wherever it is accepted.
const PROFILE_HELP: &str = "The profile to act on (a directory under the gw home: $GW_HOME, else \
$XDG_CONFIG_HOME/gw, else ~/.config/gw). Default: $GW_PROFILE, else `default`. Used by gw cred, \
gw probe, gw serve, gw watch health (without URL) and gw doctor (which audits every profile unless \
one is named here or in $GW_PROFILE).";

/// The help of `--store`.
const STORE_HELP: &str = "Where gw cred and gw probe (its hand-off) write secrets, and gw profile \
init the device key: `file` (inline in the profile's 0600 credentials.json; the device key in the \
0600 file device.key), `keyring` (the OS keyring, the profile keeps only references, device.keyring \
for the device key; if the keyring is unavailable the command is refused and nothing is written), \
`keyring-or-file` (the keyring if available, else the file, with a notice on stderr before anything \
is written). Reading resolves keyring references whatever this says. Default: file.";

/// The help of `--keyring`.
const KEYRING_HELP: &str = "The OS keyring of --store keyring / keyring-or-file: `secret-service` \
(D-Bus, e.g. gnome-keyring; durable) or `keyutils` (the kernel's session keyring; kernel memory \
only: lost at reboot, and when the persistent keyring expires, by default 3 days after its last \
use), on Linux; `keychain` (the login keychain) on macOS. Default: keychain on macOS, \
secret-service elsewhere.";

/// `--profile` before the command (`gw --profile NAME cred list`).
#[derive(Debug, Clone, Args)]
pub(crate) struct TopProfileOpt {
    #[arg(long = "profile", value_name = "NAME", help = PROFILE_HELP)]
    pub(crate) name: Option<String>,
}

/// `--profile` after a command that uses it (`gw cred list --profile NAME`).
#[derive(Debug, Clone, Args)]
pub(crate) struct ProfileOpt {
    #[arg(long = "profile", value_name = "NAME", global = true, help = PROFILE_HELP)]
    pub(crate) name: Option<String>,
}

/// `--store` and `--keyring` before the command.
#[derive(Debug, Clone, Args)]
pub(crate) struct TopStoreOpts {
    #[arg(long, value_enum, help = STORE_HELP)]
    pub(crate) store: Option<StoreArg>,
    #[arg(long, value_enum, help = KEYRING_HELP)]
    pub(crate) keyring: Option<KeyringArg>,
}

/// `--store` and `--keyring` after a command that writes credentials.
#[derive(Debug, Clone, Args)]
pub(crate) struct StoreOpts {
    #[arg(long, value_enum, global = true, help = STORE_HELP)]
    pub(crate) store: Option<StoreArg>,
    #[arg(long, value_enum, global = true, help = KEYRING_HELP)]
    pub(crate) keyring: Option<KeyringArg>,
}

impl Command {
    /// A secret given as an argument to a command that reads it from stdin:
    /// its own usage error (exit 2), checked before anything runs. The
    /// argument is not used and not repeated, but it is in the shell's
    /// history now, and was in the process list while gw ran: say so, and
    /// how to pass it instead.
    pub(crate) fn secret_in_argv(&self) -> Option<CliError> {
        let (cmd, how) = match self {
            Command::Cred(c) => match &c.command {
                CredCommand::Set(a) if !a.stray.is_empty() => ("cred set", "gw cred set URL --shared < token-file"),
                CredCommand::ReplaceShared(a) if !a.stray.is_empty() => {
                    ("cred replace-shared", "gw cred replace-shared URL --validate-cmd CMD < token-file")
                }
                _ => return None,
            },
            Command::Token(TokenCommand::Verify(a)) if !a.stray.is_empty() => {
                ("token verify", "gw token verify --secret-file F --scope S < token-file")
            }
            Command::Token(TokenCommand::Attenuate(a)) if !a.stray.is_empty() => {
                ("token attenuate", "gw token attenuate --scope S < token-file")
            }
            Command::Token(TokenCommand::Inspect(a)) if !a.stray.is_empty() => {
                ("token inspect", "gw token inspect < token-file")
            }
            Command::Doc(DocCommand::Set(a)) if a.stdin && a.value.is_some() => {
                ("doc set --stdin", "gw doc set --stdin DIR REL POINTER < value-file")
            }
            _ => return None,
        };
        Some(
            CliError::usage(
                "read secret",
                format!(
                    "`gw {cmd}` reads the secret from stdin, never from an argument: the extra argument was not used, \
                     but it is now in your shell history (and was visible in the process list while gw ran)"
                ),
            )
            .with_fix(format!(
                "delete it from the history (bash: `history -d -2` then `history -w`; zsh: edit $HISTFILE), rotate it \
                 if others may have seen it, and pass it on stdin: `{how}`, or run the command at a terminal and type \
                 it at the hidden prompt"
            )),
        )
    }
}

/// The environment variable that selects the profile when no --profile is given.
pub(crate) const PROFILE_ENV: &str = "GW_PROFILE";

/// The profile a command acts on, and whether it was named (by a flag or
/// $GW_PROFILE) rather than the default: flag after the command > flag
/// before it > $GW_PROFILE > `default`.
pub(crate) fn profile_name(top: &TopProfileOpt, sub: &ProfileOpt) -> (String, bool) {
    if let Some(n) = sub.name.as_ref().or(top.name.as_ref()) {
        return (n.clone(), true);
    }
    match std::env::var(PROFILE_ENV) {
        Ok(n) if !n.is_empty() => (n, true),
        _ => ("default".to_owned(), false),
    }
}

/// The store and keyring a command uses: after the command > before it > default.
pub(crate) fn store_args(top: &TopStoreOpts, sub: &StoreOpts) -> (StoreArg, KeyringArg) {
    (
        sub.store.or(top.store).unwrap_or(StoreArg::File),
        sub.keyring.or(top.keyring).unwrap_or(KeyringArg::PLATFORM_DEFAULT),
    )
}

/// `gw cred`: a profile and a store around the subcommand.
#[derive(Debug, Args)]
pub(crate) struct CredCli {
    #[command(flatten)]
    pub(crate) profile: ProfileOpt,
    #[command(flatten)]
    pub(crate) store: StoreOpts,
    #[command(subcommand)]
    pub(crate) command: CredCommand,
}

/// A single command that acts on a profile.
#[derive(Debug, Args)]
pub(crate) struct ProfileLeaf<A: Args> {
    #[command(flatten)]
    pub(crate) profile: ProfileOpt,
    #[command(flatten)]
    pub(crate) args: A,
}

/// `gw probe`: a profile and a store (for the hand-off) around its arguments.
#[derive(Debug, Args)]
pub(crate) struct ProbeCli {
    #[command(flatten)]
    pub(crate) profile: ProfileOpt,
    #[command(flatten)]
    pub(crate) store: StoreOpts,
    #[command(flatten)]
    pub(crate) args: crate::cmd::probe::ProbeArgs,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum StoreArg {
    File,
    Keyring,
    KeyringOrFile,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum KeyringArg {
    SecretService,
    Keyutils,
    Keychain,
}

impl KeyringArg {
    /// `--keyring`'s default: the Keychain on macOS, the Secret Service
    /// elsewhere (as `KeyringKind::platform_default`).
    pub(crate) const PLATFORM_DEFAULT: Self =
        if cfg!(target_os = "macos") { Self::Keychain } else { Self::SecretService };
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ResolverArg {
    Auto,
    Openat2,
    Walk,
    /// The portable backend (what macOS runs): no O_PATH, no O_TMPFILE.
    Portable,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// A self-contained tour of what gw guarantees, run for real in a
    /// temporary directory that is removed afterwards.
    Demo,
    /// Anchored file operations: every path is relative to DIR, resolved
    /// beneath it without following any symlink, and DIR's chain of
    /// directories is verified first (owned by you or root, not writable by
    /// others unless sticky).
    #[command(subcommand)]
    Fs(FsCommand),
    /// JSON and plist documents: strict parsing (duplicate keys, BOM, trailing
    /// data, excessive size or depth refused), locked read-modify-write,
    /// atomic replace. A document ending in `.plist` is a property list.
    #[command(subcommand)]
    Doc(DocCommand),
    /// Scoped tokens derived from a root secret: bound to scope, audience,
    /// expiry and locality; narrowed by any holder; verified in constant time.
    /// Tokens are read from stdin, never from arguments.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The credential store of a profile: device (role) tokens, the shared
    /// token and the bootstrap token per gateway. Secrets enter on stdin and
    /// are printed only with --reveal.
    Cred(CredCli),
    /// Profiles: isolated directories with their own config, root secret and
    /// credentials.
    #[command(subcommand)]
    Profile(ProfileCommand),
    /// Liveness records: register a process in a registry directory, list
    /// the live records, prune dead, expired and recycled ones. A record
    /// names its process by pid, start time, boot id and pid namespace.
    #[command(subcommand)]
    Lease(crate::cmd::lease::LeaseCommand),
    /// Watchers: approve pending requests of allowlisted clients (fast, then
    /// keepalive until a deadline), or watch a gateway's health and run a
    /// recovery command. External commands run without a shell, bounded in
    /// time (their process group is killed).
    #[command(subcommand)]
    Watch(crate::cmd::watch::WatchCommand),
    /// Audit a gw home without changing it: the directory chain, owner and
    /// mode of every secret and document, symlinks and special files, temp
    /// files of interrupted writes, stale leases, keyring availability, who
    /// holds each configured gateway's port, and the kernel's link
    /// protections. Every finding has a severity, the why and the exact fix.
    /// Audits every profile, or only the one named with --profile. Exit 0
    /// when no finding is high, 3 when one is (an audit stopped at a cap,
    /// see --max-entries, is one).
    Doctor(ProfileLeaf<crate::cmd::doctor::DoctorArgs>),
    /// The reference gateway of the profile (--profile): a WebSocket server on
    /// 127.0.0.1 and ::1 that requires `Authorization: Bearer` (a scoped
    /// gateway.connect token of the profile's root secret, local ones only
    /// from loopback peers; or a shared/device/bootstrap credential it
    /// issued) and answers hello-ok. Pidfile serve.pid and a lease in
    /// leases/ in the profile directory; SIGTERM/SIGINT stop it cleanly and
    /// remove both.
    Serve(ProfileLeaf<crate::cmd::serve::ServeArgs>),
    /// A verified connection to a local gateway: the port's owner is proven
    /// (every listener belongs to --pid/--pidfile, or to the profile's own
    /// gw serve) before a byte is sent; then the protocol-4 handshake,
    /// signed with the profile's device key, with exactly one credential the
    /// URL's origin allows (a URL given here: only a stored one — device
    /// token for this device and role, else shared token, else password,
    /// else bootstrap token; the profile's own gateway, without URL: the
    /// stored one, else a runtime token). After a bootstrap connect to the
    /// loopback gateway, the device tokens it issued are handed off (stored
    /// per device and role with their scopes, read back, then the bootstrap
    /// cleared). Exit 3 if the owner is not proven (nothing sent) or the
    /// gateway refuses (its code, the credential sent and how to change it
    /// are said); 1 for another protocol version; 4 if no credential is stored.
    Probe(ProbeCli),
    /// Loopback port ownership: `who` lists every listener on a port (uid,
    /// pid and command where visible); `verify` proves that every listener
    /// belongs to an expected process (--pid or --pidfile), exit 3 if not or
    /// if it cannot be proven.
    #[command(subcommand)]
    Port(crate::cmd::port::PortCommand),
    /// Print a shell completion script for bash, zsh, fish, elvish or
    /// powershell on stdout.
    Completions(CompletionsArgs),
    /// Print the man page of gw, or of one of its commands, as roff on stdout
    /// (view it with `man -l -`).
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub(crate) struct CompletionsArgs {
    /// The shell the script is for.
    #[arg(value_enum)]
    pub(crate) shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub(crate) struct ManArgs {
    /// The command whose page to print, e.g. `cred set` (default: gw itself).
    #[arg(value_name = "COMMAND")]
    pub(crate) command: Vec<String>,
}

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
    pub(crate) owner: crate::cmd::probe::OwnerArgs,
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

/// The command line as gw parses it: the derived definition, with each
/// command's one-line summary (the first sentence of its description, the
/// rest kept for `--help`) and its examples (`-h` and `--help` end with them,
/// as gh's do).
pub(crate) fn command() -> clap::Command {
    use clap::CommandFactory;
    finish(Cli::command(), "")
}

fn finish(mut cmd: clap::Command, path: &str) -> clap::Command {
    if let Some(about) = cmd.get_about().map(ToString::to_string) {
        let summary = summary(&about);
        if summary.len() < about.len() {
            if cmd.get_long_about().is_none() {
                cmd = cmd.long_about(about.clone());
            }
            cmd = cmd.about(summary.to_owned());
        }
    }
    if let Some((_, text)) = EXAMPLES.iter().find(|(p, _)| *p == path) {
        let block = format!("Examples:\n{}", text.lines().map(|l| format!("  {l}\n")).collect::<String>());
        cmd = cmd.after_help(block);
    }
    let names: Vec<String> = cmd.get_subcommands().map(|c| c.get_name().to_owned()).collect();
    for name in names {
        let sub_path = if path.is_empty() { name.clone() } else { format!("{path} {name}") };
        cmd = cmd.mut_subcommand(&name, |c| finish(c, &sub_path));
    }
    cmd
}

/// A one-line summary of a description: its first sentence, up to a colon
/// that introduces the details, without a parenthesis if still long.
fn summary(text: &str) -> &str {
    let mut s = first_sentence(text);
    if let Some(i) = s.find(": ") {
        s = &s[..i];
    }
    if s.len() > 80
        && let Some(i) = s.find(" (")
    {
        s = &s[..i];
    }
    s
}

/// The text up to the end of its first sentence (a `.` before a space and an
/// upper-case letter or a backtick), without the full stop.
fn first_sentence(text: &str) -> &str {
    let b = text.as_bytes();
    for i in 0..b.len().saturating_sub(2) {
        if b[i] == b'.' && b[i + 1] == b' ' && (b[i + 2].is_ascii_uppercase() || b[i + 2] == b'`') {
            return &text[..i];
        }
    }
    text.strip_suffix('.').unwrap_or(text)
}

/// Each command's examples, by its path under gw ("" is gw itself).
const EXAMPLES: &[(&str, &str)] = &[
    (
        "",
        "$ gw profile init default\n$ gw cred set ws://127.0.0.1:18789 --shared < token.txt\n$ gw probe\n$ gw doctor\n$ gw completions bash > ~/.local/share/bash-completion/completions/gw",
    ),
    ("demo", "$ gw demo"),
    (
        "fs",
        "$ gw fs write ~/.config/app settings.json < new.json\n$ gw fs read ~/.config/app settings.json\n$ gw fs check ~/.config/app",
    ),
    (
        "fs write",
        "$ gw fs write ~/.config/app settings.json < new.json\n$ printf 'x' | gw fs write --mode 644 --parents ~/.config/app sub/dir/file",
    ),
    ("fs read", "$ gw fs read ~/.config/app settings.json\n$ gw --json fs read ~/.config/app settings.json"),
    ("fs mkdir", "$ gw fs mkdir ~/.config/app cache/v1\n$ gw fs mkdir --mode 750 ~/.config/app shared"),
    ("fs rm", "$ gw fs rm ~/.config/app old.json"),
    (
        "fs mv",
        "$ gw fs mv ~/.config/app settings.json settings.json.bak\n$ gw fs mv --no-replace ~/.config/app new.json settings.json",
    ),
    ("fs ls", "$ gw fs ls ~/.config/app\n$ gw fs ls ~/.config/app cache"),
    ("fs check", "$ gw fs check ~/.config/app\n$ gw --json fs check /srv/gateway"),
    (
        "doc",
        "$ gw doc get ~/.openclaw openclaw.json /gateway/port\n$ gw doc set ~/.openclaw openclaw.json /gateway/port 18789",
    ),
    ("doc get", "$ gw doc get ~/.openclaw openclaw.json\n$ gw doc get ~/.openclaw openclaw.json /gateway/port"),
    (
        "doc set",
        "$ gw doc set ~/.openclaw openclaw.json /gateway/port 18789\n$ gw doc set --string ~/.openclaw openclaw.json /gateway/bind loopback\n$ gw doc set --stdin --string ~/.openclaw openclaw.json /gateway/auth/token < token.txt",
    ),
    ("doc rm", "$ gw doc rm ~/.openclaw openclaw.json /gateway/auth/token"),
    ("doc merge", "$ echo '{\"gateway\":{\"port\":18790}}' | gw doc merge ~/.openclaw openclaw.json"),
    (
        "doc render",
        "$ gw doc render systemd --spec service.json\n$ gw doc render systemd --spec service.json --write ~/.config/systemd/user gw.service",
    ),
    (
        "token",
        "$ gw token init --secret-file ~/.config/gw/root.key\n$ gw token derive --secret-file ~/.config/gw/root.key --scope gateway.connect > t\n$ gw token verify --secret-file ~/.config/gw/root.key --scope gateway.connect < t",
    ),
    ("token init", "$ gw token init --secret-file ~/.config/gw/root.key"),
    (
        "token derive",
        "$ gw token derive --secret-file root.key --scope gateway.connect --ttl 8h > t\n$ gw token derive --secret-file root.key --scope gateway.connect --aud ws://127.0.0.1:18789 --local > t",
    ),
    ("token attenuate", "$ gw token attenuate --scope gateway.connect --ttl 30s < t > narrower"),
    (
        "token verify",
        "$ gw token verify --secret-file root.key --scope gateway.connect < t\n$ gw token verify --secret-file root.key --scope gateway.connect --peer 127.0.0.1 < t",
    ),
    ("token inspect", "$ gw token inspect < t\n$ gw --json token inspect < t"),
    (
        "token label",
        "$ gw token label --openclaw-state ~/.openclaw --label openclaw:gateway-approval-runtime-token:v1\n$ gw token label --key-file exec-approvals.json --label openclaw:gateway-approval-runtime-token:v1",
    ),
    (
        "cred",
        "$ gw cred set ws://127.0.0.1:18789 --shared < token.txt\n$ gw cred list\n$ gw cred resolve ws://127.0.0.1:18789 --role operator",
    ),
    (
        "cred set",
        "$ gw cred set ws://127.0.0.1:18789 --shared < token.txt\n$ gw cred set ws://127.0.0.1:18789 --device operator --store keyring < device-token.txt\n$ gw cred set ws://127.0.0.1:18789 --bootstrap      # at a terminal: prompts, input hidden",
    ),
    ("cred get", "$ gw cred get ws://127.0.0.1:18789\n$ gw cred get ws://127.0.0.1:18789 --shared --reveal"),
    ("cred resolve", "$ gw cred resolve ws://127.0.0.1:18789 --role operator"),
    ("cred handoff", "$ gw cred handoff ws://127.0.0.1:18789 < hello-ok.json"),
    (
        "cred replace-shared",
        "$ gw cred replace-shared ws://127.0.0.1:18789 --validate-cmd 'my-check --quiet' < new-token.txt\n$ gw cred replace-shared ws://127.0.0.1:18789 --validate-with-probe --pidfile ~/.openclaw/gateway.pid < new-token.txt",
    ),
    ("cred list", "$ gw cred list\n$ gw cred list --profile work --json"),
    ("cred rm", "$ gw cred rm ws://127.0.0.1:18789 --shared\n$ gw cred rm ws://127.0.0.1:18789"),
    ("cred mirror", "$ gw cred mirror --from default --to rescue"),
    ("profile", "$ gw profile init work --port 18790\n$ gw profile list\n$ GW_PROFILE=work gw cred list"),
    ("profile init", "$ gw profile init default\n$ gw profile init work --port 18790"),
    ("profile list", "$ gw profile list"),
    ("profile show", "$ gw profile show work"),
    ("profile rm", "$ gw profile rm work --yes"),
    (
        "lease",
        "$ gw lease register ~/.local/state/gw/leases gateway --pid 4242 --ttl 1h\n$ gw lease list ~/.local/state/gw/leases",
    ),
    ("lease register", "$ gw lease register ~/.local/state/gw/leases gateway --pid 4242 --ttl 1h"),
    ("lease list", "$ gw lease list ~/.local/state/gw/leases"),
    ("lease prune", "$ gw lease prune ~/.local/state/gw/leases"),
    ("watch", "$ gw watch approvals --help\n$ gw watch health --on-fail 'systemctl --user restart openclaw-gateway'"),
    ("watch approvals", "$ gw watch approvals --help     # the allowlist and deadline flags"),
    (
        "watch health",
        "$ gw watch health --on-fail 'systemctl --user restart openclaw-gateway'\n$ gw watch health ws://127.0.0.1:18789 --pidfile ~/.openclaw/gateway.pid --on-fail 'systemctl --user restart openclaw-gateway'",
    ),
    ("doctor", "$ gw doctor\n$ gw doctor --profile work --json"),
    ("serve", "$ gw serve\n$ gw serve --profile work"),
    (
        "probe",
        "$ gw probe\n$ gw probe ws://127.0.0.1:18789 --pidfile ~/.openclaw/gateway.pid\n$ gw probe ws://127.0.0.1:18789 --pid 4242 --role operator",
    ),
    ("port", "$ gw port who 18789\n$ gw port verify 18789 --pidfile ~/.openclaw/gateway.pid"),
    ("port who", "$ gw port who 18789"),
    ("port verify", "$ gw port verify 18789 --pid 4242\n$ gw port verify 18789 --pidfile ~/.openclaw/gateway.pid"),
    (
        "completions",
        "$ gw completions bash > ~/.local/share/bash-completion/completions/gw\n$ gw completions zsh > ~/.zfunc/_gw\n$ gw completions fish > ~/.config/fish/completions/gw.fish",
    ),
    ("man", "$ gw man | man -l -\n$ gw man cred set | man -l -"),
];

fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| format!("`{s}` is not a duration like 90s, 5m or 8h: {e}"))?;
    if d.as_secs() == 0 {
        return Err(format!("`{s}` is shorter than a second"));
    }
    Ok(d)
}

#[derive(Debug, Subcommand)]
pub(crate) enum DocCommand {
    /// Print the document (or the value at POINTER) as JSON.
    Get(DocGetArgs),
    /// Set the value at POINTER (RFC 6901; "" is the whole document) under the
    /// document lock, creating the document if missing. The value is JSON text,
    /// from VALUE or, for secrets, from stdin with --stdin (never echoed).
    /// The rest of the document is kept as it was: key order, numbers,
    /// indentation (2 or 4 spaces, tab, compact). Documents are written mode
    /// 0600; a file that was readable by others is tightened, and gw says so.
    Set(DocSetArgs),
    /// Remove the value at POINTER under the document lock.
    Rm(DocRmArgs),
    /// Apply an RFC 7386 JSON merge patch read from stdin under the document lock.
    Merge(DocTarget),
    /// Render a service definition (launchd agent plist or systemd user unit)
    /// from a JSON spec, to stdout or written atomically with --write. Values
    /// that would inject a directive (newlines, control characters, a trailing
    /// backslash, ...) are refused; nothing is written.
    Render(RenderArgs),
}

#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// The service manager the definition is for.
    #[arg(value_enum)]
    pub(crate) kind: ServiceArg,
    /// The JSON spec: a file (its directory is verified like any gw
    /// directory) or `-` for stdin. `--example-spec` prints one.
    #[arg(long, required_unless_present = "example_spec", long_help = SPEC_HELP)]
    pub(crate) spec: Option<PathBuf>,
    /// Print an example spec for KIND (every field, valid as it is) instead
    /// of rendering: `gw doc render systemd --example-spec > spec.json`.
    #[arg(long, conflicts_with_all = ["spec", "write"])]
    pub(crate) example_spec: bool,
    /// Write the definition atomically to DIR/REL (mode 0644) and re-verify the
    /// directory chain before printing the path to hand to the service manager.
    #[arg(long, num_args = 2, value_names = ["DIR", "REL"])]
    pub(crate) write: Option<Vec<OsString>>,
    /// With --write: create REL's missing parent directories beneath DIR
    /// (mode 0700, never through a symlink).
    #[arg(long, requires = "write")]
    pub(crate) parents: bool,
    /// launchd on macOS only, with --write (DIR is then usually
    /// ~/Library/LaunchAgents): after the write and the re-verification, load
    /// the agent with `launchctl bootstrap gui/UID PATH`.
    #[arg(long, requires = "write")]
    pub(crate) bootstrap: bool,
}

/// `cred handoff --help`: the input format (OpenClaw's connect answer).
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

/// `doc render --spec`'s long help: the fields of each kind's spec.
const SPEC_HELP: &str = "\
The JSON spec: a file (its directory is verified like any gw directory) or `-` for stdin. \
Strict JSON: unknown fields and duplicate keys are refused. \
`--example-spec` prints a valid spec with every field.

systemd (a user unit):
  exec_start         [string]       required: the program (absolute path) and its arguments,
                                    passed as given (no $VAR, no % specifiers) -> ExecStart=
  description        string         one line -> Description=
  after              [string]       unit names, e.g. \"network.target\" -> After=
  environment        {name: value}  -> Environment= (never a secret: units are readable)
  restart            string         no | on-success | on-failure | on-abnormal | on-watchdog |
                                    on-abort | always -> Restart=
  restart_sec        integer        seconds, 1 to 86400 -> RestartSec=
  watchdog_sec       integer        seconds, 1 to 86400 (the service must notify) -> WatchdogSec=
  working_directory  string         absolute path (no ~) -> WorkingDirectory=
  wanted_by          [string]       e.g. \"default.target\" -> [Install] WantedBy=

launchd (a LaunchAgent plist):
  label                  string         required: reverse-DNS, [A-Za-z0-9._-], at most 255 bytes
  program_arguments      [string]       required: the program (absolute path) and its arguments
  environment_variables  {name: value}  -> EnvironmentVariables (never a secret)
  run_at_load            bool           -> RunAtLoad
  keep_alive             bool           -> KeepAlive
  standard_out_path      string         absolute path -> StandardOutPath
  standard_error_path    string         absolute path -> StandardErrorPath
  working_directory      string         absolute path (no ~) -> WorkingDirectory
  throttle_interval      integer        seconds, 1 to 86400 -> ThrottleInterval

Values that would inject a directive (newlines, control characters, a trailing backslash, \
...) are refused: exit 3, nothing written.";

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum ServiceArg {
    Launchd,
    Systemd,
}

#[derive(Debug, Args)]
pub(crate) struct DocTarget {
    /// The directory the document is relative to (verified before use).
    pub(crate) dir: PathBuf,
    /// The document, relative to DIR.
    pub(crate) rel: OsString,
    /// The document's format (default: plist for `.plist`, else json).
    #[arg(long, value_enum)]
    pub(crate) format: Option<FormatArg>,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum FormatArg {
    Json,
    Plist,
}

#[derive(Debug, Args)]
pub(crate) struct DocGetArgs {
    #[command(flatten)]
    pub(crate) target: DocTarget,
    /// A JSON pointer into the document (default: the whole document).
    pub(crate) pointer: Option<String>,
    /// Print a string value as its text, unquoted and unescaped (like `jq -r`);
    /// other values print as JSON.
    #[arg(long, short = 'r')]
    pub(crate) raw: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DocSetArgs {
    #[command(flatten)]
    pub(crate) target: DocTarget,
    /// Where to set the value (e.g. /gateway/port; "" for the whole document).
    #[arg(allow_hyphen_values = true)]
    pub(crate) pointer: String,
    /// The value, as JSON text (e.g. 18789, -5, true, "\"text\"", {"a":1}), or
    /// plain text with --string. Not for secrets: use --stdin.
    #[arg(required_unless_present = "stdin", allow_negative_numbers = true)]
    pub(crate) value: Option<String>,
    /// Read the value from stdin (for secrets: never in argv).
    #[arg(long)]
    pub(crate) stdin: bool,
    /// Take the value as a plain string instead of JSON text (one trailing
    /// newline is dropped).
    #[arg(long)]
    pub(crate) string: bool,
    /// Create missing parent objects on the way (like jq's setpath):
    /// `/a/b/c` in `{}` gives {"a":{"b":{"c":VALUE}}}.
    #[arg(long)]
    pub(crate) parents: bool,
}

#[derive(Debug, Args)]
pub(crate) struct DocRmArgs {
    #[command(flatten)]
    pub(crate) target: DocTarget,
    /// The value to remove.
    #[arg(allow_hyphen_values = true)]
    pub(crate) pointer: String,
}

#[derive(Debug, Subcommand)]
pub(crate) enum FsCommand {
    /// Atomically replace (or create) DIR/REL with the content of stdin:
    /// unpredictable temp in the same directory, final mode before any byte,
    /// fsync, rename, fsync of the directory. A symlink or non-regular file at
    /// the target is refused, not replaced.
    Write(WriteArgs),
    /// Print the regular file DIR/REL to stdout (FIFOs, sockets, devices and
    /// symlinks are refused).
    Read(ReadArgs),
    /// Create the directory DIR/REL and any missing parents (always -p).
    Mkdir(MkdirArgs),
    /// Remove DIR/REL: a file (a symlink itself, never its target) or an
    /// empty directory.
    Rm(DirRel),
    /// Rename DIR/FROM to DIR/TO (symlinks are neither moved nor replaced).
    Mv(MvArgs),
    /// List DIR/REL (DIR itself by default), without following links.
    Ls(LsArgs),
    /// Audit the chain of directories from / to DIR: one line per component
    /// with owner, mode and verdict. Exit 3 if any component is unsafe.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DirRel {
    /// The directory every path is relative to (verified before use).
    pub(crate) dir: PathBuf,
    /// A path relative to DIR (no leading `/`, no `..`).
    pub(crate) rel: OsString,
}

#[derive(Debug, Args)]
pub(crate) struct WriteArgs {
    #[command(flatten)]
    pub(crate) target: DirRel,
    /// Final mode of the file, in octal (independent of the umask).
    #[arg(long, default_value = "600", value_parser = parse_mode)]
    pub(crate) mode: u32,
    /// Do not fsync (still atomic for readers, not durable on power loss).
    #[arg(long)]
    pub(crate) no_sync: bool,
    /// Create missing parent directories (mode 0700).
    #[arg(long)]
    pub(crate) parents: bool,
    /// Refuse stdin larger than this many bytes (nothing is written).
    #[arg(long, default_value_t = DEFAULT_MAX_BYTES)]
    pub(crate) max_bytes: u64,
    /// How the temporary file is made (for tests and audits).
    #[arg(long, value_enum, default_value_t = TempArg::Auto, hide = true)]
    pub(crate) temp: TempArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum TempArg {
    Auto,
    Tmpfile,
    Named,
}

#[derive(Debug, Args)]
pub(crate) struct ReadArgs {
    #[command(flatten)]
    pub(crate) target: DirRel,
    /// Refuse files larger than this many bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BYTES)]
    pub(crate) max_bytes: u64,
}

#[derive(Debug, Args)]
pub(crate) struct MkdirArgs {
    #[command(flatten)]
    pub(crate) target: DirRel,
    /// Mode of created directories, in octal (independent of the umask).
    #[arg(long, default_value = "700", value_parser = parse_mode)]
    pub(crate) mode: u32,
}

#[derive(Debug, Args)]
pub(crate) struct MvArgs {
    /// The directory both paths are relative to.
    pub(crate) dir: PathBuf,
    /// The entry to move, relative to DIR.
    pub(crate) from: OsString,
    /// Its new name, relative to DIR.
    pub(crate) to: OsString,
    /// Fail instead of replacing an existing TO.
    #[arg(long)]
    pub(crate) no_replace: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// The directory to list (verified before use).
    pub(crate) dir: PathBuf,
    /// A subdirectory of DIR to list instead.
    pub(crate) rel: Option<OsString>,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The directory whose chain is audited.
    pub(crate) dir: PathBuf,
}

/// 16 MiB: the default limit for stdin and for reads.
pub(crate) const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024;

fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o7777 && !digits.is_empty() => Ok(m),
        _ => Err(format!("`{s}` is not an octal mode between 0 and 7777 (e.g. 600)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn cli_definition_is_consistent() {
        Cli::command().debug_assert();
        command().debug_assert();
    }

    /// Every command (but clap's `help`) has examples, and every example
    /// names a command that exists.
    #[test]
    fn every_command_has_examples() {
        fn walk(cmd: &clap::Command, path: &str, seen: &mut Vec<String>) {
            seen.push(path.to_owned());
            for c in cmd.get_subcommands().filter(|c| c.get_name() != "help") {
                let p = if path.is_empty() { c.get_name().to_owned() } else { format!("{path} {}", c.get_name()) };
                walk(c, &p, seen);
            }
        }
        let mut seen = Vec::new();
        walk(&command(), "", &mut seen);
        for p in &seen {
            assert!(EXAMPLES.iter().any(|(e, _)| e == p), "no examples for `gw {p}`");
        }
        for (e, text) in EXAMPLES {
            assert!(seen.iter().any(|p| p == e), "examples for a command that does not exist: `gw {e}`");
            assert!(text.lines().all(|l| l.starts_with("$ ") && l.contains("gw ")), "`gw {e}`: {text}");
        }
    }

    #[test]
    fn summaries_are_first_sentences() {
        assert_eq!(first_sentence("One thing. Then more."), "One thing");
        assert_eq!(first_sentence("Scopes, e.g. gateway.connect. More"), "Scopes, e.g. gateway.connect");
        assert_eq!(first_sentence("Just one."), "Just one");
        assert_eq!(summary("Profiles: isolated directories. More."), "Profiles");
    }

    #[test]
    fn modes_are_octal_and_bounded() {
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert_eq!(parse_mode("0o640"), Ok(0o640));
        assert_eq!(parse_mode("0755"), Ok(0o755));
        assert!(parse_mode("800").is_err());
        assert!(parse_mode("17777").is_err());
        assert!(parse_mode("").is_err());
        assert!(parse_mode("rw").is_err());
    }
}
