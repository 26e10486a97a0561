//! The walk from `/` to a root: every component opened relative to the one
//! before (holding directory fds, never re-resolving a path string), checked
//! against the [`Policy`] as it is reached.
//!
//! Used to open a root, to re-verify it before a hand-off (THREATS FS-8), and
//! to audit a directory chain (`gw fs check`).

use std::collections::VecDeque;
use std::ffi::{OsStr, OsString};
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use rustix::fd::{AsFd, OwnedFd};
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

use crate::error::{Error, ErrorKind, Result};
use crate::policy::{Policy, Problem};
use crate::sys;

/// The most symlinks followed on the way to a root (as the kernel's `ELOOP`).
const MAX_LINKS: usize = 40;

/// One component of a directory chain, as audited.
#[derive(Debug, Clone)]
pub struct ChainStep {
    /// The path of this component as walked (after following allowed links).
    pub path: PathBuf,
    /// `Some(target)` when the component is a symlink (followed only when
    /// root-owned in a root-owned directory).
    pub link_target: Option<PathBuf>,
    /// Owner uid.
    pub uid: u32,
    /// Permission bits including setuid/setgid/sticky (`mode & 0o7777`).
    pub mode: u32,
    /// `true` for the final component (the root itself).
    pub is_root: bool,
    /// What is wrong with it, if anything.
    pub problem: Option<String>,
}

/// What a walk produced: the final directory and every step.
pub(crate) struct Walked {
    pub(crate) fd: OwnedFd,
    pub(crate) stat: Stat,
    pub(crate) path: PathBuf,
    pub(crate) steps: Vec<ChainStep>,
}

/// Walks from `/` to `path`. With `audit`, keeps going after a problem and
/// reports every step; otherwise stops at the first problem with its error.
pub(crate) fn walk(op: &'static str, path: &Path, policy: &Policy, audit: bool) -> Result<Walked> {
    walk_to(op, path, policy, audit, true)
}

