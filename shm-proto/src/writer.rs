//! The segment writer, used by the allocator: no heap allocation, no locks, safe to call
//! from inside `malloc`.
//!
//! [`SegmentWriter::create`] lays the segment out (header, then each section 64-aligned:
//! classes, threads, SuperSlabs, GPU pools, ring), creates the file
//! `dir/slabscope.<pid>` with `O_CREAT|O_EXCL|O_NOFOLLOW` and mode 0600, maps it shared,
//! fills the header and stores [`MAGIC`] last, with `Release`. After that every update
//! is an atomic store or read-modify-write on the mapping.
#![forbid(unsafe_code)]

use core::fmt;

use crate::event::EventKind;
use crate::layout::*;
use crate::raw::mapping::SharedMapping;
use crate::raw::{sys, Records, Region};
use crate::ring::{self, PushOutcome};
use crate::seqlock;
use crate::sync::{fence, AtomicU64, Ordering};

/// Longest segment path the writer handles, NUL included.
pub const MAX_PATH_BYTES: usize = 512;
/// Largest segment the writer creates.
pub const MAX_SEGMENT_BYTES: u64 = 1 << 30;

/// What the segment holds and how big its tables are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SegmentConfig {
    /// Block size of each class (the first `class_count` entries are used, each > 0).
    pub class_sizes: [u32; MAX_CLASSES],
    /// Size classes, 1..=[`MAX_CLASSES`].
    pub class_count: u32,
    /// Thread records (threads beyond it are counted in the section's `overflow`).
    pub max_threads: u32,
    /// SuperSlab records.
    pub max_superslabs: u32,
    /// GPU pool records.
    pub max_gpu_pools: u32,
    /// Events in the ring: a power of two.
    pub ring_capacity: u32,
    /// Magazine drain interval in frees, published in the header.
    pub drain_interval: u64,
    /// `SLABSCOPE_LIMIT` in bytes (0 = none), published in the header totals.
    pub limit_bytes: u64,
    /// Initial `FLAG_*` bits.
    pub flags: u32,
}

/// Why a segment could not be created.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum CreateError {
    /// `dir/slabscope.<pid>` does not fit in [`MAX_PATH_BYTES`].
    PathTooLong,
    /// Something (a file, a symlink, anything) already exists at the path.
    Exists,
    /// A system call failed.
    Io {
        /// The call.
        op: &'static str,
        /// Its `errno`.
        errno: i32,
    },
    /// The configuration is unusable.
    BadConfig(&'static str),
}

impl fmt::Display for CreateError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::PathTooLong => write!(
                f,
                "segment path is longer than {} bytes",
                MAX_PATH_BYTES - 1
            ),
            Self::Exists => write!(
                f,
                "a file already exists at the segment path (refusing to reuse or follow it)"
            ),
            Self::Io { op, errno } => write!(
                f,
                "{op} failed: {}",
                std::io::Error::from_raw_os_error(*errno)
            ),
            Self::BadConfig(why) => write!(f, "bad segment configuration: {why}"),
        }
    }
}

impl std::error::Error for CreateError {}

/// Offset, capacity and stride of one section, as laid out by this writer.
#[derive(Clone, Copy, Debug, Default)]
struct Section {
    offset: usize,
    capacity: u32,
    stride: usize,
}

/// Where every section lives, and the segment's total size.
#[derive(Clone, Copy, Debug)]
struct Plan {
    classes: Section,
    threads: Section,
    superslabs: Section,
    gpu_pools: Section,
    ring: Section,
    total: usize,
}

const fn align64(v: u64) -> u64 {
    (v + SECTION_ALIGN - 1) & !(SECTION_ALIGN - 1)
}

