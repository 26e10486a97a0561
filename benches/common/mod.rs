//! The contenders, shared by the criterion benches (`benches/*.rs`) and the
//! helper examples (`examples/replace_once.rs`, `examples/read_once.rs`,
//! `examples/paired.rs`), so that syscall counts and paired ratios measure
//! exactly the code the benches time.
//!
//! Included with `mod common;` from the benches and with
//! `#[path = "../benches/common/mod.rs"] mod common;` from the examples. Each
//! user needs only some of the items, hence the `dead_code` allowance.
#![allow(dead_code)]

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};

use gw_anchor::{Durability, Policy, Resolver, Root, WriteOptions};
use tempfile::TempDir;

/// The replace payload: 4 KiB.
pub(crate) const REPLACE_SIZE: usize = 4096;

/// The file read by the open+read benches: 8 directories, then the file.
pub(crate) const READ_REL: &str = "d1/d2/d3/d4/d5/d6/d7/d8/file.txt";
/// Its content: small (a typical config or token file).
pub(crate) const READ_CONTENT: &[u8] = b"{\"gateway\":\"http://127.0.0.1:18789\",\"profile\":\"default\"}\n";
/// The size limit passed to `Root::read`.
pub(crate) const READ_MAX: u64 = 1 << 20;

/// 4 KiB of non-constant bytes.
pub(crate) fn payload() -> Vec<u8> {
    (0..REPLACE_SIZE).map(|i| (i % 251) as u8).collect()
}

/// A fresh directory under the system temp dir (one filesystem for all).
pub(crate) fn temp_dir(prefix: &str) -> TempDir {
    tempfile::Builder::new().prefix(prefix).tempdir().expect("temp dir")
}

/// A root over `dir` with the default policy and `resolver`.
pub(crate) fn root(dir: &Path, resolver: Resolver) -> Root {
    Root::open(dir, &Policy::new().resolver(resolver)).expect("open root")
}

/// gw-anchor: atomic replace of `name` beneath `root`.
pub(crate) fn gw_replace(root: &Root, name: &str, data: &[u8], durability: Durability) {
    root.write_atomic(name, data, &WriteOptions::new().durability(durability)).expect("gw write_atomic");
}

/// The `atomic-write-file` crate: open (which opens the parent directory),
/// write, commit (fsync file, rename, fsync directory).
pub(crate) fn awf_replace(path: &Path, data: &[u8]) {
    let mut f = atomic_write_file::AtomicWriteFile::open(path).expect("awf open");
    f.write_all(data).expect("awf write");
    f.commit().expect("awf commit");
}

/// `tempfile` by hand, with gw's durability: a named temp in the same
/// directory, write, `sync_all`, `persist` (rename), fsync the directory
/// (`dir_handle`, opened once by the caller).
pub(crate) fn tempfile_replace(dir: &Path, dir_handle: &File, target: &Path, data: &[u8]) {
    let mut f = tempfile::NamedTempFile::new_in(dir).expect("tempfile new_in");
    f.write_all(data).expect("tempfile write");
    f.as_file().sync_all().expect("tempfile sync_all");
    f.persist(target).expect("tempfile persist");
    dir_handle.sync_all().expect("fsync dir");
}

/// `std::fs::write`: truncates and rewrites in place (not atomic).
pub(crate) fn std_write(path: &Path, data: &[u8]) {
    std::fs::write(path, data).expect("std write");
}

/// Creates the 8-deep tree under `dir`; returns the file's full path.
pub(crate) fn make_read_tree(dir: &Path) -> PathBuf {
    let full = dir.join(READ_REL);
    std::fs::create_dir_all(full.parent().expect("parent")).expect("mkdir -p");
    std::fs::write(&full, READ_CONTENT).expect("write file");
    full
}

/// gw-anchor: anchored read of [`READ_REL`].
pub(crate) fn gw_read(root: &Root) -> Vec<u8> {
    let got = root.read(READ_REL, READ_MAX).expect("gw read");
    assert_eq!(got.len(), READ_CONTENT.len());
    got
}

/// cap-std: `Dir::read` of [`READ_REL`] beneath a `Dir` opened once.
pub(crate) fn cap_read(dir: &cap_std::fs::Dir) -> Vec<u8> {
    let got = dir.read(READ_REL).expect("cap-std read");
    assert_eq!(got.len(), READ_CONTENT.len());
    got
}

/// `std::fs::read` of the full path string (the baseline).
pub(crate) fn std_read(full: &Path) -> Vec<u8> {
    let got = std::fs::read(full).expect("std read");
    assert_eq!(got.len(), READ_CONTENT.len());
    got
}

/// Opens `dir` as a cap-std `Dir` (ambient authority, once).
pub(crate) fn cap_dir(dir: &Path) -> cap_std::fs::Dir {
    cap_std::fs::Dir::open_ambient_dir(dir, cap_std::ambient_authority()).expect("cap-std dir")
}

/// Every contender really wrote the payload.
pub(crate) fn check_written(dir: &Path, names: &[&str], data: &[u8]) {
    for name in names {
        let got = std::fs::read(dir.join(name)).expect("read back");
        assert_eq!(got, data, "{name} holds the payload");
    }
}
