//! The `slabscope-bench` driver: runs the allocator binaries interleaved, checks that
//! slabscope served what it is credited with, and reports medians and ratios.
//!
//! ```text
//! slabscope-bench [--quick | --full] [--smoke] [--workload NAME]... [--rounds N]
//!                 [--preload] [--out PATH] [--no-build]
//! slabscope-bench --attach-reader PID [--hz N]      (hidden: the 60 Hz reader)
//! ```

pub mod attach;
pub mod cli;
pub mod run;
pub mod spawn;
pub mod stats;
pub mod table;
pub mod variants;
pub mod verify;

pub use cli::DriverArgs;
pub use run::main;
pub use variants::{Check, Variant};
