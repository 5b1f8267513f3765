//! xmalloc: producer threads allocate, consumer threads free; every free is remote.
//!
//! `cfg.threads / 2` pairs (at least one). In each pair the producer allocates
//! `iterations` blocks of random sizes in `min_size..=max_size` and sends them in
//! batches of [`BATCH`] through a bounded channel ([`IN_FLIGHT`] batches) to its
//! consumer, which frees them. Every allocation and every free is one operation.

use std::sync::mpsc::sync_channel;
use std::sync::Barrier;
use std::time::Instant;

use super::spec::{Config, Outcome, Span, SMALL_LIMIT};
use crate::block::Block;
use crate::rng::SplitMix64;

/// Blocks per batch sent from producer to consumer.
pub const BATCH: usize = 256;
/// Batches in flight per pair at most (bounds the live memory).
pub const IN_FLIGHT: usize = 16;

/// Runs xmalloc.
pub fn run(cfg: &Config) -> Outcome {
    let pairs = (cfg.threads / 2).max(1);
    let ready = Barrier::new(2 * pairs);
    let (small, spans): (u64, Vec<Span>) = std::thread::scope(|s| {
        let mut producers = Vec::new();
        let mut consumers = Vec::new();
        for p in 0..pairs {
            let (tx, rx) = sync_channel::<Vec<Block>>(IN_FLIGHT);
            let ready = &ready;
            producers.push(s.spawn(move || {
                let mut rng = SplitMix64::new(cfg.seed ^ ((p as u64) << 32));
                let mut small = 0u64;
                let mut batch = Vec::with_capacity(BATCH);
                ready.wait();
                let start = Instant::now();
                for _ in 0..cfg.iterations {
                    let size = rng.range(cfg.min_size, cfg.max_size);
                    small += u64::from(size <= SMALL_LIMIT);
                    batch.push(Block::new(size));
                    if batch.len() == BATCH {
                        let full = std::mem::replace(&mut batch, Vec::with_capacity(BATCH));
                        tx.send(full).expect("consumer gone");
                    }
                }
                if !batch.is_empty() {
                    tx.send(batch).expect("consumer gone");
                }
                (small, start)
            }));
            consumers.push(s.spawn(move || {
                ready.wait();
                let start = Instant::now();
                let mut sum = 0u64;
                for batch in rx {
                    for b in batch {
                        sum += u64::from(b.first());
                    }
                }
                std::hint::black_box(sum);
                Span {
                    start,
                    end: Instant::now(),
                }
            }));
        }
        let mut small = 0;
        let mut spans = Vec::new();
        for (p, c) in producers.into_iter().zip(consumers) {
            let (n, start) = p.join().expect("xmalloc producer panicked");
            // A consumer ends after its producer's last block: its span covers the pair.
            let span = c.join().expect("xmalloc consumer panicked");
            small += n;
            spans.push(Span {
                start: start.min(span.start),
                end: span.end,
            });
        }
        (small, spans)
    });
    let seconds = Span::union(spans);
    let blocks = cfg.iterations * pairs as u64;
    Outcome {
        ops: 2 * blocks,
        seconds,
        small_allocs: small,
        ..Outcome::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_block_is_allocated_and_freed() {
        let cfg = Config {
            threads: 4,
            min_size: 8,
            max_size: 512,
            iterations: 5_000,
            seed: 2,
            trim: || {},
        };
        let out = run(&cfg);
        assert_eq!(out.ops, 2 * 2 * 5_000);
        assert_eq!(out.small_allocs, 2 * 5_000);
    }
}
