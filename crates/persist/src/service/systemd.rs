//! [`SystemdUnit`]: a systemd user service unit — typed, validated, rendered
//! as text with every value quoted by systemd's own rules.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde::{Deserialize, Serialize};

use super::quote;
use super::validate::{self, invalid};
use crate::error::Result;

/// A systemd user unit (`~/.config/systemd/user/NAME.service`).
///
/// Loaded from a JSON spec with these (snake_case) fields; unknown fields are
/// refused:
///
/// | spec field          | unit file                         | type                    |
/// |---------------------|-----------------------------------|-------------------------|
/// | `description`       | `[Unit] Description=`             | string, optional        |
/// | `after`             | `[Unit] After=`                   | unit names, optional    |
/// | `exec_start`        | `[Service] ExecStart=`            | argv, required          |
/// | `environment`       | `[Service] Environment=` (one each) | map name → value, optional |
/// | `restart`           | `[Service] Restart=`              | [`Restart`], optional   |
/// | `restart_sec`       | `[Service] RestartSec=`           | seconds, optional       |
/// | `watchdog_sec`      | `[Service] WatchdogSec=`          | seconds, optional       |
/// | `working_directory` | `[Service] WorkingDirectory=`     | absolute path, optional |
/// | `wanted_by`         | `[Install] WantedBy=`             | unit names, optional    |
///
/// ```
/// use gw_persist::service::SystemdUnit;
/// let unit = SystemdUnit::from_json(br#"{
///     "description": "gw reference gateway",
///     "exec_start": ["/usr/bin/gw", "serve", "--port", "18789"],
///     "environment": {"GW_HOME": "/home/me/.gw"},
///     "restart": "on-failure",
///     "restart_sec": 5,
///     "wanted_by": ["default.target"]
/// }"#)?;
/// let text = unit.render()?;
/// assert!(text.contains("ExecStart=\"/usr/bin/gw\" \"serve\" \"--port\" \"18789\"\n"));
/// # Ok::<(), gw_persist::Error>(())
/// ```
///
/// Never put a secret in `environment` (THREATS CLI-1): the unit file is
/// readable configuration, and the service manager shows the environment to
/// anyone who asks it.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SystemdUnit {
    /// `Description=`: one line of text; `%` is written as `%%`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// `After=`: unit names such as `network.target`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub after: Vec<String>,
    /// `ExecStart=`: the program (an absolute path) and its arguments, each
    /// passed to the program exactly as given (no `$VAR` expansion, no `%`
    /// specifiers, no word splitting).
    pub exec_start: Vec<String>,
    /// `Environment=`: variables set for the service, exactly as given (no
    /// specifier or variable expansion).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub environment: BTreeMap<String, String>,
    /// `Restart=`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart: Option<Restart>,
    /// `RestartSec=` in seconds (1 to 86400).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_sec: Option<u64>,
    /// `WatchdogSec=` in seconds (1 to 86400); the service must then send
    /// `WATCHDOG=1` through sd_notify(3) in time or it is restarted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watchdog_sec: Option<u64>,
    /// `WorkingDirectory=`: an absolute path (`~` is refused: give the home
    /// directory's path).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    /// `WantedBy=` in `[Install]`, usually `default.target` for user units.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub wanted_by: Vec<String>,
}

/// `Restart=`: when systemd restarts the service (systemd.service(5)).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Restart {
    /// `no`
    No,
    /// `on-success`
    OnSuccess,
    /// `on-failure`
    OnFailure,
    /// `on-abnormal`
    OnAbnormal,
    /// `on-watchdog`
    OnWatchdog,
    /// `on-abort`
    OnAbort,
    /// `always`
    Always,
}

impl Restart {
    /// The value as systemd spells it (`on-failure`, ...).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::No => "no",
            Self::OnSuccess => "on-success",
            Self::OnFailure => "on-failure",
            Self::OnAbnormal => "on-abnormal",
            Self::OnWatchdog => "on-watchdog",
            Self::OnAbort => "on-abort",
            Self::Always => "always",
        }
    }
}

