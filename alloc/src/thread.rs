//! Per-thread state: the magazines, owned slots, remote batch and plain counters of one
//! thread, behind a single thread-local pointer.
//!
//! The thread-local is one machine word (`pal::tls`: initial-exec TLS on x86_64 Linux,
//! a `const`-initialised `Cell` without `Drop` elsewhere), so touching it never registers
//! a TLS destructor (which would go through `__cxa_thread_atexit_impl`, which calls
//! `calloc`, which re-enters the allocator).
//! The state itself comes from a pool that reuses the states of exited threads: the
//! first one is a static ([`FIRST_STATE`], so that a process whose only thread
//! allocates maps none), the others are mmapped; its pool index is the thread's owner id
//! in slot meta words. Thread
//! exit is seen by a pthread key destructor, which drains every magazine, pushes the
//! remote batch, abandons the slots that still have blocks out and marks the
//! thread-local [`GONE`]: frees and allocations that come later on that thread (other
//! TLS destructors) take the global path. A reused state gets the same owner id, which
//! no slot carries any more.

use core::sync::atomic::{AtomicU32, AtomicUsize, Ordering};

use slabscope_proto::{monotonic_ns, DrainReason};

use crate::check::quarantine::Quarantine;
use crate::magazine::Magazine;
use crate::options::MAGAZINE_MAX;
use crate::owned::Owned;
use crate::pal::{self, tls::Hot, RawMutex};
use crate::publish::{self, ThreadRecord};
use crate::remote::RemoteBatch;
use crate::size_class::{magazine_capacity, CLASS_COUNT};
use crate::slot::{meta_class, owned_key, owned_offset, MAX_OWNER};
use crate::superslab::SLOT_BYTES;
use crate::trace::Turn;
use crate::{check, options, pagemap, superslab, unowned};

/// [`raw_current`] while the state is being created (nested calls use the global path).
pub const BUSY: usize = 1;
/// [`raw_current`] after the thread's exit drain (later calls use the global path).
pub const GONE: usize = 2;

/// One thread's allocator state. Only its thread touches it.
///
/// What the state's creation writes comes first (the hot record, the magazines' headers,
/// the scalars, the check mode's record), so that a new state's first stores fall in
/// its first two pages; the rest is touched as it is used, in the order a short
/// process's main thread comes to it: the owned-slot lists and the starter cells of the
/// smaller classes share the third page; then the remote batch (the folds and drains
/// read its bitmap of open entries, a thread that frees other threads' blocks writes
/// its entries), the own cells of the classes whose magazines grew, and last the
/// quarantine, used in check mode only.
#[repr(C)]
pub struct ThreadState {
    /// The key ([`owned_key`] of this thread) and the sampling countdown, first: the
    /// fast paths read them through the thread-local word, which points at an idle
    /// record of the same layout when the thread has no usable state ([`hot`]).
    pub hot: Hot,
    /// Frees (and refilled blocks) left before the next interval drain; never 0 between
    /// two calls. On the cache line of `hot`, which the free fast path reads anyway.
    pub free_budget: u64,
    /// Magazines, by class (a class's magazine is `class << CLASS_SHIFT` bytes into
    /// the array, [`magazine`]).
    pub mags: [Magazine; CLASS_COUNT],
    /// Bit `c` set: the thread refilled or freed blocks of class `c` since the bit was
    /// last cleared (an interval drain visits only these classes).
    pub classes: u64,
    /// Index of this state in the pool: the owner id in slot meta words.
    pub index: u32,
    /// The thread's record in the segment (the publishing sink's state).
    pub record: ThreadRecord,
    /// Non-zero while a slow path of this thread runs (re-entrancy guard).
    pub busy: u32,
    /// A remote batch was opened since the last [`push_remote_batches`]: set by every
    /// remote free that opens one (`slow_path::remote_free`). While it is clear the
    /// batch table is not read, so a thread that never frees another thread's block
    /// never touches its pages.
    pub remote_pending: bool,
    /// Drains performed.
    pub drains: u64,
    /// Frees performed (folded on drains).
    pub frees_total: u64,
    /// When the pending drain events were last published (monotonic ns).
    pub events_ns: u64,
    /// When the counters were last folded (monotonic ns; see [`FOLD_NS`]).
    pub fold_ns: u64,
    /// The activity word the thread last stamped for OOM reports (see
    /// `oom_report::touch`).
    stamped: u64,
    /// Where the next interval drain's sweep window starts (see [`SWEEP_CLASSES`]).
    pub sweep: u32,
    /// Interval drains since the last fold (see [`FOLD_INTERVALS`]).
    pub unfolded: u32,
    /// Pool free-list link.
    next_free: usize,
    /// Bit `c` set: class `c`'s magazine has its own cells ([`CELL_START`]): it outgrew
    /// its starter cells ([`grow_magazine`]), or its capacity fits in [`STARTER`].
    grown: u64,
    /// Bit `c` set: class `c`'s magazine refilled since the state was taken (a second
    /// refill grows it).
    primed: u64,
    /// Each class's magazine capacity in its own cells: what it grows to, and what is
    /// published as its capacity.
    full_cap: [u16; CLASS_COUNT],
    /// What the thread-local word points at in check mode (`SLABSCOPE_CHECK`): an idle
    /// record's values (a key no meta word matches, no bytes left before a sample, an
    /// empty view), so that every fast path misses and every call takes the checked
    /// path; [`raw_current`] maps its address back to the state. Its view must stay
    /// empty (see `Hot::map_len`).
    checked: Hot,
    /// The thread's slots, by class.
    pub owned: [Owned; CLASS_COUNT],
    /// The starter cells: class `c`'s [`STARTER`] from `c * STARTER`, where its magazine
    /// starts out when its capacity is larger.
    starter: [*mut u8; CLASS_COUNT * STARTER],
    /// Remote frees not pushed yet.
    pub remote: RemoteBatch,
    /// The magazines' own cells: class `c`'s from [`CELL_START`]`[c]`.
    cells: [*mut u8; CELLS],
    /// Check mode: the small blocks this thread freed last, not given back yet.
    pub quarantine: Quarantine,
}

