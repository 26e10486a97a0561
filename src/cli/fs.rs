//! `gw fs`.

use std::ffi::OsString;
use std::path::PathBuf;

use clap::{Args, Subcommand, ValueEnum};

#[derive(Debug, Subcommand)]
pub(crate) enum FsCommand {
    /// Atomically replace (or create) DIR/REL with the content of stdin:
    /// unpredictable temp in the same directory, final mode before any byte,
    /// fsync, rename, fsync of the directory. A symlink or non-regular file at
    /// the target is refused, not replaced.
    Write(WriteArgs),
    /// Print the regular file DIR/REL to stdout (FIFOs, sockets, devices and
    /// symlinks are refused).
    Read(ReadArgs),
    /// Create the directory DIR/REL and any missing parents (always -p).
    Mkdir(MkdirArgs),
    /// Remove DIR/REL: a file (a symlink itself, never its target) or an
    /// empty directory.
    Rm(DirRel),
    /// Rename DIR/FROM to DIR/TO (symlinks are neither moved nor replaced).
    Mv(MvArgs),
    /// List DIR/REL (DIR itself by default), without following links.
    Ls(LsArgs),
    /// Audit the chain of directories from / to DIR: one line per component
    /// with owner, mode and verdict. Exit 3 if any component is unsafe.
    Check(CheckArgs),
}

#[derive(Debug, Args)]
pub(crate) struct DirRel {
    /// The directory every path is relative to (verified before use).
    pub(crate) dir: PathBuf,
    /// A path relative to DIR (no leading `/`, no `..`).
    pub(crate) rel: OsString,
}

#[derive(Debug, Args)]
pub(crate) struct WriteArgs {
    #[command(flatten)]
    pub(crate) target: DirRel,
    /// Final mode of the file, in octal (independent of the umask).
    #[arg(long, default_value = "600", value_parser = parse_mode)]
    pub(crate) mode: u32,
    /// Do not fsync (still atomic for readers, not durable on power loss).
    #[arg(long)]
    pub(crate) no_sync: bool,
    /// Create missing parent directories (mode 0700).
    #[arg(long)]
    pub(crate) parents: bool,
    /// Refuse stdin larger than this many bytes (nothing is written).
    #[arg(long, default_value_t = DEFAULT_MAX_BYTES)]
    pub(crate) max_bytes: u64,
    /// How the temporary file is made (for tests and audits).
    #[arg(long, value_enum, default_value_t = TempArg::Auto, hide = true)]
    pub(crate) temp: TempArg,
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum TempArg {
    Auto,
    Tmpfile,
    Named,
}

#[derive(Debug, Args)]
pub(crate) struct ReadArgs {
    #[command(flatten)]
    pub(crate) target: DirRel,
    /// Refuse files larger than this many bytes.
    #[arg(long, default_value_t = DEFAULT_MAX_BYTES)]
    pub(crate) max_bytes: u64,
}

#[derive(Debug, Args)]
pub(crate) struct MkdirArgs {
    #[command(flatten)]
    pub(crate) target: DirRel,
    /// Mode of created directories, in octal (independent of the umask).
    #[arg(long, default_value = "700", value_parser = parse_mode)]
    pub(crate) mode: u32,
}

#[derive(Debug, Args)]
pub(crate) struct MvArgs {
    /// The directory both paths are relative to.
    pub(crate) dir: PathBuf,
    /// The entry to move, relative to DIR.
    pub(crate) from: OsString,
    /// Its new name, relative to DIR.
    pub(crate) to: OsString,
    /// Fail instead of replacing an existing TO.
    #[arg(long)]
    pub(crate) no_replace: bool,
}

#[derive(Debug, Args)]
pub(crate) struct LsArgs {
    /// The directory to list (verified before use).
    pub(crate) dir: PathBuf,
    /// A subdirectory of DIR to list instead.
    pub(crate) rel: Option<OsString>,
}

#[derive(Debug, Args)]
pub(crate) struct CheckArgs {
    /// The directory whose chain is audited.
    pub(crate) dir: PathBuf,
}

/// 16 MiB: the default limit for stdin and for reads.
pub(crate) const DEFAULT_MAX_BYTES: u64 = 16 * 1024 * 1024;

fn parse_mode(s: &str) -> Result<u32, String> {
    let digits = s.strip_prefix("0o").unwrap_or(s);
    match u32::from_str_radix(digits, 8) {
        Ok(m) if m <= 0o7777 && !digits.is_empty() => Ok(m),
        _ => Err(format!("`{s}` is not an octal mode between 0 and 7777 (e.g. 600)")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_are_octal_and_bounded() {
        assert_eq!(parse_mode("600"), Ok(0o600));
        assert_eq!(parse_mode("0o640"), Ok(0o640));
        assert_eq!(parse_mode("0755"), Ok(0o755));
        assert!(parse_mode("800").is_err());
        assert!(parse_mode("17777").is_err());
        assert!(parse_mode("").is_err());
        assert!(parse_mode("rw").is_err());
    }
}
