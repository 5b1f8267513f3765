//! System calls made by the writer: no allocation, no locks, no `std::fs`.
//!
//! Every function returns the raw `errno` on failure; callers turn it into an error.

use core::ffi::c_int;

/// Reads the calling thread's `errno`.
fn errno() -> i32 {
    // SAFETY: __errno_location returns a valid pointer to this thread's errno.
    unsafe { *libc::__errno_location() }
}

/// An open file descriptor, closed on drop.
#[derive(Debug)]
pub struct Fd(c_int);

impl Fd {
    /// The raw descriptor.
    pub fn raw(&self) -> c_int {
        self.0
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: self.0 is a descriptor this Fd opened and still owns.
        unsafe { libc::close(self.0) };
    }
}

/// Creates `path` (NUL-terminated) exclusively:
/// `open(O_RDWR|O_CREAT|O_EXCL|O_NOFOLLOW|O_CLOEXEC, 0600)`, then `fchmod(0600)` so that
/// the umask cannot leave other bits than the owner's read and write.
pub fn create_exclusive(path: &[u8]) -> Result<Fd, i32> {
    if path.last() != Some(&0) || path[..path.len() - 1].contains(&0) {
        return Err(libc::EINVAL);
    }
    let flags = libc::O_RDWR | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW | libc::O_CLOEXEC;
    // SAFETY: path is NUL-terminated (checked above) and outlives the call.
    let fd = unsafe { libc::open(path.as_ptr().cast(), flags, 0o600 as libc::c_uint) };
    if fd < 0 {
        return Err(errno());
    }
    let fd = Fd(fd);
    // SAFETY: fd is an open descriptor.
    if unsafe { libc::fchmod(fd.0, 0o600) } != 0 {
        return Err(errno());
    }
    Ok(fd)
}

/// Sets the file's length to `len` bytes (a sparse file: no block is allocated yet).
pub fn set_len(fd: &Fd, len: u64) -> Result<(), (&'static str, i32)> {
    let len = libc::off_t::try_from(len).map_err(|_| ("ftruncate", libc::EFBIG))?;
    // SAFETY: fd is an open descriptor.
    if unsafe { libc::ftruncate(fd.0, len) } != 0 {
        return Err(("ftruncate", errno()));
    }
    Ok(())
}

/// Reserves the file's blocks in `[offset, offset + len)` (`fallocate`), so that a full
/// tmpfs fails here and not with SIGBUS on a later store. `Ok` also where the file
/// system cannot reserve (`EOPNOTSUPP`).
pub fn reserve(fd: &Fd, offset: u64, len: u64) -> Result<(), (&'static str, i32)> {
    let off = libc::off_t::try_from(offset).map_err(|_| ("fallocate", libc::EFBIG))?;
    let len = libc::off_t::try_from(len).map_err(|_| ("fallocate", libc::EFBIG))?;
    // SAFETY: fd is an open descriptor.
    if unsafe { libc::fallocate(fd.0, 0, off, len) } != 0 {
        let e = errno();
        if e != libc::EOPNOTSUPP && e != libc::ENOSYS {
            return Err(("fallocate", e));
        }
    }
    Ok(())
}

/// Allocates and maps now the pages of `[ptr, ptr + len)`, part of a shared writable
/// mapping (`MADV_POPULATE_WRITE`, Linux 5.14): where the file system is full this
/// returns an error instead of a SIGBUS at the first store. `EINVAL` on older kernels.
///
/// # Safety
///
/// `ptr` is page-aligned and `[ptr, ptr + len)` lies inside one live mapping made by
/// [`mmap_shared`].
pub unsafe fn populate_write(ptr: core::ptr::NonNull<u8>, len: usize) -> Result<(), i32> {
    // SAFETY: the caller guarantees the range is inside a live shared writable mapping;
    // populating changes no byte of it.
    if unsafe { libc::madvise(ptr.as_ptr().cast(), len, libc::MADV_POPULATE_WRITE) } != 0 {
        return Err(errno());
    }
    Ok(())
}

/// Maps `len` bytes of `fd` shared, readable and writable.
pub fn mmap_shared(fd: &Fd, len: usize) -> Result<core::ptr::NonNull<u8>, i32> {
    // SAFETY: a fresh mapping at an address of the kernel's choosing; no memory is touched.
    let p = unsafe {
        libc::mmap(
            core::ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_SHARED,
            fd.0,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        return Err(errno());
    }
    core::ptr::NonNull::new(p.cast()).ok_or(libc::EINVAL)
}

/// Unmaps a mapping made by [`mmap_shared`].
///
/// # Safety
///
/// `ptr` and `len` are exactly those of a live mapping made by [`mmap_shared`], and no
/// reference into it outlives this call.
pub unsafe fn munmap(ptr: core::ptr::NonNull<u8>, len: usize) {
    // SAFETY: the caller guarantees ptr/len describe one live mapping no one still uses.
    unsafe { libc::munmap(ptr.as_ptr().cast(), len) };
}

/// Removes `path` (NUL-terminated).
pub fn unlink(path: &[u8]) -> Result<(), i32> {
    if path.last() != Some(&0) || path[..path.len() - 1].contains(&0) {
        return Err(libc::EINVAL);
    }
    // SAFETY: path is NUL-terminated (checked above) and outlives the call.
    if unsafe { libc::unlink(path.as_ptr().cast()) } != 0 {
        return Err(errno());
    }
    Ok(())
}

fn clock_ns(clock: libc::clockid_t) -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: ts is a valid, writable timespec.
    if unsafe { libc::clock_gettime(clock, &mut ts) } != 0 {
        return 0;
    }
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// `CLOCK_MONOTONIC` in nanoseconds (0 if the clock is unavailable).
pub fn monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC)
}

