//! [`LaunchAgent`]: a launchd user agent — typed, validated, rendered as an
//! XML property list through gw-persist's own plist writer.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use super::validate::{self, invalid};
use crate::error::Result;

/// The longest label accepted, in bytes (it names the plist file).
const MAX_LABEL_BYTES: usize = 255;

/// A launchd agent (`~/Library/LaunchAgents/LABEL.plist`), see
/// launchd.plist(5).
///
/// Loaded from a JSON spec with these (snake_case) fields; unknown fields are
/// refused:
///
/// | spec field              | plist key (Apple's)    | type                    |
/// |-------------------------|------------------------|-------------------------|
/// | `label`                 | `Label`                | string, required        |
/// | `program_arguments`     | `ProgramArguments`     | argv, required          |
/// | `environment_variables` | `EnvironmentVariables` | map name → value, optional |
/// | `run_at_load`           | `RunAtLoad`            | bool, optional          |
/// | `keep_alive`            | `KeepAlive`            | bool, optional          |
/// | `standard_out_path`     | `StandardOutPath`      | absolute path, optional |
/// | `standard_error_path`   | `StandardErrorPath`    | absolute path, optional |
/// | `working_directory`     | `WorkingDirectory`     | absolute path, optional |
/// | `throttle_interval`     | `ThrottleInterval`     | seconds, optional       |
///
/// ```
/// use gw_persist::service::LaunchAgent;
/// let agent = LaunchAgent::from_json(br#"{
///     "label": "ai.gw.serve",
///     "program_arguments": ["/usr/local/bin/gw", "serve"],
///     "run_at_load": true,
///     "keep_alive": true,
///     "throttle_interval": 10
/// }"#)?;
/// let xml = agent.render()?;
/// assert!(String::from_utf8_lossy(&xml).contains("<key>ProgramArguments</key>"));
/// # Ok::<(), gw_persist::Error>(())
/// ```
///
/// Never put a secret in `environment_variables` (THREATS CLI-1): the plist
/// is readable configuration.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LaunchAgent {
    /// `Label`: reverse-DNS style, `[A-Za-z0-9._-]`, not starting with `.`
    /// or `-`, at most 255 bytes (it also names the plist file, so no `/`).
    pub label: String,
    /// `ProgramArguments`: the program (an absolute path) and its arguments.
    pub program_arguments: Vec<String>,
    /// `EnvironmentVariables`.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment_variables: BTreeMap<String, String>,
    /// `RunAtLoad`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_at_load: Option<bool>,
    /// `KeepAlive` (the boolean form).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keep_alive: Option<bool>,
    /// `StandardOutPath`: an absolute path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard_out_path: Option<String>,
    /// `StandardErrorPath`: an absolute path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standard_error_path: Option<String>,
    /// `WorkingDirectory`: an absolute path (launchd does not expand `~`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// `ThrottleInterval` in seconds (1 to 86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub throttle_interval: Option<u64>,
}