/// Where each class's magazine cells start among a thread's cells: the capacities at the
/// largest `SLABSCOPE_MAGAZINE` end to end (the largest class needs 4 cells where the
/// smallest needs 512): about 74 KiB of cells a state, where a square array of 512 a
/// class would take 240 KiB (and 128-block magazines took 60).
const CELL_START: [usize; CLASS_COUNT + 1] = {
    let mut start = [0; CLASS_COUNT + 1];
    let mut c = 0;
    while c < CLASS_COUNT {
        start[c + 1] = start[c] + magazine_capacity(c, MAGAZINE_MAX);
        c += 1;
    }
    start
};
/// Cells of every magazine of a thread.
const CELLS: usize = CELL_START[CLASS_COUNT];

/// Cells a magazine of a larger capacity starts with, side by side with every other
/// class's in [`ThreadState::starter`]; it moves to its own cells at its first overflow
/// or its second refill ([`grow_magazine`]). The own cells of the classes up to 128 B
/// are 512 cells (4 KiB) each, and those of the next ones hundreds, so a process that
/// uses twenty classes a little, as most programs do at start, touched a page of cells
/// for most of them in each thread; the starter cells of all classes are two pages.
pub const STARTER: usize = 16;
const _: () = assert!(CELLS * core::mem::size_of::<*mut u8>() <= 76 << 10);

const _: () = assert!(CLASS_COUNT <= 64);
// The free fast path reads `hot` and writes `free_budget`: one cache line.
const _: () = assert!(core::mem::offset_of!(ThreadState, free_budget) < 64);
// What the creation writes (everything before `owned`) lies in the state's first two
// pages.
const _: () = assert!(core::mem::offset_of!(ThreadState, owned) <= 2 * 4096);
// The starter cells of the first eight classes lie on the third page, with the owned
// lists.
const _: () = assert!(
    core::mem::offset_of!(ThreadState, starter) + 8 * STARTER * core::mem::size_of::<*mut u8>()
        <= 3 * 4096
);

/// What the fast paths read first: the calling thread's state, or an idle record
/// (`pal::tls::IDLE`) whose key matches no meta word, whose countdown is 0 and whose
/// view of the pagemap is empty. Always readable as a [`Hot`]; it is a state exactly
/// when the compare a fast path makes first passes.
#[inline(always)]
pub fn hot() -> *const Hot {
    pal::tls::get() as *const Hot
}

