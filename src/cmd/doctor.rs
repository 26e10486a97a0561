//! `gw doctor`: audits a gw home and prints findings with their fixes. The
//! checks are in `src/doctor/` (over gw-anchor, gw-cred, gw-lease and
//! gw-portguard); this file parses, runs and prints.

use std::path::PathBuf;

use clap::Args;
use gw_anchor::Policy;

use crate::doctor::{self, Options};
use crate::output::{CliError, Output};

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
    #[arg(long, value_name = "N", default_value_t = doctor::MAX_ENTRIES)]
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

pub(crate) fn run(args: DoctorArgs, profile: Option<&str>, policy: &Policy, out: Output) -> Result<u8, CliError> {
    let (home, home_error) = match args.home {
        Some(h) => (Some(h), None),
        None => match gw_cred::home_path() {
            Ok(h) => (Some(h), None),
            Err(e) => (None, Some(format!("{} (fix: {})", e.message(), e.fix().unwrap_or("set GW_HOME")))),
        },
    };
    let openclaw = match args.openclaw {
        None => None,
        Some(Some(dir)) => Some(dir),
        Some(None) => Some(doctor::openclaw_state_dir().ok_or_else(|| {
            CliError::usage("doctor", "no OpenClaw state directory: neither OPENCLAW_STATE_DIR nor HOME is set")
        })?),
    };
    let opts = Options {
        openclaw,
        home,
        home_error,
        profile: profile.map(str::to_owned),
        keyring_probe: !args.no_keyring_probe,
        kernel: !args.skip_kernel,
        max_entries: args.max_entries,
    };
    if let Some(p) = &opts.profile {
        gw_cred::check_profile_name(p)?;
        // A named profile that does not exist is not found (exit 4), as in
        // every command; any other trouble with it is what the audit reports.
        if let Some(h) = &opts.home
            && let Err(e) = gw_cred::Home::open(h, policy).and_then(|home| home.profile(p).map(drop))
            && e.class() == gw_error::Class::NotFound
        {
            return Err(CliError::from(e).with_fix(format!("create it with `gw profile init {p}`")));
        }
    }
    let report = doctor::audit(&opts, policy);
    let code = report.exit_code();
    let mut json = report.to_json();
    if let serde_json::Value::Object(map) = &mut json {
        map.insert("ok".into(), serde_json::Value::Bool(code == 0));
    }
    out.ok(&report.to_text(), json);
    Ok(code)
}
