//! cache-scratch: Hoard's test of passive false sharing.
//!
//! The main thread allocates one small object per worker and hands it over; each
//! worker frees it (a remote free), then `iterations` times allocates an object of
//! `min_size` bytes, writes every byte of it [`WRITES`] times and frees it. An
//! allocator that gives worker A memory on the same cache line as worker B's object
//! (for example by reusing the handed-over object there) makes the writes slow.
//! Each allocation and free is one operation; the time is mostly the writes.

use std::sync::Barrier;
use std::time::Instant;

use super::spec::{Config, Outcome, Span, SMALL_LIMIT};
use crate::block::Block;

/// Times each byte of an object is written.
pub const WRITES: usize = 50;

/// Runs cache-scratch with `cfg.threads` workers.
pub fn run(cfg: &Config) -> Outcome {
    let threads = cfg.threads.max(1);
    let size = cfg.min_size;
    // Allocated here, freed by the workers.
    let handed: Vec<Block> = (0..threads).map(|_| Block::new(size)).collect();
    let ready = Barrier::new(threads);
    let spans: Vec<Span> = std::thread::scope(|s| {
        let workers: Vec<_> = handed
            .into_iter()
            .map(|mut first| {
                let ready = &ready;
                s.spawn(move || {
                    ready.wait();
                    let start = Instant::now();
                    first.scribble(1);
                    drop(first);
                    for _ in 0..cfg.iterations {
                        let mut b = Block::new(size);
                        b.scribble(WRITES);
                        drop(b);
                    }
                    Span {
                        start,
                        end: Instant::now(),
                    }
                })
            })
            .collect();
        workers
            .into_iter()
            .map(|w| w.join().expect("cache-scratch worker panicked"))
            .collect()
    });
    let seconds = Span::union(spans);
    let allocs = threads as u64 * cfg.iterations;
    Outcome {
        ops: 2 * allocs + threads as u64,
        seconds,
        small_allocs: if size <= SMALL_LIMIT {
            allocs + threads as u64
        } else {
            0
        },
        ..Outcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_objects() {
        let cfg = Config {
            threads: 2,
            min_size: 8,
            max_size: 8,
            iterations: 1_000,
            seed: 0,
            trim: || {},
        };
        let out = run(&cfg);
        assert_eq!(out.ops, 2 * 2_000 + 2);
        assert_eq!(out.small_allocs, 2_002);
    }
}
