//! What gw reads of an OpenClaw installation's state: the exec-approvals
//! socket token, from which OpenClaw derives its approval runtime token.
//!
//! OpenClaw 2026.9.6 keeps its state in SQLite, `$OPENCLAW_STATE_DIR/state/openclaw.sqlite`;
//! the exec-approvals configuration is the JSON text in column `raw_json` of
//! table `exec_approvals_config`, row `config_key = 'current'`, and the
//! socket token is its `socket.token`, **trimmed** (JavaScript's
//! `String.prototype.trim`, [`js_trim`]) before use as the HMAC key.
//!
//! # How the database is read
//! SQLite opens files by path, which would follow links and could not be
//! held to gw's file rules. So the database (and its write-ahead log, where
//! the newest pages may be) is read through gw-anchor — beneath the verified
//! state directory, no symlink anywhere, a regular file, owned by the caller
//! or root and writable by no one else (THREATS FS-1, FS-2, FS-9) — into a
//! private copy (a fresh 0700 directory, files created exclusively 0600),
//! which SQLite then opens; the copy is removed when the read is done. The
//! state directory is never written to, and nothing is created in it. A log
//! copied while the gateway writes may be older than the database; SQLite's
//! frame checksums make it ignore such frames, so a read gives an older
//! state at worst, never a mixed one.

use gw_anchor::{Policy, Root, WriteOptions};
use gw_persist::{Limits, parse_json};
use gw_token::Secret;
use rusqlite::{Connection, OpenFlags, OptionalExtension};
use zeroize::Zeroizing;

use crate::error::{Error, ErrorKind, Result};

/// The state database, relative to the state directory.
pub const STATE_DB: &str = "state/openclaw.sqlite";
/// The largest state database (and write-ahead log) gw copies.
pub const MAX_STATE_DB_BYTES: u64 = 256 * 1024 * 1024;

/// The exec-approvals socket token of the OpenClaw state directory `state`,
/// trimmed as OpenClaw trims it.
///
/// # Errors
/// [`ErrorKind::Fs`] for the database file (not found, symlink, insecure
/// file or directory, too large, I/O); [`ErrorKind::State`] when it is not
/// a database with OpenClaw's table, or the row's JSON is malformed;
/// [`ErrorKind::Absent`] when there is no exec-approvals row or no socket
/// token in it (OpenClaw then uses a random per-process token nobody else
/// can derive). No message holds the token.
pub fn approval_socket_token(state: &Root) -> Result<Secret> {
    let at = state.path().join(STATE_DB).display().to_string();
    let raw = read_exec_approvals_row(state, &at)?.ok_or_else(|| {
        Error::new(
            ErrorKind::Absent,
            "read approval token",
            &at,
            "no exec-approvals configuration (no row `current` in exec_approvals_config)",
        )
    })?;
    let doc = parse_json(raw.as_bytes(), &Limits::default()).map_err(|e| {
        Error::new(
            ErrorKind::State,
            "read approval token",
            &at,
            format!("the exec-approvals JSON is malformed: {}", e.message()),
        )
    })?;
    let token = doc.pointer("/socket/token").and_then(|t| t.as_str()).map(js_trim).unwrap_or("");
    if token.is_empty() {
        return Err(Error::new(
            ErrorKind::Absent,
            "read approval token",
            &at,
            "the exec-approvals configuration has no socket.token",
        ));
    }
    Ok(Secret::from(token.to_owned()))
}

/// The `raw_json` of the exec-approvals row, if there is one.
fn read_exec_approvals_row(state: &Root, at: &str) -> Result<Option<Zeroizing<String>>> {
    let (db, _) = state.read_trusted(STATE_DB, MAX_STATE_DB_BYTES)?;
    let db = Zeroizing::new(db);
    let wal_rel = format!("{STATE_DB}-wal");
    let wal = match state.read_trusted(&wal_rel, MAX_STATE_DB_BYTES) {
        Ok((bytes, _)) => Some(Zeroizing::new(bytes)),
        Err(e) if e.kind() == gw_anchor::ErrorKind::NotFound => None,
        Err(e) => return Err(e.into()),
    };
    let private = tempfile::Builder::new().prefix("gw-openclaw-state.").tempdir().map_err(|e| {
        Error::new(ErrorKind::Io, "copy gateway state", "-", format!("creating a private directory: {e}"))
            .with_source(e)
    })?;
    let copy = Root::open(private.path(), &Policy::default())?;
    let opts = WriteOptions::new().mode(0o600);
    copy.create_new("state.sqlite", &db, &opts)?;
    if let Some(wal) = &wal {
        copy.create_new("state.sqlite-wal", wal, &opts)?;
    }
    let sql = |e: rusqlite::Error| {
        Error::new(ErrorKind::State, "read approval token", at, format!("not OpenClaw's state database: {e}"))
            .with_source(e)
    };
    let conn = Connection::open_with_flags(
        private.path().join("state.sqlite"),
        OpenFlags::SQLITE_OPEN_READ_WRITE | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )
    .map_err(sql)?;
    let row: Option<String> = conn
        .query_row("SELECT raw_json FROM exec_approvals_config WHERE config_key = 'current'", [], |r| r.get(0))
        .optional()
        .map_err(sql)?;
    drop(conn);
    Ok(row.map(Zeroizing::new))
}

/// `s` without the characters JavaScript's `String.prototype.trim` removes
/// at both ends: WhiteSpace (tab, vertical tab, form feed, space, no-break
/// space, the byte-order mark, and Unicode's space separators) and
/// LineTerminator (LF, CR, U+2028, U+2029). Rust's `str::trim` differs (it
/// also trims U+0085 and keeps U+FEFF), so the set is spelled out.
pub fn js_trim(s: &str) -> &str {
    fn js_space(c: char) -> bool {
        matches!(
            c,
            '\u{9}' | '\u{a}' | '\u{b}' | '\u{c}' | '\u{d}' | ' ' | '\u{a0}' | '\u{1680}' | '\u{2000}'
                ..='\u{200a}' | '\u{2028}' | '\u{2029}' | '\u{202f}' | '\u{205f}' | '\u{3000}' | '\u{feff}'
        )
    }
    s.trim_matches(js_space)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn js_trim_matches_javascript() {
        assert_eq!(js_trim(" \t\u{feff}tok en\u{2028}\n"), "tok en");
        // U+0085 (NEL) is not JavaScript white space: kept.
        assert_eq!(js_trim("\u{85}tok\u{85}"), "\u{85}tok\u{85}");
        assert_eq!(js_trim("\u{3000}\u{a0}"), "");
    }
}
