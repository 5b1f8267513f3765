//! What the shim asks of the C library besides memory: `errno` and one-line messages on
//! stderr, both without allocating (safe inside `malloc`); whether the process runs in
//! secure mode; a detached thread (for loading the tracing library).

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

/// Whether the process runs in secure mode (`AT_SECURE`: set-user-ID or set-group-ID,
/// or gained capabilities), where the loader ignores the environment's library paths.
pub fn secure() -> bool {
    // SAFETY: getauxval has no preconditions; it reads the auxiliary vector the kernel
    // passed and returns 0 for an absent entry.
    unsafe { libc::getauxval(libc::AT_SECURE) != 0 }
}

/// Starts `run` on a new detached thread with every signal blocked (a signal meant for
/// the program never lands on it); `false` when no thread could be made.
pub fn spawn_detached(
    run: extern "C" fn(*mut core::ffi::c_void) -> *mut core::ffi::c_void,
) -> bool {
    // SAFETY: all-zero sigset_t and pthread_t are valid values for the calls below to
    // overwrite.
    let (mut all, mut old, mut thread): (libc::sigset_t, libc::sigset_t, libc::pthread_t) =
        unsafe { core::mem::zeroed() };
    // SAFETY: `all` and `old` are valid sigset_t out-pointers; the new thread inherits
    // the calling thread's mask, which is restored right after the create.
    let made = unsafe {
        libc::sigfillset(&mut all);
        libc::pthread_sigmask(libc::SIG_SETMASK, &all, &mut old);
        let made = libc::pthread_create(&mut thread, core::ptr::null(), run, core::ptr::null_mut());
        libc::pthread_sigmask(libc::SIG_SETMASK, &old, core::ptr::null_mut());
        made
    };
    if made != 0 {
        return false;
    }
    // SAFETY: `thread` was just created and not yet joined or detached.
    unsafe { libc::pthread_detach(thread) };
    true
}
