//! `gw doctor`.

use std::path::PathBuf;

use clap::Args;

/// `gw doctor [--home DIR] [--profile NAME]`.
#[derive(Debug, Args)]
pub(crate) struct DoctorArgs {
    /// The gw home to audit (default: $GW_HOME, else $XDG_CONFIG_HOME/gw,
    /// else ~/.config/gw). It need not exist: a missing home is reported
    /// with the directory it would be created in.
    #[arg(long, value_name = "DIR")]
    pub(crate) home: Option<PathBuf>,
    /// Do not probe the OS keyrings. (The probe is gw-cred's availability
    /// check: it stores, reads back and deletes one entry holding no secret;
    /// it is the only thing the doctor writes anywhere.)
    #[arg(long)]
    pub(crate) no_keyring_probe: bool,
    /// Audit at most this many entries beneath the home. The secrets,
    /// configs and documents of every profile are audited first; reaching the
    /// cap is a high finding (exit 3): the rest was not audited.
    #[arg(long, value_name = "N", default_value_t = crate::audit::MAX_ENTRIES)]
    pub(crate) max_entries: usize,
    /// Audit an OpenClaw installation instead of the gw home: its state
    /// directory (DIR, default $OPENCLAW_STATE_DIR, else ~/.openclaw) and what
    /// OpenClaw 2026.9.6 does not check — a symlinked state directory or
    /// `state/` subdirectory (it would create its database of device keys and
    /// tokens where the link points), owners and modes of openclaw.json and
    /// the SQLite files, its log directory in the shared /tmp, and who holds
    /// the configured port. Read-only: nothing is written, the database is not
    /// opened.
    #[arg(long, value_name = "DIR", num_args = 0..=1)]
    pub(crate) openclaw: Option<Option<PathBuf>>,
    /// Do not read the kernel's fs.protected_* settings.
    #[arg(long, hide = true)]
    pub(crate) skip_kernel: bool,
}
