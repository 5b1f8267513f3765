//! growth: vectors and strings grown by `realloc`, from `min_size` to up to `max_size`.
//!
//! `iterations` objects are grown one after the other, each to a target size drawn
//! log-uniformly in `min_size..=max_size` (as many 16-32 B objects as 512 KiB-1 MiB
//! ones). Even objects are raw blocks resized by 1.25x-2x steps (a hand-written
//! vector); odd ones are `String`s built by appends of a quarter of their length (the
//! standard library's doubling). Allocations, reallocations and frees are operations.

use std::time::Instant;

use super::spec::{Config, Outcome, SMALL_LIMIT};
use crate::block::Block;
use crate::rng::SplitMix64;

const TEXT: &str = "slabscope grows strings by appending pieces of this sentence, over and over. ";

/// Runs growth (`cfg.threads` is ignored: one thread).
pub fn run(cfg: &Config) -> Outcome {
    let mut rng = SplitMix64::new(cfg.seed);
    let (mut ops, mut small, mut sum) = (0u64, 0u64, 0u64);
    let start = Instant::now();
    for i in 0..cfg.iterations {
        let target = rng.log_uniform(cfg.min_size, cfg.max_size);
        if i % 2 == 0 {
            let mut b = Block::new(cfg.min_size);
            ops += 1;
            small += u64::from(cfg.min_size <= SMALL_LIMIT);
            while b.size() < target {
                let step = b.size() / 4 + rng.below(b.size() * 3 / 4 + 1);
                b.resize((b.size() + step.max(1)).min(target));
                ops += 1;
            }
            sum += u64::from(b.first());
            ops += 1;
        } else {
            let mut s = String::new();
            let mut cap = 0;
            while s.len() < target {
                let piece = (s.len() / 4).clamp(cfg.min_size, TEXT.len());
                s.push_str(&TEXT[..piece]);
                if s.capacity() != cap {
                    small += u64::from(cap == 0 && s.capacity() <= SMALL_LIMIT);
                    cap = s.capacity();
                    ops += 1;
                }
            }
            sum += s.len() as u64;
            ops += 1;
        }
    }
    let seconds = start.elapsed().as_secs_f64();
    std::hint::black_box(sum);
    Outcome {
        ops,
        seconds,
        small_allocs: small,
        ..Outcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_objects_to_their_targets() {
        let cfg = Config {
            threads: 1,
            min_size: 16,
            max_size: 1 << 20,
            iterations: 200,
            seed: 5,
            trim: || {},
        };
        let out = run(&cfg);
        // At least an allocation and a free per object, more for the grown ones.
        assert!(out.ops > 400, "{}", out.ops);
        assert!(out.small_allocs >= 100);
    }
}