/// The magazine `off` bytes into `st`'s magazines.
///
/// # Safety
/// `st` is the calling thread's state, `off` is `class << CLASS_SHIFT` for a class
/// (< `CLASS_COUNT`), and no other reference to that magazine is live.
#[inline(always)]
pub unsafe fn magazine<'a>(st: *mut ThreadState, off: usize) -> &'a mut Magazine {
    // SAFETY: magazines are `1 << CLASS_SHIFT` bytes (asserted in `magazine`), so `off`
    // is the start of class `off >> CLASS_SHIFT`'s magazine inside the array; the
    // caller guarantees the state and the exclusivity.
    unsafe {
        &mut *(&raw mut (*st).mags)
            .cast::<u8>()
            .add(off)
            .cast::<Magazine>()
    }
}

/// The calling thread's state, or `None` (not created yet, being created, or gone).
#[inline(always)]
pub fn current() -> Option<*mut ThreadState> {
    let p = raw_current();
    (p > GONE).then_some(p as *mut ThreadState)
}

/// What the owner's free fast path ([`free_owned`]) did with a block.
pub enum OwnerFree {
    /// Pushed into the thread's magazine; nothing else is due.
    Pushed,
    /// Pushed, and the interval drain of the state is due.
    DrainDue(*mut ThreadState),
    /// Not pushed: the magazine of class `.1` of the state is full.
    Full(*mut ThreadState, usize),
    /// Not a block of a slot the thread of `h` owns, though its view of the pagemap
    /// covers the address (meta word `.1`; 0 when no SuperSlab lies there: null, large
    /// and foreign pointers): a remote free when it is a block start of an ACTIVE slot
    /// (see `slow_path::free_other`).
    Other(*mut ThreadState, u64),
    /// Not a block start of an ACTIVE slot the thread of `h` owns: a slow path's work.
    NotOwned,
}

/// The owner's free: pushes `p` into the magazine of the thread whose hot record is `h`
/// when `p` is a block start of an ACTIVE slot that thread owns (one load from the
/// thread's view of the pagemap, compared with its key). The front end's free fast path
/// (`h` from the thread-local word) and the checked free's release of a quarantined
/// block (`h` of the thread's own state) both go through here.
///
/// # Safety
/// `h` is the calling thread's hot record (its state's or an idle one's), and no
/// magazine operation of that thread is running.
#[inline(always)]
pub unsafe fn free_owned(h: *const Hot, p: *mut u8) -> OwnerFree {
    let a = p as usize;
    // The slot's meta word from the thread's view of the pagemap: 0 when `p` lies in no
    // SuperSlab of ours, which no key matches; `None` beyond the view (an idle record's
    // is empty).
    // SAFETY: the caller's contract: `h` is readable, and its view is one
    // `pagemap::view` gave, or empty.
    let Some(w) = (unsafe { pagemap::meta_in((*h).map_words, (*h).map_len, a) }) else {
        return OwnerFree::NotOwned;
    };
    // Only a state's view holds words (an idle record's is empty): `st` is this thread's
    // state.
    let st = h.cast_mut().cast::<ThreadState>();
    // SAFETY: as above.
    let Some(off) = owned_offset(w, unsafe { (*h).key }) else {
        return OwnerFree::Other(st, w);
    };
    // SAFETY: `off` comes from the meta word of an ACTIVE slot this thread owns, which
    // holds its class's offset; no other reference to the magazine is live (the
    // caller's contract).
    let m = unsafe { magazine(st, off) };
    if !m.is_block_start(a % SLOT_BYTES) {
        return OwnerFree::NotOwned;
    }
    if !m.push(p) {
        return OwnerFree::Full(st, meta_class(w));
    }
    // SAFETY: `st` is this thread's state; only the budget field is written.
    unsafe {
        (*st).free_budget -= 1;
        if (*st).free_budget != 0 {
            return OwnerFree::Pushed;
        }
    }
    OwnerFree::DrainDue(st)
}

/// Whether the calling thread may run the trace subscriber now (it allocates): not
/// while its state is being created ([`BUSY`]: the slow path around it flushes), never
/// once it is gone ([`GONE`]).
pub fn trace_turn() -> Turn {
    match raw_current() {
        BUSY => Turn::Later,
        GONE => Turn::Never,
        _ => Turn::Now,
    }
}

/// The thread-local value: `0` (no state yet), [`BUSY`], [`GONE`], or a state address.
#[inline(always)]
pub fn raw_current() -> usize {
    let v = pal::tls::get();
    match pal::tls::idle_index(v) {
        Some(k) => k,
        None if check::on() => v - CHECKED_OFFSET,
        None => v,
    }
}

