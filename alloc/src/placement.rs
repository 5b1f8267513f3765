//! Where SuperSlabs go: a region of the low address space that the pagemap covers,
//! `[cover / 4, cover)` (with the default map, 256 GiB to 1 TiB), cut into
//! SuperSlab-sized positions, used from a random one of its first half on. A bit set
//! records which positions hold a SuperSlab of ours, or something else (a mapping the
//! program or the kernel made there, found when the kernel refuses to map over it).
//! [`place`] maps a SuperSlab at the lowest free position, [`release`] frees its
//! position after it is unmapped.
//!
//! Placing SuperSlabs ourselves lets the pagemap cover only the low terabyte (64 MiB of
//! reserved address space instead of 8 GiB for all 128 TiB): a program that lowers its
//! own `RLIMIT_AS` after starting keeps almost all of it. The region starts at 256 GiB,
//! above where a JVM puts a compressed-oops heap and where a non-PIE program's `brk`
//! heap grows. A position is claimed under the bit set's lock (a few bit operations)
//! and mapped after the lock is dropped, with `MAP_FIXED_NOREPLACE`: an existing
//! mapping is never replaced.
#![forbid(unsafe_code)]

use core::sync::atomic::{AtomicU32, AtomicU64, AtomicUsize, Ordering::Relaxed};

use crate::pagemap;
use crate::pal::{self, Placed, RawMutex};

/// log2 of a position's bytes (one SuperSlab).
pub const SPAN_SHIFT: u32 = 21;
/// Bytes of one position.
const SPAN: usize = 1 << SPAN_SHIFT;
/// Positions of the largest region: three quarters of the default map's terabyte.
const MAX_POSITIONS: usize = (pagemap::DEFAULT_COVER - pagemap::DEFAULT_COVER / 4) >> SPAN_SHIFT;
/// Positions found taken by something else that one [`place`] tries before it gives up
/// (with the doubling skip, enough to cross any run of foreign mappings in the region).
const TRIES: usize = 64;

/// Which positions are taken: one bit each, 1 when a SuperSlab of ours or a foreign
/// mapping is there. Bits change only under `lock`, never across a system call.
///
/// The scalars first: a short process's first SuperSlab touches them and one word of
/// `taken`, and the preload's link script (`alloc/preload/startup.ld`) puts the start of
/// this static beside the other statics a process's start writes.
#[repr(C)]
struct Positions {
    lock: RawMutex,
    /// Every word of `taken` below this one is full.
    first: AtomicUsize,
    taken: [AtomicU64; MAX_POSITIONS / 64],
}

impl Positions {
    const fn new() -> Self {
        Positions {
            taken: [const { AtomicU64::new(0) }; MAX_POSITIONS / 64],
            first: AtomicUsize::new(0),
            lock: RawMutex::new(),
        }
    }

    /// Marks the lowest free position below `n` taken and returns it.
    fn claim(&self, n: usize) -> Option<usize> {
        let _g = self.lock.guard();
        hold_delay();
        let mut w = self.first.load(Relaxed);
        while w * 64 < n.min(MAX_POSITIONS) {
            let bits = self.taken[w].load(Relaxed);
            if bits != u64::MAX {
                let i = w * 64 + bits.trailing_ones() as usize;
                if i >= n {
                    return None;
                }
                self.taken[w].store(bits | 1 << (i % 64), Relaxed);
                self.first.store(w, Relaxed);
                return Some(i);
            }
            w += 1;
        }
        None
    }

    /// Marks position `i` free.
    fn free(&self, i: usize) {
        let _g = self.lock.guard();
        let w = i / 64;
        self.taken[w].store(self.taken[w].load(Relaxed) & !(1 << (i % 64)), Relaxed);
        if w < self.first.load(Relaxed) {
            self.first.store(w, Relaxed);
        }
    }

    /// Marks the free positions of `[from, to)` taken (skipped over).
    fn skip(&self, from: usize, to: usize) {
        let _g = self.lock.guard();
        for i in from..to.min(MAX_POSITIONS) {
            let w = &self.taken[i / 64];
            w.store(w.load(Relaxed) | 1 << (i % 64), Relaxed);
        }
    }

    /// Maps `SPAN` bytes at the lowest free one of the `n` positions from `lo`. A
    /// position found taken by something else stays marked, and so does a run after
    /// it that doubles with every such position in a row: a foreign mapping of `k`
    /// positions is crossed in about `2 log2 k` tries, at the price of fewer than `k`
    /// free positions skipped.
    fn place(&self, lo: usize, n: usize) -> Option<*mut u8> {
        let mut run = 1;
        for _ in 0..TRIES {
            let i = self.claim(n)?;
            match pal::map_fixed_noreplace(SPAN, lo + (i << SPAN_SHIFT)) {
                Placed::At(p) => return Some(p),
                Placed::Occupied => {
                    self.skip(i + 1, i + run);
                    run *= 2;
                }
                Placed::Refused => {
                    self.free(i);
                    return None;
                }
            }
        }
        None
    }
}

