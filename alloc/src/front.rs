//! The front end: `alloc`, `free`, `realloc`, `usable_size`. An `#[inline(always)]`
//! fast path per operation (a thread-local magazine pop or push and plain thread-local
//! counters: no shared atomics, no system calls, no panic branch) and `#[cold]` slow
//! paths behind it.
//!
//! Free tells its cases apart by the block's meta word (one load from the SuperSlab
//! header, on a line only state and owner changes write): a block start of an ACTIVE
//! slot owned by the calling thread goes into its magazine; a block start of a slot it
//! does not own is a remote free (`remote`); a sampled block ends its sample; anything
//! else (a header address, an interior pointer, a block of an EMPTY or UNUSED slot, a
//! pointer that is not ours) changes nothing and is counted as a foreign free.
//!
//! The slow paths are `extern "C"` functions: they cannot unwind (a panic in them
//! aborts, as an allocator must), so a fast path calls them as a tail call and keeps
//! no stack frame or landing pad of its own.
//!
//! The slow paths refill and drain magazines, fold counters, publish, and fall back to
//! the *global path* (`unowned`: one block from or to an unowned slot, shared counters)
//! whenever the calling thread has no usable state: before its state exists, while it
//! is being created, after the thread's exit drain, or when a slow path re-enters itself.

use core::ptr::NonNull;
use core::sync::atomic::Ordering;

use slabscope_proto::{monotonic_ns, DrainReason};

use crate::size_class::{
    block_size, class_for, class_of, class_offset, is_block_start, MIN_ALIGN, SMALL_MAX,
};
use crate::slot::{meta_class, meta_state, owned_offset, ACTIVE, SAMPLED};
use crate::stats::{add, CLASSES, TOTALS};
use crate::superslab::{self, SLOT_BYTES};
use crate::thread::{self, ThreadState};
use crate::{control, fork, large, options, pagemap, publish, sample, sampled_slots, unowned};

/// Allocates `size` bytes aligned to `align` (a power of two); null when out of memory.
/// `publish_default` is the calling binary's default for publishing, used only by the
/// very first slow path of the process.
#[inline(always)]
pub fn alloc(size: usize, align: usize, publish_default: bool) -> *mut u8 {
    if align <= MIN_ALIGN {
        if let Some(p) = alloc_hit(size) {
            return p.as_ptr();
        }
    }
    alloc_miss(size, align, publish_default)
}

/// The allocation fast path for a request at most `MIN_ALIGN` aligned: a block from the
/// calling thread's magazine, or `None` when that takes a slow path ([`alloc_miss`]).
#[inline(always)]
pub fn alloc_hit(size: usize) -> Option<NonNull<u8>> {
    if size <= SMALL_MAX {
        let h = thread::hot();
        // SAFETY: `hot` is always readable (the thread's state or an idle record).
        let left = unsafe { (*h).sample_left };
        // The sampling countdown: u64::MAX when sampling is off, so never taken; 0 in an
        // idle record, so only a state passes.
        if left > size as u64 {
            let st = h.cast_mut().cast::<ThreadState>();
            // SAFETY: `st` is this thread's state (an idle record's countdown is 0) and
            // no slow path of it is running a magazine operation (slow paths never call
            // back into a fast path); `class_offset` is a class's offset.
            unsafe {
                (*st).hot.sample_left = left - size as u64;
                return thread::magazine(st, class_offset(size)).pop();
            }
        }
    }
    None
}

