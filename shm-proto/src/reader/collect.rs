//! Reading a consistent [`Snapshot`] out of a validated segment.
//!
//! Counters are read with `Relaxed` loads followed by `Acquire` fences; thread and
//! SuperSlab records are copied under their sequence locks (a record the writer kept
//! busy is counted, never returned half-written); every enum and class index is checked.
#![forbid(unsafe_code)]

use core::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

use super::error::ReadError;
use super::validate::{Layout, SectionLoc};
use crate::layout::*;
use crate::raw::{Record, Records, Region};
use crate::seqlock;
use crate::snapshot::*;

/// Attempts at a stable copy of one record before it is reported busy.
const SEQLOCK_ATTEMPTS: u32 = 64;

fn ld64(a: &AtomicU64) -> u64 {
    a.load(Ordering::Relaxed)
}

fn ld32(a: &AtomicU32) -> u32 {
    a.load(Ordering::Relaxed)
}

/// Bytes of NUL-padded little-endian words, up to the first NUL, as text.
fn text(words: &[u64]) -> String {
    let bytes: Vec<u8> = words.iter().flat_map(|w| w.to_le_bytes()).collect();
    let end = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
    String::from_utf8_lossy(&bytes[..end]).into_owned()
}

fn load_words<const N: usize>(words: &[AtomicU64; N]) -> [u64; N] {
    core::array::from_fn(|i| ld64(&words[i]))
}

fn records<'a, T: Record>(region: Region<'a>, s: SectionLoc) -> Result<Records<'a, T>, ReadError> {
    region
        .records(s.offset, s.capacity as usize, s.stride)
        .ok_or_else(|| ReadError::Truncated {
            total_size: (s.offset + s.capacity as usize * s.stride) as u64,
            len: region.len() as u64,
        })
}

/// The section's `used` count (`Acquire`), checked against its capacity.
fn used(h: &Header, s: SectionLoc, kind: SectionKind) -> Result<u32, ReadError> {
    let used = h.sections[s.table_index].used.load(Ordering::Relaxed);
    fence(Ordering::Acquire);
    if used > s.capacity {
        return Err(ReadError::BadSection {
            kind: kind as u32,
            reason: format!("used {used} is more than capacity {}", s.capacity),
        });
    }
    Ok(used)
}

fn overflow(h: &Header, s: SectionLoc) -> u64 {
    ld64(&h.sections[s.table_index].overflow)
}

/// Reads everything the segment says.
pub fn snapshot(region: Region<'_>, l: &Layout) -> Result<Snapshot, ReadError> {
    let h = region.get::<Header>(0).ok_or(ReadError::TooSmall {
        len: region.len() as u64,
        need: core::mem::size_of::<Header>() as u64,
    })?;
    let flags = ld32(&h.flags);
    fence(Ordering::Acquire);
    let t = &h.totals;
    let mut snap = Snapshot {
        protocol: l.version,
        pid: l.pid,
        command: text(&load_words(&h.command)),
        flags: Flags {
            closed: flags & FLAG_CLOSED != 0,
            oom: flags & FLAG_OOM != 0,
            preload: flags & FLAG_PRELOAD != 0,
            gpu: flags & FLAG_GPU != 0,
        },
        start_unix_ns: ld64(&h.start_unix_ns),
        start_mono_ns: ld64(&h.start_mono_ns),
        heartbeat_mono_ns: ld64(&h.heartbeat_mono_ns),
        page_size: ld32(&h.page_size),
        drain_interval: ld64(&h.drain_interval),
        totals: TotalsSnapshot {
            mapped_bytes: ld64(&t.mapped_bytes),
            peak_mapped_bytes: ld64(&t.peak_mapped_bytes),
            superslabs: ld64(&t.superslabs),
            superslabs_cached: ld64(&t.superslabs_cached),
            superslabs_mapped_total: ld64(&t.superslabs_mapped_total),
            superslabs_returned_total: ld64(&t.superslabs_returned_total),
            large_bytes: ld64(&t.large_bytes),
            large_count: ld64(&t.large_count),
            limit_bytes: ld64(&t.limit_bytes),
            oom_count: ld64(&t.oom_count),
            foreign_frees: ld64(&t.foreign_frees),
        },
        ring: RingSnapshot {
            head: ld64(&h.ring.head),
            dropped: ld64(&h.ring.dropped),
            capacity: l.ring.capacity as u64,
        },
        classes: Vec::new(),
        threads: Vec::new(),
        superslabs: Vec::new(),
        gpu: Vec::new(),
        overflow: OverflowSnapshot {
            threads: overflow(h, l.threads),
            superslabs: overflow(h, l.superslabs),
            gpu_pools: overflow(h, l.gpu_pools),
        },
        sample_interval_bytes: ld64(&t.sample_interval_bytes),
        sites: Vec::new(),
        sites_overflow: l.sample_sites.map_or(0, |s| overflow(h, s)),
        oom: None,
        heap_errors: Vec::new(),
        heap_error_counts: HeapErrorCounts::default(),
        busy_records: 0,
        unknown_sections: l.compat.unknown_sections,
    };
    snap.classes = classes(region, l)?;
    read_threads(region, h, l, &mut snap)?;
    read_superslabs(region, h, l, &mut snap)?;
    snap.gpu = gpu_pools(region, h, l, &mut snap.busy_records)?;
    if let Some(loc) = l.oom_report {
        snap.oom = oom_report(region, loc, l.class_count, &mut snap.busy_records)?;
    }
    if let Some(loc) = l.sample_sites {
        snap.sites = sample_sites(region, h, loc, &mut snap.busy_records)?;
    }
    if let Some(at) = l.heap_errors {
        read_heap_errors(region, h, at, l.class_count, &mut snap)?;
    }
    fence(Ordering::Acquire);
    Ok(snap)
}

