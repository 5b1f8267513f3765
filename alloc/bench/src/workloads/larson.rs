//! larson: the server-style benchmark (Larson and Krishnan, 1998), reshaped for threads
//! that live for the whole run.
//!
//! Each thread keeps a window of [`WINDOW`] live blocks. Every iteration replaces one
//! block chosen at random with a new one of a random size in `min_size..=max_size`. With
//! more than one thread, one replaced block in [`HAND_OFF_ONE_IN`] is not freed by its
//! thread but handed, in batches of [`BATCH`], to another thread that frees it (a
//! remote free), as a server hands a request's buffers to the thread that answers it.
//! `iterations` counts iterations per thread; every allocation and free in the timed
//! phase is one operation.

use std::sync::{Barrier, Mutex};
use std::time::Instant;

use super::spec::{Config, Outcome, Span, SMALL_LIMIT};
use crate::block::Block;
use crate::rng::SplitMix64;

/// Live blocks per thread.
pub const WINDOW: usize = 2048;
/// One replaced block in this many is freed by another thread.
pub const HAND_OFF_ONE_IN: usize = 8;
/// Blocks per hand-off.
pub const BATCH: usize = 64;

struct Tally {
    ops: u64,
    small: u64,
    span: Span,
}

/// Runs larson with `cfg.threads` threads.
pub fn run(cfg: &Config) -> Outcome {
    let threads = cfg.threads.max(1);
    let inboxes: Vec<Mutex<Vec<Block>>> = (0..threads).map(|_| Mutex::default()).collect();
    let ready = Barrier::new(threads);
    let done = Barrier::new(threads);
    let tallies: Vec<Tally> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let (inboxes, ready, done) = (&inboxes, &ready, &done);
                s.spawn(move || worker(cfg, t, threads, inboxes, ready, done))
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("larson worker panicked"))
            .collect()
    });
    Outcome {
        ops: tallies.iter().map(|t| t.ops).sum(),
        seconds: Span::union(tallies.iter().map(|t| t.span)),
        small_allocs: tallies.iter().map(|t| t.small).sum(),
        ..Outcome::default()
    }
}

fn worker(
    cfg: &Config,
    me: usize,
    threads: usize,
    inboxes: &[Mutex<Vec<Block>>],
    ready: &Barrier,
    done: &Barrier,
) -> Tally {
    let mut rng = SplitMix64::new(cfg.seed ^ ((me as u64) << 32));
    let mut window: Vec<Block> = (0..WINDOW)
        .map(|_| Block::new(rng.range(cfg.min_size, cfg.max_size)))
        .collect();
    let mut outbox: Vec<Block> = Vec::with_capacity(BATCH);
    ready.wait();
    let start = Instant::now();
    let (mut ops, mut small) = (0u64, 0u64);
    for i in 0..cfg.iterations {
        let size = rng.range(cfg.min_size, cfg.max_size);
        let idx = rng.below(WINDOW);
        let old = std::mem::replace(&mut window[idx], Block::new(size));
        ops += 1;
        small += u64::from(size <= SMALL_LIMIT);
        if threads > 1 && rng.one_in(HAND_OFF_ONE_IN) {
            outbox.push(old);
            if outbox.len() == BATCH {
                let to = (me + 1 + rng.below(threads - 1)) % threads;
                let batch = std::mem::replace(&mut outbox, Vec::with_capacity(BATCH));
                inboxes[to].lock().expect("inbox poisoned").extend(batch);
            }
        } else {
            drop(old);
            ops += 1;
        }
        if threads > 1 && i % BATCH as u64 == 0 {
            ops += drain(&inboxes[me]);
        }
    }
    let end = Instant::now();
    done.wait();
    // Untimed: free what is still live or in flight.
    drain(&inboxes[me]);
    drop(outbox);
    drop(window);
    Tally {
        ops,
        small,
        span: Span { start, end },
    }
}

/// Frees every block in `inbox`; returns how many.
fn drain(inbox: &Mutex<Vec<Block>>) -> u64 {
    let blocks = std::mem::take(&mut *inbox.lock().expect("inbox poisoned"));
    let n = blocks.len() as u64;
    drop(blocks);
    n
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_every_allocation_and_most_frees() {
        for threads in [1, 2, 3] {
            let cfg = Config {
                threads,
                min_size: 8,
                max_size: 1024,
                iterations: 10_000,
                seed: 1,
                trim: || {},
            };
            let out = run(&cfg);
            let allocs = 10_000 * threads as u64;
            assert_eq!(out.small_allocs, allocs);
            // Every allocation plus every free done in the timed phase (hand-offs still
            // in flight at the end are freed untimed).
            assert!(out.ops > allocs + allocs * 3 / 4 && out.ops <= 2 * allocs);
        }
    }
}