/// Every allocation [`alloc_hit`] did not serve: the sampled path, a refill, the large
/// path, aligned requests, the global path.
#[cold]
#[inline(never)]
pub extern "C" fn alloc_miss(size: usize, align: usize, publish_default: bool) -> *mut u8 {
    if align <= MIN_ALIGN && size <= SMALL_MAX {
        if let Some(st) = thread::current() {
            // SAFETY: the state belongs to this thread; no reference to it is held.
            let t = unsafe { &mut *st };
            if t.hot.sample_left <= size as u64 {
                return alloc_sampled(st, size, align, publish_default);
            }
            // The fast path's pop stops at the low-water mark (see `Magazine::pop`); the
            // magazine may still hold blocks. No magazine operation of this thread runs
            // (as on the fast path).
            if let Some(p) = t.mags[class_of(size)].take() {
                return p.as_ptr();
            }
        }
    }
    alloc_slow(size, align, publish_default)
}

/// Like [`alloc`], with the memory zeroed. A large allocation served by a fresh mapping
/// is not written (the kernel zeroes it lazily, so `vec![0; n]` costs no memory until it
/// is touched); one served from the large cache is cleared by `large::alloc`.
#[inline]
pub fn alloc_zeroed(size: usize, align: usize, publish_default: bool) -> *mut u8 {
    if class_for(size, align).is_none() {
        init(publish_default);
        ensure_published();
        let p = alloc_large(size, align, true);
        after_slow_path(p.is_null());
        return p;
    }
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
    let a = p as usize;
    let h = thread::hot();
    // The slot's meta word from the thread's view of the pagemap: 0 when `p` lies in no
    // SuperSlab of ours, which no key matches; `None` beyond the view (an idle record's
    // is empty).
    // SAFETY: `hot` is always readable (the thread's state or an idle record), and its
    // view is one `pagemap::view` gave, or empty.
    if let Some(w) = unsafe { pagemap::meta_in((*h).map_words, (*h).map_len, a) } {
        // SAFETY: as above.
        if let Some(off) = owned_offset(w, unsafe { (*h).key }) {
            // An idle record's key matches no meta word: `st` is this thread's state.
            let st = h.cast_mut().cast::<ThreadState>();
            // SAFETY: `off` comes from the meta word of an ACTIVE slot this thread owns,
            // which holds its class's offset; no other reference to the magazine is
            // live (see `alloc_hit`).
            let m = unsafe { thread::magazine(st, off) };
            if !m.is_block_start(a % SLOT_BYTES) {
                return free_slow(p, publish_default);
            }
            if m.push(p) {
                // SAFETY: `st` is this thread's state; only the budget field is written.
                unsafe {
                    (*st).free_budget -= 1;
                    if (*st).free_budget != 0 {
                        return;
                    }
                }
                return interval_drain(st);
            }
            return free_overflow(p, st, meta_class(w));
        }
    }
    free_slow(p, publish_default)
}

/// The sampled path: taken when the calling thread's sampling countdown runs out (a
/// small request at most `MIN_ALIGN` aligned). The block comes from a sampled slot of
/// its class (`sampled_slots`), so that its free is told apart without a cost to other
/// frees; its call stack is then recorded (with the re-entrancy guard set, so
/// allocations made while recording take the global path).
#[cold]
#[inline(never)]
fn alloc_sampled(st: *mut ThreadState, size: usize, align: usize, pd: bool) -> *mut u8 {
    // SAFETY: the state belongs to this thread; no reference to it is held here.
    unsafe { (*st).hot.sample_left = sample::restart() };
    // SAFETY: as above.
    if unsafe { (*st).busy } != 0 {
        return alloc_slow(size, align, pd);
    }
    init(pd);
    ensure_published();
    // SAFETY: as above.
    unsafe { (*st).busy = 1 };
    let p = sampled_slots::take(class_of(size), size);
    if !p.is_null() {
        sample::record(p, size);
    }
    // SAFETY: as above.
    unsafe { (*st).busy = 0 };
    if p.is_null() {
        // No slot for a sampled block (at `SLABSCOPE_LIMIT`, or the mapping failed): the
        // request may still be served, unsampled, from the magazine or a slot; the
        // pending OOM report is settled by that slow path.
        return alloc_slow(size, align, pd);
    }
    after_slow_path(false);
    p
}

