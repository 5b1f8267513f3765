//! The allocator's own counters: process totals and per-class accounting.
//!
//! These atomics are the source of truth; publishing copies them into the segment on
//! slow paths, and [`crate::raw::stats`] reads them without any segment.
//!
//! Per-class invariant (exact at quiescence, i.e. when every thread has drained or
//! exited): `capacity == free + cached + live`, where `free = capacity - out` is the
//! number of blocks inside slots, `cached` the blocks in magazines and `live` the blocks
//! in user hands. Hot paths never touch these atomics: threads count in plain
//! thread-local fields and fold them in here on slow paths.
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

use slabscope_proto::layout::ClassCounters;

use crate::size_class::{CLASS_COUNT, CLASS_SIZES};

/// One class's recorder: the atomics the allocator counts in (all `Relaxed`; each exact
/// on its own). What it publishes is the protocol's one declaration of the per-class
/// counters, [`slabscope_proto::layout::ClassCounters`], built from it by
/// [`class_counters`].
#[derive(Debug)]
pub struct ClassRecorder {
    /// Blocks in ACTIVE and EMPTY slots of this class.
    pub capacity: AtomicU64,
    /// Blocks handed out of slots (in magazines or user hands).
    pub out: AtomicU64,
    /// Blocks in thread magazines (folded on slow paths).
    pub cached: AtomicU64,
    /// Allocations served (folded).
    pub allocs: AtomicU64,
    /// Frees received (folded).
    pub frees: AtomicU64,
    /// Blocks given back to a slot by a thread other than the slot's owner.
    pub remote_frees: AtomicU64,
    /// ACTIVE slots.
    pub slots_active: AtomicU64,
    /// EMPTY slots.
    pub slots_empty: AtomicU64,
    /// Magazine refills.
    pub refills: AtomicU64,
    /// Magazine drains.
    pub drains: AtomicU64,
    /// Slot acquisitions at stage 1, 2, 3.
    pub stage: [AtomicU64; 3],
}

/// Process-wide totals: the segment's own record type, so that each statistic is
/// declared once (in `slabscope_proto::layout`). The allocator keeps its copy here, the
/// source of truth, and publishing stores it into the segment's header field by field.
/// `limit_bytes`, `sample_interval_bytes` and `heap_errors` are unused in this copy (the
/// segment writer counts heap errors in the segment itself).
pub use slabscope_proto::layout::Totals;

#[allow(clippy::declare_interior_mutable_const)]
const ZERO_CLASS: ClassRecorder = ClassRecorder {
    capacity: AtomicU64::new(0),
    out: AtomicU64::new(0),
    cached: AtomicU64::new(0),
    allocs: AtomicU64::new(0),
    frees: AtomicU64::new(0),
    remote_frees: AtomicU64::new(0),
    slots_active: AtomicU64::new(0),
    slots_empty: AtomicU64::new(0),
    refills: AtomicU64::new(0),
    drains: AtomicU64::new(0),
    stage: [AtomicU64::new(0), AtomicU64::new(0), AtomicU64::new(0)],
};

/// Per-class counters, indexed by class.
pub static CLASSES: [ClassRecorder; CLASS_COUNT] = [ZERO_CLASS; CLASS_COUNT];

/// Process totals.
pub static TOTALS: Totals = Totals {
    mapped_bytes: AtomicU64::new(0),
    peak_mapped_bytes: AtomicU64::new(0),
    superslabs: AtomicU64::new(0),
    superslabs_cached: AtomicU64::new(0),
    superslabs_mapped_total: AtomicU64::new(0),
    superslabs_returned_total: AtomicU64::new(0),
    large_bytes: AtomicU64::new(0),
    large_count: AtomicU64::new(0),
    limit_bytes: AtomicU64::new(0),
    oom_count: AtomicU64::new(0),
    foreign_frees: AtomicU64::new(0),
    sample_interval_bytes: AtomicU64::new(0),
    heap_errors: [
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
        AtomicU64::new(0),
    ],
};

/// Bit `c` set: class `c` has had a slot, so its counters may be non-zero. Set under the
/// global lock when a slot is acquired, before the class's counters move, and never
/// cleared: every counter of a class whose bit is clear is 0, as is its record in a
/// new segment, which therefore copies only the marked classes.
pub static USED_CLASSES: AtomicU64 = AtomicU64::new(0);

/// Bytes of freed large mappings kept in the large cache (part of `mapped_bytes`); the
/// large path stores it whenever the cache changes.
pub static LARGE_CACHED_BYTES: AtomicU64 = AtomicU64::new(0);

/// Adds `delta` (two's complement) to a counter.
#[inline]
pub fn add(c: &AtomicU64, delta: i64) {
    c.fetch_add(delta as u64, Relaxed);
}

