//! Magazine-aware accounting read back through the segment reader, empty SuperSlab
//! detection and return (also when the last frees sat in the owner's magazine after
//! another thread's remote frees),
//! and the memory cost of a million 16-byte allocations, and remote frees collected by
//! the interval sweeps alone: at the far end of a long full list, and into a slot with
//! blocks at hand whose owner stopped using the class.

mod common;

use std::sync::mpsc;

use slabscope::raw;
use slabscope::size_class::class_of;
use slabscope_proto::{EventKind, SlotState};

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

/// Block sizes of classes the test harness itself does not use.
const SIZES: [usize; 4] = [2300, 5000, 20_000, 28_000];

#[test]
fn per_class_accounting_is_exact_at_quiescence() {
    if !common::in_child() {
        let dir = common::shm_dir();
        let path = dir.path().to_path_buf();
        common::run_child_inspected(
            "per_class_accounting_is_exact_at_quiescence",
            dir.path(),
            &[],
            |pid, lines| check_accounting(&path.join(format!("slabscope.{pid}")), lines),
        );
        return;
    }
    // The harness's main thread is idle but was never drained: whatever its magazines
    // held at its last fold stays counted as cached, and is part of the baseline.
    raw::drain_thread();
    let base = raw::stats();
    let mut mine: Vec<Vec<usize>> = SIZES.iter().map(|_| Vec::new()).collect();
    for (k, &size) in SIZES.iter().enumerate() {
        for _ in 0..(37 * (k + 1)) {
            mine[k].push(raw::alloc(size, 16) as usize);
        }
    }
    // A third of the blocks are freed by another thread (remote frees, some sitting in
    // its magazines until its exit drain).
    let given: Vec<usize> = mine
        .iter_mut()
        .flat_map(|v| {
            let n = v.len() / 3;
            v.split_off(v.len() - n)
        })
        .collect();
    free_on_another_thread(given);
    // A second thread allocates a few blocks, drains, and stays alive and idle while
    // the parent inspects.
    let (tx, rx) = mpsc::channel::<()>();
    let (ready_tx, ready_rx) = mpsc::channel::<Vec<usize>>();
    let idle = std::thread::spawn(move || {
        let kept: Vec<usize> = SIZES
            .iter()
            .flat_map(|&size| (0..5).map(move |_| raw::alloc(size, 16) as usize))
            .collect();
        raw::drain_thread();
        ready_tx.send(kept).unwrap();
        rx.recv().unwrap();
    });
    let kept = ready_rx.recv().unwrap();
    let report: Vec<String> = SIZES
        .iter()
        .enumerate()
        .map(|(k, &size)| {
            let b = &base.classes[class_of(size)];
            format!(
                "{} {} {} {} {}",
                class_of(size),
                b.live_blocks + mine[k].len() as u64 + 5,
                b.cached_blocks,
                b.allocs - b.frees,
                mine[k].len() + 5
            )
        })
        .collect();
    raw::drain_thread();
    common::pause_for_parent(&report);
    tx.send(()).unwrap();
    idle.join().unwrap();
    for p in kept.into_iter().chain(mine.into_iter().flatten()) {
        // SAFETY: live blocks.
        unsafe { raw::free(p as *mut u8) };
    }
}

