//! slabscope's debug tracing sink: the allocator's slow-path events (SuperSlab map, slot
//! acquire, drains, OOM, GPU misses...) written through tracing-subscriber, with a
//! reloadable `Targets` filter and a `fmt` layer to stderr or a file.
//!
//! The allocator captures events as plain values ([`slabscope_proto::EventKind`]) and
//! hands them over at the end of a slow path, where no allocator lock is held. A Rust
//! program with `slabscope`'s `trace` feature links this crate in; the `LD_PRELOAD`
//! library loads it at run time, as `libslabscope_trace.so`, only in a process that asks
//! for tracing (so that the others do not pay for mapping and relocating it at start),
//! and calls it through the C ABI of [`abi`].
//!
//! Modules: `batch` (what the allocator hands a sink: [`Batch`], [`Sink`]), [`abi`]
//! (the C ABI between the preload and the loaded library), and with the `subscriber`
//! feature (the default) `sink` (the subscriber: `write`, `LINKED`) and `event`
//! (one tracing event per kind).
#![deny(unsafe_op_in_unsafe_fn, missing_docs)]
#![forbid(unsafe_code)]

pub mod abi;
mod batch;
#[cfg(feature = "subscriber")]
mod event;
#[cfg(feature = "subscriber")]
mod sink;

pub use batch::{Batch, Filter, Readiness, Sink};
#[cfg(feature = "subscriber")]
pub use sink::{filter_parses, write, LINKED};
