//! The regression test of the use-after-unmap that remote frees had with `trim`, under
//! the global allocator (the test harness itself runs on slabscope): for 10 seconds one
//! thread allocates blocks and hands most of them to two threads that free them (remote
//! frees into the owner's slots), while a fourth calls `raw::trim()` in a loop, under
//! `SLABSCOPE_EMPTY_CACHE=0` (every empty SuperSlab unmapped at once) and with every
//! remote push delayed by the test hook; every 256 rounds a burst of more than a
//! SuperSlab of blocks goes to the freers, so that SuperSlabs empty and are unmapped
//! while remote frees go on. Every block is checked byte by byte before
//! it is freed; a block handed out twice or memory unmapped under a thread shows as a
//! changed byte or a crash of the child.

mod common;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use std::time::{Duration, Instant};

use slabscope::raw;

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

fn pattern(p: usize, i: usize) -> u8 {
    ((p >> 4) ^ i ^ 0x5a) as u8
}

fn fill(p: usize, size: usize) {
    // SAFETY: a live block of `size` bytes owned by the caller.
    let b = unsafe { std::slice::from_raw_parts_mut(p as *mut u8, size) };
    for (i, x) in b.iter_mut().enumerate() {
        *x = pattern(p, i);
    }
}

/// 64 fresh blocks of four sizes (which depend on `round`), each filled with its
/// pattern.
fn filled_batch(round: usize) -> Vec<(usize, usize)> {
    (0..64)
        .map(|i| {
            let size = 48 + ((round + i) % 4) * 80;
            let p = raw::alloc(size, 16) as usize;
            fill(p, size);
            (p, size)
        })
        .collect()
}

/// Fresh blocks of 288 bytes (about 2.5 MiB in all, more than one SuperSlab), filled,
/// in batches of 64.
fn burst() -> Vec<Vec<(usize, usize)>> {
    (0..9216 / 64)
        .map(|_| {
            (0..64)
                .map(|_| {
                    let p = raw::alloc(288, 16) as usize;
                    fill(p, 288);
                    (p, 288)
                })
                .collect()
        })
        .collect()
}

/// Checks and frees a block; `false` when a byte changed.
fn check_and_free(p: usize, size: usize) -> bool {
    // SAFETY: a live block of `size` bytes owned by the caller.
    let b = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
    let ok = b.iter().enumerate().all(|(i, &x)| x == pattern(p, i));
    // SAFETY: the caller gives the live block up.
    unsafe { raw::free(p as *mut u8) };
    ok
}

#[test]
fn remote_frees_race_trim_for_ten_seconds() {
    if !common::in_child() {
        let dir = common::shm_dir();
        let out = common::run_child(
            "remote_frees_race_trim_for_ten_seconds",
            dir.path(),
            &[("SLABSCOPE_EMPTY_CACHE", "0")],
        );
        let line = out
            .lines()
            .find_map(|l| l.find("trim race:").map(|at| &l[at..]));
        println!("{}", line.expect("the child reports its figures"));
        return;
    }
    raw::set_remote_push_delay(2000);
    let stop = Arc::new(AtomicBool::new(false));
    let corrupt = Arc::new(AtomicU64::new(0));
    let verified = Arc::new(AtomicU64::new(0));
    let trims = Arc::new(AtomicU64::new(0));
    let freed_remote = Arc::new(AtomicU64::new(0));
    let returned_before = raw::stats().totals.superslabs_returned_total;
    let mut senders = Vec::new();
    let mut freers = Vec::new();
    for _ in 0..2 {
        let (tx, rx) = mpsc::sync_channel::<Vec<(usize, usize)>>(64);
        senders.push(tx);
        let (corrupt, verified) = (corrupt.clone(), verified.clone());
        let freed_remote = freed_remote.clone();
        freers.push(std::thread::spawn(move || {
            for batch in rx {
                for (p, size) in batch {
                    if check_and_free(p, size) {
                        verified.fetch_add(1, Ordering::Relaxed);
                    } else {
                        corrupt.fetch_add(1, Ordering::Relaxed);
                    }
                    freed_remote.fetch_add(1, Ordering::Release);
                }
            }
        }));
    }
    let trimmer = {
        let (stop, trims) = (stop.clone(), trims.clone());
        std::thread::spawn(move || {
            while !stop.load(Ordering::Relaxed) {
                raw::trim();
                trims.fetch_add(1, Ordering::Relaxed);
            }
        })
    };
    let end = Instant::now() + Duration::from_secs(10);
    let mut kept: Vec<(usize, usize)> = Vec::new();
    let (mut blocks, mut round, mut sent_remote) = (0u64, 0usize, 0u64);
    while Instant::now() < end {
        for tx in &senders {
            let batch = filled_batch(round);
            blocks += batch.len() as u64;
            sent_remote += batch.len() as u64;
            tx.send(batch).unwrap();
        }
        // Blocks the owner frees itself one round later.
        for (p, size) in kept.drain(..) {
            if check_and_free(p, size) {
                verified.fetch_add(1, Ordering::Relaxed);
            } else {
                corrupt.fetch_add(1, Ordering::Relaxed);
            }
        }
        kept = filled_batch(round);
        blocks += kept.len() as u64;
        round += 1;
        if round % 256 == 0 {
            // More than a SuperSlab of blocks, all freed by the two freers: the last
            // remote frees into the extra SuperSlab race the trimmer. Once the freers
            // caught up, the drain collects the remote lists and gives every idle slot
            // back, so that the extra SuperSlab empties and is unmapped.
            for (k, batch) in burst().into_iter().enumerate() {
                blocks += batch.len() as u64;
                sent_remote += batch.len() as u64;
                senders[k % 2].send(batch).unwrap();
            }
            let wait = Instant::now() + Duration::from_secs(5);
            while freed_remote.load(Ordering::Acquire) < sent_remote && Instant::now() < wait {
                std::thread::sleep(Duration::from_millis(1));
            }
            raw::drain_thread();
        }
    }
    for (p, size) in kept.drain(..) {
        if check_and_free(p, size) {
            verified.fetch_add(1, Ordering::Relaxed);
        }
    }
    drop(senders);
    for f in freers {
        f.join().unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    trimmer.join().unwrap();
    raw::drain_thread();
    let returned = raw::stats().totals.superslabs_returned_total - returned_before;
    println!(
        "trim race: {blocks} blocks, {} verified, {} corrupt, {} trims, {returned} SuperSlabs returned",
        verified.load(Ordering::Relaxed),
        corrupt.load(Ordering::Relaxed),
        trims.load(Ordering::Relaxed)
    );
    assert_eq!(corrupt.load(Ordering::Relaxed), 0);
    assert_eq!(verified.load(Ordering::Relaxed), blocks);
    assert!(trims.load(Ordering::Relaxed) > 100);
    assert!(
        returned > 0,
        "SuperSlabs were unmapped while the frees went on"
    );
}
