//! The checks every service-definition value goes through, and the refusals
//! they produce.
//!
//! Two kinds of refusal, kept apart on purpose:
//! - [`ErrorKind::Injection`] (a security refusal): the value would add a
//!   directive or break the file's format — a control character (newline,
//!   carriage return, NUL, tab, ...), a Unicode line/paragraph separator or
//!   bidirectional override (the file would *display* differently from what
//!   it does), a character XML 1.0 cannot hold, or a trailing backslash where
//!   systemd would join the next line.
//! - [`ErrorKind::InvalidSpec`]: the value is well-formed text but wrong
//!   (relative path, empty argv, bad label or variable name, interval out of
//!   range).
//!
//! Every error names the field by its spec (JSON) name, e.g.
//! `exec_start[2]`, and shows the offending value escaped (never raw: a
//! hostile value must not inject into the terminal or a log either).

use crate::error::{Error, ErrorKind, Result};

/// The operation named in validation errors.
pub(crate) const OP: &str = "validate";

/// The longest single value accepted, in bytes (`PATH_MAX`).
pub(crate) const MAX_VALUE_BYTES: usize = 4096;

/// The longest path component accepted, in bytes (`NAME_MAX`).
pub(crate) const MAX_NAME_BYTES: usize = 255;

/// The most entries in one list or map (arguments, variables, units).
pub(crate) const MAX_ENTRIES: usize = 256;

/// The most bytes in all of one argv together (systemd reads a unit-file
/// line of at most 1 MiB; escaping can double a value).
pub(crate) const MAX_ARGV_BYTES: usize = 64 * 1024;

/// The longest interval accepted, in seconds (one day).
pub(crate) const MAX_INTERVAL_SECS: u64 = 86_400;

/// A value shown in a message: escaped, and cut after 64 characters.
pub(crate) fn shown(value: &str) -> String {
    const MAX: usize = 64;
    let mut s: String = value.chars().take(MAX).flat_map(char::escape_debug).collect();
    if value.chars().count() > MAX {
        s.push('…');
    }
    format!("\"{s}\"")
}

#[cold]
pub(crate) fn injection(field: &str, message: String) -> Error {
    Error::new(ErrorKind::Injection, OP, field, format!("refused: `{field}` {message}"))
        .with_fix("remove the character; a service definition value is one line of printable text")
}

#[cold]
pub(crate) fn invalid(field: &str, message: String, fix: &str) -> Error {
    Error::new(ErrorKind::InvalidSpec, OP, field, format!("`{field}` {message}")).with_fix(fix)
}

/// Why `c` cannot appear in any value, if it cannot.
fn forbidden_char(c: char) -> Option<&'static str> {
    match c {
        '\n' => Some("a newline, which would start a new directive or line"),
        '\r' => Some("a carriage return, which systemd reads as a line break"),
        '\0' => Some("a NUL byte, which ends the value early for C readers"),
        c if c.is_control() => Some("a control character, which breaks the file format"),
        '\u{2028}' | '\u{2029}' => Some("a Unicode line or paragraph separator, which editors show as a line break"),
        '\u{202A}'..='\u{202E}' | '\u{2066}'..='\u{2069}' | '\u{200E}' | '\u{200F}' | '\u{061C}' => {
            Some("a bidirectional-text control, which makes the file display differently from what it does")
        }
        c if is_noncharacter(c) => {
            Some("a Unicode noncharacter, which systemd refuses as not UTF-8 clean (it drops the whole directive)")
        }
        _ => None,
    }
}

/// The 66 Unicode noncharacters: U+FDD0..=U+FDEF and the last two code
/// points of every plane (U+xFFFE, U+xFFFF). systemd's UTF-8 check refuses
/// them and then ignores the whole assignment (measured: an `Environment=`
/// holding U+FDD6 was dropped with "String is not UTF-8 clean"), and XML 1.0
/// cannot hold U+FFFE/U+FFFF; so a value holding one is refused for both
/// formats.
pub(crate) fn is_noncharacter(c: char) -> bool {
    let u = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&u) || u & 0xFFFE == 0xFFFE
}

