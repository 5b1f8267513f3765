//! rss16: resident bytes per live 16-byte allocation.
//!
//! Allocates `iterations` blocks of `min_size` bytes (1,000,000 x 16 B in quick and
//! full mode) and keeps them all live. The pointer array is allocated and touched
//! before the baseline is read, so `bytes_per_alloc = (RSS after - RSS before) / N`
//! counts only what the allocator made resident for the blocks (16 is the floor).
//! The allocations are the operations.

use std::time::Instant;

use super::spec::{Config, Outcome, SMALL_LIMIT};
use crate::block::Block;
use crate::procfs;

/// Runs rss16 (`cfg.threads` is ignored: one thread).
pub fn run(cfg: &Config) -> Outcome {
    let n = cfg.iterations as usize;
    let mut blocks: Vec<Option<Block>> = (0..n).map(|_| None).collect();
    let before = procfs::rss_bytes().unwrap_or(0);
    let start = Instant::now();
    for slot in blocks.iter_mut() {
        *slot = Some(Block::new(cfg.min_size));
    }
    let seconds = start.elapsed().as_secs_f64();
    let after = procfs::rss_bytes().unwrap_or(0);
    let mut out = Outcome {
        ops: n as u64,
        seconds,
        small_allocs: if cfg.min_size <= SMALL_LIMIT {
            n as u64
        } else {
            0
        },
        ..Outcome::default()
    };
    let grown = after.saturating_sub(before) as f64;
    out.extra
        .insert("bytes_per_alloc".into(), grown / n.max(1) as f64);
    out.extra.insert("live_rss_bytes".into(), after as f64);
    drop(blocks);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reports_bytes_per_allocation() {
        let cfg = Config {
            threads: 1,
            min_size: 16,
            max_size: 16,
            iterations: 200_000,
            seed: 0,
            trim: || {},
        };
        let out = run(&cfg);
        assert_eq!(out.ops, 200_000);
        assert_eq!(out.small_allocs, 200_000);
        // Other tests share this process and allocate or free meanwhile, so the figure
        // is only checked for presence here; tests/quick.rs checks it in a process of
        // its own.
        let per = out.extra["bytes_per_alloc"];
        assert!(per.is_finite() && per >= 0.0, "{per}");
        assert!(out.extra["live_rss_bytes"] > 0.0);
    }
}
