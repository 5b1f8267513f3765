//! Reading one small file without allocating: what the control channel needs
//! (`lstat`, `open(O_NOFOLLOW)`, `fstat`, `read(2)` into the caller's buffer, `close`).

/// What `lstat`/`fstat` said about a file.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct FileStat {
    /// Device.
    pub dev: u64,
    /// Inode.
    pub ino: u64,
    /// Owner uid.
    pub uid: u32,
    /// Whether it is a regular file (a symbolic link is not).
    pub regular: bool,
    /// Size in bytes.
    pub size: u64,
    /// Last status change, ns since the epoch (a rename or rewrite changes it).
    pub ctime_ns: i64,
    /// Last modification, ns since the epoch.
    pub mtime_ns: i64,
}

fn errno() -> i32 {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

pub(super) fn from_stat(st: &libc::stat) -> FileStat {
    FileStat {
        dev: st.st_dev,
        ino: st.st_ino,
        uid: st.st_uid,
        regular: st.st_mode & libc::S_IFMT == libc::S_IFREG,
        size: st.st_size.max(0) as u64,
        ctime_ns: st.st_ctime.saturating_mul(1_000_000_000) + st.st_ctime_nsec,
        mtime_ns: st.st_mtime.saturating_mul(1_000_000_000) + st.st_mtime_nsec,
    }
}

/// `lstat(path)`; `path` must end with its only NUL. Returns the raw errno on failure
/// (`ENOENT` when there is no such file).
pub fn lstat(path: &[u8]) -> Result<FileStat, i32> {
    if path.last() != Some(&0) || path[..path.len() - 1].contains(&0) {
        return Err(libc::EINVAL);
    }
    // SAFETY: an all-zero `stat` is a valid value for lstat to overwrite.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated (checked above); `st` is a valid out-pointer.
    if unsafe { libc::lstat(path.as_ptr().cast(), &mut st) } != 0 {
        return Err(errno());
    }
    Ok(from_stat(&st))
}

/// Opens `path` (NUL-terminated) with `O_RDONLY|O_NOFOLLOW|O_NONBLOCK|O_CLOEXEC`, takes
/// its `fstat`, and unless `accept` refuses that, reads up to `buf.len()` bytes into
/// `buf`. Returns the stat and the bytes read (`0` when `accept` said no), or the raw
/// errno (`ELOOP` for a symbolic link). Never blocks on a FIFO and never allocates.
pub fn read_small(
    path: &[u8],
    buf: &mut [u8],
    accept: impl FnOnce(&FileStat) -> bool,
) -> Result<(FileStat, usize), i32> {
    if path.last() != Some(&0) || path[..path.len() - 1].contains(&0) {
        return Err(libc::EINVAL);
    }
    let flags = libc::O_RDONLY | libc::O_NOFOLLOW | libc::O_NONBLOCK | libc::O_CLOEXEC;
    // SAFETY: `path` is NUL-terminated (checked above) and outlives the call.
    let fd = unsafe { libc::open(path.as_ptr().cast(), flags) };
    if fd < 0 {
        return Err(errno());
    }
    let result = read_open(fd, buf, accept);
    // SAFETY: `fd` was opened above and is closed exactly once, here.
    unsafe { libc::close(fd) };
    result
}

fn read_open(
    fd: libc::c_int,
    buf: &mut [u8],
    accept: impl FnOnce(&FileStat) -> bool,
) -> Result<(FileStat, usize), i32> {
    // SAFETY: an all-zero `stat` is a valid value for fstat to overwrite.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: `fd` is open; `st` is a valid out-pointer.
    if unsafe { libc::fstat(fd, &mut st) } != 0 {
        return Err(errno());
    }
    let info = from_stat(&st);
    if !accept(&info) {
        return Ok((info, 0));
    }
    let mut n = 0;
    while n < buf.len() {
        let rest = &mut buf[n..];
        // SAFETY: `rest` is a valid writable buffer of `rest.len()` bytes; `fd` is open.
        let r = unsafe { libc::read(fd, rest.as_mut_ptr().cast(), rest.len()) };
        if r < 0 {
            let e = errno();
            if e == libc::EINTR {
                continue;
            }
            return Err(e);
        }
        if r == 0 {
            break;
        }
        n += r as usize;
    }
    Ok((info, n))
}

/// The effective user id of this process.
pub fn geteuid() -> u32 {
    // SAFETY: geteuid has no preconditions.
    unsafe { libc::geteuid() }
}

/// `p` followed by a NUL: the path form this module's and `dir`'s functions take.
#[cfg(test)]
pub(super) fn cpath(p: &std::path::Path) -> Vec<u8> {
    let mut v = p.as_os_str().as_encoded_bytes().to_vec();
    v.push(0);
    v
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_small_file_and_refuses_links_and_bad_paths() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"hello").unwrap();
        let st = lstat(&cpath(&f)).unwrap();
        assert!(st.regular && st.size == 5 && st.uid == geteuid());
        let mut buf = [0u8; 3];
        let (st2, n) = read_small(&cpath(&f), &mut buf, |_| true).unwrap();
        assert_eq!((n, &buf), (3, b"hel"));
        assert_eq!((st2.dev, st2.ino), (st.dev, st.ino));
        let (_, n) = read_small(&cpath(&f), &mut buf, |_| false).unwrap();
        assert_eq!(n, 0);
        let l = dir.path().join("l");
        std::os::unix::fs::symlink(&f, &l).unwrap();
        assert!(!lstat(&cpath(&l)).unwrap().regular);
        assert_eq!(
            read_small(&cpath(&l), &mut buf, |_| true).unwrap_err(),
            libc::ELOOP
        );
        let missing = cpath(&dir.path().join("missing"));
        assert_eq!(lstat(&missing).unwrap_err(), libc::ENOENT);
        assert_eq!(lstat(b"no-nul").unwrap_err(), libc::EINVAL);
        assert_eq!(
            read_small(b"a\0b\0", &mut buf, |_| true).unwrap_err(),
            libc::EINVAL
        );
    }
}
