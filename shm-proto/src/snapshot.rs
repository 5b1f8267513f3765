//! Plain-data copies of a segment's state, as the reader returns them.
//!
//! These are the types the inspector folds and renders and that `--once --json`
//! serialises (with the `serde` feature). They hold no references into the segment.

use crate::heap_error::{HeapError, HeapErrorKind};
use crate::layout::ClassCounters;
use crate::layout::{SLOT_OWNER_ABANDONED, SLOT_OWNER_NONE};
pub use crate::oom::{FreeRun, FreeRunKind, OomCause, OomClass, OomReport, StrandedThread};

/// Protocol version of a segment.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ProtocolVersion {
    /// Major: incompatible layout changes.
    pub major: u16,
    /// Minor: additive changes.
    pub minor: u16,
}

impl core::fmt::Display for ProtocolVersion {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// Header flags, decoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Flags {
    /// The writer closed the segment at normal exit.
    pub closed: bool,
    /// At least one allocation failed for lack of memory.
    pub oom: bool,
    /// Written by the LD_PRELOAD malloc.
    pub preload: bool,
    /// The process has a GPU pool.
    pub gpu: bool,
}

/// Process-wide totals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct TotalsSnapshot {
    /// Bytes mapped from the OS (SuperSlabs + large).
    pub mapped_bytes: u64,
    /// Highest `mapped_bytes` seen.
    pub peak_mapped_bytes: u64,
    /// SuperSlabs mapped now (including cached empty ones).
    pub superslabs: u64,
    /// Empty SuperSlabs held in the cache.
    pub superslabs_cached: u64,
    /// SuperSlabs mapped over the process lifetime.
    pub superslabs_mapped_total: u64,
    /// SuperSlabs returned to the OS over the process lifetime.
    pub superslabs_returned_total: u64,
    /// Bytes in live large allocations.
    pub large_bytes: u64,
    /// Live large allocations.
    pub large_count: u64,
    /// `SLABSCOPE_LIMIT` in bytes (0 = none).
    pub limit_bytes: u64,
    /// Allocations failed for lack of memory.
    pub oom_count: u64,
    /// Frees of foreign pointers, ignored.
    pub foreign_frees: u64,
}

/// One size class.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ClassSnapshot {
    /// Class index.
    pub class: u32,
    /// Block size in bytes.
    pub block_size: u32,
    /// Blocks in user hands: `capacity - cached - free` (saturating).
    pub live: u64,
    /// Every published counter.
    #[cfg_attr(feature = "serde", serde(flatten))]
    pub counters: ClassCounters,
}

/// State of a thread record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum ThreadState {
    /// Running.
    Live,
    /// Exited; magazines drained.
    Exited,
}

/// One magazine of one thread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct MagazineSnapshot {
    /// Size class.
    pub class: u32,
    /// Blocks in the magazine.
    pub fill: u32,
    /// Magazine capacity in blocks.
    pub capacity: u32,
}

/// One thread.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct ThreadSnapshot {
    /// Kernel tid.
    pub tid: u64,
    /// Live or exited.
    pub state: ThreadState,
    /// Thread name (may be empty).
    pub name: String,
    /// Drains performed.
    pub drains: u64,
    /// Frees performed.
    pub frees: u64,
    /// One entry per class with a non-zero capacity.
    pub magazines: Vec<MagazineSnapshot>,
}

/// State of a slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum SlotState {
    /// Never carved.
    Unused,
    /// Carved into blocks of one class, some in use.
    Active,
    /// Carved for a class, all blocks back.
    Empty,
}

/// Who owns a slot (1.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case", tag = "kind", content = "tid")
)]
pub enum SlotOwner {
    /// No thread: the slot is UNUSED or EMPTY, serves sampled blocks, or the segment
    /// is older than 1.3 and does not say.
    #[default]
    None,
    /// The thread with this kernel tid: only it refills from the slot.
    Thread(u32),
    /// Abandoned: its owner exited with blocks of it still out; frees of them are
    /// remote frees, and a thread that needs a slot of the class adopts it.
    Abandoned,
}

