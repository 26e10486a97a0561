//! Durable atomic replace of a 4 KiB file, N times, by one of the contenders
//! of `benches/replace.rs` (the same code, from `benches/common`), for
//! counting system calls per replace:
//!
//! ```text
//! cargo build --release --example replace_once
//! strace -c -f ./target/release/examples/replace_once gw 1000
//! ```
//!
//! Modes: `gw` (gw-anchor `write_atomic`, `Durability::Sync`), `awf` (the
//! `atomic-write-file` crate), `tempfile` (`NamedTempFile` + `sync_all` +
//! `persist` + fsync of the directory). `benches/syscalls.py` runs each mode
//! with N = 0 and N = 1000 under `strace -c -f` and prints the difference per
//! replace, so start-up and setup (temp dir, `Root::open`) are not counted.

use std::fs::File;
use std::process::ExitCode;

use gw_anchor::{Durability, Resolver};

#[path = "../benches/common/mod.rs"]
mod common;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (mode, n) = match args.as_slice() {
        [mode, n] => match n.parse::<u64>() {
            Ok(n) => (mode.as_str(), n),
            Err(_) => return usage(),
        },
        _ => return usage(),
    };
    let data = common::payload();
    let tmp = common::temp_dir("gw-replace-once.");
    let dir = tmp.path();
    let target = dir.join("target.bin");
    match mode {
        "gw" => {
            let root = common::root(dir, Resolver::Auto);
            for _ in 0..n {
                common::gw_replace(&root, "target.bin", &data, Durability::Sync);
            }
        }
        "awf" => {
            for _ in 0..n {
                common::awf_replace(&target, &data);
            }
        }
        "tempfile" => {
            let dir_handle = File::open(dir).expect("open dir");
            for _ in 0..n {
                common::tempfile_replace(dir, &dir_handle, &target, &data);
            }
        }
        _ => return usage(),
    }
    if n > 0 {
        common::check_written(dir, &["target.bin"], &data);
    }
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!("usage: replace_once gw|awf|tempfile N");
    ExitCode::from(2)
}
