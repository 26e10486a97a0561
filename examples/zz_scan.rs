use rustix::fs::{AtFlags, CWD, Dir, Mode, OFlags, StatxFlags, openat, readlinkat_raw, statx};
use rustix::io::Errno;
use std::time::{Duration, Instant};
fn med(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}
fn pids() -> Vec<u32> {
    std::fs::read_dir("/proc").unwrap().filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok()).collect()
}
fn count(p: &impl rustix::fd::AsFd, pid: u32) -> u64 {
    statx(p, format!("{pid}/fd"), AtFlags::SYMLINK_NOFOLLOW, StatxFlags::SIZE).map(|s| s.stx_size).unwrap_or(1)
}
fn inode(b: &[u8]) -> Option<u64> {
    std::str::from_utf8(b.strip_prefix(b"socket:[")?.strip_suffix(b"]")?).ok()?.parse().ok()
}
// A: current
fn a(p: &rustix::fd::OwnedFd, pid: u32, out: &mut Vec<u64>) -> u32 {
    if count(p, pid) == 0 {
        return 0;
    }
    let Ok(fd) = openat(p, format!("{pid}/fd"), OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
    else {
        return 0;
    };
    let links = rustix::io::fcntl_dupfd_cloexec(&fd, 0).unwrap();
    let mut dir = Dir::new(fd).unwrap();
    let mut buf = [0u8; 64];
    let mut n = 0;
    while let Some(Ok(e)) = dir.read() {
        if e.file_name().to_bytes()[0] == b'.' {
            continue;
        }
        match readlinkat_raw(&links, e.file_name(), &mut buf[..]) {
            Ok(k) => {
                n += 1;
                if let Some(i) = inode(&buf[..k]) {
                    out.push(i)
                }
            }
            Err(Errno::ACCESS) => return n,
            Err(_) => {}
        }
    }
    n
}
// B: dirfd + dense walk
fn b(p: &rustix::fd::OwnedFd, pid: u32, out: &mut Vec<u64>) -> u32 {
    let c = count(p, pid);
    if c == 0 {
        return 0;
    }
    let Ok(fd) = openat(p, format!("{pid}/fd"), OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty())
    else {
        return 0;
    };
    let mut buf = [0u8; 64];
    let mut found = 0u64;
    let mut n = 0u32;
    let mut i = 0u32;
    let mut name = itoa(0);
    while found < c && i < (c as u32) + 64 {
        name = itoa(i);
        match readlinkat_raw(&fd, name.as_c_str(), &mut buf[..]) {
            Ok(k) => {
                found += 1;
                n += 1;
                if let Some(x) = inode(&buf[..k]) {
                    out.push(x)
                }
            }
            Err(Errno::NOENT) => {}
            Err(_) => return n,
        }
        i += 1;
    }
    let _ = name;
    n
}
// C: path from proc root, dense
fn c(p: &rustix::fd::OwnedFd, pid: u32, out: &mut Vec<u64>) -> u32 {
    let c = count(p, pid);
    if c == 0 {
        return 0;
    }
    let mut buf = [0u8; 64];
    let mut found = 0u64;
    let mut n = 0u32;
    let mut i = 0u32;
    while found < c && i < (c as u32) + 64 {
        let name = std::ffi::CString::new(format!("{pid}/fd/{i}")).unwrap();
        match readlinkat_raw(p, name.as_c_str(), &mut buf[..]) {
            Ok(k) => {
                found += 1;
                n += 1;
                if let Some(x) = inode(&buf[..k]) {
                    out.push(x)
                }
            }
            Err(Errno::NOENT) => {}
            Err(_) => return n,
        }
        i += 1;
    }
    n
}
fn itoa(i: u32) -> std::ffi::CString {
    std::ffi::CString::new(i.to_string()).unwrap()
}
fn main() {
    let p = openat(CWD, "/proc", OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC, Mode::empty()).unwrap();
    let f: [(&str, fn(&rustix::fd::OwnedFd, u32, &mut Vec<u64>) -> u32); 3] = [("A", a), ("B", b), ("C", c)];
    let mut t = vec![vec![]; 3];
    let mut ns = [0u32; 3];
    for r in 0..400 {
        let ps = pids();
        for k in 0..3 {
            let k = (k + r) % 3;
            let mut out = vec![];
            let s = Instant::now();
            let mut n = 0;
            for &pid in &ps {
                n += f[k].1(&p, pid, &mut out);
            }
            t[k].push(s.elapsed());
            ns[k] = n;
        }
    }
    for k in 0..3 {
        println!("{} {:?} fds {}", f[k].0, med(t[k].clone()), ns[k]);
    }
}
