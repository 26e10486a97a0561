//! systemd unit-file quoting, by the rules of systemd.syntax(7) and
//! systemd.service(5) (the parser is `extract_first_word()` with
//! `EXTRACT_UNQUOTE | EXTRACT_CUNESCAPE`, then specifier expansion, then — for
//! `ExecStart=` only, when the command runs — environment variable
//! substitution).
//!
//! What each escape undoes:
//! - inside double quotes, `\\` is a backslash and `\"` a quote (C escapes;
//!   gw writes no other escape, so every other character stands for itself —
//!   control characters never reach this module, see `validate`);
//! - `%%` is a literal `%` (specifier expansion runs on every value gw
//!   writes: `Description=`, `ExecStart=`, `Environment=`,
//!   `WorkingDirectory=`);
//! - `$$` is a literal `$` in `ExecStart=` (variable substitution); in
//!   `Environment=` a `$` has no special meaning and is written as it is.
//!
//! Every `ExecStart=` word is quoted, even when it would not need to be: a
//! quoted `;` is an argument, not a command separator, and a quoted word
//! can never be mistaken for a prefix, an empty word or two words.

/// One `ExecStart=` word: `"…"` with `\`, `"` escaped, `%` → `%%`, `$` → `$$`.
pub(crate) fn exec_word(arg: &str) -> String {
    quoted(arg, true)
}

/// One `Environment=` assignment: `"NAME=value"` with `\`, `"` escaped and
/// `%` → `%%`.
pub(crate) fn env_assignment(name: &str, value: &str) -> String {
    let mut s = String::with_capacity(name.len() + value.len() + 3);
    s.push_str(name);
    s.push('=');
    s.push_str(value);
    quoted(&s, false)
}

/// A value written unquoted (`Description=`, `WorkingDirectory=`): only
/// `%` → `%%`. The caller has refused control characters, a trailing
/// backslash and leading/trailing spaces.
pub(crate) fn specifiers(value: &str) -> String {
    value.replace('%', "%%")
}

fn quoted(value: &str, dollar: bool) -> String {
    let mut s = String::with_capacity(value.len() + 2);
    s.push('"');
    for c in value.chars() {
        match c {
            '\\' => s.push_str("\\\\"),
            '"' => s.push_str("\\\""),
            '%' => s.push_str("%%"),
            '$' if dollar => s.push_str("$$"),
            c => s.push(c),
        }
    }
    s.push('"');
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert_eq!(exec_word(r#"a "b" \c $D %e"#), r#""a \"b\" \\c $$D %%e""#);
        assert_eq!(exec_word(""), r#""""#);
        assert_eq!(exec_word(";"), r#"";""#);
        assert_eq!(env_assignment("K", r#"$v "%h" \"#), r#""K=$v \"%%h\" \\""#);
        assert_eq!(specifiers("50% $x"), "50%% $x");
    }
}
