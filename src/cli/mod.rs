//! The command line: argument definitions only (clap derive), one module
//! per command; `src/cmd/` turns them into library calls.

pub(crate) mod cred;
pub(crate) mod doc;
pub(crate) mod doctor;
pub(crate) mod fs;
pub(crate) mod lease;
pub(crate) mod port;
pub(crate) mod probe;
pub(crate) mod serve;
pub(crate) mod token;
pub(crate) mod watch;

use clap::{Args, Parser, Subcommand, ValueEnum};

use self::cred::{CredCommand, ProfileCommand};
use self::doc::DocCommand;
use self::doctor::DoctorArgs;
use self::fs::FsCommand;
use self::lease::LeaseCommand;
use self::port::PortCommand;
use self::probe::ProbeArgs;
use self::serve::ServeArgs;
use self::token::TokenCommand;
use self::watch::WatchCommand;
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
    pub(crate) args: ProbeArgs,
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
    Lease(LeaseCommand),
    /// Watchers: approve pending requests of allowlisted clients (fast, then
    /// keepalive until a deadline), or watch a gateway's health and run a
    /// recovery command. External commands run without a shell, bounded in
    /// time (their process group is killed).
    #[command(subcommand)]
    Watch(WatchCommand),
    /// Audit a gw home without changing it: the directory chain, owner and
    /// mode of every secret and document, symlinks and special files, temp
    /// files of interrupted writes, stale leases, keyring availability, who
    /// holds each configured gateway's port, and the kernel's link
    /// protections. Every finding has a severity, the why and the exact fix.
    /// Audits every profile, or only the one named with --profile. Exit 0
    /// when no finding is high, 3 when one is (an audit stopped at a cap,
    /// see --max-entries, is one).
    Doctor(ProfileLeaf<DoctorArgs>),
    /// The reference gateway of the profile (--profile): a WebSocket server on
    /// 127.0.0.1 and ::1 that requires `Authorization: Bearer` (a scoped
    /// gateway.connect token of the profile's root secret, local ones only
    /// from loopback peers; or a shared/device/bootstrap credential it
    /// issued) and answers hello-ok. Pidfile serve.pid and a lease in
    /// leases/ in the profile directory; SIGTERM/SIGINT stop it cleanly and
    /// remove both.
    Serve(ProfileLeaf<ServeArgs>),
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
    Port(PortCommand),
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
}
