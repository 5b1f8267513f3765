//! Out of memory: the `SLABSCOPE_LIMIT` budget on mapped bytes, and the report made when
//! an allocation fails (mmap refused or the limit reached).
//!
//! A failed allocation returns null to its caller and changes nothing that already
//! exists: the reservation is undone, no SuperSlab or block is touched. The report bumps
//! `oom_count`, sets `FLAG_OOM` in the segment and appends an `Oom` event with the
//! request, its class and the mapped bytes at the time.
#![forbid(unsafe_code)]

use core::sync::atomic::Ordering::Relaxed;

use slabscope_proto::EventKind;

use crate::stats::TOTALS;
use crate::{options, publish};

/// Reserves `bytes` of mapped memory against the limit; `false` when it would exceed it.
/// On success the caller maps the memory or calls [`unreserve`].
pub fn reserve(bytes: u64) -> bool {
    // No mapping can exceed isize::MAX bytes; refusing larger requests here also keeps
    // `now` below from overflowing (malloc(SIZE_MAX - 4096) used to panic in debug
    // builds and wrap the counter in release builds).
    if bytes > isize::MAX as u64 {
        return false;
    }
    let limit = options::get().limit;
    let now = TOTALS.mapped_bytes.fetch_add(bytes, Relaxed) + bytes;
    if limit != 0 && now > limit {
        TOTALS.mapped_bytes.fetch_sub(bytes, Relaxed);
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

/// Records a failed allocation of `request` bytes at `align` (`class` = `None` for the
/// large path).
#[cold]
pub fn report(request: usize, align: usize, class: Option<usize>) {
    TOTALS.oom_count.fetch_add(1, Relaxed);
    publish::oom(&EventKind::Oom {
        request: request as u64,
        align: align as u64,
        class: class.map(|c| c as u32),
        mapped_bytes: TOTALS.mapped_bytes.load(Relaxed),
        limit_bytes: options::get().limit,
    });
}
