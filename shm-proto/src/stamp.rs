//! Lap stamps: the sequence lock of a record that many writers reuse in turn, one lap
//! of its table after another (the event ring's records, the heap error table's).
//!
//! A record's stamp is `done(lap)` (even) once the write of `lap` finished, and odd
//! while a writer holds it. A writer of lap `n` takes the record only from a stamp below
//! `done(n)` that no writer holds, so a slow writer of an old lap never overwrites a
//! newer one; a reader copies the fields between two loads of the stamp and keeps them
//! when both equal the lap it wants.

use crate::sync::{fence, AtomicU64, Ordering};

/// The stamp of a record whose write of `lap` finished: even, larger for every later
/// lap.
pub const fn done(lap: u64) -> u64 {
    lap.wrapping_add(1) << 1
}

/// Takes the record stamped by `stamp` for the write of `lap`; `false` when a writer
/// holds it or a writer of this or a later lap finished it (the caller leaves it). On
/// `true` the stamp is odd and the caller's field stores are ordered after it; it then
/// calls [`finish`].
pub fn begin(stamp: &AtomicU64, lap: u64) -> bool {
    let mine = done(lap);
    let mut cur = stamp.load(Ordering::Relaxed);
    loop {
        if cur & 1 == 1 || cur >= mine {
            return false;
        }
        // Acquire: the previous writer of the record published with Release; without
        // it, its field stores and ours would be unordered and a late store of its
        // could land after ours, under our stamp (found by the ring's loom model).
        match stamp.compare_exchange_weak(cur, mine | 1, Ordering::Acquire, Ordering::Relaxed) {
            Ok(_) => break,
            Err(now) => cur = now,
        }
    }
    // Order the odd stamp before the field stores, as a sequence-lock writer must.
    fence(Ordering::Release);
    true
}

/// Publishes the fields written since [`begin`] as the record of `lap`.
pub fn finish(stamp: &AtomicU64, lap: u64) {
    stamp.store(done(lap), Ordering::Release);
}
