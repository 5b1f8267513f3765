//! Building a report: one walk of the SuperSlab registry under the global lock, the
//! class counters, and the segment's thread records. No allocation.
#![forbid(unsafe_code)]

use core::sync::atomic::Ordering::Relaxed;

use slabscope_proto::layout::{SectionKind, THREAD_EXITED, THREAD_LIVE};
use slabscope_proto::oom::{
    FREE_RUN_NONE, FREE_RUN_SLOTS, FREE_RUN_UNCARVED, OOM_STRANDED_THREADS, STRANDED_EXITED,
    STRANDED_IDLE,
};
use slabscope_proto::{seqlock, SegmentWriter};

use super::activity;
use crate::size_class::{block_size, CLASS_COUNT, CLASS_SIZES};
use crate::slot::{meta_class, meta_state, ACTIVE, EMPTY, SAMPLED, UNUSED};
use crate::stats::{CLASSES, TOTALS};
use crate::superslab::{self, SLOTS, SLOT_BYTES};

/// A live thread is idle (its magazine blocks count as stranded) once it ran no slow
/// path for this long.
pub(crate) const IDLE_NS: u64 = 1_000_000_000;

/// One class's bytes.
#[derive(Clone, Copy, Default)]
pub(super) struct ClassBytes {
    pub(super) live: u64,
    pub(super) cached: u64,
    pub(super) free: u64,
    pub(super) empty_slots: u64,
    pub(super) empty_bytes: u64,
}

/// One thread holding stranded blocks.
#[derive(Clone, Copy, Default)]
pub(super) struct Stranded {
    pub(super) tid: u64,
    pub(super) bytes: u64,
    pub(super) idle_ns: u64,
    pub(super) state: u32,
}

/// Everything a report says besides the request.
#[derive(Clone, Copy)]
pub(super) struct Report {
    pub(super) mapped_bytes: u64,
    pub(super) limit_bytes: u64,
    pub(super) peak_mapped_bytes: u64,
    pub(super) large_bytes: u64,
    pub(super) large_count: u64,
    pub(super) superslabs: u64,
    pub(super) superslabs_cached: u64,
    pub(super) header_bytes: u64,
    pub(super) unused_slots: u64,
    pub(super) unused_bytes: u64,
    pub(super) tail_bytes: u64,
    pub(super) empty_slots: u64,
    pub(super) empty_bytes: u64,
    pub(super) classes: [ClassBytes; CLASS_COUNT],
    pub(super) stranded_bytes: u64,
    pub(super) stranded_threads: u32,
    pub(super) threads_seen: u32,
    pub(super) top: [Stranded; OOM_STRANDED_THREADS],
    pub(super) run_bytes: u64,
    pub(super) run_superslab: u64,
    pub(super) run_slot: u32,
    pub(super) run_kind: u32,
}

impl Report {
    fn new() -> Self {
        Report {
            mapped_bytes: 0,
            limit_bytes: 0,
            peak_mapped_bytes: 0,
            large_bytes: 0,
            large_count: 0,
            superslabs: 0,
            superslabs_cached: 0,
            header_bytes: 0,
            unused_slots: 0,
            unused_bytes: 0,
            tail_bytes: 0,
            empty_slots: 0,
            empty_bytes: 0,
            classes: [ClassBytes::default(); CLASS_COUNT],
            stranded_bytes: 0,
            stranded_threads: 0,
            threads_seen: 0,
            top: [Stranded::default(); OOM_STRANDED_THREADS],
            run_bytes: 0,
            run_superslab: 0,
            run_slot: 0,
            run_kind: FREE_RUN_NONE,
        }
    }

    fn offer_run(&mut self, bytes: u64, base: usize, slot: usize, kind: u32) {
        if bytes > self.run_bytes {
            self.run_bytes = bytes;
            self.run_superslab = base as u64;
            self.run_slot = slot as u32;
            self.run_kind = kind;
        }
    }
}