/// Reads the child's segment from this (another) process, as alloc-inspect would, and
/// checks every class the child reported: the accounting identity, the live count, the
/// slot map.
fn check_accounting(path: &std::path::Path, lines: &[String]) {
    let r = slabscope_proto::SegmentReader::open(path).expect("open the child's segment");
    let snap = r.snapshot().expect("snapshot");
    assert_eq!(lines.len(), SIZES.len());
    for line in lines {
        let mut it = line.split(' ').map(|v| v.parse::<u64>().unwrap());
        let (c, live) = (it.next().unwrap() as usize, it.next().unwrap());
        let (cached, base_net) = (it.next().unwrap(), it.next().unwrap());
        let added = it.next().unwrap();
        let cs = &snap.classes[c];
        let k = &cs.counters;
        assert_eq!(
            k.capacity_blocks,
            k.free_blocks + k.cached_blocks + cs.live,
            "class {c}: capacity = free + cached + live"
        );
        assert_eq!(
            k.cached_blocks, cached,
            "class {c}: working threads drained"
        );
        assert_eq!(cs.live, live, "class {c}: live blocks");
        assert_eq!(
            k.allocs - k.frees - base_net,
            added,
            "class {c}: allocs - frees"
        );
        assert!(
            k.remote_frees > 0,
            "class {c}: the other thread's frees were remote"
        );
        let (mut cap, mut used) = (0u64, 0u64);
        for ss in &snap.superslabs {
            for s in &ss.slots {
                if s.state != SlotState::Unused && s.class as usize == c {
                    cap += s.capacity as u64;
                    used += s.used as u64;
                }
            }
        }
        assert_eq!(cap, k.capacity_blocks, "class {c}: slot map capacity");
        assert_eq!(
            used,
            live + cached,
            "class {c}: slot map blocks out of slots"
        );
    }
    let live_threads = snap
        .threads
        .iter()
        .filter(|t| t.state == slabscope_proto::ThreadState::Live)
        .count();
    assert!(live_threads >= 2, "thread records: {:?}", snap.threads);
}

#[test]
fn empty_superslabs_are_detected_and_returned() {
    use std::sync::atomic::{AtomicU32, AtomicUsize, Ordering};
    use std::sync::Arc;
    if common::respawned(
        "empty_superslabs_are_detected_and_returned",
        &[("SLABSCOPE_EMPTY_CACHE", "0")],
    ) {
        return;
    }
    let r = common::open_own();
    // Everything the test needs is allocated before the burst, so that the burst's
    // SuperSlabs hold nothing else.
    let n = 8 * 32 * 64;
    let blocks: Arc<Vec<AtomicUsize>> = Arc::new((0..n).map(|_| AtomicUsize::new(0)).collect());
    let phase = Arc::new(AtomicU32::new(0));
    let wait = |phase: &AtomicU32, v: u32| {
        while phase.load(Ordering::Acquire) != v {
            std::thread::yield_now();
        }
    };
    // The other thread allocates the burst (it owns the burst's slots), the main thread
    // frees the upper part (remote frees), then the owner frees the lower part: 100 more
    // than half, not a multiple of the drain interval, so its last frees stay in its
    // magazine until its exit drain gives them back and retires its slots.
    let split = n / 2 - 100;
    let other = {
        let (blocks, phase) = (blocks.clone(), phase.clone());
        std::thread::spawn(move || {
            wait(&phase, 1);
            for b in blocks.iter() {
                b.store(raw::alloc(1000, 16) as usize, Ordering::Relaxed);
            }
            phase.store(2, Ordering::Release);
            wait(&phase, 3);
            for b in &blocks[..split] {
                // SAFETY: live blocks this thread allocated.
                unsafe { raw::free(b.load(Ordering::Relaxed) as *mut u8) };
            }
            phase.store(4, Ordering::Release);
            wait(&phase, 5);
            // Exits: the thread-exit drain gives its magazine back.
        })
    };
    raw::drain_thread();
    let before = raw::stats().totals;
    phase.store(1, Ordering::Release);
    wait(&phase, 2);
    let peak = raw::stats().totals;
    let new_superslabs = peak.superslabs_mapped_total - before.superslabs_mapped_total;
    assert!(
        new_superslabs >= 7,
        "burst mapped {new_superslabs} SuperSlabs"
    );
    for b in &blocks[split..] {
        // SAFETY: live blocks handed over by the other thread.
        unsafe { raw::free(b.load(Ordering::Relaxed) as *mut u8) };
    }
    raw::drain_thread();
    phase.store(3, Ordering::Release);
    wait(&phase, 4);
    let mid = raw::stats().totals;
    let mid_class = raw::stats().classes[class_of(1000)];
    assert!(
        mid_class.cached_blocks > 0,
        "blocks sit in a magazine: {mid_class:?}"
    );
    phase.store(5, Ordering::Release);
    other.join().unwrap();
    raw::drain_thread();
    let after = raw::stats().totals;
    let after_class = raw::stats().classes[class_of(1000)];
    assert!(
        after_class.cached_blocks < mid_class.cached_blocks,
        "the exit drain emptied the other thread's magazine: {after_class:?}"
    );
    let returned = after.superslabs_returned_total - before.superslabs_returned_total;
    assert!(
        after.superslabs_returned_total > mid.superslabs_returned_total,
        "the last SuperSlab is returned once the other thread drained: \
         before the drain {mid:?}, after {after:?}"
    );
    assert!(
        returned + 1 >= new_superslabs,
        "returned {returned} of {new_superslabs}"
    );
    assert!(
        after.mapped_bytes <= before.mapped_bytes + (2 << 20),
        "mapped bytes fall back: before {} peak {} after {}",
        before.mapped_bytes,
        peak.mapped_bytes,
        after.mapped_bytes
    );
    let events = common::all_events(&r);
    assert!(common::has_event(&events, |k| matches!(
        k,
        EventKind::SuperSlabEmpty { .. }
    )));
    assert!(common::has_event(&events, |k| matches!(
        k,
        EventKind::SuperSlabReturn { .. }
    )));
    assert!(common::has_event(&events, |k| matches!(
        k,
        EventKind::SlotEmpty { .. }
    )));
    assert!(common::has_event(&events, |k| matches!(
        k,
        EventKind::MagazineDrain {
            reason: slabscope_proto::DrainReason::ThreadExit,
            ..
        }
    )));
    let snap = r.snapshot().unwrap();
    assert!(snap.totals.superslabs_returned_total >= returned);
}