/// Where a state's check-mode record lies in it.
const CHECKED_OFFSET: usize = core::mem::offset_of!(ThreadState, checked);

/// Sets the thread-local value (as [`raw_current`] reads it): in check mode a state's
/// address is stored as the address of its check-mode record.
fn set_current(v: usize) {
    pal::tls::set(match v {
        0..=GONE => pal::tls::idle(v),
        _ if check::on() => v + CHECKED_OFFSET,
        _ => v,
    });
}

/// The state of pool index 0, the process's first thread (zero, a valid state, until
/// handed out). Page-aligned like a mapped state, whose layout keeps the cells a start
/// touches on few pages.
#[repr(C, align(4096))]
struct FirstState(core::cell::UnsafeCell<core::mem::MaybeUninit<ThreadState>>);

// SAFETY: the state is handed out once, under POOL_LOCK, and from then on owned and
// shared exactly as a mapped state is.
unsafe impl Sync for FirstState {}

static FIRST_STATE: FirstState =
    FirstState(core::cell::UnsafeCell::new(core::mem::MaybeUninit::zeroed()));

static POOL_LOCK: RawMutex = RawMutex::new();
static POOL_FREE: AtomicUsize = AtomicUsize::new(0);
static POOL_NEXT_INDEX: AtomicU32 = AtomicU32::new(0);
static KEY: AtomicUsize = AtomicUsize::new(usize::MAX);

/// The pool lock (for `fork` handlers).
pub fn pool_lock() -> &'static RawMutex {
    &POOL_LOCK
}

fn state_bytes() -> usize {
    let p = pal::page_size();
    (core::mem::size_of::<ThreadState>() + p - 1) & !(p - 1)
}

/// Creates the calling thread's state if it has none and may have one. Returns it, or
/// `None` when the thread must use the global path.
#[cold]
pub fn get_or_create() -> Option<*mut ThreadState> {
    if raw_current() != 0 {
        return current();
    }
    set_current(BUSY);
    let st = take_from_pool();
    let Some(st) = st else {
        set_current(0);
        return None;
    };
    let key = key();
    if key != usize::MAX {
        // May call calloc for high keys: the thread-local is BUSY, so that nests safely.
        pal::key_set(key as libc::pthread_key_t, st.cast());
    }
    set_current(st as usize);
    Some(st)
}

fn take_from_pool() -> Option<*mut ThreadState> {
    let opts = options::get();
    let st = {
        let _g = POOL_LOCK.guard();
        let head = POOL_FREE.load(Ordering::Relaxed);
        if head != 0 {
            let st = head as *mut ThreadState;
            // SAFETY: pool entries are states of exited threads, owned by the pool.
            POOL_FREE.store(unsafe { (*st).next_free }, Ordering::Relaxed);
            st
        } else {
            if POOL_NEXT_INDEX.load(Ordering::Relaxed) > MAX_OWNER {
                // Every owner id a meta word can hold is a live thread's: this one takes
                // the global path.
                return None;
            }
            let st = if POOL_NEXT_INDEX.load(Ordering::Relaxed) == 0 {
                FIRST_STATE.0.get().cast::<ThreadState>()
            } else {
                pal::map(state_bytes(), false)?.cast::<ThreadState>()
            };
            let index = POOL_NEXT_INDEX.fetch_add(1, Ordering::Relaxed);
            // SAFETY: fresh zeroed memory (the static, handed out at index 0 only, or a
            // new mapping), exclusively ours; zero is a valid ThreadState.
            unsafe { (*st).index = index };
            st
        }
    };
    // SAFETY: the state was just taken from the pool (or mapped): the caller owns it.
    let t = unsafe { &mut *st };
    t.grown = 0;
    t.primed = 0;
    for c in 0..CLASS_COUNT {
        // `opts.magazine <= MAGAZINE_MAX`, and a capacity never grows with a lower limit:
        // the class's cells hold it.
        let cap = magazine_capacity(c, opts.magazine).min(CELL_START[c + 1] - CELL_START[c]);
        t.full_cap[c] = cap as u16;
        if cap > STARTER {
            let cells = t.starter[c * STARTER..].as_mut_ptr();
            t.mags[c].init(c, cells, STARTER);
        } else {
            let cells = own_cells(t, c);
            t.mags[c].init(c, cells, cap);
            t.grown |= 1 << c;
        }
    }
    t.hot.key = owned_key(t.index);
    t.checked = Hot::IDLE;
    (t.hot.map_words, t.hot.map_len) = crate::pagemap::view();
    t.classes = 0;
    t.events_ns = 0;
    t.fold_ns = 0;
    t.stamped = 0;
    t.sweep = 0;
    t.unfolded = 0;
    t.free_budget = opts.drain_interval;
    t.hot.sample_left = crate::sample::countdown();
    let tid = pal::gettid();
    pal::tls::set_tid(tid);
    superslab::note_owner_tid(t.index, tid);
    t.record = ThreadRecord::NONE;
    t.busy = 0;
    t.remote_pending = false;
    t.drains = 0;
    t.frees_total = 0;
    Some(st)
}