/// The unit types systemd knows (the suffix of a unit name).
const UNIT_TYPES: &[&str] =
    &["service", "socket", "target", "device", "mount", "automount", "swap", "timer", "path", "slice", "scope"];

/// systemd's `UNIT_NAME_MAX`.
const UNIT_NAME_MAX: usize = 255;

impl SystemdUnit {
    /// Loads a spec from strict JSON (duplicate keys, unknown fields refused).
    ///
    /// # Errors
    /// The strict parser's errors (CLI-2); [`crate::ErrorKind::InvalidSpec`]
    /// when the JSON does not have this shape. The spec is not validated yet:
    /// [`SystemdUnit::render`] does that.
    pub fn from_json(bytes: &[u8]) -> Result<Self> {
        super::from_json(bytes, "systemd")
    }

    /// Checks every field.
    ///
    /// # Errors
    /// [`crate::ErrorKind::Injection`] for a value that would add a directive
    /// or break the file (control characters, a trailing backslash on an
    /// unquoted value, ...); [`crate::ErrorKind::InvalidSpec`] for wrong
    /// values (empty or relative `exec_start`, bad unit or variable names,
    /// intervals out of range, `~`). Each error names the spec field.
    ///
    /// # Security
    /// THREATS CLI-2: a hostile value is refused and nothing is written.
    pub fn validate(&self) -> Result<()> {
        if let Some(d) = &self.description {
            validate::raw_line_value("description", d)?;
        }
        units("after", &self.after)?;
        for (i, arg) in self.exec_start.iter().enumerate() {
            let field = format!("exec_start[{i}]");
            if i == 0 {
                executable(&field, arg)?;
            } else {
                validate::text(&field, arg)?;
            }
        }
        validate::argv("exec_start", &self.exec_start)?;
        validate::count("environment", self.environment.len())?;
        for (name, value) in &self.environment {
            validate::env_name("environment", name)?;
            validate::text(&format!("environment.{name}"), value)?;
        }
        if let Some(s) = self.restart_sec {
            validate::interval("restart_sec", s)?;
        }
        if let Some(s) = self.watchdog_sec {
            validate::interval("watchdog_sec", s)?;
        }
        if let Some(w) = &self.working_directory {
            validate::raw_line_value("working_directory", w)?;
            validate::absolute_path("working_directory", w)?;
        }
        units("wanted_by", &self.wanted_by)?;
        Ok(())
    }

    /// Validates, then renders the unit file.
    ///
    /// Each directive is one line; `ExecStart=` words and `Environment=`
    /// assignments are double-quoted with `\` and `"` escaped; `%` is written
    /// `%%` everywhere and `$` is written `$$` in `ExecStart=`, so the program
    /// receives exactly `exec_start` and the environment exactly
    /// `environment`.
    ///
    /// # Errors
    /// As [`SystemdUnit::validate`].
    ///
    /// # Security
    /// THREATS CLI-2: no value can add, remove or change a directive.
    pub fn render(&self) -> Result<String> {
        self.validate()?;
        let mut out = String::from("# Written by gw from a service spec; edit the spec and render again.\n");
        if self.description.is_some() || !self.after.is_empty() {
            out.push_str("[Unit]\n");
            if let Some(d) = &self.description {
                let _ = writeln!(out, "Description={}", quote::specifiers(d));
            }
            if !self.after.is_empty() {
                let _ = writeln!(out, "After={}", self.after.join(" "));
            }
            out.push('\n');
        }
        out.push_str("[Service]\n");
        let words: Vec<String> = self.exec_start.iter().map(|a| quote::exec_word(a)).collect();
        let _ = writeln!(out, "ExecStart={}", words.join(" "));
        for (name, value) in &self.environment {
            let _ = writeln!(out, "Environment={}", quote::env_assignment(name, value));
        }
        if let Some(r) = self.restart {
            let _ = writeln!(out, "Restart={}", r.as_str());
        }
        if let Some(s) = self.restart_sec {
            let _ = writeln!(out, "RestartSec={s}");
        }
        if let Some(s) = self.watchdog_sec {
            let _ = writeln!(out, "WatchdogSec={s}");
        }
        if let Some(w) = &self.working_directory {
            let _ = writeln!(out, "WorkingDirectory={}", quote::specifiers(w));
        }
        if !self.wanted_by.is_empty() {
            let _ = write!(out, "\n[Install]\nWantedBy={}\n", self.wanted_by.join(" "));
        }
        Ok(out)
    }
}

