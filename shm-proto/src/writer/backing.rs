//! Which records of a growing segment have their pages allocated.
//!
//! A growing segment ([`super::SegmentWriter::create_growing`]) is a sparse file. The
//! writer allocates pages ahead of its stores with `MADV_POPULATE_WRITE`, which fails
//! with an error where a store into an unallocated page of a full tmpfs would raise
//! SIGBUS. At creation the header, the class table, the OOM report and the first
//! [`INITIAL`] records of every table are allocated, the sample sites' only when the
//! process samples then (else by [`Backing::prepare`] when sampling is switched on); a
//! GPU pool record when it is claimed (a process without GPU pools allocates none of
//! their table); the rest in doublings by [`Backing::grow`], which the owner calls
//! where a system call may run (the allocator: at the start of a slow path, holding no
//! lock). A claim or an event past what is allocated is put off instead of touching an
//! unallocated page, and asks for the next doubling: `grow` reports put-off claims so that their owner claims
//! again (the allocator republishes its SuperSlabs; a thread grows the table at once
//! with [`super::SegmentWriter::grow_now`] and claims again), an event is dropped and counted in the ring's `dropped`. Once allocating
//! fails (a full tmpfs), refused claims count in the table's `overflow`, as for a full
//! table.
//! Readers read only claimed records and written events, so they never touch a hole.
#![forbid(unsafe_code)]

use crate::layout::SectionKind;
use crate::sync::{AtomicU64, Ordering};
use crate::thread::{thread_key, yield_now};

/// Records of each table allocated at creation (the ring: events).
pub const INITIAL: [(Part, u64); 4] = [
    (Part::Threads, 4),
    (Part::SuperSlabs, 8),
    (Part::SampleSites, 8),
    (Part::Ring, 64),
];

/// [`INITIAL`], with no sample-site record unless `sites`.
pub fn initial_records(sites: bool) -> [(Part, u64); 4] {
    INITIAL.map(|(p, n)| {
        let none = p == Part::SampleSites && !sites;
        (p, if none { 0 } else { n })
    })
}

/// Yields [`Backing::wait_growing`] makes at most (tens of milliseconds; a few in a
/// loom model).
#[cfg(not(loom))]
pub const WAIT_YIELDS: u32 = 100_000;
/// Yields [`Backing::wait_growing`] makes at most (tens of milliseconds; a few in a
/// loom model).
#[cfg(loom)]
pub const WAIT_YIELDS: u32 = 2;

/// The `growing` value of the calling thread: its thread id (never 0).
fn grower() -> u64 {
    thread_key()
}

/// What a claim that found no record does ([`Backing::refuse`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refusal {
    /// Records up to this limit are allocated now: claim again.
    Retry(u64),
    /// Put off until the next grow, which reports it (the claimer claims again then).
    PutOff,
    /// Nothing more can be allocated: refused (counted as overflow).
    Final,
}

/// A part of the segment that is allocated as it fills.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    /// Thread records.
    Threads,
    /// SuperSlab records, with their slot-owner records.
    SuperSlabs,
    /// Sample-site records.
    SampleSites,
    /// Ring events.
    Ring,
}

impl Part {
    /// Every part, in [`Backing`] order.
    pub const ALL: [Part; 4] = [
        Part::Threads,
        Part::SuperSlabs,
        Part::SampleSites,
        Part::Ring,
    ];

