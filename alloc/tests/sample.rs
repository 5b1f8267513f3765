//! Sampled allocation sites (`SLABSCOPE_SAMPLE`): a process reads its own segment and
//! finds its live memory attributed to sites whose estimate matches what it holds; every
//! sample ends when its block is freed (small blocks through their sampled slots, large
//! ones through the large path); sampled small blocks never pass through a magazine;
//! sampling off leaves the segment without sites.

mod common;

use slabscope_proto::{SampleSiteSnapshot, SegmentReader, Snapshot};

#[global_allocator]
static A: slabscope::SlabScope = slabscope::SlabScope::new();

fn own_snapshot() -> Snapshot {
    let dir = std::env::var("SLABSCOPE_SHM_DIR").expect("shm dir");
    let path = std::path::Path::new(&dir).join(format!("slabscope.{}", std::process::id()));
    SegmentReader::open(&path)
        .expect("own segment")
        .snapshot()
        .expect("snapshot")
}

fn live(sites: &[SampleSiteSnapshot]) -> (u64, u64) {
    sites.iter().fold((0, 0), |(b, n), s| {
        (b + s.live_estimated_bytes, n + s.live_samples)
    })
}

/// Holds `n` blocks of `size` bytes (one call stack for all of them).
#[inline(never)]
fn hold(n: usize, size: usize) -> Vec<Vec<u8>> {
    (0..n).map(|i| vec![i as u8; size]).collect()
}

#[test]
fn sampled_sites_estimate_live_bytes_and_end_on_free() {
    if common::respawned(
        "sampled_sites_estimate_live_bytes_and_end_on_free",
        &[("SLABSCOPE_SAMPLE", "16K")],
    ) {
        return;
    }
    // 8 MiB in 1 KiB blocks, plus 4 large blocks of 1 MiB, held; churn around them.
    let small = hold(8192, 1024);
    let large = hold(4, 1 << 20);
    for round in 0..200 {
        let churn: Vec<Vec<u8>> = (0..64).map(|i| vec![round as u8; 64 + i * 16]).collect();
        drop(churn);
    }
    let snap = own_snapshot();
    assert_eq!(snap.sample_interval_bytes, 16 << 10);
    assert!(!snap.sites.is_empty(), "no site recorded");
    let (estimate, samples) = live(&snap.sites);
    let held = (8192 * 1024 + 4 * (1 << 20)) as u64;
    println!("held {held} estimated {estimate} in {samples} samples");
    assert!(
        estimate > held / 2 && estimate < held * 2,
        "estimate {estimate} far from the {held} bytes held"
    );
    assert!(snap.sites.iter().all(|s| !s.frames.is_empty()));
    assert!(snap
        .sites
        .iter()
        .all(|s| s.total_samples >= s.live_samples && s.total_bytes >= s.live_bytes));
    // Frees end the samples: small blocks through their sampled slots, large ones directly.
    drop(small);
    drop(large);
    let snap = own_snapshot();
    let (estimate, samples) = live(&snap.sites);
    assert!(
        estimate < held / 16,
        "{estimate} bytes in {samples} samples still live after freeing everything"
    );
    // The allocator still works normally in slots that held samples.
    let again = hold(4096, 1024);
    assert!(again.iter().enumerate().all(|(i, b)| b[1023] == i as u8));
}

#[test]
fn sampling_off_publishes_no_sites() {
    if common::respawned("sampling_off_publishes_no_sites", &[]) {
        return;
    }
    let kept = hold(2048, 1024);
    let snap = own_snapshot();
    assert!(snap.sites.is_empty());
    assert_eq!(snap.sample_interval_bytes, 0);
    drop(kept);
}

