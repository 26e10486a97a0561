//! Reading what the user pipes in: bounded, and kept in memory that is
//! wiped when dropped (it may be a secret).
//!
//! At a terminal, nothing typed is echoed (issue 12): the prompt goes to
//! stderr, the terminal's echo is turned off while the line is read, and the
//! terminal's settings are restored before gw goes on, also when the input is
//! cancelled with Ctrl-C.

use std::io::Read;

use rustix::termios::{self, LocalModes, OptionalActions, SpecialCodeIndex, Termios};
use zeroize::Zeroizing;

use crate::output::{CliError, EXIT_FAILED};

/// Reads stdin, at most `max` bytes. `Ok(None)` if there was more: the
/// caller refuses with its own message, before anything is written. When
/// stdin is a terminal, prompts for `what` on stderr and reads one line with
/// echo off instead (see [`read_hidden_line`]).
pub(crate) fn read_stdin(what: &str, max: u64) -> Result<Option<Zeroizing<Vec<u8>>>, CliError> {
    let stdin = std::io::stdin();
    if termios::isatty(&stdin) {
        return read_hidden_line(what, max);
    }
    let mut buf = Zeroizing::new(Vec::new());
    stdin
        .lock()
        .take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| CliError::usage("read stdin", format!("cannot read {what} from stdin: {e}")))?;
    Ok((buf.len() as u64 <= max).then_some(buf))
}

/// At a terminal, asks `question` on stderr and returns the line typed (not
/// a secret: echo stays on); `None` when stdin is not a terminal.
pub(crate) fn ask(question: &str) -> Result<Option<String>, CliError> {
    let stdin = std::io::stdin();
    if !termios::isatty(&stdin) {
        return Ok(None);
    }
    crate::output::eprint(question);
    // One line: a terminal in canonical mode hands over at most its line
    // buffer (4096 bytes on Linux) per line.
    let mut line = String::new();
    std::io::BufRead::read_line(&mut stdin.lock(), &mut line)
        .map_err(|e| CliError::usage("read stdin", format!("cannot read the answer from the terminal: {e}")))?;
    Ok(Some(line.trim().to_owned()))
}

/// Puts the terminal's settings back when dropped.
struct Restore<'a> {
    fd: std::io::StdinLock<'a>,
    saved: Termios,
}

impl Drop for Restore<'_> {
    fn drop(&mut self) {
        // Best effort: if the terminal is gone there is nothing to restore.
        let _ = termios::tcsetattr(&self.fd, OptionalActions::Now, &self.saved);
    }
}

/// Prompts for `what` on stderr and reads one line from the terminal on
/// stdin with echo off, as ssh-keygen and `gh auth login` do. The terminal
/// is put in non-canonical mode without signals so that gw, not the kernel,
/// handles the keys: Enter ends the line, Backspace deletes, Ctrl-U clears,
/// Ctrl-C cancels (exit 1, nothing read, the terminal restored), Ctrl-D on
/// an empty line is end of input. Nothing typed is ever written back.
///
/// Hand-written over rustix's safe termios API rather than `rpassword`:
/// that crate reads from /dev/tty rather than stdin, keeps the kernel's
/// Ctrl-C (which would end gw with echo still off), and needs `unsafe` libc.
fn read_hidden_line(what: &str, max: u64) -> Result<Option<Zeroizing<Vec<u8>>>, CliError> {
    let fd = std::io::stdin().lock();
    let saved = termios::tcgetattr(&fd).map_err(|e| {
        CliError::usage(
            "read stdin",
            format!("stdin is a terminal whose echo cannot be turned off ({e}): {what} would be shown"),
        )
        .with_fix("pipe it in instead: `... < file`")
    })?;
    let mut quiet = saved.clone();
    quiet.local_modes.remove(LocalModes::ECHO | LocalModes::ECHONL | LocalModes::ICANON | LocalModes::ISIG);
    quiet.special_codes[SpecialCodeIndex::VMIN] = 1;
    quiet.special_codes[SpecialCodeIndex::VTIME] = 0;
    let restore = Restore { fd, saved };
    // Flush discards what was typed before the prompt (it was echoed). The
    // prompt comes after: what is typed once it shows is kept.
    termios::tcsetattr(&restore.fd, OptionalActions::Flush, &quiet).map_err(|e| {
        CliError::usage("read stdin", format!("cannot turn off the terminal's echo: {e}; nothing was read"))
    })?;
    crate::output::eprint(&format!("gw: {what} (typing is hidden; Enter to end): "));
    let mut line = Zeroizing::new(Vec::new());
    let mut byte = [0u8; 1];
    let mut too_long = false;
    loop {
        let n = rustix::io::read(&restore.fd, &mut byte)
            .map_err(|e| CliError::usage("read stdin", format!("cannot read {what} from the terminal: {e}")))?;
        match (n, byte[0]) {
            (0, _) | (_, b'\r' | b'\n') => break,
            (_, 0x04) if line.is_empty() => break,
            (_, 0x03) => {
                drop(restore);
                crate::output::eprint("\n");
                return Err(CliError {
                    code: EXIT_FAILED,
                    kind: "cancelled",
                    op: "read stdin",
                    path: None,
                    message: format!("cancelled at the prompt for {what}; nothing was changed"),
                    fix: None,
                });
            }
            (_, 0x7f | 0x08) => {
                line.pop();
            }
            (_, 0x15) => line.clear(),
            (_, b) => {
                if line.len() as u64 >= max {
                    too_long = true;
                } else {
                    line.push(b);
                }
            }
        }
    }
    drop(restore);
    // The Enter the user typed was not echoed either.
    crate::output::eprint("\n");
    if too_long {
        return Ok(None);
    }
    line.push(b'\n');
    Ok(Some(line))
}
