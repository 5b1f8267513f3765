//! The publishing hooks called from the allocator's slow paths. Each one is a no-op
//! (one atomic load) when there is no segment.
#![forbid(unsafe_code)]

use core::sync::atomic::AtomicU32;
use core::sync::atomic::Ordering::{Acquire, Relaxed, Release};

use slabscope_proto::layout::{
    SectionKind, FLAG_OOM, SUPERSLAB_EMPTY, SUPERSLAB_MAPPED, THREAD_NAME_BYTES,
};
use slabscope_proto::{monotonic_ns, DrainReason, EventKind, SegmentWriter};

use super::segment::{current, generation};
use crate::pal;
use crate::size_class::CLASS_COUNT;
use crate::stats::{class_counters, TOTALS};

/// Appends an event.
pub fn event(kind: &EventKind) {
    crate::trace::capture(kind);
    if let Some(w) = current() {
        w.push_event(monotonic_ns(), pal::tls::tid(), kind);
    }
}

/// Spin flags serialising the copies into each class record and into the totals: the
/// counters are read inside the flag, so the last copy made is the freshest and a slow
/// copy can never overwrite a newer one.
static CLASS_FLAGS: [AtomicU32; CLASS_COUNT] = [const { AtomicU32::new(0) }; CLASS_COUNT];
static TOTALS_FLAG: AtomicU32 = AtomicU32::new(0);

fn with_flag<R>(flag: &AtomicU32, f: impl FnOnce() -> R) -> R {
    while flag.compare_exchange_weak(0, 1, Acquire, Relaxed).is_err() {
        core::hint::spin_loop();
    }
    let r = f();
    flag.store(0, Release);
    r
}

/// In a forked child: clears flags a vanished thread may have held.
pub fn after_fork_child() {
    for f in CLASS_FLAGS.iter().chain([&TOTALS_FLAG]) {
        clear_in_child(f);
    }
}

/// Clears a flag in a forked child, writing only when it is set: the child's pages are
/// the parent's until written, and a store to one copies it (a page fault per page, per
/// fork, whatever the child does next).
fn clear_in_child(f: &AtomicU32) {
    if f.load(Relaxed) != 0 {
        f.store(0, Relaxed);
    }
}

/// Copies class `c`'s counters into its record and beats the heartbeat.
pub fn class(c: usize) {
    class_record(c);
    heartbeat(monotonic_ns());
}

/// Copies class `c`'s counters into its record, without the heartbeat (the interval
/// drain publishes many classes and beats once, with the time it already read).
pub fn class_record(c: usize) {
    let Some(w) = current() else { return };
    let Some(r) = w.class(c) else { return };
    with_flag(&CLASS_FLAGS[c], || copy_class(c, r));
}

/// Writes `now` (monotonic nanoseconds) as the segment's heartbeat: the process is
/// alive and publishing.
pub fn heartbeat(now: u64) {
    if let Some(w) = current() {
        w.heartbeat(now);
    }
}

fn copy_class(c: usize, r: &slabscope_proto::layout::ClassRecord) {
    r.store_counters(&class_counters(c));
}

/// Copies the process totals into the header.
pub fn totals() {
    let Some(w) = current() else { return };
    with_flag(&TOTALS_FLAG, || copy_totals(&w.header().totals));
}

fn copy_totals(t: &slabscope_proto::layout::Totals) {
    let s = &TOTALS;
    t.mapped_bytes.store(s.mapped_bytes.load(Relaxed), Relaxed);
    t.peak_mapped_bytes
        .store(s.peak_mapped_bytes.load(Relaxed), Relaxed);
    t.superslabs.store(s.superslabs.load(Relaxed), Relaxed);
    t.superslabs_cached
        .store(s.superslabs_cached.load(Relaxed), Relaxed);
    t.superslabs_mapped_total
        .store(s.superslabs_mapped_total.load(Relaxed), Relaxed);
    t.superslabs_returned_total
        .store(s.superslabs_returned_total.load(Relaxed), Relaxed);
    t.large_bytes.store(s.large_bytes.load(Relaxed), Relaxed);
    t.large_count.store(s.large_count.load(Relaxed), Relaxed);
    t.oom_count.store(s.oom_count.load(Relaxed), Relaxed);
    t.foreign_frees
        .store(s.foreign_frees.load(Relaxed), Relaxed);
}

/// Mapped bytes changed.
pub fn mapped_bytes() {
    totals();
}

/// A large allocation was mapped, unmapped or resized.
pub fn large() {
    totals();
}

/// A foreign pointer was freed (and ignored).
pub fn foreign_free() {
    totals();
}

