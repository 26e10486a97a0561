//! The property list a launchd agent must render to, written by hand from
//! launchd.plist(5)'s key names: the oracle of gw-persist's launchd suites
//! and of the `service_render` fuzz target (feature `persist`).

use gw_persist::service::LaunchAgent;
use serde_json::{Map, Value, json};

/// `a` as launchd reads it: the keys plist(5) names, optional ones only when
/// set, an empty environment left out.
pub fn expected_plist(a: &LaunchAgent) -> Value {
    let mut m = Map::new();
    m.insert("Label".into(), json!(a.label));
    m.insert("ProgramArguments".into(), json!(a.program_arguments));
    if !a.environment_variables.is_empty() {
        m.insert("EnvironmentVariables".into(), json!(a.environment_variables));
    }
    for (k, v) in [("RunAtLoad", a.run_at_load), ("KeepAlive", a.keep_alive)] {
        if let Some(b) = v {
            m.insert(k.into(), json!(b));
        }
    }
    for (k, v) in [
        ("StandardOutPath", &a.standard_out_path),
        ("StandardErrorPath", &a.standard_error_path),
        ("WorkingDirectory", &a.working_directory),
    ] {
        if let Some(p) = v {
            m.insert(k.into(), json!(p));
        }
    }
    if let Some(t) = a.throttle_interval {
        m.insert("ThrottleInterval".into(), json!(t));
    }
    Value::Object(m)
}
