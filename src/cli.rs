//! The command line: argument definitions only (clap derive).

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

/// gw — a hardened toolkit for local gateways: anchored, symlink-proof files
/// and documents, scoped tokens and credentials, proven port ownership before
/// a secret is sent, liveness records, supervised watchers, and an audit.
///
/// Exit codes (every command): 0 ok, 1 operational error, 2 usage error,
/// 3 refused for security (symlink, escape, insecure directory, not a regular
/// file, root changed, a port not proven to be owned by the expected process,
/// a high doctor finding), 4 not found. Output that cannot be written is
/// exit 1 with the reason on stderr, except a closed stdout pipe (the
/// reader stopped reading: `gw ... | head`), which ends quietly.
///
/// Secrets are never taken from arguments or the environment: file content
/// comes from stdin.
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

    /// The profile `gw cred` and `gw profile show` act on (a directory under
    /// the gw home: $GW_HOME, else $XDG_CONFIG_HOME/gw, else ~/.config/gw).
    #[arg(long, global = true, default_value = "default")]
    pub(crate) profile: String,

    /// Where `gw cred` writes secrets: `file` (inline in the profile's 0600
    /// credentials.json), `keyring` (the OS keyring, the file keeps only
    /// references; if the keyring is unavailable the command is refused and
    /// nothing is written), `keyring-or-file` (the keyring if available,
    /// else the file — with a notice on stderr before anything is written).
    /// Reading resolves keyring references whatever this says.
    #[arg(long, global = true, value_enum, default_value_t = StoreArg::File)]
    pub(crate) store: StoreArg,

    /// The OS keyring of --store keyring / keyring-or-file: `secret-service`
    /// (D-Bus, e.g. gnome-keyring; durable) or `keyutils` (the kernel's
    /// session keyring; kernel memory only: lost at reboot, and when the
    /// persistent keyring expires, by default 3 days after its last use), on
    /// Linux; `keychain` (the login keychain; the default) on macOS.
    #[arg(long, global = true, value_enum, default_value_t = KeyringArg::PLATFORM_DEFAULT)]
    pub(crate) keyring: KeyringArg,

    #[command(subcommand)]
    pub(crate) command: Command,
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
    #[command(subcommand)]
    Cred(CredCommand),
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
    Doctor(crate::cmd::doctor::DoctorArgs),
    /// The reference gateway of the profile (--profile): a WebSocket server on
    /// 127.0.0.1 and ::1 that requires `Authorization: Bearer` (a scoped
    /// gateway.connect token of the profile's root secret, local ones only
    /// from loopback peers; or a shared/device/bootstrap credential it
    /// issued) and answers hello-ok. Pidfile serve.pid and a lease in
    /// leases/ in the profile directory; SIGTERM/SIGINT stop it cleanly and
    /// remove both.
    Serve(crate::cmd::serve::ServeArgs),
    /// A verified connection to a local gateway: the port's owner is proven
    /// (every listener belongs to --pid/--pidfile, or to the profile's own
    /// gw serve) before a byte is sent; then the WebSocket hello with the
    /// credential the URL's origin allows (a URL given here: only the stored
    /// credential; the profile's own gateway, without URL: the stored one,
    /// else a runtime token). A bootstrap credential's hello-ok role tokens
    /// are handed off (stored, read back, then the bootstrap cleared).
    /// Exit 3 if the owner is not proven (nothing sent) or the gateway
    /// refuses the credential; 4 if no credential is stored.
    Probe(crate::cmd::probe::ProbeArgs),
    /// Loopback port ownership: `who` lists every listener on a port (uid,
    /// pid and command where visible); `verify` proves that every listener
    /// belongs to an expected process (--pid or --pidfile), exit 3 if not or
    /// if it cannot be proven.
    #[command(subcommand)]
    Port(crate::cmd::port::PortCommand),
}

