//! [`SegmentWriter`]: creating a segment and every update the allocator makes to it.
#![forbid(unsafe_code)]

use super::backing::{initial_records, Backing, Part, Refusal};
use super::config::{
    build_path, CreateError, Plan, SampleConfig, Section, SegmentConfig, MAX_PATH_BYTES,
};
use crate::event::EventKind;
use crate::heap_error::HeapError;
use crate::heap_error_table;
use crate::layout::*;
use crate::raw::mapping::SharedMapping;
use crate::raw::{args, sys, Records, Region};
use crate::ring::{self, PushOutcome};
use crate::seqlock;
use crate::sync::{fence, AtomicU64, Ordering};

/// Page runs `[first, end)` (in pages of `page` bytes) that a growing segment allocates
/// at its creation: the header and the class table, the OOM report, and the first
/// records of every table and of the ring ([`super::backing::INITIAL`]; the sample sites'
/// only when `sites`, a process sampling now). GPU pool records are allocated as they
/// are claimed. Ranges on the same or adjacent pages make one run. Returns the runs, in
/// order, and how many there are.
pub(super) fn initial_runs(plan: &Plan, sites: bool, page: usize) -> ([(usize, usize); 9], usize) {
    // At most one range per section (8) and the header with the class table.
    let mut ranges = [(0usize, 0usize); 9];
    let classes_end = plan.classes.offset + plan.classes.capacity as usize * plan.classes.stride;
    ranges[0] = (0, classes_end.div_ceil(page));
    ranges[1] = (
        plan.oom.offset / page,
        (plan.oom.offset + plan.oom.stride).div_ceil(page),
    );
    let mut n = 2;
    for (part, k) in initial_records(sites) {
        for s in plan.sections_of(part) {
            let k = (k as usize).min(s.capacity as usize);
            if k > 0 && n < ranges.len() {
                ranges[n] = (s.offset / page, (s.offset + k * s.stride).div_ceil(page));
                n += 1;
            }
        }
    }
    ranges[..n].sort_unstable();
    let mut runs = [(0usize, 0usize); 9];
    let mut m = 0;
    for &(first, end) in &ranges[..n] {
        if m > 0 && first <= runs[m - 1].1 {
            runs[m - 1].1 = runs[m - 1].1.max(end);
        } else {
            runs[m] = (first, end);
            m += 1;
        }
    }
    (runs, m)
}

/// Allocates the pages of [`initial_runs`], one `MADV_POPULATE_WRITE` per run.
/// `Err(EINVAL)` where the kernel cannot populate.
fn allocate_initial(map: &SharedMapping, plan: &Plan, sites: bool) -> Result<(), i32> {
    let page = sys::page_size() as usize;
    let (runs, n) = initial_runs(plan, sites, page);
    for &(first, end) in &runs[..n] {
        map.populate(first * page, (end - first) * page)?;
    }
    Ok(())
}

/// The writing side of a segment. `Send + Sync`; dropping it unmaps the segment (the
/// file stays until [`SegmentWriter::unlink`]).
#[derive(Debug)]
pub struct SegmentWriter {
    map: SharedMapping,
    plan: Plan,
    backing: Backing,
    class_count: u32,
    path: [u8; MAX_PATH_BYTES],
    path_len: usize,
}

impl SegmentWriter {
    /// Creates, maps and initialises `dir/slabscope.<pid>` (mode 0600,
    /// `O_CREAT|O_EXCL|O_NOFOLLOW`). Allocation-free and lock-free.
    ///
    /// On any failure after the file was created, the file is removed again.
    pub fn create(dir: &[u8], pid: u32, cfg: &SegmentConfig) -> Result<Self, CreateError> {
        Self::create_sampled(dir, pid, cfg, None)
    }

    /// [`SegmentWriter::create`], with the sample-site section and the sample interval
    /// in the header when `sample` is given (protocol 1.2). Every page is allocated at
    /// creation.
    pub fn create_sampled(
        dir: &[u8],
        pid: u32,
        cfg: &SegmentConfig,
        sample: Option<&SampleConfig>,
    ) -> Result<Self, CreateError> {
        Self::create_with(dir, pid, cfg, sample, false)
    }

