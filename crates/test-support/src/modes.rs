//! Every mode a new entry of a directory ever shows: an inotify watcher
//! that `lstat`s each entry created or moved in (and, if asked, each whose
//! attributes change), for the permission-window tests (FS-4, TOK-4).
#![cfg(target_os = "linux")]

use std::ffi::OsStr;
use std::mem::MaybeUninit;
use std::os::unix::ffi::OsStrExt as _;
use std::os::unix::fs::MetadataExt as _;
use std::path::Path;
use std::thread::JoinHandle;

use rustix::fs::inotify;

/// The name that ends a watch: create an entry of that name in the
/// directory (a file or a directory), then [`ModeWatcher::finish`].
pub const STOP: &str = "gw-test-stop";

/// A watch of one directory, running on its own thread until [`STOP`].
#[derive(Debug)]
pub struct ModeWatcher(JoinHandle<(u32, usize)>);

impl ModeWatcher {
    /// Starts watching `dir` for entries created or moved in, and with
    /// `attrib` also for changed attributes (a `chmod` after creation).
    pub fn start(dir: &Path, attrib: bool) -> Self {
        let mut flags = inotify::WatchFlags::CREATE | inotify::WatchFlags::MOVED_TO;
        if attrib {
            flags |= inotify::WatchFlags::ATTRIB;
        }
        let ino = inotify::init(inotify::CreateFlags::CLOEXEC).expect("inotify_init");
        inotify::add_watch(&ino, dir, flags).expect("inotify_add_watch");
        let watched = dir.to_path_buf();
        Self(std::thread::spawn(move || {
            let (mut widest, mut seen) = (0u32, 0usize);
            let mut buf = [MaybeUninit::<u8>::uninit(); 8192];
            let mut reader = inotify::Reader::new(&ino, &mut buf);
            loop {
                let ev = reader.next().expect("read inotify events");
                let Some(name) = ev.file_name() else { continue };
                let name = OsStr::from_bytes(name.to_bytes()).to_owned();
                if name == STOP {
                    return (widest, seen);
                }
                if let Ok(md) = std::fs::symlink_metadata(watched.join(&name)) {
                    widest |= md.mode() & 0o7777;
                    seen += 1;
                }
            }
        }))
    }

    /// Once [`STOP`] was created: the union of every mode seen, and how many
    /// entries were looked at.
    pub fn finish(self) -> (u32, usize) {
        self.0.join().expect("the mode watcher panicked")
    }
}
