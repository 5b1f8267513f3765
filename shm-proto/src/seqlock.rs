//! Per-record sequence locks for multi-field records (thread and SuperSlab records).
//!
//! One writer at a time per record (the owning thread, or the allocator's SuperSlab
//! lock holder); readers in other processes retry until they see a stable even value.
//! Every field is an atomic, so a torn read is detected, never undefined behaviour.

use crate::sync::{fence, AtomicU64, Ordering};

/// Runs `write` as one update of the record guarded by `seq`.
///
/// The caller guarantees that no other writer updates the same record concurrently.
pub fn write<R>(seq: &AtomicU64, write: impl FnOnce() -> R) -> R {
    let s = seq.load(Ordering::Relaxed);
    debug_assert!(s & 1 == 0, "sequence lock entered twice");
    seq.store(s.wrapping_add(1), Ordering::Relaxed);
    // Order the odd value before the field stores.
    fence(Ordering::Release);
    let r = write();
    seq.store(s.wrapping_add(2), Ordering::Release);
    r
}

/// Reads a consistent copy of the record guarded by `seq` with `read`, retrying up to
/// `attempts` times. `None` when the writer kept it busy (or it was never written:
/// `seq == 0`); callers report that as "record busy", never as data.
pub fn read<T>(seq: &AtomicU64, attempts: u32, read: impl Fn() -> T) -> Option<T> {
    for _ in 0..attempts {
        let s1 = seq.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        if s1 == 0 {
            return None;
        }
        if s1 & 1 == 1 {
            core::hint::spin_loop();
            continue;
        }
        let v = read();
        fence(Ordering::Acquire);
        if seq.load(Ordering::Relaxed) == s1 {
            return Some(v);
        }
    }
    None
}
