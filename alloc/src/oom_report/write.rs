//! Writing the report of a thread's failed allocation (`oom::Pending`): the segment
//! record and the stderr text (the first OOM, then at most one every [`STDERR_EVERY_NS`]).
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicBool, AtomicU64, Ordering::*};

use slabscope_proto::oom::{OomReportRecord, NO_RING_SEQ, OOM_CAUSE_LIMIT, OOM_NO_CLASS};
use slabscope_proto::{monotonic_ns, EventKind, SegmentWriter};

use super::collect::{collect, Report};
use super::line::Line;
use crate::oom::{self, Pending};
use crate::pal;
use crate::publish;
use crate::size_class::{block_size, CLASS_COUNT};

/// One report at a time (reports are rare; a spin flag, no allocation).
static WRITING: AtomicBool = AtomicBool::new(false);
static REPORTS: AtomicU64 = AtomicU64::new(0);
static LAST_PRINT_NS: AtomicU64 = AtomicU64::new(0);
static UNPRINTED: AtomicU64 = AtomicU64::new(0);

/// Stderr gets the first report, then at most one per this many nanoseconds.
const STDERR_EVERY_NS: u64 = 10_000_000_000;

/// Settles the calling thread's pending report, if any: written when the allocation
/// that noted it `failed` (returned null), dropped when it was served after all (a
/// refill that got some blocks before the limit stopped it). Called at the end of slow
/// paths, with no allocator lock held; one relaxed load when nothing is pending.
#[inline]
pub(crate) fn flush(failed: bool) {
    if let Some(p) = oom::take_report() {
        if failed {
            write(p);
        }
    }
}

/// Writes the report of the failed allocation `p`.
#[cold]
#[inline(never)]
fn write(mut p: Pending) {
    while WRITING
        .compare_exchange_weak(false, true, Acquire, Relaxed)
        .is_err()
    {
        core::hint::spin_loop();
    }
    let n = REPORTS.fetch_add(1, Relaxed) + 1;
    let w = publish::segment();
    if let Some(w) = w.filter(|_| p.ring_seq == NO_RING_SEQ) {
        // The segment did not exist when the allocation failed (it is made here, with no
        // lock held): its OOM flag and event now.
        publish::oom(&EventKind::Oom {
            request: p.request,
            align: p.align,
            class: p.class,
            mapped_bytes: p.mapped_bytes,
            limit_bytes: crate::options::get().limit,
        });
        p.ring_seq = w.header().ring.head.load(Relaxed).wrapping_sub(1);
    }
    let r = collect(w, p.tid, monotonic_ns());
    if let Some(w) = w {
        w.update_oom_report(|rec| store(rec, &p, &r, n));
    }
    let last = LAST_PRINT_NS.load(Relaxed);
    if n == 1 || p.time_ns.saturating_sub(last) >= STDERR_EVERY_NS {
        LAST_PRINT_NS.store(p.time_ns.max(1), Relaxed);
        print(&p, &r, n, UNPRINTED.swap(0, Relaxed), w);
    } else {
        UNPRINTED.fetch_add(1, Relaxed);
    }
    WRITING.store(false, Release);
}

fn store(rec: &OomReportRecord, p: &Pending, r: &Report, n: u64) {
    let o = Relaxed;
    rec.reports.store(n, o);
    rec.time_mono_ns.store(p.time_ns, o);
    rec.tid.store(p.tid, o);
    rec.cause.store(p.cause, o);
    rec.request_bytes.store(p.request, o);
    rec.align.store(p.align, o);
    rec.class.store(p.class.unwrap_or(OOM_NO_CLASS), o);
    rec.class_count.store(CLASS_COUNT as u32, o);
    rec.mapped_bytes.store(r.mapped_bytes, o);
    rec.limit_bytes.store(r.limit_bytes, o);
    rec.peak_mapped_bytes.store(r.peak_mapped_bytes, o);
    rec.large_bytes.store(r.large_bytes, o);
    rec.large_count.store(r.large_count, o);
    rec.superslabs.store(r.superslabs, o);
    rec.superslabs_cached.store(r.superslabs_cached, o);
    rec.header_bytes.store(r.header_bytes, o);
    rec.unused_slots.store(r.unused_slots, o);
    rec.unused_bytes.store(r.unused_bytes, o);
    rec.tail_bytes.store(r.tail_bytes, o);
    rec.empty_slots.store(r.empty_slots, o);
    rec.empty_bytes.store(r.empty_bytes, o);
    rec.stranded_bytes.store(r.stranded_bytes, o);
    rec.stranded_threads.store(r.stranded_threads, o);
    rec.threads_seen.store(r.threads_seen, o);
    rec.largest_free_run_bytes.store(r.run_bytes, o);
    rec.largest_free_run_superslab.store(r.run_superslab, o);
    rec.largest_free_run_slot.store(r.run_slot, o);
    rec.largest_free_run_kind.store(r.run_kind, o);
    rec.ring_seq.store(p.ring_seq, o);
    for (c, b) in r.classes.iter().enumerate() {
        rec.class_live_bytes[c].store(b.live, o);
        rec.class_cached_bytes[c].store(b.cached, o);
        rec.class_free_bytes[c].store(b.free, o);
        rec.class_empty_slots[c].store(b.empty_slots, o);
        rec.class_empty_bytes[c].store(b.empty_bytes, o);
    }
    for (s, t) in rec.stranded.iter().zip(r.top.iter()) {
        s.tid.store(t.tid, o);
        s.bytes.store(t.bytes, o);
        s.idle_ns.store(t.idle_ns, o);
        s.state.store(t.state, o);
    }
}

fn out(l: &Line) {
    pal::write_stderr(&[l.as_bytes()]);
}

