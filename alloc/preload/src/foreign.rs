//! Foreign pointers: blocks slabscope did not hand out.
//!
//! They reach `free` and `realloc` when memory was allocated before the library took
//! over (`ld.so`'s start-up allocator), by code that calls glibc directly
//! (`__libc_malloc`), or by another allocator. slabscope cannot know their size or who
//! owns them, so it never writes to them and never hands them to glibc (whose `free`
//! aborts on a pointer glibc did not allocate, and which cannot be asked without `dlsym`,
//! which allocates):
//!
//! - `free(p)`: ignored (the block leaks), counted in the segment's `foreign_frees`,
//!   and reported once on stderr;
//! - `realloc(p, n)`: a new block of `n` bytes receives the first `n` bytes readable at
//!   `p` (copied with `process_vm_readv` on this process, which stops at an unmapped page
//!   instead of faulting); `p` itself is left alone; reported once on stderr;
//! - `malloc_usable_size(p)`: 0.

use core::ffi::c_void;
use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

use slabscope::raw;

use crate::sys::{hex, page_size, say, set_errno};

static REALLOC_REPORTED: AtomicBool = AtomicBool::new(false);

/// `realloc` of a foreign `p`: a new block holding the first `size` readable bytes at
/// `p`; null with `errno = ENOMEM` when no block is available (`p` untouched either way).
///
/// # Safety
/// `p` must not be a block of this allocator; it is only read.
#[cold]
#[inline(never)]
pub unsafe fn realloc(p: *mut c_void, size: usize) -> *mut c_void {
    if !REALLOC_REPORTED.swap(true, Relaxed) {
        let mut buf = [0u8; 18];
        say(&[
            b"slabscope: realloc(",
            hex(p as usize, &mut buf),
            b") of memory slabscope did not allocate: copied into a new block, the old one left alone (reported once)",
        ]);
    }
    let q = raw::alloc(size, 0);
    if q.is_null() {
        set_errno(libc::ENOMEM);
        return q.cast();
    }
    copy_readable(q, p.cast(), size);
    q.cast()
}

/// Copies up to `len` bytes from `src` to `dst`, stopping at the first byte of `src`
/// that cannot be read. Returns the bytes copied.
fn copy_readable(dst: *mut u8, src: *const u8, len: usize) -> usize {
    let local = libc::iovec {
        iov_base: dst.cast(),
        iov_len: len,
    };
    let remote = libc::iovec {
        iov_base: src as *mut c_void,
        iov_len: len,
    };
    // SAFETY: `dst` is a fresh block of at least `len` bytes; the kernel reads `src`
    // with fault checking, so an unreadable source returns an error or a short count.
    let n = unsafe { libc::process_vm_readv(libc::getpid(), &local, 1, &remote, 1, 0) };
    if n >= 0 {
        return n as usize;
    }
    copy_mapped(dst, src, len)
}

/// Fallback when `process_vm_readv` is refused (seccomp): copies page by page while
/// `mincore` says the source page is mapped.
fn copy_mapped(dst: *mut u8, src: *const u8, len: usize) -> usize {
    let page = page_size();
    let mut done = 0;
    while done < len {
        let at = src as usize + done;
        let page_start = at & !(page - 1);
        let mut vec = 0u8;
        // SAFETY: mincore only inspects the mapping of one page and writes one byte.
        let rc = unsafe { libc::mincore(page_start as *mut c_void, page, &mut vec) };
        if rc != 0 {
            break;
        }
        let chunk = (page_start + page - at).min(len - done);
        // SAFETY: the source page is mapped (mincore), the destination block holds `len`
        // bytes, and the two do not overlap (the destination is ours, the source not).
        unsafe { core::ptr::copy_nonoverlapping(at as *const u8, dst.add(done), chunk) };
        done += chunk;
    }
    done
}