    /// [`SegmentWriter::create_sampled`] as a sparse file whose pages are allocated as the
    /// tables and the ring fill (see `backing.rs`): a process that allocates little costs
    /// little tmpfs and RSS. The owner calls [`SegmentWriter::grow`] where a system call
    /// may run. On a kernel without `MADV_POPULATE_WRITE` (before 5.14) every page is
    /// allocated at creation instead.
    pub fn create_growing(
        dir: &[u8],
        pid: u32,
        cfg: &SegmentConfig,
        sample: Option<&SampleConfig>,
    ) -> Result<Self, CreateError> {
        Self::create_with(dir, pid, cfg, sample, true)
    }

    fn create_with(
        dir: &[u8],
        pid: u32,
        cfg: &SegmentConfig,
        sample: Option<&SampleConfig>,
        growing: bool,
    ) -> Result<Self, CreateError> {
        let plan = Plan::new(cfg, sample)?;
        let mut path = [0u8; MAX_PATH_BYTES];
        let path_len = build_path(dir, pid, &mut path)?;
        let cpath = &path[..=path_len];
        let fd = sys::create_exclusive(cpath).map_err(|errno| match errno {
            libc::EEXIST => CreateError::Exists,
            errno => CreateError::Io { op: "open", errno },
        })?;
        let total = plan.total as u64;
        let built = sys::set_len(&fd, total)
            .map_err(|(op, errno)| CreateError::Io { op, errno })
            .and_then(|()| {
                SharedMapping::map(&fd, plan.total)
                    .map_err(|errno| CreateError::Io { op: "mmap", errno })
            })
            .and_then(|map| {
                let capacity = Part::ALL.map(|p| plan.capacity(p));
                let mut backing = Backing::whole(capacity);
                if growing {
                    let sites = sample.is_some_and(|s| s.interval_bytes != 0);
                    match allocate_initial(&map, &plan, sites) {
                        Ok(()) => backing = Backing::initial(capacity, sites),
                        Err(libc::EINVAL) => {}
                        Err(errno) => {
                            return Err(CreateError::Io {
                                op: "madvise",
                                errno,
                            })
                        }
                    }
                }
                // A segment created whole (or on a kernel that cannot populate) has
                // every page allocated now; a sparse one allocates as it grows, even
                // when a table is small enough to be whole from the start.
                if !backing.sparse() {
                    sys::reserve(&fd, 0, total)
                        .map_err(|(op, errno)| CreateError::Io { op, errno })?;
                }
                Ok((map, backing))
            });
        drop(fd);
        let (map, backing) = match built {
            Ok(b) => b,
            Err(e) => {
                let _ = sys::unlink(cpath);
                return Err(e);
            }
        };
        let w = Self {
            map,
            plan,
            backing,
            class_count: cfg.class_count,
            path,
            path_len,
        };
        w.init(pid, cfg, sample);
        Ok(w)
    }

    /// Allocates the pages of the next doubling of every table and of the ring that is
    /// half used or more (a growing segment; nothing otherwise). Cheap when there is
    /// nothing to do: one relaxed load. Makes system calls: call it holding no lock
    /// that must stay short. Returns `true` when a thread or SuperSlab claim was put
    /// off for lack of allocated records since the last call: the caller claims them
    /// again (a refused claim returned `None` without counting an overflow).
    #[inline]
    pub fn grow(&self) -> bool {
        self.backing.wanted() && self.grow_slow()
    }

    #[cold]
    fn grow_slow(&self) -> bool {
        self.backing.grow(
            |part| self.part_used(part),
            |part, from, to| {
                for s in self.plan.sections_of(part) {
                    let (from, to) = (from as usize, to.min(u64::from(s.capacity)) as usize);
                    let n = to.saturating_sub(from);
                    self.map
                        .populate(s.offset + from * s.stride, n * s.stride)?;
                }
                Ok(())
            },
        )
    }

