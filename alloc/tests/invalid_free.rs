//! `free` of what is not a block start of an ACTIVE slot: a SuperSlab header address,
//! an interior pointer, a block of an EMPTY slot. Each changes nothing (no byte of a
//! live block, no magazine, no slot list), is counted in `foreign_frees`, and the
//! allocations that follow never return header memory or the interior pointer. The
//! test binary runs on slabscope.

use slabscope::raw;

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

const SUPERSLAB: usize = 2 << 20;
const HEADER: usize = 8192;

#[test]
fn header_and_interior_frees_change_nothing_and_are_counted() {
    let sizes = [16usize, 48, 64, 200, 1000, 5000];
    let blocks: Vec<usize> = sizes.iter().map(|&s| raw::alloc(s, 16) as usize).collect();
    for (&p, &s) in blocks.iter().zip(&sizes) {
        // SAFETY: a fresh block of `s` bytes.
        unsafe { (p as *mut u8).write_bytes(0xa5, s) };
    }
    let base = blocks[0] & !(SUPERSLAB - 1);
    let mut bad: Vec<usize> = vec![base, base + 8, base + 256, base + 4096, base + HEADER - 16];
    for (&p, &s) in blocks.iter().zip(&sizes) {
        if s > 16 {
            bad.push(p + 16);
        }
    }
    let before = raw::stats().totals.foreign_frees;
    for &b in &bad {
        assert_eq!(
            raw::usable_size(b as *const u8),
            None,
            "{b:#x} is not a block"
        );
        // SAFETY: not a live allocation: the allocator must recognise and ignore it.
        unsafe { raw::free(b as *mut u8) };
    }
    assert_eq!(
        raw::stats().totals.foreign_frees,
        before + bad.len() as u64,
        "every refused free is counted"
    );
    for (&p, &s) in blocks.iter().zip(&sizes) {
        // SAFETY: live blocks written above.
        let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, s) };
        assert!(bytes.iter().all(|&b| b == 0xa5), "block {p:#x} changed");
    }
    // Enough allocations of every class above to empty and refill their magazines.
    let mut later = Vec::new();
    for round in 0..200 {
        for &s in &sizes {
            let q = raw::alloc(s, 16) as usize;
            assert!(q & (SUPERSLAB - 1) >= HEADER, "{q:#x} is header memory");
            assert!(!bad.contains(&q), "{q:#x} was freed as an interior pointer");
            later.push(q);
        }
        if round % 50 == 49 {
            for q in later.drain(..) {
                // SAFETY: live blocks allocated above.
                unsafe { raw::free(q as *mut u8) };
            }
        }
    }
    for p in blocks.into_iter().chain(later) {
        // SAFETY: live blocks.
        unsafe { raw::free(p as *mut u8) };
    }
    raw::drain_thread();
    let s = raw::stats();
    for c in s.classes.iter() {
        assert_eq!(
            c.capacity_blocks,
            c.free_blocks + c.cached_blocks + c.live_blocks,
            "the accounting still adds up: {c:?}"
        );
    }
    a_free_of_a_block_in_an_empty_slot_is_refused();
    another_threads_frees_take_the_same_checks();
}

/// Part of the test above: the same refused frees made by a thread with a state of its
/// own (a remote free's path, which batches block starts without the slow path's
/// lookups), then that thread's remote frees of the real blocks.
fn another_threads_frees_take_the_same_checks() {
    let sizes = [16usize, 64, 1000, 5000];
    let blocks: Vec<usize> = sizes.iter().map(|&s| raw::alloc(s, 16) as usize).collect();
    for (&p, &s) in blocks.iter().zip(&sizes) {
        // SAFETY: a fresh block of `s` bytes.
        unsafe { (p as *mut u8).write_bytes(0x5a, s) };
    }
    let base = blocks[0] & !(SUPERSLAB - 1);
    let mut bad = vec![base, base + 64, base + HEADER - 8];
    bad.extend(blocks.iter().map(|&p| p + 8));
    let before = raw::stats().totals.foreign_frees;
    let remote_before: u64 = raw::stats().classes.iter().map(|c| c.remote_frees).sum();
    let (bad2, blocks2) = (bad.clone(), blocks.clone());
    std::thread::spawn(move || {
        // A state of its own, and a block it keeps until its exit drain.
        let mine = raw::alloc(64, 16);
        for &b in &bad2 {
            // SAFETY: not a live allocation: the allocator must recognise and ignore it.
            unsafe { raw::free(b as *mut u8) };
        }
        for (&p, &s) in blocks2.iter().zip(&sizes) {
            // SAFETY: live blocks of another thread, written above.
            let bytes = unsafe { std::slice::from_raw_parts(p as *const u8, s) };
            assert!(bytes.iter().all(|&b| b == 0x5a), "block {p:#x} changed");
        }
        for &p in &blocks2 {
            // SAFETY: live blocks, given up here (remote frees).
            unsafe { raw::free(p as *mut u8) };
        }
        // SAFETY: its own live block.
        unsafe { raw::free(mine) };
    })
    .join()
    .unwrap();
    let s = raw::stats();
    assert_eq!(
        s.totals.foreign_frees,
        before + bad.len() as u64,
        "every refused remote free is counted"
    );
    let remote: u64 = s.classes.iter().map(|c| c.remote_frees).sum();
    assert!(
        remote >= remote_before + blocks.len() as u64,
        "the real blocks went back as remote frees ({remote_before} -> {remote})"
    );
    raw::drain_thread();
    for c in raw::stats().classes.iter() {
        assert_eq!(
            c.capacity_blocks,
            c.free_blocks + c.cached_blocks + c.live_blocks,
            "the accounting still adds up after the remote frees: {c:?}"
        );
    }
}

/// Part of the test above (one test function, so that no other test thread reuses the
/// EMPTY slot for another class meanwhile).
fn a_free_of_a_block_in_an_empty_slot_is_refused() {
    // A class the harness does not use (20,000 B): its slot goes EMPTY when the block
    // comes back and the thread drains.
    let p = raw::alloc(20_000, 16) as usize;
    // SAFETY: a live block.
    unsafe { raw::free(p as *mut u8) };
    raw::drain_thread();
    assert_eq!(raw::usable_size(p as *const u8), None, "the slot is EMPTY");
    let before = raw::stats().totals.foreign_frees;
    // SAFETY: not live any more: a double free the allocator must ignore.
    unsafe { raw::free(p as *mut u8) };
    assert_eq!(raw::stats().totals.foreign_frees, before + 1);
    let q = raw::alloc(20_000, 16) as usize;
    let r = raw::alloc(20_000, 16) as usize;
    assert_ne!(
        q, r,
        "the refused free did not put the block on a list twice"
    );
    // SAFETY: live blocks.
    unsafe {
        raw::free(q as *mut u8);
        raw::free(r as *mut u8);
    }
}