#[test]
fn large_blocks_grown_by_realloc_end_their_samples() {
    if common::respawned(
        "large_blocks_grown_by_realloc_end_their_samples",
        &[("SLABSCOPE_SAMPLE", "16K")],
    ) {
        return;
    }
    // Every 1 MiB block exhausts a 16 KiB countdown: all of them are sampled.
    let mut blocks = hold(32, 1 << 20);
    let (before, _) = live(&own_snapshot().sites);
    assert!(
        before >= 32 << 20,
        "{before} bytes estimated for 32 MiB held"
    );
    // Growing them remaps the mappings (moved or not), then they are freed.
    for b in &mut blocks {
        b.reserve_exact(3 << 20);
    }
    drop(blocks);
    let (after, samples) = live(&own_snapshot().sites);
    assert!(
        after < 4 << 20,
        "{after} bytes in {samples} samples still live after growing and freeing"
    );
}

/// Blocks of a class the test harness itself does not use.
const SAMPLED_SIZE: usize = 2300;

/// The site whose live sampled bytes are exactly `bytes` (the blocks a test holds).
fn site_holding(snap: &Snapshot, bytes: u64) -> Option<&SampleSiteSnapshot> {
    snap.sites.iter().find(|s| s.live_bytes == bytes)
}

#[test]
fn sampled_blocks_come_from_and_go_back_to_sampled_slots() {
    if common::respawned(
        "sampled_blocks_come_from_and_go_back_to_sampled_slots",
        &[("SLABSCOPE_SAMPLE", "1")],
    ) {
        return;
    }
    let c = slabscope::size_class::class_of(SAMPLED_SIZE);
    slabscope::raw::drain_thread();
    let base = slabscope::raw::stats().classes[c];
    // Every allocation exhausts a 1-byte countdown: each of these is sampled.
    for i in 0..10_000usize {
        let p = slabscope::raw::alloc(SAMPLED_SIZE, 16);
        assert!(!p.is_null());
        // SAFETY: a fresh block of SAMPLED_SIZE bytes, freed right after.
        unsafe {
            p.write_bytes(i as u8, SAMPLED_SIZE);
            slabscope::raw::free(p);
        }
    }
    // 300 held, then freed by another thread.
    let held: Vec<usize> = (0..300)
        .map(|_| slabscope::raw::alloc(SAMPLED_SIZE, 16) as usize)
        .collect();
    let snap = own_snapshot();
    let held_bytes = 300 * SAMPLED_SIZE as u64;
    let site = site_holding(&snap, held_bytes).expect("a site holding the 300 blocks");
    assert_eq!(site.live_samples, 300);
    let held_site = site.index;
    // The loop's site: 10,000 samples taken, none live.
    let churn = snap.sites.iter().max_by_key(|s| s.total_samples).unwrap();
    assert!(
        churn.total_samples >= 10_000,
        "{} samples taken",
        churn.total_samples
    );
    assert_eq!(churn.live_samples, 0, "samples of freed blocks still live");
    std::thread::spawn(move || {
        for p in held {
            // SAFETY: live blocks handed over by the main thread.
            unsafe { slabscope::raw::free(p as *mut u8) };
        }
    })
    .join()
    .unwrap();
    slabscope::raw::drain_thread();
    let now = slabscope::raw::stats().classes[c];
    assert_eq!(now.allocs - base.allocs, 10_300);
    assert_eq!(now.frees - base.frees, 10_300);
    // No sampled block went into a magazine, on either thread, and none is out.
    assert_eq!(now.cached_blocks, base.cached_blocks);
    assert_eq!(now.live_blocks, base.live_blocks);
    assert_eq!(
        now.drains, base.drains,
        "a sampled free went through a magazine"
    );
    let snap = own_snapshot();
    let site = snap.sites.iter().find(|s| s.index == held_site).unwrap();
    assert_eq!(
        site.live_samples, 0,
        "samples freed by another thread still live"
    );
    assert_eq!(site.total_samples, 300);
    // The class keeps one sampled slot (no block out) while sampling is on; trim
    // releases it.
    assert_eq!(now.slots_active, base.slots_active + 1);
    slabscope::raw::trim();
    let trimmed = slabscope::raw::stats().classes[c];
    assert_eq!(trimmed.slots_active, base.slots_active);
}
