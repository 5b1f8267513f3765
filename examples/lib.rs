//! Runnable workloads for slabscope. The examples (`demo`, `threads`, ...) are thin
//! `main`s over these functions, so that other binaries (alloc-inspect's `demo`
//! subcommand and its leak tests) can run exactly the same workloads. The `gpu-pool`
//! example stands alone.

mod workloads;

pub use workloads::{demo, leaky, oom, stop, threads};