/// `SLABSCOPE_CHECK` found a heap error: the segment's heap error table, its kind's
/// counter and a ring event (`SegmentWriter::heap_error`, which fills in `time_ns` and
/// `thread` when they are 0). Nothing without a segment. Lock-free, allocation-free and
/// panic-free: callable from inside `free` with any allocator lock held.
pub fn heap_error(e: &slabscope_proto::HeapError) {
    if let Some(w) = current() {
        w.heap_error(e);
    }
}

/// Sampling is about to start (`sample=` through the control channel): the segment's
/// first sample-site records get their pages now, if a segment created while the process
/// did not sample has none. Makes system calls: call it holding no allocator lock.
pub fn prepare_sample_sites() {
    if let Some(w) = current() {
        w.prepare_sample_sites();
    }
}

/// An allocation failed: flag, totals, event.
pub fn oom(kind: &EventKind) {
    if let Some(w) = current() {
        w.set_flag(FLAG_OOM);
        totals();
    }
    event(kind);
}

/// A magazine of class `c` drained `blocks` blocks: event and class record.
pub fn drain(c: usize, blocks: u64, reason: DrainReason) {
    if blocks == 0 {
        return;
    }
    drain_event(c, blocks, reason);
    class(c);
}

/// The `MagazineDrain` event alone (nothing when `blocks` is 0). For `Overflow` and
/// `Interval`, `blocks` is the sum drained since the thread's previous event of this
/// class and reason (see `magazine`).
pub fn drain_event(c: usize, blocks: u64, reason: DrainReason) {
    if blocks != 0 {
        event(&EventKind::MagazineDrain {
            class: c as u32,
            blocks,
            reason,
        });
    }
}

/// A SuperSlab's record in the segment, kept in the SuperSlab's header: the sink's
/// state, which the allocator embeds and hands back on every call.
#[derive(Debug)]
pub struct SlabRecord {
    /// Segment record index, `NO_RECORD` when unpublished.
    record: AtomicU32,
    /// Serialises writers of this record (a spin flag).
    lock: AtomicU32,
    /// Segment generation the record belongs to (records do not survive `fork`).
    gen: AtomicU32,
}

/// `SlabRecord::record` of a SuperSlab without a segment record.
const NO_RECORD: u32 = u32::MAX;

fn with_record_lock(r: &SlabRecord, base: u64, f: impl FnOnce(&SegmentWriter, u32)) {
    let Some(w) = current() else { return };
    while r
        .lock
        .compare_exchange_weak(0, 1, Acquire, Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
    }
    let gen = generation();
    let mut rec = r.record.load(Relaxed);
    if r.gen.load(Relaxed) != gen {
        // A full table is counted once by the writer (overflow); not retried until the
        // SuperSlab is mapped again.
        rec = w.claim_superslab(base).unwrap_or(NO_RECORD);
        r.record.store(rec, Relaxed);
        // A claim put off until the segment grows is made again by the next
        // `superslab::publish_all` (see `ensure`); a full table is final.
        if rec != NO_RECORD || !w.may_grow(SectionKind::SuperSlabs) {
            r.gen.store(gen, Relaxed);
        }
    }
    if rec != NO_RECORD {
        f(w, rec);
    }
    r.lock.store(0, Release);
}

/// A fresh SuperSlab's record state (not published yet).
pub fn superslab_init(r: &SlabRecord) {
    r.record.store(NO_RECORD, Relaxed);
    r.gen.store(0, Relaxed);
    r.lock.store(0, Relaxed);
}

/// In a forked child: clears the record flag a vanished thread may have held.
pub fn superslab_after_fork(r: &SlabRecord) {
    // Read first: the record lies in its SuperSlab's header page, which a store would
    // copy in every child of every fork, one page per SuperSlab.
    clear_in_child(&r.lock);
}

/// Publishes slot `i` of the SuperSlab at `base`: `word` is its `pack_slot` word,
/// `owner` its owner word (a tid, `SLOT_OWNER_NONE` or `SLOT_OWNER_ABANDONED`).
pub fn slot(r: &SlabRecord, base: u64, i: usize, word: u64, owner: u32) {
    with_record_lock(r, base, |w, rec| {
        w.update_superslab(rec, |s| s.slots[i].store(word, Relaxed));
        w.set_slot_owner(rec, i, owner);
    });
}

/// Claims a record for a SuperSlab without an event (segment created after the map).
pub fn superslab_claim(r: &SlabRecord, base: u64) {
    with_record_lock(r, base, |_, _| {});
}

/// A SuperSlab was mapped at `base`: record, totals, event.
pub fn superslab_mapped(r: &SlabRecord, base: u64, mapped_bytes: u64) {
    if current().is_some() {
        superslab_claim(r, base);
        totals();
    }
    event(&EventKind::SuperSlabMap {
        superslab: base,
        mapped_bytes,
    });
}

