//! The types of JSON schema 1. Names carry their unit (`_bytes`, `_blocks`, `_ns`,
//! `_ratio`, `_addr`); a thread is always `tid`; a size class always `class`.
//! Compatibility: within schema 1 fields and event kinds are only added, never renamed,
//! removed or retyped; a reader ignores what it does not know.

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};
use slabscope_proto::layout::{ClassCounters, CLASS_COUNTERS};

pub use super::event::{Event, EventDetail};
pub use super::heap_error::{HeapError, HeapErrorCounts};
pub use super::oom::{FreeRun, GpuBucket, GpuPool, Oom, OomClass, StrandedThread};

/// The schema version of every document this inspector writes.
pub const SCHEMA: u32 = 1;

/// One frame of a leak's call stack.
#[derive(Debug, Serialize)]
pub struct StackFrame {
    /// As in `Leak::frames`.
    pub function: String,
    /// Source file from the debug info.
    pub file: Option<String>,
    /// Line in `file`.
    pub line: Option<u32>,
    /// Inlined into the next frame.
    pub inlined: bool,
}

impl From<&crate::symbolize::Frame> for StackFrame {
    fn from(f: &crate::symbolize::Frame) -> Self {
        Self {
            function: f.function.clone(),
            file: f.file.clone(),
            line: f.line,
            inlined: f.inlined,
        }
    }
}

/// The `--once --json` document.
#[derive(Debug, Serialize)]
pub struct Document {
    /// [`SCHEMA`].
    pub schema: u32,
    /// `"major.minor"` of the segment the document was read from.
    pub segment_protocol: String,
    /// Writer pid.
    pub pid: u32,
    /// Process figures.
    pub process: Process,
    /// Byte totals.
    pub totals: Totals,
    /// Size classes, in class order.
    pub classes: Vec<Class>,
    /// Threads with a record, live and exited.
    pub threads: Vec<Thread>,
    /// SuperSlabs with a record.
    pub superslabs: Vec<SuperSlab>,
    /// Sampled allocation sites with live samples, by estimated live bytes (empty when
    /// the process does not sample).
    pub leaks: Vec<Leak>,
    /// Events still in the ring, oldest first.
    pub events: Vec<Event>,
    /// Events lost: dropped by the writer plus overwritten before this read.
    pub events_dropped: u64,
    /// GPU pools (empty without one).
    pub gpu: Vec<GpuPool>,
    /// The latest failed allocation and the allocator's state at it (null when none
    /// failed, or for a segment older than protocol 1.2).
    pub oom: Option<Oom>,
    /// The most recent heap errors `SLABSCOPE_CHECK` found (the segment keeps 16), newest
    /// last (empty without any, or for a segment older than protocol 1.4).
    pub heap_errors: Vec<HeapError>,
    /// Every heap error found since the process started, by kind.
    pub heap_error_counts: HeapErrorCounts,
}

/// Process figures.
#[derive(Debug, Serialize)]
pub struct Process {
    /// `VmRSS` (null for a post-mortem file).
    pub rss_bytes: Option<u64>,
    /// `VmHWM` (null for a post-mortem file).
    pub peak_rss_bytes: Option<u64>,
    /// Command line as the segment recorded it.
    pub command: String,
    /// Whether the process still runs (null when unknown, e.g. a post-mortem file).
    pub alive: Option<bool>,
    /// Since the process created its segment.
    pub uptime_ns: u64,
    /// `CLOCK_REALTIME` when the process created its segment, ns since the Unix epoch.
    pub start_unix_ns: u64,
    /// Written by the `LD_PRELOAD` malloc (false: a Rust `#[global_allocator]`).
    pub preload: bool,
    /// Frees between a thread's interval drains (`SLABSCOPE_DRAIN_INTERVAL`).
    pub drain_interval_frees: u64,
}

/// Byte totals.
#[derive(Debug, Serialize)]
pub struct Totals {
    /// Mapped from the OS (SuperSlabs, large allocations and their cache).
    pub mapped_bytes: u64,
    /// Highest `mapped_bytes` seen.
    pub peak_mapped_bytes: u64,
    /// In user hands (classes and large allocations).
    pub live_bytes: u64,
    /// Cached in thread magazines.
    pub cached_bytes: u64,
    /// Free inside slots.
    pub free_bytes: u64,
    /// `1 - live / mapped`.
    pub fragmentation_ratio: f64,
    /// SuperSlabs mapped now, cached empty ones included.
    pub superslabs: u64,
    /// Empty SuperSlabs in the cache.
    pub superslabs_cached: u64,
    /// SuperSlabs ever mapped.
    pub superslabs_mapped_total: u64,
    /// SuperSlabs ever returned to the OS.
    pub superslabs_returned_total: u64,
    /// Live large allocations.
    pub large_count: u64,
    /// In live large allocations.
    pub large_bytes: u64,
    /// Allocations that failed for lack of memory.
    pub oom_count: u64,
    /// Frees of pointers the allocator does not own, ignored.
    pub foreign_frees: u64,
    /// `SLABSCOPE_LIMIT` (0 = none).
    pub limit_bytes: u64,
    /// Mean bytes between sampled allocations (0 = not sampling).
    pub sample_interval_bytes: u64,
}

