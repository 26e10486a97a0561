//! `gw doctor`: audits a gw home and prints findings with their fixes. The
//! checks are in `src/audit/` (over gw-anchor, gw-cred, gw-lease and
//! gw-portguard); this file parses, runs and prints.

use gw_anchor::Policy;

use crate::audit::{self, Options};
use crate::cli::doctor::DoctorArgs;
use crate::output::{CliError, Output};

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
        Some(None) => Some(audit::openclaw_state_dir().ok_or_else(|| {
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
    let report = audit::audit(&opts, policy);
    let code = report.exit_code();
    let mut json = report.to_json();
    if let serde_json::Value::Object(map) = &mut json {
        map.insert("ok".into(), serde_json::Value::Bool(code == 0));
    }
    out.ok(&report.to_text(), json);
    Ok(code)
}
