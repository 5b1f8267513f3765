//! The front end: `alloc`, `free`, `realloc`, `usable_size`. An `#[inline(always)]`
//! fast path per operation (a thread-local magazine pop or push and plain thread-local
//! counters: no shared atomics, no system calls, no panic branch) and `#[cold]` entries
//! behind it that hand every other call to the mechanism's slow paths (`slow_path`) or,
//! in check mode (`SLABSCOPE_CHECK`), to the checked paths (`checked`), on which both
//! fast paths always miss.
//!
//! Free tells its cases apart by the block's meta word (one load from the pagemap): a
//! block start of an ACTIVE slot owned by the calling thread goes into its magazine; a
//! block start of a slot it does not own is a remote free (`remote`); a sampled block
//! ends its sample; anything else (a header address, an interior pointer, a block of an
//! EMPTY or UNUSED slot, a pointer that is not ours) changes nothing and is counted as a
//! foreign free.

use core::ptr::NonNull;

use crate::size_class::{class_for, class_offset, CLASS_SHIFT, MIN_ALIGN, SMALL_MAX};
use crate::superslab;
use crate::thread::{self, OwnerFree, ThreadState};
use crate::{check, checked, large, sample, slow_path};

/// Allocates `size` bytes aligned to `align` (a power of two); null when out of memory.
/// `publish_default` is the calling binary's default for publishing, used only by the
/// very first slow path of the process.
#[inline(always)]
pub fn alloc(size: usize, align: usize, publish_default: bool) -> *mut u8 {
    if align <= MIN_ALIGN {
        if let Some(p) = alloc_hit::<false>(size) {
            return p.as_ptr();
        }
    } else if let Some(p) = alloc_aligned_hit(size, align) {
        return p.as_ptr();
    }
    alloc_miss(size, align, publish_default)
}

/// The fast path of a request aligned beyond `MIN_ALIGN`: a block of the smallest class
/// whose block size is a multiple of `align` (every block of such a class is aligned:
/// slots start on 64 KiB boundaries), popped from the calling thread's magazine; `None`
/// when that takes a slow path ([`alloc_miss`]). Aligned requests are not sampled (a
/// sampled slot serves the class of the size alone), so the countdown is not charged.
#[inline(always)]
pub fn alloc_aligned_hit(size: usize, align: usize) -> Option<NonNull<u8>> {
    let c = class_for(size, align)?;
    let h = thread::hot();
    // SAFETY: `hot` is always readable (the thread's state or an idle record).
    // Only a state's record holds a view of the pagemap (an idle record's, and the
    // check mode's, is empty), so a non-empty one is this thread's state.
    if unsafe { (*h).map_len } == 0 {
        return None;
    }
    let st = h.cast_mut().cast::<ThreadState>();
    // SAFETY: `st` is this thread's state and no slow path of it is running a magazine
    // operation (slow paths never call back into a fast path); `c` is a class.
    unsafe { thread::magazine(st, c << CLASS_SHIFT).pop::<false>() }
}

/// The allocation fast path for a request at most `MIN_ALIGN` aligned: a block from the
/// calling thread's magazine, or `None` when that takes a slow path ([`alloc_miss`]).
/// `LOWER`: the pop serves the magazine's low-water mark too (`Magazine::pop`).
#[inline(always)]
pub fn alloc_hit<const LOWER: bool>(size: usize) -> Option<NonNull<u8>> {
    if size <= SMALL_MAX {
        let h = thread::hot();
        // SAFETY: `hot` is always readable (the thread's state or an idle record).
        let left = unsafe { (*h).sample_left };
        let st = h.cast_mut().cast::<ThreadState>();
        // The sampling countdown: `sample::NEVER` when sampling is off, compared and
        // never written; 0 in an idle record, so only a state passes.
        if left == sample::NEVER {
            // SAFETY: `st` is this thread's state (an idle record's countdown is 0) and
            // no slow path of it is running a magazine operation (slow paths never call
            // back into a fast path); `class_offset` is a class's offset.
            return unsafe { thread::magazine(st, class_offset(size)).pop::<LOWER>() };
        }
        if left > size as u64 {
            // SAFETY: as above.
            unsafe {
                (*st).hot.sample_left = left - size as u64;
                return thread::magazine(st, class_offset(size)).pop::<LOWER>();
            }
        }
    }
    None
}

/// Every allocation [`alloc_hit`] did not serve: in check mode the checked path, else
/// the mechanism's slow path.
#[cold]
#[inline(never)]
pub extern "C" fn alloc_miss(size: usize, align: usize, publish_default: bool) -> *mut u8 {
    if check::on() {
        return checked::alloc(size, align, publish_default, false);
    }
    slow_path::alloc_miss(size, align, publish_default)
}

/// Like [`alloc`], with the memory zeroed. A large allocation served by a fresh mapping
/// is not written (the kernel zeroes it lazily, so `vec![0; n]` costs no memory until it
/// is touched); one served from the large cache is cleared by `large::alloc`.
#[inline]
pub fn alloc_zeroed(size: usize, align: usize, publish_default: bool) -> *mut u8 {
    if class_for(size, align).is_none() {
        if check::on() {
            return checked::alloc(size, align, publish_default, true);
        }
        slow_path::init(publish_default);
        slow_path::ensure_published();
        let p = slow_path::alloc_large(size, size, align, true);
        slow_path::after_slow_path(p.is_null());
        return p;
    }
    // In check mode `alloc` takes the checked path; zeroing the request keeps its slack.
    let p = alloc(size, align, publish_default);
    if !p.is_null() {
        // SAFETY: `p` is a slab block of at least `size` bytes.
        unsafe { core::ptr::write_bytes(p, 0, size) };
    }
    p
}