impl SlotOwner {
    /// Decodes a `SlotOwnerRecord` word.
    pub fn from_word(w: u32) -> SlotOwner {
        match w {
            SLOT_OWNER_NONE => SlotOwner::None,
            SLOT_OWNER_ABANDONED => SlotOwner::Abandoned,
            tid => SlotOwner::Thread(tid),
        }
    }

    /// The `SlotOwnerRecord` word.
    pub fn word(self) -> u32 {
        match self {
            SlotOwner::None => SLOT_OWNER_NONE,
            SlotOwner::Abandoned => SLOT_OWNER_ABANDONED,
            SlotOwner::Thread(tid) => tid,
        }
    }
}

/// One slot of a SuperSlab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SlotSnapshot {
    /// Slot state.
    pub state: SlotState,
    /// Class (meaningless for `Unused`; 0 there).
    pub class: u32,
    /// Blocks out of the slot (in user hands, magazines, or remote frees not collected
    /// yet).
    pub used: u32,
    /// Blocks the slot holds for its class.
    pub capacity: u32,
    /// Its owner thread (1.3).
    pub owner: SlotOwner,
}

/// State of a SuperSlab.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum SuperSlabState {
    /// In use.
    Mapped,
    /// Every slot EMPTY or UNUSED; cached before its return to the OS.
    Empty,
}

/// One SuperSlab.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SuperSlabSnapshot {
    /// Base address in the writer's address space.
    pub base: u64,
    /// Mapped or empty.
    pub state: SuperSlabState,
    /// The 32 slots.
    pub slots: Vec<SlotSnapshot>,
}

/// One bucket of a GPU pool.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct GpuBucketSnapshot {
    /// Bucket size in bytes.
    pub bucket_bytes: u64,
    /// Buffers handed out.
    pub live: u64,
    /// Buffers cached.
    pub cached: u64,
    /// Cache hits.
    pub hits: u64,
    /// Cache misses.
    pub misses: u64,
    /// Highest live + cached buffers.
    pub high_water: u64,
    /// Buffers released by trims.
    pub trimmed: u64,
}

/// Backend of a GPU pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum GpuBackend {
    /// CUDA device memory.
    Cuda,
    /// Host memory.
    Host,
}

/// One GPU pool.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct GpuPoolSnapshot {
    /// Pool id.
    pub pool: u32,
    /// Device ordinal (`None` for host memory).
    pub device: Option<u32>,
    /// Backend.
    pub backend: GpuBackend,
    /// Device name.
    pub name: String,
    /// Oversize requests.
    pub oversize: u64,
    /// Bytes in live oversize buffers.
    pub oversize_live_bytes: u64,
    /// Trims performed.
    pub trims: u64,
    /// Device OOM errors returned.
    pub device_ooms: u64,
    /// Cache limit (0 = none).
    pub cache_limit_bytes: u64,
    /// Device total memory.
    pub device_total_bytes: u64,
    /// Device free memory.
    pub device_free_bytes: u64,
    /// Buckets, smallest first.
    pub buckets: Vec<GpuBucketSnapshot>,
}

/// Ring state.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct RingSnapshot {
    /// Events ever written (the next sequence number).
    pub head: u64,
    /// Events the writer dropped.
    pub dropped: u64,
    /// Ring capacity in events.
    pub capacity: u64,
}

/// Records a section could not hold (the writer counted refused claims).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct OverflowSnapshot {
    /// Threads without a record.
    pub threads: u64,
    /// SuperSlabs without a record.
    pub superslabs: u64,
    /// GPU pools without a record.
    pub gpu_pools: u64,
}

/// One sampled allocation site (protocol 1.2).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct SampleSiteSnapshot {
    /// Index of the site's record (stable for the life of the segment).
    pub index: u32,
    /// The writer's hash of the frames.
    pub hash: u64,
    /// Return addresses in the writer's address space, innermost first.
    pub frames: Vec<u64>,
    /// Requested bytes of the live sampled allocations.
    pub live_bytes: u64,
    /// Live sampled allocations.
    pub live_samples: u64,
    /// Estimated bytes of every live allocation of the site (each live sample stands
    /// for `max(size, interval)` bytes).
    pub live_estimated_bytes: u64,
    /// Requested bytes of every sampled allocation, freed or not.
    pub total_bytes: u64,
    /// Sampled allocations, freed or not.
    pub total_samples: u64,
    /// `CLOCK_MONOTONIC` ns of the first sample.
    pub first_mono_ns: u64,
    /// `CLOCK_MONOTONIC` ns of the latest sample.
    pub last_mono_ns: u64,
}