impl LaunchAgent {
    /// Loads a spec from strict JSON (duplicate keys, unknown fields refused).
    ///
    /// # Errors
    /// The strict parser's errors (CLI-2); [`crate::ErrorKind::InvalidSpec`]
    /// when the JSON does not have this shape. The spec is not validated yet:
    /// [`LaunchAgent::render`] does that.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        super::from_json(bytes, "launchd")
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Injection`] for control characters and other
    /// format breakers; [`crate::ErrorKind::InvalidSpec`] for a bad label,
    /// empty or relative `program_arguments`, relative paths, bad variable
    /// names, a throttle interval out of range. Each error names the field.
    ///
    /// # Security
    /// THREATS CLI-2: a hostile value is refused and nothing is written.
    pub fn validate(&self) -> Result<()> {
        label(&self.label)?;
        for (i, arg) in self.program_arguments.iter().enumerate() {
            let field = format!("program_arguments[{i}]");
            if i == 0 {
                validate::absolute_path(&field, arg)?;
            } else {
                validate::text(&field, arg)?;
            }
        }
        validate::argv("program_arguments", &self.program_arguments)?;
        validate::count("environment_variables", self.environment_variables.len())?;
        for (name, value) in &self.environment_variables {
            validate::env_name("environment_variables", name)?;
            validate::text(&format!("environment_variables.{name}"), value)?;
        }
        for (field, path) in [
            ("standard_out_path", &self.standard_out_path),
            ("standard_error_path", &self.standard_error_path),
            ("working_directory", &self.working_directory),
        ] {
            if let Some(p) = path {
                validate::absolute_path(field, p)?;
            }
        }
        if let Some(s) = self.throttle_interval {
            validate::interval("throttle_interval", s)?;
        }
        Ok(())
    }

    /// The agent as a property-list value, keyed by Apple's names (validated
    /// first).
    ///
    /// # Errors
    /// As [`LaunchAgent::validate`].
    pub fn to_value(&self) -> Result<Value> {
        self.validate()?;
        let mut m = Map::new();
        m.insert("Label".into(), self.label.clone().into());
        m.insert("ProgramArguments".into(), self.program_arguments.clone().into());
        if !self.environment_variables.is_empty() {
            let env: Map<String, Value> =
                self.environment_variables.iter().map(|(k, v)| (k.clone(), Value::from(v.clone()))).collect();
            m.insert("EnvironmentVariables".into(), env.into());
        }
        if let Some(b) = self.run_at_load {
            m.insert("RunAtLoad".into(), b.into());
        }
        if let Some(b) = self.keep_alive {
            m.insert("KeepAlive".into(), b.into());
        }
        for (key, path) in [
            ("StandardOutPath", &self.standard_out_path),
            ("StandardErrorPath", &self.standard_error_path),
            ("WorkingDirectory", &self.working_directory),
        ] {
            if let Some(p) = path {
                m.insert(key.into(), p.clone().into());
            }
        }
        if let Some(s) = self.throttle_interval {
            m.insert("ThrottleInterval".into(), s.into());
        }
        Ok(Value::Object(m))
    }

    /// Validates, then renders the agent as an XML property list (through
    /// [`crate::to_plist_bytes`], never the plist crate's file helpers),
    /// refused if gw's own plist loader would refuse it
    /// ([`crate::Format::render_within`] with the default [`crate::Limits`]).
    ///
    /// # Errors
    /// As [`LaunchAgent::validate`]; [`crate::ErrorKind::TooLarge`] when
    /// XML escaping makes the file larger than the loader reads.
    ///
    /// # Security
    /// THREATS CLI-2: every value is XML-escaped by the writer, and values
    /// XML cannot hold are refused before it runs. DOC-3.
    pub fn render(&self) -> Result<Vec<u8>> {
        crate::Format::Plist.render_within(&self.to_value()?, &crate::Limits::default())
    }
}

fn label(value: &str) -> Result<()> {
    const FIELD: &str = "label";
    validate::text(FIELD, value)?;
    let why = if value.is_empty() {
        Some("is empty")
    } else if value.len() > MAX_LABEL_BYTES {
        Some("is longer than 255 bytes")
    } else if value.contains('/') {
        Some("contains `/` (the label names the plist file; a `/` would make it a path)")
    } else if value.starts_with(['.', '-']) {
        Some("starts with `.` or `-`")
    } else if !value.bytes().all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b)) {
        Some("has a character outside `A-Z a-z 0-9 . _ -`")
    } else {
        None
    };
    match why {
        Some(why) => Err(invalid(
            FIELD,
            format!("{why}: {}", validate::shown(value)),
            "use a reverse-DNS label such as `ai.gw.serve`",
        )),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    #[test]
    fn labels() {
        for ok in ["ai.gw.serve", "a", "A-b_c.1"] {
            label(ok).unwrap();
        }
        for bad in ["", "a/b", "../x", ".x", "-x", "a b", "é", &"a".repeat(256)] {
            assert_eq!(label(bad).unwrap_err().kind(), ErrorKind::InvalidSpec, "{bad:?}");
        }
        assert_eq!(label("a\nb").unwrap_err().kind(), ErrorKind::Injection);
    }
}
