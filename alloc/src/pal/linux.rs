//! Linux implementation of the platform layer (raw libc calls, no allocation).

use core::ptr;

/// The OS page size (cached after the first call).
pub fn page_size() -> usize {
    use core::sync::atomic::{AtomicUsize, Ordering};
    static PAGE: AtomicUsize = AtomicUsize::new(0);
    let p = PAGE.load(Ordering::Relaxed);
    if p != 0 {
        return p;
    }
    // SAFETY: sysconf has no preconditions.
    let v = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    let v = if v > 0 { v as usize } else { 4096 };
    PAGE.store(v, Ordering::Relaxed);
    v
}

/// Maps `len` bytes of fresh zeroed read-write anonymous memory; `None` when the kernel
/// refuses. `noreserve` maps without committing swap (sparse tables).
pub fn map(len: usize, noreserve: bool) -> Option<*mut u8> {
    let mut flags = libc::MAP_PRIVATE | libc::MAP_ANONYMOUS;
    if noreserve {
        flags |= libc::MAP_NORESERVE;
    }
    // SAFETY: an anonymous mapping at a kernel-chosen address touches no existing memory.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            flags,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        None
    } else {
        Some(p.cast())
    }
}

/// The process's address-space limit (`RLIMIT_AS`) in bytes; `None` when unlimited or
/// unknown.
pub fn address_space_limit() -> Option<usize> {
    let mut r = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes only the struct it is given, which lives on this stack.
    let rc = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut r) };
    (rc == 0 && r.rlim_cur != libc::RLIM_INFINITY)
        .then(|| usize::try_from(r.rlim_cur).unwrap_or(usize::MAX))
}

