//! Frees of what is not a live block or allocation of ours: a pointer another
//! allocator handed out (under `LD_PRELOAD`: memory allocated before the library took
//! over, or through `__libc_malloc`), a SuperSlab header address, an interior pointer,
//! a block of a slot that holds none, a block that is free already. Such a free changes
//! nothing: the pointer is never written to. It is counted in `foreign_frees` and the
//! first one of each kind is reported on stderr, from the free slow path only. The kinds
//! told apart: a pointer inside a SuperSlab that is not a live block, one inside a live
//! large allocation that is not its start, one outside both (another allocator's
//! memory, or a large allocation freed already: the address alone cannot tell which),
//! and a block of a sampled slot that is free already.

use core::sync::atomic::{AtomicBool, Ordering::Relaxed};

use crate::stats::TOTALS;
use crate::{large, pagemap, pal};

static OUTSIDE_REPORTED: AtomicBool = AtomicBool::new(false);
static INSIDE_REPORTED: AtomicBool = AtomicBool::new(false);
static INSIDE_LARGE_REPORTED: AtomicBool = AtomicBool::new(false);
static DOUBLE_REPORTED: AtomicBool = AtomicBool::new(false);

/// A free of a pointer that is not a live block or allocation of ours.
#[cold]
pub fn foreign_free(p: *mut u8) {
    TOTALS.foreign_frees.fetch_add(1, Relaxed);
    crate::publish::foreign_free();
    if pagemap::meta_acquire(p as usize) != 0 {
        report_once(
            &INSIDE_REPORTED,
            p,
            b") inside a SuperSlab, not a live block (a header, an interior pointer or a block freed already): ignored (reported once; counted in foreign_frees)",
        );
        return;
    }
    // Telling the last two kinds apart walks the large registry: only while a report of
    // either is still to come.
    if OUTSIDE_REPORTED.load(Relaxed) && INSIDE_LARGE_REPORTED.load(Relaxed) {
        return;
    }
    if large::holds_inside(p) {
        report_once(
            &INSIDE_LARGE_REPORTED,
            p,
            b") inside a large allocation, not its start: ignored (reported once; counted in foreign_frees)",
        );
    } else {
        report_once(
            &OUTSIDE_REPORTED,
            p,
            b") of memory slabscope did not allocate, or a large allocation freed already: ignored (reported once; counted in foreign_frees)",
        );
    }
}

/// A free of a block whose slot has no block out (it was freed already).
#[cold]
pub fn double_free(p: *mut u8) {
    TOTALS.foreign_frees.fetch_add(1, Relaxed);
    crate::publish::foreign_free();
    report_once(
        &DOUBLE_REPORTED,
        p,
        b") of a block that is already free: ignored (reported once; counted in foreign_frees)",
    );
}

/// Writes `slabscope: free(<p><what>` on stderr the first time `flag` is claimed (one
/// line, no allocation, `errno` kept).
fn report_once(flag: &AtomicBool, p: *mut u8, what: &[u8]) {
    if flag.load(Relaxed) || flag.swap(true, Relaxed) {
        return;
    }
    let mut buf = [0u8; 18];
    let saved = pal::errno();
    pal::write_stderr(&[
        b"slabscope: free(",
        pal::fmt_hex(p as usize, &mut buf),
        what,
    ]);
    pal::set_errno(saved);
}