/// Refuses control characters and other format breakers (Injection), and
/// values longer than [`MAX_VALUE_BYTES`] (InvalidSpec).
///
/// # Errors
/// As above.
pub(crate) fn text(field: &str, value: &str) -> Result<()> {
    if let Some((i, c, why)) = value.char_indices().find_map(|(i, c)| forbidden_char(c).map(|w| (i, c, w))) {
        return Err(injection(
            field,
            format!("contains {why} (U+{:04X} at byte {i}) in {}", u32::from(c), shown(value)),
        ));
    }
    if value.len() > MAX_VALUE_BYTES {
        return Err(invalid(
            field,
            format!("is {} bytes long; the limit is {MAX_VALUE_BYTES}", value.len()),
            "shorten the value",
        ));
    }
    Ok(())
}

/// [`text`], plus what a value written unquoted on a systemd line needs:
/// no trailing backslash (Injection: systemd would join the next line, and
/// the directive after it would be swallowed), no leading or trailing
/// whitespace (InvalidSpec: systemd strips it, so it would not round-trip),
/// not empty.
///
/// # Errors
/// As above.
pub(crate) fn raw_line_value(field: &str, value: &str) -> Result<()> {
    text(field, value)?;
    if value.ends_with('\\') {
        return Err(injection(
            field,
            format!(
                "ends with a backslash, which continues the line in a unit file and swallows the next \
                 directive: {}",
                shown(value)
            ),
        ));
    }
    if value.is_empty() {
        return Err(invalid(field, "is empty".into(), "omit the field instead"));
    }
    if value.starts_with(' ') || value.ends_with(' ') {
        return Err(invalid(
            field,
            format!("starts or ends with a space, which systemd strips: {}", shown(value)),
            "remove the leading and trailing spaces",
        ));
    }
    Ok(())
}

/// An absolute, normalized path: starts with `/`; no empty, `.` or `..`
/// component; no trailing `/` (except `/` itself).
///
/// # Errors
/// [`text`]'s; InvalidSpec otherwise, with a hint for `~`, `$VAR`, `%`
/// specifiers and systemd's `-@:+!` prefixes.
pub(crate) fn absolute_path(field: &str, value: &str) -> Result<()> {
    text(field, value)?;
    let hint = match value.chars().next() {
        None => return Err(invalid(field, "is empty".into(), "give an absolute path")),
        Some('/') => None,
        Some('~') => Some("`~` is not expanded by launchd, and systemd reads it as a special value"),
        Some('$') => Some("`$VAR` is not expanded here"),
        Some('%') => Some("systemd `%` specifiers are escaped by gw, not expanded"),
        Some('-' | '@' | ':' | '+' | '!') => {
            Some("systemd reads a leading `-`, `@`, `:`, `+` or `!` as an ExecStart prefix that changes its meaning")
        }
        Some(_) => Some("a relative path depends on the service manager's search path and working directory"),
    };
    if let Some(hint) = hint {
        return Err(invalid(
            field,
            format!("must be an absolute path starting with `/`, got {} ({hint})", shown(value)),
            "give the full absolute path",
        ));
    }
    if let Some(c) = value.split('/').find(|c| c.len() > MAX_NAME_BYTES) {
        return Err(invalid(
            field,
            format!("has a component of {} bytes; the limit is {MAX_NAME_BYTES}", c.len()),
            "shorten the path",
        ));
    }
    if value != "/" {
        let bad = value[1..].split('/').find(|c| c.is_empty() || *c == "." || *c == "..");
        if let Some(c) = bad {
            let what =
                if c.is_empty() { "an empty component (`//` or a trailing `/`)" } else { "a `.` or `..` component" };
            return Err(invalid(
                field,
                format!("must be a normalized absolute path, but {} has {what}", shown(value)),
                "write the path without `//`, `.`, `..` or a trailing `/`",
            ));
        }
    }
    Ok(())
}

