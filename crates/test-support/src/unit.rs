//! An independent systemd unit-file parser, written from systemd.syntax(7)
//! and systemd.service(5), not from gw's renderer: gw-persist's service
//! suites and the `service_render` fuzz target check gw's units against it
//! (besides the real `systemd-analyze`). [`parse_unit`] records every
//! section header, in order, so an injected empty section (a `[X]` line with
//! no directive after it) shows up too.

use std::collections::BTreeMap;

// An independent unit-file parser.

/// One directive as systemd's config parser sees it: section, key, raw
/// value (whitespace around `=` and at the ends stripped, continuation lines
/// joined).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Directive {
    pub section: String,
    pub key: String,
    pub value: String,
}

/// What [`parse_unit`] found: every section header and every directive.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub sections: Vec<String>,
    pub directives: Vec<Directive>,
}

/// Parses unit-file text the way systemd's `config_parse()` splits it:
/// lines end at `\n`, `\r` or NUL; `#`/`;` lines are comments; a line ending
/// in an odd number of backslashes continues on the next line; `[X]` opens
/// a section; anything else must be `Key=value`.
pub fn parse_unit(text: &str) -> Result<Parsed, String> {
    let mut out = Vec::new();
    let mut sections = Vec::new();
    let mut section: Option<String> = None;
    let mut pending = String::new();
    for raw in text.split(['\n', '\r', '\0']) {
        let line = raw.trim_matches([' ', '\t']);
        if pending.is_empty() && (line.starts_with('#') || line.starts_with(';')) {
            continue;
        }
        let trailing = line.len() - line.trim_end_matches('\\').len();
        if trailing % 2 == 1 {
            pending.push_str(&line[..line.len() - 1]);
            pending.push(' ');
            continue;
        }
        let full = std::mem::take(&mut pending) + line;
        let full = full.trim_matches([' ', '\t']);
        if full.is_empty() {
            continue;
        }
        if let Some(name) = full.strip_prefix('[') {
            let name = name.strip_suffix(']').ok_or_else(|| format!("bad section header {full:?}"))?;
            section = Some(name.to_owned());
            sections.push(name.to_owned());
            continue;
        }
        let (key, value) = full.split_once('=').ok_or_else(|| format!("not an assignment: {full:?}"))?;
        let section = section.clone().ok_or_else(|| format!("assignment outside a section: {full:?}"))?;
        out.push(Directive {
            section,
            key: key.trim_matches([' ', '\t']).to_owned(),
            value: value.trim_matches([' ', '\t']).to_owned(),
        });
    }
    if !pending.is_empty() {
        return Err("the file ends in a continuation line".into());
    }
    Ok(Parsed { sections, directives: out })
}

/// Splits a value into words as `extract_first_word(EXTRACT_UNQUOTE |
/// EXTRACT_CUNESCAPE)` does: whitespace-separated; `"…"` and `'…'` quote;
/// a backslash escapes (`\\`, `\"`, `\'`, `\n`, `\t`, `\s`, ... — the C
/// escapes gw never writes are decoded too, so a stray one shows up as a
/// difference).
pub fn split_words(value: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut chars = value.chars().peekable();
    loop {
        while chars.next_if(|c| *c == ' ' || *c == '\t').is_some() {}
        if chars.peek().is_none() {
            return Ok(words);
        }
        let mut word = String::new();
        let mut quote: Option<char> = None;
        loop {
            let Some(c) = chars.next() else {
                if quote.is_some() {
                    return Err(format!("unbalanced quote in {value:?}"));
                }
                break;
            };
            match (quote, c) {
                (None, ' ' | '\t') => break,
                (None, '"' | '\'') => quote = Some(c),
                (Some(q), c) if c == q => quote = None,
                (_, '\\') => {
                    let e = chars.next().ok_or_else(|| format!("trailing backslash in {value:?}"))?;
                    word.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        's' => ' ',
                        'a' => '\u{7}',
                        'b' => '\u{8}',
                        'f' => '\u{c}',
                        'v' => '\u{b}',
                        '\\' | '"' | '\'' => e,
                        other => return Err(format!("escape `\\{other}` gw never writes, in {value:?}")),
                    });
                }
                (_, c) => word.push(c),
            }
        }
        words.push(word);
    }
}

/// Specifier expansion: `%%` → `%`; any other specifier is an error (it
/// would be replaced by systemd, so the value would not be what was given).
pub fn unspecify(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            match chars.next() {
                Some('%') => out.push('%'),
                other => return Err(format!("specifier %{} would be expanded in {s:?}", other.unwrap_or(' '))),
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// ExecStart's environment substitution at run time: `$$` → `$`; a `$`
/// followed by anything else would expand a variable: an error.
pub fn unsubstitute(s: &str) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = s.chars();
    while let Some(c) = chars.next() {
        if c == '$' {
            match chars.next() {
                Some('$') => out.push('$'),
                other => {
                    return Err(format!(
                        "`${}` would be substituted in {s:?}",
                        other.map(String::from).unwrap_or_default()
                    ));
                }
            }
        } else {
            out.push(c);
        }
    }
    Ok(out)
}

/// What a service started from the unit would get, as decoded by this
/// independent parser.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Decoded {
    /// Every section header, in order.
    pub sections: Vec<String>,
    /// `(section, key)` of every directive, in order.
    pub keys: Vec<(String, String)>,
    pub description: Option<String>,
    pub after: Vec<String>,
    pub argv: Vec<String>,
    pub env: BTreeMap<String, String>,
    pub restart: Option<String>,
    pub restart_sec: Option<String>,
    pub watchdog_sec: Option<String>,
    pub working_directory: Option<String>,
    pub wanted_by: Vec<String>,
}

/// Parses a rendered unit and decodes every value gw writes.
pub fn decode_unit(text: &str) -> Result<Decoded, String> {
    let mut d = Decoded::default();
    let parsed = parse_unit(text)?;
    d.sections = parsed.sections;
    for dir in parsed.directives {
        d.keys.push((dir.section.clone(), dir.key.clone()));
        let v = &dir.value;
        match (dir.section.as_str(), dir.key.as_str()) {
            ("Unit", "Description") => d.description = Some(unspecify(v)?),
            ("Unit", "After") => d.after.extend(split_words(v)?),
            ("Service", "ExecStart") => {
                for w in split_words(v)? {
                    d.argv.push(unsubstitute(&unspecify(&w)?)?);
                }
            }
            ("Service", "Environment") => {
                for w in split_words(v)? {
                    let w = unspecify(&w)?;
                    let (k, val) = w.split_once('=').ok_or_else(|| format!("not an assignment: {w:?}"))?;
                    if d.env.insert(k.to_owned(), val.to_owned()).is_some() {
                        return Err(format!("variable {k} set twice"));
                    }
                }
            }
            ("Service", "Restart") => d.restart = Some(v.clone()),
            ("Service", "RestartSec") => d.restart_sec = Some(v.clone()),
            ("Service", "WatchdogSec") => d.watchdog_sec = Some(v.clone()),
            ("Service", "WorkingDirectory") => d.working_directory = Some(unspecify(v)?),
            ("Install", "WantedBy") => d.wanted_by.extend(split_words(v)?),
            (s, k) => return Err(format!("unexpected directive [{s}] {k}=")),
        }
    }
    Ok(d)
}
