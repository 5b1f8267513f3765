//! Per-thread per-class magazines: a bounded stack of free blocks.
//!
//! Allocation pops, free pushes (both in `heap`'s fast paths). A full magazine drains
//! its older half back to the owning slots. Every `SLABSCOPE_DRAIN_INTERVAL` frees a
//! thread drains, in every magazine, the blocks that sat unused through the whole
//! interval (below the magazine's low-water mark, as jemalloc's tcache GC does): an idle
//! magazine empties within two intervals while a busy one keeps its working set. At
//! thread exit and on request (`raw::drain_thread`) every block goes back. An empty
//! magazine refills half its capacity from the class's slots.
//!
//! Counters (`allocs`, `frees`) are plain fields of the owning thread; [`fold`] moves
//! them, and the change in the magazine's fill since the last fold, into the shared
//! per-class counters. After a fold, `CLASSES[c].cached` includes exactly `count`.

use crate::classes;
use crate::options::MAGAZINE_MAX;
use crate::stats::{add, CLASSES};

/// One magazine. Only its owning thread touches it (and `fork`'s child handler, when
/// that thread is the only one left).
#[repr(C)]
pub struct Magazine {
    /// Blocks held: `blocks[..count]`.
    pub count: u32,
    /// Capacity for this class (<= `MAGAZINE_MAX`).
    pub cap: u32,
    /// Allocations served by this thread since the last fold.
    pub allocs: u64,
    /// Frees taken by this thread since the last fold.
    pub frees: u64,
    /// `count` at the last fold (what `CLASSES[c].cached` includes for this magazine).
    pub folded: u64,
    /// Low-water mark: the smallest `count` since the last interval drain. The oldest
    /// `low` blocks sat unused through the whole interval.
    pub low: u32,
    /// The blocks; the newest is `blocks[count - 1]`.
    pub blocks: [*mut u8; MAGAZINE_MAX],
}

impl Magazine {
    /// Refills an empty magazine of class `c` with half its capacity. `false` when
    /// no block could be had (out of memory).
    pub fn refill(&mut self, c: usize, me: u32, request: usize) -> bool {
        let have = self.count as usize;
        let want = (self.cap as usize / 2).max(1);
        let n = classes::refill(c, &mut self.blocks[have..have + want], me, request);
        self.count += n as u32;
        n != 0
    }

    /// Gives the `k` oldest blocks (at most all) back to their slots. Returns the number
    /// of blocks drained.
    pub fn drain_oldest(&mut self, c: usize, me: u32, k: usize) -> u64 {
        let count = self.count as usize;
        let k = k.min(count);
        if k == 0 {
            return 0;
        }
        classes::give_back(c, &mut self.blocks[..k], me);
        self.blocks.copy_within(k..count, 0);
        self.count = (count - k) as u32;
        self.low = self.low.min(self.count);
        add(&CLASSES[c].drains, 1);
        k as u64
    }

    /// Gives the older half of the blocks back (a full magazine on free).
    pub fn drain_half(&mut self, c: usize, me: u32) -> u64 {
        self.drain_oldest(c, me, self.count as usize / 2)
    }

    /// Gives every block back.
    pub fn drain_all(&mut self, c: usize, me: u32) -> u64 {
        self.drain_oldest(c, me, self.count as usize)
    }

    /// Interval drain: gives back the blocks that sat unused since the last interval
    /// (the low-water mark), then starts a new interval.
    pub fn drain_idle(&mut self, c: usize, me: u32) -> u64 {
        let n = self.drain_oldest(c, me, self.low as usize);
        self.low = self.count;
        n
    }

    /// Folds this magazine's counters into the class counters; `true` when anything
    /// changed.
    pub fn fold(&mut self, c: usize) -> bool {
        let k = &CLASSES[c];
        let changed = self.allocs != 0 || self.frees != 0 || self.count as u64 != self.folded;
        if self.allocs != 0 {
            add(&k.allocs, self.allocs as i64);
            self.allocs = 0;
        }
        if self.frees != 0 {
            add(&k.frees, self.frees as i64);
            self.frees = 0;
        }
        let now = self.count as u64;
        if now != self.folded {
            add(&k.cached, now as i64 - self.folded as i64);
            self.folded = now;
        }
        changed
    }
}
