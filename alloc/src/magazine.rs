//! Per-thread per-class magazines: a bounded stack of free blocks of the thread's own
//! slots.
//!
//! Allocation pops, a free by the owner pushes (both in `front`'s fast paths: a pointer
//! compare, a load or store, a pointer bump). A magazine starts in a few shared starter
//! cells and moves to its own at its first overflow or second refill
//! (`thread::grow_magazine`); a full magazine in its own cells drains its older half
//! back to the owning slots. Every `SLABSCOPE_DRAIN_INTERVAL` frees a thread sweeps the
//! magazines of the next few classes it used (`thread::SWEEP_CLASSES`, round robin),
//! giving back three quarters (rounded up) of the blocks that sat unused since the
//! class's previous sweep (below the magazine's low-water mark, as jemalloc's tcache GC
//! does) beyond a reserve for the fill's recent dips ([`Magazine::drain_idle`]): an
//! idle magazine with no reserve is empty after four sweeps, one with a reserve left
//! from busy times after the reserve faded (an eighth per sweep: 36 sweeps for a full
//! magazine of 512 blocks with a full reserve), while a busy one keeps its working
//! set. At thread exit and on request (`raw::drain_thread`) every block goes back. An
//! empty magazine refills half its capacity, at most [`REFILL_MAX`] blocks, from the
//! thread's slots.
//!
//! Counters are plain fields of the owning thread, moved into the shared per-class
//! counters by [`Magazine::fold`] on slow paths (interval and requested drains, thread
//! exit). Only allocations are counted on the fast path; the frees that went into the
//! magazine follow from the fill: `count_now = count_then - allocs + frees + refilled -
//! drained`. After a fold, `CLASSES[c].cached` includes exactly `count`.
//!
//! Overflow and interval drains are not published one by one: their blocks add up in
//! [`Magazine::overflow_blocks`] and [`Magazine::interval_blocks`] and the thread
//! publishes one `MagazineDrain` per class and reason with the sum at most every
//! `thread::DRAIN_EVENTS_NS` and at its requested or exit drain.

use core::ptr::NonNull;

use crate::owned::Owned;
use crate::size_class::{block_start_test, CLASS_SHIFT};
use crate::stats::{add, CLASSES};

/// Most blocks one refill takes. A magazine holds up to `SLABSCOPE_MAGAZINE` blocks (512)
/// so that a thread freeing a few hundred blocks and allocating them again never goes
/// back to its slots, but a refill stays at 64: a thread that only allocates (its blocks
/// freed by other threads) took 256 blocks a refill with half of 512, more than came back
/// to its slots between two refills, so it carved and acquired colder memory instead of
/// reusing what was freed (`alloc/bench` xmalloc x2 compiled in: 152 M against 213 M
/// ops/s with 64).
pub const REFILL_MAX: usize = 64;

/// One magazine. Only its owning thread touches it (and `fork`'s child handler, when
/// that thread is the only one left). `base <= low, top <= end`; the blocks are
/// `base[..top - base]`, the newest at `top - 1`; the cells live in the thread state.
#[repr(C, align(64))]
#[derive(Debug)]
pub struct Magazine {
    /// Next empty cell.
    pub top: *mut *mut u8,
    /// One past the last cell (`base + capacity`).
    pub end: *mut *mut u8,
    /// Low-water mark: the lowest `top` since the class's last interval sweep. The
    /// oldest `low - base` blocks sat unused through that whole time. The pop fast path
    /// compares `top` with `low` only; at `low`, [`Magazine::take`] (the slow path's) or
    /// [`Magazine::pop_at_low`] (the preload's `malloc`) tells an empty magazine from a
    /// new low-water mark.
    pub low: *mut *mut u8,
    /// First cell.
    pub base: *mut *mut u8,
    /// The class's block-start test (`size_class::block_start_test`), kept on the line
    /// the free fast path reads anyway.
    pub start_test: (u64, u64),
    /// Allocations served since the last fold.
    pub allocs: u64,
    /// Fill (blocks) at the last fold (what `CLASSES[c].cached` includes for it).
    pub folded: u64,
    /// Blocks refilled from slots since the last fold.
    pub refilled: u64,
    /// Blocks drained to slots since the last fold.
    pub drained: u64,
    /// Blocks this thread took out of its slots minus blocks it gave back to them,
    /// since the last fold (remote frees it collected are subtracted at the fold).
    pub out: i64,
    /// Blocks of this class freed by this thread into slots it does not own.
    pub remote_frees: u64,
    /// Refills since the last fold.
    pub refills: u64,
    /// Drains since the last fold.
    pub drains: u64,
    /// Blocks given back by overflow drains since the last published
    /// `MagazineDrain{reason: overflow}` event of this class (saturating).
    pub overflow_blocks: u32,
    /// Blocks given back by interval drains since the last published
    /// `MagazineDrain{reason: interval}` event of this class (saturating).
    pub interval_blocks: u32,
    /// Blocks held at the end of the class's last interval sweep.
    swept_fill: u16,
    /// Idle blocks an interval sweep keeps: twice the last dip of the fill below its
    /// level at the sweep before, or the last reserve less an eighth (rounded up) when
    /// that is more (see [`Magazine::drain_idle`]).
    reserve: u16,
}

