//! Out of memory: the `SLABSCOPE_LIMIT` budget on mapped bytes, and the report made when
//! an allocation fails (mmap refused or the limit reached).
//!
//! A failed allocation returns null to its caller and changes nothing that already
//! exists: the reservation is undone, no SuperSlab or block is touched. The report bumps
//! `oom_count`, sets `FLAG_OOM` in the segment and appends an `Oom` event with the
//! request, its class and the mapped bytes at the time; then it notes the failure for
//! the flight recorder (`oom_report`), which writes the full report into the segment and
//! to stderr at the end of the slow path, once no allocator lock is held.
#![forbid(unsafe_code)]

use core::cell::Cell;
use core::sync::atomic::{AtomicU32, Ordering::Relaxed};

use slabscope_proto::oom::{NO_RING_SEQ, OOM_CAUSE_LIMIT, OOM_CAUSE_MMAP};
use slabscope_proto::{monotonic_ns, EventKind};

use crate::stats::TOTALS;
use crate::{options, pal, publish};

thread_local! {
    /// Set when this thread's last reservation was refused by the limit (not the
    /// kernel): the cause the next report gives. `const`, `Drop`-free.
    static REFUSED_BY_LIMIT: Cell<bool> = const { Cell::new(false) };
    /// This thread's failed allocation waiting for its report. `const`, `Drop`-free.
    static PENDING: Cell<Option<Pending>> = const { Cell::new(None) };
}

/// A failed allocation waiting for its report (noted under allocator locks, written by
/// `oom_report` at the end of the slow path).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Pending {
    /// Requested size.
    pub(crate) request: u64,
    /// Requested alignment.
    pub(crate) align: u64,
    /// Class of the request, `None` for a large one.
    pub(crate) class: Option<u32>,
    /// Bytes mapped when it failed (the `Oom` event's figure).
    pub(crate) mapped_bytes: u64,
    /// `OOM_CAUSE_*`.
    pub(crate) cause: u32,
    /// Ring sequence number of the OOM event (`NO_RING_SEQ` when none).
    pub(crate) ring_seq: u64,
    /// `CLOCK_MONOTONIC` of the failure.
    pub(crate) time_ns: u64,
    /// Failing thread.
    pub(crate) tid: u32,
}

/// Threads with a pending report: the one word slow paths look at.
static PENDING_THREADS: AtomicU32 = AtomicU32::new(0);

/// Notes a failed allocation of the calling thread (safe under any allocator lock).
fn note(p: Pending) {
    PENDING.with(|c| {
        if c.replace(Some(p)).is_none() {
            PENDING_THREADS.fetch_add(1, Relaxed);
        }
    });
}

/// Whether the calling thread has a report pending (one relaxed load when no thread
/// has).
#[inline]
pub(crate) fn pending() -> bool {
    PENDING_THREADS.load(Relaxed) != 0
        && PENDING.with(|c| {
            let p = c.take();
            let mine = p.is_some();
            c.set(p);
            mine
        })
}

/// Takes the calling thread's pending report, if any (one relaxed load when no thread
/// has one).
#[inline]
pub(crate) fn take_report() -> Option<Pending> {
    if PENDING_THREADS.load(Relaxed) == 0 {
        return None;
    }
    take_report_slow()
}

#[cold]
#[inline(never)]
fn take_report_slow() -> Option<Pending> {
    let p = PENDING.with(|c| c.take())?;
    PENDING_THREADS.fetch_sub(1, Relaxed);
    Some(p)
}

/// Reserves `bytes` of mapped memory against the limit; `false` when it would exceed it.
/// On success the caller maps the memory or calls [`unreserve`].
pub fn reserve(bytes: u64) -> bool {
    // No mapping can exceed isize::MAX bytes; refusing larger requests here also keeps
    // `now` below from overflowing (malloc(SIZE_MAX - 4096) used to panic in debug
    // builds and wrap the counter in release builds).
    if bytes > isize::MAX as u64 {
        REFUSED_BY_LIMIT.with(|r| r.set(false));
        return false;
    }
    // The debug-tracing subscriber's own allocations are not refused by the limit: they
    // are how the OOM gets traced (it formats while the program sits at the limit).
    let limit = if crate::trace::in_subscriber() {
        0
    } else {
        options::get().limit
    };
    let now = TOTALS.mapped_bytes.fetch_add(bytes, Relaxed) + bytes;
    if limit != 0 && now > limit {
        TOTALS.mapped_bytes.fetch_sub(bytes, Relaxed);
        REFUSED_BY_LIMIT.with(|r| r.set(true));
        return false;
    }
    TOTALS.peak_mapped_bytes.fetch_max(now, Relaxed);
    publish::mapped_bytes();
    true
}

/// Gives back a reservation (memory unmapped or never mapped).
pub fn unreserve(bytes: u64) {
    TOTALS.mapped_bytes.fetch_sub(bytes, Relaxed);
    publish::mapped_bytes();
}

/// Requests larger than this (the 47-bit user address space, 128 TiB) can never be
/// served on any machine slabscope runs on. Programs probe with such sizes (SIZE_MAX,
/// 2^60) expecting a quiet null, as glibc gives: they are counted and get their `Oom`
/// event, but no OOM report is written, nothing is printed, and the segment is not
/// marked `FLAG_OOM` (so it does not outlive a normal exit).
pub const IMPOSSIBLE_REQUEST: usize = 1 << 47;

/// Records a failed allocation of `request` bytes at `align` (`class` = `None` for the
/// large path).
#[cold]
pub fn report(request: usize, align: usize, class: Option<usize>) {
    TOTALS.oom_count.fetch_add(1, Relaxed);
    let by_limit = REFUSED_BY_LIMIT.with(|r| r.replace(false));
    let mapped_bytes = TOTALS.mapped_bytes.load(Relaxed);
    let kind = EventKind::Oom {
        request: request as u64,
        align: align as u64,
        class: class.map(|c| c as u32),
        mapped_bytes,
        limit_bytes: options::get().limit,
    };
    if request > IMPOSSIBLE_REQUEST {
        // Counted and in the ring, but not an OOM of the process: no report, and no
        // reason to keep the segment after a normal exit (no `FLAG_OOM`).
        publish::totals();
        publish::event(&kind);
        return;
    }
    // Flagged and in the ring now when the segment exists; when it does not (put off by
    // `SLABSCOPE_PUBLISH_AFTER_MS`, or not made yet), the end of the slow path makes it
    // (no lock may be held here) and the report publishes both then.
    publish::oom(&kind);
    let ring_seq = publish::current().map_or(NO_RING_SEQ, |w| {
        w.header().ring.head.load(Relaxed).wrapping_sub(1)
    });
    note(Pending {
        request: request as u64,
        align: align as u64,
        class: class.map(|c| c as u32),
        mapped_bytes,
        cause: if by_limit {
            OOM_CAUSE_LIMIT
        } else {
            OOM_CAUSE_MMAP
        },
        ring_seq,
        time_ns: monotonic_ns(),
        tid: pal::gettid(),
    });
}