static INIT: core::sync::atomic::AtomicU8 = core::sync::atomic::AtomicU8::new(0);

/// One-time set-up on the first slow path: options, fork handlers, the publishing
/// default. Never allocates. (The thread-exit key is created with the first thread
/// state.)
#[inline]
fn init(publish_default: bool) {
    if INIT.load(Ordering::Acquire) == 2 {
        return;
    }
    if INIT
        .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
        .is_ok()
    {
        options::get();
        publish::set_default(publish_default);
        fork::register();
        INIT.store(2, Ordering::Release);
    }
}

/// Creates the segment if publishing is on and there is none yet; a segment created
/// after SuperSlabs were mapped (here, or by the GPU pool) gets them published.
#[inline]
fn ensure_published() {
    if publish::ensure() {
        superslab::publish_all();
    }
}

/// The calling thread's state if a slow path may use its magazines now.
fn usable_state() -> Option<*mut ThreadState> {
    let st = match thread::raw_current() {
        0 => thread::get_or_create()?,
        thread::BUSY | thread::GONE => return None,
        p => p as *mut ThreadState,
    };
    // SAFETY: the state belongs to this thread.
    let t = unsafe { &mut *st };
    if t.hot.map_len == 0 {
        // The pagemap did not exist when the thread last looked (its frees all come
        // here until it has a view of it).
        (t.hot.map_words, t.hot.map_len) = pagemap::view();
    }
    (t.busy == 0).then_some(st)
}

/// Work deferred to the end of every slow path, when no allocator lock is held: the
/// OOM report of a failed allocation (`failed`: the slow path was an allocation that
/// returned null) and the debug-tracing output; one relaxed load each when there is
/// nothing to do.
#[inline]
fn after_slow_path(failed: bool) {
    if failed && crate::oom_report::pending() {
        fold_before_report();
    }
    crate::oom_report::flush(failed);
    crate::trace::flush();
}

/// Folds the calling thread's counters before its OOM report is collected: the report's
/// per-class figures come from the shared counters, which otherwise miss up to 10 ms
/// of the thread's allocations (its blocks would show as free).
#[cold]
#[inline(never)]
fn fold_before_report() {
    let Some(st) = usable_state() else {
        return;
    };
    // SAFETY: the state belongs to this thread and no slow path of it runs (`busy` 0).
    let t = unsafe { &mut *st };
    t.busy = 1;
    thread::fold_all(t, monotonic_ns());
    t.busy = 0;
}

/// The large path (zeroed memory when `zeroed`), with its sampling hook.
fn alloc_large(size: usize, align: usize, zeroed: bool) -> *mut u8 {
    let p = large::alloc(size, align, zeroed);
    if sample::enabled() && !p.is_null() {
        sample_large(p, size);
    }
    p
}

fn alloc_slow(size: usize, align: usize, publish_default: bool) -> *mut u8 {
    let p = alloc_slow_inner(size, align, publish_default);
    after_slow_path(p.is_null());
    p
}

#[inline(always)]
fn alloc_slow_inner(size: usize, align: usize, publish_default: bool) -> *mut u8 {
    init(publish_default);
    ensure_published();
    let Some(c) = class_for(size, align) else {
        return alloc_large(size, align, false);
    };
    let Some(st) = usable_state() else {
        let p = unowned::take_one(c, size);
        publish::class(c);
        return p;
    };
    // SAFETY: the state belongs to this thread and `busy` keeps nested slow paths off it.
    let t = unsafe { &mut *st };
    if let Some(p) = t.mags[c].take() {
        return p.as_ptr();
    }
    t.busy = 1;
    t.classes |= 1 << c;
    sample::follow(&mut t.hot.sample_left);
    let before = t.mags[c].count();
    let p = if t.mags[c].refill(&t.owned[c], c, t.index, size) {
        t.mags[c]
            .take()
            .map_or(core::ptr::null_mut(), |p| p.as_ptr())
    } else {
        core::ptr::null_mut()
    };
    // Refilled blocks count towards the interval like frees, and a refill long after the
    // last fold runs the interval drain: a thread that allocates and seldom frees still
    // folds and publishes its counters.
    let refilled = (t.mags[c].count() + 1).saturating_sub(before) as u64;
    t.busy = 0;
    let stale = monotonic_ns().wrapping_sub(t.fold_ns) >= thread::FOLD_NS;
    if refilled >= t.free_budget || stale {
        interval_drain(st);
    } else {
        t.free_budget -= refilled;
    }
    p
}

