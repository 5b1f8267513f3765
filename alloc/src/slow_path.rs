//! The mechanism's slow paths, below the front end and the checked paths: refills and
//! drains of magazines, folds of counters, publishing, the sampled and large paths, the
//! remote free, and the *global path* (`unowned`: one block from or to an unowned slot,
//! shared counters) whenever the calling thread has no usable state: before its state
//! exists, while it is being created, after the thread's exit drain, or when a slow path
//! re-enters itself.
//!
//! The slow paths a fast path calls are `extern "C"` functions: they cannot unwind (a
//! panic in them aborts, as an allocator must), so a fast path calls them as a tail call
//! and keeps no stack frame or landing pad of its own.

use core::sync::atomic::Ordering;

use slabscope_proto::{coarse_monotonic_ns, monotonic_ns, DrainReason};

use crate::size_class::{block_size, class_for, class_of, is_block_start, MIN_ALIGN, SMALL_MAX};
use crate::slot::{active_block_class, meta_class, meta_state, owned_offset, ACTIVE, SAMPLED};
use crate::stats::{add, CLASSES};
use crate::superslab::{self, SuperSlab, SLOT_BYTES};
use crate::thread::{self, ThreadState};
use crate::{control, fork, large, options, pagemap, publish, sample, sampled_slots, unowned};

/// Every allocation the fast path did not serve: the sampled path, a refill, the large
/// path, aligned requests, the global path.
#[inline(always)]
pub fn alloc_miss(size: usize, align: usize, publish_default: bool) -> *mut u8 {
    if align <= MIN_ALIGN && size <= SMALL_MAX {
        if let Some(st) = thread::current() {
            // SAFETY: the state belongs to this thread; no reference to it is held.
            let t = unsafe { &mut *st };
            if t.hot.sample_left <= size as u64 {
                return alloc_sampled(st, size, size, align, publish_default);
            }
            // The global allocator's pop stops at the low-water mark (see
            // `Magazine::pop`); the magazine may still hold blocks. No magazine
            // operation of this thread runs (as on the fast path).
            if let Some(p) = t.mags[class_of(size)].take() {
                return p.as_ptr();
            }
        }
    }
    alloc_slow(size, align, publish_default)
}

/// An allocation of `size` bytes by the checked path, which the fast path never serves,
/// for a request of `requested` bytes (what a sample records): charges the sampling
/// countdown as the fast path would, then takes [`alloc_miss`].
pub fn alloc_counted(
    size: usize,
    requested: usize,
    align: usize,
    publish_default: bool,
) -> *mut u8 {
    if align <= MIN_ALIGN && size <= SMALL_MAX {
        if let Some(st) = thread::current() {
            // SAFETY: the state belongs to this thread; no reference to it is held.
            let t = unsafe { &mut *st };
            if sample::charge(&mut t.hot.sample_left, size as u64) {
                return alloc_sampled(st, size, requested, align, publish_default);
            }
            // No magazine operation of this thread runs (as on the fast path).
            if let Some(p) = t.mags[class_of(size)].take() {
                return p.as_ptr();
            }
            return alloc_slow(size, align, publish_default);
        }
    }
    alloc_miss(size, align, publish_default)
}

