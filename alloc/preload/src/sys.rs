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

/// `0x`-prefixed lowercase hex (`slabscope::raw::fmt_hex`).
pub use slabscope::raw::fmt_hex as hex;

/// The page size (cached by the allocator; 4096 when `sysconf` cannot tell).
pub use slabscope::raw::page_size;
