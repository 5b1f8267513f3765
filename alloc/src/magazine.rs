//! Per-thread per-class magazines: a bounded stack of free blocks.
//!
//! Allocation pops, free pushes (both in `heap`'s fast paths). A full magazine drains
//! its older half back to the owning slots. Every `SLABSCOPE_DRAIN_INTERVAL` frees a
//! thread sweeps the magazines of the next few classes (`thread::SWEEP_CLASSES`, round
//! robin), giving back three quarters (rounded up) of the blocks that sat unused since
//! the class's previous sweep (below the magazine's low-water mark, as jemalloc's tcache
//! GC does): an idle magazine of 64 blocks is empty after four sweeps while a busy one
//! keeps its working set. At
//! thread exit and on request (`raw::drain_thread`) every block goes back. An empty
//! magazine refills half its capacity from the class's slots.
//!
//! Counters (`allocs`, `frees`) are plain fields of the owning thread; [`Magazine::fold`] moves
//! them, and the change in the magazine's fill since the last fold, into the shared
//! per-class counters. After a fold, `CLASSES[c].cached` includes exactly `count`.
//!
//! Overflow and interval drains are not published one by one (a busy thread overflows
//! thousands of times a second, and each interval drain touches many classes): their
//! blocks add up in [`Magazine::overflow_blocks`] and [`Magazine::interval_blocks`], and
//! the thread publishes one `MagazineDrain` per class and reason with the sum at most
//! every `thread::DRAIN_EVENTS_NS` (checked at its interval drains) and at its
//! requested or exit drain (`thread::drain_idle`, `thread::drain_all`).

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
    /// Low-water mark: the smallest `count` since the class's last interval sweep. The
    /// oldest `low` blocks sat unused through that whole time.
    pub low: u32,
    /// Blocks given back by overflow drains since the last published
    /// `MagazineDrain{reason: overflow}` event of this class (see the module docs).
    pub overflow_blocks: u64,
    /// Blocks given back by interval drains since the last published
    /// `MagazineDrain{reason: interval}` event of this class.
    pub interval_blocks: u64,
    /// The blocks; the newest is `blocks[count - 1]`.
    pub blocks: [*mut u8; MAGAZINE_MAX],
}

impl Magazine {
    /// Takes the newest block (`None` when empty), keeping the low-water mark and the
    /// allocation count. The allocation fast path's pop.
    #[inline(always)]
    pub fn pop(&mut self) -> Option<*mut u8> {
        if self.count == 0 {
            return None;
        }
        self.count -= 1;
        self.low = self.low.min(self.count);
        self.allocs += 1;
        // SAFETY: count < cap <= MAGAZINE_MAX, and blocks[..=count] held valid blocks.
        Some(unsafe { *self.blocks.get_unchecked(self.count as usize) })
    }

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

    /// Gives the older half of the blocks back (a full magazine on free) and adds them to
    /// the pending overflow sum.
    pub fn drain_half(&mut self, c: usize, me: u32) -> u64 {
        let n = self.drain_oldest(c, me, self.count as usize / 2);
        self.overflow_blocks += n;
        n
    }

    /// Takes the pending sums of blocks drained on overflow and at intervals since the
    /// last call.
    pub fn take_pending(&mut self) -> (u64, u64) {
        (
            core::mem::take(&mut self.overflow_blocks),
            core::mem::take(&mut self.interval_blocks),
        )
    }

    /// Gives every block back.
    pub fn drain_all(&mut self, c: usize, me: u32) -> u64 {
        self.drain_oldest(c, me, self.count as usize)
    }

    /// Interval drain sweep: gives back three quarters (rounded up) of the blocks that
    /// sat unused since the last sweep (the low-water mark), then starts a new window.
    /// The blocks are added to the pending interval sum.
    pub fn drain_idle(&mut self, c: usize, me: u32) -> u64 {
        let low = self.low as usize;
        let n = self.drain_oldest(c, me, low - low / 4);
        self.low = self.count;
        self.interval_blocks += n;
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
