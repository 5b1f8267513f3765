//! The SuperSlab registry past its static head (512 SuperSlabs, 1 GiB of them): a
//! process that maps more registers every one, returns them, and a segment created
//! afterwards (which publishes every SuperSlab the registry lists) shows exactly the
//! ones still mapped.

mod common;

use std::collections::BTreeSet;

use slabscope::raw;

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

/// The largest small class: two blocks to a 64 KiB slot, so every 62 allocations take a
/// SuperSlab (its first slot is its header). Untouched blocks cost no memory.
const BLOCK: usize = 32 << 10;
const SUPERSLAB: u64 = 2 << 20;

#[test]
fn superslabs_past_the_static_head_are_registered_returned_and_published() {
    if common::respawned(
        "superslabs_past_the_static_head_are_registered_returned_and_published",
        &[("SLABSCOPE_PUBLISH_AFTER_MS", "2000")],
    ) {
        return;
    }
    // The delay counts from the process's first allocation, before this.
    let start = std::time::Instant::now();
    let before = raw::stats().totals;
    let mut blocks = Vec::with_capacity(700 * 62);
    while raw::stats().totals.superslabs < before.superslabs + 700 {
        let p = raw::alloc(BLOCK, 16);
        assert!(!p.is_null());
        blocks.push(p as usize);
    }
    let peak = raw::stats().totals;
    assert!(peak.superslabs >= 700, "{peak:?}");

    // Free the first 400 SuperSlabs' blocks: they lie in the registry's head, and their
    // return moves entries of its tail into their places.
    let split = blocks
        .iter()
        .position(|&b| {
            let first = blocks[0] as u64 / SUPERSLAB;
            (b as u64 / SUPERSLAB).abs_diff(first) >= 400
        })
        .unwrap_or(blocks.len() / 2);
    for &b in &blocks[..split] {
        // SAFETY: a live block this thread allocated.
        unsafe { raw::free(b as *mut u8) };
    }
    raw::trim();
    let after = raw::stats().totals;
    let returned = after.superslabs_returned_total - before.superslabs_returned_total;
    assert!(
        returned >= 300,
        "returned {returned} SuperSlabs: before {before:?}, after {after:?}"
    );
    assert_eq!(
        after.superslabs,
        peak.superslabs - returned,
        "mapped = mapped at the peak - returned"
    );

    // Past the publishing delay, a slow path creates the segment and publishes every
    // SuperSlab the registry lists (all of them after the moves above); the records
    // beyond the segment's first few are claimed again as later slow paths grow its
    // table.
    assert!(
        !common::own_segment().exists(),
        "the segment was made before the registry walk this test is about ({:?} in)",
        start.elapsed()
    );
    std::thread::sleep(std::time::Duration::from_millis(2100).saturating_sub(start.elapsed()));
    let r = common::open_own();
    let mut snap = r.snapshot().unwrap();
    for _ in 0..50 {
        if snap.superslabs.len() as u64 == raw::stats().totals.superslabs {
            break;
        }
        raw::drain_thread();
        drop(std::hint::black_box(vec![0u8; 300_000]));
        snap = r.snapshot().unwrap();
    }
    let published: BTreeSet<u64> = snap.superslabs.iter().map(|s| s.base).collect();
    assert_eq!(
        published.len(),
        snap.superslabs.len(),
        "no SuperSlab published twice"
    );
    assert_eq!(snap.overflow.superslabs, 0, "no SuperSlab record refused");
    assert_eq!(
        published.len() as u64,
        raw::stats().totals.superslabs,
        "every mapped SuperSlab published, and no returned one"
    );
    for &b in &blocks[split..] {
        let base = b as u64 & !(SUPERSLAB - 1);
        assert!(
            published.contains(&base),
            "live block {b:#x} in a published SuperSlab"
        );
    }
    for &b in &blocks[split..] {
        // SAFETY: a live block this thread allocated.
        unsafe { raw::free(b as *mut u8) };
    }
    raw::trim();
    assert!(raw::stats().totals.superslabs <= before.superslabs + 1);
}