/// An environment variable name: `[A-Za-z_][A-Za-z0-9_]*`, at most 255
/// bytes (what systemd and POSIX shells accept).
///
/// # Errors
/// [`text`]'s; InvalidSpec otherwise.
pub(crate) fn env_name(field: &str, name: &str) -> Result<()> {
    text(field, name)?;
    let ok = !name.is_empty()
        && name.len() <= 255
        && !name.starts_with(|c: char| c.is_ascii_digit())
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
    if !ok {
        return Err(invalid(
            field,
            format!("has an invalid variable name {}", shown(name)),
            "use letters, digits and `_`, not starting with a digit (at most 255 bytes)",
        ));
    }
    Ok(())
}

/// An interval in seconds: 1 to [`MAX_INTERVAL_SECS`].
///
/// # Errors
/// InvalidSpec when out of range.
pub(crate) fn interval(field: &str, secs: u64) -> Result<()> {
    if secs == 0 || secs > MAX_INTERVAL_SECS {
        return Err(invalid(
            field,
            format!("is {secs} seconds; it must be between 1 and {MAX_INTERVAL_SECS}"),
            "omit the field for the service manager's default, or give a value in range",
        ));
    }
    Ok(())
}

/// At most [`MAX_ENTRIES`] entries.
///
/// # Errors
/// InvalidSpec when longer.
pub(crate) fn count(field: &str, n: usize) -> Result<()> {
    if n > MAX_ENTRIES {
        return Err(invalid(field, format!("has {n} entries; the limit is {MAX_ENTRIES}"), "use fewer entries"));
    }
    Ok(())
}

/// An argv: not empty, at most [`MAX_ENTRIES`] arguments and
/// [`MAX_ARGV_BYTES`] in all.
///
/// # Errors
/// InvalidSpec.
pub(crate) fn argv(field: &str, args: &[String]) -> Result<()> {
    if args.is_empty() {
        return Err(invalid(field, "is empty".into(), "give the program's absolute path and its arguments"));
    }
    count(field, args.len())?;
    let total: usize = args.iter().map(String::len).sum();
    if total > MAX_ARGV_BYTES {
        return Err(invalid(
            field,
            format!("is {total} bytes in all; the limit is {MAX_ARGV_BYTES}"),
            "pass long data through a file, not the command line",
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_injection() {
        for v in [
            "a\nb",
            "a\rb",
            "a\0b",
            "a\tb",
            "\u{7f}",
            "\u{85}",
            "a\u{2028}",
            "\u{202E}x",
            "\u{FFFF}",
            "\u{FDD6}",
            "\u{1FFFE}",
            "\u{10FFFF}",
        ] {
            assert_eq!(text("f", v).unwrap_err().kind(), ErrorKind::Injection, "{v:?}");
        }
        assert_eq!(raw_line_value("f", "x\\").unwrap_err().kind(), ErrorKind::Injection);
        text("f", "ok é $ % \" ' \\ ;").unwrap();
        for ok in ['\u{FDCF}', '\u{FDF0}', '\u{FFFD}', '\u{1FFFD}', '\u{10000}'] {
            text("f", &ok.to_string()).unwrap();
        }
    }

    #[test]
    fn paths_must_be_absolute_and_normalized() {
        for v in ["", "~", "~/x", "bin/x", "-/bin/x", "@/bin/x", ":/bin/x", "+/bin/x", "!/bin/x", "$HOME/x", "%h/x"] {
            assert_eq!(absolute_path("f", v).unwrap_err().kind(), ErrorKind::InvalidSpec, "{v:?}");
        }
        for v in ["//x", "/x/", "/x/./y", "/x/../y", "/x//y"] {
            assert_eq!(absolute_path("f", v).unwrap_err().kind(), ErrorKind::InvalidSpec, "{v:?}");
        }
        for v in ["/", "/bin/true", "/a b/c'd\"e"] {
            absolute_path("f", v).unwrap();
        }
    }

    #[test]
    fn messages_escape_the_value() {
        let e = text("exec_start[1]", "x\nExecStartPre=/bin/evil").unwrap_err();
        assert!(!e.to_string().contains('\n'), "{e}");
        assert!(e.to_string().contains("exec_start[1]"), "{e}");
    }
}