#[test]
fn trim_gives_back_the_memory_of_empty_slots() {
    if common::respawned("trim_gives_back_the_memory_of_empty_slots", &[]) {
        return;
    }
    let rss = common::rss_bytes;
    // 4,000 blocks of 5,000 bytes (a class the harness does not use), every byte
    // written: about 20 MiB in some 330 slots over 11 SuperSlabs. Every 100th block is
    // kept, so no SuperSlab empties and trim has no cached SuperSlab to return: what
    // it gives back is the EMPTY slots' memory.
    let size = SIZES[1];
    let c = class_of(size);
    let blocks: Vec<usize> = (0..4000)
        .map(|i| {
            let p = raw::alloc(size, 16);
            assert!(!p.is_null());
            // SAFETY: a fresh block of `size` bytes.
            unsafe { p.write_bytes(i as u8, size) };
            p as usize
        })
        .collect();
    let (kept, freed): (Vec<_>, Vec<_>) = blocks
        .into_iter()
        .enumerate()
        .partition(|(i, _)| i % 100 == 0);
    for (_, p) in freed {
        // SAFETY: live blocks of this thread.
        unsafe { raw::free(p as *mut u8) };
    }
    raw::drain_thread();
    let empty = raw::stats().classes[c].slots_empty;
    assert!(
        empty > 200,
        "{empty} EMPTY slots after freeing 99 % of the blocks"
    );
    let before = rss();
    let given = raw::trim();
    let after = rss();
    assert!(
        given >= empty * (60 << 10),
        "trim says {given} bytes for {empty} EMPTY slots"
    );
    let returned = before.saturating_sub(after);
    println!("{empty} EMPTY slots; RSS {before} -> {after} after trim");
    assert!(
        returned > empty * (48 << 10),
        "trim gave back {returned} bytes for {empty} EMPTY slots of 64 KiB"
    );
    assert_eq!(
        raw::stats().classes[c].slots_empty,
        empty,
        "slots stay EMPTY"
    );
    // The slots are carved afresh when they are used again.
    let again: Vec<usize> = (0..4000)
        .map(|i| {
            let p = raw::alloc(size, 16);
            // SAFETY: a fresh block of `size` bytes.
            unsafe { p.write_bytes(i as u8, size) };
            p as usize
        })
        .collect();
    for (i, &p) in again.iter().enumerate() {
        // SAFETY: live blocks of `size` bytes written above.
        let b = unsafe { std::slice::from_raw_parts(p as *const u8, size) };
        assert!(b.iter().all(|&x| x == i as u8));
    }
    for p in again.into_iter().chain(kept.into_iter().map(|(_, p)| p)) {
        // SAFETY: live blocks of this thread.
        unsafe { raw::free(p as *mut u8) };
    }
}

