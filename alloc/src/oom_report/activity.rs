//! When each thread last ran a slow path: a lock-free table of `tid << 32 | seconds`
//! words indexed by `tid % SLOTS`, stamped at the end of slow paths. A slot another
//! thread overwrote reads as "unknown" (the thread is then not counted as idle) until
//! the thread's next stamp, at most a second later.
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU64, Ordering::Relaxed};

const SLOTS: usize = 4096;

static STAMPS: [AtomicU64; SLOTS] = [const { AtomicU64::new(0) }; SLOTS];

fn seconds(now_ns: u64) -> u32 {
    (now_ns / 1_000_000_000) as u32
}

/// Records that thread `tid` ran a slow path at `now_ns` (`CLOCK_MONOTONIC`). `last` is
/// the thread's own copy of the word it stamped last: the word changes at most once a
/// second per thread, and the table is stored to only then, never read here (a load
/// first would map the table's zero page, and the store then fault again).
#[inline]
pub(crate) fn touch(tid: u32, now_ns: u64, last: &mut u64) {
    let word = (tid as u64) << 32 | seconds(now_ns) as u64;
    if *last != word {
        *last = word;
        STAMPS[tid as usize % SLOTS].store(word, Relaxed);
    }
}

/// Nanoseconds (to the second) since thread `tid` last ran a slow path, if known.
pub(super) fn idle_ns(tid: u32, now_ns: u64) -> Option<u64> {
    let w = STAMPS[tid as usize % SLOTS].load(Relaxed);
    if w == 0 || (w >> 32) as u32 != tid {
        return None;
    }
    Some((seconds(now_ns).saturating_sub(w as u32)) as u64 * 1_000_000_000)
}
