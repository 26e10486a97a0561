//! `gw doc`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

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
