//! The allocator's `slot.rs`, compiled against loom's atomics, for the models in
//! `tests/slot_lifecycle.rs`. Everything here exists only under `--cfg loom`:
//!
//! ```sh
//! RUSTFLAGS="--cfg loom" CARGO_TARGET_DIR=target/loom cargo test -p slabscope-loom --release
//! ```
//!
//! `slot.rs` names its atomics through `crate::sync`, its one abort through
//! `crate::pal::fatal` and the class constants through `crate::size_class`; this crate
//! supplies the first two and compiles the allocator's `size_class.rs` as the third, so
//! the models run the allocator's code itself, not a copy of it.
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

#[path = "../../src/size_class.rs"]
pub mod size_class;

#[path = "../../src/slot.rs"]
pub mod slot;
