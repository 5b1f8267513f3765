//! One directory listed without allocating: `open(O_DIRECTORY)`, `getdents64` into a
//! buffer on the stack, and `fstatat` / `unlinkat` relative to it (never following a
//! symbolic link). What the sweep of kept segments needs, from inside `malloc`.

use super::file::{from_stat, FileStat};

/// An open directory; closed on drop.
#[derive(Debug)]
pub struct Dir {
    fd: libc::c_int,
}

/// The longest entry name handled (longer ones are skipped): what `NAME_MAX` allows.
const NAME_MAX: usize = 255;

impl Dir {
    /// Opens `path` (ending with its only NUL) as a directory.
    pub fn open(path: &[u8]) -> Option<Dir> {
        if path.last() != Some(&0) || path[..path.len() - 1].contains(&0) {
            return None;
        }
        let flags = libc::O_RDONLY | libc::O_DIRECTORY | libc::O_CLOEXEC;
        // SAFETY: `path` is NUL-terminated (checked above) and outlives the call.
        let fd = unsafe { libc::open(path.as_ptr().cast(), flags) };
        // A `Dir` exists only for an open descriptor: it closes its `fd` on drop.
        if fd >= 0 {
            Some(Dir { fd })
        } else {
            None
        }
    }

    /// Calls `f` with the name of every entry (without its NUL), in the order the
    /// kernel lists them. Stops at the end or at the first error.
    pub fn for_each(&self, mut f: impl FnMut(&[u8])) {
        let mut buf = [0u8; 2048];
        loop {
            // SAFETY: getdents64 writes at most `buf.len()` bytes of records into `buf`.
            let n = unsafe {
                libc::syscall(libc::SYS_getdents64, self.fd, buf.as_mut_ptr(), buf.len())
            };
            if n <= 0 {
                return;
            }
            let filled = &buf[..(n as usize).min(buf.len())];
            let mut at = 0;
            // A linux_dirent64: ino (8), off (8), reclen (2), type (1), name NUL-ended.
            while let Some(rec) = filled.get(at..) {
                let Some(len) = rec.get(16..18) else { break };
                let reclen = usize::from(u16::from_ne_bytes([len[0], len[1]]));
                let Some(body) = rec.get(19..reclen.max(19)) else {
                    break;
                };
                if reclen == 0 {
                    break;
                }
                let name_len = body.iter().position(|&b| b == 0).unwrap_or(body.len());
                f(&body[..name_len]);
                at += reclen;
            }
        }
    }

    /// `fstatat` of entry `name`, not following a symbolic link.
    pub fn stat(&self, name: &[u8]) -> Option<FileStat> {
        let mut path = [0u8; NAME_MAX + 1];
        let c = nul_terminated(name, &mut path)?;
        // SAFETY: an all-zero `stat` is a valid value for fstatat to overwrite.
        let mut st: libc::stat = unsafe { core::mem::zeroed() };
        // SAFETY: `c` is NUL-terminated, `st` is a valid out-pointer, `self.fd` is open.
        let rc = unsafe {
            libc::fstatat(
                self.fd,
                c.as_ptr().cast(),
                &mut st,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        (rc == 0).then(|| from_stat(&st))
    }

    /// Removes entry `name` (a file, never a directory); whether it was removed.
    pub fn unlink(&self, name: &[u8]) -> bool {
        let mut path = [0u8; NAME_MAX + 1];
        let Some(c) = nul_terminated(name, &mut path) else {
            return false;
        };
        // SAFETY: `c` is NUL-terminated and `self.fd` is an open directory.
        unsafe { libc::unlinkat(self.fd, c.as_ptr().cast(), 0) == 0 }
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        // SAFETY: `fd` was opened by `Dir::open` and is closed exactly once, here.
        unsafe { libc::close(self.fd) };
    }
}

/// `name` followed by a NUL in `buf`; `None` when it is too long or holds a NUL.
fn nul_terminated<'a>(name: &[u8], buf: &'a mut [u8; NAME_MAX + 1]) -> Option<&'a [u8]> {
    if name.is_empty() || name.len() > NAME_MAX || name.contains(&0) {
        return None;
    }
    buf[..name.len()].copy_from_slice(name);
    buf[name.len()] = 0;
    Some(&buf[..=name.len()])
}