/// Heap errors found so far, by kind (protocol 1.4; all zero for older segments):
/// index `kind - 1` in the order of [`HeapErrorKind::ALL`]. Serialised as an object
/// keyed by [`HeapErrorKind::name`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct HeapErrorCounts(pub [u64; HeapErrorKind::ALL.len()]);

impl HeapErrorCounts {
    /// Errors of `kind`.
    pub fn get(&self, kind: HeapErrorKind) -> u64 {
        self.0.get(kind as usize - 1).copied().unwrap_or(0)
    }

    /// Errors of every kind.
    pub fn total(&self) -> u64 {
        self.0.iter().fold(0u64, |a, &n| a.saturating_add(n))
    }

    /// Every kind and its count, in the order of [`HeapErrorKind::ALL`].
    pub fn iter(&self) -> impl Iterator<Item = (HeapErrorKind, u64)> + '_ {
        HeapErrorKind::ALL.into_iter().map(|k| (k, self.get(k)))
    }
}

#[cfg(feature = "serde")]
impl serde::Serialize for HeapErrorCounts {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        let mut m = s.serialize_map(Some(self.0.len()))?;
        for (kind, n) in self.iter() {
            m.serialize_entry(kind.name(), &n)?;
        }
        m.end()
    }
}

/// Everything a segment says, at one moment.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct Snapshot {
    /// Protocol version of the segment.
    pub protocol: ProtocolVersion,
    /// Writer's pid.
    pub pid: u32,
    /// Command line of the writer.
    pub command: String,
    /// Header flags.
    pub flags: Flags,
    /// `CLOCK_REALTIME` ns at creation.
    pub start_unix_ns: u64,
    /// `CLOCK_MONOTONIC` ns at creation.
    pub start_mono_ns: u64,
    /// `CLOCK_MONOTONIC` ns of the last writer update.
    pub heartbeat_mono_ns: u64,
    /// Page size.
    pub page_size: u32,
    /// Drain interval in frees.
    pub drain_interval: u64,
    /// Process-wide totals.
    pub totals: TotalsSnapshot,
    /// Ring state.
    pub ring: RingSnapshot,
    /// Size classes, in class order.
    pub classes: Vec<ClassSnapshot>,
    /// Threads with a record (live and exited).
    pub threads: Vec<ThreadSnapshot>,
    /// SuperSlabs with a record.
    pub superslabs: Vec<SuperSlabSnapshot>,
    /// GPU pools.
    pub gpu: Vec<GpuPoolSnapshot>,
    /// Section overflow counts.
    pub overflow: OverflowSnapshot,
    /// Mean bytes between sampled allocations (0: the writer does not sample).
    pub sample_interval_bytes: u64,
    /// Sampled allocation sites, in record order (empty when the writer does not sample
    /// or the segment predates 1.2).
    pub sites: Vec<SampleSiteSnapshot>,
    /// Sites the writer could not record because the table was full.
    pub sites_overflow: u64,
    /// The OOM report: the latest failed allocation and the allocator's state at it;
    /// `None` when no allocation failed (or the segment predates 1.2).
    pub oom: Option<OomReport>,
    /// The most recent heap errors `SLABSCOPE_CHECK` found (at most
    /// `HEAP_ERROR_SLOTS`), most recent last; records a writer held during the read are
    /// skipped (counted in `busy_records`). Empty for a segment older than 1.4.
    pub heap_errors: Vec<HeapError>,
    /// Every heap error found since the process started, by kind (the table keeps the
    /// latest only).
    pub heap_error_counts: HeapErrorCounts,
    /// Records skipped because their sequence lock stayed busy during the read.
    pub busy_records: u64,
    /// Sections of kinds this reader does not know, skipped.
    pub unknown_sections: u32,
}
