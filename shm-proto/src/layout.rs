//! The `#[repr(C)]` records of the segment and the constants that describe it.
//!
//! Every field of every record is an atomic: the writer (the allocator, many threads)
//! and readers (other processes, through a read-only mapping) touch the same bytes, and
//! atomics are the only way to do that without a data race. Readers only ever perform
//! `Relaxed` loads followed by an `Acquire` fence (loads of read-only memory are defined
//! for word-sized relaxed atomics; read-modify-write operations are not).
//!
//! Layout rules (see docs/PROTOCOL.md):
//! - little-endian, 64-bit words, every record 8-byte aligned, sections 64-byte aligned;
//! - a record never shrinks; a newer minor version may append fields to a record (its
//!   section's `stride` grows) or to the header (`header_size` grows), and may add
//!   section kinds and event kinds; readers skip what they do not know.

pub use crate::heap_error_table::{HeapErrorRecord, HeapErrorTable, HEAP_ERROR_SLOTS};
pub use crate::oom::{OomReportRecord, StrandedRecord};
pub use crate::sizes::{
    COMMAND_BYTES, EVENT_ARGS, GPU_NAME_BYTES, MAX_CLASSES, MAX_GPU_BUCKETS, MAX_SAMPLE_FRAMES,
    MAX_SECTIONS, SECTION_ALIGN, SLOTS_PER_SUPERSLAB, SLOT_BYTES, SUPERSLAB_BYTES,
    THREAD_NAME_BYTES,
};
use crate::sync::{AtomicU32, AtomicU64, Ordering};

/// `b"SLABSCP1"` read as a little-endian `u64`; the first word of every segment.
pub const MAGIC: u64 = u64::from_le_bytes(*b"SLABSCP1");
/// Protocol major version: a reader refuses a segment of another major.
pub const PROTOCOL_MAJOR: u16 = 1;
/// Protocol minor version: additive changes only; a 1.x reader reads any 1.y segment.
pub const PROTOCOL_MINOR: u16 = 4;

/// Offset of the [`HeapErrorTable`] in the segment: right after the 1.0 header.
pub const HEAP_ERROR_TABLE_OFFSET: usize = core::mem::size_of::<Header>();
/// The `header_size` a 1.4 writer writes: the 1.0 header and the heap error table.
pub const HEADER_BYTES: usize = HEAP_ERROR_TABLE_OFFSET + core::mem::size_of::<HeapErrorTable>();

/// Marker for "no class" in event arguments.
pub const NO_CLASS: u64 = u64::MAX;

/// Stores `bytes` (truncated, NUL-padded) into little-endian words: how every byte
/// field of a record (the command line, thread and GPU pool names) is written. Relaxed
/// stores; the caller orders them (a sequence lock or a claim).
pub fn store_bytes(words: &[AtomicU64], bytes: &[u8]) {
    for (i, w) in words.iter().enumerate() {
        let mut chunk = [0u8; 8];
        let start = (i * 8).min(bytes.len());
        let end = (start + 8).min(bytes.len());
        chunk[..end - start].copy_from_slice(&bytes[start..end]);
        w.store(u64::from_le_bytes(chunk), Ordering::Relaxed);
    }
}

/// Header flag: the writer closed the segment at normal exit.
pub const FLAG_CLOSED: u32 = 1 << 0;
/// Header flag: at least one allocation failed for lack of memory.
pub const FLAG_OOM: u32 = 1 << 1;
/// Header flag: the writer is the LD_PRELOAD malloc (not a Rust `#[global_allocator]`).
pub const FLAG_PRELOAD: u32 = 1 << 2;
/// Header flag: the process has at least one GPU pool.
pub const FLAG_GPU: u32 = 1 << 3;