impl Plan {
    fn new(cfg: &SegmentConfig) -> Result<Self, CreateError> {
        if cfg.class_count == 0 || cfg.class_count as usize > MAX_CLASSES {
            return Err(CreateError::BadConfig("class_count must be in 1..=64"));
        }
        if cfg.class_sizes[..cfg.class_count as usize].contains(&0) {
            return Err(CreateError::BadConfig("every class needs a block size > 0"));
        }
        if !cfg.ring_capacity.is_power_of_two() {
            return Err(CreateError::BadConfig(
                "ring_capacity must be a power of two",
            ));
        }
        // Every product below fits in u64: capacities are u32, record sizes < 2^11.
        let mut at = align64(core::mem::size_of::<Header>() as u64);
        let mut next = |kind: SectionKind, capacity: u32| {
            let stride = kind.record_size() as u64;
            let s = Section {
                offset: at as usize,
                capacity,
                stride: stride as usize,
            };
            at = align64(at + stride * capacity as u64);
            s
        };
        let classes = next(SectionKind::Classes, cfg.class_count);
        let threads = next(SectionKind::Threads, cfg.max_threads);
        let superslabs = next(SectionKind::SuperSlabs, cfg.max_superslabs);
        let gpu_pools = next(SectionKind::GpuPools, cfg.max_gpu_pools);
        let ring = next(SectionKind::Ring, cfg.ring_capacity);
        if at > MAX_SEGMENT_BYTES {
            return Err(CreateError::BadConfig("segment would be larger than 1 GiB"));
        }
        Ok(Self {
            classes,
            threads,
            superslabs,
            gpu_pools,
            ring,
            total: at as usize,
        })
    }
}

/// Builds `dir/slabscope.<pid>\0` into `buf`; returns its length without the NUL.
fn build_path(dir: &[u8], pid: u32, buf: &mut [u8; MAX_PATH_BYTES]) -> Result<usize, CreateError> {
    if dir.is_empty() {
        return Err(CreateError::BadConfig("segment directory is empty"));
    }
    if dir.contains(&0) {
        return Err(CreateError::BadConfig(
            "segment directory contains a NUL byte",
        ));
    }
    let mut digits = [0u8; 10];
    let mut n = 0;
    let mut p = pid;
    loop {
        digits[n] = b'0' + (p % 10) as u8;
        n += 1;
        p /= 10;
        if p == 0 {
            break;
        }
    }
    let sep: &[u8] = if dir.ends_with(b"/") { b"" } else { b"/" };
    let name = b"slabscope.";
    let len = dir.len() + sep.len() + name.len() + n;
    if len + 1 > MAX_PATH_BYTES {
        return Err(CreateError::PathTooLong);
    }
    let mut at = 0;
    for part in [dir, sep, name] {
        buf[at..at + part.len()].copy_from_slice(part);
        at += part.len();
    }
    for i in (0..n).rev() {
        buf[at] = digits[i];
        at += 1;
    }
    buf[at] = 0;
    Ok(len)
}

/// Stores `bytes` (truncated, NUL-padded) into little-endian words.
fn store_bytes(words: &[AtomicU64], bytes: &[u8]) {
    for (i, w) in words.iter().enumerate() {
        let mut chunk = [0u8; 8];
        let start = (i * 8).min(bytes.len());
        let end = (start + 8).min(bytes.len());
        chunk[..end - start].copy_from_slice(&bytes[start..end]);
        w.store(u64::from_le_bytes(chunk), Ordering::Relaxed);
    }
}