static KEY_STATE: AtomicU32 = AtomicU32::new(0);

/// The pthread key whose destructor drains an exiting thread (`usize::MAX` if none could
/// be created), created by the first thread that needs it; a thread racing with the
/// creator waits for it (`pthread_key_create` does not allocate, so this never waits on
/// itself).
fn key() -> usize {
    loop {
        match KEY_STATE.load(Ordering::Acquire) {
            2 => return KEY.load(Ordering::Acquire),
            0 if KEY_STATE
                .compare_exchange(0, 1, Ordering::AcqRel, Ordering::Acquire)
                .is_ok() =>
            {
                if let Some(k) = pal::key_create(on_thread_exit) {
                    KEY.store(k as usize, Ordering::Release);
                }
                KEY_STATE.store(2, Ordering::Release);
            }
            _ => core::hint::spin_loop(),
        }
    }
}

unsafe extern "C" fn on_thread_exit(value: *mut libc::c_void) {
    let st = value.cast::<ThreadState>();
    if st.is_null() {
        return;
    }
    set_current(GONE);
    // SAFETY: the key's value is this thread's state, which nothing else uses now that
    // the thread-local says GONE.
    let t = unsafe { &mut *st };
    let blocks = drain_all(t, DrainReason::ThreadExit);
    for c in 0..CLASS_COUNT {
        t.owned[c].abandon_all(c);
    }
    publish::thread_exit(&mut t.record, blocks);
    let _g = POOL_LOCK.guard();
    t.next_free = POOL_FREE.load(Ordering::Relaxed);
    POOL_FREE.store(st as usize, Ordering::Relaxed);
}

/// Shortest time between two publications of a thread's pending drain events (at its
/// interval drains): the ring then takes at most about `1 s / DRAIN_EVENTS_NS` drain
/// events per second, thread and class, however fast the thread frees.
pub const DRAIN_EVENTS_NS: u64 = 50_000_000;

/// Shortest time between two folds of a thread's counters at its interval drains, and
/// the longest a thread that keeps refilling goes without one: a refill that finds the
/// last fold older than this runs the interval drain, so that a thread that allocates
/// and seldom frees is still published (every fold is a few shared atomic adds per
/// class used; refills and frees are not charged one each).
pub const FOLD_NS: u64 = 10_000_000;

/// Interval drains after which a thread folds even when [`FOLD_NS`] have not passed:
/// what a thread did last before it went quiet reaches the segment within this many
/// intervals of frees (32 x 1,024 by default), not only when its next fold comes, which
/// for an idle thread is never. A fast thread folds about every 0.4 ms instead of 10 ms,
/// a few shared adds per class used per 32,768 frees.
pub const FOLD_INTERVALS: u32 = 32;

/// Publishes the pending overflow and interval drain events of class `c`; `true` when
/// there were any.
fn publish_pending(m: &mut Magazine, c: usize) -> bool {
    let (overflow, interval) = m.take_pending();
    publish::drain_event(c, overflow, DrainReason::Overflow);
    publish::drain_event(c, interval, DrainReason::Interval);
    overflow != 0 || interval != 0
}

