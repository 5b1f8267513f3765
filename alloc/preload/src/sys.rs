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

/// Writes `parts` to stderr as one line (a newline is appended) with `write(2)`,
/// keeping `errno` as it was. Truncated at 256 bytes.
pub fn say(parts: &[&[u8]]) {
    let saved = errno();
    let mut buf = [0u8; 256];
    let mut n = 0;
    for &b in parts.iter().flat_map(|p| p.iter()) {
        if n == buf.len() - 1 {
            break;
        }
        buf[n] = b;
        n += 1;
    }
    buf[n] = b'\n';
    n += 1;
    let mut off = 0;
    while off < n {
        // SAFETY: the pointer and length describe the initialised prefix of `buf`.
        let w = unsafe { libc::write(2, buf[off..].as_ptr().cast(), n - off) };
        if w <= 0 {
            break;
        }
        off += w as usize;
    }
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

/// The page size (4096 when `sysconf` cannot tell).
#[inline]
pub fn page_size() -> usize {
    // SAFETY: sysconf has no preconditions and does not allocate.
    let p = unsafe { libc::sysconf(libc::_SC_PAGESIZE) };
    if p > 0 && (p as usize).is_power_of_two() {
        p as usize
    } else {
        4096
    }
}