#[test]
fn a_million_16_byte_allocations_cost_less_than_17_5_mb() {
    if !common::in_child() {
        let dir = common::shm_dir();
        let out = common::run_child(
            "a_million_16_byte_allocations_cost_less_than_17_5_mb",
            dir.path(),
            &[],
        );
        let line = out
            .lines()
            .find_map(|l| l.find("rss16:").map(|at| &l[at..]));
        println!("{}", line.expect("the child reports its figures"));
        return;
    }
    let r = common::open_own();
    raw::drain_thread();
    let before = r.snapshot().unwrap().totals.superslabs;
    // A linked list through the blocks themselves: no side table to account for.
    let mut head: *mut u8 = std::ptr::null_mut();
    for _ in 0..1_000_000 {
        let p = raw::alloc(16, 16);
        assert!(!p.is_null());
        // SAFETY: fresh 16-byte block; its first word links the list.
        unsafe { (p as *mut *mut u8).write(head) };
        head = p;
    }
    raw::drain_thread();
    let snap = r.snapshot().unwrap();
    // The cost of the million: the SuperSlabs mapped for them (the process's other
    // allocations already had theirs).
    let slab_bytes = (snap.totals.superslabs - before) * (2 << 20);
    let c = &snap.classes[class_of(16)];
    println!(
        "rss16: {} SuperSlabs ({} before) = {} bytes of slab memory for 1,000,000 x 16 B \
         ({:.2} bytes per allocation); total mapped {} bytes; class 16 B live {} capacity {}",
        snap.totals.superslabs,
        before,
        slab_bytes,
        slab_bytes as f64 / 1e6,
        snap.totals.mapped_bytes,
        c.live,
        c.counters.capacity_blocks
    );
    assert!(c.live >= 1_000_000);
    assert!(slab_bytes < 17_500_000, "slab memory {slab_bytes} bytes");
    while !head.is_null() {
        // SAFETY: walking our own list of live blocks.
        let next = unsafe { (head as *mut *mut u8).read() };
        // SAFETY: live block.
        unsafe { raw::free(head) };
        head = next;
    }
}

#[test]
fn slots_show_their_owner_and_abandoned_slots_are_marked() {
    use slabscope_proto::SlotOwner;
    if common::respawned("slots_show_their_owner_and_abandoned_slots_are_marked", &[]) {
        return;
    }
    let r = common::open_own();
    // SAFETY: gettid has no preconditions.
    let me = unsafe { libc::gettid() } as u32;
    let (mine_c, theirs_c) = (class_of(SIZES[0]), class_of(SIZES[2]));
    let mine: Vec<usize> = (0..20).map(|_| raw::alloc(SIZES[0], 16) as usize).collect();
    // Another thread allocates, hands its blocks over and exits with them still out:
    // its slots are abandoned.
    let (theirs, their_tid) = std::thread::spawn(|| {
        let v: Vec<usize> = (0..10).map(|_| raw::alloc(SIZES[2], 16) as usize).collect();
        // SAFETY: gettid has no preconditions.
        (v, unsafe { libc::gettid() } as u32)
    })
    .join()
    .unwrap();
    raw::drain_thread();
    let snap = r.snapshot().unwrap();
    let owners = |c: usize| -> Vec<SlotOwner> {
        snap.superslabs
            .iter()
            .flat_map(|ss| &ss.slots)
            .filter(|s| s.state == SlotState::Active && s.class as usize == c)
            .map(|s| s.owner)
            .collect()
    };
    let m = owners(mine_c);
    assert!(
        !m.is_empty() && m.iter().all(|&o| o == SlotOwner::Thread(me)),
        "{m:?}"
    );
    let t = owners(theirs_c);
    assert!(
        !t.is_empty() && t.iter().all(|&o| o == SlotOwner::Abandoned),
        "thread {their_tid} exited: {t:?}"
    );
    // Freeing the blocks of the abandoned slot is a remote free; a drain retires it.
    for p in theirs.into_iter().chain(mine) {
        // SAFETY: live blocks.
        unsafe { raw::free(p as *mut u8) };
    }
    raw::drain_thread();
    let snap = r.snapshot().unwrap();
    assert!(
        !snap
            .superslabs
            .iter()
            .flat_map(|ss| &ss.slots)
            .any(|s| s.state == SlotState::Active && s.class as usize == theirs_c),
        "the abandoned slot was retired once every block came back"
    );
}

