//! The allocator's `slot.rs`, compiled against loom's atomics, for the models in
//! `tests/slot_lifecycle.rs`. Everything here exists only under `--cfg loom`:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p slabscope-loom --release
//! ```
//!
//! `slot.rs` names its atomics through `crate::sync` and its one abort through
//! `crate::pal::fatal`; this crate supplies both, so the models run the allocator's
//! code itself, not a copy of it.
#![cfg(loom)]

/// What `slot.rs` takes from `crate::sync`: loom's atomics, and no delay hook.
pub mod sync {
    pub use loom::sync::atomic::{AtomicU16, AtomicU32, AtomicU64, AtomicUsize};

    /// The allocator's test hook; nothing to widen under loom, which tries every
    /// interleaving.
    pub fn remote_push_delay() {}
}

/// What `slot.rs` takes from `crate::pal`.
pub mod pal {
    /// The allocator aborts; a model fails.
    pub fn fatal(msg: &[u8]) -> ! {
        panic!("fatal: {}", String::from_utf8_lossy(msg))
    }
}

#[path = "../../src/slot.rs"]
pub mod slot;