/// Drains every magazine of `t`, pushes its remote batch, collects its slots' remote
/// lists (so that the accounting is exact), retires its idle slots and the abandoned
/// slots whose blocks are all back (a requested drain gives back everything it can,
/// without the interval sweeps' hysteresis), folds its counters, publishes the pending drain events (then one event
/// per class for this drain) and the thread record. Returns the blocks drained.
pub fn drain_all(t: &mut ThreadState, reason: DrainReason) -> u64 {
    push_remote_batches(t);
    let mut total = 0;
    for c in 0..CLASS_COUNT {
        if t.classes & 1 << c == 0 && !unowned::any_abandoned(c) {
            continue;
        }
        let m = &mut t.mags[c];
        let pending = publish_pending(m, c);
        let n = m.drain_all(&t.owned[c]);
        t.owned[c].collect_all();
        t.owned[c].retire_idle();
        unowned::reclaim(c);
        m.out -= t.owned[c].take_collected() as i64;
        let dirty = m.dirty();
        t.frees_total += m.fold(c);
        if n != 0 {
            total += n;
            publish::drain(c, n, reason);
        } else if dirty || pending {
            publish::class(c);
        }
    }
    t.drains += 1;
    t.events_ns = monotonic_ns();
    t.fold_ns = t.events_ns;
    t.unfolded = 0;
    t.free_budget = options::get().drain_interval;
    publish_thread(t, t.events_ns);
    total
}

/// Classes whose magazines one interval drain sweeps (gives back their idle blocks,
/// collects their full slots, counts down their idle slots), round robin over the
/// classes the thread uses: each is swept every `used / SWEEP_CLASSES` intervals, and
/// its low-water mark spans that whole time. Sweeping every class every interval gave
/// back blocks that a refill took again moments later (jemalloc's tcache GC is
/// incremental for the same reason); 4 rather than 8 classes per interval: random-mixed
/// through the preload 1.03x libmimalloc's throughput instead of 0.98x (with the
/// magazines' reserve), the other workloads unchanged.
pub const SWEEP_CLASSES: usize = 4;

/// The interval drain: sweeps the next [`SWEEP_CLASSES`] classes the thread used; and,
/// when [`FOLD_NS`] have passed since the last fold or this is the [`FOLD_INTERVALS`]th
/// interval drain since it, pushes its remote batches, folds
/// the counters of every class it used and publishes their records, its thread record
/// and the heartbeat, and (every [`DRAIN_EVENTS_NS`]) the pending drain
/// events (one per class and reason, blocks summed). Folding and publishing at most
/// every 10 ms or 32 intervals keeps the shared counters' read-modify-writes and the
/// segment's copies off a thread that frees millions of times a second, while a
/// reader polling at 10-60 Hz still sees every change within one of its frames, and a
/// thread that goes quiet leaves at most 32 intervals of frees unpublished.
pub fn drain_idle(t: &mut ThreadState) {
    let used = t.classes;
    let now = monotonic_ns();
    t.unfolded += 1;
    let fold = now.wrapping_sub(t.fold_ns) >= FOLD_NS || t.unfolded >= FOLD_INTERVALS;
    // The window: the used classes from `sweep` on, then from 0 (a class bit each).
    let from = t.sweep.min(CLASS_COUNT as u32);
    let window =
        u128::from(used >> from << from) | u128::from(used & ((1u64 << from) - 1)) << CLASS_COUNT;
    let mut bits = window;
    let mut next_sweep = from as usize;
    for _ in 0..SWEEP_CLASSES {
        if bits == 0 {
            break;
        }
        let k = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        let c = k % CLASS_COUNT;
        next_sweep = c + 1;
        t.mags[c].drain_idle(&t.owned[c]);
        t.owned[c].sweep(fold);
        unowned::reclaim(c);
    }
    t.sweep = (next_sweep % CLASS_COUNT) as u32;
    t.drains += 1;
    t.free_budget = options::get().drain_interval;
    if fold {
        fold_all(t, now);
    }
}