/// The writing side of a segment. `Send + Sync`; dropping it unmaps the segment (the
/// file stays until [`SegmentWriter::unlink`]).
#[derive(Debug)]
pub struct SegmentWriter {
    map: SharedMapping,
    plan: Plan,
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
        let plan = Plan::new(cfg)?;
        let mut path = [0u8; MAX_PATH_BYTES];
        let path_len = build_path(dir, pid, &mut path)?;
        let cpath = &path[..=path_len];
        let fd = sys::create_exclusive(cpath).map_err(|errno| match errno {
            libc::EEXIST => CreateError::Exists,
            errno => CreateError::Io { op: "open", errno },
        })?;
        let mapped = sys::set_len(&fd, plan.total as u64)
            .map_err(|(op, errno)| CreateError::Io { op, errno })
            .and_then(|()| {
                SharedMapping::map(&fd, plan.total)
                    .map_err(|errno| CreateError::Io { op: "mmap", errno })
            });
        drop(fd);
        let map = match mapped {
            Ok(m) => m,
            Err(e) => {
                let _ = sys::unlink(cpath);
                return Err(e);
            }
        };
        let w = Self {
            map,
            plan,
            class_count: cfg.class_count,
            path,
            path_len,
        };
        w.init(pid, cfg);
        Ok(w)
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