#[derive(Debug, Subcommand)]
pub(crate) enum CredCommand {
    /// Store the secret on stdin in one slot of the gateway URL.
    Set(CredSetArgs),
    /// Show which credentials are stored for URL (the secret only with
    /// --reveal and one slot).
    Get(CredGetArgs),
    /// Which credential would be used for URL and ROLE, and why: the device
    /// token for the role, else the shared token, else the bootstrap token.
    Resolve(CredResolveArgs),
    /// Persist every role token of the hello-ok answer on stdin, read them
    /// back, and only then clear the bootstrap token.
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
}

#[derive(Debug, Args)]
pub(crate) struct CredSetArgs {
    #[command(flatten)]
    pub(crate) url: CredUrl,
    #[command(flatten)]
    pub(crate) slot: SlotArgs,
}

#[derive(Debug, Args)]
pub(crate) struct OptSlotArgs {
    /// The device token of this role.
    #[arg(long = "role", value_name = "ROLE", conflicts_with_all = ["shared", "bootstrap"])]
    pub(crate) role: Option<String>,
    /// The shared gateway token.
    #[arg(long, conflicts_with = "bootstrap")]
    pub(crate) shared: bool,
    /// The bootstrap token.
    #[arg(long)]
    pub(crate) bootstrap: bool,
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
}

#[derive(Debug, Args)]
pub(crate) struct ProfileInitArgs {
    /// The profile name (a-z 0-9 - _).
    pub(crate) name: String,
    /// The port of the profile's gateway.
    #[arg(long, default_value_t = 18789)]
    pub(crate) port: u16,
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
    /// on stderr).
    Verify(VerifyArgs),
    /// Print the claims of the token on stdin. Verifies nothing.
    Inspect,
    /// Compatibility derivation: base64url(HMAC-SHA256(key, LABEL)), the key
    /// being a string field of a JSON file (e.g. OpenClaw's legacy
    /// exec-approvals.json) or OpenClaw's exec-approvals socket token in its
    /// state database (--openclaw-state). The key is trimmed as OpenClaw
    /// trims it (JavaScript's String.trim).
    Label(LabelArgs),
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
    /// Keep only this scope (repeat for several).
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
    /// The scope the token must grant.
    #[arg(long)]
    pub(crate) scope: String,
    /// The audience this verifier serves.
    #[arg(long)]
    pub(crate) aud: Option<String>,
    /// The address the token was presented from (required for local tokens).
    #[arg(long)]
    pub(crate) peer: Option<std::net::IpAddr>,
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
    /// directory) or `-` for stdin.
    #[arg(long)]
    pub(crate) spec: PathBuf,
    /// Write the definition atomically to DIR/REL (mode 0644) and re-verify the
    /// directory chain before printing the path to hand to the service manager.
    #[arg(long, num_args = 2, value_names = ["DIR", "REL"])]
    pub(crate) write: Option<Vec<OsString>>,
    /// launchd on macOS only, with --write (DIR is then usually
    /// ~/Library/LaunchAgents): after the write and the re-verification, load
    /// the agent with `launchctl bootstrap gui/UID PATH`.
    #[arg(long, requires = "write")]
    pub(crate) bootstrap: bool,
}

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
}

#[derive(Debug, Args)]
pub(crate) struct DocSetArgs {
    #[command(flatten)]
    pub(crate) target: DocTarget,
    /// Where to set the value (e.g. /gateway/port; "" for the whole document).
    #[arg(allow_hyphen_values = true)]
    pub(crate) pointer: String,
    /// The value, as JSON text (e.g. 18789, "\"text\"", {"a":1}). Not for secrets:
    /// use --stdin.
    #[arg(required_unless_present = "stdin", conflicts_with = "stdin")]
    pub(crate) value: Option<String>,
    /// Read the value from stdin (for secrets: never in argv).
    #[arg(long)]
    pub(crate) stdin: bool,
    /// Take the value as a plain string instead of JSON text (one trailing
    /// newline is dropped).
    #[arg(long)]
    pub(crate) string: bool,
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
