//! The aligned allocation family: `posix_memalign`, `aligned_alloc`, `memalign`,
//! `valloc`, `pvalloc`, with glibc's argument rules.
//!
//! Alignments up to 4 KiB are served from size classes whose blocks are naturally
//! aligned; larger ones by a direct mapping. Every returned block is freed with `free`.

use core::ffi::{c_int, c_void};
use core::ptr::null_mut;

use slabscope::raw;

use crate::entry::alloc_or_enomem;
use crate::sys::{errno, page_size, set_errno};

/// `posix_memalign(3)`: stores a block of `size` bytes aligned to `align` in `*out`.
/// Returns 0, `EINVAL` (`align` not a power of two multiple of `sizeof(void *)`) or
/// `ENOMEM`; leaves `*out` and `errno` untouched on failure.
///
/// # Safety
/// `out` must be valid for a pointer-sized write.
#[no_mangle]
pub unsafe extern "C" fn posix_memalign(out: *mut *mut c_void, align: usize, size: usize) -> c_int {
    let word = core::mem::size_of::<*mut c_void>();
    if !align.is_multiple_of(word) || !(align / word).is_power_of_two() {
        return libc::EINVAL;
    }
    let saved = errno();
    let p = raw::alloc(size, align);
    set_errno(saved);
    if p.is_null() {
        return libc::ENOMEM;
    }
    // SAFETY: the caller passes a writable pointer slot.
    unsafe { out.write(p.cast()) };
    0
}

/// `aligned_alloc(3)` (C11): `align` must be a power of two, else null with
/// `errno = EINVAL` (glibc 2.38's rule); any size is accepted (C17).
#[no_mangle]
pub extern "C" fn aligned_alloc(align: usize, size: usize) -> *mut c_void {
    if !align.is_power_of_two() {
        set_errno(libc::EINVAL);
        return null_mut();
    }
    alloc_or_enomem(size, align)
}

/// `memalign(3)`: an alignment that is not a power of two is rounded up to the next one
/// (glibc's rule); one too large to round gives null with `errno = EINVAL`.
#[no_mangle]
pub extern "C" fn memalign(align: usize, size: usize) -> *mut c_void {
    let Some(align) = align.checked_next_power_of_two() else {
        set_errno(libc::EINVAL);
        return null_mut();
    };
    alloc_or_enomem(size, align)
}

/// `valloc(3)`: `size` bytes aligned to the page size.
#[no_mangle]
pub extern "C" fn valloc(size: usize) -> *mut c_void {
    alloc_or_enomem(size, page_size())
}

/// `pvalloc(3)`: `size` rounded up to a whole number of pages, aligned to the page
/// size; `ENOMEM` when the rounding overflows.
#[no_mangle]
pub extern "C" fn pvalloc(size: usize) -> *mut c_void {
    let page = page_size();
    let Some(rounded) = size.checked_add(page - 1) else {
        set_errno(libc::ENOMEM);
        return null_mut();
    };
    alloc_or_enomem(rounded & !(page - 1), page)
}