/// The heap error counters and table (1.4). A segment without the table (older than
/// 1.4) keeps zero counts and no errors: its counter words were reserved.
fn read_heap_errors(
    region: Region<'_>,
    h: &Header,
    at: usize,
    class_count: u32,
    snap: &mut Snapshot,
) -> Result<(), ReadError> {
    snap.heap_error_counts = HeapErrorCounts(load_words(&h.totals.heap_errors));
    let table = region
        .get::<HeapErrorTable>(at)
        .ok_or_else(|| ReadError::TooSmall {
            len: region.len() as u64,
            need: (at + core::mem::size_of::<HeapErrorTable>()) as u64,
        })?;
    let read = crate::heap_error_table::read(table, class_count, SEQLOCK_ATTEMPTS).map_err(
        |(index, reason)| ReadError::BadRecord {
            section: "heap error",
            index,
            reason,
        },
    )?;
    snap.heap_errors = read.errors;
    snap.busy_records += read.busy;
    Ok(())
}

fn classes(region: Region<'_>, l: &Layout) -> Result<Vec<ClassSnapshot>, ReadError> {
    let recs = records::<ClassRecord>(region, l.classes)?;
    let mut out = Vec::with_capacity(recs.len());
    for (i, c) in recs.iter().enumerate() {
        let bad = |reason: String| ReadError::BadRecord {
            section: "class",
            index: i as u32,
            reason,
        };
        let class = ld32(&c.class);
        let block_size = ld32(&c.block_size);
        if class as usize != i {
            return Err(bad(format!("holds class {class}")));
        }
        if block_size == 0 {
            return Err(bad("block size is 0".into()));
        }
        let counters = c.load_counters();
        let live = counters
            .capacity_blocks
            .saturating_sub(counters.cached_blocks)
            .saturating_sub(counters.free_blocks);
        out.push(ClassSnapshot {
            class,
            block_size,
            live,
            counters,
        });
    }
    fence(Ordering::Acquire);
    Ok(out)
}

/// A thread record's fields, copied under its sequence lock.
struct ThreadCopy {
    tid: u64,
    state: u32,
    class_count: u32,
    drains: u64,
    frees: u64,
    name: [u64; THREAD_NAME_BYTES / 8],
    magazines: [u64; MAX_CLASSES],
}