    /// Grows now, after a claim was put off, for an owner that may not claim again
    /// soon (a thread that publishes once and then blocks): waits for a grow running
    /// in another thread, then grows if still wanted. Makes system calls, as
    /// [`SegmentWriter::grow`]. The put-off report stays for the next `grow`, whose
    /// caller claims its own records again.
    pub fn grow_now(&self) {
        self.backing.wait_growing();
        if self.grow() {
            self.backing.defer();
        }
        // A grow that began in another thread after the wait above.
        self.backing.wait_growing();
    }

    /// Whether a claim of section `kind` refused now is put off, not final: the table
    /// grows (a growing segment whose allocating still works). The owner then claims
    /// again after the next [`SegmentWriter::grow`] that returns `true`.
    pub fn may_grow(&self, kind: SectionKind) -> bool {
        Part::of(kind).is_some_and(|p| self.backing.can_grow(p))
    }

    /// Records (events for the ring) of `part` in use.
    fn part_used(&self, part: Part) -> u64 {
        match part {
            Part::Ring => self.header().ring.head.load(Ordering::Relaxed),
            Part::Threads => self.used(SectionKind::Threads),
            Part::SuperSlabs => self.used(SectionKind::SuperSlabs),
            Part::SampleSites => self.used(SectionKind::SampleSites),
        }
    }

    fn used(&self, kind: SectionKind) -> u64 {
        u64::from(self.section(kind).used.load(Ordering::Relaxed))
    }