// A class's magazine is `class << CLASS_SHIFT` bytes into a thread's magazines.
const _: () = assert!(core::mem::size_of::<Magazine>() == 1 << CLASS_SHIFT);

impl Magazine {
    /// Points an empty magazine of class `c` at its `cap` cells from `cells`.
    pub fn init(&mut self, c: usize, cells: *mut *mut u8, cap: usize) {
        self.start_test = block_start_test(c);
        self.base = cells;
        self.top = cells;
        self.low = cells;
        // SAFETY: the thread state holds at least `cap` cells from `cells`.
        self.end = unsafe { cells.add(cap) };
        self.folded = 0;
        self.clear_pending();
        self.overflow_blocks = 0;
        self.interval_blocks = 0;
        self.swept_fill = 0;
        self.reserve = 0;
    }

    /// Moves the blocks to `cap` cells from `cells`, in the same order, the low-water mark
    /// with them (a magazine leaving its starter cells, `thread::grow_magazine`).
    ///
    /// # Safety
    ///
    /// `cells` points at `cap` writable cells that only this magazine uses from now on,
    /// apart from its current ones, and `cap` is at least the blocks held.
    pub unsafe fn move_to(&mut self, cells: *mut *mut u8, cap: usize) {
        let count = self.count();
        debug_assert!(count <= cap);
        // SAFETY: `base <= low <= top`, all in one cell array.
        let low = unsafe { self.low.offset_from(self.base) } as usize;
        // SAFETY: the first `count` cells from `base` hold blocks; `cells` has `cap >=
        // count` cells apart from them (this function's contract), so the copy stays
        // inside both and the new pointers inside the new array.
        unsafe {
            core::ptr::copy_nonoverlapping(self.base, cells, count);
            self.base = cells;
            self.top = cells.add(count);
            self.low = cells.add(low);
            self.end = cells.add(cap);
        }
    }

    /// Blocks held.
    #[inline]
    pub fn count(&self) -> usize {
        // SAFETY: `top` and `base` point into the same cell array, `top >= base`.
        unsafe { self.top.offset_from(self.base) as usize }
    }

    /// Capacity.
    #[inline]
    pub fn cap(&self) -> usize {
        // SAFETY: as in `count`.
        unsafe { self.end.offset_from(self.base) as usize }
    }

    /// The allocation fast path's pop: the newest block, or `None` when `top` is at the
    /// low-water mark (`low <= top` always, and `base <= low`): one compare stands for
    /// both the empty test and the low-water test, as in jemalloc's cache bins. With
    /// `LOWER`, the pop also serves the mark itself ([`Magazine::pop_at_low`], laid out
    /// away from the hit path) and returns `None` only when empty: the preload's
    /// `malloc`, a function of its own, takes it (one pop in 20 of random-mixed reaches
    /// the mark, and the slow path cost 77 instructions a time). Without, the caller's
    /// slow path calls [`Magazine::take`]: the global allocator's `alloc`, which with
    /// the extra code grew too large for the compiler to inline it into its callers
    /// (random-mixed compiled in: 525 M -> 572 M instructions, 7 % slower).
    #[inline(always)]
    pub fn pop<const LOWER: bool>(&mut self) -> Option<NonNull<u8>> {
        if self.top == self.low {
            return if LOWER { self.pop_at_low() } else { None };
        }
        // SAFETY: `base <= low < top <= end`: the cell below `top` holds a block, and a
        // block's address is never null.
        unsafe {
            self.top = self.top.sub(1);
            self.allocs += 1;
            Some(NonNull::new_unchecked(*self.top))
        }
    }

