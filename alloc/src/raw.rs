//! The raw allocation API: what the LD_PRELOAD shim, benchmarks and tests call.
//!
//! Every function may be called before `main`, from any thread, during thread exit
//! (after the thread's magazines were drained the calls take the global path), and
//! never panics: impossible states abort with a one-line message on stderr.
//!
//! Alignments are powers of two. Every block is at least 16-byte aligned; alignments up
//! to 4 KiB are served from slots, larger ones by a direct mapping.

use crate::front;

pub use crate::stats::{ClassStats, Stats, TotalStats};

/// Allocates `size` bytes (0 is treated as 1) aligned to `align` (a power of two; 0 and
/// values below 16 mean 16). Returns null when out of memory (mmap failed or
/// `SLABSCOPE_LIMIT` reached), or when `align` is not a power of two.
#[inline]
pub fn alloc(size: usize, align: usize) -> *mut u8 {
    if !align.is_power_of_two() && align != 0 {
        return core::ptr::null_mut();
    }
    front::alloc(size, align, true)
}

/// The allocation fast path alone: a block of at least `size` bytes, 16-byte aligned,
/// from the calling thread's magazine, or `None` when the request needs a slow path
/// ([`alloc_miss`]). For shims that keep their own miss path out of line (the
/// LD_PRELOAD `malloc`): unlike [`alloc`]'s, its pop serves the magazine's low-water
/// mark in line, which makes it longer than a function inlined everywhere should be.
#[inline(always)]
pub fn alloc_hit(size: usize) -> Option<core::ptr::NonNull<u8>> {
    front::alloc_hit::<true>(size)
}

/// [`alloc`] for a request [`alloc_hit`] did not serve (never inlined).
#[inline(never)]
pub fn alloc_miss(size: usize, align: usize) -> *mut u8 {
    if !align.is_power_of_two() && align != 0 {
        return core::ptr::null_mut();
    }
    front::alloc_miss(size, align, true)
}

/// Like [`alloc`], with the memory zeroed.
#[inline]
pub fn alloc_zeroed(size: usize, align: usize) -> *mut u8 {
    if !align.is_power_of_two() && align != 0 {
        return core::ptr::null_mut();
    }
    front::alloc_zeroed(size, align, true)
}

/// Frees `ptr`. Null is ignored; a pointer the allocator does not own (from another
/// allocator, or from before this one took over) is ignored and counted in
/// `foreign_frees`, never written to; the first one is reported once on stderr.
///
/// # Safety
/// If `ptr` is ours it must be a live allocation, not used after this call.
#[inline]
pub unsafe fn free(ptr: *mut u8) {
    // SAFETY: forwarded caller contract.
    unsafe { front::free(ptr, true) }
}

/// Resizes `ptr` to `new_size` bytes at `align`, in place when the new size still fits
/// its block (and is more than half of it, or the block is 16 bytes). Null `ptr` allocates. Returns null when
/// out of memory (the old allocation is untouched) or when `ptr` is foreign (counted in
/// `foreign_frees`, untouched).
///
/// # Safety
/// `ptr` must be null or a live allocation; after a non-null return it must not be used.
#[inline]
pub unsafe fn realloc(ptr: *mut u8, new_size: usize, align: usize) -> *mut u8 {
    if !align.is_power_of_two() && align != 0 {
        return core::ptr::null_mut();
    }
    // SAFETY: forwarded caller contract.
    unsafe { front::realloc(ptr, new_size, align.max(1), true) }
}

pub use crate::front::Resized;

/// Resizes `ptr` (not null) as [`realloc`] does when it is ours, and says
/// [`Resized::NotOurs`] (counting nothing) when it is not: what a `realloc(3)` that
/// copies foreign memory needs, with one look at the pointer instead of [`owns`] and
/// then [`realloc`]. With `SLABSCOPE_CHECK`, "ours" is as for [`owns`] (a freed block is
/// ours, and its `realloc` is reported).
///
/// # Safety
/// `ptr` must be foreign or a live allocation (or, in check mode, any pointer into the
/// allocator's memory); after [`Resized::To`] with a non-null address it must not be
/// used.
#[inline]
pub unsafe fn resize(ptr: *mut u8, new_size: usize, align: usize) -> Resized {
    if !align.is_power_of_two() && align != 0 {
        return Resized::To(core::ptr::null_mut());
    }
    // SAFETY: forwarded caller contract.
    unsafe { front::resize(ptr, new_size, align.max(1), true) }
}