    fn init(&self, pid: u32, cfg: &SegmentConfig) {
        let h = self.header();
        let r = Ordering::Relaxed;
        h.version
            .store((PROTOCOL_MAJOR as u32) << 16 | PROTOCOL_MINOR as u32, r);
        h.header_size
            .store(core::mem::size_of::<Header>() as u32, r);
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
        let n = sys::read_cmdline(&mut cmd);
        store_bytes(&h.command, &cmd[..n]);
        h.totals.limit_bytes.store(cfg.limit_bytes, r);
        let p = &self.plan;
        let table = [
            (SectionKind::Classes, p.classes),
            (SectionKind::Threads, p.threads),
            (SectionKind::SuperSlabs, p.superslabs),
            (SectionKind::GpuPools, p.gpu_pools),
            (SectionKind::Ring, p.ring),
        ];
        for (d, (kind, s)) in h.sections.iter().zip(table) {
            d.kind.store(kind as u32, r);
            d.stride.store(s.stride as u32, r);
            d.offset.store(s.offset as u64, r);
            d.capacity.store(s.capacity, r);
        }
        h.section_count.store(table.len() as u32, r);
        let classes = self.records::<ClassRecord>(p.classes);
        for (i, c) in classes.iter().enumerate() {
            c.class.store(i as u32, r);
            c.block_size.store(cfg.class_sizes[i], r);
        }
        // Publish: a reader that sees the magic (Acquire) sees everything above.
        h.magic.store(MAGIC, Ordering::Release);
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

    fn section(&self, kind: SectionKind) -> &SectionDesc {
        &self.header().sections[kind as usize - 1]
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
        let mut used = desc.used.load(Ordering::Relaxed);
        while used < cap {
            match desc.used.compare_exchange_weak(
                used,
                used + 1,
                Ordering::Relaxed,
                Ordering::Relaxed,
            ) {
                Ok(_) => return Some((used, None)),
                Err(now) => used = now,
            }
        }
        for (i, rec) in records.iter().enumerate() {
            let s = seq(rec).load(Ordering::Acquire);
            if s == 0 || s & 1 == 1 || !reusable(rec) {
                continue;
            }
            // Taking the lock with a CAS excludes other claimers; the state read above is
            // still current if the sequence did not move.
            if seq(rec)
                .compare_exchange(s, s + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
            {
                fence(Ordering::Release);
                return Some((i as u32, Some(s + 1)));
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
        Self::write_claimed(&s.seq, held, || {
            let r = Ordering::Relaxed;
            s.base.store(base, r);
            s.state.store(SUPERSLAB_MAPPED, r);
            s.reserved.store(0, r);
            for slot in &s.slots {
                slot.store(0, r);
            }
        });
        Some(idx)
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
        let (idx, _) = self.claim(SectionKind::GpuPools, recs, |g| &g.seq, |_| false)?;
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

    /// GPU pool record `idx`.
    pub fn gpu_pool(&self, idx: u32) -> Option<&GpuPoolRecord> {
        self.records::<GpuPoolRecord>(self.plan.gpu_pools)
            .get(idx as usize)
    }

    /// Appends an event to the ring (see `ring.rs`). Lock-free, never blocks.
    pub fn push_event(&self, time_ns: u64, thread: u32, kind: &EventKind) -> PushOutcome {
        let h = self.header();
        ring::push(
            &h.ring,
            self.records::<EventRecord>(self.plan.ring),
            time_ns,
            thread,
            kind,
        )
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

/// `CLOCK_REALTIME` in nanoseconds since the Unix epoch.
pub fn realtime_ns() -> u64 {
    sys::realtime_ns()
}

/// The calling thread's kernel thread id.
pub fn gettid() -> u32 {
    sys::gettid()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn cfg() -> SegmentConfig {
        let mut class_sizes = [0; MAX_CLASSES];
        for (i, s) in class_sizes.iter_mut().enumerate().take(4) {
            *s = 16 << i;
        }
        SegmentConfig {
            class_sizes,
            class_count: 4,
            max_threads: 2,
            max_superslabs: 2,
            max_gpu_pools: 1,
            ring_capacity: 8,
            drain_interval: 1000,
            limit_bytes: 1 << 30,
            flags: FLAG_PRELOAD,
        }
    }

    fn create(dir: &tempfile::TempDir, c: &SegmentConfig) -> SegmentWriter {
        SegmentWriter::create(dir.path().as_os_str().as_encoded_bytes(), 4242, c).unwrap()
    }

    #[test]
    fn create_lays_out_the_header_and_sections() {
        let dir = tempfile::tempdir().unwrap();
        let w = create(&dir, &cfg());
        let path = dir.path().join("slabscope.4242");
        assert_eq!(w.path_bytes(), path.as_os_str().as_encoded_bytes());
        let meta = std::fs::symlink_metadata(&path).unwrap();
        assert_eq!(meta.permissions().mode() & 0o7777, 0o600);
        let h = w.header();
        let r = Ordering::Relaxed;
        assert_eq!(h.magic.load(r), MAGIC);
        assert_eq!(h.version.load(r), 1 << 16 | PROTOCOL_MINOR as u32);
        assert_eq!(h.pid.load(r), 4242);
        assert_eq!(h.flags.load(r), FLAG_PRELOAD);
        assert_eq!(h.class_count.load(r), 4);
        assert_eq!(h.totals.limit_bytes.load(r), 1 << 30);
        assert_eq!(h.section_count.load(r), 5);
        assert_eq!(h.total_size.load(r), meta.len());
        assert!(h.start_mono_ns.load(r) > 0 && h.start_unix_ns.load(r) > 0);
        let mut end = 0;
        for (i, d) in h.sections.iter().take(5).enumerate() {
            let kind = SectionKind::from_u32(d.kind.load(r)).unwrap();
            assert_eq!(kind as usize, i + 1);
            let off = d.offset.load(r);
            assert_eq!(off % SECTION_ALIGN, 0);
            assert!(off >= end, "sections do not overlap");
            assert_eq!(d.stride.load(r) as usize, kind.record_size());
            end = off + d.stride.load(r) as u64 * d.capacity.load(r) as u64;
        }
        assert!(end <= h.total_size.load(r));
        let cmd: Vec<u8> = h
            .command
            .iter()
            .flat_map(|w| w.load(r).to_le_bytes())
            .collect();
        assert!(cmd[0] != 0, "command line recorded");
        for i in 0..4 {
            let c = w.class(i).unwrap();
            assert_eq!(c.block_size.load(r), 16 << i);
            assert_eq!(c.class.load(r), i as u32);
        }
        assert!(w.class(4).is_none());
    }

    #[test]
    fn thread_records_are_claimed_reused_after_exit_and_overflow_counted() {
        let dir = tempfile::tempdir().unwrap();
        let w = create(&dir, &cfg());
        let r = Ordering::Relaxed;
        assert_eq!(w.claim_thread(10, b"main"), Some(0));
        assert_eq!(w.claim_thread(11, b"a-very-long-thread-name"), Some(1));
        assert_eq!(w.claim_thread(12, b"x"), None);
        let desc = &w.header().sections[SectionKind::Threads as usize - 1];
        assert_eq!(desc.used.load(r), 2);
        assert_eq!(desc.overflow.load(r), 1);
        let t1 = w.thread(1).unwrap();
        assert_eq!(t1.name[0].load(r).to_le_bytes(), *b"a-very-l");
        assert_eq!(t1.name[1].load(r).to_le_bytes(), *b"ong-thre");
        w.update_thread(0, |t| t.magazines[2].store(5 | 64 << 32, r));
        assert_eq!(w.thread(0).unwrap().seq.load(r), 4);
        w.exit_thread(0);
        assert_eq!(w.thread(0).unwrap().state.load(r), THREAD_EXITED);
        assert_eq!(w.claim_thread(13, b"new"), Some(0));
        let t0 = w.thread(0).unwrap();
        assert_eq!(t0.tid.load(r), 13);
        assert_eq!(t0.state.load(r), THREAD_LIVE);
        assert_eq!(t0.magazines[2].load(r), 0, "reused record starts empty");
        assert_eq!(t0.seq.load(r) % 2, 0);
        assert!(w.update_thread(2, |_| ()).is_none());
        assert!(w.thread(2).is_none());
    }

    #[test]
    fn superslab_records_are_reused_once_free() {
        let dir = tempfile::tempdir().unwrap();
        let w = create(&dir, &cfg());
        let r = Ordering::Relaxed;
        assert_eq!(w.claim_superslab(0x20_0000), Some(0));
        assert_eq!(w.claim_superslab(0x40_0000), Some(1));
        assert_eq!(w.claim_superslab(0x60_0000), None);
        w.update_superslab(1, |s| {
            s.slots[3].store(pack_slot(SLOT_ACTIVE, 2, 100, 7), r)
        });
        w.release_superslab(1);
        assert_eq!(w.superslab(1).unwrap().state.load(r), SUPERSLAB_FREE);
        assert_eq!(w.claim_superslab(0x80_0000), Some(1));
        let s = w.superslab(1).unwrap();
        assert_eq!(s.base.load(r), 0x80_0000);
        assert_eq!(s.state.load(r), SUPERSLAB_MAPPED);
        assert_eq!(s.slots[3].load(r), 0);
        let desc = &w.header().sections[SectionKind::SuperSlabs as usize - 1];
        assert_eq!(desc.overflow.load(r), 1);
    }

    #[test]
    fn gpu_pools_record_identity_and_buckets() {
        let dir = tempfile::tempdir().unwrap();
        let w = create(&dir, &cfg());
        let r = Ordering::Relaxed;
        assert_eq!(w.claim_gpu_pool(Some(0), 99, b"bad", &[]), None);
        let sizes: Vec<u64> = (12..40).map(|b| 1u64 << b).collect();
        assert_eq!(
            w.claim_gpu_pool(Some(0), GPU_BACKEND_CUDA, b"H100", &sizes),
            Some(0)
        );
        assert_eq!(w.claim_gpu_pool(None, GPU_BACKEND_HOST, b"host", &[]), None);
        let g = w.gpu_pool(0).unwrap();
        assert_eq!(g.seq.load(r), 2);
        assert_eq!(g.device.load(r), 0);
        assert_eq!(g.bucket_count.load(r), MAX_GPU_BUCKETS as u32);
        assert_eq!(g.buckets[23].bucket_bytes.load(r), 1 << 35);
    }

    #[test]
    fn events_go_to_the_ring_in_sequence() {
        let dir = tempfile::tempdir().unwrap();
        let w = create(&dir, &cfg());
        for i in 0..10 {
            let k = EventKind::ThreadExit { blocks: i };
            assert_eq!(w.push_event(i, 1, &k), PushOutcome::Written(i));
        }
        assert_eq!(w.header().ring.head.load(Ordering::Relaxed), 10);
        w.heartbeat(77);
        w.close();
        let h = w.header();
        assert_eq!(h.heartbeat_mono_ns.load(Ordering::Relaxed), 77);
        assert_eq!(h.flags.load(Ordering::Relaxed), FLAG_PRELOAD | FLAG_CLOSED);
    }

    #[test]
    fn an_existing_file_or_symlink_is_refused_and_unlink_removes_the_file() {
        let dir = tempfile::tempdir().unwrap();
        let w = create(&dir, &cfg());
        let d = dir.path().as_os_str().as_encoded_bytes();
        assert_eq!(
            SegmentWriter::create(d, 4242, &cfg()).unwrap_err(),
            CreateError::Exists
        );
        let target = dir.path().join("target");
        std::os::unix::fs::symlink(&target, dir.path().join("slabscope.7")).unwrap();
        assert_eq!(
            SegmentWriter::create(d, 7, &cfg()).unwrap_err(),
            CreateError::Exists
        );
        assert!(!target.exists(), "the symlink was not followed");
        w.unlink().unwrap();
        assert!(!dir.path().join("slabscope.4242").exists());
        assert_eq!(
            w.unlink().unwrap_err(),
            CreateError::Io {
                op: "unlink",
                errno: libc::ENOENT
            }
        );
        let uid = std::fs::metadata(dir.path()).unwrap().uid();
        assert_eq!(uid, sys::geteuid());
    }

    #[test]
    fn bad_configs_and_paths_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path().as_os_str().as_encoded_bytes();
        let mut c = cfg();
        c.ring_capacity = 12;
        assert!(matches!(
            SegmentWriter::create(d, 1, &c),
            Err(CreateError::BadConfig(_))
        ));
        let mut c = cfg();
        c.class_count = 0;
        assert!(matches!(
            SegmentWriter::create(d, 1, &c),
            Err(CreateError::BadConfig(_))
        ));
        let mut c = cfg();
        c.class_sizes[3] = 0;
        assert!(matches!(
            SegmentWriter::create(d, 1, &c),
            Err(CreateError::BadConfig(_))
        ));
        let mut c = cfg();
        c.max_threads = u32::MAX;
        assert!(matches!(
            SegmentWriter::create(d, 1, &c),
            Err(CreateError::BadConfig(_))
        ));
        let long = vec![b'a'; MAX_PATH_BYTES];
        assert_eq!(
            SegmentWriter::create(&long, 1, &cfg()).unwrap_err(),
            CreateError::PathTooLong
        );
        assert!(matches!(
            SegmentWriter::create(b"", 1, &cfg()),
            Err(CreateError::BadConfig(_))
        ));
        assert_eq!(
            SegmentWriter::create(b"/nonexistent-dir-slabscope", 1, &cfg()).unwrap_err(),
            CreateError::Io {
                op: "open",
                errno: libc::ENOENT
            }
        );
        assert!(
            std::fs::read_dir(dir.path()).unwrap().next().is_none(),
            "nothing left behind"
        );
    }

    #[test]
    fn paths_are_built_without_allocation() {
        let mut buf = [0u8; MAX_PATH_BYTES];
        let n = build_path(b"/dev/shm/", u32::MAX, &mut buf).unwrap();
        assert_eq!(&buf[..=n], b"/dev/shm/slabscope.4294967295\0");
        let n = build_path(b"/d", 0, &mut buf).unwrap();
        assert_eq!(&buf[..=n], b"/d/slabscope.0\0");
    }

    #[test]
    fn create_errors_display_one_line() {
        for e in [
            CreateError::PathTooLong,
            CreateError::Exists,
            CreateError::Io {
                op: "mmap",
                errno: libc::ENOMEM,
            },
            CreateError::BadConfig("x"),
        ] {
            let s = e.to_string();
            assert!(!s.is_empty() && !s.contains('\n'), "{s}");
        }
    }
}