#[test]
fn more_abandoned_slots_than_one_pass_retires_all_go_once_their_blocks_are_back() {
    if common::respawned(
        "more_abandoned_slots_than_one_pass_retires_all_go_once_their_blocks_are_back",
        &[],
    ) {
        return;
    }
    let r = common::open_own();
    let c = class_of(SIZES[1]);
    // 40 threads, all alive at once, each take a slot of the class and exit with a
    // block still out: 40 abandoned slots, more than the 16 a pass of the class lock
    // takes off the list.
    let all = std::sync::Arc::new(std::sync::Barrier::new(40));
    let threads: Vec<_> = (0..40)
        .map(|_| {
            let all = all.clone();
            std::thread::spawn(move || {
                let p = raw::alloc(SIZES[1], 16) as usize;
                all.wait();
                p
            })
        })
        .collect();
    let theirs: Vec<usize> = threads.into_iter().map(|t| t.join().unwrap()).collect();
    // (The harness's own thread may hold a slot of the class too.)
    let abandoned = |snap: &slabscope_proto::Snapshot| {
        snap.superslabs
            .iter()
            .flat_map(|ss| &ss.slots)
            .filter(|s| {
                s.state == SlotState::Active
                    && s.class as usize == c
                    && s.owner == slabscope_proto::SlotOwner::Abandoned
            })
            .count()
    };
    raw::drain_thread();
    // The harness's thread may have adopted one of them meanwhile.
    let before = abandoned(&r.snapshot().unwrap());
    assert!(before > 16, "{before} abandoned slots");
    for p in theirs {
        // SAFETY: live blocks, given up here.
        unsafe { raw::free(p as *mut u8) };
    }
    raw::drain_thread();
    assert_eq!(
        abandoned(&r.snapshot().unwrap()),
        0,
        "every abandoned slot was retired"
    );
}

#[test]
fn a_class_the_thread_stopped_using_gives_its_last_slot_back() {
    if common::respawned(
        "a_class_the_thread_stopped_using_gives_its_last_slot_back",
        &[],
    ) {
        return;
    }
    // One slot of a class the harness does not use, all its blocks freed: the
    // thread's last slot of the class, kept idle for a while (hysteresis), then
    // retired by the interval sweeps alone (no requested drain), while the thread
    // goes on with another class only.
    std::thread::spawn(|| {
        let c = class_of(SIZES[3]);
        let v: Vec<usize> = (0..2).map(|_| raw::alloc(SIZES[3], 16) as usize).collect();
        assert_eq!(raw::stats().classes[c].slots_active, 1);
        for p in v {
            // SAFETY: live blocks of this thread.
            unsafe { raw::free(p as *mut u8) };
        }
        let rounds = sweep_until(c, 0, SIZES[0], "the idle slot");
        assert!(
            rounds >= 3,
            "an idle last slot is kept for a few sweeps ({rounds} rounds)"
        );
    })
    .join()
    .unwrap();
}

#[test]
fn a_thread_that_goes_quiet_has_folded_all_but_its_last_intervals() {
    if common::respawned(
        "a_thread_that_goes_quiet_has_folded_all_but_its_last_intervals",
        &[],
    ) {
        return;
    }
    // Two million allocations and frees as fast as the thread can (a few ms), then the
    // thread stays alive and quiet: the shared counters must already hold all but its
    // last FOLD_INTERVALS intervals (32 x 1,024 frees), whatever the clock did.
    let c = class_of(SIZES[1]);
    let before = raw::stats().classes[c].allocs;
    const N: u64 = 1 << 21;
    let (done_tx, done_rx) = mpsc::channel();
    let (exit_tx, exit_rx) = mpsc::channel::<()>();
    let t = std::thread::spawn(move || {
        for _ in 0..N {
            let p = raw::alloc(SIZES[1], 16);
            // SAFETY: a live block of this thread.
            unsafe { raw::free(std::hint::black_box(p)) };
        }
        done_tx.send(()).unwrap();
        exit_rx.recv().unwrap();
    });
    done_rx.recv().unwrap();
    let counted = raw::stats().classes[c].allocs - before;
    exit_tx.send(()).unwrap();
    t.join().unwrap();
    let bound = 33 * 1024;
    assert!(
        counted <= N && N - counted <= bound,
        "a quiet thread's allocations counted {counted} of {N}: more than {bound} unfolded"
    );
    assert_eq!(
        raw::stats().classes[c].allocs - before,
        N,
        "all counted after its exit"
    );
}