/// What a section of the segment holds.
#[repr(u32)]
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SectionKind {
    /// [`ClassRecord`]s, one per size class, in class order.
    Classes = 1,
    /// [`ThreadRecord`]s, one per thread that allocated (reused after exit).
    Threads = 2,
    /// [`SuperSlabRecord`]s: the slot map.
    SuperSlabs = 3,
    /// [`GpuPoolRecord`]s, one per GPU slab pool.
    GpuPools = 4,
    /// [`EventRecord`]s: the event ring (`capacity` is a power of two).
    Ring = 5,
    /// One [`OomReportRecord`]: the OOM flight recorder (1.2).
    OomReport = 6,
    /// [`SampleSiteRecord`]s: sampled allocation sites (1.2; the allocator's segments
    /// always have it, so that sampling can be switched on at run time; readers must
    /// not require it).
    SampleSites = 7,
    /// [`SlotOwnerRecord`]s: the owner thread of every slot, one record per
    /// [`SuperSlabRecord`] at the same index (1.3).
    SlotOwners = 8,
}

impl SectionKind {
    /// The section's name in messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Classes => "class",
            Self::Threads => "thread",
            Self::SuperSlabs => "SuperSlab",
            Self::GpuPools => "GPU pool",
            Self::Ring => "ring",
            Self::OomReport => "OOM report",
            Self::SampleSites => "sample site",
            Self::SlotOwners => "slot owner",
        }
    }

    /// Decodes a section kind; `None` for kinds this reader does not know.
    pub fn from_u32(v: u32) -> Option<Self> {
        Some(match v {
            1 => Self::Classes,
            2 => Self::Threads,
            3 => Self::SuperSlabs,
            4 => Self::GpuPools,
            5 => Self::Ring,
            6 => Self::OomReport,
            7 => Self::SampleSites,
            8 => Self::SlotOwners,
            _ => return None,
        })
    }

    /// The record size this protocol version writes for this kind (the minimum stride).
    pub const fn record_size(self) -> usize {
        match self {
            Self::Classes => core::mem::size_of::<ClassRecord>(),
            Self::Threads => core::mem::size_of::<ThreadRecord>(),
            Self::SuperSlabs => core::mem::size_of::<SuperSlabRecord>(),
            Self::GpuPools => core::mem::size_of::<GpuPoolRecord>(),
            Self::Ring => core::mem::size_of::<EventRecord>(),
            Self::OomReport => core::mem::size_of::<OomReportRecord>(),
            Self::SampleSites => core::mem::size_of::<SampleSiteRecord>(),
            Self::SlotOwners => core::mem::size_of::<SlotOwnerRecord>(),
        }
    }
}

/// One entry of the header's section table.
///
/// Written once at creation (`kind`, `stride`, `offset`, `capacity`), except `used`
/// and `overflow`, which the writer bumps as records are claimed.
#[repr(C)]
#[derive(Debug)]
pub struct SectionDesc {
    /// [`SectionKind`] as `u32`; 0 = unused table entry.
    pub kind: AtomicU32,
    /// Bytes from one record to the next (>= the record size the reader knows).
    pub stride: AtomicU32,
    /// Offset of the first record from the start of the segment (64-aligned).
    pub offset: AtomicU64,
    /// Records reserved in the segment.
    pub capacity: AtomicU32,
    /// Records claimed so far (<= `capacity`). A claimer takes index `used` by a CAS to
    /// `used + 1`, then writes the record under its `seq` word; readers load it with
    /// `Acquire` and skip claimed records whose `seq` is still 0. Unused for the ring.
    pub used: AtomicU32,
    /// Claims refused because the section was full (records that could not be shown).
    pub overflow: AtomicU64,
}

