//! The workloads on mimalloc (crate `mimalloc`, statically linked).

use std::process::ExitCode;

use slabscope_bench::{child_main, AllocatorHooks};

#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn trim() {
    // SAFETY: mi_collect takes no pointer; `force = true` also returns free segments.
    unsafe { libmimalloc_sys::mi_collect(true) };
}

fn main() -> ExitCode {
    child_main(&AllocatorHooks {
        name: "mimalloc",
        trim,
        counters: || None,
    })
}
