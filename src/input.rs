//! Reading what the user pipes in: bounded, and kept in memory that is
//! wiped when dropped (it may be a secret).

use std::io::Read;

use zeroize::Zeroizing;

use crate::output::CliError;

/// Reads stdin, at most `max` bytes. `Ok(None)` if there was more: the
/// caller refuses with its own message, before anything is written.
pub(crate) fn read_stdin(what: &str, max: u64) -> Result<Option<Zeroizing<Vec<u8>>>, CliError> {
    let mut buf = Zeroizing::new(Vec::new());
    std::io::stdin()
        .lock()
        .take(max.saturating_add(1))
        .read_to_end(&mut buf)
        .map_err(|e| CliError::usage("read stdin", format!("cannot read {what} from stdin: {e}")))?;
    Ok((buf.len() as u64 <= max).then_some(buf))
}