/// Builds the report. Takes the global lock: the caller holds no allocator lock.
pub(super) fn collect(w: Option<&SegmentWriter>, my_tid: u32, now_ns: u64) -> Report {
    let mut r = Report::new();
    let mut capacity = [0u64; CLASS_COUNT];
    {
        let _g = superslab::lock().guard();
        superslab::for_each(|ss| {
            r.superslabs += 1;
            // The header slot serves no blocks: all of it is the header's.
            r.header_bytes += SLOT_BYTES as u64;
            let mut run: Option<(usize, u64)> = None;
            for i in 1..SLOTS {
                let span = SLOT_BYTES as u64;
                let s = &ss.slots[i];
                let w = ss.slot_meta(i);
                let state = match meta_state(w) {
                    SAMPLED => ACTIVE,
                    st => st,
                };
                if state == UNUSED || state == EMPTY {
                    let (start, bytes) = run.unwrap_or((i, 0));
                    run = Some((start, bytes + span));
                } else if let Some((start, bytes)) = run.take() {
                    r.offer_run(bytes, ss.base(), start, FREE_RUN_SLOTS);
                }
                if state == UNUSED {
                    r.unused_slots += 1;
                    r.unused_bytes += span;
                    continue;
                }
                let c = meta_class(w);
                if c >= CLASS_COUNT {
                    continue;
                }
                let bs = block_size(c) as u64;
                let cap = s.capacity.load(Relaxed) as u64;
                capacity[c] += cap;
                r.tail_bytes += span.saturating_sub(cap * bs);
                if state == EMPTY {
                    r.classes[c].empty_slots += 1;
                    r.classes[c].empty_bytes += cap * bs;
                    r.empty_slots += 1;
                    r.empty_bytes += cap * bs;
                } else if state == ACTIVE {
                    let carved = (s.carved.load(Relaxed) as u64).min(cap);
                    r.offer_run((cap - carved) * bs, ss.base(), i, FREE_RUN_UNCARVED);
                }
            }
            if let Some((start, bytes)) = run {
                r.offer_run(bytes, ss.base(), start, FREE_RUN_SLOTS);
            }
        });
        let t = &TOTALS;
        r.mapped_bytes = t.mapped_bytes.load(Relaxed);
        r.peak_mapped_bytes = t.peak_mapped_bytes.load(Relaxed);
        r.large_bytes = t.large_bytes.load(Relaxed);
        r.large_count = t.large_count.load(Relaxed);
        r.superslabs_cached = t.superslabs_cached.load(Relaxed);
    }
    r.limit_bytes = crate::options::get().limit;
    for (c, k) in CLASSES.iter().enumerate() {
        let bs = block_size(c) as u64;
        let out = k.out.load(Relaxed).min(capacity[c]);
        let cached = k.cached.load(Relaxed).min(out);
        let b = &mut r.classes[c];
        b.live = (out - cached) * bs;
        b.cached = cached * bs;
        b.free = (capacity[c] - out) * bs;
    }
    if let Some(w) = w {
        stranded(&mut r, w, my_tid, now_ns);
    }
    r
}

/// Counts the magazine bytes of idle and exited threads from the segment's thread
/// records (fills as last published) and keeps the largest holders.
fn stranded(r: &mut Report, w: &SegmentWriter, my_tid: u32, now_ns: u64) {
    let h = w.header();
    let used = h
        .sections
        .iter()
        .find(|d| d.kind.load(Relaxed) == SectionKind::Threads as u32)
        .map_or(0, |d| d.used.load(Relaxed));
    for idx in 0..used {
        let Some(t) = w.thread(idx) else { break };
        let copy = seqlock::read(&t.seq, 16, || {
            let mut bytes = 0u64;
            for (word, &size) in t.magazines.iter().zip(&CLASS_SIZES) {
                let fill = word.load(Relaxed) as u32 as u64;
                bytes += fill * size as u64;
            }
            (t.tid.load(Relaxed), t.state.load(Relaxed), bytes)
        });
        let Some((tid, state, bytes)) = copy else {
            continue;
        };
        if state != THREAD_LIVE && state != THREAD_EXITED {
            continue;
        }
        r.threads_seen += 1;
        if bytes == 0 || tid == my_tid as u64 {
            continue;
        }
        let (kind, idle) = if state == THREAD_EXITED {
            (STRANDED_EXITED, 0)
        } else {
            match activity::idle_ns(tid as u32, now_ns) {
                Some(idle) if idle >= IDLE_NS => (STRANDED_IDLE, idle),
                _ => continue,
            }
        };
        r.stranded_bytes += bytes;
        r.stranded_threads += 1;
        let entry = Stranded {
            tid,
            bytes,
            idle_ns: idle,
            state: kind,
        };
        // Keep the top entries, most bytes first (insertion into a fixed array).
        if let Some(pos) = r.top.iter().position(|s| s.bytes < bytes) {
            r.top.copy_within(pos..OOM_STRANDED_THREADS - 1, pos + 1);
            r.top[pos] = entry;
        }
    }
}