fn read_threads(
    region: Region<'_>,
    h: &Header,
    l: &Layout,
    snap: &mut Snapshot,
) -> Result<(), ReadError> {
    let recs = records::<ThreadRecord>(region, l.threads)?;
    let used = used(h, l.threads, SectionKind::Threads)?;
    for (i, t) in recs.iter().take(used as usize).enumerate() {
        let bad = |reason: String| ReadError::BadRecord {
            section: "thread",
            index: i as u32,
            reason,
        };
        if ld64(&t.seq) == 0 {
            continue; // claimed, not yet written
        }
        let copy = seqlock::read(&t.seq, SEQLOCK_ATTEMPTS, || ThreadCopy {
            tid: ld64(&t.tid),
            state: ld32(&t.state),
            class_count: ld32(&t.class_count),
            drains: ld64(&t.drains),
            frees: ld64(&t.frees),
            name: load_words(&t.name),
            magazines: load_words(&t.magazines),
        });
        let Some(c) = copy else {
            snap.busy_records += 1;
            continue;
        };
        let state = match c.state {
            THREAD_FREE => continue,
            THREAD_LIVE => ThreadState::Live,
            THREAD_EXITED => ThreadState::Exited,
            s => return Err(bad(format!("state {s} is not a thread state"))),
        };
        if c.class_count > l.class_count {
            return Err(bad(format!(
                "describes {} classes, the segment has {}",
                c.class_count, l.class_count
            )));
        }
        let magazines = c.magazines[..l.class_count as usize]
            .iter()
            .enumerate()
            .filter(|(_, &m)| m >> 32 != 0)
            .map(|(class, &m)| MagazineSnapshot {
                class: class as u32,
                fill: m as u32,
                capacity: (m >> 32) as u32,
            })
            .collect();
        snap.threads.push(ThreadSnapshot {
            tid: c.tid,
            state,
            name: text(&c.name),
            drains: c.drains,
            frees: c.frees,
            magazines,
        });
    }
    Ok(())
}

fn read_superslabs(
    region: Region<'_>,
    h: &Header,
    l: &Layout,
    snap: &mut Snapshot,
) -> Result<(), ReadError> {
    let recs = records::<SuperSlabRecord>(region, l.superslabs)?;
    let used = used(h, l.superslabs, SectionKind::SuperSlabs)?;
    let owners = match l.slot_owners {
        Some(loc) => Some(records::<SlotOwnerRecord>(region, loc)?),
        None => None,
    };
    for (i, s) in recs.iter().take(used as usize).enumerate() {
        let owner_rec = owners.as_ref().and_then(|o| o.get(i));
        let bad = |reason: String| ReadError::BadRecord {
            section: "SuperSlab",
            index: i as u32,
            reason,
        };
        if ld64(&s.seq) == 0 {
            continue;
        }
        let copy = seqlock::read(&s.seq, SEQLOCK_ATTEMPTS, || {
            (ld64(&s.base), ld32(&s.state), load_words(&s.slots))
        });
        let Some((base, state, slots)) = copy else {
            snap.busy_records += 1;
            continue;
        };
        let state = match state {
            SUPERSLAB_FREE => continue,
            SUPERSLAB_MAPPED => SuperSlabState::Mapped,
            SUPERSLAB_EMPTY => SuperSlabState::Empty,
            s => return Err(bad(format!("state {s} is not a SuperSlab state"))),
        };
        let mut out = Vec::with_capacity(SLOTS_PER_SUPERSLAB);
        for (n, &w) in slots.iter().enumerate() {
            let (st, class, capacity, used) = unpack_slot(w);
            let st = match st {
                SLOT_UNUSED => SlotState::Unused,
                SLOT_ACTIVE => SlotState::Active,
                SLOT_EMPTY => SlotState::Empty,
                other => return Err(bad(format!("slot {n} has state {other}"))),
            };
            if st != SlotState::Unused && class as u32 >= l.class_count {
                return Err(bad(format!(
                    "slot {n} has class {class}, the segment has {}",
                    l.class_count
                )));
            }
            out.push(SlotSnapshot {
                state: st,
                class: if st == SlotState::Unused {
                    0
                } else {
                    class as u32
                },
                used,
                capacity: capacity as u32,
                owner: match (st, owner_rec) {
                    (SlotState::Active, Some(o)) => SlotOwner::from_word(ld32(&o.owners[n])),
                    _ => SlotOwner::None,
                },
            });
        }
        snap.superslabs.push(SuperSlabSnapshot {
            base,
            state,
            slots: out,
        });
    }
    Ok(())
}

