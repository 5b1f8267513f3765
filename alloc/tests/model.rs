//! Randomized alloc/realloc/free against a model, every size and alignment, cross-thread
//! frees, thread exit, contention, foreign frees. The test harness itself runs on
//! slabscope.

mod common;

use std::alloc::{alloc, dealloc, realloc, Layout};
use std::collections::BTreeMap;
use std::sync::mpsc;

use common::Rng;
use slabscope::raw;

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

const DEBUG: bool = cfg!(debug_assertions);

struct Block {
    ptr: *mut u8,
    size: usize,
    align: usize,
    fill: u8,
}

fn pattern(b: &Block, i: usize) -> u8 {
    b.fill.wrapping_add((i * 7) as u8)
}

fn write_all(b: &Block) {
    for i in 0..b.size {
        // SAFETY: the block is live and `size` bytes long.
        unsafe { b.ptr.add(i).write(pattern(b, i)) };
    }
}

fn check(b: &Block, upto: usize) {
    for i in 0..upto.min(b.size) {
        // SAFETY: the block is live and at least `upto` bytes long.
        let v = unsafe { b.ptr.add(i).read() };
        assert_eq!(v, pattern(b, i), "byte {i} of block of size {}", b.size);
    }
}

fn random_size(rng: &mut Rng) -> usize {
    match rng.below(100) {
        0..=59 => 1 + rng.below(256) as usize,
        60..=89 => 1 + rng.below(8192) as usize,
        90..=97 => 1 + rng.below(40_000) as usize,
        _ => 1 + rng.below(300_000) as usize,
    }
}

fn no_overlap(live: &BTreeMap<usize, usize>, start: usize, len: usize) {
    if let Some((&s, &l)) = live.range(..=start).next_back() {
        assert!(s + l <= start, "block {start:#x} overlaps {s:#x}+{l}");
    }
    if let Some((&s, _)) = live.range(start..).next() {
        assert!(start + len <= s, "block {start:#x}+{len} overlaps {s:#x}");
    }
}

fn model_run(seed: u64, ops: usize) {
    let mut rng = Rng(seed);
    let mut blocks: Vec<Block> = Vec::with_capacity(4096);
    let mut ranges: BTreeMap<usize, usize> = BTreeMap::new();
    for _ in 0..ops {
        let op = rng.below(10);
        if op < 5 || blocks.is_empty() {
            let size = random_size(&mut rng);
            let align = 1usize << rng.below(13);
            let layout = Layout::from_size_align(size, align).unwrap();
            // SAFETY: non-zero size.
            let ptr = unsafe { alloc(layout) };
            assert!(!ptr.is_null());
            assert_eq!(ptr as usize % align, 0, "alignment {align} size {size}");
            assert!(raw::usable_size(ptr).unwrap() >= size);
            no_overlap(&ranges, ptr as usize, size);
            ranges.insert(ptr as usize, size);
            let b = Block {
                ptr,
                size,
                align,
                fill: rng.next() as u8,
            };
            write_all(&b);
            blocks.push(b);
        } else if op < 7 {
            let i = rng.below(blocks.len() as u64) as usize;
            let b = &mut blocks[i];
            check(b, b.size);
            ranges.remove(&(b.ptr as usize));
            let new_size = if rng.below(2) == 0 {
                b.size + 1 + rng.below(b.size as u64 * 2 + 16) as usize
            } else {
                1 + rng.below(b.size as u64) as usize
            };
            let layout = Layout::from_size_align(b.size, b.align).unwrap();
            // SAFETY: the block was allocated with `layout`; new_size > 0.
            let q = unsafe { realloc(b.ptr, layout, new_size) };
            assert!(!q.is_null());
            assert_eq!(q as usize % b.align, 0);
            let kept = b.size.min(new_size);
            b.ptr = q;
            b.size = new_size;
            // The old prefix must be preserved: check it, then refill the whole block.
            check(
                &Block {
                    ptr: q,
                    size: kept,
                    align: b.align,
                    fill: b.fill,
                },
                kept,
            );
            no_overlap(&ranges, q as usize, new_size);
            ranges.insert(q as usize, new_size);
            write_all(b);
        } else {
            let i = rng.below(blocks.len() as u64) as usize;
            let b = blocks.swap_remove(i);
            check(&b, b.size);
            ranges.remove(&(b.ptr as usize));
            // SAFETY: live block allocated with this layout.
            unsafe { dealloc(b.ptr, Layout::from_size_align(b.size, b.align).unwrap()) };
        }
    }
    for b in blocks {
        check(&b, b.size);
        // SAFETY: live block allocated with this layout.
        unsafe { dealloc(b.ptr, Layout::from_size_align(b.size, b.align).unwrap()) };
    }
}

