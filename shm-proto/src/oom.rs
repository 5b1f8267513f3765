//! The OOM report (protocol 1.2): one [`OomReportRecord`] in its own section
//! ([`crate::layout::SectionKind::OomReport`], capacity 1) that the allocator fills when
//! an allocation fails, and its plain-data copy [`OomReport`] for readers.
//!
//! The record describes the latest reported OOM (`reports` counts them all). It is
//! written under its sequence lock by one writer at a time (the allocator serialises OOM
//! reports); `seq` stays 0 until the first report, so a reader says "no OOM" until then.
//!
//! Identity the allocator keeps (exact when no other thread maps or unmaps meanwhile):
//! `mapped_bytes == large_bytes + superslabs * SUPERSLAB_BYTES` and
//! `superslabs * SUPERSLAB_BYTES == header_bytes + unused_bytes + tail_bytes +
//! sum over classes of (live + cached + free)`. docs/PROTOCOL.md and docs/DEBUGGING.md
//! define every field.

use crate::sizes::MAX_CLASSES;
#[cfg(not(loom))]
use crate::sync::Ordering;
use crate::sync::{AtomicU32, AtomicU64};

/// Threads listed in [`OomReportRecord::stranded`] (the ones holding the most bytes).
pub const OOM_STRANDED_THREADS: usize = 8;
/// `cause`: the allocation would have exceeded `SLABSCOPE_LIMIT`.
pub const OOM_CAUSE_LIMIT: u32 = 1;
/// `cause`: the kernel refused the mapping (mmap failed).
pub const OOM_CAUSE_MMAP: u32 = 2;
/// `class`: the request was a large (directly mapped) one.
pub const OOM_NO_CLASS: u32 = u32::MAX;
/// `largest_free_run_kind`: no free run at all.
pub const FREE_RUN_NONE: u32 = 0;
/// `largest_free_run_kind`: consecutive UNUSED or EMPTY slots of one SuperSlab.
pub const FREE_RUN_SLOTS: u32 = 1;
/// `largest_free_run_kind`: the never-carved tail of one ACTIVE slot.
pub const FREE_RUN_UNCARVED: u32 = 2;
/// `stranded[i].state`: the thread is running but idle.
pub const STRANDED_IDLE: u32 = 1;
/// `stranded[i].state`: the thread exited.
pub const STRANDED_EXITED: u32 = 2;
/// `ring_seq` when no OOM event reached the ring (no segment ring at the time).
pub const NO_RING_SEQ: u64 = u64::MAX;

/// One thread holding blocks in its magazines at the OOM.
#[repr(C)]
#[derive(Debug)]
pub struct StrandedRecord {
    /// Kernel thread id.
    pub tid: AtomicU64,
    /// Bytes in its magazines (fill times block size, summed over classes).
    pub bytes: AtomicU64,
    /// Nanoseconds since its last slow path (0 when unknown).
    pub idle_ns: AtomicU64,
    /// `STRANDED_*`.
    pub state: AtomicU32,
    /// Reserved; zero in 1.2.
    pub reserved: AtomicU32,
}