/// Runs the sampling countdown for a large allocation (they never pass the fast path).
fn sample_large(p: *mut u8, size: usize) {
    let Some(st) = usable_state() else {
        return;
    };
    // SAFETY: the state belongs to this thread and no slow path of it runs (`busy` 0).
    let t = unsafe { &mut *st };
    sample::follow(&mut t.hot.sample_left);
    if t.hot.sample_left > size as u64 {
        t.hot.sample_left -= size as u64;
        return;
    }
    t.hot.sample_left = sample::restart();
    t.busy = 1;
    sample::record(p, size);
    t.busy = 0;
}

/// The owner's free into a full magazine: its older half goes back to the thread's
/// slots, then `p` goes in.
#[cold]
#[inline(never)]
extern "C" fn free_overflow(p: *mut u8, st: *mut ThreadState, c: usize) {
    // SAFETY: the state belongs to this thread.
    let t = unsafe { &mut *st };
    if t.busy != 0 {
        // A slow path of this thread is running and may be working on the slot lists:
        // the global path's free, valid for any slot.
        return free_slow(p, true);
    }
    t.busy = 1;
    t.classes |= 1 << c;
    let m = &mut t.mags[c];
    if m.drain_half(&t.owned[c]) != 0 {
        t.drains += 1;
    }
    m.push(p);
    // The drain's event, class record and thread record are published from the next
    // interval drain (see `magazine`): publishing every overflow flooded the ring.
    t.busy = 0;
    t.free_budget -= 1;
    if t.free_budget == 0 {
        interval_drain(st);
    }
    after_slow_path(false);
}

/// The interval drain, due when the free budget runs out.
#[cold]
#[inline(never)]
extern "C" fn interval_drain(st: *mut ThreadState) {
    // SAFETY: the state belongs to this thread.
    let t = unsafe { &mut *st };
    if t.busy != 0 {
        t.free_budget = 1;
        return;
    }
    ensure_published();
    t.busy = 1;
    if control::poll() {
        thread::drain_all(t, DrainReason::Requested);
    } else {
        thread::drain_idle(t);
    }
    // A `sample=` just polled (here or by another thread) restarts this countdown.
    sample::follow(&mut t.hot.sample_left);
    t.busy = 0;
    crate::trace::after_interval();
}

/// Every free the fast path did not finish: remote frees, sampled blocks, large
/// allocations, the global path, and what is not a block at all.
#[cold]
#[inline(never)]
extern "C" fn free_slow(p: *mut u8, publish_default: bool) {
    free_slow_inner(p, publish_default);
    after_slow_path(false);
}

#[inline(always)]
fn free_slow_inner(p: *mut u8, publish_default: bool) {
    if p.is_null() {
        return;
    }
    init(publish_default);
    let a = p as usize;
    if let Some((ss, w)) = superslab::lookup(a) {
        let (state, c) = (meta_state(w), meta_class(w));
        if (state == ACTIVE || state == SAMPLED) && is_block_start(a % SLOT_BYTES, c) {
            if state == SAMPLED {
                sample::on_free(p);
                // SAFETY: `p` is a block start of a sampled slot of class `c`, given up by
                // the caller.
                return unsafe { sampled_slots::give_back(c, p, sample::enabled()) };
            }
            let s = &ss.slots[(a - ss.base()) / SLOT_BYTES];
            return free_block_slow(s, p, c, w, publish_default);
        }
        // A header address, an interior pointer or a block of a slot that holds none:
        // nothing to give back.
        return crate::foreign::foreign_free(p);
    }
    sample::on_free_large(p);
    if large::free(p) {
        return;
    }
    crate::foreign::foreign_free(p)
}