/// Classes shown on stderr: the request's class and the largest by live bytes.
const SHOWN_CLASSES: usize = 6;

fn print(p: &Pending, r: &Report, n: u64, unprinted: u64, w: Option<&SegmentWriter>) {
    let mut l = Line::new();
    l.s(b"slabscope: out of memory #")
        .u(n)
        .s(b": ")
        .bytes(p.request);
    l.s(b" (align ").u(p.align);
    match p.class {
        Some(c) => l
            .s(b", class ")
            .u(c as u64)
            .s(b" of ")
            .u(block_size(c as usize) as u64)
            .s(b" B)"),
        None => l.s(b", large)"),
    };
    l.s(b" on thread ").u(p.tid as u64);
    if unprinted != 0 {
        l.s(b"; ").u(unprinted).s(b" more since the last report");
    }
    out(&l);
    let mut l = Line::new();
    l.s(b"slabscope:   cause: ");
    if p.cause == OOM_CAUSE_LIMIT {
        l.s(b"SLABSCOPE_LIMIT ").bytes(r.limit_bytes).s(b" reached");
    } else {
        l.s(b"mmap refused by the kernel");
    }
    l.s(b"; mapped ")
        .bytes(r.mapped_bytes)
        .s(b" (peak ")
        .bytes(r.peak_mapped_bytes)
        .s(b")");
    out(&l);
    let mut l = Line::new();
    l.s(b"slabscope:   mapped = ")
        .u(r.superslabs)
        .s(b" SuperSlabs (")
        .u(r.superslabs_cached)
        .s(b" cached empty) + ")
        .u(r.large_count)
        .s(b" large allocations (")
        .bytes(r.large_bytes)
        .s(b")");
    out(&l);
    let mut l = Line::new();
    l.s(b"slabscope:   SuperSlabs = headers ")
        .bytes(r.header_bytes)
        .s(b" + UNUSED slots ")
        .u(r.unused_slots)
        .s(b" (")
        .bytes(r.unused_bytes)
        .s(b") + slot tails ")
        .bytes(r.tail_bytes)
        .s(b" + classes below");
    out(&l);
    let mut l = Line::new();
    l.s(b"slabscope:   class    block      live    cached      free  empty slots");
    out(&l);
    let mut shown = [usize::MAX; SHOWN_CLASSES];
    let mut k = 0;
    if let Some(c) = p.class {
        shown[0] = c as usize;
        k = 1;
    }
    while k < SHOWN_CLASSES {
        let best = (0..CLASS_COUNT)
            .filter(|c| !shown.contains(c))
            .filter(|&c| {
                let b = &r.classes[c];
                b.live + b.cached + b.free != 0
            })
            .max_by_key(|&c| (r.classes[c].live, r.classes[c].free));
        let Some(best) = best else { break };
        shown[k] = best;
        k += 1;
    }
    let (mut live, mut cached, mut free) = (0, 0, 0);
    for b in &r.classes {
        live += b.live;
        cached += b.cached;
        free += b.free;
    }
    for &c in shown.iter().take(k) {
        let b = &r.classes[c];
        let mut l = Line::new();
        l.s(b"slabscope:   ")
            .u_col(c as u64, 5)
            .u_col(block_size(c) as u64, 9);
        l.bytes_col(b.live, 10)
            .bytes_col(b.cached, 10)
            .bytes_col(b.free, 10);
        l.u_col(b.empty_slots, 13);
        out(&l);
    }
    let mut l = Line::new();
    l.s(b"slabscope:     all")
        .s(b"         ")
        .bytes_col(live, 10)
        .bytes_col(cached, 10)
        .bytes_col(free, 10)
        .u_col(r.empty_slots, 13);
    out(&l);
    let mut l = Line::new();
    l.s(b"slabscope:   EMPTY slots not yet returned: ")
        .u(r.empty_slots)
        .s(b" (")
        .bytes(r.empty_bytes)
        .s(b")");
    out(&l);
    let mut l = Line::new();
    l.s(b"slabscope:   stranded in magazines of idle or exited threads: ")
        .bytes(r.stranded_bytes)
        .s(b" in ")
        .u(r.stranded_threads as u64)
        .s(b" of ")
        .u(r.threads_seen as u64)
        .s(b" threads");
    if r.stranded_threads != 0 {
        let t = &r.top[0];
        l.s(b" (most: tid ")
            .u(t.tid)
            .s(b", ")
            .bytes(t.bytes)
            .s(b")");
    }
    out(&l);
    let mut l = Line::new();
    l.s(b"slabscope:   largest free run: ").bytes(r.run_bytes);
    match r.run_kind {
        slabscope_proto::oom::FREE_RUN_SLOTS => l.s(b" of UNUSED/EMPTY slots from slot "),
        slabscope_proto::oom::FREE_RUN_UNCARVED => l.s(b" uncarved in slot "),
        _ => l.s(b" (none)"),
    };
    if r.run_kind != slabscope_proto::oom::FREE_RUN_NONE {
        l.u(r.run_slot as u64)
            .s(b" of SuperSlab ")
            .hex(r.run_superslab);
    }
    out(&l);
    let mut l = Line::new();
    match w {
        Some(w) => {
            l.s(b"slabscope:   report kept in ")
                .s(w.path_bytes())
                .s(b" (alloc-inspect --postmortem ")
                .s(w.path_bytes())
                .s(b")");
            if p.ring_seq != slabscope_proto::oom::NO_RING_SEQ {
                l.s(b"; OOM event #").u(p.ring_seq);
            }
        }
        None => {
            l.s(b"slabscope:   no segment (publishing off): stranded bytes unknown");
        }
    }
    out(&l);
}