    /// [`Magazine::pop`] with `top` at the low-water mark: `None` when empty, else the
    /// newest block, the mark lowered with `top`.
    #[cold]
    #[inline(always)]
    fn pop_at_low(&mut self) -> Option<NonNull<u8>> {
        if self.top == self.base {
            return None;
        }
        // SAFETY: `base < top <= end`: the cell below `top` holds a block, never null.
        unsafe {
            self.top = self.top.sub(1);
            self.low = self.top;
            self.allocs += 1;
            Some(NonNull::new_unchecked(*self.top))
        }
    }

    /// Takes the newest block (`None` when empty), lowering the low-water mark when the
    /// block was below it, and counts the allocation.
    #[inline]
    pub fn take(&mut self) -> Option<NonNull<u8>> {
        if self.top == self.base {
            return None;
        }
        // SAFETY: `base < top <= end`: the cell below `top` holds a block, never null.
        unsafe {
            self.top = self.top.sub(1);
            if self.top < self.low {
                self.low = self.top;
            }
            self.allocs += 1;
            Some(NonNull::new_unchecked(*self.top))
        }
    }

    /// Whether `off` (an address's offset in its 64 KiB slot window) is a block start
    /// of this magazine's class (`size_class::is_block_start`, with the class's
    /// constants read from the magazine).
    #[inline(always)]
    pub fn is_block_start(&self, off: usize) -> bool {
        let (m, limit) = self.start_test;
        (off as u64).wrapping_mul(m) < limit
    }

    /// Puts `p` on top; `false` when full. The free fast path's push.
    #[inline(always)]
    pub fn push(&mut self, p: *mut u8) -> bool {
        if self.top == self.end {
            return false;
        }
        // SAFETY: `top < end`: the cell at `top` is inside the array.
        unsafe {
            *self.top = p;
            self.top = self.top.add(1);
        }
        true
    }

    /// Refills an empty magazine of class `c` from thread `me`'s slots with half its
    /// capacity, at most [`REFILL_MAX`] blocks. `false` when no block could be had (out
    /// of memory).
    pub fn refill(&mut self, owned: &Owned, c: usize, me: u32, request: usize) -> bool {
        let want = (self.cap() / 2)
            .clamp(1, REFILL_MAX)
            .min(self.cap() - self.count());
        // SAFETY: `top + want <= end`: the cells are inside the array, and nothing else
        // refers to them.
        let cells = unsafe { core::slice::from_raw_parts_mut(self.top, want) };
        let n = owned.refill(c, me, cells, request);
        // SAFETY: `n <= want` cells were filled.
        self.top = unsafe { self.top.add(n) };
        self.refilled += n as u64;
        self.out += n as i64;
        self.refills += 1;
        n != 0
    }

    /// Gives the `k` oldest blocks (at most all) back to their slots. Returns the number
    /// of blocks drained.
    pub fn drain_oldest(&mut self, owned: &Owned, k: usize) -> u64 {
        let count = self.count();
        let k = k.min(count);
        if k == 0 {
            return 0;
        }
        // SAFETY: the first `count` cells hold blocks; the slices do not outlive them.
        unsafe {
            owned.give_back(core::slice::from_raw_parts(self.base, k));
            core::ptr::copy(self.base.add(k), self.base, count - k);
            self.top = self.base.add(count - k);
        }
        if self.low > self.top {
            self.low = self.top;
        }
        self.drained += k as u64;
        self.out -= k as i64;
        self.drains += 1;
        k as u64
    }

    /// Gives the older half of the blocks back (a full magazine on free) and adds them to
    /// the pending overflow sum. The level of the last sweep goes down with them, to no
    /// less than what is left: the drop is no allocation's dip and must not grow the
    /// next sweep's reserve, while a fall below what is left is one.
    pub fn drain_half(&mut self, owned: &Owned) -> u64 {
        let n = self.drain_oldest(owned, self.count() / 2);
        self.swept_fill = self
            .swept_fill
            .saturating_sub(n as u16)
            .max(self.count() as u16);
        self.overflow_blocks = self.overflow_blocks.saturating_add(n as u32);
        n
    }