    /// The part a section belongs to, if it grows.
    pub fn of(kind: SectionKind) -> Option<Part> {
        match kind {
            SectionKind::Threads => Some(Part::Threads),
            SectionKind::SuperSlabs | SectionKind::SlotOwners => Some(Part::SuperSlabs),
            SectionKind::SampleSites => Some(Part::SampleSites),
            SectionKind::Ring => Some(Part::Ring),
            SectionKind::Classes | SectionKind::GpuPools | SectionKind::OomReport => None,
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How many records of each part are allocated, and whether a doubling is wanted.
#[derive(Debug)]
pub struct Backing {
    /// Per part (in [`Part::ALL`] order): records whose pages are allocated.
    allocated: [AtomicU64; 4],
    /// Per part: records it holds in all.
    capacity: [u64; 4],
    /// Set by a claim or event that reached half of what is allocated.
    wanted: AtomicU64,
    /// The thread id of the [`Backing::grow`] or [`Backing::prepare`] running (one at a
    /// time), 0 when none.
    growing: AtomicU64,
    /// 1 once allocating failed (the file system is full): nothing grows any more.
    stuck: AtomicU64,
    /// Set when a claim was put off for lack of allocated records; taken by `grow`.
    deferred: AtomicU64,
    /// Per part (bit `1 << index`): a claim found none of its records allocated (sample
    /// sites before [`Backing::prepare`]); the next `grow` allocates its first
    /// [`INITIAL`] records.
    first: AtomicU64,
    /// Whether the file is sparse (a growing segment): records outside the parts are
    /// allocated when claimed ([`super::SegmentWriter::claim_gpu_pool`]).
    sparse: bool,
}

impl Backing {
    /// Everything allocated (a segment created whole).
    pub fn whole(capacity: [u64; 4]) -> Self {
        Self {
            allocated: capacity.map(AtomicU64::new),
            capacity,
            wanted: AtomicU64::new(0),
            growing: AtomicU64::new(0),
            stuck: AtomicU64::new(0),
            deferred: AtomicU64::new(0),
            first: AtomicU64::new(0),
            sparse: false,
        }
    }

    /// [`INITIAL`] records of each part allocated (at most its capacity), except the
    /// sample sites' unless `sites` (a process not sampling at creation allocates them
    /// with [`Backing::prepare`] when it starts).
    pub fn initial(capacity: [u64; 4], sites: bool) -> Self {
        let mut b = Self::whole(capacity);
        b.sparse = true;
        for (part, n) in initial_records(sites) {
            b.allocated[part.index()].store(n.min(capacity[part.index()]), Ordering::Relaxed);
        }
        b
    }

    /// Whether the file is sparse: a record no part covers is allocated before its first
    /// store, and a failure to allocate stops growth as [`Backing::grow`]'s does.
    pub fn sparse(&self) -> bool {
        self.sparse
    }

    /// Notes that allocating pages failed (a full file system): nothing grows any more.
    pub fn stop(&self) {
        self.stuck.store(1, Ordering::Relaxed);
    }

    /// Records of `part` that may be written now.
    #[inline]
    pub fn limit(&self, part: Part) -> u64 {
        self.allocated[part.index()].load(Ordering::Acquire)
    }

    /// Records `part` holds in all.
    pub fn capacity(&self, part: Part) -> u64 {
        self.capacity[part.index()]
    }

    /// Notes that `part` has `used` records in use: past half of what is allocated, the
    /// next [`Backing::grow`] allocates more; with none allocated (a claim refused for
    /// that), its first [`INITIAL`] records.
    #[inline]
    pub fn note_use(&self, part: Part, used: u64) {
        let limit = self.limit(part);
        if limit == 0 {
            self.want_first(part);
        } else if limit < self.capacity(part) && used.saturating_mul(2) >= limit {
            self.wanted.store(1, Ordering::Relaxed);
        }
    }

    /// Asks the next [`Backing::grow`] for the first records of `part`, which has none.
    fn want_first(&self, part: Part) {
        if self.sparse && self.capacity(part) != 0 {
            self.first.fetch_or(1 << part.index(), Ordering::Relaxed);
            self.wanted.store(1, Ordering::Relaxed);
        }
    }

    /// Whether `part` can still get more records allocated by a doubling: a refused
    /// claim of it is put off (see [`Backing::defer`]), not lost. A part with nothing
    /// allocated (sample sites not prepared) does not double: its refused claim counts
    /// as overflow, and asks the next grow for its first records.
    pub fn can_grow(&self, part: Part) -> bool {
        let limit = self.limit(part);
        limit != 0 && limit < self.capacity(part) && self.stuck.load(Ordering::Relaxed) == 0
    }

    /// What a claim of `part` does that found every record below `seen` (the limit it
    /// read) taken and none reusable: claim again below the limit now, when a grow
    /// allocated more meanwhile; be put off until the next grow ([`Backing::defer`] done)
    /// while doublings remain; else be refused for good. The limit is read again after
    /// [`Backing::can_grow`] failed: a grow that allocated the last records between the
    /// claimer's read and that test made it fail, and those records are claimable.
    pub fn refuse(&self, part: Part, seen: u64) -> Refusal {
        if self.can_grow(part) {
            self.defer();
            return Refusal::PutOff;
        }
        match self.limit(part) {
            now if now > seen => Refusal::Retry(now),
            _ => Refusal::Final,
        }
    }

    /// Notes a claim put off until the next [`Backing::grow`], which reports it.
    pub fn defer(&self) {
        self.wanted.store(1, Ordering::Relaxed);
        self.deferred.store(1, Ordering::Relaxed);
    }

    /// Whether a doubling is wanted and allocating still works.
    #[inline]
    pub fn wanted(&self) -> bool {
        self.wanted.load(Ordering::Relaxed) != 0 && self.stuck.load(Ordering::Relaxed) == 0
    }

    /// Returns once no [`Backing::grow`] or [`Backing::prepare`] runs in another thread
    /// (a claim put off while one ran finds its records allocated after it), yielding
    /// the CPU meanwhile: the grower is making system calls. Returns at once when the grow is the calling
    /// thread's own (a signal handler that allocates in the middle of it), and after
    /// [`WAIT_YIELDS`] yields in any case (a grower stopped by a debugger): the caller's
    /// claim then stays put off.
    pub fn wait_growing(&self) {
        let me = grower();
        for _ in 0..WAIT_YIELDS {
            let g = self.growing.load(Ordering::Acquire);
            if g == 0 || g == me {
                return;
            }
            yield_now();
        }
    }

    /// Doubles what is allocated of every part at or past half its allocation, and
    /// allocates the first [`INITIAL`] records of a part a refused claim found with none,
    /// with `populate(part, from, to)` allocating the pages of records `from..to`.
    /// `used` gives each part's records in use. One caller at a time (with
    /// [`Backing::prepare`]); the others return.
    /// Returns whether claims were put off since the last grow (the caller claims and
    /// publishes again what they would have recorded).
    pub fn grow(
        &self,
        used: impl Fn(Part) -> u64,
        mut populate: impl FnMut(Part, u64, u64) -> Result<(), i32>,
    ) -> bool {
        if !self.wanted()
            || self
                .growing
                .compare_exchange(0, grower(), Ordering::Acquire, Ordering::Relaxed)
                .is_err()
        {
            return false;
        }
        self.wanted.store(0, Ordering::Relaxed);
        let first = self.first.swap(0, Ordering::Relaxed);
        for part in Part::ALL {
            let (limit, cap) = (self.limit(part), self.capacity(part));
            let next = if limit == 0 {
                // Nothing allocated: the first records, once a claim asked for them.
                if first & (1 << part.index()) == 0 {
                    continue;
                }
                first_records(part).min(cap)
            } else {
                if limit >= cap || used(part).saturating_mul(2) < limit {
                    continue;
                }
                limit.saturating_mul(2).min(cap)
            };
            if next > limit && !self.extend(part, limit, next, |f, t| populate(part, f, t)) {
                break;
            }
        }
        self.growing.store(0, Ordering::Release);
        self.deferred.swap(0, Ordering::AcqRel) != 0
    }

    /// Allocates the first [`INITIAL`] records of `part` when it has none (the sample
    /// sites of a process that starts sampling), with `populate(from, to)` allocating
    /// the pages of records `from..to`; serialised with [`Backing::grow`]. Returns
    /// whether `part` has records allocated now. Where it cannot run now (a grow that
    /// does not end, or this thread's own grow, interrupted by a signal handler) it
    /// leaves the request to the next grow and returns `false`; where allocating fails
    /// (a full file system) growth stops, as after a failed doubling.
    pub fn prepare(&self, part: Part, populate: impl FnOnce(u64, u64) -> Result<(), i32>) -> bool {
        if self.limit(part) != 0 {
            return true;
        }
        if !self.sparse {
            return false;
        }
        let me = grower();
        // A few rounds: each waits for a grow that ran meanwhile to end.
        let mut held = false;
        for _ in 0..4 {
            if self.stuck.load(Ordering::Relaxed) != 0 {
                return false;
            }
            match self
                .growing
                .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => {
                    held = true;
                    break;
                }
                Err(g) if g == me => break,
                Err(_) => self.wait_growing(),
            }
        }
        if !held {
            self.want_first(part);
            return false;
        }
        let n = first_records(part).min(self.capacity(part));
        let ok = self.limit(part) != 0 || (n != 0 && self.extend(part, 0, n, populate));
        self.growing.store(0, Ordering::Release);
        ok
    }

    /// Allocates records `from..to` of `part` with `populate` and makes them claimable;
    /// a failure stops all growth. The caller holds `growing`.
    fn extend(
        &self,
        part: Part,
        from: u64,
        to: u64,
        populate: impl FnOnce(u64, u64) -> Result<(), i32>,
    ) -> bool {
        if populate(from, to).is_err() {
            self.stuck.store(1, Ordering::Relaxed);
            return false;
        }
        // Release: a claimer that sees the new limit (Acquire) writes only after the
        // pages were allocated.
        self.allocated[part.index()].store(to, Ordering::Release);
        true
    }
}

/// The [`INITIAL`] records of `part`.
fn first_records(part: Part) -> u64 {
    INITIAL
        .iter()
        .find(|(p, _)| *p == part)
        .map_or(0, |&(_, n)| n)
}

#[cfg(all(test, not(loom)))]
mod tests {
    use super::*;

    /// A backing with `limits` records of each part allocated.
    fn at(capacity: [u64; 4], limits: [u64; 4]) -> Backing {
        let b = Backing::whole(capacity);
        for (a, l) in b.allocated.iter().zip(limits) {
            a.store(l, Ordering::Relaxed);
        }
        b
    }

    #[test]
    fn parts_double_once_half_used_and_stop_at_capacity() {
        let first = Backing::initial([100, 40, 6, 4096], true);
        assert_eq!(first.limit(Part::Threads), 4);
        assert_eq!(first.limit(Part::SampleSites), 6, "capped at the capacity");
        let quiet = Backing::initial([100, 40, 6, 4096], false);
        assert_eq!(quiet.limit(Part::SampleSites), 0, "not sampling");
        let b = at([100, 40, 10, 4096], [16, 32, 10, 512]);
        let used = |p: Part| match p {
            Part::Threads => 8,
            Part::Ring => 100,
            _ => 0,
        };
        let mut calls = Vec::new();
        b.note_use(Part::Threads, 7);
        assert!(!b.wanted(), "under half");
        b.note_use(Part::Threads, 8);
        assert!(b.wanted());
        assert!(!b.grow(used, |p, from, to| {
            calls.push((p, from, to));
            Ok(())
        }));
        assert_eq!(calls, [(Part::Threads, 16, 32)]);
        assert_eq!(b.limit(Part::Threads), 32);
        assert!(!b.wanted());
        // Up to the capacity, never past it.
        for _ in 0..4 {
            b.note_use(Part::Threads, b.limit(Part::Threads));
            let _ = b.grow(|_| 1000, |_, _, _| Ok(()));
        }
        assert_eq!(b.limit(Part::Threads), 100);
        assert_eq!(b.limit(Part::Ring), 2048, "1000 in use: under half of 2048");
    }

    /// The `(part, from, to)` ranges one grow of `b` allocates (nothing in use).
    fn grown(b: &Backing) -> Vec<(Part, u64, u64)> {
        let mut calls = Vec::new();
        let _ = b.grow(
            |_| 0,
            |p, from, to| {
                calls.push((p, from, to));
                Ok(())
            },
        );
        calls
    }

    #[test]
    fn sample_sites_not_prepared_never_grow_and_are_prepared_once() {
        let b = Backing::initial([100, 40, 64, 4096], false);
        assert!(
            !b.can_grow(Part::SampleSites),
            "a refused claim counts, no defer"
        );
        b.defer();
        assert_eq!(grown(&b), [], "a doubling leaves the unprepared part alone");
        assert_eq!(b.limit(Part::SampleSites), 0);
        // A claim refused for want of records asks the next grow for the first ones.
        b.note_use(Part::SampleSites, 0);
        assert!(b.wanted());
        assert_eq!(grown(&b), [(Part::SampleSites, 0, 8)]);
        assert_eq!(b.limit(Part::SampleSites), 8);
        let b = Backing::initial([100, 40, 64, 4096], false);
        let mut calls = Vec::new();
        assert!(b.prepare(Part::SampleSites, |from, to| {
            calls.push((Part::SampleSites, from, to));
            Ok(())
        }));
        assert_eq!(calls, [(Part::SampleSites, 0, 8)]);
        assert_eq!(b.limit(Part::SampleSites), 8);
        assert!(b.prepare(Part::SampleSites, |_, _| panic!("prepared already")));
        assert!(b.can_grow(Part::SampleSites), "it doubles from here");
    }

    #[test]
    fn a_prepare_that_cannot_run_leaves_the_request_to_the_next_grow() {
        let b = Backing::initial([100, 40, 64, 4096], false);
        // A grower that does not finish (another thread stopped in a debugger).
        b.growing.store(grower() + 1, Ordering::Relaxed);
        assert!(!b.prepare(Part::SampleSites, |_, _| panic!("not while another grows")));
        assert_eq!(b.limit(Part::SampleSites), 0);
        b.growing.store(0, Ordering::Relaxed);
        assert_eq!(grown(&b), [(Part::SampleSites, 0, 8)]);
    }

    #[test]
    fn a_failed_prepare_stops_growing() {
        let b = Backing::initial([100, 40, 64, 4096], false);
        assert!(!b.prepare(Part::SampleSites, |_, _| Err(28)));
        assert_eq!(b.limit(Part::SampleSites), 0);
        assert!(
            !b.can_grow(Part::Threads),
            "stuck, as after a failed doubling"
        );
        let whole = Backing::whole([100, 40, 64, 4096]);
        assert!(whole.prepare(Part::SampleSites, |_, _| panic!("all allocated")));
    }

    #[test]
    fn a_failed_allocation_stops_growing() {
        let b = at([100, 40, 10, 4096], [16, 32, 10, 512]);
        b.note_use(Part::SuperSlabs, 32);
        let _ = b.grow(|_| 32, |_, _, _| Err(12));
        assert_eq!(
            b.limit(Part::SuperSlabs),
            32,
            "nothing allocated, limit kept"
        );
        b.note_use(Part::SuperSlabs, 32);
        assert!(!b.wanted(), "stuck after the failure");
        assert!(
            !b.can_grow(Part::SuperSlabs),
            "refused claims now count as overflow"
        );
    }

    #[test]
    fn a_put_off_claim_is_reported_by_the_next_grow() {
        let b = at([100, 40, 10, 4096], [16, 32, 10, 512]);
        assert!(b.can_grow(Part::Threads));
        b.defer();
        assert!(b.wanted());
        assert!(b.grow(|_| 16, |_, _, _| Ok(())), "reported once");
        assert_eq!(b.limit(Part::Threads), 32);
        b.defer();
        assert!(
            b.grow(|_| 0, |_, _, _| Ok(())),
            "reported even with nothing to grow"
        );
        assert!(!b.grow(|_| 0, |_, _, _| Ok(())));
    }
}