/// The number of entries of directory `path` (ending with its only NUL), when it is on
/// a tmpfs: `None` elsewhere or when it cannot be read. A Linux tmpfs directory's size
/// is 20 bytes (the kernel's `BOGO_DIRENT_SIZE`) for each entry, `.` and `..` included,
/// so two `stat`s count what listing it would (`statfs` to know the file system). A
/// size that cannot be such a count (below the 40 bytes of `.` and `..`, or not a
/// multiple of 20: another kernel's tmpfs, as gVisor's, which leaves it 0) is `None`.
pub fn tmpfs_entries(path: &[u8]) -> Option<u64> {
    if path.last() != Some(&0) || path[..path.len() - 1].contains(&0) {
        return None;
    }
    /// `TMPFS_MAGIC` (linux/magic.h).
    const TMPFS_MAGIC: libc::c_long = 0x0102_1994;
    /// The size a tmpfs directory grows by with each entry.
    const BOGO_DIRENT_SIZE: u64 = 20;
    // SAFETY: an all-zero `statfs` is a valid value for statfs to overwrite.
    let mut fs: libc::statfs = unsafe { core::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated (checked above), `fs` is a valid out-pointer.
    if unsafe { libc::statfs(path.as_ptr().cast(), &mut fs) } != 0
        || fs.f_type as libc::c_long != TMPFS_MAGIC
    {
        return None;
    }
    // SAFETY: an all-zero `stat` is a valid value for stat to overwrite.
    let mut st: libc::stat = unsafe { core::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated, `st` is a valid out-pointer.
    if unsafe { libc::stat(path.as_ptr().cast(), &mut st) } != 0
        || st.st_mode & libc::S_IFMT != libc::S_IFDIR
    {
        return None;
    }
    let size = st.st_size as u64;
    if size < 2 * BOGO_DIRENT_SIZE || !size.is_multiple_of(BOGO_DIRENT_SIZE) {
        return None;
    }
    Some(size / BOGO_DIRENT_SIZE - 2)
}

/// Whether no process has id `pid` (`kill(pid, 0)` fails with `ESRCH`). A process of
/// another user counts as running.
pub fn process_gone(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: signal 0 only checks that the process exists; nothing is sent.
    let rc = unsafe { libc::kill(pid, 0) };
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    rc != 0 && unsafe { *libc::__errno_location() } == libc::ESRCH
}

#[cfg(test)]
mod tests {
    use super::super::file::cpath;
    use super::*;

    #[test]
    fn a_tmpfs_directory_is_counted_without_listing_it() {
        // /dev/shm is a tmpfs wherever the preload publishes by default.
        let dir = tempfile::Builder::new()
            .prefix("slabscope-dir")
            .tempdir_in("/dev/shm")
            .unwrap();
        let path = cpath(dir.path());
        assert_eq!(tmpfs_entries(&path), Some(0), "an empty directory");
        for i in 0..5 {
            std::fs::write(dir.path().join(format!("slabscope.{i}")), b"x").unwrap();
        }
        std::fs::create_dir(dir.path().join("sub")).unwrap();
        assert_eq!(tmpfs_entries(&path), Some(6), "five files and a directory");
        std::fs::remove_file(dir.path().join("slabscope.3")).unwrap();
        assert_eq!(tmpfs_entries(&path), Some(5));
        // Not a tmpfs, a file, no NUL, a NUL inside: not counted.
        assert_eq!(tmpfs_entries(b"/proc\0"), None);
        assert_eq!(tmpfs_entries(&cpath(&dir.path().join("slabscope.0"))), None);
        assert_eq!(
            tmpfs_entries(dir.path().as_os_str().as_encoded_bytes()),
            None
        );
        assert_eq!(tmpfs_entries(b"/dev\0shm\0"), None);
    }
}