    /// Takes the pending sums of blocks drained on overflow and at intervals since the
    /// last call.
    pub fn take_pending(&mut self) -> (u64, u64) {
        (
            u64::from(core::mem::take(&mut self.overflow_blocks)),
            u64::from(core::mem::take(&mut self.interval_blocks)),
        )
    }

    /// Gives every block back (and forgets the fill's history: the reserve starts
    /// again from nothing).
    pub fn drain_all(&mut self, owned: &Owned) -> u64 {
        self.swept_fill = 0;
        self.reserve = 0;
        self.drain_oldest(owned, self.count())
    }

    /// Interval drain sweep: gives back three quarters (rounded up) of the blocks that
    /// sat unused since the last sweep (below the low-water mark) beyond a reserve,
    /// then starts a new window. The blocks are added to the pending interval sum.
    ///
    /// The reserve is twice how far the fill went down below its level at the last
    /// sweep (the window's demand, with room for a deeper dip next time), or the last
    /// reserve less an eighth when that is more. A magazine whose fill goes up and down
    /// by chance (random frees and allocations) keeps what its next dips will take,
    /// where giving back three quarters of every low-water mark made it refill from its
    /// slots, moments later, the blocks it had just given back: on random-mixed,
    /// 39,640 refills in 20 M allocations before, 4,499 with the reserve. A magazine
    /// left idle has no dip: its reserve fades by an eighth (at least one block) per
    /// sweep, and what lies beyond it goes back as before.
    pub fn drain_idle(&mut self, owned: &Owned) -> u64 {
        // SAFETY: `base <= low <= end` in the same array.
        let low = unsafe { self.low.offset_from(self.base) as usize };
        let (give, reserve) = idle_to_give(
            low,
            usize::from(self.swept_fill),
            usize::from(self.reserve),
            self.cap(),
        );
        let n = self.drain_oldest(owned, give);
        self.low = self.top;
        self.reserve = reserve as u16;
        self.swept_fill = self.count() as u16;
        self.interval_blocks = self.interval_blocks.saturating_add(n as u32);
        n
    }

    /// Whether any counter changed since the last fold.
    pub fn dirty(&self) -> bool {
        self.allocs != 0
            || self.count() as u64 != self.folded
            || self.out != 0
            || self.remote_frees != 0
            || self.refills != 0
            || self.drains != 0
    }

    /// Folds this magazine's counters into the class counters; returns the frees it
    /// counted (into the magazine and remote).
    pub fn fold(&mut self, c: usize) -> u64 {
        if !self.dirty() {
            return 0;
        }
        let k = &CLASSES[c];
        let now = self.count() as u64;
        let frees = (now + self.allocs + self.drained)
            .wrapping_sub(self.folded + self.refilled)
            .wrapping_add(self.remote_frees);
        add(&k.allocs, self.allocs as i64);
        add(&k.frees, frees as i64);
        add(&k.cached, now as i64 - self.folded as i64);
        add(&k.out, self.out);
        if self.remote_frees != 0 {
            add(&k.remote_frees, self.remote_frees as i64);
        }
        if self.refills != 0 {
            add(&k.refills, self.refills as i64);
        }
        if self.drains != 0 {
            add(&k.drains, self.drains as i64);
        }
        self.folded = now;
        self.clear_pending();
        frees
    }

    /// Zeroes the counters a fold moves.
    fn clear_pending(&mut self) {
        self.allocs = 0;
        self.refilled = 0;
        self.drained = 0;
        self.out = 0;
        self.remote_frees = 0;
        self.refills = 0;
        self.drains = 0;
    }
}

/// What an interval sweep gives back of a magazine of capacity `cap` with `low` blocks
/// below its low-water mark, `swept_fill` blocks at the last sweep and `reserve` kept
/// then (see [`Magazine::drain_idle`]): the blocks to give back and the new reserve.
fn idle_to_give(low: usize, swept_fill: usize, reserve: usize, cap: usize) -> (usize, usize) {
    let dip = 2 * swept_fill.saturating_sub(low);
    let fading = reserve - reserve.div_ceil(8);
    let reserve = dip.max(fading).min(cap);
    let idle = low.saturating_sub(reserve);
    (idle - idle / 4, reserve)
}

#[cfg(test)]
mod tests {
    use super::{idle_to_give, Magazine};