static POSITIONS: Positions = Positions::new();

/// Spins a claim makes while it holds the lock (`raw::set_placement_hold`; 0 by
/// default): a test hook that widens the window a `fork` must not land in unprepared.
pub static HOLD_DELAY: AtomicU32 = AtomicU32::new(0);

fn hold_delay() {
    for _ in 0..HOLD_DELAY.load(Relaxed) {
        core::hint::spin_loop();
    }
}

/// The lock of the bit set (taken by `fork`'s prepare handler; never held with another
/// allocator lock or across a system call).
pub fn lock() -> &'static RawMutex {
    &POSITIONS.lock
}

/// The region the current map covers: its first address and its number of positions
/// (`None` before the map exists). It starts at a random position of the first half of
/// `[cover / 4, cover)`: the skew comes from the address the kernel chose for the map's
/// words (random under ASLR), so SuperSlab addresses differ from process to process as
/// kernel-placed ones would, and no system call is spent on it.
fn region() -> Option<(usize, usize)> {
    let cover = pagemap::covered_bytes();
    if cover == 0 {
        return None;
    }
    let lo = cover / 4;
    let all = ((cover - lo) >> SPAN_SHIFT).min(MAX_POSITIONS);
    let skew = (pagemap::view().0 >> SPAN_SHIFT) % (all / 2).max(1);
    Some((lo + (skew << SPAN_SHIFT), all - skew))
}

/// Maps `SPAN` bytes of fresh zeroed memory at the lowest free position of the region.
/// Outside every allocator lock. `None` when the region is full or the kernel refuses.
pub fn place() -> Option<*mut u8> {
    let (lo, n) = region()?;
    POSITIONS.place(lo, n)
}

/// Frees the position of the SuperSlab at `base`, which [`place`] mapped and the caller
/// has unmapped.
pub fn release(base: usize) {
    if let Some((lo, n)) = region() {
        let i = (base - lo) >> SPAN_SHIFT;
        debug_assert!(base >= lo && i < n);
        POSITIONS.free(i);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lowest_free_position_is_taken_first() {
        let p = Positions::new();
        assert_eq!(
            (p.claim(100), p.claim(100), p.claim(100)),
            (Some(0), Some(1), Some(2))
        );
        p.free(1);
        assert_eq!(p.claim(100), Some(1));
        assert_eq!(p.claim(100), Some(3));
        assert_eq!(p.claim(4), None, "all 4 taken");
        for i in 0..70 {
            p.free(i);
        }
        assert_eq!(p.claim(100), Some(0));
    }

    #[test]
    fn place_maps_inside_the_covered_region() {
        assert!(pagemap::reserve());
        let (lo, n) = region().unwrap();
        assert!(lo >= 16 << 30 && n >= 64);
        assert!(lo + (n << SPAN_SHIFT) <= pagemap::covered_bytes());
        let a = place().unwrap() as usize;
        let b = place().unwrap() as usize;
        assert_ne!(a, b);
        for p in [a, b] {
            assert!(p >= lo && p % SPAN == 0 && pagemap::covers(p, SPAN));
        }
    }

    #[test]
    fn foreign_mappings_are_skipped_never_replaced() {
        // Private sets of positions over addresses outside the allocator's region
        // (from 2 TiB; the mappings are left to the test process).
        let p = Positions::new();
        let lo = 2 << 40;
        let one = pal::map_fixed_noreplace(SPAN, lo);
        assert!(
            matches!(one, Placed::At(_)),
            "2 TiB is taken in this process"
        );
        let got = p.place(lo, 64).unwrap() as usize;
        assert_eq!(got, lo + SPAN, "the existing mapping is never replaced");
        assert_eq!(p.claim(64), Some(2), "the foreign position stays taken");
        // A foreign run of 20 positions is crossed with the doubling skip.
        let far = lo + (8 << SPAN_SHIFT);
        let run = pal::map_fixed_noreplace(20 << SPAN_SHIFT, far);
        assert!(matches!(run, Placed::At(_)), "2 TiB + 16 MiB is taken");
        let q = Positions::new();
        q.skip(0, 8);
        let got = q.place(lo, 64).unwrap() as usize;
        assert!(got >= far + (20 << SPAN_SHIFT), "past the foreign run");
        assert!(
            got < far + (40 << SPAN_SHIFT),
            "fewer positions skipped than the run"
        );
    }
}
