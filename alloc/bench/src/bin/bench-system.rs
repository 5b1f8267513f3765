//! The workloads on the system allocator (glibc malloc, or whatever `LD_PRELOAD` puts in
//! front of it: the driver's `--preload` mode runs this binary).

use std::process::ExitCode;

use slabscope_bench::{child_main, AllocatorHooks};

#[global_allocator]
static GLOBAL: std::alloc::System = std::alloc::System;

fn trim() {
    // SAFETY: malloc_trim takes no pointer and may be called at any time.
    unsafe { libc::malloc_trim(0) };
}

fn main() -> ExitCode {
    child_main(&AllocatorHooks {
        name: "system",
        trim,
        counters: || None,
    })
}