    #[test]
    fn a_lowering_pop_at_the_mark_lowers_it_and_only_an_empty_magazine_misses() {
        let mut cells = [core::ptr::null_mut::<u8>(); 8];
        // SAFETY: every field of a magazine is an integer or a raw pointer, for which
        // zero is a valid value; `init` sets the pointers before any use.
        let mut m: Magazine = unsafe { core::mem::zeroed() };
        m.init(0, cells.as_mut_ptr(), cells.len());
        for a in [0x1000, 0x2000, 0x3000, 0x4000] {
            assert!(m.push(a as *mut u8));
        }
        // An interval sweep puts the mark at the fill.
        m.low = m.top;
        let low = |m: &Magazine| m.low as usize - m.base as usize;
        let popped: Vec<usize> = core::iter::from_fn(|| m.pop::<true>())
            .map(|p| p.as_ptr() as usize)
            .collect();
        assert_eq!(popped, [0x4000, 0x3000, 0x2000, 0x1000]);
        assert_eq!((m.count(), low(&m), m.allocs), (0, 0, 4));
        // Above the mark a pop leaves it alone.
        assert!(m.push(0x5000 as *mut u8) && m.push(0x6000 as *mut u8));
        assert_eq!(m.pop::<true>().map(|p| p.as_ptr() as usize), Some(0x6000));
        assert_eq!((m.count(), low(&m)), (1, 0));
    }

    #[test]
    fn a_magazine_moved_to_its_own_cells_keeps_its_blocks_order_and_mark() {
        let mut starter = [core::ptr::null_mut::<u8>(); 4];
        let mut own = [core::ptr::null_mut::<u8>(); 16];
        // SAFETY: as above: zero is valid for every field, `init` sets the pointers.
        let mut m: Magazine = unsafe { core::mem::zeroed() };
        m.init(0, starter.as_mut_ptr(), starter.len());
        for a in [0x1000, 0x2000, 0x3000, 0x4000] {
            assert!(m.push(a as *mut u8));
        }
        assert!(!m.push(0x5000 as *mut u8), "the starter cells are full");
        m.low = m.top;
        assert_eq!(m.take().map(|p| p.as_ptr() as usize), Some(0x4000));
        // SAFETY: `own` has 16 cells apart from `starter`, more than the 3 blocks held.
        unsafe { m.move_to(own.as_mut_ptr(), own.len()) };
        assert_eq!((m.count(), m.cap()), (3, 16));
        assert_eq!(m.base, own.as_mut_ptr());
        // The mark moved with the blocks: at the fill, as the take left it.
        assert_eq!(m.low, m.top);
        for a in [0x5000, 0x6000] {
            assert!(m.push(a as *mut u8));
        }
        let popped: Vec<usize> = core::iter::from_fn(|| m.take())
            .map(|p| p.as_ptr() as usize)
            .collect();
        assert_eq!(popped, [0x6000, 0x5000, 0x3000, 0x2000, 0x1000]);
    }

    /// Sweeps of an idle magazine (nothing allocated or freed between them) holding
    /// `fill` blocks with `reserve` kept: how many until it is empty.
    fn sweeps_to_empty(mut fill: usize, mut reserve: usize) -> usize {
        for sweep in 1..=100 {
            let (give, r) = idle_to_give(fill, fill, reserve, 128);
            fill -= give;
            reserve = r;
            if fill == 0 {
                return sweep;
            }
        }
        panic!("an idle magazine kept {fill} blocks after 100 sweeps");
    }

    #[test]
    fn an_idle_magazine_empties() {
        assert_eq!(sweeps_to_empty(64, 0), 4, "48, 12, 3, 1 blocks go back");
        assert_eq!(sweeps_to_empty(1, 0), 1);
        // A reserve left from busy times fades: empty within 30 more sweeps.
        assert!(sweeps_to_empty(128, 128) <= 34);
    }

    #[test]
    fn a_busy_magazine_keeps_what_its_dips_took() {
        // The fill went from 50 down to 40 since the last sweep: 20 blocks are kept,
        // three quarters of the other 20 (rounded up) go back.
        assert_eq!(idle_to_give(40, 50, 0, 128), (15, 20));
        // A deeper dip before still counts, less an eighth: 9 of the 12 beyond it go.
        assert_eq!(idle_to_give(40, 41, 32, 128), (9, 28));
        // A magazine emptied by its dip gives nothing; the reserve is at most the
        // capacity.
        assert_eq!(idle_to_give(0, 100, 0, 64), (0, 64));
    }
}
