//! `gw port`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand, ValueEnum};

/// `gw port ...`.
#[derive(Debug, Subcommand)]
pub(crate) enum PortCommand {
    /// Every TCP listener on PORT (IPv4 and IPv6, every address) with its
    /// socket uid, and every process holding it where visible, one line per
    /// holder (a listener inherited by another process has several;
    /// processes of other users are only visible to root). For display:
    /// use `gw port verify` to decide.
    Who(WhoArgs),
    /// Proves that every listener on PORT is held by the expected process
    /// (or, unless --no-descendants, its descendants), named by --pid,
    /// --pidfile or a gw-lease record (--lease DIR --id ID). Exit 0 when owned,
    /// 3 when not owned or when ownership cannot be proven (a foreign or
    /// extra listener, a listener also held by a process outside the tree,
    /// no listener, another user's process, timeout).
    Verify(VerifyArgs),
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum SourceArg {
    Auto,
    Netlink,
    Procnet,
}

/// Options shared by both subcommands.
#[derive(Debug, Args)]
pub(crate) struct InspectArgs {
    /// Time bound on the whole inspection (e.g. 500ms, 2s); past it the
    /// answer is "unknown" (exit 3).
    #[arg(long, value_parser = humantime::parse_duration, default_value = "500ms")]
    pub(crate) timeout: Duration,
    /// Socket table source (tests): netlink sock_diag, /proc/net/tcp{,6},
    /// or auto (netlink, else /proc/net).
    #[arg(long, value_enum, default_value_t = SourceArg::Auto, hide = true)]
    pub(crate) source: SourceArg,
}

#[derive(Debug, Args)]
pub(crate) struct WhoArgs {
    /// The TCP port (1-65535).
    #[arg(value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) port: u16,
    #[command(flatten)]
    pub(crate) inspect: InspectArgs,
}

#[derive(Debug, Args)]
#[command(group(clap::ArgGroup::new("owner").required(true).args(["pid", "pidfile", "lease"])))]
pub(crate) struct VerifyArgs {
    /// The TCP port (1-65535).
    #[arg(value_parser = clap::value_parser!(u16).range(1..))]
    pub(crate) port: u16,
    /// The expected owner's pid.
    #[arg(long)]
    pub(crate) pid: Option<u32>,
    /// A pidfile naming the expected owner (`PID` or `PID STARTTIME`); read
    /// without following symlinks from a directory whose chain is verified;
    /// refused (exit 3) if the directory is insecure or the pidfile is owned
    /// by another user (not you, not root) or writable by group/other.
    #[arg(long, value_name = "PATH")]
    pub(crate) pidfile: Option<PathBuf>,
    #[command(flatten)]
    pub(crate) lease: LeaseOwnerArgs,
    /// Every listener must also be owned by this uid.
    #[arg(long)]
    pub(crate) uid: Option<u32>,
    /// Only the pid itself may hold the listeners, not its descendants.
    #[arg(long)]
    pub(crate) no_descendants: bool,
    #[command(flatten)]
    pub(crate) inspect: InspectArgs,
}

/// `--lease DIR --id ID`: the expected owner named by a gw-lease record
/// (also flattened into `gw probe` and `gw watch health`).
#[derive(Debug, Args)]
pub(crate) struct LeaseOwnerArgs {
    /// A gw-lease registry directory (`gw serve` keeps one in its profile
    /// directory: `~/.config/gw/profiles/NAME/leases`); with --id, the expected owner
    /// is the record's process, named by pid and start time. Refused (exit 3)
    /// if the directory is insecure, if the record file is owned by another
    /// user or writable by group/other, or if the record's process is not
    /// running (dead, expired, pid reused) or was registered in another boot
    /// or pid namespace; exit 4 if DIR or a record with the id does not
    /// exist. Read only: nothing is pruned or created.
    #[arg(long, value_name = "DIR", requires = "id")]
    pub(crate) lease: Option<PathBuf>,
    /// The lease record's id (`gw serve` registers `serve-PORT`).
    #[arg(long, value_name = "ID", requires = "lease")]
    pub(crate) id: Option<String>,
}