/// Process-wide totals, in the header. Relaxed counters, each exact on its own.
#[repr(C)]
#[derive(Debug)]
pub struct Totals {
    /// Bytes currently mapped from the OS by the allocator (SuperSlabs + large).
    pub mapped_bytes: AtomicU64,
    /// Highest `mapped_bytes` seen.
    pub peak_mapped_bytes: AtomicU64,
    /// SuperSlabs currently mapped (including empty ones held in the cache).
    pub superslabs: AtomicU64,
    /// SuperSlabs detected empty and held in the cache, not yet returned to the OS.
    pub superslabs_cached: AtomicU64,
    /// SuperSlabs mapped over the process lifetime.
    pub superslabs_mapped_total: AtomicU64,
    /// SuperSlabs returned to the OS over the process lifetime.
    pub superslabs_returned_total: AtomicU64,
    /// Bytes in live large (directly mapped) allocations.
    pub large_bytes: AtomicU64,
    /// Live large allocations.
    pub large_count: AtomicU64,
    /// `SLABSCOPE_LIMIT` in bytes, 0 when there is none.
    pub limit_bytes: AtomicU64,
    /// Allocations that failed for lack of memory.
    pub oom_count: AtomicU64,
    /// Frees of pointers the allocator does not own (detected and ignored).
    pub foreign_frees: AtomicU64,
    /// Mean bytes allocated between two sampled allocations (`SLABSCOPE_SAMPLE`); 0 when
    /// the writer does not sample (1.2; was reserved, zero, before).
    pub sample_interval_bytes: AtomicU64,
    /// Heap errors `SLABSCOPE_CHECK` found, by kind: index `kind - 1` in the order of
    /// `HeapErrorKind::ALL` (double free, invalid free, write after free, overflow).
    /// `fetch_add` by `SegmentWriter::heap_error`, from any thread (1.4; reserved, zero,
    /// before).
    pub heap_errors: [AtomicU64; 4],
}

/// Control words of the event ring, in the header.
#[repr(C)]
#[derive(Debug)]
pub struct RingControl {
    /// Events ever reserved: the next event gets sequence number `head`. `fetch_add` by writers.
    pub head: AtomicU64,
    /// Events the writer gave up on (slot still being written by a lapping writer).
    pub dropped: AtomicU64,
}

/// The segment header, at offset 0: the part every 1.x segment has. From 1.4 the
/// [`HeapErrorTable`] follows it inside `header_size`; a reader looks for it only when
/// `header_size >= HEADER_BYTES`.
#[repr(C)]
#[derive(Debug)]
pub struct Header {
    /// [`MAGIC`]; stored last (with `Release`) when the segment is created.
    pub magic: AtomicU64,
    /// `major << 16 | minor`.
    pub version: AtomicU32,
    /// Bytes of the header as the writer laid it out: `size_of::<Header>()` (616) in 1.0
    /// to 1.3; [`HEADER_BYTES`] from 1.4, whose header goes on with the
    /// [`HeapErrorTable`] at [`HEAP_ERROR_TABLE_OFFSET`].
    pub header_size: AtomicU32,
    /// Bytes of the whole segment.
    pub total_size: AtomicU64,
    /// Process id of the writer.
    pub pid: AtomicU32,
    /// `FLAG_*` bits.
    pub flags: AtomicU32,
    /// `CLOCK_REALTIME` at creation, in ns since the Unix epoch.
    pub start_unix_ns: AtomicU64,
    /// `CLOCK_MONOTONIC` at creation, in ns; event times use the same clock.
    pub start_mono_ns: AtomicU64,
    /// `CLOCK_MONOTONIC` ns of the writer's last slow-path update (liveness).
    pub heartbeat_mono_ns: AtomicU64,
    /// Entries of `sections` in use.
    pub section_count: AtomicU32,
    /// OS page size seen by the writer.
    pub page_size: AtomicU32,
    /// Size classes in the class table (<= [`MAX_CLASSES`]).
    pub class_count: AtomicU32,
    /// Slots per SuperSlab ([`SLOTS_PER_SUPERSLAB`]).
    pub slots_per_superslab: AtomicU32,
    /// Bytes per SuperSlab ([`SUPERSLAB_BYTES`]).
    pub superslab_bytes: AtomicU64,
    /// Magazine drain interval in frees (`SLABSCOPE_DRAIN_INTERVAL`).
    pub drain_interval: AtomicU64,
    /// The command line, NUL-padded, arguments separated by spaces.
    pub command: [AtomicU64; COMMAND_BYTES / 8],
    /// Process-wide totals.
    pub totals: Totals,
    /// Event ring control words.
    pub ring: RingControl,
    /// The section table.
    pub sections: [SectionDesc; MAX_SECTIONS],
}

