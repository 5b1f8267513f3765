//! A growing segment (its pages allocated as its tables and ring fill) shows everything a
//! busy process does: more threads, SuperSlabs and events than are allocated at
//! creation, with nothing lost and nothing counted as overflow.

mod common;

use std::os::unix::fs::MetadataExt;
use std::sync::{Arc, Barrier};

use common::{in_child, open_own, own_segment, run_child, shm_dir};

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

/// Threads: more than the 4 thread records allocated at creation.
const THREADS: usize = 40;
/// Bytes each thread holds: together about 40 SuperSlabs (8 allocated at creation).
const HELD: usize = 2 << 20;

#[test]
fn a_busy_process_grows_its_segment_and_loses_nothing() {
    if !in_child() {
        let dir = shm_dir();
        run_child(
            "a_busy_process_grows_its_segment_and_loses_nothing",
            dir.path(),
            &[],
        );
        return;
    }
    let path = own_segment();
    let first = {
        let r = open_own();
        drop(r);
        std::fs::metadata(&path).unwrap().blocks() * 512
    };
    let ready = Arc::new(Barrier::new(THREADS + 1));
    let done = Arc::new(Barrier::new(THREADS + 1));
    let workers: Vec<_> = (0..THREADS)
        .map(|t| {
            let (ready, done) = (ready.clone(), done.clone());
            std::thread::spawn(move || {
                let blocks: Vec<Vec<u8>> = (0..HELD / 8192)
                    .map(|i| vec![(t + i) as u8; 8000])
                    .collect();
                slabscope::raw::drain_thread();
                ready.wait();
                done.wait();
                drop(blocks);
            })
        })
        .collect();
    ready.wait();
    // A slow path of this thread grows the segment and publishes what was put off.
    for _ in 0..3 {
        slabscope::raw::drain_thread();
        drop(std::hint::black_box(vec![0u8; 300_000]));
    }
    // The reader allocates through the allocator it reads (its vectors): a SuperSlab it
    // maps half-way through can be in the records and not yet in the totals read
    // before them. A second read then sees both.
    let mut snap = open_own().snapshot().unwrap();
    for _ in 0..3 {
        if snap.superslabs.len() as u64 == snap.totals.superslabs {
            break;
        }
        snap = open_own().snapshot().unwrap();
    }
    let grown = std::fs::metadata(&path).unwrap().blocks() * 512;
    done.wait();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(snap.overflow.threads, 0, "no thread record was refused");
    assert_eq!(
        snap.overflow.superslabs, 0,
        "no SuperSlab record was refused"
    );
    assert!(
        snap.threads.len() > THREADS,
        "{} thread records",
        snap.threads.len()
    );
    assert_eq!(
        snap.superslabs.len() as u64,
        snap.totals.superslabs,
        "every mapped SuperSlab has its record"
    );
    assert!(
        snap.totals.superslabs > 32,
        "{} SuperSlabs",
        snap.totals.superslabs
    );
    // Every slot the threads hold blocks in shows as in use.
    let used_slots = snap
        .superslabs
        .iter()
        .flat_map(|s| &s.slots)
        .filter(|s| s.used > 0)
        .count();
    assert!(
        used_slots as u64 * 64 * 1024 >= (THREADS * HELD) as u64 * 9 / 10,
        "{used_slots} slots in use"
    );
    assert!(
        snap.ring.head > 512,
        "more events than the ring had room for at creation: {}",
        snap.ring.head
    );
    assert!(grown > first, "the segment grew: {first} -> {grown} bytes");
    assert!(
        grown < std::fs::metadata(&path).unwrap().len(),
        "and is still not allocated whole"
    );
}