    fn region(&self) -> Region<'_> {
        self.map.region()
    }

    fn records<T: crate::raw::Record>(&self, s: Section) -> Records<'_, T> {
        match self
            .region()
            .records(s.offset, s.capacity as usize, s.stride)
        {
            Some(r) => r,
            // The plan fits the mapping by construction.
            None => unreachable!("section outside the segment mapping"),
        }
    }

    fn init(&self, pid: u32, cfg: &SegmentConfig, sample: Option<&SampleConfig>) {
        let h = self.header();
        let r = Ordering::Relaxed;
        h.version
            .store((PROTOCOL_MAJOR as u32) << 16 | PROTOCOL_MINOR as u32, r);
        h.header_size.store(HEADER_BYTES as u32, r);
        h.total_size.store(self.plan.total as u64, r);
        h.pid.store(pid, r);
        h.flags.store(cfg.flags, r);
        h.start_unix_ns.store(sys::realtime_ns(), r);
        let now = sys::monotonic_ns();
        h.start_mono_ns.store(now, r);
        h.heartbeat_mono_ns.store(now, r);
        h.page_size.store(sys::page_size(), r);
        h.class_count.store(cfg.class_count, r);
        h.slots_per_superslab.store(SLOTS_PER_SUPERSLAB as u32, r);
        h.superslab_bytes.store(SUPERSLAB_BYTES, r);
        h.drain_interval.store(cfg.drain_interval, r);
        let mut cmd = [0u8; COMMAND_BYTES];
        let n = args::read_cmdline(&mut cmd);
        store_bytes(&h.command, &cmd[..n]);
        h.totals.limit_bytes.store(cfg.limit_bytes, r);
        h.totals
            .sample_interval_bytes
            .store(sample.map_or(0, |s| s.interval_bytes), r);
        let p = &self.plan;
        let table = [
            Some((SectionKind::Classes, p.classes)),
            Some((SectionKind::Threads, p.threads)),
            Some((SectionKind::SuperSlabs, p.superslabs)),
            Some((SectionKind::GpuPools, p.gpu_pools)),
            Some((SectionKind::Ring, p.ring)),
            Some((SectionKind::OomReport, p.oom)),
            p.sites.map(|s| (SectionKind::SampleSites, s)),
            Some((SectionKind::SlotOwners, p.slot_owners)),
        ];
        let mut count = 0;
        for (kind, s) in table.into_iter().flatten() {
            let d = &h.sections[count];
            d.kind.store(kind as u32, r);
            d.stride.store(s.stride as u32, r);
            d.offset.store(s.offset as u64, r);
            d.capacity.store(s.capacity, r);
            count += 1;
        }
        h.section_count.store(count as u32, r);
        let classes = self.records::<ClassRecord>(p.classes);
        for (i, c) in classes.iter().enumerate() {
            c.class.store(i as u32, r);
            c.block_size.store(cfg.class_sizes[i], r);
        }
        // Publish: a reader that sees the magic (Acquire) sees everything above.
        h.magic.store(MAGIC, Ordering::Release);
    }

    /// The OOM report record (see `crate::oom`).
    pub fn oom_report(&self) -> Option<&OomReportRecord> {
        self.records::<OomReportRecord>(self.plan.oom).get(0)
    }

    /// Rewrites the OOM report under its sequence lock. The caller serialises OOM
    /// reports (one writer at a time).
    pub fn update_oom_report<R>(&self, f: impl FnOnce(&OomReportRecord) -> R) -> Option<R> {
        let r = self.oom_report()?;
        Some(seqlock::write(&r.seq, || f(r)))
    }

    /// The path of the segment file, without the trailing NUL.
    pub fn path_bytes(&self) -> &[u8] {
        &self.path[..self.path_len]
    }

    /// The header; `header().totals.*` are the process-wide counters (Relaxed updates).
    pub fn header(&self) -> &Header {
        match self.region().get::<Header>(0) {
            Some(h) => h,
            None => unreachable!("segment mapping smaller than its header"),
        }
    }

    /// The record of size class `class`.
    pub fn class(&self, class: usize) -> Option<&ClassRecord> {
        self.records::<ClassRecord>(self.plan.classes).get(class)
    }

    /// The descriptor of section `kind` (the table is packed in the order `init` wrote
    /// it; a section the writer does not have maps to an unused entry, never touched).
    fn section(&self, kind: SectionKind) -> &SectionDesc {
        let h = self.header();
        let n = h.section_count.load(Ordering::Relaxed) as usize;
        let i = h.sections[..n.min(MAX_SECTIONS)]
            .iter()
            .position(|d| d.kind.load(Ordering::Relaxed) == kind as u32)
            .unwrap_or(MAX_SECTIONS - 1);
        &h.sections[i]
    }

    /// Claims a never-used record of section `kind` (laid out as `s`), allocating its
    /// pages first in a sparse file: index `used` is allocated, then taken by a CAS to
    /// `used + 1` (a claimer that lost the race allocates the next one). `None`, counted
    /// in the section's `overflow`, when the section is full or allocating failed (which
    /// stops the segment's growth). For sections claimed seldom and outside the
    /// allocator's paths (GPU pools): it makes a system call per claim.
    fn claim_allocated(&self, kind: SectionKind, s: Section) -> Option<u32> {
        let desc = self.section(kind);
        let mut used = desc.used.load(Ordering::Relaxed);
        while used < s.capacity {
            if self.backing.sparse()
                && self
                    .map
                    .populate(s.offset + used as usize * s.stride, s.stride)
                    .is_err()
            {
                self.backing.stop();
                break;
            }
            match desc.used.compare_exchange_weak(
                used,
                used + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some(used),
                Err(now) => used = now,
            }
        }
        desc.overflow.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Claims a record index: a never-used one while the section has room, else a
    /// reusable one that `reusable` accepts, taken by acquiring its sequence lock with a
    /// CAS. Returns the index and the sequence value held (odd) when a record was reused,
    /// or `None` as the held value for a fresh record (whose `seq` is still 0).
    fn claim<T: crate::raw::Record>(
        &self,
        kind: SectionKind,
        records: Records<'_, T>,
        seq: impl Fn(&T) -> &AtomicU64,
        reusable: impl Fn(&T) -> bool,
    ) -> Option<(u32, Option<u64>)> {
        let desc = self.section(kind);
        let cap = records.len() as u32;
        // Only records whose pages are allocated are handed out (a growing segment).
        let part = super::backing::Part::of(kind);
        let limit_now = || part.map_or(cap, |p| self.backing.limit(p).min(u64::from(cap)) as u32);
        let mut limit = limit_now();
        let mut used = desc.used.load(Ordering::Relaxed);
        loop {
            while used < limit {
                match desc.used.compare_exchange_weak(
                    used,
                    used + 1,
                    Ordering::Relaxed,
                    Ordering::Relaxed,
                ) {
                    Ok(_) => {
                        if let Some(p) = part {
                            self.backing.note_use(p, u64::from(used) + 1);
                        }
                        return Some((used, None));
                    }
                    Err(now) => used = now,
                }
            }
            if let Some(p) = part {
                self.backing.note_use(p, u64::from(used));
            }
            // Reuse looks at claimed records only (never at an unallocated page).
            for (i, rec) in records.iter().enumerate().take(used.min(cap) as usize) {
                let s = seq(rec).load(Ordering::Acquire);
                if s == 0 || s & 1 == 1 || !reusable(rec) {
                    continue;
                }
                // Taking the lock with a CAS excludes other claimers; the state read
                // above is still current if the sequence did not move.
                if seq(rec)
                    .compare_exchange(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
                {
                    fence(Ordering::Release);
                    return Some((i as u32, Some(s + 1)));
                }
            }
            // A grow that ended since `limit` was read allocated more records: take one
            // of those rather than refuse.
            let now = limit_now();
            if now > limit {
                limit = now;
                continue;
            }
            let Some(p) = part else { break };
            // Put off until more records are allocated: the owner claims again after the
            // next grow. A sample site is not claimed again (its sample is lost): counted.
            match self.backing.refuse(p, u64::from(limit)) {
                Refusal::Retry(now) if now.min(u64::from(cap)) > u64::from(limit) => {
                    limit = now.min(u64::from(cap)) as u32;
                }
                Refusal::PutOff if p != Part::SampleSites => return None,
                _ => break,
            }
        }
        desc.overflow.fetch_add(1, Ordering::Relaxed);
        None
    }

    /// Runs `write` as one sequence-locked update of a record just claimed by `claim`.
    fn write_claimed<R>(seq: &AtomicU64, held: Option<u64>, write: impl FnOnce() -> R) -> R {
        match held {
            None => seqlock::write(seq, write),
            Some(odd) => {
                let r = write();
                seq.store(odd.wrapping_add(1), Ordering::Release);
                r
            }
        }
    }

    /// Claims a thread record for thread `tid` named `name` (truncated to 16 bytes):
    /// state LIVE, magazines zero. Reuses an EXITED record when the table is full;
    /// `None` (counted in the section's `overflow`) when none is free.
    pub fn claim_thread(&self, tid: u64, name: &[u8]) -> Option<u32> {
        let recs = self.records::<ThreadRecord>(self.plan.threads);
        let (idx, held) = self.claim(
            SectionKind::Threads,
            recs,
            |t| &t.seq,
            |t| t.state.load(Ordering::Relaxed) == THREAD_EXITED,
        )?;
        let t = recs.get(idx as usize)?;
        Self::write_claimed(&t.seq, held, || {
            let r = Ordering::Relaxed;
            t.tid.store(tid, r);
            t.state.store(THREAD_LIVE, r);
            t.class_count.store(self.class_count, r);
            t.drains.store(0, r);
            t.frees.store(0, r);
            store_bytes(&t.name, name);
            for m in &t.magazines {
                m.store(0, r);
            }
        });
        Some(idx)
    }

    /// Thread record `idx`.
    pub fn thread(&self, idx: u32) -> Option<&ThreadRecord> {
        self.records::<ThreadRecord>(self.plan.threads)
            .get(idx as usize)
    }

    /// Updates thread record `idx` under its sequence lock. Only the owning thread
    /// writes its record.
    pub fn update_thread<R>(&self, idx: u32, f: impl FnOnce(&ThreadRecord) -> R) -> Option<R> {
        let t = self.thread(idx)?;
        Some(seqlock::write(&t.seq, || f(t)))
    }

    /// Marks thread record `idx` EXITED (after the thread drained its magazines); the
    /// record stays visible until a new thread reuses it.
    pub fn exit_thread(&self, idx: u32) {
        if let Some(t) = self.thread(idx) {
            seqlock::write(&t.seq, || t.state.store(THREAD_EXITED, Ordering::Relaxed));
        }
    }

    /// Claims a SuperSlab record for the SuperSlab at `base`: state MAPPED, every slot
    /// UNUSED. Reuses a FREE record when the table is full; `None` (counted) when full.
    pub fn claim_superslab(&self, base: u64) -> Option<u32> {
        let recs = self.records::<SuperSlabRecord>(self.plan.superslabs);
        let (idx, held) = self.claim(
            SectionKind::SuperSlabs,
            recs,
            |s| &s.seq,
            |s| s.state.load(Ordering::Relaxed) == SUPERSLAB_FREE,
        )?;
        let s = recs.get(idx as usize)?;
        let owners = self.slot_owner_record(idx);
        Self::write_claimed(&s.seq, held, || {
            let r = Ordering::Relaxed;
            s.base.store(base, r);
            s.state.store(SUPERSLAB_MAPPED, r);
            s.reserved.store(0, r);
            for slot in &s.slots {
                slot.store(0, r);
            }
            for w in owners.iter().flat_map(|o| &o.owners) {
                w.store(SLOT_OWNER_NONE, r);
            }
        });
        Some(idx)
    }

    fn slot_owner_record(&self, idx: u32) -> Option<&SlotOwnerRecord> {
        self.records::<SlotOwnerRecord>(self.plan.slot_owners)
            .get(idx as usize)
    }

    /// Sets the owner of slot `slot` of SuperSlab record `idx`: a kernel tid,
    /// `SLOT_OWNER_NONE` or `SLOT_OWNER_ABANDONED` (one relaxed store; the caller
    /// serialises writers of one record, as for [`SegmentWriter::update_superslab`]).
    pub fn set_slot_owner(&self, idx: u32, slot: usize, owner: u32) {
        if let Some(w) = self.slot_owner_record(idx).and_then(|o| o.owners.get(slot)) {
            w.store(owner, Ordering::Relaxed);
        }
    }

    /// SuperSlab record `idx`.
    pub fn superslab(&self, idx: u32) -> Option<&SuperSlabRecord> {
        self.records::<SuperSlabRecord>(self.plan.superslabs)
            .get(idx as usize)
    }

    /// Updates SuperSlab record `idx` under its sequence lock. The caller serialises
    /// writers of one record (the allocator's SuperSlab lock).
    pub fn update_superslab<R>(
        &self,
        idx: u32,
        f: impl FnOnce(&SuperSlabRecord) -> R,
    ) -> Option<R> {
        let s = self.superslab(idx)?;
        Some(seqlock::write(&s.seq, || f(s)))
    }

    /// The SuperSlab of record `idx` was returned to the OS: the record becomes FREE.
    pub fn release_superslab(&self, idx: u32) {
        if let Some(s) = self.superslab(idx) {
            seqlock::write(&s.seq, || s.state.store(SUPERSLAB_FREE, Ordering::Relaxed));
        }
    }

    /// Registers a GPU pool: `device` (`None` = host memory), `backend`
    /// (`GPU_BACKEND_*`), a name (truncated to 32 bytes) and its bucket sizes (at most
    /// [`MAX_GPU_BUCKETS`]; more are not described). Returns the record index, which is
    /// also the pool id written in the record and used in GPU events. `None` when the
    /// table is full (counted) or `backend` is not a known `GPU_BACKEND_*` value.
    pub fn claim_gpu_pool(
        &self,
        device: Option<u32>,
        backend: u32,
        name: &[u8],
        bucket_sizes: &[u64],
    ) -> Option<u32> {
        if backend != GPU_BACKEND_CUDA && backend != GPU_BACKEND_HOST {
            return None;
        }
        let recs = self.records::<GpuPoolRecord>(self.plan.gpu_pools);
        let idx = self.claim_allocated(SectionKind::GpuPools, self.plan.gpu_pools)?;
        let g = recs.get(idx as usize)?;
        let r = Ordering::Relaxed;
        g.pool_id.store(idx, r);
        g.device.store(device.unwrap_or(u32::MAX), r);
        g.backend.store(backend, r);
        store_bytes(&g.name, name);
        let n = bucket_sizes.len().min(MAX_GPU_BUCKETS);
        for (b, &size) in g.buckets.iter().zip(&bucket_sizes[..n]) {
            b.bucket_bytes.store(size, r);
        }
        g.bucket_count.store(n as u32, r);
        // Publish the identity fields: readers skip the record while seq is 0.
        g.seq.store(2, Ordering::Release);
        Some(idx)
    }

    /// GPU pool record `idx`, if claimed (`None` past the claimed records, whose pages
    /// a growing segment has not allocated).
    pub fn gpu_pool(&self, idx: u32) -> Option<&GpuPoolRecord> {
        let used = self
            .section(SectionKind::GpuPools)
            .used
            .load(Ordering::Relaxed);
        if idx >= used {
            return None;
        }
        self.records::<GpuPoolRecord>(self.plan.gpu_pools)
            .get(idx as usize)
    }

    /// Whether the segment has the sample-site section.
    pub fn samples_sites(&self) -> bool {
        self.plan.sites.is_some()
    }

    fn sites(&self) -> Option<Records<'_, SampleSiteRecord>> {
        self.plan.sites.map(|s| self.records::<SampleSiteRecord>(s))
    }

    /// Claims a sample-site record for the call stack `frames` (innermost first; at most
    /// [`MAX_SAMPLE_FRAMES`] are kept) with key `hash` (non-zero), first seen at
    /// `now_mono_ns`; counters zero. Records are never reused. `None` when the segment
    /// has no sample-site section or the table is full (counted in its `overflow`).
    pub fn claim_sample_site(&self, hash: u64, frames: &[u64], now_mono_ns: u64) -> Option<u32> {
        let recs = self.sites()?;
        let (idx, _) = self.claim(SectionKind::SampleSites, recs, |s| &s.seq, |_| false)?;
        let s = recs.get(idx as usize)?;
        seqlock::write(&s.seq, || {
            let r = Ordering::Relaxed;
            s.hash.store(hash, r);
            let n = frames.len().min(MAX_SAMPLE_FRAMES);
            s.frame_count.store(n as u32, r);
            for (i, f) in s.frames.iter().enumerate() {
                f.store(if i < n { frames[i] } else { 0 }, r);
            }
            s.first_mono_ns.store(now_mono_ns, r);
            s.last_mono_ns.store(now_mono_ns, r);
        });
        Some(idx)
    }

    /// Allocates the first sample-site records of a growing segment created while the
    /// process did not sample (none are allocated then): call it before sampling starts,
    /// where a system call may run. Returns whether sample sites can be claimed now;
    /// `false` where the file system refused the pages (growth stops, as after a
    /// failed doubling, and claims count as overflow) or there is no sample-site
    /// section.
    pub fn prepare_sample_sites(&self) -> bool {
        let Some(s) = self.plan.sites else {
            return false;
        };
        self.backing.prepare(Part::SampleSites, |from, to| {
            let (from, to) = (from as usize, to as usize);
            self.map
                .populate(s.offset + from * s.stride, (to - from) * s.stride)
        })
    }

    /// Sample-site record `idx`.
    pub fn sample_site(&self, idx: u32) -> Option<&SampleSiteRecord> {
        self.sites()?.get(idx as usize)
    }

    /// Updates sample-site record `idx` under its sequence lock. The caller serialises
    /// writers of one record (the allocator's sample lock).
    pub fn update_sample_site<R>(
        &self,
        idx: u32,
        f: impl FnOnce(&SampleSiteRecord) -> R,
    ) -> Option<R> {
        let s = self.sample_site(idx)?;
        Some(seqlock::write(&s.seq, || f(s)))
    }

    /// Appends an event to the ring (see `ring.rs`). Lock-free, never blocks.
    pub fn push_event(&self, time_ns: u64, thread: u32, kind: &EventKind) -> PushOutcome {
        let h = self.header();
        let out = ring::push(
            &h.ring,
            self.records::<EventRecord>(self.plan.ring),
            self.backing.limit(Part::Ring),
            time_ns,
            thread,
            kind,
        );
        let (PushOutcome::Written(seq) | PushOutcome::Dropped(seq)) = out;
        self.backing.note_use(Part::Ring, seq + 1);
        out
    }

    /// The heap error table, after the 1.0 header (protocol 1.4).
    pub fn heap_error_table(&self) -> &HeapErrorTable {
        match self.region().get::<HeapErrorTable>(HEAP_ERROR_TABLE_OFFSET) {
            Some(t) => t,
            None => unreachable!("segment mapping smaller than its header"),
        }
    }

    /// Publishes a heap error `SLABSCOPE_CHECK` found: its record in the heap error table
    /// (the slot of number `next.fetch_add(1)`, modulo [`HEAP_ERROR_SLOTS`], written
    /// under its stamp), its kind's counter in `totals.heap_errors`, and an
    /// [`EventKind::HeapError`] in the ring. A `time_ns` of 0 is filled with
    /// `CLOCK_MONOTONIC` now and a `thread` of 0 with the calling thread. Lock-free and
    /// allocation-free; any number of threads may call it at once. Returns the error's
    /// number in the table, or `None` when its record was left to a writer a lap away
    /// (it is still counted and in the ring).
    pub fn heap_error(&self, e: &HeapError) -> Option<u64> {
        let time_ns = if e.time_ns == 0 {
            sys::monotonic_ns()
        } else {
            e.time_ns
        };
        let thread = if e.thread == 0 {
            sys::gettid()
        } else {
            e.thread
        };
        let e = HeapError {
            time_ns,
            thread,
            ..*e
        };
        let n = heap_error_table::record(self.heap_error_table(), &e, time_ns);
        if let Some(c) = self
            .header()
            .totals
            .heap_errors
            .get((e.kind as usize).wrapping_sub(1))
        {
            c.fetch_add(1, Ordering::Relaxed);
        }
        self.push_event(time_ns, thread, &e.as_event());
        n
    }

    /// Records writer liveness (`CLOCK_MONOTONIC` ns).
    pub fn heartbeat(&self, now_mono_ns: u64) {
        self.header()
            .heartbeat_mono_ns
            .store(now_mono_ns, Ordering::Relaxed);
    }

    /// Sets `FLAG_*` bits (`Release`: what was written before is visible to a reader that
    /// sees the flag).
    pub fn set_flag(&self, flag: u32) {
        self.header().flags.fetch_or(flag, Ordering::Release);
    }

    /// Marks the segment closed (normal exit): readers read what is left of the ring
    /// without waiting for slots still being written.
    pub fn close(&self) {
        self.set_flag(FLAG_CLOSED);
    }

    /// Removes the segment file (the mapping stays valid until drop).
    pub fn unlink(&self) -> Result<(), CreateError> {
        sys::unlink(&self.path[..=self.path_len]).map_err(|errno| CreateError::Io {
            op: "unlink",
            errno,
        })
    }
}

/// `CLOCK_MONOTONIC` in nanoseconds: the clock of event times and the heartbeat.
pub fn monotonic_ns() -> u64 {
    sys::monotonic_ns()
}

/// The segments this process creates from now on take their command line from
/// `/proc/self/cmdline`, as the process shows itself then, rather than from the copy of
/// its arguments made before `main`: for a forked child, or a segment put off, whose
/// program may have rewritten them since (a process title, a blanked-out password).
pub fn command_from_proc() {
    crate::raw::args::forget();
}

/// `CLOCK_MONOTONIC_COARSE` in nanoseconds: [`monotonic_ns`] as of the last timer tick,
/// a seventh of its cost; for checks whose period is several ticks long.
pub fn coarse_monotonic_ns() -> u64 {
    sys::coarse_monotonic_ns()
}

/// `CLOCK_REALTIME` in nanoseconds since the Unix epoch.
pub fn realtime_ns() -> u64 {
    sys::realtime_ns()
}

/// The calling thread's kernel thread id.
pub fn gettid() -> u32 {
    sys::gettid()
}