#[test]
fn randomized_sequences_match_the_model() {
    let ops = if DEBUG { 6_000 } else { 200_000 };
    for seed in 1..=4 {
        model_run(seed * 0x9E37_79B9, ops);
    }
}

#[test]
fn randomized_sequences_on_four_threads_at_once() {
    let ops = if DEBUG { 4_000 } else { 100_000 };
    let hs: Vec<_> = (0..4)
        .map(|t| std::thread::spawn(move || model_run(0xABCD + t, ops)))
        .collect();
    for h in hs {
        h.join().unwrap();
    }
}

#[test]
fn randomized_sequences_with_sampling_on() {
    if !common::in_child() {
        // One sample per 4 KiB on average: sampled blocks (served from sampled slots and
        // freed through the slow path) are mixed densely among the ordinary ones.
        let dir = common::shm_dir();
        common::run_child(
            "randomized_sequences_with_sampling_on",
            dir.path(),
            &[("SLABSCOPE_SAMPLE", "4K")],
        );
        return;
    }
    let ops = if DEBUG { 4_000 } else { 100_000 };
    model_run(0x5A5A, ops);
    let hs: Vec<_> = (0..4)
        .map(|t| std::thread::spawn(move || model_run(0x5EED + t, ops)))
        .collect();
    for h in hs {
        h.join().unwrap();
    }
    cross_thread_frees();
}

#[test]
fn every_size_to_64k_at_every_alignment_to_4096() {
    let mut held = Vec::with_capacity(64);
    let mut align = 1;
    while align <= 4096 {
        for size in 1..=65536usize {
            let ptr = raw::alloc(size, align);
            assert!(!ptr.is_null(), "size {size} align {align}");
            assert_eq!(ptr as usize % align, 0, "size {size} align {align}");
            assert!(
                (ptr as usize).is_multiple_of(16),
                "size {size}: blocks are 16-aligned"
            );
            let usable = raw::usable_size(ptr).expect("ours");
            assert!(usable >= size, "size {size} usable {usable}");
            // SAFETY: fresh block of `size` bytes.
            unsafe {
                ptr.write(0xA5);
                ptr.add(size - 1).write(0x5A);
            }
            held.push(ptr);
            if held.len() == 64 {
                for p in held.drain(..) {
                    // SAFETY: live blocks from raw::alloc.
                    unsafe { raw::free(p) };
                }
            }
        }
        align *= 2;
    }
    for p in held {
        // SAFETY: live blocks from raw::alloc.
        unsafe { raw::free(p) };
    }
}

#[test]
fn alignments_beyond_the_slab_path_and_zeroed_memory() {
    for align in [8192usize, 65536, 1 << 21] {
        for size in [1usize, 100, 5000, 70_000] {
            let p = raw::alloc_zeroed(size, align);
            assert!(!p.is_null());
            assert_eq!(p as usize % align, 0);
            // SAFETY: fresh zeroed block of `size` bytes.
            let s = unsafe { std::slice::from_raw_parts(p, size) };
            assert!(s.iter().all(|&b| b == 0));
            // SAFETY: live block.
            unsafe { raw::free(p) };
        }
    }
    // Recycled blocks come back zeroed from alloc_zeroed too.
    for _ in 0..1000 {
        let p = raw::alloc(48, 16);
        // SAFETY: fresh block of 48 bytes.
        unsafe { p.write_bytes(0xff, 48) };
        // SAFETY: live block.
        unsafe { raw::free(p) };
        let q = raw::alloc_zeroed(48, 16);
        // SAFETY: fresh zeroed block of 48 bytes.
        assert!(unsafe { std::slice::from_raw_parts(q, 48) }
            .iter()
            .all(|&b| b == 0));
        // SAFETY: live block.
        unsafe { raw::free(q) };
    }
    assert!(raw::alloc(16, 3).is_null(), "non power-of-two alignment");
}

