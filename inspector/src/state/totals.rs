//! Byte totals derived from a snapshot: the numbers users reason about.

use slabscope_proto::Snapshot;

/// Process-wide byte totals.
///
/// `live`, `cached` and `free` are blocks times block size summed over classes; `live`
/// also counts large (directly mapped) allocations.
#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct ByteTotals {
    /// Bytes mapped from the OS (SuperSlabs and large allocations).
    pub mapped: u64,
    /// Bytes in user hands.
    pub live: u64,
    /// Bytes cached in thread magazines.
    pub cached: u64,
    /// Bytes free inside slots.
    pub free: u64,
    /// `1 - live / mapped` (0 when nothing is mapped), in `0.0..=1.0`.
    pub fragmentation: f64,
}

impl ByteTotals {
    /// Totals of `snap`.
    pub fn of(snap: &Snapshot) -> Self {
        let mut t = ByteTotals {
            mapped: snap.totals.mapped_bytes,
            live: snap.totals.large_bytes,
            ..Default::default()
        };
        for c in &snap.classes {
            let bs = u64::from(c.block_size);
            t.live = t.live.saturating_add(c.live.saturating_mul(bs));
            t.cached = t
                .cached
                .saturating_add(c.counters.cached_blocks.saturating_mul(bs));
            t.free = t
                .free
                .saturating_add(c.counters.free_blocks.saturating_mul(bs));
        }
        t.fragmentation = fragmentation(t.live, t.mapped);
        t
    }
}

/// `1 - live / mapped`, clamped to `0.0..=1.0`; 0 when nothing is mapped.
pub fn fragmentation(live: u64, mapped: u64) -> f64 {
    if mapped == 0 {
        0.0
    } else {
        (1.0 - live as f64 / mapped as f64).clamp(0.0, 1.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::synthetic;

    #[test]
    fn totals_sum_blocks_times_block_size_and_large_bytes() {
        let snap = synthetic::Synthetic::default().snapshot(1);
        let t = ByteTotals::of(&snap);
        let live: u64 = snap
            .classes
            .iter()
            .map(|c| c.live * c.block_size as u64)
            .sum::<u64>()
            + snap.totals.large_bytes;
        assert_eq!(t.live, live);
        assert_eq!(t.mapped, snap.totals.mapped_bytes);
        assert!(t.fragmentation > 0.0 && t.fragmentation < 1.0);
    }

    #[test]
    fn fragmentation_is_clamped_and_zero_when_unmapped() {
        assert_eq!(fragmentation(0, 0), 0.0);
        assert_eq!(fragmentation(10, 5), 0.0);
        assert_eq!(fragmentation(25, 100), 0.75);
    }
}