#[test]
fn remote_frees_deep_in_a_long_full_list_come_back_through_the_sweeps() {
    if common::respawned(
        "remote_frees_deep_in_a_long_full_list_come_back_through_the_sweeps",
        &[],
    ) {
        return;
    }
    // 900 blocks of 20,000 bytes (3 per slot): 300 full slots of one thread. Another
    // thread frees the first 600, whose slots sit at the far end of the full list (a
    // slot joins it at its head when it fills); the last 100 slots, nearest the head,
    // keep their blocks and have nothing to collect. The owner then runs interval
    // sweeps alone (it allocates another class only): each looks at a bounded number
    // of full slots, going round the list, so the far slots are reached, collected,
    // found idle and retired.
    std::thread::spawn(|| {
        let (size, c) = (SIZES[2], class_of(SIZES[2]));
        let blocks: Vec<usize> = (0..900).map(|_| raw::alloc(size, 16) as usize).collect();
        assert!(blocks.iter().all(|&p| p != 0));
        let (given, kept) = blocks.split_at(600);
        let given = given.to_vec();
        free_on_another_thread(given);
        let mut kept_slots: Vec<usize> = kept.iter().map(|p| p >> 16).collect();
        kept_slots.dedup();
        let want = kept_slots.len() as u64;
        sweep_until(c, want, SIZES[0], "the slots of the freed blocks");
        for &p in kept {
            // SAFETY: live blocks of this thread.
            unsafe { raw::free(p as *mut u8) };
        }
    })
    .join()
    .unwrap();
}

#[test]
fn remote_frees_into_a_slot_with_blocks_at_hand_come_back_through_the_sweeps() {
    if common::respawned(
        "remote_frees_into_a_slot_with_blocks_at_hand_come_back_through_the_sweeps",
        &[],
    ) {
        return;
    }
    // One block of a class with 28 blocks a slot: the refill carves half of them, so
    // the slot still has blocks at hand (it sits on its owner's avail list, not the
    // full one). Another thread frees the block and exits (its exit drain pushes the
    // remote free). The owner never uses the class again: only the interval sweeps can
    // collect that free, find the slot idle and retire it. Before the sweeps looked at
    // avail slots, the block stayed on the remote list and the slot, with its
    // SuperSlab, stayed ACTIVE for the thread's life.
    std::thread::spawn(|| {
        let (size, c) = (SIZES[0], class_of(SIZES[0]));
        let p = raw::alloc(size, 16) as usize;
        assert_ne!(p, 0);
        assert_eq!(raw::stats().classes[c].slots_active, 1);
        free_on_another_thread(vec![p]);
        sweep_until(c, 0, SIZES[1], "the slot");
    })
    .join()
    .unwrap();
}

/// Allocates and frees blocks of `other` bytes on the calling thread, 1024 at a time
/// (an interval of frees, so the thread's sweeps run), until class `c` has at most
/// `want` ACTIVE slots; fails after 1000 rounds, naming `what`. Returns the rounds run.
fn sweep_until(c: usize, want: u64, other: usize, what: &str) -> u32 {
    let mut rounds = 0;
    while raw::stats().classes[c].slots_active > want {
        rounds += 1;
        assert!(
            rounds <= 1000,
            "{what}: {} slots still ACTIVE (want {want}) after 1000 x 1024 frees of \
             another class",
            raw::stats().classes[c].slots_active
        );
        for _ in 0..1024 {
            let p = raw::alloc(other, 16);
            // SAFETY: a live block of this thread.
            unsafe { raw::free(p) };
        }
    }
    rounds
}

/// Frees `blocks` (live blocks the caller hands over) on a new thread, which then exits:
/// remote frees, pushed by its exit drain at the latest.
fn free_on_another_thread(blocks: Vec<usize>) {
    std::thread::spawn(move || {
        for p in blocks {
            // SAFETY: live blocks handed over by their allocating thread.
            unsafe { raw::free(p as *mut u8) };
        }
    })
    .join()
    .unwrap();
}