#[test]
fn realloc_grows_in_place_within_the_block() {
    let p = raw::alloc(100, 16);
    let usable = raw::usable_size(p).unwrap();
    assert_eq!(usable, 112);
    // SAFETY: live block; the new size fits the same block.
    let q = unsafe { raw::realloc(p, 112, 16) };
    assert_eq!(p, q, "grows in place within the class's block");
    // SAFETY: live block.
    let r = unsafe { raw::realloc(q, 5000, 16) };
    assert_ne!(r, q);
    // Large blocks grow with mremap and keep their contents.
    let big = raw::alloc(100_000, 16);
    // SAFETY: fresh block of 100_000 bytes.
    unsafe { big.write_bytes(7, 100_000) };
    // SAFETY: live block.
    let bigger = unsafe { raw::realloc(big, 3_000_000, 16) };
    // SAFETY: the first 100_000 bytes were kept.
    assert!(unsafe { std::slice::from_raw_parts(bigger, 100_000) }
        .iter()
        .all(|&b| b == 7));
    // SAFETY: live blocks.
    unsafe {
        raw::free(bigger);
        raw::free(r);
    }
}

#[test]
fn foreign_pointers_are_recognised_and_ignored() {
    let before = raw::stats().totals.foreign_frees;
    // SAFETY: glibc's own malloc, bypassing the global allocator.
    let foreign = unsafe { libc_malloc(64) };
    assert!(!foreign.is_null());
    assert!(!raw::owns(foreign));
    assert_eq!(raw::usable_size(foreign), None);
    let mut on_stack = [0u8; 32];
    // SAFETY: foreign pointers are detected and ignored, never written.
    unsafe {
        foreign.write_bytes(0x11, 64);
        raw::free(foreign);
        raw::free(on_stack.as_mut_ptr());
        raw::free(std::ptr::null_mut());
    }
    // SAFETY: the foreign block is untouched and still glibc's.
    assert!(unsafe { std::slice::from_raw_parts(foreign, 64) }
        .iter()
        .all(|&b| b == 0x11));
    assert_eq!(on_stack, [0u8; 32]);
    assert_eq!(raw::stats().totals.foreign_frees, before + 2);
    // `resize` says what is not ours, without counting it or touching it.
    // SAFETY: foreign pointers are detected and left alone.
    unsafe {
        assert_eq!(raw::resize(foreign, 200, 0), raw::Resized::NotOurs);
        assert_eq!(
            raw::resize(on_stack.as_mut_ptr(), 8, 0),
            raw::Resized::NotOurs
        );
    }
    assert_eq!(raw::stats().totals.foreign_frees, before + 2);
    // SAFETY: give it back to glibc.
    unsafe { libc_free(foreign) };
    let mine = raw::alloc(10, 8);
    assert!(raw::owns(mine));
    // SAFETY: a live block of 10 bytes, written then resized (in place, then moved).
    unsafe {
        mine.write_bytes(0x22, 10);
        assert_eq!(raw::resize(mine, 12, 0), raw::Resized::To(mine));
        let raw::Resized::To(moved) = raw::resize(mine, 5000, 0) else {
            panic!("a live block is ours");
        };
        assert!(!moved.is_null() && moved != mine);
        assert!(std::slice::from_raw_parts(moved, 10)
            .iter()
            .all(|&b| b == 0x22));
        raw::free(moved);
    }
}

extern "C" {
    #[link_name = "malloc"]
    fn libc_malloc(n: usize) -> *mut u8;
    #[link_name = "free"]
    fn libc_free(p: *mut u8);
}

#[test]
fn cross_thread_frees() {
    let rounds = if DEBUG { 20 } else { 200 };
    let (tx, rx) = mpsc::sync_channel::<Vec<(usize, usize, u8)>>(4);
    let consumer = std::thread::spawn(move || {
        let mut n = 0usize;
        for batch in rx {
            for (p, size, fill) in batch {
                let p = p as *mut u8;
                // SAFETY: the producer handed over a live block of `size` bytes.
                let s = unsafe { std::slice::from_raw_parts(p, size) };
                assert!(s.iter().all(|&b| b == fill));
                // SAFETY: the block is ours to free now.
                unsafe { raw::free(p) };
                n += 1;
            }
        }
        n
    });
    let mut rng = Rng(77);
    let mut sent = 0;
    for _ in 0..rounds {
        let mut batch = Vec::with_capacity(500);
        for _ in 0..500 {
            let size = random_size(&mut rng).min(50_000);
            let fill = rng.next() as u8;
            let p = raw::alloc(size, 16);
            // SAFETY: fresh block of `size` bytes.
            unsafe { p.write_bytes(fill, size) };
            batch.push((p as usize, size, fill));
        }
        sent += batch.len();
        tx.send(batch).unwrap();
    }
    drop(tx);
    assert_eq!(consumer.join().unwrap(), sent);
    let remote: u64 = raw::stats().classes.iter().map(|c| c.remote_frees).sum();
    assert!(remote > 0, "frees from the consumer thread count as remote");
}