/// The OOM flight recorder's record. Every byte count is in bytes of the writer.
#[repr(C)]
#[derive(Debug)]
pub struct OomReportRecord {
    /// Sequence lock word: even = stable, odd = being written; 0 = no OOM yet.
    pub seq: AtomicU64,
    /// OOMs reported so far; the record describes the latest one.
    pub reports: AtomicU64,
    /// `CLOCK_MONOTONIC` ns of the failed allocation.
    pub time_mono_ns: AtomicU64,
    /// Kernel tid of the failing thread.
    pub tid: AtomicU32,
    /// `OOM_CAUSE_*`.
    pub cause: AtomicU32,
    /// Requested size.
    pub request_bytes: AtomicU64,
    /// Requested alignment.
    pub align: AtomicU64,
    /// Size class of the request, [`OOM_NO_CLASS`] for a large request.
    pub class: AtomicU32,
    /// Classes described by the per-class arrays (<= the header's `class_count`).
    pub class_count: AtomicU32,
    /// Bytes mapped (SuperSlabs + large) at the OOM.
    pub mapped_bytes: AtomicU64,
    /// `SLABSCOPE_LIMIT` (0 = none).
    pub limit_bytes: AtomicU64,
    /// Highest `mapped_bytes` so far.
    pub peak_mapped_bytes: AtomicU64,
    /// Bytes of live large allocations.
    pub large_bytes: AtomicU64,
    /// Live large allocations.
    pub large_count: AtomicU64,
    /// SuperSlabs mapped (including cached empty ones).
    pub superslabs: AtomicU64,
    /// Empty SuperSlabs in the cache.
    pub superslabs_cached: AtomicU64,
    /// SuperSlab header bytes (allocator metadata inside the mapped bytes).
    pub header_bytes: AtomicU64,
    /// UNUSED slots (including those of cached empty SuperSlabs).
    pub unused_slots: AtomicU64,
    /// Bytes of UNUSED slots.
    pub unused_bytes: AtomicU64,
    /// Bytes at the end of ACTIVE and EMPTY slots too small for one more block.
    pub tail_bytes: AtomicU64,
    /// EMPTY slots not yet reused or released (all classes).
    pub empty_slots: AtomicU64,
    /// Block bytes of those EMPTY slots (included in the classes' `free` bytes).
    pub empty_bytes: AtomicU64,
    /// Bytes in magazines of idle or exited threads.
    pub stranded_bytes: AtomicU64,
    /// Threads counted in `stranded_bytes`.
    pub stranded_threads: AtomicU32,
    /// Thread records looked at.
    pub threads_seen: AtomicU32,
    /// Bytes of the largest free run (see `largest_free_run_kind`).
    pub largest_free_run_bytes: AtomicU64,
    /// SuperSlab base of the largest free run (0 when none).
    pub largest_free_run_superslab: AtomicU64,
    /// First slot of the largest free run.
    pub largest_free_run_slot: AtomicU32,
    /// `FREE_RUN_*`.
    pub largest_free_run_kind: AtomicU32,
    /// Ring sequence number of the OOM's own event ([`NO_RING_SEQ`] when none): the
    /// events up to it are the ones that led to the OOM.
    pub ring_seq: AtomicU64,
    /// Reserved; zero in 1.2.
    pub reserved: [AtomicU64; 4],
    /// Per class: bytes in user hands.
    pub class_live_bytes: [AtomicU64; MAX_CLASSES],
    /// Per class: bytes cached in thread magazines.
    pub class_cached_bytes: [AtomicU64; MAX_CLASSES],
    /// Per class: bytes free inside slots (free lists, remote lists, not yet carved,
    /// EMPTY slots).
    pub class_free_bytes: [AtomicU64; MAX_CLASSES],
    /// Per class: EMPTY slots.
    pub class_empty_slots: [AtomicU64; MAX_CLASSES],
    /// Per class: block bytes of EMPTY slots.
    pub class_empty_bytes: [AtomicU64; MAX_CLASSES],
    /// The threads holding the most stranded bytes, most first; `stranded_threads`
    /// (at most [`OOM_STRANDED_THREADS`]) entries are meaningful.
    pub stranded: [StrandedRecord; OOM_STRANDED_THREADS],
}

#[cfg(not(loom))]
const _: () = {
    use core::mem::{align_of, offset_of, size_of};
    assert!(size_of::<StrandedRecord>() == 32);
    assert!(offset_of!(OomReportRecord, ring_seq) == 200);
    assert!(offset_of!(OomReportRecord, class_live_bytes) == 240);
    assert!(size_of::<OomReportRecord>() == 240 + 5 * 8 * MAX_CLASSES + 32 * OOM_STRANDED_THREADS);
    assert!(align_of::<OomReportRecord>() == 8);
};

/// Why the allocation failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum OomCause {
    /// `SLABSCOPE_LIMIT` would have been exceeded.
    Limit,
    /// The kernel refused the mapping.
    MmapFailed,
}

/// What the largest free run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "snake_case")
)]
pub enum FreeRunKind {
    /// No free run.
    None,
    /// Consecutive UNUSED or EMPTY slots of one SuperSlab.
    Slots,
    /// The never-carved tail of one ACTIVE slot.
    Uncarved,
}

/// The largest run of contiguous free bytes inside the SuperSlabs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct FreeRun {
    /// Bytes.
    pub bytes: u64,
    /// SuperSlab base.
    pub superslab: u64,
    /// First slot.
    pub slot: u32,
    /// Kind.
    pub kind: FreeRunKind,
}

/// One class's bytes at the OOM.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct OomClass {
    /// Class index.
    pub class: u32,
    /// Bytes in user hands.
    pub live_bytes: u64,
    /// Bytes in thread magazines.
    pub cached_bytes: u64,
    /// Bytes free inside slots.
    pub free_bytes: u64,
    /// EMPTY slots.
    pub empty_slots: u64,
    /// Block bytes of EMPTY slots.
    pub empty_bytes: u64,
}