/// A SuperSlab entered (`empty`) or left the empty cache.
pub fn superslab_state(r: &SlabRecord, base: u64, empty: bool) {
    with_record_lock(r, base, |w, rec| {
        let state = if empty {
            SUPERSLAB_EMPTY
        } else {
            SUPERSLAB_MAPPED
        };
        w.update_superslab(rec, |s| s.state.store(state, Relaxed));
    });
    totals();
}

/// A SuperSlab is about to be returned to the OS: its record becomes FREE.
pub fn superslab_returned(r: &SlabRecord) {
    let Some(w) = current() else { return };
    let rec = r.record.load(Relaxed);
    if rec != NO_RECORD && r.gen.load(Relaxed) == generation() {
        w.release_superslab(rec);
    }
    r.record.store(NO_RECORD, Relaxed);
    r.gen.store(0, Relaxed);
    totals();
}

/// A thread's record in the segment: the sink's state, kept in the thread's state.
#[derive(Clone, Copy, Debug)]
pub struct ThreadRecord {
    record: u32,
    gen: u32,
}

impl ThreadRecord {
    /// No record claimed.
    pub const NONE: ThreadRecord = ThreadRecord {
        record: u32::MAX,
        gen: 0,
    };
}

/// Test hook (`raw::hold_thread_claims`): while not 0, a thread about to claim its
/// record counts itself in [`THREAD_CLAIMS_HELD`] and waits.
pub static HOLD_THREAD_CLAIMS: AtomicU32 = AtomicU32::new(0);
/// Threads waiting at [`HOLD_THREAD_CLAIMS`].
pub static THREAD_CLAIMS_HELD: AtomicU32 = AtomicU32::new(0);

#[cold]
#[inline(never)]
fn hold_thread_claim() {
    THREAD_CLAIMS_HELD.fetch_add(1, Relaxed);
    while HOLD_THREAD_CLAIMS.load(Acquire) != 0 {
        std::thread::yield_now();
    }
    THREAD_CLAIMS_HELD.fetch_sub(1, Relaxed);
}

fn thread_record(w: &SegmentWriter, t: &mut ThreadRecord, tid: u32) -> Option<u32> {
    let gen = generation();
    if t.gen != gen {
        if HOLD_THREAD_CLAIMS.load(Relaxed) != 0 {
            hold_thread_claim();
        }
        let mut name = [0u8; THREAD_NAME_BYTES];
        let n = pal::thread_name(&mut name);
        t.record = claim_thread(w, tid, &name[..n]).unwrap_or(u32::MAX);
        // A claim put off still is made again at the next publish.
        if t.record != u32::MAX || !w.may_grow(SectionKind::Threads) {
            t.gen = gen;
        }
    }
    (t.record != u32::MAX).then_some(t.record)
}

/// Claims a thread record, growing the thread table at once when the claim is put off
/// (thread publishes run on slow paths holding no lock): a thread that publishes once
/// and then blocks would otherwise stay out of the segment. Each round grows the table
/// (or waits for a grow running in another thread) and claims again, until the claim
/// succeeds or is final; [`CLAIM_ROUNDS`] bounds the rounds (a burst of claims can take
/// several doublings).
fn claim_thread(w: &SegmentWriter, tid: u32, name: &[u8]) -> Option<u32> {
    for _ in 0..CLAIM_ROUNDS {
        if let Some(rec) = w.claim_thread(u64::from(tid), name) {
            return Some(rec);
        }
        if !w.may_grow(SectionKind::Threads) {
            return None;
        }
        w.grow_now();
    }
    w.claim_thread(u64::from(tid), name)
}

/// Rounds of [`claim_thread`]: more than the doublings from the first thread records to
/// the largest table (4 to 65,536).
const CLAIM_ROUNDS: usize = 16;

/// Publishes every magazine fill of thread `tid` (`count | cap << 32` by class) and its
/// drain and free counts.
pub fn thread(t: &mut ThreadRecord, tid: u32, fills: &[u64; CLASS_COUNT], drains: u64, frees: u64) {
    let Some(w) = current() else { return };
    let Some(rec) = thread_record(w, t, tid) else {
        return;
    };
    w.update_thread(rec, |r| {
        for (m, &f) in r.magazines.iter().zip(fills.iter()) {
            m.store(f, Relaxed);
        }
        r.drains.store(drains, Relaxed);
        r.frees.store(frees, Relaxed);
    });
}

/// A thread exited after draining `blocks` blocks.
pub fn thread_exit(t: &mut ThreadRecord, blocks: u64) {
    let Some(w) = current() else { return };
    event(&EventKind::ThreadExit { blocks });
    // A thread that never published has no record to close (none is claimed for it).
    if t.gen == generation() && t.record != u32::MAX {
        w.exit_thread(t.record);
    }
    t.gen = 0;
    totals();
}
