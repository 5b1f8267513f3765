//! `malloc`, `free`, `calloc`, `realloc`, `reallocarray` and `cfree`, with C linkage.
//!
//! Each entry point is a thin layer over [`slabscope::raw`]: the size arithmetic C
//! callers expect (overflow checks), glibc's choices where C leaves room, and `errno`.
//! None of them allocates through the process allocator or can unwind.

use core::ffi::c_void;
use core::ptr::null_mut;

use slabscope::raw;

use crate::foreign;
use crate::sys::set_errno;

/// Allocates `size` bytes at `align` (0 = the default 16), setting `errno` to `ENOMEM`
/// on failure.
#[inline(always)]
pub(crate) fn alloc_or_enomem(size: usize, align: usize) -> *mut c_void {
    let p = raw::alloc(size, align);
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p.cast()
}

/// `malloc(3)`: `size` bytes aligned to 16; `malloc(0)` returns a unique pointer (as
/// glibc does). Null with `errno = ENOMEM` when out of memory.
#[no_mangle]
pub extern "C" fn malloc(size: usize) -> *mut c_void {
    match raw::alloc_hit(size) {
        Some(p) => p.as_ptr().cast(),
        None => malloc_miss(size),
    }
}

/// `malloc` past the magazine: the allocator's slow path, then `errno` on failure.
/// `extern "C"` cannot unwind, so `malloc` reaches it with a tail call and keeps no
/// frame of its own.
#[cold]
#[inline(never)]
extern "C" fn malloc_miss(size: usize) -> *mut c_void {
    let p = raw::alloc_miss(size, 0);
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p.cast()
}

/// `free(3)`: null is ignored; a foreign pointer is ignored and reported once.
///
/// # Safety
/// `p` must be null, foreign, or a live allocation of this library not used afterwards.
#[no_mangle]
pub unsafe extern "C" fn free(p: *mut c_void) {
    // SAFETY: forwarded caller contract; raw::free never writes to foreign pointers (it
    // counts them and reports the first one).
    unsafe { raw::free(p.cast()) };
}

/// `cfree(3)`: the obsolete synonym of `free`.
///
/// # Safety
/// As for [`free`].
#[no_mangle]
pub unsafe extern "C" fn cfree(p: *mut c_void) {
    // SAFETY: forwarded caller contract.
    unsafe { free(p) }
}

/// `calloc(3)`: `n * size` zeroed bytes; null with `errno = ENOMEM` when the product
/// overflows or memory is exhausted.
#[no_mangle]
pub extern "C" fn calloc(n: usize, size: usize) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        set_errno(libc::ENOMEM);
        return null_mut();
    };
    let p = raw::alloc_zeroed(total, 0);
    if p.is_null() {
        set_errno(libc::ENOMEM);
    }
    p.cast()
}

/// `realloc(3)` as glibc does it: `realloc(NULL, n)` is `malloc(n)`; `realloc(p, 0)`
/// frees `p` and returns null; on failure the old block is untouched and `errno` is
/// `ENOMEM`. A foreign `p` is copied into a new block (see [`foreign::realloc`]).
///
/// # Safety
/// `p` must be null, foreign, or a live allocation of this library; after a non-null
/// return (or a `realloc(p, 0)`) it must not be used.
#[no_mangle]
pub unsafe extern "C" fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if p.is_null() {
        return alloc_or_enomem(size, 0);
    }
    if size == 0 {
        // SAFETY: forwarded caller contract.
        unsafe { free(p) };
        return null_mut();
    }
    // SAFETY: forwarded caller contract: `p` is foreign or a live allocation of ours.
    match unsafe { raw::resize(p.cast(), size, 0) } {
        // SAFETY: `p` is foreign: it is only read, never written or freed.
        raw::Resized::NotOurs => unsafe { foreign::realloc(p, size) },
        raw::Resized::To(q) => {
            if q.is_null() {
                set_errno(libc::ENOMEM);
            }
            q.cast()
        }
    }
}

/// `reallocarray(3)`: `realloc(p, n * size)`, failing with `ENOMEM` (and leaving `p`
/// untouched) when the product overflows.
///
/// # Safety
/// As for [`realloc`].
#[no_mangle]
pub unsafe extern "C" fn reallocarray(p: *mut c_void, n: usize, size: usize) -> *mut c_void {
    let Some(total) = n.checked_mul(size) else {
        set_errno(libc::ENOMEM);
        return null_mut();
    };
    // SAFETY: forwarded caller contract.
    unsafe { realloc(p, total) }
}
