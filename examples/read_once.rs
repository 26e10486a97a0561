//! Open+read of a small file 8 directories deep, N times, by one of the
//! contenders of `benches/open_read.rs` (the same code, from
//! `benches/common`), for counting system calls per read:
//!
//! ```text
//! cargo build --release --example read_once
//! strace -c -f ./target/release/examples/read_once walk 1000
//! ```
//!
//! Modes: `std` (`std::fs::read` of the full path), `openat2` and `walk`
//! (gw-anchor `Root::read` with that resolver), `cap` (cap-std `Dir::read`).

use std::process::ExitCode;

use gw_anchor::Resolver;

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
    let tmp = common::temp_dir("gw-read-once.");
    let dir = tmp.path();
    let full = common::make_read_tree(dir);
    match mode {
        "std" => (0..n).for_each(|_| drop(common::std_read(&full))),
        "openat2" | "walk" => {
            let resolver = if mode == "walk" { Resolver::Walk } else { Resolver::Openat2 };
            let root = common::root(dir, resolver);
            (0..n).for_each(|_| drop(common::gw_read(&root)));
        }
        "cap" => {
            let cap = common::cap_dir(dir);
            (0..n).for_each(|_| drop(common::cap_read(&cap)));
        }
        _ => return usage(),
    }
    ExitCode::SUCCESS
}

fn usage() -> ExitCode {
    eprintln!("usage: read_once std|openat2|walk|cap N");
    ExitCode::from(2)
}