/// The `ExecStart=` program: an absolute, normalized path without the
/// characters systemd refuses in an executable name (`"`, `'`, `\`:
/// "Executable name contains special characters") and without `$` (systemd
/// substitutes variables in argv\[0\] but not in the path it executes, so
/// no escaping makes both mean the same).
fn executable(field: &str, path: &str) -> Result<()> {
    validate::absolute_path(field, path)?;
    if let Some(c) = path.chars().find(|c| matches!(c, '"' | '\'' | '\\' | '$')) {
        return Err(invalid(
            field,
            format!("contains `{c}`, which systemd does not accept in the program's path: {}", validate::shown(path)),
            "install or link the program at a path without quotes, backslashes or `$`",
        ));
    }
    Ok(())
}

/// A list of unit names (`After=`, `WantedBy=`).
fn units(field: &str, names: &[String]) -> Result<()> {
    validate::count(field, names.len())?;
    for (i, name) in names.iter().enumerate() {
        unit_name(&format!("{field}[{i}]"), name)?;
    }
    Ok(())
}

/// A unit name: `[A-Za-z0-9:_.@-]`, a known type suffix, a non-empty
/// prefix, at most one `@` with a non-empty instance, at most 255 bytes.
/// (Names with `\x2d`-style escapes are refused: a backslash or `%` in a
/// list value would be unescaped or expanded by systemd.)
fn unit_name(field: &str, name: &str) -> Result<()> {
    validate::text(field, name)?;
    let bad = || {
        invalid(
            field,
            format!("is not a valid unit name: {}", validate::shown(name)),
            "use a name like `network.target` or `gw@default.service` (letters, digits, `:_.@-`, a unit type suffix)",
        )
    };
    if name.len() > UNIT_NAME_MAX || !name.bytes().all(|b| b.is_ascii_alphanumeric() || b":_.@-".contains(&b)) {
        return Err(bad());
    }
    let Some((stem, suffix)) = name.rsplit_once('.') else { return Err(bad()) };
    if !UNIT_TYPES.contains(&suffix) || stem.is_empty() || stem.starts_with(['.', '@']) {
        return Err(bad());
    }
    match stem.split_once('@') {
        Some((_, instance)) if instance.is_empty() || instance.contains('@') => Err(bad()),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ErrorKind;

    fn unit() -> SystemdUnit {
        SystemdUnit { exec_start: vec!["/bin/true".into()], ..Default::default() }
    }

    #[test]
    fn renders_minimal() {
        assert_eq!(
            unit().render().unwrap(),
            "# Written by gw from a service spec; edit the spec and render again.\n[Service]\nExecStart=\"/bin/true\"\n"
        );
    }

    #[test]
    fn unit_names() {
        for ok in ["default.target", "gw@a.service", "a:b_c-d.socket", "network-online.target"] {
            unit_name("f", ok).unwrap();
        }
        for bad in
            ["", "x", ".service", "a.nope", "a b.target", "gw@.service", "a\\x2d.target", "%i.service", "@a.service"]
        {
            assert_eq!(unit_name("f", bad).unwrap_err().kind(), ErrorKind::InvalidSpec, "{bad:?}");
        }
    }
}