#[test]
fn thread_exit_drains_its_magazines() {
    if !common::in_child() {
        // Alone in its own process, so no other test touches the class.
        let dir = common::shm_dir();
        common::run_child("thread_exit_drains_its_magazines", dir.path(), &[]);
        return;
    }
    // 12 KiB blocks: a class the harness does not use.
    let class = slabscope::size_class::class_of(12_000);
    for _ in 0..if DEBUG { 20 } else { 100 } {
        std::thread::spawn(|| {
            let v: Vec<_> = (0..10).map(|_| raw::alloc(12_000, 16)).collect();
            for p in v {
                // SAFETY: live blocks.
                unsafe { raw::free(p) };
            }
            // Exits with blocks in its magazine.
        })
        .join()
        .unwrap();
    }
    let c = raw::stats().classes[class];
    assert_eq!(c.cached_blocks, 0, "exited threads hold nothing: {c:?}");
    assert_eq!(c.live_blocks, 0, "{c:?}");
    assert_eq!(c.allocs, c.frees);
}

#[test]
fn four_threads_high_contention_twenty_runs() {
    let per_thread = if DEBUG { 20_000 } else { 200_000 };
    for run in 0..20u64 {
        let (txs, rxs): (Vec<_>, Vec<_>) = (0..4).map(|_| mpsc::channel::<usize>()).unzip();
        let mut rxs: Vec<Option<mpsc::Receiver<usize>>> = rxs.into_iter().map(Some).collect();
        let hs: Vec<_> = (0..4)
            .map(|t| {
                let rx = rxs[t].take().unwrap();
                let tx = txs[(t + 1) % 4].clone();
                std::thread::spawn(move || {
                    let mut rng = Rng(run * 31 + t as u64 + 1);
                    let mut window: Vec<*mut u8> = Vec::with_capacity(512);
                    for i in 0..per_thread {
                        let size = 8 + rng.below(1024) as usize;
                        let p = raw::alloc(size, 16);
                        assert!(!p.is_null(), "run {run}: allocation failed");
                        // SAFETY: fresh block.
                        unsafe { p.write(t as u8) };
                        if window.len() < 512 {
                            window.push(p);
                        } else {
                            let j = rng.below(512) as usize;
                            let old = std::mem::replace(&mut window[j], p);
                            if i % 3 == 0 {
                                let _ = tx.send(old as usize);
                            } else {
                                // SAFETY: live block of this thread.
                                unsafe { raw::free(old) };
                            }
                        }
                        while let Ok(q) = rx.try_recv() {
                            // SAFETY: a live block handed over by the neighbour.
                            unsafe { raw::free(q as *mut u8) };
                        }
                    }
                    for p in window {
                        // SAFETY: live blocks.
                        unsafe { raw::free(p) };
                    }
                    drop(tx);
                    rx
                })
            })
            .collect();
        drop(txs);
        let rxs: Vec<_> = hs.into_iter().map(|h| h.join().unwrap()).collect();
        for rx in rxs {
            for q in rx.try_iter() {
                // SAFETY: blocks still in flight when the threads finished.
                unsafe { raw::free(q as *mut u8) };
            }
        }
    }
}

#[test]
fn zeroed_large_allocations_are_not_touched() {
    if common::respawned("zeroed_large_allocations_are_not_touched", &[]) {
        return;
    }
    let rss = common::rss_bytes;
    let before = rss();
    let v = vec![0u8; 512 << 20];
    let after = rss();
    assert!(
        after < before + (64 << 20),
        "a zeroed 512 MiB vector is not written: rss {before} -> {after}"
    );
    assert!(v[12345] == 0 && v[(512 << 20) - 1] == 0);
}