/// [`walk`], checking the final directory as a root (`final_private`: owned
/// by the caller, not group/other writable) or only as an ancestor (owned by
/// root or the caller, group/other writable only if sticky: the directory a
/// new root is created in, like `/tmp`).
pub(crate) fn walk_to(
    op: &'static str,
    path: &Path,
    policy: &Policy,
    audit: bool,
    final_private: bool,
) -> Result<Walked> {
    let abs = if path.is_absolute() {
        path.to_path_buf()
    } else {
        let cwd = std::env::current_dir()
            .map_err(|e| Error::new(ErrorKind::Io, op, path, format!("cannot read the current directory: {e}")))?;
        cwd.join(path)
    };
    if abs.as_os_str().as_bytes().contains(&0) {
        return Err(Error::invalid_path(op, &abs, "refused: the path contains a NUL byte"));
    }

    let mut pending: VecDeque<OsString> = components(abs.as_os_str());
    let portable = policy.resolver_kind().is_portable();
    let root_fd = rustix::fs::open("/", sys::intermediate_dir_flags(portable), Mode::empty())
        .map_err(|e| Error::from_errno(op, "/", e))?;
    let root_stat = rustix::fs::fstat(&root_fd).map_err(|e| Error::from_errno(op, "/", e))?;
    let mut steps = Vec::new();
    let mut first_problem: Option<Error> = None;

    // The stack of directories walked so far; `..` pops it (kernel semantics
    // after links are resolved, unlike a lexical `..`).
    let mut stack: Vec<(OwnedFd, Stat, PathBuf)> = vec![(root_fd, root_stat, PathBuf::from("/"))];
    let mut links = 0usize;
    let mut last_checked_as_root = false;
    let mut stopped = false;

    if pending.is_empty() {
        // The root is `/` itself: checked below as the root.
    } else {
        let problem = policy.ancestor_problem(root_stat.st_uid, mode_of(&root_stat));
        record(&mut steps, &mut first_problem, op, Path::new("/"), None, &root_stat, false, problem, policy);
        if !audit && let Some(err) = first_problem.take() {
            return Err(err);
        }
    }

    while let Some(comp) = pending.pop_front() {
        if comp == ".." {
            if stack.len() > 1 {
                stack.pop();
            }
            last_checked_as_root = false;
            continue;
        }
        let is_last = pending.is_empty();
        let (cur_fd, cur_stat, cur_path) = stack.last().expect("stack never empty");
        let here = cur_path.join(&comp);
        let opened = if is_last {
            let flags = OFlags::RDONLY | OFlags::DIRECTORY | OFlags::NOFOLLOW | OFlags::CLOEXEC;
            rustix::fs::openat(cur_fd, comp.as_os_str(), flags, Mode::empty())
        } else {
            sys::open_intermediate(cur_fd.as_fd(), comp.as_os_str(), portable)
        };
        match opened {
            Ok(fd) => {
                let st = rustix::fs::fstat(&fd).map_err(|e| Error::from_errno(op, &here, e))?;
                let mode = mode_of(&st);
                let problem = policy.transition_problem(cur_stat.st_uid, st.st_uid).or_else(|| {
                    if is_last && final_private {
                        policy.private_dir_problem(st.st_uid, mode)
                    } else {
                        policy.ancestor_problem(st.st_uid, mode)
                    }
                });
                record(&mut steps, &mut first_problem, op, &here, None, &st, is_last, problem, policy);
                if !audit && let Some(err) = first_problem.take() {
                    return Err(err);
                }
                last_checked_as_root = is_last;
                stack.push((fd, st, here));
            }
            Err(Errno::LOOP | Errno::NOTDIR) => {
                let st = rustix::fs::statat(cur_fd, comp.as_os_str(), AtFlags::SYMLINK_NOFOLLOW)
                    .map_err(|e| Error::from_errno(op, &here, e))?;
                let file_type = FileType::from_raw_mode(st.st_mode);
                if file_type == FileType::Directory {
                    // Not a directory when opened, one now: swapped in
                    // between (THREATS FS-2). Refused, not "not a directory".
                    return Err(Error::swapped(op, &here));
                }
                if file_type != FileType::Symlink {
                    let err = Error::new(ErrorKind::NotADirectory, op, &here, "is not a directory");
                    return Err(if is_last { err.with_fix(file_as_root_fix(&here)) } else { err });
                }
                let target = rustix::fs::readlinkat(cur_fd, comp.as_os_str(), Vec::new()).map_err(|e| match e {
                    // A link when stat-ed, no longer one now: swapped (FS-2).
                    Errno::INVAL => Error::swapped(op, &here),
                    e => Error::from_errno(op, &here, e),
                })?;
                let target = PathBuf::from(OsStr::from_bytes(target.as_bytes()));
                let allowed = st.st_uid == 0 && cur_stat.st_uid == 0;
                let problem_text = (!allowed).then(|| {
                    format!(
                        "symlink owned by uid {} in a directory owned by uid {}; only root-owned links in \
                         root-owned directories are followed on the way to a root",
                        st.st_uid, cur_stat.st_uid
                    )
                });
                steps.push(ChainStep {
                    path: here.clone(),
                    link_target: Some(target.clone()),
                    uid: st.st_uid,
                    mode: mode_of(&st),
                    is_root: false,
                    problem: problem_text.clone(),
                });
                if let Some(text) = problem_text {
                    let err = Error::new(ErrorKind::Symlink, op, &here, format!("refused: {text}"))
                        .with_fix(format!("use the real path (the link points to `{}`)", target.display()));
                    if !audit {
                        return Err(err);
                    }
                    first_problem.get_or_insert(err);
                    // An audit does not follow an untrusted link.
                    stopped = true;
                    break;
                }
                links += 1;
                if links > MAX_LINKS {
                    return Err(too_many_links(op, path, &here));
                }
                if target.is_absolute() {
                    stack.truncate(1);
                }
                for c in components(target.as_os_str()).into_iter().rev() {
                    pending.push_front(c);
                }
            }
            Err(e) => return Err(Error::from_errno(op, &here, e)),
        }
    }

    let (fd, _, path) = stack.pop().expect("stack never empty");
    // Reopen the final directory for reading (intermediates are `O_PATH` on
    // Linux; `/` itself may be the final directory).
    let fd = rustix::fs::openat(&fd, ".", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
        .map_err(|e| Error::from_errno(op, &path, e))?;
    let stat = rustix::fs::fstat(&fd).map_err(|e| Error::from_errno(op, &path, e))?;
    if !last_checked_as_root && !stopped {
        let problem = if final_private {
            policy.private_dir_problem(stat.st_uid, mode_of(&stat))
        } else {
            policy.ancestor_problem(stat.st_uid, mode_of(&stat))
        };
        record(&mut steps, &mut first_problem, op, &path, None, &stat, true, problem, policy);
    }
    if let Some(err) = first_problem
        && !audit
    {
        return Err(err);
    }
    Ok(Walked { fd, stat, path, steps })
}

#[allow(clippy::too_many_arguments)]
fn record(
    steps: &mut Vec<ChainStep>,
    first_problem: &mut Option<Error>,
    op: &'static str,
    path: &Path,
    link_target: Option<PathBuf>,
    st: &Stat,
    is_root: bool,
    problem: Option<Problem>,
    policy: &Policy,
) {
    let mode = mode_of(st);
    steps.push(ChainStep {
        path: path.to_path_buf(),
        link_target,
        uid: st.st_uid,
        mode,
        is_root,
        problem: problem.map(Problem::describe),
    });
    if let Some(p) = problem {
        first_problem.get_or_insert_with(|| p.to_error(op, path, st.st_uid, mode, policy));
    }
}

pub(crate) fn mode_of(st: &Stat) -> u32 {
    sys::mode_of(st)
}

fn components(path: &OsStr) -> VecDeque<OsString> {
    path.as_bytes()
        .split(|&b| b == b'/')
        .filter(|c| !c.is_empty() && *c != b".")
        .map(|c| OsStr::from_bytes(c).to_owned())
        .collect()
}

/// Audits the directory chain from `/` to `path` under `policy`: one
/// [`ChainStep`] per component, each with its problem if it has one.
///
/// # Errors
/// Only when the walk cannot continue (a component is missing, not a
/// directory, or unreadable); policy problems are reported in the steps.
///
/// # Security
/// The checks behind THREATS FS-5, reported instead of enforced.
pub fn audit_chain(path: &Path, policy: &Policy) -> Result<Vec<ChainStep>> {
    walk("check", path, policy, true).map(|w| w.steps)
}

/// More links on the way to a root than the kernel would follow: a loop,
/// or a chain too long to be meant (not a symlink refusal: these links are
/// trusted ones, there are just too many).
#[cold]
fn too_many_links(op: &'static str, path: &Path, here: &Path) -> Error {
    Error::new(
        ErrorKind::InvalidPath,
        op,
        here,
        format!("more than {MAX_LINKS} symbolic links on the way to the root (a loop of links?)"),
    )
    .with_fix(format!("`namei -l {}` shows every link on the way; give the directory's real path", path.display()))
    .with_source(std::io::Error::from(Errno::LOOP))
}

/// The fix for a root path that names a file (`gw doc get config.json`,
/// where the directory and the name beneath it were meant).
fn file_as_root_fix(path: &Path) -> String {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => format!(
            "a root is a directory: give the directory that holds it (`{}`) and `{}` as the path beneath it",
            dir.display(),
            name.to_string_lossy()
        ),
        _ => "a root is a directory: give the directory that holds it".to_owned(),
    }
}