/// `CLOCK_MONOTONIC_COARSE` in nanoseconds: the monotonic clock as of the last timer
/// tick (never ahead of `CLOCK_MONOTONIC`, behind it by at most a tick, 1 to 10 ms),
/// read from the vDSO without the cycle counter: about 3 ns against 20. For checks
/// whose period is several ticks long (0 if the clock is unavailable).
pub fn coarse_monotonic_ns() -> u64 {
    clock_ns(libc::CLOCK_MONOTONIC_COARSE)
}

/// `CLOCK_BOOTTIME` in nanoseconds: like `CLOCK_MONOTONIC`, plus time suspended; the
/// clock `/proc/<pid>/stat` start times count on (0 if unavailable).
pub fn boottime_ns() -> u64 {
    clock_ns(libc::CLOCK_BOOTTIME)
}

/// Clock ticks per second of `/proc/<pid>/stat` times (`sysconf(_SC_CLK_TCK)`; 100
/// when the system does not say).
pub fn clock_ticks_per_second() -> u64 {
    // SAFETY: sysconf reads a system constant and has no memory preconditions.
    let t = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if t > 0 {
        t as u64
    } else {
        100
    }
}

/// `CLOCK_REALTIME` in nanoseconds since the Unix epoch (0 if unavailable).
pub fn realtime_ns() -> u64 {
    clock_ns(libc::CLOCK_REALTIME)
}

/// The calling thread's kernel thread id.
pub fn gettid() -> u32 {
    // SAFETY: SYS_gettid takes no arguments and cannot fail.
    unsafe { libc::syscall(libc::SYS_gettid) as u32 }
}

/// The effective user id of this process.
pub fn geteuid() -> u32 {
    // SAFETY: geteuid takes no arguments and cannot fail.
    unsafe { libc::geteuid() }
}

/// The system page size (4096 if it cannot be read).
pub fn page_size() -> u32 {
    // SAFETY: sysconf takes no pointers.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if v > 0 && v <= u32::MAX as libc::c_long {
        v as u32
    } else {
        4096
    }
}

/// Reads `/proc/self/cmdline` into `buf` with raw `read(2)`: the bytes read.
pub fn read_proc_cmdline(buf: &mut [u8]) -> usize {
    let path = b"/proc/self/cmdline\0";
    // SAFETY: path is NUL-terminated and static.
    let fd = unsafe { libc::open(path.as_ptr().cast(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return 0;
    }
    let fd = Fd(fd);
    let mut n = 0;
    while n < buf.len() {
        let rest = &mut buf[n..];
        // SAFETY: rest is a valid writable buffer of rest.len() bytes.
        let r = unsafe { libc::read(fd.0, rest.as_mut_ptr().cast(), rest.len()) };
        if r < 0 {
            if errno() == libc::EINTR {
                continue;
            }
            break;
        }
        if r == 0 {
            break;
        }
        n += r as usize;
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_coarse_clock_lags_the_precise_one_by_at_most_a_tick_and_advances() {
        let before = monotonic_ns();
        let coarse = coarse_monotonic_ns();
        let after = monotonic_ns();
        assert!(
            coarse <= after,
            "coarse {coarse} ahead of the precise {after}"
        );
        // A tick is at most 10 ms (CONFIG_HZ 100); a loaded machine may deliver it late.
        assert!(
            before.saturating_sub(coarse) <= 50_000_000,
            "{before} - {coarse}"
        );
        std::thread::sleep(std::time::Duration::from_millis(60));
        assert!(coarse_monotonic_ns() >= coarse + 10_000_000);
    }

    #[test]
    fn clocks_and_ids_are_plausible() {
        let a = monotonic_ns();
        let b = monotonic_ns();
        assert!(a > 0 && b >= a);
        assert!(realtime_ns() > 1_600_000_000_000_000_000);
        assert_eq!(gettid(), gettid());
        assert!(page_size().is_power_of_two());
    }

    #[test]
    fn paths_without_a_single_trailing_nul_are_refused() {
        assert_eq!(create_exclusive(b"/tmp/x").unwrap_err(), libc::EINVAL);
        assert_eq!(create_exclusive(b"/tmp/\0x\0").unwrap_err(), libc::EINVAL);
        assert_eq!(unlink(b"").unwrap_err(), libc::EINVAL);
    }
}
