//! slabscope-bench: slabscope side by side with glibc malloc, mimalloc and jemalloc.
//!
//! The crate has three parts:
//!
//! - [`workloads`]: the allocation patterns (larson, random-mixed, xmalloc,
//!   cache-scratch, growth, rss16, fragmentation), each a function of a
//!   [`workloads::Config`] (threads, sizes, iterations) returning a
//!   [`workloads::Outcome`] (operations, seconds, extra figures).
//! - [`child`]: the body of the `bench-<allocator>` binaries. Each binary sets its own
//!   `#[global_allocator]`, runs one workload named on its command line and prints one
//!   JSON line ([`report::RunReport`]).
//! - [`driver`]: the `slabscope-bench` binary. It runs the allocator binaries
//!   interleaved round after round, checks that slabscope really served the
//!   allocations it is credited with, and writes the comparison table and
//!   `compare.json` ([`report::CompareFile`]).
//!
//! Only [`block`] holds `unsafe` code (raw allocation through the global allocator).
#![deny(unsafe_code)]

#[allow(unsafe_code)]
pub mod block;
pub mod child;
pub mod driver;
pub mod procfs;
pub mod report;
pub mod rng;
pub mod workloads;

pub use child::{child_main, AllocatorHooks};
pub use workloads::{Config, Mode, Outcome, Workload};
