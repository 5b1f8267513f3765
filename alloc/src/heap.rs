//! The allocation and free paths: an `#[inline(always)]` fast path per operation (a
//! thread-local magazine pop or push and plain thread-local counters: no shared atomics,
//! no system calls) and one `#[cold]` slow path behind it.
//!
//! The slow paths refill and drain magazines, fold counters, publish, and fall back to
//! the *global path* (one block straight from or to its slot, shared counters) whenever
//! the calling thread has no usable state: before its state exists, while it is being
//! created, after the thread's exit drain, or when a slow path re-enters itself.

use core::sync::atomic::Ordering;

use slabscope_proto::DrainReason;

use crate::size_class::{block_size, class_for, class_of, MIN_ALIGN, SMALL_MAX};
use crate::slot::ACTIVE;
use crate::stats::{add, CLASSES, TOTALS};
use crate::superslab::{self, SLOT_BYTES};
use crate::thread::{self, ThreadState, NO_THREAD};
use crate::{classes, control, fork, large, options, publish, sample, sampled_slots};

/// Allocates `size` bytes aligned to `align` (a power of two); null when out of memory.
/// `publish_default` is the calling binary's default for publishing, used only by the
/// very first slow path of the process.
#[inline(always)]
pub fn alloc(size: usize, align: usize, publish_default: bool) -> *mut u8 {
    if size <= SMALL_MAX && align <= MIN_ALIGN {
        let c = class_of(size);
        if let Some(st) = thread::current() {
            // SAFETY: the state belongs to this thread and no slow path of it is running
            // a magazine operation (slow paths never call back into a fast path).
            let t = unsafe { &mut *st };
            // The sampling countdown: u64::MAX when sampling is off, so never taken.
            if t.sample_left <= size as u64 {
                return alloc_sampled(st, size, align, publish_default);
            }
            t.sample_left -= size as u64;
            if let Some(p) = t.mags[c].pop() {
                return p;
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
        publish::ensure();
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
    if let Some(ss) = superslab::lookup(a) {
        let cs = ss.slots[(a - ss.base()) / SLOT_BYTES]
            .class_state
            .load(Ordering::Relaxed);
        // A sampled slot (only sampled blocks) has its SAMPLED bit set and fails this test.
        if cs >> 8 == ACTIVE {
            // SAFETY: the caller's contract.
            return unsafe { free_block(p, (cs & 0xff) as usize, publish_default) };
        }
    }
    free_other(p, publish_default)
}

/// Frees `p`, a live block of class `c` in an ACTIVE slot: into the calling thread's
/// magazine, or through the slow path.
///
/// # Safety
/// `p` must be a live block of class `c` that the caller gives up.
#[inline(always)]
unsafe fn free_block(p: *mut u8, c: usize, publish_default: bool) {
    if let Some(st) = thread::current() {
        // SAFETY: the state belongs to this thread (see `alloc`).
        let t = unsafe { &mut *st };
        let m = &mut t.mags[c];
        if m.count < m.cap {
            // SAFETY: count < cap <= MAGAZINE_MAX.
            unsafe { *m.blocks.get_unchecked_mut(m.count as usize) = p };
            m.count += 1;
            m.frees += 1;
            t.free_budget -= 1;
            if t.free_budget != 0 {
                return;
            }
            return interval_drain(st);
        }
    }
    free_slab_slow(p, c, publish_default)
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
    unsafe { (*st).sample_left = sample::restart() };
    // SAFETY: as above.
    if unsafe { (*st).busy } != 0 {
        return alloc_slow(size, align, pd);
    }
    init(pd);
    publish::ensure();
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
        // request may still be served, unsampled, from the magazine or a partial slot;
        // the pending OOM report is settled by that slow path.
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

/// The calling thread's state if a slow path may use its magazines now.
fn usable_state() -> Option<*mut ThreadState> {
    let st = match thread::raw_current() {
        0 => thread::get_or_create()?,
        thread::BUSY | thread::GONE => return None,
        p => p as *mut ThreadState,
    };
    // SAFETY: the state belongs to this thread.
    (unsafe { (*st).busy } == 0).then_some(st)
}

/// Work deferred to the end of every slow path, when no allocator lock is held: the
/// OOM report of a failed allocation (`failed`: the slow path was an allocation that
/// returned null) and the debug-tracing output; one relaxed load each when there is
/// nothing to do.
#[inline]
fn after_slow_path(failed: bool) {
    crate::oom_report::flush(failed);
    crate::trace::flush();
}

/// The large path (zeroed memory when `zeroed`), with its sampling hook.
fn alloc_large(size: usize, align: usize, zeroed: bool) -> *mut u8 {
    let p = large::alloc(size, align, zeroed);
    if sample::enabled() && !p.is_null() {
        sample_large(p, size);
    }
    p
}

#[cold]
#[inline(never)]
fn alloc_slow(size: usize, align: usize, publish_default: bool) -> *mut u8 {
    let p = alloc_slow_inner(size, align, publish_default);
    after_slow_path(p.is_null());
    p
}

#[inline(always)]
fn alloc_slow_inner(size: usize, align: usize, publish_default: bool) -> *mut u8 {
    init(publish_default);
    publish::ensure();
    let Some(c) = class_for(size, align) else {
        return alloc_large(size, align, false);
    };
    let Some(st) = usable_state() else {
        return global_alloc(c, size, align);
    };
    // SAFETY: the state belongs to this thread and `busy` keeps nested slow paths off it.
    let t = unsafe { &mut *st };
    let index = t.index;
    let m = &mut t.mags[c];
    if let Some(p) = m.pop() {
        return p;
    }
    t.busy = 1;
    sample::follow(&mut t.sample_left);
    let p = if m.refill(c, index, size) {
        m.pop().unwrap_or(core::ptr::null_mut())
    } else {
        core::ptr::null_mut()
    };
    let _ = m.fold(c);
    publish::class(c);
    publish::thread_magazine(t, c);
    t.busy = 0;
    p
}

/// Runs the sampling countdown for a large allocation (they never pass the fast path).
fn sample_large(p: *mut u8, size: usize) {
    let Some(st) = usable_state() else {
        return;
    };
    // SAFETY: the state belongs to this thread and no slow path of it runs (`busy` 0).
    let t = unsafe { &mut *st };
    sample::follow(&mut t.sample_left);
    if t.sample_left > size as u64 {
        t.sample_left -= size as u64;
        return;
    }
    t.sample_left = sample::restart();
    t.busy = 1;
    sample::record(p, size);
    t.busy = 0;
}

fn global_alloc(c: usize, size: usize, _align: usize) -> *mut u8 {
    let mut one = [core::ptr::null_mut(); 1];
    if classes::refill(c, &mut one, NO_THREAD, size) == 0 {
        return core::ptr::null_mut();
    }
    add(&CLASSES[c].allocs, 1);
    publish::class(c);
    one[0]
}

#[cold]
#[inline(never)]
fn free_slab_slow(p: *mut u8, c: usize, publish_default: bool) {
    free_slab_slow_inner(p, c, publish_default);
    after_slow_path(false);
}

#[inline(always)]
fn free_slab_slow_inner(p: *mut u8, c: usize, publish_default: bool) {
    init(publish_default);
    publish::ensure();
    let Some(st) = usable_state() else {
        classes::give_back(c, &mut [p], NO_THREAD);
        add(&CLASSES[c].frees, 1);
        publish::class(c);
        return;
    };
    // SAFETY: the state belongs to this thread and `busy` keeps nested slow paths off it.
    let t = unsafe { &mut *st };
    t.busy = 1;
    let index = t.index;
    let m = &mut t.mags[c];
    let n = m.drain_half(c, index);
    m.blocks[m.count as usize] = p;
    m.count += 1;
    m.frees += 1;
    let _ = m.fold(c);
    if n != 0 {
        t.drains += 1;
    }
    // The drain's event, class record and thread record are published from the next
    // interval drain (see `magazine`): publishing every overflow flooded the ring.
    t.busy = 0;
    t.free_budget -= 1;
    if t.free_budget == 0 {
        interval_drain(st);
    }
}

#[cold]
#[inline(never)]
fn interval_drain(st: *mut ThreadState) {
    // SAFETY: the state belongs to this thread.
    let t = unsafe { &mut *st };
    if t.busy != 0 {
        t.free_budget = 1;
        return;
    }
    publish::ensure();
    t.busy = 1;
    if control::poll() {
        thread::drain_all(t, DrainReason::Requested);
    } else {
        thread::drain_idle(t);
    }
    // A `sample=` just polled (here or by another thread) restarts this countdown.
    sample::follow(&mut t.sample_left);
    t.busy = 0;
    crate::trace::after_interval();
}

#[cold]
#[inline(never)]
fn free_other(p: *mut u8, publish_default: bool) {
    free_other_inner(p, publish_default);
    after_slow_path(false);
}

#[inline(always)]
fn free_other_inner(p: *mut u8, publish_default: bool) {
    if p.is_null() {
        return;
    }
    init(publish_default);
    if let Some(c) = sampled_slots::class_of(p) {
        sample::on_free(p);
        // SAFETY: `p` is a live block of a sampled slot of class `c`, given up by the caller.
        return unsafe { sampled_slots::give_back(c, p, sample::enabled()) };
    }
    sample::on_free_large(p);
    if large::free(p) {
        return;
    }
    TOTALS.foreign_frees.fetch_add(1, Ordering::Relaxed);
    publish::foreign_free();
}

/// Usable bytes of the allocation at `p`, `None` when `p` is not ours.
pub fn usable_size(p: *const u8) -> Option<usize> {
    let a = p as usize;
    if let Some(ss) = superslab::lookup(a) {
        if a - ss.base() < superslab::HEADER_BYTES {
            return None;
        }
        let s = &ss.slots[(a - ss.base()) / SLOT_BYTES];
        return (s.state() == ACTIVE).then(|| block_size(s.class()));
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
    let aligned = p as usize % align == 0;
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
    publish::ensure();
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