/// One size class: its identity, the derived live figures, then every counter of the
/// protocol's declaration (`layout::CLASS_COUNTERS`) under its declared name.
#[derive(Debug, Serialize)]
pub struct Class {
    /// Class index.
    pub class: u32,
    /// Block size.
    pub block_size_bytes: u32,
    /// Blocks in user hands (`capacity - free - cached`).
    pub live_blocks: u64,
    /// `live_blocks` times the block size.
    pub live_bytes: u64,
    /// The declared counters.
    #[serde(flatten)]
    pub counters: Counters,
}

/// The declared per-class counters, serialised as one field each, in declaration order.
#[derive(Debug)]
pub struct Counters(pub ClassCounters);

impl Serialize for Counters {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut m = s.serialize_map(Some(CLASS_COUNTERS.len()))?;
        for d in CLASS_COUNTERS {
            m.serialize_entry(d.name, &(d.get)(&self.0))?;
        }
        m.end()
    }
}

/// One thread.
#[derive(Debug, Serialize)]
pub struct Thread {
    /// Kernel tid.
    pub tid: u64,
    /// Thread name (may be empty).
    pub name: String,
    /// `"live"` or `"exited"`.
    pub state: &'static str,
    /// Drains it performed.
    pub drains: u64,
    /// Frees it performed (as last folded).
    pub frees: u64,
    /// Its magazines, one per class with a capacity.
    pub magazines: Vec<Magazine>,
}

/// One magazine.
#[derive(Debug, Serialize)]
pub struct Magazine {
    /// Class.
    pub class: u32,
    /// Blocks it holds.
    pub fill_blocks: u32,
    /// Blocks it can hold.
    pub capacity_blocks: u32,
}

/// One SuperSlab.
#[derive(Debug, Serialize)]
pub struct SuperSlab {
    /// Base address in the process.
    pub addr: u64,
    /// `"mapped"` or `"empty"` (every slot EMPTY or UNUSED, cached).
    pub state: &'static str,
    /// Its slots, in address order.
    pub slots: Vec<Slot>,
}

/// One slot.
#[derive(Debug, Serialize)]
pub struct Slot {
    /// Index in its SuperSlab.
    pub index: u32,
    /// `"unused"`, `"active"` or `"empty"`.
    pub state: &'static str,
    /// Class it is carved for (null when unused).
    pub class: Option<u32>,
    /// Blocks out of it (in user hands, magazines, or remote frees not yet collected).
    pub used_blocks: u32,
    /// Blocks it holds.
    pub capacity_blocks: u32,
    /// Who refills from it.
    pub owner: Owner,
}

/// A slot's owner.
#[derive(Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Owner {
    /// No thread (unused, empty, serving sampled blocks, or a segment before 1.3).
    None,
    /// The thread that refills from it.
    Thread {
        /// Kernel tid.
        tid: u32,
    },
    /// Its owner exited with blocks of it still out.
    Abandoned,
}

/// One sampled allocation site.
#[derive(Debug, Serialize)]
pub struct Leak {
    /// The first frame outside the allocator and the standard library's allocation
    /// plumbing.
    pub function: String,
    /// That frame's `file:line`, when its binary has debug info.
    pub location: Option<String>,
    /// Every frame, innermost first: demangled function names (`file+0xOFFSET` without
    /// a symbol, `0xADDR` outside every mapping or for a process that is gone); a return
    /// address inside inlined code gives the inlined functions first.
    pub frames: Vec<String>,
    /// `frames` with their source positions.
    pub stack: Vec<StackFrame>,
    /// Estimated bytes of every live allocation of the site.
    pub live_bytes: u64,
    /// Requested bytes of the site's live sampled allocations.
    pub sampled_live_bytes: u64,
    /// Live sampled allocations.
    pub live_samples: u64,
    /// Growth of `live_bytes`: for one read, `live_bytes` over the time since the
    /// site's first sample.
    pub growth_bytes_per_s: f64,
}
