//! Runnable workloads for slabscope. The examples (`demo`, `threads`, ...) are thin
//! `main`s over these functions, so that other binaries (alloc-inspect's `demo`
//! subcommand, the benchmarks) can run exactly the same workloads.

mod workloads;

pub use workloads::{demo, leaky, oom, stop, threads};
