//! Sampled allocation sites (`SLABSCOPE_SAMPLE`): a process reads its own segment and
//! finds its live memory attributed to sites whose estimate matches what it holds; every
//! sample ends when its block is freed (small blocks through tagged slots, large ones
//! through the large path); sampling off leaves the segment without sites.

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
    if !common::in_child() {
        let dir = common::shm_dir();
        common::run_child(
            "sampled_sites_estimate_live_bytes_and_end_on_free",
            dir.path(),
            &[("SLABSCOPE_SAMPLE", "16K")],
        );
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
    // Frees end the samples: small blocks through tagged slots, large ones directly.
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
    if !common::in_child() {
        let dir = common::shm_dir();
        common::run_child("sampling_off_publishes_no_sites", dir.path(), &[]);
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
    if !common::in_child() {
        let dir = common::shm_dir();
        common::run_child(
            "large_blocks_grown_by_realloc_end_their_samples",
            dir.path(),
            &[("SLABSCOPE_SAMPLE", "16K")],
        );
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