/// A thread whose magazines held blocks at the OOM.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct StrandedThread {
    /// Kernel tid.
    pub tid: u64,
    /// Bytes in its magazines.
    pub bytes: u64,
    /// Nanoseconds since its last slow path.
    pub idle_ns: u64,
    /// Whether it exited.
    pub exited: bool,
}

/// The OOM report, as a reader saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
pub struct OomReport {
    /// OOMs reported so far (this is the latest).
    pub reports: u64,
    /// `CLOCK_MONOTONIC` ns of the failure.
    pub time_mono_ns: u64,
    /// Failing thread.
    pub tid: u32,
    /// Why it failed.
    pub cause: OomCause,
    /// Requested size.
    pub request_bytes: u64,
    /// Requested alignment.
    pub align: u64,
    /// Class of the request, `None` for a large request.
    pub class: Option<u32>,
    /// Mapped bytes.
    pub mapped_bytes: u64,
    /// Limit (0 = none).
    pub limit_bytes: u64,
    /// Highest mapped bytes.
    pub peak_mapped_bytes: u64,
    /// Bytes of live large allocations.
    pub large_bytes: u64,
    /// Live large allocations.
    pub large_count: u64,
    /// SuperSlabs mapped.
    pub superslabs: u64,
    /// Empty SuperSlabs cached.
    pub superslabs_cached: u64,
    /// SuperSlab header bytes.
    pub header_bytes: u64,
    /// UNUSED slots.
    pub unused_slots: u64,
    /// Bytes of UNUSED slots.
    pub unused_bytes: u64,
    /// Slot tail bytes.
    pub tail_bytes: u64,
    /// EMPTY slots not yet returned.
    pub empty_slots: u64,
    /// Block bytes of EMPTY slots.
    pub empty_bytes: u64,
    /// Bytes in magazines of idle or exited threads.
    pub stranded_bytes: u64,
    /// Threads counted in `stranded_bytes`.
    pub stranded_threads: u32,
    /// Thread records looked at.
    pub threads_seen: u32,
    /// Largest free run.
    pub largest_free_run: FreeRun,
    /// Ring sequence number of the OOM event.
    pub ring_seq: Option<u64>,
    /// Classes with any bytes, in class order.
    pub classes: Vec<OomClass>,
    /// Threads with the most stranded bytes, most first.
    pub stranded: Vec<StrandedThread>,
}

impl OomReport {
    /// Sum over classes of live + cached + free bytes.
    pub fn class_bytes(&self) -> u64 {
        self.classes
            .iter()
            .map(|c| c.live_bytes + c.cached_bytes + c.free_bytes)
            .sum()
    }
}

