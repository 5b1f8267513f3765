//! random-mixed: the shape of hakmem's `bench_random_mixed`.
//!
//! One thread, a working set of [`SLOTS`] slots. Each iteration picks a slot at random:
//! a full slot is freed, an empty one gets a block of a random size in
//! `min_size..=max_size`. `iterations` counts iterations; each is one operation.

use std::time::Instant;

use super::spec::{Config, Outcome, SMALL_LIMIT};
use crate::block::Block;
use crate::rng::SplitMix64;

/// Slots in the working set.
pub const SLOTS: usize = 4096;

/// Runs random-mixed (`cfg.threads` is ignored: the workload is single-threaded).
pub fn run(cfg: &Config) -> Outcome {
    let mut rng = SplitMix64::new(cfg.seed);
    let mut slots: Vec<Option<Block>> = (0..SLOTS).map(|_| None).collect();
    let mut small = 0u64;
    let mut sum = 0u64;
    let start = Instant::now();
    for _ in 0..cfg.iterations {
        let r = rng.next_u64();
        let idx = (r as usize) % SLOTS;
        match slots[idx].take() {
            Some(b) => sum += u64::from(b.first()),
            None => {
                let size = cfg.min_size + ((r >> 32) as usize) % (cfg.max_size - cfg.min_size + 1);
                small += u64::from(size <= SMALL_LIMIT);
                slots[idx] = Some(Block::new(size));
            }
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    std::hint::black_box(sum);
    drop(slots);
    Outcome {
        ops: cfg.iterations,
        seconds,
        small_allocs: small,
        ..Outcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn about_half_the_iterations_allocate() {
        let cfg = Config {
            threads: 1,
            min_size: 16,
            max_size: 1024,
            iterations: 100_000,
            seed: 9,
            trim: || {},
        };
        let out = run(&cfg);
        assert_eq!(out.ops, 100_000);
        assert!(
            (45_000..=55_000).contains(&out.small_allocs),
            "{}",
            out.small_allocs
        );
    }
}
