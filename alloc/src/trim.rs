//! `trim`: give free memory back to the OS now (`raw::trim`, the control channel's
//! `trim`, the preload shim's `malloc_trim`).
//!
//! In order (the caller drains its own thread and retires its idle slots first, see
//! `raw::trim`): abandoned slots whose blocks are all back are retired; sampled slots kept with no
//! block out are released; then every EMPTY slot's pages are decommitted (the slots
//! stay EMPTY for their class), every cached empty SuperSlab is returned, and every
//! cached large mapping is unmapped. Other threads' magazines and idle slots are theirs:
//! they drain and retire them at their own sweeps.

use core::sync::atomic::Ordering::Relaxed;

use crate::stats::TOTALS;
use crate::{large, sampled_slots, superslab, unowned};

/// Gives free memory back to the OS; returns the bytes given back: decommitted plus
/// unmapped (decommitted pages that were never touched count too: the kernel does not
/// say which were resident).
pub fn trim() -> u64 {
    unowned::reclaim_all();
    sampled_slots::trim();
    let before = TOTALS.mapped_bytes.load(Relaxed);
    let decommitted = superslab::trim();
    large::release_all();
    let after = TOTALS.mapped_bytes.load(Relaxed);
    decommitted + before.saturating_sub(after)
}