/// What a per-class counter measures over time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CounterKind {
    /// A level that goes up and down (blocks, slots).
    Gauge,
    /// A running total that only goes up (events since the process started).
    Total,
}

/// One per-class counter of the declaration: what readers need to present it.
#[derive(Clone, Copy, Debug)]
pub struct ClassCounterDesc {
    /// Field name in [`ClassRecord`] and [`ClassCounters`], and the name readers
    /// publish it under (`capacity_blocks`, `allocs`, ...).
    pub name: &'static str,
    /// One sentence on what it counts (the field's doc comment).
    pub help: &'static str,
    /// Gauge or running total.
    pub kind: CounterKind,
    /// Its value in a [`ClassCounters`].
    pub get: fn(&ClassCounters) -> u64,
}

impl ClassCounterDesc {
    /// [`Self::help`] without the doc comment's leading space.
    pub fn help(&self) -> &'static str {
        self.help.trim()
    }
}

/// The one declaration of the per-class counters. Each entry produces a field of the
/// segment record ([`ClassRecord`]), of the reader's plain copy ([`ClassCounters`], which
/// the allocator fills with a struct literal, so that it fails to compile when it misses
/// one), and an entry of [`CLASS_COUNTERS`], from which readers derive their JSON fields,
/// metrics and columns.
macro_rules! class_counters {
    ($( $(#[doc = $doc:literal])* $name:ident: $kind:ident ),* $(,)?) => {
        /// Per-class statistics: one record per size class.
        ///
        /// Invariant at quiescence: `live + cached_blocks + free_blocks == capacity_blocks`,
        /// where `live` (blocks in user hands) is derived by readers.
        #[repr(C)]
        #[derive(Debug)]
        pub struct ClassRecord {
            /// Block size in bytes (fixed at creation).
            pub block_size: AtomicU32,
            /// Class index (fixed at creation; equals the record's position).
            pub class: AtomicU32,
            $( $(#[doc = $doc])* pub $name: AtomicU64, )*
            /// Reserved for additive use; zero in 1.0.
            pub reserved0: AtomicU64,
        }

        /// The per-class counters as plain numbers, as a reader saw them.
        #[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
        #[cfg_attr(feature = "serde", derive(serde::Serialize))]
        pub struct ClassCounters {
            $( $(#[doc = $doc])* pub $name: u64, )*
        }

        /// Every per-class counter, in record order.
        pub const CLASS_COUNTERS: &[ClassCounterDesc] = &[$(
            ClassCounterDesc {
                name: stringify!($name),
                help: concat!($($doc),*),
                kind: CounterKind::$kind,
                get: |c| c.$name,
            }
        ),*];

        impl ClassRecord {
            /// Reads every counter (`Relaxed`).
            pub fn load_counters(&self) -> ClassCounters {
                ClassCounters { $( $name: self.$name.load(Ordering::Relaxed) ),* }
            }

            /// Stores every counter (`Relaxed`): the writer's copy of its own counters.
            pub fn store_counters(&self, c: &ClassCounters) {
                $( self.$name.store(c.$name, Ordering::Relaxed); )*
            }
        }
    };
}

class_counters! {
    /// Blocks carved in slots of this class (ACTIVE and EMPTY slots).
    capacity_blocks: Gauge,
    /// Blocks free inside slots (slot free lists, remote lists, not yet carved).
    free_blocks: Gauge,
    /// Blocks held in thread magazines.
    cached_blocks: Gauge,
    /// Allocations served (folded from thread-local counters on slow paths).
    allocs: Total,
    /// Frees received (folded from thread-local counters on slow paths).
    frees: Total,
    /// Frees that came from a thread other than the one that owns the slot.
    remote_frees: Total,
    /// Slots of this class in state ACTIVE.
    slots_active: Gauge,
    /// Slots of this class in state EMPTY (all blocks back, not yet reused).
    slots_empty: Gauge,
    /// Magazine refills from slots.
    refills: Total,
    /// Magazine drains to slots.
    drains: Total,
    /// Slot acquisitions at stage 1 (an EMPTY slot of this class reused).
    acquire_stage1: Total,
    /// Slot acquisitions at stage 2 (an UNUSED slot of an existing SuperSlab).
    acquire_stage2: Total,
    /// Slot acquisitions at stage 3 (a new SuperSlab mapped).
    acquire_stage3: Total,
}

/// Thread record state: never claimed or released for reuse.
pub const THREAD_FREE: u32 = 0;
/// Thread record state: the thread is running.
pub const THREAD_LIVE: u32 = 1;
/// Thread record state: the thread exited (its magazines were drained); kept until reused.
pub const THREAD_EXITED: u32 = 2;

/// One thread's magazines. Single writer (the owning thread) under the record's
/// sequence lock: `seq` odd while the writer updates the record.
#[repr(C)]
#[derive(Debug)]
pub struct ThreadRecord {
    /// Sequence lock word: even = stable, odd = being written; 0 = never written.
    pub seq: AtomicU64,
    /// Kernel thread id (`gettid`).
    pub tid: AtomicU64,
    /// `THREAD_*` state.
    pub state: AtomicU32,
    /// Classes described in `magazines` (== header `class_count`).
    pub class_count: AtomicU32,
    /// Drains this thread performed.
    pub drains: AtomicU64,
    /// Frees this thread performed (folded on slow paths).
    pub frees: AtomicU64,
    /// Thread name, NUL-padded.
    pub name: [AtomicU64; THREAD_NAME_BYTES / 8],
    /// Per class: `fill | capacity << 32` (blocks in the magazine, and its capacity).
    pub magazines: [AtomicU64; MAX_CLASSES],
}

/// Slot state: never carved.
pub const SLOT_UNUSED: u8 = 0;
/// Slot state: carved into blocks of one class, some in use.
pub const SLOT_ACTIVE: u8 = 1;
/// Slot state: carved for a class, all blocks back; may be decommitted.
pub const SLOT_EMPTY: u8 = 2;

/// SuperSlab record state: record free (never used, or the SuperSlab was returned).
pub const SUPERSLAB_FREE: u32 = 0;
/// SuperSlab record state: mapped and in use.
pub const SUPERSLAB_MAPPED: u32 = 1;
/// SuperSlab record state: every slot EMPTY/UNUSED; held in the cache before return.
pub const SUPERSLAB_EMPTY: u32 = 2;

/// One SuperSlab of the slot map. Writers are serialised by the allocator (slot state
/// changes happen under its SuperSlab lock) and use the record's sequence lock.
#[repr(C)]
#[derive(Debug)]
pub struct SuperSlabRecord {
    /// Sequence lock word: even = stable, odd = being written; 0 = never written.
    pub seq: AtomicU64,
    /// Base address of the SuperSlab in the writer's address space.
    pub base: AtomicU64,
    /// `SUPERSLAB_*` state.
    pub state: AtomicU32,
    /// Reserved; zero in 1.0.
    pub reserved: AtomicU32,
    /// Per slot: see [`pack_slot`].
    pub slots: [AtomicU64; SLOTS_PER_SUPERSLAB],
}

/// [`SlotOwnerRecord`] value of a slot no thread owns (UNUSED, EMPTY, sampled, or a
/// writer that does not know).
pub const SLOT_OWNER_NONE: u32 = 0;
/// [`SlotOwnerRecord`] value of an abandoned slot: its owner thread exited with blocks
/// of it still out; any thread may adopt it.
pub const SLOT_OWNER_ABANDONED: u32 = u32::MAX;

/// The owner of each slot of the SuperSlab whose [`SuperSlabRecord`] has the same index
/// (1.3): the owner thread's kernel tid, [`SLOT_OWNER_NONE`] or
/// [`SLOT_OWNER_ABANDONED`]. Each word is written on its own (`Relaxed`), when the slot
/// word is; it is cleared when the SuperSlab record is claimed.
#[repr(C)]
#[derive(Debug)]
pub struct SlotOwnerRecord {
    /// Per slot.
    pub owners: [AtomicU32; SLOTS_PER_SUPERSLAB],
}

/// Packs one slot word: `state | class << 8 | capacity << 16 | used << 32`.
pub const fn pack_slot(state: u8, class: u8, capacity: u16, used: u32) -> u64 {
    state as u64 | (class as u64) << 8 | (capacity as u64) << 16 | (used as u64) << 32
}

/// Unpacks a slot word into `(state, class, capacity, used)`.
pub const fn unpack_slot(word: u64) -> (u8, u8, u16, u32) {
    (
        word as u8,
        (word >> 8) as u8,
        (word >> 16) as u16,
        (word >> 32) as u32,
    )
}

/// One bucket of a GPU pool. Relaxed counters.
#[repr(C)]
#[derive(Debug)]
pub struct GpuBucketRecord {
    /// Bucket size in bytes (a power of two); 0 = unused bucket.
    pub bucket_bytes: AtomicU64,
    /// Buffers of this bucket handed out and not yet returned.
    pub live: AtomicU64,
    /// Buffers of this bucket cached in the pool, ready for reuse.
    pub cached: AtomicU64,
    /// Allocations served from the cache.
    pub hits: AtomicU64,
    /// Allocations that went to the device.
    pub misses: AtomicU64,
    /// Highest `live + cached` buffers seen.
    pub high_water: AtomicU64,
    /// Buffers released to the device by trims or the cache limit.
    pub trimmed: AtomicU64,
    /// Reserved; zero in 1.0.
    pub reserved: AtomicU64,
}

/// GPU pool backend: CUDA through cudarc.
pub const GPU_BACKEND_CUDA: u32 = 1;
/// GPU pool backend: host memory.
pub const GPU_BACKEND_HOST: u32 = 2;

/// One GPU slab pool. `seq` is 0 until the pool registered (Release), then even.
#[repr(C)]
#[derive(Debug)]
pub struct GpuPoolRecord {
    /// 0 = unclaimed; non-zero and even once the identity fields are written.
    pub seq: AtomicU64,
    /// Pool id, unique in the process.
    pub pool_id: AtomicU32,
    /// Device ordinal (`u32::MAX` for host memory).
    pub device: AtomicU32,
    /// `GPU_BACKEND_*`.
    pub backend: AtomicU32,
    /// Buckets in use in `buckets`.
    pub bucket_count: AtomicU32,
    /// Device name, NUL-padded.
    pub name: [AtomicU64; GPU_NAME_BYTES / 8],
    /// Oversize requests sent straight to the device.
    pub oversize: AtomicU64,
    /// Bytes in live oversize buffers.
    pub oversize_live_bytes: AtomicU64,
    /// Trims performed (explicit, cache limit or OOM retry).
    pub trims: AtomicU64,
    /// Device out-of-memory errors returned to callers.
    pub device_ooms: AtomicU64,
    /// Cache limit in bytes (0 = none).
    pub cache_limit_bytes: AtomicU64,
    /// Device memory total, bytes (as last queried).
    pub device_total_bytes: AtomicU64,
    /// Device memory free, bytes (as last queried).
    pub device_free_bytes: AtomicU64,
    /// Reserved; zero in 1.0.
    pub reserved: AtomicU64,
    /// Buckets, smallest first.
    pub buckets: [GpuBucketRecord; MAX_GPU_BUCKETS],
}

/// One event of the ring.
///
/// `stamp` is `(seq + 1) << 1` once event `seq` is complete and `(seq + 1) << 1 | 1` while
/// it is being written; 0 = never written. See `ring.rs` for the protocol.
#[repr(C)]
#[derive(Debug)]
pub struct EventRecord {
    /// Per-slot sequence stamp.
    pub stamp: AtomicU64,
    /// `CLOCK_MONOTONIC` ns when the event happened.
    pub time_ns: AtomicU64,
    /// `kind | thread_tid << 32` (kind is an `EventKind` code, 16 bits; bits 16-31 zero).
    pub kind_thread: AtomicU64,
    /// Kind-specific arguments (see `event.rs`).
    pub args: [AtomicU64; EVENT_ARGS],
}

/// One sampled allocation site: a call stack (return addresses, innermost first) and
/// what the allocations sampled there hold. Writers are serialised by the allocator's
/// sample lock and use the record's sequence lock; `seq` is 0 until the site's identity
/// (`hash`, `frame_count`, `frames`) is written.
#[repr(C)]
#[derive(Debug)]
pub struct SampleSiteRecord {
    /// Sequence lock word: even = stable, odd = being written; 0 = never written.
    pub seq: AtomicU64,
    /// Hash of the frames (the writer's key for the site; never 0 once written).
    pub hash: AtomicU64,
    /// Return addresses in `frames`, 0..=[`MAX_SAMPLE_FRAMES`].
    pub frame_count: AtomicU32,
    /// Reserved; zero in 1.2.
    pub reserved: AtomicU32,
    /// Return addresses in the writer's address space, innermost (the allocation's
    /// caller) first; entries past `frame_count` are 0.
    pub frames: [AtomicU64; MAX_SAMPLE_FRAMES],
    /// Bytes requested by the sampled allocations of this site that are still live.
    pub live_bytes: AtomicU64,
    /// Sampled allocations of this site still live.
    pub live_samples: AtomicU64,
    /// Estimated bytes of all live allocations of this site: the sum, over live samples,
    /// of `max(size, sample_interval_bytes)` (each sample stands for that many bytes).
    pub live_estimated_bytes: AtomicU64,
    /// Bytes requested by every sampled allocation of this site, freed or not.
    pub total_bytes: AtomicU64,
    /// Sampled allocations of this site, freed or not.
    pub total_samples: AtomicU64,
    /// `CLOCK_MONOTONIC` ns of the site's first sample.
    pub first_mono_ns: AtomicU64,
    /// `CLOCK_MONOTONIC` ns of the site's latest sample.
    pub last_mono_ns: AtomicU64,
}

#[cfg(not(loom))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<SectionDesc>() == 32);
    assert!(size_of::<Totals>() == 128);
    assert!(size_of::<RingControl>() == 16);
    assert!(offset_of!(Header, version) == 8);
    assert!(offset_of!(Header, total_size) == 16);
    assert!(offset_of!(Header, pid) == 24);
    assert!(offset_of!(Header, start_unix_ns) == 32);
    assert!(offset_of!(Header, heartbeat_mono_ns) == 48);
    assert!(offset_of!(Header, section_count) == 56);
    assert!(offset_of!(Header, superslab_bytes) == 72);
    assert!(offset_of!(Header, command) == 88);
    assert!(offset_of!(Header, totals) == 216);
    assert!(offset_of!(Header, ring) == 344);
    assert!(offset_of!(Header, sections) == 360);
    assert!(size_of::<Header>() == 616);
    assert!(HEAP_ERROR_TABLE_OFFSET == 616);
    assert!(HEADER_BYTES == 1648);
    assert!(HEADER_BYTES.is_multiple_of(8));
    assert!(offset_of!(Header, totals) + offset_of!(Totals, heap_errors) == 216 + 96);
    assert!(align_of::<Header>() == 8);
    assert!(size_of::<ClassRecord>() == 8 + 14 * 8);
    assert!(size_of::<ThreadRecord>() == 56 + 8 * MAX_CLASSES);
    assert!(size_of::<SuperSlabRecord>() == 24 + 8 * SLOTS_PER_SUPERSLAB);
    assert!(size_of::<GpuBucketRecord>() == 64);
    assert!(size_of::<GpuPoolRecord>() == 120 + 64 * MAX_GPU_BUCKETS);
    assert!(size_of::<EventRecord>() == 64);
    assert!(size_of::<SampleSiteRecord>() == 24 + 8 * MAX_SAMPLE_FRAMES + 7 * 8);
    assert!(size_of::<SlotOwnerRecord>() == 4 * SLOTS_PER_SUPERSLAB);
    assert!(SLOT_BYTES == 64 << 10);
};