/// One class as plain numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct ClassStats {
    /// Block size in bytes.
    pub block_size: u32,
    /// Blocks in ACTIVE and EMPTY slots.
    pub capacity_blocks: u64,
    /// Blocks free inside slots.
    pub free_blocks: u64,
    /// Blocks in thread magazines (as last folded).
    pub cached_blocks: u64,
    /// Blocks in user hands: `capacity - free - cached` (saturating).
    pub live_blocks: u64,
    /// Allocations served (as last folded).
    pub allocs: u64,
    /// Frees received (as last folded).
    pub frees: u64,
    /// Blocks given back by a thread other than the slot's owner.
    pub remote_frees: u64,
    /// ACTIVE slots.
    pub slots_active: u64,
    /// EMPTY slots.
    pub slots_empty: u64,
    /// Magazine refills.
    pub refills: u64,
    /// Magazine drains.
    pub drains: u64,
    /// Slot acquisitions by stage (1: EMPTY reuse, 2: UNUSED slot, 3: new SuperSlab).
    pub acquire_stage: [u64; 3],
}

/// Process totals as plain numbers.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TotalStats {
    /// Bytes mapped (SuperSlabs + live large allocations + the large cache).
    pub mapped_bytes: u64,
    /// Highest `mapped_bytes`.
    pub peak_mapped_bytes: u64,
    /// SuperSlabs mapped now (including cached empty ones).
    pub superslabs: u64,
    /// Empty SuperSlabs in the cache.
    pub superslabs_cached: u64,
    /// SuperSlabs ever mapped.
    pub superslabs_mapped_total: u64,
    /// SuperSlabs ever returned to the OS.
    pub superslabs_returned_total: u64,
    /// Bytes mapped for live large allocations.
    pub large_bytes: u64,
    /// Live large allocations.
    pub large_count: u64,
    /// Bytes of freed large mappings kept for reuse (part of `mapped_bytes`, not of
    /// `large_bytes`).
    pub large_cached_bytes: u64,
    /// Failed allocations.
    pub oom_count: u64,
    /// Ignored frees of foreign pointers.
    pub foreign_frees: u64,
}

/// A copy of every counter (see [`crate::raw::stats`]).
#[derive(Clone, Copy, Debug)]
pub struct Stats {
    /// Process totals.
    pub totals: TotalStats,
    /// Per class, indexed by class.
    pub classes: [ClassStats; CLASS_COUNT],
}

/// Reads one class's counters as the segment publishes them. A struct literal: a counter
/// added to the protocol's declaration does not compile until the allocator records it.
pub fn class_counters(c: usize) -> ClassCounters {
    let k = &CLASSES[c];
    let capacity = k.capacity.load(Relaxed);
    ClassCounters {
        capacity_blocks: capacity,
        free_blocks: capacity.saturating_sub(k.out.load(Relaxed)),
        cached_blocks: k.cached.load(Relaxed),
        allocs: k.allocs.load(Relaxed),
        frees: k.frees.load(Relaxed),
        remote_frees: k.remote_frees.load(Relaxed),
        slots_active: k.slots_active.load(Relaxed),
        slots_empty: k.slots_empty.load(Relaxed),
        refills: k.refills.load(Relaxed),
        drains: k.drains.load(Relaxed),
        acquire_stage1: k.stage[0].load(Relaxed),
        acquire_stage2: k.stage[1].load(Relaxed),
        acquire_stage3: k.stage[2].load(Relaxed),
    }
}

/// Reads one class.
pub fn class_stats(c: usize) -> ClassStats {
    // Destructured without `..`: a counter added to the declaration must be placed here.
    let ClassCounters {
        capacity_blocks,
        free_blocks,
        cached_blocks,
        allocs,
        frees,
        remote_frees,
        slots_active,
        slots_empty,
        refills,
        drains,
        acquire_stage1,
        acquire_stage2,
        acquire_stage3,
    } = class_counters(c);
    let out = capacity_blocks - free_blocks;
    ClassStats {
        block_size: CLASS_SIZES[c],
        capacity_blocks,
        free_blocks,
        cached_blocks,
        live_blocks: out.saturating_sub(cached_blocks),
        allocs,
        frees,
        remote_frees,
        slots_active,
        slots_empty,
        refills,
        drains,
        acquire_stage: [acquire_stage1, acquire_stage2, acquire_stage3],
    }
}

/// Reads the totals.
pub fn total_stats() -> TotalStats {
    let t = &TOTALS;
    TotalStats {
        mapped_bytes: t.mapped_bytes.load(Relaxed),
        peak_mapped_bytes: t.peak_mapped_bytes.load(Relaxed),
        superslabs: t.superslabs.load(Relaxed),
        superslabs_cached: t.superslabs_cached.load(Relaxed),
        superslabs_mapped_total: t.superslabs_mapped_total.load(Relaxed),
        superslabs_returned_total: t.superslabs_returned_total.load(Relaxed),
        large_bytes: t.large_bytes.load(Relaxed),
        large_count: t.large_count.load(Relaxed),
        large_cached_bytes: LARGE_CACHED_BYTES.load(Relaxed),
        oom_count: t.oom_count.load(Relaxed),
        foreign_frees: t.foreign_frees.load(Relaxed),
    }
}

/// Reads everything.
pub fn snapshot() -> Stats {
    let mut classes = [ClassStats::default(); CLASS_COUNT];
    for (c, slot) in classes.iter_mut().enumerate() {
        *slot = class_stats(c);
    }
    Stats {
        totals: total_stats(),
        classes,
    }
}