/// Usable bytes of the allocation that starts at `ptr` (its block size, or its mapping
/// length for large allocations); `None` when `ptr` is not the start of a live
/// allocation of ours. With `SLABSCOPE_CHECK`: the bytes requested (the block's trailer
/// is read); otherwise `ptr` is never dereferenced.
#[inline]
pub fn usable_size(ptr: *const u8) -> Option<usize> {
    front::usable_size(ptr)
}

/// Whether `ptr` is the start of a live block or large allocation of this allocator (with
/// `SLABSCOPE_CHECK`: anywhere in its memory, freed blocks included, so that a
/// `realloc` of one is checked and reported instead of copied as foreign memory).
#[inline]
pub fn owns(ptr: *const u8) -> bool {
    front::owns(ptr)
}

/// Drains the calling thread's magazines back to their slots and folds its counters,
/// so the per-class accounting is exact for this thread.
pub fn drain_thread() {
    front::drain_thread();
}

/// The process is about to end without running `atexit` handlers (`_exit`, `_Exit`):
/// closes and removes its segment as a normal exit does (kept after an OOM). Does
/// nothing in a `vfork` child or any process other than the segment's writer.
/// Allocation-free; the preload's `_exit` calls it.
pub fn close_for_exit() {
    crate::publish::close_for_exit();
}

/// Gives free memory back to the OS now: drains the calling thread and retires its idle
/// slots, retires abandoned slots whose blocks are all back, then gives back the pages
/// of every EMPTY slot (decommitted; the slot stays ready for its class), every cached
/// empty SuperSlab and every cached large mapping (unmapped). Returns the bytes given
/// back. Other threads' magazines and idle slots are not included: they give them back
/// at their own interval sweeps, or call [`drain_thread`].
pub fn trim() -> u64 {
    front::drain_thread();
    crate::trim::trim()
}

/// Test hook: makes every claim of a SuperSlab position spin `spins` times while it
/// holds the placement lock, which widens the window in which a `fork` of another
/// thread would copy that lock held if the fork handlers did not take it. 0 (the
/// default) turns it off. Not for production use.
#[doc(hidden)]
pub fn set_placement_hold(spins: u32) {
    crate::placement::HOLD_DELAY.store(spins, core::sync::atomic::Ordering::Relaxed);
}

/// Test hook: makes every remote free spin `spins` times between deciding to push a
/// block and pushing it, which widens the window in which the block's slot could be
/// retired under the pusher if the lifetime rule were broken. 0 (the default) turns it
/// off. Not for production use.
#[doc(hidden)]
pub fn set_remote_push_delay(spins: u32) {
    crate::sync::REMOTE_PUSH_DELAY.store(spins, core::sync::atomic::Ordering::Relaxed);
}

/// Test hook: while `hold` is set, every thread about to claim its record in the
/// segment (at its first publish, after its slow path grew the segment) waits, so that
/// a test can release many claims at once, past the thread records allocated so far.
/// Not for production use.
#[doc(hidden)]
pub fn hold_thread_claims(hold: bool) {
    crate::publish::HOLD_THREAD_CLAIMS
        .store(u32::from(hold), core::sync::atomic::Ordering::Release);
}

/// Test hook: the threads waiting at [`hold_thread_claims`].
#[doc(hidden)]
pub fn thread_claims_held() -> u32 {
    crate::publish::THREAD_CLAIMS_HELD.load(core::sync::atomic::Ordering::Relaxed)
}

/// A copy of the allocator's own counters (no segment needed). Exact at quiescence:
/// call [`drain_thread`] on every thread that still runs first.
pub fn stats() -> Stats {
    crate::stats::snapshot()
}

/// Frees of pointers the allocator does not own, ignored so far (one relaxed load). The
/// allocator reports the first one on stderr itself.
#[inline]
pub fn foreign_frees() -> u64 {
    crate::stats::TOTALS
        .foreign_frees
        .load(core::sync::atomic::Ordering::Relaxed)
}

/// Writes `parts` to stderr as one line (a newline is appended, at most 512 bytes) with
/// `write(2)` from a stack buffer: safe inside `malloc` (the LD_PRELOAD shim's messages).
pub fn write_stderr(parts: &[&[u8]]) {
    crate::pal::write_stderr(parts);
}

/// Formats `v` as `0x` followed by lowercase hex digits into `buf` (without allocating).
pub fn fmt_hex(v: usize, buf: &mut [u8; 18]) -> &[u8] {
    crate::pal::fmt_hex(v, buf)
}

/// The system page size (without allocating).
pub fn page_size() -> usize {
    crate::pal::page_size()
}