/// Pushes the thread's remote batches, folds the counters of every class it used and
/// publishes their records, its thread record and the heartbeat (see [`drain_idle`]);
/// also called before an OOM report is written, so that the report counts the failing
/// thread's blocks exactly. `now`: monotonic ns.
pub fn fold_all(t: &mut ThreadState, now: u64) {
    let used = t.classes;
    t.fold_ns = now;
    t.unfolded = 0;
    // Remote batches go to their owners at most 10 ms late (a batch that fills up, or
    // meets a block of another slot in its table entry, goes at once): pushing them at
    // every interval sent most of them with one or two blocks.
    push_remote_batches(t);
    let flush = now.wrapping_sub(t.events_ns) >= DRAIN_EVENTS_NS;
    if flush {
        t.events_ns = now;
    }
    let mut bits = used;
    while bits != 0 {
        let c = bits.trailing_zeros() as usize;
        bits &= bits - 1;
        let m = &mut t.mags[c];
        m.out -= t.owned[c].take_collected() as i64;
        let dirty = m.dirty();
        t.frees_total += m.fold(c);
        // Overflow drains since the last fold changed the class's counters.
        let overflowed = m.overflow_blocks != 0;
        let pending = flush && publish_pending(m, c);
        if dirty || overflowed || pending {
            publish::class_record(c);
        } else if m.count() == 0 && t.owned[c].is_empty() {
            t.classes &= !(1 << c);
        }
    }
    publish_thread(t, now);
    publish::heartbeat(now);
}

/// Pushes every remote batch of `t` and counts the blocks pushed as its remote frees of
/// their classes (counted a batch at a time, so that a remote free changes no counter:
/// a block leaves its class's `out` when the slot's holder collects it).
fn push_remote_batches(t: &mut ThreadState) {
    if !t.remote_pending {
        return;
    }
    t.remote_pending = false;
    t.remote.flush_all();
    let (mags, classes) = (&mut t.mags, &mut t.classes);
    t.remote.take_pushed(|c, n| {
        mags[c].remote_frees += u64::from(n);
        *classes |= 1 << c;
    });
}

/// Class `c`'s own magazine cells in `t` (from [`CELL_START`]`[c]`).
fn own_cells(t: &mut ThreadState, c: usize) -> *mut *mut u8 {
    t.cells[CELL_START[c]..].as_mut_ptr()
}

/// Moves class `c`'s magazine from its starter cells to its own, blocks and low-water
/// mark with it; `false` when it has its own already. Slow paths only.
pub fn grow_magazine(t: &mut ThreadState, c: usize) -> bool {
    if t.grown & (1 << c) != 0 {
        return false;
    }
    t.grown |= 1 << c;
    let cells = own_cells(t, c);
    // SAFETY: the class's own cells hold `full_cap[c]` (capped at its region by
    // `take_from_pool`) and no magazine used them since the state was taken (its `grown`
    // bit was clear: the magazine was in its starter cells, a separate array).
    unsafe { t.mags[c].move_to(cells, usize::from(t.full_cap[c])) };
    true
}

/// Before a refill of class `c`: the first since the state was taken refills the
/// starter cells; the second grows the magazine first ([`grow_magazine`]): the class is
/// in use, and a refill of its own cells takes up to `magazine::REFILL_MAX` blocks
/// where the starter cells take [`STARTER`]` / 2`. Slow paths only.
pub fn before_refill(t: &mut ThreadState, c: usize) {
    if t.primed & (1 << c) != 0 {
        grow_magazine(t, c);
    }
    t.primed |= 1 << c;
}

/// Publishes the thread record of `t`: every magazine's fill and capacity, its drain
/// and free counts; and stamps the thread's activity at `now` (monotonic ns) for an OOM
/// report (which names the threads that have been idle).
pub fn publish_thread(t: &mut ThreadState, now: u64) {
    // The state's owner is the calling thread (its slow paths and its exit).
    let tid = pal::tls::tid();
    crate::oom_report::touch(tid, now, &mut t.stamped);
    let mut fills = [0u64; CLASS_COUNT];
    for ((f, m), cap) in fills.iter_mut().zip(t.mags.iter()).zip(t.full_cap) {
        // The capacity it has or grows to: the starter cells are where it starts.
        *f = m.count() as u64 | u64::from(cap) << 32;
    }
    publish::thread(&mut t.record, tid, &fills, t.drains, t.frees_total);
}

/// In a forked child: the calling thread keeps its state; states of threads that did
/// not survive the fork are abandoned with their slots (their magazine blocks stay
/// counted as cached; frees of their blocks are remote frees that nobody collects).
pub fn after_fork_child() {
    POOL_LOCK.reinit_in_child();
    if let Some(st) = current() {
        // SAFETY: only this thread exists in the child; its state is its own.
        let t = unsafe { &mut *st };
        let tid = pal::gettid();
        pal::tls::set_tid(tid);
        superslab::note_owner_tid(t.index, tid);
        t.record = ThreadRecord::NONE;
        t.busy = 0;
    }
}
