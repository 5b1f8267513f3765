//! fragmentation: allocate, free 90 % at random, measure what the allocator keeps.
//!
//! Allocates blocks of log-uniform sizes in `min_size..=max_size`, writing every
//! byte, until `iterations` bytes are live (1 GiB in full mode). Then frees each block
//! with probability 9/10. Figures: `rss_kept_bytes` (RSS right after the frees),
//! `rss_after_return_bytes` (RSS after `cfg.trim`, the allocator's own return of free
//! memory to the OS, asked twice [`RETURN_GRACE`] apart), `live_bytes` (bytes still
//! allocated). Every allocation and free is an operation; the timed phase is the
//! allocations and the frees.

use std::time::{Duration, Instant};

use super::spec::{Config, Outcome, SMALL_LIMIT};
use crate::block::Block;
use crate::procfs;
use crate::rng::SplitMix64;

/// One block in this many survives the free phase.
pub const KEEP_ONE_IN: usize = 10;

/// Time allowed between the two requests to return memory to the OS.
pub const RETURN_GRACE: Duration = Duration::from_millis(100);

/// Runs fragmentation (`cfg.threads` is ignored: one thread).
pub fn run(cfg: &Config) -> Outcome {
    let mut rng = SplitMix64::new(cfg.seed);
    let mut blocks = Vec::new();
    let (mut total, mut small) = (0u64, 0u64);
    let start = Instant::now();
    while total < cfg.iterations {
        let size = rng.log_uniform(cfg.min_size, cfg.max_size);
        let mut b = Block::new(size);
        b.fill(size as u8);
        small += u64::from(size <= SMALL_LIMIT);
        total += size as u64;
        blocks.push(b);
    }
    let allocs = blocks.len() as u64;
    let mut kept = Vec::with_capacity(blocks.len() / KEEP_ONE_IN + 16);
    let mut live = 0u64;
    for b in blocks.drain(..) {
        if rng.one_in(KEEP_ONE_IN) {
            live += b.size() as u64;
            kept.push(b);
        }
    }
    drop(blocks);
    let seconds = start.elapsed().as_secs_f64();
    let frees = allocs - kept.len() as u64;
    let rss_kept = procfs::rss_bytes().unwrap_or(0);
    // Some allocators purge on a timer (mimalloc's purge delay, jemalloc's decay):
    // ask, give them a moment, ask again, so each is measured at its best.
    (cfg.trim)();
    std::thread::sleep(RETURN_GRACE);
    (cfg.trim)();
    let rss_after = procfs::rss_bytes().unwrap_or(0);
    let mut out = Outcome {
        ops: allocs + frees,
        seconds,
        small_allocs: small,
        ..Outcome::default()
    };
    out.extra.insert("rss_kept_bytes".into(), rss_kept as f64);
    out.extra
        .insert("rss_after_return_bytes".into(), rss_after as f64);
    out.extra.insert("live_bytes".into(), live as f64);
    out.extra.insert("allocated_bytes".into(), total as f64);
    drop(kept);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_about_a_tenth() {
        let cfg = Config {
            threads: 1,
            min_size: 16,
            max_size: 64 << 10,
            iterations: 8 << 20,
            seed: 4,
            trim: || {},
        };
        let out = run(&cfg);
        let live = out.extra["live_bytes"];
        let total = out.extra["allocated_bytes"];
        assert!(total >= (8 << 20) as f64);
        assert!(
            live > total * 0.03 && live < total * 0.2,
            "{live} of {total}"
        );
        assert!(out.extra["rss_kept_bytes"] > 0.0);
    }
}