/// The sampled path: taken when the calling thread's sampling countdown runs out (a
/// small request at most `MIN_ALIGN` aligned). The block comes from a sampled slot of
/// its class (`sampled_slots`), so that its free is told apart without a cost to other
/// frees; its call stack is then recorded (with the re-entrancy guard set, so
/// allocations made while recording take the global path). `requested` is what the
/// sample records (the request without the checked mode's trailer).
#[cold]
#[inline(never)]
fn alloc_sampled(
    st: *mut ThreadState,
    size: usize,
    requested: usize,
    align: usize,
    pd: bool,
) -> *mut u8 {
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
        sample::record(p, requested);
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
pub fn init(publish_default: bool) {
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
pub fn ensure_published() {
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
pub fn after_slow_path(failed: bool) {
    if failed && crate::oom::pending() {
        // The segment keeps the report: made now if `SLABSCOPE_PUBLISH_AFTER_MS` put it
        // off, with the SuperSlabs mapped before it, so that the fold below publishes the
        // thread's record into it.
        if publish::segment().is_some() {
            ensure_published();
        }
        fold_before_report();
    }
    crate::oom_report::flush(failed);
    crate::trace::flush(thread::trace_turn);
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

/// The large path (zeroed memory when `zeroed`), with its sampling hook, for a request
/// of `requested` bytes (what a sample records; `size` without the checked mode's
/// trailer).
pub fn alloc_large(size: usize, requested: usize, align: usize, zeroed: bool) -> *mut u8 {
    let p = large::alloc(size, align, zeroed);
    if sample::enabled() && !p.is_null() {
        sample_large(p, requested);
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
        return alloc_large(size, size, align, false);
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
    thread::before_refill(t, c);
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
    // The coarse clock: a refill comes every few dozen allocations of a busy thread, and
    // the precise one cost 2 % of glibc's bench-malloc-simple. It is behind the fold's
    // precise time by at most a tick, so the difference saturates at 0.
    let stale = coarse_monotonic_ns().saturating_sub(t.fold_ns) >= thread::FOLD_NS;
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
    if !sample::charge(&mut t.hot.sample_left, size as u64) {
        return;
    }
    t.hot.sample_left = sample::restart();
    t.busy = 1;
    sample::record(p, size);
    t.busy = 0;
}

/// The owner's free into a full magazine: a magazine still in its starter cells moves
/// to its own (`thread::grow_magazine`), any other gives its older half back to the
/// thread's slots; then `p` goes in.
#[cold]
#[inline(never)]
pub extern "C" fn free_overflow(p: *mut u8, st: *mut ThreadState, c: usize) {
    // SAFETY: the state belongs to this thread.
    let t = unsafe { &mut *st };
    if t.busy != 0 {
        // A slow path of this thread is running and may be working on the slot lists:
        // the global path's free, valid for any slot.
        return free_slow(p, true);
    }
    t.busy = 1;
    t.classes |= 1 << c;
    // A magazine in its starter cells moves to its own instead of draining.
    if !thread::grow_magazine(t, c) && t.mags[c].drain_half(&t.owned[c]) != 0 {
        t.drains += 1;
    }
    t.mags[c].push(p);
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
pub extern "C" fn interval_drain(st: *mut ThreadState) {
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
    crate::trace::after_interval(thread::trace_turn);
}

/// Every free the fast path did not finish: remote frees, sampled blocks, large
/// allocations, the global path, and what is not a block at all.
#[cold]
#[inline(never)]
pub extern "C" fn free_slow(p: *mut u8, publish_default: bool) {
    free_slow_inner(p, publish_default);
    after_slow_path(false);
}

#[inline(always)]
pub fn free_slow_inner(p: *mut u8, publish_default: bool) {
    if p.is_null() {
        return;
    }
    init(publish_default);
    let a = p as usize;
    if let Some((ss, w)) = superslab::lookup(a) {
        let (state, c) = (meta_state(w), meta_class(w));
        if (state == ACTIVE || state == SAMPLED) && is_block_start(a % SLOT_BYTES, c) {
            return free_block(ss, p, w);
        }
        // A header address, an interior pointer or a block of a slot that holds none:
        // nothing to give back.
        return crate::foreign::foreign_free(p);
    }
    free_large(p)
}

/// Frees `p`, a block start of an ACTIVE or SAMPLED slot of `ss` whose meta word was `w`
/// (read after the caller's block was handed out: the slot keeps that state while the
/// block is out), given up by the caller.
pub fn free_block(ss: &SuperSlab, p: *mut u8, w: u64) {
    let (state, c) = (meta_state(w), meta_class(w));
    if state == SAMPLED {
        sample::on_free(p);
        // SAFETY: `p` is a block start of a sampled slot of class `c`, given up by the
        // caller.
        return unsafe { sampled_slots::give_back(c, p, sample::enabled()) };
    }
    free_block_slow(ss.slot_of(p as usize), p, c, w)
}

/// Frees `p` if it is a large allocation of ours (ending its sample), else counts it as
/// a foreign free.
pub fn free_large(p: *mut u8) {
    sample::on_free_large(p);
    if large::free(p) {
        return;
    }
    crate::foreign::foreign_free(p)
}

/// A block of an ACTIVE slot that the fast path did not take: a remote free, an owner
/// free without usable thread state (during the thread's exit or a slow path), or a
/// free before the thread has a state.
fn free_block_slow(s: &crate::slot::Slot, p: *mut u8, c: usize, w: u64) {
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
        // The owner: its state was created just now (the fast path saw none), or this is
        // the checked path.
        return owner_free(st, p, c);
    }
    remote_free(st, s, p as usize, c);
}

/// A free the owner's fast path did not take although the calling thread has a state
/// (`st`) whose view of the pagemap covers `p` (meta word `w`, loaded `Relaxed`; 0 when
/// no SuperSlab of ours lies there: null, large and foreign pointers): a block start of
/// an ACTIVE slot another thread owns joins the thread's remote batch without the rest
/// of the slow path; null returns; anything else (a large or foreign pointer, a sampled
/// block, an interior or header address, a block of an EMPTY slot, a free while a slow
/// path of the thread runs) takes [`free_slow`]. In check mode only for a block leaving
/// a quarantine (checked at its free): the record the thread-local word points at then
/// has an empty view.
#[cold]
#[inline(never)]
pub extern "C" fn free_other(p: *mut u8, st: *mut ThreadState, w: u64, publish_default: bool) {
    let a = p as usize;
    // SAFETY: the state belongs to this thread.
    let busy = unsafe { (*st).busy } != 0;
    let Some(c) = active_block_class(w, a % SLOT_BYTES).filter(|_| !busy) else {
        // `free(NULL)` comes here too (no SuperSlab at 0), and often: done at once.
        if !p.is_null() {
            free_slow(p, publish_default);
        }
        return;
    };
    // Pairs with the pagemap's `Release` after the SuperSlab header was initialised
    // (the word was loaded `Relaxed`): the slot record below is read initialised.
    core::sync::atomic::fence(Ordering::Acquire);
    // SAFETY: the word was non-zero (ACTIVE) and the fence above follows its load; the
    // caller's block keeps its slot ACTIVE and the SuperSlab mapped meanwhile.
    let s = unsafe { superslab::containing(a) }.slot_of(a);
    // SAFETY: the state belongs to this thread and no slow path of it runs; `p` is a
    // live block start of `s`, which another thread owns, that the caller gives up.
    if !unsafe { (*st).remote.try_add(s, a) } {
        return remote_free(st, s, a, c);
    }
    charge_free(st);
}

/// A remote free of `a`, a block of class `c` of slot `s`, by the calling thread (state
/// `st`, no slow path of it running), when the open batch of `s` did not take it as an
/// address (`RemoteBatch::try_add`): the class is marked used and the thread's batches
/// pending, so that the folds visit the class and push the batches and count their
/// blocks (`thread::push_remote_batches`).
#[cold]
#[inline(never)]
fn remote_free(st: *mut ThreadState, s: &crate::slot::Slot, a: usize, c: usize) {
    // SAFETY: the state belongs to this thread and no slow path of it runs.
    let t = unsafe { &mut *st };
    t.classes |= 1 << c;
    t.remote_pending = true;
    // SAFETY: the caller gives up `a`, a live block start of `s` (class `c`), a slot
    // the calling thread does not hold.
    unsafe { t.remote.add(s, a, c) };
    charge_free(st);
}

/// Charges a free to the calling thread's free budget (state `st`, no slow path of it
/// running): the interval drain is due when it runs out.
#[inline(always)]
fn charge_free(st: *mut ThreadState) {
    // SAFETY: the state belongs to this thread and no slow path of it runs.
    let t = unsafe { &mut *st };
    t.free_budget -= 1;
    if t.free_budget == 0 {
        interval_drain(st);
    }
}

/// The owner's free of `p`, a block start of class `c` of a slot it owns, when the fast
/// path did not take it: into the magazine (draining its older half when full), the
/// free budget charged.
fn owner_free(st: *mut ThreadState, p: *mut u8, c: usize) {
    // SAFETY: the state belongs to this thread and no slow path of it runs.
    let t = unsafe { &mut *st };
    t.classes |= 1 << c;
    if !t.mags[c].push(p) {
        return free_overflow(p, st, c);
    }
    t.free_budget -= 1;
    if t.free_budget == 0 {
        interval_drain(st);
    }
}

/// Usable bytes of the allocation at `p`, `None` when `p` is not ours (unchecked).
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
