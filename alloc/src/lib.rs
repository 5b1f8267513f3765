//! slabscope: a SuperSlab allocator that publishes its live state.
//!
//! ```no_run
//! #[global_allocator]
//! static A: slabscope::SlabScope = slabscope::SlabScope::new();
//! # fn main() {}
//! ```
//!
//! Small requests (up to 32 KiB, alignment up to 4 KiB) are served from 60 size
//! classes: per-thread magazines in front of 64 KiB slots carved from 2 MiB SuperSlabs.
//! Larger requests are mapped directly. The allocator's state (per-class accounting,
//! magazine fills, the slot map, events) is published into a shared-memory segment that
//! `alloc-inspect <pid>` renders live. See docs/ALLOCATOR.md for the design and
//! docs/ENV.md for the `SLABSCOPE_*` options.
//!
//! Modules: [`raw`] (the C-like API used by the LD_PRELOAD shim and benchmarks),
//! [`publish`] (the segment), [`options`], [`size_class`], [`gpu`] (the GPU slab pool;
//! `CudaMemory` with the `gpu` feature), [`control`] (the control channel that
//! `alloc-inspect ctl` writes), [`grammar`] (the syntax of values the options and the
//! control channel share).
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![warn(clippy::undocumented_unsafe_blocks)]

// Layers, lowest first: pal -> pagemap -> superslab, slot -> owned, unowned, remote,
// sampled_slots -> magazine -> thread -> slow_path -> checked (with the block layout
// and report of `check`) -> front -> global_alloc, raw. `options` and `check::mode`
// (the SLABSCOPE_CHECK switch) are leaves every layer may read. Publishing
// (`publish`, `trace`, `oom_report`) is a sink the mechanism calls with plain values;
// `trim` and `control` sit on top of the mechanism (what the control channel set is a
// leaf, `settings`, which tracing and sampling read).
mod check;
mod checked;
pub mod control;
mod foreign;
mod fork;
mod front;
mod global_alloc;
mod global_alloc_impl;
pub mod gpu;
pub mod grammar;
mod large;
mod magazine;
mod oom;
mod oom_report;
pub mod options;
mod owned;
mod pagemap;
mod pal;
mod placement;
pub mod publish;
pub mod raw;
mod remote;
mod sample;
mod sampled_slots;
mod settings;
pub mod size_class;
mod slot;
mod slow_path;
mod stats;
mod superslab;
mod sync;
mod thread;
pub mod trace;
mod trim;
mod unowned;

pub use global_alloc::SlabScope;
pub use stats::{ClassStats, Stats, TotalStats};
