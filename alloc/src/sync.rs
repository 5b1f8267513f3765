//! The atomics the slot code ([`crate::slot`]) is written against, named in one place
//! so that the loom models (`alloc/loom`) compile the very same `slot.rs` against
//! loom's atomics; and the test hook that widens the remote free's window.

pub use core::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicUsize};

/// Spins the remote free makes before its push (`raw::set_remote_push_delay`; 0 by
/// default).
pub static REMOTE_PUSH_DELAY: AtomicU32 = AtomicU32::new(0);

/// Spins [`REMOTE_PUSH_DELAY`] times (one relaxed load when it is 0).
#[inline(always)]
pub fn remote_push_delay() {
    let spins = REMOTE_PUSH_DELAY.load(core::sync::atomic::Ordering::Relaxed);
    for _ in 0..spins {
        core::hint::spin_loop();
    }
}
