//! A small, fast, deterministic random number generator (SplitMix64).
//!
//! Workloads must draw the same sequence for every allocator, so that the allocators
//! see the same requests; SplitMix64 is a handful of instructions and needs no crate.

/// SplitMix64 (Steele, Lea and Flood): a 64-bit state, one multiply-xorshift output.
#[derive(Clone, Debug)]
pub struct SplitMix64 {
    state: u64,
}

impl SplitMix64 {
    /// A generator seeded with `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        Self { state: seed }
    }

    /// The next 64 random bits.
    #[inline]
    pub fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A value in `0..n` (`n > 0`), by Lemire's multiply-shift (bias below 2^-32 for
    /// the small `n` used here).
    #[inline]
    pub fn below(&mut self, n: usize) -> usize {
        debug_assert!(n > 0);
        ((u128::from(self.next_u64()) * n as u128) >> 64) as usize
    }

    /// A value in `lo..=hi`, uniform.
    #[inline]
    pub fn range(&mut self, lo: usize, hi: usize) -> usize {
        debug_assert!(lo <= hi);
        lo + self.below(hi - lo + 1)
    }

    /// A value in `lo..=hi` whose logarithm is uniform (as many 16-32 B requests as
    /// 512 KiB-1 MiB ones): the usual shape of a program's request sizes.
    pub fn log_uniform(&mut self, lo: usize, hi: usize) -> usize {
        debug_assert!(0 < lo && lo <= hi);
        let (l, h) = ((lo as f64).ln(), (hi as f64).ln());
        let u = (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64;
        ((l + u * (h - l)).exp() as usize).clamp(lo, hi)
    }

    /// True with probability `1 / n`.
    #[inline]
    pub fn one_in(&mut self, n: usize) -> bool {
        self.below(n) == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence() {
        let mut a = SplitMix64::new(7);
        let mut b = SplitMix64::new(7);
        for _ in 0..100 {
            assert_eq!(a.next_u64(), b.next_u64());
        }
        assert_ne!(SplitMix64::new(1).next_u64(), SplitMix64::new(2).next_u64());
    }

    #[test]
    fn ranges_stay_in_bounds_and_cover() {
        let mut r = SplitMix64::new(3);
        let mut seen = [false; 8];
        for _ in 0..10_000 {
            let v = r.range(8, 15);
            assert!((8..=15).contains(&v));
            seen[v - 8] = true;
            let l = r.log_uniform(16, 1 << 20);
            assert!((16..=1 << 20).contains(&l));
        }
        assert!(seen.iter().all(|&s| s));
    }

    #[test]
    fn log_uniform_favours_small_sizes() {
        let mut r = SplitMix64::new(11);
        let small = (0..10_000)
            .filter(|_| r.log_uniform(16, 1 << 20) <= 4096)
            .count();
        // log2(4096/16) / log2(2^20/16) = 8/16: about half.
        assert!((4_000..6_000).contains(&small), "{small}");
    }
}