/// Frees `p` (null, one of ours, or foreign: foreign pointers are counted and ignored).
///
/// # Safety
/// If `p` is ours it must be a live allocation that the caller gives up.
#[inline(always)]
pub unsafe fn free(p: *mut u8, publish_default: bool) {
    // SAFETY: `hot` is always readable (the thread's state or an idle record); slow paths
    // never call back into a fast path, so no magazine operation of this thread runs.
    match unsafe { thread::free_owned(thread::hot(), p) } {
        OwnerFree::Pushed => {}
        OwnerFree::DrainDue(st) => slow_path::interval_drain(st),
        OwnerFree::Full(st, c) => slow_path::free_overflow(p, st, c),
        OwnerFree::Other(st, w) => slow_path::free_other(p, st, w, publish_default),
        OwnerFree::NotOwned => free_slow(p, publish_default),
    }
}

/// Every free the fast path did not finish: in check mode the checked path, else the
/// mechanism's slow path (remote frees, sampled blocks, large allocations, the global
/// path, and what is not a block at all).
#[cold]
#[inline(never)]
extern "C" fn free_slow(p: *mut u8, publish_default: bool) {
    // `free(NULL)` by a thread with no view of the pagemap yet, or in check mode, ends
    // here (`slow_path::free_other` takes it otherwise).
    if p.is_null() {
        return;
    }
    if check::on() {
        return checked::free(p, publish_default);
    }
    slow_path::free_slow_inner(p, publish_default);
    slow_path::after_slow_path(false);
}

/// Usable bytes of the allocation at `p`, `None` when `p` is not ours (in check mode: the
/// bytes requested, `None` also when `p` is not a live block).
pub fn usable_size(p: *const u8) -> Option<usize> {
    if check::on() {
        return checked::usable_size(p);
    }
    slow_path::usable_size(p)
}

/// Whether `p` is a live allocation of ours (in check mode: whether it lies anywhere in
/// the allocator's memory).
pub fn owns(p: *const u8) -> bool {
    if check::on() {
        return checked::owns(p);
    }
    slow_path::usable_size(p).is_some()
}

/// What [`raw::resize`](crate::raw::resize) did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resized {
    /// The allocation now at this address (the old one when resized in place); null,
    /// the old allocation untouched, when out of memory, when the alignment is not a
    /// power of two (`raw::resize`), and in check mode when the pointer is not a live
    /// block (reported).
    To(*mut u8),
    /// The pointer is not ours (in check mode: not in the allocator's memory at all);
    /// nothing was done or counted.
    NotOurs,
}

/// Resizes the allocation at `p` to `new_size` bytes at `align`.
///
/// # Safety
/// `p` must be null or a live allocation of ours (foreign pointers return null and are
/// counted); on success the old pointer must no longer be used.
pub unsafe fn realloc(p: *mut u8, new_size: usize, align: usize, pd: bool) -> *mut u8 {
    if p.is_null() {
        return alloc(new_size, align, pd);
    }
    // SAFETY: the caller's contract.
    match unsafe { resize(p, new_size, align, pd) } {
        Resized::To(q) => q,
        Resized::NotOurs => {
            crate::foreign::foreign_free(p);
            core::ptr::null_mut()
        }
    }
}

/// Resizes `p` (not null) to `new_size` bytes at `align` when it is ours, with one
/// look at what it is; [`Resized::NotOurs`] otherwise (what `realloc(3)` of a foreign
/// pointer needs to know without a second look).
///
/// # Safety
/// `p` must be foreign or a live allocation of ours; after [`Resized::To`] with a
/// non-null address the old pointer must no longer be used.
pub unsafe fn resize(p: *mut u8, new_size: usize, align: usize, pd: bool) -> Resized {
    if check::on() {
        if !checked::owns(p) {
            return Resized::NotOurs;
        }
        // SAFETY: the caller's contract.
        return Resized::To(unsafe { checked::realloc(p, new_size, align, pd) });
    }
    let Some(old) = slow_path::usable_size(p) else {
        return Resized::NotOurs;
    };
    let aligned = (p as usize).is_multiple_of(align);
    if aligned && new_size <= old && (new_size > old / 2 || old <= MIN_ALIGN) {
        return Resized::To(p);
    }
    let is_large = superslab::lookup(p as usize).is_none();
    if is_large && aligned && new_size > SMALL_MAX && align <= crate::pal::page_size() {
        // A sampled block ends its sample here: the mapping may move, and its size changes.
        sample::on_free_large(p);
        if let Some(q) = large::remap(p, new_size) {
            return Resized::To(q);
        }
    }
    let q = alloc(new_size, align, pd);
    if q.is_null() {
        return Resized::To(q);
    }
    // SAFETY: both blocks are ours, distinct, and at least min(old, new_size) long.
    unsafe { core::ptr::copy_nonoverlapping(p, q, old.min(new_size)) };
    // SAFETY: `p` is a live allocation the caller gives up.
    unsafe { free(p, pd) };
    Resized::To(q)
}

/// Drains the calling thread's magazines and folds its counters.
pub fn drain_thread() {
    slow_path::drain_thread();
}
