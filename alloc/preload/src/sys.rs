//! What the shim asks of the C library besides memory: `errno` and one-line messages on
//! stderr, both without allocating (safe inside `malloc`).

/// Sets the calling thread's `errno`.
#[inline]
pub fn set_errno(code: i32) {
    // SAFETY: __errno_location returns the calling thread's errno slot, valid for the
    // thread's lifetime; glibc's errno is initial-exec TLS and never allocates.
    unsafe { *libc::__errno_location() = code };
}

/// The calling thread's `errno`.
#[inline]
pub fn errno() -> i32 {
    // SAFETY: as in `set_errno`.
    unsafe { *libc::__errno_location() }
}

/// Writes `parts` to stderr as one line (`slabscope::raw::write_stderr`), keeping
/// `errno` as it was.
pub fn say(parts: &[&[u8]]) {
    let saved = errno();
    slabscope::raw::write_stderr(parts);
    set_errno(saved);
}

/// Formats `v` as `0x` followed by lowercase hex digits into `buf`.
pub fn hex(v: usize, buf: &mut [u8; 18]) -> &[u8] {
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
    i -= 1;
    buf[i] = b'x';
    i -= 1;
    buf[i] = b'0';
    &buf[i..]
}

/// The page size (cached by the allocator; 4096 when `sysconf` cannot tell).
pub use slabscope::raw::page_size;
