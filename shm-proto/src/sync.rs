//! Atomics used by the segment layout, swapped for loom's under `--cfg loom`.
//!
//! Modelled with loom (`tests/loom.rs`): the ring protocol, the sequence lock and the
//! growth of a sparse segment (`writer/backing.rs`); everything else uses the std
//! types, which loom's types mirror method for method.

#[cfg(loom)]
pub use loom::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};

#[cfg(not(loom))]
pub use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