fn gpu_pools(
    region: Region<'_>,
    h: &Header,
    l: &Layout,
    busy: &mut u64,
) -> Result<Vec<GpuPoolSnapshot>, ReadError> {
    let recs = records::<GpuPoolRecord>(region, l.gpu_pools)?;
    let used = used(h, l.gpu_pools, SectionKind::GpuPools)?;
    let mut out = Vec::new();
    for (i, g) in recs.iter().take(used as usize).enumerate() {
        let bad = |reason: String| ReadError::BadRecord {
            section: "GPU pool",
            index: i as u32,
            reason,
        };
        let seq = ld64(&g.seq);
        fence(Ordering::Acquire);
        if seq == 0 {
            continue; // claimed, identity not yet published
        }
        if seq & 1 == 1 {
            *busy += 1;
            continue;
        }
        let backend = match ld32(&g.backend) {
            GPU_BACKEND_CUDA => GpuBackend::Cuda,
            GPU_BACKEND_HOST => GpuBackend::Host,
            b => return Err(bad(format!("backend {b} is not a GPU backend"))),
        };
        let bucket_count = ld32(&g.bucket_count);
        if bucket_count as usize > MAX_GPU_BUCKETS {
            return Err(bad(format!(
                "{bucket_count} buckets, at most {MAX_GPU_BUCKETS}"
            )));
        }
        let device = ld32(&g.device);
        let buckets = g.buckets[..bucket_count as usize]
            .iter()
            .map(|b| GpuBucketSnapshot {
                bucket_bytes: ld64(&b.bucket_bytes),
                live: ld64(&b.live),
                cached: ld64(&b.cached),
                hits: ld64(&b.hits),
                misses: ld64(&b.misses),
                high_water: ld64(&b.high_water),
                trimmed: ld64(&b.trimmed),
            })
            .collect();
        out.push(GpuPoolSnapshot {
            pool: ld32(&g.pool_id),
            device: (device != u32::MAX).then_some(device),
            backend,
            name: text(&load_words(&g.name)),
            oversize: ld64(&g.oversize),
            oversize_live_bytes: ld64(&g.oversize_live_bytes),
            trims: ld64(&g.trims),
            device_ooms: ld64(&g.device_ooms),
            cache_limit_bytes: ld64(&g.cache_limit_bytes),
            device_total_bytes: ld64(&g.device_total_bytes),
            device_free_bytes: ld64(&g.device_free_bytes),
            buckets,
        });
    }
    fence(Ordering::Acquire);
    Ok(out)
}

/// A sample-site record's fields, copied under its sequence lock.
struct SiteCopy {
    hash: u64,
    frame_count: u32,
    frames: [u64; MAX_SAMPLE_FRAMES],
    counters: [u64; 7],
}

fn sample_sites(
    region: Region<'_>,
    h: &Header,
    loc: SectionLoc,
    busy: &mut u64,
) -> Result<Vec<SampleSiteSnapshot>, ReadError> {
    let recs = records::<SampleSiteRecord>(region, loc)?;
    let used = used(h, loc, SectionKind::SampleSites)?;
    let mut out = Vec::with_capacity(used as usize);
    for (i, s) in recs.iter().take(used as usize).enumerate() {
        if ld64(&s.seq) == 0 {
            continue; // claimed, identity not yet written
        }
        let copy = seqlock::read(&s.seq, SEQLOCK_ATTEMPTS, || SiteCopy {
            hash: ld64(&s.hash),
            frame_count: ld32(&s.frame_count),
            frames: load_words(&s.frames),
            counters: [
                ld64(&s.live_bytes),
                ld64(&s.live_samples),
                ld64(&s.live_estimated_bytes),
                ld64(&s.total_bytes),
                ld64(&s.total_samples),
                ld64(&s.first_mono_ns),
                ld64(&s.last_mono_ns),
            ],
        });
        let Some(c) = copy else {
            *busy += 1;
            continue;
        };
        if c.frame_count as usize > MAX_SAMPLE_FRAMES {
            return Err(ReadError::BadRecord {
                section: "sample site",
                index: i as u32,
                reason: format!(
                    "frame_count {} is more than {MAX_SAMPLE_FRAMES}",
                    c.frame_count
                ),
            });
        }
        let [live_bytes, live_samples, live_estimated_bytes, total_bytes, total_samples, first_mono_ns, last_mono_ns] =
            c.counters;
        out.push(SampleSiteSnapshot {
            index: i as u32,
            hash: c.hash,
            frames: c.frames[..c.frame_count as usize].to_vec(),
            live_bytes,
            live_samples,
            live_estimated_bytes,
            total_bytes,
            total_samples,
            first_mono_ns,
            last_mono_ns,
        });
    }
    fence(Ordering::Acquire);
    Ok(out)
}

fn oom_report(
    region: Region<'_>,
    loc: SectionLoc,
    class_count: u32,
    busy: &mut u64,
) -> Result<Option<crate::oom::OomReport>, ReadError> {
    let recs = records::<OomReportRecord>(region, loc)?;
    let Some(r) = recs.get(0) else {
        return Ok(None);
    };
    let mut was_busy = false;
    let report = crate::oom::read_report(r, class_count, SEQLOCK_ATTEMPTS, &mut was_busy).map_err(
        |reason| ReadError::BadRecord {
            section: "OOM report",
            index: 0,
            reason,
        },
    )?;
    *busy += was_busy as u64;
    Ok(report)
}