#[cfg(not(loom))]
fn ld64(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

#[cfg(not(loom))]
fn ld32(a: &AtomicU32) -> u32 {
    a.load(Ordering::Relaxed)
}

/// Reads and checks the report; `Ok(None)` when no OOM was reported or the writer kept
/// the record busy for `attempts` tries (`busy` is then set). `Err` names what is out of
/// range. `class_count` is the segment's.
#[cfg(not(loom))]
pub fn read_report(
    r: &OomReportRecord,
    class_count: u32,
    attempts: u32,
    busy: &mut bool,
) -> Result<Option<OomReport>, String> {
    if ld64(&r.seq) == 0 {
        return Ok(None);
    }
    let copy = crate::seqlock::read(&r.seq, attempts, || copy(r));
    let Some(c) = copy else {
        *busy = true;
        return Ok(None);
    };
    c.check(class_count).map(Some)
}

/// The record's words, copied under the sequence lock (checked afterwards).
#[cfg(not(loom))]
struct Copy {
    scalars: [u64; 30],
    per_class: [[u64; MAX_CLASSES]; 5],
    stranded: [(u64, u64, u64, u32); OOM_STRANDED_THREADS],
}

#[cfg(not(loom))]
fn copy(r: &OomReportRecord) -> Copy {
    let scalars = [
        ld64(&r.reports),
        ld64(&r.time_mono_ns),
        ld32(&r.tid) as u64,
        ld32(&r.cause) as u64,
        ld64(&r.request_bytes),
        ld64(&r.align),
        ld32(&r.class) as u64,
        ld32(&r.class_count) as u64,
        ld64(&r.mapped_bytes),
        ld64(&r.limit_bytes),
        ld64(&r.peak_mapped_bytes),
        ld64(&r.large_bytes),
        ld64(&r.large_count),
        ld64(&r.superslabs),
        ld64(&r.superslabs_cached),
        ld64(&r.header_bytes),
        ld64(&r.unused_slots),
        ld64(&r.unused_bytes),
        ld64(&r.tail_bytes),
        ld64(&r.empty_slots),
        ld64(&r.empty_bytes),
        ld64(&r.stranded_bytes),
        ld32(&r.stranded_threads) as u64,
        ld32(&r.threads_seen) as u64,
        ld64(&r.largest_free_run_bytes),
        ld64(&r.largest_free_run_superslab),
        ld32(&r.largest_free_run_slot) as u64,
        ld32(&r.largest_free_run_kind) as u64,
        ld64(&r.ring_seq),
        0,
    ];
    let arrays = [
        &r.class_live_bytes,
        &r.class_cached_bytes,
        &r.class_free_bytes,
        &r.class_empty_slots,
        &r.class_empty_bytes,
    ];
    let per_class = core::array::from_fn(|a| core::array::from_fn(|i| ld64(&arrays[a][i])));
    let stranded = core::array::from_fn(|i| {
        let s = &r.stranded[i];
        (
            ld64(&s.tid),
            ld64(&s.bytes),
            ld64(&s.idle_ns),
            ld32(&s.state),
        )
    });
    Copy {
        scalars,
        per_class,
        stranded,
    }
}

#[cfg(not(loom))]
impl Copy {
    fn check(&self, segment_classes: u32) -> Result<OomReport, String> {
        let s = &self.scalars;
        let cause = match s[3] as u32 {
            OOM_CAUSE_LIMIT => OomCause::Limit,
            OOM_CAUSE_MMAP => OomCause::MmapFailed,
            c => return Err(format!("cause {c} is not an OOM cause")),
        };
        let class_count = s[7] as u32;
        if class_count > segment_classes {
            return Err(format!(
                "describes {class_count} classes, the segment has {segment_classes}"
            ));
        }
        let class = match s[6] as u32 {
            OOM_NO_CLASS => None,
            c if c < segment_classes => Some(c),
            c => return Err(format!("request class {c} is out of range")),
        };
        let kind = match s[27] as u32 {
            FREE_RUN_NONE => FreeRunKind::None,
            FREE_RUN_SLOTS => FreeRunKind::Slots,
            FREE_RUN_UNCARVED => FreeRunKind::Uncarved,
            k => return Err(format!("free run kind {k} is unknown")),
        };
        let slot = s[26] as u32;
        if slot as usize >= crate::sizes::SLOTS_PER_SUPERSLAB {
            return Err(format!("free run slot {slot} is out of range"));
        }
        let stranded_threads = s[22] as u32;
        let listed = (stranded_threads as usize).min(OOM_STRANDED_THREADS);
        let mut stranded = Vec::with_capacity(listed);
        for &(tid, bytes, idle_ns, state) in &self.stranded[..listed] {
            let exited = match state {
                STRANDED_IDLE => false,
                STRANDED_EXITED => true,
                st => return Err(format!("stranded thread state {st} is unknown")),
            };
            stranded.push(StrandedThread {
                tid,
                bytes,
                idle_ns,
                exited,
            });
        }
        let p = &self.per_class;
        let classes = (0..class_count as usize)
            .map(|i| OomClass {
                class: i as u32,
                live_bytes: p[0][i],
                cached_bytes: p[1][i],
                free_bytes: p[2][i],
                empty_slots: p[3][i],
                empty_bytes: p[4][i],
            })
            .filter(|c| c.live_bytes | c.cached_bytes | c.free_bytes | c.empty_slots != 0)
            .collect();
        Ok(OomReport {
            reports: s[0],
            time_mono_ns: s[1],
            tid: s[2] as u32,
            cause,
            request_bytes: s[4],
            align: s[5],
            class,
            mapped_bytes: s[8],
            limit_bytes: s[9],
            peak_mapped_bytes: s[10],
            large_bytes: s[11],
            large_count: s[12],
            superslabs: s[13],
            superslabs_cached: s[14],
            header_bytes: s[15],
            unused_slots: s[16],
            unused_bytes: s[17],
            tail_bytes: s[18],
            empty_slots: s[19],
            empty_bytes: s[20],
            stranded_bytes: s[21],
            stranded_threads,
            threads_seen: s[23] as u32,
            largest_free_run: FreeRun {
                bytes: s[24],
                superslab: s[25],
                slot,
                kind,
            },
            ring_seq: (s[28] != NO_RING_SEQ).then_some(s[28]),
            classes,
            stranded,
        })
    }
}