/// Reserves `len` bytes of address space that read as zero and cannot be written
/// (`PROT_READ`, no swap reserved: a read-only private mapping is not charged against
/// the commit limit), for a sparse table whose pages [`make_writable`] opens as they are
/// needed. `None` when the kernel refuses (`RLIMIT_AS`, say).
pub fn reserve_readable(len: usize) -> Option<*mut u8> {
    // SAFETY: an anonymous mapping at a kernel-chosen address touches no existing memory.
    let p = unsafe {
        libc::mmap(
            ptr::null_mut(),
            len,
            libc::PROT_READ,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_NORESERVE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        None
    } else {
        Some(p.cast())
    }
}

/// Makes `[p, p + len)` (page aligned) of a [`reserve_readable`] mapping writable,
/// keeping its contents. `false` when the kernel refuses (the commit limit).
///
/// # Safety
/// The range must lie inside a mapping this crate reserved with [`reserve_readable`].
pub unsafe fn make_writable(p: *mut u8, len: usize) -> bool {
    // SAFETY: the caller guarantees the range is ours; adding write access keeps the
    // contents and invalidates no reference.
    unsafe { libc::mprotect(p.cast(), len, libc::PROT_READ | libc::PROT_WRITE) == 0 }
}

/// Maps `len` bytes aligned to `align` (a power of two >= the page size) by mapping
/// `len + align` and trimming both ends. `len` must be a multiple of the page size.
pub fn map_aligned(len: usize, align: usize) -> Option<*mut u8> {
    debug_assert!(align.is_power_of_two() && align >= page_size());
    let over = len.checked_add(align)?;
    let raw = map(over, false)? as usize;
    let start = (raw + align - 1) & !(align - 1);
    let head = start - raw;
    let tail = over - head - len;
    if head != 0 {
        // SAFETY: [raw, start) is part of the mapping just created and not handed out.
        unsafe { unmap(raw as *mut u8, head) };
    }
    if tail != 0 {
        // SAFETY: the tail past start + len is part of the same fresh mapping.
        unsafe { unmap((start + len) as *mut u8, tail) };
    }
    Some(start as *mut u8)
}

/// What [`map_fixed_noreplace`] did.
#[derive(Debug)]
pub enum Placed {
    /// Mapped at the address asked for.
    At(*mut u8),
    /// Something is mapped there already (it was left alone).
    Occupied,
    /// The kernel refused (no memory, a limit).
    Refused,
}

/// Maps `len` bytes of fresh zeroed read-write anonymous memory exactly at `at` (page
/// aligned) when nothing is mapped there; an existing mapping is never replaced
/// (`MAP_FIXED_NOREPLACE`; a kernel older than 4.17 takes the address as a hint, and a
/// mapping it puts elsewhere is undone and reported as [`Placed::Occupied`]).
pub fn map_fixed_noreplace(len: usize, at: usize) -> Placed {
    // SAFETY: MAP_FIXED_NOREPLACE fails rather than touch an existing mapping.
    let p = unsafe {
        libc::mmap(
            at as *mut libc::c_void,
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        )
    };
    if p == libc::MAP_FAILED {
        // SAFETY: __errno_location returns a valid pointer to this thread's errno.
        return match unsafe { *libc::__errno_location() } {
            libc::EEXIST => Placed::Occupied,
            _ => Placed::Refused,
        };
    }
    if p as usize != at {
        // SAFETY: the kernel placed the fresh mapping elsewhere; nobody has seen it.
        unsafe { unmap(p.cast(), len) };
        return Placed::Occupied;
    }
    Placed::At(p.cast())
}

/// Unmaps `[p, p + len)`.
///
/// # Safety
/// The range must be a mapping (or part of one) this crate created and nothing may use
/// it afterwards.
pub unsafe fn unmap(p: *mut u8, len: usize) {
    // SAFETY: the caller owns the range and promises it is no longer used.
    let rc = unsafe { libc::munmap(p.cast(), len) };
    if rc != 0 {
        fatal(b"munmap of an allocator mapping failed");
    }
}

/// Gives the pages of `[p, p + len)` back to the OS; they read as zero afterwards.
///
/// # Safety
/// The range must lie inside a private anonymous mapping of this crate whose contents
/// nobody needs any more.
pub unsafe fn decommit(p: *mut u8, len: usize) {
    // SAFETY: the caller guarantees the range is ours and its contents are dead.
    unsafe { libc::madvise(p.cast(), len, libc::MADV_DONTNEED) };
}

/// Grows or shrinks the mapping at `p` from `old` to `new` bytes, possibly moving it.
///
/// # Safety
/// `[p, p + old)` must be a whole mapping this crate created; on success the old range
/// must no longer be used.
pub unsafe fn remap(p: *mut u8, old: usize, new: usize) -> Option<*mut u8> {
    // SAFETY: the caller owns the mapping; MREMAP_MAYMOVE keeps the contents.
    let q = unsafe { libc::mremap(p.cast(), old, new, libc::MREMAP_MAYMOVE) };
    if q == libc::MAP_FAILED {
        None
    } else {
        Some(q.cast())
    }
}

/// Replaces `[p, p + len)` (page aligned) by private zero pages at the same address, so
/// that stale references stay valid but no longer reach the file that was mapped there.
///
/// # Safety
/// The range must be a mapping this process owns whose previous contents are not needed.
pub unsafe fn replace_with_anonymous(p: *mut u8, len: usize) -> bool {
    // SAFETY: MAP_FIXED over a range the caller owns replaces it atomically.
    let q = unsafe {
        libc::mmap(
            p.cast(),
            len,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED,
            -1,
            0,
        )
    };
    q != libc::MAP_FAILED
}

/// Writes `parts` to stderr with `write(2)`, as one line (a newline is appended).
pub fn write_stderr(parts: &[&[u8]]) {
    let mut buf = [0u8; 512];
    let mut n = 0;
    for part in parts {
        for &b in part.iter() {
            if n < buf.len() - 1 {
                buf[n] = b;
                n += 1;
            }
        }
    }
    buf[n] = b'\n';
    n += 1;
    let mut off = 0;
    while off < n {
        // SAFETY: the pointer and length describe the initialised prefix of `buf`.
        let w = unsafe { libc::write(2, buf[off..n].as_ptr().cast(), n - off) };
        if w <= 0 {
            break;
        }
        off += w as usize;
    }
}

/// Writes `slabscope: fatal: <msg>` to stderr and aborts: used for impossible states,
/// never for conditions a caller can cause.
#[cold]
pub fn fatal(msg: &[u8]) -> ! {
    write_stderr(&[b"slabscope: fatal: ", msg]);
    // SAFETY: abort has no preconditions and never returns.
    unsafe { libc::abort() }
}

/// Aborts the process (`SIGABRT`, as glibc does on heap corruption).
#[cold]
pub fn abort() -> ! {
    // SAFETY: abort has no preconditions and never returns.
    unsafe { libc::abort() }
}

/// Formats `v` in decimal into `buf`, returning the digits.
pub fn fmt_u64(mut v: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Formats `v` as `0x` followed by lowercase hex digits into `buf`.
pub fn fmt_hex(v: usize, buf: &mut [u8; 18]) -> &[u8] {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut i = buf.len();
    let mut v = v;
    loop {
        i -= 1;
        buf[i] = DIGITS[v & 15];
        v >>= 4;
        if v == 0 {
            break;
        }
    }
    buf[i - 2] = b'0';
    buf[i - 1] = b'x';
    &buf[i - 2..]
}

/// The calling thread's `errno`.
pub fn errno() -> i32 {
    // SAFETY: __errno_location returns the calling thread's errno slot, valid for the
    // thread's lifetime; it never allocates.
    unsafe { *libc::__errno_location() }
}

/// Sets the calling thread's `errno`.
pub fn set_errno(code: i32) {
    // SAFETY: as in `errno`.
    unsafe { *libc::__errno_location() = code };
}

/// The process id.
pub fn getpid() -> u32 {
    // SAFETY: getpid has no preconditions.
    unsafe { libc::getpid() as u32 }
}

/// The kernel thread id of the calling thread.
pub fn gettid() -> u32 {
    // SAFETY: gettid has no preconditions.
    unsafe { libc::gettid() as u32 }
}

/// The value of environment variable `name` (NUL-terminated), without allocating.
///
/// The environment is read once at start-up by the options module; its strings live for
/// the whole process unless the program edits its environment, which it does after our
/// single read.
pub fn getenv(name: &[u8]) -> Option<&'static [u8]> {
    if name.last() != Some(&0) {
        return None;
    }
    // SAFETY: `name` is NUL-terminated; getenv reads `environ` and does not allocate.
    let p = unsafe { libc::getenv(name.as_ptr().cast()) };
    if p.is_null() {
        return None;
    }
    // SAFETY: getenv returned a NUL-terminated string that lives as long as `environ`.
    let len = unsafe { libc::strlen(p) };
    // SAFETY: `len` bytes starting at `p` are the variable's value.
    Some(unsafe { core::slice::from_raw_parts(p.cast::<u8>(), len) })
}

/// Creates a pthread key whose destructor is `dtor`; `None` when keys are exhausted.
pub fn key_create(dtor: unsafe extern "C" fn(*mut libc::c_void)) -> Option<libc::pthread_key_t> {
    let mut key: libc::pthread_key_t = 0;
    // SAFETY: `key` is a valid out-pointer; the destructor is a plain function.
    let rc = unsafe { libc::pthread_key_create(&mut key, Some(dtor)) };
    (rc == 0).then_some(key)
}

/// Sets the calling thread's value for `key`.
pub fn key_set(key: libc::pthread_key_t, value: *mut u8) -> bool {
    // SAFETY: `key` came from `key_create`; the value is an opaque pointer.
    unsafe { libc::pthread_setspecific(key, value as *const libc::c_void) == 0 }
}

/// Registers fork handlers.
pub fn atfork(
    prepare: unsafe extern "C" fn(),
    parent: unsafe extern "C" fn(),
    child: unsafe extern "C" fn(),
) -> bool {
    // SAFETY: the handlers are plain functions valid for the process lifetime.
    unsafe { libc::pthread_atfork(Some(prepare), Some(parent), Some(child)) == 0 }
}

/// Registers `f` to run at normal process exit.
pub fn at_exit(f: extern "C" fn()) -> bool {
    // SAFETY: `f` is a plain function valid for the process lifetime.
    unsafe { libc::atexit(f) == 0 }
}

/// Copies the calling thread's name (at most 16 bytes) into `out`; returns its length.
pub fn thread_name(out: &mut [u8; 16]) -> usize {
    let mut buf = [0u8; 17];
    // SAFETY: PR_GET_NAME writes at most 16 bytes (NUL included) into `buf`.
    let rc = unsafe { libc::prctl(libc::PR_GET_NAME, buf.as_mut_ptr()) };
    if rc != 0 {
        return 0;
    }
    let n = buf.iter().position(|&b| b == 0).unwrap_or(16).min(16);
    out[..n].copy_from_slice(&buf[..n]);
    n
}
