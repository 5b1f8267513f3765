//! A growing segment (its pages allocated as its tables and ring fill) shows everything a
//! busy process does: more threads, SuperSlabs and events than are allocated at
//! creation, with nothing lost and nothing counted as overflow.

mod common;

use std::os::unix::fs::MetadataExt;
use std::sync::atomic::{AtomicU32, Ordering};
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

/// Threads that publish once, all at the same moment, and then block: their record
/// claims arrive together (a test hook holds each claim, after its slow path grew the
/// segment, until all are waiting), past the thread records allocated so far, so most
/// of them are put off. Each grows the table itself and claims again: every thread
/// shows while it blocks.
#[test]
fn threads_that_publish_once_in_a_burst_all_show() {
    if common::respawned("threads_that_publish_once_in_a_burst_all_show", &[]) {
        return;
    }
    /// More than the thread records allocated before the burst (at most 32: the
    /// table doubles once half of it is used, and a handful of threads ran so far), and
    /// enough that the claims race with the table's last doubling (128 to its 256
    /// records): a claim that finds the table full just before that doubling ends must
    /// take a record of it, not count an overflow.
    const BURST: u32 = 200;
    // This thread's record is claimed first: it is not held.
    slabscope::raw::drain_thread();
    let started = Arc::new(Barrier::new(BURST as usize + 1));
    let go = Arc::new(Barrier::new(BURST as usize + 1));
    let published = Arc::new(Barrier::new(BURST as usize + 1));
    let done = Arc::new(Barrier::new(BURST as usize + 1));
    // Threads whose publish returned: those whose record was claimed at their start-up.
    let past = Arc::new(AtomicU32::new(0));
    let workers: Vec<_> = (0..BURST)
        .map(|_| {
            let (started, go) = (started.clone(), go.clone());
            let (published, done, past) = (published.clone(), done.clone(), past.clone());
            std::thread::spawn(move || {
                // Held only past the thread's start (std's start-up allocates holding a
                // lock that every starting thread takes).
                started.wait();
                go.wait();
                slabscope::raw::drain_thread();
                past.fetch_add(1, Ordering::Relaxed);
                published.wait();
                done.wait();
            })
        })
        .collect();
    started.wait();
    slabscope::raw::hold_thread_claims(true);
    go.wait();
    let held = loop {
        let held = slabscope::raw::thread_claims_held();
        if held + past.load(Ordering::Relaxed) == BURST {
            break held;
        }
        std::thread::yield_now();
    };
    let before = open_own().snapshot().unwrap().threads.len();
    assert!(
        held > 32 && before < 32,
        "{held} claims held, {before} thread records before them"
    );
    slabscope::raw::hold_thread_claims(false);
    published.wait();
    let snap = open_own().snapshot().unwrap();
    done.wait();
    for w in workers {
        w.join().unwrap();
    }
    assert_eq!(snap.overflow.threads, 0, "no thread record was refused");
    let live = snap
        .threads
        .iter()
        .filter(|t| t.state == slabscope_proto::ThreadState::Live)
        .count();
    assert!(
        live > BURST as usize,
        "{live} live thread records for {BURST} threads and this one"
    );
}