/// A block of an ACTIVE slot that the fast path did not take: a remote free, an owner
/// free without usable thread state (during the thread's exit or a slow path), or a
/// free before the thread has a state.
fn free_block_slow(s: &crate::slot::Slot, p: *mut u8, c: usize, w: u64, pd: bool) {
    let Some(st) = usable_state() else {
        // SAFETY: `p` is a block start of `s` that the caller gives up (a container of
        // itself alone); a remote push is valid whoever holds the slot.
        unsafe {
            crate::slot::single_container(p as usize);
            s.push_remote(p as usize, p as usize, 1);
        }
        // The block stays in the class's `out` until the slot's holder collects it.
        add(&CLASSES[c].frees, 1);
        add(&CLASSES[c].remote_frees, 1);
        return;
    };
    // SAFETY: the state belongs to this thread and no slow path of it runs.
    let t = unsafe { &mut *st };
    if owned_offset(w, t.hot.key).is_some() {
        // The owner, with its state created just now (the fast path saw none).
        // SAFETY: the caller's contract.
        return unsafe { free(p, pd) };
    }
    t.classes |= 1 << c;
    // Counted as a free here; the block leaves the class's `out` when the slot's holder
    // collects it.
    t.mags[c].remote_frees += 1;
    // SAFETY: `p` is a live block start of `s` that the caller gives up.
    unsafe { t.remote.add(s, p as usize, block_size(c)) };
    t.free_budget -= 1;
    if t.free_budget == 0 {
        interval_drain(st);
    }
}

/// Usable bytes of the allocation at `p`, `None` when `p` is not ours.
pub fn usable_size(p: *const u8) -> Option<usize> {
    let a = p as usize;
    if let Some((_, w)) = superslab::lookup(a) {
        let (state, c) = (meta_state(w), meta_class(w));
        let live = (state == ACTIVE || state == SAMPLED) && is_block_start(a % SLOT_BYTES, c);
        return live.then(|| block_size(c));
    }
    if p.is_null() {
        return None;
    }
    large::usable_size(p)
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
    let Some(old) = usable_size(p) else {
        TOTALS.foreign_frees.fetch_add(1, Ordering::Relaxed);
        return core::ptr::null_mut();
    };
    let aligned = (p as usize).is_multiple_of(align);
    if aligned && new_size <= old && (new_size > old / 2 || old <= MIN_ALIGN) {
        return p;
    }
    let is_large = superslab::lookup(p as usize).is_none();
    if is_large && aligned && new_size > SMALL_MAX && align <= crate::pal::page_size() {
        // A sampled block ends its sample here: the mapping may move, and its size changes.
        sample::on_free_large(p);
        if let Some(q) = large::remap(p, new_size) {
            return q;
        }
    }
    let q = alloc(new_size, align, pd);
    if q.is_null() {
        return q;
    }
    // SAFETY: both blocks are ours, distinct, and at least min(old, new_size) long.
    unsafe { core::ptr::copy_nonoverlapping(p, q, old.min(new_size)) };
    // SAFETY: `p` is a live allocation the caller gives up.
    unsafe { free(p, pd) };
    q
}

/// Drains the calling thread's magazines and folds its counters.
pub fn drain_thread() {
    init(true);
    ensure_published();
    if let Some(st) = thread::current() {
        // SAFETY: the state belongs to this thread.
        let t = unsafe { &mut *st };
        if t.busy == 0 {
            t.busy = 1;
            thread::drain_all(t, DrainReason::Requested);
            t.busy = 0;
        }
    }
    after_slow_path(false);
}
